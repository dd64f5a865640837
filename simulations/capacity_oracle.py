"""What the cortex itself can store: consolidation by an oracle instead of replay.

Question
    ``capacity.py`` finds the small model's (``models/cls_small.toml``) cortex consolidating 10–15
    memories, far below the ideal binary network of the same cortex (K* = 65
    at C = 500, :mod:`neuromem.analysis.binary_network`).  Is the loss in
    sleep's reinstatement (replay impure or incomplete) or in the cortical
    store itself (its plasticity rule, budgets and recall dynamics)?  This
    diagnostic removes the hippocampus from the question: the cortex is
    trained on the K patterns themselves — the purest, most complete
    reinstatement there can be — and then recalls from 30 % cues alone.

Protocol
    ``train``: a copy of the model's ``encode`` phase that presents the K
    patterns ``repeats`` times each in shuffled order, with cortical E→E
    plasticity at the sleep's rate (η = 1) and, unless ``--no-istdp``, the
    cortical inhibitory plasticity on (as in sleep); the hippocampus is
    silenced and cortical recurrent transmission blocked, as in sleep.  Then
    one cortex-alone recall per recall-inhibition gain (``gain.ctx_ei`` of
    ``recall_lesioned_after_sleep``), each branched from the end of
    ``train``.  ``--budgets X,..`` multiply the cortical normalisation totals
    (``ctx_norm``, ``ctx_incap``); ``--set`` changes anything else.

Reading
    A point passes when some gain gives cortex-alone recall ≥ 0.8 with false
    alarms ≤ 0.05 (the capacity criterion of ``capacity.py``).  If the oracle
    fails at K, no replay can succeed there with the same cortex; if it
    passes where replay fails, sleep's reinstatement is what is missing.
    Measured figures: ``docs/experiments.md``, "Capacity against theory".

Usage::

    python simulations/capacity_oracle.py --ks 20,50 --budgets 1,3,10 --seeds 1 --out /tmp/oracle
    python simulations/capacity_oracle.py --ks 50 --budgets 10 --no-istdp --gains 3.6,4.2,4.8 \\
        --set "rules.ctx_slow.c_pre=0 mV" --set "rules.ctx_slow.c_post=0 mV" --out /tmp/oracle_w
    python simulations/capacity_oracle.py --quick --out /tmp/oracle_q
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from neuromem.analysis import best_recall
from neuromem.batch import Point, add_point_arguments, number_list, run_points, script_main
from neuromem.io import write_json_atomic
from neuromem.spec import compose
from neuromem.spec.loader import load_model
from neuromem.sweep import parse_seeds

MODEL = Path(__file__).resolve().parents[1] / "models" / "cls_small.toml"
FULL = {"ks": (20, 30, 50), "budgets": (1.0, 2.0, 3.0), "repeats": 8, "gains": (1.0, 1.4, 1.8, 2.4)}
QUICK = {"ks": (5,), "budgets": (1.0,), "repeats": 4, "gains": (1.0, 1.4)}


def recall_name(gain: float) -> str:
    """The name of the cortex-alone recall phase at recall-inhibition gain ``gain``."""
    return f"recall_g{gain:g}"


def build_model(k: int, budget: float = 1.0, repeats: int = 8, gains=(1.0, 1.4, 1.8, 2.4),
                istdp: bool = True, overrides=(), model_file=MODEL, order_seed: int = 0):
    """The oracle protocol for ``k`` memories (see the module docstring).

    Parameters
    ----------
    k : int
        Number of memories.
    budget : float
        Factor on the cortical normalisation totals (``rules.ctx_norm``, ``rules.ctx_incap``).
    repeats : int
        Presentations of each pattern in ``train`` (shuffled order, ``order_seed``).
    gains : sequence of float
        Recall-phase ``ctx_ei`` gains, one cortex-alone recall each, named by :func:`recall_name`.
    istdp : bool
        Cortical inhibitory plasticity (``ctx_ie``) on while training.
    overrides : iterable of str
        ``key.path=value`` overrides of the model file, applied before the budget.

    Returns
    -------
    neuromem.spec.Model
    """
    base = load_model(model_file, list(overrides))
    if budget != 1.0:
        rules = base.rules
        base = load_model(model_file, [*overrides,
                                       f"rules.ctx_norm.total={rules['ctx_norm'].total * budget * 1e3:.6g} mV",
                                       f"rules.ctx_incap.total={rules['ctx_incap'].total * budget * 1e3:.6g} mV"])
    P = base.protocol
    enc, rec = P.phase("encode"), P.phase("recall_lesioned_after_sleep")
    order = [int(m) for _ in range(repeats) for m in np.random.default_rng(order_seed).permutation(k)]
    plastic = {"ctx_ee": 1.0, "ctx_ie": 1.0} if istdp else {"ctx_ee": 1.0}
    train = compose.phase_copy(enc, "train", memories=order, start_from=None, kind="wake",
                               plastic=plastic, silence=rec.silence)
    recalls = [compose.phase_copy(rec, recall_name(g), memories=(), start_from="train",
                                  gain={**dict(rec.gain or {}), "ctx_ei": float(g)}) for g in gains]
    return compose.with_phases(base, (train, *recalls), n_memories=k)


def best_gain(recall: dict, gains) -> dict:
    """Of the recalls at ``gains`` (``recall`` = a run's ``metrics["recall"]``), the one with the highest
    overlap among those with false alarms ≤ 0.05 (else the one with the lowest false alarms)."""
    best = best_recall(recall, {g: recall_name(g) for g in gains})
    within = best.pop("within_limit")
    return {**best, "passes": within and best["overlap"] >= 0.8}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default=None, type=number_list(int), help="comma-separated memory counts")
    ap.add_argument("--budgets", default=None, type=number_list(float),
                    help="comma-separated factors on the cortical budgets")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--gains", default=None, type=number_list(float), help="comma-separated recall ctx_ei gains")
    ap.add_argument("--no-istdp", action="store_true", help="cortical inhibitory plasticity off while training")
    add_point_arguments(ap, out="results/capacity_oracle", model=MODEL, quick=str(QUICK))
    args = ap.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    for key in ("ks", "budgets", "gains"):
        if getattr(args, key):
            size[key] = getattr(args, key)
    if args.repeats:
        size["repeats"] = args.repeats
    seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    out = Path(args.out)
    grid = [(k, b, s) for k in size["ks"] for b in size["budgets"] for s in seeds]
    points = [Point(f"k{k}_budget{b:g}", build_model(k, b, size["repeats"], size["gains"], not args.no_istdp,
                                                    args.overrides, args.model), s) for k, b, s in grid]
    results = run_points(points, out / "runs", jobs=args.jobs)
    rows = []
    print("oracle consolidation: cortex-alone recall / false alarms at the best recall inhibition")
    for (k, b, s), r in zip(grid, results):
        best = best_gain(r["metrics"]["recall"], size["gains"])
        rows.append({"k": k, "budget": b, "seed": s, **best})
        print(f"  K {k:>3}  budget x{b:<4g} seed {s}: {best['overlap']:.3f} / {best['false_alarm']:.3f} "
              f"at ctx_ei x{best['gain']:g}  {'PASS' if best['passes'] else 'FAIL'}")
    summary = {"experiment": "capacity_oracle", "size": size, "quick": args.quick, "seeds": seeds,
               "istdp": not args.no_istdp, "model_file": str(args.model), "overrides": args.overrides,
               "rows": rows}
    write_json_atomic(out / "summary.json", summary)
    print(f"summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(script_main(main))
