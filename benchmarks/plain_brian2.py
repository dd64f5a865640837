"""The Brette et al. (2007) CUBA and COBA networks as plain Brian2 scripts (no neuromem).

The reference side of ``benchmarks/run.py``: the same networks as
``models/brette2007_cuba.toml`` and ``models/brette2007_coba.toml``, written
the way a Brian2 user writes them, from the published parameters (Brette et
al. 2007, J. Comput. Neurosci. 23:349, benchmarks 1 and 2, after Vogels &
Abbott 2005): one group of 4000 LIF cells (3200 E, 800 I), pairs connected
with probability 0.02 (Brian2 draws them itself), no input, dt 0.1 ms.

* CUBA: tau_m 20 ms, E_l -49 mV, V_t -50 mV, V_r -60 mV, refractory 5 ms,
  exponential currents in volts, tau_e 5 ms, tau_i 10 ms, w_e 1.62 mV,
  w_i -9 mV; V uniform in [V_r, V_t].
* COBA: C 200 pF, g_L 10 nS, E_L = V_r -60 mV, V_t -50 mV, refractory 5 ms,
  E_e 0 mV, E_i -80 mV, tau_e 5 ms, tau_i 10 ms, dg_e 6 nS, dg_i 67 nS;
  V ~ N(-65, 5) mV (Brette's COBA script), g_e ~ N(40, 15) nS, g_i ~ N(200, 120) nS.

Run as a child process by the benchmark: ``python plain_brian2.py cuba
[--device runtime|cpp_standalone] [--target cython|numpy] [--n 4000]
[--duration 1.0] [--seed 0]``; prints one line ``BENCH_RESULT {json}``
with the seconds since the interpreter started that imports took
(``import_s``), building (``build_s``), ``Network.run`` (``run_s``, code
generation included) and Brian2's main loop alone (``loop_s``), and the
counts (neurons, synapses, spikes, synaptic events = spikes x out-degree).
"""

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

import brian2 as b2  # noqa: E402
import numpy as np  # noqa: E402

_T_IMPORTED = time.perf_counter()

EXC_FRACTION = 0.8
P_CONNECT = 0.02


def _cache_dir() -> Path:
    root = os.environ.get("NEUROMEM_CACHE_DIR") or str(Path(__file__).resolve().parents[1] / ".cache")
    return Path(root)


def _setup(device: str, target: str, net: str):
    """Brian2 preferences for the device and target (Cython and standalone builds cached on disk)."""
    if device == "cpp_standalone":
        build_dir = _cache_dir() / "bench_standalone" / f"plain_{net}"
        b2.set_device("cpp_standalone", directory=str(build_dir), build_on_run=False)
        b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]
        return build_dir
    b2.prefs.codegen.target = target
    if target == "cython":
        cache = _cache_dir() / "bench_cython"
        cache.mkdir(parents=True, exist_ok=True)
        b2.prefs.codegen.runtime.cython.cache_dir = str(cache)
        b2.prefs.codegen.runtime.cython.multiprocess_safe = True
    return None


def build_cuba(n: int):
    """CUBA: current-based LIF with exponential synaptic currents (in volts)."""
    taum, taue, taui = 20 * b2.ms, 5 * b2.ms, 10 * b2.ms
    Vt, Vr, El = -50 * b2.mV, -60 * b2.mV, -49 * b2.mV
    we, wi = 60 * 0.27 / 10 * b2.mV, -20 * 4.5 / 10 * b2.mV
    eqs = """
    dv/dt = (ge + gi - (v - El)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    """
    cells = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * b2.ms,
                           method="exact", name="cells",
                           namespace={"taum": taum, "taue": taue, "taui": taui, "Vt": Vt, "Vr": Vr, "El": El})
    cells.v = "Vr + rand() * (Vt - Vr)"
    n_e = int(n * EXC_FRACTION)
    exc = b2.Synapses(cells[:n_e], cells, on_pre="ge += we", namespace={"we": we}, name="exc")
    inh = b2.Synapses(cells[n_e:], cells, on_pre="gi += wi", namespace={"wi": wi}, name="inh")
    exc.connect(p=P_CONNECT)
    inh.connect(p=P_CONNECT)
    return cells, exc, inh, n_e


def build_coba(n: int):
    """COBA: conductance-based LIF with exponential conductances."""
    ns = {"Cm": 200 * b2.pF, "gl": 10 * b2.nS, "El": -60 * b2.mV, "Ee": 0 * b2.mV, "Ei": -80 * b2.mV,
          "taue": 5 * b2.ms, "taui": 10 * b2.ms, "Vt": -50 * b2.mV, "Vr": -60 * b2.mV}
    eqs = """
    dv/dt = (gl * (El - v) + ge * (Ee - v) + gi * (Ei - v)) / Cm : volt (unless refractory)
    dge/dt = -ge / taue : siemens
    dgi/dt = -gi / taui : siemens
    """
    cells = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * b2.ms,
                           method="exponential_euler", name="cells", namespace=ns)
    cells.v = "(-65 + 5 * randn()) * mV"
    cells.ge = "(40 + 15 * randn()) * nS"
    cells.gi = "(200 + 120 * randn()) * nS"
    n_e = int(n * EXC_FRACTION)
    exc = b2.Synapses(cells[:n_e], cells, on_pre="ge += we", namespace={"we": 6 * b2.nS}, name="exc")
    inh = b2.Synapses(cells[n_e:], cells, on_pre="gi += wi", namespace={"wi": 67 * b2.nS}, name="inh")
    exc.connect(p=P_CONNECT)
    inh.connect(p=P_CONNECT)
    return cells, exc, inh, n_e


BUILDERS = {"cuba": build_cuba, "coba": build_coba}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("net", choices=sorted(BUILDERS))
    ap.add_argument("--device", choices=("runtime", "cpp_standalone"), default="runtime")
    ap.add_argument("--target", choices=("cython", "numpy"), default="cython")
    ap.add_argument("--n", type=int, default=4000, help="cells (80 %% excitatory; default 4000)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    build_dir = _setup(args.device, args.target, args.net)
    t0 = time.perf_counter()
    b2.seed(args.seed)
    b2.defaultclock.dt = 0.1 * b2.ms
    cells, exc, inh, n_e = BUILDERS[args.net](args.n)
    mon = b2.SpikeMonitor(cells, name="spikes")
    net = b2.Network(cells, exc, inh, mon)
    t1 = time.perf_counter()
    net.run(args.duration * b2.second, namespace={})
    if args.device == "cpp_standalone":
        b2.device.build(directory=str(build_dir), compile=True, run=True)
    t2 = time.perf_counter()
    loop = float(b2.get_device()._last_run_time)

    out_deg = np.concatenate([np.bincount(np.asarray(exc.i[:]), minlength=n_e),
                              np.bincount(np.asarray(inh.i[:]), minlength=args.n - n_e)])
    spk = np.asarray(mon.i[:])
    result = {
        "tool": "brian2", "net": args.net, "device": args.device, "target": args.target,
        "neurons": args.n, "synapses": int(out_deg.sum()), "spikes": int(spk.size),
        "events": int(out_deg[spk].sum()), "simulated_s": args.duration,
        "import_s": _T_IMPORTED - _T_START, "build_s": t1 - t0, "run_s": t2 - t1, "loop_s": loop,
        "rate_hz": spk.size / (args.n * args.duration),
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
