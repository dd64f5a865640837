"""Learning on Lava (:mod:`neuromem.export.lava_learning`): the plastic phase of a
Brian2 run on Lava's ``LearningDense`` with a ``Loihi2FLearningRule``, then the
recall phase after it, compared with Brian2.

A 40 E + 10 I network (input source 40) encodes two patterns (E -> E pair STDP
with c_pre and c_post), sleeps 0.5 s (E -> E STDP at lr 0.5 and Vogels iSTDP on
the inhibitory I -> E, whose transmission gain is 0.5; both with 1 ms delays)
and recalls from half cues with I silenced.  Brian2 (numpy target) runs it
twice, with the symmetric and the asymmetric STDP window, and once more with
E -> E blocked (transmission gain 0, still learning) in sleep and at gain 1.5 in
the recall; Lava runs the sleep and the recall in fresh interpreters (Lava's
runtime spawns processes, and other tests check that lava is not imported into
the pytest process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromem._compat import lava311

REPO = Path(__file__).resolve().parents[1]
needs_lava = pytest.mark.skipif(lava311._find_target_source() is None, reason="lava-nc is not installed")

MODEL = '''\
name = "tiny-learn"
description = "40 E + 10 I: encode two patterns, sleep with STDP on E->E and iSTDP on I->E, recall without I"
dt = "0.5 ms"

[populations.E]
size = 40
kind = "excitatory"
tau_m = "20 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-65 mV"
v_th = "-50 mV"
refractory = "2 ms"

[populations.I]
size = 10
kind = "inhibitory"
tau_m = "10 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-65 mV"
v_th = "-50 mV"
refractory = "1 ms"

[sources.inp]
size = 40

[rules.stdp]
type = "pair_stdp"
window = "symmetric"
tau_pre = "20 ms"
tau_post = "15 ms"
a_plus = "1 mV"
a_minus = "0.5 mV"
c_pre = "0.05 mV"
c_post = "0.04 mV"
w_max = "8 mV"

[rules.istdp]
type = "vogels_istdp"
tau = "20 ms"
eta = "0.2 mV"
rho0 = "5 Hz"
w_max = "6 mV"

[rules.norm]
type = "normalisation"
total = "100 mV"
interval = "10 ms"

[projections.in_e]
source = "inp"
target = "E"
connector = { kind = "one_to_one" }
weight = { kind = "constant", value = "40 mV" }

[projections.ee]
source = "E"
target = "E"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "uniform", low = "0 mV", high = "3 mV" }
delay = "1 ms"
plasticity = ["stdp"]

[projections.ei]
source = "E"
target = "I"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "8 mV" }
delay = "0.5 ms"

[projections.ie]
source = "I"
target = "E"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "2 mV" }
sign = "inhibitory"
delay = "1 ms"
plasticity = ["istdp"]

[protocol]
n_memories = 2
pattern_population = "E"
coding_level = 0.25

[[protocol.phases]]
name = "encode"
kind = "encode"
plastic = { ee = 1.0 }
[[protocol.phases.stimuli]]
source = "inp"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"

[[protocol.phases]]
name = "sleep"
kind = "sleep"
duration = "0.5 s"
plastic = { ee = 0.5, ie = 1.0 }
gain = { ie = 0.5 }
[[protocol.phases.stimuli]]
source = "inp"
kind = "noise"
rate = "60 Hz"

[[protocol.phases]]
name = "recall"
kind = "recall"
silence = ["I"]
[[protocol.phases.stimuli]]
source = "inp"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"
fraction = 0.5
'''


def load_model_text(text, overrides=()):
    import tempfile

    from neuromem.spec.loader import load_model
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "m.toml"
        f.write_text(text)
        return load_model(f, overrides=list(overrides))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("model") / "tiny_learn.toml"
    f.write_text(MODEL)
    return f


SEED = 8
"""Run seed of the Brian2 runs the Lava tests compare with.

The network a seed gives is whatever :func:`neuromem.connectivity.draw_projection`
draws from it, so a change of the drawing method changes it.  Seed 1 recalled
(overlap 0.29) with the dense draw before commit dff8b6b; with that commit's
O(synapses) draw its network recalls nothing beyond the cue (overlap 0.0, in
Brian2 alone as in Lava), which broke :func:`test_sleep_on_lava_then_recall`.
Over seeds 1-40 the two draws recall alike (mean overlap 0.44 dense, 0.47
O(synapses); 0 and 2 seeds at 0.0): one realisation, not the draw, failed.
Seed 8 (O(synapses) draw, symmetric window): recall overlap 0.65, 196 spikes
in sleep, mean change 0.36 mV on E -> E and 0.085 mV on I -> E, 22 E -> E
synapses at 0 after it — every threshold below with a margin.
:func:`test_brian2_runs_meet_the_lava_tests_preconditions` checks, without
Lava, that this seed's network still does what the Lava tests need.
"""


@pytest.fixture(scope="module")
def runs(model_file, make_run_folder):
    """Brian2 run folders for both STDP windows (seed :data:`SEED`, numpy target)."""
    return {window: make_run_folder(model_file, SEED, [f'rules.stdp.window="{window}"'], name=window,
                                    backend_options={"target": "numpy"})
            for window in ("symmetric", "asymmetric")}


# ---------------------------------------------------------------- no lava needed


def test_rule_strings_and_impulses():
    from neuromem.export.lava_learning import FAST_TAU, map_rule
    from neuromem.spec import PairSTDP, VogelsISTDP

    dt = 0.5e-3
    stdp = PairSTDP("s", "symmetric", 0.02, 0.015, 1e-3, 5e-4, w_max=8e-3, c_pre=5e-5, c_post=4e-5)
    p = map_rule(stdp, 0.02, 0.5, dt)
    assert p.dw == "x0*y1*d - x0*y3*d - x0*x2*d + y0*x1*d - y0*y2*d"
    assert p.dw_pre == "x0*y1*d - x0*y3*d - x0*x2*d"
    k = 0.02 * 0.5
    assert p.impulses == pytest.approx({"x1": k * 1e-3, "y1": k * 5e-4, "y3": k * 5e-4, "x2": k * 5e-5,
                                        "y2": k * 4e-5})
    assert p.taus["x1"] == pytest.approx(40) and p.taus["y1"] == pytest.approx(30)
    assert p.taus["x2"] == p.taus["y2"] == p.taus["y3"] == FAST_TAU and np.exp(-1 / FAST_TAU) == 0.0
    assert p.lava_bounds == pytest.approx((0.0, 0.02 * 8e-3))
    # asymmetric window: depression on the presynaptic spike; no c_post term when it is 0
    asym = map_rule(PairSTDP("a", "asymmetric", 0.02, 0.02, 1e-3, 1e-3, w_max=8e-3, c_pre=5e-5), 0.02, 1.0, dt)
    assert asym.dw == "-x0*y1*d + x0*y3*d - x0*x2*d + y0*x1*d"
    # inhibitory projection: Lava weights are negative, every sign flips
    v = map_rule(VogelsISTDP("v", tau=0.02, eta=2e-4, rho0=5.0, w_max=6e-3), -0.01, 1.0, dt)
    assert v.dw == "-x0*y1*d + x0*y3*d + x0*x2*d - y0*x1*d"
    assert v.impulses["x2"] == pytest.approx(0.01 * 2e-4 * 2 * 5.0 * 0.02)
    assert v.lava_bounds == pytest.approx((-0.01 * 6e-3, 0.0))


def test_a_rule_learns_on_lava_through_its_registered_mapping_only():
    """One spec class (with its capabilities) + one mapping registered per rule class: map_rule and
    rule_support find it by class; a class not declared lava_learnable cannot register a mapping."""
    import dataclasses

    from neuromem.export.lava.rules import LAVA_RULES, RuleTerms, lava_rule, map_rule, rule_mapping, rule_support
    from neuromem.spec.registry import RULES, RuleCaps, spec_field

    @RULES.register("toy_hebb", RuleCaps(timing=True, lava_learnable=True))
    @dataclasses.dataclass(frozen=True)
    class ToyHebb:
        name: str
        a: float = spec_field("weight")
        tau: float = spec_field("time")

    @RULES.register("toy_host_only", RuleCaps(timing=True))
    @dataclasses.dataclass(frozen=True)
    class ToyNotLava:
        name: str

    try:
        rule = ToyHebb("h", a=2e-3, tau=0.01)
        assert rule_support(rule) is None                    # declared learnable, but no mapping yet
        with pytest.raises(TypeError, match="no Loihi 2 learning rule for ToyHebb"):
            map_rule(rule, 0.5, 1.0, 1e-4)

        @lava_rule(ToyHebb)
        def _map(r, k, s, dt):
            return RuleTerms({"x1": k * r.a}, {"x1": r.tau / dt}, [], [(s, "y0*x1")], (0.0, 1.0))

        assert rule_mapping(rule) is _map and rule_support(rule) == "chip"
        plan = map_rule(rule, -0.5, 2.0, 1e-4, "p", "h")
        assert plan.dw == "-y0*x1*d" and plan.impulses["x1"] == pytest.approx(0.5 * 2.0 * 2e-3)
        assert plan.taus["x1"] == pytest.approx(100.0) and plan.lava_bounds == (-0.5, 0.0)
        assert plan.rule_type == "ToyHebb"
        with pytest.raises(ValueError, match="not a rule registered as lava_learnable"):
            lava_rule(ToyNotLava)(_map)
    finally:
        LAVA_RULES.pop(ToyHebb, None)
        RULES.remove("toy_hebb")
        RULES.remove("toy_host_only")


def test_learning_plans_use_phase_gain_and_learning_rate():
    from neuromem.export.lava import exact_coefficients
    from neuromem.export.lava_learning import check_lava_learning, learning_rule_plans

    m = load_model_text(MODEL)
    assert check_lava_learning(m, "sleep", then="recall") == []
    plans = learning_rule_plans(m, "sleep")
    kappa = exact_coefficients(0.02, 0.005, m.dt)["kappa"]
    assert plans["ee"].scale == pytest.approx(kappa) and plans["ee"].lr == 0.5
    assert plans["ie"].scale == pytest.approx(-0.5 * kappa)      # inhibitory, gain 0.5
    assert not plans["ee"].blocked and not plans["ie"].blocked


def test_blocked_plastic_projection_learns_at_gain_one():
    """Brian2 blocks with gain 0 and keeps learning: the plan is the gain-1 rule, marked blocked."""
    from neuromem.export.lava import exact_coefficients
    from neuromem.export.lava_learning import check_lava_learning, learning_rule_plans

    m = load_model_text(MODEL, ['protocol.phases.sleep.gain={}', 'protocol.phases.sleep.block=["ee", "ie"]'])
    assert check_lava_learning(m, "sleep", then="recall") == []
    plans = learning_rule_plans(m, "sleep")
    kappa = exact_coefficients(0.02, 0.005, m.dt)["kappa"]
    assert plans["ee"].blocked and plans["ee"].scale == pytest.approx(kappa)
    assert plans["ie"].blocked and plans["ie"].scale == pytest.approx(-kappa)
    assert plans["ee"].impulses["x1"] == pytest.approx(kappa * 0.5 * 1e-3)     # k = kappa * lr * A+


def test_normalisation_is_host_side_and_unsupported_rules_are_refused_by_name(tmp_path):
    from neuromem.export.lava import LavaExportError
    from neuromem.export.lava_learning import check_lava_learning, run_lava_learning

    # STDP + normalisation (blocked or not): accepted, with a warning that the host does the normalisation
    for extra in ([], ['protocol.phases.sleep.block=["ee"]']):
        m = load_model_text(MODEL, ['projections.ee.plasticity=["stdp", "norm"]', *extra])
        issues = check_lava_learning(m, "sleep", then="recall")
        assert [(i.severity, i.feature) for i in issues] == [("warning", "normalisation")]
        msg = str(issues[0])
        assert "'norm'" in msg and "projection 'ee'" in msg and "host" in msg and "20 steps" in msg
    # a normalisation with no spike-timing rule to carry the weights: refused by name
    m = load_model_text(MODEL, ['projections.ee.plasticity=["norm"]'])
    errors = [str(i) for i in check_lava_learning(m, "sleep") if i.severity == "error"]
    assert len(errors) == 1
    assert "'norm'" in errors[0] and "SynapticNormalisation" in errors[0] and "projection 'ee'" in errors[0]
    # an activity gate (a third factor) has no Loihi 2 counterpart: refused by name when plastic,
    # only a warning for the frozen export
    gate = ['rules.gate={type="activity_gate", population="I", tau="10 ms", threshold="5 Hz"}',
            'projections.ee.plasticity=["stdp", "gate"]']
    errors = [str(i) for i in check_lava_learning(load_model_text(MODEL, gate), "sleep") if i.severity == "error"]
    assert len(errors) == 1 and "'gate'" in errors[0] and "ActivityGate" in errors[0], errors
    from neuromem.export.lava import check_lava
    frozen = check_lava(load_model_text(MODEL, gate), None)
    assert [i.severity for i in frozen if "'gate'" in str(i)] == ["warning"]
    # fixed point (with or without the normalisation), plasticity after the plastic phase
    for ov in ([], ['projections.ee.plasticity=["stdp", "norm"]']):
        assert any("floating point only" in str(i) and i.severity == "error"
                   for i in check_lava_learning(load_model_text(MODEL, ov), "sleep", "fixed"))
    assert any("only the first phase may learn" in str(i)
               for i in check_lava_learning(load_model_text(MODEL), "sleep", then="encode"))
    # run_lava_learning refuses before reading arrays, writing anything or importing lava
    # a run folder: model.toml and results.json are all that is read before refusing
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.toml").write_text(MODEL.replace('plasticity = ["stdp"]', 'plasticity = ["norm"]'))
    (run / "results.json").write_text(json.dumps({"phases": [{"name": n, "kind": n, "duration": 0.3, "cue_fraction": 1.0,
                                                              "items": []} for n in ("encode", "sleep", "recall")],
                                                  "seed": 1, "wall_time_s": {}}))
    had_lava = "lava" in sys.modules
    with pytest.raises(LavaExportError, match="norm"):
        run_lava_learning(run, phase="sleep", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert ("lava" in sys.modules) == had_lava


STD = ['rules.std.type=short_term_depression', 'rules.std.u=0.02', 'rules.std.tau_rec=200 ms']
BISTABLE = ['rules.bi.type=bistable', 'rules.bi.theta=1.5 mV', 'rules.bi.w_up=3 mV', 'rules.bi.tau_up=200 ms',
            'rules.bi.tau_down=100 ms', 'rules.bi.interval=7 ms']


def test_depression_and_bistable_synapses_are_checked_where_they_act():
    """Short-term depression changes what a spike transmits, not a weight: on a static projection it runs (graded
    spikes), on a projection that learns while it transmits it is refused by name (LearningDense reads binary
    spikes), and a learning projection that is blocked or has it switched off does not need it.  A bistable
    relaxation runs on the host beside the timing rule, refused without one."""
    from neuromem.export.lava_learning import check_lava_learning

    static = load_model_text(MODEL, STD + ['projections.in_e.plasticity=["std"]'])
    assert [i for i in check_lava_learning(static, "sleep", then="recall") if i.severity == "error"] == []
    learning = load_model_text(MODEL, STD + ['projections.ee.plasticity=["stdp", "std"]'])
    errors = [str(i) for i in check_lava_learning(learning, "sleep", then="recall") if i.severity == "error"]
    assert len(errors) == 1 and "projection 'ee' learns in phase 'sleep'" in errors[0] and "'std'" in errors[0]
    for quiet in (['protocol.phases.sleep.block=["ee"]', 'protocol.phases.recall.block=["ee"]'],
                  ['protocol.phases.sleep.stp_off=["ee"]', 'protocol.phases.recall.stp_off=["ee"]']):
        m = load_model_text(MODEL, STD + ['projections.ee.plasticity=["stdp", "std"]', *quiet])
        assert [i for i in check_lava_learning(m, "sleep", then="recall") if i.severity == "error"] == []
    # the depression acting only in the phase run after it still refuses: one network runs both
    m = load_model_text(MODEL, STD + ['projections.ee.plasticity=["stdp", "std"]',
                                      'protocol.phases.sleep.block=["ee"]'])
    assert any("'std'" in str(i) for i in check_lava_learning(m, "sleep", then="recall") if i.severity == "error")
    assert [i for i in check_lava_learning(m, "sleep") if i.severity == "error"] == []
    bi = load_model_text(MODEL, BISTABLE + ['projections.ee.plasticity=["stdp", "bi"]'])
    issues = check_lava_learning(bi, "sleep", then="recall")
    assert [(i.severity, i.feature) for i in issues] == [("warning", "host")]
    assert "'bi'" in str(issues[0]) and "BistableSynapse" in str(issues[0]) and "14 steps" in str(issues[0])
    alone = load_model_text(MODEL, BISTABLE + ['projections.ee.plasticity=["bi"]'])
    errors = [str(i) for i in check_lava_learning(alone, "sleep") if i.severity == "error"]
    assert len(errors) == 1 and "'bi'" in errors[0] and "no spike-timing rule" in errors[0]


def test_cli_check_plastic_phase_refuses_unsupported_rule(tmp_path, capsys):
    """The command line names the rule Lava cannot learn with (export lava checks the run
    folder's integrity first, then refuses the same way)."""
    from neuromem import cli

    model = tmp_path / "model.toml"
    model.write_text(MODEL.replace('plasticity = ["stdp"]', 'plasticity = ["norm"]'))
    assert cli.main(["check", str(model), "--phase", "sleep"]) == 1   # 1: the model has errors for the target
    out = capsys.readouterr()
    text = out.out + out.err
    assert "'norm'" in text and "SynapticNormalisation" in text


@pytest.mark.parametrize("before, duration, interval", [
    ((), 0.1, 0.01),                    # phase at t = 0: first normalisation at the end of step 0
    ((0.3,), 0.5, 0.007),               # the tests' sleep: t0 = 0.3 s, 7 ms -> first at step 2
    ((0.1, 0.2), 0.1, 0.01),            # t0 = 0.1 + 0.2 = 0.30000000000000004
    ((0.0125,), 0.05, 0.01),            # t0 not a multiple of the interval
    ((0.0015,), 0.02, 0.00075),         # interval not a multiple of dt: between steps
])
def test_normalisation_schedule_is_brian2s(before, duration, interval):
    """Brian2's NetworkOperation(dt=interval, when="end") runs after the steps that
    normalisation_steps lists, counted from the phase start (absolute-time clock)."""
    import brian2 as b2

    from neuromem.export.lava_learning import normalisation_steps

    dt = 0.5e-3
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = dt * b2.second
    g = b2.NeuronGroup(1, "n : 1")
    g.run_regularly("n += 1", when="start")            # steps begun so far
    seen = []
    op = b2.NetworkOperation(lambda: seen.append(int(g.n[0])), dt=interval * b2.second, when="end")
    net = b2.Network(g, op)
    for d in before:
        net.run(d * b2.second)
    t0, n0 = float(net.t / b2.second), int(g.n[0])
    seen.clear()
    n_steps = int(round(duration / dt))
    net.run(duration * b2.second)
    assert int(g.n[0]) - n0 == n_steps
    brian = [n - n0 - 1 for n in seen]                 # the last step done when it ran
    mine = normalisation_steps(sum(before), n_steps, dt, interval).tolist()
    assert mine == brian and len(brian) >= 3
    assert normalisation_steps(t0, n_steps, dt, interval).tolist() == brian


@pytest.mark.parametrize("direction", ["incoming", "outgoing"])
def test_host_normalisation_is_brian2s_operation(direction):
    """HostNormalisation.factors on Lava weights (sign * gain * kappa * w) is Brian2's normaliser on w,
    for sums over each postsynaptic neuron's inputs (rows) and each presynaptic neuron's outputs (columns)."""
    from neuromem.export.lava_learning import HostNormalisation
    from neuromem.spec import SynapticNormalisation

    rng = np.random.default_rng(0)
    n_pre, n_post = 7, 5
    mask = rng.random((n_post, n_pre)) < 0.6
    j, i = np.nonzero(mask)
    order = rng.permutation(i.size)
    i, j = i[order], j[order]
    w = rng.uniform(0, 3e-3, i.size)
    own, n_own = (j, n_post) if direction == "incoming" else (i, n_pre)
    total = float(np.median(np.bincount(own, weights=w, minlength=n_own)))   # some neurons over, some not
    for scale in (0.02, -0.013):                       # excitatory, inhibitory (negative Lava weights)
        nz = HostNormalisation("p", SynapticNormalisation("norm", total, 0.01, direction), np.arange(3), i, j,
                               scale, n_own)
        W = np.zeros((n_post, n_pre))
        W[j, i] = w * scale
        f = nz.factors(W)
        assert f.shape == (n_own,)
        sums = np.bincount(own, weights=w, minlength=n_own)
        expect = np.where(sums > total, total / np.where(sums > 0, sums, 1), 1.0)
        np.testing.assert_allclose(f, expect, rtol=1e-15)   # W / scale is w to rounding
        assert (f < 1).any() and (f == 1).any()       # scales down only the neurons over the total

        W2 = nz.transform(W.copy(), nz.row())          # what the LearningDense model applies to its weights
        np.testing.assert_allclose(W2[j, i] / scale, w * expect[own], rtol=1e-15)
        new_sums = np.bincount(own, weights=W2[j, i] / scale, minlength=n_own)
        assert (new_sums <= total * (1 + 1e-12)).all()


def test_brian2_runs_meet_the_lava_tests_preconditions(runs):
    """The Brian2 runs alone (no Lava) have what the Lava tests compare: a recall
    after sleep that completes the patterns, STDP that moves the E -> E weights
    to both bounds, and spikes in every phase.

    These depend on the network the seed draws; they fail here, where lava-nc is
    not needed, when a change of :mod:`neuromem.connectivity` (or of the model)
    leaves the Lava comparisons with nothing to compare, as dff8b6b did for seed 1.
    """
    from neuromem.io import load_synapses, load_weights, read_run

    for window, run in runs.items():
        rf = read_run(run)
        assert rf["seed"] == SEED
        i, j = load_synapses(run)["ee"]
        assert i.size > 700 and not (i == j).any()
        rates = rf["metrics"]["rate_hz"]
        assert rates["E"]["sleep"] > 150 / 40 / 0.5 and rates["E"]["recall"] > 0      # > 150 E spikes in sleep
        before, after = load_weights(run, "encode")["ee"], load_weights(run, "sleep")["ee"]
        assert abs(after.mean() - before.mean()) > 1e-5                                # > 0.01 mV mean change
        w_max = 8e-3
        assert (after >= w_max * (1 - 1e-9)).any() and (after <= 1e-12).any()
        overlap = rf["metrics"]["recall"]["recall"]["mean_overlap"]
        if window == "symmetric":   # the recall the Lava run continues into
            assert overlap > 0.1, (f"seed {SEED}: Brian2's recall after sleep has overlap {overlap} "
                                   f"(cued neurons only?); the Lava recall test needs one that completes")


# ---------------------------------------------------------------- on Lava


@pytest.fixture(scope="module")
def lava_results(runs, tmp_path_factory, run_python):
    """Lava: both windows with Brian2's clipping order (the symmetric one with the
    recall after sleep), and the CLI with the default (Loihi-style) clipping."""
    out = tmp_path_factory.mktemp("lava")
    res = run_python(f"""
        import json
        from neuromem.export.lava_learning import run_lava_learning
        sym, asym, o = {str(runs["symmetric"])!r}, {str(runs["asymmetric"])!r}, {str(out)!r}
        res = {{"symmetric": run_lava_learning(sym, phase="sleep", bounds="brian2", out=o + "/sym"),
                "asymmetric": run_lava_learning(asym, phase="sleep", bounds="brian2", then=None, out=o + "/asym"),
                "stock": run_lava_learning(sym, phase="sleep", bounds="none", then=None, out=o + "/stock")}}
        print(json.dumps(res))
        """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cli = subprocess.run([sys.executable, "-W", "ignore", "-m", "neuromem", "export", "lava",
                          str(runs["symmetric"]), "--phase", "sleep", "--out", str(out / "cli")],
                         capture_output=True, text=True, env=env, cwd=str(REPO), timeout=240)
    assert cli.returncode == 0, cli.stderr[-4000:]
    return res, out, cli.stdout


@pytest.mark.lava
@needs_lava
@pytest.mark.parametrize("window", ["symmetric", "asymmetric"])
def test_stdp_weights_on_lava_equal_brian2(lava_results, window):
    res = lava_results[0][window]
    w = res["weights"]["ee"]
    assert res["rules"]["ee"]["type"] == "PairSTDP" and res["rules"]["ee"]["lr"] == 0.5
    assert w["n_synapses"] > 700 and abs(w["mean_change_mV"]["brian2"]) > 0.01
    assert w["bound_events"]["clipped"] > 100          # the bounds are exercised
    assert w["max_relative_diff"] < 1e-6                # every synapse, after 1000 steps
    assert w["at_upper_bound"]["lava"] == w["at_upper_bound"]["brian2"] > 0
    assert w["at_lower_bound"]["lava"] == w["at_lower_bound"]["brian2"] > 0
    assert res["spikes"]["identical_spike_fraction"] == 1.0 and res["spikes"]["spikes_reference"] > 150


@pytest.mark.lava
@needs_lava
def test_istdp_weights_on_lava_equal_brian2(lava_results):
    for res in (lava_results[0][k] for k in ("symmetric", "asymmetric")):
        w = res["weights"]["ie"]
        assert res["rules"]["ie"]["type"] == "VogelsISTDP"
        assert res["rules"]["ie"]["lava_weight_per_volt"] < 0          # inhibitory, gain 0.5
        assert abs(w["mean_change_mV"]["brian2"]) > 1e-3
        assert w["max_relative_diff"] < 1e-6


@pytest.mark.lava
@needs_lava
def test_sleep_on_lava_then_recall(lava_results):
    """The recall after sleep continues in the same Lava network, I silenced
    (threshold switched), learning gated off; with Brian2's clipping order it is
    spike for spike Brian2's, and the learned weights file matches the results."""
    res = lava_results[0]["symmetric"]
    out = lava_results[1]
    rec = res["recall"]
    assert res["then"] == "recall" and res["n_steps"] == {"sleep": 1000, "recall": 600}
    assert rec["spikes"]["identical_spike_fraction"] == 1.0 and rec["spikes"]["spikes_reference"] > 50
    assert res["recall_overlap"] > 0.1
    assert res["recall_overlap"] == pytest.approx(res["recall_overlap_brian2"])
    assert res["recall_overlap_brian2"] == pytest.approx(res["recall_overlap_brian2_results"])
    assert rec["pattern_identity"] == 1.0
    assert res["trace_history"]["phases"] == ["encode"] and res["initial_state"] == "snapshot"
    written = json.loads((out / "sym" / "lava_sleep_results.json").read_text())
    assert written["weights"] == res["weights"]
    with np.load(out / "sym" / "lava_sleep_weights.npz") as z:
        assert set(z.files) == {"ee", "ie"} and z["ee"].shape == (res["weights"]["ee"]["n_synapses"],)
    assert not list((out / "sym").glob(".*tmp"))


@pytest.mark.lava
@needs_lava
def test_cli_learns_with_loihi_style_clipping(lava_results, runs):
    """Default bounds: one saturation per step; only same-step pre/post pairs
    whose presynaptic update alone crosses a bound can differ from Brian2, and
    they are counted."""
    _, out, stdout = lava_results
    assert "sleep with learning (bounds clip)" in stdout and "recall after the Lava sleep" in stdout
    res = json.loads((out / "cli" / "lava_sleep_results.json").read_text())
    assert res["bounds"] == "clip" and res["then"] == "recall"
    assert abs(res["recall_overlap_difference"]) <= 0.1
    w = res["weights"]["ee"]
    assert w["correlation"] > 0.9999 and w["bound_events"]["clipped"] > 100
    assert res["weights"]["ie"]["max_relative_diff"] < 1e-6
    if res["spikes"]["identical_spike_fraction"] == 1.0:
        # same spikes: only the synapses of order-sensitive pairs can differ from Brian2
        from neuromem.io import load_weights
        with np.load(out / "cli" / "lava_sleep_weights.npz") as z:
            lava = z["ee"]
        brian = load_weights(runs["symmetric"], "sleep")["ee"]
        n_diff = int(np.sum(np.abs(lava - brian) > 1e-9 * np.abs(brian).max()))
        assert n_diff <= w["bound_events"]["order_sensitive"]


@pytest.mark.lava
@needs_lava
def test_stock_lava_learning_dense_has_no_upper_bound(lava_results):
    """bounds="none": Lava's LearningDense with the sign mode only; it is reported, not hidden."""
    res = lava_results[0]["stock"]
    msgs = {i["message"].split(",")[0]: i["feature"] for i in res["issues"]}
    assert msgs == {"projection 'ee'": "bounds", "projection 'ie'": "bounds"}
    w = res["weights"]["ee"]
    assert "bound_events" not in w
    assert w["beyond_bounds_lava"] > 0 and w["at_upper_bound"]["brian2"] > 0
    assert w["at_lower_bound"]["lava"] > 0           # the sign mode still clips at w_min = 0


@pytest.fixture(scope="module")
def blocked_results(model_file, tmp_path_factory, make_run_folder, run_python):
    """E -> E blocked in sleep (Brian2: gain 0, STDP still on) and at gain 1.5 in the
    recall; Brian2 (numpy), then Lava with Brian2's clipping order."""
    folder = make_run_folder(model_file, 1, ['protocol.phases.sleep.block=["ee"]',
                                             'protocol.phases.recall.gain={ ee = 1.5 }'],
                             name="blocked", backend_options={"target": "numpy"})
    out = tmp_path_factory.mktemp("lava_blocked")
    res = run_python(f"""
        import json
        from neuromem.export.lava_learning import run_lava_learning
        print(json.dumps(run_lava_learning({str(folder)!r}, phase="sleep", bounds="brian2", out={str(out)!r})))
        """)
    return res, Path(folder), out


@pytest.mark.lava
@needs_lava
def test_blocked_plastic_projection_learns_then_transmits(blocked_results):
    """A plastic projection blocked in sleep learns on Lava exactly as in Brian2
    without delivering current (sleep spikes identical), and the learned weights
    transmit at the recall's gain after the switch (recall spikes identical)."""
    from neuromem.io import load_weights

    res, folder, out = blocked_results
    assert res["rules"]["ee"]["blocked"] is True and res["rules"]["ie"]["blocked"] is False
    assert res["rules"]["ee"]["lava_weight_per_volt"] > 0 and res["rules"]["ee"]["lr"] == 0.5
    w = res["weights"]["ee"]
    assert w["n_synapses"] > 700 and abs(w["mean_change_mV"]["brian2"]) > 0.01
    assert w["bound_events"]["clipped"] > 100
    assert w["max_relative_diff"] < 1e-6
    assert w["at_upper_bound"]["lava"] == w["at_upper_bound"]["brian2"] > 0
    assert res["weights"]["ie"]["max_relative_diff"] < 1e-6
    with np.load(out / "lava_sleep_weights.npz") as z:
        np.testing.assert_allclose(z["ee"], load_weights(folder, "sleep")["ee"], rtol=0, atol=1e-6 * 8e-3)
    assert res["spikes"]["identical_spike_fraction"] == 1.0 and res["spikes"]["spikes_reference"] > 100
    rec = res["recall"]
    assert res["then"] == "recall"
    assert rec["spikes"]["identical_spike_fraction"] == 1.0 and rec["spikes"]["spikes_reference"] > 100
    assert res["recall_overlap"] > 0.1 and res["recall_overlap"] == pytest.approx(res["recall_overlap_brian2"])
    assert rec["pattern_identity"] == 1.0


NORM = ['projections.ee.plasticity=["stdp", "norm"]', 'rules.norm.total="50 mV"', 'rules.norm.interval="7 ms"']
# "open" adds an outgoing cap after the incoming one (both every 7 ms: same steps, in list order)
OUT_NORM = ['rules.norm_out.type=normalisation', 'rules.norm_out.total=52 mV', 'rules.norm_out.interval=7 ms',
            'rules.norm_out.direction=outgoing', 'projections.ee.plasticity=["stdp", "norm", "norm_out"]']


@pytest.fixture(scope="module")
def norm_results(model_file, tmp_path_factory, make_run_folder, run_python):
    """E -> E STDP with a normalisation (50 mV every 7 ms; sleep starts at t = 0.3 s, so
    Brian2 first normalises at the end of sleep step 2, then every 14 steps), E -> E
    transmitting in sleep, and blocked in sleep (gain 1.5 in the recall); Brian2 (numpy),
    then Lava with the host-side normalisation: Brian2's clipping order for both, and
    the default (Loihi-style) clipping without the recall."""
    folders = {key: make_run_folder(model_file, 1, NORM + extra, name=f"norm_{key}",
                                    backend_options={"target": "numpy"})
               for key, extra in (("open", OUT_NORM), ("blocked", ['protocol.phases.sleep.block=["ee"]',
                                                                   'protocol.phases.recall.gain={ ee = 1.5 }']))}
    out = tmp_path_factory.mktemp("lava_norm")
    res = run_python(f"""
        import json
        from neuromem.export.lava_learning import run_lava_learning
        f, o = {json.dumps({k: str(v) for k, v in folders.items()})}, {str(out)!r}
        print(json.dumps({{
            "open": run_lava_learning(f["open"], phase="sleep", bounds="brian2", out=o + "/open"),
            "blocked": run_lava_learning(f["blocked"], phase="sleep", bounds="brian2", out=o + "/blocked"),
            "clip": run_lava_learning(f["open"], phase="sleep", bounds="clip", then=None, out=o + "/clip")}}))
        """, timeout=400)
    return res, folders


@pytest.mark.lava
@needs_lava
@pytest.mark.parametrize("key", ["open", "blocked"])
def test_normalisation_on_the_host_equals_brian2(norm_results, key):
    """The LearningDense rescales its own weights (the host's operation) after the steps where Brian2's
    normaliser runs: weights equal Brian2's to rounding after 1000 steps in which it scaled neurons down,
    and sleep and recall spikes are identical."""
    from neuromem.io import load_weights

    res, folders = norm_results
    res = res[key]
    assert list(res["normalisation"]["ee"]) == (["norm", "norm_out"] if key == "open" else ["norm"])
    nz = res["normalisation"]["ee"]["norm"]
    if key == "open":                                  # the outgoing cap, applied after the incoming one
        out = res["normalisation"]["ee"]["norm_out"]
        assert out["direction"] == "outgoing" and out["applied"] == 72 and out["rescaled"] > 0
        assert out["max_summed_weight_mV"]["lava"] == pytest.approx(out["max_summed_weight_mV"]["brian2"],
                                                                     rel=1e-12)
        # (not <= 52 mV: STDP steps after the last normalisation can push a sum over the cap)
    assert res["rules"]["ee"]["blocked"] is (key == "blocked")
    assert nz["rule"] == "norm" and nz["total_mV"] == pytest.approx(50.0)
    assert nz["phase_start_s"] == pytest.approx(0.3) and nz["first_step"] == 2
    assert nz["n_scheduled"] == nz["applied"] == 72 and nz["interval_steps"] == pytest.approx(14)
    assert nz["rescaled"] > 20 and nz["neuron_rescales"] > 50 and nz["min_factor"] < 0.99  # it acted
    assert nz["max_summed_weight_mV"]["lava"] == pytest.approx(nz["max_summed_weight_mV"]["brian2"], rel=1e-12)
    w = res["weights"]["ee"]
    assert abs(w["mean_change_mV"]["brian2"]) > 0.01 and w["bound_events"]["clipped"] > 100
    assert w["max_relative_diff"] < 1e-12                    # ~1e-15: every synapse
    with np.load(Path(res["weights_output"])) as z:
        np.testing.assert_allclose(z["ee"], load_weights(folders[key], "sleep")["ee"], rtol=1e-12, atol=0)
    assert res["weights"]["ie"]["max_relative_diff"] < 1e-12
    assert res["spikes"]["identical_spike_fraction"] == 1.0 and res["spikes"]["spikes_reference"] > 150
    rec = res["recall"]
    assert rec["spikes"]["identical_spike_fraction"] == 1.0 and rec["spikes"]["spikes_reference"] > 100
    assert res["recall_overlap"] == pytest.approx(res["recall_overlap_brian2"])
    assert res["wall_time_s"]["lava_host_normalisation"] > 0
    assert [i["feature"] for i in res["issues"]] == ["normalisation"] * (2 if key == "open" else 1)


@pytest.mark.lava
@needs_lava
def test_normalisation_composes_with_loihi_style_clipping(norm_results):
    """bounds="clip": one saturation per step, then the host's rescaling.  Only the
    order-sensitive same-step pairs differ from Brian2; the rescaling spreads such a
    difference over the neuron's inputs but keeps it small."""
    res = norm_results[0]["clip"]
    nz, w = res["normalisation"]["ee"]["norm"], res["weights"]["ee"]
    assert nz["rescaled"] > 20 and w["bound_events"]["clipped"] > 100
    assert w["correlation"] > 0.9999
    if w["bound_events"]["order_sensitive"] == 0:
        assert w["max_relative_diff"] < 1e-12
    else:
        assert w["max_relative_diff"] < 0.05
    assert res["spikes"]["spikes_reference"] > 150 and res["spikes"]["identical_spike_fraction"] > 0.95


@pytest.fixture(scope="module")
def host_results(model_file, tmp_path_factory, make_run_folder, run_python):
    """Depressing input synapses (in_e: u = 0.02, tau_rec = 200 ms, acting in every phase) and E -> E STDP
    with a bistable relaxation and a normalisation (both every 7 ms, in that order); Brian2 (numpy), then
    Lava: the sleep with the resources replayed over the encoding (run in chunks of 300 steps, reporting
    progress), and once more with them full."""
    folder = make_run_folder(model_file, SEED, STD + BISTABLE + [
        'projections.in_e.plasticity=["std"]', 'projections.ee.plasticity=["stdp", "bi", "norm"]',
        'rules.norm.total=50 mV', 'rules.norm.interval=7 ms'], name="host", backend_options={"target": "numpy"})
    out = tmp_path_factory.mktemp("lava_host")
    res = run_python(f"""
        import json
        import neuromem.export.lava.learning as lava_learning
        import neuromem.export.lava.run as lava_run
        from neuromem.export.lava_learning import run_lava_learning
        f, o = {str(folder)!r}, {str(out)!r}
        lava_learning.PROGRESS_STEPS = 300         # the sleep (1000 steps) in four runs: pauses change nothing
        seen = []
        exact = run_lava_learning(f, phase="sleep", bounds="brian2", out=o + "/exact",
                                  progress=lambda *a, **k: seen.append(k.get("done")))
        exact["progress_done"] = seen
        lava_run.load_depression = lambda *a, **k: {{}}
        full = run_lava_learning(f, phase="sleep", bounds="brian2", then=None, out=o + "/full")
        print(json.dumps({{"exact": exact, "full": full}}))
        """, timeout=400)
    return res, Path(folder)


@pytest.mark.lava
@needs_lava
def test_depression_and_bistable_synapses_learn_on_lava_as_in_brian2(host_results):
    """Graded spikes carry the depression and the host relaxes the E -> E weights to their two states between
    chunks of the run: weights equal Brian2's to rounding, sleep and recall spikes identical.  Without the
    resources the encoding left, the sleep spikes differ: the replay over the phases before it matters."""
    from neuromem.io import load_weights

    res, folder = host_results
    exact = res["exact"]
    bi = exact["host_rules"]["ee"]["bi"]
    assert bi["applied"] == bi["n_scheduled"] == 72 and bi["first_step"] == 2
    assert bi["went_up"] + bi["went_down"] == exact["weights"]["ee"]["n_synapses"]
    assert list(exact["normalisation"]["ee"]) == ["norm"] and exact["normalisation"]["ee"]["norm"]["applied"] == 72
    assert [i["feature"] for i in exact["issues"]] == ["host", "normalisation"]
    w = exact["weights"]["ee"]
    assert w["max_relative_diff"] < 1e-12 and exact["weights"]["ie"]["max_relative_diff"] < 1e-12
    start, after = load_weights(folder, "encode")["ee"], load_weights(folder, "sleep")["ee"]
    up = after > 1.5e-3           # the relaxation acted in sleep: the high side went most of the way to w_up
    assert up.sum() > 100 and np.abs(after[up] - 3e-3).mean() < 0.3 * np.abs(start[start > 1.5e-3] - 3e-3).mean()
    assert exact["spikes"]["identical_spike_fraction"] == 1.0 and exact["spikes"]["spikes_reference"] > 50
    rec = exact["recall"]
    assert rec["spikes"]["identical_spike_fraction"] == 1.0 and rec["spikes"]["spikes_reference"] > 50
    assert exact["recall_overlap"] == pytest.approx(exact["recall_overlap_brian2"])
    assert res["full"]["spikes"]["identical_spike_fraction"] < 0.9
    assert [300, 600, 900, 1000] == [d for d in exact["progress_done"] if d in (300, 600, 900, 1000)][:4]


def test_learning_module_imports_no_lava(run_python):
    out = run_python(f"""
        import json, sys
        from neuromem.export.lava_learning import check_lava_learning, learning_rule_plans
        from neuromem.spec.loader import loads_model
        m = loads_model({MODEL!r})
        plans = learning_rule_plans(m, "sleep")
        issues = check_lava_learning(m, "sleep", then="recall")
        print(json.dumps([sorted(plans), len(issues),
                          sorted(k for k in sys.modules if k.split(".")[0] == "lava")]))
        """, timeout=60)
    assert out == [["ee", "ie"], 0, []]
