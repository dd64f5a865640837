"""Tests for neuromem._compat.lava311, the Python 3.11 import hook for lava-nc."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from neuromem._compat import lava311

REPO = Path(__file__).resolve().parents[1]
TESTS_DIR = REPO / "tests"
LAVA_SOURCE = lava311._find_target_source()
PY311 = sys.version_info >= (3, 11)

needs_lava = pytest.mark.skipif(
    LAVA_SOURCE is None,
    reason="lava-nc is not installed (make venv, or "
    "pip install --ignore-requires-python 'lava-nc==0.10.0' 'numpy<2')",
)
needs_311 = pytest.mark.skipif(not PY311, reason="the hook is only needed on Python >= 3.11")


@pytest.fixture
def clean_meta_path():
    """Start without the hook and restore sys.meta_path afterwards."""
    saved = list(sys.meta_path)
    lava311.uninstall()
    yield
    sys.meta_path[:] = saved


def _run_python(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter that can import this checkout's neuromem."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=str(REPO),
    )


# ---------------------------------------------------------------------------
# The AST transform, on synthetic source (no lava needed)
# ---------------------------------------------------------------------------
SYNTHETIC = '''
from __future__ import annotations
import dataclasses
from dataclasses import dataclass, field, InitVar
from typing import ClassVar


@dataclass
class Enc:
    base: int = 0


@dataclass
class Holder:
    a: Enc = Enc()                      # unhashable: rewritten, per-instance
    b: tuple = tuple([1, 2])            # hashable: rewritten but value kept
    c: list = field(default_factory=list)  # already fine: untouched
    k: ClassVar[Enc] = Enc(base=7)      # not a field: untouched
    i: InitVar[int] = int(3)            # InitVar: untouched

    def __post_init__(self, i):
        self.seen_i = i


@dataclasses.dataclass(eq=True)
class Local:
    PROTO = Enc(base=5)
    e: Enc = Enc(base=PROTO.base)       # class-local name: deep-copy fallback


class Plain:
    e: Enc = Enc()                      # not a dataclass: untouched
'''


def _exec(code, name: str = "neuromem_test_synthetic") -> dict:
    """Execute `code` as a throw-away module (dataclasses looks the module up
    in sys.modules to resolve string annotations)."""
    module = types.ModuleType(name)
    lava311._prepare_namespace(module.__dict__)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    finally:
        del sys.modules[name]
    return module.__dict__


def test_transform_counts_only_call_defaults_of_dataclass_fields():
    tree = ast.parse(SYNTHETIC)
    assert lava311._count_candidates(tree) == 3  # Holder.a, Holder.b, Local.e
    assert lava311._fix_dataclass_defaults(tree) == 3
    # after the fix no candidate is left
    assert lava311._count_candidates(tree) == 0


@needs_311
def test_unpatched_synthetic_source_fails_on_311():
    with pytest.raises(ValueError, match="mutable default"):
        _exec(compile(SYNTHETIC, "<synthetic>", "exec"))


def test_transform_semantics():
    ns = _exec(lava311._compile_patched(SYNTHETIC, "<synthetic>"))
    Enc, Holder, Local, Plain = ns["Enc"], ns["Holder"], ns["Local"], ns["Plain"]

    h1, h2 = Holder(), Holder()
    assert h1.a == Enc() and h1.a is not h2.a  # fresh default per instance
    assert h1.b == (1, 2) and h1.b is h2.b  # hashable default kept as is
    assert h1.c == [] and h1.c is not h2.c
    assert Holder.k == Enc(base=7) and "k" not in {f.name for f in ns["dataclasses"].fields(Holder)}
    assert h1.seen_i == 3
    assert Holder(a=Enc(base=1)).a.base == 1

    l1, l2 = Local(), Local()
    assert l1.e == Enc(base=5) and l1.e is not l2.e and l1.e is not Local.PROTO

    assert Plain().e is Plain.e  # plain classes are left alone


def test_transform_keeps_line_numbers():
    source = "from dataclasses import dataclass\n\n@dataclass\nclass A:\n    x: object = object()\n    y: int = 1 // 0\n"
    # y's default raises while the class body runs; the traceback must point at line 6
    with pytest.raises(ZeroDivisionError) as info:
        _exec(lava311._compile_patched(source, "<lines>"))
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_filename == "<lines>"
    assert tb.tb_lineno == 6


def test_dataclass_default_helper():
    value = (1, 2)
    assert lava311._dataclass_default(value) is value
    unhashable = [1, 2]
    f = lava311._dataclass_default(unhashable)
    made = f.default_factory()
    assert made == unhashable and made is not unhashable
    f = lava311._dataclass_default([1], lambda: [9])
    assert f.default_factory() == [9]


# ---------------------------------------------------------------------------
# Hook installation
# ---------------------------------------------------------------------------
def test_finder_ignores_other_modules():
    finder = lava311._Lava311Finder()
    for name in [
        "lava",
        "lava.magma",
        "lava.magma.compiler",
        "lava.magma.compiler.var_models",
        "lava.magma.compiler.var_model.sub",
        "lava.proc.lif.process",
        "json",
        "tests",
        "var_model",
    ]:
        assert finder.find_spec(name, None) is None, name


@pytest.mark.parametrize("version", [(3, 10), (3, 10, 14, "final", 0), (3, 9, 0)])
def test_install_is_noop_before_311(clean_meta_path, version):
    assert lava311.is_needed(version_info=version) is False
    assert lava311.install(version_info=version) is False
    assert not lava311.is_installed()
    assert not any(getattr(f, "_neuromem_lava311", False) for f in sys.meta_path)


def test_install_is_noop_without_lava(clean_meta_path, monkeypatch):
    monkeypatch.setattr(lava311, "_find_target_source", lambda: None)
    assert lava311.is_needed(version_info=(3, 11)) is False
    assert lava311.install(version_info=(3, 11)) is False
    assert not lava311.is_installed()


def test_install_is_noop_when_upstream_fixed(clean_meta_path, monkeypatch, tmp_path):
    fixed = tmp_path / "var_model.py"
    fixed.write_text(
        "from dataclasses import dataclass, field\n"
        "@dataclass\nclass ByteEncoder:\n    base: int = 0\n"
        "@dataclass\nclass CoreEncoder:\n"
        "    x: ByteEncoder = field(default_factory=ByteEncoder)\n"
    )
    monkeypatch.setattr(lava311, "_find_target_source", lambda: str(fixed))
    assert lava311.is_needed(version_info=(3, 11)) is False
    assert lava311.install(version_info=(3, 11)) is False

    fixed.write_text(fixed.read_text().replace("field(default_factory=ByteEncoder)", "ByteEncoder()"))
    assert lava311.is_needed(version_info=(3, 11)) is True


@pytest.mark.lava
@needs_lava
@needs_311
def test_install_twice_adds_one_finder(clean_meta_path):
    assert lava311.install() is True
    assert lava311.install() is True
    ours = [f for f in sys.meta_path if getattr(f, "_neuromem_lava311", False)]
    assert len(ours) == 1
    assert sys.meta_path[0] is ours[0]  # ahead of PathFinder
    assert lava311.uninstall() is True
    assert not lava311.is_installed()
    assert lava311.uninstall() is False


@pytest.mark.lava
@needs_lava
@needs_311
def test_finder_answers_for_var_model():
    finder = lava311._Lava311Finder()
    # the parent package's __path__, without importing lava into this process
    spec = finder.find_spec(lava311.TARGET_MODULE, [os.path.dirname(LAVA_SOURCE)])
    assert spec is not None
    assert isinstance(spec.loader, lava311._PatchedSourceLoader)
    assert Path(spec.origin) == Path(LAVA_SOURCE)


# ---------------------------------------------------------------------------
# Real lava.  Each check runs in a fresh interpreter: that is the only honest
# test of an import hook (in-process, another test may already have imported
# the module), and it keeps lava -- and the processes its runtime spawns --
# out of the pytest process (tests/test_io.py checks that writing a run does
# not import lava).
# ---------------------------------------------------------------------------
@pytest.mark.lava
@needs_lava
def test_import_lava_in_fresh_interpreter():
    """After install(): var_model, LIF and Dense import; defaults are per instance."""
    result = _run_python(
        f"""
        import sys
        from neuromem._compat import lava311
        active = lava311.install()
        assert active == (sys.version_info >= (3, 11)), active
        assert "lava" not in sys.modules  # install() does not import lava

        lava = lava311.import_lava()
        assert lava.__name__ == "lava"
        import lava.magma.compiler.var_model as vm
        from lava.proc.lif.process import LIF
        from lava.proc.dense.process import Dense

        assert vm.__file__ == {LAVA_SOURCE!r}, vm.__file__
        assert isinstance(vm.__spec__.loader, lava311._PatchedSourceLoader) == active
        a, b = vm.CoreEncoder(), vm.CoreEncoder()
        assert a == b and a.x is not b.x
        assert vm.CoreEncoder(x=vm.ByteEncoder(base=3)).x.base == 3
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.lava
@needs_lava
@needs_311
def test_unpatched_var_model_fails_on_311():
    """Without the hook the import fails (if this starts passing, upstream fixed it)."""
    bare = _run_python("import lava.magma.compiler.var_model")
    assert bare.returncode != 0
    assert "mutable default" in bare.stderr


def test_import_lava_without_lava_gives_install_hint():
    result = _run_python(
        """
        import sys
        sys.path[:] = [p for p in sys.path if "-packages" not in p]
        from neuromem._compat.lava311 import import_lava
        try:
            import_lava()
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("import_lava() did not raise")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "lava-nc is not installed" in result.stdout
    assert "make venv" in result.stdout
    assert "--ignore-requires-python" in result.stdout


@pytest.mark.lava
@needs_lava
def test_tiny_lava_run_lif_with_bias_spikes():
    """One float LIF neuron driven by its bias: v = 1, 2, 3 > 2.5 -> spike, reset."""
    result = _run_python(
        """
        import json
        from neuromem._compat.lava311 import import_lava
        import_lava()
        import numpy as np
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.lif.process import LIF
        from lava.proc.monitor.process import Monitor

        steps = 10
        lif = LIF(shape=(1,), du=0.0, dv=0.0, bias_mant=1.0, vth=2.5)
        monitor = Monitor()
        monitor.probe(target=lif.s_out, num_steps=steps)
        try:
            lif.run(condition=RunSteps(num_steps=steps),
                    run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
            spikes = monitor.get_data()[lif.name]["s_out"][:, 0]
            v_end = float(lif.v.get()[0])
        finally:
            lif.stop()
        print(json.dumps({"spikes": np.flatnonzero(spikes).tolist(), "v": v_end}))
        """,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # Monitor row k is step k + 1: spikes at steps 3, 6, 9
    assert out["spikes"] == [2, 5, 8]
    assert out["v"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------
# Our tests/ directory is not shadowed by lava-nc's top-level `tests` package
# ---------------------------------------------------------------------------
def test_repo_tests_dir_not_shadowed(request):
    assert request.config.option.importmode == "importlib"
    assert not (TESTS_DIR / "__init__.py").exists()
    assert Path(__file__).resolve().parent == TESTS_DIR

    conftests = [
        Path(plugin.__file__).resolve()
        for plugin in request.config.pluginmanager.get_plugins()
        if getattr(plugin, "__file__", None) and Path(plugin.__file__).name == "conftest.py"
    ]
    assert TESTS_DIR / "conftest.py" in conftests
    # every conftest pytest loaded is ours (none from site-packages/tests)
    assert all(REPO in path.parents for path in conftests), conftests

    # our conftest ran: headless matplotlib
    assert os.environ.get("MPLBACKEND") == "Agg"

    # if pytest registered a `tests` package, it is this directory, not lava's
    tests_pkg = sys.modules.get("tests")
    if tests_pkg is not None:
        locations = list(getattr(tests_pkg, "__path__", [])) or [os.path.dirname(tests_pkg.__file__)]
        assert all(Path(p).resolve() == TESTS_DIR for p in locations), locations

    # this very module was loaded from the repo, not from an installed `tests`
    assert Path(sys.modules[__name__].__file__).resolve() == Path(__file__).resolve()
