"""Running a sweep's points: one ordinary run per point as a Dask task, on a local cluster or a given scheduler.

:func:`run_sweep` plans the points (:mod:`neuromem.sweep.plan`), reuses those
already finished, submits the others (:func:`run_point`), then writes the
table and the figure (:mod:`neuromem.sweep.table`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from neuromem.sweep.plan import SweepError, SweepPoint, parse_grid, plan_sweep
from neuromem.sweep.table import TABLE, default_metric, flatten_metrics, grid_value, plot_sweep, write_table

__all__ = ["run_sweep", "run_point", "local_cluster"]


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


def _row(point: SweepPoint, status: str, folder, wall_s, error, metrics) -> dict:
    row = {k: grid_value(v) for k, v in point.values}
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
    Capacity of the small model (18 combinations × 3 seeds, on both cores):

    >>> rows = run_sweep("models/cls_small.toml",                            # doctest: +SKIP
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
