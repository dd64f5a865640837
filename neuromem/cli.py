"""The ``neuromem`` command line.

::

    neuromem run MODEL [--seed N] [--out DIR] [--set key.path=value ...]
                       [--target auto|cython|numpy] [--no-figures] [--quiet] [--force] [--resume RUN_DIR]
    neuromem validate MODEL [--set key.path=value ...] [--force]
    neuromem info
    neuromem check MODEL --backend lava [--mode float|fixed] [--refractory ignore|emulate] [--phase P]
    neuromem export lava RUN_DIR [--phase P] [--mode float|fixed] [--refractory ignore|emulate]
                         [--headroom H] [--out DIR] [--frozen] [--then PHASE] [--bounds clip|brian2|none]
                         [--from-rest]
    neuromem export nir RUN_DIR [--phase P] [--out FILE]
    neuromem export nwb RUN_DIR [--out FILE]
    neuromem verify RUN_DIR
    neuromem sweep MODEL --grid key.path=v1,v2,... [--grid ...] [--seeds 1-5] [--scheduler ADDRESS]
                   [--workers N] [--out DIR] [--metric NAME] [--target auto|cython|numpy] [--set ...]

Every subcommand is one function decorated with :func:`subcommand`: it
receives its own :class:`argparse.ArgumentParser`, adds its arguments and
returns the handler ``handler(args) -> int`` (the exit status).  Adding a
subcommand means adding one such function here (or in a module imported
here); :func:`main` needs no change.  Shared argument groups are helpers
(:func:`add_model_arguments`, :func:`load_from_args`).

Exit status: 0 on success, 2 for a usage error, an invalid model (a
:class:`~neuromem.spec.ModelError`), a broken run folder or unusable output
folder (a :class:`~neuromem.io.RunFolderError`), each printed as one line
``error: <message>`` on stderr (nothing is written then), 1 for other
failures reported by a handler, 130 when interrupted (SIGINT) and 143 when
terminated (SIGTERM, handled like SIGINT: nothing half-written is left that
looks finished).
"""

from __future__ import annotations

import argparse
import importlib.metadata as _md
import platform
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from neuromem.spec import ModelError

__all__ = ["main", "subcommand", "build_parser", "add_model_arguments", "add_refractory_argument",
           "add_force_argument", "check_resources", "load_from_args", "SUBCOMMANDS"]


@dataclass(frozen=True)
class _Subcommand:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]


SUBCOMMANDS: dict[str, _Subcommand] = {}
"""Registered subcommands by name, in the order they appear in ``--help``."""


def subcommand(name: str, help: str):
    """Register a subcommand.

    Parameters
    ----------
    name : str
        The word on the command line (``neuromem NAME ...``).
    help : str
        One line for ``neuromem --help``; also the subcommand's description.

    Returns
    -------
    callable
        A decorator for ``setup(parser) -> handler``: ``setup`` adds the
        subcommand's arguments to ``parser`` and returns
        ``handler(args) -> int``, which runs the subcommand and returns the
        exit status.  A :class:`~neuromem.spec.ModelError` raised by the
        handler is reported as ``error: <message>`` with status 2.

    Examples
    --------
    >>> @subcommand("hello", help="say hello")          # doctest: +SKIP
    ... def hello(p):
    ...     p.add_argument("--name", default="world")
    ...     def run(args):
    ...         print(f"hello {args.name}")
    ...         return 0
    ...     return run
    """

    def deco(setup):
        if name in SUBCOMMANDS:
            raise ValueError(f"subcommand {name!r} is already registered")
        SUBCOMMANDS[name] = _Subcommand(name, help, setup)
        return setup

    return deco


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``MODEL`` (a TOML file) and repeatable ``--set key.path=value``."""
    p.add_argument("model", metavar="MODEL", help="model file (TOML; format: models/README.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a model value before validation, e.g. "
                        "--set 'protocol.phases.sleep.duration=20 s' (repeatable; later wins)")


def load_from_args(args: argparse.Namespace):
    """The :class:`~neuromem.spec.Model` named by ``args.model`` with ``args.overrides``.

    Raises
    ------
    neuromem.spec.ModelError
        For an unreadable file, an invalid model or a refused override.
    """
    from neuromem.spec.loader import load_model

    return load_model(args.model, overrides=args.overrides)


def add_force_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--force``: go on although the model's estimated memory exceeds what is available."""
    p.add_argument("--force", action="store_true",
                   help="go on even if the estimated memory (printed by validate) exceeds the memory available")


def check_resources(model, args: argparse.Namespace) -> list[str]:
    """Refuse a model whose estimated memory exceeds what this machine has available.

    Parameters
    ----------
    model : neuromem.spec.Model
    args : argparse.Namespace
        ``args.model`` (named in the error) and ``args.force`` (warn on
        stderr instead of refusing).

    Returns
    -------
    list of str
        The estimate, formatted (:func:`neuromem.spec.resources.format_resources`).

    Raises
    ------
    neuromem.spec.ModelError
        When the estimate exceeds the available memory and ``--force`` is not
        given (exit status 2, nothing run).
    """
    from neuromem.spec.resources import available_memory, estimate_resources, format_bytes, format_resources

    est = estimate_resources(model)
    avail = available_memory()
    lines = format_resources(est, avail)
    if avail is not None and est["total_bytes"] > avail:
        what = (f"needs an estimated {format_bytes(est['total_bytes'])} of memory but "
                f"{format_bytes(avail)} is available")
        if not getattr(args, "force", False):
            raise ModelError(f"{what}; refused before anything runs (--force to try anyway)\n  "
                             + "\n  ".join(lines), file=args.model)
        print(f"warning: {args.model}: {what}; going on (--force)", file=sys.stderr)
    return lines


def add_refractory_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--refractory {ignore,emulate}`` (Lava fixed point only; default ``None`` = not given)."""
    p.add_argument("--refractory", choices=["ignore", "emulate"], default=None,
                   help="lava, --mode fixed only: Loihi 2's bit-accurate LIF has no refractory period; "
                        "emulate it (default: neuromem's fixed-point LIFRefractory model, same integer "
                        "arithmetic, v frozen like Brian2; on a chip this needs a microcoded neuron) or "
                        "ignore it (Loihi 2's stock LIF: neurons fire again at once and rates run away)")


def _refractory_from_args(args) -> str | None:
    """``args.refractory`` resolved (``"emulate"`` when not given in fixed mode, ``"exact"`` in float
    mode); ``None`` after printing an error when ``--refractory`` is given without ``--mode fixed``."""
    if args.mode != "fixed":
        if args.refractory is not None:
            print(f"error: --refractory {args.refractory} applies to --mode fixed only (floating point "
                  f"reproduces refractoriness exactly with LIFRefractory)", file=sys.stderr)
            return None
        return "exact"
    return args.refractory or "emulate"


# ---------------------------------------------------------------- subcommands


@subcommand("run", help="simulate a model (Brian2), print a summary and write a run folder")
def _setup_run(p: argparse.ArgumentParser):
    add_model_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="runs", metavar="DIR", help="parent folder of the run folder (default runs)")
    p.add_argument("--target", choices=("auto", "cython", "numpy"), default="auto",
                   help="Brian2 code generation target (default auto: Cython if it compiles, else numpy)")
    p.add_argument("--device", choices=("runtime", "cpp_standalone"), default=None,
                   help="Brian2 device: runtime (phase by phase from Python) or cpp_standalone (the whole "
                        "protocol in one compiled program, cached and rerun for another seed without "
                        "recompiling); default $NEUROMEM_DEVICE, else runtime")
    add_force_argument(p)
    p.add_argument("--no-figures", dest="figures", action="store_false", help="do not draw figures")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars, phase log or summary; print only the results line")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run from its last completed phase: RUN_DIR is its hidden "
                        "partial folder (.<name>.partial, printed when the run stopped); MODEL, --seed and "
                        "--set must be those it was started with; it is finished next to RUN_DIR "
                        "(--out does not apply) with the results of an uninterrupted run")

    def run(args) -> int:
        check_resources(load_from_args(args), args)
        from neuromem.backends.brian2 import Brian2Options
        from neuromem.experiment import run_experiment, summary_lines
        from neuromem.io import ResumeError

        _prepare_out(args)
        options = Brian2Options(target=args.target, progress=not args.quiet, device=args.device)
        try:
            _, metrics, folder = run_experiment(
                args.model, seed=args.seed, overrides=args.overrides, out_dir=args.out,
                backend_options=options, figures=args.figures, progress=not args.quiet,
                log=None if args.quiet else print, resume=args.resume)
        except ResumeError as e:
            print(f"error: cannot resume: {e}", file=sys.stderr)
            return 2
        if not args.quiet:
            for line in summary_lines(metrics):
                print(line)
        print(f"results: {folder}")
        return 0

    return run


def _prepare_out(args) -> None:
    """Before anything is simulated: refuse an unusable ``--out`` and clean its stale partial folders.

    Raises
    ------
    neuromem.io.OutDirError
        If ``args.out`` is a file, under a file, or not writable (exit status 2).
    """
    from neuromem.io import check_out_dir, clean_stale_partials

    if getattr(args, "resume", None) is not None:   # finished next to the resumed folder, not in --out
        return
    check_out_dir(args.out)
    clean_stale_partials(args.out, log=lambda line: print(line, file=sys.stderr))


@subcommand("validate", help="check a model file (with overrides) and summarise it")
def _setup_validate(p: argparse.ArgumentParser):
    add_model_arguments(p)
    add_force_argument(p)

    def run(args) -> int:
        m = load_from_args(args)
        lines = check_resources(m, args)
        print(f"OK: {m.name}: {len(m.populations)} populations, {len(m.projections)} projections, "
              f"{len(m.protocol.phases)} phases, n_memories={m.protocol.n_memories}")
        for line in lines:
            print(line)
        return 0

    return run


@subcommand("sweep", help="run a model for every combination of grid values and seeds on Dask; write one table")
def _setup_sweep(p: argparse.ArgumentParser):
    add_model_arguments(p)
    p.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2,...",
                   help="an override path and the values to sweep, comma-separated (repeatable: every "
                        "combination runs), e.g. --grid protocol.n_memories=5,10,20 "
                        "--grid 'protocol.phases.sleep.duration=10 s,20 s'")
    p.add_argument("--seeds", default="0", metavar="SEEDS", help="seeds of every combination: 1-5, 0,3,7 or "
                                                                  "0-2,5 (default 0)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786) whose workers see --out and MODEL "
                        "(default: a local cluster, one single-threaded worker process per core)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="the sweep's folder: table, figure and runs/ (default sweeps/<model name>); rerun into "
                        "the same folder, finished points are reused")
    p.add_argument("--metric", default=None, metavar="NAME",
                   help="the table column drawn against the first grid key (default: the first recall "
                        "phase's mean overlap)")
    p.add_argument("--target", choices=("auto", "cython", "numpy"), default="auto",
                   help="Brian2 code generation target of every run (default auto)")

    def run(args) -> int:
        from pathlib import Path

        from tqdm import tqdm

        from neuromem.io import safe_name
        from neuromem.sweep import SweepError, run_sweep

        def log(line):
            tqdm.write(line, file=sys.stderr if line.startswith("error") else sys.stdout)

        out = args.out or str(Path("sweeps") / safe_name(load_from_args(args).name))
        try:
            rows = run_sweep(args.model, args.grid, args.seeds, out, scheduler=args.scheduler,
                             workers=args.workers, overrides=args.overrides,
                             backend_options={"target": args.target}, metric=args.metric, log=log)
        except SweepError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        status = [r["status"] for r in rows]
        print(f"{len(rows)} runs: {status.count('ran')} ran, {status.count('reused')} reused, "
              f"{status.count('error')} failed")
        return 1 if "error" in status else 0

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


@subcommand("check", help="list what a backend cannot represent in a model (exit 1 if any error)")
def _setup_check(p: argparse.ArgumentParser):
    add_model_arguments(p)
    p.add_argument("--backend", choices=["lava"], default="lava", help="target backend (default lava)")
    p.add_argument("--mode", choices=["float", "fixed"], default="float", help="Lava number format")
    p.add_argument("--phase", default=None, help="check one phase only (default: the whole model)")
    add_refractory_argument(p)

    def run(args) -> int:
        from neuromem.export.lava import check_lava

        refractory = _refractory_from_args(args)
        if refractory is None:
            return 2
        m = load_from_args(args)
        issues = check_lava(m, phase=args.phase, mode=args.mode, refractory=refractory)
        for issue in issues:
            print(issue)
        errors = [i for i in issues if i.severity == "error"]
        variant = args.mode if args.mode == "float" else f"{args.mode}, refractory {refractory}"
        print(f"{m.name}: {len(errors)} error(s), {len(issues) - len(errors)} warning(s) for "
              f"{args.backend} ({variant})")
        return 1 if errors else 0

    return run


@subcommand("export", help="export a Brian2 run folder to Lava (and run it), to NIR or to NWB")
def _setup_export(p: argparse.ArgumentParser):
    p.add_argument("target", choices=["lava", "nir", "nwb"])
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `neuromem run`")
    p.add_argument("--phase", default=DEFAULT_EXPORT_PHASE,
                   help=f"phase to export (default {DEFAULT_EXPORT_PHASE}, the default model's recall after "
                        f"sleep); lava: a plastic phase (e.g. sleep) runs with learning on Lava "
                        f"(LearningDense), then the recall phase that follows it, unless --frozen")
    p.add_argument("--mode", choices=["float", "fixed"], default="float", help="Lava number format")
    add_refractory_argument(p)
    p.add_argument("--headroom", type=float, default=None, metavar="H",
                   help="lava, --mode fixed only: Loihi's 24-bit v spans v_reset +- H (v_th - v_reset) "
                        "(default 8; smaller: finer resolution, but strong inhibition saturates v)")
    p.add_argument("--out", default=None,
                   help="lava: folder for lava_results.json (lava_<phase>_results.json with learning) "
                        "(default RUN_DIR; a second export there replaces it: give each phase/mode/"
                        "refractory its own --out to keep several); nir: output file (default RUN_DIR/model.nir); "
                        "nwb: output file (default RUN_DIR/run.nwb)")
    p.add_argument("--frozen", action="store_true",
                   help="lava: run a plastic phase with its weights frozen at the phase start (no learning)")
    p.add_argument("--then", default="auto", metavar="PHASE",
                   help="lava, learning: the phase run after the plastic one in the same Lava network "
                        "(default auto: the recall phase continuing from it; 'none': none)")
    p.add_argument("--bounds", choices=["clip", "brian2", "none"], default="clip",
                   help="lava, learning: weight bounds: clip once per step (Loihi-style saturation, default), "
                        "brian2 (clip after each pre/post update, as Brian2), none (Lava's LearningDense)")
    p.add_argument("--from-rest", action="store_true",
                   help="lava: start the phase from rest (v = v_rest, I = 0, nothing in flight) instead of "
                        "Brian2's recorded start state initial/<phase>.npz; without this flag a run folder "
                        "lacking that file is refused (from rest, spikes are not expected to match Brian2's)")

    def run(args) -> int:
        from pathlib import Path

        from neuromem.export import ExportError
        from neuromem.io import OutDirError, check_out_dir, check_run_folder

        progress = LavaProgress()   # prints nothing until the export reports its first step
        try:
            if args.target == "lava":
                # every file the export reads is checked first: a broken run folder is refused at once,
                # naming the file, before anything slow (or Lava) starts
                then = [] if args.then.lower() in ("auto", "none") else [args.then]
                check_run_folder(args.run_dir, [args.phase, *then])
                if args.out is not None:      # refused now, not after Lava has run
                    check_out_dir(args.out)
                from neuromem.export.lava import run_is_plastic

                if args.from_rest:
                    print(f"warning: --from-rest: Lava starts phase {args.phase!r} from rest, not from Brian2's "
                          f"recorded start state; spikes are not expected to match Brian2's (recorded as "
                          f"\"from_rest\": true in the results)", file=sys.stderr)

                if not args.frozen and run_is_plastic(args.run_dir, args.phase):
                    for opt in ("refractory", "headroom"):
                        if getattr(args, opt) is not None:
                            print(f"error: --{opt} {getattr(args, opt)} applies to frozen fixed-point exports "
                                  f"only; phase {args.phase!r} is plastic and learns on Lava in floating "
                                  f"point (add --frozen --mode fixed to run it with frozen weights in fixed "
                                  f"point)", file=sys.stderr)
                            return 2
                    return _export_lava_learning(args, progress)
                refractory = _refractory_from_args(args)
                if refractory is None:
                    return 2
                if args.headroom is not None and args.mode != "fixed":
                    print("error: --headroom applies to --mode fixed only", file=sys.stderr)
                    return 2
                if args.headroom is not None and not args.headroom >= 1:
                    print(f"error: --headroom must be >= 1, got {args.headroom:g}", file=sys.stderr)
                    return 2
                from neuromem.export.lava import DEFAULT_HEADROOM, run_lava

                dest = Path(args.out or args.run_dir) / "lava_results.json"
                before = _previous_lava_results(dest)
                res = run_lava(args.run_dir, phase=args.phase, mode=args.mode, out=args.out,
                               refractory="ignore" if refractory == "exact" else refractory,
                               headroom=DEFAULT_HEADROOM if args.headroom is None else args.headroom,
                               from_rest=args.from_rest, progress=progress)
                progress.close()
                a = res["agreement"]
                warn_rates(a["by_population"], f"lava {res['mode']} {res['phase']}")
                variant = f"refractory {res['refractory']}"
                if res["quantisation"]:
                    variant += f", headroom {res['quantisation']['headroom']:g}"
                print(f"lava {res['mode']} ({variant}) {res['phase']}: recall overlap "
                      f"{fmt_optional(res['recall_overlap'])} (brian2 {fmt_optional(res['recall_overlap_brian2'])}); "
                      f"identical spikes {a['identical_spike_fraction']:.3f}, pattern identity "
                      f"{fmt_optional(a['pattern_identity'])}, "
                      f"rate error {a['rate_relative_error']:+.3f}")
                if before is not None:
                    print(f"replaced the previous {dest.name} there ({before}); use --out DIR to keep several")
                print(f"results: {res['output']}")
            else:
                for opt in ("refractory", "headroom"):
                    if getattr(args, opt) is not None:
                        print(f"error: --{opt} applies to `export lava` only", file=sys.stderr)
                        return 2
                if args.from_rest:
                    print("error: --from-rest applies to `export lava` only", file=sys.stderr)
                    return 2
                if args.target == "nwb":
                    return _export_nwb(args)
                check_run_folder(args.run_dir, [args.phase])
                if args.out is not None:
                    if Path(args.out).is_dir():
                        raise OutDirError(args.out, "is a folder; --out names the .nir file to write")
                    check_out_dir(Path(args.out).parent)
                from neuromem.export.nir import export_nir

                out = args.out or str(Path(args.run_dir) / "model.nir")
                export_nir(args.run_dir, out, phase=args.phase)
                print(f"written: {out}")
        except ExportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        finally:
            progress.close()
        return 0

    return run


class LavaProgress:
    """Progress of a Lava export on stderr, step by step, with the elapsed time.

    Called by :func:`neuromem.export.lava.run_lava` and
    :func:`neuromem.export.lava.run_lava_learning` as each step
    starts (build, compile, run, compare).  On a terminal each step is a
    :mod:`tqdm` bar: a step counter where the exporter reports steps (the
    chunks of a learning run), otherwise the elapsed time, refreshed twice a
    second while Lava runs as one call.  Elsewhere (a log file) each step
    prints one line when it ends, with its duration.

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr``.
    """

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lines: list[str] = []
        self._name = self._bar = self._stop = None
        self._t0 = self._total = 0

    def __call__(self, step: str, total: int | None = None, done: int | None = None) -> None:
        """Start ``step`` (or, for the current step, report ``done`` of ``total`` Lava steps)."""
        if step == self._name:
            if self._bar is not None and done is not None:
                self._bar.n = done
                self._bar.refresh()
            return
        self.close()
        self._name, self._t0, self._total = step, time.perf_counter(), total
        if self.tty:
            from tqdm import tqdm

            bar_format = "{desc}: {elapsed}" if not total else None
            self._bar = tqdm(total=total, desc=f"lava: {step}", unit="step", file=self.stream, bar_format=bar_format,
                             initial=done or 0)
            self._stop = threading.Event()
            threading.Thread(target=self._tick, args=(self._bar, self._stop), daemon=True).start()

    @staticmethod
    def _tick(bar, stop):
        while not stop.wait(0.5):
            bar.refresh()

    def close(self) -> None:
        """End the current step (prints its line off a terminal)."""
        if self._name is None:
            return
        elapsed = time.perf_counter() - self._t0
        if self._bar is not None:
            self._stop.set()
            self._bar.close()
            self._bar = None
        else:
            steps = f" ({self._total} steps)" if self._total else ""
            line = f"lava: {self._name}{steps} {elapsed:.1f} s"
            self.lines.append(line)
            print(line, file=self.stream, flush=True)
        self._name = None


RATE_TOLERANCE = 0.03
"""Largest relative difference of an exported population's rate from Brian2's without a warning."""

DEFAULT_EXPORT_PHASE = "recall_lesioned_after_sleep"
"""``neuromem export``'s ``--phase`` when none is given: the default model's (``models/cls.toml``)
recall after sleep.  A command-line convenience only; the library's exporters take the phase
as a required argument."""


def fmt_optional(x, spec: str = ".3f") -> str:
    """``format(x, spec)``, or ``"n/a"`` for ``None`` (a figure an export could not compute)."""
    return "n/a" if x is None else format(x, spec)


def warn_rates(by_population: dict, what: str, tolerance: float = RATE_TOLERANCE) -> list[str]:
    """Print ``warning: ...`` on stderr for each population whose rate differs from Brian2's too much.

    Parameters
    ----------
    by_population : dict
        ``agreement["by_population"]`` of an export
        (:func:`neuromem.export.compare.compare_spikes`): ``rate_hz``,
        ``rate_reference_hz`` and ``rate_relative_error`` per population.
    what : str
        What ran, for the message (e.g. ``"lava fixed recall"``).
    tolerance : float, optional
        Relative difference allowed (default :data:`RATE_TOLERANCE`, 3 %).

    Returns
    -------
    list of str
        The lines printed.
    """
    lines = []
    for pop, d in by_population.items():
        err = d.get("rate_relative_error")
        if err is not None and abs(err) > tolerance:
            lines.append(f"warning: {what}: {pop} fires at {d['rate_hz']:.3g} Hz, Brian2 at "
                         f"{d['rate_reference_hz']:.3g} Hz ({err:+.1%}; more than the {tolerance:.0%} target)")
    for line in lines:
        print(line, file=sys.stderr)
    return lines


def _export_nwb(args) -> int:
    """``export nwb``: the whole run (every phase) as one NWB file; exit 2 without pynwb."""
    from neuromem.export.nwb import NWBExportError, export_nwb

    try:
        out = export_nwb(args.run_dir, args.out)
    except NWBExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"written: {out}")
    return 0


def _previous_lava_results(path) -> str | None:
    """``"phase P, mode M, refractory R"`` of an existing ``lava_results.json``, else ``None``."""
    import json

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        return f"phase {old.get('phase')}, mode {old.get('mode')}, refractory {old.get('refractory')}"
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return "unreadable"


def _export_lava_learning(args, progress=None) -> int:
    """``neuromem export lava RUN_DIR --phase <plastic phase>``: learning on Lava, then the recall."""
    from neuromem.export.lava import run_lava_learning

    then = None if args.then.lower() == "none" else args.then
    res = run_lava_learning(args.run_dir, phase=args.phase, then=then, mode=args.mode, bounds=args.bounds,
                            out=args.out, from_rest=args.from_rest, progress=progress)
    if progress is not None:
        progress.close()
    warn_rates(res["spikes"]["by_population"], f"lava {res['mode']} {res['phase']} (learning)")
    if res["recall"] is not None:
        warn_rates(res["recall"]["spikes"]["by_population"], f"lava {res['mode']} {res['then']}")

    print(f"lava {res['mode']} {res['phase']} with learning (bounds {res['bounds']}): identical spikes "
          f"{res['spikes']['identical_spike_fraction']:.3f}")
    for name, w in res["weights"].items():
        ev = w.get("bound_events")
        extra = "" if not ev else f", clipped {ev['clipped']}, order-sensitive {ev['order_sensitive']}"
        print(f"  {name}: weights r = {fmt_optional(w['correlation'], '.6f')} (changes r = "
              f"{fmt_optional(w['change_correlation'], '.4f')}), mean |diff| {w['mean_abs_diff_mV']:.2g} mV{extra}")
    if res["then"] is not None:
        print(f"{res['then']} after the Lava {res['phase']}: recall overlap {fmt_optional(res['recall_overlap'])} "
              f"(after the Brian2 {res['phase']}: {fmt_optional(res['recall_overlap_brian2'])}; difference "
              f"{fmt_optional(res['recall_overlap_difference'], '+.3f')})")
    print(f"results: {res['output']}")
    print(f"learned weights: {res['weights_output']}")
    return 0


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


# ---------------------------------------------------------------- entry point


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and ``{subcommand: handler}``."""
    import neuromem

    parser = argparse.ArgumentParser(
        prog="neuromem", description="Spiking memory simulator: encode, sleep, recall.")
    parser.add_argument("--version", action="version", version=f"neuromem {neuromem.__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for cmd in SUBCOMMANDS.values():
        p = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        handlers[cmd.name] = cmd.setup(p)
    return parser, handlers


def main(argv=None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (usage errors and ``--help`` return argparse's status
        instead of raising :class:`SystemExit`).
    """
    from neuromem.io import RunFolderError

    parser, handlers = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    terminated: list = []
    try:
        with _sigterm_as_interrupt(terminated):
            return int(handlers[args.command](args) or 0)
    except (ModelError, RunFolderError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if terminated:
            print("terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        print("interrupted", file=sys.stderr)
        return 130


@contextmanager
def _sigterm_as_interrupt(received: list):
    """While active (main thread only), SIGTERM raises :class:`KeyboardInterrupt` like SIGINT.

    Job schedulers stop jobs with SIGTERM; turning it into the interrupt makes
    every ``except BaseException`` / ``finally`` clean-up run (a run folder
    being written is removed, Lava is shut down).

    Parameters
    ----------
    received : list
        The signal number is appended to it when SIGTERM arrives.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
