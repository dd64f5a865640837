"""The experiment scripts in ``simulations/`` at their ``--quick`` size: every criterion asserted.

Each script is run in-process (``main([...])``) into a temporary folder; its
``summary.json`` must hold every plotted number and the list of criteria, and
each criterion must be met at that size (the figures at full size, over
seeds, are in ``docs/experiments.md``).
"""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"sim_{name}", ROOT / "simulations" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_quick(name, tmp_path, capsys, *args):
    mod = load_script(name)
    out = tmp_path / name
    assert mod.main(["--quick", "--seed", "1", "--out", str(out), "--jobs", "1", *args]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (out / f"{name}.png").stat().st_size > 10_000
    for c in summary["criteria"]:
        assert set(c) >= {"name", "value", "target", "met"}
        assert c["name"] in printed
    return summary, printed


def test_lesion_gradient_set_changes_every_rounds_sleep():
    """``--set`` changes the templates, so every sleep of both arms carries the change."""
    from neuromem.spec import ModelError

    lg = load_script("lesion_gradient")
    small = ROOT / "models" / "cls_small.toml"
    model = lg.build_model(3, 2, 1.0, model_file=small, overrides=[
        "protocol.phases.sleep.gain={hpc_ie=0.7, hpc_ei=0.7, hpc_ee=2.0, hpc_ctx=5.0, ctx_ei=2.0}",
        "protocol.phases.sleep.stimuli.0.rate=100 Hz"])
    sleeps = [p for p in model.protocol.phases if p.kind == "sleep"]
    assert [p.name for p in sleeps] == ["sleep_1", "sleep_2", "blocked_sleep_1", "blocked_sleep_2"]
    for p in sleeps[:2]:
        assert dict(p.gain)["hpc_ee"] == 2.0 and p.stimuli[0].rate == 100.0 and p.duration == 1.0
    for p in sleeps[2:]:                 # the blocked arm's own template is unchanged
        assert "hpc_ee" not in dict(p.gain) and p.stimuli[0].rate == 200.0
    with pytest.raises(ModelError, match="nope"):
        lg.build_model(3, 2, 1.0, model_file=small, overrides=["protocol.phases.sleep.nope=1"])
    with pytest.raises(SystemExit):
        lg.main(["--help"])


def test_lesion_gradient_tests_take_the_models_recalls_after_sleep():
    """Another model file (``--model``): the tests after the rounds copy its recalls after sleep, with
    their recall inhibition (``models/cls_k50.toml`` x 1.65) and the intact one's direct cue into CA3
    (``ctx_in_hpc``), and the memory count is the rounds'; the rounds' encodes copy its encode phase."""
    lg = load_script("lesion_gradient")
    model = lg.build_model(3, 2, 1.0, model_file=ROOT / "models" / "cls_k50.toml")
    tests = {p.name: p for p in model.protocol.phases if p.kind == "recall"}
    assert set(tests) == {"recall_intact", "recall_lesioned", "blocked_recall_intact", "blocked_recall_lesioned"}
    assert {n: dict(p.gain) for n, p in tests.items()} == {
        "recall_intact": {"ctx_ei": 1.65, "ctx_in_hpc": 0.3, "hpc_ie": 2.0},
        "blocked_recall_intact": {"ctx_ei": 1.65, "ctx_in_hpc": 0.3, "hpc_ie": 2.0},
        "recall_lesioned": {"ctx_ei": 1.65}, "blocked_recall_lesioned": {"ctx_ei": 1.65}}
    encodes = [p for p in model.protocol.phases if p.kind == "encode"]
    assert len(encodes) == 5 and all("ctx_in_hpc" in p.block and p.plastic["ctx_in_hpc"] == 1.0 for p in encodes)
    # and the CA3 depression the model switches off in its intact recall (stp_off)
    assert {n: p.stp_off for n, p in tests.items()} == {"recall_intact": ("hpc_ee",), "blocked_recall_intact": ("hpc_ee",),
                                                        "recall_lesioned": (), "blocked_recall_lesioned": ()}
    assert model.protocol.n_memories == 6 and model.populations["hpc_e"].size == 1000
    small = lg.build_model(3, 2, 1.0, model_file=ROOT / "models" / "cls_small.toml")
    assert all(not p.gain for p in small.protocol.phases if p.kind == "recall")
    default = lg.build_model(3, 2, 1.0)
    assert default.populations.keys() >= {"dg_e"}      # the default model: models/cls.toml
    # the lesion is the model's own (its lesioned recall's silence): CA3 alone, or CA3 and the DG
    assert {n: set(p.silence) for n, p in tests.items()} == {
        "recall_intact": set(), "blocked_recall_intact": set(),
        "recall_lesioned": {"hpc_e", "hpc_i"}, "blocked_recall_lesioned": {"hpc_e", "hpc_i"}}
    assert [set(p.silence) for p in default.protocol.phases if p.name.endswith("recall_lesioned")] == [
        {"hpc_e", "hpc_i", "dg_e"}] * 2


@pytest.mark.slow
def test_lesion_gradient_quick(tmp_path, capsys):
    """The default model (``models/cls.toml``) at the quick size: seed 1 measured 5 of 5 (ratio -0.01 at
    age 0, 0.98 at age 3, older memories' intact recall 0.98)."""
    summary, _ = run_quick("lesion_gradient", tmp_path, capsys)
    assert summary["model_file"].endswith("cls.toml")
    curves = summary["curves"]["replay"]
    assert len(curves) >= 4          # ages 0..3
    failed = [c for c in summary["criteria"] if not c["met"]]
    assert not failed, failed


@pytest.mark.slow
def test_lesion_gradient_quick_on_the_small_model(tmp_path, capsys):
    """``models/cls_small.toml`` keeps the graded amnesia at the quick size too."""
    summary, _ = run_quick("lesion_gradient", tmp_path, capsys, "--model", str(ROOT / "models" / "cls_small.toml"))
    failed = [c for c in summary["criteria"] if not c["met"]]
    assert not failed, failed


@pytest.fixture(scope="module")
def interference_quick(tmp_path_factory):
    mod = load_script("interference")
    out = tmp_path_factory.mktemp("interference")
    assert mod.main(["--quick", "--seed", "1", "--out", str(out), "--jobs", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "interference.png").stat().st_size > 10_000
    return {c["name"]: c for c in summary["criteria"]}, summary


HPC_B, CTX_B, DG_B = "[B via hippocampus]", "[B by cortex alone]", "[B via hippocampus with dentate gyrus]"


def _criterion(crit, start, arm):
    (c,) = [c for name, c in crit.items() if name.startswith(start) and name.endswith(arm)]
    return c


@pytest.mark.slow
@pytest.mark.parametrize("arm", [HPC_B, CTX_B])
def test_interference_quick_new_learning_costs_the_old_memory(interference_quick, arm):
    crit, _ = interference_quick
    assert _criterion(crit, "B without sleep costs A", arm)["met"]
    assert _criterion(crit, "after sleep, B's", arm)["met"]


@pytest.mark.slow
def test_interference_quick_sleep_undoes_half_the_damage_when_the_hippocampus_holds_A_alone(interference_quick):
    crit, _ = interference_quick
    assert _criterion(crit, "forgetting reduction", CTX_B)["met"]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured 0.17 at quick size (seed 1; 0.21 over seeds 1-3), 0.21 at full size over 3 seeds "
                                       "(target 0.5): the hippocampus gives B_j most of A_j's CA3 cells, so sleep "
                                       "replays A and B together and merges them in cortex; docs/experiments.md")
def test_interference_quick_sleep_undoes_half_the_damage_when_B_goes_through_the_hippocampus(interference_quick):
    crit, _ = interference_quick
    assert _criterion(crit, "forgetting reduction", HPC_B)["met"]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="interleaved training beats sleep when B goes through the hippocampus "
                                       "(A + B: -0.16 quick seed 1, -0.20 over seeds 1-3, -0.24 full); docs/experiments.md")
def test_interference_quick_sleep_beats_interleaving_when_B_goes_through_the_hippocampus(interference_quick):
    crit, _ = interference_quick
    assert _criterion(crit, "sleep - interleaved", HPC_B)["met"]


@pytest.mark.slow
def test_interference_quick_sleep_beats_interleaving_when_the_hippocampus_holds_A_alone(interference_quick):
    crit, _ = interference_quick
    assert _criterion(crit, "sleep - interleaved", CTX_B)["met"]


@pytest.mark.slow
def test_interference_quick_dynamics_shared_ca3_cells_merge_A_and_B_in_sleep(interference_quick):
    """The mechanism docs/experiments.md states: B through the hippocampus reuses A's CA3 cells and sleep
    builds weights between A's and B's own cortical cells; with A alone in the hippocampus it does not."""
    _, summary = interference_quick
    hpc, ctx = (summary["dynamics"][arm]["0.5"]["1"] for arm in ("hippocampus", "cortex"))
    assert hpc["ca3_shared"] >= 0.5 and ctx["ca3_shared"] is None
    w_hpc, w_ctx = hpc["weights"], ctx["weights"]
    assert w_hpc["train_B"]["A-only<->B-only"] < 0.5 < 1.5 < w_hpc["sleep"]["A-only<->B-only"]
    assert w_ctx["sleep"]["A-only<->B-only"] < 0.5
    # replay of A alone gives back the A-only <-> shared weights that B's training took
    assert w_ctx["sleep"]["A-only<->shared"] > w_ctx["train_B"]["A-only<->shared"] + 0.5
    assert sum(ctx["replays"][3:]) == 0 < sum(ctx["replays"][:3])


@pytest.mark.slow
def test_interference_quick_dynamics_sleep_loads_inhibition_on_the_cells_it_replays(interference_quick):
    """The cortical inhibitory STDP, on only in sleep, builds inhibition on the cells a sleep replays
    (docs/experiments.md, "On the K* = 50 model, and with a dentate gyrus added to it"): after A's sleep
    A-only cells carry far more summed I -> E input than B-only cells (in no pattern yet); the sleep after
    B raises B-only cells' inhibition only when B is replayed (through the hippocampus), and interleaved
    training leaves B's own synapses weaker than B's training alone (B half as often)."""
    _, summary = interference_quick
    hpc, ctx = (summary["dynamics"][arm]["0.5"]["1"] for arm in ("hippocampus", "cortex"))
    inh_h, inh_c = hpc["ctx_inhibition"], ctx["ctx_inhibition"]
    assert inh_h["sleep_A"]["A-only"] > 1.5 * inh_h["sleep_A"]["B-only"]
    assert inh_h["sleep"]["B-only"] > inh_h["train_B"]["B-only"] + 50          # B replayed
    assert abs(inh_c["sleep"]["B-only"] - inh_c["train_B"]["B-only"]) < 20     # only A replayed
    assert inh_c["sleep"]["A-only"] > inh_c["train_B"]["A-only"] + 10
    w = ctx["weights"]
    assert w["train_interleaved"]["B-only<->B-only"] < w["train_B"]["B-only<->B-only"] - 0.5
    assert w["sleep_A"]["A-only<->A-only"] > 5 > 0.5 > w["sleep_A"]["B-only<->B-only"]


@pytest.mark.slow
def test_interference_quick_dentate_gyrus_keeps_A_and_B_apart_in_CA3_and_in_sleep(interference_quick):
    """models/cls_dg.toml (seed 1): B_j's CA3 assembly reuses 0.25 of A_j's cells (0.74 without the DG),
    and sleep builds 0.29 mV between A's and B's own cortical cells (2.7 mV without)."""
    _, summary = interference_quick
    hpc, dg = (summary["dynamics"][arm]["0.5"]["1"] for arm in ("hippocampus", "dentate"))
    assert dg["ca3_shared"] <= 0.3 < 0.5 <= hpc["ca3_shared"]
    assert dg["weights"]["sleep"]["A-only<->B-only"] < 1.5 < hpc["weights"]["sleep"]["A-only<->B-only"]


@pytest.mark.slow
def test_interference_quick_dentate_gyrus_costs_CA3_its_replay_events(interference_quick):
    """Why sleep is weak with the DG (docs/experiments.md; seed 1, measured from the run folders): its CA3
    assemblies fire at 14-19 Hz while encoding (31-52 Hz in cls_small.toml), learn 48-57 mV of input from their
    own assembly (112-119 mV), replay 1 event in the 10 s sleep_A (38), and < 1 % of the cortical pattern
    cells' spikes in that sleep fall in replay events (80 %)."""
    _, summary = interference_quick
    hpc, dg = (summary["dynamics"][arm]["0.5"]["1"] for arm in ("hippocampus", "dentate"))
    mean = lambda xs: sum(xs) / len(xs)    # noqa: E731
    assert mean(dg["ca3_rate_encoding"]) <= 25 < 30 <= mean(hpc["ca3_rate_encoding"])
    assert mean(dg["ca3_own_input"]["encode_A"][:3]) <= 80 < 100 <= mean(hpc["ca3_own_input"]["encode_A"][:3])
    assert sum(dg["replays_sleep_A"][:3]) <= 3 < 20 <= sum(hpc["replays_sleep_A"][:3])
    assert dg["ctx_spikes_in_events"]["sleep_A"] <= 0.1 < 0.5 <= hpc["ctx_spikes_in_events"]["sleep_A"]


@pytest.mark.slow
def test_interference_quick_dentate_arm_new_learning_costs_A_and_sleep_keeps_B(interference_quick):
    crit, _ = interference_quick
    assert _criterion(crit, "B without sleep costs A", DG_B)["met"]          # 0.41 (seed 1)
    assert _criterion(crit, "after sleep, B's", DG_B)["met"]                 # 0.95 (seed 1)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured 0.47 at quick size seed 1 (target 0.5); met over seeds 1-3 "
                                       "(0.54: 0.47 / 0.87 / 0.43) and at full size (0.54; 0.66 with 20 s "
                                       "sleeps over seeds 1-6); docs/experiments.md")
def test_interference_quick_sleep_undoes_half_the_damage_with_a_dentate_gyrus(interference_quick):
    crit, _ = interference_quick
    assert _criterion(crit, "forgetting reduction", DG_B)["met"]


@pytest.mark.slow
def test_interference_quick_sleep_ties_interleaving_with_a_dentate_gyrus(interference_quick):
    """models/cls_dg.toml (bistable cortical synapses): sleep and interleaved training end level on A + B
    (seed 1: +0.016; seeds 1-3 +0.002, full size -0.004, full size with 20 s sleeps -0.003 over seeds 1-6;
    -0.13 at seed 1 before the bistable rule), by different routes: sleep keeps B better (0.95 against
    0.87), interleaving repairs A better (0.70 against 0.64); docs/experiments.md."""
    crit, summary = interference_quick
    assert abs(_criterion(crit, "sleep - interleaved", DG_B)["value"]) <= 0.05
    run = summary["per_seed"]["dentate"]["0.5"]["1"]
    rec = {(cond, mem): run[cond][mem]["lesioned"] for cond in ("sleep", "interleaved") for mem in "AB"}
    assert rec["sleep", "B"] > rec["interleaved", "B"] + 0.03
    assert rec["interleaved", "A"] > rec["sleep", "A"] + 0.03


@pytest.mark.slow
def test_interference_quick_on_the_default_model_hippocampal_arm_meets_its_four_criteria(tmp_path):
    """The default model (models/cls.toml), B through its hippocampus, at the quick size with 30 s of wake
    and sleep (the full size's length): seed 1 measured 4 of 4 (docs/experiments.md, seeds 1-3: cost 0.659,
    forgetting reduction 0.857, B after sleep 0.893, sleep - interleaved +0.042; seed 1's +0.004 is the
    edge of that tie)."""
    mod = load_script("interference")
    out = tmp_path / "interference_default"
    assert mod.main(["--quick", "--seed", "1", "--out", str(out), "--jobs", "1", "--learn-b", "hippocampus",
                     "--sleep", "30", "--model", str(ROOT / "models" / "cls.toml")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_file"].endswith("cls.toml")
    failed = [c for c in summary["criteria"] if not c["met"]]
    assert len(summary["criteria"]) == 4 and not failed, failed


@pytest.mark.slow
def test_dentate_gyrus_gives_an_overlapping_pattern_its_own_CA3_cells(tmp_path):
    """models/cls_dg.toml: B_j shares half of A_j's cortical cells; its CA3 assembly reuses few of A_j's.

    Encoding only (no sleep), seed 1, 3 + 3 memories.  Measured: cls_small.toml 0.84 of A_j's CA3 cells
    reused; cls_dg.toml 0.31, assemblies of 21-28 cells (dentate codes share 0.20, against 0.5 in cortex).
    """
    mod = load_script("interference")
    plain = mod.ca3_separation(mod.QUICK_MODEL, 1, tmp_path / "plain")
    dg = mod.ca3_separation(mod.MODEL_DG, 1, tmp_path / "dg")
    assert "dg" not in plain and plain["ca3"]["mean_shared"] >= 0.6
    assert dg["dg"]["mean_shared"] <= 0.3                 # the expansion separates: 0.5 -> ~0.2
    assert dg["ca3"]["mean_shared"] <= 0.35
    assert min(dg["ca3"]["sizes"]) >= 8                   # every memory still gets a CA3 assembly


@pytest.mark.slow
def test_capacity_quick(tmp_path, capsys):
    summary, _ = run_quick("capacity", tmp_path, capsys)
    assert summary["model_file"].endswith("cls_small.toml")       # --quick without --model: the small model
    failed = [c for c in summary["criteria"] if not c["met"]]
    assert not failed, failed
    for p, by_k in summary["table"].items():
        assert set(by_k) == {"3", "6"}, by_k
        for v in by_k.values():          # what limits recall, per point: assembly sizes against recall
            assert 0 < v["small_assembly_cells"]["mean"] <= v["large_assembly_cells"]["mean"], v
            assert -1 <= v["size_recall_r"]["mean"] <= 1 and 0 <= v["small_assembly_recall"]["mean"] <= 1, v
    ideal = summary["theory"]["binary_kwta"]          # the architecture's ceiling, beside the spiking K*
    assert set(ideal["k_star"]) == {"0.25", "0.5"}
    assert ideal["k_star"]["0.25"] < ideal["k_star"]["0.5"]


@pytest.mark.slow
def test_interference_quick_dentate_sleep_spends_the_shared_cells_budget_outside_the_patterns(interference_quick):
    """Where a shared cell's output budget (ctx_norm, 350 mV) goes (seed 1, measured): the DG arm's sleep,
    which reinstates through single CA3 cells firing between events, puts 56 mV of it onto cells never in
    a pattern with the shared cell (140 mV before the bistable rule; its interleaved training 6 mV); the
    cortex arm's sleep puts 0 there."""
    _, summary = interference_quick
    ctx, dg = (summary["dynamics"][arm]["0.5"]["1"]["shared_output"] for arm in ("cortex", "dentate"))
    assert dg["sleep"]["never_together"] >= 50 > 20 >= dg["train_interleaved"]["never_together"]
    assert ctx["sleep"]["never_together"] <= 5 and ctx["sleep"]["together"] >= 300


@pytest.mark.slow
def test_dentate_gyrus_model_recalls_from_a_cue_through_the_perforant_path_at_gain_2(tmp_path):
    """models/cls_dg.toml's intact recalls drive CA3 through the perforant path at gain 2: it learned at
    gain 0.3 while the mossy fibres chose slow (~15 Hz) CA3 cells, and at gain 1 a 30 % cue leaves CA3
    silent.  Measured (seed 1, 10 memories, right after encoding): 0.88 at gain 2, 0.00 at gain 1 (CA3
    0.11 Hz); 0.98-0.99 at 2.5-3, where one assembly can lock in (models/README.md, "Variant:
    models/cls_dg.toml")."""
    from neuromem.experiment import run_experiment
    from neuromem.spec import compose
    from neuromem.spec.loader import load_model

    base = load_model(ROOT / "models" / "cls_dg.toml")
    rec = base.protocol.phase("recall_intact_after_encoding")
    assert dict(rec.gain) == {"ctx_hpc": 2.0}
    phases = (base.protocol.phase("encode"), rec,
              compose.phase_copy(rec, "recall_perforant_gain_1", gain={}, start_from="encode"))
    _, metrics, _ = run_experiment(compose.with_phases(base, phases), seed=1, out_dir=tmp_path,
                                   figures=False, progress=False, log=None)
    assert metrics["recall_intact_after_encoding"] >= 0.85
    assert metrics["recall_perforant_gain_1"] <= 0.1
    rates = metrics["rate_exc_hz"]["hpc_e"]
    assert rates["recall_perforant_gain_1"] < 0.5 < rates["recall_intact_after_encoding"]
