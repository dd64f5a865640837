"""Shared Brian2 objects (``neuromem.backends.brian2.merging``): what is merged, and that nothing changes.

``plan_merges`` decides from the model alone which populations share one
``NeuronGroup`` and which projections one ``Synapses``; these tests check its
rules on small variants, that the default model merges nothing, and that a
run with merging gives the same spikes, weights, start states and recorded
state as one without, bit for bit, on CUBA and on a small model with phases
(silence, block, gain, a branch, STDP onto a merged population, delays):
on Brian2's numpy target in ``make test``, on Cython and cpp_standalone in
the slow set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuromem.backends.brian2 import Brian2Options, simulate
from neuromem.backends.brian2.merging import plan_merges
from neuromem.spec.loader import load_model, loads_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_standalone import assert_same_runs  # noqa: E402

POP = '''
size = {size}
kind = "{kind}"
tau_m = "{tau_m}"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-65 mV"
v_th = "-50 mV"
refractory = "2 ms"
v_init = {{ kind = "uniform", low = "-70 mV", high = "-52 mV" }}
'''

#: three populations of one neuron model (a_e, b_e, inh) and one of another (hpc); inputs into
#: two of them, STDP onto a merged population, projections into and out of the unmerged one,
#: silence, block, gain and a branch in the protocol
PHASED = (
    'name = "merge_phases"\ndt = "0.5 ms"\n'
    + "[populations.a_e]" + POP.format(size=40, kind="excitatory", tau_m="20 ms")
    + "[populations.b_e]" + POP.format(size=30, kind="excitatory", tau_m="20 ms")
    + "[populations.inh]" + POP.format(size=12, kind="inhibitory", tau_m="20 ms")
    + "[populations.hpc]" + POP.format(size=20, kind="excitatory", tau_m="10 ms")
    + '''
[sources.in_a]
size = 40

[sources.in_b]
size = 30

[rules.stdp]
type = "pair_stdp"
window = "symmetric"
tau_pre = "20 ms"
tau_post = "20 ms"
a_plus = "0.5 mV"
a_minus = "0.5 mV"
c_pre = "0.05 mV"
w_max = "4 mV"

[projections.in_a_e]
source = "in_a"
target = "a_e"
connector = { kind = "one_to_one" }
weight = { kind = "constant", value = "30 mV" }

[projections.in_b_e]
source = "in_b"
target = "b_e"
connector = { kind = "one_to_one" }
weight = { kind = "constant", value = "40 mV" }

[projections.a_a]
source = "a_e"
target = "a_e"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "uniform", low = "0.5 mV", high = "2 mV" }
delay = "2 ms"
plasticity = ["stdp"]

[projections.a_b]
source = "a_e"
target = "b_e"
connector = { kind = "fixed_probability", p = 0.3 }
weight = { kind = "uniform", low = "3 mV", high = "8 mV" }
delay = "1 ms"

[projections.a_i]
source = "a_e"
target = "inh"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "12 mV" }
delay = "1 ms"

[projections.i_a]
source = "inh"
target = "a_e"
sign = "inhibitory"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "3 mV" }

[projections.i_b]
source = "inh"
target = "b_e"
sign = "inhibitory"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "3 mV" }

[projections.b_h]
source = "b_e"
target = "hpc"
connector = { kind = "fixed_probability", p = 0.4 }
weight = { kind = "constant", value = "15 mV" }
delay = "1 ms"

[projections.h_b]
source = "hpc"
target = "b_e"
connector = { kind = "fixed_probability", p = 0.4 }
weight = { kind = "constant", value = "2 mV" }

[protocol]
n_memories = 2
pattern_population = "a_e"
coding_level = 0.25

[[protocol.phases]]
name = "encode"
kind = "encode"
plastic = { a_a = 1.0 }
[[protocol.phases.stimuli]]
source = "in_a"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"
[[protocol.phases.stimuli]]
source = "in_b"
kind = "noise"
rate = "80 Hz"

[[protocol.phases]]
name = "recall"
kind = "recall"
silence = ["hpc"]
record_state = ["b_e"]
[[protocol.phases.stimuli]]
source = "in_a"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"
fraction = 0.5
[[protocol.phases.stimuli]]
source = "in_b"
kind = "noise"
rate = "60 Hz"

[[protocol.phases]]
name = "rest"
kind = "sleep"
start_from = "encode"
duration = "0.6 s"
block = ["i_a", "i_b"]
gain = { a_b = 0.7, a_i = 0.7 }
[[protocol.phases.stimuli]]
source = "in_b"
kind = "noise"
rate = "120 Hz"
[[protocol.phases.stimuli]]
source = "in_a"
kind = "noise"
rate = "150 Hz"
''')

CUBA = REPO / "models" / "brette2007_cuba.toml"


def _plan(text: str):
    return plan_merges(loads_model(text)).describe()


def test_plan_of_the_classic_networks_and_the_default_model():
    for name in ("brette2007_cuba", "brette2007_coba"):
        assert plan_merges(load_model(REPO / "models" / f"{name}.toml")).describe() == {
            "groups": [["e", "i"]], "projections": [["ee", "ei"], ["ie", "ii"]]}
    # ctx_e, ctx_i, hpc_e, hpc_i differ in parameters, and the plastic projections are not merged
    for name in ("cls", "cls_small"):      # the default model and the small one
        assert plan_merges(load_model(REPO / "models" / f"{name}.toml")).describe() == {"groups": [], "projections": []}


def test_plan_of_the_phased_model():
    assert _plan(PHASED) == {"groups": [["a_e", "b_e", "inh"]],
                             "projections": [["a_b", "a_i"], ["i_a", "i_b"]]}


def test_plan_rules():
    # another parameter value: inh alone, its projections onto the shared group still shared
    other = PHASED.replace('size = 12\nkind = "inhibitory"\ntau_m = "20 ms"', 'size = 12\nkind = "inhibitory"\ntau_m = "15 ms"')
    assert _plan(other) == {"groups": [["a_e", "b_e"]], "projections": [["i_a", "i_b"]]}
    # silenced in a phase without the others: alone (a shared group has one silenced flag)
    silenced = PHASED.replace('silence = ["hpc"]', 'silence = ["hpc", "inh"]')
    assert _plan(silenced) == {"groups": [["a_e", "b_e"]], "projections": [["i_a", "i_b"]]}
    assert _plan(PHASED.replace('silence = ["hpc"]', 'silence = ["hpc", "a_e", "b_e", "inh"]'))["groups"] == [
        ["a_e", "b_e", "inh"]]
    # a gain or a block in one phase that the other projection does not have: separate synapses
    assert _plan(PHASED.replace("gain = { a_b = 0.7, a_i = 0.7 }", "gain = { a_b = 0.7 }"))["projections"] == [
        ["i_a", "i_b"]]
    assert _plan(PHASED.replace('block = ["i_a", "i_b"]', 'block = ["i_a"]'))["projections"] == [["a_b", "a_i"]]
    # another delay
    assert _plan(PHASED.replace('weight = { kind = "constant", value = "12 mV" }\ndelay = "1 ms"',
                                'weight = { kind = "constant", value = "12 mV" }\ndelay = "1.5 ms"'))[
        "projections"] == [["i_a", "i_b"]]
    # the owners of a normalisation's per-neuron sums stay alone
    norm = PHASED.replace('[projections.in_a_e]', '[rules.cap]\ntype = "normalisation"\ntotal = "30 mV"\n'
                                                    'interval = "10 ms"\ndirection = "incoming"\n\n[projections.in_a_e]')
    norm = norm.replace('plasticity = ["stdp"]', 'plasticity = ["stdp", "cap"]')
    assert _plan(norm) == {"groups": [["b_e", "inh"]], "projections": [["a_b", "a_i"]]}


def test_plan_keeps_the_pathway_order():
    # Brian2 runs pathways by name: merging x_b (a_e -> b_e) with a_i under the name a_i would move
    # b_e's input from a_e before i_b's (inh -> b_e), which it follows unmerged
    renamed = PHASED.replace("[projections.a_b]", "[projections.x_b]").replace("gain = { a_b = 0.7,", "gain = { x_b = 0.7,")
    plan = _plan(renamed)
    assert ["a_i", "x_b"] not in plan["projections"]
    assert ["i_a", "i_b"] in plan["projections"]


def test_merge_off_builds_one_object_each():
    from neuromem.backends.brian2.merging import merge_plan

    model = load_model(CUBA)
    assert merge_plan(model, Brian2Options(merge=False)).describe() == {"groups": [], "projections": []}
    assert merge_plan(model, Brian2Options()).describe()["groups"] == [["e", "i"]]


# Brian2's numpy target in `make test` (a fresh cache compiles each network of this module in Cython for about
# 2 minutes on the 2-core machine); the compiled code of both devices in the slow set.
DEVICES = [pytest.param("runtime", "numpy", id="runtime-numpy"),
           pytest.param("runtime", "cython", id="runtime-cython", marks=pytest.mark.slow),
           pytest.param("cpp_standalone", "auto", id="cpp_standalone", marks=pytest.mark.slow)]


@pytest.mark.parametrize("device, target", DEVICES)
def test_merged_cuba_is_identical(device, target):
    model = load_model(CUBA, overrides=["protocol.phases.run.duration=0.15 s"])
    on = simulate(model, 3, Brian2Options(progress=False, device=device, target=target))
    off = simulate(model, 3, Brian2Options(progress=False, device=device, target=target, merge=False))
    assert on.phases[0].spikes["e"].t.size > 500 and on.phases[0].spikes["i"].t.size > 100
    assert_same_runs(on, off)


@pytest.mark.parametrize("device, target", DEVICES)
def test_merged_phases_are_identical(device, target):
    model = loads_model(PHASED)
    on = simulate(model, 5, Brian2Options(progress=False, device=device, target=target))
    off = simulate(model, 5, Brian2Options(progress=False, device=device, target=target, merge=False))
    for ph in on.phases:
        for p in ("a_e", "b_e", "inh"):
            assert ph.spikes[p].t.size > 10, (ph.name, p)
    assert on.phase("recall").spikes["hpc"].t.size == 0
    assert on.phase("rest").weights["a_a"].size > 0 and "b_e" in on.phase("recall").state
    assert_same_runs(on, off)


@pytest.mark.slow
def test_merged_runtime_and_standalone_agree():
    model = loads_model(PHASED)
    rt = simulate(model, 5, Brian2Options(progress=False, device="runtime"))
    sa = simulate(model, 5, Brian2Options(progress=False, device="cpp_standalone"))
    assert_same_runs(rt, sa, initial_atol=1e-15)
