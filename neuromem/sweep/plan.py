"""A sweep's points: the grid and the seeds parsed, each combination validated and given its folder.

Nothing here runs a simulation; :func:`plan_sweep` loads every combination
so that an unusable value is refused before any run starts.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SweepError", "SweepPoint", "parse_grid", "parse_seeds", "plan_sweep"]


class SweepError(ValueError):
    """A sweep's grid, seeds, metric or options are unusable (exit status 2 on the command line)."""


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep.

    Attributes
    ----------
    values : tuple of (str, str)
        ``(grid key, value text)`` in grid order.
    seed : int
    overrides : tuple of str
        Every ``key.path=value`` applied to the model: the fixed overrides,
        then one per grid key.
    model_text : str
        The resolved model (:func:`neuromem.spec.loader.dumps_model`).
    folder : pathlib.Path
        ``out_dir/runs/<label>``: where its run folder is written.
    """

    values: tuple
    seed: int
    overrides: tuple
    model_text: str
    folder: Path


# ---------------------------------------------------------------- parsing


def _split_values(text: str) -> list[str]:
    """Split at commas outside quotes, brackets and braces (TOML arrays and tables stay whole)."""
    out, cur, depth, quote = [], [], 0, None
    for c in text:
        if quote:
            cur.append(c)
            if c == quote:
                quote = None
            continue
        if c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(c)
    out.append("".join(cur).strip())
    return out


def _value_text(v) -> str:
    """An override value as text: ``True`` → ``true``, numbers as Python writes them, strings as they are."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return str(v)


def parse_grid(grid) -> dict[str, list[str]]:
    """The grid as ``{override path: [value text, ...]}``, in the order given.

    Parameters
    ----------
    grid : mapping or iterable of str
        ``{"protocol.n_memories": [5, 10, 20], ...}`` (values may be numbers,
        booleans or strings such as ``"10 s"``), or strings as ``--grid``
        takes them: ``"protocol.n_memories=5,10,20"``.  Values are separated
        by commas outside quotes, brackets and braces, so
        ``"key=[1, 2],[3, 4]"`` has two values.

    Returns
    -------
    dict

    Raises
    ------
    SweepError
        For a string without ``=``, an empty key or value, a key given twice
        or a value listed twice for one key.
    """
    if isinstance(grid, str):
        grid = [grid]
    items = []
    if hasattr(grid, "items"):
        for key, values in grid.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                values = [values]
            items.append((str(key), [_value_text(v) for v in values], f"{key}"))
    else:
        for text in grid:
            key, sep, values = str(text).partition("=")
            if not sep:
                raise SweepError(f"--grid {text}: expected key.path=value1,value2,...")
            items.append((key, _split_values(values), text))
    out: dict[str, list[str]] = {}
    for key, values, text in items:
        key = key.strip()
        if not key or any(not s.strip() for s in key.split(".")):
            raise SweepError(f"--grid {text}: empty key in the path")
        if key in out:
            raise SweepError(f"--grid {key}: the key is given twice; list all its values once")
        if not values or any(not v.strip() for v in values):
            raise SweepError(f"--grid {text}: empty value")
        values = [v.strip() for v in values]
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise SweepError(f"--grid {key}: value {dup[0]!r} is listed twice")
        out[key] = values
    return out


_SEED_RANGE = re.compile(r"^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$")


def parse_seeds(seeds) -> list[int]:
    """Seeds from ``"1-5"``, ``"0,3,7"``, ``"0-2,5"``, an int or an iterable of ints.

    Returns
    -------
    list of int
        In the order given, each once.

    Raises
    ------
    SweepError
        For anything else (a negative number, a descending range, no seed).
    """
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    out: list[int] = []
    if isinstance(seeds, str):
        for part in seeds.split(","):
            m = _SEED_RANGE.match(part)
            if not m:
                raise SweepError(f"--seeds {seeds}: expected seeds such as 1-5, 0,3,7 or 0-2,5; got {part.strip()!r}")
            lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
            if hi < lo:
                raise SweepError(f"--seeds {seeds}: the range {lo}-{hi} is descending")
            out.extend(range(lo, hi + 1))
    else:
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise SweepError(f"seeds must be non-negative integers, got {s!r}")
            out.append(int(s))
    out = list(dict.fromkeys(out))
    if not out:
        raise SweepError("no seed given")
    return out


def _label(values, model_text: str) -> str:
    from neuromem.io import safe_name

    words = "_".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(values))
    digest = hashlib.sha256(model_text.encode("utf-8")).hexdigest()[:10]
    return f"{safe_name(words)[:80]}-{digest}" if words else digest


def plan_sweep(model, grid, seeds, out_dir, overrides=()) -> list[SweepPoint]:
    """Every point of a sweep, each combination validated, before anything runs.

    Parameters
    ----------
    model : str, os.PathLike or neuromem.spec.Model
        A model file or a model object.
    grid : mapping or iterable of str
        See :func:`parse_grid`.  An empty grid sweeps the seeds only.
    seeds : str, int or iterable of int
        See :func:`parse_seeds`.
    out_dir : str or Path
        The sweep's folder.
    overrides : iterable of str, optional
        ``key.path=value`` applied to every point before the grid's values.

    Returns
    -------
    list of SweepPoint
        In grid order (the last key varies fastest), seeds innermost.

    Raises
    ------
    SweepError
        For an unusable grid or seeds.
    neuromem.spec.ModelError
        If the model does not load with a combination of values (each is
        loaded and validated); the message names the key, the value and the
        combination.
    """
    from neuromem.experiment import resolve_model
    from neuromem.spec import ModelError
    from neuromem.spec.loader import dumps_model

    grid = parse_grid(grid)
    seeds = parse_seeds(seeds)
    overrides = [overrides] if isinstance(overrides, str) else list(overrides)
    points = []
    for combo in itertools.product(*[[(k, v) for v in vs] for k, vs in grid.items()]):
        point_overrides = tuple(overrides) + tuple(f"{k}={v}" for k, v in combo)
        try:
            resolved, _ = resolve_model(model, point_overrides)
        except ModelError as e:   # the loader's message names the key (and the override that set it)
            where = f" (--grid combination {', '.join(f'{k}={v}' for k, v in combo)})" if combo else ""
            raise ModelError(f"{e.message}{where}", key=e.key, file=e.file) from None
        text = dumps_model(resolved)
        folder = Path(out_dir) / "runs" / _label(combo, text)
        points.extend(SweepPoint(tuple(combo), s, point_overrides, text, folder) for s in seeds)
    return points
