"""neuromem benchmarks: every figure a ratio measured in the same run (``make bench``).

Sections (each measurement in its own child process; wall time and peak
resident memory of that process from :func:`os.wait4`, taken by a small launcher that
forks it, so the peak is the child's own and not its parent's):

``classic``
    The Brette et al. (2007) CUBA and COBA networks as neuromem model files
    (``models/brette2007_*.toml``, through ``neuromem.run``) against plain
    Brian2 scripts of the same networks on the same device and code target
    (``plain_brian2.py``), against NEST with one thread when it is installed
    (``plain_nest.py``), and neuromem's ``cpp_standalone`` device against plain
    Brian2's when the backend offers one; neuromem also with the test suite's
    gcc flags (``_o1``: ``NEUROMEM_COMPILE_ARGS=fast``, ``-O1``, where neuromem's
    default is the plain scripts' ``-O3``) and the plain script also in the
    layout of a model file without shared objects (``brian2_runtime_split``:
    two groups, four ``Synapses``), which show the flags' and the layout's
    share (tools listed in :func:`classic`).  Repeats are
    interleaved (A, B, C, A, B, C, ...) and medians reported, so that load
    from other processes hits every tool alike.  ``loop`` is the simulator's
    main loop in CPU seconds on every device (Brian2's ``Network.run`` loop
    without code generation; NEST's ``Simulate``), ``process`` the whole
    child process from ``exec`` to exit (wall seconds).
``default_model``
    The small CLS model ``models/cls_small.toml`` (the key is kept from when it was the
    default model; the default ``models/cls.toml`` adds a 2000-cell dentate gyrus and doubles
    CA3) (sleeps shortened; see :data:`MODES`), per phase: wall
    seconds (code generation and, for the first phase, compilation of the
    network's code objects included), synaptic events and events per second,
    and that rate relative to the plain-Brian2 CUBA rate of the same run.
``scaling``
    The CUBA network at x1, x4, x16 neurons with a fixed in-degree
    (``fixed_indegree``: 64 excitatory and 16 inhibitory inputs per cell, as
    CUBA's mean): main-loop time against synaptic events, the exponent of the
    log-log fit, and peak resident memory.
``big`` (``--big``)
    CUBA with 100 000 neurons at 1 % connectivity (10^8 synapses; weights
    scaled by 80 / 1000 so each cell's mean input stays CUBA's), 1 s:
    building and running time and peak memory against the estimate
    ``neuromem validate`` prints.

Usage::

    python benchmarks/run.py [--quick | --tiny] [--big] [--repeats N] [--json PATH] [--target cython|numpy]

``--quick`` takes 1-2 minutes, the default about 10 on a 2-core machine;
``--tiny`` only exercises the plumbing (tests/test_benchmarks.py).  Writes
JSON (default ``runs/bench/bench.json``) and prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ROOT / "models"
SCHEMA_VERSION = 1

MODES = {
    "full": {"repeats": 3, "warmup": True, "n": 4000, "duration": 1.0, "nets": ("cuba", "coba"),
             "scaling_base": 1, "scales": (1, 4, 16), "scaling_duration": 1.0, "flag_variants": True,
             "default_overrides": ["protocol.phases.sleep.duration=5 s",
                                   "protocol.phases.sleep_blocked.duration=5 s"]},
    "quick": {"repeats": 1, "warmup": False, "n": 4000, "duration": 0.2, "nets": ("cuba", "coba"),
              "scaling_base": 0.25, "scales": (1, 4, 16), "scaling_duration": 0.2, "flag_variants": True,
              "default_overrides": ["protocol.n_memories=3", "protocol.phases.sleep.duration=1 s",
                                    "protocol.phases.sleep_blocked.duration=1 s"]},
    "tiny": {"repeats": 1, "warmup": False, "n": 200, "duration": 0.02, "nets": ("cuba", "coba"),
             "scaling_base": 0.025, "scales": (1, 4), "scaling_duration": 0.02, "flag_variants": False,
             "default_overrides": ["protocol.n_memories=1", "populations.ctx_e.size=100",
                                   "populations.ctx_i.size=25", "sources.ctx_in.size=100",
                                   "populations.hpc_e.size=50", "populations.hpc_i.size=12",
                                   "sources.hpc_in.size=50",
                                   "protocol.phases.sleep.duration=0.05 s",
                                   "protocol.phases.sleep_blocked.duration=0.05 s"]},
}

CUBA_INDEGREE = {"ee": 64, "ei": 64, "ie": 16, "ii": 16}
"""Inputs per cell in the scaling runs: CUBA's mean in-degree (0.02 x 3200 excitatory, 0.02 x 800 inhibitory)."""


class BenchError(RuntimeError):
    """A benchmark child failed (its command and the end of its output are in the message)."""


# --- child processes ---------------------------------------------------------------------------

# The child is started by a small Python launcher, which waits for it with os.wait4 and prints its
# peak RSS.  On Linux a process's ru_maxrss includes the high-water mark of the process it was
# forked from (exec carries the old address space's peak into it), so a child forked straight from
# a large parent (a pytest worker after simulations, 800+ MiB) reports the parent's peak; forked
# from the launcher (~10 MiB) it reports its own.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print('BENCH_CHILD_MAXRSS_KB', usage.ru_maxrss, flush=True)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run one child to completion; its ``BENCH_RESULT`` plus ``process_s`` and ``peak_rss_bytes``.

    When the child reports the configuration unavailable (exit status 3,
    ``BENCH_UNAVAILABLE <why>``), the result is ``{"unavailable": why}``.

    Raises
    ------
    BenchError
        If the child fails or prints no result.
    """
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *cmd], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    lines = text.splitlines()
    why = [line[len("BENCH_UNAVAILABLE"):].strip() for line in lines if line.startswith("BENCH_UNAVAILABLE")]
    if proc.returncode == 3 and why:
        return {"unavailable": why[-1]}
    found = [line for line in lines if line.startswith("BENCH_RESULT ")]
    if proc.returncode != 0 or not found:
        raise BenchError(f"{' '.join(cmd)} exited with status {proc.returncode}:\n" + "\n".join(lines[-30:]))
    result = json.loads(found[-1][len("BENCH_RESULT "):])
    result["process_s"] = wall
    rss = [line.split()[1] for line in lines if line.startswith("BENCH_CHILD_MAXRSS_KB ")]
    result["peak_rss_bytes"] = int(rss[-1]) * 1024         # Linux: kilobytes
    return result


def _py() -> list[str]:
    return [sys.executable]


def neuromem_cmd(model: Path, overrides=(), target="cython", device="runtime", compile_args="neuromem") -> list[str]:
    cmd = _py() + [str(HERE / "neuromem_child.py"), str(model), "--target", target, "--device", device,
                   "--compile-args", compile_args]
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def cuba_size_overrides(n: int, duration: float) -> list[str]:
    n_e = int(round(n * 0.8))
    return [f"populations.e.size={n_e}", f"populations.i.size={n - n_e}",
            f"protocol.phases.run.duration={duration:g} s"]


def nest_installed() -> bool:
    """Whether ``import nest`` works in a child interpreter (NEST prints a banner and may abort on import)."""
    r = subprocess.run(_py() + ["-c", "import nest"], capture_output=True, env=_env())
    return r.returncode == 0


def standalone_available() -> bool:
    """Whether neuromem's Brian2 backend has a ``device`` option (checked in a child, without Brian2 runs)."""
    code = ("import dataclasses; from neuromem.backends.brian2 import Brian2Options; "
            "print('device' in {f.name for f in dataclasses.fields(Brian2Options)})")
    r = subprocess.run(_py() + ["-c", code], capture_output=True, text=True, env=_env())
    return r.returncode == 0 and r.stdout.strip().endswith("True")


def _env() -> dict:
    """The children's environment: neuromem's defaults (its gcc flags too: ``NEUROMEM_COMPILE_ARGS`` unset)."""
    env = dict(os.environ)
    env.pop("NEUROMEM_COMPILE_ARGS", None)
    env.setdefault("NEUROMEM_CACHE_DIR", str(ROOT / ".cache"))
    env.setdefault("PYNEST_QUIET", "1")
    env["OMP_NUM_THREADS"] = "1"
    return env


# --- sections ------------------------------------------------------------------------------------

def _median(rows: list[dict], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def _summary(rows: list[dict]) -> dict:
    keys = ("loop_s", "process_s", "peak_rss_bytes", "events", "spikes", "synapses", "rate_hz")
    s = {k: _median(rows, k) for k in keys}
    s["loop_ns_per_event"] = 1e9 * s["loop_s"] / s["events"] if s["events"] else math.nan
    s["repeats"] = [{k: r[k] for k in ("loop_s", "process_s", "events")} for r in rows]
    return s


#: (numerator, denominator) of the classic section's ratios, when both were measured
RATIO_PAIRS = (
    ("neuromem_runtime", "brian2_runtime"),            # as each runs by default: same flags (-O3), same layout
    ("neuromem_runtime_o1", "brian2_runtime"),         # neuromem with the test suite's -O1
    ("brian2_runtime_split", "brian2_runtime"),        # one object per population/projection, in Brian2 alone
    ("neuromem_standalone", "brian2_standalone"),
    ("neuromem_standalone_o1", "brian2_standalone"),
    ("neuromem_runtime", "nest_1_thread"),
    ("neuromem_standalone", "nest_1_thread"),
    ("neuromem_standalone", "neuromem_runtime"),
)

#: the child environment of the ``_o1`` rows (neuromem's -O1 flags, those of the test suite)
O1_ENV = {"NEUROMEM_COMPILE_ARGS": "fast"}
RATIO_KEYS = ("loop_s", "process_s", "loop_ns_per_event", "peak_rss_bytes")


def classic(mode: dict, target: str, have_nest: bool, have_standalone: bool, log) -> dict:
    """CUBA and COBA: neuromem vs plain Brian2 (same device), NEST, standalone; medians and ratios.

    Tools (each its own child process):

    ``neuromem_runtime`` / ``neuromem_standalone``
        the model file through ``neuromem.run`` with neuromem's defaults: Brian2's
        gcc flags (``-O3``, those of the plain scripts; ``NEUROMEM_COMPILE_ARGS``
        unset in the child) and shared Brian2 objects (``e`` and ``i`` one
        group, ``ee``/``ei`` and ``ie``/``ii`` one ``Synapses`` each: the plain
        script's layout);
    ``neuromem_runtime_o1`` / ``neuromem_standalone_o1``
        the same with the test suite's ``-O1`` (``NEUROMEM_COMPILE_ARGS=fast``;
        Cython target and standalone only; not in ``--tiny``);
    ``brian2_runtime`` / ``brian2_standalone``
        ``plain_brian2.py``: one group, one monitor, two ``Synapses``;
    ``brian2_runtime_split``
        ``plain_brian2.py --split``: two groups, two monitors, four ``Synapses``,
        the layout of a model file built one object per population and
        projection (``Brian2Options(merge=False)``);
    ``nest_1_thread``
        ``plain_nest.py`` when NEST is installed.
    """
    out = {}
    variants = mode["flag_variants"] and target == "cython"
    for net in mode["nets"]:
        model = MODELS / f"brette2007_{net}.toml"
        ovr = cuba_size_overrides(mode["n"], mode["duration"])
        plain = ["--n", str(mode["n"]), "--duration", f"{mode['duration']:g}"]
        plain_cmd = _py() + [str(HERE / "plain_brian2.py"), net]
        configs = {"neuromem_runtime": neuromem_cmd(model, ovr, target)}
        envs = {}
        if variants:
            configs["neuromem_runtime_o1"] = neuromem_cmd(model, ovr, target)
            envs["neuromem_runtime_o1"] = O1_ENV
        configs["brian2_runtime"] = plain_cmd + ["--target", target] + plain
        configs["brian2_runtime_split"] = plain_cmd + ["--target", target, "--split"] + plain
        if have_standalone:
            configs["neuromem_standalone"] = neuromem_cmd(model, ovr, target, "cpp_standalone")
            if mode["flag_variants"]:
                configs["neuromem_standalone_o1"] = neuromem_cmd(model, ovr, target, "cpp_standalone")
                envs["neuromem_standalone_o1"] = O1_ENV
            configs["brian2_standalone"] = plain_cmd + ["--device", "cpp_standalone"] + plain
        if have_nest:
            configs["nest_1_thread"] = _py() + [str(HERE / "plain_nest.py"), net] + plain
        runs = {k: [] for k in configs}
        unavailable = {} if have_nest else {"nest_1_thread": "NEST not installed"}
        if not have_standalone:
            unavailable["neuromem_standalone"] = ("not available: neuromem's Brian2 backend has no "
                                                  "cpp_standalone device option yet")
        for rep in range(int(mode["warmup"]) + mode["repeats"]):
            for name, cmd in list(configs.items()):
                if name not in configs:     # dropped in this round (its neuromem counterpart is unavailable)
                    continue
                what = "warm-up" if rep < mode["warmup"] else f"repeat {rep - mode['warmup'] + 1}"
                log(f"  {net} {name} {what}")
                r = measure(cmd, {**_env(), **envs.get(name, {})})
                if "unavailable" in r:      # e.g. a device option whose implementation is not there
                    unavailable[name] = f"not available: {r['unavailable']}"
                    del configs[name], runs[name]
                    if name.startswith("neuromem_standalone"):
                        for other in ("neuromem_standalone", "neuromem_standalone_o1", "brian2_standalone"):
                            configs.pop(other, None)
                            runs.pop(other, None)
                elif rep >= mode["warmup"]:
                    runs[name].append(r)
        tools = {k: _summary(v) for k, v in runs.items()}
        ratios = {}
        for key in RATIO_KEYS:
            for a, b in RATIO_PAIRS:
                if a in tools and b in tools and tools[b][key] > 0:
                    ratios[f"{a}/{b}:{key.removesuffix('_s')}"] = tools[a][key] / tools[b][key]
        out[net] = {"tools": tools, "ratios": ratios, "unavailable": unavailable}
    return out


def default_model(mode: dict, target: str, reference_mev_s: float | None, log) -> dict:
    """The small CLS model (``models/cls_small.toml``) per phase: wall time, synaptic events, events per second."""
    log("  small CLS model")
    r = measure(neuromem_cmd(MODELS / "cls_small.toml", mode["default_overrides"], target), _env())
    phases = []
    for ph in r["phases"]:
        mev = ph["events"] / ph["wall_s"] / 1e6 if ph["wall_s"] > 0 else math.nan
        phases.append({**ph, "wall_per_simulated": ph["wall_s"] / ph["simulated_s"], "mev_per_s": mev,
                       "mev_per_s_vs_brian2_cuba": mev / reference_mev_s if reference_mev_s else None})
    return {"overrides": mode["default_overrides"], "process_s": r["process_s"],
            "peak_rss_bytes": r["peak_rss_bytes"], "neurons": r["neurons"], "synapses": r["synapses"],
            "phases": phases}


def _fit_exponent(x, y) -> float:
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sxx if sxx > 0 else math.nan


def scaling(mode: dict, target: str, log) -> dict:
    """CUBA at x1, x4, x16 neurons, fixed in-degree: loop time and peak memory against synaptic events."""
    rows = []
    for s in mode["scales"]:
        n = int(round(4000 * mode["scaling_base"] * s))
        ovr = cuba_size_overrides(n, mode["scaling_duration"])
        for proj, k in CUBA_INDEGREE.items():
            self_ok = ", allow_self = true" if proj in ("ee", "ii") else ""
            ovr.append(f'projections.{proj}.connector={{kind = "fixed_indegree", indegree = {k}{self_ok}}}')
        log(f"  scaling x{s} ({n} neurons)")
        r = measure(neuromem_cmd(MODELS / "brette2007_cuba.toml", ovr, target), _env())
        rows.append({"scale": s, "neurons": n, "synapses": r["synapses"], "events": r["events"],
                     "loop_s": r["loop_s"], "process_s": r["process_s"], "peak_rss_bytes": r["peak_rss_bytes"],
                     "mev_per_s": r["events"] / r["loop_s"] / 1e6 if r["loop_s"] > 0 else math.nan})
    ok = all(r["events"] > 0 and r["loop_s"] > 0 for r in rows) and len(rows) > 1
    first = rows[0]
    for r in rows:
        r["loop_vs_x1"] = r["loop_s"] / first["loop_s"]
        r["events_vs_x1"] = r["events"] / first["events"] if first["events"] else math.nan
        r["rss_vs_x1"] = r["peak_rss_bytes"] / first["peak_rss_bytes"]
    return {"indegree": CUBA_INDEGREE, "duration_s": mode["scaling_duration"], "rows": rows,
            "exponent_loop_vs_events": _fit_exponent([r["events"] for r in rows],
                                                      [r["loop_s"] for r in rows]) if ok else math.nan,
            "exponent_rss_vs_synapses": _fit_exponent([r["synapses"] for r in rows],
                                                       [r["peak_rss_bytes"] for r in rows]) if ok else math.nan}


def big(target: str, log) -> dict:
    """100 000 neurons at 1 % connectivity, 1 s: time and peak memory against the validate estimate."""
    from neuromem.spec.loader import load_model
    from neuromem.spec.resources import estimate_resources

    scale = 80 / 1000          # CUBA's in-degree (80) over this network's (1000): same mean input per cell
    ovr = cuba_size_overrides(100_000, 1.0)
    for proj in ("ee", "ei", "ie", "ii"):
        self_ok = ", allow_self = true" if proj in ("ee", "ii") else ""
        ovr.append(f'projections.{proj}.connector={{kind = "fixed_probability", p = 0.01{self_ok}}}')
    ovr += [f"projections.ee.weight.value={1.62 * scale:.6g} mV", f"projections.ei.weight.value={1.62 * scale:.6g} mV",
            f"projections.ie.weight.value={9 * scale:.6g} mV", f"projections.ii.weight.value={9 * scale:.6g} mV"]
    model_file = MODELS / "brette2007_cuba.toml"
    est = estimate_resources(load_model(model_file, overrides=ovr))
    log("  big: 100 000 neurons, 1 % connectivity, 1 s")
    r = measure(neuromem_cmd(model_file, ovr, target), _env())
    return {"overrides": ovr, "neurons": r["neurons"], "synapses": r["synapses"], "events": r["events"],
            "rate_hz": r["rate_hz"], "loop_s": r["loop_s"], "run_s": r["run_s"], "process_s": r["process_s"],
            "peak_rss_bytes": r["peak_rss_bytes"], "rss_bytes_per_synapse": r["peak_rss_bytes"] / r["synapses"],
            "estimated_bytes": est["total_bytes"], "rss_vs_estimate": r["peak_rss_bytes"] / est["total_bytes"]}


# --- report ------------------------------------------------------------------------------------

def _gib(b) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def table(res: dict) -> list[str]:
    """The text table ``make bench`` prints."""
    L = [f"neuromem benchmarks ({res['meta']['mode']}, target {res['meta']['target']}; "
         f"load average {res['meta']['loadavg_start'][0]:.1f} at start, {res['meta']['loadavg_end'][0]:.1f} at end)"]
    for net, c in res.get("classic", {}).items():
        L.append(f"\n{net.upper()}: median of {res['meta']['repeats']}")
        L.append(f"  {'tool':22s} {'loop s':>8s} {'process s':>10s} {'ns/event':>9s} {'events':>10s} {'peak RSS':>10s}")
        for name, t in c["tools"].items():
            L.append(f"  {name:22s} {t['loop_s']:8.3f} {t['process_s']:10.2f} {t['loop_ns_per_event']:9.1f} "
                     f"{t['events']:10.0f} {_gib(t['peak_rss_bytes']):>10s}")
        for name, why in c["unavailable"].items():
            L.append(f"  {name:22s} {why}")
        cols = [k.removesuffix("_s") for k in RATIO_KEYS]
        L.append(f"  {'ratio':46s} " + " ".join(f"{k:>17s}" for k in cols))
        for a, b in RATIO_PAIRS:
            vals = [c["ratios"].get(f"{a}/{b}:{k}") for k in cols]
            if any(v is not None for v in vals):
                L.append(f"  {a + ' / ' + b:46s} " + " ".join(f"{'' if v is None else f'{v:.2f}x':>17s}"
                                                               for v in vals))
    d = res.get("default_model")
    if d:
        L.append(f"\nsmall CLS model (models/cls_small.toml, {' '.join(d['overrides'])}): process {d['process_s']:.1f} s, "
                 f"peak RSS {_gib(d['peak_rss_bytes'])}")
        L.append(f"  {'phase':38s} {'sim s':>6s} {'wall s':>7s} {'wall/sim':>8s} {'Mev/s':>7s} {'vs b2 CUBA':>10s}")
        for ph in d["phases"]:
            rel = ph["mev_per_s_vs_brian2_cuba"]
            L.append(f"  {ph['name']:38s} {ph['simulated_s']:6.2f} {ph['wall_s']:7.2f} {ph['wall_per_simulated']:8.2f} "
                     f"{ph['mev_per_s']:7.2f} {'' if rel is None else f'{rel:.2f}x':>10s}")
    s = res.get("scaling")
    if s:
        L.append(f"\nscaling (CUBA, fixed in-degree 80, {s['duration_s']:g} s): exponent of loop time vs events "
                 f"{s['exponent_loop_vs_events']:.2f}, of peak RSS vs synapses {s['exponent_rss_vs_synapses']:.2f}")
        L.append(f"  {'scale':>5s} {'neurons':>8s} {'synapses':>10s} {'events':>11s} {'loop s':>8s} {'Mev/s':>6s} "
                 f"{'loop/x1':>8s} {'events/x1':>9s} {'peak RSS':>10s}")
        for r in s["rows"]:
            L.append(f"  {r['scale']:>5d} {r['neurons']:8d} {r['synapses']:10d} {r['events']:11d} {r['loop_s']:8.3f} "
                     f"{r['mev_per_s']:6.2f} {r['loop_vs_x1']:8.2f} {r['events_vs_x1']:9.2f} {_gib(r['peak_rss_bytes']):>10s}")
    b = res.get("big")
    if b:
        L.append(f"\nbig: {b['neurons']} neurons, {b['synapses']:,} synapses, {b['rate_hz']:.1f} Hz: loop {b['loop_s']:.1f} s, "
                 f"process {b['process_s']:.1f} s, peak RSS {_gib(b['peak_rss_bytes'])} "
                 f"({b['rss_bytes_per_synapse']:.0f} B/synapse; {b['rss_vs_estimate']:.2f}x the estimate "
                 f"{_gib(b['estimated_bytes'])})")
    return L


def _git_commit() -> str | None:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return r.stdout.strip() or None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="1-2 minutes: one repeat, 0.2 s networks")
    size.add_argument("--tiny", action="store_true", help="plumbing only (a few hundred neurons)")
    ap.add_argument("--big", action="store_true", help="also 100 000 neurons at 1 %% connectivity (minutes, ~10 GB)")
    ap.add_argument("--target", choices=("cython", "numpy"), default=None,
                    help="Brian2 runtime code target for neuromem and plain Brian2 alike "
                         "(default cython; numpy with --tiny)")
    ap.add_argument("--repeats", type=int, default=None, metavar="N",
                    help="repeats of each classic-network measurement (default: 3, 1 with --quick/--tiny)")
    ap.add_argument("--no-nest", action="store_true", help="leave NEST out even when installed")
    ap.add_argument("--only-big", action="store_true", help="run only the --big entry")
    ap.add_argument("--json", default=str(ROOT / "runs" / "bench" / "bench.json"), metavar="PATH")
    args = ap.parse_args(argv)
    mode_name = "tiny" if args.tiny else "quick" if args.quick else "full"
    mode = dict(MODES[mode_name])
    if args.repeats is not None:
        mode["repeats"] = max(1, args.repeats)
    target = args.target or ("numpy" if args.tiny else "cython")

    def log(line):
        print(line, file=sys.stderr, flush=True)

    have_nest = not args.no_nest and nest_installed()
    have_standalone = standalone_available()
    res = {"schema_version": SCHEMA_VERSION,
           "meta": {"mode": mode_name, "target": target, "repeats": mode["repeats"],
                    "date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": _git_commit(),
                    "python": platform.python_version(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg()),
                    "nest": have_nest, "neuromem_standalone": have_standalone,
                    "command": " ".join([Path(sys.executable).name, "benchmarks/run.py", *(argv or sys.argv[1:])])}}
    t0 = time.perf_counter()
    if not args.only_big:
        log("classic networks")
        res["classic"] = classic(mode, target, have_nest, have_standalone, log)
        ref = res["classic"].get("cuba", {}).get("tools", {}).get("brian2_runtime")
        ref_mev = ref["events"] / ref["loop_s"] / 1e6 if ref and ref["loop_s"] > 0 else None
        res["default_model"] = default_model(mode, target, ref_mev, log)
        log("scaling")
        res["scaling"] = scaling(mode, target, log)
    if args.big or args.only_big:
        res["big"] = big(target, log)
    res["meta"]["loadavg_end"] = list(os.getloadavg())
    res["meta"]["bench_s"] = time.perf_counter() - t0
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1, allow_nan=True) + "\n")
    for line in table(res):
        print(line)
    print(f"\nJSON: {path} ({res['meta']['bench_s']:.0f} s)")
    return res


if __name__ == "__main__":
    main()
