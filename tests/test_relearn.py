"""Re-learning a blocked projection's weights from recorded spikes (neuromem.analysis.relearn) against Brian2;
the bistable rule (neuromem.spec.BistableSynapse), which relearn implements too."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from neuromem.analysis import relearn, relearnable
from neuromem.experiment import run_experiment
from neuromem.io import read_run
from neuromem.export.lava.check import check_lava, check_lava_learning
from neuromem.spec import BistableSynapse, ModelError, PairSTDP, TripletSTDP
from neuromem.spec.loader import loads_model

TINY = (Path(__file__).resolve().parent / "data" / "tiny.toml").read_text(encoding="utf-8")

# tiny.toml with the recurrence blocked everywhere and plastic only in a sleep of Poisson
# input, through a pair rule with constant depressions and both normalisations (which bind).
SLEEP = """
[[protocol.phases]]
name = "sleep"
kind = "sleep"
duration = "2 s"
block = ["ctx_ee"]
plastic = { ctx_ee = 0.5 }
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "noise"
rate = "20 Hz"
up = "200 ms"
down = "100 ms"
rate_down = "1 Hz"
"""


def model_text(rule: str) -> str:
    text = TINY.replace('plastic = { ctx_ee = 1.0 }', 'block = ["ctx_ee"]')
    text = text.replace('plasticity = ["stdp"]', 'plasticity = ["stdp", "out", "in"]')
    text = text.replace('weight = { kind = "constant", value = "0 mV" }',
                        'weight = { kind = "uniform", low = "0 mV", high = "4 mV" }')
    head, tail = text.split("[projections.ctx_in_e]")
    rules = (f"{rule}\n[rules.out]\ntype = \"normalisation\"\ntotal = \"60 mV\"\ninterval = \"10 ms\"\n"
             "direction = \"outgoing\"\n\n[rules.in]\ntype = \"normalisation\"\ntotal = \"70 mV\"\n"
             "interval = \"20 ms\"\n\n")
    head = head.split("[rules.stdp]")[0] + rules
    tail = tail.replace('coding_level = 0.2', 'coding_level = 0.2\nreplay_population = "ctx_e"')
    proto, recall = (head + "[projections.ctx_in_e]" + tail).split("[[protocol.phases]]\nname = \"recall_half_cue\"")
    return proto + SLEEP.lstrip("\n") + "\n[[protocol.phases]]\nname = \"recall_half_cue\"" + recall


PAIR = """[rules.stdp]
type = "pair_stdp"
window = "symmetric"
tau_pre = "20 ms"
tau_post = "20 ms"
a_plus = "2 mV"
a_minus = "1.5 mV"
c_pre = "0.1 mV"
c_post = "0.15 mV"
w_max = "6 mV"
"""
TRIPLET = """[rules.stdp]
type = "triplet_stdp"
tau_plus = "16.8 ms"
tau_minus = "33.7 ms"
tau_y = "114 ms"
a2_plus = "0.5 mV"
a3_plus = "2 mV"
a2_minus = "1 mV"
c_post = "0.05 mV"
w_max = "6 mV"
"""


def simulate(text, out):
    model = loads_model(text)
    _, _, folder = run_experiment(model, seed=3, out_dir=out, figures=False, progress=False, log=None,
                                  backend_options={"target": "numpy"})
    return model, read_run(folder)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("relearn")
    return simulate(model_text(PAIR), out / "pair"), simulate(model_text(TRIPLET), out / "triplet")


def again(model, run, rule=None, history=True):
    enc = run.phase("encode")
    return relearn(model, "sleep", "ctx_ee", run.phase("sleep").spikes, run.synapses()["ctx_ee"],
                   run.weights("encode")["ctx_ee"], 2.0, rule=rule,
                   history=(enc.spikes, enc.duration) if history else None, t_start=enc.duration)


def test_relearn_reproduces_the_recorded_weights(runs):
    (model, run), _ = runs
    before, after = run.weights("encode")["ctx_ee"], run.weights("sleep")["ctx_ee"]
    assert np.abs(after - before).max() > 1e-3          # the sleep did change them, and both caps bound
    w = again(model, run)
    np.testing.assert_allclose(w, after, rtol=0, atol=1e-12)
    # each part matters: the caps, and the traces carried over from the encoding
    uncapped = loads_model(model_text(PAIR).replace('plasticity = ["stdp", "out", "in"]', 'plasticity = ["stdp"]'))
    assert np.abs(again(uncapped, run) - after).max() > 1e-4
    assert np.abs(again(model, run, history=False) - after).max() > 1e-9


def test_relearn_with_another_rule_is_what_brian2_learns_with_it(runs):
    """The same spikes (the projection never transmits), another rule: the other run's weights."""
    (pair_model, pair_run), (trip_model, trip_run) = runs
    np.testing.assert_array_equal(pair_run.phase("sleep").spikes["ctx_e"].t, trip_run.phase("sleep").spikes["ctx_e"].t)
    triplet = trip_model.rules["stdp"]
    assert isinstance(triplet, TripletSTDP)
    w = again(pair_model, pair_run, rule=triplet)
    np.testing.assert_allclose(w, trip_run.weights("sleep")["ctx_ee"], rtol=0, atol=1e-12)
    assert np.abs(w - pair_run.weights("sleep")["ctx_ee"]).max() > 1e-3


def test_relearn_refuses_a_projection_that_transmits_or_an_unsupported_rule(runs):
    (model, run), _ = runs
    text = model_text(PAIR).replace('block = ["ctx_ee"]\nplastic = { ctx_ee = 0.5 }', 'plastic = { ctx_ee = 0.5 }')
    open_model = loads_model(text)
    problems = relearnable(open_model, "sleep", "ctx_ee")
    assert len(problems) == 1 and "'ctx_ee' transmits in phase 'sleep'" in problems[0]
    with pytest.raises(ValueError, match="phase 'sleep', projection 'ctx_ee'.*transmits"):
        again(open_model, run)
    std = loads_model(model_text(PAIR).replace('plasticity = ["stdp", "out", "in"]', 'plasticity = ["stdp", "dep"]')
                      .replace("[rules.out]", '[rules.dep]\ntype = "short_term_depression"\nu = 0.2\n'
                                              'tau_rec = "1 s"\n\n[rules.out]'))
    assert relearnable(std, "sleep", "ctx_ee") == [
        "projection 'ctx_ee' has rules relearn does not implement: 'dep' (short_term_depression)"]
    with pytest.raises(ValueError, match="rule must be a PairSTDP or TripletSTDP, got str"):
        again(model, run, rule="stdp")
    with pytest.raises(ValueError, match="no phase 'nap'"):
        relearn(model, "nap", "ctx_ee", {}, (np.zeros(0), np.zeros(0)), np.zeros(0), 1.0)


def test_relearn_leaves_weights_alone_where_the_phase_does_not_learn(runs):
    (model, run), _ = runs
    frozen = loads_model(model_text(PAIR).replace("plastic = { ctx_ee = 0.5 }\n", ""))
    w0 = run.weights("encode")["ctx_ee"]
    w = relearn(frozen, "sleep", "ctx_ee", run.phase("sleep").spikes, run.synapses()["ctx_ee"], w0, 2.0,
                rule=PairSTDP("p", "symmetric", 0.02, 0.02, 1e-3, 1e-3, w_max=6e-3))
    np.testing.assert_array_equal(w, w0)
    assert w is not w0


def test_consolidation_balance_script_reads_a_run_and_a_counterfactual(runs, tmp_path, capsys):
    """simulations/consolidation_balance.py: the re-learning check, the k-WTA readings, per-memory figures."""
    (_, run), _ = runs
    path = Path(__file__).resolve().parents[1] / "simulations" / "consolidation_balance.py"
    spec = importlib.util.spec_from_file_location("sim_consolidation_balance", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(run.path), "--out", str(tmp_path / "own")]) == 0
    own = json.loads((tmp_path / "own" / "summary.json").read_text())
    assert (tmp_path / "own" / "balance.png").stat().st_size > 0
    assert own["phase"] == "sleep" and own["relearn_check_max_abs_diff_mV"] < 1e-9
    readings = own["kwta_recall"]
    assert readings["oracle (w_max inside, 0 outside)"]["overlap"] == pytest.approx(1.0)
    assert len(own["per_memory"]["within_weight_mV"]) == 3 and sum(own["per_memory"]["replays"]) >= 0
    assert "k-WTA recall of" in capsys.readouterr().out
    assert mod.main([str(run.path), "--set", "rules.stdp.c_post=0 mV", "--out", str(tmp_path / "c0")]) == 0
    other = json.loads((tmp_path / "c0" / "summary.json").read_text())
    assert other["overrides"] == ["rules.stdp.c_post=0 mV"]
    assert other["relearn_check_max_abs_diff_mV"] < 1e-9                  # the check always uses the run's own rule
    assert other["weights_mV"]["within"] > own["weights_mV"]["within"]     # no depression per postsynaptic spike
    assert mod.main([str(run.path), "--cap-replays", "1", "--out", str(tmp_path / "cap")]) == 0
    capped = json.loads((tmp_path / "cap" / "summary.json").read_text())
    assert capped["cap_replays"] == 1 and capped["events_dropped"] == sum(max(n - 1, 0) for n in own["per_memory"]["replays"])
    assert capped["events_dropped"] > 0 and capped["weights_mV"] != own["weights_mV"]


BISTABLE = ('[rules.bi]\ntype = "bistable"\ntheta = "2 mV"\nw_up = "5 mV"\nw_down = "0.5 mV"\n'
            'tau_up = "200 ms"\ntau_down = "1 s"\ninterval = "30 ms"\n\n')


def test_bistable_rule_in_brian2_is_its_relaxation_and_relearn_reproduces_it(tmp_path):
    """A bistable rule between the pair rule and the caps: Brian2 (numpy target) against relearn, to 1e-12 V;
    the weights end split around theta, and without the rule they would not."""
    text = model_text(PAIR).replace('plasticity = ["stdp", "out", "in"]', 'plasticity = ["stdp", "bi", "out", "in"]')
    text = text.replace("[rules.out]", BISTABLE + "[rules.out]")
    model, run = simulate(text, tmp_path)
    bi = model.rules["bi"]
    assert isinstance(bi, BistableSynapse)
    after = run.weights("sleep")["ctx_ee"]
    w = again(model, run)
    np.testing.assert_allclose(w, after, rtol=0, atol=1e-12)
    plain = loads_model(model_text(PAIR))
    assert np.abs(again(plain, run) - after).max() > 1e-4
    # two clusters: the synapses end near w_up or near w_down (the caps scale the up state down a little)
    assert np.mean(np.abs(after - bi.w_down) < 0.5e-3) + np.mean((after > bi.theta)) > 0.9
    assert (after > bi.theta).any() and (np.abs(after - bi.w_down) < 0.5e-3).any()


def test_bistable_relax_and_validation():
    bi = BistableSynapse("bi", theta=2e-3, w_up=5e-3, tau_up=0.1, tau_down=1.0, w_down=1e-3, interval=0.01)
    w = np.array([0.0, 1.5e-3, 2e-3, 2.0001e-3, 6e-3])
    once = bi.relax(w)
    d_up, d_down = np.exp(-0.1), np.exp(-0.01)
    np.testing.assert_allclose(once, [1e-3 - 1e-3 * d_down, 1e-3 + 0.5e-3 * d_down, 1e-3 + 1e-3 * d_down,
                                      5e-3 - 2.9999e-3 * d_up, 5e-3 + 1e-3 * d_up], rtol=1e-12)
    np.testing.assert_allclose(bi.relax(w, steps=3), bi.relax(bi.relax(bi.relax(w))), rtol=1e-12)
    assert (np.sign(bi.relax(w, steps=10_000) - bi.theta) == np.where(w > bi.theta, 1, -1)).all()   # never crosses
    for kw, field in (({"theta": 0.5e-3}, "theta"), ({"w_up": 1e-3}, "w_up"), ({"tau_up": 0.0}, "tau_up"),
                      ({"interval": -1.0}, "interval"), ({"w_down": -1e-3}, "w_down")):
        args = dict(theta=2e-3, w_up=5e-3, tau_up=0.1, tau_down=1.0, w_down=1e-3)
        args.update(kw)
        with pytest.raises(ModelError, match=field):
            BistableSynapse("bi", **args)
    two = model_text(PAIR).replace('plasticity = ["stdp", "out", "in"]', 'plasticity = ["stdp", "bi", "bi2"]')
    two = two.replace("[rules.out]", BISTABLE + BISTABLE.replace("rules.bi]", "rules.bi2]") + "[rules.out]")
    with pytest.raises(ModelError, match="at most one bistable rule per projection"):
        loads_model(two)


def test_lava_exports_bistable_weights_frozen_and_relaxes_them_on_the_host():
    text = model_text(PAIR).replace('plasticity = ["stdp", "out", "in"]', 'plasticity = ["stdp", "bi"]')
    model = loads_model(text.replace("[rules.out]", BISTABLE + "[rules.out]"))
    whole = [i for i in check_lava(model) if "'bi'" in i.message]
    assert len(whole) == 1 and whole[0].severity == "warning" and "BistableSynapse" in whole[0].message
    frozen = [i for i in check_lava(model, phase="recall_half_cue") if i.severity == "error"]
    assert not any("'bi'" in i.message for i in frozen)
    learning = [i for i in check_lava_learning(model, "sleep") if "'bi'" in i.message]
    assert [(i.severity, i.feature) for i in learning] == [("warning", "host")]   # beside its STDP, on the host
