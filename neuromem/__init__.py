"""neuromem: a brain-inspired spiking memory simulator.

Encode patterns into a cortex–hippocampus spiking network, consolidate them
by hippocampal replay during simulated sleep, recall them from partial cues;
run on Brian2, export to Lava / NIR.

The shortest use::

    import neuromem
    result = neuromem.run("models/cls.toml", seed=0, out="runs")
    print(result.metrics["recall_lesioned_after_sleep"], result.folder)

Public names (imported on first use, so ``import neuromem`` loads neither
Brian2 nor matplotlib):

``run``
    Simulate a model file (or :class:`~neuromem.spec.Model`) and write a run
    folder; returns a :class:`RunResult`.
``load_model``, ``loads_model``, ``dumps_model``
    Read and write model files (:mod:`neuromem.spec.loader`).
``Model``, ``ModelError``
    The validated model and the error every malformed model raises.
``compute_metrics``
    Recall, rate and replay metrics of a run (:mod:`neuromem.analysis`).
``read_run``, ``write_run``
    Run folders (:mod:`neuromem.io`).
``run_experiment``
    :func:`run` with the full set of options (:mod:`neuromem.experiment`).
``save_figures``
    The standard figures of a run (:mod:`neuromem.plotting`).
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

__version__ = "0.1.0"

_LAZY = {
    "load_model": "neuromem.spec.loader",
    "loads_model": "neuromem.spec.loader",
    "dumps_model": "neuromem.spec.loader",
    "Model": "neuromem.spec",
    "ModelError": "neuromem.spec",
    "compute_metrics": "neuromem.analysis",
    "read_run": "neuromem.io",
    "write_run": "neuromem.io",
    "run_experiment": "neuromem.experiment",
    "save_figures": "neuromem.plotting",
}

__all__ = ["__version__", "run", "RunResult", *_LAZY]


class RunResult(NamedTuple):
    """What :func:`run` returns.

    Attributes
    ----------
    run : neuromem.records.Run
        Everything recorded in memory (spikes, weights, patterns per phase).
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics`: the mean recall overlap
        of each recall phase under its name, and ``recall``, ``rate_exc_hz``,
        ``replay``.
    folder : pathlib.Path
        The run folder written (``results.json``, spikes, weights, figures).
    """

    run: object
    metrics: dict
    folder: object


def run(model, seed: int = 0, out="runs", overrides=(), *, figures: bool = True, progress: bool = True,
        log=print, **options) -> RunResult:
    """Simulate a model on Brian2, score it and write a run folder.

    Parameters
    ----------
    model : str, os.PathLike or neuromem.spec.Model
        A model file (TOML, see ``models/README.md``) or a model object.
    seed : int, optional
        Seeds patterns, cues, connectivity, initial weights and input spikes;
        the same seed gives the same spikes.
    out : str or Path, optional
        Parent folder of the run folder (created if missing).
    overrides : iterable of str, optional
        ``"key.path=value"`` strings, as ``--set`` on the command line.
    figures : bool, optional
        Draw the standard figures into ``<folder>/figures``.
    progress : bool, optional
        Progress bars while phases run.
    log : callable or None, optional
        Called with one line per step; ``None`` for silence.
    **options
        Passed on to :func:`neuromem.experiment.run_experiment` (e.g.
        ``backend_options``).

    Returns
    -------
    RunResult
        ``(run, metrics, folder)``.

    Raises
    ------
    neuromem.spec.ModelError
        If the model is invalid (nothing is simulated or written then).

    Examples
    --------
    >>> import neuromem                                              # doctest: +SKIP
    >>> r = neuromem.run("models/cls.toml", seed=0, overrides=["protocol.n_memories=5"])
    >>> r.metrics["recall_intact_after_encoding"], r.folder
    """
    from neuromem.experiment import run_experiment

    rec, metrics, folder = run_experiment(model, seed=seed, overrides=list(overrides), out_dir=out,
                                          figures=figures, progress=progress, log=log, **options)
    return RunResult(rec, metrics, folder)


def __getattr__(name):
    """Import a public name's module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neuromem' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    """Module attributes including the lazily imported public names."""
    return sorted(set(globals()) | set(_LAZY))
