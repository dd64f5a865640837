"""Make lava-nc 0.10.0 importable on Python 3.11, without editing site-packages.

Why this exists
---------------
lava-nc 0.10.0 (the newest release) declares ``Requires-Python >=3.10,<3.11``.
Installed anyway with ``pip install --ignore-requires-python``, exactly one of
its modules fails to import on Python 3.11: ``lava.magma.compiler.var_model``
declares dataclass fields such as ::

    @dataclass
    class CoreEncoder:
        x: ByteEncoder = ByteEncoder()

Since Python 3.11, :func:`dataclasses.dataclass` rejects *any* default whose
class is unhashable (``ByteEncoder`` is a non-frozen dataclass, so its
``__hash__`` is ``None``) with ``ValueError: mutable default ... use
default_factory``.  Python 3.10 only rejected ``list``, ``dict`` and ``set``.
Because almost every Lava process imports that module indirectly, nothing in
Lava works.  With that one module fixed, all of Lava imports and Lava's own
test suite passes on 3.11.

What it does
------------
:func:`install` puts a :class:`importlib.abc.MetaPathFinder` at the front of
:data:`sys.meta_path`.  It answers for ``lava.magma.compiler.var_model`` only
(``None`` for every other name, so the normal machinery handles them).  Its
loader reads the installed source file, rewrites it with an :mod:`ast`
transform and compiles the result itself, so the stale ``.pyc`` next to the
file is neither read nor written.  Line numbers and the file name are kept,
so tracebacks still point at the real file.

The transform is generic: inside every class decorated with ``dataclass``
(``@dataclass``, ``@dataclass(...)``, ``@dataclasses.dataclass...``), each
class-level annotated assignment whose value is a call (other than
``field(...)``), and whose annotation is not ``ClassVar``/``InitVar``,
``name: T = make()`` becomes ::

    name: T = __neuromem_dataclass_default__(make(), lambda: make())

The helper returns the value unchanged when it is hashable, so such fields
behave exactly as upstream intended; only a value that Python 3.11 would
reject becomes ``dataclasses.field(default_factory=lambda: make())``, which
is what upstream's fix would look like (each instance gets its own default
instead of one shared mutable object).  If the call refers to a name bound
in the class body (invisible from a lambda), the factory deep-copies the
value evaluated at class creation instead.

Nothing is done on Python < 3.11, or when the installed source has no such
fields (e.g. a future lava-nc release that fixed them); see :func:`is_needed`.

Examples
--------
>>> from neuromem._compat.lava311 import import_lava
>>> lava = import_lava()                       # doctest: +SKIP
>>> from lava.proc.lif.process import LIF     # doctest: +SKIP
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
import warnings
from types import CodeType, ModuleType
from typing import Any, Callable, Optional, Sequence

__all__ = [
    "TARGET_MODULE",
    "INSTALL_HINT",
    "install",
    "uninstall",
    "is_installed",
    "is_needed",
    "import_lava",
]

#: The only module the hook intercepts.
TARGET_MODULE = "lava.magma.compiler.var_model"

#: How to install lava-nc; part of the ImportError raised by import_lava().
INSTALL_HINT = (
    "lava-nc 0.10.0 declares Python <3.11, so on Python 3.11 it is not "
    "installed by neuromem's 'export' extra. From a neuromem checkout run "
    "`make venv`, or install it into the current environment with:\n"
    "    pip install --ignore-requires-python 'lava-nc==0.10.0' 'numpy<2'\n"
    "(on Python 3.10: pip install 'neuromem[export]')."
)

# Name under which the runtime helper is injected into the patched module's
# globals.  It ends with '__' so it is not name-mangled inside class bodies,
# and starts with '_' so `from ... import *` does not export it.
_HELPER_NAME = "__neuromem_dataclass_default__"

_FIXED_IN_PYTHON = (3, 11)  # first version whose dataclasses reject the pattern
_lock = threading.Lock()


# ---------------------------------------------------------------------------
# Runtime helper used by the rewritten source
# ---------------------------------------------------------------------------
def _dataclass_default(value: Any, factory: Optional[Callable[[], Any]] = None) -> Any:
    """Return a dataclass default that Python 3.11 accepts.

    Parameters
    ----------
    value : object
        The default as evaluated in the class body.
    factory : callable or None
        Zero-argument callable that re-evaluates the default expression, or
        ``None`` if it cannot (then a deep copy of `value` is used).

    Returns
    -------
    object
        `value` itself when its class is hashable (this is the exact test
        :mod:`dataclasses` applies in 3.11, so nothing changes for defaults
        that were already accepted); otherwise a
        ``dataclasses.field(default_factory=...)``.
    """
    if type(value).__hash__ is not None:
        return value
    if factory is None:
        factory = functools.partial(copy.deepcopy, value)
    return dataclasses.field(default_factory=factory)


# ---------------------------------------------------------------------------
# AST transform
# ---------------------------------------------------------------------------
def _is_dataclass_decorator(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id == "dataclass"
    if isinstance(node, ast.Attribute):
        return node.attr == "dataclass"
    return False


def _is_pseudo_field(annotation: ast.expr) -> bool:
    """True for ``ClassVar``/``InitVar`` annotations (not dataclass fields
    with a default factory; ``InitVar`` may not even have one)."""
    node = annotation
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id in ("ClassVar", "InitVar")
    if isinstance(node, ast.Attribute):
        return node.attr in ("ClassVar", "InitVar")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "ClassVar" in node.value or "InitVar" in node.value
    return False


def _is_field_call(node: ast.Call) -> bool:
    """True for ``field(...)``/``dataclasses.field(...)`` and for calls that
    this transform already inserted (so applying it twice is harmless)."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name in ("field", _HELPER_NAME)


def _class_bound_names(cls: ast.ClassDef) -> set:
    """Names bound directly in a class body (invisible from a lambda there)."""
    names = set()
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                names.add((alias.asname or alias.name).split(".")[0])
        else:
            targets = []
            if isinstance(stmt, ast.Assign):
                targets = stmt.targets
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                targets = [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        names.add(node.id)
    return names


def _candidate_fields(cls: ast.ClassDef):
    """Yield the ``AnnAssign`` statements of a dataclass body to rewrite."""
    for stmt in cls.body:
        if (
            isinstance(stmt, ast.AnnAssign)
            and stmt.simple
            and isinstance(stmt.target, ast.Name)
            and isinstance(stmt.value, ast.Call)
            and not _is_field_call(stmt.value)
            and not _is_pseudo_field(stmt.annotation)
        ):
            yield stmt


def _dataclasses(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            _is_dataclass_decorator(d) for d in node.decorator_list
        ):
            yield node


def _count_candidates(tree: ast.AST) -> int:
    return sum(len(list(_candidate_fields(cls))) for cls in _dataclasses(tree))


def _fix_dataclass_defaults(tree: ast.Module) -> int:
    """Rewrite call defaults of dataclass fields in place (see module doc).

    Parameters
    ----------
    tree : ast.Module
        Parsed module; modified in place.

    Returns
    -------
    int
        Number of fields rewritten.
    """
    n = 0
    for cls in list(_dataclasses(tree)):
        local = _class_bound_names(cls)
        for stmt in _candidate_fields(cls):
            value = stmt.value
            uses_local = any(
                isinstance(node, ast.Name) and node.id in local
                for node in ast.walk(value)
            )
            if uses_local:
                factory: ast.expr = ast.Constant(value=None)
            else:
                factory = ast.Lambda(
                    args=ast.arguments(
                        posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                        kw_defaults=[], kwarg=None, defaults=[],
                    ),
                    body=copy.deepcopy(value),
                )
            new = ast.Call(
                func=ast.Name(id=_HELPER_NAME, ctx=ast.Load()),
                args=[value, factory],
                keywords=[],
            )
            stmt.value = ast.copy_location(new, value)
            n += 1
    ast.fix_missing_locations(tree)
    return n


def _compile_patched(source: bytes | str, filename: str) -> CodeType:
    """Parse `source`, apply the dataclass fix and compile it.

    The code object must run in a namespace prepared by
    :func:`_prepare_namespace`.
    """
    tree = ast.parse(source, filename=filename)
    _fix_dataclass_defaults(tree)
    return compile(tree, filename, "exec", dont_inherit=True)


def _prepare_namespace(namespace: dict) -> dict:
    """Add the runtime helper that the rewritten source calls."""
    namespace[_HELPER_NAME] = _dataclass_default
    return namespace


# ---------------------------------------------------------------------------
# Import hook
# ---------------------------------------------------------------------------
class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Source loader that compiles the fixed source and never uses bytecode.

    Subclassing :class:`~importlib.machinery.SourceFileLoader` keeps
    ``get_source``, ``get_resource_reader`` etc. working on the real file;
    only :meth:`get_code` (the bytecode-cache path) is replaced.
    """

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return _compile_patched(self.get_data(path), path)

    def exec_module(self, module: ModuleType) -> None:
        _prepare_namespace(module.__dict__)
        super().exec_module(module)


class _Lava311Finder(importlib.abc.MetaPathFinder):
    """Meta-path finder that answers for :data:`TARGET_MODULE` only."""

    #: marker used to recognise our finders even across module reloads
    _neuromem_lava311 = True

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]] = None,
        target: Optional[ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != TARGET_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (
            spec is None
            or spec.origin is None
            or not spec.origin.endswith(".py")
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
        ):
            return None  # not a plain source install: let the normal machinery try
        loader = _PatchedSourceLoader(fullname, spec.origin)
        return importlib.util.spec_from_file_location(fullname, spec.origin, loader=loader)

    def __repr__(self) -> str:
        return f"<neuromem lava311 finder for {TARGET_MODULE!r}>"


def _our_finders() -> list:
    return [f for f in sys.meta_path if getattr(f, "_neuromem_lava311", False)]


def _find_target_source() -> Optional[str]:
    """Path of the installed ``var_model.py``, found without importing lava."""
    try:
        spec = importlib.util.find_spec("lava")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = os.path.join(location, *TARGET_MODULE.split(".")[1:]) + ".py"
        if os.path.isfile(candidate):
            return candidate
    return None


def is_needed(version_info: Optional[Sequence[int]] = None) -> bool:
    """Whether the running Python and the installed lava-nc need the hook.

    Parameters
    ----------
    version_info : sequence of int, optional
        Python version to assume (for tests); defaults to
        :data:`sys.version_info`.

    Returns
    -------
    bool
        ``True`` only if Python is 3.11 or newer, lava-nc is installed and
        its ``var_model.py`` still has dataclass fields with call defaults
        (the pattern that 3.11 rejects).  ``False`` on Python < 3.11, when
        lava-nc is absent, or when upstream has fixed the source.
    """
    version = tuple(sys.version_info if version_info is None else version_info)
    if version[:2] < _FIXED_IN_PYTHON:
        return False
    path = _find_target_source()
    if path is None:
        return False
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return False
    return _count_candidates(tree) > 0


def is_installed() -> bool:
    """Whether the hook is currently on :data:`sys.meta_path`."""
    return bool(_our_finders())


def install(*, version_info: Optional[Sequence[int]] = None) -> bool:
    """Install the import hook for ``lava.magma.compiler.var_model``.

    Idempotent: a second call does not add a second finder.  Must run before
    the first import of any Lava process module (:func:`import_lava` does it
    for you).

    Parameters
    ----------
    version_info : sequence of int, optional
        Python version to assume (for tests); defaults to
        :data:`sys.version_info`.

    Returns
    -------
    bool
        ``True`` if the hook is active after the call, ``False`` if it was not
        needed (Python < 3.11, lava-nc not installed, or upstream fixed).
    """
    with _lock:
        if _our_finders():
            return True
        if not is_needed(version_info):
            return False
        sys.meta_path.insert(0, _Lava311Finder())
        return True


def uninstall() -> bool:
    """Remove the hook from :data:`sys.meta_path`.

    A ``var_model`` module that was already imported through the hook stays
    in :data:`sys.modules` (and keeps working); only future imports are
    affected.

    Returns
    -------
    bool
        ``True`` if a finder was removed.
    """
    with _lock:
        finders = _our_finders()
        for finder in finders:
            sys.meta_path.remove(finder)
        return bool(finders)


def import_lava() -> ModuleType:
    """Install the hook if needed, import ``lava`` and return it.

    Also imports ``lava.magma.compiler.var_model`` so that a broken Lava
    installation fails here, with a clear message, rather than deep inside
    the export code.

    Returns
    -------
    module
        The ``lava`` (namespace) package.

    Raises
    ------
    ImportError
        If lava-nc is not installed (the message says how to install it) or
        cannot be imported.

    Warns
    -----
    RuntimeWarning
        If numpy >= 2 is installed: lava-nc 0.10.0 is only tested with
        numpy 1.x, and its reshape ports deadlock with recent numpy 2.
    """
    install()
    try:
        lava = importlib.import_module("lava")
        importlib.import_module(TARGET_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] != "lava":
            raise ImportError(
                f"lava-nc is installed but its dependency {exc.name!r} is missing. "
                + INSTALL_HINT
            ) from exc
        raise ImportError("lava-nc is not installed. " + INSTALL_HINT) from exc
    except ValueError as exc:  # the 3.11 dataclass error, if the hook is bypassed
        raise ImportError(
            f"lava-nc could not be imported on Python "
            f"{sys.version_info.major}.{sys.version_info.minor}: {exc}. "
            "Call neuromem._compat.lava311.install() before importing any "
            "Lava module. " + INSTALL_HINT
        ) from exc
    try:
        import numpy

        if int(numpy.__version__.split(".")[0]) >= 2:
            warnings.warn(
                f"numpy {numpy.__version__} is installed; lava-nc 0.10.0 needs "
                "numpy<2 (its ReshapePort/FlattenPort fail and the runtime can "
                "hang in stop()). Install 'numpy<2'.",
                RuntimeWarning,
                stacklevel=2,
            )
    except ImportError:  # pragma: no cover - lava itself needs numpy
        pass
    return lava
