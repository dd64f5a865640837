"""Run one model for several seeds (or several variants), in parallel processes, resuming.

The experiment scripts in ``simulations/`` need the same model run for a few
seeds and variants.  :func:`run_points` runs each *point* (a label, a model and
a seed) in its own process — one per core by default, never more processes
than points — writes each into ``out_dir/<label>/seed<seed>/`` as an ordinary
run folder (:func:`neuromem.io.write_run`), and skips points whose folder
already holds a finished run of the very same model and seed, so an
interrupted experiment is rerun at the cost of the missing points only.

This is a local runner for a handful of points on one machine; sweeps of many
points, on one machine or many, are :mod:`neuromem.sweep` (Dask), which reuses
:func:`finished_run`.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

__all__ = ["Point", "run_points", "finished_run", "add_point_arguments", "add_set_argument", "number_list",
           "script_main"]


@dataclass(frozen=True)
class Point:
    """One simulation of an experiment.

    Attributes
    ----------
    label : str
        Names the variant (a folder name: letters, digits, ``-``, ``_``, ``.``).
    model : neuromem.spec.Model
    seed : int
    """

    label: str
    model: object
    seed: int


def finished_run(folder, model_text: str, seed: int):
    """The finished run folder under ``folder`` for this model text and seed, or ``None``.

    A run folder is finished when its ``results.json`` exists (it is written
    last); it matches when its ``model.toml`` is ``model_text`` and its seed is
    ``seed``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for sub in sorted(folder.iterdir()):
        res = sub / "results.json"
        if sub.name.startswith(".") or not res.is_file():
            continue
        try:
            results = json.loads(res.read_text(encoding="utf-8"))
            text = (sub / "model.toml").read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        if results.get("seed") == seed and text == model_text:
            return sub
    return None


def _run_one(point: Point, out_dir: str) -> dict:
    import time

    from neuromem.experiment import run_experiment

    start = time.perf_counter()
    _, metrics, folder = run_experiment(point.model, seed=point.seed, out_dir=out_dir, figures=False,
                                        progress=False, log=None)
    return {"label": point.label, "seed": point.seed, "folder": str(folder),
            "metrics": json.loads(json.dumps(metrics)), "reused": False,
            "wall_s": time.perf_counter() - start}


def run_points(points, out_dir, jobs: int | None = None, log=print) -> list[dict]:
    """Run every point (in parallel), reusing finished runs.

    Parameters
    ----------
    points : iterable of Point
    out_dir : str or Path
        Each point is written under ``out_dir/<label>/seed<seed>/``.
    jobs : int, optional
        Worker processes (default: the number of cores, at most the number
        of points to run).  ``1`` runs in this process.
    log : callable or None, optional
        Called with one line per finished or reused point.

    Returns
    -------
    list of dict
        In the order of ``points``: ``label``, ``seed``, ``folder`` (the run
        folder), ``metrics`` (as in ``results.json``), ``reused`` (found
        finished on disk) and ``wall_s``.
    """
    from neuromem.spec.loader import dumps_model

    say = log or (lambda line: None)
    points = list(points)
    results: list = [None] * len(points)
    todo = []
    for k, p in enumerate(points):
        where = Path(out_dir) / p.label / f"seed{p.seed}"
        done = finished_run(where, dumps_model(p.model), p.seed)
        if done is not None:
            res = json.loads((done / "results.json").read_text(encoding="utf-8"))
            results[k] = {"label": p.label, "seed": p.seed, "folder": str(done), "metrics": res["metrics"],
                          "reused": True, "wall_s": 0.0}
            say(f"{p.label} seed {p.seed}: reused {done}")
        else:
            todo.append((k, p, str(where)))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    if jobs == 1:
        for k, p, where in todo:
            results[k] = _run_one(p, where)
            say(f"{p.label} seed {p.seed}: {results[k]['wall_s']:.0f} s -> {results[k]['folder']}")
        return results
    # spawn: each worker starts a fresh interpreter (Brian2 state is not fork-safe)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run_one, p, where): (k, p) for k, p, where in todo}
        for fut in futures:
            k, p = futures[fut]
            results[k] = fut.result()
            say(f"{p.label} seed {p.seed}: {results[k]['wall_s']:.0f} s -> {results[k]['folder']}")
    return results


def add_set_argument(parser, note: str = "") -> None:
    """``--set KEY=VALUE`` (repeatable, to ``overrides``): changes to the model file, as ``neuromem run --set``.

    ``note`` is appended to the option's help (e.g. which model files a script applies it to).
    """
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model-file value (repeatable), e.g. 'rules.ctx_norm.total=700 mV'"
                        + (f"; {note}" if note else ""))


def add_point_arguments(parser, *, out: str, model, quick: str, seeds: str = "1") -> None:
    """The options every script built on :func:`run_points` shares.

    Adds ``--seed N`` (one seed, overriding ``--seeds``), ``--seeds`` (e.g. ``1,2,3`` or ``1-5``,
    :func:`neuromem.sweep.parse_seeds`), ``--quick``, ``--set KEY=VALUE`` (repeatable, to
    ``overrides``), ``--model``, ``--jobs`` and ``--out``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    out : str
        Default output folder.
    model : str or Path
        Default model file.
    quick : str
        What ``--quick`` reduces the run to, for its help text.
    seeds : str, optional
        Default ``--seeds``.
    """
    parser.add_argument("--seed", type=int, default=None, help="one seed (default: --seeds)")
    parser.add_argument("--seeds", default=seeds, help=f"seeds, e.g. 1,2,3 or 1-5 (default {seeds})")
    parser.add_argument("--quick", action="store_true", help=f"reduced size {quick}")
    add_set_argument(parser)
    parser.add_argument("--model", default=str(model), help=f"model file (default {model})")
    parser.add_argument("--jobs", type=int, default=None, help="parallel processes (default: cores)")
    parser.add_argument("--out", default=out, help=f"output folder (default {out})")


def number_list(kind=float, *, low: float = 0.0, low_inclusive: bool = False, high: float | None = None):
    """An argparse ``type``: a comma-separated list of numbers, each checked against a range.

    Parameters
    ----------
    kind : {float, int}
        How each value is read.
    low : float, optional
        Every value must be above ``low`` (or equal to it with ``low_inclusive``).
    low_inclusive : bool, optional
    high : float or None, optional
        Every value must be at most ``high``.

    Returns
    -------
    callable
        ``text -> tuple``; a value that is not a number of that kind, or out of range, raises
        :class:`argparse.ArgumentTypeError`, which argparse reports as a usage error (exit 2)
        naming the option and the text, before the script writes anything.

    Examples
    --------
    >>> number_list(float)("1.5,1.8")
    (1.5, 1.8)
    >>> number_list(float, low_inclusive=True, high=1)("0,0.5")
    (0.0, 0.5)
    """
    rng = f"{'>=' if low_inclusive else '>'} {low:g}" + (f" and <= {high:g}" if high is not None else "")

    def convert(text: str) -> tuple:
        try:
            values = tuple(kind(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: not a comma-separated list of {'integers' if kind is int else 'numbers'}") from None
        bad = [v for v in values if not ((v >= low if low_inclusive else v > low) and (high is None or v <= high))]
        if bad:
            raise argparse.ArgumentTypeError(f"{text!r}: every value must be {rng} (got {bad[0]:g})")
        return values

    return convert


def script_main(main, argv=None) -> int:
    """Run an experiment script's ``main(argv)`` as a command: a bad model file or ``--set`` (a
    :class:`~neuromem.spec.ModelError`), an unusable run folder or sweep is one ``error: ...`` line on
    stderr (naming the file and the key, as the ``neuromem`` command does) and exit status 2, not a
    traceback.

    Used as ``sys.exit(script_main(main))`` at the end of each script in ``simulations/``; tests call
    ``main`` itself.
    """
    import sys

    from neuromem.io import RunFolderError
    from neuromem.spec import ModelError
    from neuromem.sweep import SweepError

    try:
        return int(main(argv) or 0)
    except (ModelError, RunFolderError, SweepError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
