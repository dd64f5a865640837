"""Run folders and figures, on a small synthetic run (no simulator)."""

import hashlib
import json
import os
import re
import sys
import types

import matplotlib.figure
import numpy as np
import pytest

import neuromem.io as nio
from neuromem import plotting
from neuromem.analysis import compute_metrics, detect_replay, find_assemblies
from neuromem.records import Item, PhaseRecord, Run
from neuromem.spec import (
    Connector, LIFPopulation, Model, PairSTDP, Phase, Projection, Protocol, SpikeSource, Stimulus,
    WeightInit,
)

N, N_CA3, N_MEM = 30, 20, 3


def _lif(name, size, kind):
    return LIFPopulation(name=name, size=size, kind=kind, tau_m=0.02, tau_syn=0.005,
                         v_rest=-0.065, v_reset=-0.065, v_th=-0.05, refractory=0.002)


def small_model(name="tiny model"):
    w = WeightInit(kind="constant", value=0.001)
    stim = Stimulus("cue", "patterns", rate=50.0, item=0.2, gap=0.1)
    return Model(
        name=name, dt=1e-4,
        populations={"ctx_e": _lif("ctx_e", N, "excitatory"), "ca3": _lif("ca3", N_CA3, "excitatory"),
                     "ctx_i": _lif("ctx_i", 5, "inhibitory")},
        sources={"cue": SpikeSource("cue", N)},
        projections={
            "cue_ctx": Projection("cue_ctx", "cue", "ctx_e", Connector("one_to_one"), w),
            "ctx_ee": Projection("ctx_ee", "ctx_e", "ctx_e", Connector("fixed_probability", p=0.3), w,
                                 plasticity=("stdp",)),
            "ca3_ca3": Projection("ca3_ca3", "ca3", "ca3", Connector("fixed_probability", p=0.3), w,
                                  plasticity=("stdp",)),
        },
        rules={"stdp": PairSTDP("stdp", "symmetric", 0.02, 0.02, 1e-4, 1e-4, w_max=0.005)},
        protocol=Protocol(
            n_memories=N_MEM, pattern_population="ctx_e", coding_level=0.2, replay_population="ca3",
            phases=(Phase("encode", "encode", stimuli=(stim,), plastic={"ctx_ee": 1.0, "ca3_ca3": 1.0}),
                    Phase("sleep", "sleep", duration=8.0, stimuli=(Stimulus("cue", "noise", rate=1.0),)),
                    Phase("initial", "recall",
                          stimuli=(Stimulus("cue", "patterns", rate=50.0, item=0.2, gap=0.1, fraction=0.5),)))))


@pytest.fixture
def run(regular_spikes):
    _train = regular_spikes
    model = small_model()
    pats = np.zeros((N_MEM, N), bool)
    for k in range(N_MEM):
        pats[k, 6 * k:6 * k + 6] = True
    pats[1, 0] = True                      # a neuron in two patterns
    cues = {0.5: np.zeros_like(pats)}
    for k in range(N_MEM):
        cues[0.5][k, np.flatnonzero(pats[k])[:3]] = True
    its = [Item(k, 0.3 * k, 0.3 * k + 0.2) for k in range(N_MEM)]
    asm = [range(5 * k, 5 * k + 5) for k in range(N_MEM)]
    rng = np.random.default_rng(0)
    syn = {}
    for p, n in (("ctx_ee", N), ("ca3_ca3", N_CA3)):
        pre, post = np.nonzero(rng.random((n, n)) < 0.3)
        syn[p] = (pre.astype(np.int32), post.astype(np.int32))
    syn["cue_ctx"] = (np.arange(N, dtype=np.int32), np.arange(N, dtype=np.int32))
    init = {p: np.full(len(syn[p][0]), 1e-3) for p in ("ctx_ee", "ca3_ca3")}

    def weights(scale):
        return {p: w * scale + rng.uniform(0, 1e-4, len(w)) for p, w in init.items()}

    enc = PhaseRecord("encode", "encode", 0.9, {
        "ctx_e": _train(N, [(np.flatnonzero(pats[it.memory]), it.t_on, it.t_off) for it in its]),
        "ca3": _train(N_CA3, [(asm[it.memory], it.t_on, it.t_off) for it in its]),
        "ctx_i": _train(5, []), "cue": _train(N, [(np.flatnonzero(pats[it.memory]), it.t_on, it.t_off) for it in its]),
    }, its, weights=weights(1.5), wall_time=0.25)
    sleep = PhaseRecord("sleep", "sleep", 8.0, {
        "ctx_e": _train(N, [(range(N), 0, 8.0)], rate=3.0),
        "ca3": _train(N_CA3, [(asm[0], 1.001, 1.002), (asm[2], 6.001, 6.002)]),
        "ctx_i": _train(5, [(range(5), 0, 8.0)], rate=10.0), "cue": _train(N, []),
    }, [], weights=weights(2.0), wall_time=1.5)
    rec = PhaseRecord("initial", "recall", 0.9, {
        "ctx_e": _train(N, [(np.flatnonzero(pats[it.memory]), it.t_on, it.t_off) for it in its]),
        "ca3": _train(N_CA3, []), "ctx_i": _train(5, []),
        "cue": _train(N, [(np.flatnonzero(cues[0.5][it.memory]), it.t_on, it.t_off) for it in its]),
    }, its, cue_fraction=0.5, weights=weights(2.0), wall_time=0.2,
        state={"ctx_e": (np.arange(0, 0.9, 0.1), rng.normal(-0.06, 0.001, (N, 9)))}, silenced=("ca3",))
    return Run(model=model, seed=11, patterns=pats, cues=cues, synapses=syn, initial_weights=init,
               phases=[enc, sleep, rec], model_file=None, model_text='name = "tiny model"\n',
               overrides=["protocol.n_memories=3"])


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------ write / read


def test_write_run_creates_complete_folder(run, tmp_path):
    metrics = compute_metrics(run)
    out = nio.write_run(run, metrics, tmp_path / "runs", extra={"backend": "synthetic"})
    assert out.parent == tmp_path / "runs"
    assert re.fullmatch(r"tiny_model-\d{8}-\d{6}-seed11", out.name)
    assert os.listdir(tmp_path / "runs") == [out.name]           # no partial folder left
    files = _listing(out)
    for f in ["results.json", "model.toml", "patterns.npz", "spikes/encode.npz", "spikes/sleep.npz",
              "spikes/initial.npz", "state/initial.npz", "weights/initial.npz", "weights/encode.npz",
              "weights/sleep.npz", "weights/phase_initial.npz", "weights/synapses.npz",
              "figures/raster_encode.png", "figures/raster_sleep.png", "figures/raster_initial.png",
              "figures/recall.png", "figures/weights_ctx_ee.png", "figures/replay_sleep.png"]:
        assert f in files, f
    assert "figures/weights_ca3_ca3.png" not in files            # not on the pattern population

    def no_nan(c):
        raise ValueError(c)
    res = json.loads((out / "results.json").read_text(), parse_constant=no_nan)
    assert res["model"] == "tiny model" and res["seed"] == 11
    assert res["overrides"] == ["protocol.n_memories=3"]
    assert res["model_file"] is None
    assert res["model_sha256"] == hashlib.sha256(run.model_text.encode()).hexdigest()
    assert set(res["versions"]) >= {"python", "numpy", "brian2", "neuromem", "lava"}
    assert res["versions"]["numpy"] == np.__version__
    assert res["wall_time_s"] == {"encode": 0.25, "sleep": 1.5, "initial": 0.2}
    assert res["total_wall_time_s"] == pytest.approx(1.95)
    assert res["backend"] == "synthetic"
    assert res["metrics"] == json.loads(json.dumps(metrics))
    assert res["metrics"]["initial"] == pytest.approx(1.0)
    assert res["metrics"]["replay"]["sleep"]["counts"] == [1, 0, 1]
    assert res["timestamp"]
    assert (out / "model.toml").read_text() == run.model_text
    # writing a run (versions, figures) never imports lava; checked in a fresh
    # interpreter, since other tests in this process may have imported it
    import pickle
    import subprocess
    (tmp_path / "run.pkl").write_bytes(pickle.dumps(run))
    code = ("import pickle, sys; import neuromem.io as nio; from neuromem.analysis import compute_metrics; "
            f"run = pickle.loads(open({str(tmp_path / 'run.pkl')!r}, 'rb').read()); "
            f"nio.write_run(run, compute_metrics(run), {str(tmp_path / 'fresh')!r}); "
            "assert 'lava' not in sys.modules, sorted(m for m in sys.modules if m.startswith('lava'))")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_read_run_round_trip(run, tmp_path):
    out = nio.write_run(run, compute_metrics(run), tmp_path, figures=False)
    assert not (out / "figures").exists()
    rr = nio.read_run(out)
    assert rr["seed"] == 11 and rr.path == out
    assert rr.model_text == run.model_text
    for ph in run.phases:
        sp = rr.spikes(ph.name)
        assert set(sp) == set(ph.spikes)
        for pop, s in ph.spikes.items():
            np.testing.assert_array_equal(sp[pop].i, s.i)
            np.testing.assert_array_equal(sp[pop].t, s.t)
            assert sp[pop].n == s.n
        w = rr.weights(ph.name)
        assert set(w) == set(ph.weights)
        for k in w:
            np.testing.assert_array_equal(w[k], ph.weights[k])
    w0 = rr.weights()
    np.testing.assert_array_equal(rr.weights("initial")["ctx_ee"], run.phase("initial").weights["ctx_ee"])
    np.testing.assert_array_equal(w0["ctx_ee"], run.initial_weights["ctx_ee"])
    syn = rr.synapses()
    assert set(syn) == set(run.synapses)
    for k, (i, j) in syn.items():
        np.testing.assert_array_equal(i, run.synapses[k][0])
        np.testing.assert_array_equal(j, run.synapses[k][1])
    pats, cues = rr.patterns()
    np.testing.assert_array_equal(pats, run.patterns)
    assert set(cues) == {0.5}
    np.testing.assert_array_equal(cues[0.5], run.cues[0.5])
    st = rr.state("initial")
    np.testing.assert_array_equal(st["ctx_e"][1], run.phase("initial").state["ctx_e"][1])
    assert rr.state("encode") == {}
    # phases rebuilt from the folder give the same metrics
    phases = [rr.phase(p.name) for p in run.phases]
    assert phases[2].items == run.phases[2].items and phases[2].cue_fraction == 0.5
    assert phases[2].silenced == ("ca3",)
    again = Run(model=run.model, seed=rr["seed"], patterns=pats, cues=cues, synapses=syn,
                initial_weights=w0, phases=phases)
    assert compute_metrics(again) == rr["metrics"]
    with pytest.raises(KeyError):
        rr.phase("nope")


def test_model_file_hash_and_name_suffix(run, tmp_path, monkeypatch):
    mf = tmp_path / "m.toml"
    mf.write_bytes(b"# original file\n")
    run.model_file = str(mf)

    class Fixed:
        @staticmethod
        def now():
            import datetime
            return datetime.datetime(2024, 1, 2, 3, 4, 5).astimezone()

    monkeypatch.setattr(nio.write, "_dt", types.SimpleNamespace(datetime=Fixed))
    m = compute_metrics(run)
    a = nio.write_run(run, m, tmp_path / "o", figures=False)
    b = nio.write_run(run, m, tmp_path / "o", figures=False)
    assert a.name == "tiny_model-20240102-030405-seed11"
    assert b.name == "tiny_model-20240102-030405-seed11-2"
    res = json.loads((b / "results.json").read_text())
    assert res["model_sha256"] == hashlib.sha256(b"# original file\n").hexdigest()
    assert res["model_text_sha256"] == hashlib.sha256(run.model_text.encode()).hexdigest()
    assert res["model_file"] == str(mf)
    # a stale partial folder of a killed run is skipped, not reused
    (tmp_path / "o" / ".tiny_model-20240102-030405-seed11-3.partial").mkdir()
    c = nio.write_run(run, m, tmp_path / "o", figures=False)
    assert c.name == "tiny_model-20240102-030405-seed11-4"


def test_failure_in_figures_leaves_nothing(run, tmp_path, monkeypatch):
    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        nio.write_run(run, compute_metrics(run), tmp_path)
    assert os.listdir(tmp_path) == []


def test_failure_at_last_step_leaves_nothing(run, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(KeyboardInterrupt):
        nio.write_run(run, compute_metrics(run), tmp_path, figures=False)
    assert os.listdir(tmp_path) == []


def test_non_finite_metrics_become_null(run, tmp_path):
    out = nio.write_run(run, {"x": float("nan"), "y": np.float32(2.5), "z": np.arange(3)}, tmp_path,
                        figures=False)
    res = json.loads((out / "results.json").read_text())
    assert res["metrics"] == {"x": None, "y": 2.5, "z": [0, 1, 2]}


def test_safe_name():
    assert nio.safe_name("a b/c") == "a_b_c"
    assert nio.safe_name("..x") == "x"
    assert nio.safe_name("") == "_"


# ------------------------------------------------------------ figures


def test_plot_functions(run):
    from neuromem.analysis import compute_metrics as cm
    asm = find_assemblies(run.phase("encode"), "ca3", N_MEM)
    fig = plotting.plot_raster(run.phase("sleep"), run, assemblies=asm, t_max=5.0, max_points=100)
    title = fig.axes[0].get_title()
    assert "first 5 s of 8 s" in title and "of" in title and "spikes shown" in title
    assert len(fig.axes) == 3
    fig = plotting.plot_raster(run.phase("encode"), run, populations=["cue"])
    assert len(fig.axes) == 1
    fig = plotting.plot_recall(cm(run))
    assert len(fig.axes[0].patches) == N_MEM + 1
    fig = plotting.plot_recall({"recall": {}})
    fig = plotting.plot_weights(run, "ctx_ee", ["initial", "encode", "sleep"])
    assert len(fig.axes) == 4                                       # three panels + colour bar
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (N, N)
    ev = detect_replay(run.phase("sleep").spikes["ca3"], asm, duration=8.0)
    fig = plotting.plot_replay(ev, 8.0, N_MEM)
    assert "2 replay events" in fig.axes[0].get_title()
    assert plotting.memory_colors(3).shape == (3, 4)
    assert plotting.memory_colors(25).shape == (25, 4)


def test_plot_weights_sorts_by_memory(run):
    # put a weight only on synapses inside pattern 2; after sorting they form a block
    pre, post = run.synapses["ctx_ee"]
    inside = run.patterns[2][pre] & run.patterns[2][post]
    run.initial_weights["ctx_ee"] = inside.astype(float)
    fig = plotting.plot_weights(run, "ctx_ee", ["initial"])
    m = np.asarray(fig.axes[0].images[0].get_array())
    order = plotting.memory_order(run.patterns)
    first = plotting.first_member(run.patterns)[order]
    block = np.flatnonzero(first == 2)
    nz = np.argwhere(m > 0)
    assert len(nz) and set(nz[:, 0]) <= set(block) and set(nz[:, 1]) <= set(block)


def test_save_figures_lists_files(run, tmp_path):
    files = plotting.save_figures(run, compute_metrics(run), tmp_path / "f", max_raster_s=2.0)
    names = sorted(p.name for p in files)
    assert names == sorted(["raster_encode.png", "raster_sleep.png", "raster_initial.png", "recall.png",
                            "weights_ctx_ee.png", "replay_sleep.png"])
    assert all(p.stat().st_size > 0 for p in files)
