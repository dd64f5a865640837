"""One experiment end to end: load a model, simulate it, score it, write a run folder.

:func:`run_experiment` is what ``neuromem run`` calls; notebooks and scripts
can call it directly.  :func:`summary_lines` turns the metrics into a short
human-readable report.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from neuromem.spec import Model
from neuromem.spec.loader import dumps_model, load_model, loads_model

__all__ = ["run_experiment", "summary_lines", "resolve_model", "resume_command"]


def resolve_model(model_path_or_model, overrides=()) -> tuple[Model, str | None]:
    """The model to run, with overrides applied.

    Parameters
    ----------
    model_path_or_model : str, os.PathLike or neuromem.spec.Model
        A TOML model file, or a model already built.
    overrides : iterable of str, optional
        ``"key.path=value"`` strings (see :func:`neuromem.spec.loader.apply_overrides`).
        For a :class:`~neuromem.spec.Model` they are applied to its resolved
        TOML (:func:`~neuromem.spec.loader.dumps_model`).

    Returns
    -------
    model : neuromem.spec.Model
    model_file : str or None
        The file it was read from (``None`` for a model object).

    Raises
    ------
    neuromem.spec.ModelError
        If the file cannot be read, the model is invalid or an override is
        refused.
    """
    overrides = list(overrides)
    if isinstance(model_path_or_model, Model):
        if not overrides:
            return model_path_or_model, None
        text = dumps_model(model_path_or_model)
        return loads_model(text, file=f"<model {model_path_or_model.name}>", overrides=overrides), None
    path = os.fspath(model_path_or_model)
    return load_model(path, overrides=overrides), path


def _backend_options(backend_options, progress: bool):
    from neuromem.backends.brian2 import Brian2Options

    if backend_options is None:
        return Brian2Options(progress=progress)
    if isinstance(backend_options, Brian2Options):
        return backend_options
    if isinstance(backend_options, dict):
        return Brian2Options(**{"progress": progress, **backend_options})
    raise TypeError(f"backend_options must be a Brian2Options or a dict, got {type(backend_options).__name__}")


def run_experiment(model_path_or_model, seed: int = 0, overrides=(), out_dir="runs", backend_options=None,
                   figures: bool = True, progress: bool = True, log=print, resume=None):
    """Load, simulate (Brian2), analyse and save one run.

    Parameters
    ----------
    model_path_or_model : str, os.PathLike or neuromem.spec.Model
        The model file (or model object) to run.
    seed : int, optional
        Seeds patterns, cues, connectivity, initial weights and input spikes.
    overrides : iterable of str, optional
        ``"key.path=value"`` strings applied to the model before validation.
    out_dir : str or Path, optional
        Parent folder of the run folder (created if missing).
    backend_options : neuromem.backends.brian2.Brian2Options or dict, optional
        Options of the Brian2 backend; a dict gives the fields of
        ``Brian2Options`` (``target``, ``cache_dir``, ``progress``, ``device``).
    figures : bool, optional
        Draw the standard figures into the run folder.
    progress : bool, optional
        Progress bars while phases run (ignored when ``backend_options`` is a
        ``Brian2Options``, which carries its own setting).
    log : callable or None, optional
        Called with one line of text per step (loading, each phase, writing);
        ``None`` for silence.
    resume : str or Path, optional
        The partial folder (``.<name>.partial``) of an interrupted run of the
        same model, seed and overrides: its completed phases are read back,
        the simulation continues from the network state stored at the end of
        the origin of the next phase, and the run is finished in that folder
        (renamed next to it; ``out_dir`` is not used).  The result is
        identical to an uninterrupted run.

    Returns
    -------
    run : neuromem.records.Run
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics`.
    folder : Path
        The run folder written by :func:`neuromem.io.write_run`.  Besides the
        usual content its ``results.json`` has ``backend`` (``name``,
        ``target``, ``brian2`` version; on the ``cpp_standalone`` device also
        ``device`` and the build: folder, whether it compiled, seconds) and ``run_wall_time_s`` (seconds spent
        loading, simulating including build and compilation, analysing, and in
        total; the per-phase simulation times are under ``wall_time_s``).  A
        resumed run also has ``resumed_after``: the phases read back from the
        checkpoint (its ``run_wall_time_s`` covers the resumed process only).

    Raises
    ------
    neuromem.spec.ModelError
        If the model is invalid; nothing is written then.
    neuromem.io.ResumeError
        If ``resume`` is not a resumable folder, belongs to another run
        (model text, seed or overrides differ) or lacks the network state its
        next phase starts from, or was run on the ``cpp_standalone`` device
        (which runs the protocol in one program; rerun it instead).

    Notes
    -----
    Every phase is written into the hidden partial run folder as it ends
    (:class:`neuromem.io.RunCheckpoint`).  If the run fails or is
    interrupted after a phase has completed, the partial folder is kept and
    ``resume`` continues it; if no phase has completed it is removed.
    """
    say = log if log is not None else (lambda line: None)
    t_start = time.perf_counter()
    model, model_file = resolve_model(model_path_or_model, overrides)
    t_loaded = time.perf_counter()
    say(f"model {model.name!r}" + (f" from {model_file}" if model_file else "")
        + f", seed {seed}" + (f", overrides: {' '.join(overrides)}" if overrides else ""))

    import neuromem.backends.brian2 as brian2_backend
    from neuromem.analysis import compute_metrics
    from neuromem.io import ResumeError, RunCheckpoint, write_run

    options = _backend_options(backend_options, progress)
    device = brian2_backend.resolve_device(options.device)
    model_text = dumps_model(model)
    resumed_after = None
    resumable = device == "runtime"
    if resume is not None and not resumable:
        raise ResumeError(f"{resume}: a run on the {device} device runs its protocol in one program and keeps "
                          f"no state between phases, so it cannot be resumed; run it again (its build is cached)")
    if resume is not None:
        checkpoint = RunCheckpoint.open(resume)
        resumed_after = [r.name for r in checkpoint.completed]
        checkpoint.check_identity(model_text, seed, overrides)
        checkpoint.check_continuation(model.protocol)
        say(f"resuming {checkpoint.folder} after {len(checkpoint.completed)} completed phase(s)"
            + (f": {', '.join(r.name for r in checkpoint.completed)}" if checkpoint.completed else ""))
    else:
        checkpoint = RunCheckpoint.create(out_dir, model.name, model_text, seed, overrides, model_file)
    try:
        run = brian2_backend.simulate(model, seed, options, log=log, checkpoint=checkpoint)
    except BaseException:
        _keep_or_remove(checkpoint, model_file, seed, overrides, resumable)
        raise
    t_simulated = time.perf_counter()
    run.model_file = model_file
    run.model_text = model_text
    run.overrides = list(overrides)
    try:
        metrics = compute_metrics(run)
    except BaseException:
        _keep_or_remove(checkpoint, model_file, seed, overrides, resumable)
        raise
    t_analysed = time.perf_counter()
    extra = {
        "backend": brian2_backend.last_backend_description(options),
        "run_wall_time_s": {
            "load": t_loaded - t_start,
            "simulate": t_simulated - t_loaded,
            "metrics": t_analysed - t_simulated,
            "total": t_analysed - t_start,
        },
    }
    if resumed_after is not None:
        extra["resumed_after"] = resumed_after
    try:
        folder = write_run(run, metrics, out_dir, figures=figures, extra=extra, checkpoint=checkpoint)
    except BaseException:
        _keep_or_remove(checkpoint, model_file, seed, overrides, resumable)
        raise
    say(f"written {folder}")
    return run, metrics, Path(folder)


def resume_command(folder, model_file, seed: int, overrides=()) -> str:
    """The ``neuromem run ... --resume`` command line that continues an interrupted run."""
    import shlex

    words = ["neuromem", "run", str(model_file) if model_file else "MODEL", "--resume", str(folder),
             "--seed", str(int(seed))]
    for o in overrides:
        words += ["--set", o]
    return shlex.join(words)


def _keep_or_remove(checkpoint, model_file, seed, overrides, resumable=True) -> None:
    """After a failure: keep a checkpoint with completed phases (and say how to resume), else remove it."""
    import shutil
    import sys

    if not checkpoint.folder.exists():
        return
    if checkpoint.completed and resumable:
        print(f"the run stopped after {len(checkpoint.completed)} completed phase(s); continue it with:\n  "
              + resume_command(checkpoint.folder, model_file, seed, overrides), file=sys.stderr)
    else:
        shutil.rmtree(checkpoint.folder, ignore_errors=True)


def _fmt(x, spec=".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def summary_lines(metrics: dict) -> list[str]:
    """A short readable report of a run's metrics.

    Parameters
    ----------
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics` (or ``results.json``'s
        ``"metrics"``).

    Returns
    -------
    list of str
        One line per recall phase (mean overlap, hit and false-alarm rates,
        correct-winner fraction, cue fraction, number of items), the mean
        rate of each excitatory population per phase, and the replay events
        of each sleep phase.
    """
    lines = []
    recall = metrics.get("recall") or {}
    if recall:
        lines.append("recall (uncued pattern neurons):")
        width = max(len(n) for n in recall)
        for name, m in recall.items():
            n_items = len(m.get("memory", []))
            lines.append(
                f"  {name:<{width}}  overlap {_fmt(m.get('mean_overlap'))}"
                f"  hit {_fmt(m.get('mean_hit_rate'))}"
                f"  false alarm {_fmt(m.get('mean_false_alarm_rate'))}"
                f"  correct winner {_fmt(m.get('correct_winner_fraction'))}"
                f"  (cue {_fmt(m.get('cue_fraction'), '.0%')}, {n_items} item{'s' if n_items != 1 else ''})")
    else:
        lines.append("recall: no phase of kind 'recall'")
    rates = metrics.get("rate_exc_hz") or {}
    if rates:
        lines.append("excitatory rates (Hz):")
        width = max(len(p) for p in rates)
        for pop, per_phase in rates.items():
            cells = ", ".join(f"{ph} {_fmt(r)}" for ph, r in per_phase.items())
            lines.append(f"  {pop:<{width}}  {cells}")
    replay = metrics.get("replay") or {}
    if replay:
        lines.append("replay:")
        width = max(len(n) for n in replay)
        for name, s in replay.items():
            lines.append(
                f"  {name:<{width}}  {s.get('total', 0)} events ({_fmt(s.get('rate'))}/s)"
                f", per memory {s.get('counts', [])}")
    return lines
