"""What a replay event reinstates in cortex, and whether a CA3 that replays one assembly at a time helps.

Question
    ``capacity.py`` finds cortex consolidating 10–15 memories and
    ``capacity_oracle.py`` a cortical store that holds 50 when shown the
    patterns themselves; between the two lies sleep's reinstatement.  During
    a replay event, which CA3 cells fire — the replayed memory's assembly
    alone, or others with it — and which cortical cells follow?  Does
    stronger CA3 feedback inhibition in sleep (a winner-take-all between
    assemblies) make the reinstatement purer, and does cortex then recall
    better?

Protocol (model: the small model ``models/cls_small.toml``, on which these diagnostics were measured; phases built with :mod:`neuromem.spec.compose`)
    ``encode`` (K memories), then one sleep per *variant*, each branched from
    the end of ``encode`` and differing only in the sleep's projection gains
    (``--variants``; the first, empty, is the model's own sleep), ``sleep``
    seconds per memory; after each sleep, one cortex-alone recall per
    recall-inhibition gain (``gain.ctx_ei`` of ``recall_lesioned_after_sleep``).
    From each sleep: replay events (:func:`neuromem.analysis.detect_replay`,
    assemblies from ``encode``) and their composition
    (:func:`neuromem.analysis.replay_composition`: CA3 spikes per event in the
    replayed assembly, in other assemblies, in none; cortical purity and
    coverage), and the mean cortical E→E weight between cells that share a
    pattern and between cells that do not; and the learned CA3 input (summed
    CA3 → cortex weight of the CA3 spikes in an event, mV) of the pattern's
    cortical cells and of the cortical cells that fire outside the pattern
    (medians over cells, then over events).

Reading
    Purity = the fraction of the cortical cells active in an event that belong
    to the replayed pattern; coverage = the fraction of the pattern active.
    Every non-member that fires with a pattern is a synapse the symmetric
    cortical rule potentiates outside the patterns.  Measured figures:
    ``docs/experiments.md``, "Capacity against theory".

Usage::

    python simulations/replay_purity.py --k 20 --seeds 1,2 --out results/replay_purity
    python simulations/replay_purity.py --quick --out /tmp/purity

Writes ``OUT/summary.json`` (one row per seed and variant) and prints a table.
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
DEFAULT_VARIANTS = ({}, {"hpc_ie": 0.7, "hpc_ei": 0.7}, {"hpc_ei": 1.0})
FULL = {"k": 20, "sleep": 2.0, "variants": DEFAULT_VARIANTS, "gains": (1.0, 1.4, 1.8)}
TAIL = 0.01      # seconds after a replay event's end still counted in cortex (delay and integration)
QUICK = {"k": 6, "sleep": 1.0, "variants": (DEFAULT_VARIANTS[0], DEFAULT_VARIANTS[2]), "gains": (1.0,)}


def parse_variants(text: str) -> tuple[dict, ...]:
    """``"; hpc_ei=1; hpc_ie=0.7,hpc_ei=0.7"`` → ``({}, {"hpc_ei": 1.0}, {...})`` (sleep gain overrides)."""
    out = []
    for part in text.split(";"):
        gains = {}
        for kv in filter(None, (x.strip() for x in part.split(","))):
            key, sep, value = kv.partition("=")
            if not sep:
                raise ValueError(f"--variants: {kv!r} is not PROJECTION=GAIN")
            gains[key.strip()] = float(value)
        out.append(gains)
    return tuple(out)


def sleep_name(v: int) -> str:
    """Name of the sleep of variant ``v``."""
    return f"sleep_v{v}"


def recall_name(v: int, gain: float) -> str:
    """Name of the cortex-alone recall after the sleep of variant ``v`` at recall inhibition ``gain``."""
    return f"recall_v{v}_g{gain:g}"


def build_model(k: int, sleep: float, variants, gains, overrides=(), model_file=MODEL):
    """The protocol of the module docstring for ``k`` memories.

    Parameters
    ----------
    k : int
    sleep : float
        Seconds of sleep per memory.
    variants : sequence of dict
        Gain overrides of the model's ``sleep`` phase, one branched sleep each.
    gains : sequence of float
        Recall ``ctx_ei`` gains after each sleep.
    overrides : iterable of str
        ``key.path=value`` overrides of the model file.

    Returns
    -------
    neuromem.spec.Model
    """
    base = load_model(model_file, list(overrides))
    P = base.protocol
    enc, slp, rec = P.phase("encode"), P.phase("sleep"), P.phase("recall_lesioned_after_sleep")
    phases = [compose.phase_copy(enc, "encode", memories=(), start_from=None)]
    for v, gv in enumerate(variants):
        phases.append(compose.phase_copy(slp, sleep_name(v), start_from="encode", duration=sleep * k,
                                         gain={**dict(slp.gain or {}), **gv}))
        phases += [compose.phase_copy(rec, recall_name(v, g), memories=(), start_from=sleep_name(v),
                                      gain={**dict(rec.gain or {}), "ctx_ei": float(g)}) for g in gains]
    return compose.with_phases(base, tuple(phases), n_memories=k)


def analyse(folder, k: int, variants) -> list[dict]:
    """One row per variant of a finished run: replay composition, CA3 input, cortical weights."""
    from neuromem.analysis import detect_replay, find_assemblies, replay_composition
    from neuromem.io.read import read_run

    run = read_run(folder)
    pats = np.asarray(run.patterns()[0], dtype=bool)
    asm = find_assemblies(run.phase("encode"), "hpc_e", k)
    pre, post = run.synapses()["ctx_ee"]
    together = (pats[:, pre] & pats[:, post]).any(0)
    pre_h, post_h = run.synapses()["hpc_ctx"]
    binding = np.zeros((asm.shape[1], pats.shape[1]))
    binding[pre_h, post_h] = run.weights("encode")["hpc_ctx"] * 1e3     # CA3 -> cortex, not plastic in sleep
    rows = []
    for v, gv in enumerate(variants):
        ph = run.phase(sleep_name(v))
        ca3, ctx = ph.spikes["hpc_e"], ph.spikes["ctx_e"]
        events = detect_replay(ca3, asm, duration=ph.duration)
        comp = replay_composition(events, ca3, asm, ctx, pats, tail=TAIL)
        drive_in, drive_out, inside = [], [], 0   # summed learned CA3 input per cortical cell over an event (mV)
        for e in events:
            d = ca3.counts(e["t"], e["t_end"]) @ binding
            counts = ctx.counts(e["t"], e["t_end"] + TAIL)
            inside += counts.sum()
            act, pat = counts > 0, pats[e["memory"]]
            drive_in.append(np.median(d[pat]))
            if (act & ~pat).any():
                drive_out.append(np.median(d[act & ~pat]))
        total = len(ctx.t)
        w = run.weights(sleep_name(v))["ctx_ee"] * 1e3
        rows.append({"variant": v, "sleep_gain": gv, **comp,
                     "ca3_input_pattern": float(np.median(drive_in)) if drive_in else None,
                     "ca3_input_active_outside": float(np.median(drive_out)) if drive_out else None,
                     "ctx_rate": float(total / (ctx.n * ph.duration)),
                     "ctx_spikes_in_events": float(inside / total) if total else None,
                     "w_within": float(w[together].mean()), "w_outside": float(w[~together].mean())})
    return rows


def recall_after(recall: dict, v: int, gains) -> dict:
    """Of the recalls after variant ``v`` (``recall`` = a run's ``metrics["recall"]``), the best within the
    capacity criterion's false-alarm limit (:func:`neuromem.analysis.best_recall`)."""
    return best_recall(recall, {g: recall_name(v, g) for g in gains})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=None, help="memories")
    ap.add_argument("--sleep", type=float, default=None, help="seconds of sleep per memory")
    ap.add_argument("--variants", default=None,
                    help='";"-separated sleep gain overrides, e.g. "; hpc_ei=1" (the empty one: the model\'s sleep)')
    ap.add_argument("--gains", default=None, type=number_list(float), help="comma-separated recall ctx_ei gains")
    add_point_arguments(ap, out="results/replay_purity", model=MODEL, quick=str(QUICK))
    args = ap.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    if args.k:
        size["k"] = args.k
    if args.sleep:
        size["sleep"] = args.sleep
    if args.variants is not None:
        size["variants"] = parse_variants(args.variants)
    if args.gains:
        size["gains"] = args.gains
    seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    out = Path(args.out)
    model = build_model(size["k"], size["sleep"], size["variants"], size["gains"], args.overrides, args.model)
    results = run_points([Point(f"k{size['k']}", model, s) for s in seeds], out / "runs", jobs=args.jobs)
    rows = []
    print("replay composition per sleep variant (means over events) and cortex-alone recall after it")
    print("  seed variant            events  CA3 own/other/none spikes  other cells  purity  coverage"
          "  w in/out (mV)  recall / FA (ctx_ei)")
    for s, r in zip(seeds, results):
        for row in analyse(r["folder"], size["k"], size["variants"]):
            row = {"seed": s, **row, "recall": recall_after(r["metrics"]["recall"], row["variant"], size["gains"])}
            rows.append(row)
            f = (lambda x: "-" if x is None else f"{x:.2f}")
            gv = ",".join(f"{k}={v:g}" for k, v in row["sleep_gain"].items()) or "model"
            rc = row["recall"]
            print(f"  {s:>4} {gv:<18} {row['events']:>6}  {f(row['own_spikes'])}/{f(row['other_spikes'])}/"
                  f"{f(row['unassigned_spikes'])}  {f(row['other_cells']):>10}  {f(row['purity']):>6}  "
                  f"{f(row['coverage']):>8}  {row['w_within']:.2f}/{row['w_outside']:.3f}  "
                  f"{rc['overlap']:.3f} / {rc['false_alarm']:.3f} (x{rc['gain']:g})")
    summary = {"experiment": "replay_purity", "size": {**size, "variants": list(size["variants"])},
               "quick": args.quick, "seeds": seeds, "model_file": str(args.model), "overrides": args.overrides,
               "rows": rows}
    write_json_atomic(out / "summary.json", summary)
    print(f"summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(script_main(main))
