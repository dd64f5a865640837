"""Brian2's ``cpp_standalone`` device: the whole protocol in one compiled program.

The runner (:func:`neuromem.backends.runner.run_protocol`) describes the
protocol phase by phase; :class:`StandaloneBackend` records it and, in
:meth:`~StandaloneBackend.finish`, turns it into one C++ program that runs
every phase with no Python in between:

* **the same network** as the runtime device: the builders of
  :mod:`neuromem.backends.brian2.builder` (normalisation is generated code),
  one ``Network``, each object's code generated once for all phases;
* **data, not code**: everything the seed fixes (synapses, initial weights
  and state, every phase's input spikes) and every phase's switch values
  (gains, learning rates, silenced populations) are files the program reads
  at run time, in the run's results folder (``input/``).  A second seed, or
  other connection probabilities, stimuli, gains or learning rates, rerun the
  compiled program as it is.  What the program's code depends on (the
  populations and their parameters, the projections and rules, the phases'
  order, durations, branches, plastic projections and recorded
  populations) is the build's key: when it changes, the program is
  generated again, and make recompiles only the files that changed;
* **branches** (``start_from``): at the end of a phase a later phase starts
  from, the program copies the network state (every state variable,
  ``lastspike``, synaptic traces, spike queues, the network time) and copies
  it back before that phase, in memory (Brian2 has no ``store``/``restore``
  in standalone mode);
* **outputs**: the program writes each phase's start state, end weights,
  wall time and the monitors' sizes at its start and end, from which
  :meth:`~StandaloneBackend.read_phase` cuts the phase's spikes and recorded
  state out of the monitors (which never go back).

Builds live under ``<cache>/standalone/<model>-<topology>/`` (``cache`` is
``Brian2Options.cache_dir`` or ``$NEUROMEM_CACHE_DIR``; the topology digest
covers the populations, sources, projections and the phase sequence, so a
changed time constant rebuilds in place); ``neuromem_build.json`` there
records the key and what the program reads and writes, so that a rerun with
the same key starts the program without generating or compiling anything
(:data:`BUILD_COUNT` counts the builds of this process).  Brian2's random
number generators are not used by neuromem's models (all randomness is drawn
with numpy from the seed); they are seeded with 0 so that a model using them
would still be reproducible.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from neuromem.backends.brian2.program import generate_and_compile
from neuromem.backends.brian2.merging import merge_plan, split_spikes
from neuromem.backends.runner import Backend, PhaseOutput
from neuromem.spec import ModelError
from neuromem.spec.loader import dumps_model

__all__ = ["StandaloneBackend", "BUILD_COUNT", "build_folder"]

#: builds (code generation and compilation) done by this process
BUILD_COUNT = 0

#: bump when the generated program changes in a way the model does not show
LAYOUT_VERSION = 2



class _locked:
    """An exclusive lock on ``path`` (``fcntl.flock``; no lock where fcntl is missing): one build per folder."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.f = open(self.path, "a+")
        try:
            import fcntl

            fcntl.flock(self.f, fcntl.LOCK_EX)
        except ImportError:              # pragma: no cover - not on Unix
            pass
        return self

    def __exit__(self, *exc):
        self.f.close()                   # releases the lock


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def build_folder(options, model, key: str) -> Path:
    """Folder of the builds whose topology has the digest ``key`` (under the options' cache folder).

    A build whose parameters changed (a time constant, a rule's amplitude, a
    phase's duration) is generated again into the same folder, where Brian2
    rewrites only the files that changed and make recompiles only those.
    Compiler flags other than neuromem's default
    (:data:`~neuromem.backends.brian2.codecache.FAST_COMPILE_ARGS`) get a
    folder of their own (``-cc<digest>`` appended, :func:`~neuromem.backends.brian2.codecache.flags_digest`), so that builds with two
    sets of flags (a benchmark compares them) do not recompile each other's
    files at every run.
    """
    from neuromem.backends.brian2.codecache import default_cache_dir, flags_digest
    from neuromem.spec.names import safe_name

    cache = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    digest = flags_digest(options.compile_args)
    flags = "" if digest is None else f"-cc{digest}"
    return cache / "standalone" / f"{safe_name(model.name)}-{key[:16]}{flags}"


def _structure(model) -> dict:
    """The model as the compiled program depends on it: without what the program reads as data."""
    import tomllib

    raw = tomllib.loads(dumps_model(model))
    for k in ("name", "description"):
        raw.pop(k, None)
    for pr in raw.get("projections", {}).values():
        pr.pop("connector", None)
        pr.pop("weight", None)
    for pop in raw.get("populations", {}).values():
        for k in [k for k in pop if k.endswith("_init")]:
            pop.pop(k)
    proto = raw.get("protocol", {})
    for k in ("n_memories", "coding_level", "overlaps", "pattern_population", "replay_population"):
        proto.pop(k, None)
    for ph in proto.get("phases", []):
        for k in ("stimuli", "gain", "silence", "block", "stp_off", "kind", "duration"):
            ph.pop(k, None)
        ph["plastic"] = sorted(ph.get("plastic", {}))
    return raw


def _source_digest() -> str:
    """The code that writes the program: every module of the Brian2 backend (this one, the program
    generator, the builders, normalisation, merging, ...), so that a build function moved to a new
    module still invalidates cached programs when it changes."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class StandaloneBackend(Backend):
    """The runner's backend for Brian2's ``cpp_standalone`` device (see the module docstring)."""

    name = "brian2"
    deferred = True

    def __init__(self, options):
        self.options = options
        self.actions: list = []          # ("restore", name) | ("phase", step) | ("store", name)
        self.inputs: dict = {}
        self.outputs: dict = {}
        self.info: dict = {}

    # ---------------------------------------------------------------- the runner's calls

    def check(self, model, steps) -> None:
        from neuromem.backends.brian2.builder import Builder

        missing = []
        for obj in [*model.nodes().values(), *model.projections.values(), *model.rules.values()]:
            if Builder.unsupported(obj, "cpp_standalone"):
                missing.append(f"{type(obj).__name__} {getattr(obj, 'name', '')!r}".strip())
        if missing:
            raise ModelError("the cpp_standalone device cannot run " + ", ".join(missing)
                             + " (its Brian2 build function declares the runtime device only); "
                               "use --device runtime")

    def build(self, model, draws) -> None:
        self.model, self.draws = model, draws

    def set_phase(self, step, inputs) -> None:
        self.actions.append(("phase", step))
        self.inputs[step.name] = inputs

    def run(self, step) -> None:
        pass                              # runs in finish()

    def store(self, name, path):
        self.actions.append(("store", name))
        return None

    def restore(self, name, path) -> None:
        self.actions.append(("restore", name))

    def read_phase(self, step) -> PhaseOutput:
        return self.outputs[step.name]

    def describe(self) -> dict:
        import brian2

        return {"name": "brian2", "device": "cpp_standalone", "target": "cpp_standalone",
                "brian2": brian2.__version__, **self.info}

    # ---------------------------------------------------------------- the program

    def _layout(self) -> dict:
        """Everything the generated program depends on (its key is the build's)."""
        steps = []
        for kind, arg in self.actions:
            if kind == "phase":
                steps.append({"phase": arg.name, "duration": arg.duration, "t_start": arg.t_start,
                              "plastic": sorted(arg.plastic), "record_state": sorted(arg.record_state)})
            else:
                steps.append({kind: arg})
        model = self.model
        return {"layout": LAYOUT_VERSION, "source": _source_digest(), "model": _structure(model),
                "sources": {n: s.size for n, s in model.sources.items()},
                "initial": {p: sorted(v) for p, v in self.draws.initial.items()},
                "actions": steps, "compile_args": list(self.options.compile_args or ()),
                "merge": merge_plan(model, self.options).describe(),
                "brian2": __import__("brian2").__version__}

    def _topology(self) -> dict:
        """What names the build folder: the objects and the phase sequence (their parameters may change)."""
        model = self.model
        return {"populations": {n: [type(p).__name__, p.size] for n, p in model.populations.items()},
                "sources": {n: s.size for n, s in model.sources.items()},
                "projections": {n: [p.source, p.target, list(p.plasticity)] for n, p in model.projections.items()},
                "actions": [[kind, arg if isinstance(arg, str) else arg.name] for kind, arg in self.actions],
                "merge": merge_plan(model, self.options).describe()}

    def finish(self) -> None:
        global BUILD_COUNT

        # a state is copied only for a phase that goes back to it (a checkpointed run asks to keep
        # every origin, for a resume the program does not need)
        restored = {arg for kind, arg in self.actions if kind == "restore"}
        self.actions = [a for a in self.actions if a[0] != "store" or a[1] in restored]
        layout = self._layout()
        key = hashlib.sha256(json.dumps(layout, sort_keys=True, default=str).encode()).hexdigest()
        folder = build_folder(self.options, self.model, _digest(self._topology()))
        folder.mkdir(parents=True, exist_ok=True)
        manifest_file = folder / "neuromem_build.json"
        t0 = time.perf_counter()
        with _locked(folder.with_name(folder.name + ".lock")):
            manifest = None
            if manifest_file.is_file() and (folder / "main").is_file():
                try:
                    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
                except ValueError:
                    manifest = None
                if manifest is not None and manifest.get("key") != key:
                    manifest = None
            compiled = manifest is None
            if compiled:
                manifest_file.unlink(missing_ok=True)     # no stale key for a half-built program
                manifest = generate_and_compile(self.model, self.draws, self.options, self.actions, folder, key)
                BUILD_COUNT += 1
                manifest_file.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        t_build = time.perf_counter() - t0
        results = folder / "results" / f"run-{os.getpid()}-{time.time_ns()}"
        (results / "input").mkdir(parents=True)
        try:
            self._write_inputs(results, manifest)
            t1 = time.perf_counter()
            proc = subprocess.run([str(folder / "main"), "--results_dir", str(results) + os.sep], cwd=folder,
                                  capture_output=True, text=True)
            t_run = time.perf_counter() - t1
            if proc.returncode != 0:
                raise RuntimeError(f"the compiled protocol {folder / 'main'} failed (exit status "
                                   f"{proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
            self._read_outputs(results, manifest)
        finally:
            import shutil

            shutil.rmtree(results, ignore_errors=True)
        self.info = {"build": {"folder": str(folder), "compiled": compiled, "build_s": round(t_build, 3),
                               "program_s": round(t_run, 3)}}
        # as after a Brian2 script's device.run: the standalone device is the current one and its
        # _last_run_time the simulation loop's seconds, measured as Brian2 measures them (its
        # Network::run loop alone, CPU seconds by std::clock; here summed over every phase), so that
        # a benchmark compares it with a plain script's like for like.  A phase's wall_time is
        # wall-clock seconds and includes what precedes the loop (e.g. the spike queues' set-up).
        import brian2 as b2

        if not compiled:
            b2.set_device("cpp_standalone", build_on_run=False)
        b2.get_device()._last_run_time = self.loop_s


    # ---------------------------------------------------------------- data in and out

    def _write_inputs(self, results: Path, manifest: dict) -> None:
        model, draws = self.model, self.draws
        inp = results / "input"
        for name in model.projections:
            i, j = draws.synapses[name]
            np.ascontiguousarray(i, dtype=np.int32).tofile(inp / f"syn_{name}_i.bin")
            np.ascontiguousarray(j, dtype=np.int32).tofile(inp / f"syn_{name}_j.bin")
            np.ascontiguousarray(draws.weights[name], dtype=np.float64).tofile(inp / f"syn_{name}_w.bin")
        for pname, values in draws.initial.items():
            for var, v in values.items():
                np.ascontiguousarray(v, dtype=np.float64).tofile(inp / f"init_{pname}_{var}.bin")
        dt = model.dt
        plastic = manifest["plastic"]
        stp = model.stp_projections()
        k = 0
        for kind, step in self.actions:
            if kind != "phase":
                continue
            for src, (i, t) in self.inputs[step.name].items():
                # Brian2's SpikeGeneratorGroup rounding: the time step of t + dt / 1000
                t_abs = np.asarray(t, dtype=np.float64) + step.t_start
                bins = np.asarray((t_abs + 1e-3 * dt) / dt, dtype=np.int32)
                np.ascontiguousarray(i, dtype=np.int32).tofile(inp / f"ph{k}_{src}_i.bin")
                bins.tofile(inp / f"ph{k}_{src}_b.bin")
            sw = [step.gains[p] for p in manifest["projections"]]
            sw += [step.learning_rates[p] for p in plastic]
            sw += [1.0 if p in step.silenced else 0.0 for p in model.populations]
            sw += [step.stp_on[p] for p in stp]
            np.asarray(sw, dtype=np.float64).tofile(inp / f"ph{k}_switches.bin")
            k += 1

    def _read_outputs(self, results: Path, manifest: dict) -> None:
        model = self.model
        mons = manifest["monitors"]
        spike_arrays = {p: (np.fromfile(results / f["i"], dtype=np.int32), np.fromfile(results / f["t"]))
                        for p, f in mons["spikes"].items()}
        state_arrays = {}
        for p, f in mons["state"].items():
            t = np.fromfile(results / f["t"])
            state_arrays[p] = (t, np.fromfile(results / f["v"]).reshape(t.size, f["n"]))
        n_mon = len(mons["spikes"]) + len(mons["state"])
        marks = np.fromfile(results / "marks.bin", dtype=np.int64).reshape(-1, 2, n_mon)
        walls = np.fromfile(results / "walls.bin")
        self.loop_s = float(np.fromfile(results / "loops.bin").sum())
        steps = [s for kind, s in self.actions if kind == "phase"]
        keys = list(mons["spikes"])
        for k, step in enumerate(steps):
            t0, start, end = step.t_start, marks[k, 0], marks[k, 1]
            spikes = {}
            for m, key in enumerate(keys):
                i, t = spike_arrays[key]
                a, b = int(start[m]), int(end[m])
                t_rel = np.round((t[a:b] - t0) / model.dt) * model.dt
                spikes.update(split_spikes(i[a:b].astype(np.int32), t_rel,
                                           {p: tuple(r) for p, r in mons["spikes"][key]["populations"].items()}))
            spikes = {p: spikes[p] for p in model.populations}
            state = {}
            for m, p in enumerate(mons["state"], start=len(keys)):
                if p in step.record_state:
                    t, v = state_arrays[p]
                    a, b = int(start[m]), int(end[m])
                    state[p] = (t[a:b] - t0, np.ascontiguousarray(v[a:b].T))
            initial = {}
            for p in model.populations:
                for var in manifest["state_vars"][p]:
                    initial[f"{p}_{var}"] = np.fromfile(results / f"ph{k}_init_{p}_{var}.bin")
                initial[f"{p}_lastspike"] = np.fromfile(results / f"ph{k}_init_{p}_lastspike.bin") - t0
            weights = {p: np.fromfile(results / f"ph{k}_w_{p}.bin") for p in manifest["plastic"]}
            self.outputs[step.name] = PhaseOutput(spikes=spikes, weights=weights, state=state,
                                                  initial_state=initial, wall_time=float(walls[k]))
