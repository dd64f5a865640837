"""Core speed benchmark: the default model's encoding and a slice of sleep.

Prints wall time per simulated second for the Brian2 runtime targets measured
in the same run (numpy as the baseline, Cython as the default), and the ratio.
No thresholds: figures to compare across commits and machines.

Usage: ``python benchmarks/bench_core.py [--sleep 5]``
"""

import argparse
import time
from pathlib import Path

from neuromem.backends.brian2 import Brian2Options, simulate
from neuromem.spec.loader import load_model

MODEL = Path(__file__).resolve().parents[1] / "models" / "cls.toml"


def measure(target, sleep_s):
    model = load_model(MODEL, overrides=["protocol.n_memories=5", f"protocol.phases.sleep.duration={sleep_s} s"])
    t0 = time.perf_counter()
    run = simulate(model, seed=0, options=Brian2Options(target=target, progress=False),
                   phases=["sleep"])
    total = time.perf_counter() - t0
    return {ph.name: (ph.duration, ph.wall_time) for ph in run.phases}, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sleep", type=float, default=5.0)
    args = ap.parse_args()
    res = {}
    for target in ("cython", "numpy"):
        phases, total = measure(target, args.sleep)
        res[target] = phases
        print(f"[{target}] total {total:.1f} s (incl. build/compile)")
        for name, (sim, wall) in phases.items():
            print(f"  {name:10s} {sim:5.1f} s simulated  {wall:6.1f} s wall  {wall / sim:5.2f} s/s")
    for name in res["cython"]:
        c, n = res["cython"][name][1], res["numpy"][name][1]
        print(f"ratio numpy/cython {name}: {n / c:.2f}x")


if __name__ == "__main__":
    main()
