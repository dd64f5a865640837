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

Modules: ``plan.py`` (the grid, the seeds and the points, validated before
anything runs), ``execute.py`` (the points run on Dask, finished ones
reused) and ``table.py`` (the table and the figure).  Every public name is
importable from ``neuromem.sweep``.
"""

from neuromem.sweep.execute import local_cluster, run_point, run_sweep
from neuromem.sweep.plan import SweepError, SweepPoint, parse_grid, parse_seeds, plan_sweep
from neuromem.sweep.table import FIXED_COLUMNS, TABLE, default_metric, flatten_metrics, plot_sweep, write_table

__all__ = ["SweepError", "SweepPoint", "parse_grid", "parse_seeds", "plan_sweep", "run_sweep", "run_point",
           "local_cluster", "flatten_metrics", "write_table", "plot_sweep", "default_metric", "TABLE",
           "FIXED_COLUMNS"]
