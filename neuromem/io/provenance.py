"""What a run was made with: versions of neuromem and its dependencies, and the git commit."""

from __future__ import annotations

import importlib.metadata as _md
import platform
import re
from pathlib import Path

__all__ = ["OPTIONAL_DEPENDENCIES", "versions", "git_info"]


def _dist_version(*names):
    for n in names:
        try:
            return _md.version(n)
        except _md.PackageNotFoundError:
            continue
    return None


def _declared_dependencies() -> list[str]:
    """Distribution names of neuromem's declared (non-extra) dependencies that apply here."""
    try:
        reqs = _md.requires("neuromem") or []
    except _md.PackageNotFoundError:
        return []
    names = []
    for r in reqs:
        try:
            from packaging.requirements import Requirement

            req = Requirement(r)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            name = req.name
        except Exception:  # packaging missing or an unparsable line: read the name, skip extras
            if "extra" in r:
                continue
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
            if m is None:
                continue
            name = m.group(1)
        if name not in names:
            names.append(name)
    return names


OPTIONAL_DEPENDENCIES = ("lava-nc", "nir", "h5py")
"""Distributions whose version :func:`versions` records when they are installed."""


def versions() -> dict:
    """Versions of Python, neuromem and every dependency (``None`` where not installed).

    The keys are ``python``, ``neuromem``, ``numpy``, ``brian2`` and ``lava``
    (kept for older readers), then every declared dependency of neuromem
    that applies to this Python (from ``importlib.metadata.requires``, extras
    left out) under its distribution name, then :data:`OPTIONAL_DEPENDENCIES`
    that are installed.  Uses :mod:`importlib.metadata` only, so nothing (in
    particular lava) is imported.

    Returns
    -------
    dict
        Name → version string (or ``None``).
    """
    nm = _dist_version("neuromem")
    if nm is None:
        import sys
        nm = getattr(sys.modules.get("neuromem"), "__version__", None)
    out = {
        "python": platform.python_version(),
        "numpy": _dist_version("numpy"),
        "brian2": _dist_version("brian2", "Brian2"),
        "neuromem": nm,
        "lava": _dist_version("lava-nc", "lava"),
    }
    for name in _declared_dependencies():
        out.setdefault(name, _dist_version(name))
    for name in OPTIONAL_DEPENDENCIES:
        v = _dist_version(name)
        if v is not None:
            out.setdefault(name, v)
    return out


def git_info(root=None) -> dict | None:
    """The git commit of the neuromem checkout this code runs from.

    Parameters
    ----------
    root : str or Path, optional
        The checkout to describe; default the folder above the ``neuromem``
        package, used only when it is the top of a git work tree that holds
        the package (an installed copy in site-packages has none).

    Returns
    -------
    dict or None
        ``{"commit": <40 hex digits>, "dirty": bool}``, where ``dirty`` means
        uncommitted changes to tracked files or untracked files under
        ``neuromem/``; ``None`` when ``root`` is not a git checkout or git is
        not available.
    """
    import subprocess

    package = Path(__file__).resolve().parents[1]          # neuromem/ (this file is neuromem/io/provenance.py)
    root = Path(root) if root is not None else package.parent

    def git(*args):
        r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else None

    try:
        top = git("rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() != root.resolve() or not (root / "neuromem").is_dir():
            return None
        commit = git("rev-parse", "HEAD")
        tracked = git("status", "--porcelain", "--untracked-files=no")
        untracked = git("status", "--porcelain", "--untracked-files=all", "--", "neuromem")
    except (OSError, subprocess.SubprocessError):
        return None
    if commit is None or tracked is None or untracked is None:
        return None
    return {"commit": commit, "dirty": bool(tracked) or bool(untracked)}
