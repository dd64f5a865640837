"""Sleep protects old memories against interference from new, overlapping learning.

Question
    A set of memories A is consolidated in cortex.  A new set B, whose patterns
    share part of their neurons with A's, is then trained in cortex while awake
    and damages A.  Does sleep after B (hippocampal replay) undo the damage
    better than awake rest or than interleaving A with B?

Anchors
    * González, Mofakham, Mikkelsen, Fernandez-Ruiz & Bazhenov 2020, eLife
      9:e51005 — in a thalamocortical model, training a new sequence that uses
      the old one's neurons and synapses degrades the old one; subsequent N3
      sleep "reverses the damage" and enhances both, and interleaved training
      recalls worse than sleep (abstract).  Their before/after numbers were not
      checked in the text and are not quoted.
    * Golden, Delanois, Sanda & Bazhenov 2022, PLoS Comput Biol 18:e1010628 —
      training task 2 after task 1 forgets task 1; interleaving new training
      with sleep keeps both, by moving the weights to the intersection of the
      two tasks' solution manifolds (abstract).

Protocol (default model ``models/cls.toml``; at ``--quick`` size the small model
``models/cls_small.toml``, for which the quick size was made; phases built with
:mod:`neuromem.spec.compose`)
    ``K`` memories A (0 .. K−1) and ``K`` memories B (K .. 2K−1); B's pattern j
    shares a fraction ``overlap`` of its neurons with A's pattern j
    (``protocol.overlaps``).

    1. ``encode_A`` (hippocampus learns A), ``sleep_A`` (replay consolidates A
       in cortex).  Test *before B* (from ``sleep_A``).
    2. B is learned, in one of two ways (two runs, ``--learn-b``):

       * *through the hippocampus* (``main``): ``encode_B`` (the hippocampus
         learns B), then ``train_B``;
       * *by cortex alone* (``cortex_B``): ``train_B`` straight after
         ``sleep_A``; the hippocampus never sees B and still holds A only —
         the setting of González et al., whose new sequence is trained
         directly into cortex.

       * *through a hippocampus with a dentate gyrus* (``main_dg``): as the
         first, on ``models/cls_dg.toml`` (:data:`MODEL_DG`), whose sparse
         DG expansion between cortex and CA3 chooses B_j's CA3 cells while
         encoding, so that they are not A_j's.

       ``train_B``: B presented ``repeats`` times to cortex while awake,
       cortical plasticity on at ``train_rate``, the hippocampus silenced.
       Test *after B*.
    3. Conditions from the state after ``train_B``, each ``sleep`` seconds:
       (i) ``wake``: awake rest, the hippocampus silenced (no replay),
       cortical plasticity on; (ii) ``sleep``: the model's own sleep,
       hippocampal replay of whatever the hippocampus holds.
       (iii) ``interleaved``: from where B is first learned (end of
       ``encode_B``, or of ``sleep_A``), A and B presented alternately to
       cortex for the same training time as ``train_B`` (so B half as often).
       (iv) ``B_alone``: a third run with no A, B encoded and trained alone.
    Each test cues every memory (30 %) with the hippocampus intact and
    silenced; the cortex-alone recall is the figure of merit.
    Forgetting reduction = (A_sleep − A_wake) / (A_before − A_wake).

Criteria (``docs/experiments.md``), for each way of learning B
    At 50 % overlap: training B without sleep costs A ≥ 0.2 of its
    cortex-alone recall (A_before − A_wake); forgetting reduction ≥ 0.5; after
    sleep B's cortex-alone recall ≥ 0.8; sleep ≥ interleaved on A + B.

Dynamics (:func:`dynamics`, in ``summary.json``)
    When B goes through the hippocampus, the CA3 assembly of B_j reuses most
    of A_j's (the cells that already answer the shared half win; this CA3 has
    no dentate gyrus to separate patterns), so sleep replays A_j and B_j
    together and writes A∪B into cortex: the weights between A's and B's own
    cells grow from ~0 to ~3 mV.  When cortex alone learns B, replay
    reinstates A alone and restores the A-only↔shared weights that B's
    training took.  With the dentate gyrus (``models/cls_dg.toml``), B_j's
    CA3 assembly reuses few of A_j's cells (:func:`ca3_separation`), so the
    CA3 cells that reinstate A in sleep are not those that reinstate B; its
    bistable cortical synapses keep what ``train_B`` captured for B through
    the sleep that repairs A.

Usage::

    # the default model's two arms and the dentate variant, 0 / 25 / 50 % overlap, 30 s after B
    python simulations/interference.py --seeds 1,2,3 --out results/interference
    # the default model's hippocampal arm at 50 %: 4 of 4 on the means of seeds 1-6, sleep tying interleaving
    python simulations/interference.py --seeds 1-6 --overlaps 0.5 --learn-b hippocampus --out results/if_hpc
    python simulations/interference.py --quick --seed 1 --out /tmp/interference     # the small models, ~4 min
    python simulations/interference.py --quick --seeds 1,2,3 --learn-b dentate --out /tmp/if_dg
    # the dentate arm at full size, 30 s of wake and sleep: 4 of 4 on the means of six seeds, sleep
    # tying interleaved training (docs/experiments.md)
    python simulations/interference.py --seeds 1-6 --overlaps 0.5 --learn-b dentate --sleep 30 --out results/if_dg30

Writes ``OUT/summary.json`` (every plotted number per way of learning B,
overlap, seed and condition, the dynamics, and the criteria), ``OUT/interference.png`` and run folders under
``OUT/runs/``; prints the verdict table.  Rerunning reuses finished runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from neuromem.analysis.criteria import criterion, spread, verdict_lines
from neuromem.io import write_json_atomic
from neuromem.batch import Point, add_set_argument, number_list, run_points, script_main
from neuromem.sweep import parse_seeds
from neuromem.spec import PatternOverlap, compose
from neuromem.spec.loader import load_model

MODEL = Path(__file__).resolve().parents[1] / "models" / "cls.toml"
#: the model of the hippocampus and cortex arms at --quick size (when --model is not given)
QUICK_MODEL = Path(__file__).resolve().parents[1] / "models" / "cls_small.toml"
# the small model with a dentate-gyrus-like pattern separator before CA3 (models/README.md, "models/cls_dg.toml")
MODEL_DG = Path(__file__).resolve().parents[1] / "models" / "cls_dg.toml"
CONDITIONS = ("before_B", "after_B", "wake", "sleep", "interleaved", "B_alone")
# How B is learned: "hippocampus" = encoded in the hippocampus, then trained into cortex awake (the
# hippocampus then holds A and B and replays both); "cortex" = trained into cortex awake only (the
# hippocampus holds A alone, so sleep replays the old memories).  Criteria are reported for both.
# "dentate": as "hippocampus", on models/cls_dg.toml, whose dentate gyrus gives B_j its own CA3 cells.
LEARN_B = ("hippocampus", "cortex", "dentate")

# Full size: 30 s of wake, sleep or interleaved training after B, the length at which the default model's
# hippocampal arm and models/cls_dg.toml's dentate arm were measured (docs/experiments.md; the small
# model's full-size figures there were measured with --model models/cls_small.toml --sleep 10).
FULL = {"k": 5, "overlaps": (0.0, 0.25, 0.5), "sleep_a": 10.0, "sleep": 30.0, "repeats": 4, "train_rate": 0.2}
QUICK = {"k": 3, "overlaps": (0.5,), "sleep_a": 10.0, "sleep": 10.0, "repeats": 4, "train_rate": 0.2}


def _tests(rec_int, rec_les, prefix: str, start: str) -> tuple:
    return (compose.phase_copy(rec_int, f"{prefix}_intact", memories=(), start_from=start),
            compose.phase_copy(rec_les, f"{prefix}_lesioned", memories=(), start_from=start))


def build_models(k: int, overlap: float, sleep_a: float, sleep: float, repeats: int, train_rate: float,
                 model_file=MODEL, learn_b=("hippocampus", "cortex"), overrides=()) -> dict:
    """The interference protocol, for each way of learning B, and its B-alone reference, for one overlap.

    Parameters
    ----------
    k : int
        Memories per set.
    overlap : float
        Fraction of each B pattern's neurons taken from its A partner.
    sleep_a, sleep : float
        Seconds of the sleep that consolidates A, and of the wake or sleep after B.
    repeats : int
        Presentations of each B pattern in the awake cortical training.
    train_rate : float
        Cortical E->E learning rate of the awake training (relative to sleep's).
    model_file : path, optional
        The model file (default ``models/cls.toml``, the default model).  Its
        ``recall_lesioned_after_sleep`` phase's ``silence`` is the lesion of the
        cortex-alone tests and of the awake cortical training.
    learn_b : iterable of {"hippocampus", "cortex"}, optional
        ``"hippocampus"``: B is encoded in the hippocampus (``encode_B``) and then trained into
        cortex; ``"cortex"``: B is trained into cortex only, so the hippocampus holds A alone.
        (The ``"dentate"`` arm of :func:`main` is ``"hippocampus"`` on :data:`MODEL_DG`.)
    overrides : iterable of str, optional
        ``key.path=value`` overrides of the model file (as ``neuromem run --set``).

    Returns
    -------
    dict
        ``{"main": Model, "cortex_B": Model, "B_alone": Model}`` (``main``: B learned through the
        hippocampus, ``cortex_B``: by cortex alone; only the arms in ``learn_b``).  Test phases are
        named ``<condition>_intact`` and ``<condition>_lesioned``.
    """
    base = load_model(model_file, overrides)
    P = base.protocol
    enc, sleep_t, blocked_t = P.phase("encode"), P.phase("sleep"), P.phase("sleep_blocked")
    rec_int, rec_les = P.phase("recall_intact_after_encoding"), P.phase("recall_lesioned_after_sleep")
    A, B = tuple(range(k)), tuple(range(k, 2 * k))
    # awake cortical training: the encode phase's stimuli, repeated, cortex plastic, the hippocampus silenced
    # as in the model's lesioned recall (its ``silence``: CA3, and the DG where the model has one)
    train_plastic = {"ctx_ee": train_rate, "ctx_ie": 1.0}

    def train(name, order, start_from=None):
        return compose.phase_copy(enc, name, memories=order, start_from=start_from, kind="wake",
                                  plastic=train_plastic, silence=rec_les.silence)

    wake = compose.phase_copy(blocked_t, "wake", kind="wake", start_from="train_B", duration=sleep)
    slp = compose.phase_copy(sleep_t, "sleep", start_from="train_B", duration=sleep)
    interleaved = tuple(x for pair in zip(A, B) for x in pair)
    n_inter = max(1, round(repeats * len(B) / len(interleaved)))
    overlaps = (PatternOverlap(memories=B, share=A, fraction=float(overlap)),) if overlap > 0 else ()

    def chain(hpc_b: bool):
        # B's training and the interleaved arm start where B is first learned: after encode_B, or
        # straight after A's consolidation when cortex alone learns B
        start = "encode_B" if hpc_b else "sleep_A"
        phases = (
            compose.phase_copy(enc, "encode_A", memories=A),
            compose.phase_copy(sleep_t, "sleep_A", duration=sleep_a, start_from=None),
            *_tests(rec_int, rec_les, "before_B", "sleep_A"),
            *((compose.phase_copy(enc, "encode_B", memories=B, start_from="sleep_A"),) if hpc_b else ()),
            train("train_B", B * repeats, start_from=None if hpc_b else "sleep_A"),
            *_tests(rec_int, rec_les, "after_B", "train_B"),
            wake, *_tests(rec_int, rec_les, "wake", "wake"),
            slp, *_tests(rec_int, rec_les, "sleep", "sleep"),
            train("train_interleaved", interleaved * n_inter, start_from=start),
            *_tests(rec_int, rec_les, "interleaved", "train_interleaved"),
        )
        return compose.with_protocol(compose.with_phases(base, phases, n_memories=2 * k), overlaps=overlaps)

    out = {}
    if "hippocampus" in learn_b:
        out["main"] = chain(True)
    if "cortex" in learn_b:
        out["cortex_B"] = chain(False)
    alone = (
        compose.phase_copy(enc, "encode_B", memories=B),
        train("train_B", B * repeats),
        *_tests(rec_int, rec_les, "B_alone", "train_B"),
    )
    out["B_alone"] = compose.with_protocol(compose.with_phases(base, alone, n_memories=2 * k), overlaps=overlaps)
    return out


def scores(metrics: dict, k: int) -> dict:
    """``{condition: {"A"|"B": {"intact", "lesioned"}}}`` mean overlaps from one run's metrics."""
    out = {}
    for name, r in metrics["recall"].items():
        cond, _, which = name.rpartition("_")
        mem = np.asarray(r["memory"])
        ov = np.asarray(r["overlap"], dtype=float)
        for label, sel in (("A", mem < k), ("B", mem >= k)):
            if sel.any():
                out.setdefault(cond, {}).setdefault(label, {})[which] = float(ov[sel].mean())
    return out


def ca3_separation(model_file, seed: int, out_dir, k: int = 3, overlap: float = 0.5) -> dict:
    """How much of A_j's CA3 assembly B_j's reuses when B_j shares ``overlap`` of A_j's cortical cells.

    A short protocol of the model's own encode phase: ``encode_A`` (memories 0 .. k−1), then
    ``encode_B`` (k .. 2k−1, each sharing ``overlap`` of its partner's cells), no sleep.  The test of
    the pattern separation that :data:`MODEL_DG` adds (``tests/test_experiments.py``).

    Parameters
    ----------
    model_file : path
    seed : int
    out_dir : path
        Where the run folder is written.
    k : int, optional
    overlap : float, optional

    Returns
    -------
    dict
        ``{"ca3": {...}, "dg": {...}}`` (``"dg"`` only for models with a ``dg_e`` population),
        each with ``shared`` (per pair j, the fraction of A_j's assembly also in B_j's),
        ``mean_shared`` and ``sizes`` (assembly sizes of the 2k memories).
    """
    from neuromem.analysis.activity import find_assemblies
    from neuromem.experiment import run_experiment
    from neuromem.io.read import read_run

    base = load_model(model_file)
    enc = base.protocol.phase("encode")
    A, B = tuple(range(k)), tuple(range(k, 2 * k))
    phases = (compose.phase_copy(enc, "encode_A", memories=A), compose.phase_copy(enc, "encode_B", memories=B))
    model = compose.with_protocol(compose.with_phases(base, phases, n_memories=2 * k),
                                  overlaps=(PatternOverlap(memories=B, share=A, fraction=float(overlap)),))
    _, _, folder = run_experiment(model, seed=seed, out_dir=out_dir, figures=False, progress=False, log=None)
    run = read_run(folder)
    out = {}
    for pop, key in (("hpc_e", "ca3"), ("dg_e", "dg")):
        if pop not in run.phase("encode_A").spikes:
            continue
        asm = find_assemblies(run.phase("encode_A"), pop, 2 * k) | find_assemblies(run.phase("encode_B"), pop, 2 * k)
        sizes = asm.sum(1)
        shared = [float((asm[j] & asm[k + j]).sum() / sizes[j]) if sizes[j] else 0.0 for j in range(k)]
        out[key] = {"shared": shared, "mean_shared": float(np.mean(shared)), "sizes": sizes.tolist()}
    return out


GROUP_PAIRS = {"A-only<->shared": (0, 1), "shared<->B-only": (1, 2), "A-only<->B-only": (0, 2),
               "A-only<->A-only": (0, 0), "B-only<->B-only": (2, 2)}
GROUPS = ("A-only", "shared", "B-only")
WEIGHT_PHASES = ("sleep_A", "train_B", "sleep", "train_interleaved")


def dynamics(folder, k: int) -> dict:
    """What happens to the shared cells: CA3 assemblies, co-replay and cortical group weights.

    Each B pattern ``k + j`` is split from its A partner ``j`` into *A-only*,
    *shared* and *B-only* cortical cells.

    Parameters
    ----------
    folder : str or Path
        A finished run folder of the ``main`` or ``cortex_B`` model of :func:`build_models`.
    k : int
        Memories per set.

    Returns
    -------
    dict
        ``ca3_shared``: mean fraction of A_j's CA3 assembly (found in
        ``encode_A``) that is also in B_j's (found in ``encode_B``);
        ``None`` when B was not encoded in the hippocampus; ``co_replay``: fraction of replay events of a pair's memory in
        ``sleep`` during which at least half of the partner's own CA3 cells
        (those not in the replayed assembly) fire too (``None`` without
        events); ``replays``: events per memory in ``sleep``;
        ``weights``: ``{phase: {group pair: mean cortical E->E weight (mV)}}``
        within pairs, both directions averaged, at the end of
        :data:`WEIGHT_PHASES`; ``shared_output``: ``{phase: {"together" |
        "never_together": summed cortical E->E output (mV) of a shared cell,
        mean over shared cells, onto cells it is in a pattern with | never in a
        pattern with}}`` at the end of the same phases (where the outgoing
        budget ``ctx_norm`` goes); ``ctx_inhibition``: ``{phase: {"A-only" |
        "shared" | "B-only": summed cortical I->E weight (mV) onto a cell of
        the group, mean over each pair's group, then over pairs}}`` at the end of the same
        phases (which of two memories sharing cells wins a recall depends on
        it as much as on the E->E weights; the inhibitory STDP builds it in
        sleep).

        The CA3 side of replay, per memory (lists of ``2k``): ``ca3_size`` (assembly cells);
        ``ca3_rate_encoding`` (mean rate, Hz, of a memory's assembly cells during its own items);
        ``ca3_own_input`` (``{phase: mean summed CA3 E->E weight (mV) onto an assembly cell from its
        own assembly}`` at the end of ``encode_A``, ``encode_B``); ``ca3_inhibition`` (``{"A"|"B":
        mean summed CA3 I->E weight (mV) onto the set's assembly cells}`` at the start of ``sleep``);
        ``replays_sleep_A`` (events per memory in ``sleep_A``); ``ctx_spikes_in_events``
        (``{phase: fraction of the cortical pattern cells' spikes that fall in replay events}`` in
        ``sleep_A`` and ``sleep``).
    """
    from neuromem.analysis.activity import detect_replay, find_assemblies
    from neuromem.io.read import read_run

    run = read_run(folder)
    n = 2 * k
    encodes = [ph["name"] for ph in run["phases"] if ph["name"] in ("encode_A", "encode_B")]
    asm = np.zeros((n, run.phase("encode_A").spikes["hpc_e"].n), dtype=bool)
    for name in encodes:
        asm |= find_assemblies(run.phase(name), "hpc_e", n)
    sizes = asm.sum(1)
    shared = [float((asm[j] & asm[k + j]).sum() / sizes[j]) if sizes[j] and "encode_B" in encodes else None
              for j in range(k)]
    sleep = run.phase("sleep")
    hpc = sleep.spikes["hpc_e"]
    events = detect_replay(hpc, asm, duration=sleep.duration)
    co = []
    for e in events:
        m = e["memory"]
        partner = m + k if m < k else m - k
        own = asm[partner] & ~asm[m]
        if not asm[partner].any():
            co.append(False)      # the partner has no CA3 assembly (B learned by cortex alone)
            continue
        if not own.any():
            co.append(True)       # the partner has no cell of its own: every event is both
            continue
        active = hpc.counts(e["t"], e["t_end"]) > 0
        co.append(bool(active[own].mean() >= 0.5))
    patterns, _ = run.patterns()
    pats = np.asarray(patterns, dtype=bool)
    syn = run.synapses()
    pre, post = syn["ctx_ee"]
    group = np.full(pats.shape[1], -1)
    pair = np.full(pats.shape[1], -1)
    per_pair = []                      # each pair's (A-only, shared, B-only) cells
    for j in range(k):
        a, b = pats[j], pats[k + j]
        per_pair.append((a & ~b, a & b, b & ~a))
        for g, cells in enumerate(per_pair[-1]):
            group[cells] = g
        pair[a | b] = j
    same = (pair[pre] == pair[post]) & (pair[pre] >= 0)
    weights, shared_output, ctx_inhibition = {}, {}, {}
    pre_ci, post_ci = syn["ctx_ie"]
    together = (pats[:, pre] & pats[:, post]).any(0)       # the two cells are in one pattern at least
    from_shared = group[pre] == 1
    for ph in WEIGHT_PHASES:
        wts = run.weights(ph)
        w = wts["ctx_ee"] * 1e3
        out = {}
        for label, sel in (("together", from_shared & together), ("never_together", from_shared & ~together)):
            summed = np.bincount(pre[sel], weights=w[sel], minlength=pats.shape[1])
            out[label] = float(summed[group == 1].mean()) if (group == 1).any() else None
        shared_output[ph] = out
        inh_ctx = np.bincount(post_ci, weights=wts["ctx_ie"] * 1e3, minlength=pats.shape[1])
        ctx_inhibition[ph] = {label: float(np.mean([inh_ctx[m[g]].mean() for m in per_pair if m[g].any()]))
                              if any(m[g].any() for m in per_pair) else None for g, label in enumerate(GROUPS)}
        weights[ph] = {}
        for label, (g, h) in GROUP_PAIRS.items():
            sel = same & (((group[pre] == g) & (group[post] == h)) | ((group[pre] == h) & (group[post] == g)))
            weights[ph][label] = float(w[sel].mean()) if sel.any() else None
    # the CA3 side: assembly rates while encoding, learned recurrent input, inhibition, replays in sleep_A
    n_ca3 = asm.shape[1]
    rate = [None] * n
    for name in encodes:
        rec = run.phase(name)
        sp_e = rec.spikes["hpc_e"]
        cnt, tt = np.zeros((n, n_ca3)), np.zeros(n)
        for it in rec.items:
            cnt[it.memory] += sp_e.counts(it.t_on, it.t_off)
            tt[it.memory] += it.t_off - it.t_on
        for m in range(n):
            if tt[m] > 0 and asm[m].any():
                rate[m] = float(cnt[m][asm[m]].mean() / tt[m])
    pre_h, post_h = syn["hpc_ee"]
    own_input = {}
    for name in encodes:
        w = np.zeros((n_ca3, n_ca3))
        w[pre_h, post_h] = run.weights(name)["hpc_ee"] * 1e3
        own_input[name] = [float(w[np.ix_(asm[m], asm[m])].sum(0).mean()) if asm[m].any() else None for m in range(n)]
    pre_i, post_i = syn["hpc_ie"]
    inh = np.bincount(post_i, weights=run.weights("train_B")["hpc_ie"] * 1e3, minlength=n_ca3)
    inhibition = {s: float(inh[asm[sel].any(0)].mean()) if asm[sel].any() else None
                  for s, sel in (("A", slice(0, k)), ("B", slice(k, n)))}
    in_events = {}
    for name in ("sleep_A", "sleep"):
        rec = run.phase(name)
        evs = events if name == "sleep" else detect_replay(rec.spikes["hpc_e"], asm, duration=rec.duration)
        if name == "sleep_A":
            replays_a = np.bincount([e["memory"] for e in evs], minlength=n).tolist()
        ctx = rec.spikes["ctx_e"]
        on = pats.any(0)
        total = ctx.counts(0, rec.duration)[on].sum()
        inside = sum(ctx.counts(e["t"], e["t_end"])[on].sum() for e in evs)
        in_events[name] = float(inside / total) if total else None
    return {"ca3_shared": float(np.mean([x for x in shared if x is not None])) if any(x is not None for x in shared)
            else None,
            "co_replay": float(np.mean(co)) if co else None,
            "replays": np.bincount([e["memory"] for e in events], minlength=n).tolist(),
            "weights": weights, "shared_output": shared_output, "ctx_inhibition": ctx_inhibition,
            "ca3_size": sizes.tolist(), "ca3_rate_encoding": rate, "ca3_own_input": own_input,
            "ca3_inhibition": inhibition, "replays_sleep_A": replays_a, "ctx_spikes_in_events": in_events}


def analyse(per_point: dict, overlaps, label: str = "") -> tuple[dict, list]:
    """Mean ± SD over seeds per overlap, condition, set and test; the criteria at the largest overlap.

    ``label`` is appended to every criterion's name (e.g. ``"[B via hippocampus]"``).
    """
    table = {}
    for ov in overlaps:
        seeds = per_point[ov]
        table[ov] = {}
        for cond in CONDITIONS:
            for s in ("A", "B"):
                for which in ("intact", "lesioned"):
                    vals = [sc.get(cond, {}).get(s, {}).get(which) for sc in seeds.values()]
                    if any(v is not None for v in vals):
                        table[ov].setdefault(cond, {}).setdefault(s, {})[which] = spread(vals)
    top = max(overlaps)
    seeds = per_point[top]
    n = len(seeds)
    note = f"{top:.0%} overlap, mean over {n} seed{'s' if n != 1 else ''}"

    def mean(f):
        return spread([f(sc) for sc in seeds.values()])["mean"]

    before = mean(lambda sc: sc["before_B"]["A"]["lesioned"])
    wake = mean(lambda sc: sc["wake"]["A"]["lesioned"])
    slp = mean(lambda sc: sc["sleep"]["A"]["lesioned"])
    cost = before - wake
    reduction = (slp - wake) / cost if cost > 1e-9 else None
    crit = [
        criterion(f"B without sleep costs A (A_before - A_wake, cortex alone){label}", cost, ">=", 0.2, note),
        criterion(f"forgetting reduction (A_sleep - A_wake)/(A_before - A_wake){label}", reduction, ">=", 0.5, note),
        criterion(f"after sleep, B's cortex-alone recall{label}", mean(lambda sc: sc["sleep"]["B"]["lesioned"]),
                  ">=", 0.8, note),
        criterion(f"sleep - interleaved on A + B (cortex alone){label}",
                  mean(lambda sc: sc["sleep"]["A"]["lesioned"] + sc["sleep"]["B"]["lesioned"]
                       - sc["interleaved"]["A"]["lesioned"] - sc["interleaved"]["B"]["lesioned"]),
                  ">=", 0.0, note),
    ]
    return table, crit


ARM_LABEL = {"hippocampus": " [B via hippocampus]", "cortex": " [B by cortex alone]",
             "dentate": " [B via hippocampus with dentate gyrus]"}
ARM_MODEL = {"hippocampus": "main", "cortex": "cortex_B", "dentate": "main_dg"}
ARM_ALONE = {"hippocampus": "B_alone", "cortex": "B_alone", "dentate": "B_alone_dg"}
ARM_TITLE = {"hippocampus": "through the hippocampus", "cortex": "by cortex alone",
             "dentate": "through hippocampus + dentate gyrus"}


def plot(tables: dict, path, title: str):
    """Cortex-alone recall of A and B per condition: one row per way of learning B, one panel per overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuromem.plotting import value_label

    arms = list(tables)
    ovs = sorted(tables[arms[0]])
    fig, axes = plt.subplots(len(arms), len(ovs), figsize=(4.2 * len(ovs) + 1, 3.6 * len(arms)), sharey=True,
                             squeeze=False)
    x = np.arange(len(CONDITIONS))
    for row, arm in zip(axes, arms):
        for ax, ov in zip(row, ovs):
            table = tables[arm]
            for j, (s, colour) in enumerate((("A", "C0"), ("B", "C1"))):
                m = [table[ov].get(c, {}).get(s, {}).get("lesioned", {}).get("mean") for c in CONDITIONS]
                sd = [table[ov].get(c, {}).get(s, {}).get("lesioned", {}).get("sd") for c in CONDITIONS]
                xs = [xx + (j - 0.5) * 0.38 for xx, v in zip(x, m) if v is not None]
                ys = [v for v in m if v is not None]
                es = [e for e, v in zip(sd, m) if v is not None]
                ax.bar(xs, ys, width=0.36, color=colour, edgecolor="k", linewidth=0.6, yerr=es, capsize=2,
                       label=f"set {s}")
                for xx, v, e in zip(xs, ys, es):
                    ax.text(xx, max(v, 0) + (e or 0) + 0.02, value_label(v), ha="center", va="bottom", fontsize=6.5,
                            rotation=90)
            ax.axhline(0.8, color="grey", ls="--", lw=0.8)
            ax.set_xticks(x)
            ax.set_xticklabels([c.replace("_", " ") for c in CONDITIONS], rotation=35, ha="right", fontsize=8)
            ax.set_title(f"B learned {ARM_TITLE[arm]}, "
                         f"overlap {ov:.0%}", fontsize=9)
            ax.set_ylim(-0.05, 1.25)
        row[0].set_ylabel("cortex-alone recall (overlap score)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None, help="one seed (default: --seeds)")
    ap.add_argument("--seeds", default="1,2,3", help="seeds, e.g. 1,2,3 or 1-5 (default 1,2,3)")
    ap.add_argument("--out", default="results/interference", help="output folder")
    ap.add_argument("--quick", action="store_true", help=f"reduced size {QUICK} instead of {FULL}")
    ap.add_argument("--overlaps", default=None, type=number_list(float, low_inclusive=True, high=1),
                    help="comma-separated overlap fractions (each in [0, 1])")
    ap.add_argument("--learn-b", default=",".join(LEARN_B),
                    help="how B is learned: hippocampus, cortex, dentate (hippocampus on models/cls_dg.toml), "
                         "comma-separated (default: all three)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--train-rate", type=float, default=None)
    ap.add_argument("--sleep", type=float, default=None)
    ap.add_argument("--model", default=None, help="model file of the hippocampus and cortex arms (default "
                    "models/cls.toml; with --quick models/cls_small.toml)")
    ap.add_argument("--model-dg", default=str(MODEL_DG), help="model file of the dentate arm "
                    "(default models/cls_dg.toml)")
    add_set_argument(ap, note="applied to every arm's model file, --model and --model-dg alike")
    ap.add_argument("--jobs", type=int, default=None, help="parallel processes (default: cores)")
    args = ap.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    if args.model is None:
        args.model = str(QUICK_MODEL if args.quick else MODEL)
    if args.overlaps:
        size["overlaps"] = args.overlaps
    for key, v in (("repeats", args.repeats), ("train_rate", args.train_rate), ("sleep", args.sleep)):
        if v is not None:
            size[key] = v
    arms = tuple(a for a in LEARN_B if a in args.learn_b.split(","))
    if not arms:
        ap.error(f"--learn-b: choose from {', '.join(LEARN_B)}")
    seeds = [args.seed] if args.seed is not None else parse_seeds(args.seeds)
    out = Path(args.out)
    points, index = [], []
    params = {k: v for k, v in size.items() if k != "overlaps"}
    for ov in size["overlaps"]:
        models = {}
        plain = tuple(a for a in arms if a != "dentate")
        if plain:
            models.update(build_models(overlap=ov, learn_b=plain, model_file=args.model, overrides=args.overrides,
                                       **params))
        if "dentate" in arms:
            dg = build_models(overlap=ov, learn_b=("hippocampus",), model_file=args.model_dg,
                              overrides=args.overrides, **params)
            models.update({"main_dg": dg["main"], "B_alone_dg": dg["B_alone"]})
        for s in seeds:
            for name, model in models.items():
                points.append(Point(f"overlap{ov:g}_{name}", model, s))
                index.append((ov, s, name))
    results = run_points(points, out / "runs", jobs=args.jobs)
    per_point = {arm: {ov: {} for ov in size["overlaps"]} for arm in arms}
    dyn = {arm: {ov: {} for ov in size["overlaps"]} for arm in arms}
    for (ov, s, name), r in zip(index, results):
        sc = scores(r["metrics"], size["k"])
        for arm in arms:
            if name in (ARM_MODEL[arm], ARM_ALONE[arm]):     # the B-alone reference of the arm's model
                per_point[arm][ov].setdefault(s, {}).update(sc)
            if name == ARM_MODEL[arm]:
                dyn[arm][ov][s] = dynamics(r["folder"], size["k"])
    tables, crit = {}, []
    for arm in arms:
        tables[arm], c = analyse(per_point[arm], size["overlaps"], ARM_LABEL[arm])
        crit += c
    title = (f"interference: {size['k']} + {size['k']} memories, B trained ×{size['repeats']} awake, "
             f"{size['sleep']:g} s wake/sleep, seeds {','.join(map(str, seeds))} (n = {len(seeds)})")
    summary = {"experiment": "interference", "size": size, "quick": args.quick, "seeds": seeds, "learn_b": arms,
               "model_file": str(args.model), "model_file_dg": str(args.model_dg), "overrides": args.overrides,
               "per_seed": per_point, "table": tables, "dynamics": dyn, "criteria": crit,
               "runs": [r["folder"] for r in results]}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "summary.json", summary)
    plot(tables, out / "interference.png", title)
    print(title)
    for arm in arms:
        for ov in size["overlaps"]:
            print(f"B learned by {arm}, overlap {ov:.0%} (cortex alone / intact, A | B):")
            for cond in CONDITIONS:
                row = tables[arm][ov].get(cond, {})

                def cell(s):
                    d = row.get(s)
                    if not d:
                        return "     -      "
                    return f"{d['lesioned']['mean']:.2f}/{d.get('intact', {}).get('mean', float('nan')):.2f}"
                print(f"  {cond:<12} A {cell('A')}   B {cell('B')}")
    print("dynamics (per seed): share of A_j's CA3 assembly in B_j's, co-replay, replays per memory in sleep; "
          "cortical weights within pairs (mV), " + " / ".join(GROUP_PAIRS) + "; the CA3 side:")
    for arm in arms:
        for ov in size["overlaps"]:
            for s, d in dyn[arm][ov].items():
                ws = "  ".join(f"{ph} " + "/".join("-" if v is None else f"{v:.2f}" for v in d["weights"][ph].values())
                               for ph in WEIGHT_PHASES)
                fmt = lambda v: "-" if v is None else f"{v:.2f}"   # noqa: E731
                print(f"  B by {arm}, {ov:.0%}, seed {s}: CA3 shared {fmt(d['ca3_shared'])}, "
                      f"co-replay {fmt(d['co_replay'])}, replays {d['replays']}")
                so = "  ".join(f"{ph} " + "/".join(fmt(v) for v in d["shared_output"][ph].values()) for ph in WEIGHT_PHASES)
                print(f"      {ws}")
                print(f"      a shared cell's summed output (mV) to cells in a pattern with it / never with it: {so}")
                ci = "  ".join(f"{ph} " + "/".join(fmt(v) for v in d["ctx_inhibition"][ph].values()) for ph in WEIGHT_PHASES)
                print(f"      summed cortical inhibition onto a cell (mV), {' / '.join(GROUPS)}: {ci}")
                rates = "/".join("-" if v is None else f"{v:.0f}" for v in d["ca3_rate_encoding"])
                own = "  ".join(f"{ph} " + "/".join("-" if v is None else f"{v:.0f}" for v in vals)
                                for ph, vals in d["ca3_own_input"].items())
                ev = "/".join(fmt(d["ctx_spikes_in_events"][ph]) for ph in ("sleep_A", "sleep"))
                print(f"      CA3 rate while encoding (Hz) {rates}; own-assembly input (mV) {own}; "
                      f"I->E at sleep A {fmt(d['ca3_inhibition']['A'])} B {fmt(d['ca3_inhibition']['B'])} mV; "
                      f"replays in sleep_A {d['replays_sleep_A']}; cortical spikes in events sleep_A/sleep {ev}")
    for line in verdict_lines(crit):
        print(line)
    print(f"summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(script_main(main))
