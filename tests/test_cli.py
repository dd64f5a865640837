"""The ``neuromem`` command line and :mod:`neuromem.experiment`, on a 40-neuron model.

The commands run in-process through :func:`neuromem.cli.main` (fast); one
subprocess checks the ``python -m neuromem`` entry point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neuromem import cli
from neuromem._compat import lava311
from neuromem.experiment import run_experiment, summary_lines
from neuromem.spec.loader import loads_model

REPO = Path(__file__).resolve().parents[1]

TINY = (Path(__file__).resolve().parent / "data" / "tiny.toml").read_text(encoding="utf-8")


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture
def malformed(tmp_path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace('tau_m = "20 ms"', "tau_m = 20"), encoding="utf-8")
    return path


# ---------------------------------------------------------------- validate


def test_validate_good_model(tiny, capsys):
    assert cli.main(["validate", str(tiny)]) == 0
    out = capsys.readouterr().out
    first, *estimate = out.strip().splitlines()
    assert first == "OK: tiny: 1 populations, 2 projections, 2 phases, n_memories=3"
    assert estimate[0].startswith("estimated memory: ") and "time steps" in estimate[1]   # the resource estimate
    assert cli.main(["validate", str(tiny), "--set", "protocol.n_memories=2"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[0].endswith("n_memories=2")


def test_validate_malformed_model(malformed, tmp_path, capsys):
    assert cli.main(["validate", str(malformed)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("error: ")
    assert str(malformed) in cap.err and "populations.ctx_e.tau_m" in cap.err
    assert 'expected a time with a unit such as "20 ms", got 20' in cap.err


def test_validate_bad_override_and_missing_file(tiny, tmp_path, capsys):
    assert cli.main(["validate", str(tiny), "--set", "populations.ctx_e.tau_mm=3 ms"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'tau_mm'" in err and "--set populations.ctx_e.tau_mm=3 ms" in err
    assert cli.main(["validate", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_run_malformed_model_writes_nothing(malformed, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", str(malformed), "--out", str(out), "--quiet"]) == 2
    cap = capsys.readouterr()
    assert "results:" not in cap.out
    assert str(malformed) in cap.err and "populations.ctx_e.tau_m" in cap.err
    assert not out.exists()


# ---------------------------------------------------------------- usage


def test_usage_errors_return_status(capsys):
    assert cli.main([]) == 2
    assert "run" in capsys.readouterr().err
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out
    assert cli.main(["run"]) == 2                      # MODEL missing


def test_a_subcommand_is_one_function(monkeypatch, capsys):
    monkeypatch.setattr(cli, "SUBCOMMANDS", dict(cli.SUBCOMMANDS))

    @cli.subcommand("hello", help="say hello")
    def hello(p):
        p.add_argument("--name", default="world")
        return lambda args: print(f"hello {args.name}") or 0

    assert cli.main(["hello", "--name", "neuromem"]) == 0
    assert capsys.readouterr().out == "hello neuromem\n"
    with pytest.raises(ValueError, match="already registered"):
        cli.subcommand("hello", help="again")(hello)


# ---------------------------------------------------------------- info


def test_info_in_process(capsys):
    import brian2
    import numpy

    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"python\s+{re.escape('.'.join(map(str, sys.version_info[:3])))}", out)
    assert re.search(rf"numpy\s+{re.escape(numpy.__version__)}", out)
    assert re.search(rf"brian2\s+{re.escape(brian2.__version__)}", out)
    for name in ("neuromem", "scipy", "matplotlib", "lava-nc", "nir"):
        assert re.search(rf"^\s+{name}\s+\S", out, re.M), name
    assert "runtime targets: numpy available; cython " in out
    assert re.search(r"^\s+lava\s+(installed|not installed)", out, re.M)


def test_python_m_neuromem_info_does_not_import_lava():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "neuromem", "info"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "versions:" in proc.stdout and "backends:" in proc.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "import time:" in line]
    assert "neuromem.cli" in imported
    assert not [m for m in imported if m == "lava" or m.startswith("lava.")]


def test_commands_import_brian2_without_pylab():
    """``neuromem`` commands import Brian2 without its pylab namespace; pylab is importable again after."""
    code = ("import sys\n"
            "from neuromem.cli import brian2_without_pylab\n"
            "with brian2_without_pylab():\n"
            "    import brian2\n"
            "assert 'matplotlib.pyplot' not in sys.modules and 'pylab' not in sys.modules\n"
            "assert brian2.NeuronGroup and brian2.exp\n"
            "import pylab\n"
            "with brian2_without_pylab():\n"
            "    pass\n"
            "assert sys.modules['pylab'] is pylab\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---------------------------------------------------------------- run


def _results(folder) -> dict:
    return json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))


def test_run_writes_one_folder_and_is_reproducible(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    # Brian2's numpy target: nothing to compile (the Cython target's own tests are in test_backend_brian2)
    argv = ["run", str(tiny), "--out", str(out), "--seed", "1", "--set", "protocol.n_memories=2", "--target", "numpy"]
    assert cli.main(argv) == 0
    stdout = capsys.readouterr().out
    folders = [p for p in out.iterdir()]
    assert len(folders) == 1 and folders[0].is_dir()
    last = stdout.strip().splitlines()[-1]
    assert last == f"results: {folders[0]}"
    assert "recall_half_cue" in stdout and "overlap" in stdout and "ctx_e" in stdout
    res = _results(folders[0])
    assert res["seed"] == 1 and res["overrides"] == ["protocol.n_memories=2"]
    assert res["model_file"] == str(tiny)
    assert "recall_half_cue" in res["metrics"] and "recall_half_cue" in res["metrics"]["recall"]
    assert len(res["metrics"]["recall"]["recall_half_cue"]["memory"]) == 2
    assert res["backend"]["name"] == "brian2" and res["backend"]["target"] == "numpy"
    assert res["backend"]["brian2"]
    assert res["run_wall_time_s"]["total"] >= res["run_wall_time_s"]["simulate"] > 0
    assert set(res["wall_time_s"]) == {"encode", "recall_half_cue"}
    assert loads_model((folders[0] / "model.toml").read_text()).protocol.n_memories == 2
    assert any((folders[0] / "figures").glob("*.png"))

    # the same seed again (quiet, no figures): the same metrics, a second folder
    assert cli.main(argv + ["--quiet", "--no-figures"]) == 0
    stdout = capsys.readouterr().out
    assert len(stdout.strip().splitlines()) == 1 and stdout.startswith("results: ")
    second = Path(stdout.strip().split("results: ", 1)[1])
    assert second.parent == out and second != folders[0]
    assert not (second / "figures").exists()
    assert _results(second)["metrics"] == res["metrics"]


def test_run_experiment_with_a_model_object(tiny, tmp_path):
    model = loads_model(TINY)
    lines = []
    run, metrics, folder = run_experiment(model, seed=1, overrides=["protocol.n_memories=2"],
                                          out_dir=tmp_path, figures=False, progress=False, log=lines.append,
                                          backend_options={"target": "numpy"})
    assert run.model.protocol.n_memories == 2 and run.model_file is None
    assert run.overrides == ["protocol.n_memories=2"]
    res = _results(folder)
    assert res["backend"]["target"] == "numpy" and res["model_file"] is None
    assert any(line.startswith("encode:") for line in lines)
    # numpy and the default target run the same network
    _, again, _ = run_experiment(tiny, seed=1, overrides=["protocol.n_memories=2"], out_dir=tmp_path,
                                 figures=False, progress=False, log=None)
    assert again == metrics


def test_summary_lines():
    metrics = {
        "recall": {
            "after": {"memory": [0, 1], "mean_overlap": 0.75, "mean_hit_rate": 0.5,
                      "mean_false_alarm_rate": 0.125, "correct_winner_fraction": 1.0, "cue_fraction": 0.3},
            "empty": {"memory": [], "mean_overlap": None, "mean_hit_rate": None,
                      "mean_false_alarm_rate": None, "correct_winner_fraction": None, "cue_fraction": 1.0},
        },
        "rate_exc_hz": {"ctx_e": {"encode": 12.345, "after": 3.0}},
        "replay": {"sleep": {"counts": [2, 0, 1], "total": 3, "rate": 0.15}},
    }
    text = "\n".join(summary_lines(metrics))
    assert re.search(r"after\s+overlap 0\.75\s+hit 0\.50\s+false alarm 0\.12", text)
    assert "cue 30%, 2 items" in text
    assert re.search(r"empty\s+overlap n/a", text)
    assert "ctx_e  encode 12.35, after 3.00" in text
    assert "sleep  3 events (0.15/s), per memory [2, 0, 1]" in text
    assert summary_lines({"recall": {}, "rate_exc_hz": {}, "replay": {}}) == ["recall: no phase of kind 'recall'"]


@pytest.mark.parametrize("name", ["cls", "cls_small"])
def test_check_lava_on_the_default_and_the_small_model(name, capsys):
    assert cli.main(["check", str(REPO / "models" / f"{name}.toml"), "--backend", "lava"]) == 0
    out = capsys.readouterr().out
    assert f"{name}: 0 error(s)" in out


def test_check_lava_names_unsupported_features(tiny, capsys):
    code = cli.main(["check", str(tiny), "--set", 'populations.ctx_e.tau_syn_inh="10 ms"',
                     "--set", 'populations.ctx_e.adaptation={ tau_w = "100 ms", b = "0.5 mV" }'])
    out = capsys.readouterr().out
    assert code == 1
    assert "tau_syn_inh" in out or "inhibitory synaptic time constant" in out
    assert "adaptation" in out


def test_export_nir_from_a_run_folder(tiny, tmp_path, capsys):
    pytest.importorskip("nir")
    out = tmp_path / "out"
    assert cli.main(["run", str(tiny), "--out", str(out), "--seed", "1", "--no-figures", "--quiet",
                     "--set", "protocol.n_memories=2"]) == 0
    folder = next(out.iterdir())
    capsys.readouterr()
    nir_file = tmp_path / "model.nir"
    assert cli.main(["export", "nir", str(folder), "--phase", "recall_half_cue", "--out", str(nir_file)]) == 0
    assert nir_file.exists() and f"written: {nir_file}" in capsys.readouterr().out
    import nir

    graph = nir.read(str(nir_file))
    assert "ctx_e" in graph.nodes


# ---------------------------------------------------------------- lava: --refractory


def test_check_lava_refractory_option(tiny, capsys):
    # tiny: 5 ms refractory = 10 steps at dt = 0.5 ms
    assert cli.main(["check", str(tiny), "--backend", "lava", "--mode", "fixed", "--refractory", "ignore"]) == 0
    out = capsys.readouterr().out
    assert "'ctx_e'" in out and "is ignored in fixed point" in out
    assert "tiny: 0 error(s), 1 warning(s) for lava (fixed, refractory ignore)" in out
    # emulate: the default
    for extra in (["--refractory", "emulate"], []):
        assert cli.main(["check", str(tiny), "--mode", "fixed", *extra]) == 0
        out = capsys.readouterr().out
        assert "is emulated by neuromem's fixed-point LIFRefractory model" in out and "is ignored" not in out
        assert "(fixed, refractory emulate)" in out
    # floating point is exact: the option is refused rather than silently meaningless
    assert cli.main(["check", str(tiny), "--refractory", "emulate"]) == 2
    cap = capsys.readouterr()
    assert "--refractory emulate applies to --mode fixed only" in cap.err and cap.out == ""
    assert cli.main(["check", str(tiny), "--mode", "fixed", "--refractory", "sometimes"]) == 2


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder of the tiny model (2 memories; Brian2, numpy target)."""
    model = loads_model(TINY)
    _, _, folder = run_experiment(model, seed=1, overrides=["protocol.n_memories=2"],
                                  out_dir=tmp_path_factory.mktemp("tiny_run"), figures=False, progress=False,
                                  log=None, backend_options={"target": "numpy"})
    return Path(folder)


def test_export_lava_refractory_refused_where_it_does_not_apply(tiny_run, tmp_path, capsys):
    had_lava = "lava" in sys.modules
    # "encode" is plastic: it would learn on Lava (floating point only)
    assert cli.main(["export", "lava", str(tiny_run), "--phase", "encode", "--refractory", "emulate",
                     "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--refractory emulate applies to frozen fixed-point exports only" in err and "'encode'" in err
    # a frozen float export
    assert cli.main(["export", "lava", str(tiny_run), "--phase", "recall_half_cue", "--refractory", "ignore",
                     "--out", str(tmp_path / "b")]) == 2
    assert "--refractory ignore applies to --mode fixed only" in capsys.readouterr().err
    assert cli.main(["export", "lava", str(tiny_run), "--phase", "recall_half_cue", "--headroom", "4",
                     "--out", str(tmp_path / "b")]) == 2
    assert "--headroom applies to --mode fixed only" in capsys.readouterr().err
    assert cli.main(["export", "lava", str(tiny_run), "--phase", "recall_half_cue", "--mode", "fixed",
                     "--headroom", "0.5", "--out", str(tmp_path / "b")]) == 2
    assert "--headroom must be >= 1, got 0.5" in capsys.readouterr().err
    assert cli.main(["export", "nir", str(tiny_run), "--refractory", "emulate",
                     "--out", str(tmp_path / "c.nir")]) == 2
    assert "--refractory applies to `export lava` only" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not (tmp_path / "c.nir").exists()
    assert ("lava" in sys.modules) == had_lava


def _neuromem(*argv, timeout=300) -> subprocess.CompletedProcess:
    """``python -m neuromem ARGV`` in a fresh interpreter (Lava spawns processes)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "neuromem", *map(str, argv)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.lava
@pytest.mark.skipif(lava311._find_target_source() is None, reason="lava-nc is not installed")
def test_export_lava_fixed_refractory_emulate_and_results_record_it(tiny_run, tmp_path):
    phase = ["--phase", "recall_half_cue"]
    runs = {}
    for label, extra in (("emulate", ["--mode", "fixed"]),               # emulate: the default
                         ("ignore", ["--mode", "fixed", "--refractory", "ignore"])):
        r = _neuromem("export", "lava", tiny_run, *phase, *extra, "--out", tmp_path / label)
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"lava fixed (refractory {label}, headroom 8) recall_half_cue:" in r.stdout
        # Loihi 2's stock neuron runs away from Brian2's rates, and says so on stderr
        assert ("more than the 3% target" in r.stderr) == (label == "ignore"), r.stderr[-2000:]
        path = tmp_path / label / "lava_results.json"
        assert r.stdout.strip().splitlines()[-1] == f"results: {path}"
        runs[label] = json.loads(path.read_text())
    for label, res in runs.items():
        assert (res["mode"], res["refractory"], res["phase"]) == ("fixed", label, "recall_half_cue")
        assert res["quantisation"]["refractory"] == label and res["quantisation"]["headroom"] == 8.0
        q = res["quantisation"]["populations"]["ctx_e"]
        assert q["refractory_ignored_steps"] == (0 if label == "emulate" else 9)
    # the emulated refractory period is what keeps fixed point close to Brian2 here
    em, ig = runs["emulate"]["agreement"], runs["ignore"]["agreement"]
    assert abs(em["rate_relative_error"]) < 0.05 and em["pattern_identity"] == 1.0
    assert ig["rate_relative_error"] > em["rate_relative_error"] + 0.05

    # two exports into one folder: the second replaces the first, and says so
    assert _neuromem("export", "lava", tiny_run, *phase, "--out", tmp_path / "same").returncode == 0
    r = _neuromem("export", "lava", tiny_run, *phase, "--mode", "fixed", "--refractory", "emulate",
                  "--out", tmp_path / "same")
    assert r.returncode == 0, r.stderr[-3000:]
    assert ("replaced the previous lava_results.json there (phase recall_half_cue, mode float, "
            "refractory exact); use --out DIR to keep several") in r.stdout
    res = json.loads((tmp_path / "same" / "lava_results.json").read_text())
    assert (res["mode"], res["refractory"]) == ("fixed", "emulate")
    # --headroom reaches the plan
    r = _neuromem("export", "lava", tiny_run, *phase, "--mode", "fixed", "--headroom", "4", "--refractory", "ignore",
                  "--out", tmp_path / "h4")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "lava fixed (refractory ignore, headroom 4) recall_half_cue:" in r.stdout
    q = json.loads((tmp_path / "h4" / "lava_results.json").read_text())["quantisation"]
    assert q["headroom"] == 4.0 and q["populations"]["ctx_e"]["vth"] == 2 ** 15
