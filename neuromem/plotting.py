"""Figures of a run: rasters, recall scores, weight matrices, replay events.

Figures are built with :class:`matplotlib.figure.Figure` directly, never
through ``pyplot``, so nothing is shown, no global figure list grows and any
backend (including ``Agg`` on a headless machine) works.  Every ``plot_*``
function returns the figure it drew on; pass ``ax`` to draw into an existing
figure instead.  Scatter plots are rasterized and subsampled to at most
``max_points`` spikes so figures stay light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from neuromem.io import safe_name

__all__ = [
    "memory_colors", "plot_raster", "plot_recall", "plot_weights", "plot_replay", "save_figures",
]

GREY = (0.6, 0.6, 0.6, 1.0)
DPI = 100
MAX_POINTS = 200_000


def memory_colors(n: int) -> np.ndarray:
    """RGBA colour of each memory, shape (n, 4)."""
    if n <= 0:
        return np.zeros((0, 4))
    if n <= 20:
        cmap = colormaps["tab10" if n <= 10 else "tab20"]
        return np.array([to_rgba(c) for c in cmap.colors[:n]])
    return colormaps["hsv"](np.linspace(0, 1, n, endpoint=False))


def _first_member(masks: np.ndarray) -> np.ndarray:
    """For each neuron, the first memory whose mask contains it, else -1."""
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    return np.where(masks.any(0), masks.argmax(0), -1)


def _memory_order(masks: np.ndarray) -> np.ndarray:
    """Neuron order: members of memory 0, of memory 1, ..., then the rest."""
    first = _first_member(masks)
    key = np.where(first < 0, masks.shape[0], first)
    return np.argsort(key, kind="stable")


def _new_fig(nrows=1, ncols=1, figsize=(8, 4), layout=None, **kw):
    fig = Figure(figsize=figsize, dpi=DPI, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def plot_raster(phase, run, populations=None, ax=None, assemblies=None, t_max=None,
                max_points: int = MAX_POINTS, sort: bool = True, seed: int = 0):
    """Spike raster of a phase, one panel per population.

    Neurons of the pattern population (and of spike sources of its size, which
    map onto it one-to-one) are coloured by memory: a neuron of pattern ``k``
    in colour ``k`` (the first such pattern for neurons in several), others
    grey.  With ``assemblies`` given, the replay population is coloured the
    same way by assembly; other populations are grey.  Presented items are
    shaded in their memory's colour.

    Parameters
    ----------
    phase : neuromem.records.PhaseRecord
    run : neuromem.records.Run
    populations : list of str, optional
        Populations or sources to show; default all neuron populations
        recorded in the phase.
    ax : Axes or sequence of Axes, optional
        One axes per population; default a new figure.
    assemblies : ndarray of bool (n_memories, N_replay), optional
        Assemblies of ``run.model.protocol.replay_population``.
    t_max : float, optional
        Show only the first ``t_max`` seconds (stated in the title).
    max_points : int, optional
        At most this many spikes are drawn in all (a random subset, stated in
        the title).
    sort : bool, optional
        Order the neurons of coloured populations by memory.
    seed : int, optional
        Seed of the subsampling.

    Returns
    -------
    matplotlib.figure.Figure
    """
    model = run.model
    proto = model.protocol
    if populations is None:
        populations = [p for p in model.populations if p in phase.spikes]
    populations = list(populations)
    if ax is None:
        sizes = [max(phase.spikes[p].n, 1) for p in populations]
        ratios = np.sqrt(sizes) if sizes else [1]
        fig, axes = _new_fig(max(len(populations), 1), 1, figsize=(10, 1.2 + 0.9 * max(len(populations), 1)),
                             sharex=True, gridspec_kw={"height_ratios": ratios})
        axes = list(axes[:, 0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != len(populations):
            raise ValueError(f"{len(populations)} populations need {len(populations)} axes, got {len(axes)}")
        fig = axes[0].figure
    duration = float(phase.duration)
    t_end = duration if t_max is None else min(float(t_max), duration)
    n_mem = proto.n_memories
    colors = memory_colors(n_mem)
    n_pat = np.asarray(run.patterns).shape[1] if np.ndim(run.patterns) == 2 else -1
    rng = np.random.default_rng(seed)

    selected = []
    for pop in populations:
        sp = phase.spikes[pop]
        keep = np.asarray(sp.t) < t_end
        selected.append((np.asarray(sp.i)[keep], np.asarray(sp.t)[keep]))
    total = sum(len(t) for _, t in selected)
    keep_frac = 1.0 if total <= max_points else max_points / total

    shown = 0
    for a, pop, (i, t) in zip(axes, populations, selected):
        sp = phase.spikes[pop]
        masks = None
        if pop == proto.pattern_population or (pop in model.sources and sp.n == n_pat):
            masks = np.asarray(run.patterns, dtype=bool)
        elif assemblies is not None and pop == proto.replay_population:
            masks = np.asarray(assemblies, dtype=bool)
        if keep_frac < 1.0 and len(t):
            sel = rng.random(len(t)) < keep_frac
            i, t = i[sel], t[sel]
        shown += len(t)
        if masks is not None:
            first = _first_member(masks)
            rank = np.empty(sp.n, dtype=int)
            rank[_memory_order(masks) if sort else np.arange(sp.n)] = np.arange(sp.n)
            y = rank[i]
            c = np.where(first[i, None] >= 0, colors[np.maximum(first[i], 0)] if n_mem else GREY, GREY)
        else:
            y = i
            c = GREY
        for it in phase.items:
            if it.t_on < t_end and 0 <= it.memory < n_mem:
                a.axvspan(it.t_on, min(it.t_off, t_end), color=colors[it.memory], alpha=0.08, lw=0)
        if masks is None:
            a.scatter(t, y, s=1.5, color=GREY, marker="|", linewidths=0.6, rasterized=True)
        else:
            a.scatter(t, y, s=1.5, c=c if len(t) else None, marker="|", linewidths=0.6, rasterized=True)
        a.set_xlim(0, t_end)
        a.set_ylim(-0.5, sp.n - 0.5)
        label = pop + (" (silenced)" if pop in phase.silenced else "")
        a.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        a.tick_params(labelsize=7)
    if axes:
        axes[-1].set_xlabel("time (s)")
        title = f"{phase.name} ({phase.kind})"
        if t_end < duration:
            title += f", first {t_end:g} s of {duration:g} s"
        if keep_frac < 1.0:
            title += f", {shown} of {total} spikes shown"
        axes[0].set_title(title, fontsize=9)
    return fig


def plot_recall(metrics: dict, ax=None):
    """Grouped bars of recall overlap per memory for each recall phase.

    Parameters
    ----------
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics` (uses ``metrics["recall"]``).
    ax : Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    recall = metrics.get("recall", {})
    if ax is None:
        fig, axes = _new_fig(figsize=(max(5, 1.6 * len(recall) + 2), 3.5))
        ax = axes[0, 0]
    fig = ax.figure
    if not recall:
        ax.text(0.5, 0.5, "no recall phases", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    n_mem = 1 + max((m for r in recall.values() for m in r["memory"]), default=-1)
    colors = memory_colors(n_mem)
    width = 0.8 / (n_mem + 1)
    for g, (name, r) in enumerate(recall.items()):
        mem = np.asarray(r["memory"], dtype=int)
        ov = np.asarray(r["overlap"], dtype=float)
        for k in range(n_mem):
            if (mem == k).any():
                ax.bar(g - 0.4 + (k + 0.5) * width, ov[mem == k].mean(), width, color=colors[k],
                       label=f"memory {k}" if g == 0 else None)
        if r.get("mean_overlap") is not None:
            ax.bar(g - 0.4 + (n_mem + 0.5) * width, r["mean_overlap"], width, color="k",
                   label="mean" if g == 0 else None)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(recall)), list(recall), rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("recall overlap (uncued)")
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.05)
    ax.legend(fontsize=7, ncol=min(n_mem + 1, 6), loc="upper right")
    fig.tight_layout()
    return fig


def _weights_of(run, projection, phase_name):
    if phase_name == "initial":
        return run.initial_weights[projection]
    return run.phase(phase_name).weights[projection]


def plot_weights(run, projection: str, phases, vmax=None):
    """A projection's weight matrix (pre × post) for several phases.

    Neurons of the pattern population are sorted by memory (members of
    pattern 0, of pattern 1, ..., then the rest; white lines separate the
    groups); absent synapses show as 0.

    Parameters
    ----------
    run : neuromem.records.Run
    projection : str
    phases : list of str
        Phase names whose post-phase weights are shown side by side;
        ``"initial"`` means the weights before the first phase (so a phase
        named ``"initial"`` cannot be shown here).
    vmax : float, optional
        Colour scale maximum (default: the largest weight shown).

    Returns
    -------
    matplotlib.figure.Figure
    """
    model = run.model
    proj = model.projections[projection]
    nodes = model.nodes()
    n_pre, n_post = nodes[proj.source].size, nodes[proj.target].size
    pre_i, post_j = (np.asarray(a, dtype=np.int64) for a in run.synapses[projection])
    pp = model.protocol.pattern_population
    patterns = np.asarray(run.patterns, dtype=bool)
    order_pre = _memory_order(patterns) if proj.source == pp else np.arange(n_pre)
    order_post = _memory_order(patterns) if proj.target == pp else np.arange(n_post)
    rank_pre = np.empty(n_pre, dtype=np.int64)
    rank_pre[order_pre] = np.arange(n_pre)
    rank_post = np.empty(n_post, dtype=np.int64)
    rank_post[order_post] = np.arange(n_post)
    mats = []
    for name in phases:
        w = np.asarray(_weights_of(run, projection, name), dtype=float)
        m = np.zeros((n_pre, n_post))
        np.add.at(m, (rank_pre[pre_i], rank_post[post_j]), w)
        mats.append(m)
    top = vmax if vmax is not None else max([float(m.max()) for m in mats] + [1e-12])
    fig, axes = _new_fig(1, max(len(phases), 1), figsize=(3.6 * max(len(phases), 1) + 1.0, 3.8),
                         layout="constrained")
    im = None
    bounds = np.cumsum(np.bincount(np.where(_first_member(patterns) < 0, patterns.shape[0],
                                            _first_member(patterns)), minlength=patterns.shape[0] + 1))[:-1]
    for a, name, m in zip(axes[0], phases, mats):
        im = a.imshow(m, origin="upper", aspect="auto", interpolation="nearest", vmin=0, vmax=top,
                      cmap="viridis", rasterized=True)
        for b in bounds:
            if proj.target == pp:
                a.axvline(b - 0.5, color="w", lw=0.4)
            if proj.source == pp:
                a.axhline(b - 0.5, color="w", lw=0.4)
        a.set_title(f"{projection}: {name}", fontsize=9)
        a.set_xlabel(f"post ({proj.target})", fontsize=8)
        a.set_ylabel(f"pre ({proj.source})", fontsize=8)
        a.tick_params(labelsize=7)
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), label="weight (V)", shrink=0.9)
    return fig


def plot_replay(events, duration: float, n_memories: int, ax=None):
    """Replay events over time, one row and colour per memory.

    Parameters
    ----------
    events : list of dict
        From :func:`neuromem.analysis.detect_replay`.
    duration : float
    n_memories : int
    ax : Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, axes = _new_fig(figsize=(8, 1 + 0.35 * max(n_memories, 1)))
        ax = axes[0, 0]
    fig = ax.figure
    colors = memory_colors(n_memories)
    mem = np.array([e["memory"] for e in events], dtype=int)
    t = np.array([e["t"] for e in events], dtype=float)
    frac = np.array([e["fraction"] for e in events], dtype=float)
    if len(events):
        ax.scatter(t, mem, c=colors[mem], s=10 + 40 * frac, marker="o", linewidths=0, rasterized=True)
    counts = np.bincount(mem, minlength=n_memories) if len(events) else np.zeros(n_memories, int)
    ax.set_yticks(range(n_memories), [f"{k} ({counts[k]})" for k in range(n_memories)], fontsize=7)
    ax.set_ylim(-0.5, n_memories - 0.5)
    ax.set_xlim(0, duration)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("memory (events)", fontsize=8)
    ax.set_title(f"{len(events)} replay events in {duration:g} s", fontsize=9)
    fig.tight_layout()
    return fig


def save_figures(run, metrics: dict, folder, max_raster_s: float = 5.0) -> list:
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
    save(plot_recall(metrics), "recall.png")
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
            save(plot_replay(events[ph.name], ph.duration, proto.n_memories), f"replay_{safe_name(ph.name)}.png")
    return written
