"""Checkpoint and resume: a run killed after a phase continues to the same result.

A 50-neuron model (excitatory and inhibitory cells; delayed recurrent STDP
with a periodic normalisation, inhibitory STDP, as in the default model) runs
four phases
(``encode``, ``recall_a``, ``rest`` branching back to the end of ``encode``,
``recall_b``).  It is stopped twice: with SIGKILL once ``recall_a`` has been
checkpointed (the continuation needs ``encode``'s stored state), and with
SIGTERM once ``rest`` has (it continues from the last completed phase); it is
resumed each time and compared array by array with an uninterrupted run of the
same seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neuromem import cli
from neuromem.experiment import run_experiment
from neuromem.io import CHECKPOINT_DIR, ResumeError, RunCheckpoint

REPO = Path(__file__).resolve().parents[1]

MODEL = '''\
name = "resume"
dt = "0.5 ms"

[populations.ctx_e]
size = 40
kind = "excitatory"
tau_m = "20 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-65 mV"
v_th = "-50 mV"
refractory = "5 ms"

[populations.ctx_i]
size = 10
kind = "inhibitory"
tau_m = "10 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-65 mV"
v_th = "-50 mV"
refractory = "1 ms"

[sources.ctx_in]
size = 40

[rules.stdp]
type = "pair_stdp"
window = "symmetric"
tau_pre = "20 ms"
tau_post = "20 ms"
a_plus = "0.5 mV"
a_minus = "0.5 mV"
c_pre = "0.05 mV"
w_max = "4 mV"

[rules.incap]
type = "normalisation"
total = "30 mV"
interval = "10 ms"
direction = "incoming"

[rules.istdp]
type = "vogels_istdp"
tau = "20 ms"
eta = "0.2 mV"
rho0 = "5 Hz"
w_max = "10 mV"

[projections.ctx_in_e]
source = "ctx_in"
target = "ctx_e"
connector = { kind = "one_to_one" }
weight = { kind = "constant", value = "30 mV" }

[projections.ctx_ee]
source = "ctx_e"
target = "ctx_e"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "uniform", low = "0.5 mV", high = "2 mV" }
delay = "3 ms"
plasticity = ["stdp", "incap"]

[projections.ctx_ei]
source = "ctx_e"
target = "ctx_i"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "8 mV" }
delay = "1 ms"

[projections.ctx_ie]
source = "ctx_i"
target = "ctx_e"
connector = { kind = "fixed_probability", p = 0.5 }
weight = { kind = "constant", value = "2 mV" }
sign = "inhibitory"
delay = "2 ms"
plasticity = ["istdp"]

[protocol]
n_memories = 3
pattern_population = "ctx_e"
coding_level = 0.2

[[protocol.phases]]
name = "encode"
kind = "encode"
plastic = { ctx_ee = 1.0, ctx_ie = 1.0 }
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"

[[protocol.phases]]
name = "recall_a"
kind = "recall"
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"
fraction = 0.5

[[protocol.phases]]
name = "rest"
kind = "sleep"
start_from = "encode"
duration = "2 s"
plastic = { ctx_ee = 0.5, ctx_ie = 1.0 }
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "noise"
rate = "150 Hz"

[[protocol.phases]]
name = "recall_b"
kind = "recall"
record_state = ["ctx_e"]
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "patterns"
rate = "300 Hz"
background = "5 Hz"
item = "100 ms"
gap = "50 ms"
fraction = 0.5
'''

SEED = 7


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "resume.toml"
    path.write_text(MODEL, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(model_file, tmp_path_factory):
    """An uninterrupted run of the same seed (in process): ``(run, metrics, folder)``."""
    out = tmp_path_factory.mktemp("reference")
    return run_experiment(model_file, seed=SEED, out_dir=out, figures=False, progress=False, log=None)


def _start(*argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "neuromem", "run", *map(str, argv)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when_done(proc: subprocess.Popen, marker_glob: str, out: Path, timeout: float = 120,
                    sig=signal.SIGKILL) -> Path:
    """Send ``sig`` to ``proc`` as soon as a file matching ``out/marker_glob`` exists; the partial folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = list(out.glob(marker_glob))
        if hits:
            proc.send_signal(sig)
            proc.wait(timeout=60)
            return hits[0].parents[2]
        if proc.poll() is not None:
            out_, err = proc.communicate()
            pytest.fail(f"the run ended before {marker_glob} appeared (status {proc.returncode}):\n{out_}\n{err}")
        time.sleep(0.002)
    proc.kill()
    pytest.fail(f"{marker_glob} did not appear within {timeout} s")


def _completed(partial: Path) -> set:
    return {p.stem for p in (partial / CHECKPOINT_DIR / "phases").glob("*.json")}


def _arrays(folder: Path) -> dict:
    """Every array of every .npz in a run folder, keyed by relative path and name."""
    out = {}
    for f in sorted(folder.rglob("*.npz")):
        with np.load(f) as z:
            for k in z.files:
                out[f"{f.relative_to(folder)}:{k}"] = z[k]
    return out


def test_killed_run_resumes_to_the_uninterrupted_result(model_file, reference, tmp_path):
    ref_run, ref_metrics, ref_folder = reference
    out = tmp_path / "out"
    base = [model_file, "--seed", SEED, "--out", out, "--quiet", "--no-figures"]

    # killed once recall_a is complete: rest must start from encode's stored state
    partial = _kill_when_done(_start(*base), f".*.partial/{CHECKPOINT_DIR}/phases/recall_a.json", out)
    assert partial.name.startswith(".resume-") and partial.name.endswith(".partial")
    assert _completed(partial) == {"encode", "recall_a"}
    # encode's end state is kept (rest starts from it); recall_a's is not needed by any later phase
    assert (partial / CHECKPOINT_DIR / "encode.brian2").is_file()
    assert not (partial / CHECKPOINT_DIR / "recall_a.brian2").exists()
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]

    # resumed, and stopped again with SIGTERM (what job schedulers send) once rest is complete:
    # the run says how to continue it, and recall_b continues from the end of rest
    proc = _start(*base, "--resume", partial)
    again = _kill_when_done(proc, f".*.partial/{CHECKPOINT_DIR}/phases/rest.json", out, sig=signal.SIGTERM)
    assert again == partial
    assert proc.returncode == 128 + signal.SIGTERM
    err = proc.stderr.read()
    assert "terminated" in err and f"--resume {partial}" in err and f"--seed {SEED}" in err
    assert _completed(partial) == {"encode", "recall_a", "rest"}
    assert (partial / CHECKPOINT_DIR / "rest.brian2").is_file()

    # resumed to the end
    proc = _start(*base, "--resume", partial)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    folder = Path(stdout.strip().splitlines()[-1].split("results: ", 1)[1])
    assert folder == out / partial.name[1:-len(".partial")] and folder.is_dir()
    assert not partial.exists() and not (folder / CHECKPOINT_DIR).exists()
    assert cli.main(["verify", str(folder)]) == 0     # the checksums recorded cover what is there

    res = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    ref_res = json.loads((ref_folder / "results.json").read_text(encoding="utf-8"))
    assert res["metrics"] == ref_res["metrics"] == json.loads(json.dumps(ref_metrics))
    assert res["phases"] == ref_res["phases"]
    assert res["seed"] == SEED
    assert res["resumed_after"] == ["encode", "recall_a", "rest"] and "resumed_after" not in ref_res
    assert (folder / "model.toml").read_text() == (ref_folder / "model.toml").read_text()
    # the same files, and every array identical: spikes, weights, initial and recorded state
    got, want = _arrays(folder), _arrays(ref_folder)
    assert sorted(got) == sorted(want)
    assert any(k.startswith("state/recall_b") for k in got)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    # the run is not trivial: spikes in every phase and weights changed by each plastic phase
    for ph in ref_run.phases:
        assert ph.spikes["ctx_e"].i.size > 50, ph.name
    assert not np.array_equal(ref_run.phase("encode").weights["ctx_ee"], ref_run.initial_weights["ctx_ee"])
    for proj in ("ctx_ee", "ctx_ie"):
        assert not np.array_equal(ref_run.phase("rest").weights[proj], ref_run.phase("encode").weights[proj])
    assert ref_run.phase("rest").spikes["ctx_i"].i.size > 50


class _Recorder(RunCheckpoint):
    """A checkpoint that notes which network state files exist whenever a phase ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def on_phase_end(self, record, state_path):
        super().on_phase_end(record, state_path)
        files = sorted(p.name for p in (self.folder / CHECKPOINT_DIR).glob("*.brian2"))
        self.seen.append((record.name, None if state_path is None else Path(state_path).name, files))


def test_network_states_are_kept_while_a_later_phase_starts_from_them(reference, tmp_path):
    from neuromem.backends.brian2 import Brian2Options, simulate

    model = reference[0].model
    ckpt = RunCheckpoint.create(tmp_path, model.name, "text", SEED)
    rec = _Recorder(ckpt.folder, ckpt.identity)
    simulate(model, SEED, Brian2Options(progress=False), checkpoint=rec)
    # encode: origin of recall_a (next) and of rest (start_from); recall_a: no later phase starts from it;
    # rest: origin of recall_b; a state is removed after the first phase end at which nothing needs it
    assert rec.seen == [
        ("encode", "encode.brian2", ["encode.brian2"]),
        ("recall_a", None, ["encode.brian2"]),
        ("rest", "rest.brian2", ["encode.brian2", "rest.brian2"]),
        ("recall_b", None, ["rest.brian2"]),
    ]
    assert not list((ckpt.folder / CHECKPOINT_DIR).glob("*.brian2*"))
    assert [r.name for r in RunCheckpoint.open(ckpt.folder).completed] == ["encode", "recall_a", "rest", "recall_b"]


def test_checkpointed_run_equals_a_run_without_checkpoint(reference):
    """Writing phase by phase does not change the simulation (plain ``simulate``, no files)."""
    from neuromem.backends.brian2 import Brian2Options, simulate

    ref_run = reference[0]
    plain = simulate(ref_run.model, SEED, Brian2Options(progress=False))
    assert [p.name for p in plain.phases] == [p.name for p in ref_run.phases]
    for p, q in zip(plain.phases, ref_run.phases):
        for pop in p.spikes:
            np.testing.assert_array_equal(p.spikes[pop].i, q.spikes[pop].i)
            np.testing.assert_array_equal(p.spikes[pop].t, q.spikes[pop].t)
        for k in p.weights:
            np.testing.assert_array_equal(p.weights[k], q.weights[k])


def test_resume_refuses_another_run(model_file, tmp_path, capsys):
    # a folder that is not a checkpoint
    plain = tmp_path / "plain"
    plain.mkdir()
    assert cli.main(["run", str(model_file), "--resume", str(plain)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot resume: ") and "not the partial folder" in err
    assert cli.main(["run", str(model_file), "--resume", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err

    # a checkpoint of another model text, seed and overrides
    from neuromem.spec.loader import dumps_model, load_model

    text = dumps_model(load_model(model_file))
    ckpt = RunCheckpoint.create(tmp_path, "resume", text, 1, ["protocol.n_memories=2"])
    argv = ["run", str(model_file), "--resume", str(ckpt.folder)]
    assert cli.main(argv + ["--seed", "2"]) == 2
    err = capsys.readouterr().err
    assert "is a different run" in err and "seed 2 (started with 1)" in err and "overrides [] " in err
    assert "the model" not in err
    assert cli.main(argv + ["--seed", "1", "--set", "protocol.n_memories=2"]) == 2
    err = capsys.readouterr().err
    assert "the model" in err and "seed" not in err.split("different run:")[1]
    assert ckpt.folder.is_dir()   # refusing leaves the checkpoint as it was

    # a checkpoint that a running process writes
    code = f"from neuromem.io import claim_partial; claim_partial({str(ckpt.folder)!r}); print('ok', flush=True); " \
           "import time; time.sleep(60)"
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ok"
        with pytest.raises(ResumeError, match="another running process is writing it"):
            RunCheckpoint.open(ckpt.folder)
    finally:
        writer.kill()
        writer.wait()
    assert RunCheckpoint.open(ckpt.folder).completed == []

    # a completed phase whose arrays are broken is named
    (ckpt.folder / CHECKPOINT_DIR / "phases" / "encode.json").write_text(json.dumps(
        {"index": 0, "name": "encode", "kind": "encode", "duration": 0.45, "cue_fraction": 1.0,
         "silenced": [], "items": [], "wall_time": 0.0, "network_state": None}))
    with pytest.raises(ResumeError, match="phase 'encode' cannot be read back"):
        RunCheckpoint.open(ckpt.folder)


def test_a_failed_run_keeps_its_completed_phases_only(model_file, tmp_path, monkeypatch, capsys):
    """A run that fails after a phase keeps its partial folder (and says how to resume); before, removes it."""
    import neuromem.backends.brian2 as backend

    real = backend.simulate

    def fails_at_start(model, seed, options=None, phases=None, log=None, checkpoint=None):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(backend, "simulate", fails_at_start)
    with pytest.raises(RuntimeError, match="no compiler"):
        run_experiment(model_file, seed=SEED, out_dir=tmp_path / "a", figures=False, progress=False, log=None)
    assert list((tmp_path / "a").iterdir()) == []

    class Disk(Exception):
        pass

    def fails_after_encode(model, seed, options=None, phases=None, log=None, checkpoint=None):
        hook = checkpoint.on_phase_end

        def on_phase_end(record, state_path):
            if checkpoint.completed:
                raise Disk("disk full")
            hook(record, state_path)

        checkpoint.on_phase_end = on_phase_end
        return real(model, seed, options, phases, log, checkpoint=checkpoint)

    monkeypatch.setattr(backend, "simulate", fails_after_encode)
    with pytest.raises(Disk):
        run_experiment(model_file, seed=SEED, out_dir=tmp_path / "b", figures=False, progress=False, log=None)
    (partial,) = (tmp_path / "b").iterdir()
    assert partial.name.endswith(".partial") and _completed(partial) == {"encode"}
    err = capsys.readouterr().err
    assert "stopped after 1 completed phase(s)" in err
    assert f"neuromem run {model_file} --resume {partial} --seed {SEED}" in err
    assert [r.name for r in RunCheckpoint.open(partial).completed] == ["encode"]

    # without the state its next phase starts from, it is refused before anything is simulated
    (partial / CHECKPOINT_DIR / "encode.brian2").unlink()
    monkeypatch.setattr(backend, "simulate", fails_at_start)
    assert cli.main(["run", str(model_file), "--seed", str(SEED), "--resume", str(partial)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot resume: ") and "encode.brian2: missing; phase 'recall_a'" in err
