"""The backend-neutral spec: import hygiene, units and dataclass validation."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuromem.spec import (
    ActivityGate, Adaptation, Connector, LIFPopulation, Model, ModelError, PairSTDP, Phase, Projection, Protocol,
    SpikeSource, Stimulus, SynapticNormalisation, VogelsISTDP, WeightInit,
)
from neuromem.spec.errors import require
from neuromem.spec.units import format_quantity, parse_quantity

REPO = Path(__file__).resolve().parents[1]


def test_spec_imports_no_simulator():
    code = (
        "import sys\n"
        "import neuromem.spec, neuromem.spec.loader, neuromem.spec.units\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('brian2', 'lava'))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


# --- units -----------------------------------------------------------------

@pytest.mark.parametrize("text, dim, value", [
    ("20 ms", "time", 0.02), ("-70 mV", "voltage", -0.07), ("0.5ms", "time", 0.0005),
    ("200 Hz", "rate", 200.0), ("1.5 s", "time", 1.5), ("100 us", "time", 1e-4),
    ("2 kHz", "rate", 2000.0), ("0.3 mV", "voltage", 0.0003), ("1 V", "voltage", 1.0),
    ("1e-3 s", "time", 0.001), ("  3 ms ", "time", 0.003), ("+.5 mV", "voltage", 0.0005),
])
def test_parse_quantity(text, dim, value):
    assert parse_quantity(text, dim) == value


@pytest.mark.parametrize("value, dim, fragment", [
    (20, "time", 'expected a time with a unit such as "20 ms", got 20'),
    ("20", "time", "no unit"),
    ("20 mV", "time", "expected a time (dimension time), got a voltage"),
    ("20 Hz", "voltage", "got a rate"),
    ("20 parsecs", "time", "unknown unit 'parsecs'"),
    ("fast", "rate", "expected a rate"),
    (True, "rate", "expected a rate"),
    ("1e999 s", "time", "finite"),
    ("1e1000000 s", "time", "finite"),
    ("２０ ms", "time", "ASCII digits"),
    ("2０ms", "time", "ASCII digits"),
    ("٢٠ ms", "time", "ASCII digits"),
    ("20 ms²", "time", "ASCII digits"),
])
def test_parse_quantity_refuses(value, dim, fragment):
    with pytest.raises(ModelError) as exc:
        parse_quantity(value, dim, "populations.e.tau_m")
    assert exc.value.key == "populations.e.tau_m"
    assert fragment in str(exc.value)


@pytest.mark.parametrize("x, dim, text", [
    (0.02, "time", "20 ms"), (0.0005, "time", "0.5 ms"), (30.0, "time", "30 s"),
    (-0.07, "voltage", "-70 mV"), (0.0003, "voltage", "0.3 mV"), (200.0, "rate", "200 Hz"),
    (0.0, "time", "0 ms"),
])
def test_format_quantity(x, dim, text):
    assert format_quantity(x, dim) == text


def test_format_parse_round_trip_exact():
    import numpy as np

    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, 2000) * 10.0 ** rng.uniform(-12, 5, 2000)
    for x in xs:
        for dim in ("time", "voltage", "rate"):
            assert parse_quantity(format_quantity(float(x), dim), dim) == float(x)


# --- errors ----------------------------------------------------------------

def test_model_error_str_and_within():
    e = ModelError("must be > 0", key="tau_m")
    assert str(e) == "tau_m: must be > 0"
    w = e.within("populations.e", "m.toml")
    assert (w.key, w.file, w.message) == ("populations.e.tau_m", "m.toml", "must be > 0")
    assert str(w) == "m.toml: populations.e.tau_m: must be > 0"
    assert isinstance(w, ValueError)
    with pytest.raises(ModelError, match="x: bad"):
        require(False, "x", "bad")
    require(True, "x", "bad")


# --- dataclasses -----------------------------------------------------------

def _pop(name="e", **kw):
    base = dict(name=name, size=10, kind="excitatory", tau_m=0.02, tau_syn=0.005, v_rest=-0.07,
                v_reset=-0.07, v_th=-0.05, refractory=0.002)
    base.update(kw)
    return LIFPopulation(**base)


def _model(**kw):
    base = dict(
        name="m", dt=0.0005,
        populations={"e": _pop("e"), "i": _pop("i", kind="inhibitory")},
        sources={"inp": SpikeSource("inp", 10)},
        projections={
            "ee": Projection("ee", "e", "e", Connector("fixed_probability", p=0.5), WeightInit(value=0.001),
                             plasticity=("stdp",)),
            "ie": Projection("ie", "i", "e", Connector("all_to_all"), WeightInit(value=0.001), sign="inhibitory"),
        },
        rules={"stdp": PairSTDP("stdp", "symmetric", 0.02, 0.02, 1e-5, 1e-5, w_max=0.003)},
        protocol=Protocol(3, "e", 0.2, (
            Phase("enc", "encode", stimuli=(Stimulus("inp", "patterns", 100.0, item=0.1),), plastic={"ee": 1.0}),
        )),
    )
    base.update(kw)
    return Model(**base)


def test_valid_model():
    m = _model()
    assert m.protocol.phases[0].length(3) == pytest.approx(0.3)
    assert set(m.nodes()) == {"e", "i", "inp"}
    assert m.exportable_issues() == []


@pytest.mark.parametrize("make, key", [
    (lambda: _pop(size=0), "size"),
    (lambda: _pop(size=2.5), "size"),
    (lambda: _pop(kind="modulatory"), "kind"),
    (lambda: _pop(tau_m=0.0), "tau_m"),
    (lambda: _pop(v_reset=-0.04), "v_reset"),
    (lambda: _pop(tau_syn_inh=-1.0), "tau_syn_inh"),
    (lambda: Adaptation(tau_w=0.0, b=0.001), "tau_w"),
    (lambda: SpikeSource("s", -1), "size"),
    (lambda: Connector("fixed_probability", p=1.5), "p"),
    (lambda: Connector("fixed_probability"), "p"),
    (lambda: Connector("all_to_all", p=0.5), "p"),
    (lambda: Connector("fixed_indegree", indegree=0), "indegree"),
    (lambda: Connector("random"), "kind"),
    (lambda: WeightInit(value=-0.001), "value"),
    (lambda: WeightInit("uniform", low=0.002, high=0.001), "high"),
    (lambda: Projection("p", "a", "b", Connector("all_to_all"), WeightInit(), sign="neutral"), "sign"),
    (lambda: Projection("p", "a", "b", Connector("all_to_all"), WeightInit(), delay=-1.0), "delay"),
    (lambda: PairSTDP("r", "triangular", 0.02, 0.02, 1e-5, 1e-5, w_max=0.003), "window"),
    (lambda: PairSTDP("r", "symmetric", 0.02, 0.02, 1e-5, 1e-5, w_max=0.0), "w_max"),
    (lambda: VogelsISTDP("r", tau=0.02, eta=1e-6, rho0=0.0, w_max=0.01), "rho0"),
    (lambda: SynapticNormalisation("r", total=0.0, interval=1.0), "total"),
    (lambda: ActivityGate("g", "e", tau=0.0, threshold=5.0), "tau"),
    (lambda: ActivityGate("g", "e", tau=0.01, threshold=-1.0), "threshold"),
    (lambda: Stimulus("s", "patterns", 100.0), "item"),
    (lambda: Stimulus("s", "noise", -1.0), "rate"),
    (lambda: Stimulus("s", "noise", 1.0, up=0.1), "down"),
    (lambda: Phase("p", "wake", duration=0.0), "duration"),
    (lambda: Phase("p", "wake", plastic={"ee": 0.0}), "plastic.ee"),
    (lambda: Protocol(-1, "e", 0.1, (Phase("p", "wake", duration=1.0),)), "n_memories"),
    (lambda: Protocol(2, None, 0.1, (Phase("p", "wake", duration=1.0),)), "pattern_population"),
    (lambda: Protocol(2, "e", None, (Phase("p", "wake", duration=1.0),)), "coding_level"),
    (lambda: Protocol(1, "e", 1.0, (Phase("p", "wake", duration=1.0),)), "coding_level"),
    (lambda: Protocol(1, "e", 0.1, ()), "phases"),
    (lambda: Protocol(1, "e", 0.1, (Phase("p", "wake", duration=1.0), Phase("p", "wake", duration=1.0))),
     "phases[1].name"),
    (lambda: Protocol(1, "e", 0.1, (Phase("p", "wake", duration=1.0, start_from="q"),)), "phases[0].start_from"),
])
def test_dataclass_validation(make, key):
    with pytest.raises(ModelError) as exc:
        make()
    assert exc.value.key == key


def test_model_cross_references():
    with pytest.raises(ModelError) as exc:
        _model(projections={"x": Projection("x", "e", "nowhere", Connector("all_to_all"), WeightInit())})
    assert exc.value.key == "projections.x.target"
    with pytest.raises(ModelError) as exc:
        _model(projections={"x": Projection("x", "i", "e", Connector("all_to_all"), WeightInit())})
    assert exc.value.key == "projections.x.sign" and "Dale" in str(exc.value)
    with pytest.raises(ModelError) as exc:
        _model(projections={"x": Projection("x", "e", "e", Connector("all_to_all"), WeightInit(),
                                            plasticity=("nope",))})
    assert exc.value.key == "projections.x.plasticity"
    with pytest.raises(ModelError) as exc:
        _model(protocol=Protocol(3, "e", 0.2, (Phase("p", "wake"),)))
    assert exc.value.key == "protocol.phases[0].duration"
    with pytest.raises(ModelError) as exc:
        _model(protocol=Protocol(3, "e", 0.2, (Phase("p", "wake", duration=1.0, silence=("z",)),)))
    assert exc.value.key == "protocol.phases[0].silence"


def test_activity_gate_needs_a_population_and_a_timing_rule_and_comes_once():
    gate = ActivityGate("gate", "i", tau=0.01, threshold=5.0)
    ok = _model(rules={**_model().rules, "gate": gate},
                projections={**_model().projections, "ee": dataclasses.replace(
                    _model().projections["ee"], plasticity=("stdp", "gate"))})
    assert ok.rules_of("ee")[1] is gate

    def bad(plasticity, rules=None):
        with pytest.raises(ModelError) as exc:
            _model(rules={**_model().rules, "gate": gate, "gate2": gate, **(rules or {})},
                   projections={**_model().projections, "ee": dataclasses.replace(
                       _model().projections["ee"], plasticity=plasticity)})
        return exc.value

    e = bad(("gate",))
    assert e.key == "projections.ee.plasticity" and "has none" in str(e)
    e = bad(("stdp", "gate", "gate2"))
    assert e.key == "projections.ee.plasticity" and "at most one modulating rule" in str(e)
    e = bad(("stdp", "gate"), {"gate": ActivityGate("gate", "nowhere", tau=0.01, threshold=5.0)})
    assert e.key == "rules.gate.population" and "'nowhere'" in str(e)


def test_exportable_issues():
    m = _model(populations={"e": _pop("e", adaptation=Adaptation(0.1, 0.001)),
                            "i": _pop("i", kind="inhibitory", tau_syn_inh=0.01)})
    issues = m.exportable_issues()
    assert len(issues) == 2 and any("adaptation" in s for s in issues)


def test_normalisation_owners_follow_the_direction():
    import numpy as np
    from neuromem.spec import Projection, SynapticNormalisation, Connector, WeightInit

    proj = Projection("p", "a", "b", Connector("all_to_all"), WeightInit("constant", 1e-3))
    pre, post = np.array([0, 0, 1]), np.array([2, 3, 2])
    inc, out = (SynapticNormalisation("n", 1e-3, 1e-2, d) for d in ("incoming", "outgoing"))
    assert inc.owner_node(proj) == "b" and out.owner_node(proj) == "a"
    assert inc.owners(pre, post) is post and out.owners(pre, post) is pre


def test_protocol_origin_and_lineage_follow_start_from():
    from neuromem.spec import Phase, Protocol, Stimulus

    noise = (Stimulus(source="s", kind="noise", rate=1.0),)
    phases = tuple(Phase(name=n, kind=k, duration=1.0, stimuli=noise, start_from=sf)
                   for n, k, sf in [("enc", "encode", None), ("rec", "recall", None),
                                    ("sleep", "sleep", "enc"), ("rec2", "recall", None),
                                    ("sleep_b", "sleep", "enc"), ("rec3", "recall", None)])
    proto = Protocol(n_memories=1, pattern_population="p", coding_level=0.1, phases=phases)
    assert proto.origin("enc") is None
    assert proto.origin("rec") == "enc"
    assert proto.origin("sleep") == "enc"
    assert proto.origin("rec2") == "sleep"
    assert proto.lineage("rec3") == ("enc", "sleep_b", "rec3")
    assert proto.lineage("rec2") == ("enc", "sleep", "rec2")
    with pytest.raises(KeyError):
        proto.origin("nope")


# --- pre-flight checks on models built in Python (issue 13) ---------------------------------------

def test_phase_kind_from_declared_set():
    from neuromem.spec.protocol import PHASE_KINDS

    assert PHASE_KINDS == ("encode", "sleep", "recall", "wake")
    for k in PHASE_KINDS:
        assert Phase("p", k, duration=1.0).kind == k
    with pytest.raises(ModelError) as exc:
        Phase("p", "Recall", duration=1.0)
    assert exc.value.key == "kind" and "allowed: encode, sleep, recall, wake" in str(exc.value)


def test_recall_items_longer_than_the_scoring_skip():
    short = Stimulus("inp", "patterns", 100.0, item=0.02)
    with pytest.raises(ModelError) as exc:
        Phase("r", "recall", stimuli=(short,))
    assert exc.value.key == "stimuli[0].item"
    assert Phase("e", "encode", stimuli=(short,)).kind == "encode"     # only recall phases are scored


@pytest.mark.parametrize("change, key", [
    (lambda m: dict(projections={**m.projections, "i": Projection("i", "e", "e", Connector("all_to_all"),
                                                                  WeightInit(value=0.001))}), "projections.i"),
    (lambda m: dict(populations={**m.populations, "e-2": _pop("e-2")}), "populations.e-2"),
    (lambda m: dict(populations={**m.populations, "statemon_e": _pop("statemon_e")}), "populations.statemon_e"),
    (lambda m: dict(sources={"ee_post": SpikeSource("ee_post", 10)}), "sources.ee_post"),
    (lambda m: dict(dt=0.03), "dt"),
    (lambda m: dict(projections={**m.projections, "ie": dataclasses.replace(m.projections["ie"], delay=0.0007)}),
     "projections.ie.delay"),
])
def test_model_preflight(change, key):
    m = _model()
    kw = change(m)
    if "sources" in kw:   # the phase's stimulus needs its source
        kw["sources"] = {**m.sources, **kw["sources"]}
    with pytest.raises(ModelError) as exc:
        _model(**kw)
    assert exc.value.key == key, str(exc.value)


def test_rate_times_dt_at_most_one():
    ok = Phase("enc", "encode", stimuli=(Stimulus("inp", "patterns", 2000.0, item=0.1),))
    assert _model(protocol=Protocol(3, "e", 0.2, (ok,))).dt == 0.0005          # 2000 Hz x 0.5 ms = 1
    bad = Phase("enc", "encode", stimuli=(Stimulus("inp", "patterns", 100.0, background=2100.0, item=0.1),))
    with pytest.raises(ModelError) as exc:
        _model(protocol=Protocol(3, "e", 0.2, (bad,)))
    assert exc.value.key == "protocol.phases[0].stimuli[0].background"


def test_delay_multiple_of_dt_tolerates_rounding():
    m = _model(dt=1e-4, projections={"ee": Projection("ee", "e", "e", Connector("all_to_all"),
                                                      WeightInit(value=0.001), delay=1.3e-3, plasticity=("stdp",))})
    assert m.projections["ee"].delay == 1.3e-3                   # 12.999999999999998 steps


def test_sizes_are_32_bit():
    with pytest.raises(ModelError) as exc:
        SpikeSource("s", 2**31)
    assert exc.value.key == "size" and "32-bit" in str(exc.value)


@pytest.mark.parametrize("name", ["", "a b", "../x", "a/b", ".hidden", "réveil", "٣"])
def test_phase_names_are_file_names(name):
    with pytest.raises(ModelError) as exc:
        Phase(name, "wake", duration=1.0)
    assert exc.value.key == "name" and "phase names name files" in str(exc.value)


def test_phase_name_characters_accepted():
    for name in ("sleep", "sleep-2", "recall_1.b", "3rd"):
        assert Phase(name, "wake", duration=1.0).name == name
def test_pattern_overlaps_exact_and_validated(tmp_path):
    import numpy as np
    from neuromem.spec import PatternOverlap
    from neuromem.spec.loader import dumps_model, load_model, loads_model
    from neuromem.stimulus import apply_overlaps, make_patterns, protocol_patterns, rng_for

    pats = make_patterns(4, 200, 0.1, rng_for(3, "patterns"))
    ov = PatternOverlap(memories=(2, 3), share=(0, 1), fraction=0.25)
    out = apply_overlaps(pats, [ov], rng_for(3, "overlaps"))
    assert np.array_equal(out[:2], pats[:2])
    assert (out[2] & out[0]).sum() == 5 and (out[3] & out[1]).sum() == 5
    assert out.sum(1).tolist() == [20] * 4
    with pytest.raises(ModelError, match="fraction"):
        PatternOverlap(memories=(1,), share=(0,), fraction=1.5)
    with pytest.raises(ModelError, match="share"):
        PatternOverlap(memories=(1, 2), share=(0,), fraction=0.5)
    # in a model file, checked against the memories, and written back
    root = Path(__file__).resolve().parents[1]
    text = (root / "models" / "cls_small.toml").read_text()
    text = text.replace('replay_population = "hpc_e"\n', 'replay_population = "hpc_e"\n'
                        'overlaps = [{ memories = [8, 9], share = [0, 1], fraction = 0.5 }]\n')
    model = loads_model(text, file="x.toml")
    assert model.protocol.overlaps == (PatternOverlap(memories=(8, 9), share=(0, 1), fraction=0.5),)
    assert loads_model(dumps_model(model)) == model
    pats = protocol_patterns(model.protocol, 1000, seed=1)
    assert (pats[8] & pats[0]).sum() == 50 and (pats[9] & pats[1]).sum() == 50
    plain = load_model(root / "models" / "cls_small.toml")
    assert np.array_equal(protocol_patterns(plain.protocol, 1000, 1)[:8], pats[:8])
    with pytest.raises(ModelError, match=r"x.toml: protocol.overlaps\[0\].*outside"):
        loads_model(text.replace("[8, 9]", "[8, 12]"), file="x.toml")
    with pytest.raises(ModelError, match="no chains"):
        loads_model(text.replace("share = [0, 1]", "share = [0, 8]"), file="x.toml")
