"""The capacity script's model changes (fast; the sweep itself is in test_experiments.py, slow)."""

import argparse
import importlib.util
from pathlib import Path

import pytest

from neuromem.spec.errors import ModelError
from neuromem.spec.loader import load_model

ROOT = Path(__file__).resolve().parent.parent


def _script(name):
    spec = importlib.util.spec_from_file_location(f"sim_{name}_fast", ROOT / "simulations" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _capacity():
    return _script("capacity")


@pytest.mark.parametrize("p", [0.125, 0.25, 0.5])
def test_fixed_field_keeps_connections_times_weight(p):
    cap = _capacity()
    base = load_model(cap.MODEL)
    model = load_model(cap.MODEL, overrides=[f"{cap.P_KEY}={p}"] + cap.fixed_field_overrides(base, p))
    old, new = base.rules["ctx_slow"], model.rules["ctx_slow"]
    for f in ("a_plus", "a_minus", "c_pre", "c_post", "w_max"):
        assert getattr(new, f) * p == pytest.approx(getattr(old, f) * 0.5, rel=1e-6), f
    assert (model.projections["ctx_ee"].weight.high * p
            == pytest.approx(base.projections["ctx_ee"].weight.high * 0.5, rel=1e-6))
    # the normalisation totals are sums over a cell's synapses: unchanged
    assert model.rules["ctx_norm"].total == base.rules["ctx_norm"].total
    assert model.rules["ctx_incap"].total == base.rules["ctx_incap"].total


def test_set_option_refuses_a_bad_key_before_running(tmp_path, capsys):
    cap = _capacity()
    with pytest.raises(ModelError, match="no_such_population"):
        cap.main(["--quick", "--seed", "1", "--out", str(tmp_path / "cap"),
                  "--set", "populations.no_such_population.size=3"])
    assert not (tmp_path / "cap").exists()


def test_ideal_binary_network_learns_willshaws_clipped_weights():
    """At full connectivity a weight is 1 when two cells were ever active together: the fraction
    of ones is 1 - (1 - f²)^K (Willshaw's load; 1/2 at K = ln 2 / f² ≈ 69 for f = 0.1)."""
    from neuromem.analysis.binary_network import binary_network_recall
    got = binary_network_recall(1000, 0.1, 1.0, 69, seed=3)
    assert got["weight_fraction"] == pytest.approx(1 - (1 - 0.01) ** 69, abs=0.01)
    few = binary_network_recall(1000, 0.1, 0.5, 5, seed=3)
    assert few["overlap"] > 0.99 and few["false_alarm_rate"] == 0.0


def test_ideal_binary_network_capacity_grows_in_proportion_to_connections():
    """The reference the experiment reads its K* against: the ideal network of the cortex's size,
    code and cue stores more with more connections, in proportion (slope 0.8-1.2, the theory of
    Roudi & Latham), and its K* at the default connectivity (C = 500) is measured, not assumed."""
    from neuromem.analysis.binary_network import binary_network_capacity
    ks = tuple(range(5, 201, 5))
    kstar = {p: binary_network_capacity(1000, 0.1, p, ks, seeds=(1, 2))["k_star"] for p in (0.125, 0.25, 0.5)}
    assert kstar[0.125] < kstar[0.25] < kstar[0.5]
    slope = _capacity().fit_slope([125, 250, 500], [kstar[p] for p in (0.125, 0.25, 0.5)])
    assert 0.8 <= slope <= 1.2
    assert 50 <= kstar[0.5] <= 100


def test_ideal_binary_network_refuses_a_cue_without_cells():
    from neuromem.analysis.binary_network import binary_network_recall
    with pytest.raises(ValueError, match="cue"):
        binary_network_recall(100, 0.02, 0.5, 3, cue_fraction=0.1)


def _oracle():
    return _script("capacity_oracle")


def test_oracle_protocol_trains_cortex_on_the_patterns_with_the_hippocampus_silenced():
    oracle = _oracle()
    base = load_model(oracle.MODEL)
    model = oracle.build_model(4, budget=3.0, repeats=2, gains=(1.0, 2.5), istdp=False)
    train, *recalls = model.protocol.phases
    assert train.name == "train" and set(train.silence) == {"hpc_e", "hpc_i"}
    assert dict(train.plastic) == {"ctx_ee": 1.0}
    (pat,) = [s for s in train.stimuli if s.kind == "patterns"]
    assert sorted(pat.memories) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [(r.name, r.start_from, dict(r.gain)["ctx_ei"]) for r in recalls] == [
        ("recall_g1", "train", 1.0), ("recall_g2.5", "train", 2.5)]
    assert model.rules["ctx_norm"].total == pytest.approx(3 * base.rules["ctx_norm"].total)
    assert model.rules["ctx_incap"].total == pytest.approx(3 * base.rules["ctx_incap"].total)
    assert dict(oracle.build_model(2, repeats=1).protocol.phases[0].plastic) == {"ctx_ee": 1.0, "ctx_ie": 1.0}


def test_oracle_best_gain_takes_the_best_recall_within_the_false_alarm_limit():
    oracle = _oracle()
    rec = {"recall_g1": {"overlap": [0.9, 0.95], "mean_false_alarm_rate": 0.2},
           "recall_g2": {"overlap": [0.8, 0.84], "mean_false_alarm_rate": 0.01},
           "recall_g3": {"overlap": [0.5, 0.5], "mean_false_alarm_rate": 0.0}}
    best = oracle.best_gain(rec, (1, 2, 3))
    assert best["gain"] == 2.0 and best["overlap"] == pytest.approx(0.82) and best["passes"]
    none_ok = oracle.best_gain({"recall_g1": {"overlap": [0.9], "mean_false_alarm_rate": 0.3},
                                "recall_g2": {"overlap": [0.7], "mean_false_alarm_rate": 0.1}}, (1, 2))
    assert none_ok["gain"] == 2.0 and not none_ok["passes"]


@pytest.mark.slow
def test_oracle_quick_cortex_stores_five_patterns_it_is_shown(tmp_path):
    """Oracle consolidation at K = 5 (seed 1, default rules): measured 0.991 / false alarms 0.000."""
    import json

    oracle = _oracle()
    assert oracle.main(["--quick", "--seed", "1", "--jobs", "1", "--out", str(tmp_path / "o")]) == 0
    (row,) = json.loads((tmp_path / "o" / "summary.json").read_text())["rows"]
    assert row["k"] == 5 and row["passes"]
    assert row["overlap"] >= 0.9 and row["false_alarm"] <= 0.05


def _purity():
    return _script("replay_purity")


def test_replay_purity_branches_one_sleep_per_variant_from_the_same_encoding():
    rp = _purity()
    assert rp.parse_variants("; hpc_ei=1 ;hpc_ie=0.7, hpc_ei=0.7") == ({}, {"hpc_ei": 1.0},
                                                                          {"hpc_ie": 0.7, "hpc_ei": 0.7})
    with pytest.raises(ValueError, match="hpc_ei"):
        rp.parse_variants("hpc_ei")
    base = load_model(rp.MODEL)
    model = rp.build_model(4, 2.0, ({}, {"hpc_ei": 1.0}), (1.0, 1.5))
    names = [(p.name, p.start_from) for p in model.protocol.phases]
    assert names == [("encode", None),
                     ("sleep_v0", "encode"), ("recall_v0_g1", "sleep_v0"), ("recall_v0_g1.5", "sleep_v0"),
                     ("sleep_v1", "encode"), ("recall_v1_g1", "sleep_v1"), ("recall_v1_g1.5", "sleep_v1")]
    ph = {p.name: p for p in model.protocol.phases}
    assert ph["sleep_v0"].duration == pytest.approx(8.0)
    assert dict(ph["sleep_v0"].gain) == dict(base.protocol.phase("sleep").gain)
    assert dict(ph["sleep_v1"].gain) == {**dict(base.protocol.phase("sleep").gain), "hpc_ei": 1.0}
    assert set(ph["recall_v1_g1.5"].silence) == {"hpc_e", "hpc_i"} and dict(ph["recall_v1_g1.5"].gain)["ctx_ei"] == 1.5
    assert model.protocol.n_memories == 4


@pytest.mark.slow
def test_replay_purity_quick_winner_take_all_in_ca3_purifies_reinstatement(tmp_path):
    """K = 6, 6 s sleeps, seed 1. Measured: the model's sleep 34 events, 28.5 other-assembly CA3 cells
    active per event, purity 0.64, recall 0.939; with CA3 E -> I gain 1.0: 8 events, 11.0 cells, purity
    0.89, recall 0.657 (seeds 2, 3: purity 0.68 -> 0.97, 0.68 -> 0.91)."""
    import json

    rp = _purity()
    assert rp.main(["--quick", "--seed", "1", "--jobs", "1", "--out", str(tmp_path / "p")]) == 0
    model, wta = json.loads((tmp_path / "p" / "summary.json").read_text())["rows"]
    assert (model["sleep_gain"], wta["sleep_gain"]) == ({}, {"hpc_ei": 1.0})
    assert model["recall"]["overlap"] >= 0.9                      # the model's own sleep consolidates K = 6
    assert model["other_cells"] > 2 * wta["other_cells"]           # events of one assembly, not bursts of several
    assert wta["purity"] >= model["purity"] + 0.15
    assert wta["events"] < model["events"] / 2                     # the price: fewer events
    assert wta["coverage"] >= 0.9 and model["coverage"] >= 0.9


@pytest.mark.slow
def test_replay_purity_ca3_recurrence_in_sleep_completes_reinstatement(tmp_path):
    """K = 20, budgets x 2, 2 s of sleep per memory, CA3 noise 150 Hz, CA3 E -> I / I -> E gains 0.7 / 0.7,
    seed 1 (docs/experiments.md, "CA3 recurrence on in sleep"). Measured: CA3 recurrence at gain 1: 120
    events, 19 spikes of the replayed assembly per event, coverage 0.92, cortex alone 0.721 (FA 0.035);
    at gain 2: 221 events, 93 spikes, coverage 0.98, cortex alone 0.929 (FA 0.003)."""
    import json

    rp = _purity()
    assert rp.main(["--k", "20", "--sleep", "2", "--seed", "1", "--jobs", "1", "--gains", "1.4,1.6",
                    "--variants", "hpc_ie=0.7,hpc_ei=0.7; hpc_ie=0.7,hpc_ei=0.7,hpc_ee=2",
                    "--set", "rules.ctx_norm.total=700 mV", "--set", "rules.ctx_incap.total=1000 mV",
                    "--set", "protocol.phases.sleep.stimuli.0.rate=150 Hz", "--out", str(tmp_path / "p")]) == 0
    one, two = json.loads((tmp_path / "p" / "summary.json").read_text())["rows"]
    assert two["sleep_gain"]["hpc_ee"] == 2.0 and "hpc_ee" not in one["sleep_gain"]
    assert two["own_spikes"] > 3 * one["own_spikes"]               # the replayed assembly ignites completely
    assert two["coverage"] > one["coverage"]
    assert two["recall"]["within_limit"] and two["recall"]["overlap"] >= 0.85
    assert two["recall"]["overlap"] >= one["recall"]["overlap"] + 0.1


def test_diagnostic_scripts_share_the_point_options():
    import argparse

    from neuromem.batch import add_point_arguments
    ap = argparse.ArgumentParser()
    add_point_arguments(ap, out="results/x", model="models/cls_small.toml", quick="{'k': 2}", seeds="1,2")
    a = ap.parse_args(["--seed", "3", "--set", "a.b=1", "--set", "c=2", "--quick", "--jobs", "1"])
    assert (a.seed, a.seeds, a.quick, a.overrides, a.model, a.jobs, a.out) == (
        3, "1,2", True, ["a.b=1", "c=2"], "models/cls_small.toml", 1, "results/x")
    for name in ("capacity_oracle", "replay_purity", "lesion_gradient"):
        with pytest.raises(SystemExit):
            _script(name).main(["--help"])


#: models/cls_k50.toml against models/cls_small.toml: every change (models/README.md, "Variant: models/cls_k50.toml")
K50_CHANGES = [
    "populations.hpc_e.size=1000", "sources.hpc_in.size=1000", "populations.hpc_i.size=250",
    "projections.hpc_ei.connector.p=0.1", "projections.hpc_ie.connector.p=0.25", "projections.hpc_ii.connector.p=0.1",
    "rules.ctx_norm.total=1750 mV", "rules.ctx_incap.total=2500 mV",
    'rules.ctx_bi={ type = "bistable", theta = "1 mV", w_up = "6 mV", tau_up = "60 s", tau_down = "500 ms" }',
    'projections.ctx_ee.plasticity=["ctx_slow", "ctx_bi", "ctx_norm", "ctx_incap"]',
    'rules.hpc_std={ type = "short_term_depression", u = 0.2, tau_rec = "2 s" }',
    'projections.hpc_ee.plasticity=["hpc_fast", "hpc_ee_norm", "hpc_std"]',
    "rules.hpc_fast.w_max=6 mV", "rules.hpc_to_ctx_fast.c_post=0.02 mV",
    "protocol.n_memories=50", "protocol.phases.encode.gain={hpc_ie=3.0}",
    *(f"protocol.phases.{s}.{k}" for s in ("sleep", "sleep_blocked") for k in (
        "duration=300 s", "gain={hpc_ie=1.0, hpc_ei=1.0, hpc_ee=3.0, hpc_ctx=5.0, ctx_ei=2.0}",
        "stimuli.0.rate=100 Hz")),
    *(f"protocol.phases.{r}.gain={{ctx_ei=1.65}}" for r in (
        "recall_lesioned_before_sleep", "recall_lesioned_after_sleep", "recall_lesioned_after_blocked_sleep")),
    *(f"protocol.phases.{r}.stp_off=[\"hpc_ee\"]" for r in ("recall_intact_after_encoding", "recall_intact_after_sleep")),
    'projections.ctx_in_hpc={ source = "ctx_in", target = "hpc_e", connector = { kind = "fixed_indegree", '
    'indegree = 100 }, weight = { kind = "constant", value = "3.5 mV" }, delay = "2 ms", '
    'plasticity = ["ctx_to_hpc_fast", "ctx_hpc_norm"] }',
    "protocol.phases.encode.plastic={ctx_ee=0.0167, hpc_ee=1.0, ctx_hpc=1.0, hpc_ctx=1.0, ctx_in_hpc=1.0}",
    'protocol.phases.encode.block=["ctx_ee", "hpc_ee", "hpc_ctx", "ctx_in_hpc"]',
    "protocol.phases.recall_intact_after_encoding.gain={ctx_in_hpc=0.3}",
    "protocol.phases.recall_intact_after_sleep.gain={ctx_ei=1.65, ctx_in_hpc=0.3, hpc_ie=2.0}",
]


#: models/cls.toml (the default model) against models/cls_k50.toml: every change (models/README.md, "The default model")
K50_DG_CHANGES = [
    'populations.dg_e={ size = 2000, kind = "excitatory", tau_m = "20 ms", tau_syn = "5 ms", v_rest = "-70 mV", '
    'v_reset = "-65 mV", v_th = "-50 mV", refractory = "5 ms" }',
    'projections.ctx_dg={ source = "ctx_e", target = "dg_e", connector = { kind = "fixed_indegree", indegree = 20 }, '
    'weight = { kind = "constant", value = "9 mV" }, delay = "1 ms" }',
    'rules.mossy={ type = "pair_stdp", window = "symmetric", tau_pre = "20 ms", tau_post = "20 ms", a_plus = "8 mV", '
    'a_minus = "8 mV", w_max = "70 mV", c_post = "8 mV" }',
    'projections.dg_hpc={ source = "dg_e", target = "hpc_e", connector = { kind = "fixed_indegree", indegree = 15 }, '
    'weight = { kind = "constant", value = "70 mV" }, delay = "1 ms", plasticity = ["mossy"] }',
    "rules.hpc_fast.a_plus=3 mV", "rules.hpc_fast.a_minus=3 mV", "rules.hpc_fast.w_max=15 mV",
    "protocol.phases.encode.gain={hpc_ie=4.0, ctx_hpc=0.5}",
    "protocol.phases.encode.plastic={ctx_ee=0.0167, hpc_ee=1.0, ctx_hpc=1.0, hpc_ctx=1.0, ctx_in_hpc=1.0, dg_hpc=1.0}",
    *(f"protocol.phases.{s}.{k}" for s in ("sleep", "sleep_blocked") for k in (
        "gain.hpc_ee=4.0", 'block=["ctx_hpc", "ctx_hpc_i", "ctx_ee", "dg_hpc"]')),
    *(f'protocol.phases.{r}.block=["dg_hpc"]' for r in (
        "recall_intact_after_encoding", "recall_lesioned_before_sleep", "recall_lesioned_after_sleep",
        "recall_intact_after_sleep", "recall_lesioned_after_blocked_sleep")),
    # the hippocampal lesion silences the DG too
    *(f'protocol.phases.{r}.silence=["hpc_e", "hpc_i", "dg_e"]' for r in (
        "recall_lesioned_before_sleep", "recall_lesioned_after_sleep", "recall_lesioned_after_blocked_sleep")),
    # the default protocol: 15 memories, 6 s of sleep per memory as in cls_k50.toml (capacity.py sweeps K)
    "protocol.n_memories=15", "protocol.phases.sleep.duration=90 s", "protocol.phases.sleep_blocked.duration=90 s",
]


@pytest.mark.parametrize("variant, base, changes", [
    ("cls_k50", "cls_small", K50_CHANGES), ("cls", "cls_k50", K50_DG_CHANGES)])
def test_variant_model_is_its_base_with_its_listed_changes(variant, base, changes):
    from dataclasses import replace
    model = load_model(ROOT / "models" / f"{variant}.toml")
    derived = load_model(ROOT / "models" / f"{base}.toml", overrides=changes)
    assert model.name == variant
    assert replace(model, name=derived.name, description=derived.description) == derived
    # and each change is needed: without any one of them the model is another (or none)
    for i, change in enumerate(changes):
        try:
            other = load_model(ROOT / "models" / f"{base}.toml", overrides=changes[:i] + changes[i + 1:])
        except ModelError:
            continue
        assert other != derived, change


@pytest.mark.parametrize("args, fragment", [
    (["--ks", "0.125:15;0.25"], "is not P:K,K"),
    (["--ks", "10,x"], "argument --ks: '10,x'"),
    (["--ks", "0.125:0,5"], "memory counts must be > 0"),
    (["--ks", "2:10"], "not in (0, 1]"),
    (["--gains", "1.5,-1"], "every value must be > 0"),
    (["--ps", "0.5,abc"], "argument --ps: '0.5,abc'"),
])
def test_malformed_point_options_are_usage_errors_and_write_nothing(args, fragment, tmp_path, capsys):
    """A malformed --ks / --ps / --gains is argparse's usage error (exit 2) naming the option and the
    value, before any folder is made — not a traceback from inside the sweep."""
    cap = _capacity()
    out = tmp_path / "cap"
    with pytest.raises(SystemExit) as exc:
        cap.main([*args, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert not out.exists()


@pytest.mark.parametrize("script, args, fragment", [
    ("capacity", ["--ps", "0.5,1.5"], "argument --ps: '0.5,1.5': every value must be > 0 and <= 1 (got 1.5)"),
    ("capacity_oracle", ["--ks", "10,x"], "argument --ks: '10,x': not a comma-separated list of integers"),
    ("capacity_oracle", ["--budgets", "2,0"], "argument --budgets: '2,0': every value must be > 0 (got 0)"),
    ("capacity_oracle", ["--gains", "1.5,"], "argument --gains: '1.5,': not a comma-separated list of numbers"),
    ("interference", ["--overlaps", "0,0.5,1.2"], "argument --overlaps: '0,0.5,1.2': every value must be >= 0 and <= 1"),
    ("interference", ["--overlaps", "half"], "argument --overlaps: 'half': not a comma-separated list of numbers"),
    ("replay_purity", ["--gains", "1.5,-1"], "argument --gains: '1.5,-1': every value must be > 0 (got -1)"),
])
def test_every_scripts_comma_lists_are_usage_errors_when_malformed(script, args, fragment, tmp_path, capsys):
    """The scripts' comma-separated number options share one parser (:func:`neuromem.batch.number_list`):
    a malformed list or a value out of range is a usage error (exit 2) naming the option, the text and
    the range, and nothing is written."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        _script(script).main([*args, "--out", str(out)])
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists()


def test_interference_help_says_its_overrides_apply_to_every_arm(capsys):
    """interference.py's --set changes every arm's model file, the dentate arm's (--model-dg) too."""
    with pytest.raises(SystemExit) as exc:
        _script("interference").main(["--help"])
    assert exc.value.code == 0
    assert "applied to every arm's model file, --model and --model-dg alike" in " ".join(capsys.readouterr().out.split())


def test_number_list_reads_and_checks_each_value():
    from neuromem.batch import number_list
    assert number_list(float)("1.5,1.8") == (1.5, 1.8)
    assert number_list(int)("5,10") == (5, 10) and all(type(v) is int for v in number_list(int)("5,10"))
    assert number_list(float, low_inclusive=True, high=1)("0,1") == (0.0, 1.0)
    for text in ("nan", "1,0", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be > 0"):
            number_list(float)(text)
    with pytest.raises(argparse.ArgumentTypeError, match="integers"):
        number_list(int)("2.5")


def test_ks_per_connectivity_and_fixed_field_scale_a_bistable_rule():
    cap = _capacity()
    assert cap.parse_ks("5,10") == (5, 10)
    assert cap.parse_ks("0.125:15,20; 0.5:50") == {0.125: (15, 20), 0.5: (50,)}
    with pytest.raises(ValueError, match="0.25"):
        cap.parse_ks("0.125:15;0.25")
    k50 = ROOT / "models" / "cls_k50.toml"
    base = load_model(k50)
    model = load_model(k50, overrides=[f"{cap.P_KEY}=0.125"] + cap.fixed_field_overrides(base, 0.125))
    old, new = base.rules["ctx_bi"], model.rules["ctx_bi"]
    for f in ("theta", "w_up", "w_down"):
        assert getattr(new, f) == pytest.approx(getattr(old, f) * 4, rel=1e-6), f
    assert (new.tau_up, new.tau_down) == (old.tau_up, old.tau_down)
    assert model.rules["ctx_slow"].w_max == pytest.approx(new.w_up, rel=1e-6)


def test_gains_branch_one_cortex_alone_recall_per_inhibition_and_the_best_within_the_limit_counts():
    cap = _capacity()
    model = cap.build_model(ROOT / "models" / "cls_small.toml", gains=(1.5, 1.8))
    names = [ph.name for ph in model.protocol.phases]
    assert names == ["encode", "recall_intact_after_encoding", "sleep", "recall_lesioned_after_sleep_g1.5",
                     "recall_lesioned_after_sleep_g1.8", "recall_intact_after_sleep"]
    for g in (1.5, 1.8):
        ph = model.protocol.phase(cap.lesioned_name(g))
        assert ph.start_from == "sleep" and dict(ph.gain) == {"ctx_ei": g}
        assert set(ph.silence) == {"hpc_e", "hpc_i"}
    row = {"recall_lesioned_after_sleep_g1.5": "0.85", "recall.recall_lesioned_after_sleep_g1.5.mean_false_alarm_rate": "0.08",
           "recall_lesioned_after_sleep_g1.8": "0.81", "recall.recall_lesioned_after_sleep_g1.8.mean_false_alarm_rate": "0.02",
           "recall.recall_lesioned_after_sleep_g1.8.mean_hit_rate": "0.9"}
    got = cap.point_metrics(row, (1.5, 1.8))
    assert (got["gain"], got["lesioned"], got["false_alarm"], got["hit"]) == (1.8, 0.81, 0.02, 0.9)
    row["recall.recall_lesioned_after_sleep_g1.8.mean_false_alarm_rate"] = "0.06"   # none within: fewest false alarms
    assert cap.point_metrics(row, (1.5, 1.8))["gain"] == 1.8
    plain = cap.point_metrics({"recall_lesioned_after_sleep": "0.7"})    # without gains: the model's recall
    assert plain["lesioned"] == 0.7 and "gain" not in plain
    assert cap.recall_cue_fraction(model) == pytest.approx(0.3)   # the theory line's cue, from the branched recalls


def test_sleep_per_memory_defaults_to_the_model_files_own(monkeypatch, tmp_path):
    """Without --sleep-per-memory a full-size sweep sleeps as long per memory as the model file does
    (cls_small.toml 40 s / 10 = 4 s, cls_k50.toml 300 s / 50 = 6 s, the default cls.toml 90 s / 15 = 6 s),
    --set included; --quick keeps 2 s."""
    cap = _capacity()
    assert cap.model_sleep_per_memory(load_model(ROOT / "models" / "cls_small.toml")) == pytest.approx(4.0)
    assert cap.model_sleep_per_memory(load_model(ROOT / "models" / "cls_k50.toml")) == pytest.approx(6.0)
    assert cap.model_sleep_per_memory(load_model(ROOT / "models" / "cls.toml")) == pytest.approx(6.0)
    seen = []

    def fake_sweep(model, grid, seeds, out, overrides=(), **kw):
        seen.append([o for o in overrides if o.startswith("protocol.phases.sleep.duration")])
        raise SystemExit(0)     # stop before anything runs

    monkeypatch.setattr(cap, "run_sweep", fake_sweep)
    for argv, want in ((["--ks", "10", "--ps", "0.5"], "60 s"),
                       (["--ks", "10", "--ps", "0.5", "--model", str(ROOT / "models" / "cls_small.toml")], "40 s"),
                       (["--ks", "10", "--ps", "0.5", "--set", "protocol.phases.sleep.duration=30 s"], "20 s"),
                       (["--ks", "10", "--ps", "0.5", "--sleep-per-memory", "3"], "30 s"),
                       (["--quick", "--ks", "10", "--ps", "0.5"], "20 s")):
        with pytest.raises(SystemExit):
            cap.main(argv + ["--out", str(tmp_path / "o"), "--seeds", "1"])
        assert seen.pop()[0] == f"protocol.phases.sleep.duration={want}", argv   # the script's own, first


@pytest.mark.parametrize("script, override, fragment", [
    ("capacity", "rules.nope.x=1", "rules.nope.type: missing required key 'type'"),
    ("capacity", "protocol.phases.sleep_blocked.duration=1 s",   # a phase the capacity chain does not run
     "protocol.phases has no element named 'sleep_blocked' (elements: 'encode', 'recall_intact_after_encoding', "
     "'sleep', 'recall_lesioned_after_sleep', 'recall_intact_after_sleep') (capacity.py runs the model's main chain "
     "only)"),
    ("interference", "populations.ctx_e.tau_m=3 Hz", "populations.ctx_e.tau_m"),
    ("lesion_gradient", "rules.ctx_slow.kind=x", "rules.ctx_slow"),
    ("replay_purity", "rules.nope.x=1", "rules.nope.type"),
    ("capacity_oracle", "rules.nope.x=1", "rules.nope.type"),
])
def test_scripts_report_a_bad_override_as_one_error_line_and_exit_2(script, override, fragment, tmp_path, capsys):
    """Run as commands (``sys.exit(script_main(main))``), the experiment scripts turn a bad ``--set`` into
    one ``error:`` line naming the key and the override (no traceback), exit status 2, nothing written."""
    mod = _script(script)
    out = tmp_path / "out"
    assert mod.script_main(mod.main, ["--set", override, "--out", str(out), "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and "Traceback" not in err, err
    assert not out.exists()


def test_assembly_figures_are_none_without_a_readable_run_folder(tmp_path):
    """A sweep row whose folder is missing (a failed point) or not a run folder gives no figures, not an error."""
    cap = _capacity()
    empty = dict.fromkeys(("size_recall_r", "small_assembly_cells", "small_assembly_recall",
                           "large_assembly_cells", "large_assembly_recall"))
    assert cap.assembly_figures(None) == empty
    assert cap.assembly_figures(tmp_path / "missing", gain=1.65) == empty
    (tmp_path / "notarun").mkdir()
    assert cap.assembly_figures(tmp_path / "notarun") == empty
