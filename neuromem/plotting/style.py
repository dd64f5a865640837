"""What every figure of a run shares: colours per memory, neuron order by memory, figure and legend helpers, titles."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

__all__ = ["memory_colors", "first_member", "memory_order", "new_figure", "legend_outside", "run_label", "value_label", "GREY",
           "DPI", "MAX_POINTS", "MV", "TARGET_COLOR"]

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


def first_member(masks: np.ndarray) -> np.ndarray:
    """For each neuron, the first memory whose mask contains it, else -1."""
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    return np.where(masks.any(0), masks.argmax(0), -1)


def memory_order(masks: np.ndarray) -> np.ndarray:
    """Neuron order: members of memory 0, of memory 1, ..., then the rest."""
    first = first_member(masks)
    key = np.where(first < 0, masks.shape[0], first)
    return np.argsort(key, kind="stable")


def new_figure(nrows=1, ncols=1, figsize=(8, 4), layout=None, **kw):
    """A :class:`~matplotlib.figure.Figure` (no pyplot) and its axes as a 2-D array."""
    fig = Figure(figsize=figsize, dpi=DPI, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def legend_outside(ax, handles=None, ncol: int = 1, title=None):
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


def value_label(value: float, digits: int = 2) -> str:
    """A value printed on a figure with ``digits`` decimals; one that rounds to zero reads ``0.00``, never
    ``-0.00`` (a recall overlap of -0.004 is a zero, not a negative score).

    Returns
    -------
    str
    """
    return f"{round(value, digits) + 0.0:.{digits}f}"
