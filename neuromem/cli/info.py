"""The ``verify`` and ``info`` subcommands: check a run folder's checksums; print versions and backends."""

from __future__ import annotations

import argparse
import importlib.metadata as _md
import platform
import sys

from neuromem.cli import subcommand

__all__ = ["info_lines"]


@subcommand("verify", help="check a run folder against the checksums recorded in its results.json")
def _setup_verify(p: argparse.ArgumentParser):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `neuromem run`")

    def run(args) -> int:
        from neuromem.io import verify_run

        v = verify_run(args.run_dir)
        if v["ok"]:
            note = f" (not recorded: export outputs {', '.join(v['exports'])})" if v["exports"] else ""
            print(f"ok {v['files']} files{note}")
            return 0
        for kind in ("missing", "changed", "extra"):
            for f in v[kind]:
                print(f"{kind}: {f}", file=sys.stderr)
        counts = ", ".join(f"{len(v[k])} {k}" for k in ("missing", "changed", "extra") if v[k])
        print(f"error: {args.run_dir}: does not match the checksums in results.json ({counts} of "
              f"{v['files']} recorded files)", file=sys.stderr)
        return 2

    return run


@subcommand("info", help="print versions and the available backends")
def _setup_info(p: argparse.ArgumentParser):
    def run(args) -> int:
        for line in info_lines():
            print(line)
        return 0

    return run


def _version(*dists):
    for d in dists:
        try:
            return _md.version(d)
        except _md.PackageNotFoundError:
            continue
    return None


def _cython_status() -> str:
    """Whether Brian2's Cython target compiles here (tries a tiny build)."""
    try:
        import brian2
        from neuromem.backends.brian2.simulator import default_cache_dir

        cache = default_cache_dir() / "cython"
        cache.mkdir(parents=True, exist_ok=True)
        brian2.prefs.codegen.runtime.cython.cache_dir = str(cache)
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        ok = CythonCodeObject.is_available()
    except Exception as e:  # no compiler, no Cython, broken install
        return f"unavailable ({type(e).__name__}: {e})"
    return "available" if ok else "unavailable (no working C compiler or Cython)"


def info_lines() -> list[str]:
    """The lines ``neuromem info`` prints: versions and available backends.

    Lava is never imported: its version comes from the package metadata and
    the Python 3.11 compatibility check reads its source only.
    """
    import neuromem

    versions = {
        "python": platform.python_version(),
        "neuromem": _version("neuromem") or neuromem.__version__,
        "numpy": _version("numpy"),
        "brian2": _version("brian2", "Brian2"),
        "scipy": _version("scipy"),
        "matplotlib": _version("matplotlib"),
        "lava-nc": _version("lava-nc"),
        "nir": _version("nir"),
    }
    lines = ["versions:"]
    width = max(len(k) for k in versions)
    for k, v in versions.items():
        lines.append(f"  {k:<{width}}  {v or 'not installed'}")
    lines.append("backends:")
    if versions["brian2"]:
        lines.append("  brian2   runtime targets: numpy available; cython " + _cython_status())
    else:
        lines.append("  brian2   not installed")
    if versions["lava-nc"]:
        try:
            from neuromem._compat import lava311

            hook = ("needs the Python 3.11 import hook (neuromem._compat.lava311, applied automatically)"
                    if lava311.is_needed() else "imports without a compatibility hook")
        except Exception as e:  # pragma: no cover - defensive
            hook = f"compatibility check failed ({type(e).__name__}: {e})"
        lines.append(f"  lava     installed ({versions['lava-nc']}); {hook}")
    else:
        lines.append("  lava     not installed (pip install --ignore-requires-python 'lava-nc==0.10.0' 'numpy<2')")
    lines.append(f"  nir      {'installed (' + versions['nir'] + ')' if versions['nir'] else 'not installed'}")
    return lines
