"""Synaptic normalisation's generated code (``backends/brian2/normalisation.py``) on both devices.

Chains of normalisations (consecutive rules of one projection with one
interval) run fused: on the runtime device as ``m + 1`` passes of
``run_regularly`` code, on the cpp_standalone device as one C++ function that
skips the scaling of a rule with no neuron over its total.  Both must give
the weights of :meth:`SynapticNormalisation.factors` applied in list order,
bit for bit, whatever the synapse order; one model here holds every case
(incoming then outgoing, the reverse, a cap never reached, each direction
alone in two chains on different intervals, synapses not stored by presynaptic neuron) so
that the standalone device compiles once.
"""

from __future__ import annotations

import numpy as np
import pytest
import tomli_w

import neuromem.backends.runner as runner
from neuromem.backends.brian2 import Brian2Options, simulate
from neuromem.backends.brian2.normalisation import normalisation_chain
from neuromem.spec.loader import loads_model

MV = 1e-3
N_PRE, N_POST = 5, 6             # the compiled chain is hosted by the smaller group: the spike source
PLASTICITY = {"in_out": ["stdp", "cap_in", "cap_out"], "out_in": ["stdp", "cap_out", "cap_in"],
              "never": ["stdp", "loose"],
              "two_clocks": ["stdp", "cap_in", "cap_out_20"], "shuffled": ["stdp", "cap_in", "cap_out"]}


def model_table():
    uniform = {"kind": "uniform", "low": "0.1 mV", "high": "1 mV"}
    rules = {"stdp": {"type": "pair_stdp", "window": "asymmetric", "tau_pre": "20 ms", "tau_post": "20 ms",
                      "a_plus": "0.5 mV", "a_minus": "0 mV", "w_max": "5 mV"},
             "cap_in": {"type": "normalisation", "total": "2.6 mV", "interval": "10 ms"},
             "cap_out": {"type": "normalisation", "total": "3.2 mV", "interval": "10 ms", "direction": "outgoing"},
             "cap_out_20": {"type": "normalisation", "total": "3.2 mV", "interval": "20 ms",
                            "direction": "outgoing"},
             "loose": {"type": "normalisation", "total": "100 mV", "interval": "10 ms"}}
    post = {"size": N_POST, "kind": "excitatory", "tau_m": "10 ms", "tau_syn": "1 ms", "v_rest": "-70 mV",
            "v_reset": "-65 mV", "v_th": "-50 mV", "refractory": "2 ms"}
    projections = {name: {"source": "pre", "target": "post", "connector": {"kind": "all_to_all"},
                          "weight": uniform, "plasticity": plasticity}
                   for name, plasticity in PLASTICITY.items()}
    return {"name": "normcode", "dt": "0.1 ms", "populations": {"post": post}, "sources": {"pre": {"size": N_PRE}},
            "rules": rules, "projections": projections,
            "protocol": {"n_memories": 1, "pattern_population": "post", "coding_level": 0.9,
                         "phases": [{"name": "p", "kind": "wake", "duration": "60 ms",
                                     "plastic": {name: 1.0 for name in PLASTICITY}}]}}


MODEL = loads_model(tomli_w.dumps(model_table()), file="<normcode>")


@pytest.fixture
def silent_and_shuffled(monkeypatch):
    """No input spikes (weights change by normalisation only); ``shuffled``'s synapses in a random order."""

    def no_inputs(ph, model, patterns, cues, rng):
        return {s: (np.zeros(0, np.int32), np.zeros(0)) for s in model.sources}, [], 1.0

    real_draw = runner.draw_projection

    def draw(model, name, seed):
        i, j, w = real_draw(model, name, seed)
        if name == "shuffled":
            order = np.random.default_rng(1).permutation(i.size)
            i, j, w = i[order], j[order], w[order]
        return i, j, w

    monkeypatch.setattr(runner, "phase_inputs", no_inputs)
    monkeypatch.setattr(runner, "draw_projection", draw)


def reference(run, name):
    """The weights after 60 ms: ``factors`` in list order at every tick (t = 0, 10, ..., 50 ms)."""
    i, j = run.synapses[name]
    w = run.initial_weights[name].copy()
    for tick in range(6):
        for rule in PLASTICITY[name][1:]:
            norm = MODEL.rules[rule]
            if tick % round(norm.interval / 10e-3):
                continue
            owner, n = (j, N_POST) if norm.direction == "incoming" else (i, N_PRE)
            w *= norm.factors(w, owner, n)[owner]
    return w


def test_chains_are_consecutive_normalisations_with_one_interval():
    proj = MODEL.projections
    assert [r.name for r in normalisation_chain(proj["in_out"], MODEL, 0)] == ["cap_in", "cap_out"]
    assert normalisation_chain(proj["in_out"], MODEL, 1) == []
    assert [r.name for r in normalisation_chain(proj["two_clocks"], MODEL, 0)] == ["cap_in"]
    assert [r.name for r in normalisation_chain(proj["two_clocks"], MODEL, 1)] == ["cap_out_20"]


# the runtime device (Cython) in the slow set: on a fresh cache its many small code objects compile for
# minutes; the cpp_standalone device checks the same arithmetic in `make test`
@pytest.mark.parametrize("device", [pytest.param("runtime", marks=pytest.mark.slow), "cpp_standalone"])
def test_fused_normalisation_equals_the_numpy_reference_bit_for_bit(silent_and_shuffled, device):
    """Compiled code (Cython, C++); Brian2's numpy target differs from the reference by ~1 ulp (before the fusion too)."""
    run = simulate(MODEL, 0, Brian2Options(progress=False, device=device))
    w = run.phase("p").weights
    i, j = run.synapses["in_out"]
    w0 = run.initial_weights["in_out"]
    # the caps bind: some owners over, some under, in both directions
    assert (np.bincount(j, w0, N_POST) > 2.6 * MV).any() and (np.bincount(j, w0, N_POST) < 2.6 * MV).any()
    assert (np.bincount(i, w0, N_PRE) > 3.2 * MV).any() and (np.bincount(i, w0, N_PRE) < 3.2 * MV).any()
    assert not np.all(np.diff(run.synapses["shuffled"][0]) >= 0)
    for name in PLASTICITY:
        np.testing.assert_array_equal(w[name], reference(run, name), err_msg=name)
    np.testing.assert_array_equal(w["never"], run.initial_weights["never"])
    assert not np.array_equal(w["in_out"], w["out_in"])
