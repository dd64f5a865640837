"""A projection's weight matrices, pre × post, neurons sorted by memory, side by side over phases."""

from __future__ import annotations

import numpy as np

from neuromem.plotting.style import MV, first_member, memory_order, new_figure, run_label

__all__ = ["plot_weights"]


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
    order_pre = memory_order(patterns) if proj.source == pp else np.arange(n_pre)
    order_post = memory_order(patterns) if proj.target == pp else np.arange(n_post)
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
    fig, axes = new_figure(1, max(len(phases), 1), figsize=(3.6 * max(len(phases), 1) + 1.0, 3.8),
                         layout="constrained")
    im = None
    bounds = np.cumsum(np.bincount(np.where(first_member(patterns) < 0, patterns.shape[0],
                                            first_member(patterns)), minlength=patterns.shape[0] + 1))[:-1]
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
