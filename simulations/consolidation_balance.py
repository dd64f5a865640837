"""Which memories a sleep consolidates, and what another cortical rule would have made of the same sleep.

Question
    At K = 50 sleep consolidates cortex to 0.75 against 0.89 for an oracle
    that shows cortex the patterns themselves (``docs/experiments.md``,
    "Capacity against theory").  Is that the rule — what it writes from a
    replay event — or the replay — what the events reinstate, and how
    evenly across memories?  In the model's sleep the cortical recurrence
    does not transmit (it is blocked), so the sleep's spikes do not depend
    on the cortical weights: the rule can be run again on the recorded
    spikes (:func:`neuromem.analysis.relearn`), with its own parameters (a
    check: it must give the recorded weights) or with others (``--set``),
    in seconds instead of a new simulation.  ``--cap-replays N`` re-learns
    from the same sleep without the spikes of all but N replay events of each
    memory: as if every memory had been replayed equally often.

Reading
    Every weight matrix is read the same way, by k-winners-take-all recall
    from 30 % cues (:func:`neuromem.analysis.binary_network.weights_recall`,
    the recall of the ideal binary network): the recorded matrix after
    sleep; before sleep (what encoding alone wrote); the same matrix with
    the weights outside every pattern set to 0 (is impurity the loss?); with
    each memory's within-pattern weights shifted to the common mean (is the
    *unevenness across memories* the loss?); and the oracle's binary
    matrix (w_max inside the patterns, 0 outside).  Per memory it reports
    the mean within-pattern weight (synapses inside one pattern only), its
    replay events, and the reinstatement per event: spikes per pattern cell
    in the memory's events, and spikes of its CA3 assembly.

Usage::

    python simulations/replay_purity.py --k 50 --sleep 6 --seed 1 ... --out /tmp/k50   # a run (see docs)
    python simulations/consolidation_balance.py /tmp/k50/runs/k50/seed1/cls-* --out /tmp/k50_balance
    python simulations/consolidation_balance.py RUN --set "rules.ctx_slow.c_pre=0.02 mV" \\
        --set "rules.ctx_slow.c_post=0.02 mV" --out /tmp/k50_c002
    python simulations/consolidation_balance.py RUN --cap-replays 17 --out /tmp/k50_even   # equal replay counts

Writes ``OUT/summary.json`` (every number printed) and ``OUT/balance.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from neuromem.analysis import detect_replay, find_assemblies, pearson, relearn
from neuromem.analysis.binary_network import weights_recall
from neuromem.io import read_run, write_json_atomic
from neuromem.spec.loader import loads_model
from neuromem.batch import script_main


def phase_times(model, run) -> dict:
    """Simulation time at which each phase starts (the end of its origin, ``Protocol.origin``)."""
    start, end = {}, {}
    for ph in model.protocol.phases:
        origin = model.protocol.origin(ph.name)
        start[ph.name] = end[origin] if origin else 0.0
        end[ph.name] = start[ph.name] + run.phase(ph.name).duration
    return start


def dense(i, j, w, n_pre, n_post):
    m = np.zeros((n_pre, n_post))
    m[i, j] = w
    return m


def drop_events(spikes, events, keep: int, seed: int, tail: float = 0.01):
    """The phase's spikes without those of all but ``keep`` events of each memory (chosen at random)."""
    from neuromem.records import Spikes
    rng = np.random.default_rng(seed)
    memory = np.array([e["memory"] for e in events], dtype=int)
    drop = []
    for k in np.unique(memory):
        idx = np.flatnonzero(memory == k)
        if len(idx) > keep:
            drop.extend(rng.choice(idx, len(idx) - keep, replace=False))
    out = {}
    for name, sp in spikes.items():
        t, cells = _sorted(sp)
        inside = np.zeros(len(t) + 1, int)           # +1 / -1 at each dropped window's [first, last) spike
        for e in (events[d] for d in drop):
            a, b = np.searchsorted(t, [e["t"], e["t_end"] + tail])
            inside[a] += 1
            inside[b] -= 1
        kept = np.cumsum(inside[:-1]) == 0
        out[name] = Spikes(i=cells[kept], t=t[kept], n=sp.n)
    return out, len(drop)


def analyse(folder, projection="ctx_ee", phase=None, overrides=(), cue=0.3, seed=1, cap_replays=None) -> dict:
    run = read_run(folder)
    recorded_model = loads_model(run.model_text, file=f"{folder}/model.toml")
    model = loads_model(run.model_text, file=f"{folder}/model.toml", overrides=overrides)
    if phase is None:
        phase = next(ph.name for ph in model.protocol.phases
                     if ph.kind == "sleep" and projection in ph.block and ph.plastic.get(projection, 0) > 0)
    if phase not in {ph.name for ph in model.protocol.phases}:
        raise SystemExit(f"error: no phase {phase!r} in {folder}")
    origin = model.protocol.origin(phase)
    proj = model.projections[projection]
    i, j = run.synapses()[projection]
    w0 = run.weights(origin)[projection]
    sleep, before = run.phase(phase), run.phase(origin)
    t0 = phase_times(model, run)[phase]
    kw = dict(history=(before.spikes, before.duration), t_start=t0)

    patterns = np.asarray(run.patterns()[0], dtype=bool)
    K = len(patterns)
    replay_pop = model.protocol.replay_population
    enc = next(ph.name for ph in model.protocol.phases if ph.kind == "encode")
    assemblies = find_assemblies(run.phase(enc), replay_pop, K)
    events = detect_replay(sleep.spikes[replay_pop], assemblies, duration=sleep.duration)
    spikes, dropped = (sleep.spikes, 0) if cap_replays is None else drop_events(sleep.spikes, events, cap_replays, seed)

    def learn(m, sp=sleep.spikes):
        return relearn(m, phase, projection, sp, (i, j), w0, sleep.duration, **kw)

    recorded = run.weights(phase)[projection]
    own = learn(recorded_model)
    w = own if not overrides and cap_replays is None else learn(model, spikes)
    n_pre, n_post = sleep.spikes[proj.source].n, sleep.spikes[proj.target].n
    inside_k = patterns[:, i] & patterns[:, j]               # (K, synapses)
    inside, count = inside_k.any(0), inside_k.sum(0)
    single = count == 1
    memory_of = np.argmax(inside_k, axis=0)
    per_w = np.array([w[single & (memory_of == k)].mean() for k in range(K)])
    even = w.copy()
    rule = model.rules[_timing(model, projection)]
    even[single] = np.clip(w[single] - per_w[memory_of[single]] + w[single].mean(), rule.w_min, rule.w_max)
    matrices = {"after sleep": w, "before sleep (encoding only)": w0, "outside weights set to 0": np.where(inside, w, 0.0),
                "memories' means equalised": even, "oracle (w_max inside, 0 outside)": np.where(inside, rule.w_max, 0.0)}
    readings = {name: weights_recall(dense(i, j, m, n_pre, n_post), patterns, cue, seed=seed)
                for name, m in matrices.items()}

    # per memory: replay events and what each reinstates (the recorded sleep)
    counts = np.bincount([e["memory"] for e in events], minlength=K)
    ctx, ca3 = _sorted(sleep.spikes[proj.target]), _sorted(sleep.spikes[replay_pop])
    per_cell, own_spikes = np.zeros(K), np.zeros(K)
    for e in events:
        k = e["memory"]
        c = ctx[1][slice(*np.searchsorted(ctx[0], [e["t"], e["t_end"] + 0.01]))]
        h = ca3[1][slice(*np.searchsorted(ca3[0], [e["t"], e["t_end"]]))]
        per_cell[k] += patterns[k][c].sum() / patterns[k].sum()
        own_spikes[k] += assemblies[k][h].sum()
    with np.errstate(invalid="ignore"):
        per_cell, own_spikes = per_cell / counts, own_spikes / counts
    ok = counts > 0
    return {
        "run": str(folder), "phase": phase, "projection": projection, "overrides": list(overrides),
        "cap_replays": cap_replays, "events_dropped": int(dropped),
        "relearn_check_max_abs_diff_mV": float(np.abs(own - recorded).max() * 1e3),
        "weights_mV": {"within": float(w[inside].mean() * 1e3), "outside": float(w[~inside].mean() * 1e3)},
        "kwta_recall": {name: {key: r[key] for key in ("overlap", "hit_rate", "false_alarm_rate")}
                        for name, r in readings.items()},
        "per_memory": {"within_weight_mV": (per_w * 1e3).tolist(), "replays": counts.tolist(),
                       "spikes_per_pattern_cell_per_event": per_cell.tolist(),
                       "ca3_own_spikes_per_event": own_spikes.tolist(),
                       "kwta_overlap": readings["after sleep"]["per_memory"]},
        "correlation_with_within_weight": {
            "replays": pearson(counts, per_w), "spikes_per_pattern_cell_per_event": pearson(per_cell[ok], per_w[ok]),
            "ca3_own_spikes_per_event": pearson(own_spikes[ok], per_w[ok])},
    }


def _sorted(sp):
    """(times, neurons) of a spike record in time order."""
    t = np.asarray(sp.t)
    order = np.argsort(t, kind="stable")
    return t[order], np.asarray(sp.i)[order]


def _timing(model, projection):
    from neuromem.spec import PairSTDP, TripletSTDP
    return next(r for r in model.projections[projection].plasticity
                if isinstance(model.rules[r], (PairSTDP, TripletSTDP)))


def figure(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pm = summary["per_memory"]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].scatter(pm["replays"], pm["within_weight_mV"], s=14)
    ax[0].set(xlabel="replay events of the memory", ylabel="mean within-pattern weight (mV)")
    ax[1].scatter(pm["spikes_per_pattern_cell_per_event"], pm["within_weight_mV"], s=14)
    ax[1].set(xlabel="spikes per pattern cell per event", ylabel="mean within-pattern weight (mV)")
    names = list(summary["kwta_recall"])
    ax[2].barh(range(len(names)), [summary["kwta_recall"][n]["overlap"] for n in names])
    ax[2].set_yticks(range(len(names)), names, fontsize=8)
    ax[2].set(xlabel="k-WTA recall overlap", xlim=(0, 1))
    fig.suptitle(f"{Path(summary['run']).name}: {summary['phase']}, {summary['projection']}"
                 + (f" ({'; '.join(summary['overrides'])})" if summary["overrides"] else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a run folder whose sleep phase blocks the projection while it learns")
    ap.add_argument("--projection", default="ctx_ee")
    ap.add_argument("--phase", default=None, help="the sleep phase (default: the first that blocks it and learns)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="re-learn with this model-file value changed (repeatable), e.g. 'rules.ctx_slow.c_pre=0.02 mV'")
    ap.add_argument("--cap-replays", type=int, default=None, metavar="N",
                    help="re-learn without the spikes of all but N random replay events of each memory "
                         "(as if every memory had been replayed at most N times)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the cues (and of --cap-replays' choice)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    summary = analyse(Path(args.run), args.projection, args.phase, tuple(args.set), seed=args.seed,
                      cap_replays=args.cap_replays)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "summary.json", summary)
    figure(summary, out / "balance.png")
    print(f"{summary['run']}: {summary['phase']}, {summary['projection']} "
          f"(re-learned with its own rule: max |diff| {summary['relearn_check_max_abs_diff_mV']:.2g} mV)")
    if summary["overrides"]:
        print("re-learned with: " + "; ".join(summary["overrides"]))
    if summary["cap_replays"] is not None:
        print(f"re-learned with at most {summary['cap_replays']} replay events per memory "
              f"({summary['events_dropped']} events' spikes dropped)")
    print(f"within / outside weights: {summary['weights_mV']['within']:.2f} / {summary['weights_mV']['outside']:.3f} mV")
    print(f"{'k-WTA recall of':34s} overlap   hit    FA")
    for name, r in summary["kwta_recall"].items():
        print(f"  {name:32s} {r['overlap']:.3f}  {r['hit_rate']:.3f}  {r['false_alarm_rate']:.3f}")
    print("correlation across memories with the mean within-pattern weight: " + ", ".join(
        f"{k} {v:+.2f}" for k, v in summary["correlation_with_within_weight"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(script_main(main))
