"""Broken run folders are refused cleanly; ``neuromem verify``; ``--out`` and stale partial folders.

One small run folder (a 40-neuron model, Brian2 numpy target, about 3 s) is
simulated once for the module; every case copies it, breaks one thing and
runs the command line in-process.  For each case: exit status 2, one line on
stderr that names the broken file, no traceback, nothing started (Lava is
never imported: its network builders are replaced by a tripwire).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neuromem.io as nio
from neuromem import cli
from neuromem.experiment import run_experiment
from neuromem.spec.loader import loads_model

REPO = Path(__file__).resolve().parents[1]
PHASE = "recall_half_cue"

TINY = (Path(__file__).resolve().parent / "data" / "tiny.toml").read_text(encoding="utf-8").replace("n_memories = 3", "n_memories = 2")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The module's run folder (never modified: cases break copies)."""
    _, _, folder = run_experiment(loads_model(TINY), seed=1, out_dir=tmp_path_factory.mktemp("pristine"),
                                  figures=False, progress=False, log=None, backend_options={"target": "numpy"})
    return Path(folder)


@pytest.fixture
def folder(pristine, tmp_path) -> Path:
    """A fresh copy of the module's run folder."""
    return Path(shutil.copytree(pristine, tmp_path / pristine.name))


@pytest.fixture
def no_lava(monkeypatch):
    """Fail the test, instead of running Lava, if an export gets as far as building a network."""
    import neuromem.export.lava as lava
    import neuromem.export.lava_learning as lava_learning

    def tripwire(*a, **k):
        raise AssertionError("the export went on to build a Lava network")

    monkeypatch.setattr(lava, "build_lava_network", tripwire)
    monkeypatch.setattr(lava_learning, "build_learning_network", tripwire)


# ---------------------------------------------------------------- ways to break a folder


def _truncate(f: Path):
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _empty(f: Path):
    f.write_bytes(b"")


def _garbage(f: Path):
    f.write_bytes(b"\x00\x13 this is not what it should be \xff" * 4)


def _flip_middle(f: Path):
    """Corrupt the compressed data of an .npz in place (the zip directory stays intact)."""
    data = bytearray(f.read_bytes())
    for k in range(40, min(len(data) - 200, 400)):
        data[k] ^= 0x5A
    f.write_bytes(bytes(data))


def _delete(f: Path):
    if f.is_dir():
        shutil.rmtree(f)
    else:
        f.unlink()


def _file_for_folder(f: Path):
    shutil.rmtree(f)
    f.write_text("not a folder\n")


def _folder_for_file(f: Path):
    f.unlink()
    f.mkdir()


def _edit_json(edit):
    def do(f: Path):
        res = json.loads(f.read_text())
        edit(res)
        f.write_text(json.dumps(res))
    return do


def _drop_npz_key(key):
    def do(f: Path):
        with np.load(f) as z:
            arrays = {k: z[k] for k in z.files if k != key}
        f.unlink()
        np.savez_compressed(f, **arrays)
    return do


def _shorten_npz_array(key):
    def do(f: Path):
        with np.load(f) as z:
            arrays = {k: z[k] for k in z.files}
        arrays[key] = arrays[key][:-1]
        f.unlink()
        np.savez_compressed(f, **arrays)
    return do


def _set(path, value):
    def edit(res):
        node = res
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return edit


def _delete_key(path):
    def edit(res):
        node = res
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return edit


R, M, P = "results.json", "model.toml", "patterns.npz"
SP, W, I = f"spikes/{PHASE}.npz", f"weights/{PHASE}.npz", f"initial/{PHASE}.npz"
SYN, W0, SP0 = "weights/synapses.npz", "weights/initial.npz", "spikes/encode.npz"

# (case id, file broken (relative; also what the message must name), how, text in the message)
CASES = [
    ("results missing", R, _delete, "missing"),
    ("results empty", R, _empty, "invalid JSON"),
    ("results truncated", R, _truncate, "invalid JSON"),
    ("results garbage", R, _garbage, "not UTF-8"),
    ("results a list", R, lambda f: f.write_text("[1, 2]"), "expected a JSON object"),
    ("results without phases", R, _edit_json(_delete_key(["phases"])), "no key 'phases'"),
    ("phases not a list", R, _edit_json(_set(["phases"], "encode")), "'phases' must be a list"),
    ("phase without name", R, _edit_json(_delete_key(["phases", 1, "name"])), "has no key 'name'"),
    ("phase duration a string", R, _edit_json(_set(["phases", 1, "duration"], "1 s")), "duration must be"),
    ("phase items malformed", R, _edit_json(_set(["phases", 1, "items"], [[0, 1.0]])), "items"),
    ("seed a string", R, _edit_json(_set(["seed"], "1")), "'seed' must be an integer"),
    ("wall times a list", R, _edit_json(_set(["wall_time_s"], [])), "'wall_time_s' must be an object"),
    ("results a folder", R, _folder_for_file, "is a folder where a file is expected"),
    ("model missing", M, _delete, "missing"),
    ("model garbage", M, _garbage, ""),
    ("patterns missing", P, _delete, "missing"),
    ("patterns truncated", P, _truncate, "not a readable .npz"),
    ("patterns not an npz", P, _garbage, "not a readable .npz"),
    ("patterns without cue masks", P, _drop_npz_key("cue_0.5"), "cue_0.5"),
    ("spikes missing", SP, _delete, "missing"),
    ("spikes truncated", SP, _truncate, "not a readable .npz"),
    ("spikes empty file", SP, _empty, "not a readable .npz"),
    ("spikes corrupted inside", SP, _flip_middle, "not a readable .npz"),
    ("spikes without times", SP, _drop_npz_key("ctx_e_t"), "ctx_e_t"),
    ("spikes of another phase missing", SP0, _delete, "missing"),
    ("spikes folder is a file", "spikes", _file_for_folder, "is a file where a folder is expected"),
    ("synapses missing", SYN, _delete, "missing"),
    ("synapses truncated", SYN, _truncate, "not a readable .npz"),
    ("synapses without post indices", SYN, _drop_npz_key("ctx_ee_j"), "ctx_ee_j"),
    ("initial weights missing", W0, _delete, "missing"),
    ("phase weights missing", W, _delete, "missing"),
    ("phase weights truncated", W, _truncate, "not a readable .npz"),
    ("phase weights without a projection", W, _drop_npz_key("ctx_ee"), "projections"),
    ("phase weights too short", W, _shorten_npz_array("ctx_ee"), "weights for"),
    ("weights folder is a file", "weights", _file_for_folder, "is a file where a folder is expected"),
    ("start state truncated", I, _truncate, "not a readable .npz"),
    ("initial folder is a file", "initial", _file_for_folder, "is a file where a folder is expected"),
]


def _one_error_line(capsys, code) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert code == 2, (code, cap.err, cap.out)
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("error: ") and "Traceback" not in cap.err
    return lines[0]


@pytest.mark.parametrize("command", ["nir", "lava"])
@pytest.mark.parametrize("case, rel, breaker, text", CASES, ids=[c[0] for c in CASES])
def test_broken_run_folder_is_refused(folder, tmp_path, capsys, no_lava, command, case, rel, breaker, text):
    breaker(folder / rel)
    out = tmp_path / ("model.nir" if command == "nir" else "lava_out")
    code = cli.main(["export", command, str(folder), "--phase", PHASE, "--out", str(out)])
    line = _one_error_line(capsys, code)
    assert str(folder / rel) in line and text in line, line
    assert not out.exists()


def test_the_cases_start_from_a_good_folder(pristine, tmp_path, capsys):
    # the untouched folder passes every check the cases trip
    rf = nio.check_run_folder(pristine, [PHASE, "encode"])
    assert [p["name"] for p in rf["phases"]] == ["encode", PHASE]
    assert cli.main(["export", "nir", str(pristine), "--phase", PHASE, "--out", str(tmp_path / "m.nir")]) == 0
    assert cli.main(["verify", str(pristine)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv, rel, text", [
    (["export", "nir", "{run}", "--phase", "nope"], R, "no phase 'nope' (phases: encode, recall_half_cue)"),
    (["export", "lava", "{run}", "--phase", "nope"], R, "no phase 'nope'"),
    (["export", "lava", "{run}", "--phase", "encode", "--then", "nope"], R, "no phase 'nope'"),
    (["export", "lava", "{run}/missing", "--phase", PHASE], "missing", "missing"),
    (["export", "nir", "{run}/model.toml", "--phase", PHASE], M, "is a file, expected a run folder"),
    (["verify", "{run}/missing"], "missing", "missing"),
    (["export", "lava", "{run}", "--phase", PHASE, "--out", "{run}/model.toml"], M, "is a file, not a folder"),
    (["export", "lava", "{run}", "--phase", PHASE, "--out", "{run}/model.toml/x"], M, "is a file, so the output"),
    (["export", "nir", "{run}", "--phase", PHASE, "--out", "{run}/spikes"], "spikes", "is a folder; --out names"),
    (["export", "nir", "{run}", "--phase", PHASE, "--out", "{run}/model.toml/x.nir"], M, "is a file, not a folder"),
])
def test_unknown_phase_bad_run_dir_and_bad_out(folder, capsys, no_lava, argv, rel, text):
    code = cli.main([a.format(run=folder) for a in argv])
    line = _one_error_line(capsys, code)
    assert str(folder / rel) in line and text in line, line


def test_python_api_raises_run_folder_error(folder):
    (folder / SP).write_bytes(b"")
    with pytest.raises(nio.RunFolderError, match="not a readable .npz") as info:
        nio.load_spikes(folder, PHASE)
    assert info.value.path == folder / SP
    with pytest.raises(nio.UnknownPhaseError) as info:
        nio.read_run(folder).phase("nope")
    assert isinstance(info.value, KeyError) and str(info.value).endswith("no phase 'nope' (phases: encode, "
                                                                          "recall_half_cue)")
    from neuromem.export.lava import load_frozen_network
    with pytest.raises(nio.RunFolderError, match="not a readable .npz"):
        load_frozen_network(folder, PHASE)


def test_one_case_in_a_fresh_interpreter(folder):
    """The real stderr of ``python -m neuromem``: one line, no traceback."""
    _truncate(folder / SYN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "neuromem", "export", "nir", str(folder), "--phase", PHASE],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {folder / SYN}: not a readable .npz")


# ---------------------------------------------------------------- export lava: start state


def test_export_lava_refuses_without_start_state(folder, tmp_path, capsys, no_lava):
    (folder / I).unlink()
    code = cli.main(["export", "lava", str(folder), "--phase", PHASE, "--out", str(tmp_path / "o")])
    line = _one_error_line(capsys, code)
    assert str(folder / I) in line and "missing" in line and "--from-rest" in line
    # the learning export (a plastic phase) too
    (folder / "initial" / "encode.npz").unlink()
    code = cli.main(["export", "lava", str(folder), "--phase", "encode", "--out", str(tmp_path / "o")])
    line = _one_error_line(capsys, code)
    assert str(folder / "initial" / "encode.npz") in line and "--from-rest" in line
    assert not (tmp_path / "o").exists()


def test_export_lava_from_rest_is_said_and_reaches_the_export(folder, tmp_path, capsys, monkeypatch):
    import neuromem.export.lava as lava

    seen = {}

    def fake_run_lava(run_dir, **kw):
        seen.update(kw)
        raise KeyboardInterrupt  # stop here: the flag reached the exporter

    monkeypatch.setattr(lava, "run_lava", fake_run_lava)
    (folder / I).unlink()
    code = cli.main(["export", "lava", str(folder), "--phase", PHASE, "--from-rest", "--mode", "fixed",
                     "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 130 and seen["from_rest"] is True
    assert "warning: --from-rest: Lava starts phase 'recall_half_cue' from rest" in err
    # and the exporter records it: refuses without it, starts from rest with it
    monkeypatch.undo()
    frozen = lava.load_frozen_network(folder, PHASE)
    assert frozen.initial_state is None
    with pytest.raises(nio.RunFolderError, match="initial/recall_half_cue.npz: missing"):
        lava.start_state(frozen, folder, PHASE, from_rest=False)
    assert lava.start_state(lava.load_frozen_network(folder, "encode"), folder, "encode",
                             from_rest=True).initial_state is None
    assert cli.main(["export", "nir", str(folder), "--phase", PHASE, "--from-rest"]) == 2
    assert "--from-rest applies to `export lava` only" in capsys.readouterr().err


def test_export_lava_fixed_defaults_to_emulated_refractoriness(folder, tmp_path, capsys, monkeypatch):
    import neuromem.export.lava as lava

    seen = {}
    monkeypatch.setattr(lava, "run_lava", lambda run_dir, **kw: seen.update(kw) or (_ for _ in ()).throw(
        KeyboardInterrupt))
    cli.main(["export", "lava", str(folder), "--phase", PHASE, "--mode", "fixed", "--out", str(tmp_path / "o")])
    assert seen["refractory"] == "emulate" and seen["from_rest"] is False
    cli.main(["export", "lava", str(folder), "--phase", PHASE, "--mode", "fixed", "--refractory", "ignore",
              "--out", str(tmp_path / "o")])
    assert seen["refractory"] == "ignore"
    capsys.readouterr()


def test_rate_warning_above_three_percent(capsys):
    by_pop = {"ctx_e": {"rate_hz": 10.4, "rate_reference_hz": 10.0, "rate_relative_error": 0.04},
              "ctx_i": {"rate_hz": 10.2, "rate_reference_hz": 10.0, "rate_relative_error": 0.02},
              "ca3": {"rate_hz": 9.6, "rate_reference_hz": 10.0, "rate_relative_error": -0.04}}
    lines = cli.warn_rates(by_pop, "lava fixed recall")
    err = capsys.readouterr().err
    assert err.splitlines() == lines and len(lines) == 2
    assert lines[0] == ("warning: lava fixed recall: ctx_e fires at 10.4 Hz, Brian2 at 10 Hz (+4.0%; more than "
                        "the 3% target)")
    assert "ca3" in lines[1] and "-4.0%" in lines[1]
    assert cli.warn_rates({"x": {"rate_hz": 1, "rate_reference_hz": 1, "rate_relative_error": 0.0}}, "w") == []


# ---------------------------------------------------------------- verify


def test_verify_intact_and_broken(folder, capsys):
    res = json.loads((folder / R).read_text())
    files = res["files"]
    assert set(files) == {str(p.relative_to(folder).as_posix()) for p in folder.rglob("*")
                          if p.is_file() and p.name != R}
    assert cli.main(["verify", str(folder)]) == 0
    assert capsys.readouterr().out == f"ok {len(files)} files\n"
    # an export's output in the folder is not a change
    (folder / "lava_results.json").write_text("{}")
    assert cli.main(["verify", str(folder)]) == 0
    assert "not recorded: export outputs lava_results.json" in capsys.readouterr().out
    # one change, one missing file, one extra file
    with open(folder / M, "a") as fh:
        fh.write("# edited\n")
    (folder / SP0).unlink()
    (folder / "spikes" / "stray.npz").write_bytes(b"x")
    assert cli.main(["verify", str(folder)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [f"missing: {SP0}", f"changed: {M}", "extra: spikes/stray.npz"]
    assert err[3] == (f"error: {folder}: does not match the checksums in results.json (1 missing, 1 changed, "
                      f"1 extra of {len(files)} recorded files)")
    # a results.json without checksums (an older run folder)
    res.pop("files")
    (folder / R).write_text(json.dumps(res))
    line = _one_error_line(capsys, cli.main(["verify", str(folder)]))
    assert str(folder / R) in line and "records no file checksums" in line


# ---------------------------------------------------------------- run --out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_run_refuses_a_bad_out_before_simulating(tiny_model, tmp_path, capsys, monkeypatch):
    import neuromem.experiment as experiment

    def tripwire(*a, **k):
        raise AssertionError("simulated although --out is unusable")

    monkeypatch.setattr(experiment, "run_experiment", tripwire)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, text in ((a_file, f"{a_file}: is a file, not a folder"),
                      (a_file / "sub" / "runs", f"{a_file}: is a file, so the output folder {a_file}/sub/runs "
                                                f"cannot be created under it")):
        line = _one_error_line(capsys, cli.main(["run", str(tiny_model), "--out", str(out), "--quiet"]))
        assert line == f"error: {text}"
    # not writable (simulated: the tests may run as root, who can write anywhere)
    real = nio.outdir.tempfile.mkdtemp

    def refuse(*a, dir=None, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(nio.outdir.tempfile, "mkdtemp", refuse)
    line = _one_error_line(capsys, cli.main(["run", str(tiny_model), "--out", str(tmp_path / "new" / "runs"),
                                              "--quiet"]))
    assert line == (f"error: {tmp_path}: is not writable (the output folder {tmp_path}/new/runs would be "
                    f"created in it): Permission denied")
    monkeypatch.setattr(nio.outdir.tempfile, "mkdtemp", real)
    assert not (tmp_path / "new").exists()
    # a good one passes and is not created by the check
    assert nio.check_out_dir(tmp_path / "new" / "runs") == tmp_path / "new" / "runs"
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == [a_file]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_partials_are_reported_and_removed(tmp_path, capsys):
    out = tmp_path / "runs"
    out.mkdir()
    dead, live, old, fresh, resumable = (out / f".{n}.partial" for n in ("dead", "live", "old", "fresh", "resume"))
    for f in (dead, live, old, fresh, resumable):
        f.mkdir()
        (f / "model.toml").write_text("x")
    nio.claim_partial(live)                                           # this process: alive
    for f in (dead, resumable):
        (f / nio.WRITER_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename,
                                                     "start": None}))
    (resumable / "checkpoint").mkdir()
    (resumable / "checkpoint" / "run.json").write_text("{}")
    os.utime(old, (time.time() - 3600, time.time() - 3600))          # no writer file, untouched for an hour
    assert nio.stale_partials(out) == sorted([dead, old, resumable])
    lines = []
    done = nio.clean_stale_partials(out, log=lines.append)
    assert done == {"removed": [dead, old], "resumable": [resumable]}
    assert sorted(p.name for p in out.iterdir()) == [".fresh.partial", ".live.partial", ".resume.partial"]
    assert lines[0] == f"removed {dead}: the partial folder of a run that was killed before it finished"
    assert f"{resumable} is an interrupted run's partial folder; it was kept" in lines[2]
    # a PID reused by another process is not the writer
    (live / nio.WRITER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                                    "start": -1}))
    assert nio.stale_partials(out) == [live, resumable]


def test_run_cleans_stale_partials_and_writes_no_writer_file(tiny_model, tmp_path, capsys):
    out = tmp_path / "runs"
    out.mkdir()
    stale = out / ".tiny-20000101-000000-seed1.partial"
    (stale / "spikes").mkdir(parents=True)
    (stale / nio.WRITER_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename}))
    code = cli.main(["run", str(tiny_model), "--out", str(out), "--quiet", "--no-figures", "--target", "numpy",
                     "--seed", "1"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert f"removed {stale}: the partial folder of a run that was killed" in cap.err
    (done,) = list(out.iterdir())
    assert not done.name.startswith(".") and not (done / nio.WRITER_FILE).exists()
    assert cli.main(["verify", str(done)]) == 0


# ---------------------------------------------------------------- SIGTERM


def test_sigterm_while_writing_is_handled_like_sigint(tiny_model, tmp_path, capsys, monkeypatch):
    """SIGTERM arriving while the run folder is written: the interrupt path, exit 143, no finished folder."""
    real = nio.file_checksums
    leftovers = {}
    # Brian2 wraps the SIGINT handler it finds at import; in a pytest-xdist worker that is
    # SIG_IGN/SIG_DFL (not callable), so SIGINT would crash inside Brian2's wrapper. Give this
    # test the handler an interactive process has.
    import brian2  # noqa: F401  (installs its SIGINT wrapper now, not in the middle of the test)

    handler = signal.getsignal(signal.SIGINT)
    if hasattr(handler, "previous_handler") and not callable(handler.previous_handler):
        monkeypatch.setattr(handler, "previous_handler", signal.default_int_handler)
    for sig, code, word in ((signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")):
        def interrupted_while_writing(folder, sig=sig):
            os.kill(os.getpid(), sig)
            return real(folder)

        monkeypatch.setattr(nio.write, "file_checksums", interrupted_while_writing)
        out = tmp_path / word
        assert cli.main(["run", str(tiny_model), "--out", str(out), "--quiet", "--no-figures",
                         "--target", "numpy"]) == code
        assert capsys.readouterr().err.strip().splitlines()[-1] == word
        left = list(out.iterdir())
        assert all(f.name.startswith(".") and f.name.endswith(".partial") for f in left)   # nothing looks done
        assert not any((f / "results.json").exists() for f in left)
        leftovers[word] = sorted(str(p.relative_to(f)) for f in left for p in f.rglob("*"))
    assert leftovers["terminated"] == leftovers["interrupted"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_to_a_running_process(tiny_model, tmp_path):
    """``python -m neuromem run`` stopped by SIGTERM mid-run (as a job scheduler does)."""
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, "-u", "-m", "neuromem", "run", str(tiny_model), "--out", str(out),
                          "--no-figures", "--target", "numpy", "--set", "protocol.phases.encode.duration=60 s"],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not any(out.glob(".*.partial/weights/synapses.npz")):   # the first phase is being simulated
            assert p.poll() is None and time.time() < deadline, p.stderr.read()[-2000:]
            time.sleep(0.1)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM, err[-2000:]
    # (after the phase's progress bar, and Brian2 may warn after it)
    assert re.search(r"terminated$", err, re.M) and "Traceback" not in err
    assert list(out.iterdir()) == []          # no phase completed: nothing to resume, nothing left


# ---------------------------------------------------------------- Lava: progress, --from-rest (runs Lava)


def test_lava_progress_off_and_on_a_terminal():
    import io

    log = io.StringIO()
    p = cli.LavaProgress(log)
    p("build")
    p("run encode", total=600, done=0)
    p("run encode", total=600, done=300)
    p.close()
    p.close()                                   # idempotent
    lines = log.getvalue().splitlines()
    assert [line.rsplit(" ", 2)[0] for line in lines] == ["lava: build", "lava: run encode (600 steps)"]
    assert all(line.endswith(" s") for line in lines) and p.lines == lines

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    p = cli.LavaProgress(term)
    p("compile")
    p("run sleep", total=100, done=0)
    p("run sleep", total=100, done=40)
    p.close()
    text = term.getvalue()
    assert "lava: compile: " in text and "lava: run sleep: " in text and "40/100" in text and p.lines == []


def _neuromem(*argv, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "neuromem", *map(str, argv)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.lava
def test_lava_exports_show_progress_and_record_from_rest(folder, tmp_path):
    pytest.importorskip("lava")
    # a plastic phase (learning on Lava, then the recall): progress per phase run on Lava
    r = _neuromem("export", "lava", folder, "--phase", "encode", "--out", tmp_path / "learn")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [line.rsplit(" ", 2)[0] for line in r.stderr.splitlines() if line.startswith("lava: ")]
    assert steps == ["lava: build", "lava: compile", "lava: run encode (600 steps)",
                     "lava: run recall_half_cue (600 steps)", "lava: compare with Brian2"]
    assert json.loads((tmp_path / "learn" / "lava_encode_results.json").read_text())["from_rest"] is False
    # a frozen phase without its start state, from rest on request: said on stderr and recorded
    (folder / I).unlink()
    r = _neuromem("export", "lava", folder, "--phase", PHASE, "--from-rest", "--out", tmp_path / "rest")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "warning: --from-rest: Lava starts phase 'recall_half_cue' from rest" in r.stderr
    assert re.search(r"^lava: run \(600 steps\) [0-9.]+ s$", r.stderr, re.M)
    res = json.loads((tmp_path / "rest" / "lava_results.json").read_text())
    assert res["from_rest"] is True and res["initial_state"] == "rest" and "initial_state_note" in res
