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
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


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
