"""Figures of a run: rasters, recall scores, weight matrices, replay events.

Figures are built with :class:`matplotlib.figure.Figure` directly, never
through ``pyplot``, so nothing is shown, no global figure list grows and any
backend (including ``Agg`` on a headless machine) works.  Every ``plot_*``
function returns the figure it drew on; pass ``ax`` to draw into an existing
figure instead.  Scatter plots are rasterized and subsampled to at most
``max_points`` spikes so figures stay light.

Conventions, so that a figure can be read on its own: titles name the model,
the seed and ``n`` (the number of memories); values are shown in the units
people read (weights in mV, rates in Hz, time in s); every condition is drawn
even when it scores exactly 0 (an outlined marker on the zero line and a
value label), and legends sit outside the data.

Targets (acceptance thresholds of a model's recall conditions) are never
built in: pass them as ``targets`` (``{phase: {"min": x}}`` and/or
``{"max": y}``), or declare them for a model file ``M.toml`` in a sidecar
``M.targets.toml`` next to it (see :func:`read_targets`), which
:func:`save_figures` picks up.  Without targets no target line is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from neuromem.io import safe_name

__all__ = [
    "memory_colors", "plot_raster", "plot_recall", "plot_weights", "plot_replay", "save_figures",
    "read_targets", "targets_for", "run_label",
]

GREY = (0.6, 0.6, 0.6, 1.0)
DPI = 100
MAX_POINTS = 200_000
MV = 1e3          # volts -> millivolts
TARGET_COLOR = "#c0392b"


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


def _legend_outside(ax, handles=None, ncol: int = 1, title=None):
    """A legend to the right of ``ax``, outside its data area."""
    kw = {} if handles is None else {"handles": handles}
    return ax.legend(**kw, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7,
                     ncol=ncol, title=title, title_fontsize=7, frameon=False)


def run_label(model_name=None, seed=None, n=None) -> str:
    """``"<model>, seed <seed>, n = <n> memories"``, leaving out what is ``None``.

    Parameters
    ----------
    model_name : str, optional
    seed : int, optional
    n : int, optional
        Number of memories (stored items).

    Returns
    -------
    str
    """
    parts = []
    if model_name:
        parts.append(str(model_name))
    if seed is not None:
        parts.append(f"seed {int(seed)}")
    if n is not None:
        parts.append(f"n = {int(n)} memories")
    return ", ".join(parts)


def _check_targets(targets) -> dict:
    """``targets`` as ``{name: {"min": float, "max": float}}`` (either bound optional)."""
    out = {}
    for name, t in dict(targets or {}).items():
        if not isinstance(t, dict) or not t or set(t) - {"min", "max"}:
            raise ValueError(f"target {name!r} must be a table with 'min' and/or 'max', got {t!r}")
        out[str(name)] = {k: float(v) for k, v in t.items()}
    return out


def read_targets(path) -> dict:
    """Read a targets file: one TOML table per recall phase with ``min`` and/or ``max``.

    Example (``models/cls.targets.toml``)::

        [recall_intact_after_encoding]
        min = 0.9
        [recall_lesioned_before_sleep]
        max = 0.4

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``{phase: {"min": x}}``, ``{phase: {"max": y}}`` or both bounds.

    Raises
    ------
    ValueError
        If a table has other keys than ``min``/``max`` or none.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        return _check_targets(tomllib.load(f))


def targets_for(run) -> dict:
    """The targets declared next to ``run.model_file`` (``<stem>.targets.toml``), else ``{}``.

    Parameters
    ----------
    run : neuromem.records.Run

    Returns
    -------
    dict
        As :func:`read_targets`; empty when the run has no model file or the
        file declares no targets.
    """
    if not run.model_file:
        return {}
    f = Path(run.model_file)
    side = f.with_name(f.stem + ".targets.toml")
    return read_targets(side) if side.is_file() else {}


def plot_raster(phase, run, populations=None, ax=None, assemblies=None, t_max=None,
                max_points: int = MAX_POINTS, sort: bool = True, seed: int = 0, colour_key=None):
    """Spike raster of a phase, one panel per population.

    Neurons of the pattern population (and of spike sources of its size, which
    map onto it one-to-one) are coloured by memory: a neuron of pattern ``k``
    in colour ``k`` (the first such pattern for neurons in several), others
    grey; a colour key (outside the panels) names the memories.  With
    ``assemblies`` given, the replay population is coloured the same way by
    assembly; other populations are grey.  Presented items are shaded in
    their memory's colour.  Each panel's neuron axis is labelled with the
    population, how its neurons are ordered and its mean rate in Hz over the
    shown window.  Populations silenced in the phase get a thin panel that
    says so instead of an empty raster.

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
    colour_key : bool, optional
        Draw the colour key (memories, "in no memory", shaded items).  Default:
        on a new figure, as a figure legend at its right; not when ``ax`` is
        given (several rasters side by side would overlap it), unless ``True``
        (then to the right of the first given axes).

    Returns
    -------
    matplotlib.figure.Figure
    """
    model = run.model
    proto = model.protocol
    if populations is None:
        populations = [p for p in model.populations if p in phase.spikes]
    populations = list(populations)
    silenced = set(phase.silenced)
    duration = float(phase.duration)
    t_end = duration if t_max is None else min(float(t_max), duration)

    def compact(pop):
        # a silenced population that did not spike in the window: a thin "silenced" strip
        sp = phase.spikes[pop]
        return pop in silenced and not (np.asarray(sp.t) < t_end).any()

    own_figure = ax is None
    if own_figure:
        n_rows = max(len(populations), 1)
        full = [np.sqrt(max(phase.spikes[p].n, 1)) for p in populations]
        ratios = [0.15 * max(full) if compact(p) else r for p, r in zip(populations, full)] or [1]
        big = sum(1 for p in populations if not compact(p))
        fig, axes = _new_fig(n_rows, 1, figsize=(11, 1.5 + 1.1 * max(big, 1) + 0.25 * (n_rows - big)),
                             layout="constrained", sharex=True, gridspec_kw={"height_ratios": ratios})
        axes = list(axes[:, 0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != len(populations):
            raise ValueError(f"{len(populations)} populations need {len(populations)} axes, got {len(axes)}")
        fig = axes[0].figure
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
    coloured = False
    for a, pop, (i, t) in zip(axes, populations, selected):
        sp = phase.spikes[pop]
        rate = len(t) / (max(sp.n, 1) * t_end) if t_end > 0 else 0.0
        for it in phase.items:
            if it.t_on < t_end and 0 <= it.memory < n_mem:
                a.axvspan(it.t_on, min(it.t_off, t_end), color=colors[it.memory], alpha=0.08, lw=0)
        a.set_xlim(0, t_end)
        a.tick_params(labelsize=7)
        if compact(pop):
            a.set_yticks([])
            a.set_ylim(0, 1)
            a.text(0.005, 0.5, f"{pop}: {sp.n} neurons silenced, no spikes", transform=a.transAxes,
                   ha="left", va="center", fontsize=7, color="0.3")
            a.set_ylabel(f"{pop}\n(silenced)", rotation=0, ha="right", va="center", fontsize=7)
            continue
        masks = None
        kind = ""
        if pop == proto.pattern_population or (pop in model.sources and sp.n == n_pat):
            masks, kind = np.asarray(run.patterns, dtype=bool), "memory"
        elif assemblies is not None and pop == proto.replay_population:
            masks, kind = np.asarray(assemblies, dtype=bool), "assembly"
        if keep_frac < 1.0 and len(t):
            sel = rng.random(len(t)) < keep_frac
            i, t = i[sel], t[sel]
        shown += len(t)
        if masks is not None:
            coloured = True
            first = _first_member(masks)
            rank = np.empty(sp.n, dtype=int)
            rank[_memory_order(masks) if sort else np.arange(sp.n)] = np.arange(sp.n)
            y = rank[i]
            c = np.where(first[i, None] >= 0, colors[np.maximum(first[i], 0)] if n_mem else GREY, GREY)
            a.scatter(t, y, s=1.5, c=c if len(t) else None, marker="|", linewidths=0.6, rasterized=True)
            order = f"sorted by {kind}" if sort else "index"
        else:
            a.scatter(t, i, s=1.5, color=GREY, marker="|", linewidths=0.6, rasterized=True)
            order = "index"
        a.set_ylim(-0.5, sp.n - 0.5)
        state = " (silenced)" if pop in silenced else ""
        a.set_ylabel(f"{pop}{state}\nneuron ({order})\n{rate:.1f} Hz", rotation=0, ha="right",
                     va="center", fontsize=7)
    if axes:
        axes[-1].set_xlabel("time (s)")
        title = f"{phase.name} ({phase.kind}): " + run_label(model.name, run.seed, n_mem)
        if t_end < duration:
            title += f"; first {t_end:g} s of {duration:g} s"
        if keep_frac < 1.0:
            title += f"; {shown} of {total} spikes shown"
        axes[0].set_title(title, fontsize=9)
        if colour_key is None:
            colour_key = own_figure
        if colour_key and coloured and n_mem:
            handles = [Patch(color=colors[k], label=f"memory {k}") for k in range(n_mem)]
            handles.append(Patch(color=GREY, label="in no memory"))
            if phase.items:
                handles.append(Patch(color=colors[0], alpha=0.15, label="item / cue shown"))
            ncol = 1 if n_mem <= 16 else 2
            if own_figure:       # constrained layout keeps a figure legend clear of every panel
                fig.legend(handles=handles, loc="outside right upper", fontsize=7, ncol=ncol, title="colour key",
                           title_fontsize=7, frameon=False)
            else:
                _legend_outside(axes[0], handles, ncol=ncol, title="colour key")
    return fig


def plot_recall(metrics: dict, ax=None, targets=None, seed=None, model_name=None, n_memories=None):
    """Grouped bars of recall overlap per memory for each recall phase.

    Every condition is drawn, including those that score exactly 0: each
    memory's value is a bar plus a dot (a zero is a dot on the zero line),
    the mean is a black bar with its value printed above it, and a condition
    without data says "no data".  Targets, where given, are dashed red lines
    over their condition, stated under its name (``target ≥ x`` or
    ``target ≤ y``).  The legend sits to the right of the axes.

    Parameters
    ----------
    metrics : dict
        From :func:`neuromem.analysis.compute_metrics` (uses ``metrics["recall"]``).
    ax : Axes, optional
    targets : dict, optional
        ``{phase: {"min": x, "max": y}}`` (either bound optional), e.g. from
        :func:`read_targets`; conditions not named get no line, and no line is
        drawn at all when ``None``.
    seed : int, optional
        Stated in the title.
    model_name : str, optional
        Stated in the title.
    n_memories : int, optional
        Stated in the title as ``n``; default the number of memories found in
        ``metrics``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    recall = metrics.get("recall", {})
    targets = _check_targets(targets)
    if ax is None:
        fig, axes = _new_fig(figsize=(max(6.0, 1.5 * len(recall) + 3.2), 4.0), layout="constrained")
        ax = axes[0, 0]
    fig = ax.figure
    n_mem = 1 + max((m for r in recall.values() for m in r["memory"]), default=-1)
    n_title = n_memories if n_memories is not None else (n_mem or None)
    ax.set_title("recall overlap per memory and condition\n" + run_label(model_name, seed, n_title), fontsize=9)
    if not recall:
        ax.text(0.5, 0.5, "no recall phases", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colors = memory_colors(n_mem)
    width = 0.8 / (n_mem + 1)
    lo = 0.0
    for g, (name, r) in enumerate(recall.items()):
        mem = np.asarray(r["memory"], dtype=int)
        ov = np.asarray(r["overlap"], dtype=float)
        xs, vs, cs = [], [], []
        for k in range(n_mem):
            if (mem == k).any():
                v = float(np.nanmean(ov[mem == k])) if np.isfinite(ov[mem == k]).any() else np.nan
                x = g - 0.4 + (k + 0.5) * width
                if np.isfinite(v):
                    ax.bar(x, v, width, color=colors[k], edgecolor="0.25", linewidth=0.4,
                           label=f"memory {k}" if g == 0 else None)
                    xs.append(x), vs.append(v), cs.append(colors[k])
        if xs:
            ax.scatter(xs, vs, c=np.array(cs), s=14, edgecolors="0.15", linewidths=0.5, zorder=3)
            lo = min(lo, min(vs))
        mean = r.get("mean_overlap")
        x_mean = g - 0.4 + (n_mem + 0.5) * width
        if mean is not None and np.isfinite(mean):
            ax.bar(x_mean, mean, width, color="k", edgecolor="k", linewidth=0.4,
                   label="mean" if g == 0 else None)
            ax.scatter([x_mean], [mean], c="k", s=14, edgecolors="w", linewidths=0.5, zorder=3)
            ax.text(x_mean, max(mean, 0.0) + 0.03, f"{mean:.2f}", ha="center", va="bottom", fontsize=7,
                    fontweight="bold")
            lo = min(lo, mean)
        elif not xs:
            ax.text(g, 0.5, "no data", ha="center", va="center", fontsize=8, color="0.3")
        for bound in ("min", "max"):
            if bound in targets.get(name, {}):
                y = targets[name][bound]
                ax.hlines(y, g - 0.45, g + 0.45, colors=TARGET_COLOR, linestyles="--", lw=1.2, zorder=4)
    ax.axhline(0, color="k", lw=0.6)
    ticks = []
    for name in recall:
        bounds = [f"{sym} {targets[name][b]:g}" for b, sym in (("min", "≥"), ("max", "≤"))
                  if b in targets.get(name, {})]
        ticks.append(name + (f"\n(target {', '.join(bounds)})" if bounds else ""))
    ax.set_xticks(range(len(recall)), ticks, rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.55, len(recall) - 0.45)
    ax.set_xlabel("recall condition (phase)", fontsize=8)
    ax.set_ylabel("recall overlap (Pearson r, uncued cells)", fontsize=8)
    ax.set_ylim(min(-0.1, lo - 0.05), 1.12)
    handles, labels = ax.get_legend_handles_labels()
    if any(targets.get(name) for name in recall):
        handles.append(Line2D([], [], color=TARGET_COLOR, ls="--", lw=1.2))
        labels.append("target")
    handles.append(Line2D([], [], ls="", marker="o", color="0.5", markeredgecolor="0.15", markersize=4))
    labels.append("value (0 = dot on the line)")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7,
              ncol=1 if n_mem <= 12 else 2, frameon=False)
    return fig


def _weights_of(run, projection, phase_name):
    if phase_name == "initial":
        return run.initial_weights[projection]
    return run.phase(phase_name).weights[projection]


def plot_weights(run, projection: str, phases, vmax=None):
    """A projection's weight matrix (pre × post) for several phases.

    Neurons of the pattern population are sorted by memory (members of
    pattern 0, of pattern 1, ..., then the rest; white lines separate the
    groups); absent synapses show as 0.  Weights are shown in mV (the model
    stores volts); the title names the model, seed and ``n``.

    Parameters
    ----------
    run : neuromem.records.Run
    projection : str
    phases : list of str
        Phase names whose post-phase weights are shown side by side;
        ``"initial"`` means the weights before the first phase (so a phase
        named ``"initial"`` cannot be shown here).
    vmax : float, optional
        Colour scale maximum in volts, like the stored weights (default: the
        largest weight shown).

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
        mats.append(m * MV)
    top = vmax * MV if vmax is not None else max([float(m.max()) for m in mats] + [1e-9])
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
        a.set_title("before the first phase" if name == "initial" else f"after {name}", fontsize=9)
        a.set_xlabel(f"postsynaptic {proj.target} neuron ({_order_word(proj.target == pp)})", fontsize=8)
        a.set_ylabel(f"presynaptic {proj.source} neuron ({_order_word(proj.source == pp)})", fontsize=8)
        a.tick_params(labelsize=7)
    fig.suptitle(f"{projection} weights: " + run_label(model.name, run.seed, model.protocol.n_memories),
                 fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), label="weight (mV)", shrink=0.9)
    return fig


def _order_word(by_memory: bool) -> str:
    """How a weight matrix axis is ordered, for its label."""
    return "sorted by memory" if by_memory else "index"


def plot_replay(events, duration: float, n_memories: int, ax=None, seed=None, model_name=None,
                phase_name=None):
    """Replay events over time, one row and colour per memory.

    Each row's label gives the memory and its number of events, so a memory
    that never replayed shows as ``k (0)``; dot size grows with the fraction
    of the assembly active in the event (key outside the axes).

    Parameters
    ----------
    events : list of dict
        From :func:`neuromem.analysis.detect_replay`.
    duration : float
    n_memories : int
    ax : Axes, optional
    seed : int, optional
        Stated in the title.
    model_name : str, optional
        Stated in the title.
    phase_name : str, optional
        Stated in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, axes = _new_fig(figsize=(9, 1.4 + 0.3 * max(n_memories, 1)), layout="constrained")
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
    rate = len(events) / duration if duration > 0 else 0.0
    head = f"{phase_name}: " if phase_name else ""
    ax.set_title(f"{head}{len(events)} replay events in {duration:g} s ({rate:.2f} Hz): "
                 + run_label(model_name, seed, n_memories), fontsize=9)
    handles = [Line2D([], [], ls="", marker="o", color="0.4", markeredgewidth=0,
                      markersize=float(np.sqrt(10 + 40 * f)), label=f"{f:.0%} of assembly")
               for f in (0.25, 0.5, 1.0)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7,
              frameon=False, title="event size", title_fontsize=7)
    return fig


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
