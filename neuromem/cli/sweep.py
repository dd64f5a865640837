"""The ``sweep`` subcommand: a grid of overrides × seeds on Dask (:mod:`neuromem.sweep`)."""

from __future__ import annotations

import argparse
import sys

from neuromem.cli.arguments import add_model_arguments, load_from_args
from neuromem.cli import subcommand


@subcommand("sweep", help="run a model for every combination of grid values and seeds on Dask; write one table")
def _setup_sweep(p: argparse.ArgumentParser):
    add_model_arguments(p)
    p.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2,...",
                   help="an override path and the values to sweep, comma-separated (repeatable: every "
                        "combination runs), e.g. --grid protocol.n_memories=5,10,20 "
                        "--grid 'protocol.phases.sleep.duration=10 s,20 s'")
    p.add_argument("--seeds", default="0", metavar="SEEDS", help="seeds of every combination: 1-5, 0,3,7 or "
                                                                  "0-2,5 (default 0)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786) whose workers see --out and MODEL "
                        "(default: a local cluster, one single-threaded worker process per core)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="the sweep's folder: table, figure and runs/ (default sweeps/<model name>); rerun into "
                        "the same folder, finished points are reused")
    p.add_argument("--metric", default=None, metavar="NAME",
                   help="the table column drawn against the first grid key (default: the first recall "
                        "phase's mean overlap)")
    p.add_argument("--target", choices=("auto", "cython", "numpy"), default="auto",
                   help="Brian2 code generation target of every run (default auto)")

    def run(args) -> int:
        from pathlib import Path

        from tqdm import tqdm

        from neuromem.io import safe_name
        from neuromem.sweep import SweepError, run_sweep

        def log(line):
            tqdm.write(line, file=sys.stderr if line.startswith("error") else sys.stdout)

        out = args.out or str(Path("sweeps") / safe_name(load_from_args(args).name))
        try:
            rows = run_sweep(args.model, args.grid, args.seeds, out, scheduler=args.scheduler,
                             workers=args.workers, overrides=args.overrides,
                             backend_options={"target": args.target}, metric=args.metric, log=log)
        except SweepError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        status = [r["status"] for r in rows]
        print(f"{len(rows)} runs: {status.count('ran')} ran, {status.count('reused')} reused, "
              f"{status.count('error')} failed")
        return 1 if "error" in status else 0

    return run
