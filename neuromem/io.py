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
finished run; if writing fails the partial folder is removed.  A run written
phase by phase (:class:`RunCheckpoint`, what ``neuromem run`` does) keeps a
``checkpoint/`` subfolder there until it completes, from which an interrupted
run is resumed.

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
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuromem.records import Item, PhaseRecord, Spikes

__all__ = [
    "write_run", "read_run", "RunFolder", "load_spikes", "load_weights", "load_synapses",
    "load_patterns", "load_state", "load_phase", "safe_name", "versions", "git_info",
    "RunFolderError", "UnknownPhaseError", "check_run_folder", "verify_run", "file_checksums",
    "OutDirError", "check_out_dir", "claim_partial", "stale_partials", "clean_stale_partials", "WRITER_FILE",
    "RunCheckpoint", "ResumeError", "CHECKPOINT_DIR", "write_json_atomic", "write_npz_atomic",
    "load_initial", "load_model_text",
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
            except FileExistsError:
                pass
            else:
                claim_partial(partial)
                return final, partial
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


def write_run(run, metrics: dict, out_dir, figures: bool = True, extra: dict | None = None,
              checkpoint=None) -> Path:
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
    checkpoint : RunCheckpoint, optional
        The checkpoint the run was saved into phase by phase: its partial
        folder already holds every array, so only the figures and
        ``results.json`` are added, it is renamed into place and then its
        ``checkpoint/`` folder is removed (``out_dir`` is not used then; on
        failure the partial folder is kept, so the run can be resumed).

    Returns
    -------
    Path
        The finished run folder.  A suffix ``-2``, ``-3``, ... is added when
        the name is taken.

    Notes
    -----
    Everything is written into a hidden ``.<name>.partial`` sibling first and
    renamed into place at the very end; on any exception the partial folder is
    removed (kept with a ``checkpoint``) and the exception re-raised.
    """
    now = _dt.datetime.now().astimezone()
    if checkpoint is not None:
        partial = checkpoint.folder
        out_dir = partial.parent
        final = out_dir / _final_name(partial)
    else:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        base = f"{safe_name(getattr(run.model, 'name', 'run'))}-{now:%Y%m%d-%H%M%S}-seed{int(run.seed)}"
        final, partial = _reserve(out_dir, base)
    final_base = final.name
    try:
        results = _results(run, metrics, extra, now)
        if checkpoint is None:
            _write_run_arrays(partial, run, run.model_text)
            for ph in run.phases:
                _write_phase_arrays(partial, ph)
        if figures:
            from neuromem.plotting import save_figures
            save_figures(run, metrics, partial / "figures")
        # checksums of everything written so far, for `neuromem verify`
        (partial / WRITER_FILE).unlink(missing_ok=True)
        results["files"] = {rel: sha for rel, sha in file_checksums(partial).items()
                            if checkpoint is None or not rel.startswith(f"{CHECKPOINT_DIR}/")}
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
        if checkpoint is None:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    if checkpoint is not None:
        # only now: until the folder is complete and in place, the checkpoint can resume it
        shutil.rmtree(final / CHECKPOINT_DIR, ignore_errors=True)
    return final


def _write_run_arrays(folder: Path, run, model_text: str) -> None:
    """The files of a run that no phase changes: model, patterns, initial weights, synapses."""
    (folder / "model.toml").write_text(model_text or "", encoding="utf-8")
    cues = {f"cue_{float(f):g}": np.asarray(m, dtype=bool) for f, m in run.cues.items()}
    np.savez_compressed(folder / "patterns.npz", patterns=np.asarray(run.patterns, dtype=bool),
                        cue_fractions=np.array([float(f) for f in run.cues], dtype=float), **cues)
    (folder / "weights").mkdir(exist_ok=True)
    np.savez_compressed(folder / "weights" / "initial.npz",
                        **{k: np.asarray(w) for k, w in run.initial_weights.items()})
    syn = {}
    for proj, (i, j) in run.synapses.items():
        syn[f"{proj}_i"], syn[f"{proj}_j"] = np.asarray(i, dtype=np.int32), np.asarray(j, dtype=np.int32)
    np.savez_compressed(folder / "weights" / "synapses.npz", **syn)


def _write_phase_arrays(folder: Path, ph) -> None:
    """One phase's spikes, weights, initial state and recorded state (see the module layout)."""
    for sub in ("spikes", "weights"):
        (folder / sub).mkdir(exist_ok=True)
    arrays = {}
    for pop, sp in ph.spikes.items():
        arrays[f"{pop}_i"] = np.asarray(sp.i, dtype=np.int32)
        arrays[f"{pop}_t"] = np.asarray(sp.t, dtype=np.float64)
        arrays[f"{pop}_n"] = np.array(int(sp.n))
    np.savez_compressed(folder / "spikes" / f"{safe_name(ph.name)}.npz", **arrays)
    if ph.initial_state:
        (folder / "initial").mkdir(exist_ok=True)
        np.savez_compressed(folder / "initial" / f"{safe_name(ph.name)}.npz", **ph.initial_state)
    if ph.state:
        (folder / "state").mkdir(exist_ok=True)
        st = {}
        for pop, (t, v) in ph.state.items():
            st[f"{pop}_t"], st[f"{pop}_v"] = np.asarray(t), np.asarray(v)
        np.savez_compressed(folder / "state" / f"{safe_name(ph.name)}.npz", **st)
    np.savez_compressed(folder / "weights" / f"{_weights_file(ph.name)}.npz",
                        **{k: np.asarray(w) for k, w in ph.weights.items()})


# ---------------------------------------------------------------- checkpoints

CHECKPOINT_DIR = "checkpoint"
"""Subfolder of a partial run folder that makes it resumable (removed when the run completes)."""


class ResumeError(Exception):
    """A folder cannot be resumed: not a run checkpoint, unreadable, or another run's."""


def _final_name(partial: Path) -> str:
    """``name`` for a partial folder ``.name.partial``."""
    return partial.name[1:-len(".partial")]


def _write_atomic(path, mode: str, write) -> Path:
    """Write ``path`` through a temporary file in its folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_json_atomic(path, obj) -> Path:
    """Write ``obj`` as JSON so that ``path`` is either the old file or the complete new one.

    The data go to a temporary file in the same folder, which is then renamed
    over ``path`` (``os.replace``); on any failure the temporary file is
    removed and ``path`` is untouched.  Numpy values become JSON types and
    non-finite floats ``null``.  The one atomic JSON writer of neuromem (run
    checkpoints, export results).

    Parameters
    ----------
    path : str or Path
        Its folder is created if missing.
    obj : dict or list

    Returns
    -------
    Path
        ``path``.
    """
    def write(fh):
        json.dump(_jsonable(obj), fh, indent=2, allow_nan=False)
        fh.write("\n")
    return _write_atomic(path, "w", write)


def write_npz_atomic(path, arrays: dict) -> Path:
    """Write ``arrays`` as an (uncompressed) ``.npz`` file atomically, as :func:`write_json_atomic`.

    Parameters
    ----------
    path : str or Path
    arrays : dict of str to array_like

    Returns
    -------
    Path
        ``path``.
    """
    return _write_atomic(path, "wb", lambda fh: np.savez(fh, **arrays))


def _text_sha256(text: str) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


class RunCheckpoint:
    """A run written phase by phase into its partial folder, so that it can be resumed.

    The hooks that :func:`neuromem.backends.brian2.simulate` calls (its
    ``checkpoint`` argument).  The partial folder ``.<name>.partial`` gets the
    run folder's files as soon as they are known, and a ``checkpoint/``
    subfolder that makes it resumable::

        model.toml, patterns.npz, weights/initial.npz, weights/synapses.npz   before the first phase
        spikes/, weights/, initial/, state/ <phase>.npz                       as each phase ends
        checkpoint/run.json             the run's identity: model name, model file, model text (and
                                        its SHA-256), seed, overrides
        checkpoint/phases/<phase>.json  the phase's record (index, kind, duration, items, cue
                                        fraction, silenced, wall time); written last, it marks the
                                        phase complete
        checkpoint/<phase>.brian2       Brian2 network state at the end of a phase (pickle written by
                                        ``Network.store``), kept while a later phase starts from it

    :func:`write_run` with this checkpoint adds the figures and
    ``results.json``, removes ``checkpoint/`` and renames the folder into
    place.

    Parameters
    ----------
    folder : Path
        The partial folder.
    identity : dict
        ``model``, ``model_file``, ``model_text``, ``model_text_sha256``,
        ``seed``, ``overrides``.
    completed : list of neuromem.records.PhaseRecord, optional
        Phases already on disk, in simulated order.

    Attributes
    ----------
    folder : Path
    identity : dict
    completed : list of neuromem.records.PhaseRecord
        The phases completed so far (grows as phases end).
    """

    def __init__(self, folder, identity: dict, completed=()):
        self.folder = Path(folder)
        self.identity = identity
        self.completed = list(completed)

    @classmethod
    def create(cls, out_dir, model_name: str, model_text: str, seed: int, overrides=(),
               model_file=None) -> "RunCheckpoint":
        """Reserve a new partial run folder in ``out_dir`` and record the run's identity.

        Parameters
        ----------
        out_dir : str or Path
            Parent folder (created if missing).
        model_name : str
        model_text : str
            The resolved model as TOML text.
        seed : int
        overrides : iterable of str, optional
        model_file : str or None, optional

        Returns
        -------
        RunCheckpoint
            With no completed phase; its folder is
            ``out_dir/.<model>-<YYYYmmdd-HHMMSS>-seed<seed>.partial``.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        now = _dt.datetime.now().astimezone()
        base = f"{safe_name(model_name)}-{now:%Y%m%d-%H%M%S}-seed{int(seed)}"
        _, partial = _reserve(out_dir, base)
        identity = {"model": model_name, "model_file": None if model_file is None else str(model_file),
                    "model_text": model_text, "model_text_sha256": _text_sha256(model_text),
                    "seed": int(seed), "overrides": list(overrides),
                    "started": now.isoformat(timespec="seconds")}
        try:
            (partial / CHECKPOINT_DIR / "phases").mkdir(parents=True)
            write_json_atomic(partial / CHECKPOINT_DIR / "run.json", identity)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return cls(partial, identity)

    @classmethod
    def open(cls, folder) -> "RunCheckpoint":
        """The checkpoint in the partial folder of an interrupted run, with its completed phases.

        The current process becomes the folder's writer (:func:`claim_partial`).

        Raises
        ------
        ResumeError
            If ``folder`` is not the partial folder of a checkpointed run, a
            file of it cannot be read (the message names the file), or a
            process that still runs is writing it.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ResumeError(f"{folder}: no such folder")
        run_json = folder / CHECKPOINT_DIR / "run.json"
        if not (folder.name.startswith(".") and folder.name.endswith(".partial")) or not run_json.is_file():
            raise ResumeError(f"{folder}: not the partial folder of an interrupted run "
                              f"(.<name>.partial with {CHECKPOINT_DIR}/run.json)")
        try:
            identity = json.loads(run_json.read_text(encoding="utf-8"))
            for key in ("model_text", "seed", "overrides"):
                identity[key]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ResumeError(f"{run_json}: unreadable ({type(e).__name__}: {e})") from None
        metas = []
        for f in sorted((folder / CHECKPOINT_DIR / "phases").glob("*.json")):
            try:
                metas.append(json.loads(f.read_text(encoding="utf-8")))
            except (OSError, ValueError) as e:
                raise ResumeError(f"{f}: unreadable ({type(e).__name__}: {e})") from None
        completed = []
        for meta in sorted(metas, key=lambda m: m["index"]):
            completed.append(cls._load_record(folder, meta))
        if _writer_alive(folder) and _writer_pid(folder) != os.getpid():
            raise ResumeError(f"{folder}: another running process is writing it ({WRITER_FILE})")
        claim_partial(folder)
        return cls(folder, identity, completed)

    @staticmethod
    def _load_record(folder: Path, meta: dict) -> PhaseRecord:
        name = meta["name"]
        try:
            initial = {}
            f = folder / "initial" / f"{safe_name(name)}.npz"
            if f.exists():
                with np.load(f) as z:
                    initial = {k: z[k] for k in z.files}
            return PhaseRecord(
                name=name, kind=meta["kind"], duration=meta["duration"], spikes=load_spikes(folder, name),
                items=[Item(int(m), float(a), float(b)) for m, a, b in meta["items"]],
                cue_fraction=meta["cue_fraction"], weights=load_weights(folder, name),
                state=load_state(folder, name), initial_state=initial, wall_time=meta["wall_time"],
                silenced=tuple(meta["silenced"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
            raise ResumeError(f"{folder}: phase {name!r} cannot be read back "
                              f"({type(e).__name__}: {e})") from None

    def check_identity(self, model_text: str, seed: int, overrides=()) -> None:
        """Refuse to continue another run.

        Raises
        ------
        ResumeError
            If the model text, the seed or the overrides differ from those the
            checkpoint was started with (the message lists each difference).
        """
        ident = self.identity
        diffs = []
        if int(ident["seed"]) != int(seed):
            diffs.append(f"seed {seed} (started with {ident['seed']})")
        if list(ident["overrides"]) != list(overrides):
            diffs.append(f"overrides {list(overrides)} (started with {ident['overrides']})")
        if _text_sha256(ident["model_text"]) != _text_sha256(model_text):
            diffs.append("the model (its resolved text differs from the one the run was started with)")
        if diffs:
            raise ResumeError(f"{self.folder} is a different run: " + "; ".join(diffs))

    def check_continuation(self, protocol) -> None:
        """Refuse a checkpoint that cannot continue ``protocol``.

        Parameters
        ----------
        protocol : neuromem.spec.Protocol

        Raises
        ------
        ResumeError
            If the completed phases are not the protocol's first phases, or
            the network state file that the next phase starts from (at the
            end of :meth:`~neuromem.spec.Protocol.origin`) is missing.
        """
        names = [ph.name for ph in protocol.phases]
        done = [r.name for r in self.completed]
        if done != names[:len(done)]:
            raise ResumeError(f"{self.folder}: completed phases {done} are not the first phases of the "
                              f"protocol {names}")
        if 0 < len(done) < len(names):
            origin = protocol.origin(names[len(done)])
            path = self.state_path(origin)
            if not path.is_file():
                raise ResumeError(f"{path}: missing; phase {names[len(done)]!r} starts from the network "
                                  f"state at the end of {origin!r}")

    @staticmethod
    def is_checkpoint(folder) -> bool:
        """Whether ``folder`` is a resumable partial folder (has ``checkpoint/run.json``)."""
        return (Path(folder) / CHECKPOINT_DIR / "run.json").is_file()

    def state_path(self, phase: str) -> Path:
        """File of the Brian2 network state at the end of ``phase``."""
        return self.folder / CHECKPOINT_DIR / f"{safe_name(phase)}.brian2"

    def on_start(self, run) -> None:
        """Write the files no phase changes (model, patterns, initial weights, synapses)."""
        _write_run_arrays(self.folder, run, self.identity["model_text"])

    def on_phase_end(self, record, state_path) -> None:
        """Write a finished phase's arrays, then its record (which marks it complete).

        Parameters
        ----------
        record : neuromem.records.PhaseRecord
        state_path : Path or None
            The network state file written for the phase (recorded by name).
        """
        _write_phase_arrays(self.folder, record)
        meta = {"index": len(self.completed), "name": record.name, "kind": record.kind,
                "duration": float(record.duration), "cue_fraction": float(record.cue_fraction),
                "silenced": list(record.silenced),
                "items": [[int(it.memory), float(it.t_on), float(it.t_off)] for it in record.items],
                "wall_time": float(record.wall_time),
                "network_state": None if state_path is None else Path(state_path).name}
        write_json_atomic(self.folder / CHECKPOINT_DIR / "phases" / f"{safe_name(record.name)}.json", meta)
        self.completed.append(record)


# ---------------------------------------------------------------- reading


class RunFolderError(ValueError):
    """A run folder, or a file in it, is missing, truncated or malformed.

    Raised by every reader of this module (and by the exporters that read
    run folders) instead of the underlying ``FileNotFoundError``,
    ``JSONDecodeError``, ``BadZipFile``, ``KeyError``, ... .  The message is
    one line, ``<path>: <problem>``; the command line prints it as
    ``error: <message>`` and exits with status 2.

    Parameters
    ----------
    path : str or Path
        The file (or folder) at fault.
    problem : str
        What is wrong with it (whitespace is collapsed to keep one line).

    Attributes
    ----------
    path : Path
    problem : str
    """

    def __init__(self, path, problem):
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")

    def __str__(self) -> str:
        return self.args[0]


class UnknownPhaseError(RunFolderError, KeyError):
    """A phase name that the run folder's ``results.json`` does not list (also a ``KeyError``)."""


def _missing_or_blocked(path: Path) -> RunFolderError:
    """``path`` does not exist: say so, or name the ancestor that is a file where a folder should be."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return RunFolderError(parent, "is a file where a folder is expected")
    return RunFolderError(path, "missing")


def _folder_error(path: Path, exc: BaseException) -> RunFolderError:
    """The :class:`RunFolderError` that describes ``exc`` raised while reading ``path``."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)) or (
            isinstance(exc, OSError) and not path.exists()):
        return _missing_or_blocked(path)
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return RunFolderError(path, "is a folder where a file is expected")
    if isinstance(exc, PermissionError):
        return RunFolderError(path, "cannot be read (permission denied)")
    if isinstance(exc, json.JSONDecodeError):
        return RunFolderError(path, f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                                    f"the file is truncated or corrupted")
    if isinstance(exc, UnicodeDecodeError):
        return RunFolderError(path, "is not UTF-8 text (corrupted)")
    if path.suffix == ".npz" and isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)):
        return RunFolderError(path, f"not a readable .npz archive, truncated or corrupted "
                                    f"({type(exc).__name__}: {exc})")
    if isinstance(exc, KeyError):
        return RunFolderError(path, f"has no entry {exc.args[0]!r}" if exc.args else "an entry is missing")
    if isinstance(exc, OSError):
        return RunFolderError(path, f"cannot be read ({exc.strerror or exc})")
    return RunFolderError(path, f"malformed ({type(exc).__name__}: {exc})")


@contextmanager
def _reading(path):
    """Turn any failure while reading ``path`` into a :class:`RunFolderError` naming it."""
    path = Path(path)
    try:
        yield path
    except RunFolderError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile,
            zlib.error) as e:
        raise _folder_error(path, e) from e


def _npz_files(f: Path, required=()) -> dict:
    """Every array of the ``.npz`` file ``f``, read completely (so corruption shows here)."""
    with _reading(f):
        with np.load(f) as z:
            arrays = {k: z[k] for k in z.files}
    for k in required:
        if k not in arrays:
            raise RunFolderError(f, f"has no array {k!r}")
    return arrays


def _split(files, suffixes):
    """Group npz keys ``<name>_<suffix>`` by name."""
    out = {}
    for key in files:
        name, _, suf = key.rpartition("_")
        if name and suf in suffixes:
            out.setdefault(name, {})[suf] = key
    return out


def _grouped(f: Path, arrays: dict, suffixes) -> dict:
    """``{name: {suffix: array}}``, refusing a group that lacks one of ``suffixes``."""
    out = {}
    for name, keys in _split(arrays, suffixes).items():
        lacking = [s for s in suffixes if s not in keys]
        if lacking:
            raise RunFolderError(f, f"has no array '{name}_{lacking[0]}' (beside {sorted(keys.values())})")
        out[name] = {s: arrays[k] for s, k in keys.items()}
    return out


def load_model_text(path) -> str:
    """The text of a run folder's ``model.toml``.

    Raises
    ------
    RunFolderError
        If it is missing or unreadable.
    """
    f = Path(path) / "model.toml"
    with _reading(f):
        return f.read_text(encoding="utf-8")


def load_initial(path, phase: str) -> dict | None:
    """The network state at the start of ``phase``: every array of ``initial/<phase>.npz``.

    Parameters
    ----------
    path : str or Path
        A run folder.
    phase : str

    Returns
    -------
    dict of str to ndarray or None
        ``<pop>_v``, ``<pop>_I`` (V) and ``<pop>_lastspike`` (s, relative to
        the phase start) as the backend wrote them; ``None`` when the run
        folder has no such file (runs written before it existed).

    Raises
    ------
    RunFolderError
        If the file exists but cannot be read.
    """
    f = Path(path) / "initial" / f"{safe_name(phase)}.npz"
    if not f.exists():
        return None
    return _npz_files(f)


def load_spikes(path, phase: str) -> dict:
    """Spikes of every population and source in a phase: ``{pop: Spikes}``.

    Raises
    ------
    RunFolderError
        If ``spikes/<phase>.npz`` is missing, unreadable or inconsistent.
    """
    f = Path(path) / "spikes" / f"{safe_name(phase)}.npz"
    out = {}
    for pop, a in _grouped(f, _npz_files(f), ("i", "t", "n")).items():
        i, t, n = a["i"], a["t"], a["n"]
        if (i.ndim != 1 or t.shape != i.shape or n.shape != () or not np.issubdtype(i.dtype, np.integer)
                or not np.issubdtype(n.dtype, np.integer) or not np.issubdtype(t.dtype, np.floating)
                or (i.size and (i.min() < 0 or i.max() >= int(n)))):
            raise RunFolderError(f, f"spikes of {pop!r} are inconsistent (i {i.dtype}{list(i.shape)}, "
                                    f"t {t.dtype}{list(t.shape)}, n {n.dtype}{list(n.shape)})")
        out[pop] = Spikes(i=i, t=t, n=int(n))
    return out


def load_weights(path, phase: str | None = None) -> dict:
    """Plastic projections' weights, ``{projection: w}``.

    Parameters
    ----------
    path : str or Path
        Run folder.
    phase : str, optional
        Weights after this phase; ``None`` (or ``"initial"`` when no phase has
        that name) for the weights before the first phase.

    Raises
    ------
    RunFolderError
        If the weights file is missing or unreadable.
    """
    folder = Path(path) / "weights"
    f = folder / "initial.npz" if phase is None else folder / f"{_weights_file(phase)}.npz"
    if phase == "initial" and not f.exists():
        f = folder / "initial.npz"
    return _npz_files(f)


def load_synapses(path) -> dict:
    """``{projection: (i, j)}`` pre/post indices of every projection.

    Raises
    ------
    RunFolderError
        If ``weights/synapses.npz`` is missing, unreadable or inconsistent.
    """
    f = Path(path) / "weights" / "synapses.npz"
    out = {}
    for p, a in _grouped(f, _npz_files(f), ("i", "j")).items():
        if a["i"].ndim != 1 or a["i"].shape != a["j"].shape:
            raise RunFolderError(f, f"synapses of {p!r}: i {list(a['i'].shape)} and j {list(a['j'].shape)} "
                                    f"differ in shape")
        out[p] = (a["i"], a["j"])
    return out


def load_patterns(path) -> tuple:
    """``(patterns, {fraction: cued mask})``.

    Raises
    ------
    RunFolderError
        If ``patterns.npz`` is missing, unreadable or inconsistent.
    """
    f = Path(path) / "patterns.npz"
    z = _npz_files(f, ("patterns", "cue_fractions"))
    with _reading(f):
        cues = {float(x): z[f"cue_{float(x):g}"] for x in np.asarray(z["cue_fractions"], dtype=float).ravel()}
    pats = z["patterns"]
    for m in cues.values():
        if pats.ndim != 2 or m.shape != pats.shape:
            raise RunFolderError(f, f"patterns {list(pats.shape)} and cue masks {list(m.shape)} differ in shape")
    return pats, cues


def load_state(path, phase: str) -> dict:
    """Recorded membrane potentials of a phase, ``{pop: (t, v)}`` (empty if none).

    Raises
    ------
    RunFolderError
        If ``state/<phase>.npz`` exists but cannot be read.
    """
    f = Path(path) / "state" / f"{safe_name(phase)}.npz"
    if not f.exists() and not f.parent.exists():
        return {}
    if not f.exists():
        if not f.parent.is_dir():
            raise RunFolderError(f.parent, "is a file where a folder is expected")
        return {}
    return {p: (a["t"], a["v"]) for p, a in _grouped(f, _npz_files(f), ("t", "v")).items()}


def _phase_entry(path: Path, results: dict, phase: str) -> dict:
    for p in results["phases"]:
        if p["name"] == phase:
            return p
    names = ", ".join(p["name"] for p in results["phases"]) or "none"
    raise UnknownPhaseError(path / "results.json", f"no phase {phase!r} (phases: {names})")


def load_phase(path, phase: str) -> PhaseRecord:
    """Rebuild a :class:`~neuromem.records.PhaseRecord` from a run folder.

    Raises
    ------
    UnknownPhaseError
        If ``results.json`` lists no phase ``phase`` (a ``KeyError`` too).
    RunFolderError
        If a file it needs is missing or malformed.
    """
    path = Path(path)
    res = _read_results(path)
    p = _phase_entry(path, res, phase)
    return PhaseRecord(
        name=p["name"], kind=p["kind"], duration=p["duration"],
        spikes=load_spikes(path, phase),
        items=[Item(int(m), float(a), float(b)) for m, a, b in p["items"]],
        cue_fraction=p["cue_fraction"], weights=load_weights(path, phase),
        state=load_state(path, phase), wall_time=res["wall_time_s"].get(phase, 0.0),
        silenced=tuple(p.get("silenced", ())))


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
        """The text of ``model.toml`` (:class:`RunFolderError` if missing or unreadable)."""
        return load_model_text(self.path)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_results(f: Path, res) -> None:
    """Refuse a ``results.json`` whose structure the readers and exporters cannot use."""
    def bad(what):
        raise RunFolderError(f, what)

    if not isinstance(res, dict):
        bad(f"expected a JSON object, got {type(res).__name__}")
    for key in ("phases", "seed", "wall_time_s"):
        if key not in res:
            bad(f"has no key {key!r}")
    if not isinstance(res["seed"], int) or isinstance(res["seed"], bool):
        bad(f"'seed' must be an integer, got {res['seed']!r}")
    if not isinstance(res["wall_time_s"], dict):
        bad(f"'wall_time_s' must be an object, got {type(res['wall_time_s']).__name__}")
    if "metrics" in res and not isinstance(res["metrics"], dict):
        bad(f"'metrics' must be an object, got {type(res['metrics']).__name__}")
    if not isinstance(res["phases"], list):
        bad(f"'phases' must be a list, got {type(res['phases']).__name__}")
    seen = set()
    for k, p in enumerate(res["phases"]):
        where = f"phases[{k}]"
        if not isinstance(p, dict):
            bad(f"{where} must be an object, got {type(p).__name__}")
        for key, ok, want in (("name", lambda v: isinstance(v, str) and v, "a non-empty string"),
                              ("kind", lambda v: isinstance(v, str), "a string"),
                              ("duration", lambda v: _is_number(v) and v >= 0, "a number >= 0"),
                              ("cue_fraction", _is_number, "a number"),
                              ("items", lambda v: isinstance(v, list), "a list")):
            if key not in p:
                bad(f"{where} has no key {key!r}")
            if not ok(p[key]):
                bad(f"{where}.{key} must be {want}, got {p[key]!r}")
        if p["name"] in seen:
            bad(f"{where}: phase {p['name']!r} is listed twice")
        seen.add(p["name"])
        for it in p["items"]:
            if not (isinstance(it, list) and len(it) == 3 and isinstance(it[0], int) and _is_number(it[1])
                    and _is_number(it[2])):
                bad(f"{where}.items: expected [memory, t_on, t_off], got {it!r}")
        if not isinstance(p.get("silenced", []), list) or not all(isinstance(s, str) for s in p.get("silenced", [])):
            bad(f"{where}.silenced must be a list of names, got {p.get('silenced')!r}")


def _read_results(path: Path) -> dict:
    f = Path(path) / "results.json"
    if not Path(path).is_dir():
        raise (_missing_or_blocked(Path(path)) if not Path(path).exists()
               else RunFolderError(path, "is a file, expected a run folder"))
    with _reading(f):
        res = json.loads(f.read_text(encoding="utf-8"))
    _check_results(f, res)
    return res


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

    Raises
    ------
    RunFolderError
        If ``path`` is not a folder, or ``results.json`` is missing, not
        JSON, or lacks what the readers need (``phases`` with ``name``,
        ``kind``, ``duration``, ``cue_fraction``, ``items``; ``seed``;
        ``wall_time_s``).
    """
    path = Path(path)
    return RunFolder(path, _read_results(path))


def check_run_folder(path, phases=()) -> RunFolder:
    """Read every file of a run folder once and check that the pieces fit together.

    Used by the exporters' command line before anything slow starts, so that a
    missing, truncated or corrupted file is reported at once, naming it.

    Parameters
    ----------
    path : str or Path
        A run folder written by :func:`write_run`.
    phases : iterable of str, optional
        Phase names that must be listed in ``results.json``.

    Returns
    -------
    RunFolder
        As :func:`read_run`.

    Raises
    ------
    UnknownPhaseError
        If a name in ``phases`` is not a phase of the run.
    RunFolderError
        For the first file that is missing, unreadable, or inconsistent:
        ``model.toml``, ``patterns.npz``, ``weights/synapses.npz``,
        ``weights/initial.npz``, and per phase ``spikes/<phase>.npz``,
        ``weights/<phase>.npz`` (the same projections as ``initial.npz``, one
        weight per synapse), ``initial/<phase>.npz`` and ``state/<phase>.npz``
        where present.
    """
    path = Path(path)
    rf = read_run(path)
    for ph in phases:
        _phase_entry(path, rf, ph)
    _ = rf.model_text
    load_patterns(path)
    syn = load_synapses(path)
    w0 = load_weights(path, None)

    def check_weights(f: Path, w: dict):
        if set(w) != set(w0):
            raise RunFolderError(f, f"holds projections {sorted(w)}, weights/initial.npz {sorted(w0)}")
        for k, v in w.items():
            if k not in syn:
                raise RunFolderError(f, f"projection {k!r} has no synapses in weights/synapses.npz")
            if v.ndim != 1 or len(v) != len(syn[k][0]):
                raise RunFolderError(f, f"projection {k!r} has {list(v.shape)} weights for "
                                        f"{len(syn[k][0])} synapses")

    check_weights(path / "weights" / "initial.npz", w0)
    for p in rf["phases"]:
        name = p["name"]
        load_spikes(path, name)
        check_weights(path / "weights" / f"{_weights_file(name)}.npz", load_weights(path, name))
        load_state(path, name)
        init = path / "initial" / f"{safe_name(name)}.npz"
        if init.parent.exists() and not init.parent.is_dir():
            raise RunFolderError(init.parent, "is a file where a folder is expected")
        if init.exists():
            _npz_files(init)
    return rf


# ---------------------------------------------------------------- checksums

_NOT_RECORDED = ("results.json",)
_EXPORT_OUTPUTS = re.compile(r"(lava_results\.json|lava_.+_results\.json|lava_.+_weights\.npz|model\.nir|run\.nwb)")
"""Files that exporters write into a run folder after it was finished (not checksummed)."""


def _file_sha256(f: Path) -> str:
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_checksums(folder) -> dict:
    """``{relative path: sha256}`` of every file under ``folder`` except ``results.json``.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    dict
        Paths relative to ``folder`` with ``/`` separators, sorted.
    """
    folder = Path(folder)
    out = {}
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder).as_posix()
        if f.is_file() and rel not in _NOT_RECORDED and rel != WRITER_FILE:
            out[rel] = _file_sha256(f)
    return out


def verify_run(path) -> dict:
    """Compare a run folder with the checksums recorded in its ``results.json``.

    Parameters
    ----------
    path : str or Path
        A run folder written by :func:`write_run` (which records
        ``results.json["files"]``, ``{relative path: sha256}`` of every file
        written before ``results.json``).

    Returns
    -------
    dict
        ``ok`` (bool), ``files`` (number of recorded files), ``missing``,
        ``changed`` and ``extra`` (sorted relative paths; files exporters add
        later -- ``lava_results.json``, ``lava_<phase>_results.json``,
        ``lava_<phase>_weights.npz``, ``model.nir`` -- are listed under
        ``exports`` instead and do not count as extra).

    Raises
    ------
    RunFolderError
        If ``results.json`` is unreadable or records no checksums.
    """
    path = Path(path)
    res = _read_results(path)
    f = path / "results.json"
    recorded = res.get("files")
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise RunFolderError(f, "records no file checksums ('files'); written by an older neuromem?")
    actual = file_checksums(path)
    missing = sorted(k for k in recorded if k not in actual)
    changed = sorted(k for k in recorded if k in actual and actual[k] != recorded[k])
    others = sorted(k for k in actual if k not in recorded)
    exports = [k for k in others if _EXPORT_OUTPUTS.fullmatch(k)]
    extra = [k for k in others if k not in exports]
    return {"ok": not (missing or changed or extra), "files": len(recorded), "missing": missing,
            "changed": changed, "extra": extra, "exports": exports}


# ---------------------------------------------------------------- output folder, stale partial folders

WRITER_FILE = ".writer"
"""File in a ``.<name>.partial`` folder naming the process that writes it (removed before completion)."""

_STALE_AFTER_S = 60.0
"""A partial folder without a writer file is stale once untouched this long (seconds)."""


class OutDirError(RunFolderError):
    """The output folder (``--out``) is unusable: a file, under a file, or not writable."""


def check_out_dir(out_dir) -> Path:
    """Check, without creating anything, that run folders can be written into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Parent folder of run folders; it may not exist yet.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    OutDirError
        If ``out_dir`` is a file, lies under a file, or it (or, when missing,
        its nearest existing ancestor) is not a writable folder.
    """
    out_dir = Path(out_dir)
    probe = out_dir
    while not probe.exists():
        if probe.is_symlink():
            raise OutDirError(probe, "is a broken symbolic link; cannot create the output folder")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutDirError(probe, "is a file, not a folder" if probe == out_dir else
                          f"is a file, so the output folder {out_dir} cannot be created under it")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".neuromem-write-test-", dir=probe))
        tmp.rmdir()
    except OSError as e:
        where = "" if probe == out_dir else f" (the output folder {out_dir} would be created in it)"
        raise OutDirError(probe, f"is not writable{where}: {e.strerror or e}") from None
    return out_dir


def _process_start(pid: int):
    """Start time of process ``pid`` (clock ticks since boot, from /proc), or ``None`` if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def claim_partial(folder) -> None:
    """Record the current process as the writer of the partial folder ``folder``.

    :func:`stale_partials` leaves a partial folder alone while this process
    runs.  Called when the folder is reserved; a process that continues an
    interrupted run in an existing partial folder calls it again.
    """
    writer = {"pid": os.getpid(), "host": platform.node(), "start": _process_start(os.getpid())}
    tmp = Path(folder) / f"{WRITER_FILE}.tmp"
    tmp.write_text(json.dumps(writer) + "\n", encoding="utf-8")
    os.replace(tmp, Path(folder) / WRITER_FILE)


def _writer_pid(folder: Path) -> int | None:
    """The process id recorded in ``folder/.writer`` (``None`` if unreadable)."""
    try:
        return int(json.loads((Path(folder) / WRITER_FILE).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _writer_alive(folder: Path) -> bool | None:
    """Whether the process named in ``folder/.writer`` runs (``None``: no readable writer file)."""
    try:
        w = json.loads((folder / WRITER_FILE).read_text(encoding="utf-8"))
        pid, host, start = int(w["pid"]), w.get("host"), w.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != platform.node():
        return True                        # another machine's process: cannot tell, so leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                               # exists, another user's
    now = _process_start(pid)
    return start is None or now is None or now == start   # a reused PID is another process


def stale_partials(out_dir) -> list[Path]:
    """Hidden ``.<name>.partial`` folders in ``out_dir`` that no running process writes.

    A partial folder is stale when the writer recorded in it (:func:`claim_partial`)
    no longer runs, or, without a writer file, when it has not been touched
    for a minute.

    Parameters
    ----------
    out_dir : str or Path

    Returns
    -------
    list of Path
        Sorted; empty if ``out_dir`` does not exist.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    out = []
    for f in sorted(out_dir.glob(".*.partial")):
        if not f.is_dir() or f.is_symlink():
            continue
        alive = _writer_alive(f)
        if alive is None:
            try:
                alive = _dt.datetime.now().timestamp() - f.stat().st_mtime < _STALE_AFTER_S
            except OSError:
                continue
        if not alive:
            out.append(f)
    return out


def clean_stale_partials(out_dir, log=None) -> dict:
    """Remove the stale partial folders of ``out_dir``; keep (and report) resumable ones.

    A stale partial folder holding a checkpoint (``checkpoint/run.json``,
    see :class:`RunCheckpoint`) is the only copy of an interrupted run's
    completed phases: it is kept and reported so that it can be resumed.

    Parameters
    ----------
    out_dir : str or Path
    log : callable, optional
        Called with one line per folder removed or kept.

    Returns
    -------
    dict
        ``removed`` and ``resumable``: lists of Path.
    """
    say = log or (lambda line: None)
    removed, resumable = [], []
    for f in stale_partials(out_dir):
        if (f / "checkpoint" / "run.json").is_file():
            resumable.append(f)
            say(f"note: {f} is an interrupted run's partial folder; it was kept and can be resumed "
                f"(neuromem run MODEL --resume {f}); delete it if not needed")
            continue
        shutil.rmtree(f, ignore_errors=True)
        if f.exists():
            say(f"warning: could not remove the stale partial folder {f}")
            continue
        removed.append(f)
        say(f"removed {f}: the partial folder of a run that was killed before it finished")
    return {"removed": removed, "resumable": resumable}
