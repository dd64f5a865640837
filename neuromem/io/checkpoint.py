"""Runs written phase by phase (:class:`RunCheckpoint`), so that an interrupted run can be resumed.

A run written this way keeps a ``checkpoint/`` subfolder in its partial
folder until it completes; ``neuromem run --resume`` continues from it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import zipfile
import zlib
from pathlib import Path

import numpy as np

from neuromem.records import Item, PhaseRecord
from neuromem.spec.names import safe_name
from neuromem.io.atomic import write_json_atomic
from neuromem.io.errors import ResumeError
from neuromem.io.layout import CHECKPOINT_DIR, WRITER_FILE
from neuromem.io.outdir import claim_partial, reserve_folder, writer_alive, writer_pid
from neuromem.io.read import load_spikes, load_state, load_weights
from neuromem.io.write import write_phase_arrays, write_run_arrays

__all__ = ["RunCheckpoint"]


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
        _, partial = reserve_folder(out_dir, base)
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
        if writer_alive(folder) and writer_pid(folder) != os.getpid():
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
        write_run_arrays(self.folder, run, self.identity["model_text"])

    def on_phase_end(self, record, state_path) -> None:
        """Write a finished phase's arrays, then its record (which marks it complete).

        Parameters
        ----------
        record : neuromem.records.PhaseRecord
        state_path : Path or None
            The network state file written for the phase (recorded by name).
        """
        write_phase_arrays(self.folder, record)
        meta = {"index": len(self.completed), "name": record.name, "kind": record.kind,
                "duration": float(record.duration), "cue_fraction": float(record.cue_fraction),
                "silenced": list(record.silenced),
                "items": [[int(it.memory), float(it.t_on), float(it.t_off)] for it in record.items],
                "wall_time": float(record.wall_time),
                "network_state": None if state_path is None else Path(state_path).name}
        write_json_atomic(self.folder / CHECKPOINT_DIR / "phases" / f"{safe_name(record.name)}.json", meta)
        self.completed.append(record)
