"""A frozen network as Lava processes: build it, run it, read its spikes.

:func:`build_lava_network` turns a :class:`~neuromem.export.lava.plan.LavaPlan`
into processes -- one ``LIF`` (``LIFRefractory`` with refractoriness) per
population, one ``Dense`` (``DelayDense`` for delays of one step or more) per
projection (a depressing one: ``SpikeDelay`` → ``DepressingSpikes`` → a ``Dense`` of graded
spikes), a ``RingBuffer`` per spike source with the recorded input, and a
:class:`~neuromem.export.lava.processes.SpikeRecorder` per population -- and
starts it from Brian2's state at the phase start.  Brian2 step ``k`` is Lava
step ``k + 1``; Lava's one-step ``Dense`` buffer matches Brian2's update →
threshold → synapses order, so floating point reproduces Brian2's spikes.
:class:`LavaRuntime` is the start/stop logic shared with the learning network.
Lava is imported when a network is built, not when this module is.
"""

from __future__ import annotations

import time

import numpy as np

from neuromem.export.frozen import depressing, depression_of, input_raster, steps_before
from neuromem.export.issues import resolve_phase
from neuromem.export.lava.plan import (
    DEFAULT_HEADROOM, UV_MAX, carry_in, components, delay_buffer, in_flight, plan_lava,
)

__all__ = ["LavaRuntime", "link_components", "LavaNetwork", "build_lava_network", "initial_refractory_end"]

_TAGS = {"float": "floating_pt", "fixed": "fixed_pt"}


def link_components(plan, neurons: dict, edges, dtype=float) -> list:
    """Join the separate parts of a network with all-zero ``Dense`` links.

    Lava compiles only what is connected to the process it runs; the links
    add exactly 0.

    Parameters
    ----------
    plan : LavaPlan
    neurons : dict of str to LIF process
    edges : iterable of (str, str)
        The ``(source, target)`` pairs of the network's projections.
    dtype : numpy dtype
        Of the zero weights (int in fixed mode).
    """
    from lava.proc.dense.process import Dense
    links = []
    comps = components(plan.populations, edges)
    for a, b in zip(comps, comps[1:]):
        pa, pb = min(a), min(b)
        zero = np.zeros((plan.populations[pb].size, plan.populations[pa].size), dtype=dtype)
        link = Dense(weights=zero, name=f"link_{pa}_{pb}")
        neurons[pa].s_out.connect(link.s_in)
        link.a_out.connect(neurons[pb].a_in)
        links.append(link)
    return links


def initial_refractory_end(lastspike, refractory_period: int, dt: float) -> np.ndarray:
    """``LIFRefractory.refractory_period_end`` at the start, from Brian2's ``lastspike`` (s, relative).

    A spike ``m`` steps before the phase (Lava step ``1 - m``) freezes ``v``
    up to step ``refractory_period + 1 - m``.
    """
    m = steps_before(lastspike, dt)
    return np.where(m < 2 ** 40, refractory_period + 1 - m, 0).clip(0).astype(int)


class LavaRuntime:
    """Start/stop of a built Lava network; subclasses set ``neurons``, ``sinks`` and ``_started``.

    Use the network as a context manager (or call :meth:`stop`) so that Lava's
    runtime processes are always shut down and the recordings deleted.
    """

    neurons: dict
    sinks: dict
    _started: bool = False

    def _anchor(self):
        return next(iter(self.neurons.values()))

    def stop(self):
        """Shut Lava's runtime down (safe to call more than once)."""
        try:
            if self._started:
                self._started = False
                self._anchor().stop()
        finally:
            for s in self.sinks.values():
                s.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class LavaNetwork(LavaRuntime):
    """Lava processes of one exported frozen network, ready to run.

    Attributes
    ----------
    plan : LavaPlan
    n_steps : int
    neurons : dict of str to lava LIF process
    connections : dict of str to lava Dense/DelayDense process
    sources : dict of str to lava RingBuffer (source)
    sinks : dict of str to SpikeRecorder, one per population
    compile_time, run_time, read_time : float
        Seconds, filled by :meth:`compile` and :meth:`run`.
    """

    def __init__(self, plan, n_steps, neurons, connections, sources, sinks, links):
        self.plan = plan
        self.n_steps = int(n_steps)
        self.neurons = neurons
        self.connections = connections
        self.sources = sources
        self.sinks = sinks
        self._links = links
        self._executable = None
        self._started = False
        self._ran = False
        self.compile_time = 0.0
        self.run_time = 0.0
        self.read_time = 0.0

    def _cfg(self):
        from lava.magma.core.run_configs import Loihi2SimCfg
        extra = {}
        if self.plan.mode == "fixed" and any(p.refractory_period > 0 for p in self.plan.populations.values()):
            from lava.proc.lif.process import LIFRefractory

            from neuromem.export.lava.processes import PyLifRefractoryModelFixed
            extra["exception_proc_model_map"] = {LIFRefractory: PyLifRefractoryModelFixed}
        return Loihi2SimCfg(select_tag=_TAGS[self.plan.mode], **extra)

    def compile(self):
        """Compile the process network (done by :meth:`run` if needed)."""
        if self._executable is None:
            t0 = time.perf_counter()
            self._executable = self._anchor().compile(self._cfg())
            self.compile_time = time.perf_counter() - t0

    def run(self) -> dict:
        """Run all steps; returns ``{population: bool array (n, n_steps)}``.

        Column ``k`` is Brian2's step ``k`` (time ``k * dt`` from the phase start).
        """
        from lava.magma.core.run_conditions import RunSteps
        if self._ran:
            raise RuntimeError("this LavaNetwork has already run; build a new one")
        self.compile()
        t0 = time.perf_counter()
        # the runtime is started right after it is created: Lava's stop() deadlocks
        # on a runtime that was created but never started
        self._started = True
        self._anchor().create_runtime(executable=self._executable)
        self._anchor().run(condition=RunSteps(num_steps=self.n_steps, blocking=True))
        self.run_time = time.perf_counter() - t0
        self._ran = True
        t0 = time.perf_counter()
        out = {name: s.read() for name, s in self.sinks.items()}
        self.read_time = time.perf_counter() - t0
        return out


def _depressing_input(model, j, pre, recent_spikes, start):
    """What feeds a depressing projection's ``Dense``: ``pre`` through a ``SpikeDelay`` (spikes in flight
    pre-filled) and a ``DepressingSpikes`` started from ``start`` (``(r, last)``, or ``None``: full)."""
    from neuromem.export.lava.processes import DepressingSpikes, SpikeDelay   # imports lava

    n_pre = j.weights.shape[1]
    if j.delay > 0:
        spikes = (recent_spikes or {}).get(j.source)
        dl = SpikeDelay(shape=(n_pre,), delay=j.delay, init=delay_buffer(spikes, n_pre, j.delay, model.dt),
                        name=f"delay_{j.name}")
        pre.s_out.connect(dl.s_in)
        pre = dl
    r, last = start if start is not None else (None, None)
    rule = depression_of(model, j.name)
    stp = DepressingSpikes(shape=(n_pre,), u=rule.u, tau_rec=rule.tau_rec, dt=model.dt, r=r, last=last,
                           name=f"stp_{j.name}")
    pre.s_out.connect(stp.s_in)
    return stp


def build_lava_network(model, weights: dict, phase=None, mode: str = "float", inputs: dict | None = None,
                       n_steps: int | None = None, initial_state: dict | None = None,
                       recent_spikes: dict | None = None, headroom=DEFAULT_HEADROOM,
                       refractory: str = "ignore", depression: dict | None = None) -> LavaNetwork:
    """Build the Lava processes of a frozen network.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray (n_post, n_pre)
        Weight magnitudes (V); see :func:`neuromem.export.frozen.weight_matrices`.
    phase : str or Phase, optional
        Silenced populations and blocked projections are left out.
    mode : {"float", "fixed"}
        Lava process models tagged ``floating_pt`` or ``fixed_pt``
        (Loihi 2 bit-accurate).
    inputs : dict of str to (i, t), optional
        Spikes per spike source, times (s) from the phase start on the dt
        grid.  Sources not given are silent.
    n_steps : int, optional
        Steps to run; default the phase's duration.
    initial_state : dict, optional
        ``{population: {"v": array (V), "I": array (V), "lastspike": array (s)}}``:
        Brian2's state at the phase start; ``lastspike`` is relative to the
        phase start and sets the remaining refractory period.  Missing
        entries: rest (``v = v_rest``, ``I = 0``, not refractory).
    recent_spikes : dict of str to (i, t), optional
        Spikes of populations and sources before the phase start (``t < 0``)
        still travelling along delayed projections at the start.
    headroom : float or dict, optional
        Fixed mode voltage range, see :func:`~neuromem.export.lava.plan.plan_lava`.
    refractory : {"ignore", "emulate"}
        Fixed mode refractoriness, see :func:`~neuromem.export.lava.plan.plan_lava`.
    depression : dict of str to (r, last), optional
        Per projection with short-term depression acting in the phase, each
        presynaptic neuron's resources at the phase start
        (:func:`~neuromem.export.frozen.depression_start`); missing: full (1).

    Returns
    -------
    LavaNetwork
        Not yet compiled; use it as a context manager.

    Raises
    ------
    ExportError
        Before anything is built (or lava imported), if
        :func:`~neuromem.export.lava.check_lava` reports errors.
    """
    ph = resolve_phase(model, phase)
    plan = plan_lava(model, weights, phase, mode, headroom, refractory,
                     carry_in=carry_in(model, ph, recent_spikes))
    if n_steps is None:
        if ph is None:
            raise ValueError("n_steps is required when no phase is given")
        n_steps = int(round(ph.length(model.protocol.n_memories) / model.dt))
    n_steps = int(n_steps)
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    from neuromem.export.lava.processes import SpikeRecorder   # imports lava
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer as SourceBuffer
    from lava.proc.lif.process import LIF, LIFRefractory

    fixed = mode == "fixed"
    initial_state = initial_state or {}
    neurons, connections, sources, sinks = {}, {}, {}, {}
    for name, p in plan.populations.items():
        st = initial_state.get(name, {})
        v0 = (np.asarray(st.get("v", np.full(p.size, p.v_rest)), dtype=float) - p.v_reset) * p.scale
        # Lava's first step decays u before adding input: start from kappa*I/a_s
        u0 = np.asarray(st.get("I", np.zeros(p.size)), dtype=float) * p.kappa * p.scale / p.a_s
        if fixed:
            v0 = np.clip(np.round(v0), -UV_MAX + 1, UV_MAX - 1).astype(np.int32)
            u0 = np.clip(np.round(u0), -UV_MAX + 1, UV_MAX - 1).astype(np.int32)
        kw = dict(shape=(p.size,), u=u0, v=v0, du=p.du, dv=p.dv, vth=p.vth,
                  bias_mant=np.full(p.size, p.bias_mant, dtype=np.int32 if fixed else float),
                  bias_exp=np.full(p.size, p.bias_exp, dtype=np.int32 if fixed else float),
                  name=f"lif_{name}")
        if p.refractory_period > 0:
            neurons[name] = LIFRefractory(refractory_period=p.refractory_period, **kw)
            if "lastspike" in st:
                neurons[name].refractory_period_end.init = initial_refractory_end(
                    st["lastspike"], p.refractory_period, model.dt)
        else:
            neurons[name] = LIF(**kw)
        sinks[name] = SpikeRecorder(shape=(p.size,), n_steps=n_steps, name=f"rec_{name}")
        neurons[name].s_out.connect(sinks[name].a_in)
    inputs = inputs or {}
    for name, size in plan.sources.items():
        data = input_raster(size, inputs.get(name), n_steps, model.dt)
        sources[name] = SourceBuffer(data=data.astype(np.int32) if fixed else data)
    silent = {}
    depression = depression or {}
    acting = set(depressing(model, [ph], plan.projections))   # float only (check_lava)
    for name, j in plan.projections.items():
        w = j.weights
        kw = dict(weights=w, name=f"conn_{name}")
        if fixed:
            kw.update(weight_exp=j.weight_exp, num_weight_bits=8)
        if j.carry_in:
            if j.source not in silent:
                silent[j.source] = SourceBuffer(data=np.zeros((w.shape[1], 1), dtype=np.int32 if fixed else float))
            pre = silent[j.source]
        else:
            pre = sources[j.source] if j.source in sources else neurons[j.source]
        if name in acting:     # graded spikes worth the resources, behind a SpikeDelay
            pre = _depressing_input(model, j, pre, recent_spikes, depression.get(name))
            conn = Dense(num_message_bits=24, **kw)
        elif j.delay > 0:
            conn = DelayDense(delays=np.full(w.shape, j.delay, dtype=int), **kw)
        else:
            conn = Dense(**kw)
        pre.s_out.connect(conn.s_in)
        conn.a_out.connect(neurons[j.target].a_in)
        connections[name] = conn
        if name not in acting and j.delay > 0 and recent_spikes and j.source in recent_spikes:
            buff = in_flight(j, recent_spikes[j.source], model.dt, fixed)
            if buff is not None:
                conn.a_buff.init = buff
    links = link_components(plan, neurons, ((j.source, j.target) for j in plan.projections.values()),
                            dtype=np.int32 if fixed else float)
    return LavaNetwork(plan, n_steps, neurons, connections, sources, sinks, links)
