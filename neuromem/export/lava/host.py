"""Host operations of a plastic phase on Lava: the rules that act on a projection's weights on a clock.

Loihi 2's learning engine updates one synapse from its own traces; a rule that
needs a neuron's summed weight (:class:`~neuromem.spec.SynapticNormalisation`)
or acts on every weight at fixed times whatever the spikes
(:class:`~neuromem.spec.BistableSynapse`'s relaxation) is a host operation
(on a chip, the host does it between chunks of the run; in Lava's simulation it
runs in the ``LearningDense`` process model's management phase after the step's
learning, ``GatedLearningDense(host_ops=...)``): :class:`HostNormalisation`,
:class:`HostBistable`, scheduled at Brian2's steps (:func:`normalisation_steps`)
and built by :func:`host_normalisations` from the rules that declare
``RuleCaps.host``.
Numpy only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from neuromem.export.issues import resolve_phase
from neuromem.export.lava.rules import rule_support
from neuromem.spec import BistableSynapse, SynapticNormalisation

__all__ = ["normalisation_steps", "phase_start_time", "HostNormalisation", "HostBistable", "host_normalisations"]

_CLOCK_EPS = 1e-4
"""Brian2's ``Clock.epsilon_dt``: times within this fraction of a step are the same step."""


def _clock_timestep(t: float, dt: float) -> int:
    """Brian2's ``Clock._calc_timestep``: the step of time ``t``, rounded up unless within ``_CLOCK_EPS``."""
    i = int(np.round(t / dt))
    if i * dt == t or abs(i * dt - t) / dt <= _CLOCK_EPS:
        return i
    return int(np.ceil(t / dt))


def normalisation_steps(t_start: float, n_steps: int, dt: float, interval: float) -> np.ndarray:
    """Steps of a phase after which Brian2 applies a :class:`~neuromem.spec.SynapticNormalisation`.

    The Brian2 backend runs the normalisation as a ``NetworkOperation`` with
    its own clock (``dt = interval``) and ``when="end"``.  At each ``run`` Brian2
    sets that clock to ``ceil(t_start / interval)`` of the absolute network
    time, so it fires at the absolute times ``m * interval`` with
    ``t_start <= m * interval < t_end``; a firing at (within 1e-4 steps of)
    step ``k``, or between steps ``k`` and ``k + 1``, runs at the end of step
    ``k``, after its neuron, synapse and plasticity updates.

    Parameters
    ----------
    t_start : float
        Brian2 network time at the start of the phase (s,
        :func:`phase_start_time`).
    n_steps : int
        Steps of the phase.
    dt, interval : float
        Time step and normalisation interval (s).

    Returns
    -------
    ndarray of int
        Phase-relative steps ``s`` (0-based; Lava step ``s + 1``) at whose end
        the weights are rescaled, increasing.
    """
    k0 = _clock_timestep(t_start, dt)
    t_end = t_start + n_steps * dt
    m0, m_end = _clock_timestep(t_start, interval), _clock_timestep(t_end, interval)
    out = []
    for m in range(m0, m_end):
        x = m * interval / dt
        r = int(np.round(x))
        k = r if abs(r - x) <= _CLOCK_EPS else int(np.floor(x))
        if 0 <= k - k0 < n_steps:
            out.append(k - k0)
    return np.asarray(out, dtype=np.int64)


def phase_start_time(results, model, phase: str) -> float:
    """Brian2 network time (s) at the start of ``phase`` of a run.

    ``network.t`` continues from the end of the phase the state comes from
    (``start_from`` restores the time stored with the state), so it is the
    summed duration of the phases before ``phase`` on its
    :meth:`~neuromem.spec.Protocol.lineage`, as recorded in ``results``.
    """
    durations = {p["name"]: float(p["duration"]) for p in results["phases"]}
    t = 0.0
    for name in model.protocol.lineage(phase)[:-1]:
        t += durations[name]
    return t


class _HostOperation:
    """What :class:`HostNormalisation` and :class:`HostBistable` share: the schedule, the counts, and the two
    ways to run the operation.

    The learning network runs it inside the ``LearningDense`` process model
    (:class:`~neuromem.export.lava.processes.GatedLearningDense`'s ``host_ops``), in
    the management phase after the step's learning: :meth:`transform` on the
    model's own weights, its counts in a row of the process's ``host_stats`` Var,
    read once after the phase (:meth:`load`).
    """

    STATS: tuple = ()
    """Names of the counts, in the order of a ``host_stats`` row."""
    START: tuple = ()
    """Their initial values."""

    def __post_init__(self):
        self.stats = dict(zip(self.STATS, self.START))

    def row(self) -> np.ndarray:
        """The initial counts as one ``host_stats`` row."""
        return np.array(self.START, dtype=float)

    def load(self, row) -> None:
        """Take the counts from a ``host_stats`` row (integers as int)."""
        self.stats = {k: (float(v) if k in ("min_factor", "compute_s") else int(v)) for k, v in zip(self.STATS, row)}

    def transform(self, W: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The weights after the operation (Lava units, ``(n_post, n_pre)``); adds to the counts in ``row``."""
        t0 = time.perf_counter()
        W = self._transform(W, row)
        row[0] += 1
        row[-1] += time.perf_counter() - t0
        return W

    def _common(self, dt: float) -> dict:
        return {"where": "in the LearningDense process model, after the step's learning (the host's "
                         "operation on chip)",
                "interval_steps": self.rule_interval / dt, "n_scheduled": int(self.steps.size),
                "first_step": int(self.steps[0]) if self.steps.size else None, **self.stats}


@dataclass
class HostNormalisation(_HostOperation):
    """A :class:`~neuromem.spec.SynapticNormalisation` done on a ``LearningDense``'s weights at Brian2's steps.

    Loihi 2's learning engine sees one synapse's traces, never a neuron's
    summed input, so it has no multiplicative normalisation; on a real system
    the host does it between chunks of the run.  :meth:`transform` applies
    Brian2's operation to ``w = W_lava / scale``
    (:meth:`~neuromem.spec.SynapticNormalisation.factors` over the same synapses:
    only ever scales down, no clipping, independent of gain and learning rate)
    and returns ``W`` itself when no neuron is over the total.

    Attributes
    ----------
    projection : str
    norm : SynapticNormalisation
    steps : ndarray of int
        Phase-relative steps after which it runs (:func:`normalisation_steps`).
    pre, post : ndarray of int
        The projection's synapses (Brian2's order).
    scale : float
        Lava weight per volt (the learning plan's ``scale``).
    n_owner : int
        Size of the population whose neurons own the sums (target for an
        incoming rule, source for an outgoing one).
    stats : dict
        ``applied``, ``rescaled``, ``neuron_rescales``, ``min_factor``, ``compute_s``.
    """

    STATS = ("applied", "rescaled", "neuron_rescales", "min_factor", "compute_s")
    START = (0, 0, 0, 1.0, 0.0)

    projection: str
    norm: SynapticNormalisation
    steps: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    scale: float
    n_owner: int
    stats: dict = None

    @property
    def rule_interval(self) -> float:
        return self.norm.interval

    def factors(self, W: np.ndarray) -> np.ndarray:
        """Per-owning-neuron factors for Lava weights ``W`` (n_post, n_pre): Brian2's arithmetic."""
        return self.norm.factors(W[self.post, self.pre] / self.scale, self.norm.owners(self.pre, self.post),
                                 self.n_owner)

    def _transform(self, W, row):
        f = self.factors(W)
        over = f != 1.0
        if not over.any():
            return W
        row[1] += 1
        row[2] += int(over.sum())
        row[3] = min(row[3], float(f.min()))
        # W is (n_post, n_pre): the owners' factors along rows (incoming) or columns (outgoing)
        return W * self.norm.owners(f[np.newaxis, :], f[:, np.newaxis])

    def summary(self, dt: float) -> dict:
        """JSON-ready description and counts."""
        return {"rule": self.norm.name, "total_mV": self.norm.total * 1e3, "interval_s": self.norm.interval,
                "direction": self.norm.direction, **self._common(dt)}


@dataclass
class HostBistable(_HostOperation):
    """A :class:`~neuromem.spec.BistableSynapse` relaxation done on a ``LearningDense``'s weights at Brian2's steps.

    Loihi 2's learning engine updates a synapse at its own spikes; a weight
    that drifts towards one of two states between spikes, on a clock of its
    own, is a periodic operation the host does between chunks of the run, as
    a normalisation.  :meth:`transform` applies
    :meth:`~neuromem.spec.BistableSynapse.relax` (Brian2's arithmetic) to
    ``w = W_lava / scale`` over the projection's synapses.

    Attributes
    ----------
    projection : str
    rule : BistableSynapse
    steps : ndarray of int
        Phase-relative steps after which it runs (:func:`normalisation_steps`:
        the Brian2 backend runs it on a clock of its own, ``when="end"``).
    pre, post : ndarray of int
        The projection's synapses.
    scale : float
        Lava weight per volt.
    stats : dict
        ``applied``, ``went_up`` / ``went_down`` (synapses above / at or below
        ``theta`` at the last application), ``compute_s``.
    """

    STATS = ("applied", "went_up", "went_down", "compute_s")
    START = (0, 0, 0, 0.0)

    projection: str
    rule: BistableSynapse
    steps: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    scale: float
    stats: dict = None

    @property
    def rule_interval(self) -> float:
        return self.rule.interval

    def _transform(self, W, row):
        w = W[self.post, self.pre] / self.scale
        W = W.copy()
        W[self.post, self.pre] = self.rule.relax(w) * self.scale
        up = int((w > self.rule.theta).sum())
        row[1], row[2] = up, w.size - up
        return W

    def summary(self, dt: float) -> dict:
        """JSON-ready description and counts."""
        r = self.rule
        return {"rule": r.name, "theta_mV": r.theta * 1e3, "w_up_mV": r.w_up * 1e3, "w_down_mV": r.w_down * 1e3,
                "tau_up_s": r.tau_up, "tau_down_s": r.tau_down, "interval_s": r.interval, **self._common(dt)}


def host_normalisations(model, phase, rules: dict, synapses: dict, n_steps: int,
                        t_start: float = 0.0) -> list:
    """The host operations of the learning projections plastic in ``phase``: a :class:`HostNormalisation`
    per normalisation rule, a :class:`HostBistable` per bistable rule.

    In Brian2's order: projections in the phase's ``plastic`` order, each
    projection's rules in its ``plasticity`` order (the Brian2 backend orders
    a projection's operations that fall on one step by list position).

    Parameters
    ----------
    model : neuromem.spec.Model
    phase : str or Phase
    rules : dict of str to LearningRulePlan
        :func:`learning_rule_plans` of the phase (their ``scale``).
    synapses : dict of str to (i, j)
    n_steps : int
        Steps of the phase.
    t_start : float
        Brian2 network time at the phase start (:func:`phase_start_time`).
    """
    ph = resolve_phase(model, phase)
    out = []
    for name in ph.plastic:
        ops = [r for r in model.rules_of(name) if rule_support(r) == "host"]
        if not ops:
            continue
        if name not in rules:
            raise ValueError(f"projection {name!r}: a host operation ({ops[0].name!r}) needs a learning "
                             f"projection (see check_lava_learning)")
        i, j = (np.asarray(a, dtype=np.int64) for a in synapses[name])
        for op in ops:
            steps = normalisation_steps(t_start, n_steps, model.dt, op.interval)
            if isinstance(op, SynapticNormalisation):
                out.append(HostNormalisation(
                    projection=name, norm=op, steps=steps, pre=i, post=j, scale=rules[name].scale,
                    n_owner=model.nodes()[op.owner_node(model.projections[name])].size))
            else:
                out.append(HostBistable(projection=name, rule=op, steps=steps, pre=i, post=j,
                                        scale=rules[name].scale))
    return out
