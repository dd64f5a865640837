"""The Brian2 backend against analytic solutions, on networks of a few neurons.

Every model here is tiny (1 to 40 neurons, at most a few hundred ms) and is
written as a TOML table in code.  Most tests replace the stochastic input
generator with fixed spike trains (the ``inject`` fixture), so spike times are
known exactly and the expected membrane potentials and weight changes can be
computed by hand.

Timing conventions of the backend that the analytic references follow:

* A zero-delay input spike emitted at step ``t`` is delivered after that
  step's state update, so ``I`` jumps at ``t + dt`` (one-step latency).
* The membrane potential is recorded at the start of each step.  A neuron
  whose potential crosses ``v_th`` during ``[t, t + dt)`` spikes at ``t``.
* Plasticity sees pre- and postsynaptic spikes at the times they are
  recorded, so the STDP lag is ``t_post - t_pre`` of the recorded spikes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tomli_w

import neuromem.backends.runner as runner
from neuromem.backends.brian2 import Brian2Options, Builder, simulate
from neuromem.spec import ModelError, SynapticNormalisation
from neuromem.spec.loader import loads_model
from neuromem.stimulus import phase_inputs as real_phase_inputs

DT = 1e-4
MV = 1e-3
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(params=["numpy", pytest.param("cython", marks=pytest.mark.slow)])
def opts(request):
    """Options of the simulating tests: Brian2's numpy target in ``make test``, Cython in the slow set.

    The builders' equations are the same on both targets; what differs is the generated code, and a
    fresh cache compiles every small model of this module in Cython (about 2 minutes each on the
    2-core machine, against seconds on numpy).  Cython-specific behaviour (compile arguments,
    numpy = Cython, the exact membrane on Cython) is tested on Cython in either set.
    """
    return Brian2Options(progress=False, target=request.param)


# ---------------------------------------------------------------- model helpers


def lif(size=1, kind="excitatory", **kw):
    """A population table with round default parameters (overridable)."""
    d = {"size": size, "kind": kind, "tau_m": "20 ms", "tau_syn": "5 ms", "v_rest": "-70 mV",
         "v_reset": "-65 mV", "v_th": "-50 mV", "refractory": "5 ms"}
    d.update(kw)
    return d


def proj(source, target, weight, connector="all_to_all", **kw):
    """A projection table with a constant weight (a quantity string)."""
    d = {"source": source, "target": target, "connector": {"kind": connector},
         "weight": {"kind": "constant", "value": weight}}
    d.update(kw)
    return d


def make_model(populations, sources, projections, phases, rules=None, dt="0.1 ms", **protocol):
    """Build a validated model from tables, through the TOML loader."""
    pattern = protocol.pop("pattern_population", next(iter(populations)))
    raw = {"name": "test", "dt": dt, "populations": populations, "sources": sources,
           "rules": rules or {}, "projections": projections,
           "protocol": {"n_memories": 1, "pattern_population": pattern, "coding_level": 0.9,
                        **protocol, "phases": phases}}
    return loads_model(tomli_w.dumps(raw), file="<test>")


def phase(name, duration="100 ms", **kw):
    return {"name": name, "kind": kw.pop("kind", "wake"), "duration": duration, **kw}


def train(times, index=0):
    """Spike train ``(i, t)`` of one source neuron (or of ``index`` per spike)."""
    t = np.asarray(times, dtype=float)
    i = np.broadcast_to(np.asarray(index, dtype=np.int32), t.shape).astype(np.int32)
    order = np.lexsort((i, t))
    return i[order], t[order]


def trains(*pairs):
    """Merge ``(neuron, times)`` pairs into one ``(i, t)`` train."""
    i = np.concatenate([np.full(len(ts), k, np.int32) for k, ts in pairs])
    t = np.concatenate([np.asarray(ts, float) for _, ts in pairs])
    order = np.lexsort((i, t))
    return i[order], t[order]


@pytest.fixture
def inject(monkeypatch):
    """Replace the input generator: ``inject({phase: {source: (i, t)}})``.

    Sources not given are silent; phases not given use the real generator.
    Times are rounded to the dt grid.
    """

    def install(spec):
        def fake(ph, model, patterns, cues, rng):
            if ph.name not in spec:
                return real_phase_inputs(ph, model, patterns, cues, rng)
            out = {s: (np.zeros(0, np.int32), np.zeros(0)) for s in model.sources}
            for src, (i, t) in spec[ph.name].items():
                out[src] = (np.asarray(i, np.int32), np.round(np.asarray(t) / model.dt) * model.dt)
            return out, [], 1.0

        monkeypatch.setattr(runner, "phase_inputs", fake)

    return install


def psp(t, times, w, tau_m, tau_s):
    """Membrane deviation from rest for current jumps ``w`` at ``times`` (exact solution)."""
    u = np.zeros_like(t)
    for tk in times:
        s = t - tk
        on = s >= -1e-12
        u[on] += w * tau_s / (tau_s - tau_m) * (np.exp(-s[on] / tau_s) - np.exp(-s[on] / tau_m))
    return u


# ---------------------------------------------------------------- (a) exact integration


@pytest.mark.parametrize("target", ["numpy", "cython"])
def test_subthreshold_membrane_matches_exact_solution(target, inject):
    if target == "cython" and not _cython_available():
        pytest.skip("Cython cannot compile here")
    model = make_model({"post": lif()}, {"inp": {"size": 1}},
                       {"inp_post": proj("inp", "post", "3 mV", "one_to_one")},
                       [phase("drive", "100 ms", record_state=["post"])])
    times = np.array([10.0, 12.3, 30.0, 31.0, 60.0]) * 1e-3
    inject({"drive": {"inp": train(times)}})
    run = simulate(model, 0, Brian2Options(target=target, progress=False))
    t, v = run.phase("drive").state["post"]
    assert t.shape == (1000,) and v.shape == (1, 1000)
    np.testing.assert_allclose(t, np.arange(1000) * DT, rtol=0, atol=1e-12)
    # I += w acts from the step after the spike (one-step latency)
    expected = -70 * MV + psp(t, times + DT, 3 * MV, 0.02, 0.005)
    np.testing.assert_allclose(v[0], expected, rtol=0, atol=1e-9)
    assert np.abs(v[0] - expected).max() < 1e-12            # in fact to rounding error
    assert run.phase("drive").spikes["post"].t.size == 0
    assert v[0].max() > -70 * MV + 1 * MV                   # the input did something


# spikes through the depressing synapse, by phase (s from the phase's start); "blocked" blocks it,
# "off" switches its depression off (stp_off)
STD_PHASES = {"drive": [10.0, 12.0, 14.0, 16.0, 40.0, 41.0], "later": [30.0], "off": [2.0, 3.0, 4.0, 5.0],
              "blocked": [2.0, 4.0, 6.0, 8.0], "after": [10.0]}


@pytest.mark.parametrize("target", ["numpy", pytest.param("cython", marks=pytest.mark.slow),
                                    pytest.param("cpp_standalone", marks=pytest.mark.slow)])
def test_short_term_depression_scales_each_spike_by_its_resources(target, inject):
    """Tsodyks–Markram depression: the k-th spike moves the membrane by w R_k, R_k from the exact recursion;
    the resources carry over from phase to phase, a blocked projection's spikes use none, with the depression
    switched off (stp_off) a spike transmits w and uses none, w never moves."""
    from neuromem.spec import ShortTermDepression

    rules = {"std": {"type": "short_term_depression", "u": 0.4, "tau_rec": "30 ms"}}
    model = make_model({"post": lif(), "ref": lif()}, {"inp": {"size": 1}},
                       {"inp_post": proj("inp", "post", "3 mV", "one_to_one", plasticity=["std"]),
                        "inp_ref": proj("inp", "ref", "3 mV", "one_to_one")},
                       [phase("drive", "60 ms", record_state=["post", "ref"]),
                        phase("later", "60 ms", record_state=["post"]),
                        phase("off", "20 ms", stp_off=["inp_post"], record_state=["post"]),
                        phase("blocked", "30 ms", block=["inp_post"], record_state=["post"]),
                        phase("after", "50 ms", record_state=["post"])], rules=rules)
    rule = model.rules["std"]
    assert isinstance(rule, ShortTermDepression)
    inject({name: {"inp": train(np.array(ts) * 1e-3)} for name, ts in STD_PHASES.items()})
    device, tgt = ("cpp_standalone", "auto") if target == "cpp_standalone" else ("runtime", target)
    run = simulate(model, 0, Brian2Options(progress=False, device=device, target=tgt))
    starts = dict(zip(STD_PHASES, np.cumsum([0.0] + [ph.duration for ph in run.phases[:-1]])))
    sent = np.array([starts[n] + t * 1e-3 for n, ts in STD_PHASES.items() if n not in ("blocked", "off")
                     for t in ts])
    full = np.array([starts["off"] + t * 1e-3 for t in STD_PHASES["off"]])     # transmitted at w, nothing used
    r = rule.efficacies(sent)
    assert r[0] == 1.0     # after a spike 1 - U = 0.6 is left, which recovers towards 1 for 2 ms
    np.testing.assert_allclose(r[1], 1 - 0.4 * np.exp(-2 / 30), rtol=1e-12)
    assert r[1] < r[0] and r[2] < r[1] and r[4] > r[3] and r[5] < r[4] and r[6] > r[4]
    for name, t0 in starts.items():
        t, v = run.phase(name).state["post"]
        expected = -70 * MV + sum(psp(t + t0, [tk + DT], 3 * MV * rk, 0.02, 0.005) for tk, rk in zip(sent, r))
        expected += psp(t + t0, full + DT, 3 * MV, 0.02, 0.005)
        np.testing.assert_allclose(v[0], expected, rtol=0, atol=1e-12, err_msg=name)
    # without the rule every spike transmits the full weight
    t, v_ref = run.phase("drive").state["ref"]
    first = sent[sent < 0.06]
    np.testing.assert_allclose(v_ref[0], -70 * MV + psp(t, first + DT, 3 * MV, 0.02, 0.005), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(run.phase("after").weights["inp_post"], [3 * MV])


# ---------------------------------------------------------------- (b) threshold, reset, refractory


def test_first_spike_time_reset_and_refractory_period(inject, opts):
    pop = lif(tau_syn="50 ms", refractory="4 ms")
    model = make_model({"post": pop}, {"inp": {"size": 1}},
                       {"inp_post": proj("inp", "post", "1 V", "one_to_one")},
                       [phase("drive", "60 ms", record_state=["post"])])
    inject({"drive": {"inp": train([5e-3])}})
    run = simulate(model, 0, opts)
    ph = run.phase("drive")
    t, v = ph.state["post"]
    spikes = ph.spikes["post"].t
    assert spikes.size >= 3
    # first spike: the step during which the exact solution crosses threshold
    grid = np.arange(600) * DT
    u = -70 * MV + psp(grid, [5e-3 + DT], 1.0, 0.02, 0.05)
    first_above = grid[np.argmax(u > -50 * MV)]
    assert spikes[0] == pytest.approx(first_above - DT, abs=1e-12)
    np.testing.assert_allclose(v[0, t < spikes[0] + DT / 2], u[t < spikes[0] + DT / 2], atol=1e-12)
    # no spike within the refractory period; the drive is strong enough that
    # the neuron fires again soon after it ends
    isi = np.diff(spikes)
    assert isi.min() >= 4e-3 - 1e-9
    assert isi[0] < 4e-3 + 1e-3
    # v is held at v_reset while refractory
    for ts in spikes[spikes < 55e-3]:
        held = (t > ts + DT / 2) & (t < ts + 4e-3 + DT / 2)
        assert held.sum() == 40
        np.testing.assert_array_equal(v[0, held], -65 * MV)


# ---------------------------------------------------------------- (c) pair STDP


def stdp_reference(w0, pre, post, rule, lr=1.0):
    """Pair STDP (all-to-all traces), applied event by event as models/README.md states it."""
    events = sorted([(t, 0) for t in pre] + [(t, 1) for t in post])
    x = y = 0.0
    last = 0.0
    w = w0
    for t, kind in events:
        x *= math.exp(-(t - last) / rule["tau_pre"])
        y *= math.exp(-(t - last) / rule["tau_post"])
        last = t
        if kind == 0:
            if rule["window"] == "asymmetric":
                w -= lr * (rule["a_minus"] * y + rule["c_pre"])
            else:
                w += lr * (rule["a_minus"] * y - rule["c_pre"])
            x += 1
        else:
            w += lr * (rule["a_plus"] * x - rule["c_post"])
            y += 1
        w = min(max(w, rule["w_min"]), rule["w_max"])
    return w


STDP = {"tau_pre": 0.02, "tau_post": 0.01, "a_plus": 0.1 * MV, "a_minus": 0.06 * MV,
        "c_pre": 0.01 * MV, "c_post": 0.004 * MV, "w_min": 0.2 * MV, "w_max": 1.0 * MV}
# pre spike times relative to the drive spike at 50 ms: 3 before the post spike, 3 after
PRE_OFFSETS = np.array([-20.0, -8.0, -3.0, 6.0, 15.0, 30.0]) * 1e-3
T_DRIVE = 50e-3


def stdp_model(window, plastic=None, duration="150 ms"):
    """Post neuron fired once by a strong drive; 6 pre neurons -> post via 3 plastic projections.

    The projections differ only in their initial weight: ``mid`` (0.5 mV),
    ``high`` (0.98 mV, near w_max) and ``low`` (0.21 mV, near w_min).
    """
    rule = {"type": "pair_stdp", "window": window, "tau_pre": "20 ms", "tau_post": "10 ms",
            "a_plus": "0.1 mV", "a_minus": "0.06 mV", "c_pre": "0.01 mV", "c_post": "0.004 mV", "w_min": "0.2 mV",
            "w_max": "1 mV"}
    post = lif(tau_m="10 ms", tau_syn="1 ms", refractory="2 ms")
    projections = {"drive_post": proj("drive", "post", "500 mV", "one_to_one")}
    for name, w in (("mid", "0.5 mV"), ("high", "0.98 mV"), ("low", "0.21 mV")):
        projections[name] = proj("pre", "post", w, plasticity=["stdp"])
    if plastic is None:
        plastic = {"mid": 1.0, "high": 1.0, "low": 1.0}
    return make_model({"post": post}, {"pre": {"size": 6}, "drive": {"size": 1}}, projections,
                      [phase("pair", duration, plastic=plastic)], rules={"stdp": rule})


def run_stdp(inject, opts, window, plastic=None):
    model = stdp_model(window, plastic)
    inject({"pair": {"drive": train([T_DRIVE]),
                     "pre": trains(*[(k, [T_DRIVE + d]) for k, d in enumerate(PRE_OFFSETS)])}})
    run = simulate(model, 0, opts)
    ph = run.phase("pair")
    t_post = ph.spikes["post"].t
    assert t_post.size == 1, "the drive must fire the post neuron exactly once"
    pre_i, pre_t = ph.spikes["pre"].i, ph.spikes["pre"].t
    t_pre = np.array([pre_t[pre_i == k][0] for k in range(6)])
    return run, t_pre, float(t_post[0])


@pytest.mark.parametrize("window", ["asymmetric", "symmetric"])
def test_pair_stdp_single_pairs(window, inject, opts):
    run, t_pre, t_post = run_stdp(inject, opts, window)
    w = run.phase("pair").weights
    lag = t_post - t_pre
    before, after = lag > 0, lag < 0
    assert before.sum() == 3 and after.sum() == 3
    r = STDP
    np.testing.assert_array_equal(run.initial_weights["mid"], 0.5 * MV)
    dw = w["mid"] - 0.5 * MV
    # pre before post: -c_pre at the pre spike, then +a_plus exp(-lag/tau_pre) - c_post at the post spike
    np.testing.assert_allclose(dw[before], r["a_plus"] * np.exp(-lag[before] / r["tau_pre"]) - r["c_pre"] - r["c_post"],
                               rtol=1e-9, atol=1e-15)
    assert np.all(dw[before] > 0)
    # post before pre: depression (asymmetric) or potentiation (symmetric) by a_minus exp(-lag/tau_post)
    sign = -1.0 if window == "asymmetric" else 1.0
    # (the post spike came first, with no presynaptic trace: -c_post there)
    np.testing.assert_allclose(dw[after], sign * r["a_minus"] * np.exp(lag[after] / r["tau_post"])
                               - r["c_pre"] - r["c_post"], rtol=1e-9, atol=1e-15)
    assert np.all(np.sign(dw[after] + r["c_pre"] + r["c_post"]) == sign)
    # hard bounds: near w_max the potentiation saturates, near w_min the depression does
    for name, w0 in (("mid", 0.5 * MV), ("high", 0.98 * MV), ("low", 0.21 * MV)):
        ref = [stdp_reference(w0, [tp], [t_post], {**r, "window": window}) for tp in t_pre]
        np.testing.assert_allclose(w[name], ref, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(w["high"][before], r["w_max"], rtol=0, atol=1e-15)
    if window == "asymmetric":
        np.testing.assert_allclose(w["low"][after], r["w_min"], rtol=0, atol=1e-15)
    assert w["high"].max() <= r["w_max"] and w["low"].min() >= r["w_min"]


def test_pair_stdp_learning_rate_scale_and_frozen(inject, opts):
    full, t_pre, t_post = run_stdp(inject, opts, "asymmetric")
    half, t_pre2, t_post2 = run_stdp(inject, opts, "asymmetric", plastic={"mid": 0.5})
    assert t_post2 == t_post
    d_full = full.phase("pair").weights["mid"] - 0.5 * MV
    d_half = half.phase("pair").weights["mid"] - 0.5 * MV
    np.testing.assert_allclose(d_half, 0.5 * d_full, rtol=1e-9, atol=1e-16)
    assert np.abs(d_full).min() > 1e-6 * MV
    # "high" and "low" are not listed in `plastic`: frozen, their weights do not move
    for name, w0 in (("high", 0.98 * MV), ("low", 0.21 * MV)):
        np.testing.assert_array_equal(half.phase("pair").weights[name], np.full(6, w0))


def triplet_reference(w0, pre, post, rule):
    """Minimal triplet STDP (Pfister & Gerstner 2006), applied event by event as its docstring states it."""
    events = sorted([(t, 0) for t in pre] + [(t, 1) for t in post])
    r1 = o1 = o2 = 0.0
    last, w = 0.0, w0
    for t, kind in events:
        r1 *= math.exp(-(t - last) / rule["tau_plus"])
        o1 *= math.exp(-(t - last) / rule["tau_minus"])
        o2 *= math.exp(-(t - last) / rule["tau_y"])
        last = t
        if kind == 0:
            w -= rule["a2_minus"] * o1 + rule["c_pre"]
            r1 += 1
        else:
            w += r1 * (rule["a2_plus"] + rule["a3_plus"] * o2) - rule["c_post"]
            o1 += 1
            o2 += 1
        w = min(max(w, rule["w_min"]), rule["w_max"])
    return w


TRIPLET = {"tau_plus": 0.0168, "tau_minus": 0.0337, "tau_y": 0.114, "a2_plus": 0.0 * MV, "a3_plus": 0.2 * MV,
           "a2_minus": 0.07 * MV, "w_min": 0.0, "w_max": 1.0 * MV, "c_pre": 0.0, "c_post": 0.0}


@pytest.mark.parametrize("post_spikes, constants", [(1, 0.0), (2, 0.0), (2, 0.003)])
def test_triplet_stdp_potentiates_only_with_a_second_postsynaptic_spike(post_spikes, constants, inject, opts):
    """Minimal triplet STDP: with one postsynaptic spike a pre-before-post pair is not potentiated (no pair
    term) and post-before-pre depresses; a second postsynaptic spike potentiates by A3+ r1 o2; the constant
    depressions take c_pre per presynaptic and c_post per postsynaptic spike; the weights follow the
    event-by-event reference; the drift's rate threshold is the docstring's."""
    from neuromem.spec import TripletSTDP

    rule = {"type": "triplet_stdp", "tau_plus": "16.8 ms", "tau_minus": "33.7 ms", "tau_y": "114 ms",
            "a3_plus": "0.2 mV", "a2_minus": "0.07 mV", "w_max": "1 mV"}
    if constants:
        rule.update(c_pre=f"{constants} mV", c_post=f"{2 * constants} mV")
    post = lif(tau_m="10 ms", tau_syn="1 ms", refractory="2 ms")
    model = make_model({"post": post}, {"pre": {"size": 6}, "drive": {"size": 1}},
                       {"drive_post": proj("drive", "post", "500 mV", "one_to_one"),
                        "mid": proj("pre", "post", "0.5 mV", plasticity=["trip"])},
                       [phase("pair", "200 ms", plastic={"mid": 1.0})], rules={"trip": rule})
    spec = model.rules["trip"]
    assert isinstance(spec, TripletSTDP)
    assert spec.theta == pytest.approx(0.07 * 0.0337 / (0.2 * 0.0168 * 0.114))
    drives = [T_DRIVE, T_DRIVE + 10e-3][:post_spikes]
    inject({"pair": {"drive": train(drives),
                     "pre": trains(*[(k, [T_DRIVE + d]) for k, d in enumerate(PRE_OFFSETS)])}})
    run = simulate(model, 0, opts)
    ph = run.phase("pair")
    t_post = ph.spikes["post"].t
    assert t_post.size == post_spikes
    t_pre = np.array([ph.spikes["pre"].t[ph.spikes["pre"].i == k][0] for k in range(6)])
    dw = ph.weights["mid"] - 0.5 * MV
    params = {**TRIPLET, "c_pre": constants * MV, "c_post": 2 * constants * MV}
    ref = np.array([triplet_reference(0.5 * MV, [tp], t_post, params) for tp in t_pre]) - 0.5 * MV
    np.testing.assert_allclose(dw, ref, rtol=1e-6, atol=1e-15)
    if constants:     # the same run's changes without the constants, less one c_pre and two c_post
        bare = np.array([triplet_reference(0.5 * MV, [tp], t_post, TRIPLET) for tp in t_pre]) - 0.5 * MV
        np.testing.assert_allclose(dw, bare - constants * MV - post_spikes * 2 * constants * MV,
                                   rtol=1e-6, atol=1e-15)
        return
    before_first = t_pre < t_post[0]
    if post_spikes == 1:
        np.testing.assert_array_equal(dw[before_first], 0.0)     # A2+ = 0: a pair alone does not potentiate
        assert np.all(dw[~before_first] < 0)
    else:
        assert np.all(dw[before_first] > 0)                      # the triplet potentiates
        after_last = t_pre > t_post[-1]
        assert np.all(dw[after_last] < 0)


def test_frozen_projection_keeps_weights_outside_the_bounds(inject, opts):
    """Frozen means untouched: not even clipped to [w_min, w_max]."""
    model = make_model(
        {"post": lif()}, {"pre": {"size": 3}},
        {"pp": proj("pre", "post", "2 mV", plasticity=["stdp"])},
        [phase("frozen", "50 ms"), phase("learn", "50 ms", plastic={"pp": 1.0})],
        rules={"stdp": {"type": "pair_stdp", "window": "asymmetric", "tau_pre": "20 ms",
                        "tau_post": "20 ms", "a_plus": "0.1 mV", "a_minus": "0.1 mV", "w_max": "1 mV"}})
    spikes = trains((0, [5e-3, 25e-3]), (1, [10e-3]), (2, [15e-3]))
    inject({"frozen": {"pre": spikes}, "learn": {"pre": spikes}})
    run = simulate(model, 0, opts)
    np.testing.assert_array_equal(run.phase("frozen").weights["pp"], 2 * MV)
    np.testing.assert_allclose(run.phase("learn").weights["pp"], 1 * MV, rtol=0, atol=1e-15)


# ---------------------------------------------------------------- (d) Vogels iSTDP


def test_vogels_istdp_sign_and_size(inject, opts):
    """Lone presynaptic spikes depress by eta*alpha; pre shortly before post potentiates."""
    rule = {"type": "vogels_istdp", "tau": "20 ms", "eta": "0.01 mV", "rho0": "3 Hz", "w_max": "5 mV"}
    model = make_model(
        {"post": lif(tau_m="10 ms", tau_syn="1 ms", refractory="2 ms")},
        {"inh": {"size": 3}, "drive": {"size": 1}},
        {"drive_post": proj("drive", "post", "500 mV", "one_to_one"),
         "inh_post": proj("inh", "post", "1 mV", sign="inhibitory", plasticity=["istdp"])},
        [phase("p", "200 ms", plastic={"inh_post": 1.0})], rules={"istdp": rule})
    # neuron 0 fires long before the post spike, neuron 1 just before it, neuron 2 long after
    inject({"p": {"drive": train([T_DRIVE]), "inh": trains((0, [5e-3]), (1, [T_DRIVE - 2e-3]), (2, [150e-3]))}})
    run = simulate(model, 0, opts)
    ph = run.phase("p")
    t_post = ph.spikes["post"].t
    assert t_post.size == 1
    t_pre = ph.spikes["inh"].t
    dw = ph.weights["inh_post"] - 1 * MV
    eta, tau, alpha = 0.01 * MV, 0.02, 2 * 3.0 * 0.02
    # pre spike: w += eta (y - alpha); post spike: w += eta x
    expected = [eta * (-alpha + math.exp(-(t_post[0] - t_pre[0]) / tau)),
                eta * (-alpha + math.exp(-(t_post[0] - t_pre[1]) / tau)),
                eta * (math.exp(-(t_pre[2] - t_post[0]) / tau) - alpha)]
    np.testing.assert_allclose(dw, expected, rtol=1e-9, atol=1e-16)
    assert dw[0] < 0 and dw[1] > 0 and dw[2] < 0


# ---------------------------------------------------------------- (e) lesions


def lesion_model():
    return make_model(
        {"a": lif(size=5), "b": lif(size=5)}, {"inp": {"size": 5}},
        {"inp_a": proj("inp", "a", "150 mV", "one_to_one"), "a_b": proj("a", "b", "150 mV", "one_to_one")},
        [phase("normal"), phase("silenced", silence=["a"]), phase("blocked", block=["a_b"]),
         phase("blocked_input", block=["inp_a"])])


def test_silence_and_block(inject, opts):
    drive = {"inp": trains(*[(k, np.arange(5e-3, 95e-3, 10e-3)) for k in range(5)])}
    inject({name: drive for name in ("normal", "silenced", "blocked", "blocked_input")})
    run = simulate(lesion_model(), 0, opts)
    n = {ph.name: {p: ph.spikes[p].t.size for p in ("a", "b")} for ph in run.phases}
    assert n["normal"]["a"] > 10 and n["normal"]["b"] > 10
    assert n["silenced"] == {"a": 0, "b": 0}          # a cannot spike, so b gets nothing
    assert n["blocked"]["a"] > 10 and n["blocked"]["b"] == 0
    assert n["blocked_input"] == {"a": 0, "b": 0}
    assert run.phase("silenced").silenced == ("a",)


def test_spike_times_lie_on_the_step_grid_in_every_phase(inject, opts):
    """Phase-relative spike times are whole steps, also in phases that start late.

    (Subtracting the phase start in floating point used to leave 0.0999999-like
    times, which put a spike at a window edge into the wrong recall window.)
    """
    drive = {"inp": trains(*[(k, np.arange(5e-3, 95e-3, 10e-3)) for k in range(5)])}
    inject({name: drive for name in ("normal", "silenced", "blocked", "blocked_input")})
    model = lesion_model()
    run = simulate(model, 0, opts)
    for name in ("normal", "blocked"):
        t = run.phase(name).spikes["a"].t
        assert t.size > 10
        np.testing.assert_array_equal(t, np.round(t / model.dt) * model.dt)
        assert t.min() >= 0 and t.max() < run.phase(name).duration


# ---------------------------------------------------------------- (f) start_from


def branch_model(with_middle: bool, start_from: bool):
    """Recurrent E population with a delay and plastic STDP; phases a [, b], c."""
    rule = {"type": "pair_stdp", "window": "symmetric", "tau_pre": "20 ms", "tau_post": "20 ms",
            "a_plus": "0.05 mV", "a_minus": "0.05 mV", "c_pre": "0.005 mV", "w_max": "3 mV"}
    noise = [{"source": "inp", "kind": "noise", "rate": "80 Hz"}]
    phases = [phase("a", "150 ms", stimuli=noise, plastic={"ee": 1.0})]
    if with_middle:
        phases.append(phase("b", "100 ms", stimuli=[{"source": "inp", "kind": "noise", "rate": "200 Hz"}],
                            plastic={"ee": 2.0}))
    c = phase("c", "100 ms", stimuli=noise, plastic={"ee": 1.0}, record_state=["e"])
    if start_from:
        c["start_from"] = "a"
    phases.append(c)
    return make_model(
        {"e": lif(size=20)}, {"inp": {"size": 20}},
        {"inp_e": proj("inp", "e", "150 mV", "one_to_one"),
         "ee": {**proj("e", "e", "1 mV", "fixed_probability", plasticity=["stdp"], delay="2 ms"),
                "connector": {"kind": "fixed_probability", "p": 0.3},
                "weight": {"kind": "uniform", "low": "0.5 mV", "high": "2 mV"}}},
        phases, rules={"stdp": rule})


def assert_same_phase(p, q):
    assert set(p.spikes) == set(q.spikes)
    for pop in p.spikes:
        np.testing.assert_array_equal(p.spikes[pop].i, q.spikes[pop].i)
        np.testing.assert_array_equal(p.spikes[pop].t, q.spikes[pop].t)
    assert set(p.weights) == set(q.weights)
    for k in p.weights:
        np.testing.assert_array_equal(p.weights[k], q.weights[k])


def test_start_from_restores_the_saved_state(opts):
    branched = simulate(branch_model(with_middle=True, start_from=True), 3, opts)
    direct = simulate(branch_model(with_middle=False, start_from=False), 3, opts)
    c1, c2 = branched.phase("c"), direct.phase("c")
    assert c1.spikes["e"].t.size > 20
    # the middle phase changed the network, and c does not see it
    assert not np.array_equal(branched.phase("b").weights["ee"], branched.phase("a").weights["ee"])
    assert_same_phase(c1, c2)
    np.testing.assert_array_equal(c1.state["e"][1], c2.state["e"][1])
    # running only c (with what it needs) skips b and gives the same phase
    only = simulate(branch_model(with_middle=True, start_from=True), 3, opts, phases=["c"])
    assert [p.name for p in only.phases] == ["a", "c"]
    assert_same_phase(only.phase("c"), c1)


# ---------------------------------------------------------------- (g) seeds


def test_seed_fixes_the_run(opts):
    model = branch_model(with_middle=True, start_from=False)
    r1, r2, r3 = (simulate(model, s, opts) for s in (5, 5, 6))
    for p, q in zip(r1.phases, r2.phases):
        assert_same_phase(p, q)
    for k in r1.synapses:
        np.testing.assert_array_equal(r1.synapses[k][0], r2.synapses[k][0])
    np.testing.assert_array_equal(r1.initial_weights["ee"], r2.initial_weights["ee"])
    np.testing.assert_array_equal(r1.patterns, r2.patterns)
    a, b = r1.phase("a").spikes["e"], r3.phase("a").spikes["e"]
    assert a.t.size != b.t.size or not np.array_equal(a.t, b.t)
    assert r1.synapses["ee"][0].size != r3.synapses["ee"][0].size or \
        not np.array_equal(r1.synapses["ee"][1], r3.synapses["ee"][1])


# ---------------------------------------------------------------- (h) normalisation


def norm_model(interval, total="2.2 mV", with_norm=True, plastic=True, direction=None, weight=None):
    rules = {"stdp": {"type": "pair_stdp", "window": "asymmetric", "tau_pre": "20 ms",
                      "tau_post": "20 ms", "a_plus": "0.5 mV", "a_minus": "0 mV", "w_max": "5 mV"},
             "norm": {"type": "normalisation", "total": total, "interval": interval}}
    if direction:
        rules["norm"]["direction"] = direction
    plasticity = ["stdp", "norm"] if with_norm else ["stdp"]
    return make_model(
        {"post": lif(size=2, tau_m="10 ms", tau_syn="1 ms", refractory="2 ms")},
        {"pre": {"size": 4}, "drive": {"size": 2}},
        {"drive_post": proj("drive", "post", "500 mV", "one_to_one"),
         "pp": {**proj("pre", "post", "0.5 mV", plasticity=plasticity), **({"weight": weight} if weight else {})}},
        [phase("p", "60 ms", plastic={"pp": 1.0} if plastic else {})], rules=rules)


def test_normalisation_caps_summed_incoming_weight(inject, opts):
    # post 0 fires once after the 4 pre spikes (potentiation); post 1 never fires
    pre = trains(*[(k, [30e-3 + 2e-3 * k]) for k in range(4)])
    inject({"p": {"drive": train([40e-3], 0), "pre": pre}})
    free_run = simulate(norm_model("10 ms", with_norm=False), 0, opts)
    free, j = free_run.phase("p"), free_run.synapses["pp"][1]
    t_post = free.spikes["post"].t
    assert free.spikes["post"].i.tolist() == [0]
    w_free = free.weights["pp"]
    assert w_free[j == 0].sum() > 2.2 * MV                      # potentiation exceeds the total
    np.testing.assert_array_equal(w_free[j == 1], 0.5 * MV)
    # normalisation right after the potentiating post spike (the tick is the last step)
    interval = round(t_post[0] / DT) * DT + DT
    model = norm_model(f"{interval * 1e3:.1f} ms")
    inject({"p": {"drive": train([40e-3], 0), "pre": pre}})
    ph = simulate(model, 0, opts).phase("p")
    np.testing.assert_array_equal(ph.spikes["post"].t, t_post)
    w = ph.weights["pp"]
    assert w[j == 0].sum() == pytest.approx(2.2 * MV, rel=1e-12)
    np.testing.assert_allclose(w[j == 0], w_free[j == 0] * 2.2 * MV / w_free[j == 0].sum(), rtol=1e-12)
    np.testing.assert_array_equal(w[j == 1], 0.5 * MV)           # under the total: never scaled up


def test_normalisation_only_in_plastic_phases(inject, opts):
    inject({"p": {"pre": trains(*[(k, [30e-3]) for k in range(4)])}})
    run = simulate(norm_model("10 ms", total="1 mV", plastic=False), 0, opts)
    np.testing.assert_array_equal(run.phase("p").weights["pp"], 0.5 * MV)   # 2 mV > 1 mV, frozen
    run = simulate(norm_model("10 ms", total="1 mV", plastic=True), 0, opts)
    j = run.synapses["pp"][1]
    for post in (0, 1):
        assert run.phase("p").weights["pp"][j == post].sum() == pytest.approx(1 * MV, rel=1e-12)


def test_outgoing_normalisation_caps_summed_outgoing_weight(inject, opts):
    """direction = "outgoing" sums each presynaptic neuron's synapses (here 2 each), not each postsynaptic one's (4)."""
    inject({"p": {}})
    uniform = {"kind": "uniform", "low": "0.1 mV", "high": "1 mV"}
    run = simulate(norm_model("10 ms", total="0.8 mV", direction="outgoing", weight=uniform), 0, opts)
    i, j = run.synapses["pp"]
    w0, w = run.initial_weights["pp"], run.phase("p").weights["pp"]
    out0 = np.bincount(i, weights=w0, minlength=4)
    assert (out0 > 0.8 * MV).any() and (out0 < 0.8 * MV).any()  # some presynaptic neurons over, some under
    expect = np.where(out0[i] > 0.8 * MV, w0 * 0.8 * MV / out0[i], w0)
    np.testing.assert_allclose(w, expect, rtol=1e-12)
    np.testing.assert_allclose(np.bincount(i, weights=w, minlength=4), np.minimum(out0, 0.8 * MV), rtol=1e-12)
    incoming = simulate(norm_model("10 ms", total="0.8 mV", weight=uniform), 0, opts)
    assert not np.allclose(incoming.phase("p").weights["pp"], w)


def test_incoming_then_outgoing_normalisation_in_list_order(inject, opts):
    """Two caps on one projection run on the same steps, in the order of its plasticity list."""
    inject({"p": {}})
    uniform = {"kind": "uniform", "low": "0.1 mV", "high": "1 mV"}
    model = norm_model("10 ms", total="1.3 mV", weight=uniform)
    rules = dict(model.rules)
    rules["out"] = SynapticNormalisation("out", 0.6 * MV, 10e-3, "outgoing")
    projs = dict(model.projections)
    projs["pp"] = dataclasses.replace(projs["pp"], plasticity=("stdp", "norm", "out"))
    model = dataclasses.replace(model, rules=rules, projections=projs)
    run = simulate(model, 0, opts)
    i, j = run.synapses["pp"]
    w = run.initial_weights["pp"].copy()
    for _ in range(6):                                  # t = 0, 10, ..., 50 ms: incoming, then outgoing
        w *= model.rules["norm"].factors(w, j, 2)[j]
        w *= rules["out"].factors(w, i, 4)[i]
    if opts.target == "numpy":      # numpy's vectorised sums differ by ~1 ulp (test_normalisation_code.py)
        np.testing.assert_allclose(run.phase("p").weights["pp"], w, rtol=1e-14, atol=0)
    else:                           # generated code with the summation order of factors: bit for bit
        np.testing.assert_array_equal(run.phase("p").weights["pp"], w)
    assert (np.bincount(i, weights=w, minlength=4) <= 0.6 * MV * (1 + 1e-12)).all()
    swapped = dataclasses.replace(model, projections={**projs, "pp": dataclasses.replace(
        projs["pp"], plasticity=("stdp", "out", "norm"))})
    assert not np.allclose(simulate(swapped, 0, opts).phase("p").weights["pp"], w, rtol=1e-9)


# ---------------------------------------------------------------- (i) builder registry


def test_builder_lookup_unknown_type():
    class TripletSTDP:
        pass

    with pytest.raises(ModelError, match="TripletSTDP"):
        Builder.lookup(TripletSTDP())


def test_builder_lookup_walks_the_mro():
    from neuromem.spec import LIFPopulation

    class MyLIF(LIFPopulation):
        pass

    assert Builder.lookup(MyLIF("x", 1, "excitatory", 0.02, 0.005, -0.07, -0.065, -0.05, 0.002)) \
        is Builder.builders[LIFPopulation]


# ---------------------------------------------------------------- (j) numpy == cython


def _cython_available() -> bool:
    try:
        import brian2
        return bool(brian2.codegen.runtime.cython_rt.CythonCodeObject.is_available())
    except Exception:
        return False


def test_numpy_and_cython_targets_agree():
    if not _cython_available():
        pytest.skip("Cython cannot compile here")
    model = branch_model(with_middle=True, start_from=True)
    runs = [simulate(model, 1, Brian2Options(target=t, progress=False)) for t in ("numpy", "cython")]
    for p, q in zip(*(r.phases for r in runs)):
        for pop in p.spikes:
            np.testing.assert_array_equal(p.spikes[pop].i, q.spikes[pop].i)
            np.testing.assert_array_equal(p.spikes[pop].t, q.spikes[pop].t)
        np.testing.assert_allclose(p.weights["ee"], q.weights["ee"], rtol=1e-12, atol=0)
    assert runs[0].phase("a").spikes["e"].t.size > 20


def test_compile_args_reach_brian2_and_none_leaves_them():
    import brian2 as b2

    from neuromem.backends.brian2.simulator import FAST_COMPILE_ARGS, configure

    saved = list(b2.prefs.codegen.cpp.extra_compile_args_gcc)
    try:
        configure(Brian2Options(target="cython", compile_args=("-w", "-O0")))
        assert list(b2.prefs.codegen.cpp.extra_compile_args_gcc) == ["-w", "-O0"]
        configure(Brian2Options(target="cython", compile_args=None))
        assert list(b2.prefs.codegen.cpp.extra_compile_args_gcc) == ["-w", "-O0"]
        configure(Brian2Options(target="cython"))       # the suite's NEUROMEM_COMPILE_ARGS=fast (conftest.py)
        assert tuple(b2.prefs.codegen.cpp.extra_compile_args_gcc) == FAST_COMPILE_ARGS
        assert "-O1" in FAST_COMPILE_ARGS and "-O3" not in FAST_COMPILE_ARGS
    finally:
        b2.prefs.codegen.cpp.extra_compile_args_gcc = saved


def test_default_compile_args_are_brian2s_unless_the_environment_says(monkeypatch):
    from brian2.core.preferences import prefs

    from neuromem.backends.brian2.codecache import BRIAN2_COMPILE_ARGS, FAST_COMPILE_ARGS, default_compile_args

    # Brian2's registered default for the preference, whatever the process set it to since
    assert BRIAN2_COMPILE_ARGS == tuple(prefs.pref_register["codegen.cpp"][0]["extra_compile_args_gcc"].default)
    monkeypatch.delenv("NEUROMEM_COMPILE_ARGS", raising=False)
    assert Brian2Options().compile_args == BRIAN2_COMPILE_ARGS == default_compile_args()
    monkeypatch.setenv("NEUROMEM_COMPILE_ARGS", "brian2")
    assert Brian2Options().compile_args == BRIAN2_COMPILE_ARGS
    monkeypatch.setenv("NEUROMEM_COMPILE_ARGS", "fast")
    assert Brian2Options().compile_args == FAST_COMPILE_ARGS
    monkeypatch.setenv("NEUROMEM_COMPILE_ARGS", "-w -O2 -march=native")
    assert Brian2Options().compile_args == ("-w", "-O2", "-march=native")
    assert Brian2Options(compile_args=None).compile_args is None


# ---------------------------------------------------------------- (k) code generated once


def test_code_objects_are_created_once_for_all_phases(inject, tmp_path, opts):
    """Every object keeps the code objects of its first run (four phases, lesions and blocks switched
    between them), and the exact integrator's result is kept in a file of the compile cache."""
    from neuromem.backends.runner import run_protocol
    from neuromem.backends.brian2.simulator import RuntimeBackend

    drive = {"inp": trains(*[(k, np.arange(5e-3, 95e-3, 10e-3)) for k in range(5)])}
    inject({name: drive for name in ("normal", "silenced", "blocked", "blocked_input")})
    backend = RuntimeBackend(Brian2Options(progress=False, target=opts.target, cache_dir=str(tmp_path)))
    seen = {}
    real_run = backend.run

    def run(step):
        real_run(step)
        for obj in backend.network.sorted_objects:
            ids = [id(c.__repr__.__self__) for c in obj.code_objects]
            seen.setdefault(obj.name, []).append(ids)

    backend.run = run
    run_protocol(lesion_model(), 0, backend)
    assert len(seen["a_b_pre"]) == 4
    for name, per_run in seen.items():
        assert all(ids == per_run[0] for ids in per_run), name


def test_exact_integrator_result_is_kept_on_disk(tmp_path, run_python):
    """A fresh process writes the exact integrator's result into the compile cache; the next one reads it."""
    code = f"""
        import json
        from pathlib import Path
        import neuromem
        from neuromem.backends.brian2 import Brian2Options, simulate
        model = neuromem.load_model({str(ROOT / "tests" / "data" / "tiny.toml")!r})
        simulate(model, 0, Brian2Options(progress=False, target="numpy", cache_dir={str(tmp_path)!r}))
        files = sorted(p.name for p in (Path({str(tmp_path)!r}) / "stateupdaters").glob("*.txt"))
        print(json.dumps({{"files": files, "mtimes": [(Path({str(tmp_path)!r}) / "stateupdaters" / f).stat().st_mtime_ns
                                                     for f in files]}}))
        """
    first, second = run_python(code), run_python(code)
    assert len(first["files"]) >= 1
    assert second == first                      # read, not written again


# ---------------------------------------------------------------- activity gate (third factor)


def gated_model(gate=True, threshold="50 Hz", plastic=True):
    """pre -> post with a pure depression per presynaptic spike, gated by the rate of population ``g``."""
    rules = {"stdp": {"type": "pair_stdp", "window": "symmetric", "tau_pre": "20 ms", "tau_post": "20 ms",
                      "a_plus": "0 mV", "a_minus": "0 mV", "c_pre": "0.1 mV", "w_max": "2 mV"},
             "swr": {"type": "activity_gate", "population": "g", "tau": "10 ms", "threshold": threshold}}
    return make_model(
        {"post": lif(), "g": lif(10, refractory="60 ms")}, {"pre": {"size": 1}, "gin": {"size": 10}},
        {"pp": proj("pre", "post", "1 mV", plasticity=["stdp", "swr"] if gate else ["stdp"]),
         "drive": proj("gin", "g", "1 V", connector="one_to_one")},
        [phase("learn", "100 ms", plastic={"pp": 1.0} if plastic else {})], rules=rules)


def test_activity_gate_lets_the_rule_learn_only_during_the_populations_burst(inject, opts):
    """Every g neuron fires once at ~50 ms: r jumps to 1/tau = 100 Hz and decays, so with a 50 Hz
    threshold the gate is open for tau ln 2 = 6.9 ms; of three presynaptic spikes only the one in
    that window depresses the synapse, by exactly c_pre (the two outside it leave it untouched)."""
    spikes = {"pre": train([20e-3, 53e-3, 80e-3]), "gin": train(np.full(10, 49e-3), np.arange(10))}
    inject({"learn": spikes})
    run = simulate(gated_model(), 0, opts)
    g = run.phase("learn").spikes["g"]
    assert len(g.t) == 10 and np.all((g.t > 49e-3) & (g.t < 51e-3))
    np.testing.assert_allclose(run.phase("learn").weights["pp"], [0.9 * MV], rtol=0, atol=1e-15)
    inject({"learn": spikes})
    ungated = simulate(gated_model(gate=False), 0, opts)
    np.testing.assert_allclose(ungated.phase("learn").weights["pp"], [0.7 * MV], rtol=0, atol=1e-15)
    # frozen phase: the gate does not make a frozen projection learn
    inject({"learn": spikes})
    frozen = simulate(gated_model(plastic=False), 0, opts)
    np.testing.assert_array_equal(frozen.phase("learn").weights["pp"], [1 * MV])
