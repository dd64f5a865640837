"""Capacity of the default model against theory: how many memories survive consolidation.

Question
    How many memories K can the default model store, recall with the
    hippocampus, and consolidate into cortex during sleep, and how does that
    capacity K* scale with the number of recurrent connections per cortical
    neuron?

Anchors (``../shared/reference/science-anchors.md``)
    * Hopfield: α_c = p/N ≈ 0.138 for dense ±1 patterns (K* ≈ 138 at N = 1000).
    * Tsodyks & Feigel'man 1988: sparse covariance rule, α_c ≈ 1/(2f|ln f|) per
      connection: 2.2 at f = 0.1, i.e. K* ≈ 2.2 × C for C connections per neuron.
    * Willshaw: P = ln 2 · N²/k² for binary synapses (N = 1000, k = 100: ≈ 69).
    * Roudi & Latham 2007: in balanced spiking networks capacity grows in
      proportion to the excitatory connections per neuron (slope 1 in log–log).
    * Published spiking consolidation models store about 4 memories in 4096
      excitatory neurons (α ≈ 1e-3).
    * Computed here for this cortex (:mod:`neuromem.analysis.binary_network`): the
      ideal binary network of the same size, coding level, connectivity and cue
      (clipped Hebbian weights, k-winners-take-all recall) — the ceiling of the
      architecture with binary synapses: K* = 15 / 35 / 65 at C = 125 / 250 / 500
      (seeds 1-3), slope 1.06.  Printed, plotted and stored as
      ``theory.binary_kwta``.

Protocol
    The default model's encode → recall (intact) → sleep → recall (cortex alone,
    and intact) chain, without its control arms, for K memories; sleep lasts
    ``sleep_per_memory`` × K seconds, by default the model file's own sleep
    per memory (its ``sleep`` phase's duration ÷ ``protocol.n_memories``:
    4 s in ``cls_small.toml``, 6 s in ``cls_k50.toml`` and the default ``cls.toml``; 2 s at ``--quick`` size;
    :func:`model_sleep_per_memory`); replay events per memory are reported to
    show whether sleep kept up, and what limits the cortex-alone recall: per
    point, the correlation of each memory's CA3 assembly size with its recall,
    and the recall of the quarter of memories with the smallest and with the
    largest assemblies (:func:`assembly_figures`; the default model at K = 45,
    seeds 0 and 4: 11 cells → 0.76 against 25 cells → 0.85, r 0.29;
    ``docs/experiments.md``).
    K is swept (5, 10, 20, 40, … until recall collapses) at several cortical
    recurrent connection probabilities p (connections per neuron C = p × 1000)
    on the same network size, several seeds.  K* at a connectivity = the
    largest K with cortex-alone recall ≥ 0.8 and false alarms ≤ 0.05 (and,
    separately, intact recall ≥ 0.9).  The log–log slope of K* against C is
    fitted.  Runs on Dask through :func:`neuromem.sweep.run_sweep` (both cores
    by default; ``--scheduler`` for a cluster) and reuses finished points.

Criteria (``docs/experiments.md``)
    K* ≥ 50 on the default-size network; log–log slope of K* against C in
    0.8–1.2.  At ``--quick`` size (two small K, two connectivities) the
    criterion is that every point keeps cortex-alone recall ≥ 0.8 with false
    alarms ≤ 0.05 (K* = the largest K tried).

Usage::

    # the default model's K* = 50 and slope: memory counts chosen per connectivity, C·w fixed, the
    # best of five recall inhibitions (docs/experiments.md, "One model for the three experiments";
    # ~30 min per seed on two cores)
    python simulations/capacity.py --fixed-field --gains 1.6,1.65,1.7,1.75,1.8 \
        --ks "0.125:15,20;0.25:30,35;0.5:50,55" --seeds 1-3 --out results/capacity
    python simulations/capacity.py --seeds 1 --out results/capacity_sweep   # K = 5 ... 80 at three p
    python simulations/capacity.py --quick --seed 1 --out /tmp/capacity     # the small model, ~1 min
    # the K* = 50 model, memory counts chosen per connectivity, C·w fixed, the best of four
    # recall inhibitions (docs/experiments.md, "The K* = 50 model as a file")
    python simulations/capacity.py --model models/cls_k50.toml --fixed-field --sleep-per-memory 6 \
        --gains 1.35,1.5,1.65,1.8 --seeds 1-3 --ks "0.125:10,15,20;0.25:30,35,40;0.5:40,50,55" \
        --out results/capacity_k50
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from neuromem.batch import add_set_argument, number_list, script_main
from neuromem.experiment import resolve_model
from neuromem.io import RunFolderError, read_run, write_json_atomic
from neuromem.analysis import assembly_size_effect, best_recall_row
from neuromem.analysis.criteria import criterion, spread, verdict_lines
from neuromem.analysis.binary_network import binary_network_capacity
from neuromem.spec import ModelError, compose
from neuromem.sweep import parse_seeds, run_sweep
from neuromem.spec.loader import load_model

MODEL = Path(__file__).resolve().parents[1] / "models" / "cls.toml"
#: the model at --quick size when --model is not given: the small model, for which the quick size was made
#: (the default model at it, seed 1, 6 s of sleep per memory: C = 250 recalls 0.69 / 0.64 at K = 3 / 6 without
#: --fixed-field, under 0.8; C = 500 0.95 / 0.95)
QUICK_MODEL = Path(__file__).resolve().parents[1] / "models" / "cls_small.toml"
P_KEY = "projections.ctx_ee.connector.p"

FULL = {"ks": (5, 10, 20, 40, 80), "ps": (0.125, 0.25, 0.5)}   # sleep per memory: the model file's own
QUICK = {"ks": (3, 6), "ps": (0.25, 0.5), "sleep_per_memory": 2.0}
TARGET_LESIONED, TARGET_FA, TARGET_INTACT = 0.8, 0.05, 0.9
# The cortical recurrent weights' scale: the initial weights' upper bound and, in every rule of the
# projection, the per-synapse quantities in volts (a pair rule's amplitudes, constant depressions and
# bound; a bistable rule's threshold and stable states).  --fixed-field scales them by p_default / p.
CTX_EE = "ctx_ee"
SCALED_WEIGHT = ("weight.high",)
SCALED_RULE_FIELDS = ("a_plus", "a_minus", "c_pre", "c_post", "w_max", "theta", "w_up", "w_down")
P_DEFAULT = 0.5
#: memory counts tried for the ideal binary network (walked upwards until recall fails)
IDEAL_KS = tuple(range(5, 401, 5))


def model_sleep_per_memory(model) -> float:
    """Seconds of sleep per memory in a model's own protocol: its ``sleep`` phase's duration divided
    by ``protocol.n_memories`` (``cls_small.toml``: 40 s / 10 = 4 s; ``cls_k50.toml``: 300 s / 50 = 6 s)."""
    return model.protocol.phase("sleep").duration / model.protocol.n_memories


def fixed_field_overrides(model, p: float, p_ref: float = P_DEFAULT) -> list[str]:
    """``--set`` overrides that keep a cortical cell's recurrent field C·w constant at connection
    probability ``p``.

    Theory's capacity ∝ C (Roudi & Latham 2007) compares networks whose threshold is in proportion
    to the field a pattern provides; with w fixed in mV that field grows with C.  Scaling every
    per-synapse quantity of the cortical recurrent projection by ``p_ref / p`` keeps it constant
    (the normalisation totals, sums over a cell's synapses, stay as they are).

    Returns
    -------
    list of str
        ``key=value`` overrides in mV, e.g. ``rules.ctx_slow.w_max=24 mV`` at p = 0.125 (the
        normalisation totals, sums over a cell's synapses, stay as they are).
    """
    scale = p_ref / p
    proj = model.projections[CTX_EE]
    scaled = [("projections", CTX_EE, SCALED_WEIGHT)]
    scaled += [("rules", r, tuple(f for f in SCALED_RULE_FIELDS if hasattr(model.rules[r], f)))
               for r in proj.plasticity]
    out = []
    for table, name, fields in scaled:
        obj = getattr(model, table)[name]
        for f in fields:
            value = obj
            for part in f.split("."):
                value = getattr(value, part)
            out.append(f"{table}.{name}.{f}={value * scale * 1e3:.6g} mV")
    return out


LESIONED = "recall_lesioned_after_sleep"


def lesioned_name(gain: float) -> str:
    """Name of the cortex-alone recall after sleep at recall inhibition ``gain`` (``--gains``)."""
    return f"{LESIONED}_g{gain:g}"


def build_model(model_file=MODEL, gains=None):
    """The model's main chain only: encode, intact recall, sleep, both recalls after sleep.

    With ``gains``, one cortex-alone recall after sleep per recall inhibition (``ctx_ei`` gain),
    each branched from the end of sleep (:func:`lesioned_name`), instead of the model's one.
    """
    base = load_model(model_file)
    P = base.protocol
    keep = ("encode", "recall_intact_after_encoding", "sleep", LESIONED, "recall_intact_after_sleep")
    phases = [P.phase(n) for n in keep]
    if gains:
        rec = P.phase(LESIONED)
        lesioned = [compose.phase_copy(rec, lesioned_name(g), start_from="sleep",
                                       gain={**dict(rec.gain or {}), "ctx_ei": float(g)}) for g in gains]
        phases = phases[:3] + lesioned + phases[4:]
    return compose.with_phases(base, phases)


def point_metrics(row: dict, gains=None) -> dict:
    """The figures of one sweep row (flattened metrics, see :func:`neuromem.sweep.flatten_metrics`).

    With ``gains``, the cortex-alone figures are those of the best recall inhibition: the highest
    recall among those with false alarms ≤ 0.05, else the fewest false alarms (as
    :func:`neuromem.analysis.best_recall_row`); ``gain`` (only then) says which.
    """
    def get(name):
        v = row.get(name)
        return None if v in (None, "") else float(v)

    lesioned, gain = LESIONED, None
    if gains:
        rows = [{"gain": g, "overlap": get(lesioned_name(g)),
                 "false_alarm": get(f"recall.{lesioned_name(g)}.mean_false_alarm_rate")} for g in gains]
        rows = [r for r in rows if r["overlap"] is not None and r["false_alarm"] is not None]
        if rows:
            gain = best_recall_row(rows, TARGET_FA)["gain"]
            lesioned = lesioned_name(gain)
    out = {
        "intact": get("recall_intact_after_encoding"),
        "lesioned": get(lesioned),
        "intact_after_sleep": get("recall_intact_after_sleep"),
        "hit": get(f"recall.{lesioned}.mean_hit_rate"),
        "false_alarm": get(f"recall.{lesioned}.mean_false_alarm_rate"),
        "winner": get(f"recall.{lesioned}.correct_winner_fraction"),
        "replays": get("replay.sleep.total"),
    }
    if gains:
        out["gain"] = gain
    return out


def assembly_figures(folder, gain=None) -> dict:
    """What limits one run's cortex-alone recall: its memories' CA3 assembly sizes.

    Reads the run folder's ``results.json`` and applies
    :func:`neuromem.analysis.assembly_size_effect` to the cortex-alone recall
    after sleep (at recall inhibition ``gain`` when the sweep branches several,
    as :func:`point_metrics` chose).

    Returns
    -------
    dict
        ``size_recall_r`` (Pearson r of assembly size and recall over the
        memories), ``small_assembly_cells`` / ``small_assembly_recall`` (means
        over the quarter of memories with the smallest assemblies) and
        ``large_assembly_cells`` / ``large_assembly_recall`` (the largest
        quarter); all ``None`` when the folder or its figures are missing.
    """
    keys = ("size_recall_r", "small_assembly_cells", "small_assembly_recall",
            "large_assembly_cells", "large_assembly_recall")
    try:
        metrics = read_run(folder)["metrics"] if folder else None
    except RunFolderError:
        metrics = None
    eff = assembly_size_effect(metrics, LESIONED if gain is None else lesioned_name(gain)) if metrics else None
    if eff is None:
        return dict.fromkeys(keys)
    s, la = eff["smallest_quarter"], eff["largest_quarter"]
    return dict(zip(keys, (eff["r"], s["cells"], s["recall"], la["cells"], la["recall"])))


def recall_cue_fraction(model) -> float:
    """The cue fraction of the (first) cortex-alone recall after sleep (its ``patterns`` stimulus)."""
    phase = next(ph for ph in model.protocol.phases if ph.name.startswith(LESIONED))
    return next(s.fraction for s in phase.stimuli if s.kind == "patterns")


def ideal_capacity(model, ps, seeds) -> dict:
    """K* of the ideal binary network of the cortex's size, coding level and cue at each p.

    :func:`neuromem.analysis.binary_network.binary_network_capacity`: clipped Hebbian weights on
    the same random connectivity, recall by k-winners-take-all — the ceiling of this architecture
    with binary synapses, against which the spiking model's K* is read.
    """
    n = model.populations[model.protocol.pattern_population].size
    f, cue = model.protocol.coding_level, recall_cue_fraction(model)
    got = {str(p): binary_network_capacity(n, f, p, IDEAL_KS, seeds=tuple(seeds), cue_fraction=cue) for p in ps}
    kstars = {p: got[p]["k_star"] for p in got}
    return {"n": n, "coding_level": f, "cue_fraction": cue, "seeds": list(seeds), "k_star": kstars,
            "slope": fit_slope([float(p) * n for p in got], list(kstars.values())),
            "table": {p: got[p]["table"] for p in got}}


def parse_ks(text: str):
    """``"5,10"`` → ``(5, 10)`` (every connectivity); ``"0.125:15,20;0.5:50"`` → ``{0.125: (15, 20),
    0.5: (50,)}`` (memory counts per connection probability)."""
    def counts(ks):
        out = tuple(int(x) for x in ks.split(","))
        if not all(k > 0 for k in out):
            raise ValueError(f"memory counts must be > 0, got {ks!r}")
        return out

    if ":" not in text:
        return counts(text)
    out = {}
    for part in filter(None, (x.strip() for x in text.split(";"))):
        p, _, ks = part.partition(":")
        if not ks:
            raise ValueError(f"--ks: {part!r} is not P:K,K")
        out[float(p)] = counts(ks)
        if not 0 < float(p) <= 1:
            raise ValueError(f"--ks: connection probability {p} is not in (0, 1]")
    return out


def _arg(parse):
    """``parse`` as an argparse type: its ValueError becomes argparse's usage error (exit 2), naming the value."""
    def convert(text):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return convert


def ks_text(grid) -> str:
    """The memory counts of a grid, one list if every connectivity shares it."""
    lists = {tuple(ks) for ks in grid.values()}
    if len(lists) == 1:
        return ",".join(map(str, next(iter(lists))))
    return "; ".join(f"{','.join(map(str, ks))} at p = {p:g}" for p, ks in sorted(grid.items()))


def k_star(ks, values, ok) -> int | None:
    """The largest K at which ``ok(values[K])`` holds (the last K before the first failure is not
    required: capacity is the largest K that works).  ``None`` when none does."""
    good = [k for k in ks if k in values and ok(values[k])]
    return max(good) if good else None


def fit_slope(cs, kstars) -> float | None:
    """Least-squares slope of log K* against log C (points with a K* only)."""
    pts = [(math.log(c), math.log(k)) for c, k in zip(cs, kstars) if k]
    if len(pts) < 2:
        return None
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None, help="one seed (default: --seeds)")
    ap.add_argument("--seeds", default="1", help="seeds, e.g. 1,2,3 or 1-3 (default 1)")
    ap.add_argument("--out", default="results/capacity", help="output folder")
    ap.add_argument("--quick", action="store_true", help=f"reduced size {QUICK} instead of {FULL}")
    ap.add_argument("--ks", default=None, type=_arg(parse_ks),
                    help='comma-separated memory counts, or per connectivity "P:K,K;P:K,K" '
                         '(e.g. "0.125:15,20;0.5:50,60")')
    ap.add_argument("--ps", default=None, type=number_list(float, high=1), help="comma-separated cortical E->E connection probabilities")
    ap.add_argument("--sleep-per-memory", type=float, default=None,
                    help="seconds of sleep per memory (default: the model file's own, its sleep phase's duration "
                         "/ protocol.n_memories; 2 with --quick)")
    ap.add_argument("--jobs", type=int, default=None, help="Dask worker processes (default: cores)")
    ap.add_argument("--scheduler", default=None, help="address of a Dask scheduler (default: local cluster)")
    add_set_argument(ap)
    ap.add_argument("--model", default=None, help="model file (default models/cls.toml; with --quick "
                    "models/cls_small.toml)")
    ap.add_argument("--gains", default=None, type=number_list(float),
                    help="comma-separated recall inhibitions (ctx_ei gains) of the cortex-alone recall after "
                         "sleep, the best within false alarms <= 0.05 counts (default: the model's one recall)")
    ap.add_argument("--fixed-field", action="store_true",
                    help="keep C·w constant across connectivities (scale the cortical recurrent weights by 0.5/p)")
    args = ap.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    if args.ps:
        size["ps"] = args.ps
    if args.ks:
        size["ks"] = args.ks
        if isinstance(size["ks"], dict):
            size["ps"] = tuple(sorted(size["ks"]))
    grid = (dict(size["ks"]) if isinstance(size["ks"], dict)
            else {p: tuple(size["ks"]) for p in size["ps"]})
    if args.sleep_per_memory is not None:
        size["sleep_per_memory"] = args.sleep_per_memory
    seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    out = Path(args.out)
    model_file = Path(args.model) if args.model else (QUICK_MODEL if args.quick else MODEL)
    gains = args.gains
    model = build_model(model_file, gains)
    own = model
    if args.overrides:   # fail early, naming the file and the key, rather than in every sweep point
        load_model(model_file, overrides=args.overrides)
        try:             # and on the chain the sweep runs: a phase outside it (e.g. sleep_blocked) is refused
            own = resolve_model(model, args.overrides)[0]
        except ModelError as e:
            raise ModelError(f"{e.message} (capacity.py runs the model's main chain only)",
                             key=e.key, file=str(model_file)) from None
    size.setdefault("sleep_per_memory", model_sleep_per_memory(own))
    n_ctx = model.populations["ctx_e"].size
    rows, per = [], {}
    for k in sorted({k for ks in grid.values() for k in ks}):
        ps_k = [p for p in size["ps"] if k in grid[p]]
        overrides = [f"protocol.n_memories={k}",
                     f"protocol.phases.sleep.duration={size['sleep_per_memory'] * k:g} s"] + args.overrides
        if args.fixed_field:     # one sweep per p: its weight scale depends on p
            got = [row for p in ps_k
                   for row in run_sweep(model, {P_KEY: [p]}, seeds, out / f"K{k}" / f"p{p:g}",
                                        overrides=overrides + fixed_field_overrides(model, p),
                                        workers=args.jobs, scheduler=args.scheduler, figure=False,
                                        progress=False, log=None)]
        else:
            got = run_sweep(model, {P_KEY: ps_k}, seeds, out / f"K{k}", overrides=overrides,
                            workers=args.jobs, scheduler=args.scheduler, figure=False, progress=False, log=None)
        for row in got:
            row["K"] = k
            if row.get("status") != "error":
                pm = point_metrics(row, gains)
                pm.update(assembly_figures(row.get("folder"), pm.get("gain")))
                per.setdefault(float(row[P_KEY]), {}).setdefault(k, []).append(pm)
        rows += got
        print(f"K = {k}: {len(got)} points ({sum(r.get('status') == 'error' for r in got)} failed)", flush=True)
    table = {p: {k: {name: spread([m[name] for m in ms]) for name in ms[0]} for k, ms in by_k.items()}
             for p, by_k in per.items()}
    kstar, kstar_intact = {}, {}
    for p, by_k in table.items():
        kstar[p] = k_star(grid[p], by_k, lambda v: v["lesioned"]["mean"] is not None
                          and v["lesioned"]["mean"] >= TARGET_LESIONED and v["false_alarm"]["mean"] <= TARGET_FA)
        kstar_intact[p] = k_star(grid[p], by_k, lambda v: v["intact"]["mean"] is not None
                                 and v["intact"]["mean"] >= TARGET_INTACT)
    ps = sorted(table)
    cs = [p * n_ctx for p in ps]
    slope = fit_slope(cs, [kstar[p] for p in ps])
    n = len(seeds)
    note = f"mean over {n} seed{'s' if n != 1 else ''}"
    default_p = P_DEFAULT
    if args.quick:
        crit = [criterion(f"K* (cortex alone) at p = {p:g} is the largest K tried", kstar[p], ">=",
                          max(grid[p]), note) for p in ps]
    else:
        crit = [criterion("K* (cortex alone >= 0.8, FA <= 0.05) at the default connectivity",
                          kstar.get(default_p), ">=", 50, note),
                criterion("log-log slope of K* against C: distance from 1 (slope in 0.8-1.2)",
                          None if slope is None else abs(slope - 1.0), "<=", 0.2,
                          note + ("" if slope is None else f"; slope {slope:.2f}"))]
    f = model.protocol.coding_level
    theory = {"tsodyks_feigelman_per_connection": 1 / (2 * f * abs(math.log(f))),
              "hopfield_alpha": 0.138, "willshaw_P": math.log(2) * n_ctx ** 2 / (f * n_ctx) ** 2,
              "binary_kwta": ideal_capacity(model, ps, seeds[:1] if args.quick else (1, 2, 3))}
    size["ks"] = {str(p): list(ks) for p, ks in grid.items()}
    summary = {"experiment": "capacity", "size": size, "quick": args.quick, "seeds": seeds,
               "model_file": str(model_file), "recall_gains": gains, "overrides": args.overrides, "fixed_field": args.fixed_field,
               "connections_per_neuron": dict(zip(map(str, ps), cs)),
               "table": table, "k_star": kstar, "k_star_intact": kstar_intact, "slope": slope,
               "theory": theory, "criteria": crit, "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "summary.json", summary)
    plot(table, kstar, kstar_intact, cs, ps, theory, out / "capacity.png",
         f"capacity: K = {ks_text(grid)}, {size['sleep_per_memory']:g} s sleep per memory, "
         f"seeds {','.join(map(str, seeds))} (n = {n})")
    print("p      C     K*(cortex)  K*(intact)   per K: cortex-alone / FA / intact / replays")
    for p, c in zip(ps, cs):
        cells = "  ".join(f"K{k}: {v['lesioned']['mean']:.2f}/{v['false_alarm']['mean']:.3f}/"
                          f"{v['intact']['mean']:.2f}/{v['replays']['mean']:.0f}"
                          for k, v in sorted(table[p].items()))
        print(f"{p:<6g} {c:<5g} {str(kstar[p]):>10}  {str(kstar_intact[p]):>10}   {cells}")
    print("what limits cortex-alone recall: r(CA3 assembly size, recall) over the memories; "
          "smallest quarter's cells -> recall, largest quarter's")

    def fig(v, name, fmt):
        return "n/a" if v[name]["mean"] is None else format(v[name]["mean"], fmt)
    for p in ps:
        print(f"{p:<6g} " + "  ".join(
            f"K{k}: r {fig(v, 'size_recall_r', '.2f')}; {fig(v, 'small_assembly_cells', '.0f')} -> "
            f"{fig(v, 'small_assembly_recall', '.2f')}, {fig(v, 'large_assembly_cells', '.0f')} -> "
            f"{fig(v, 'large_assembly_recall', '.2f')}" for k, v in sorted(table[p].items())))
    print(f"log-log slope of K* against C: {slope if slope is None else round(slope, 3)}")
    ideal = theory["binary_kwta"]
    print("ideal binary network (same N, C, f, cue; clipped Hebbian weights, k-winners-take-all): K* "
          + ", ".join(f"{ideal['k_star'][str(p)]} at C = {c:g}" for p, c in zip(ps, cs))
          + f"; slope {ideal['slope'] if ideal['slope'] is None else round(ideal['slope'], 3)}")
    for line in verdict_lines(crit):
        print(line)
    print(f"summary: {out / 'summary.json'}")
    return 0


def plot(table, kstar, kstar_intact, cs, ps, theory, path, title):
    """Recall against K per connectivity, and K* against connections per neuron with theory lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for j, p in enumerate(ps):
        ks = sorted(table[p])
        for key, ls, what in (("lesioned", "-", "cortex alone after sleep"), ("intact", ":", "intact")):
            ax.errorbar(ks, [table[p][k][key]["mean"] for k in ks], yerr=[table[p][k][key]["sd"] for k in ks],
                        color=f"C{j}", ls=ls, marker="o", ms=4, capsize=3, label=f"C = {p * 1000:g}, {what}")
        ax.plot(ks, [table[p][k]["false_alarm"]["mean"] for k in ks], color=f"C{j}", ls="--", lw=0.8)
    ax.axhline(TARGET_LESIONED, color="grey", ls="--", lw=0.8)
    ax.axhline(TARGET_FA, color="grey", ls=":", lw=0.8)
    ax.set_xscale("log")
    all_k = sorted({k for p in ps for k in table[p]})
    ax.set_xticks(all_k)
    ax.set_xticklabels([str(k) for k in all_k])
    ax.minorticks_off()
    ax.set_xlabel("memories stored K")
    ax.set_ylabel("recall overlap (dashed thin: false-alarm rate)")
    ax.set_ylim(-0.05, 1.05)
    fig.suptitle(title, fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.15), ncol=2, fontsize=7, frameon=False)
    cgrid = np.geomspace(min(cs) / 2, max(cs) * 2, 20)
    ax2.plot(cgrid, theory["tsodyks_feigelman_per_connection"] * cgrid, "k--", lw=0.8,
             label=f"Tsodyks–Feigel'man 1/(2f|ln f|)·C (f = {theory['binary_kwta']['coding_level']:g})")
    ax2.axhline(theory["hopfield_alpha"] * 1000, color="grey", ls=":", lw=0.8, label="Hopfield 0.138 N")
    ax2.axhline(theory["willshaw_P"], color="grey", ls="-.", lw=0.8, label="Willshaw ln2·N²/k²")
    ax2.axhline(4 * 1000 / 4096, color="C3", ls=":", lw=0.8, label="spiking models ~4 per 4096 E")
    ideal = theory["binary_kwta"]
    ax2.plot(cs, [ideal["k_star"][str(p)] or np.nan for p in ps], "^--", color="C2",
             label="ideal binary network, same N, C, f, cue (k-WTA)")
    ax2.plot(cs, [kstar[p] if kstar[p] else np.nan for p in ps], "o-", color="C0", label="K* cortex alone")
    ax2.plot(cs, [kstar_intact[p] if kstar_intact[p] else np.nan for p in ps], "s:", color="C1",
             label="K* intact (≥ 0.9)")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("recurrent connections per cortical neuron C")
    ax2.set_ylabel("capacity K*")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(script_main(main))
