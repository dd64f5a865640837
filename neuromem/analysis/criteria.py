"""Pass/fail criteria of an experiment, measured and reported the same way everywhere.

Every experiment script in ``simulations/`` ends with a list of criteria, each
``{name, value, target, met}``, stored in its ``summary.json`` and printed as a
verdict table.  A criterion is never loosened to pass: when it is not met the
table says so with the measured value.
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = ["criterion", "verdict_lines", "spread", "all_met"]

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def criterion(name: str, value, op: str, threshold: float, note: str = "") -> dict:
    """One measured criterion.

    Parameters
    ----------
    name : str
        What is tested, in words.
    value : float, bool or None
        The measured figure (``None``: could not be measured, never met).
        A bool is a criterion that holds or not (``op`` must be ``"=="`` and
        ``threshold`` ``True``).
    op : {">=", "<=", ">", "<", "=="}
    threshold : float or bool
    note : str, optional
        How the value was obtained (seeds, spread), shown in the table.

    Returns
    -------
    dict
        ``name``, ``value``, ``target`` (e.g. ``">= 0.8"``), ``met`` and ``note``.
    """
    if op == "==":
        met = value is not None and value == threshold
    elif op in _OPS:
        met = value is not None and not (isinstance(value, float) and math.isnan(value)) \
            and bool(_OPS[op](value, threshold))
    else:
        raise ValueError(f"unknown comparison {op!r} (>=, <=, >, <, ==)")
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    return {"name": name, "value": value, "target": f"{op} {threshold}", "met": bool(met), "note": note}


def all_met(criteria) -> bool:
    """Whether every criterion is met."""
    return all(c["met"] for c in criteria)


def spread(values) -> dict:
    """Mean, standard deviation (ddof 0), minimum, maximum and count of values (``None`` skipped)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std()), "min": float(v.min()),
            "max": float(v.max()), "n": int(v.size)}


def verdict_lines(criteria, title: str = "criteria") -> list[str]:
    """The criteria as a text table, one line each, and a final count."""
    rows = []
    for c in criteria:
        v = c["value"]
        vs = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        rows.append(("PASS" if c["met"] else "FAIL", c["name"], vs, c["target"], c.get("note", "")))
    w = max([len(r[1]) for r in rows] + [4])
    out = [f"{title}:"]
    for status, name, vs, target, note in rows:
        out.append(f"  {status}  {name:<{w}}  {vs:>8}  (target {target})" + (f"  {note}" if note else ""))
    out.append(f"  {sum(c['met'] for c in criteria)} of {len(criteria)} met")
    return out
