"""The standard figures of a run, written into its folder (:func:`save_figures`)."""

from __future__ import annotations

from pathlib import Path

from neuromem.plotting.rasters import plot_raster
from neuromem.plotting.results import plot_recall, plot_replay, targets_for
from neuromem.plotting.style import DPI
from neuromem.plotting.weights import plot_weights
from neuromem.spec.names import safe_name

__all__ = ["save_figures"]


def save_figures(run, metrics: dict, folder, max_raster_s: float = 5.0, targets=None) -> list:
    """Write the standard figures of a run into ``folder``.

    Files: ``raster_<phase>.png`` for every phase (the first ``max_raster_s``
    seconds of longer phases), ``recall.png``, ``weights_<projection>.png`` for
    each plastic projection from the pattern population onto itself (initial
    weights vs after each ``encode``/``sleep`` phase) and
    ``replay_<phase>.png`` for each ``sleep`` phase with a replay population.

    Parameters
    ----------
    run : neuromem.records.Run
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics`.
    folder : str or Path
        Created if missing.
    max_raster_s : float, optional
    targets : dict, optional
        Recall targets for ``recall.png`` (see :func:`plot_recall`); default
        those declared next to the model file (:func:`targets_for`), none if
        there are none.

    Returns
    -------
    list of Path
        The files written.
    """
    from neuromem.analysis.summary import replay_analysis

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        path = folder / name
        fig.savefig(path, dpi=DPI)
        fig.clear()
        written.append(path)

    model = run.model
    proto = model.protocol
    assemblies, _, events = replay_analysis(run)
    for ph in run.phases:
        save(plot_raster(ph, run, assemblies=assemblies, t_max=max_raster_s), f"raster_{safe_name(ph.name)}.png")
    if targets is None:
        targets = targets_for(run)
    save(plot_recall(metrics, targets=targets, seed=run.seed, model_name=model.name,
                     n_memories=proto.n_memories), "recall.png")
    pp = proto.pattern_population
    for name in run.initial_weights:
        proj = model.projections.get(name)
        if proj is None or proj.source != pp or proj.target != pp:
            continue
        shown = ["initial"] + [ph.name for ph in run.phases
                               if ph.kind in ("encode", "sleep") and name in ph.weights]
        save(plot_weights(run, name, shown), f"weights_{safe_name(name)}.png")
    for ph in run.phases:
        if ph.kind == "sleep" and ph.name in events:
            save(plot_replay(events[ph.name], ph.duration, proto.n_memories, seed=run.seed, model_name=model.name,
                             phase_name=ph.name), f"replay_{safe_name(ph.name)}.png")
    return written
