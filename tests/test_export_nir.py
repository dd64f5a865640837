"""Export to NIR: graph structure, write/read round trip, and spikes of the read-back graph."""

from __future__ import annotations

import numpy as np
import pytest

from neuromem.spec import (
    Adaptation, Connector, LIFPopulation, Model, PairSTDP, Phase, Projection, Protocol, SpikeSource,
    Stimulus, WeightInit,
)
from neuromem.spec.loader import dumps_model

nir = pytest.importorskip("nir")

DT = 0.5e-3
N_E, N_I = 30, 8


def _lif(name, size, kind, tau_m, refractory, **kw):
    return LIFPopulation(name=name, size=size, kind=kind, tau_m=tau_m, tau_syn=0.005, v_rest=-0.070,
                         v_reset=-0.065, v_th=-0.050, refractory=refractory, **kw)


def recall_model(**pop_kw) -> Model:
    """Cue -> E (recurrent, 2-step delay) + I (1-step delay), 3 memories x 150 ms = 900 steps."""
    stdp = PairSTDP("stdp", "symmetric", 0.02, 0.02, 1e-4, 1e-4, w_max=0.1)
    proj = {
        "cue_e": Projection("cue_e", "cue", "E", Connector("one_to_one"), WeightInit("constant", value=0.02)),
        "ee": Projection("ee", "E", "E", Connector("fixed_probability", p=0.3),
                         WeightInit("uniform", low=0.0, high=0.025), delay=1e-3, plasticity=("stdp",)),
        "ei": Projection("ei", "E", "I", Connector("fixed_probability", p=0.5),
                         WeightInit("constant", value=0.015), delay=0.5e-3),
        "ie": Projection("ie", "I", "E", Connector("fixed_probability", p=0.5),
                         WeightInit("constant", value=0.008), sign="inhibitory"),
    }
    cue = Stimulus("cue", "patterns", rate=400.0, background=150.0, item=0.1, gap=0.05, fraction=0.5)
    return Model(
        name="nir-export", dt=DT,
        populations={"E": _lif("E", N_E, "excitatory", 0.02, 2e-3, **pop_kw),
                     "I": _lif("I", N_I, "inhibitory", 0.01, 1e-3)},
        sources={"cue": SpikeSource("cue", N_E)}, projections=proj, rules={"stdp": stdp},
        protocol=Protocol(n_memories=3, pattern_population="E", coding_level=0.3,
                          phases=(Phase("recall", "recall", stimuli=(cue,)),
                                  Phase("lesioned", "recall", stimuli=(cue,), silence=("I",)))))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from neuromem.analysis import compute_metrics
    from neuromem.backends.brian2.simulator import Brian2Options, simulate
    from neuromem.io import write_run

    model = recall_model()
    run = simulate(model, seed=5, phases=["recall"], options=Brian2Options(target="numpy", progress=False))
    run.model_text = dumps_model(model)
    return write_run(run, compute_metrics(run), tmp_path_factory.mktemp("brian2"), figures=False)


@pytest.fixture(scope="module")
def written(run_dir, tmp_path_factory):
    from neuromem.export import export_nir
    path = tmp_path_factory.mktemp("nir") / "net.nir"
    graph = export_nir(run_dir, path, phase="recall")
    return graph, path


def test_graph_nodes_weights_and_metadata(written, run_dir):
    from neuromem.export.lava import load_frozen_network
    graph, _ = written
    assert isinstance(graph.nodes["cue"], nir.Input)
    assert isinstance(graph.nodes["E"], nir.CubaLIF) and isinstance(graph.nodes["I"], nir.CubaLIF)
    assert isinstance(graph.nodes["E_output"], nir.Output)
    assert {"ee", "ei", "ie", "cue_e"} <= set(graph.nodes)
    assert ("cue", "cue_e") in graph.edges and ("cue_e", "E") in graph.edges and ("E", "E_output") in graph.edges
    e = graph.nodes["E"]
    np.testing.assert_allclose(e.tau_syn, 0.005)
    np.testing.assert_allclose(e.v_leak, -0.070)
    np.testing.assert_allclose(e.v_reset, -0.065)
    np.testing.assert_allclose(e.r, 1.0)
    np.testing.assert_allclose(e.w_in, 1.0)
    fz = load_frozen_network(run_dir, "recall")
    np.testing.assert_allclose(graph.nodes["ee"].weight, fz.matrices["ee"] * 0.005)   # W * tau_syn
    np.testing.assert_allclose(graph.nodes["ie"].weight, -fz.matrices["ie"] * 0.005)  # sign applied
    assert graph.nodes["ee"].metadata["delay_steps"] == 2 and graph.nodes["ei"].metadata["delay_steps"] == 1
    assert e.metadata["refractory"] == pytest.approx(2e-3) and e.metadata["refractory_steps"] == 4
    md = graph.metadata
    assert md["dt"] == DT and md["phase"] == "recall" and md["model"] == "nir-export"
    assert "tau_syn" in md["weight_convention"] and md["neuromem_version"]


def test_round_trip_keeps_shapes_and_metadata(written):
    graph, path = written
    back = nir.read(path)
    assert set(back.nodes) == set(graph.nodes)
    assert sorted(back.edges) == sorted(graph.edges)
    for name, node in back.nodes.items():
        for types in (node.input_type, node.output_type):
            assert types and all(v is not None for v in types.values()), name
    assert list(back.nodes["E"].output_type["output"]) == [N_E]
    assert list(back.nodes["ei"].input_type["input"]) == [N_E]
    assert list(back.nodes["ei"].output_type["output"]) == [N_I]
    np.testing.assert_array_equal(back.nodes["ee"].weight, graph.nodes["ee"].weight)
    assert back.metadata["dt"] == DT and back.metadata["weight_convention"] == graph.metadata["weight_convention"]
    assert int(back.nodes["ee"].metadata["delay_steps"]) == 2
    assert int(back.nodes["E"].metadata["refractory_steps"]) == 4


def test_simulated_read_back_graph_matches_brian2_spikes(written, run_dir):
    from neuromem.export import simulate_nir
    from neuromem.io import load_phase
    _, path = written
    back = nir.read(path)
    brian = load_phase(run_dir, "recall")
    n_steps = int(round(brian.duration / DT))
    out = simulate_nir(back, {"cue": (brian.spikes["cue"].i, brian.spikes["cue"].t)}, n_steps)
    total = 0
    for pop in ("E", "I"):
        ref = brian.spikes[pop]
        i, t = out[pop]
        got = sorted(zip(np.round(t / DT).astype(int).tolist(), i.tolist()))
        want = sorted(zip(np.round(ref.t / DT).astype(int).tolist(), ref.i.tolist()))
        assert got == want, pop
        total += len(want)
    assert total > 200 and len(out["I"][0]) > 20


def test_silenced_population_is_left_out(run_dir):
    from neuromem.export import to_nir
    from neuromem.export.lava import load_frozen_network
    fz = load_frozen_network(run_dir, "recall")
    g = to_nir(fz.model, fz.matrices, "lesioned")
    assert "I" not in g.nodes and "ei" not in g.nodes and "ie" not in g.nodes and "ee" in g.nodes


def test_to_nir_refuses_non_cuba_features():
    from neuromem.export import LavaExportError, to_nir
    m = recall_model(adaptation=Adaptation(tau_w=0.1, b=0.001))
    with pytest.raises(LavaExportError, match="adaptation"):
        to_nir(m, {}, "recall")
