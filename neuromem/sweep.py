"""Parameter sweeps on Dask: every combination of a grid of overrides × seeds, one table.

:func:`run_sweep` runs one ordinary run (:func:`neuromem.experiment.run_experiment`)
per *point* — a combination of grid values and a seed — as a task on a Dask
cluster (:mod:`distributed`): by default a :class:`distributed.LocalCluster`
of one single-threaded worker process per core (Dask's nanny sets
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` to 1 in
each, so nothing is oversubscribed), or an existing cluster of many machines
given its scheduler address.  ``neuromem sweep`` is its command line.

Layout of ``out_dir``:

``runs/<label>/<model>-<date>-seed<seed>/``
    The run folder of each point (:func:`neuromem.io.write_run`).  ``<label>``
    names the grid values (sorted by key) and ends with the first 10 hex digits of the
    SHA-256 of the resolved model text, so a point is found again whatever
    order the grid is given in.
``sweep.csv`` (and ``sweep.parquet`` when :mod:`pyarrow` is installed)
    One row per point (:func:`write_table`).
``sweep-<metric>.png``
    The metric against the first grid key (:func:`plot_sweep`).

A point whose ``runs/<label>/`` already holds a finished run of the same
resolved model text and seed (:func:`neuromem.batch.finished_run`) is not run
again: its row is read back (status ``reused``).  With a cluster of several
machines, ``out_dir`` and the model file must be on a file system every worker
sees, and every worker needs neuromem installed.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["SweepError", "SweepPoint", "parse_grid", "parse_seeds", "plan_sweep", "run_sweep", "run_point",
           "local_cluster", "flatten_metrics", "write_table", "plot_sweep", "default_metric", "TABLE",
           "FIXED_COLUMNS"]

TABLE = "sweep"
"""Base name of the table files written into ``out_dir`` (``sweep.csv``, ``sweep.parquet``)."""

FIXED_COLUMNS = ("seed", "status", "folder", "wall_s", "error")
"""Columns of every row besides the grid keys (first) and the metrics (last)."""


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


# ---------------------------------------------------------------- running


def run_point(model_file, base_text: str, overrides, model_text: str, seed: int, out_dir: str,
              backend_options=None) -> dict:
    """Run one point (a Dask task); never raises for a failing simulation.

    Parameters
    ----------
    model_file : str or None
        The model file, used (so that ``results.json`` records it and the
        overrides) when this worker can read it and it resolves to
        ``model_text``; otherwise the model is built from ``base_text``.
    base_text : str
        The model without overrides, as TOML.
    overrides : sequence of str
    model_text : str
        The resolved model the client validated.
    seed : int
    out_dir : str
        Parent folder of the run folder.
    backend_options : dict, optional
        Passed to :func:`neuromem.experiment.run_experiment`.

    Returns
    -------
    dict
        ``status`` (``"ran"`` or ``"error"``), ``folder``, ``wall_s``,
        ``metrics`` (``None`` on error) and ``error`` (``"Type: message"`` or
        ``None``).
    """
    start = time.perf_counter()
    try:
        from neuromem.experiment import resolve_model, run_experiment
        from neuromem.spec.loader import dumps_model, loads_model

        source = None
        if model_file and os.path.isfile(model_file):
            try:
                if dumps_model(resolve_model(model_file, overrides)[0]) == model_text:
                    source = model_file
            except (ValueError, OSError):   # unreadable or changed here: build it from the text
                source = None
        if source is None:
            source = loads_model(base_text, file="<sweep model>")
        _, metrics, folder = run_experiment(source, seed=seed, overrides=list(overrides), out_dir=out_dir,
                                            backend_options=backend_options, figures=False, progress=False,
                                            log=None)
        return {"status": "ran", "folder": str(folder), "wall_s": time.perf_counter() - start,
                "metrics": json.loads(json.dumps(metrics)), "error": None}
    except Exception as e:
        return {"status": "error", "folder": None, "wall_s": time.perf_counter() - start, "metrics": None,
                "error": f"{type(e).__name__}: {e}"}


def local_cluster(workers: int | None = None):
    """A Dask cluster on this machine: one single-threaded worker process per core.

    Parameters
    ----------
    workers : int, optional
        Worker processes (default: Dask's count of the cores this process
        may use, :data:`dask.system.CPU_COUNT`).

    Returns
    -------
    distributed.LocalCluster
        Listening on loopback (its HTTP server too, on a free port).  Dask's
        nanny starts each worker with ``OMP_NUM_THREADS``,
        ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set to 1
        (``distributed.nanny.pre-spawn-environ``).
    """
    from distributed import LocalCluster

    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    # the scheduler's HTTP server (health, metrics) starts even without a dashboard, by default on port
    # 8787 of every interface: keep it on loopback, on a free port
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")


def _number(v) -> bool:
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


def _grid_value(text: str):
    """A grid value for the table: the number or boolean it means in TOML, else its text."""
    try:
        v = tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return v if isinstance(v, (bool, int, float)) else text


def _row(point: SweepPoint, status: str, folder, wall_s, error, metrics) -> dict:
    row = {k: _grid_value(v) for k, v in point.values}
    row.update(seed=point.seed, status=status, folder=None if folder is None else str(folder), wall_s=wall_s,
               error=error)
    for name, v in flatten_metrics(metrics or {}).items():
        row[f"metrics.{name}" if name in row else name] = v
    return row


def _reused(point: SweepPoint, done: Path) -> dict:
    res = json.loads((done / "results.json").read_text(encoding="utf-8"))
    wall = (res.get("run_wall_time_s") or {}).get("total")
    return _row(point, "reused", done, wall, None, res.get("metrics"))


def run_sweep(model, grid, seeds, out_dir, scheduler=None, workers=None, overrides=(), backend_options=None,
              metric=None, figure=True, progress=True, log=None) -> list[dict]:
    """Run every combination of ``grid`` × ``seeds`` on Dask; write the table and a figure.

    Parameters
    ----------
    model : str, os.PathLike or neuromem.spec.Model
        The model file (or a model object).
    grid : mapping or iterable of str
        ``{"protocol.n_memories": [5, 10], "projections.ctx_ee.connector.p": [0.1, 0.2]}``
        or ``["protocol.n_memories=5,10", ...]`` (:func:`parse_grid`); keys
        are ``--set`` override paths.
    seeds : str, int or iterable of int
        ``"1-5"``, ``[0, 1, 2]``, ... (:func:`parse_seeds`).
    out_dir : str or Path
        The sweep's folder (layout: module docstring).  Rerun into the same
        folder, points already finished are reused, not run again.
    scheduler : str or distributed.Client, optional
        The address of a running Dask scheduler (``tcp://host:8786``), or a
        client connected to one.  Default: a :func:`local_cluster`, started
        for the points left to run and closed at the end.
    workers : int, optional
        Worker processes of the local cluster (default one per core, never
        more than the points to run); not with ``scheduler``.
    overrides : iterable of str, optional
        ``key.path=value`` applied to every point before the grid's values.
    backend_options : dict, optional
        For :func:`neuromem.experiment.run_experiment`, e.g.
        ``{"target": "numpy"}``.
    metric : str, optional
        The column drawn by :func:`plot_sweep` (default :func:`default_metric`).
    figure : bool, optional
        Draw ``sweep-<metric>.png`` (not when every point failed).
    progress : bool, optional
        A :mod:`tqdm` bar on stderr over completed points.
    log : callable, optional
        Called with one line per failed point and per file written.

    Returns
    -------
    list of dict
        The table's rows, in the order of :func:`plan_sweep`: the grid keys
        (numbers where the value is one, else the text), ``seed``, ``status``
        (``ran``, ``reused`` or ``error``), ``folder`` (the run folder),
        ``wall_s`` (seconds the run took; for a reused run as recorded in its
        ``results.json``), ``error`` (``"Type: message"``) and the scalar
        metrics (:func:`flatten_metrics`; a metric named like one of the
        columns before it is prefixed ``metrics.``).

    Raises
    ------
    SweepError
        For unusable grid, seeds, options or metric (before anything runs;
        for a metric no run has, after the table is written).
    neuromem.spec.ModelError
        If a combination does not load (before anything runs).
    neuromem.io.OutDirError
        If ``out_dir`` cannot be written.

    Notes
    -----
    A point that fails is recorded with status ``error`` and its message; the
    others go on.  Points whose resolved model text and seed coincide run
    once and share the run folder.

    Examples
    --------
    Capacity of the default model (18 combinations × 3 seeds, on both cores):

    >>> rows = run_sweep("models/cls.toml",                            # doctest: +SKIP
    ...                  {"protocol.n_memories": [5, 10, 20, 40, 80, 160],
    ...                   "projections.ctx_ee.connector.p": [0.1, 0.2, 0.3]},
    ...                  seeds=[0, 1, 2], out_dir="sweeps/capacity",
    ...                  metric="recall_lesioned_after_sleep")
    >>> [(r["protocol.n_memories"], r["projections.ctx_ee.connector.p"], r["seed"],
    ...   r["recall_lesioned_after_sleep"]) for r in rows if r["status"] != "error"]  # doctest: +SKIP
    """
    from neuromem.batch import finished_run
    from neuromem.experiment import resolve_model
    from neuromem.io import check_out_dir
    from neuromem.spec import Model
    from neuromem.spec.loader import dumps_model

    say = log or (lambda line: None)
    if scheduler is not None and workers is not None:
        raise SweepError("--workers applies to the local cluster only, not with --scheduler")
    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    out_dir = Path(out_dir).resolve()
    check_out_dir(out_dir)
    points = plan_sweep(model, grid, seeds, out_dir, overrides)
    keys = list(parse_grid(grid))
    if isinstance(model, Model):
        model_file, base_text = None, dumps_model(model)
    else:
        model_file = str(Path(os.fspath(model)).resolve())
        base_text = dumps_model(resolve_model(model_file)[0])
    _import_dask()

    rows: list = [None] * len(points)
    todo: dict = {}   # (model text, seed) -> indices of the points it answers
    for i, p in enumerate(points):
        done = finished_run(p.folder, p.model_text, p.seed)
        if done is not None:
            rows[i] = _reused(p, done)
        else:
            todo.setdefault((p.model_text, p.seed), []).append(i)
    from tqdm import tqdm

    bar = tqdm(total=len(points), initial=len(points) - sum(map(len, todo.values())), desc="sweep", unit="run",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)
    try:
        if todo:
            _submit_and_collect(points, todo, rows, model_file, base_text, backend_options, scheduler, workers,
                                bar, say)
    finally:
        bar.close()
    write_table(rows, out_dir, log=say)
    if figure and any(r["status"] != "error" for r in rows):
        metric = metric or default_metric(rows)
        if metric is not None:
            fig = plot_sweep(rows, keys, metric, title=_model_name(points[0].model_text))
            path = out_dir / f"{TABLE}-{_safe(metric)}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            say(f"figure: {path}")
    return rows


def _model_name(text: str) -> str:
    try:
        return str(tomllib.loads(text).get("name", ""))
    except tomllib.TOMLDecodeError:
        return ""


def _safe(name: str) -> str:
    from neuromem.io import safe_name

    return safe_name(name)


def _import_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SweepError("sweeps need Dask: pip install 'dask[distributed]' (the `sweep` extra: "
                         "pip install -e '.[sweep]')") from None


def _submit_and_collect(points, todo, rows, model_file, base_text, backend_options, scheduler, workers, bar, say):
    """Submit each point left to run to Dask and fill ``rows`` as the futures complete."""
    from contextlib import ExitStack

    from distributed import Client, as_completed

    with ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as e:
                raise SweepError(f"--scheduler {scheduler}: cannot connect ({type(e).__name__}: {e})") from None
        else:
            import dask.system

            n = min(workers or dask.system.CPU_COUNT, len(todo))
            cluster = stack.enter_context(local_cluster(n))
            client = stack.enter_context(Client(cluster))
        client.register_plugin(_import_brian2_plugin())
        futures = {}
        for (text, seed), idx in todo.items():
            p = points[idx[0]]
            fut = client.submit(run_point, model_file, base_text, p.overrides, text, seed, str(p.folder),
                                backend_options, pure=False, key=f"neuromem-{p.folder.name}-seed{seed}-"
                                                                 f"{time.time_ns()}")
            futures[fut] = idx
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except Exception as e:   # the worker died (KilledWorker), the task was cancelled, ...
                res = {"status": "error", "folder": None, "wall_s": None, "metrics": None,
                       "error": f"{type(e).__name__}: {e}"}
            for i in futures[fut]:
                p = points[i]
                rows[i] = _row(p, res["status"], res["folder"], res["wall_s"], res["error"], res["metrics"])
                bar.update(1)
            if res["status"] == "error":
                p = points[futures[fut][0]]
                where = ", ".join(f"{k}={v}" for k, v in p.values)
                say(f"error: {where + ', ' if where else ''}seed {p.seed}: {res['error']}")


def _import_brian2_plugin():
    """A Dask worker plugin that imports Brian2 when a worker starts (or joins the cluster).

    Importing Brian2 installs a SIGINT handler, which Python allows in a
    process's main thread only; Dask runs tasks in other threads, and a
    worker plugin's ``setup`` in the worker's main (event loop) thread.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class ImportBrian2(WorkerPlugin):
        name = "neuromem-import-brian2"
        idempotent = True

        def setup(self, worker):
            import brian2  # noqa: F401

    return ImportBrian2()


# ---------------------------------------------------------------- the table and the figure


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

    parsed = [_grid_value(v) for v in values]
    if all(_number(v) for v in parsed):
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

    ok = [r for r in rows if r.get("status") != "error" and _number(r.get(metric))
          and math.isfinite(r[metric])]
    if not ok:
        have = sorted({k for r in rows for k, v in r.items() if _number(v) and k not in FIXED_COLUMNS
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
