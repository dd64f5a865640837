"""Model files: loading, round trip, overrides and error messages."""

from pathlib import Path

import pytest

from neuromem.spec import (
    Connector, LIFPopulation, Model, ModelError, PairSTDP, Projection, SpikeSource, WeightInit,
)
from neuromem.spec.loader import apply_overrides, dumps_model, load_model, loads_model, model_to_dict

MODEL = """\
name = "tiny"
description = "two populations, one source, one rule, two projections"
dt = "0.5 ms"

[populations.ctx_e]
size = 100
kind = "excitatory"
tau_m = "20 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-70 mV"
v_th = "-50 mV"
refractory = "2 ms"
adaptation = { tau_w = "100 ms", b = "0.5 mV" }

[populations.ctx_i]
size = 25
kind = "inhibitory"
tau_m = "10 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-70 mV"
v_th = "-50 mV"
refractory = "1 ms"
tau_syn_inh = "10 ms"

[sources.ctx_in]
size = 100

[rules.ctx_stdp]
type = "pair_stdp"
window = "symmetric"
tau_pre = "20 ms"
tau_post = "20 ms"
a_plus = "0.01 mV"
a_minus = "0.01 mV"
c_pre = "0.001 mV"
w_max = "3 mV"

[projections.in_e]
source = "ctx_in"
target = "ctx_e"
connector = { kind = "one_to_one" }
weight = { kind = "constant", value = "20 mV" }

[projections.ctx_ee]
source = "ctx_e"
target = "ctx_e"
connector = { kind = "fixed_probability", p = 0.2 }
weight = { kind = "uniform", low = "0.1 mV", high = "0.5 mV" }
sign = "excitatory"
delay = "1 ms"
plasticity = ["ctx_stdp"]

[protocol]
n_memories = 3
pattern_population = "ctx_e"
coding_level = 0.1

[[protocol.phases]]
name = "encode"
kind = "encode"
plastic = { ctx_ee = 1.0 }
record_state = ["ctx_e"]
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "patterns"
rate = "200 Hz"
background = "0 Hz"
item = "200 ms"
gap = "100 ms"
fraction = 1.0

[[protocol.phases]]
name = "sleep"
kind = "sleep"
start_from = "encode"
duration = "2 s"
silence = ["ctx_i"]
block = ["in_e"]
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "noise"
rate = "5 Hz"
up = "150 ms"
down = "150 ms"
rate_down = "0 Hz"
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(MODEL)
    return path


def test_loads_valid_model(model_file):
    m = load_model(model_file)
    assert isinstance(m, Model)
    assert m.name == "tiny" and m.dt == 0.0005
    e = m.populations["ctx_e"]
    assert isinstance(e, LIFPopulation) and e.name == "ctx_e" and e.size == 100
    assert e.tau_m == 0.02 and e.v_rest == -0.07 and e.v_th == -0.05 and e.refractory == 0.002
    assert e.adaptation.tau_w == 0.1 and e.adaptation.b == 0.0005
    assert m.populations["ctx_i"].tau_syn_inh == 0.01
    assert m.sources == {"ctx_in": SpikeSource("ctx_in", 100)}
    assert m.rules["ctx_stdp"] == PairSTDP("ctx_stdp", "symmetric", 0.02, 0.02, 1e-5, 1e-5, w_max=0.003,
                                           c_pre=1e-6)
    ee = m.projections["ctx_ee"]
    assert ee == Projection("ctx_ee", "ctx_e", "ctx_e", Connector("fixed_probability", p=0.2),
                            WeightInit("uniform", low=0.0001, high=0.0005), delay=0.001,
                            plasticity=("ctx_stdp",))
    assert m.projections["in_e"].connector == Connector("one_to_one")
    assert m.projections["in_e"].weight == WeightInit("constant", value=0.02)
    enc, sleep = m.protocol.phases
    assert enc.duration is None and enc.length(3) == pytest.approx(0.9)
    assert enc.plastic == {"ctx_ee": 1.0} and enc.record_state == ("ctx_e",)
    assert enc.stimuli[0].rate == 200.0 and enc.stimuli[0].item == 0.2
    assert sleep.start_from == "encode" and sleep.duration == 2.0
    assert sleep.silence == ("ctx_i",) and sleep.block == ("in_e",)
    assert sleep.stimuli[0].kind == "noise" and sleep.stimuli[0].up == 0.15


def test_loads_model_equals_load_model(model_file):
    assert loads_model(MODEL) == load_model(model_file)


def test_round_trip(model_file):
    m = load_model(model_file)
    text = dumps_model(m)
    assert loads_model(text) == m
    assert loads_model(dumps_model(loads_model(text))) == m


def test_model_to_dict_uses_unit_strings():
    d = model_to_dict(loads_model(MODEL))
    assert d["dt"] == "0.5 ms"
    assert d["populations"]["ctx_e"]["tau_m"] == "20 ms"
    assert d["populations"]["ctx_e"]["v_rest"] == "-70 mV"
    assert d["rules"]["ctx_stdp"]["a_plus"] == "0.01 mV"
    assert d["protocol"]["phases"][0]["stimuli"][0]["rate"] == "200 Hz"
    assert d["protocol"]["phases"][1]["duration"] == "2 s"
    assert "tau_syn_inh" not in d["populations"]["ctx_e"]


def test_override_number(model_file):
    m = load_model(model_file, overrides=["populations.ctx_e.size=120", "sources.ctx_in.size=120",
                                          "projections.ctx_ee.connector.p=0.3"])
    assert m.populations["ctx_e"].size == 120
    assert m.projections["ctx_ee"].connector.p == 0.3


def test_override_string_with_space(model_file):
    m = load_model(model_file, overrides=["dt=0.1 ms", 'populations.ctx_e.tau_m="30 ms"'])
    assert m.dt == pytest.approx(1e-4) and m.populations["ctx_e"].tau_m == 0.03


def test_override_phase_by_name_and_index(model_file):
    m = load_model(model_file, overrides=["protocol.phases.sleep.duration=20 s",
                                          "protocol.phases.1.stimuli.0.rate=7 Hz",
                                          "protocol.phases.encode.stimuli.0.memories=[0, 2]"])
    sleep = m.protocol.phase("sleep")
    assert sleep.duration == 20.0 and sleep.stimuli[0].rate == 7.0
    assert m.protocol.phase("encode").stimuli[0].memories == (0, 2)


def test_override_bool_and_table(model_file):
    m = load_model(model_file, overrides=["projections.ctx_ee.connector.allow_self=true",
                                          'projections.in_e.weight={ kind = "normal", value = "1 mV", std = "0.1 mV" }'])
    assert m.projections["ctx_ee"].connector.allow_self is True
    assert m.projections["in_e"].weight == WeightInit("normal", value=0.001, std=0.0001)


def test_override_does_not_touch_file(model_file):
    load_model(model_file, overrides=["populations.ctx_e.size=120", "sources.ctx_in.size=120"])
    assert model_file.read_text() == MODEL


def test_override_unknown_key_refused(model_file):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=["populations.ctx_e.tau_mm=30 ms"])
    msg = str(exc.value)
    assert str(model_file) in msg
    assert "populations.ctx_e.tau_mm" in msg
    assert "unknown key" in msg and "tau_m" in msg
    assert "--set populations.ctx_e.tau_mm" in msg


def test_override_new_table_names_override(model_file):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=["populations.ctx_x.size=3"])
    msg = str(exc.value)
    assert "populations.ctx_x.kind" in msg and "missing required key" in msg
    assert "--set populations.ctx_x.size=3" in msg


def test_override_neighbour_named(model_file):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=["populations.ctx_e.v_th=-75 mV"])
    msg = str(exc.value)
    assert "populations.ctx_e.v_reset" in msg and "after --set populations.ctx_e.v_th=-75 mV" in msg


def test_override_bad_value_names_override(model_file):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=["protocol.phases.sleep.duration=20 mV"])
    msg = str(exc.value)
    assert "protocol.phases[1].duration" in msg and "time" in msg
    assert "--set protocol.phases.sleep.duration" in msg


@pytest.mark.parametrize("override, fragment", [
    ("protocol.phases.nap.duration=1 s", "no element named 'nap'"),
    ("protocol.phases.7.duration=1 s", "out of range"),
    ("dt.x=1", "not a table"),
    ("dt", "key.path=value"),
    ("protocol..x=1", "empty key"),
])
def test_override_bad_path(model_file, override, fragment):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=[override])
    msg = str(exc.value)
    assert str(model_file) in msg and fragment in msg and "--set" in msg


def test_apply_overrides_returns_canonical_paths():
    raw = {"protocol": {"phases": [{"name": "a"}, {"name": "b", "stimuli": [{}]}]}}
    got = apply_overrides(raw, ["protocol.phases.b.stimuli.0.rate=3 Hz", "x.y=1"])
    assert got == [("protocol.phases[1].stimuli[0].rate", "protocol.phases.b.stimuli.0.rate=3 Hz"),
                   ("x", "x.y=1"), ("x.y", "x.y=1")]
    assert raw["protocol"]["phases"][1]["stimuli"][0]["rate"] == "3 Hz" and raw["x"] == {"y": 1}


def _mutate(old, new):
    assert MODEL.count(old) == 1, old
    return MODEL.replace(old, new)


MALFORMED = [
    # (old text, new text, expected key path, expected fragment of the problem)
    ('coding_level = 0.1\n', 'coding_level = 0.1 0.2\n', None, "line"),
    ('refractory = "2 ms"\n', 'refractory = "2 ms"\ntau_mm = "3 ms"\n', "populations.ctx_e.tau_mm", "unknown key"),
    ('refractory = "2 ms"\n', '', "populations.ctx_e.refractory", "missing required key"),
    ('[sources.ctx_in]\nsize = 100', '[sources.ctx_in]\nsize = "100"', "sources.ctx_in.size", "integer"),
    ('n_memories = 3', 'n_memories = 3.0', "protocol.n_memories", "integer"),
    ('tau_m = "20 ms"', 'tau_m = "20 mV"', "populations.ctx_e.tau_m", "voltage"),
    ('tau_m = "20 ms"', 'tau_m = 20', "populations.ctx_e.tau_m", "unit"),
    ('tau_m = "20 ms"', 'tau_m = "20 fortnights"', "populations.ctx_e.tau_m", "unknown unit"),
    ('size = 25', 'size = -25', "populations.ctx_i.size", "positive"),
    ('p = 0.2', 'p = 1.5', "projections.ctx_ee.connector.p", "probability"),
    ('source = "ctx_e"', 'source = "ctx_x"', "projections.ctx_ee.source", "not a defined"),
    ('target = "ctx_e"\nconnector = { kind = "one_to_one" }',
     'target = "nowhere"\nconnector = { kind = "one_to_one" }', "projections.in_e.target", "not a defined"),
    ('type = "pair_stdp"', 'type = "bcm"', "rules.ctx_stdp.type", "pair_stdp, triplet_stdp, vogels_istdp, normalisation"),
    ('plasticity = ["ctx_stdp"]', 'plasticity = ["ctx_stpd"]', "projections.ctx_ee.plasticity", "unknown rule"),
    ('rate = "5 Hz"', 'rate = "5 ms"', "protocol.phases[1].stimuli[0].rate", "rate"),
    ('rate = "5 Hz"', 'rate = "-5 Hz"', "protocol.phases[1].stimuli[0].rate", ">= 0"),
    ('rate_down = "0 Hz"', 'background = "0 Hz"', "protocol.phases[1].stimuli[0].background", "unknown key"),
    ('duration = "2 s"', '', "protocol.phases[1].duration", "required"),
    ('kind = "noise"', 'kind = "pink"', "protocol.phases[1].stimuli[0].kind", "patterns, noise"),
    ('connector = { kind = "fixed_probability", p = 0.2 }', 'connector = { kind = "fixed_probability" }',
     "projections.ctx_ee.connector.p", "missing required key"),
    ('weight = { kind = "constant", value = "20 mV" }', 'weight = { kind = "constant", value = "-20 mV" }',
     "projections.in_e.weight.value", ">= 0"),
    ('adaptation = { tau_w = "100 ms", b = "0.5 mV" }', 'adaptation = { tau_w = "0 ms", b = "0.5 mV" }',
     "populations.ctx_e.adaptation.tau_w", "> 0"),
    ('plastic = { ctx_ee = 1.0 }', 'plastic = { in_e = 1.0 }', "protocol.phases[0].plastic.in_e", "no plasticity"),
    ('start_from = "encode"', 'start_from = "recall"', "protocol.phases[1].start_from", "earlier phase"),
    ('silence = ["ctx_i"]', 'silence = "ctx_i"', "protocol.phases[1].silence", "array"),
    ('dt = "0.5 ms"', 'dt = "0 ms"', "dt", "> 0"),
    ('coding_level = 0.1', 'coding_level = 0.001', "protocol.coding_level", "no active neuron"),
    ('[protocol]\n', '[protocol]\nphases_extra = 1\n', "protocol.phases_extra", "unknown key"),
    ('description = "two populations, one source, one rule, two projections"\n',
     'descripton = "x"\n', "descripton", "unknown key"),
]


@pytest.mark.parametrize("old, new, key, fragment", MALFORMED,
                         ids=[f"{i}-{m[2] or 'syntax'}" for i, m in enumerate(MALFORMED)])
def test_malformed_file(tmp_path, old, new, key, fragment):
    path = tmp_path / "broken.toml"
    path.write_text(_mutate(old, new))
    with pytest.raises(ModelError) as exc:
        load_model(path)
    msg = str(exc.value)
    assert str(path) in msg, msg
    assert exc.value.file == str(path)
    if key is not None:
        assert exc.value.key == key, msg
        assert f": {key}: " in msg, msg
    assert fragment in msg, msg


STD_RULE = '[rules.ctx_std]\ntype = "short_term_depression"\nu = 0.3\ntau_rec = "0.5 s"\n\n[rules.ctx_stdp]'


@pytest.mark.parametrize("old, new, key, fragment", [
    ("u = 0.3", "u = 1.5", "rules.ctx_std.u", "must be in (0, 1]"),
    ("u = 0.3", "u = 0", "rules.ctx_std.u", "must be in (0, 1]"),
    ('tau_rec = "0.5 s"', 'tau_rec = "0.5 mV"', "rules.ctx_std.tau_rec", "time"),
    ('tau_rec = "0.5 s"', 'tau_rec = "-1 s"', "rules.ctx_std.tau_rec", "must be > 0"),
    ('u = 0.3\n', '', "rules.ctx_std.u", "missing"),
    ('plasticity = ["ctx_stdp"]', 'plasticity = ["ctx_stdp", "ctx_std", "ctx_std2"]', "projections.ctx_ee.plasticity",
     "at most one short-term plasticity rule"),
])
def test_short_term_depression_loads_and_bad_values_name_the_key(old, new, key, fragment):
    """A short_term_depression rule loads from the file; a bad value names the file and the key."""
    text = _mutate("[rules.ctx_stdp]", STD_RULE).replace('plasticity = ["ctx_stdp"]', 'plasticity = ["ctx_stdp", "ctx_std"]')
    m = loads_model(text, file="m.toml")
    assert m.rules["ctx_std"].u == 0.3 and m.rules["ctx_std"].tau_rec == 0.5
    assert [r.name for r in m.rules_of("ctx_ee")] == ["ctx_stdp", "ctx_std"]
    text = text.replace("[rules.ctx_stdp]", '[rules.ctx_std2]\ntype = "short_term_depression"\nu = 0.1\n'
                                            'tau_rec = "1 s"\n\n[rules.ctx_stdp]')
    if 'plasticity = ["ctx_stdp"]' in old:
        old = 'plasticity = ["ctx_stdp", "ctx_std"]'
    assert text.count(old) == 1, old
    with pytest.raises(ModelError) as exc:
        loads_model(text.replace(old, new), file="m.toml")
    msg = str(exc.value)
    assert msg.startswith(f"m.toml: {key}: "), msg
    assert fragment in msg, msg


@pytest.mark.parametrize("names, fragment", [
    ('["ctx_eee"]', "'ctx_eee' is not a defined projection"),
    ('["in_e"]', "projection 'in_e' has no short-term plasticity rule"),
])
def test_stp_off_loads_and_names_only_projections_with_a_short_term_rule(names, fragment):
    """A phase's stp_off loads (and survives a dump); naming an unknown projection or one without a short-term
    plasticity rule names the file and the phase's key."""
    text = _mutate("[rules.ctx_stdp]", STD_RULE).replace('plasticity = ["ctx_stdp"]', 'plasticity = ["ctx_stdp", "ctx_std"]')
    text = text.replace('block = ["in_e"]\n', 'block = ["in_e"]\nstp_off = ["ctx_ee"]\n')
    m = loads_model(text, file="m.toml")
    assert m.protocol.phases[1].stp_off == ("ctx_ee",) and m.protocol.phases[0].stp_off == ()
    assert loads_model(dumps_model(m)).protocol.phases[1].stp_off == ("ctx_ee",)
    with pytest.raises(ModelError) as exc:
        loads_model(text.replace('stp_off = ["ctx_ee"]', f"stp_off = {names}"), file="m.toml")
    msg = str(exc.value)
    assert msg.startswith("m.toml: protocol.phases[1].stp_off: "), msg
    assert fragment in msg, msg


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ModelError) as exc:
        loads_model(_mutate('c_pre = "0.001 mV"', 'c_pree = "0.001 mV"'), file="m.toml")
    msg = str(exc.value)
    assert msg.startswith("m.toml: rules.ctx_stdp.c_pree: unknown key")
    for k in ("window", "tau_pre", "a_plus", "c_pre", "w_min", "w_max"):
        assert k in msg


def test_syntax_error_names_line():
    with pytest.raises(ModelError) as exc:
        loads_model("name = 'x'\ndt = \n", file="bad.toml")
    assert str(exc.value).startswith("bad.toml: TOML syntax error") and "line 2" in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError) as exc:
        load_model(tmp_path / "nope.toml")
    assert "nope.toml" in str(exc.value)


def test_phase_gain_loads_round_trips_and_is_validated(model_file):
    m = load_model(model_file, overrides=["protocol.phases.sleep.gain={ ctx_ee = 0.5 }"])
    assert m.protocol.phase("sleep").gain == {"ctx_ee": 0.5}
    assert loads_model(dumps_model(m)) == m
    with pytest.raises(ModelError, match=r"protocol\.phases\[1\]\.gain.*'nope' is not a defined projection"):
        load_model(model_file, overrides=["protocol.phases.sleep.gain={ nope = 0.5 }"])
    with pytest.raises(ModelError, match=r"gain\.ctx_ee.*>= 0"):
        load_model(model_file, overrides=["protocol.phases.sleep.gain={ ctx_ee = -1.0 }"])


def test_normalisation_direction():
    cls = Path(__file__).resolve().parent.parent / "models" / "cls_small.toml"
    m = load_model(cls)
    assert m.rules["ctx_norm"].direction == "outgoing" and m.rules["ctx_incap"].direction == "incoming"
    assert m.normalisations_of("ctx_ee") == (m.rules["ctx_norm"], m.rules["ctx_incap"])
    with pytest.raises(ModelError) as e:
        load_model(cls, overrides=["rules.ctx_norm.direction=sideways"])
    assert "rules.ctx_norm.direction" in str(e.value) and "incoming" in str(e.value) and "cls_small.toml" in str(e.value)


def test_one_normalisation_per_direction():
    """An incoming and an outgoing cap may share a projection; two of one direction are refused."""
    cls = Path(__file__).resolve().parent.parent / "models" / "cls_small.toml"
    second = ["rules.cap2.type=normalisation", "rules.cap2.total=300 mV", "rules.cap2.interval=10 ms"]
    both = ["rules.ctx_norm.direction=incoming", "rules.cap2.direction=outgoing",
            'projections.ctx_ee.plasticity=["ctx_slow", "ctx_norm", "cap2"]']
    m = load_model(cls, overrides=second + both)
    assert [r.name for r in m.normalisations_of("ctx_ee")] == ["ctx_norm", "cap2"]
    assert {r.direction for r in m.normalisations_of("ctx_ee")} == {"incoming", "outgoing"}
    with pytest.raises(ModelError) as e:
        load_model(cls, overrides=second + ["rules.ctx_norm.direction=incoming", "rules.cap2.direction=incoming",
                                            'projections.ctx_ee.plasticity=["ctx_slow", "ctx_norm", "cap2"]'])
    assert "projections.ctx_ee.plasticity" in str(e.value) and "per direction" in str(e.value)


# --- pre-flight validation (issue 13): what would fail or mean nothing at run time ---------------

PREFLIGHT = [
    # names no backend can use, or that collide with its own objects
    ('[populations.ctx_i]', '[populations.ctx-i]', "populations.ctx-i", "ASCII letters"),
    ('[populations.ctx_i]', '[populations._ctx_i]', "populations._ctx_i", "starting with a letter"),
    ('[populations.ctx_i]', '[populations.class]', "populations.class", "Python keyword"),
    ('[populations.ctx_i]', '[populations."ctx_ï"]', 'populations."ctx_ï"', "ASCII letters"),
    ('[sources.ctx_in]', '[sources.spikemon_ctx_e]', "sources.spikemon_ctx_e", "reserved"),
    ('[projections.ctx_ee]', '[projections.ctx_i]', "projections.ctx_i", "already used by populations.ctx_i"),
    ('[projections.ctx_ee]', '[projections.ctx_in]', "projections.ctx_in", "already used by sources.ctx_in"),
    ('[projections.ctx_ee]', '[projections.in_e_pre]', "projections.in_e_pre", "objects generated for them"),
    ('[projections.ctx_ee]', '[projections.ctx_e_stateupdater]', "projections.ctx_e_stateupdater",
     "objects generated for them"),
    # phase kinds from the declared set
    ('kind = "sleep"', 'kind = "Sleep"', "protocol.phases[1].kind", "allowed: encode, sleep, recall, wake"),
    # time step against time constants, delays, rates
    ('dt = "0.5 ms"', 'dt = "6 ms"', "dt", "populations.ctx_e.tau_syn"),
    ('tau_syn_inh = "10 ms"', 'tau_syn_inh = "0.2 ms"', "dt", "tau_syn_inh"),
    ('delay = "1 ms"', 'delay = "1.2 ms"', "projections.ctx_ee.delay", "whole number of time steps"),
    ('rate = "5 Hz"', 'rate = "2001 Hz"', "protocol.phases[1].stimuli[0].rate", "at most once per time step"),
    ('rate_down = "0 Hz"', 'rate_down = "3 kHz"', "protocol.phases[1].stimuli[0].rate_down", "> 1"),
    # numbers: overflow, non-ASCII digits, 64-bit integers, 32-bit sizes
    ('tau_m = "20 ms"', 'tau_m = "1e1000000 ms"', "populations.ctx_e.tau_m", "not a finite time"),
    ('tau_m = "20 ms"', 'tau_m = "２０ ms"', "populations.ctx_e.tau_m", "ASCII digits"),
    ('tau_m = "20 ms"', 'tau_m = "٢٠ ms"', "populations.ctx_e.tau_m", "ASCII digits"),
    ('size = 25', 'size = 99999999999999999999999', "populations.ctx_i.size", "out of range"),
    ('size = 25', 'size = 3000000000', "populations.ctx_i.size", "32-bit"),
    ('coding_level = 0.1', 'coding_level = 1' + '0' * 400, "protocol.coding_level", "finite"),
    # nesting depth, in the file (too deep for the TOML parser itself) and in a value it can read
    ('n_memories = 3', 'n_memories = 3\nx = ' + '[' * 1000 + ']' * 1000, "protocol.x", "nested too deeply"),
    ('n_memories = 3', 'n_memories = 3\nx = ' + '[' * 40 + ']' * 40, "protocol.x" + "[0]" * 15, "levels deep"),
    ('b = "0.5 mV" }', 'b = "0.5 mV", q = ' + '{a=' * 900 + '1' + '}' * 900 + ' }',
     "populations.ctx_e.adaptation", "nested too deeply"),
]


@pytest.mark.parametrize("old, new, key, fragment", PREFLIGHT,
                         ids=[f"{i}-{m[2][:40]}" for i, m in enumerate(PREFLIGHT)])
def test_preflight_refusals_name_file_and_key(tmp_path, old, new, key, fragment):
    assert MODEL.count(old) >= 1, old
    path = tmp_path / "broken.toml"
    path.write_text(MODEL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ModelError) as exc:
        load_model(path)
    msg = str(exc.value)
    assert exc.value.file == str(path) and msg.startswith(f"{path}: {key}: "), msg
    assert exc.value.key == key, msg
    assert fragment in msg, msg


@pytest.mark.parametrize("override, key, fragment", [
    ("dt=1e1000000 s", "dt", "not a finite time"),
    ("dt=1e-1000000 s", "dt", "> 0"),
    ("protocol.phases.²=x", "--set protocol.phases.²=x", "ASCII digits"),
    ("protocol.phases.٣.kind=recall", "--set protocol.phases.٣.kind=recall", "no element named '٣'"),
    ("protocol.phases.１.duration=1 s", "--set protocol.phases.１.duration=1 s", "ASCII digits"),
    ("protocol.phases.1.kind=Recall", "protocol.phases[1].kind", "allowed: encode, sleep, recall, wake"),
    ("protocol.n_memories=" + "[" * 2000 + "]" * 2000, "--set protocol.n_memories=" + "[" * 2000 + "]" * 2000,
     "nested more than"),
    ("protocol.n_memories=" + "[" * 30 + "]" * 30, "protocol.n_memories" + "[0]" * 15, "levels deep"),
    ("protocol.n_memories=99999999999999999999", "protocol.n_memories", "out of range"),
    ("projections.ctx_ee.delay=0.75 ms", "projections.ctx_ee.delay", "whole number"),
    ("populations.ctx_e.tau_m=0.1 ms", "dt", "tau_m"),
])
def test_preflight_overrides(model_file, override, key, fragment):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=[override])
    assert exc.value.file == str(model_file)
    assert exc.value.key == key, str(exc.value)
    assert fragment in str(exc.value)


def test_ascii_digit_index_still_works(model_file):
    m = load_model(model_file, overrides=["protocol.phases.1.duration=3 s", "protocol.phases.-0.kind=wake"])
    assert m.protocol.phases[1].duration == 3.0 and m.protocol.phases[0].kind == "wake"


def test_recall_item_must_outlast_the_scoring_skip(model_file):
    from neuromem.analysis.recall import recall_phase_metrics
    from neuromem.analysis.summary import compute_metrics
    import inspect
    from neuromem.spec.protocol import RECALL_WINDOW_SKIP

    # one constant: the loader's bound is the analysis' default window start
    assert inspect.signature(recall_phase_metrics).parameters["window"].default[0] == RECALL_WINDOW_SKIP
    assert inspect.signature(compute_metrics).parameters["recall_window"].default[0] == RECALL_WINDOW_SKIP
    for item in ("20 ms", "15 ms"):
        with pytest.raises(ModelError) as exc:
            load_model(model_file, overrides=["protocol.phases.encode.kind=recall",
                                              f"protocol.phases.encode.stimuli.0.item={item}"])
        assert exc.value.key == "protocol.phases[0].stimuli[0].item" and "skips the first 20 ms" in str(exc.value)
    m = load_model(model_file, overrides=["protocol.phases.encode.kind=recall",
                                          "protocol.phases.encode.stimuli.0.item=21 ms"])
    assert m.protocol.phases[0].stimuli[0].item == 0.021
    # an encode phase may present short items
    assert load_model(model_file, overrides=["protocol.phases.encode.stimuli.0.item=10 ms"])


def test_model_without_sources_loads_and_makes_inputs():
    import numpy as np
    from neuromem.stimulus import phase_inputs

    head = MODEL.split("[sources.ctx_in]")[0].replace(
        'adaptation = { tau_w = "100 ms", b = "0.5 mV" }\n', "")
    text = head + """
[protocol]
n_memories = 3
pattern_population = "ctx_e"
coding_level = 0.1
[[protocol.phases]]
name = "rest"
kind = "wake"
duration = "100 ms"
"""
    m = loads_model(text, file="nosources.toml")
    assert m.sources == {} and m.projections == {}
    inputs, items, fraction = phase_inputs(m.protocol.phases[0], m, np.zeros((3, 100), bool), {},
                                           np.random.default_rng(0))
    assert inputs == {} and items == [] and fraction == 1.0


# --- resource estimate, and validate/run refusing what cannot fit ----------------------------------

def test_estimate_resources_counts(model_file):
    from neuromem.spec.resources import estimate_resources, format_resources

    m = load_model(model_file)
    est = estimate_resources(m)
    # in_e one_to_one 100, ctx_ee fixed_probability 0.2 over 100 x 99 pairs
    assert est["synapses"] == pytest.approx(100 + 0.2 * 100 * 99)
    assert est["neurons"] == 125
    # encode: 3 items x 300 ms; sleep 2 s; dt 0.5 ms
    assert est["steps"] == 900 / 0.5 + 2000 / 0.5 and est["simulated_s"] == pytest.approx(2.9)
    parts = ("synapse_bytes", "neuron_bytes", "monitor_bytes", "pattern_bytes", "baseline_bytes")
    assert est["total_bytes"] >= sum(est[k] for k in parts) + max(est["draw_bytes"], est["input_bytes"]) - 1
    assert est["total_bytes"] < 300 * 2**20
    text = "\n".join(format_resources(est, 8 * 2**30))
    assert "of 8.0 GiB available" in text and "125 neurons, 2,080 synapses, 5,800 time steps" in text
    # scaling: all-to-all of 200 000 neurons, a billion memories
    big = estimate_resources(load_model(model_file, overrides=[
        "populations.ctx_e.size=200000", "sources.ctx_in.size=200000",
        "projections.ctx_ee.connector={kind = \"all_to_all\"}"]))
    assert big["synapses"] == pytest.approx(200000 + 200000 * 199999)
    assert big["total_bytes"] > 200000 * 199999 * 40
    many = estimate_resources(load_model(model_file, overrides=["protocol.n_memories=1000000000"]))
    assert many["pattern_bytes"] >= 1e9 * 100 and many["steps"] >= 1e9 * 0.3 / 0.0005


def test_available_memory_is_a_positive_count():
    from neuromem.spec.resources import available_memory

    avail = available_memory()
    assert avail is None or (isinstance(avail, int) and avail > 0)


def test_validate_prints_estimate_and_refuses_what_cannot_fit(model_file, tmp_path, capsys, monkeypatch):
    from neuromem import cli
    from neuromem.spec import resources

    assert cli.main(["validate", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "estimated memory:" in out and "time steps" in out
    for argv in (["validate", str(model_file), "--set", "protocol.n_memories=1000000000"],
                 ["validate", str(model_file), "--set", "populations.ctx_e.size=200000",
                  "--set", "sources.ctx_in.size=200000",
                  "--set", "projections.ctx_ee.connector={kind = \"all_to_all\"}"],
                 ["run", str(model_file), "--set", "protocol.n_memories=1000000000", "--out", str(tmp_path / "o")]):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"error: {model_file}: needs an estimated ") and "--force" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "o").exists()          # refused before anything ran or was written
    # --force goes on with a warning; a machine with less memory refuses the small model too
    monkeypatch.setattr(resources, "available_memory", lambda: 1024)
    assert cli.main(["validate", str(model_file)]) == 2
    assert cli.main(["validate", str(model_file), "--force"]) == 0
    assert "warning:" in capsys.readouterr().err
    monkeypatch.setattr(resources, "available_memory", lambda: None)   # unknown: never refuse
    assert cli.main(["validate", str(model_file), "--set", "protocol.n_memories=1000000000"]) == 0


def test_load_model_refuses_unreadable_paths(tmp_path):
    import os

    cases = [(str(tmp_path / "a\0b.toml"), "cannot read model file"), (str(tmp_path), "cannot read model file")]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.toml"
        os.mkfifo(fifo)                     # no writer: a blocking open would wait forever
        cases.append((str(fifo), "not a regular file"))
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(17 * 2**20)
    cases.append((str(big), "larger than"))
    for path, fragment in cases:
        with pytest.raises(ModelError) as exc:
            load_model(path)
        assert exc.value.file == path and fragment in str(exc.value), str(exc.value)


def test_override_must_be_a_string(model_file):
    with pytest.raises(ModelError) as exc:
        load_model(model_file, overrides=[None])
    assert exc.value.key == "--set" and exc.value.file == str(model_file)


def test_generated_names_cover_the_brian2_backend(model_file, monkeypatch):
    """Every object the Brian2 backend names after a model object is declared in spec.names."""
    b2 = pytest.importorskip("brian2")
    from neuromem.backends.brian2 import Brian2Options, simulate
    from neuromem.spec.names import generated_names

    # a plastic projection with a normalisation in each direction, state monitors, all node kinds
    m = load_model(model_file, overrides=[
        "rules.norm_in={type = \"normalisation\", total = \"5 mV\", interval = \"10 ms\"}",
        "rules.norm_out={type = \"normalisation\", total = \"5 mV\", interval = \"10 ms\", direction = \"outgoing\"}",
        "projections.ctx_ee.plasticity=[\"ctx_stdp\", \"norm_in\", \"norm_out\"]",
        "protocol.phases.sleep.record_state=[\"ctx_i\"]"])
    seen = []

    class Built(Exception):
        pass

    def fake_run(self, *args, **kwargs):
        seen.extend(obj.name for obj in self.sorted_objects)   # contained objects included
        raise Built

    monkeypatch.setattr(b2.Network, "run", fake_run)
    with pytest.raises(Built):
        simulate(m, 0, Brian2Options(target="numpy", progress=False))
    allowed = generated_names(m.populations, m.sources, m.projections)
    own = tuple(m.populations) + tuple(m.sources) + tuple(m.projections)
    derived = [n for n in seen if n.startswith(("spikemon_", "statemon_"))
               or any(n == o or n.startswith(o + "_") for o in own)]
    assert len(derived) > len(own)
    assert set(derived) <= set(allowed), sorted(set(derived) - set(allowed))


def test_model_without_sources_runs(tmp_path, capsys):
    """A model with no [sources] simulates and writes its run folder (was: max() of an empty sequence)."""
    pytest.importorskip("brian2")
    from neuromem import cli

    head = MODEL.split("[populations.ctx_i]")[0].replace('adaptation = { tau_w = "100 ms", b = "0.5 mV" }\n', "")
    path = tmp_path / "nosources.toml"
    path.write_text(head.replace("size = 100", "size = 20") + """
[protocol]
n_memories = 2
pattern_population = "ctx_e"
coding_level = 0.1
[[protocol.phases]]
name = "rest"
kind = "wake"
duration = "50 ms"
""")
    assert load_model(path).sources == {}
    rc = cli.main(["run", str(path), "--target", "numpy", "--no-figures", "--quiet", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert out.out.strip().startswith("results: ") and (tmp_path / "runs").is_dir()
