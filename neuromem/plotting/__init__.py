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

Modules: ``style.py`` (colours, neuron order, figure helpers, titles),
``rasters.py`` (:func:`plot_raster`), ``weights.py`` (:func:`plot_weights`),
``results.py`` (:func:`plot_recall`, :func:`plot_replay` and the targets) and
``figures.py`` (:func:`save_figures`); every public name is importable from
``neuromem.plotting``.

Targets (acceptance thresholds of a model's recall conditions) are never
built in: pass them as ``targets`` (``{phase: {"min": x}}`` and/or
``{"max": y}``), or declare them for a model file ``M.toml`` in a sidecar
``M.targets.toml`` next to it (see :func:`read_targets`), which
:func:`save_figures` picks up.  Without targets no target line is drawn.
"""

from neuromem.plotting.figures import save_figures
from neuromem.plotting.rasters import plot_raster
from neuromem.plotting.results import plot_recall, plot_replay, read_targets, targets_for
from neuromem.plotting.style import first_member, memory_colors, memory_order, run_label, value_label
from neuromem.plotting.weights import plot_weights

__all__ = [
    "memory_colors", "plot_raster", "plot_recall", "plot_weights", "plot_replay", "save_figures",
    "read_targets", "targets_for", "run_label", "first_member", "memory_order", "value_label",
]
