"""Spike rasters of a phase, one panel per population, neurons coloured and ordered by memory."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch

from neuromem.plotting.style import (GREY, MAX_POINTS, first_member, legend_outside, memory_colors, memory_order,
                                     new_figure, run_label)

__all__ = ["plot_raster"]


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
        fig, axes = new_figure(n_rows, 1, figsize=(11, 1.5 + 1.1 * max(big, 1) + 0.25 * (n_rows - big)),
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
            first = first_member(masks)
            rank = np.empty(sp.n, dtype=int)
            rank[memory_order(masks) if sort else np.arange(sp.n)] = np.arange(sp.n)
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
                legend_outside(axes[0], handles, ncol=ncol, title="colour key")
    return fig
