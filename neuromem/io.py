"""Run folders: write a :class:`~neuromem.records.Run` to disk and read it back.

Layout of ``<out_dir>/<model>-<YYYYmmdd-HHMMSS>-seed<seed>/``::

    results.json          model, seed, overrides, versions, git commit, timings, metrics
    model.toml            the resolved model (after overrides)
    patterns.npz          patterns; cue_<fraction> per cue fraction; cue_fractions
    spikes/<phase>.npz    <pop>_i, <pop>_t, <pop>_n for every population and source
    state/<phase>.npz     <pop>_t, <pop>_v for recorded membrane potentials (if any)
    initial/<phase>.npz   <pop>_v, <pop>_I, <pop>_lastspike: network state at the phase start
    weights/initial.npz   plastic projections' weights before the first phase
    weights/<phase>.npz   ... after each phase
    weights/synapses.npz  <proj>_i, <proj>_j for every projection
    figures/*.png         see :func:`neuromem.plotting.save_figures`

The folder is assembled as ``.<name>.partial`` next to its final place and
renamed only when complete, so a folder without the leading dot is always a
finished run; if writing fails the partial folder is removed.

File names are phase/projection names passed through :func:`safe_name`; a
phase named ``initial`` or ``synapses`` has its weights stored as
``weights/phase_<name>.npz``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata as _md
import json
import math
import os
import platform
import re
import shutil
from pathlib import Path

import numpy as np

from neuromem.records import Item, PhaseRecord, Spikes

__all__ = [
    "write_run", "read_run", "RunFolder", "load_spikes", "load_weights", "load_synapses",
    "load_patterns", "load_state", "load_phase", "safe_name", "versions", "git_info",
]

_RESERVED_WEIGHT_FILES = ("initial", "synapses")


def safe_name(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9._-]`` replaced by ``_``."""
    s = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
    return s.lstrip(".") or "_"


def _weights_file(phase: str) -> str:
    s = safe_name(phase)
    return f"phase_{s}" if s in _RESERVED_WEIGHT_FILES else s


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

    here = Path(__file__).resolve().parent
    root = Path(root) if root is not None else here.parent

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


def _jsonable(x):
    """Recursively convert to JSON types; non-finite floats become ``None``."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, str):
        return x
    raise TypeError(f"not JSON-serialisable: {type(x).__name__} {x!r}")


def _sha256(run) -> tuple[str, str]:
    text = (run.model_text or "").encode("utf-8")
    text_sha = hashlib.sha256(text).hexdigest()
    if run.model_file and Path(run.model_file).is_file():
        return hashlib.sha256(Path(run.model_file).read_bytes()).hexdigest(), text_sha
    return text_sha, text_sha


def _reserve(out_dir: Path, base: str) -> tuple[Path, Path]:
    """Final and partial paths for the first free ``base``, ``base-2``, ..."""
    k = 1
    while True:
        name = base if k == 1 else f"{base}-{k}"
        final, partial = out_dir / name, out_dir / f".{name}.partial"
        if not final.exists() and not partial.exists():
            try:
                partial.mkdir()
                return final, partial
            except FileExistsError:
                pass
        k += 1


def _results(run, metrics, extra, now) -> dict:
    model_sha, text_sha = _sha256(run)
    wall = {ph.name: float(ph.wall_time) for ph in run.phases}
    res = {
        "model": getattr(run.model, "name", None),
        "model_file": None if run.model_file is None else str(run.model_file),
        "model_sha256": model_sha,
        "model_text_sha256": text_sha,
        "seed": int(run.seed),
        "overrides": list(run.overrides),
        "versions": versions(),
        "git": git_info(),
        "timestamp": now.isoformat(timespec="seconds"),
        "wall_time_s": wall,
        "total_wall_time_s": float(sum(wall.values())),
        "phases": [
            {"name": ph.name, "kind": ph.kind, "duration": float(ph.duration),
             "cue_fraction": float(ph.cue_fraction), "silenced": list(ph.silenced),
             "items": [[int(it.memory), float(it.t_on), float(it.t_off)] for it in ph.items]}
            for ph in run.phases
        ],
        "metrics": metrics,
    }
    if res["git"] is None:          # not run from a git checkout: no "git" key
        del res["git"]
    if extra:
        res.update(extra)
    return _jsonable(res)


def write_run(run, metrics: dict, out_dir, figures: bool = True, extra: dict | None = None) -> Path:
    """Write a run to a new folder ``out_dir/<model>-<YYYYmmdd-HHMMSS>-seed<seed>``.

    Parameters
    ----------
    run : neuromem.records.Run
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics`; stored under
        ``"metrics"`` in ``results.json``.
    out_dir : str or Path
        Parent folder, created if missing.
    figures : bool, optional
        Also draw the standard figures into ``figures/``.
    extra : dict, optional
        Merged into ``results.json`` at the top level (overriding keys).

    Returns
    -------
    Path
        The finished run folder.  A suffix ``-2``, ``-3``, ... is added when
        the name is taken.

    Notes
    -----
    Everything is written into a hidden ``.<name>.partial`` sibling first and
    renamed into place at the very end; on any exception the partial folder is
    removed and the exception re-raised.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now().astimezone()
    base = f"{safe_name(getattr(run.model, 'name', 'run'))}-{now:%Y%m%d-%H%M%S}-seed{int(run.seed)}"
    final, partial = _reserve(out_dir, base)
    final_base = final.name
    try:
        results = _results(run, metrics, extra, now)
        (partial / "model.toml").write_text(run.model_text or "", encoding="utf-8")
        cues = {f"cue_{float(f):g}": np.asarray(m, dtype=bool) for f, m in run.cues.items()}
        np.savez_compressed(partial / "patterns.npz", patterns=np.asarray(run.patterns, dtype=bool),
                            cue_fractions=np.array([float(f) for f in run.cues], dtype=float), **cues)
        for sub in ("spikes", "weights"):
            (partial / sub).mkdir()
        for ph in run.phases:
            arrays = {}
            for pop, sp in ph.spikes.items():
                arrays[f"{pop}_i"] = np.asarray(sp.i, dtype=np.int32)
                arrays[f"{pop}_t"] = np.asarray(sp.t, dtype=np.float64)
                arrays[f"{pop}_n"] = np.array(int(sp.n))
            np.savez_compressed(partial / "spikes" / f"{safe_name(ph.name)}.npz", **arrays)
            if ph.initial_state:
                (partial / "initial").mkdir(exist_ok=True)
                np.savez_compressed(partial / "initial" / f"{safe_name(ph.name)}.npz", **ph.initial_state)
            if ph.state:
                (partial / "state").mkdir(exist_ok=True)
                st = {}
                for pop, (t, v) in ph.state.items():
                    st[f"{pop}_t"], st[f"{pop}_v"] = np.asarray(t), np.asarray(v)
                np.savez_compressed(partial / "state" / f"{safe_name(ph.name)}.npz", **st)
            np.savez_compressed(partial / "weights" / f"{_weights_file(ph.name)}.npz",
                                **{k: np.asarray(w) for k, w in ph.weights.items()})
        np.savez_compressed(partial / "weights" / "initial.npz",
                            **{k: np.asarray(w) for k, w in run.initial_weights.items()})
        syn = {}
        for proj, (i, j) in run.synapses.items():
            syn[f"{proj}_i"], syn[f"{proj}_j"] = np.asarray(i, dtype=np.int32), np.asarray(j, dtype=np.int32)
        np.savez_compressed(partial / "weights" / "synapses.npz", **syn)
        if figures:
            from neuromem.plotting import save_figures
            save_figures(run, metrics, partial / "figures")
        # results.json last: its presence also marks a complete folder
        with open(partial / "results.json", "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, allow_nan=False)
            fh.write("\n")
        k = 1
        while True:
            # the name may have been taken meanwhile by another process
            if not final.exists():
                try:
                    os.rename(partial, final)
                    break
                except OSError:
                    if not final.exists():
                        raise
            k += 1
            final = out_dir / f"{final_base}-{k}"
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


# ---------------------------------------------------------------- reading


def _split(files, suffixes):
    """Group npz keys ``<name>_<suffix>`` by name."""
    out = {}
    for key in files:
        name, _, suf = key.rpartition("_")
        if name and suf in suffixes:
            out.setdefault(name, {})[suf] = key
    return out


def load_spikes(path, phase: str) -> dict:
    """Spikes of every population and source in a phase: ``{pop: Spikes}``."""
    with np.load(Path(path) / "spikes" / f"{safe_name(phase)}.npz") as z:
        groups = _split(z.files, ("i", "t", "n"))
        return {pop: Spikes(i=z[k["i"]], t=z[k["t"]], n=int(z[k["n"]])) for pop, k in groups.items()}


def load_weights(path, phase: str | None = None) -> dict:
    """Plastic projections' weights, ``{projection: w}``.

    Parameters
    ----------
    path : str or Path
        Run folder.
    phase : str, optional
        Weights after this phase; ``None`` (or ``"initial"`` when no phase has
        that name) for the weights before the first phase.
    """
    folder = Path(path) / "weights"
    f = folder / "initial.npz" if phase is None else folder / f"{_weights_file(phase)}.npz"
    if phase == "initial" and not f.exists():
        f = folder / "initial.npz"
    with np.load(f) as z:
        return {k: z[k] for k in z.files}


def load_synapses(path) -> dict:
    """``{projection: (i, j)}`` pre/post indices of every projection."""
    with np.load(Path(path) / "weights" / "synapses.npz") as z:
        return {p: (z[k["i"]], z[k["j"]]) for p, k in _split(z.files, ("i", "j")).items()}


def load_patterns(path) -> tuple:
    """``(patterns, {fraction: cued mask})``."""
    with np.load(Path(path) / "patterns.npz") as z:
        cues = {float(f): z[f"cue_{float(f):g}"] for f in z["cue_fractions"]}
        return z["patterns"], cues


def load_state(path, phase: str) -> dict:
    """Recorded membrane potentials of a phase, ``{pop: (t, v)}`` (empty if none)."""
    f = Path(path) / "state" / f"{safe_name(phase)}.npz"
    if not f.exists():
        return {}
    with np.load(f) as z:
        return {p: (z[k["t"]], z[k["v"]]) for p, k in _split(z.files, ("t", "v")).items()}


def load_phase(path, phase: str) -> PhaseRecord:
    """Rebuild a :class:`~neuromem.records.PhaseRecord` from a run folder."""
    res = json.loads((Path(path) / "results.json").read_text(encoding="utf-8"))
    for p in res["phases"]:
        if p["name"] == phase:
            return PhaseRecord(
                name=p["name"], kind=p["kind"], duration=p["duration"],
                spikes=load_spikes(path, phase),
                items=[Item(int(m), float(a), float(b)) for m, a, b in p["items"]],
                cue_fraction=p["cue_fraction"], weights=load_weights(path, phase),
                state=load_state(path, phase), wall_time=res["wall_time_s"].get(phase, 0.0),
                silenced=tuple(p.get("silenced", ())))
    raise KeyError(phase)


class RunFolder(dict):
    """The ``results.json`` of a run folder, with lazy loaders for its arrays.

    Attributes
    ----------
    path : Path
    """

    def __init__(self, path, results: dict):
        super().__init__(results)
        self.path = Path(path)

    def spikes(self, phase: str) -> dict:
        """See :func:`load_spikes`."""
        return load_spikes(self.path, phase)

    def weights(self, phase: str | None = None) -> dict:
        """See :func:`load_weights`."""
        return load_weights(self.path, phase)

    def synapses(self) -> dict:
        """See :func:`load_synapses`."""
        return load_synapses(self.path)

    def patterns(self) -> tuple:
        """See :func:`load_patterns`."""
        return load_patterns(self.path)

    def state(self, phase: str) -> dict:
        """See :func:`load_state`."""
        return load_state(self.path, phase)

    def phase(self, phase: str) -> PhaseRecord:
        """See :func:`load_phase`."""
        return load_phase(self.path, phase)

    @property
    def model_text(self) -> str:
        return (self.path / "model.toml").read_text(encoding="utf-8")


def read_run(path) -> RunFolder:
    """Open a run folder written by :func:`write_run`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    RunFolder
        A dict holding ``results.json``, with methods ``spikes(phase)``,
        ``weights(phase)``, ``synapses()``, ``patterns()``, ``state(phase)``
        and ``phase(name)`` that load arrays only when called.
    """
    path = Path(path)
    results = json.loads((path / "results.json").read_text(encoding="utf-8"))
    return RunFolder(path, results)
