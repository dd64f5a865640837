"""Run a model's protocol on Brian2, phase by phase."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import brian2 as b2

from neuromem.connectivity import draw_projection
from neuromem.records import PhaseRecord, Run, Spikes
from neuromem.stimulus import initial_potentials, make_cues, phase_inputs, protocol_patterns, rng_for
from neuromem.backends.brian2.builder import BuiltNetwork, build

__all__ = ["Brian2Options", "simulate", "default_cache_dir"]


def default_cache_dir() -> Path:
    """Project-local compile cache (``$NEUROMEM_CACHE_DIR`` or ``~/.cache/neuromem``)."""
    return Path(os.environ.get("NEUROMEM_CACHE_DIR", Path.home() / ".cache" / "neuromem"))


# Brian2's default gcc flags with -O1 for -O3 (see Brian2Options.compile_args).
FAST_COMPILE_ARGS = ("-w", "-O1", "-ffast-math", "-fno-finite-math-only", "-march=native", "-std=c++11")


@dataclass(frozen=True)
class Brian2Options:
    """Backend options, kept out of the model description.

    Attributes
    ----------
    target : {"auto", "cython", "numpy"}
        Runtime code generation target; ``"auto"`` uses Cython when a C
        compiler works and falls back to numpy otherwise.
    cache_dir : str or None
        Where compiled Cython code is cached (default :func:`default_cache_dir`).
    progress : bool
        Show a progress bar for long phases.
    compile_args : tuple of str or None
        Flags for compiling the Cython code with gcc/clang (Brian2's
        ``codegen.cpp.extra_compile_args_gcc``).  The default is Brian2's own
        set with ``-O1`` instead of ``-O3``: the first run of the default model
        compiles 74 modules, about 30 % faster this way, while a simulation runs
        within ~5 % of ``-O3`` and gave the same metrics to the last digit
        (default model, seed 0, and its reduced protocol, seed 1; ``make demo``
        on a fresh clone 10 min 3 s → 7 min 33 s).  ``None`` keeps Brian2's preference
        as it is.
    """

    target: str = "auto"
    cache_dir: str | None = None
    progress: bool = True
    compile_args: tuple[str, ...] | None = FAST_COMPILE_ARGS


_configured: str | None = None


def configure(options: Brian2Options) -> str:
    """Set Brian2 preferences for runtime mode; returns the codegen target used."""
    global _configured
    target = options.target
    if target not in ("auto", "cython", "numpy"):
        raise ValueError(f"unknown Brian2 target {target!r} (auto, cython, numpy)")
    if target in ("auto", "cython"):
        cache = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
        (cache / "cython").mkdir(parents=True, exist_ok=True)
        b2.prefs.codegen.runtime.cython.cache_dir = str(cache / "cython")
        b2.prefs.codegen.runtime.cython.multiprocess_safe = True
        if options.compile_args is not None:
            b2.prefs.codegen.cpp.extra_compile_args_gcc = list(options.compile_args)
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
        run gives the same spikes and weights as an uninterrupted one.

    Returns
    -------
    neuromem.records.Run

    Raises
    ------
    ValueError
        If ``checkpoint.completed`` is not the start of the phases to run, or
        a state file the continuation needs is missing.
    """
    options = options or Brian2Options()
    configure(options)
    proto = model.protocol
    n_pat = model.populations[proto.pattern_population].size if proto.pattern_population is not None else 0
    patterns = protocol_patterns(proto, n_pat, seed)
    cues: dict = {}
    for ph in proto.phases:
        for st in ph.stimuli:
            if st.kind == "patterns" and st.fraction < 1.0 and st.fraction not in cues:
                cues[st.fraction] = make_cues(patterns, st.fraction, rng_for(seed, f"cue:{st.fraction}"))

    b2.start_scope()
    b2.defaultclock.dt = model.dt * b2.second
    net = BuiltNetwork()
    for node in model.nodes().values():
        build(node, net, model, None)
    for pname, pop in model.populations.items():
        if pop.v_init is not None:
            net.groups[pname].v = initial_potentials(pop, seed) * b2.volt
    syn_idx, init_w = {}, {}
    for name, proj in model.projections.items():
        i, j, w = draw_projection(model, name, seed)
        syn_idx[name] = (i, j)
        build(proj, net, model, (i, j), w)
        if proj.plasticity:
            init_w[name] = w.copy()
    monitors = {name: b2.SpikeMonitor(g, record=True, name=f"spikemon_{name}")
                for name, g in net.groups.items() if name in model.populations}
    state_pops = sorted({p for ph in proto.phases for p in ph.record_state})
    state_mons = {p: b2.StateMonitor(net.groups[p], "v", record=np.arange(min(50, model.populations[p].size)),
                                     name=f"statemon_{p}") for p in state_pops}
    network = b2.Network(*net.objects(), *monitors.values(), *state_mons.values())

    run = Run(model=model, seed=seed, patterns=patterns, cues=cues, synapses=syn_idx,
              initial_weights=init_w)
    wanted = _with_dependencies(proto, phases)
    order = [ph for ph in proto.phases if ph.name in wanted]
    done = list(checkpoint.completed) if checkpoint is not None else []
    if [r.name for r in done] != [ph.name for ph in order[:len(done)]]:
        raise ValueError(f"completed phases {[r.name for r in done]} are not the first phases to run "
                         f"{[ph.name for ph in order]}")
    run.phases.extend(done)
    if checkpoint is not None:
        checkpoint.on_start(run)
    # The end state of a phase is kept while a later phase starts from it: in memory for the
    # phases named by a later start_from; with a checkpoint, in a file for every origin, since a
    # resumed run restores the state its next phase starts from.
    keep_after = [{proto.origin(later.name) if checkpoint is not None else later.start_from
                   for later in order[k + 1:]} - {None} for k in range(len(order))]
    if done and len(done) < len(order):
        _restore(network, proto.origin(order[len(done)].name), checkpoint)
    for pos, ph in enumerate(order):
        if pos < len(done):
            continue
        if ph.start_from is not None and pos > len(done):
            _restore(network, ph.start_from, checkpoint)
        t0 = float(network.t / b2.second)
        duration = ph.length(proto.n_memories)
        inputs, items, fraction = phase_inputs(ph, model, patterns, cues, rng_for(seed, f"phase:{ph.name}"))
        for src, (i, t) in inputs.items():
            net.groups[src].set_spikes(i, (t + t0) * b2.second)
        for pname in model.populations:
            net.groups[pname].silenced = 1.0 if pname in ph.silence else 0.0
        for pname, syn in net.synapses.items():
            syn.gain = 0.0 if pname in ph.block else float(ph.gain.get(pname, 1.0))
            if model.projections[pname].plasticity:
                syn.lr = float(ph.plastic.get(pname, 0.0))
            for obj in net.normalisers.get(pname, ()):
                obj.active = pname in ph.plastic
        for p, m in state_mons.items():
            m.active = p in ph.record_state
        n_before = {name: m.num_spikes for name, m in monitors.items()}
        n_state = {p: len(m.t) for p, m in state_mons.items()}
        initial = {}
        for pname in model.populations:
            g = net.groups[pname]
            for var, unit in net.state[pname].items():       # the neuron model's state (v, I for LIF)
                initial[f"{pname}_{var}"] = np.asarray(getattr(g, var)[:] / unit).copy()
            initial[f"{pname}_lastspike"] = np.asarray(g.lastspike[:] / b2.second) - t0
        bar = _Progress(ph.name, duration) if options.progress else None
        start = time.perf_counter()
        network.run(duration * b2.second, report=bar, report_period=1 * b2.second,
                    namespace={}, level=0)
        wall = time.perf_counter() - start
        if bar is not None:
            bar.close()
        spikes = {}
        for name, m in monitors.items():
            k = n_before[name]
            # Brian2's spike times are whole time steps; subtracting the phase start in
            # floating point leaves values such as 0.0999999, which would fall on the wrong
            # side of a recall window's edge, so they are put back on the step grid.
            t_rel = np.round((np.asarray(m.t[k:] / b2.second) - t0) / model.dt) * model.dt
            spikes[name] = Spikes(np.asarray(m.i[k:], dtype=np.int32), t_rel, model.populations[name].size)
        for src, (i, t) in inputs.items():
            spikes[src] = Spikes(i, t, model.sources[src].size)
        state = {p: (np.asarray(m.t[n_state[p]:] / b2.second) - t0, np.asarray(m.v[:, n_state[p]:] / b2.volt))
                 for p, m in state_mons.items() if p in ph.record_state}
        weights = {pname: np.asarray(net.synapses[pname].w[:] / b2.volt).copy()
                   for pname in init_w}
        rec = PhaseRecord(name=ph.name, kind=ph.kind, duration=duration, spikes=spikes, items=items,
                          cue_fraction=fraction, weights=weights, state=state,
                          initial_state=initial, wall_time=wall,
                          silenced=tuple(ph.silence))
        run.phases.append(rec)
        if log is not None:
            rates = ", ".join(f"{p} {spikes[p].i.size / (spikes[p].n * duration):.2f} Hz"
                              for p in model.populations)
            log(f"{ph.name}: {duration:.1f} s simulated in {wall:.1f} s ({rates})")
        state_path = None
        if ph.name in keep_after[pos]:
            state_path = _store(network, ph.name, checkpoint)
        if checkpoint is not None:
            checkpoint.on_phase_end(rec, state_path)
            for earlier in order[:pos + 1]:
                if earlier.name not in keep_after[pos]:
                    Path(checkpoint.state_path(earlier.name)).unlink(missing_ok=True)
    return run


def _store(network, name, checkpoint):
    """Store the network state at the end of phase ``name`` (in memory, or whole into its file)."""
    if checkpoint is None:
        network.store(name)
        return None
    path = Path(checkpoint.state_path(name))
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)     # Network.store adds to an existing file
    network.store(name, filename=str(tmp))
    os.replace(tmp, path)
    return path


def _restore(network, name, checkpoint):
    """Restore the network state stored at the end of phase ``name``."""
    if checkpoint is None:
        network.restore(name)
        return
    path = Path(checkpoint.state_path(name))
    if not path.is_file():
        raise ValueError(f"the network state at the end of phase {name!r} is missing: {path}")
    network.restore(name, filename=str(path))


def _with_dependencies(proto, phases):
    """Names of the phases to simulate so that ``phases`` run from the right state."""
    if phases is None:
        return {ph.name for ph in proto.phases}
    wanted = set()
    for name in phases:
        wanted.update(proto.lineage(name))
    return wanted
