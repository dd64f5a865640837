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

``--split`` writes the same network the way neuromem's model files lay it
out: two groups (``e``, ``i``) with a spike monitor each and four
``Synapses`` (``ee``, ``ei``, ``ie``, ``ii``) instead of one group, one
monitor and two ``Synapses``: the same work per step in twice as many Brian2
objects, which is what Brian2's per-object cost per time step (each code
object a Python-to-Cython call in runtime mode) depends on.

Run as a child process by the benchmark: ``python plain_brian2.py cuba
[--device runtime|cpp_standalone] [--target cython|numpy] [--split] [--n 4000]
[--duration 1.0] [--seed 0]``; prints one line ``BENCH_RESULT {json}``
with the seconds since the interpreter started that imports took
(``import_s``), building (``build_s``), ``Network.run`` (``run_s``, code
generation included) and Brian2's main loop alone (``loop_s``, CPU
seconds on both devices: :func:`cpu_loop_clock`), and the
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


def cpu_loop_clock() -> None:
    """Make Brian2's runtime loop timer measure process CPU seconds, as its ``cpp_standalone`` device does.

    ``Network.run`` times its loop with ``time.time()`` (wall clock) in runtime
    mode, while a ``cpp_standalone`` program times it with ``std::clock()``
    (CPU).  The benchmark compares loops on a machine shared with other
    processes, so every Brian2 child reports CPU seconds: the same measure on
    both devices, and one that other processes' load moves much less.  Only
    Brian2's module sees the change (its report and maximum-run-time checks,
    unused here, would see CPU seconds too).
    """
    import types

    import brian2.core.network as network

    network.time = types.SimpleNamespace(time=time.process_time)


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


def _cuba_cells(n: int, name: str):
    """CUBA's LIF cells with exponential synaptic currents (in volts)."""
    taum, taue, taui = 20 * b2.ms, 5 * b2.ms, 10 * b2.ms
    Vt, Vr, El = -50 * b2.mV, -60 * b2.mV, -49 * b2.mV
    eqs = """
    dv/dt = (ge + gi - (v - El)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    """
    cells = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * b2.ms,
                           method="exact", name=name,
                           namespace={"taum": taum, "taue": taue, "taui": taui, "Vt": Vt, "Vr": Vr, "El": El})
    cells.v = "Vr + rand() * (Vt - Vr)"
    return cells


def _coba_cells(n: int, name: str):
    """COBA's conductance-based LIF cells with exponential conductances."""
    ns = {"Cm": 200 * b2.pF, "gl": 10 * b2.nS, "El": -60 * b2.mV, "Ee": 0 * b2.mV, "Ei": -80 * b2.mV,
          "taue": 5 * b2.ms, "taui": 10 * b2.ms, "Vt": -50 * b2.mV, "Vr": -60 * b2.mV}
    eqs = """
    dv/dt = (gl * (El - v) + ge * (Ee - v) + gi * (Ei - v)) / Cm : volt (unless refractory)
    dge/dt = -ge / taue : siemens
    dgi/dt = -gi / taui : siemens
    """
    cells = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * b2.ms,
                           method="exponential_euler", name=name, namespace=ns)
    cells.v = "(-65 + 5 * randn()) * mV"
    cells.ge = "(40 + 15 * randn()) * nS"
    cells.gi = "(200 + 120 * randn()) * nS"
    return cells


CELLS = {"cuba": _cuba_cells, "coba": _coba_cells}
WEIGHTS = {"cuba": (60 * 0.27 / 10 * b2.mV, -20 * 4.5 / 10 * b2.mV), "coba": (6 * b2.nS, 67 * b2.nS)}


def build(net: str, n: int, split: bool = False):
    """The network: ``(groups, synapses)``, each synapse object with its presynaptic cells' global offset.

    One group and two ``Synapses`` (excitatory and inhibitory cells as
    subgroups); ``split``: two groups and four ``Synapses``.
    """
    n_e = int(n * EXC_FRACTION)
    we, wi = WEIGHTS[net]
    exc_code = ("ge += we", {"we": we})
    inh_code = ("gi += wi", {"wi": wi})
    if not split:
        cells = CELLS[net](n, "cells")
        exc = b2.Synapses(cells[:n_e], cells, on_pre=exc_code[0], namespace=exc_code[1], name="exc")
        inh = b2.Synapses(cells[n_e:], cells, on_pre=inh_code[0], namespace=inh_code[1], name="inh")
        exc.connect(p=P_CONNECT)
        inh.connect(p=P_CONNECT)
        return [cells], [(exc, 0), (inh, n_e)]
    e, i = CELLS[net](n_e, "e"), CELLS[net](n - n_e, "i")
    syns = []
    for src, off, (code, ns) in ((e, 0, exc_code), (i, n_e, inh_code)):
        for tgt in (e, i):
            s = b2.Synapses(src, tgt, on_pre=code, namespace=ns, name=src.name + tgt.name)
            s.connect(p=P_CONNECT)
            syns.append((s, off))
    return [e, i], syns


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("net", choices=sorted(CELLS))
    ap.add_argument("--device", choices=("runtime", "cpp_standalone"), default="runtime")
    ap.add_argument("--target", choices=("cython", "numpy"), default="cython")
    ap.add_argument("--n", type=int, default=4000, help="cells (80 %% excitatory; default 4000)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", action="store_true",
                    help="two groups and four Synapses, as neuromem's model files lay the network out")
    args = ap.parse_args(argv)

    build_dir = _setup(args.device, args.target, args.net + ("_split" if args.split else ""))
    cpu_loop_clock()
    t0 = time.perf_counter()
    b2.seed(args.seed)
    b2.defaultclock.dt = 0.1 * b2.ms
    groups, syns = build(args.net, args.n, args.split)
    mons = [b2.SpikeMonitor(g, name=f"spikes_{g.name}" if args.split else "spikes") for g in groups]
    net = b2.Network(*groups, *(s for s, _ in syns), *mons)
    t1 = time.perf_counter()
    net.run(args.duration * b2.second, namespace={})
    if args.device == "cpp_standalone":
        b2.device.build(directory=str(build_dir), compile=True, run=True)
    t2 = time.perf_counter()
    loop = float(b2.get_device()._last_run_time)

    out_deg = np.zeros(args.n, dtype=np.int64)
    for s, off in syns:
        np.add.at(out_deg, off + np.asarray(s.i[:]), 1)
    offsets = np.cumsum([0] + [g.N for g in groups])
    spk = np.concatenate([off + np.asarray(m.i[:]) for m, off in zip(mons, offsets)])
    result = {
        "tool": "brian2", "net": args.net, "device": args.device, "target": args.target, "split": args.split,
        "neurons": args.n, "synapses": int(out_deg.sum()), "spikes": int(spk.size),
        "events": int(out_deg[spk].sum()), "simulated_s": args.duration,
        "import_s": _T_IMPORTED - _T_START, "build_s": t1 - t0, "run_s": t2 - t1, "loop_s": loop,
        "rate_hz": spk.size / (args.n * args.duration),
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
