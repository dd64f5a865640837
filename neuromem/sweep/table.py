"""A sweep's table and figure: one row per point (:func:`write_table`), a metric against the first key (:func:`plot_sweep`)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from neuromem.sweep.plan import SweepError

__all__ = ["TABLE", "FIXED_COLUMNS", "flatten_metrics", "grid_value", "is_number", "write_table", "default_metric",
           "plot_sweep"]

TABLE = "sweep"
"""Base name of the table files written into ``out_dir`` (``sweep.csv``, ``sweep.parquet``)."""

FIXED_COLUMNS = ("seed", "status", "folder", "wall_s", "error")
"""Columns of every row besides the grid keys (first) and the metrics (last)."""


def is_number(v) -> bool:
    """Whether ``v`` is an int or a float (not a bool): a value the figure can draw."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def flatten_metrics(metrics: dict, prefix: str = "") -> dict:
    """The scalar metrics of a run, one ``a.b.c`` name each.

    Parameters
    ----------
    metrics : dict
        As in ``results.json["metrics"]`` (:func:`neuromem.analysis.compute_metrics`).
    prefix : str, optional

    Returns
    -------
    dict
        Numbers, booleans and ``None`` only (per-memory lists are left out,
        they stay in the run folder), e.g. ``recall_half_cue`` (a recall
        phase's mean overlap), ``recall.recall_half_cue.mean_hit_rate``,
        ``recall.recall_half_cue.mean_false_alarm_rate``,
        ``replay.sleep.total``, ``rate_exc_hz.ctx_e.encode``.
    """
    out = {}
    for k, v in metrics.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_metrics(v, name + "."))
        elif v is None or isinstance(v, (bool, int, float)):
            out[name] = v
    return out


def grid_value(text: str):
    """A grid value for the table: the number or boolean it means in TOML, else its text."""
    try:
        v = tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return v if isinstance(v, (bool, int, float)) else text


def _columns(rows) -> list[str]:
    cols: dict = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


def write_table(rows, out_dir, log=None) -> list[Path]:
    """Write the rows as ``sweep.csv``, and ``sweep.parquet`` when :mod:`pyarrow` imports.

    Parameters
    ----------
    rows : list of dict
        From :func:`run_sweep`; the columns are the union of the rows' keys
        in order of first appearance (a row without a column leaves it empty).
    out_dir : str or Path
    log : callable, optional
        Called with one line per file written.

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = _columns(rows)
    written = []
    path = out_dir / f"{TABLE}.csv"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    os.replace(tmp, path)
    written.append(path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        pa = None
    except ImportError as e:   # installed but unusable, e.g. pyarrow >= 21 needs numpy 2
        pa = None
        (log or (lambda line: None))(f"note: no Parquet table: pyarrow does not import ({e})")
    if pa is not None:
        arrays = {}
        for c in cols:
            values = [r.get(c) for r in rows]
            try:
                arrays[c] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):   # mixed kinds (numbers and text): text
                arrays[c] = pa.array([None if v is None else str(v) for v in values])
        path = out_dir / f"{TABLE}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(pa.table(arrays), tmp)
        os.replace(tmp, path)
        written.append(path)
    for p in written:
        (log or (lambda line: None))(f"table: {p}")
    return written


def default_metric(rows) -> str | None:
    """The first recall phase's mean overlap: its column name, or ``None`` when no row has one.

    That is the phase's top-level metric (its name, e.g. ``recall_half_cue``)
    when the row has it, else ``recall.<phase>.mean_overlap``.
    """
    for r in rows:
        if r.get("status") == "error":
            continue
        for k in r:
            if k.startswith("recall.") and k.endswith(".mean_overlap"):
                phase = k[len("recall."):-len(".mean_overlap")]
                for name in (phase, f"{phase}_overlap"):
                    if name in r and r[name] == r[k]:
                        return name
                return k
    return None


def _axis(values: list[str], key: str):
    """Positions and axis label for the values of the first grid key: numbers, quantities (SI) or categories."""
    from neuromem.spec import ModelError
    from neuromem.spec.units import DIMENSIONS, UNITS, parse_quantity

    parsed = [grid_value(v) for v in values]
    if all(is_number(v) for v in parsed):
        return [float(v) for v in parsed], key, None
    units = {dim: symbol for symbol, (dim, power) in UNITS.items() if power == 0}   # SI unit of each dimension
    for dim in DIMENSIONS:
        try:
            return [parse_quantity(v, dim) for v in values], f"{key} ({units[dim]})", None
        except ModelError:
            continue
    return [float(i) for i in range(len(values))], key, values


def plot_sweep(rows, keys, metric: str, title: str | None = None):
    """``metric`` against the first grid key, mean ± SD over seeds, one line per value of the other keys.

    Parameters
    ----------
    rows : list of dict
        From :func:`run_sweep` (rows with status ``error`` or without the
        metric are left out).
    keys : list of str
        The grid keys, in grid order.  The first is the x axis (numbers;
        quantities such as ``"10 s"`` in SI units; otherwise categories in
        grid order); each combination of the others is one line.  A positive
        axis spanning a factor of 10 or more is logarithmic.
    metric : str
        A column of the table, e.g. ``recall_lesioned_after_sleep`` or
        ``replay.sleep.total``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    SweepError
        If no row has a number for ``metric`` (the message lists the
        numeric columns there are).
    """
    import numpy as np
    from matplotlib.figure import Figure

    ok = [r for r in rows if r.get("status") != "error" and is_number(r.get(metric))
          and math.isfinite(r[metric])]
    if not ok:
        have = sorted({k for r in rows for k, v in r.items() if is_number(v) and k not in FIXED_COLUMNS
                       and k not in keys})
        raise SweepError(f"--metric {metric}: no run has this metric; numeric metrics: "
                         + (", ".join(have) or "none"))
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    seeds = sorted({r["seed"] for r in ok})
    if keys:
        first = list(dict.fromkeys(str(r[keys[0]]) for r in rows if keys[0] in r))
        xs, xlabel, ticks = _axis(first, keys[0])
        xpos = dict(zip(first, xs))
        groups = list(dict.fromkeys(tuple(str(r.get(k)) for k in keys[1:]) for r in rows))
        for g in groups:
            pts = []
            for x in first:
                vals = [r[metric] for r in ok if str(r[keys[0]]) == x and tuple(str(r.get(k)) for k in keys[1:]) == g]
                if vals:
                    pts.append((xpos[x], float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0))
            if not pts:
                continue
            px, pm, ps = zip(*pts)
            label = ", ".join(f"{k}={v}" for k, v in zip(keys[1:], g)) or None
            ax.errorbar(px, pm, yerr=ps, marker="o", capsize=3, label=label)
        ax.set_xlabel(xlabel)
        if ticks is not None:
            ax.set_xticks(xs, ticks)
        else:
            if min(xs) > 0 and max(xs) >= 10 * min(xs):
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(xs, first)
        if len(keys) > 1:
            ax.legend(fontsize="small")
    else:
        vals = [r[metric] for r in ok]
        ax.errorbar([0], [np.mean(vals)], yerr=[np.std(vals, ddof=1) if len(vals) > 1 else 0.0], marker="o")
        ax.set_xticks([0], ["all"])
    ax.set_ylabel(metric)
    n = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    ax.set_title(f"{title + ': ' if title else ''}{metric}, mean ± SD over {n}", fontsize="medium")
    return fig
