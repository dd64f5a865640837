"""Writing a :class:`~neuromem.records.Run` as a run folder (in one go, or finishing a checkpointed one).

The folder is assembled as ``.<name>.partial`` next to its final place and
renamed only when complete; if writing fails the partial folder is removed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from neuromem.spec.names import safe_name
from neuromem.io.atomic import jsonable, savez_fast
from neuromem.io.layout import CHECKPOINT_DIR, WRITER_FILE, weights_file
from neuromem.io.outdir import final_name, reserve_folder
from neuromem.io.provenance import git_info, versions
from neuromem.io.verify import file_checksums

__all__ = ["write_run", "write_run_arrays", "write_phase_arrays"]


def _sha256(run) -> tuple[str, str]:
    text = (run.model_text or "").encode("utf-8")
    text_sha = hashlib.sha256(text).hexdigest()
    if run.model_file and Path(run.model_file).is_file():
        return hashlib.sha256(Path(run.model_file).read_bytes()).hexdigest(), text_sha
    return text_sha, text_sha


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
    return jsonable(res)


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
        final = out_dir / final_name(partial)
    else:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        base = f"{safe_name(getattr(run.model, 'name', 'run'))}-{now:%Y%m%d-%H%M%S}-seed{int(run.seed)}"
        final, partial = reserve_folder(out_dir, base)
    final_base = final.name
    try:
        results = _results(run, metrics, extra, now)
        if checkpoint is None:
            write_run_arrays(partial, run, run.model_text)
            for ph in run.phases:
                write_phase_arrays(partial, ph)
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


def write_run_arrays(folder: Path, run, model_text: str) -> None:
    """The files of a run that no phase changes: model, patterns, initial weights, synapses."""
    (folder / "model.toml").write_text(model_text or "", encoding="utf-8")
    cues = {f"cue_{float(f):g}": np.asarray(m, dtype=bool) for f, m in run.cues.items()}
    savez_fast(folder / "patterns.npz", patterns=np.asarray(run.patterns, dtype=bool),
                        cue_fractions=np.array([float(f) for f in run.cues], dtype=float), **cues)
    (folder / "weights").mkdir(exist_ok=True)
    savez_fast(folder / "weights" / "initial.npz",
                        **{k: np.asarray(w) for k, w in run.initial_weights.items()})
    syn = {}
    for proj, (i, j) in run.synapses.items():
        syn[f"{proj}_i"], syn[f"{proj}_j"] = np.asarray(i, dtype=np.int32), np.asarray(j, dtype=np.int32)
    savez_fast(folder / "weights" / "synapses.npz", **syn)


def write_phase_arrays(folder: Path, ph) -> None:
    """One phase's spikes, weights, initial state and recorded state (see the module layout)."""
    for sub in ("spikes", "weights"):
        (folder / sub).mkdir(exist_ok=True)
    arrays = {}
    for pop, sp in ph.spikes.items():
        arrays[f"{pop}_i"] = np.asarray(sp.i, dtype=np.int32)
        arrays[f"{pop}_t"] = np.asarray(sp.t, dtype=np.float64)
        arrays[f"{pop}_n"] = np.array(int(sp.n))
    savez_fast(folder / "spikes" / f"{safe_name(ph.name)}.npz", **arrays)
    if ph.initial_state:
        (folder / "initial").mkdir(exist_ok=True)
        savez_fast(folder / "initial" / f"{safe_name(ph.name)}.npz", **ph.initial_state)
    if ph.state:
        (folder / "state").mkdir(exist_ok=True)
        st = {}
        for pop, (t, v) in ph.state.items():
            st[f"{pop}_t"], st[f"{pop}_v"] = np.asarray(t), np.asarray(v)
        savez_fast(folder / "state" / f"{safe_name(ph.name)}.npz", **st)
    savez_fast(folder / "weights" / f"{weights_file(ph.name)}.npz",
                        **{k: np.asarray(w) for k, w in ph.weights.items()})
