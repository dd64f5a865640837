"""The protocol runner: the backend-neutral part of simulating a model.

A run has two halves, split the way Nengo splits its builder from its
simulator.  This module holds everything that does not depend on the
simulator: what the seed fixes (patterns, cues, synapses, initial weights and
state, :func:`draw_run`), which phases run in which order and from which
state (:func:`plan_protocol`, from :meth:`neuromem.spec.Protocol.origin`),
each phase's switches and input spikes, the :class:`~neuromem.records.Run`
and its :class:`~neuromem.records.PhaseRecord` objects, and the checkpoint
hooks (:func:`run_protocol`).  A backend (:class:`Backend`) only builds the
network and carries out what the runner asks: set a phase's switches and
inputs, run it, read its spikes, weights and state, store and restore the
network state.

Two kinds of backend plug in:

interactive (``deferred = False``)
    Each call happens when it is made (Brian2's runtime device); the runner
    reads a phase's output as soon as it has run, so a checkpoint is written
    as each phase ends.
deferred (``deferred = True``)
    The calls describe the whole protocol, which runs in :meth:`Backend.finish`
    (Brian2's ``cpp_standalone`` device: one compiled program); the phase
    outputs are read after it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromem.connectivity import draw_projection
from neuromem.records import PhaseRecord, Run, Spikes
from neuromem.stimulus import initial_values, make_cues, phase_inputs, protocol_patterns, rng_for

__all__ = ["Draws", "PhaseStep", "PhaseOutput", "Backend", "draw_run", "plan_protocol", "phases_needed",
           "run_protocol"]


@dataclass
class Draws:
    """Everything the seed fixes before the first phase, the same for every backend.

    Attributes
    ----------
    patterns : ndarray of bool (n_memories, n)
    cues : dict of float to ndarray of bool
        The cue masks of every cue fraction a phase uses.
    synapses : dict of str to (i, j)
        Every projection's synapses (:func:`neuromem.connectivity.draw_projection`).
    weights : dict of str to ndarray
        Every projection's initial weights (SI units).
    initial : dict of str to dict
        Population → {state variable: values (SI units)} for the variables the
        neuron model draws from a distribution (:func:`neuromem.stimulus.initial_values`).
    """

    patterns: np.ndarray
    cues: dict
    synapses: dict
    weights: dict
    initial: dict


def draw_run(model, seed: int) -> Draws:
    """Patterns, cues, synapses, initial weights and initial state of a run of ``model``."""
    proto = model.protocol
    n_pat = model.populations[proto.pattern_population].size if proto.pattern_population is not None else 0
    patterns = protocol_patterns(proto, n_pat, seed)
    cues: dict = {}
    for ph in proto.phases:
        for st in ph.stimuli:
            if st.kind == "patterns" and st.fraction < 1.0 and st.fraction not in cues:
                cues[st.fraction] = make_cues(patterns, st.fraction, rng_for(seed, f"cue:{st.fraction}"))
    initial = {pname: initial_values(pop, seed) for pname, pop in model.populations.items()}
    synapses, weights = {}, {}
    for name in model.projections:
        i, j, w = draw_projection(model, name, seed)
        synapses[name] = (i, j)
        weights[name] = w
    return Draws(patterns=patterns, cues=cues, synapses=synapses, weights=weights, initial=initial)


@dataclass
class PhaseStep:
    """One phase as the runner asks a backend to run it.

    Attributes
    ----------
    phase : neuromem.spec.Phase
    position : int
        Index in the list of phases to run.
    duration : float
        Seconds.
    t_start : float
        Network time at the phase start (s): the summed durations of the
        phases before it on its :meth:`~neuromem.spec.Protocol.lineage`.
    restore : str or None
        The phase whose end state the backend restores before this phase;
        ``None``: continue from the state the backend holds.
    store : bool
        Whether a later phase starts from this phase's end state (the backend
        keeps it: :meth:`Backend.store`).
    keep_after : frozenset of str
        The phases whose end states are still needed once this phase has run.
    silenced : tuple of str
        Populations that cannot spike.
    gains : dict of str to float
        Transmission gain of every projection (0 when blocked).
    blocked : frozenset of str
        Projections that transmit nothing.
    learning_rates : dict of str to float
        Learning-rate scale of every projection with plasticity rules (0 when frozen).
    plastic : frozenset of str
        Projections with plasticity rules that learn in the phase.
    stp_on : dict of str to float
        Of every projection with a short-term plasticity (transmission) rule:
        1 when it acts in the phase, 0 when the phase switches it off
        (:attr:`~neuromem.spec.Phase.stp_off`).
    record_state : tuple of str
        Populations whose membrane potential is recorded.
    """

    phase: object
    position: int
    duration: float
    t_start: float
    restore: str | None
    store: bool
    keep_after: frozenset
    silenced: tuple
    gains: dict
    blocked: frozenset
    learning_rates: dict
    plastic: frozenset
    stp_on: dict
    record_state: tuple

    @property
    def name(self) -> str:
        return self.phase.name


@dataclass
class PhaseOutput:
    """What a backend returns for one phase (:meth:`Backend.read_phase`).

    Attributes
    ----------
    spikes : dict of str to (i, t)
        Every population's spikes, ``t`` relative to the phase start and on
        the step grid.
    weights : dict of str to ndarray
        Every plastic projection's weights at the phase end (SI units).
    state : dict of str to (t, v)
        Recorded membrane potentials (``t`` relative to the phase start).
    initial_state : dict of str to ndarray
        ``<pop>_<var>`` for the neuron model's state variables and
        ``<pop>_lastspike`` (relative to the phase start) just before the phase.
    wall_time : float
        Seconds spent simulating the phase.
    """

    spikes: dict
    weights: dict
    state: dict
    initial_state: dict
    wall_time: float = 0.0


class Backend:
    """What a simulator supplies to :func:`run_protocol`.

    Subclasses implement every method below; the runner calls them in this
    order: :meth:`check` and :meth:`build` once, then per phase
    :meth:`restore` (if the phase starts from a stored state),
    :meth:`set_phase`, :meth:`run`, :meth:`read_phase` (at once if not
    :attr:`deferred`), :meth:`store` (if a later phase starts from it), and
    :meth:`finish` once at the end.
    """

    #: name written into results.json's "backend"
    name = "backend"
    #: True: the calls describe the protocol, which runs in :meth:`finish`
    deferred = False

    def check(self, model, steps) -> None:
        """Refuse, before anything is built, what this backend cannot run (raise with a message naming it)."""

    def build(self, model, draws: Draws) -> None:
        """Build the network from the model and what the seed fixed."""
        raise NotImplementedError

    def set_phase(self, step: PhaseStep, inputs: dict) -> None:
        """Set the phase's switches (silenced, gains, learning rates, recorded state) and input spikes.

        ``inputs``: source → ``(i, t)``, ``t`` relative to the phase start.
        """
        raise NotImplementedError

    def run(self, step: PhaseStep) -> None:
        """Simulate ``step.duration`` seconds."""
        raise NotImplementedError

    def read_phase(self, step: PhaseStep) -> PhaseOutput:
        """The phase's spikes, end weights, recorded state and start state."""
        raise NotImplementedError

    def store(self, name: str, path: Path | None) -> Path | None:
        """Keep the network state at the end of phase ``name`` (in ``path`` when given); return the file written."""
        raise NotImplementedError

    def restore(self, name: str, path: Path | None) -> None:
        """Go back to the network state kept at the end of phase ``name`` (read from ``path`` when given)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Called after the last phase has been asked for (a deferred backend runs the protocol here)."""

    def describe(self) -> dict:
        """What results.json records about the backend (``name``, versions, options)."""
        return {"name": self.name}


def phases_needed(protocol, phases=None) -> set:
    """Names of the phases to simulate so that ``phases`` run from the right state (all when ``None``)."""
    if phases is None:
        return {ph.name for ph in protocol.phases}
    wanted = set()
    for name in phases:
        wanted.update(protocol.lineage(name))
    return wanted


def plan_protocol(model, phases=None, n_done: int = 0, keep_every_origin: bool = False) -> list[PhaseStep]:
    """The phases to run, in protocol order, with where each starts from and what it switches.

    Parameters
    ----------
    model : neuromem.spec.Model
    phases : list of str, optional
        Run only these phases (with the phases they start from).
    n_done : int, optional
        Phases already simulated (a resumed run): the first of the others
        restores its origin's state.
    keep_every_origin : bool, optional
        Keep the end state of every phase a later phase starts from, also the
        phase just before it (a checkpointed run, which may be resumed there);
        otherwise only those a later ``start_from`` names.

    Returns
    -------
    list of PhaseStep
        All phases to run, the ``n_done`` completed ones first.
    """
    proto = model.protocol
    wanted = phases_needed(proto, phases)
    order = [ph for ph in proto.phases if ph.name in wanted]
    durations = {ph.name: ph.length(proto.n_memories) for ph in order}
    stp = model.stp_projections()
    steps = []
    for pos, ph in enumerate(order):
        later = order[pos + 1:]
        keep = {proto.origin(p.name) if keep_every_origin else p.start_from for p in later} - {None}
        if pos == n_done and n_done > 0:
            restore = proto.origin(ph.name)
        elif pos > n_done and ph.start_from is not None:
            restore = ph.start_from
        else:
            restore = None
        plastic_scale = {name: float(ph.plastic.get(name, 0.0))
                         for name, pr in model.projections.items() if pr.plasticity}
        steps.append(PhaseStep(
            phase=ph, position=pos, duration=durations[ph.name],
            t_start=sum(durations[p] for p in proto.lineage(ph.name)[:-1]),
            restore=restore, store=ph.name in keep, keep_after=frozenset(keep),
            silenced=tuple(ph.silence),
            gains={name: 0.0 if name in ph.block else float(ph.gain.get(name, 1.0)) for name in model.projections},
            blocked=frozenset(ph.block),
            learning_rates=plastic_scale,
            plastic=frozenset(n for n, lr in plastic_scale.items() if n in ph.plastic),
            stp_on={name: 0.0 if name in ph.stp_off else 1.0 for name in stp},
            record_state=tuple(ph.record_state)))
    return steps


def _record(model, step: PhaseStep, out: PhaseOutput, inputs, items, fraction) -> PhaseRecord:
    spikes = {name: Spikes(np.asarray(i, dtype=np.int32), np.asarray(t, dtype=float), model.populations[name].size)
              for name, (i, t) in out.spikes.items()}
    for src, (i, t) in inputs.items():
        spikes[src] = Spikes(i, t, model.sources[src].size)
    return PhaseRecord(name=step.name, kind=step.phase.kind, duration=step.duration, spikes=spikes, items=items,
                       cue_fraction=fraction, weights=out.weights, state=out.state,
                       initial_state=out.initial_state, wall_time=out.wall_time,
                       silenced=tuple(step.phase.silence))


def run_protocol(model, seed: int, backend: Backend, phases=None, log=None, checkpoint=None) -> Run:
    """Simulate ``model``'s protocol on ``backend``: the one loop every backend shares.

    Parameters
    ----------
    model : neuromem.spec.Model
    seed : int
        Seeds patterns, cues, connectivity, initial weights and state, and
        input spikes (each from its own stream, :func:`neuromem.stimulus.rng_for`).
    backend : Backend
    phases : list of str, optional
        Run only these phases (with the phases they start from).
    log : callable, optional
        Called with one line of text per phase.
    checkpoint : object, optional
        Hooks that save the run while it runs and let it continue later (see
        :func:`neuromem.backends.brian2.simulate`): ``completed``,
        ``state_path(phase)``, ``on_start(run)``, ``on_phase_end(record, state_path)``.

    Returns
    -------
    neuromem.records.Run

    Raises
    ------
    ValueError
        If ``checkpoint.completed`` is not the start of the phases to run, or
        a state file the continuation needs is missing.
    """
    done = list(checkpoint.completed) if checkpoint is not None else []
    steps = plan_protocol(model, phases, n_done=len(done), keep_every_origin=checkpoint is not None)
    if [r.name for r in done] != [s.name for s in steps[:len(done)]]:
        raise ValueError(f"completed phases {[r.name for r in done]} are not the first phases to run "
                         f"{[s.name for s in steps]}")
    backend.check(model, steps)
    draws = draw_run(model, seed)
    backend.build(model, draws)
    init_w = {name: draws.weights[name].copy() for name, pr in model.projections.items() if pr.plasticity}
    run = Run(model=model, seed=seed, patterns=draws.patterns, cues=draws.cues, synapses=draws.synapses,
              initial_weights=init_w)
    run.phases.extend(done)
    if checkpoint is not None:
        checkpoint.on_start(run)

    def state_file(name):
        return None if checkpoint is None else Path(checkpoint.state_path(name))

    def finish_phase(step, out, inputs, items, fraction, state_path):
        rec = _record(model, step, out, inputs, items, fraction)
        run.phases.append(rec)
        if log is not None:
            rates = ", ".join(f"{p} {rec.spikes[p].i.size / (rec.spikes[p].n * step.duration):.2f} Hz"
                              for p in model.populations)
            log(f"{step.name}: {step.duration:.1f} s simulated in {out.wall_time:.1f} s ({rates})")
        if checkpoint is not None:
            checkpoint.on_phase_end(rec, state_path)
            for earlier in steps[:step.position + 1]:
                if earlier.name not in step.keep_after:
                    Path(checkpoint.state_path(earlier.name)).unlink(missing_ok=True)

    pending = []
    for step in steps[len(done):]:
        if step.restore is not None:
            path = None if backend.deferred else state_file(step.restore)
            if path is not None and not path.is_file():
                raise ValueError(f"the network state at the end of phase {step.restore!r} is missing: {path}")
            backend.restore(step.restore, path)
        inputs, items, fraction = phase_inputs(step.phase, model, draws.patterns, draws.cues,
                                               rng_for(seed, f"phase:{step.name}"))
        backend.set_phase(step, inputs)
        backend.run(step)
        out = None if backend.deferred else backend.read_phase(step)
        state_path = None
        if step.store:
            state_path = backend.store(step.name, None if backend.deferred else _tmp_target(state_file(step.name)))
            if state_path is not None:
                final = state_file(step.name)
                os.replace(state_path, final)
                state_path = final
        if backend.deferred:
            pending.append((step, inputs, items, fraction, state_path))
        else:
            finish_phase(step, out, inputs, items, fraction, state_path)
    backend.finish()
    for step, inputs, items, fraction, state_path in pending:
        finish_phase(step, backend.read_phase(step), inputs, items, fraction, state_path)
    return run


def _tmp_target(path: Path | None) -> Path | None:
    """A fresh temporary sibling of ``path`` for a state file written whole, then renamed into place."""
    if path is None:
        return None
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    return tmp

