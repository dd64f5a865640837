"""The Brette et al. (2007) CUBA and COBA networks in NEST (one thread), for ``benchmarks/run.py``.

The same networks as ``plain_brian2.py`` (see its docstring for the
published parameters), in NEST's built-in models:

* CUBA: ``iaf_psc_exp``.  Brian2's CUBA adds ``w`` volts to a current
  variable that drives ``dv/dt`` through ``/ tau_m``; NEST adds a current
  ``J`` that drives ``dV/dt`` through ``/ C_m``, so ``J = w C_m / tau_m``
  (C_m 250 pF: 20.25 pA excitatory, -112.5 pA inhibitory).
* COBA: ``iaf_cond_exp`` (integrated by GSL's adaptive RKF45), weights in nS,
  negative for the inhibitory conductance.

Pairs connected with probability 0.02 (``pairwise_bernoulli``, autapses
allowed as in Brian2's ``connect(p=...)``), delay one step (0.1 ms, NEST's
minimum; a Brian2 synapse without delay acts on the next step too).

``python plain_nest.py cuba [--n 4000] [--duration 1.0] [--seed 0]`` prints
one line ``BENCH_RESULT {json}`` with the same keys as ``plain_brian2.py``
(``loop_s`` is ``nest.Simulate`` in process CPU seconds, as the Brian2 children
measure their loops; ``loop_wall_s`` in wall seconds).
"""

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

os.environ.setdefault("PYNEST_QUIET", "1")

import nest  # noqa: E402
import numpy as np  # noqa: E402

_T_IMPORTED = time.perf_counter()

EXC_FRACTION = 0.8
P_CONNECT = 0.02
DT_MS = 0.1


def _cuba(n_e: int, n_i: int):
    params = {"C_m": 250.0, "tau_m": 20.0, "E_L": -49.0, "V_th": -50.0, "V_reset": -60.0, "t_ref": 5.0,
              "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "I_e": 0.0}
    cells = nest.Create("iaf_psc_exp", n_e + n_i, params=params)
    cells.V_m = nest.random.uniform(-60.0, -50.0)
    j = params["C_m"] / params["tau_m"]          # pA per mV of Brian2's current-in-volts
    return cells, 1.62 * j, -9.0 * j


def _coba(n_e: int, n_i: int):
    params = {"C_m": 200.0, "g_L": 10.0, "E_L": -60.0, "V_th": -50.0, "V_reset": -60.0, "t_ref": 5.0,
              "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "I_e": 0.0}
    cells = nest.Create("iaf_cond_exp", n_e + n_i, params=params)
    cells.V_m = nest.random.uniform(-60.0, -50.0)
    cells.g_ex = nest.random.normal(mean=40.0, std=15.0)
    cells.g_in = nest.random.normal(mean=200.0, std=120.0)
    return cells, 6.0, -67.0


BUILDERS = {"cuba": _cuba, "coba": _coba}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("net", choices=sorted(BUILDERS))
    ap.add_argument("--n", type=int, default=4000, help="cells (80 %% excitatory; default 4000)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT_MS, "local_num_threads": 1, "rng_seed": args.seed + 1,
                          "print_time": False})
    n_e = int(args.n * EXC_FRACTION)
    cells, w_e, w_i = BUILDERS[args.net](n_e, args.n - n_e)
    conn = {"rule": "pairwise_bernoulli", "p": P_CONNECT, "allow_autapses": True}
    nest.Connect(cells[:n_e], cells, conn, {"weight": w_e, "delay": DT_MS})
    nest.Connect(cells[n_e:], cells, conn, {"weight": w_i, "delay": DT_MS})
    rec = nest.Create("spike_recorder")
    nest.Connect(cells, rec)
    t1 = time.perf_counter()
    c1 = time.process_time()
    nest.Simulate(args.duration * 1000.0)
    c2 = time.process_time()
    t2 = time.perf_counter()

    first = cells[0].global_id
    sources = np.fromiter(nest.GetConnections(source=cells, target=cells).sources(), dtype=np.int64) - first
    out_deg = np.bincount(sources, minlength=args.n)
    spk = np.asarray(rec.get("events", "senders")) - first
    result = {
        "tool": "nest", "net": args.net, "device": "nest-1-thread", "target": "nest",
        "neurons": args.n, "synapses": int(out_deg.sum()), "spikes": int(spk.size),
        "events": int(out_deg[spk].sum()), "simulated_s": args.duration,
        "import_s": _T_IMPORTED - _T_START, "build_s": t1 - t0, "run_s": t2 - t1, "loop_s": c2 - c1,
        "loop_wall_s": t2 - t1,
        "rate_hz": spk.size / (args.n * args.duration),
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
