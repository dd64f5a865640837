"""Re-learning a projection's weights from the spikes of a recorded phase.

When a projection is plastic but does not transmit during a phase (it is in
the phase's ``block`` list, or its gain there is 0 — as the cortical
recurrence is in the default model's sleep), the spikes of that phase do not
depend on its weights.  What its timing rule wrote can then be computed again
from the recorded spikes alone, and so can what *another* rule would have
written from exactly the same activity: a counterfactual that costs seconds
of numpy instead of a new simulation.  :func:`relearn` does this for the
library's pair and triplet STDP with the projection's normalisations and
bistable relaxation, with the Brian2 backend's order of operations
(presynaptic updates at spike arrival, after the axonal delay, before
postsynaptic ones in the same time step; normalisations and relaxation at the
end of every ``interval``, in the projection's list order, from the phase's
first step), so that re-learning with the projection's own rule reproduces the
recorded weights (tested against Brian2).

The rule's traces carry over between phases, as Brian2's do: pass the spikes
of the phase whose end state this one starts from as ``history`` and they set
the traces at the start (spikes still in flight at its end arrive in this
phase); without it the traces start at zero, which differs by what the last
tens of milliseconds of that phase would have added.
"""

from __future__ import annotations

import numpy as np

from neuromem.spec import BistableSynapse, PairSTDP, SynapticNormalisation, TripletSTDP
from neuromem.spec.registry import RULES

__all__ = ["relearn", "relearnable"]

_TIMING = (PairSTDP, TripletSTDP)
_CLOCKED = (SynapticNormalisation, BistableSynapse)     # applied every interval, in list order


def relearnable(model, phase: str, projection: str) -> list:
    """Why :func:`relearn` cannot re-learn ``projection`` in ``phase`` (empty if it can).

    Parameters
    ----------
    model : neuromem.spec.Model
    phase, projection : str
        Names in ``model``.

    Returns
    -------
    list of str
        One sentence per reason: the projection transmits in the phase (so
        the recorded spikes depend on its weights), it has a rule other than
        one pair or triplet STDP, normalisations and a bistable rule, or it has no
        timing rule.
    """
    ph = _phase(model, phase)
    proj = _projection(model, projection)
    out = []
    if projection not in ph.block and ph.gain.get(projection, 1.0) != 0:
        out.append(f"projection {projection!r} transmits in phase {phase!r} (neither in its block list nor at "
                   f"gain 0), so the recorded spikes depend on its weights")
    timing = [r for r in proj.plasticity if isinstance(model.rules[r], _TIMING)]
    other = [r for r in proj.plasticity
             if not isinstance(model.rules[r], _TIMING + _CLOCKED)]
    if len(timing) != 1:
        out.append(f"projection {projection!r} has {len(timing)} pair or triplet STDP rules (needs exactly one)")
    if other:
        out.append(f"projection {projection!r} has rules relearn does not implement: "
                   + ", ".join(f"{r!r} ({RULES.name_of(model.rules[r])})" for r in other))
    return out


def relearn(model, phase: str, projection: str, spikes, synapses, w0, duration: float, rule=None,
            history=None, t_start: float = 0.0) -> np.ndarray:
    r"""The projection's weights at the end of ``phase``, learned again from the phase's recorded spikes.

    Parameters
    ----------
    model : neuromem.spec.Model
        The model the run simulated (e.g. ``loads_model(run.model_text())``).
    phase : str
        A phase in which ``projection`` is blocked (or at gain 0) and plastic.
    projection : str
        Its rules must be one :class:`~neuromem.spec.PairSTDP` or
        :class:`~neuromem.spec.TripletSTDP` and any
        :class:`~neuromem.spec.SynapticNormalisation`\ s and a
        :class:`~neuromem.spec.BistableSynapse` (:func:`relearnable`).
    spikes : mapping
        Population name -> :class:`~neuromem.records.Spikes` of the phase
        (times from the start of the phase, s); needs the projection's source
        and target.
    synapses : tuple of ndarray
        Presynaptic and postsynaptic indices of the projection's synapses.
    w0 : ndarray
        Their weights at the start of the phase (V).
    duration : float
        Length of the phase (s).
    rule : PairSTDP or TripletSTDP, optional
        Learn with this rule instead of the projection's own (the
        normalisations and the phase's learning-rate scale are kept).
    history : tuple (mapping, float), optional
        The spikes and duration of the phase this one continues from (the
        previous phase, or its ``start_from``): they set the traces at the
        start of the phase and change no weight.
    t_start : float, optional
        The simulation time at which the phase starts (s): the end of the
        phase it continues from (of its ``start_from`` if it has one).  A
        normalisation acts on its own clock, at the multiples of its
        ``interval`` in simulation time.

    Returns
    -------
    ndarray
        Weights at the end of the phase (V), in the order of ``synapses``.

    Raises
    ------
    ValueError
        Naming the phase, the projection and the reason, when
        :func:`relearnable` finds one, or when ``rule`` is not a pair or
        triplet STDP.
    """
    problems = relearnable(model, phase, projection)
    if problems:
        raise ValueError(f"relearn: phase {phase!r}, projection {projection!r}: " + "; ".join(problems))
    ph = _phase(model, phase)
    proj = _projection(model, projection)
    own = next(model.rules[r] for r in proj.plasticity if isinstance(model.rules[r], _TIMING))
    rule = own if rule is None else rule
    if not isinstance(rule, _TIMING):
        raise ValueError(f"relearn: phase {phase!r}, projection {projection!r}: rule must be a PairSTDP or "
                         f"TripletSTDP, got {type(rule).__name__}")
    clocked = [model.rules[r] for r in proj.plasticity if isinstance(model.rules[r], _CLOCKED)]
    lr = float(ph.plastic.get(projection, 0.0))
    w = np.array(w0, dtype=float, copy=True)
    if lr <= 0:
        return w
    pre_i, post_i = (np.asarray(a, dtype=np.int64) for a in synapses)
    n_pre, n_post = spikes[proj.source].n, spikes[proj.target].n
    dt = model.dt
    delay = int(round(proj.delay / dt))
    n_steps = int(round(duration / dt))
    events = _events(spikes[proj.source], spikes[proj.target], dt, delay, 0, n_steps)
    if history is not None:
        past, past_duration = history
        offset = int(round(past_duration / dt))
        for step, (arriving, firing) in _events(past[proj.source], past[proj.target], dt, delay - offset,
                                                -offset, n_steps, post_shift=-offset).items():
            now = events.setdefault(step, [np.zeros(0, np.int64), np.zeros(0, np.int64)])
            now[0], now[1] = np.concatenate([arriving, now[0]]), np.concatenate([firing, now[1]])
    by_pre, by_post = _index(pre_i, n_pre), _index(post_i, n_post)
    traces = _Traces(rule, n_pre, n_post)
    every = [max(int(round(n.interval / dt)), 1) for n in clocked]
    apply = [_clocked_step(n, pre_i, post_i, n_pre, n_post) for n in clocked]
    first = [_first_tick(t_start, n.interval, dt) for n in clocked]
    op_steps = {s for f, k in zip(first, every) for s in range(f, n_steps, k)}
    for step in sorted(set(events) | op_steps):
        t = step * dt
        arriving, firing = events.get(step, ((), ()))
        if step < 0:                       # before the phase: traces only
            traces.pre_spike(t, arriving)
            traces.post_spike(t, firing)
            continue
        if len(arriving):
            syn = _gather(by_pre, arriving)
            w[syn] = np.clip(w[syn] + lr * traces.on_pre(t, post_i[syn]), rule.w_min, rule.w_max)
            traces.pre_spike(t, arriving)
        if len(firing):
            syn = _gather(by_post, firing)
            w[syn] = np.clip(w[syn] + lr * traces.on_post(t, pre_i[syn], post_i[syn]), rule.w_min, rule.w_max)
            traces.post_spike(t, firing)
        for step_fn, f, k in zip(apply, first, every):
            if step >= f and (step - f) % k == 0:
                w = step_fn(w)
    return w


class _Traces:
    """Per-neuron traces of an all-to-all rule (every synapse of a neuron sees the same spikes)."""

    def __init__(self, rule, n_pre, n_post):
        self.rule = rule
        self.triplet = isinstance(rule, TripletSTDP)
        taus_pre = (rule.tau_plus,) if self.triplet else (rule.tau_pre,)
        taus_post = (rule.tau_minus, rule.tau_y) if self.triplet else (rule.tau_post,)
        self.pre = [_Trace(tau, n_pre) for tau in taus_pre]
        self.post = [_Trace(tau, n_post) for tau in taus_post]

    def on_pre(self, t, post):
        r = self.rule
        y = self.post[0].value(t, post)
        if self.triplet:
            return -(r.a2_minus * y + r.c_pre)
        if r.window == "symmetric":
            return r.a_minus * y - r.c_pre
        return -(r.a_minus * y + r.c_pre)

    def on_post(self, t, pre, post):
        r = self.rule
        x = self.pre[0].value(t, pre)
        if self.triplet:            # o2 read before this spike's own jump
            return x * (r.a2_plus + r.a3_plus * self.post[1].value(t, post)) - r.c_post
        return r.a_plus * x - r.c_post

    def pre_spike(self, t, cells):
        for tr in self.pre:
            tr.jump(t, cells)

    def post_spike(self, t, cells):
        for tr in self.post:
            tr.jump(t, cells)


class _Trace:
    def __init__(self, tau, n):
        self.tau, self.x, self.t = tau, np.zeros(n), np.full(n, -np.inf)   # no spike yet

    def value(self, t, cells):
        return self.x[cells] * np.exp(-(t - self.t[cells]) / self.tau)

    def jump(self, t, cells):
        self.x[cells] = self.value(t, cells) + 1.0
        self.t[cells] = t


def _clocked_step(rule, pre_i, post_i, n_pre, n_post):
    """One tick of a clocked rule as ``w -> new w``: a normalisation's rescaling, or a bistable relaxation."""
    if isinstance(rule, BistableSynapse):
        return rule.relax
    owner, n_owner = rule.owners(pre_i, post_i), rule.owners(n_pre, n_post)
    return lambda w: w * rule.factors(w, owner, n_owner)[owner]


def _first_tick(t_start, interval, dt) -> int:
    """Time step of the phase at which a clock of period ``interval`` first ticks (Brian2 rounds up)."""
    k = t_start / interval
    tick = round(k) if abs(k - round(k)) < 1e-6 else int(np.ceil(k))
    return int(round((tick * interval - t_start) / dt))


def _phase(model, name):
    try:
        return model.protocol.phase(name)
    except KeyError:
        raise ValueError(f"relearn: no phase {name!r} in model {model.name!r}") from None


def _projection(model, name):
    if name not in model.projections:
        raise ValueError(f"relearn: no projection {name!r} in model {model.name!r}")
    return model.projections[name]


def _events(pre, post, dt, delay, first, n_steps, post_shift=0) -> dict:
    """Time step -> (presynaptic neurons whose spikes arrive, postsynaptic neurons that fire), in [first, n_steps)."""
    out = {}
    for k, (sp, shift) in enumerate(((pre, delay), (post, post_shift))):
        steps = np.rint(np.asarray(sp.t) / dt).astype(np.int64) + shift
        cells = np.asarray(sp.i, dtype=np.int64)
        inside = (steps >= first) & (steps < n_steps)
        steps, cells = steps[inside], cells[inside]
        order = np.argsort(steps, kind="stable")
        steps, cells = steps[order], cells[order]
        bounds = np.flatnonzero(np.diff(steps)) + 1
        for s, c in zip(steps[np.r_[0, bounds]] if len(steps) else (), np.split(cells, bounds) if len(steps) else ()):
            entry = out.setdefault(int(s), [np.zeros(0, np.int64), np.zeros(0, np.int64)])
            entry[k] = c
    return out


def _index(idx, n):
    order = np.argsort(idx, kind="stable")
    return order, np.searchsorted(idx[order], np.arange(n + 1))


def _gather(index, cells):
    order, ptr = index
    return np.concatenate([order[ptr[c]:ptr[c + 1]] for c in cells])
