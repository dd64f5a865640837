"""A plastic phase and the phases after it as one Lava network that learns.

:func:`build_learning_network` builds every population (a silenced one gets an
unreachable threshold: it integrates but cannot spike, as Brian2's
``silenced``), a ``LearningDense`` with a ``Loihi2FLearningRule``
(:mod:`neuromem.export.lava.rules`) for each projection that learns in the
first phase, ``Dense`` for the others, and a
:class:`~neuromem.export.lava.processes.SpikeDelay` per (source, delay), since
Brian2 delays transmission and learning together.  :class:`LavaLearningNetwork`
runs the segments one after the other in the same runtime and switches the
phase between them with ``Var.set``: learning off (trace impulses and traces
to 0), thresholds of silenced populations, weights whose gain changes, the
output gate of a projection blocked while it learned, the switches of a
short-term depression (:class:`~neuromem.export.lava.processes.DepressingSpikes`
in front of a static projection's ``Dense``).  A synaptic
normalisation (:class:`~neuromem.export.lava.host.HostNormalisation`) and a
bistable relaxation (:class:`~neuromem.export.lava.host.HostBistable`), the
host's operations on chip, run inside their projection's ``LearningDense``
process model at Brian2's steps.  Floating point
only.  The mapping and its measured agreement are in ``docs/export.md``
("Learning on Lava").
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from neuromem.export.frozen import delay_steps, depressing, depression_of, input_raster, phase_gain, steps_before
from neuromem.export.issues import ExportError, ExportIssue, resolve_phase
from neuromem.export.lava.check import BOUNDS
from neuromem.export.lava.network import LavaRuntime, initial_refractory_end, link_components
from neuromem.export.lava.plan import delay_buffer, plan_lava
from neuromem.export.lava.host import host_normalisations
from neuromem.export.lava.rules import TRACES, learning_rule_plans

__all__ = ["SILENT_VTH", "PROGRESS_STEPS", "Segment", "trace_start", "delay_buffer", "LavaLearningNetwork", "synapse_mask",
           "build_learning_network"]

SILENT_VTH = 1e30
"""Threshold of a population silenced in a phase (it integrates but cannot spike, as in Brian2)."""

_OPEN = 1e300   # the bounds of a learning projection once learning is off

PROGRESS_STEPS = 2000
"""With a ``progress`` callback, a segment runs in chunks of this many steps, reported after each."""


@dataclass
class Segment:
    """One phase of a learning network: the phase, its steps and its input spikes ``{source: (i, t)}``."""

    phase: object
    n_steps: int
    inputs: dict


def trace_start(spikes, n: int, delay: int, tau_steps: float, dt: float) -> np.ndarray:
    """Brian2's trace (impulse 1) at step -1, from spikes before the phase start.

    ``spikes``: ``(i, t)`` with ``t < 0`` relative to the phase start (``None``:
    none).  A spike at step ``-m`` arrives at step ``-m + delay``; arrivals at
    steps ``<= -1`` are in the trace (later ones are still in flight, in the
    delay buffer).
    """
    out = np.zeros(n)
    if spikes is None:
        return out
    i, t = spikes
    m = steps_before(t, dt)
    keep = (m >= delay + 1) & (m < 2 ** 40)
    np.add.at(out, np.asarray(i, dtype=np.int64)[keep], np.exp(-(m[keep] - delay - 1) / tau_steps))
    return out


class LavaLearningNetwork(LavaRuntime):
    """Lava processes of a plastic phase followed by frozen phases, in one network.

    Built by :func:`build_learning_network`.

    Attributes
    ----------
    plan : LavaPlan
        Population and gain-1 weight plan of the whole model (float).
    segments : list of Segment
    rules : dict of str to LearningRulePlan
    neurons, connections, learning, delays, sources, sinks : dict
    learned : dict of str to ndarray (n_post, n_pre)
        Lava weights of each learning projection at the end of the first
        segment (filled by :meth:`run`).
    bound_events : dict
        Per learning projection (``bounds`` ``"clip"`` or ``"brian2"``):
        ``clipped``, ``coincident``, ``order_sensitive``.
    normalisers : list of HostNormalisation or HostBistable
        Applied during the first segment, inside their projection's
        ``LearningDense`` process model after the step's learning, in list
        order where several fall on one step (Brian2's order); their counts
        are read after it.
    depressing : dict of str to DepressingSpikes
        The short-term depression in front of each depressing static
        projection; its ``on`` (``stp_off``) and ``use`` (gain > 0) are set per segment.
    normalisation_time : float
        Time those operations computed (s; included in ``run_times[0]``).
    progress : callable or None
        If set, :meth:`run` calls ``progress(phase name, steps done, steps of the phase)``
        as each segment starts and after each chunk it runs.
    """

    def __init__(self, plan, segments, rules, neurons, connections, learning, delays, sources, sinks,
                 links, gains, vths, bounds, normalisers=None, depressing=None):
        self.plan = plan
        self.segments = segments
        self.rules = rules
        self.neurons = neurons
        self.connections = connections
        self.learning = learning
        self.delays = delays
        self.sources = sources
        self.sinks = sinks
        self._links = links
        self.gains = gains
        self._vths = vths
        self.bounds = bounds
        self.normalisers: list = list(normalisers or ())
        self.depressing: dict = dict(depressing or {})
        self.normalisation_time = 0.0
        self.progress = None
        self.learned: dict = {}
        self.bound_events: dict = {}
        self._executable = None
        self._started = False
        self._ran = False
        self.compile_time = 0.0
        self.run_times: list = []
        self.switch_time = 0.0
        self.read_time = 0.0

    @property
    def n_steps(self) -> int:
        """Steps of all segments."""
        return sum(s.n_steps for s in self.segments)

    def compile(self):
        """Compile the process network (floating point, switchable LIF models)."""
        from lava.magma.core.run_configs import Loihi2SimCfg

        from neuromem.export.lava.processes import SWITCHABLE_LIF_MODELS
        if self._executable is None:
            t0 = time.perf_counter()
            self._executable = self._anchor().compile(Loihi2SimCfg(
                select_tag="floating_pt", exception_proc_model_map=dict(SWITCHABLE_LIF_MODELS)))
            self.compile_time = time.perf_counter() - t0

    def run(self) -> dict:
        """Run every segment; returns ``{population: bool (n, total steps)}``."""
        from lava.magma.core.run_conditions import RunSteps
        if self._ran:
            raise RuntimeError("this LavaLearningNetwork has already run; build a new one")
        self.compile()
        self._started = True
        self._anchor().create_runtime(executable=self._executable)
        for k, seg in enumerate(self.segments):
            if k > 0:
                t0 = time.perf_counter()
                self._switch(k)
                self.switch_time += time.perf_counter() - t0
            t0 = time.perf_counter()
            self._report(seg, 0)
            done = 0
            while done < seg.n_steps:   # in chunks only to report progress (Lava pauses between them)
                n = seg.n_steps - done if self.progress is None else min(PROGRESS_STEPS, seg.n_steps - done)
                self._anchor().run(condition=RunSteps(num_steps=n, blocking=True))
                done += n
                self._report(seg, done)
            self.run_times.append(time.perf_counter() - t0)
            if k == 0:
                t0 = time.perf_counter()
                self._read_learned()
                self.read_time += time.perf_counter() - t0
        self._ran = True
        t0 = time.perf_counter()
        out = {name: s.read() for name, s in self.sinks.items()}
        self.read_time += time.perf_counter() - t0
        return out

    def _read_learned(self):
        for name, conn in self.learning.items():
            self.learned[name] = np.array(conn.weights.get(), dtype=float)
            ops = [op for op in self.normalisers if op.projection == name]
            if ops:
                rows = np.array(conn.host_stats.get(), dtype=float).reshape(len(ops), -1)
                for op, row in zip(ops, rows):
                    op.load(row[:len(op.STATS)])
                    self.normalisation_time += op.stats["compute_s"]
            if self.bounds != "none":
                self.bound_events[name] = {
                    key: int(np.asarray(getattr(conn, var).get()).ravel()[0])
                    for key, var in (("clipped", "n_clipped"), ("coincident", "n_coincident"),
                                     ("order_sensitive", "n_order_sensitive"))}

    def _report(self, seg, done: int):
        if self.progress is not None:
            self.progress(seg.phase.name, done, seg.n_steps)

    def _switch(self, k: int):
        """Set the Vars that differ between segment ``k - 1`` and ``k``."""
        for name, vths in self._vths.items():
            if vths[k] != vths[k - 1]:
                self.neurons[name].vth.set(np.array([vths[k]], dtype=float))
        for name, gains in self.gains.items():
            if name in self.learning:
                conn = self.learning[name]
                if k == 1:  # learning off: gate the impulses, clear the traces, open the bounds
                    for tr in TRACES:
                        getattr(conn, f"{tr}_impulse").set(np.zeros(1))
                        getattr(conn, tr).set(np.zeros(getattr(conn, tr).shape))
                    if self.bounds != "none":
                        conn.w_lo.set(np.array([-_OPEN]))
                        conn.w_hi.set(np.array([_OPEN]))
                if gains[k] != gains[k - 1]:
                    # the learned weights carry the gain of the plastic phase (1 if it was blocked there)
                    g0 = gains[0] if gains[0] != 0 else 1.0
                    gated = hasattr(conn, "transmit")
                    if gains[k] != 0 or not gated:
                        conn.weights.set(self.learned[name] / g0 * gains[k])
                    if gated:
                        conn.transmit.set(np.array([1.0 if gains[k] != 0 else 0.0]))
            elif gains[k] != gains[k - 1]:
                self.connections[name].weights.set(self.plan.projections[name].weights * gains[k])
        for name, stp in self.depressing.items():
            ph = self.segments[k].phase
            stp.on.set(np.array([float(name not in ph.stp_off)]))
            stp.use.set(np.array([float(self.gains[name][k] > 0)]))


def synapse_mask(shape, synapses, name) -> np.ndarray:
    """The ``tag_2`` mask of a learning projection: 1 on existing synapses.

    Raises
    ------
    ExportError
        If two synapses join one pair of neurons (a ``LearningDense`` holds one weight per pair).
    """
    i, j = (np.asarray(a, dtype=np.int64) for a in synapses)
    mask = np.zeros(shape)
    np.add.at(mask, (j, i), 1.0)
    if (mask > 1).any():
        raise ExportError([ExportIssue(
            "error", "plasticity",
            f"projection {name!r} has several synapses between one pair of neurons; a LearningDense "
            f"holds one weight per pair")], f"projection {name!r}")
    return mask


def build_learning_network(model, weights: dict, segments, synapses: dict, initial_state: dict | None = None,
                           recent_spikes: dict | None = None, bounds: str = "clip",
                           phase_start: float = 0.0, depression: dict | None = None) -> LavaLearningNetwork:
    """Build one Lava network that runs a plastic phase and then the phases after it.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray (n_post, n_pre)
        Weight magnitudes (V) of every projection at the start of the plastic
        phase (:func:`neuromem.export.frozen.weight_matrices`).
    segments : list of Segment or of (phase, n_steps, inputs)
        The plastic phase first, then frozen phases that continue from its
        end; ``inputs`` maps spike sources to ``(i, t)`` (s from the phase start).
    synapses : dict of str to (i, j)
        Pre/post indices of the learning projections (their ``d`` mask).
    initial_state : dict, optional
        ``{population: {"v", "I", "lastspike"}}`` at the start of the plastic
        phase, as for :func:`~neuromem.export.lava.build_lava_network`.
    recent_spikes : dict of str to (i, t), optional
        Spikes of populations and sources before the start (``t < 0``): they
        fill the delay buffers and the initial learning traces.
    bounds : {"clip", "brian2", "none"}
    phase_start : float
        Brian2 network time at the start of the plastic phase (s,
        :func:`~neuromem.export.lava.host.phase_start_time`); it fixes the
        steps at which a normalisation runs.
    depression : dict of str to (r, last), optional
        Per static projection with short-term depression acting in a segment,
        each presynaptic neuron's resources at the start
        (:func:`~neuromem.export.frozen.depression_start`); missing: full (1).

    Returns
    -------
    LavaLearningNetwork
        Use it as a context manager.
    """
    if bounds not in BOUNDS:
        raise ValueError(f"bounds must be one of {BOUNDS}, got {bounds!r}")
    segments = [s if isinstance(s, Segment) else Segment(resolve_phase(model, s[0]), int(s[1]), s[2] or {})
                for s in segments]
    ph0 = segments[0].phase
    later = [s.phase.name for s in segments[1:] if s.phase.plastic]
    if later:
        raise ValueError(f"only the first phase of the network may learn; {', '.join(later)} is plastic")
    plan = plan_lava(model, weights, None, "float")
    rules = learning_rule_plans(model, ph0)
    from neuromem.export.lava.processes import (   # imports lava
        BoundedLearningDense, DepressingSpikes, GatedLearningDense, SpikeDelay, SpikeRecorder,
    )
    from lava.proc.dense.process import Dense, LearningDense
    from lava.proc.io.source import RingBuffer as SourceBuffer
    from lava.proc.lif.process import LIF, LIFRefractory
    from lava.utils.weightutils import SignMode

    dt = model.dt
    n_total = sum(s.n_steps for s in segments)
    gains = {name: [phase_gain(s.phase, name) for s in segments] for name in model.projections}
    projs = [name for name in model.projections if name in rules or any(g > 0 for g in gains[name])]
    vths = {name: [SILENT_VTH if name in s.phase.silence else p.vth for s in segments]
            for name, p in plan.populations.items()}
    initial_state = initial_state or {}
    recent_spikes = recent_spikes or {}

    neurons, sinks = {}, {}
    for name, p in plan.populations.items():
        st = initial_state.get(name, {})
        v0 = np.asarray(st.get("v", np.full(p.size, p.v_rest)), dtype=float) - p.v_reset
        u0 = np.asarray(st.get("I", np.zeros(p.size)), dtype=float) * p.kappa / p.a_s
        kw = dict(shape=(p.size,), u=u0, v=v0, du=p.du, dv=p.dv, vth=np.array([vths[name][0]], dtype=float),
                  bias_mant=np.full(p.size, p.bias_mant, dtype=float),
                  bias_exp=np.zeros(p.size), name=f"lif_{name}")
        if p.refractory_period > 0:
            neurons[name] = LIFRefractory(refractory_period=p.refractory_period, **kw)
            if "lastspike" in st:
                neurons[name].refractory_period_end.init = initial_refractory_end(
                    st["lastspike"], p.refractory_period, dt)
        else:
            neurons[name] = LIF(**kw)
        sinks[name] = SpikeRecorder(shape=(p.size,), n_steps=n_total, name=f"rec_{name}")
        neurons[name].s_out.connect(sinks[name].a_in)

    used_sources = {model.projections[n].source for n in projs} & set(model.sources)
    sources = {}
    for name in model.sources:
        if name in used_sources:
            data = np.concatenate([input_raster(model.sources[name].size, s.inputs.get(name), s.n_steps, dt)
                                   for s in segments], axis=1)
            sources[name] = SourceBuffer(data=data)

    normalisers = host_normalisations(model, ph0, rules, synapses, segments[0].n_steps, phase_start)
    delays, connections, learning, stps = {}, {}, {}, {}
    depression = depression or {}
    acting = set(depressing(model, [sg.phase for sg in segments], projs))
    for name in projs:
        pr = model.projections[name]
        jp = plan.projections[name]
        pre = sources[pr.source] if pr.source in sources else neurons[pr.source]
        n_pre = model.nodes()[pr.source].size
        d = delay_steps(pr.delay, dt)
        if d > 0:
            key = (pr.source, d)
            if key not in delays:
                delays[key] = SpikeDelay(shape=(n_pre,), delay=d,
                                         init=delay_buffer(recent_spikes.get(pr.source), n_pre, d, dt),
                                         name=f"delay_{pr.source}_{d}")
                pre.s_out.connect(delays[key].s_in)
            pre = delays[key]
        blocked = name in rules and rules[name].blocked
        w = jp.weights * (1.0 if blocked else gains[name][0])
        if name in rules:
            rp = rules[name]
            mask = synapse_mask(w.shape, synapses[name], name)
            kw = dict(weights=w, tag_2=mask, learning_rule=rp.learning_rule(), name=f"learn_{name}")
            ops = [op for op in normalisers if op.projection == name]
            if ops:
                kw["host_ops"] = ops
            if bounds != "none":
                conn = BoundedLearningDense(w_lo=rp.lava_bounds[0], w_hi=rp.lava_bounds[1], dw_pre=rp.dw_pre,
                                            clip_order="per_event" if bounds == "brian2" else "step",
                                            transmit=0.0 if blocked else 1.0, **kw)
            else:
                sign_mode = SignMode.EXCITATORY if rp.scale > 0 else SignMode.INHIBITORY
                conn = (GatedLearningDense(transmit=0.0 if blocked else 1.0, sign_mode=sign_mode, **kw)
                        if blocked or ops else LearningDense(sign_mode=sign_mode, **kw))
            conn.x1.init = rp.impulses["x1"] * trace_start(recent_spikes.get(pr.source), n_pre, d,
                                                          rp.taus["x1"], dt)
            conn.y1.init = rp.impulses["y1"] * trace_start(recent_spikes.get(pr.target), w.shape[0], 0,
                                                          rp.taus["y1"], dt)
            neurons[pr.target].s_out.connect(conn.s_in_bap)
            learning[name] = conn
        else:
            if name in acting:   # graded spikes worth the resources (check_lava_learning)
                rule = depression_of(model, name)
                r, last = depression.get(name, (None, None))
                stp = DepressingSpikes(shape=(n_pre,), u=rule.u, tau_rec=rule.tau_rec, dt=dt, r=r, last=last,
                                       on=float(name not in ph0.stp_off), use=float(gains[name][0] > 0),
                                       name=f"stp_{name}")
                pre.s_out.connect(stp.s_in)
                pre = stps[name] = stp
                conn = Dense(weights=w, num_message_bits=24, name=f"conn_{name}")
            else:
                conn = Dense(weights=w, name=f"conn_{name}")
            connections[name] = conn
        pre.s_out.connect(conn.s_in)
        conn.a_out.connect(neurons[pr.target].a_in)
    links = link_components(plan, neurons, ((model.projections[n].source, model.projections[n].target)
                                            for n in projs))
    return LavaLearningNetwork(plan, segments, rules, neurons, connections, learning, delays, sources, sinks,
                               links, {n: gains[n] for n in projs}, vths, bounds, normalisers, stps)
