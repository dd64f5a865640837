"""Export to Lava: feature checks, the exact mapping, and Brian2 vs Lava agreement.

A small network (cue source 40 -> E 40 recurrent with a 2-step delay, E -> I
with a 1-step delay, inhibitory I -> E and I -> I, refractoriness in both
populations) runs one recall phase on Brian2 (numpy target) into a run folder;
Lava runs the same phase from that folder.  Lava always runs in a fresh
interpreter (its runtime spawns processes, and other tests check that lava is
not imported into the pytest process).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromem._compat import lava311
from neuromem.spec import (
    Adaptation, Connector, LIFPopulation, Model, PairSTDP, Phase, Projection, Protocol, SpikeSource,
    Stimulus, SynapticNormalisation, WeightInit,
)
from neuromem.spec.loader import dumps_model

REPO = Path(__file__).resolve().parents[1]
needs_lava = pytest.mark.skipif(lava311._find_target_source() is None, reason="lava-nc is not installed")

DT = 0.5e-3
N_E, N_I = 40, 10


def _lif(name, size, kind, tau_m, refractory, **kw):
    return LIFPopulation(name=name, size=size, kind=kind, tau_m=tau_m, tau_syn=0.005, v_rest=-0.070,
                         v_reset=-0.065, v_th=-0.050, refractory=refractory, **kw)


def tiny_model(refractory_e=1e-3, refractory_i=1e-3, **pop_kw) -> Model:
    """Cue -> E (recurrent, plastic rule frozen in recall) + I; 3 memories x 250 ms = 1500 steps.

    No gap after the last item, so that spikes are in flight when "lesioned" starts."""
    stdp = PairSTDP("stdp", "symmetric", 0.02, 0.02, 1e-4, 1e-4, w_max=0.1)
    proj = {
        "cue_e": Projection("cue_e", "cue", "E", Connector("one_to_one"), WeightInit("constant", value=0.02)),
        "cue_i": Projection("cue_i", "cue", "I", Connector("fixed_probability", p=0.25),
                            WeightInit("constant", value=0.002)),
        "ee": Projection("ee", "E", "E", Connector("fixed_probability", p=0.3),
                         WeightInit("uniform", low=0.0, high=0.02), delay=1e-3, plasticity=("stdp",)),
        "ei": Projection("ei", "E", "I", Connector("fixed_probability", p=0.5),
                         WeightInit("constant", value=0.015), delay=0.5e-3),
        "ie": Projection("ie", "I", "E", Connector("fixed_probability", p=0.5),
                         WeightInit("constant", value=0.004), sign="inhibitory", delay=2e-3),
        "ii": Projection("ii", "I", "I", Connector("fixed_probability", p=0.3),
                         WeightInit("constant", value=0.002), sign="inhibitory"),
    }
    cue = Stimulus("cue", "patterns", rate=400.0, background=150.0, item=0.25, gap=0.0, fraction=0.5)
    return Model(
        name="tiny-export", dt=DT,
        populations={"E": _lif("E", N_E, "excitatory", 0.02, refractory_e, **pop_kw),
                     "I": _lif("I", N_I, "inhibitory", 0.01, refractory_i)},
        sources={"cue": SpikeSource("cue", N_E)}, projections=proj, rules={"stdp": stdp},
        protocol=Protocol(n_memories=3, pattern_population="E", coding_level=0.3,
                          phases=(Phase("recall", "recall", stimuli=(cue,)),
                                  # continues from the end of "recall", with I silenced
                                  Phase("lesioned", "recall", stimuli=(cue,), silence=("I",)))))


def _simulate(model, tmp_path, seed=3):
    """Run on Brian2 into a run folder; the simulator writes ``initial/<phase>.npz``
    (v, I, lastspike of every population at each phase start), the format
    :func:`neuromem.export.lava.load_frozen_network` reads."""
    from neuromem.analysis import compute_metrics
    from neuromem.backends.brian2.simulator import Brian2Options, simulate
    from neuromem.io import write_run

    run = simulate(model, seed=seed, options=Brian2Options(target="numpy", progress=False))
    run.model_text = dumps_model(model)
    return write_run(run, compute_metrics(run), tmp_path, figures=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _simulate(tiny_model(), tmp_path_factory.mktemp("brian2"))


# ---------------------------------------------------------------- no lava needed


def test_export_imports_neither_lava_nor_nir(run_python):
    out = run_python("""
        import json, sys
        import neuromem.export
        from neuromem.export import check_lava, run_lava, export_nir, to_nir, simulate_nir
        import neuromem.export.lava, neuromem.export.nir
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("lava", "nir", "h5py"))))
        """, timeout=60)
    assert out == []


def test_check_lava_exact_model_has_no_issues_in_float():
    from neuromem.export import check_lava
    assert check_lava(tiny_model(), "recall", "float") == []


def test_check_lava_refuses_tau_syn_inh_and_adaptation():
    from neuromem.export import check_lava
    m = tiny_model(tau_syn_inh=0.01, adaptation=Adaptation(tau_w=0.1, b=0.001))
    issues = check_lava(m, "recall")
    errors = {i.feature: str(i) for i in issues if i.severity == "error"}
    assert set(errors) == {"tau_syn_inh", "adaptation"}
    assert "tau_syn_inh" in errors["tau_syn_inh"] and "'E'" in errors["tau_syn_inh"]
    assert "adaptation" in errors["adaptation"] and "'E'" in errors["adaptation"]
    # equal time constants are one current in effect: fine
    assert check_lava(tiny_model(tau_syn_inh=0.005), "recall") == []


def test_check_lava_fixed_point_warns_about_refractoriness():
    from neuromem.export import check_lava
    issues = check_lava(tiny_model(refractory_e=2e-3, refractory_i=0.5e-3), "recall", "fixed")
    assert [(i.severity, i.feature) for i in issues] == [("warning", "refractory")]
    assert "'E'" in issues[0].message and "4 steps" in issues[0].message
    # a refractory period of one step is exact (v is never frozen)
    assert check_lava(tiny_model(0.5e-3, 0.5e-3), "recall", "fixed") == []


def test_check_lava_plasticity_and_long_delays():
    from neuromem.export import check_lava
    m = tiny_model()
    norm = SynapticNormalisation("norm", total=0.1, interval=0.01)
    proj = dict(m.projections)
    proj["ee"] = dataclasses.replace(proj["ee"], plasticity=("stdp", "norm"))
    proj["ei"] = dataclasses.replace(proj["ei"], delay=0.05)             # 100 steps
    learn = Phase("learn", "encode", duration=0.1, plastic={"ee": 1.0})
    m = dataclasses.replace(m, projections=proj, rules={**m.rules, "norm": norm},
                            protocol=dataclasses.replace(m.protocol, phases=m.protocol.phases + (learn,)))
    by = {(i.severity, i.feature) for i in check_lava(m, "learn", "fixed")}
    assert ("error", "plasticity") in by           # normalisation is active in "learn"
    assert ("warning", "plasticity") in by         # pair STDP: weights frozen
    assert ("error", "delay") in by                # > 63 steps on Loihi 2
    assert not any(i.severity == "error" for i in check_lava(m, "recall", "float"))
    whole = check_lava(m)
    assert [(i.severity, i.feature) for i in whole] == [("warning", "plasticity")]
    assert "'norm'" in whole[0].message


def test_silenced_populations_and_blocked_projections_are_left_out():
    from neuromem.export.lava import exported_parts
    m = tiny_model()
    ph = Phase("lesion", "recall", duration=0.1, silence=("I",), block=("ee",))
    assert exported_parts(m, ph) == (["E"], ["cue"], ["cue_e"])
    assert exported_parts(m) == (["E", "I"], ["cue"], list(m.projections))
    assert "ie" not in exported_parts(m, Phase("g0", "recall", duration=0.1, gain={"ie": 0.0}))[2]


def test_phase_gain_scales_weights():
    from neuromem.export.lava import plan_lava
    m = tiny_model()
    w = {k: np.full((m.populations[p.target].size, m.nodes()[p.source].size), 0.001)
         for k, p in m.projections.items()}
    half = Phase("half", "recall", duration=0.1, gain={"ie": 0.5})
    m = dataclasses.replace(m, protocol=dataclasses.replace(m.protocol, phases=m.protocol.phases + (half,)))
    full, scaled = plan_lava(m, w, "recall"), plan_lava(m, w, "half")
    np.testing.assert_allclose(scaled.projections["ie"].weights, 0.5 * full.projections["ie"].weights)
    np.testing.assert_allclose(scaled.projections["ee"].weights, full.projections["ee"].weights)


def test_exact_mapping_coefficients():
    from neuromem.export.lava import exact_coefficients, plan_lava
    c = exact_coefficients(0.02, 0.005, DT)
    a_s, a_m = np.exp(-DT / 0.005), np.exp(-DT / 0.02)
    assert c["kappa"] == pytest.approx(0.005 / (0.005 - 0.02) * (a_s - a_m))
    assert exact_coefficients(0.01, 0.01, DT)["kappa"] == pytest.approx(DT / 0.01 * np.exp(-DT / 0.01))
    m = tiny_model(refractory_e=2e-3)
    w = {k: np.full((m.populations[p.target].size, m.nodes()[p.source].size), 0.001)
         for k, p in m.projections.items()}
    plan = plan_lava(m, w, "recall", "float")
    e = plan.populations["E"]
    assert (e.du, e.dv, e.vth) == pytest.approx((1 - a_s, 1 - a_m, 0.015))
    assert e.bias_mant == pytest.approx((1 - a_m) * (-0.005))
    assert e.refractory_period == 3 and plan.populations["I"].refractory_period == 1
    assert plan.projections["ie"].weights[0, 0] == pytest.approx(-0.001 * plan.populations["E"].kappa)
    assert [plan.projections[k].delay for k in ("ee", "ei", "ie", "ii")] == [2, 1, 4, 0]


def test_fixed_point_quantisation():
    from neuromem.export.lava import plan_lava, quantise_weights
    m = tiny_model()
    rng = np.random.default_rng(0)
    w = {k: rng.uniform(0, 0.02, (m.populations[p.target].size, m.nodes()[p.source].size))
         for k, p in m.projections.items()}
    plan = plan_lava(m, w, "recall", "fixed")
    q = plan.quantisation
    for name, j in plan.projections.items():
        assert j.weights.dtype == np.int32 and np.abs(j.weights).max() <= 255
        assert -8 <= j.weight_exp <= 7
        assert q["projections"][name]["relative_error_mean"] < 0.02
    assert (plan.projections["ie"].weights <= 0).all()
    for name, p in plan.populations.items():
        assert 0 <= p.du < 4096 and 0 <= p.dv < 4096 and p.vth < 2 ** 17
        assert -4096 <= p.bias_mant <= 4095 and 0 <= p.bias_exp <= 7
        assert abs(q["populations"][name]["tau_m_relative_error"]) < 0.005
    assert q["decay_tau_relative_error_max"] < 0.005
    # mixed-sign matrices: even mantissas (Loihi drops their lowest bit)
    mixed, e, info = quantise_weights(np.array([[100.3, -37.9], [-0.2, 3.3]]))
    assert info["mixed_sign"] and (mixed % 2 == 0).all()


def test_fixed_point_headroom():
    from neuromem.export.lava import DEFAULT_HEADROOM, plan_lava
    m = tiny_model()
    w = {k: np.full((m.populations[p.target].size, m.nodes()[p.source].size), 0.001)
         for k, p in m.projections.items()}
    plan = plan_lava(m, w, "recall", "fixed")
    assert DEFAULT_HEADROOM == 8.0
    for name, p in plan.populations.items():
        assert p.vth == 2 ** 14                      # 2**17 / 8
        q = plan.quantisation["populations"][name]
        assert q["headroom"] == 8.0 and q["v_range_mV"] == pytest.approx([-65 - 8 * 15, -65 + 8 * 15])
    assert plan.quantisation["headroom"] == 8.0
    # per population (others keep the default); the scale follows vth, weights follow the scale
    per = plan_lava(m, w, "recall", "fixed", headroom={"E": 4})
    assert (per.populations["E"].vth, per.populations["I"].vth) == (2 ** 15, 2 ** 14)
    assert per.populations["E"].scale == pytest.approx(2 * plan.populations["E"].scale)
    assert per.quantisation["headroom"] == {"E": 4}
    assert per.quantisation["populations"]["E"]["v_range_mV"] == pytest.approx([-125, -5])
    with pytest.raises(ValueError, match="unknown population"):
        plan_lava(m, w, "recall", "fixed", headroom={"X": 4})
    with pytest.raises(ValueError, match="headroom must be >= 1"):
        plan_lava(m, w, "recall", "fixed", headroom=0.5)


def test_load_frozen_network_reads_and_regenerates_weights(run_dir):
    from neuromem.export.lava import load_frozen_network
    from neuromem.io import load_weights
    fz = load_frozen_network(run_dir, "recall")
    assert fz.weights_from["ee"] == "weights/recall.npz"
    assert fz.weights_from["cue_e"] == "regenerated from seed"
    np.testing.assert_array_equal(fz.weights["ee"], load_weights(run_dir, "recall")["ee"])
    np.testing.assert_allclose(fz.weights["ie"], 0.004)
    assert fz.matrices["ei"].shape == (N_I, N_E)
    assert fz.n_steps == 1500 and fz.recent_spikes is None
    # the first phase starts from rest, recorded as a snapshot like every phase
    np.testing.assert_array_equal(fz.initial_state["E"]["I"], 0.0)
    assert set(fz.inputs) == {"cue"}
    les = load_frozen_network(run_dir, "lesioned")
    assert set(les.initial_state) == {"E", "I"} and set(les.initial_state["E"]) == {"v", "I", "lastspike"}
    assert les.recent_spikes["I"][1].max() < 0            # "recall"'s spikes, before the start


def test_exporter_refuses_before_building(run_dir, tmp_path):
    from neuromem.export import LavaExportError, build_lava_network, run_lava
    had_lava = "lava" in sys.modules
    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    m = tiny_model(adaptation=Adaptation(tau_w=0.1, b=0.001))
    (bad / "model.toml").write_text(dumps_model(m))
    with pytest.raises(LavaExportError, match="adaptation") as info:
        run_lava(bad, phase="recall")
    assert "population 'E'" in str(info.value)
    m2 = tiny_model(tau_syn_inh=0.01)
    with pytest.raises(LavaExportError, match="tau_syn_inh"):
        build_lava_network(m2, {}, "recall")
    assert not (bad / "lava_results.json").exists()
    assert ("lava" in sys.modules) == had_lava  # refused before importing lava


# ---------------------------------------------------------------- on Lava


@pytest.fixture(scope="module")
def lava_results(run_dir, tmp_path_factory, run_python):
    out = tmp_path_factory.mktemp("lava")
    return run_python(f"""
        import json
        from neuromem.export import run_lava
        d, o = {str(run_dir)!r}, {str(out / "x")!r}
        res = {{m: run_lava(d, phase="recall", mode=m, out=o + m) for m in ("float", "fixed")}}
        res["emulate"] = run_lava(d, phase="recall", mode="fixed", refractory="emulate", out=o + "emulate")
        res["lesioned"] = run_lava(d, phase="lesioned", mode="float", out=o + "lesioned")
        print(json.dumps(res))
        """), out


@pytest.mark.lava
@needs_lava
def test_lava_float_reproduces_brian2_spikes(lava_results):
    res, out = lava_results
    r = res["float"]
    a = r["agreement"]
    assert r["n_steps"] == 1500 and r["mode"] == "float"
    assert a["spikes_reference"] > 500 and a["by_population"]["I"]["spikes_reference"] > 100
    assert a["identical_spike_fraction"] >= 0.99
    assert a["identical_spike_fraction"] == 1.0  # the exact mapping: every (neuron, step)
    assert a["spike_count_correlation"] == pytest.approx(1.0)
    assert a["rate_relative_error"] == 0.0 and a["pattern_identity"] == 1.0
    assert r["recall_overlap"] == pytest.approx(r["recall_overlap_brian2"])
    assert r["projections"]["ee"]["delay_steps"] == 2
    assert r["initial_state"] == "snapshot" and r["issues"] == []
    assert r["wall_time_s"]["lava_run"] > 0 and r["wall_time_s"]["brian2"] > 0
    written = json.loads((out / "xfloat" / "lava_results.json").read_text())
    assert written["agreement"] == a
    assert not list((out / "xfloat").glob(".*tmp"))


@pytest.mark.lava
@needs_lava
def test_lava_fixed_point_rates_close(lava_results):
    res, _ = lava_results
    r = res["fixed"]
    a = r["agreement"]
    print(json.dumps({k: a[k] for k in ("identical_spike_fraction", "spike_count_correlation",
                                        "rate_relative_error", "pattern_identity")}))
    assert abs(a["rate_relative_error"]) < 0.05
    for pop in ("E", "I"):
        assert abs(a["by_population"][pop]["rate_relative_error"]) < 0.10
    assert a["spike_count_correlation"] > 0.9
    assert {i["feature"] for i in r["issues"]} == {"refractory"}
    q = r["quantisation"]
    assert q["weight_relative_error_mean"] < 0.02 and q["decay_tau_relative_error_max"] < 0.005
    assert set(q["populations"]) == {"E", "I"}
    # with refractoriness emulated in fixed point only quantisation is left.  This small network
    # is sensitive: in float, weights jittered by 0.2% (12 draws) lose 1.0-1.9% of the spikes, the
    # quantised bias alone (< 2e-4 relative) 2.8%; fixed point at headroom 3-16 gives -1.1 to -2.9%
    em = res["emulate"]["agreement"]
    print(json.dumps({k: em[k] for k in ("identical_spike_fraction", "rate_relative_error")}))
    assert abs(em["rate_relative_error"]) < 0.03 and em["pattern_identity"] == 1.0
    assert "emulated" in res["emulate"]["issues"][0]["message"]


@pytest.mark.lava
@needs_lava
def test_lava_results_record_mode_and_refractory(lava_results):
    """One file name per folder (lava_results.json): each says which variant it holds."""
    res, out = lava_results
    for label, mode, refractory in (("float", "float", "exact"), ("fixed", "fixed", "ignore"),
                                    ("emulate", "fixed", "emulate")):
        written = json.loads((out / f"x{label}" / "lava_results.json").read_text())
        assert (written["mode"], written["refractory"], written["phase"]) == (mode, refractory, "recall")
        assert written["output"] == str(out / f"x{label}" / "lava_results.json")
        if mode == "fixed":
            q = written["quantisation"]
            assert q["refractory"] == refractory and q["headroom"] == 8.0
            # E: 1 ms = 2 steps, frozen for 1 step after the reset step in Brian2
            assert q["populations"]["E"]["refractory_ignored_steps"] == (1 if refractory == "ignore" else 0)
        else:
            assert written["quantisation"] is None


@pytest.mark.lava
@needs_lava
def test_run_lava_from_a_phase_start_snapshot(lava_results):
    """'lesioned' continues from the end of 'recall' and silences I: Lava starts from
    initial/lesioned.npz and still delivers I's spikes in flight on the delayed I -> E."""
    res, _ = lava_results
    r = res["lesioned"]
    a = r["agreement"]
    assert r["initial_state"] == "snapshot" and "initial_state_note" not in r
    assert r["populations"] == ["E"] and r["projections"]["ie"]["carry_in"] is True
    assert a["spikes_reference"] > 300
    assert a["identical_spike_fraction"] == 1.0 and a["rate_relative_error"] == 0.0


@pytest.mark.lava
@needs_lava
def test_lava_starts_from_a_brian2_state_snapshot(tmp_path, run_python):
    """Brian2 runs 1500 steps in two parts; Lava runs the second part from the
    state at the split (v, I, lastspike, spikes in flight on delayed projections)."""
    import brian2 as b2

    from neuromem.backends.brian2.builder import BuiltNetwork, build
    from neuromem.backends.brian2.simulator import Brian2Options, configure
    from neuromem.connectivity import draw_projection
    from neuromem.stimulus import make_cues, make_patterns, phase_inputs, rng_for

    m = tiny_model(refractory_e=2e-3)
    configure(Brian2Options(target="numpy", progress=False))
    b2.start_scope()
    b2.defaultclock.dt = m.dt * b2.second
    net = BuiltNetwork()
    for node in m.nodes().values():
        build(node, net, m, None)
    syn, w = {}, {}
    for name, pr in m.projections.items():
        i, j, w[name] = draw_projection(m, name, 1)
        syn[name] = (i, j)
        build(pr, net, m, (i, j), w[name])
    mons = {p: b2.SpikeMonitor(net.groups[p]) for p in m.populations}
    network = b2.Network(*net.objects(), *mons.values())
    pats = make_patterns(3, N_E, 0.3, rng_for(1, "patterns"))
    inputs, _, _ = phase_inputs(m.protocol.phases[0], m, pats, {0.5: make_cues(pats, 0.5, rng_for(1, "c"))},
                                rng_for(1, "phase"))
    ci, ct = inputs["cue"]
    net.groups["cue"].set_spikes(ci, ct * b2.second)
    n1, n_steps = 151, 1500
    t1 = n1 * m.dt
    network.run(t1 * b2.second, namespace={})
    arrays = {}
    for p in m.populations:
        g = net.groups[p]
        arrays[f"state_{p}_v"], arrays[f"state_{p}_I"] = np.array(g.v[:]), np.array(g.I[:])
        arrays[f"state_{p}_lastspike"] = np.array(g.lastspike[:]) - t1
        arrays[f"recent_{p}_i"], arrays[f"recent_{p}_t"] = np.array(mons[p].i[:]), np.array(mons[p].t[:]) - t1
    before = ct < t1 - 1e-12
    arrays["recent_cue_i"], arrays["recent_cue_t"] = ci[before], ct[before] - t1
    arrays["in_i"], arrays["in_t"] = ci[~before], ct[~before] - t1
    k0 = {p: mon.num_spikes for p, mon in mons.items()}
    network.run((n_steps - n1) * m.dt * b2.second, namespace={})
    for p, mon in mons.items():
        arrays[f"ref_{p}_i"], arrays[f"ref_{p}_t"] = np.array(mon.i[k0[p]:]), np.array(mon.t[k0[p]:]) - t1
    for name, (i, j) in syn.items():
        arrays[f"syn_{name}_i"], arrays[f"syn_{name}_j"], arrays[f"syn_{name}_w"] = i, j, w[name]
    np.savez(tmp_path / "split.npz", **arrays)
    (tmp_path / "model.toml").write_text(dumps_model(m))

    res = run_python(f"""
        import json
        import numpy as np
        from neuromem.export.compare import to_spikes
        from neuromem.export.lava import build_lava_network, compare_spikes, weight_matrices
        from neuromem.records import Spikes
        from neuromem.spec.loader import loads_model
        m = loads_model(open({str(tmp_path / "model.toml")!r}).read())
        z = np.load({str(tmp_path / "split.npz")!r})
        syn = {{k: (z[f"syn_{{k}}_i"], z[f"syn_{{k}}_j"]) for k in m.projections}}
        mats = weight_matrices(m, syn, {{k: z[f"syn_{{k}}_w"] for k in m.projections}})
        state = {{p: {{v: z[f"state_{{p}}_{{v}}"] for v in ("v", "I", "lastspike")}} for p in m.populations}}
        recent = {{p: (z[f"recent_{{p}}_i"], z[f"recent_{{p}}_t"]) for p in list(m.populations) + ["cue"]}}
        ref = {{p: Spikes(z[f"ref_{{p}}_i"], z[f"ref_{{p}}_t"], m.populations[p].size) for p in m.populations}}
        out = {{}}
        for label, kw in (("snapshot", dict(initial_state=state, recent_spikes=recent)), ("rest", {{}})):
            with build_lava_network(m, mats, None, "float", inputs={{"cue": (z["in_i"], z["in_t"])}},
                                    n_steps={n_steps - n1}, **kw) as net:
                r = net.run()
            sp = {{p: to_spikes(x, m.dt) for p, x in r.items()}}
            out[label] = compare_spikes(ref, sp, m.dt, {(n_steps - n1) * DT}, list(sp))
        print(json.dumps(out))
        """)
    snap, rest = res["snapshot"], res["rest"]
    assert snap["spikes_reference"] > 200
    assert snap["identical_spike_fraction"] == 1.0 and snap["rate_relative_error"] == 0.0
    # starting from rest instead is visibly different (the state matters)
    assert rest["identical_spike_fraction"] < 0.5


@pytest.mark.lava
@needs_lava
def test_fixed_point_headroom_keeps_deep_inhibition(run_python):
    """Inhibition drives v to about -150 mV (85 mV below v_reset), then a constant drive makes
    the cell fire.  Loihi's v saturates at v_reset - headroom (v_th - v_reset): with headroom 4
    (-125 mV) the cell starts its climb from too high and fires 7 steps early; the default (8,
    -185 mV) keeps the float (= Brian2) spike times."""
    res = run_python("""
        import json
        import numpy as np
        from neuromem.export.lava import build_lava_network
        from neuromem.spec import (Connector, LIFPopulation, Model, Phase, Projection, Protocol,
                                   SpikeSource, WeightInit)
        dt = 0.5e-3
        E = LIFPopulation(name="E", size=2, kind="excitatory", tau_m=0.02, tau_syn=0.005, v_rest=-0.070,
                          v_reset=-0.065, v_th=-0.050, refractory=2e-3)
        proj = {"inh_e": Projection("inh_e", "inh", "E", Connector("all_to_all"),
                                    WeightInit("constant", value=0.008), sign="inhibitory"),
                "exc_e": Projection("exc_e", "exc", "E", Connector("all_to_all"), WeightInit("constant", value=0.003))}
        m = Model(name="deep-inhibition", dt=dt, populations={"E": E},
                  sources={"inh": SpikeSource("inh", 1), "exc": SpikeSource("exc", 1)}, projections=proj,
                  rules={}, protocol=Protocol(n_memories=1, pattern_population="E", coding_level=0.5,
                                              phases=(Phase("p", "recall", duration=0.2),)))
        k = np.arange(400)   # inhibitory spike every step for 100 ms, then an excitatory one every step
        inputs = {"inh": (np.zeros(200, int), k[:200] * dt), "exc": (np.zeros(200, int), k[200:] * dt)}
        mats = {"inh_e": np.full((2, 1), 0.008), "exc_e": np.full((2, 1), 0.003)}
        out = {}
        for label, kw in (("float", dict(mode="float")), ("default", dict(mode="fixed", refractory="emulate")),
                          ("h4", dict(mode="fixed", refractory="emulate", headroom=4))):
            with build_lava_network(m, mats, "p", inputs=inputs, n_steps=400, **kw) as net:
                out[label] = np.nonzero(net.run()["E"][0])[0].tolist()
        print(json.dumps(out))
        """)
    ref, default, h4 = res["float"], res["default"], res["h4"]
    assert len(ref) >= 3 and ref[0] > 250                 # silent while inhibited, then regular firing
    assert len(default) == len(ref) and max(abs(a - b) for a, b in zip(default, ref)) <= 1
    assert h4[0] <= ref[0] - 4                            # saturated at -125 mV: fires early


# ---------------------------------------------------------------- neuron models (issue 12, part 3)


def _cond_model():
    """tiny_model with E conductance-based (weights onto it read as siemens)."""
    from neuromem.spec.neurons import CondLIFPopulation

    m = tiny_model()
    e = CondLIFPopulation(name="E", size=N_E, kind="excitatory", c_m=2e-10, g_leak=1e-8, v_rest=-0.06,
                          v_reset=-0.06, v_th=-0.05, refractory=1e-3, e_exc=0.0, e_inh=-0.08, tau_exc=0.005,
                          tau_inh=0.01)
    return dataclasses.replace(m, populations={**m.populations, "E": e})


def test_check_lava_and_nir_refuse_conductance_models_from_declared_capabilities():
    from neuromem.export import ExportError, check_lava
    from neuromem.spec.registry import NEURONS

    assert NEURONS.caps("cond_lif").synapse == "conductance" and not NEURONS.caps("cond_lif").synapse_caps.lif_dense
    errors = [i for i in check_lava(_cond_model(), "recall") if i.severity == "error"]
    assert [i.feature for i in errors] == ["conductance"]
    assert "population 'E'" in str(errors[0]) and "conductance-based synapses are not LIF + Dense" in str(errors[0])
    pytest.importorskip("nir")
    from neuromem.export import to_nir
    with pytest.raises(ExportError, match="conductance-based synapses"):
        to_nir(_cond_model(), {}, "recall")


def test_lava_plan_maps_the_bias_onto_bias_mant():
    """Brian2: tau_m dv/dt = v_rest + b - v + I; Lava: v <- v (1 - dv) + u + bias with v measured from
    v_reset, so bias = (1 - a_m) (v_rest + b - v_reset) (float mode, exact)."""
    from neuromem.export.frozen import exact_coefficients
    from neuromem.export.lava import plan_lava

    m = tiny_model(bias=0.012)
    weights = {name: np.zeros((m.populations[pr.target].size, m.nodes()[pr.source].size))
               for name, pr in m.projections.items()}
    p = plan_lava(m, weights, "recall", "float").populations["E"]
    a_m = exact_coefficients(0.02, 0.005, DT)["a_m"]
    assert p.bias_mant == (1.0 - a_m) * (-0.070 + 0.012 + 0.065)
    assert plan_lava(tiny_model(), weights, "recall", "float").populations["E"].bias_mant == \
        (1.0 - a_m) * (-0.070 + 0.065)


@pytest.fixture(scope="module")
def bias_run_dir(tmp_path_factory):
    from neuromem.spec.neurons import VInit

    return _simulate(tiny_model(bias=0.012, v_init=VInit("uniform", low=-0.065, high=-0.05)),
                     tmp_path_factory.mktemp("brian2_bias"))


@pytest.mark.lava
@needs_lava
def test_lava_float_reproduces_brian2_spikes_with_bias_and_v_init(bias_run_dir, tmp_path, run_python):
    """A current-based LIF with a bias (and random initial potentials) exports exactly in float."""
    r = run_python(f"""
        import json
        from neuromem.export import run_lava
        print(json.dumps(run_lava({str(bias_run_dir)!r}, phase="recall", mode="float", out={str(tmp_path)!r})))
        """)
    a = r["agreement"]
    assert a["by_population"]["E"]["spikes_reference"] > 500
    assert a["identical_spike_fraction"] == 1.0 and a["rate_relative_error"] == 0.0
    assert r["initial_state"] == "snapshot" and r["issues"] == []


def test_short_term_depression_exports_to_lava_in_float_only_and_not_to_nir():
    """A depressing synapse transmits w R, not its stored w: Lava builds it in floating point (graded spikes worth
    R); its fixed-point mapping and NIR's static weights cannot, and both refuse, naming the projection and the
    rule, before building anything."""
    from neuromem.export import ExportError, check_lava, to_nir
    from neuromem.spec import ShortTermDepression

    m = tiny_model()
    std = ShortTermDepression("std", u=0.3, tau_rec=0.5)
    m = dataclasses.replace(m, rules={**m.rules, "std": std}, projections={
        **m.projections, "ei": dataclasses.replace(m.projections["ei"], plasticity=("std",))})
    assert [i for i in check_lava(m, "recall") if i.severity == "error"] == []
    assert [i for i in check_lava(m, None) if "'std'" in str(i)] == []
    errors = [i for i in check_lava(m, "recall", mode="fixed") if i.severity == "error"]
    assert [i.feature for i in errors] == ["plasticity"]       # one refusal, not also "do not export"
    assert "'ei'" in str(errors[0]) and "'std'" in str(errors[0]) and "ShortTermDepression" in str(errors[0])
    assert "float mode only" in str(errors[0])
    # one refusal in a plastic phase too, not also a learning-rule error ("a frozen export cannot learn")
    plastic = dataclasses.replace(m, protocol=dataclasses.replace(m.protocol, phases=tuple(
        dataclasses.replace(p, plastic={"ei": 1.0}) if p.name == "recall" else p for p in m.protocol.phases)))
    assert [i.severity for i in check_lava(plastic, "recall", mode="fixed") if "'std'" in str(i)] == ["error"]
    with pytest.raises(ExportError, match="projection 'ei': rule 'std'"):
        to_nir(m, {}, "recall")
    # silenced, the projection is not exported and nothing is refused
    assert [i for i in check_lava(m, "lesioned", mode="fixed") if i.severity == "error"] == []
    # switched off in the phase (stp_off), the synapses transmit their stored weights: exported, in both
    off = _std_off_model()
    assert [i for i in check_lava(off, "recall_off", mode="fixed") if i.severity == "error"] == []
    zeros = {name: np.zeros((off.populations[pr.target].size, off.nodes()[pr.source].size))
             for name, pr in off.projections.items()}
    assert "ee" in to_nir(off, zeros, "recall_off").nodes
    assert [i.severity for i in check_lava(off, "recall", mode="fixed") if "'std'" in str(i)] == ["error"]


def test_depression_start_replays_the_rule_over_the_phases_before():
    """The resources at a phase start: the rule's own exact solution over the arrivals (spike + delay) that
    happened before it, none used while the projection is blocked or the depression is off, and the arrivals
    still in flight left to the delay buffer."""
    from neuromem.export.frozen import depression_start

    m = _std_off_model()
    rule, dt = m.rules["std"], m.dt
    d = int(round(m.projections["ee"].delay / dt))
    ph = {p.name: p for p in m.protocol.phases}
    t = np.array([0.010, 0.012, 0.030, 0.0995])          # neuron 2 in a 100 ms phase (200 steps)
    i = np.full(t.size, 2)
    r, last = depression_start(m, "ee", [(ph["recall"], 200, (i, t))])
    arrived = t[np.round(t / dt) + d < 200]              # the last spike is still in flight at the start
    assert arrived.size == 3
    assert r[2] == pytest.approx(rule.efficacies(arrived)[-1] * (1 - rule.u), rel=1e-12)
    assert last[2] == round(arrived[-1] / dt) + d - 200
    assert np.all(np.delete(r, 2) == 1.0) and np.all(np.delete(last, 2) == -2.0 ** 40)
    # the same arrivals in a phase that switches the depression off use nothing but mark the time
    r_off, last_off = depression_start(m, "ee", [(ph["recall_off"], 200, (i, t))])
    assert r_off[2] == 1.0 and last_off[2] == last[2]
    # an earlier phase: its resources recover through the later one, whose arrivals use them again
    r2, _ = depression_start(m, "ee", [(ph["recall"], 200, (i, t)), (ph["recall"], 400, (i, t + 0.1))])
    both = np.concatenate([t, t + 0.2])
    both = both[np.round(both / dt) + d < 600]
    assert r2[2] == pytest.approx(rule.efficacies(both)[-1] * (1 - rule.u), rel=1e-12)


def _std_off_model():
    """:func:`tiny_model` with a depressing E -> E projection, and a third phase that switches the depression off."""
    from neuromem.spec import ShortTermDepression

    m = tiny_model()
    cue = m.protocol.phases[0].stimuli[0]
    return dataclasses.replace(
        m, rules={**m.rules, "std": ShortTermDepression("std", u=0.5, tau_rec=0.5)},
        projections={**m.projections, "ee": dataclasses.replace(m.projections["ee"], plasticity=("stdp", "std"))},
        protocol=dataclasses.replace(m.protocol, phases=(
            *m.protocol.phases, Phase("recall_off", "recall", stimuli=(cue,), stp_off=("ee",)))))


@pytest.fixture(scope="module")
def std_run_dir(tmp_path_factory):
    return _simulate(_std_off_model(), tmp_path_factory.mktemp("brian2_std"))


@pytest.mark.lava
@needs_lava
@pytest.mark.parametrize("phase, start", [("recall", "full"), ("lesioned", "depleted"), ("recall_off", "off")])
def test_short_term_depression_exports_exactly(std_run_dir, tmp_path, run_python, phase, start):
    """Brian2 depresses E -> E in "recall" and in "lesioned" (which continues from it, with depleted
    resources and spikes in flight), and switches the depression off in "recall_off": Lava's graded spikes
    reproduce each phase spike for spike; "lesioned" only with the resources replayed over "recall"."""
    r = run_python(f"""
        import json
        import neuromem.export.lava.run as lava_run
        from neuromem.export import run_lava
        out = {{"exact": run_lava({str(std_run_dir)!r}, phase={phase!r}, mode="float", out={str(tmp_path / "a")!r})}}
        if {phase!r} == "lesioned":         # the same without the resources at the start (all full)
            lava_run.load_depression = lambda *a, **k: {{}}
            out["full"] = run_lava({str(std_run_dir)!r}, phase={phase!r}, mode="float", out={str(tmp_path / "b")!r})
        print(json.dumps(out))
        """)
    a = r["exact"]["agreement"]
    assert a["by_population"]["E"]["spikes_reference"] > 300
    assert a["identical_spike_fraction"] == 1.0 and a["rate_relative_error"] == 0.0
    if start == "depleted":
        assert r["full"]["agreement"]["identical_spike_fraction"] < 0.9


def _learned_input_model():
    """:func:`tiny_model` with a second, plastic cue -> E projection that learns in a first phase while it
    transmits nothing (like ``models/cls_k50.toml``'s ``ctx_in_hpc`` while encoding), then transmits in recall."""
    m = tiny_model()
    cue = m.protocol.phases[0].stimuli[0]
    learned = Projection("cue_e_learned", "cue", "E", Connector("fixed_probability", p=0.3),
                         WeightInit("constant", value=0.004), delay=1e-3, plasticity=("stdp",))
    return dataclasses.replace(
        m, projections={**m.projections, "cue_e_learned": learned},
        protocol=dataclasses.replace(m.protocol, phases=(
            Phase("learn", "encode", stimuli=(dataclasses.replace(cue, fraction=1.0),),
                  plastic={"cue_e_learned": 1.0}, block=("cue_e_learned",)),
            Phase("recall", "recall", stimuli=(cue,), gain={"cue_e_learned": 0.5}))))


@pytest.mark.lava
@needs_lava
def test_a_learned_projection_from_a_spike_source_exports_exactly(tmp_path, run_python):
    """A source's projection learned while blocked (plastic, gain 0) exports with its learned weights, not the
    initial ones regenerated from the seed: Lava reproduces the recall that it drives spike for spike."""
    from neuromem.export.lava import load_frozen_network

    d = _simulate(_learned_input_model(), tmp_path / "brian2")
    fz = load_frozen_network(d, "recall")
    w = fz.weights["cue_e_learned"]
    assert fz.weights_from["cue_e_learned"] == "weights/recall.npz"     # stored, not regenerated from the seed
    assert np.ptp(w) > 0.002 and not np.allclose(w, 0.004)        # it learned
    r = run_python(f"""
        import json
        from neuromem.export import run_lava
        print(json.dumps(run_lava({str(d)!r}, phase="recall", mode="float", out={str(tmp_path / "lava")!r})))
        """)
    a = r["agreement"]
    assert a["by_population"]["E"]["spikes_reference"] > 300
    assert a["identical_spike_fraction"] == 1.0 and a["rate_relative_error"] == 0.0


def test_check_lava_refuses_a_rule_declared_not_exportable():
    """RuleCaps.exportable is read by check_lava: a rule class registered with exportable=False is refused."""
    from neuromem.export import check_lava
    from neuromem.spec.registry import RULES, RuleCaps, spec_field

    @RULES.register("unexportable", RuleCaps(timing=True, exportable=False))
    @dataclasses.dataclass(frozen=True)
    class Unexportable:
        name: str
        tau: float = spec_field("time")

    try:
        m = tiny_model()
        m = dataclasses.replace(m, rules={"stdp": Unexportable("stdp", 0.02)})
        errors = [i for i in check_lava(m, "recall") if i.severity == "error"]
        assert [i.feature for i in errors] == ["plasticity"] and "'ee'" in str(errors[0])
        assert "do not export" in str(errors[0])
        assert check_lava(tiny_model(), "recall") == []
    finally:
        RULES.remove("unexportable")


def test_triplet_stdp_learning_is_refused_on_lava_but_its_frozen_weights_export():
    """Loihi 2 has no mapping of the triplet rule: a phase that learns with it is one error naming the
    projection, the rule and its class, from both checks; a frozen phase exports without any issue."""
    from neuromem.export import check_lava
    from neuromem.export.lava.check import check_lava_learning
    from neuromem.spec import TripletSTDP

    m = tiny_model()
    rule = TripletSTDP("trip", tau_plus=0.0168, tau_minus=0.0337, tau_y=0.114, a3_plus=3e-4, a2_minus=2e-4,
                       w_max=6e-3)
    m = dataclasses.replace(m, rules={**m.rules, "trip": rule}, projections={
        **m.projections, "ee": dataclasses.replace(m.projections["ee"], plasticity=("trip",))})
    assert check_lava(m, "recall") == []
    plastic = dataclasses.replace(m, protocol=dataclasses.replace(m.protocol, phases=tuple(
        dataclasses.replace(p, plastic={"ee": 1.0}) if p.name == "recall" else p for p in m.protocol.phases)))
    for check in (check_lava, check_lava_learning):
        errors = [i for i in check(plastic, "recall") if i.severity == "error"]
        assert len(errors) == 1, (check.__name__, errors)
        assert "projection 'ee'" in str(errors[0]) and "rule 'trip' (TripletSTDP)" in str(errors[0])
