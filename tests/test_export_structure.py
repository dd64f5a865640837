"""The layout of neuromem.export: a backend-free core, exporters that use only public names.

Parsed with ``ast`` (nothing is imported into the pytest process) and, for
the import checks, run in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPORT = REPO / "neuromem" / "export"
MODULES = sorted(EXPORT.rglob("*.py"))
CORE = ["neuromem.export.issues", "neuromem.export.frozen", "neuromem.export.compare",
        "neuromem.export.lava.check", "neuromem.export.lava.plan", "neuromem.export.lava.rules",
        "neuromem.export.lava.host"]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_there_are_modules_to_check():
    names = {_rel(p) for p in MODULES}
    assert {"neuromem/export/frozen.py", "neuromem/export/compare.py", "neuromem/export/nir.py",
            "neuromem/export/lava/plan.py", "neuromem/export/lava/processes/__init__.py",
            "neuromem/export/lava/run.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_underscore_name_is_imported_from_a_neuromem_module(path):
    bad = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("neuromem")):
            bad += [f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import {a.name}"
                    for a in node.names if a.name.startswith("_")]
    assert bad == []


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_globals_injection_and_no_classes_made_in_functions(path):
    bad = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "globals":
            bad.append(f"line {node.lineno}: globals()")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bad += [f"line {c.lineno}: class {c.name} inside {node.name}()"
                    for c in ast.walk(node) if isinstance(c, ast.ClassDef)]
    assert bad == []


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_modules_stay_readable(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 500


def test_core_imports_neither_lava_nor_brian2_nor_nir():
    code = textwrap.dedent(f"""
        import json, sys
        for name in {CORE!r}:
            __import__(name)
        print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {{"lava", "brian2", "nir", "h5py"}})))
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == []


def test_lava_processes_are_imported_only_when_a_network_is_built():
    """Only the network builders import the processes module, and only inside a function."""
    importers = []
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module == "neuromem.export.lava.processes":
                importers.append((_rel(path), node.col_offset > 0))
    assert importers and all(inside for _, inside in importers), importers


def test_lava_processes_have_a_folder_of_their_own():
    """Lava's compiler executes every module beside a process's module as a script when it looks for
    process models; none must be there (they would be executed, or warn that they cannot be)."""
    folder = EXPORT / "lava" / "processes"
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".py" or p.is_dir() and p.name != "__pycache__") \
        == ["__init__.py"]
