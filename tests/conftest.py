"""Shared pytest configuration for the neuromem test suite.

There is deliberately no ``tests/__init__.py``: the lava-nc wheel installs a
top-level ``tests`` package into site-packages, and pytest runs with
``--import-mode=importlib`` (see pyproject.toml) so that this directory is
never confused with it.  Put shared fixtures here, not in an importable
``tests`` package.
"""

import os

# Headless plotting for every test (must be set before matplotlib is imported).
os.environ["MPLBACKEND"] = "Agg"
# neuromem compiles with Brian2's -O3 flags by default; the suite compiles hundreds of modules on a
# fresh cache and uses the -O1 set (~30 % shorter compilation, same results; Brian2Options.compile_args),
# also in the interpreters it starts.  An explicit NEUROMEM_COMPILE_ARGS (e.g. from the Makefile) wins.
os.environ.setdefault("NEUROMEM_COMPILE_ARGS", "fast")

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


#: the work unit that holds every notebook under ``--dist loadfile`` (see :func:`suite_order`)
NOTEBOOKS = "notebooks (one work unit)"


def _unit(nodeid: str) -> str:
    """A test's work unit under ``--dist loadfile`` here: its file, or :data:`NOTEBOOKS` for every notebook."""
    return NOTEBOOKS if nodeid.startswith("notebooks/") else nodeid.split("::", 1)[0]


def suite_order(nodeids) -> list:
    """Indexes of ``nodeids`` in the order ``make test`` runs them: the notebooks first, then the files with the
    most tests first (as xdist orders files), each work unit's tests together and in their own order.

    Notebooks 01-04 run the small model (models/cls_small.toml) on Brian2's Cython target, whose code (~90 modules, about five minutes
    of compilation on a fresh cache on this 2-core machine) they share through the compiled-code cache.  As
    separate files sent last (xdist sends files with many tests first), two of them could start together on both
    workers, one waiting on Brian2's per-module compile lock while the other compiles, and the longest single
    items ended the run while the other worker sat idle.  As one unit sent first they run one after another on one
    worker from the start, while the other worker takes the test files.
    """
    units = [_unit(n) for n in nodeids]
    size, start = Counter(units), {}
    for i, u in enumerate(units):
        start.setdefault(u, i)
    return sorted(range(len(units)), key=lambda i: (units[i] != NOTEBOOKS, -size[units[i]], start[units[i]], i))


def pytest_collection_modifyitems(config, items):
    """On xdist's workers: collect in :func:`suite_order`, which the ``--dist loadfile`` scheduler below keeps
    (a worker is not told the distribution mode; in the other modes the order only decides what starts first)."""
    if getattr(config, "workerinput", None) is not None:
        order = suite_order([item.nodeid for item in items])
        items[:] = [items[i] for i in order]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the notebooks as one work unit, in the workers' collection order
    (:func:`suite_order`); other modes as xdist has them."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class NotebooksAsOneUnit(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    config.option.loadscopereorder = False      # the workers already collect in suite_order
    return NotebooksAsOneUnit(config, log)


@pytest.fixture(scope="session")
def run_python():
    """``run_python(code, timeout=240) -> dict``: ``code`` (dedented) in a fresh interpreter that imports this
    checkout's neuromem; it must exit 0 and print one JSON line last, which is returned (Lava spawns processes,
    so Lava runs go through here)."""
    def run(code: str, timeout: float = 240) -> dict:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        r = subprocess.run([sys.executable, "-W", "ignore", "-c", textwrap.dedent(code)], capture_output=True,
                           text=True, env=env, cwd=str(REPO), timeout=timeout)
        assert r.returncode == 0, r.stderr[-4000:]
        return json.loads(r.stdout.strip().splitlines()[-1])
    return run


@pytest.fixture(scope="session")
def make_run_folder(tmp_path_factory):
    """``make_run_folder(model, seed, overrides=(), name="run", **options) -> Path``: a run folder written by
    :func:`neuromem.experiment.run_experiment` (no figures, no progress, no log) into a fresh temporary folder.

    ``model`` is a model file's path or a model's TOML text; ``options`` go to ``run_experiment``
    (e.g. ``backend_options={"target": "numpy"}``).
    """
    def make(model, seed: int, overrides=(), name: str = "run", **options) -> Path:
        from neuromem.experiment import run_experiment

        tmp = tmp_path_factory.mktemp(name)
        if isinstance(model, str) and "\n" in model:
            path = tmp / f"{name}.toml"
            path.write_text(model, encoding="utf-8")
            model = path
        _, _, folder = run_experiment(str(model), seed=seed, overrides=list(overrides), out_dir=tmp / "runs",
                                      figures=False, progress=False, log=None, **options)
        return Path(folder)
    return make


@pytest.fixture(scope="session")
def regular_spikes():
    """``regular_spikes(n, groups, rate=50.0) -> Spikes``: regular trains at ``rate`` for
    ``groups = [(neurons, t0, t1)]`` among ``n`` neurons, sorted by time."""
    from neuromem.records import Spikes

    def train(n, groups, rate=50.0):
        ii, tt = [np.zeros(0, np.int32)], [np.zeros(0)]
        for neurons, t0, t1 in groups:
            times = np.arange(t0, t1, 1.0 / rate)
            ii.append(np.repeat(np.asarray(neurons, np.int32), len(times)))
            tt.append(np.tile(times, len(neurons)))
        i, t = np.concatenate(ii), np.concatenate(tt)
        o = np.argsort(t, kind="stable")
        return Spikes(i=i[o], t=t[o], n=n)
    return train
