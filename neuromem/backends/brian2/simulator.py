"""Run a model's protocol on Brian2, phase by phase."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import brian2 as b2

from neuromem.records import Run
from neuromem.backends.runner import Backend, PhaseOutput, run_protocol
from neuromem.backends.brian2.builder import BuiltNetwork
from neuromem.backends.brian2.merging import (build_populations, build_projections, merge_plan, spike_monitors,
                                              split_spikes)
from neuromem.backends.brian2.codecache import (FAST_COMPILE_ARGS, cache_stateupdaters, default_cache_dir,  # noqa: F401
                                                default_compile_args, flags_digest, reuse_code_objects)

__all__ = ["Brian2Options", "simulate", "default_cache_dir", "default_device", "resolve_device", "DEVICES",
           "make_backend", "RuntimeBackend", "last_backend_description"]

#: Brian2 devices neuromem runs a protocol on
DEVICES = ("runtime", "cpp_standalone")


def default_device() -> str:
    """The Brian2 device used when none is chosen: ``$NEUROMEM_DEVICE``, else ``"runtime"``."""
    return os.environ.get("NEUROMEM_DEVICE") or "runtime"


def resolve_device(device: str | None) -> str:
    """``device`` checked against :data:`DEVICES` (``None``: :func:`default_device`)."""
    device = device or default_device()
    if device not in DEVICES:
        raise ValueError(f"unknown Brian2 device {device!r} ({', '.join(DEVICES)})")
    return device


@dataclass(frozen=True)
class Brian2Options:
    """Backend options, kept out of the model description.

    Attributes
    ----------
    target : {"auto", "cython", "numpy"}
        Runtime code generation target; ``"auto"`` uses Cython when a C
        compiler works and falls back to numpy otherwise.
    cache_dir : str or None
        Where compiled code is cached (Cython modules, standalone builds;
        default :func:`default_cache_dir`).
    progress : bool
        Show a progress bar for long phases.
    compile_args : tuple of str or None
        Flags for compiling the generated code with gcc/clang (Brian2's
        ``codegen.cpp.extra_compile_args_gcc``; Cython modules and the
        standalone program).  Default: ``$NEUROMEM_COMPILE_ARGS``
        (:func:`~neuromem.backends.brian2.codecache.default_compile_args`),
        unset: Brian2's own set
        (:data:`~neuromem.backends.brian2.codecache.BRIAN2_COMPILE_ARGS`,
        ``-O3``), what a plain Brian2 script compiles with.
        ``NEUROMEM_COMPILE_ARGS=fast`` selects
        :data:`~neuromem.backends.brian2.codecache.FAST_COMPILE_ARGS` (``-O1``):
        about 30 % shorter compilation (the small model's 74 Cython modules),
        a runtime loop up to ~1.5× slower on small networks (CUBA), the same
        results (same metrics to the last digit on the small model); the
        test suite sets it (``tests/conftest.py``, ``make test``).  ``None``
        keeps Brian2's preference as it is.
    merge : bool
        Build populations of one neuron model with equal parameters as
        subgroups of one ``NeuronGroup``, and projections that can be as one
        ``Synapses`` (:func:`~neuromem.backends.brian2.merging.plan_merges`):
        fewer objects per time step, the same spikes and weights bit for
        bit.  ``False``: one Brian2 object per population and projection.
    device : {"runtime", "cpp_standalone"} or None
        Brian2 device.  ``"runtime"`` runs each phase from Python with the
        code ``target``; ``"cpp_standalone"`` compiles the whole protocol
        (every phase, its switches and branches) into one C++ program, cached
        under ``cache_dir`` and rerun for another seed without recompiling
        (:mod:`neuromem.backends.brian2.standalone`).  ``None``:
        :func:`default_device` (``$NEUROMEM_DEVICE``, else runtime).
    """

    target: str = "auto"
    cache_dir: str | None = None
    progress: bool = True
    compile_args: tuple[str, ...] | None = field(default_factory=default_compile_args)
    device: str | None = None
    merge: bool = True


_configured: str | None = None


def cython_cache_name() -> str:
    """The Cython cache's folder for Brian2's current compiler flags: ``cython`` for :data:`FAST_COMPILE_ARGS`.

    Brian2 names a compiled module after its code alone, not the flags it was
    compiled with, so modules compiled with other flags (e.g. Brian2's own
    ``-O3``, ``compile_args=None``) live in a folder of their own,
    ``cython-<digest of the flags>``; in one shared folder a module compiled
    first would be used whatever the flags asked for (:func:`flags_digest`).
    """
    digest = flags_digest(b2.prefs.codegen.cpp.extra_compile_args_gcc)
    return "cython" if digest is None else f"cython-{digest}"


def configure(options: Brian2Options) -> str:
    """Set Brian2 preferences for runtime mode; returns the codegen target used."""
    global _configured
    target = options.target
    if target not in ("auto", "cython", "numpy"):
        raise ValueError(f"unknown Brian2 target {target!r} (auto, cython, numpy)")
    if target in ("auto", "cython"):
        if options.compile_args is not None:
            b2.prefs.codegen.cpp.extra_compile_args_gcc = list(options.compile_args)
        cache = (Path(options.cache_dir) if options.cache_dir else default_cache_dir()) / cython_cache_name()
        cache.mkdir(parents=True, exist_ok=True)
        b2.prefs.codegen.runtime.cython.cache_dir = str(cache)
        b2.prefs.codegen.runtime.cython.multiprocess_safe = True
    if target == "auto":
        if _configured is None:
            try:
                ok = b2.codegen.runtime.cython_rt.CythonCodeObject.is_available()
            except Exception:  # pragma: no cover - no compiler / cython
                ok = False
            _configured = "cython" if ok else "numpy"
        target = _configured
    b2.prefs.codegen.target = target
    b2.prefs.codegen.loop_invariant_optimisations = True
    b2.set_device("runtime")
    return target


class _Progress:
    def __init__(self, name, duration):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=round(duration, 3), desc=f"{name:>28s}", unit="s sim", leave=False,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]")

    def __call__(self, elapsed, completed, start, duration):
        self.bar.n = round(float(completed) * float(duration), 3)
        self.bar.refresh()

    def close(self):
        self.bar.close()


def simulate(model, seed: int, options: Brian2Options | None = None, phases=None, log=None,
             checkpoint=None) -> Run:
    """Build ``model`` on Brian2 and run its protocol.

    The backend-neutral steps (what the seed fixes, the phase order and
    branching, inputs, records, checkpoints) are
    :func:`neuromem.backends.runner.run_protocol`'s; this function chooses
    the Brian2 device (``options.device``) and hands the runner its backend.

    Parameters
    ----------
    model : neuromem.spec.Model
    seed : int
        Seeds patterns, cues, connectivity, initial weights and input spikes.
        The Brian2 network itself has no random elements, so a seed fixes the
        whole run.
    options : Brian2Options, optional
    phases : list of str, optional
        Run only these phases (with the phases they start from).
    log : callable, optional
        Called with one line of text per phase.
    checkpoint : object, optional
        Hooks that save the run while it runs and let it continue later, e.g.
        :class:`neuromem.io.RunCheckpoint`.  It needs

        ``completed``
            List of :class:`~neuromem.records.PhaseRecord` of the phases
            already simulated (empty for a new run), in simulated order.  They
            are put into the returned run as they are, and simulation
            continues with the next phase from the network state stored at
            the end of its origin (:meth:`neuromem.spec.Protocol.origin`).
        ``state_path(phase) -> Path``
            The file holding the Brian2 network state
            (:meth:`brian2.Network.store`) at the end of ``phase``.
        ``on_start(run)``
            Called once, before the first phase is simulated, with the run
            (patterns, cues, synapses and initial weights filled in).
        ``on_phase_end(record, state_path)``
            Called after each phase with its record and the state file
            written for it, or ``None`` when no later phase starts from it.

        The state at the end of a phase is stored (to ``state_path``, written
        whole before the hook is called) while a later phase still starts
        from it, and its file is removed once none does.  The stored state
        covers every variable, the synaptic traces, ``lastspike``, spikes
        still in the delay queues, the monitors and the clocks, so a resumed
        run gives the same spikes and weights as an uninterrupted one.  With
        ``device="cpp_standalone"`` the whole protocol runs in one compiled
        program after the last phase is planned, so the hooks are called
        after it and no state file is written.

    Returns
    -------
    neuromem.records.Run

    Raises
    ------
    ValueError
        If ``checkpoint.completed`` is not the start of the phases to run, or
        a state file the continuation needs is missing.
    neuromem.spec.ModelError
        If the device cannot run a feature of the model (the message names it).
    """
    global _last_description
    options = options or Brian2Options()
    backend = make_backend(options)
    _last_description = None
    run = run_protocol(model, seed, backend, phases=phases, log=log, checkpoint=checkpoint)
    _last_description = backend.describe()
    return run


_last_description: dict | None = None


def last_backend_description(options: Brian2Options | None = None) -> dict:
    """What results.json records about the backend of the last :func:`simulate` of this process.

    ``name``, ``target``, ``brian2`` version; on the ``cpp_standalone`` device
    also ``device`` and its build (folder, whether it compiled, seconds).
    Without a completed :func:`simulate`, what ``options`` describe.
    """
    if _last_description is not None:
        return dict(_last_description)
    options = options or Brian2Options()
    if resolve_device(options.device) == "runtime":
        return {"name": "brian2", "target": str(b2.prefs.codegen.target), "brian2": b2.__version__}
    return {"name": "brian2", "device": resolve_device(options.device), "brian2": b2.__version__}


def make_backend(options: Brian2Options):
    """The :class:`~neuromem.backends.runner.Backend` for ``options.device``."""
    device = resolve_device(options.device)
    if device == "cpp_standalone":
        from neuromem.backends.brian2.standalone import StandaloneBackend

        return StandaloneBackend(options)
    return RuntimeBackend(options)


class RuntimeBackend(Backend):
    """Brian2's runtime device (Cython or numpy code, Python between phases)."""

    name = "brian2"
    deferred = False

    def __init__(self, options: Brian2Options):
        self.options = options
        self.target = None

    def describe(self) -> dict:
        return {"name": "brian2", "target": self.target, "brian2": b2.__version__}

    def build(self, model, draws) -> None:
        self.target = configure(self.options)
        cache_stateupdaters(Path(self.options.cache_dir) if self.options.cache_dir else default_cache_dir())
        self.model = model
        b2.start_scope()
        b2.defaultclock.dt = model.dt * b2.second
        net = BuiltNetwork()
        self.plan = merge_plan(model, self.options)
        build_populations(model, net, self.plan)
        for pname in model.populations:        # v_init and the model's other initial distributions
            for var, values in draws.initial[pname].items():
                setattr(net.groups[pname], var, values * net.state[pname][var])
        build_projections(model, net, self.plan, draws)
        self.net = net
        self.undelayed_from: dict = {}
        for name, proj in model.projections.items():
            if proj.source in model.sources and round(proj.delay / model.dt) == 0:
                self.undelayed_from.setdefault(proj.source, []).append(name)
        self.plastic = [name for name, proj in model.projections.items() if proj.plasticity]
        self.monitors = spike_monitors(net, model)
        state_pops = sorted({p for ph in model.protocol.phases for p in ph.record_state})
        self.state_mons = {p: b2.StateMonitor(net.groups[p], "v",
                                              record=np.arange(min(50, model.populations[p].size)),
                                              name=f"statemon_{p}") for p in state_pops}
        self.network = b2.Network(*net.objects(), *(m for m, _ in self.monitors.values()),
                                  *self.state_mons.values())
        reuse_code_objects(self.network.sorted_objects)

    def set_phase(self, step, inputs) -> None:
        net, model = self.net, self.model
        self.t0 = float(self.network.t / b2.second)
        for src, (i, t) in inputs.items():
            g = net.groups[src]
            g.set_spikes(i, (t + self.t0) * b2.second)
            # A source without spikes in the phase does not run, nor do its projections without a
            # delay (nothing in flight); its spike space is emptied so that delayed projections,
            # which still deliver what is in flight, push nothing new.
            silent = i.size == 0
            if silent:
                g.variables["_spikespace"].get_value()[-1] = 0
            g.active = not silent
            for name in self.undelayed_from.get(src, ()):
                net.synapses[name].pre.active = not silent
        for pname in model.populations:
            net.groups[pname].silenced = 1.0 if pname in step.silenced else 0.0
        for pname, syn in net.synapses.items():
            syn.gain = step.gains[pname]
            if pname in step.stp_on:
                syn.stp_on = step.stp_on[pname]
            if pname in step.learning_rates:
                syn.lr = step.learning_rates[pname]
            for obj in net.normalisers.get(pname, ()):
                obj.active = pname in step.plastic
        for p, m in self.state_mons.items():
            m.active = p in step.record_state
        self.n_before = {key: m.num_spikes for key, (m, _) in self.monitors.items()}
        self.n_state = {p: len(m.t) for p, m in self.state_mons.items()}
        initial = {}
        for pname in model.populations:
            g = net.groups[pname]
            for var, unit in net.state[pname].items():       # the neuron model's state (v, I for LIF)
                initial[f"{pname}_{var}"] = np.asarray(getattr(g, var)[:] / unit).copy()
            initial[f"{pname}_lastspike"] = np.asarray(g.lastspike[:] / b2.second) - self.t0
        self.initial = initial

    def run(self, step) -> None:
        bar = _Progress(step.name, step.duration) if self.options.progress else None
        start = time.perf_counter()
        self.network.run(step.duration * b2.second, report=bar, report_period=1 * b2.second,
                         namespace={}, level=0)
        self.wall = time.perf_counter() - start
        if bar is not None:
            bar.close()

    def read_phase(self, step) -> PhaseOutput:
        model, t0 = self.model, self.t0
        spikes = {}
        for key, (m, ranges) in self.monitors.items():
            k = self.n_before[key]
            # Brian2's spike times are whole time steps; subtracting the phase start in
            # floating point leaves values such as 0.0999999, which would fall on the wrong
            # side of a recall window's edge, so they are put back on the step grid.
            t_rel = np.round((np.asarray(m.t[k:] / b2.second) - t0) / model.dt) * model.dt
            spikes.update(split_spikes(np.asarray(m.i[k:], dtype=np.int32), t_rel, ranges))
        spikes = {p: spikes[p] for p in model.populations}
        state = {p: (np.asarray(m.t[self.n_state[p]:] / b2.second) - t0,
                     np.asarray(m.v[:, self.n_state[p]:] / b2.volt))
                 for p, m in self.state_mons.items() if p in step.record_state}
        weights = {pname: np.asarray(self.net.synapses[pname].w[:] / b2.volt)[self.net.synapse_range(pname)].copy()
                   for pname in self.plastic}
        return PhaseOutput(spikes=spikes, weights=weights, state=state, initial_state=self.initial,
                           wall_time=self.wall)

    def store(self, name, path):
        """Store the network state at the end of phase ``name`` (in memory, or whole into ``path``)."""
        if path is None:
            self.network.store(name)
            return None
        self.network.store(name, filename=str(path))
        return path

    def restore(self, name, path) -> None:
        """Restore the network state stored at the end of phase ``name``."""
        if path is None:
            self.network.restore(name)
        else:
            self.network.restore(name, filename=str(path))


