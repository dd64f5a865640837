"""Code generation done once: across the runs of a process, and across processes.

Two costs of Brian2's runtime device that a multi-phase protocol pays again
and again, with nothing changed:

* every ``Network.run`` creates every object's code objects anew (template
  rendering, hashing, a Cython cache lookup; ~2 s per run of the default
  model).  :func:`reuse_code_objects` makes an object create them at its
  first run and keep them, reading the variables into their namespaces again
  at each run (arrays Brian2 treats as constant within a run, such as a
  spike generator's spikes, change between phases); neuromem's external
  constants never change, so a kept code object computes what a new one
  would.
* the ``exact`` integrator solves the same linear system with sympy in every
  process (~8 s for the small model, models/cls_small.toml).  :func:`cache_stateupdaters` keeps its
  result (the abstract code, a string) in a file per equations and variables.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["reuse_code_objects", "cache_stateupdaters", "default_cache_dir", "FAST_COMPILE_ARGS",
           "BRIAN2_COMPILE_ARGS", "default_compile_args", "flags_digest"]

# The gcc flags (see Brian2Options.compile_args); the cache folders of both devices are named after
# the flags, so the flags live beside the caches.
#: Brian2's own default flags (``codegen.cpp.extra_compile_args_gcc``): neuromem's default
BRIAN2_COMPILE_ARGS = ("-w", "-O3", "-ffast-math", "-fno-finite-math-only", "-march=native", "-std=c++11")
#: the same with ``-O1``: ~30 % shorter compilation, for the test suite (``NEUROMEM_COMPILE_ARGS=fast``)
FAST_COMPILE_ARGS = ("-w", "-O1", "-ffast-math", "-fno-finite-math-only", "-march=native", "-std=c++11")


def default_compile_args() -> tuple[str, ...]:
    """The gcc flags used unless ``Brian2Options.compile_args`` says otherwise: ``$NEUROMEM_COMPILE_ARGS``.

    Unset, empty or ``brian2``: :data:`BRIAN2_COMPILE_ARGS` (Brian2's ``-O3``
    set, what a plain Brian2 script compiles with); ``fast``:
    :data:`FAST_COMPILE_ARGS` (``-O1``, which the test suite sets: it compiles
    hundreds of modules on a fresh cache); anything else: the flags
    themselves, split as a shell would.
    """
    import shlex

    value = os.environ.get("NEUROMEM_COMPILE_ARGS", "").strip()
    if value in ("", "brian2"):
        return BRIAN2_COMPILE_ARGS
    if value == "fast":
        return FAST_COMPILE_ARGS
    return tuple(shlex.split(value))


def flags_digest(flags) -> str | None:
    """``None`` for :data:`FAST_COMPILE_ARGS`, else a short digest of ``flags`` for a cache folder's name.

    Brian2 names compiled code after the code alone, not the compiler flags, so
    code compiled with other flags (e.g. Brian2's own ``-O3``, the default;
    ``None``: Brian2's preference as it is) is kept in folders of its own, on
    both devices.  (The unsuffixed folders hold ``-O1`` code because that was
    neuromem's default when the folders were named; keeping it so, an older
    cache is never read with other flags.)
    """
    if flags is not None and tuple(flags) == FAST_COMPILE_ARGS:
        return None
    return hashlib.sha256(repr(None if flags is None else tuple(flags)).encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    """Project-local compile cache (``$NEUROMEM_CACHE_DIR`` or ``~/.cache/neuromem``)."""
    return Path(os.environ.get("NEUROMEM_CACHE_DIR", Path.home() / ".cache" / "neuromem"))


def reuse_code_objects(objects) -> None:
    """Make each Brian2 object create its code objects once, at its first run, and keep them.

    ``objects``: every object of the network, contained ones included
    (``Network.sorted_objects``).  An object first active in a later run
    creates its code objects then.
    """
    for obj in objects:
        if getattr(obj, "_neuromem_reuse", False) or not hasattr(obj, "create_code_objects"):
            continue
        original = obj.create_code_objects
        kept: list = []

        def create(run_namespace, _obj=obj, _original=original, _kept=kept):
            if not _kept:
                _original(run_namespace)
                _kept.append(list(_obj.code_objects))
            else:
                _obj.code_objects[:] = _kept[0]
                for codeobj in _kept[0]:
                    # arrays flagged constant (e.g. a SpikeGeneratorGroup's spikes, replaced by
                    # set_spikes) are read into the namespace once: read them again
                    refresh = getattr(codeobj, "variables_to_namespace", None)
                    if refresh is not None:
                        refresh()

        obj.create_code_objects = create
        obj._neuromem_reuse = True


_installed: dict = {}


def _describe(var) -> tuple:
    """What the integrator can see of a variable or function: its kind, unit, type and flags (a constant's value)."""
    out = [type(var).__name__]
    for attr in ("dim", "dtype", "scalar", "constant", "read_only", "dynamic"):
        if hasattr(var, attr):
            out.append(f"{attr}={getattr(var, attr)}")
    if type(var).__name__ == "Constant":
        out.append(repr(var.value))
    return tuple(out)


def cache_stateupdaters(cache_dir) -> None:
    """Keep the ``exact`` integrator's results in ``cache_dir/stateupdaters/`` (installed once per process).

    The key is the equations' text, every variable's and function's kind,
    unit, type and flags, the options, ``dt`` and Brian2's version; a call
    that cannot be written down stably is simply not cached.
    """
    directory = Path(cache_dir) / "stateupdaters"
    if _installed.get("dir") == directory:
        return
    import brian2
    from brian2.stateupdaters.exact import LinearStateUpdater
    from brian2.utils.caching import _hashable

    original = _installed.setdefault("original", LinearStateUpdater.__call__)
    directory.mkdir(parents=True, exist_ok=True)

    def call(self, equations, variables=None, method_options=None):
        try:
            dt = variables["dt"].get_value()[0] if variables is not None and "dt" in variables else None
            text = repr((brian2.__version__, str(equations), _hashable(method_options),
                         None if dt is None else float(dt),
                         sorted((name, _describe(v)) for name, v in (variables or {}).items())))
        except Exception:                   # not describable: no file cache
            return original(self, equations, variables, method_options)
        if " at 0x" in text:                # an object's address: not the same in another process
            return original(self, equations, variables, method_options)
        path = directory / (hashlib.sha256(text.encode()).hexdigest() + ".txt")
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            pass
        code = original(self, equations, variables, method_options)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(code, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
        return code

    LinearStateUpdater.__call__ = call
    _installed["dir"] = directory
