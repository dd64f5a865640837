"""The cpp_standalone device: the whole protocol in one compiled program (issue 11, part 1).

On small models: standalone and runtime give the same spikes, weights and science
figures (also across a ``start_from`` branch, with delays, normalisation and
inhibitory STDP); the same seed on the same device gives bit-identical results;
another seed reruns the compiled program without building again (a counter of
builds and the program's modification time); a run folder holds what a runtime
run folder holds; what the device cannot do is refused before anything is built.

The builds go into the project's compile cache (``$NEUROMEM_CACHE_DIR``), so
only the first run on a machine compiles (about half a minute per model).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuromem.backends.brian2 import Brian2Options, simulate
from neuromem.backends.brian2 import standalone
from neuromem.spec import ModelError
from neuromem.spec.loader import load_model, loads_model

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.toml"
SA = Brian2Options(progress=False, device="cpp_standalone")
RT = Brian2Options(progress=False, device="runtime")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_resume import MODEL as BRANCHED  # noqa: E402  (encode, recall_a, rest from encode, recall_b)


def assert_same_runs(a, b, initial_atol=0.0):
    assert [p.name for p in a.phases] == [p.name for p in b.phases]
    for p, q in zip(a.phases, b.phases):
        assert set(p.spikes) == set(q.spikes)
        for k in p.spikes:
            np.testing.assert_array_equal(p.spikes[k].i, q.spikes[k].i, err_msg=f"{p.name}/{k}")
            np.testing.assert_array_equal(p.spikes[k].t, q.spikes[k].t, err_msg=f"{p.name}/{k}")
        assert set(p.weights) == set(q.weights)
        for k in p.weights:
            np.testing.assert_array_equal(p.weights[k], q.weights[k], err_msg=f"{p.name}/{k}")
        assert set(p.initial_state) == set(q.initial_state)
        for k in p.initial_state:
            np.testing.assert_allclose(p.initial_state[k], q.initial_state[k], rtol=0, atol=initial_atol,
                                       err_msg=f"{p.name}/{k}")
        assert set(p.state) == set(q.state)
        for k in p.state:
            np.testing.assert_allclose(p.state[k][0], q.state[k][0], rtol=0, atol=1e-12)
            np.testing.assert_allclose(p.state[k][1], q.state[k][1], rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def tiny_runs():
    """tiny.toml: standalone seed 0 twice and seed 1, runtime seed 0; builds counted and the program's mtime."""
    model = load_model(TINY, overrides=["protocol.phases.recall_half_cue.record_state=['ctx_e']"])
    first = simulate(model, 0, SA)
    builds = standalone.BUILD_COUNT
    folder = Path(__import__("neuromem.backends.brian2.simulator", fromlist=["x"]).last_backend_description()
                  ["build"]["folder"])
    mtime = (folder / "main").stat().st_mtime_ns
    again = simulate(model, 0, SA)
    other = simulate(model, 1, SA)
    info = __import__("neuromem.backends.brian2.simulator", fromlist=["x"]).last_backend_description()
    return {"model": model, "sa": first, "again": again, "other": other, "rt": simulate(model, 0, RT),
            "builds_after_first": builds, "builds_after_all": standalone.BUILD_COUNT, "folder": folder,
            "mtime": mtime, "mtime_after": (folder / "main").stat().st_mtime_ns, "other_info": info}


@pytest.mark.slow
def test_standalone_equals_runtime_on_the_tiny_model(tiny_runs):
    from neuromem.analysis import compute_metrics

    sa, rt = tiny_runs["sa"], tiny_runs["rt"]
    assert sa.phase("encode").spikes["ctx_e"].t.size > 100
    assert_same_runs(sa, rt, initial_atol=1e-15)
    m_sa, m_rt = compute_metrics(sa)["recall"], compute_metrics(rt)["recall"]
    assert m_sa.keys() == m_rt.keys() == {"recall_half_cue"}
    for k in m_sa:
        assert m_sa[k]["mean_overlap"] == pytest.approx(m_rt[k]["mean_overlap"], abs=1e-12)
        assert m_sa[k]["mean_overlap"] > 0.2


@pytest.mark.slow
def test_same_seed_same_device_is_bit_identical(tiny_runs):
    assert_same_runs(tiny_runs["sa"], tiny_runs["again"])


@pytest.mark.slow
def test_another_seed_reruns_without_building(tiny_runs):
    assert tiny_runs["builds_after_all"] == tiny_runs["builds_after_first"]
    assert tiny_runs["mtime_after"] == tiny_runs["mtime"]
    assert tiny_runs["other_info"]["build"]["compiled"] is False
    a, b = tiny_runs["sa"].phase("encode").spikes["ctx_e"], tiny_runs["other"].phase("encode").spikes["ctx_e"]
    assert a.t.size != b.t.size or not np.array_equal(a.t, b.t)          # another seed, another run
    assert not np.array_equal(tiny_runs["sa"].patterns, tiny_runs["other"].patterns)


@pytest.mark.slow
def test_changed_data_values_rerun_without_building(tiny_runs):
    """Stimulus rates, connection weights, learning rates and gains are data: no new build."""
    model = load_model(TINY, overrides=["protocol.phases.recall_half_cue.record_state=['ctx_e']",
                                        "protocol.phases.encode.stimuli.0.rate=120 Hz",
                                        "projections.ctx_in_e.weight.value=90 mV",
                                        "protocol.phases.encode.plastic={ ctx_ee = 0.5 }",
                                        "protocol.phases.recall_half_cue.gain={ ctx_ee = 1.5 }"])
    before = standalone.BUILD_COUNT
    sa, rt = simulate(model, 2, SA), simulate(model, 2, RT)
    assert standalone.BUILD_COUNT == before
    assert_same_runs(sa, rt, initial_atol=1e-15)


@pytest.mark.slow
def test_branches_delays_normalisation_and_istdp_as_in_runtime():
    """start_from: the state at the end of encode (weights, traces, queues, time) is copied back for rest."""
    model = loads_model(BRANCHED, file="<branched>")
    sa, rt = simulate(model, 3, SA), simulate(model, 3, RT)
    assert sa.phase("rest").spikes["ctx_i"].t.size > 100
    assert not np.array_equal(sa.phase("rest").weights["ctx_ee"], sa.phase("recall_a").weights["ctx_ee"])
    assert_same_runs(sa, rt, initial_atol=1e-15)
    # running only recall_b (with what it needs) gives the same phase
    only = simulate(model, 3, SA, phases=["recall_b"])
    assert [p.name for p in only.phases] == ["encode", "rest", "recall_b"]
    np.testing.assert_array_equal(only.phase("recall_b").spikes["ctx_e"].t, sa.phase("recall_b").spikes["ctx_e"].t)


GATED = BRANCHED.replace('plasticity = ["stdp", "incap"]', 'plasticity = ["stdp", "incap", "gate"]').replace(
    "[rules.stdp]", '[rules.gate]\ntype = "activity_gate"\npopulation = "ctx_i"\ntau = "10 ms"\n'
                    'threshold = "20 Hz"\n\n[rules.stdp]')


@pytest.fixture(scope="module")
def plain_branched():
    """BRANCHED on the runtime device, seed 3: what a rule added to its ctx_ee must change."""
    return simulate(loads_model(BRANCHED, file="<branched>"), 3, RT)


def standalone_as_runtime_unlike_plain(text, file, plain):
    """``text`` (BRANCHED with a rule added) on both devices: the same runs, and ctx_ee's weights at the
    end of both plastic phases differ from ``plain``'s.  Returns the model and the standalone run."""
    model = loads_model(text, file=file)
    sa, rt = simulate(model, 3, SA), simulate(model, 3, RT)
    assert_same_runs(sa, rt, initial_atol=1e-15)
    for ph in ("encode", "rest"):
        assert not np.array_equal(sa.phase(ph).weights["ctx_ee"], plain.phase(ph).weights["ctx_ee"])
    return model, sa


@pytest.mark.slow
def test_activity_gate_as_in_runtime(plain_branched):
    """A gated rule (ctx_ee learns while ctx_i's rate is above 20 Hz) through branches: as in runtime."""
    model, sa = standalone_as_runtime_unlike_plain(GATED, "<gated>", plain_branched)
    assert "gate" in model.projections["ctx_ee"].plasticity
    # the gate opens (the weights move in both plastic phases) but not always (not as without it, checked above)
    assert not np.array_equal(sa.phase("encode").weights["ctx_ee"], sa.initial_weights["ctx_ee"])
    assert not np.array_equal(sa.phase("rest").weights["ctx_ee"], sa.phase("encode").weights["ctx_ee"])


BISTABLE = BRANCHED.replace('plasticity = ["stdp", "incap"]', 'plasticity = ["stdp", "bi", "incap"]').replace(
    "[rules.stdp]", '[rules.bi]\ntype = "bistable"\ntheta = "1 mV"\nw_up = "4 mV"\ntau_up = "100 ms"\n'
                    'tau_down = "200 ms"\ninterval = "20 ms"\n\n[rules.stdp]')


@pytest.mark.slow
def test_bistable_rule_as_in_runtime(plain_branched):
    """The bistable relaxation (its own clock, between the pair rule and the cap) through branches: as in runtime."""
    model, _ = standalone_as_runtime_unlike_plain(BISTABLE, "<bistable>", plain_branched)
    assert "bi" in model.projections["ctx_ee"].plasticity


@pytest.mark.slow
def test_cli_writes_the_same_run_folder(tmp_path):
    from neuromem import cli

    for device in ("cpp_standalone", "runtime"):
        assert cli.main(["run", str(TINY), "--device", device, "--seed", "4", "--quiet", "--no-figures",
                         "--out", str(tmp_path / device)]) == 0
    (a,), (b,) = (list((tmp_path / d).iterdir()) for d in ("cpp_standalone", "runtime"))
    files = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    assert files == {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    assert Path("initial/encode.npz") in files and Path("initial/recall_half_cue.npz") in files
    import json

    res = json.loads((a / "results.json").read_text())
    assert res["backend"]["device"] == "cpp_standalone" and res["backend"]["build"]["folder"]
    rt = json.loads((b / "results.json").read_text())
    assert res["metrics"]["recall"] == rt["metrics"]["recall"]
    for f in sorted(files):
        if f.suffix == ".npz":
            with np.load(a / f) as za, np.load(b / f) as zb:
                assert za.files == zb.files
                for k in za.files:
                    np.testing.assert_allclose(za[k], zb[k], rtol=0, atol=1e-15, err_msg=f"{f}/{k}")


def test_a_runtime_only_build_function_is_refused_before_building(monkeypatch):
    from neuromem.backends.brian2.builder import Builder
    from neuromem.spec import SynapticNormalisation

    monkeypatch.setitem(Builder.devices, SynapticNormalisation, ("runtime",))
    model = loads_model(BRANCHED, file="<branched>")
    before = standalone.BUILD_COUNT
    with pytest.raises(ModelError, match=r"cpp_standalone device cannot run SynapticNormalisation 'incap'"):
        simulate(model, 0, SA)
    assert standalone.BUILD_COUNT == before


def test_a_standalone_run_is_not_resumable(tmp_path):
    from neuromem.experiment import run_experiment
    from neuromem.io import ResumeError

    with pytest.raises(ResumeError, match="cannot be resumed"):
        run_experiment(TINY, seed=0, out_dir=tmp_path, figures=False, progress=False, log=None,
                       backend_options={"device": "cpp_standalone"}, resume=tmp_path / ".x.partial")


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown Brian2 device 'gpu'"):
        simulate(load_model(TINY), 0, Brian2Options(progress=False, device="gpu"))


def test_the_build_key_ignores_data_and_keeps_structure():
    """What the program reads as data does not change the build; what its code depends on does."""
    from neuromem.backends.brian2.standalone import _structure

    base = load_model(TINY)
    data = load_model(TINY, overrides=["protocol.phases.encode.stimuli.0.rate=120 Hz", "protocol.n_memories=4",
                                       "projections.ctx_ee.weight.value=1 mV", "protocol.coding_level=0.3"])
    assert _structure(base) == _structure(data)
    for ov in ("populations.ctx_e.tau_m=10 ms", "rules.stdp.a_plus=1 mV", "projections.ctx_ee.delay=2 ms",
               "protocol.phases.recall_half_cue.plastic={ ctx_ee = 1.0 }"):
        assert _structure(load_model(TINY, overrides=[ov])) != _structure(base), ov
