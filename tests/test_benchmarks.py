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

    phases = [p.name for p in neuromem.load_model(ROOT / "models" / "cls.toml").protocol.phases]
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
