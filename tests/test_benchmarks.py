"""The benchmark plumbing (benchmarks/run.py): child measurement, fits, and the JSON of a tiny run.

No timing is checked: only that every figure is there, finite where it must
be, and that each ratio is the quotient of the figures it names.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "run.py"


def _bench():
    spec = importlib.util.spec_from_file_location("neuromem_bench_run", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _child(code):
    return [sys.executable, "-c", code]


def test_measure_reads_the_result_wall_time_and_the_childs_own_peak_memory():
    b = _bench()
    r = b.measure(_child("import json; x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096]); "
                         "print('noise'); print('BENCH_RESULT ' + json.dumps({'a': 1}))"))
    assert r["a"] == 1 and r["process_s"] > 0
    assert r["peak_rss_bytes"] >= 300 * 2**20
    small = b.measure(_child("import json; print('BENCH_RESULT ' + json.dumps({'a': 2}))"))
    assert small["peak_rss_bytes"] < r["peak_rss_bytes"] - 200 * 2**20      # per child, not the maximum so far


def test_measure_unavailable_and_failures():
    b = _bench()
    assert b.measure(_child("import sys; print('BENCH_UNAVAILABLE no device'); sys.exit(3)")) == {
        "unavailable": "no device"}
    with pytest.raises(b.BenchError, match="status 1"):
        b.measure(_child("raise SystemExit('boom')"))
    with pytest.raises(b.BenchError, match="status 0"):
        b.measure(_child("print('no result line')"))


def test_fit_exponent_recovers_a_power_law():
    b = _bench()
    x = [1e3, 4e3, 1.6e4]
    assert b._fit_exponent(x, [2.0 * v**1.1 for v in x]) == pytest.approx(1.1)
    assert b._fit_exponent(x, [5.0, 5.0, 5.0]) == pytest.approx(0.0)


@pytest.mark.slow
def test_tiny_benchmark_writes_the_documented_json(tmp_path):
    """The whole benchmark at a few hundred neurons (numpy target: nothing to compile), about 2 minutes."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "NEUROMEM_CACHE_DIR": os.environ.get("NEUROMEM_CACHE_DIR", str(ROOT / ".cache"))}
    proc = subprocess.run([sys.executable, str(BENCH), "--tiny", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["schema_version"] == 1
    meta = res["meta"]
    assert meta["mode"] == "tiny" and meta["target"] == "numpy" and meta["repeats"] == 1
    assert {"date", "commit", "cpus", "loadavg_start", "loadavg_end", "nest", "neuromem_standalone"} <= set(meta)

    for net in ("cuba", "coba"):
        c = res["classic"][net]
        expected = {"neuromem_runtime", "brian2_runtime"} | ({"nest_1_thread"} if meta["nest"] else set())
        assert set(c["tools"]) >= expected
        for t in c["tools"].values():
            assert t["loop_s"] > 0 and t["process_s"] > t["loop_s"] and t["peak_rss_bytes"] > 2**20
            assert t["synapses"] > 0 and t["events"] > 0 and t["spikes"] > 0
        tools = c["tools"]
        assert c["ratios"]["neuromem_runtime/brian2_runtime:loop"] == pytest.approx(
            tools["neuromem_runtime"]["loop_s"] / tools["brian2_runtime"]["loop_s"])
        assert c["ratios"]["neuromem_runtime/brian2_runtime:process"] == pytest.approx(
            tools["neuromem_runtime"]["process_s"] / tools["brian2_runtime"]["process_s"])
        if not meta["nest"]:
            assert c["unavailable"]["nest_1_thread"] == "NEST not installed"
        if not meta["neuromem_standalone"]:
            assert "not available" in c["unavailable"]["neuromem_standalone"]

    import neuromem

    phases = [p.name for p in neuromem.load_model(ROOT / "models" / "cls_small.toml").protocol.phases]
    d = res["default_model"]
    assert [p["name"] for p in d["phases"]] == phases
    for p in d["phases"]:
        assert p["wall_s"] > 0 and p["events"] >= 0
        assert p["mev_per_s"] == pytest.approx(p["events"] / p["wall_s"] / 1e6)

    s = res["scaling"]
    assert [r["scale"] for r in s["rows"]] == [1, 4]
    assert s["rows"][1]["neurons"] == 4 * s["rows"][0]["neurons"]
    assert [r["synapses"] for r in s["rows"]] == [80 * r["neurons"] for r in s["rows"]]   # fixed in-degree
    assert math.isfinite(s["exponent_loop_vs_events"]) and math.isfinite(s["exponent_rss_vs_synapses"])
    assert "big" not in res
    assert "CUBA" in proc.stdout and "scaling" in proc.stdout and str(out) in proc.stdout


def test_a_childs_peak_memory_does_not_include_a_large_parents():
    """On Linux ru_maxrss carries the forking process's high-water mark across exec; measure() must not."""
    b = _bench()
    big = bytearray(600 * 2**20)
    big[::4096] = b"1" * len(big[::4096])          # touch the pages: the parent's RSS is now > 600 MiB
    small = b.measure(_child("import json; print('BENCH_RESULT ' + json.dumps({'a': 3}))"))
    assert small["a"] == 3
    assert small["peak_rss_bytes"] < 200 * 2**20, small["peak_rss_bytes"]
    del big


def test_other_compile_flags_get_their_own_caches(tmp_path):
    """The benchmark's -O3 variants (``--compile-args brian2``) must not load neuromem's -O1 modules.

    Brian2 names a Cython module after its code, not its flags, so a shared
    cache folder would hand the first flags' module to every later flag set;
    standalone builds of two flag sets in one folder would recompile each
    other at every run.
    """
    import brian2 as b2

    from neuromem.backends.brian2 import Brian2Options
    from neuromem.backends.brian2.simulator import FAST_COMPILE_ARGS, configure
    from neuromem.backends.brian2.standalone import build_folder

    saved = (list(b2.prefs.codegen.cpp.extra_compile_args_gcc), b2.prefs.codegen.runtime.cython.cache_dir,
             b2.prefs.codegen.target)
    try:
        configure(Brian2Options(target="cython", cache_dir=str(tmp_path)))
        default = Path(b2.prefs.codegen.runtime.cython.cache_dir)
        assert default == tmp_path / "cython"                 # the existing cache stays where it was
        configure(Brian2Options(target="cython", cache_dir=str(tmp_path), compile_args=("-w", "-O3")))
        o3 = Path(b2.prefs.codegen.runtime.cython.cache_dir)
        assert o3.parent == tmp_path and o3.name.startswith("cython-") and o3 != default
    finally:
        (b2.prefs.codegen.cpp.extra_compile_args_gcc, b2.prefs.codegen.runtime.cython.cache_dir,
         b2.prefs.codegen.target) = saved

    class M:
        name = "m"

    opts = Brian2Options(cache_dir=str(tmp_path))
    assert opts.compile_args == FAST_COMPILE_ARGS
    assert build_folder(opts, M, "0" * 64).name == "m-" + "0" * 16
    other = build_folder(Brian2Options(cache_dir=str(tmp_path), compile_args=None), M, "0" * 64)
    assert other.name.startswith("m-" + "0" * 16 + "-cc") and other.parent == tmp_path / "standalone"


def test_plain_script_split_layout_draws_the_same_kind_of_network():
    """``plain_brian2.py --split``: two groups and four Synapses with CUBA's in-degrees (numpy, 0.01 s)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plain_brian2.py"), "cuba", "--split",
                          "--target", "numpy", "--n", "500", "--duration", "0.01"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_RESULT ")][-1][13:])
    assert res["split"] is True and res["neurons"] == 500
    assert 0.015 * 500 * 500 < res["synapses"] < 0.025 * 500 * 500
