"""One neuromem run as a benchmark child process, for ``benchmarks/run.py``.

``python neuromem_child.py MODEL [--set KEY=VALUE ...] [--seed 0]
[--target cython|numpy] [--device runtime|cpp_standalone] [--compile-args neuromem|brian2]
[--out DIR]``
runs ``neuromem.run`` (simulate, score, write a run folder without figures:
what ``neuromem run MODEL --no-figures`` does) into a temporary folder under
``--out`` (removed afterwards) and prints one line ``BENCH_RESULT {json}``:
the seconds imports took (``import_s``, from interpreter start), the whole
``neuromem.run`` call (``run_s``), Brian2's main loop of the last phase
(``loop_s``; CPU seconds on both devices, :func:`cpu_loop_clock`; on
``cpp_standalone`` every phase's loops), and per phase its simulated and wall seconds, spikes and
synaptic events (each presynaptic spike times its out-degree, over every
projection, inputs included).

Brian2 is imported as the command line imports it, without ``pylab``
(:func:`neuromem.cli.brian2_without_pylab`).

``--compile-args brian2`` compiles with Brian2's own gcc flags (``-O3``,
``Brian2Options(compile_args=None)``), those of the plain scripts, whatever
``$NEUROMEM_COMPILE_ARGS`` says (neuromem's default is Brian2's flags unless that
variable chooses others, e.g. ``fast`` for the test suite's ``-O1``): like for like
in code, not only in network.

``--device cpp_standalone`` needs a neuromem whose ``Brian2Options`` has a
``device`` field that runs (one whose device fails to import counts as
missing); without one the child exits with status 3 and ``BENCH_UNAVAILABLE
<why>`` on stdout.
"""

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import neuromem  # noqa: E402
from neuromem.cli import brian2_without_pylab  # noqa: E402

with brian2_without_pylab():                   # as ``neuromem run`` imports Brian2
    from neuromem.backends.brian2 import Brian2Options  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_brian2 import cpu_loop_clock  # noqa: E402  (the same loop clock as the plain scripts)

_T_IMPORTED = time.perf_counter()


def standalone_available() -> bool:
    """Whether this neuromem's Brian2 backend takes a ``device`` option (``cpp_standalone``)."""
    return "device" in {f.name for f in dataclasses.fields(Brian2Options)}


def phase_events(run, ph) -> tuple[int, int]:
    """(spikes of the populations, synaptic events) of one phase record of ``run``."""
    model = run.model
    nodes = model.nodes()
    events = 0
    for name, (i, _j) in run.synapses.items():
        src = model.projections[name].source
        deg = np.bincount(i, minlength=nodes[src].size)
        events += int(deg[ph.spikes[src].i].sum())
    spikes = sum(int(ph.spikes[p].i.size) for p in model.populations)
    return spikes, events


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", choices=("cython", "numpy"), default="cython")
    ap.add_argument("--device", choices=("runtime", "cpp_standalone"), default="runtime")
    ap.add_argument("--compile-args", choices=("neuromem", "brian2"), default="neuromem",
                    help="gcc flags: neuromem's default ($NEUROMEM_COMPILE_ARGS, else Brian2's own -O3) or Brian2's own (-O3, as the plain scripts)")
    ap.add_argument("--out", default=None, help="parent of the temporary run folder (default: system temp)")
    args = ap.parse_args(argv)

    options = {"target": args.target, "progress": False}
    if args.compile_args == "brian2":
        options["compile_args"] = None          # Brian2's preference as it is: its default flags
    if args.device != "runtime":
        if not standalone_available():
            print("BENCH_UNAVAILABLE neuromem.backends.brian2.Brian2Options has no 'device' option", flush=True)
            sys.exit(3)
        options["device"] = args.device
    cpu_loop_clock()
    tmp = tempfile.mkdtemp(prefix="neuromem-bench-", dir=args.out)
    try:
        t0 = time.perf_counter()
        try:
            res = neuromem.run(args.model, seed=args.seed, out=tmp, overrides=args.overrides, figures=False,
                               progress=False, log=None, backend_options=Brian2Options(**options))
        except (ImportError, NotImplementedError) as e:
            if args.device == "runtime":
                raise
            print(f"BENCH_UNAVAILABLE {args.device}: {type(e).__name__}: {e}", flush=True)
            sys.exit(3)
        t1 = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    import brian2

    run = res.run
    phases = []
    for ph in run.phases:
        spikes, events = phase_events(run, ph)
        phases.append({"name": ph.name, "simulated_s": ph.duration, "wall_s": ph.wall_time,
                       "spikes": spikes, "events": events})
    n_neurons = sum(p.size for p in run.model.populations.values())
    spikes = sum(p["spikes"] for p in phases)
    simulated = sum(p["simulated_s"] for p in phases)
    result = {
        "tool": "neuromem", "model": run.model.name, "device": args.device, "target": args.target,
        "compile_args": args.compile_args,
        "neurons": n_neurons, "synapses": int(sum(i.size for i, _ in run.synapses.values())),
        "spikes": spikes, "events": sum(p["events"] for p in phases), "simulated_s": simulated,
        "import_s": _T_IMPORTED - _T_START, "run_s": t1 - t0,
        "loop_s": float(brian2.get_device()._last_run_time),
        "rate_hz": spikes / (n_neurons * simulated) if simulated > 0 else 0.0,
        "phases": phases,
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
