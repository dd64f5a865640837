"""Neuron models and rules through the registries (issue 12, parts 2 and 3).

Tiny networks (1 to 20 neurons, no memories) against analytic solutions:
tonic firing above threshold (``v_rest > v_th``, or a bias), the
conductance-based LIF's bias current and reversal potentials, initial
potentials drawn from the run seed; and the loader and registries: neuron
model tags, weight units per target model, a rule or neuron model declared
in one place.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tomli_w

from neuromem.backends.brian2 import Brian2Options, simulate
from neuromem.spec import ModelError
from neuromem.spec.loader import dumps_model, loads_model, schema
from neuromem.spec.registry import NEURONS, RULES, NeuronCaps, RuleCaps, spec_field
from neuromem.stimulus import initial_potentials, rng_for

OPTS = Brian2Options(progress=False)


def lif(**kw):
    d = {"size": 1, "kind": "excitatory", "tau_m": "20 ms", "tau_syn": "5 ms", "v_rest": "-70 mV",
         "v_reset": "-60 mV", "v_th": "-50 mV", "refractory": "5 ms"}
    d.update(kw)
    return d


def cond(**kw):
    d = {"model": "cond_lif", "size": 1, "kind": "excitatory", "c_m": "200 pF", "g_leak": "10 nS",
         "v_rest": "-60 mV", "v_reset": "-60 mV", "v_th": "-50 mV", "refractory": "5 ms",
         "e_exc": "0 mV", "e_inh": "-80 mV", "tau_exc": "5 ms", "tau_inh": "10 ms"}
    d.update(kw)
    return d


def plain(populations, sources=None, projections=None, rules=None, duration="2 s", stimuli=(),
          record_state=(), dt="0.1 ms"):
    """A model without memories: one wake phase (a plain network simulation)."""
    ph = {"name": "run", "kind": "wake", "duration": duration, "record_state": list(record_state)}
    if stimuli:
        ph["stimuli"] = list(stimuli)
    raw = {"name": "plain", "dt": dt, "populations": populations, "sources": sources or {},
           "rules": rules or {}, "projections": projections or {}, "protocol": {"phases": [ph]}}
    return loads_model(tomli_w.dumps(raw), file="<test>")


def mean_isi(model, pop="a", seed=0):
    run = simulate(model, seed, OPTS)
    t = np.sort(run.phases[0].spikes[pop].t)
    assert t.size > 5, t
    return float(np.mean(np.diff(t))), t


# ---------------------------------------------------------------- tonic firing


@pytest.mark.parametrize("kw", [{"v_rest": "-49 mV"}, {"v_rest": "-70 mV", "bias": "21 mV"}],
                         ids=["v_rest_above_threshold", "bias"])
def test_lif_above_threshold_fires_tonically_at_the_analytic_period(kw):
    """tau_m dv/dt = v_rest + b - v from v_reset: T = t_ref + tau_m ln((v_inf - v_reset) / (v_inf - v_th))."""
    model = plain({"a": lif(**kw)})
    isi, t = mean_isi(model)
    expected = 5e-3 + 20e-3 * math.log((-49 + 60) / (-49 + 50))
    assert abs(isi - expected) <= 1.5e-4, (isi, expected)
    # the first spike: from v_rest itself (no refractory period before it)
    v0 = model.populations["a"].v_rest
    first = 20e-3 * math.log((-49e-3 - v0) / (-49e-3 + 50e-3)) if v0 < -50e-3 else 0.0
    assert abs(t[0] - first) <= 1.5e-4


def test_cond_lif_bias_current_fires_at_the_analytic_period():
    """c_m dv/dt = g_L (v_rest - v) + I: v_inf = v_rest + I / g_L = -40 mV; T = t_ref + tau ln 2."""
    model = plain({"a": cond(bias="200 pA")})
    assert model.populations["a"].tau_m == pytest.approx(0.02)
    isi, _ = mean_isi(model)
    expected = 5e-3 + 20e-3 * math.log((-40 + 60) / (-40 + 50))
    assert abs(isi - expected) <= 1.5e-4, (isi, expected)


def test_a_plain_simulation_without_memories_is_estimated_and_scored():
    """No memories, no pattern population, no sources: resources, simulation and metrics all work."""
    from neuromem.analysis import compute_metrics
    from neuromem.spec.resources import estimate_resources

    model = plain({"a": cond(size=3, bias="200 pA")}, duration="100 ms")
    assert estimate_resources(model)["pattern_bytes"] == 0
    run = simulate(model, 0, OPTS)
    assert run.patterns.shape == (0, 0)
    metrics = compute_metrics(run)
    assert metrics["rate_exc_hz"]["a"]["run"] > 10


@pytest.mark.slow        # compiles conductance synapses: ~75 s on a cold cache
def test_cond_lif_synapses_drive_towards_their_reversal_potentials():
    """An inhibitory conductance with e_inh = v_rest does not move v (pure shunt); with e_inh below rest it
    hyperpolarises; an excitatory one depolarises towards e_exc, never past it."""
    pops = {"shunt": cond(e_inh="-60 mV"), "hyper": cond(), "exc": cond(v_th="10 mV", v_reset="-70 mV")}
    projs = {"i_shunt": {"source": "src", "target": "shunt", "sign": "inhibitory",
                         "connector": {"kind": "all_to_all"}, "weight": {"kind": "constant", "value": "5 nS"}},
             "i_hyper": {"source": "src", "target": "hyper", "sign": "inhibitory",
                         "connector": {"kind": "all_to_all"}, "weight": {"kind": "constant", "value": "5 nS"}},
             "e_exc": {"source": "src", "target": "exc", "connector": {"kind": "all_to_all"},
                       "weight": {"kind": "constant", "value": "5 nS"}}}
    model = plain(pops, {"src": {"size": 1}}, projs, duration="200 ms",
                  stimuli=[{"source": "src", "kind": "noise", "rate": "500 Hz"}],
                  record_state=["shunt", "hyper", "exc"])
    assert model.weight_dimension("e_exc") == "conductance"
    run = simulate(model, 1, OPTS)
    ph = run.phases[0]
    assert ph.spikes["src"].i.size > 50
    v = {p: ph.state[p][1][0] for p in pops}
    assert np.abs(v["shunt"] + 60e-3).max() < 1e-9
    assert v["hyper"].min() < -65e-3 and v["hyper"].max() <= -60e-3 + 1e-9
    assert v["exc"].max() > -45e-3 and v["exc"].max() < 0.0
    assert set(ph.initial_state) == {"shunt_v", "shunt_g_exc", "shunt_g_inh", "hyper_v", "hyper_g_exc",
                                     "hyper_g_inh", "exc_v", "exc_g_exc", "exc_g_inh",
                                     "shunt_lastspike", "hyper_lastspike", "exc_lastspike"}


# ---------------------------------------------------------------- initial potentials


@pytest.mark.parametrize("v_init", [{"kind": "uniform", "low": "-60 mV", "high": "-50 mV"},
                                    {"kind": "normal", "value": "-55 mV", "std": "2 mV"},
                                    {"kind": "constant", "value": "-52 mV"}])
def test_v_init_is_drawn_from_the_run_seed(v_init):
    model = plain({"a": lif(size=20, v_rest="-70 mV", v_init=v_init)}, duration="1 ms")
    run = simulate(model, 7, OPTS)
    v0 = run.phases[0].initial_state["a_v"]
    pop = model.populations["a"]
    np.testing.assert_array_equal(v0, initial_potentials(pop, 7))
    if v_init["kind"] == "uniform":
        np.testing.assert_array_equal(v0, rng_for(7, "v_init:a").uniform(-0.06, -0.05, 20))
        assert not np.array_equal(initial_potentials(pop, 8), v0)      # another seed, other draws
    elif v_init["kind"] == "normal":
        np.testing.assert_array_equal(v0, rng_for(7, "v_init:a").normal(-0.055, 0.002, 20))
    else:
        assert (v0 == -0.052).all()


def test_cond_lif_initial_conductances_are_drawn_from_the_run_seed():
    from neuromem.stimulus import initial_values

    model = plain({"a": cond(size=50, g_exc_init={"kind": "normal", "value": "40 nS", "std": "15 nS"},
                             g_inh_init={"kind": "uniform", "low": "100 nS", "high": "300 nS"})},
                  duration="1 ms")
    assert loads_model(dumps_model(model)) == model
    run = simulate(model, 3, OPTS)
    st = run.phases[0].initial_state
    np.testing.assert_array_equal(st["a_g_exc"], rng_for(3, "g_exc_init:a").normal(40e-9, 15e-9, 50))
    np.testing.assert_array_equal(st["a_g_inh"], rng_for(3, "g_inh_init:a").uniform(100e-9, 300e-9, 50))
    np.testing.assert_array_equal(st["a_v"], np.full(50, -0.06))
    assert set(initial_values(model.populations["a"], 3)) == {"g_exc", "g_inh"}
    msg = _err(lambda: plain({"a": cond(g_exc_init={"kind": "constant", "value": "4 mV"})}))
    assert "populations.a.g_exc_init.value" in msg and "conductance" in msg


def test_without_v_init_cells_start_at_rest():
    pop = plain({"a": lif(size=3)}).populations["a"]
    np.testing.assert_array_equal(initial_potentials(pop, 0), np.full(3, -0.07))


# ---------------------------------------------------------------- loader, units, registries


def test_population_without_model_tag_is_lif_and_tags_round_trip():
    model = plain({"a": lif(), "b": cond(bias="0.2 nA", v_init={"kind": "uniform", "low": "-60 mV",
                                                                 "high": "-50 mV"})})
    assert NEURONS.name_of(model.populations["a"]) == "lif"
    assert NEURONS.name_of(model.populations["b"]) == "cond_lif"
    assert model.populations["b"].bias == pytest.approx(2e-10)
    text = dumps_model(model)
    assert 'model = "cond_lif"' in text and 'bias = "200 pA"' in text and 'c_m = "200 pF"' in text
    assert loads_model(text) == model
    assert model.protocol.n_memories == 0 and model.protocol.pattern_population is None


def _err(text_fn):
    with pytest.raises(ModelError) as e:
        text_fn()
    return str(e.value)


def test_weights_take_the_unit_of_the_target_model():
    def mk(target, weight, rule=None):
        projs = {"p": {"source": "src", "target": target, "connector": {"kind": "all_to_all"},
                       "weight": {"kind": "constant", "value": weight},
                       **({"plasticity": ["r"]} if rule else {})}}
        return plain({"a": lif(), "b": cond()}, {"src": {"size": 1}}, projs,
                     rules={"r": rule} if rule else None)
    assert mk("b", "3 nS").projections["p"].weight.value == pytest.approx(3e-9)
    msg = _err(lambda: mk("b", "3 mV"))
    assert "<test>: projections.p.weight.value:" in msg and "conductance" in msg
    msg = _err(lambda: mk("a", "3 nS"))
    assert "projections.p.weight.value" in msg and "voltage" in msg
    stdp = {"type": "pair_stdp", "window": "asymmetric", "tau_pre": "20 ms", "tau_post": "20 ms",
            "a_plus": "0.1 nS", "a_minus": "0.1 nS", "w_max": "10 nS"}
    m = mk("b", "3 nS", stdp)
    assert m.rules["r"].w_max == pytest.approx(1e-8)
    assert loads_model(dumps_model(m)) == m
    msg = _err(lambda: mk("a", "3 mV", stdp))
    assert "<test>: rules.r.a_plus:" in msg and "voltage" in msg


def test_one_rule_cannot_serve_voltage_and_conductance_weights():
    stdp = {"type": "pair_stdp", "window": "asymmetric", "tau_pre": "20 ms", "tau_post": "20 ms",
            "a_plus": "0.1 mV", "a_minus": "0.1 mV", "w_max": "10 mV"}
    projs = {n: {"source": "src", "target": t, "connector": {"kind": "all_to_all"},
                 "weight": {"kind": "constant", "value": "1 mV"}, "plasticity": ["r"]}
             for n, t in (("pa", "a"), ("pb", "b"))}
    msg = _err(lambda: plain({"a": lif(), "b": cond()}, {"src": {"size": 1}}, projs, rules={"r": stdp}))
    assert "projections.pb." in msg


def test_unknown_neuron_model_names_the_known_ones():
    msg = _err(lambda: plain({"a": lif(model="izhikevich")}))
    assert msg.startswith("<test>: populations.a.model: unknown neuron model 'izhikevich'")
    assert "lif" in msg and "cond_lif" in msg
    msg = _err(lambda: plain({"a": cond(tau_m="20 ms")}))
    assert "populations.a.tau_m: unknown key" in msg and "cond_lif" in msg


def test_memories_need_a_pattern_population():
    raw = {"name": "x", "dt": "0.1 ms", "populations": {"a": lif()},
           "protocol": {"n_memories": 2, "phases": [{"name": "w", "kind": "wake", "duration": "1 s"}]}}
    msg = _err(lambda: loads_model(tomli_w.dumps(raw), file="<test>"))
    assert "<test>: protocol.pattern_population: is required" in msg


@pytest.fixture
def toy_types():
    """A rule and a neuron model declared in one place each: their spec class, registered."""
    @RULES.register("toy_rule", RuleCaps(timing=True, lava_learnable=False))
    @dataclasses.dataclass(frozen=True)
    class ToyRule:
        name: str
        rate: float = spec_field("rate")
        step: float = spec_field("weight", 0.0)

    @NEURONS.register("toy_neuron", NeuronCaps(synapse="current", lif_dense=False, refusal="a toy"))
    @dataclasses.dataclass(frozen=True)
    class ToyNeuron:
        name: str
        size: int = spec_field("int")
        kind: str = spec_field("str")
        v_rest: float = spec_field("voltage")
        v_init: object = None

        def time_constants(self):
            return []

    yield ToyRule, ToyNeuron
    RULES.remove("toy_rule")
    NEURONS.remove("toy_neuron")


def test_a_registered_rule_and_neuron_model_load_without_loader_changes(toy_types):
    ToyRule, ToyNeuron = toy_types
    pops = {"a": {"model": "toy_neuron", "size": 2, "kind": "excitatory", "v_rest": "-70 mV"}, "b": lif()}
    projs = {"p": {"source": "b", "target": "a", "connector": {"kind": "all_to_all"},
                   "weight": {"kind": "constant", "value": "1 mV"}, "plasticity": ["r"]}}
    model = plain(pops, projections=projs, rules={"r": {"type": "toy_rule", "rate": "3 Hz", "step": "1 mV"}})
    assert isinstance(model.populations["a"], ToyNeuron) and isinstance(model.rules["r"], ToyRule)
    assert model.rules["r"].step == 1e-3
    assert loads_model(dumps_model(model)) == model
    _, tagged = schema()
    assert tagged["rules"]["toy_rule"] == ["type", "rate", "step"]
    msg = _err(lambda: plain(pops, projections=projs, rules={"r": {"type": "toy_rule"}}))
    assert "rules.r.rate: missing required key" in msg
    # timing capability: a second timing rule on the projection is refused
    stdp = {"type": "pair_stdp", "window": "asymmetric", "tau_pre": "20 ms", "tau_post": "20 ms",
            "a_plus": "0.1 mV", "a_minus": "0.1 mV", "w_max": "10 mV"}
    projs["p"]["plasticity"] = ["r", "s"]
    msg = _err(lambda: plain(pops, projections=projs, rules={"r": {"type": "toy_rule", "rate": "3 Hz"},
                                                            "s": stdp}))
    assert "at most one spike-timing rule" in msg


def test_a_synapse_type_is_declared_once_and_sets_the_weight_unit_and_the_export_refusal():
    """A neuron model names its synapse type; weights onto it are read in the unit the type declares,
    and exporters refuse it from the type's declared capabilities."""
    from neuromem.export.issues import neuron_issues
    from neuromem.spec.registry import SYNAPSES, SynapseCaps

    assert NEURONS.caps("lif").synapse == "current" and NEURONS.caps("lif").weight == "voltage"
    assert NEURONS.caps("cond_lif").synapse == "conductance" and NEURONS.caps("cond_lif").weight == "conductance"
    with pytest.raises(ValueError, match="unknown synapse type 'nmda'"):
        NeuronCaps(synapse="nmda")
    SYNAPSES.add("toy_syn", None, SynapseCaps(weight="conductance", lif_dense=False, refusal="a toy synapse"))

    @NEURONS.register("toy_syn_neuron", NeuronCaps(synapse="toy_syn"))
    @dataclasses.dataclass(frozen=True)
    class ToySynNeuron:
        name: str
        size: int = spec_field("int")
        kind: str = spec_field("str")
        v_init: object = None

        def time_constants(self):
            return []

        @property
        def export_limits(self):
            caps = NEURONS.caps(self)
            return {} if caps.synapse_caps.lif_dense else {caps.synapse: caps.synapse_caps.refusal}

    try:
        projs = {"p": {"source": "b", "target": "a", "connector": {"kind": "all_to_all"},
                       "weight": {"kind": "constant", "value": "3 nS"}}}
        model = plain({"a": {"model": "toy_syn_neuron", "size": 2, "kind": "excitatory"}, "b": lif()},
                      projections=projs)
        assert model.projections["p"].weight.value == pytest.approx(3e-9)
        msg = _err(lambda: plain({"a": {"model": "toy_syn_neuron", "size": 2, "kind": "excitatory"}, "b": lif()},
                                 projections={"p": {**projs["p"], "weight": {"kind": "constant", "value": "3 mV"}}}))
        assert "projections.p.weight.value" in msg and "conductance" in msg
        issues = neuron_issues(model, ["a"], "LIF")
        assert [i.feature for i in issues] == ["toy_syn"] and "a toy synapse" in str(issues[0])
    finally:
        NEURONS.remove("toy_syn_neuron")
        SYNAPSES.remove("toy_syn")


def test_a_synapse_type_is_built_by_its_registered_brian2_function():
    """A synapse type's Brian2 code comes from the function registered for its tag: a neuron model that
    names a new type gets that type's variables, state and spike code with no change to the neuron builder
    (here a copy of ``current`` under other names, so the membrane follows the ``lif`` one exactly)."""
    import brian2 as b2

    from neuromem.backends.brian2.builder import Builder, SynapseCode, synapse_code
    from neuromem.spec.neurons import LIFPopulation
    from neuromem.spec.registry import SYNAPSES, SynapseCaps

    with pytest.raises(ValueError, match="not registered"):
        Builder.register_synapse("nmda")
    SYNAPSES.add("toy_current", None, SynapseCaps(weight="voltage", lif_dense=False, refusal="a toy synapse"))

    @NEURONS.register("toy_lif", NeuronCaps(synapse="toy_current"))
    @dataclasses.dataclass(frozen=True)
    class ToyLIF(LIFPopulation):
        pass

    try:
        pops = {"a": lif(v_rest="-60 mV"), "b": lif(model="toy_lif", v_rest="-60 mV")}
        projs = {n: {"source": "src", "target": t, "connector": {"kind": "all_to_all"},
                     "weight": {"kind": "constant", "value": "2 mV"}} for n, t in (("pa", "a"), ("pb", "b"))}
        model = plain(pops, {"src": {"size": 1}}, projs, duration="100 ms",
                      stimuli=[{"source": "src", "kind": "noise", "rate": "200 Hz"}], record_state=["a", "b"])
        toy = model.populations["b"]
        with pytest.raises(ModelError, match="no builder for synapse type 'toy_current'"):
            synapse_code(toy, b2.volt)

        @Builder.register_synapse("toy_current")
        def build_toy(pop):
            return SynapseCode(drive="J", drive_unit=b2.volt, equations="dJ/dt = -J / tau_j : volt\n",
                               namespace={"tau_j": pop.tau_syn * b2.second}, state={"J": b2.volt},
                               on_pre=lambda proj: "J_post += gain * w")

        with pytest.raises(ModelError, match="drives the membrane in"):
            synapse_code(toy, b2.amp)
        run = simulate(model, 3, Brian2Options(target="numpy", progress=False))
        ph = run.phases[0]
        assert ph.spikes["src"].i.size > 5
        assert {"a_I", "b_J"} <= set(ph.initial_state) and "b_I" not in ph.initial_state
        v_a, v_b = ph.state["a"][1][0], ph.state["b"][1][0]
        assert v_a.max() > -59e-3
        np.testing.assert_array_equal(v_a, v_b)
    finally:
        Builder.synapse_builders.pop("toy_current", None)
        NEURONS.remove("toy_lif")
        SYNAPSES.remove("toy_current")


def test_a_connector_kind_is_declared_in_the_spec_registry_and_drawn_by_its_registered_function():
    from neuromem.connectivity import CONNECT, connector_kind, draw_projection
    from neuromem.spec.registry import CONNECTORS

    CONNECTORS.add("from_first")

    @connector_kind("from_first")
    def _from_first(connector, n_src, n_tgt, no_self, rng):
        return np.zeros(n_tgt, dtype=int), np.arange(n_tgt)

    try:
        projs = {"p": {"source": "src", "target": "a", "connector": {"kind": "from_first"},
                       "weight": {"kind": "constant", "value": "1 mV"}}}
        model = plain({"a": lif(size=4)}, {"src": {"size": 3}}, projs)
        i, j, w = draw_projection(model, "p", 0)
        assert i.tolist() == [0, 0, 0, 0] and j.tolist() == [0, 1, 2, 3] and (w == 1e-3).all()
        assert loads_model(dumps_model(model)) == model
        msg = _err(lambda: plain({"a": lif(size=4)}, {"src": {"size": 3}},
                                 {"p": {**projs["p"], "connector": {"kind": "from_first", "p": 0.5}}}))
        assert "projections.p.connector.p: unknown key" in msg
    finally:
        CONNECTORS.remove("from_first")
        CONNECT.pop("from_first")


def test_a_stimulus_kind_is_declared_in_the_spec_registry_and_generated_by_its_registered_function():
    from neuromem.spec.registry import STIMULI
    from neuromem.stimulus import STIMULUS_RATES, phase_inputs, stimulus_kind

    STIMULI.add("first_only")

    @stimulus_kind("first_only")
    def _first_only(st, n, n_mem, patterns, cues):
        def rates(tt):
            out = np.zeros((tt.size, n))
            out[:, 0] = st.rate
            return out
        return rates

    try:
        model = plain({"a": lif()}, {"src": {"size": 3}}, duration="1 s",
                      stimuli=[{"source": "src", "kind": "first_only", "rate": "100 Hz"}])
        assert loads_model(dumps_model(model)) == model
        inputs, _, _ = phase_inputs(model.protocol.phases[0], model, np.zeros((0, 0), bool), {}, rng_for(0, "x"))
        i, t = inputs["src"]
        assert set(i.tolist()) == {0} and 60 < i.size < 140
    finally:
        STIMULI.remove("first_only")
        STIMULUS_RATES.pop("first_only")


def test_time_step_is_checked_against_a_cond_lif_time_constants():
    msg = _err(lambda: plain({"a": cond(tau_exc="0.05 ms")}))
    assert msg.startswith("<test>: dt: ") and "populations.a.tau_exc" in msg
    msg = _err(lambda: plain({"a": cond(c_m="0.5 pF")}))     # tau_m = c_m / g_leak = 0.05 ms
    assert "populations.a.c_m / g_leak" in msg
