"""Results record where they came from: every dependency's version and the git commit."""

import importlib.metadata as md
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import neuromem.io as nio
from neuromem.records import PhaseRecord, Run, Spikes
from neuromem.spec import LIFPopulation, Model, Phase, Protocol, SpikeSource, Stimulus

ROOT = Path(__file__).resolve().parents[1]
HAS_GIT = shutil.which("git") is not None


def _base_requirement_names():
    from packaging.requirements import Requirement
    names = []
    for r in md.requires("neuromem"):
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            names.append(req.name)
    return names


def test_versions_cover_every_declared_dependency():
    v = nio.versions()
    names = _base_requirement_names()
    assert {"brian2", "numpy", "scipy", "matplotlib", "tqdm", "tomli-w"} <= set(names)
    for name in names:
        assert v.get(name) == md.version(name), name
    assert {"python", "neuromem", "numpy", "brian2", "lava"} <= set(v)
    for name in nio.OPTIONAL_DEPENDENCIES:
        try:
            assert v[name] == md.version(name)
        except md.PackageNotFoundError:
            assert name not in v


@pytest.mark.skipif(not HAS_GIT, reason="git not installed")
def test_git_info_of_this_checkout():
    info = nio.git_info()
    if not (ROOT / ".git").exists():
        assert info is None
        return
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert info["commit"] == head.strip() and re.fullmatch(r"[0-9a-f]{40}", info["commit"])
    assert isinstance(info["dirty"], bool)


@pytest.mark.skipif(not HAS_GIT, reason="git not installed")
def test_git_info_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "checkout"
    (repo / "neuromem").mkdir(parents=True)
    (repo / "neuromem" / "__init__.py").write_text("")

    def git(*a):
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *a],
                       check=True, capture_output=True)
    git("init", "-q")
    assert nio.git_info(repo) is None                          # no commit yet
    git("add", "neuromem/__init__.py")
    git("commit", "-qm", "x")
    info = nio.git_info(repo)
    assert re.fullmatch(r"[0-9a-f]{40}", info["commit"]) and info["dirty"] is False
    (repo / "notes.txt").write_text("untracked outside the package: still clean")
    assert nio.git_info(repo)["dirty"] is False
    (repo / "neuromem" / "new.py").write_text("x = 1\n")     # untracked module: dirty
    assert nio.git_info(repo)["dirty"] is True
    (repo / "neuromem" / "new.py").unlink()
    (repo / "neuromem" / "__init__.py").write_text("y = 2\n")  # modified tracked file: dirty
    assert nio.git_info(repo)["dirty"] is True
    assert nio.git_info(repo / "neuromem") is None            # not the top of the work tree
    assert nio.git_info(tmp_path / "elsewhere") is None        # no checkout at all


def _tiny_run():
    pop = LIFPopulation(name="ctx_e", size=4, kind="excitatory", tau_m=0.02, tau_syn=0.005,
                        v_rest=-0.065, v_reset=-0.065, v_th=-0.05, refractory=0.002)
    model = Model(name="prov", dt=1e-4, populations={"ctx_e": pop}, sources={"cue": SpikeSource("cue", 4)},
                  projections={}, rules={},
                  protocol=Protocol(n_memories=1, pattern_population="ctx_e", coding_level=0.5,
                                    phases=(Phase("rest", "wake", duration=0.1,
                                                  stimuli=(Stimulus("cue", "noise", rate=1.0),)),)))
    empty = Spikes(i=np.zeros(0, np.int32), t=np.zeros(0), n=4)
    ph = PhaseRecord("rest", "wake", 0.1, {"ctx_e": empty, "cue": empty}, [])
    return Run(model=model, seed=3, patterns=np.eye(1, 4, dtype=bool), cues={}, synapses={},
               initial_weights={}, phases=[ph])


@pytest.mark.parametrize("git", [{"commit": "a" * 40, "dirty": True}, None])
def test_results_record_git_and_versions(tmp_path, monkeypatch, git):
    monkeypatch.setattr(nio.write, "git_info", lambda root=None: git)
    out = nio.write_run(_tiny_run(), {}, tmp_path / "runs", figures=False)
    res = json.loads((out / "results.json").read_text())
    if git is None:
        assert "git" not in res                                 # absent outside a checkout
    else:
        assert res["git"] == git
    assert res["versions"] == json.loads(json.dumps(nio.versions()))
