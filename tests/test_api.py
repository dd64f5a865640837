"""The top-level package: ``import neuromem`` is light and exports the public API."""

import json
from pathlib import Path
import subprocess
import sys

import pytest

import neuromem

TINY = (Path(__file__).resolve().parent / "data" / "tiny.toml").read_text(encoding="utf-8")


def test_import_is_light_and_names_resolve():
    code = ("import sys, neuromem; heavy = ('brian2', 'matplotlib', 'lava'); "
            "before = [m for m in heavy if m in sys.modules]; "
            "neuromem.load_model, neuromem.compute_metrics, neuromem.read_run, neuromem.ModelError; "
            "print(before, [m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"


def test_public_names_are_the_modules_objects():
    from neuromem import analysis, experiment, io, spec
    from neuromem.spec import loader
    assert {"run", "load_model", "compute_metrics", "read_run", "write_run", "ModelError"} <= set(neuromem.__all__)
    for name in neuromem.__all__:
        assert hasattr(neuromem, name), name
        assert name in dir(neuromem)
    assert neuromem.load_model is loader.load_model and neuromem.dumps_model is loader.dumps_model
    assert neuromem.compute_metrics is analysis.compute_metrics
    assert neuromem.read_run is io.read_run and neuromem.write_run is io.write_run
    assert neuromem.ModelError is spec.ModelError and neuromem.Model is spec.Model
    assert neuromem.run_experiment is experiment.run_experiment
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        neuromem.nope


def test_run_simulates_scores_and_writes(tmp_path):
    model = tmp_path / "tiny.toml"
    model.write_text(TINY)
    r = neuromem.run(model, seed=1, out=tmp_path / "runs", overrides=["protocol.n_memories=2"], figures=False,
                     progress=False, log=None, backend_options={"target": "numpy"})
    assert isinstance(r, neuromem.RunResult)
    run, metrics, folder = r
    assert folder.parent == tmp_path / "runs" and (folder / "results.json").is_file()
    res = json.loads((folder / "results.json").read_text())
    assert res["seed"] == 1 and res["overrides"] == ["protocol.n_memories=2"]
    assert run.model.protocol.n_memories == 2
    assert metrics["recall_half_cue"] == pytest.approx(res["metrics"]["recall_half_cue"])
    with pytest.raises(neuromem.ModelError):
        neuromem.run(model, out=tmp_path / "bad", overrides=["protocol.n_memories=0"], log=None)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
