"""Figures a scientist can read: labels, units, every condition visible, legends outside, targets.

Every figure type is built from a small synthetic run (no simulator, well under
a second): three memories on 30 cortical cells, an encoding, a sleep with two
replays, an intact recall that completes each pattern and a lesioned recall in
which only the cue fires (overlap exactly 0), with CA3 silenced.
"""

import re

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.text import Text

from neuromem import plotting
from neuromem.analysis import compute_metrics, detect_replay, find_assemblies
from neuromem.records import Item, PhaseRecord, Run
from neuromem.spec import (
    Connector, LIFPopulation, Model, PairSTDP, Phase, Projection, Protocol, SpikeSource, Stimulus,
    WeightInit,
)

N, N_CA3, N_MEM, SEED = 30, 20, 3, 7
TARGETS = {"recall_intact": {"min": 0.9}, "recall_lesioned": {"max": 0.4}}


def _lif(name, size, kind):
    return LIFPopulation(name=name, size=size, kind=kind, tau_m=0.02, tau_syn=0.005,
                         v_rest=-0.065, v_reset=-0.065, v_th=-0.05, refractory=0.002)


def _model():
    w = WeightInit(kind="constant", value=0.001)
    cue = Stimulus("cue", "patterns", rate=50.0, item=0.2, gap=0.1, fraction=0.5)
    return Model(
        name="plotmodel", dt=1e-4,
        populations={"ctx_e": _lif("ctx_e", N, "excitatory"), "ca3": _lif("ca3", N_CA3, "excitatory"),
                     "ctx_i": _lif("ctx_i", 5, "inhibitory")},
        sources={"cue": SpikeSource("cue", N)},
        projections={
            "cue_ctx": Projection("cue_ctx", "cue", "ctx_e", Connector("one_to_one"), w),
            "ctx_ee": Projection("ctx_ee", "ctx_e", "ctx_e", Connector("fixed_probability", p=0.3), w,
                                 plasticity=("stdp",)),
        },
        rules={"stdp": PairSTDP("stdp", "symmetric", 0.02, 0.02, 1e-4, 1e-4, w_max=0.005)},
        protocol=Protocol(
            n_memories=N_MEM, pattern_population="ctx_e", coding_level=0.2, replay_population="ca3",
            phases=(Phase("encode", "encode", stimuli=(Stimulus("cue", "patterns", rate=50.0, item=0.2,
                                                                 gap=0.1),), plastic={"ctx_ee": 1.0}),
                    Phase("sleep", "sleep", duration=8.0, stimuli=(Stimulus("cue", "noise", rate=1.0),)),
                    Phase("recall_intact", "recall", stimuli=(cue,)),
                    Phase("recall_lesioned", "recall", stimuli=(cue,), silence=("ca3",)))))


@pytest.fixture(scope="module")
def run(regular_spikes):
    _train = regular_spikes
    pats = np.zeros((N_MEM, N), bool)
    for k in range(N_MEM):
        pats[k, 6 * k:6 * k + 6] = True
    pats[1, 0] = True
    cues = {0.5: np.zeros_like(pats)}
    for k in range(N_MEM):
        cues[0.5][k, np.flatnonzero(pats[k])[:3]] = True
    its = [Item(k, 0.3 * k, 0.3 * k + 0.2) for k in range(N_MEM)]
    asm = [range(5 * k, 5 * k + 5) for k in range(N_MEM)]
    rng = np.random.default_rng(0)
    pre, post = np.nonzero(rng.random((N, N)) < 0.3)
    syn = {"ctx_ee": (pre.astype(np.int32), post.astype(np.int32)),
           "cue_ctx": (np.arange(N, dtype=np.int32), np.arange(N, dtype=np.int32))}
    init = {"ctx_ee": np.full(len(pre), 1e-3)}

    def weights(scale):
        return {"ctx_ee": init["ctx_ee"] * scale + rng.uniform(0, 1e-4, len(pre))}

    def pattern_train(masks):
        return _train(N, [(np.flatnonzero(masks[it.memory]), it.t_on, it.t_off) for it in its])

    enc = PhaseRecord("encode", "encode", 0.9, {
        "ctx_e": pattern_train(pats), "ca3": _train(N_CA3, [(asm[it.memory], it.t_on, it.t_off) for it in its]),
        "ctx_i": _train(5, []), "cue": pattern_train(pats)}, its, weights=weights(1.5))
    sleep = PhaseRecord("sleep", "sleep", 8.0, {
        "ctx_e": _train(N, [(range(N), 0, 8.0)], rate=3.0),
        "ca3": _train(N_CA3, [(asm[0], 1.001, 1.002), (asm[2], 6.001, 6.002)]),
        "ctx_i": _train(5, [(range(5), 0, 8.0)], rate=10.0), "cue": _train(N, [])}, [], weights=weights(2.0))
    intact = PhaseRecord("recall_intact", "recall", 0.9, {
        "ctx_e": pattern_train(pats), "ca3": _train(N_CA3, [(asm[it.memory], it.t_on, it.t_off) for it in its]),
        "ctx_i": _train(5, []), "cue": pattern_train(cues[0.5])}, its, cue_fraction=0.5)
    lesioned = PhaseRecord("recall_lesioned", "recall", 0.9, {
        "ctx_e": pattern_train(cues[0.5]), "ca3": _train(N_CA3, []), "ctx_i": _train(5, []),
        "cue": pattern_train(cues[0.5])}, its, cue_fraction=0.5, silenced=("ca3",))
    return Run(model=_model(), seed=SEED, patterns=pats, cues=cues, synapses=syn, initial_weights=init,
               phases=[enc, sleep, intact, lesioned])


@pytest.fixture(scope="module")
def metrics(run):
    return compute_metrics(run)


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _outside(legend, ax, renderer) -> bool:
    """The legend's box does not overlap the axes' data area."""
    lb, ab = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    return lb.x0 >= ab.x1 - 1 or lb.x1 <= ab.x0 + 1 or lb.y0 >= ab.y1 - 1 or lb.y1 <= ab.y0 + 1


def _title_has_seed_and_n(title):
    assert f"seed {SEED}" in title, title
    assert f"n = {N_MEM} memories" in title, title


# ---------------------------------------------------------------- recall


def test_recall_zero_condition_is_visible_and_labelled(run, metrics, tmp_path):
    assert metrics["recall"]["recall_lesioned"]["mean_overlap"] == pytest.approx(0.0, abs=1e-12)
    fig = plotting.plot_recall(metrics, targets=TARGETS, seed=run.seed, model_name=run.model.name)
    ax = fig.axes[0]
    renderer = _drawn(fig)
    # the lesioned condition (group 1) has a dot for each memory on the zero line and a "0.00" label
    dots = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    in_group = dots[np.abs(dots[:, 0] - 1.0) < 0.45]
    assert len(in_group) == N_MEM + 1 and np.allclose(in_group[:, 1], 0.0)
    labels = [t for t in ax.texts if isinstance(t, Text)]
    assert any(t.get_text() == "0.00" and abs(t.get_position()[0] - 1) < 0.45 for t in labels)
    assert any(t.get_text() == "1.00" and abs(t.get_position()[0]) < 0.45 for t in labels)
    # bars carry an outline (visible even where the fill has no height)
    assert all(p.get_linewidth() > 0 for p in ax.patches)
    # legend outside the data, title with seed and n, labelled axes
    assert _outside(ax.get_legend(), ax, renderer)
    _title_has_seed_and_n(ax.get_title())
    assert "recall overlap" in ax.get_ylabel()
    assert ax.get_xlabel()
    fig.savefig(tmp_path / "recall.png")


def test_recall_target_lines_only_where_declared(metrics):
    fig = plotting.plot_recall(metrics, targets={"recall_intact": {"min": 0.9}}, seed=SEED)
    ax = fig.axes[0]
    lines = [c for c in ax.collections if not isinstance(c, PathCollection)]
    assert len(lines) == 1
    (seg,), = [c.get_segments() for c in lines]
    assert np.allclose(seg[:, 1], 0.9) and seg[:, 0].min() < 0 < seg[:, 0].max()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["recall_intact\n(target ≥ 0.9)", "recall_lesioned"]
    assert "target" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig = plotting.plot_recall(metrics, seed=SEED)                          # no targets: no line
    ax = fig.axes[0]
    assert not [c for c in ax.collections if not isinstance(c, PathCollection)]
    assert "target" not in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="min"):
        plotting.plot_recall(metrics, targets={"recall_intact": {"above": 0.9}})


def test_recall_missing_condition_is_not_a_zero():
    metrics = {"recall": {"a": {"memory": [0, 1], "overlap": [0.0, 0.0], "mean_overlap": 0.0},
                          "b": {"memory": [], "overlap": [], "mean_overlap": None}}}
    ax = plotting.plot_recall(metrics, seed=SEED, n_memories=2).axes[0]
    texts = {t.get_text(): t.get_position()[0] for t in ax.texts}
    assert texts["0.00"] == pytest.approx(0, abs=0.45) and texts["no data"] == pytest.approx(1)
    assert "n = 2 memories" in ax.get_title()


def test_read_targets_and_sidecar(run, tmp_path):
    (tmp_path / "m.toml").write_text("")
    (tmp_path / "m.targets.toml").write_text("[recall_intact]\nmin = 0.9\n[recall_lesioned]\nmax = 0.4\n")
    assert plotting.read_targets(tmp_path / "m.targets.toml") == TARGETS
    import dataclasses
    assert plotting.targets_for(dataclasses.replace(run, model_file=str(tmp_path / "m.toml"))) == TARGETS
    assert plotting.targets_for(run) == {}                                  # no model file: no targets
    assert plotting.targets_for(dataclasses.replace(run, model_file=str(tmp_path / "other.toml"))) == {}


def test_default_model_declares_its_targets():
    from pathlib import Path
    t = plotting.read_targets(Path(__file__).parents[1] / "models" / "cls_small.targets.toml")
    assert t["recall_intact_after_encoding"] == {"min": 0.9}
    assert t["recall_lesioned_after_sleep"] == {"min": 0.8}
    assert t["recall_lesioned_before_sleep"] == {"max": 0.4}
    assert t["recall_lesioned_after_blocked_sleep"] == {"max": 0.4}


# ---------------------------------------------------------------- raster


def test_raster_axes_colour_key_and_compact_silenced(run, tmp_path):
    fig = plotting.plot_raster(run.phase("recall_lesioned"), run)
    renderer = _drawn(fig)
    axes = fig.axes
    assert len(axes) == 3                                       # ctx_e, ca3, ctx_i
    labels = [a.get_ylabel() for a in axes]
    assert labels[0].startswith("ctx_e") and "neuron (sorted by memory)" in labels[0]
    assert re.search(r"\d+\.\d Hz", labels[0])
    assert "neuron (index)" in labels[2] and "Hz" in labels[2]
    assert "silenced" in labels[1]
    assert axes[-1].get_xlabel() == "time (s)"
    # the silenced population gets a thin strip that says so
    heights = [a.get_window_extent(renderer).height for a in axes]
    assert heights[1] < 0.3 * heights[0]
    assert any("silenced" in t.get_text() for t in axes[1].texts)
    # colour key outside the data, naming every memory
    (leg,) = fig.legends
    assert all(_outside(leg, a, renderer) for a in axes)
    texts = [t.get_text() for t in leg.get_texts()]
    assert [f"memory {k}" for k in range(N_MEM)] == texts[:N_MEM] and "in no memory" in texts
    _title_has_seed_and_n(axes[0].get_title())
    fig.savefig(tmp_path / "raster.png")


def test_raster_into_given_axes_keeps_key_outside(run):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.subplots()
    plotting.plot_raster(run.phase("encode"), run, populations=["ctx_e"], ax=ax)
    assert ax.get_legend() is None and not fig.legends       # side-by-side rasters: no key by default
    plotting.plot_raster(run.phase("encode"), run, populations=["ctx_e"], ax=ax, colour_key=True)
    assert _outside(ax.get_legend(), ax, _drawn(fig))


def test_raster_sorted_by_memory(run):
    # neurons 0..5 are memory 0, 6..11 memory 1 (+ neuron 0), ...: plotted rows follow memory order
    fig = plotting.plot_raster(run.phase("recall_intact"), run, populations=["ctx_e"])
    y = fig.axes[0].collections[-1].get_offsets()[:, 1]
    t = fig.axes[0].collections[-1].get_offsets()[:, 0]
    for k in range(N_MEM):
        rows = set(y[(t >= 0.3 * k) & (t < 0.3 * k + 0.2)].astype(int))
        # memory k's own block of rows; neuron 0 (memories 0 and 1) sits in memory 0's block
        assert rows == set(range(6 * k, 6 * k + 6)) | ({0} if k == 1 else set())


# ---------------------------------------------------------------- weights and replay


def test_weights_in_mV(run, tmp_path):
    fig = plotting.plot_weights(run, "ctx_ee", ["initial", "encode", "sleep"])
    cbar = fig.axes[-1]
    assert cbar.get_ylabel() == "weight (mV)"
    img = np.asarray(fig.axes[0].images[0].get_array())
    assert img.max() == pytest.approx(1e-3 * 1e3)                 # 1 mV stored as 1e-3 V
    assert "presynaptic ctx_e neuron (sorted by memory)" == fig.axes[0].get_ylabel()
    assert "postsynaptic ctx_e neuron (sorted by memory)" == fig.axes[0].get_xlabel()
    _title_has_seed_and_n(fig.get_suptitle())
    fig.savefig(tmp_path / "weights.png")


def test_replay_title_units_and_zero_rows(run, tmp_path):
    asm = find_assemblies(run.phase("encode"), "ca3", N_MEM)
    ev = detect_replay(run.phase("sleep").spikes["ca3"], asm, duration=8.0)
    fig = plotting.plot_replay(ev, 8.0, N_MEM, seed=SEED, phase_name="sleep")
    ax = fig.axes[0]
    renderer = _drawn(fig)
    assert ax.get_xlabel() == "time (s)"
    title = ax.get_title()
    _title_has_seed_and_n(title)
    assert "2 replay events in 8 s (0.25 Hz)" in title
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0 (1)", "1 (0)", "2 (1)"]
    assert _outside(ax.get_legend(), ax, renderer)
    fig.savefig(tmp_path / "replay.png")


def test_save_figures_uses_declared_targets(run, metrics, tmp_path):
    import dataclasses
    (tmp_path / "m.toml").write_text("")
    (tmp_path / "m.targets.toml").write_text("[recall_intact]\nmin = 0.9\n")
    r = dataclasses.replace(run, model_file=str(tmp_path / "m.toml"))
    files = plotting.save_figures(r, metrics, tmp_path / "f", max_raster_s=2.0)
    assert sorted(p.name for p in files) == sorted(
        ["raster_encode.png", "raster_sleep.png", "raster_recall_intact.png", "raster_recall_lesioned.png",
         "recall.png", "weights_ctx_ee.png", "replay_sleep.png"])


def test_value_label_never_prints_minus_zero():
    value_label = plotting.value_label
    assert [value_label(v) for v in (-0.004, -0.0, 0.004, 0.126, -0.126)] == ["0.00", "0.00", "0.00", "0.13", "-0.13"]
    assert value_label(-0.0004, digits=3) == "0.000"
