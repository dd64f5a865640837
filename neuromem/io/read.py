"""Reading run folders back: arrays per phase, the model, and checks of what is there.

Every reader raises :class:`~neuromem.io.errors.RunFolderError` (one line,
``<path>: <problem>``) for a missing, truncated or malformed file instead of
the underlying ``OSError``, ``BadZipFile``, ``KeyError``, ... .
"""

from __future__ import annotations

import json
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuromem.records import Item, PhaseRecord, Spikes
from neuromem.spec.names import safe_name
from neuromem.io.errors import RunFolderError, UnknownPhaseError
from neuromem.io.layout import weights_file

__all__ = ["load_model_text", "load_initial", "load_spikes", "load_weights", "load_synapses", "load_patterns", "load_state", "load_phase", "RunFolder", "read_results", "read_run", "check_run_folder"]


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
    f = folder / "initial.npz" if phase is None else folder / f"{weights_file(phase)}.npz"
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
    res = read_results(path)
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


def read_results(path: Path) -> dict:
    """``results.json`` of the run folder ``path``, checked (:class:`RunFolderError` naming what is wrong)."""
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
    return RunFolder(path, read_results(path))


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
        check_weights(path / "weights" / f"{weights_file(name)}.npz", load_weights(path, name))
        load_state(path, name)
        init = path / "initial" / f"{safe_name(name)}.npz"
        if init.parent.exists() and not init.parent.is_dir():
            raise RunFolderError(init.parent, "is a file where a folder is expected")
        if init.exists():
            _npz_files(init)
    return rf
