"""Analysis on synthetic spike data (no simulator)."""

import json

import numpy as np
import pytest

from neuromem.analysis import (
    compute_metrics, detect_replay, find_assemblies, population_rates, recall_overlap,
    recall_phase_metrics, replay_analysis, replay_composition, replay_summary, winner,
)
from neuromem.records import Item, PhaseRecord, Run, Spikes
from neuromem.spec import (
    Connector, LIFPopulation, Model, PairSTDP, Phase, Projection, Protocol, SpikeSource, Stimulus,
    WeightInit,
)

N_CTX, N_CA3, N_MEM, ITEM, GAP = 40, 30, 3, 0.2, 0.1


# ------------------------------------------------------------ synthetic run


def _lif(name, size, kind):
    return LIFPopulation(name=name, size=size, kind=kind, tau_m=0.02, tau_syn=0.005,
                         v_rest=-0.065, v_reset=-0.065, v_th=-0.05, refractory=0.002)


def small_model():
    pops = {"ctx_e": _lif("ctx_e", N_CTX, "excitatory"), "ctx_i": _lif("ctx_i", 10, "inhibitory"),
            "ca3": _lif("ca3", N_CA3, "excitatory")}
    w = WeightInit(kind="constant", value=0.001)
    projs = {
        "cue_ctx": Projection("cue_ctx", "cue", "ctx_e", Connector("one_to_one"), w),
        "ctx_ee": Projection("ctx_ee", "ctx_e", "ctx_e", Connector("fixed_probability", p=0.3), w,
                             plasticity=("stdp",)),
        "ctx_ie": Projection("ctx_ie", "ctx_i", "ctx_e", Connector("all_to_all"), w, sign="inhibitory"),
    }
    rules = {"stdp": PairSTDP("stdp", "symmetric", 0.02, 0.02, 1e-4, 1e-4, w_max=0.005)}
    phases = (
        Phase("encode", "encode", stimuli=(Stimulus("cue", "patterns", rate=50.0, item=ITEM, gap=GAP),),
              plastic={"ctx_ee": 1.0}),
        Phase("sleep", "sleep", duration=2.0, stimuli=(Stimulus("cue", "noise", rate=1.0),)),
        Phase("recall", "recall",
              stimuli=(Stimulus("cue", "patterns", rate=50.0, item=ITEM, gap=GAP, fraction=0.5),)),
    )
    proto = Protocol(n_memories=N_MEM, pattern_population="ctx_e", coding_level=0.25, phases=phases,
                     replay_population="ca3")
    return Model(name="tiny", dt=1e-4, populations=pops, sources={"cue": SpikeSource("cue", N_CTX)},
                 projections=projs, rules=rules, protocol=proto)


def regular(neurons, t0, t1, rate):
    """Regular spikes at ``rate`` for each neuron in [t0, t1), staggered."""
    neurons = np.asarray(neurons, dtype=int)
    if len(neurons) == 0 or rate <= 0:
        return np.zeros(0, np.int32), np.zeros(0)
    times = np.arange(t0, t1, 1.0 / rate)
    ii = np.repeat(neurons, len(times))
    tt = np.tile(times, len(neurons)) + 1e-4 * (ii % 7)
    keep = tt < t1
    return ii[keep].astype(np.int32), tt[keep]


def spikes_of(n, *parts):
    i = np.concatenate([p[0] for p in parts] + [np.zeros(0, np.int32)]).astype(np.int32)
    t = np.concatenate([p[1] for p in parts] + [np.zeros(0)])
    o = np.argsort(t, kind="stable")
    return Spikes(i=i[o], t=t[o], n=n)


def make_patterns():
    pats = np.zeros((N_MEM, N_CTX), bool)
    for k in range(N_MEM):
        pats[k, 10 * k:10 * k + 10] = True
    cues = {0.5: np.zeros_like(pats), 1.0: pats.copy()}
    for k in range(N_MEM):
        cues[0.5][k, 10 * k:10 * k + 5] = True
    return pats, cues


CA3_ASM = [list(range(10 * k, 10 * k + 9)) for k in range(N_MEM)]   # neuron 10k+9 is unselective


def items():
    return [Item(k, k * (ITEM + GAP), k * (ITEM + GAP) + ITEM) for k in range(N_MEM)]


def recall_phase(pats, cues, mode="perfect", seed=1):
    rng = np.random.default_rng(seed)
    parts = []
    for it in items():
        parts.append(regular(np.flatnonzero(cues[0.5][it.memory]), it.t_on, it.t_off, 50))
        if mode == "perfect":
            parts.append(regular(np.flatnonzero(pats[it.memory] & ~cues[0.5][it.memory]), it.t_on, it.t_off, 50))
    if mode == "noise":
        n = rng.poisson(20 * N_CTX * 0.9)
        parts.append((rng.integers(0, N_CTX, n).astype(np.int32), rng.uniform(0, 0.9, n)))
    return PhaseRecord("recall", "recall", 0.9, {"ctx_e": spikes_of(N_CTX, *parts),
                                                 "ctx_i": spikes_of(10), "ca3": spikes_of(N_CA3),
                                                 "cue": spikes_of(N_CTX)},
                       items(), cue_fraction=0.5, weights={"ctx_ee": np.full(12, 2e-3)}, wall_time=0.3)


def make_run(recall_mode="perfect"):
    model = small_model()
    pats, cues = make_patterns()
    # encode: pattern k and CA3 assembly k at 50 Hz during item k; unselective CA3 neurons in all items
    enc_ctx, enc_ca3 = [], []
    for it in items():
        enc_ctx.append(regular(np.flatnonzero(pats[it.memory]), it.t_on, it.t_off, 50))
        enc_ca3.append(regular(CA3_ASM[it.memory], it.t_on, it.t_off, 50))
        enc_ca3.append(regular([9, 19, 29], it.t_on, it.t_off, 50))
    enc = PhaseRecord("encode", "encode", 0.9,
                      {"ctx_e": spikes_of(N_CTX, *enc_ctx), "ctx_i": spikes_of(10, regular(range(10), 0, 0.9, 10)),
                       "ca3": spikes_of(N_CA3, *enc_ca3), "cue": spikes_of(N_CTX, *enc_ctx)},
                      items(), weights={"ctx_ee": np.full(12, 1.5e-3)}, wall_time=0.5)
    # sleep: memory 0 burst at 0.5 s (one bin), memory 2 burst at 1.2 s (two bins), memory 1 weak (3/9 neurons)
    burst0 = (np.array(CA3_ASM[0], np.int32), np.full(9, 0.505))
    burst2 = (np.array(CA3_ASM[2] * 2, np.int32), np.r_[np.full(9, 1.205), np.full(9, 1.225)])
    weak1 = (np.array(CA3_ASM[1][:3], np.int32), np.full(3, 1.605))
    sleep = PhaseRecord("sleep", "sleep", 2.0,
                        {"ctx_e": spikes_of(N_CTX, regular(range(N_CTX), 0, 2.0, 2)), "ctx_i": spikes_of(10),
                         "ca3": spikes_of(N_CA3, burst0, burst2, weak1), "cue": spikes_of(N_CTX)},
                        [], weights={"ctx_ee": np.full(12, 1.8e-3)}, wall_time=1.0)
    rec = recall_phase(pats, cues, recall_mode)
    rng = np.random.default_rng(0)
    pre, post = np.nonzero(rng.random((N_CTX, N_CTX)) < 0.3)
    syn = {"cue_ctx": (np.arange(N_CTX), np.arange(N_CTX)), "ctx_ee": (pre, post),
           "ctx_ie": tuple(a.ravel() for a in np.meshgrid(np.arange(10), np.arange(N_CTX), indexing="ij"))}
    nsyn = len(pre)
    for ph in (enc, sleep, rec):
        ph.weights = {"ctx_ee": np.linspace(0, ph.weights["ctx_ee"][0], nsyn)}
    return Run(model=model, seed=7, patterns=pats, cues=cues, synapses=syn,
               initial_weights={"ctx_ee": np.full(nsyn, 1e-3)}, phases=[enc, sleep, rec],
               model_text='name = "tiny"\n', overrides=["protocol.n_memories=3"])


# ------------------------------------------------------------ recall


def test_cue_only_scores_zero():
    pats, cues = make_patterns()
    counts = np.zeros(N_CTX)
    counts[cues[0.5][0]] = 9
    r = recall_overlap(counts, pats[0], cues[0.5][0], duration=0.18)
    assert r["overlap"] == pytest.approx(0.0)
    assert r["hit_rate"] == 0.0 and r["false_alarm_rate"] == 0.0
    assert r["rate_pattern_hz"] == 0.0 and r["rate_cued_hz"] == pytest.approx(50.0)
    assert r["n_uncued_pattern"] == 5


def test_perfect_completion_scores_one():
    pats, cues = make_patterns()
    counts = 9.0 * pats[1]
    r = recall_overlap(counts, pats[1], cues[0.5][1], duration=0.18, min_rate=5.0)
    assert r["overlap"] == pytest.approx(1.0)
    assert r["hit_rate"] == 1.0 and r["false_alarm_rate"] == 0.0
    assert r["rate_pattern_hz"] == pytest.approx(50.0) and r["rate_other_hz"] == 0.0


def test_random_noise_scores_low():
    pats, cues = make_patterns()
    rng = np.random.default_rng(3)
    scores = [recall_overlap(rng.poisson(5.0, N_CTX), pats[0], cues[0.5][0], duration=1.0)["overlap"]
              for _ in range(200)]
    assert abs(np.mean(scores)) < 0.05
    assert np.mean(np.abs(scores)) < 0.3


def test_hit_and_false_alarm_rates():
    pats, cues = make_patterns()
    counts = np.zeros(N_CTX)
    uncued = np.flatnonzero(pats[0] & ~cues[0.5][0])      # 5 neurons
    counts[uncued[:3]] = 2                                  # 2 spikes in 0.2 s = 10 Hz
    counts[uncued[3]] = 0.5                                 # 2.5 Hz, below threshold
    others = np.flatnonzero(~pats[0])                       # 30 neurons
    counts[others[:6]] = 1                                  # 5 Hz: at threshold counts
    r = recall_overlap(counts, pats[0], cues[0.5][0], duration=0.2, min_rate=5.0)
    assert r["hit_rate"] == pytest.approx(3 / 5)
    assert r["false_alarm_rate"] == pytest.approx(6 / 30)
    assert r["rate_other_hz"] == pytest.approx(6 * 5 / 30)
    assert 0 < r["overlap"] < 1


def test_silent_and_shape_errors():
    pats, cues = make_patterns()
    assert recall_overlap(np.zeros(N_CTX), pats[0], cues[0.5][0])["overlap"] == 0.0
    # a cue covering the whole pattern leaves nothing to complete
    assert recall_overlap(9.0 * pats[0], pats[0], pats[0])["overlap"] == 0.0
    with pytest.raises(ValueError):
        recall_overlap(np.zeros(3), pats[0], cues[0.5][0])


def test_winner():
    pats, cues = make_patterns()
    counts = 9.0 * pats[2]
    k, corr = winner(counts, pats, cues[0.5][2])
    assert k == 2 and corr.shape == (N_MEM,)
    assert corr[2] == pytest.approx(1.0) and corr[0] < 0 and corr[1] < 0
    # cue of memory 0 plus completion of memory 1: the completed pattern wins
    counts = 9.0 * (cues[0.5][0] | pats[1])
    assert winner(counts, pats, cues[0.5][0])[0] == 1
    assert winner(np.zeros(N_CTX), pats, cues[0.5][0])[0] == -1


@pytest.mark.parametrize("mode, lo, hi, correct", [("perfect", 0.999, 1.0, 1.0), ("cue_only", -0.01, 0.01, 0.0)])
def test_recall_phase_metrics(mode, lo, hi, correct):
    run = make_run(mode)
    m = recall_phase_metrics(run.phase("recall"), run)
    assert m["memory"] == [0, 1, 2]
    assert len(m["overlap"]) == len(m["hit_rate"]) == len(m["false_alarm_rate"]) == len(m["winner"]) == 3
    assert all(lo <= o <= hi for o in m["overlap"])
    assert lo <= m["mean_overlap"] <= hi
    assert m["correct_winner_fraction"] == correct
    assert m["cue_fraction"] == 0.5
    json.dumps(m)


def test_recall_phase_metrics_noise_is_low():
    run = make_run("noise")
    m = recall_phase_metrics(run.phase("recall"), run)
    assert abs(m["mean_overlap"]) < 0.4


def test_recall_window():
    run = make_run("perfect")
    ph = run.phase("recall")
    # a window ending before anything but the cue could matter is still computed on [t_on+a, t_on+b)
    m = recall_phase_metrics(ph, run, window=(0.0, 0.1))
    assert m["window"] == [0.0, 0.1] and m["mean_overlap"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        recall_phase_metrics(ph, run, window=(0.1, 0.05))


# ------------------------------------------------------------ activity


def test_population_rates():
    run = make_run()
    r = population_rates(run)
    assert set(r) == {"ctx_e", "ctx_i", "ca3"}                  # sources skipped
    assert r["ctx_i"]["encode"] == pytest.approx(10 * 0.9 / 0.9, rel=0.02)   # 10 Hz
    assert r["ctx_e"]["sleep"] == pytest.approx(2.0, rel=0.02)
    assert r["ctx_i"]["sleep"] == 0.0
    expected = len(run.phase("recall").spikes["ctx_e"].t) / (N_CTX * 0.9)
    assert r["ctx_e"]["recall"] == pytest.approx(expected)


def test_find_assemblies():
    run = make_run()
    asm = find_assemblies(run.phase("encode"), "ca3", N_MEM, min_rate=10, selectivity=2)
    assert asm.shape == (N_MEM, N_CA3) and asm.dtype == bool
    for k in range(N_MEM):
        assert sorted(np.flatnonzero(asm[k])) == CA3_ASM[k]     # unselective neurons excluded
    # without selectivity, the unselective neurons join every assembly
    loose = find_assemblies(run.phase("encode"), "ca3", N_MEM, min_rate=10, selectivity=0)
    assert loose[:, [9, 19, 29]].all()
    # too high a rate threshold: empty
    assert not find_assemblies(run.phase("encode"), "ca3", N_MEM, min_rate=1000).any()
    # a memory not presented has an empty row
    ph = run.phase("encode")
    sub = PhaseRecord("e", "encode", 0.9, ph.spikes, ph.items[:2])
    assert not find_assemblies(sub, "ca3", N_MEM)[2].any()


def test_detect_replay_on_bursts():
    run = make_run()
    asm = find_assemblies(run.phase("encode"), "ca3", N_MEM)
    ev = detect_replay(run.phase("sleep").spikes["ca3"], asm, bin=0.02, min_fraction=0.5, duration=2.0)
    assert [e["memory"] for e in ev] == [0, 2]
    assert ev[0]["t"] == pytest.approx(0.5) and ev[0]["t_end"] == pytest.approx(0.52)
    assert ev[1]["t"] == pytest.approx(1.2) and ev[1]["t_end"] == pytest.approx(1.24)   # two bins merged
    assert ev[0]["fraction"] == pytest.approx(1.0)
    # the weak burst of memory 1 (3/9) passes a low threshold
    ev = detect_replay(run.phase("sleep").spikes["ca3"], asm, min_fraction=0.3)
    assert [e["memory"] for e in ev] == [0, 2, 1]
    s = replay_summary(ev, N_MEM, 2.0)
    assert s["counts"] == [1, 1, 1] and s["total"] == 3 and s["rate"] == pytest.approx(1.5)
    json.dumps(s)


def test_detect_replay_gap_merging_and_competition():
    asm = np.zeros((2, 10), bool)
    asm[0, :5] = True
    asm[1, 5:] = True
    a0 = np.arange(5)
    # memory 0: bursts at 0.10 and 0.13 (gap 0.01 s < min_gap: one event) and at 0.5
    t = np.r_[np.full(5, 0.101), np.full(5, 0.141), np.full(5, 0.501)]
    i = np.r_[a0, a0, a0]
    # bin at 0.8: 3/5 of memory 0 and 5/5 of memory 1 -> memory 1 only
    t = np.r_[t, np.full(3, 0.801), np.full(5, 0.805)]
    i = np.r_[i, a0[:3], np.arange(5, 10)]
    o = np.argsort(t)
    sp = Spikes(i=i[o].astype(np.int32), t=t[o], n=10)
    ev = detect_replay(sp, asm, bin=0.02, min_fraction=0.5, min_gap=0.05)
    assert [(e["memory"], round(e["t"], 3)) for e in ev] == [(0, 0.1), (0, 0.5), (1, 0.8)]
    assert ev[0]["t_end"] == pytest.approx(0.16)
    ev = detect_replay(sp, asm, bin=0.02, min_fraction=0.5, min_gap=0.0)
    assert [(e["memory"], round(e["t"], 3)) for e in ev] == [(0, 0.1), (0, 0.14), (0, 0.5), (1, 0.8)]
    # empty input and empty assemblies
    assert detect_replay(Spikes(np.zeros(0, np.int32), np.zeros(0), 10), asm) == []
    assert detect_replay(sp, np.zeros((2, 10), bool)) == []
    assert replay_summary([], 2, 1.0) == {"counts": [0, 0], "total": 0, "rate": 0.0, "rate_per_memory": [0.0, 0.0]}


# ------------------------------------------------------------ summary


def test_compute_metrics():
    run = make_run("perfect")
    m = compute_metrics(run)
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text) == m
    assert set(m["recall"]) == {"recall"}
    assert m["recall_overlap"] == pytest.approx(1.0)            # "recall" is reserved: flat key gets a suffix
    assert set(m["rate_exc_hz"]) == {"ctx_e", "ca3"}
    assert set(m["rate_hz"]) == {"ctx_e", "ctx_i", "ca3"}
    assert set(m["replay"]) == {"sleep"}
    assert m["replay"]["sleep"]["counts"] == [1, 0, 1]
    assert m["replay"]["sleep"]["assembly_sizes"] == [9, 9, 9]
    assert m["replay"]["sleep"]["assembly_phase"] == ["encode"] * 3
    assert m["recall"]["recall"]["encoded_in"] == ["encode"] * 3
    assert m["recall"]["recall"]["age"] == [1, 1, 1]


def test_compute_metrics_flat_names_and_no_replay_population():
    import dataclasses
    run = make_run("perfect")
    run.phases[2] = dataclasses.replace(run.phases[2], name="recall_intact")
    proto = dataclasses.replace(run.model.protocol, replay_population=None,
                                phases=tuple(dataclasses.replace(p, name="recall_intact") if p.name == "recall"
                                             else p for p in run.model.protocol.phases))
    run.model = dataclasses.replace(run.model, protocol=proto)
    m = compute_metrics(run)
    assert m["recall_intact"] == pytest.approx(1.0)
    assert m["replay"] == {}


# ------------------------------------------------------------ memories encoded over several rounds


def two_round_run():
    """encode_1 (memories 0, 1) -> sleep_1 -> encode_2 (memory 2) -> recall (all).

    In sleep_1 CA3 assemblies 0 and 2 burst; memory 2 is not encoded yet on that
    lineage, so only the burst of memory 0 is a replay.
    """
    import dataclasses
    from neuromem.spec import compose

    base = small_model()
    enc, sleep, rec = (base.protocol.phase(n) for n in ("encode", "sleep", "recall"))
    phases = compose.rounds(enc, sleep, [(0, 1), (2,)]) + (rec,)
    model = compose.with_phases(base, phases)
    pats, cues = make_patterns()

    def enc_record(name, mems):
        its = [Item(m, k * (ITEM + GAP), k * (ITEM + GAP) + ITEM) for k, m in enumerate(mems)]
        ctx, ca3 = [], []
        for it in its:
            ctx.append(regular(np.flatnonzero(pats[it.memory]), it.t_on, it.t_off, 50))
            ca3.append(regular(CA3_ASM[it.memory], it.t_on, it.t_off, 50))
        d = len(mems) * (ITEM + GAP)
        return PhaseRecord(name, "encode", d, {"ctx_e": spikes_of(N_CTX, *ctx), "ctx_i": spikes_of(10),
                                               "ca3": spikes_of(N_CA3, *ca3), "cue": spikes_of(N_CTX, *ctx)},
                           its, wall_time=0.1)

    burst0 = (np.array(CA3_ASM[0], np.int32), np.full(9, 0.505))
    burst2 = (np.array(CA3_ASM[2], np.int32), np.full(9, 1.205))
    sleep_rec = PhaseRecord("sleep_1", "sleep", 2.0, {"ctx_e": spikes_of(N_CTX), "ctx_i": spikes_of(10),
                                                     "ca3": spikes_of(N_CA3, burst0, burst2),
                                                     "cue": spikes_of(N_CTX)}, [], wall_time=0.1)
    rec_rec = recall_phase(pats, cues, "perfect")
    return Run(model=model, seed=7, patterns=pats, cues=cues, synapses={}, initial_weights={},
               phases=[enc_record("encode_1", (0, 1)), sleep_rec, enc_record("encode_2", (2,)), rec_rec])


def test_rounds_build_a_chain_of_phases():
    from neuromem.spec import compose

    run = two_round_run()
    proto = run.model.protocol
    assert [p.name for p in proto.phases] == ["encode_1", "sleep_1", "encode_2", "recall"]
    assert proto.phase("encode_1").stimuli[0].memories == (0, 1)
    assert proto.phase("encode_2").stimuli[0].memories == (2,)
    assert all(p.start_from is None for p in proto.phases)
    # a second arm on a branch, with its sleeps changed
    arm = compose.rounds(proto.phase("encode_1"), proto.phase("sleep_1"), [(0,), (1,), (2,)],
                         encode_name="b_encode_{r}", sleep_name="b_sleep_{r}", start_from="encode_1",
                         sleep_changes={"silence": ("ca3",), "duration": 1.0})
    assert [p.name for p in arm] == ["b_encode_1", "b_sleep_1", "b_encode_2", "b_sleep_2", "b_encode_3"]
    assert arm[0].start_from == "encode_1" and arm[2].start_from is None
    assert arm[1].silence == ("ca3",) and arm[1].duration == 1.0
    model = compose.with_phases(run.model, proto.phases + arm)
    assert model.protocol.lineage("b_encode_3")[:2] == ("encode_1", "b_encode_1")
    later = compose.rounds(proto.phase("encode_1"), None, [(1,), (2,)], first=2)
    assert [p.name for p in later] == ["encode_2", "encode_3"]


def test_rounds_refuse_what_does_not_fit():
    from neuromem.spec import ModelError, compose

    base = small_model()
    enc, sleep = base.protocol.phase("encode"), base.protocol.phase("sleep")
    with pytest.raises(ModelError, match="memory 5 is outside"):
        compose.with_phases(base, compose.rounds(enc, sleep, [(0,), (5,)]))
    with pytest.raises(ModelError, match="memory_sets"):
        compose.rounds(enc, sleep, [])
    with pytest.raises(ModelError, match="start_from"):
        compose.with_phases(base, compose.rounds(enc, sleep, [(0,)], start_from="nope"))


def test_memory_ages_and_encoding_phases_follow_the_lineage():
    from neuromem.analysis import encoding_phases, group_items, memory_ages

    proto = two_round_run().model.protocol
    assert encoding_phases(proto, "recall") == {0: "encode_1", 1: "encode_1", 2: "encode_2"}
    assert memory_ages(proto, "recall") == {0: 1, 1: 1, 2: 0}
    # seen from the sleep, memory 2 is not encoded yet
    assert memory_ages(proto, "sleep_1") == {0: 0, 1: 0, 2: None}
    g = group_items([0.2, 0.4, 0.9], [0, 1, 2], memory_ages(proto, "recall"))
    assert list(g) == [0, 1]
    assert g[1]["mean"] == pytest.approx(0.3) and g[1]["memories"] == [0, 1]
    assert g[0]["values"] == [0.9]


def test_assembly_size_effect_ranks_memories_by_their_ca3_assembly():
    """Eight memories, two recall items each: the quarter with the smallest assemblies (memories 5 and 2,
    3 and 4 cells) against the quarter with the largest (0 and 7, 20 and 30 cells)."""
    from neuromem.analysis import assembly_size_effect

    sizes = [20, 9, 4, 10, 12, 3, 11, 30]
    per_memory = [0.9, 0.8, 0.2, 0.7, 0.8, 0.1, 0.9, 1.0]
    memory = [m for m in range(8) for _ in range(2)]
    overlap = [per_memory[m] + d for m in range(8) for d in (-0.05, 0.05)]
    metrics = {"replay": {"sleep": {"assembly_sizes": sizes}},
               "recall": {"after": {"memory": memory, "overlap": overlap}}}
    eff = assembly_size_effect(metrics, "after")
    assert eff["smallest_quarter"] == pytest.approx({"cells": 3.5, "recall": 0.15})
    assert eff["largest_quarter"] == pytest.approx({"cells": 25.0, "recall": 0.95})
    assert eff["r"] == pytest.approx(np.corrcoef(sizes, per_memory)[0, 1])
    # a memory never cued is left out; a run without assembly sizes or without the phase gives None
    metrics["recall"]["after"] = {"memory": memory[2:], "overlap": overlap[2:]}
    assert assembly_size_effect(metrics, "after")["largest_quarter"] == pytest.approx({"cells": 30.0, "recall": 1.0})
    assert assembly_size_effect(metrics, "other") is None
    assert assembly_size_effect({"recall": metrics["recall"]}, "after") is None


def test_assemblies_come_from_every_encode_phase():
    run = two_round_run()
    m = compute_metrics(run)
    s = m["replay"]["sleep_1"]
    # the assemblies sleep_1 was scored against: memory 2 is encoded after it (encode_2)
    assert s["assembly_phase"] == ["encode_1", "encode_1", None]
    assert s["assembly_sizes"] == [9, 9, 0]
    asm, src, _, scored = replay_analysis(run, by_sleep=True)
    assert src == ["encode_1", "encode_1", "encode_2"] and asm.sum(1).tolist() == [9, 9, 9]   # over the run
    assert scored["sleep_1"][1] == s["assembly_phase"]
    # memory 2's burst comes before its encoding: not a replay of it
    assert s["counts"] == [1, 0, 0]
    r = m["recall"]["recall"]
    assert r["encoded_in"] == ["encode_1", "encode_1", "encode_2"]
    assert r["age"] == [1, 1, 0]


def test_replay_composition_splits_spikes_and_scores_reinstatement():
    asm = np.zeros((2, 10), bool)
    asm[0, :4] = True
    asm[1, 4:8] = True                        # neurons 8, 9 in no assembly
    # event of memory 0 in [0.1, 0.12): its 4 cells twice, 2 cells of memory 1 once, neuron 9 once
    i = np.r_[0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 9]
    t = np.r_[np.full(4, 0.101), np.full(4, 0.111), 0.105, 0.106, 0.107]
    src = Spikes(i=i.astype(np.int32), t=t, n=10)
    ev = [{"memory": 0, "t": 0.1, "t_end": 0.12, "fraction": 1.0}]
    pats = np.zeros((2, 20), bool)
    pats[0, :5] = True
    pats[1, 5:10] = True
    # target: 4 of pattern 0's 5 cells and 4 others fire within the event + tail; one pattern cell too late
    ti = np.r_[0, 1, 2, 3, 5, 6, 12, 13, 4]
    tt = np.r_[np.full(8, 0.115), 0.2]
    tgt = Spikes(i=ti.astype(np.int32), t=tt, n=20)
    r = replay_composition(ev, src, asm, tgt, pats, tail=0.01)
    assert r["events"] == 1
    assert (r["own_spikes"], r["other_spikes"], r["unassigned_spikes"], r["other_cells"]) == (8, 2, 1, 2)
    assert r["duration"] == pytest.approx(0.02)
    assert r["purity"] == pytest.approx(4 / 8) and r["coverage"] == pytest.approx(4 / 5) and r["active"] == 8
    # without a target only the source side; without events, None
    assert "purity" not in replay_composition(ev, src, asm)
    empty = replay_composition([], src, asm, tgt, pats)
    assert empty["events"] == 0 and empty["purity"] is None and empty["own_spikes"] is None
    with pytest.raises(ValueError, match="patterns"):
        replay_composition(ev, src, asm, tgt)


def test_best_recall_takes_the_highest_overlap_within_the_false_alarm_limit():
    from neuromem.analysis import best_recall
    recall = {"r1": {"overlap": [0.9, 0.9], "mean_false_alarm_rate": 0.2},
              "r2": {"overlap": [0.7, 0.9], "mean_false_alarm_rate": 0.01},
              "r3": {"overlap": [0.5], "mean_false_alarm_rate": 0.0},
              "r4": {"overlap": [0.7], "mean_false_alarm_rate": 0.1}}
    rows = [{"gain": 1.0, "overlap": 0.9, "false_alarm": 0.2}, {"gain": 2.0, "overlap": 0.8, "false_alarm": 0.01},
            {"gain": 3.0, "overlap": 0.5, "false_alarm": 0.0}]
    best = best_recall(recall, {1: "r1", 2: "r2", 3: "r3"})
    assert best["gain"] == 2 and best["within_limit"]
    assert [(r["gain"], r["false_alarm"]) for r in best["all"]] == [(r["gain"], r["false_alarm"]) for r in rows]
    assert [r["overlap"] for r in best["all"]] == pytest.approx([r["overlap"] for r in rows])
    assert best["overlap"] == pytest.approx(0.8)                      # the mean over memories
    worst = best_recall(recall, {1: "r1", 4: "r4"})
    assert worst["gain"] == 4 and not worst["within_limit"]        # none within: the fewest false alarms
    assert best_recall(recall, {1: "r1", 2: "r2", 3: "r3"}, max_false_alarm=0.3)["gain"] == 1
    with pytest.raises(ValueError):
        best_recall(recall, {})
    from neuromem.analysis import best_recall_row                    # the same choice on rows already read
    assert best_recall_row(rows) == {**rows[1], "within_limit": True, "all": rows}
    assert best_recall_row(rows[:1], max_false_alarm=0.1)["within_limit"] is False
