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


def run_quick(name, tmp_path, capsys):
    mod = load_script(name)
    out = tmp_path / name
    assert mod.main(["--quick", "--seed", "1", "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (out / f"{name}.png").stat().st_size > 10_000
    for c in summary["criteria"]:
        assert set(c) >= {"name", "value", "target", "met"}
        assert c["name"] in printed
    return summary, printed


@pytest.mark.slow
def test_lesion_gradient_quick(tmp_path, capsys):
    summary, _ = run_quick("lesion_gradient", tmp_path, capsys)
    curves = summary["curves"]["replay"]
    assert len(curves) >= 4          # ages 0..3
    failed = [c for c in summary["criteria"] if not c["met"]]
    assert not failed, failed
