"""Figures of what a run's experiment measured: recall per memory and condition against targets, replay events.

Targets (acceptance thresholds of a model's recall conditions) are never
built in: they are passed in, or declared in a sidecar ``<model>.targets.toml``
(:func:`read_targets`, :func:`targets_for`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from neuromem.plotting.style import TARGET_COLOR, memory_colors, new_figure, run_label, value_label

__all__ = ["plot_recall", "plot_replay", "read_targets", "targets_for", "check_targets"]


def check_targets(targets) -> dict:
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
        return check_targets(tomllib.load(f))


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
    targets = check_targets(targets)
    if ax is None:
        fig, axes = new_figure(figsize=(max(6.0, 1.5 * len(recall) + 3.2), 4.0), layout="constrained")
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
            ax.text(x_mean, max(mean, 0.0) + 0.03, value_label(mean), ha="center", va="bottom", fontsize=7,
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
        fig, axes = new_figure(figsize=(9, 1.4 + 0.3 * max(n_memories, 1)), layout="constrained")
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
