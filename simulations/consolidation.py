"""Systems consolidation by sleep replay (default experiment).

Complementary-learning-systems network (cortex + CA3) in the spirit of
Tomé, Sadeh & Clopath (2022, Nat Commun 13:840): patterns are encoded with
fast hippocampal plasticity, replayed by CA3 during sleep up states, and
recalled from 30 % cues with the hippocampus intact or silenced.  A control
arm silences CA3 during sleep (no replay, no transfer).

Usage::

    python simulations/consolidation.py [--seed N] [--n-memories K] [--out DIR]

Writes a run folder (results.json, spikes, weights, figures) and prints the
recall overlaps.
"""

import argparse
from pathlib import Path

from neuromem.experiment import run_experiment, summary_lines

MODEL = Path(__file__).resolve().parents[1] / "models" / "cls.toml"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-memories", type=int, default=None)
    ap.add_argument("--out", default="runs")
    args = ap.parse_args()
    overrides = [f"protocol.n_memories={args.n_memories}"] if args.n_memories else []
    _, metrics, folder = run_experiment(MODEL, seed=args.seed, overrides=overrides, out_dir=args.out,
                                        log=print)
    for line in summary_lines(metrics):
        print(line)
    print(f"results: {folder}")


if __name__ == "__main__":
    main()
