"""Plasticity rules on Lava: which rules map, and their ``Loihi2FLearningRule`` parameters.

Numpy only.  :data:`RULE_SUPPORT` says, per rule class, where a rule runs when
a plastic phase learns on Lava: ``"chip"`` (a spike-timing rule carried by
Loihi 2's sum-of-products learning engine, :func:`map_rule`) or ``"host"``
(a synaptic normalisation, which needs a neuron's summed weight that no
per-synapse rule sees: the host rescales the weights between chunks of the
run, :class:`HostNormalisation`), read from the capabilities each rule class
declares (:class:`~neuromem.spec.registry.RuleCaps`).  A rule that learns on
chip has its mapping function registered per rule class in :data:`LAVA_RULES`
(``@lava_rule(MyRule)``), the one place this exporter knows a rule.

How each Brian2 update becomes a trace and a product term is tabulated in
``docs/export.md`` ("Learning on Lava").
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from neuromem.export.frozen import exact_coefficients, phase_gain
from neuromem.export.issues import resolve_phase
from neuromem.spec import PairSTDP, SynapticNormalisation, VogelsISTDP
from neuromem.spec.registry import RULES

__all__ = [
    "RULE_SUPPORT", "rule_support", "FAST_TAU", "TRACES", "LearningRulePlan", "RuleTerms", "LAVA_RULES", "lava_rule",
    "rule_mapping", "map_rule", "learning_rule_plans",
    "normalisation_steps", "phase_start_time", "HostNormalisation", "host_normalisations",
]

FAST_TAU = 1e-3
"""Time constant (steps) of the traces that hold a constant only in the step of a spike."""

TRACES = ("x1", "x2", "y1", "y2", "y3")
"""The learning traces of a ``LearningDense`` that the mapped rules use."""

_CLOCK_EPS = 1e-4
"""Brian2's ``Clock.epsilon_dt``: times within this fraction of a step are the same step."""


@dataclass(frozen=True)
class LearningRulePlan:
    """The ``Loihi2FLearningRule`` of one plastic projection, and its bounds.

    Attributes
    ----------
    projection, rule, rule_type : str
    dw : str
        The rule string (products of ``x0``/``y0``, a trace and ``d``).
    dw_pre : str
        Its products with the ``x0`` dependency (Brian2's ``on_pre`` update).
    impulses, taus : dict of str to float
        Per trace (:data:`TRACES`); taus in steps.
    scale : float
        Lava weight per volt of Brian2 weight: ``sign * gain * kappa``, with
        ``gain`` taken as 1 when the projection is blocked in the phase.
    lr : float
        The phase's learning-rate scale.
    w_bounds : (float, float)
        Brian2's bounds (V).
    lava_bounds : (float, float)
        The same in Lava units (``w_bounds * scale``, sorted).
    blocked : bool
        Blocked (transmission gain 0) in the phase: it learns but its output
        is gated to 0 (Brian2: ``I += 0 * w``, plasticity still driven by the
        spikes).
    """

    projection: str
    rule: str
    rule_type: str
    dw: str
    dw_pre: str
    impulses: dict
    taus: dict
    scale: float
    lr: float
    w_bounds: tuple
    lava_bounds: tuple
    blocked: bool = False

    def learning_rule(self):
        """The ``Loihi2FLearningRule`` (imports lava)."""
        from neuromem._compat.lava311 import import_lava
        import_lava()
        from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
        kw = {}
        for tr in TRACES:
            kw[f"{tr}_impulse"] = float(self.impulses[tr])
            kw[f"{tr}_tau"] = float(self.taus[tr])
        return Loihi2FLearningRule(dw=self.dw, t_epoch=1, rng_seed=1, **kw)


def _rule_string(terms) -> str:
    out = ""
    for coef, term in terms:
        sign = "+" if coef > 0 else "-"
        out += (f" {sign} " if out else ("" if sign == "+" else "-")) + f"{term}*d"
    return out


@dataclass(frozen=True)
class RuleTerms:
    """What one rule contributes to a ``Loihi2FLearningRule``: what a rule's mapping function returns.

    Attributes
    ----------
    impulses : dict of str to float
        Impulse per trace of :data:`TRACES` (0 for a trace the rule does not use).
    taus : dict of str to float
        Time constants (steps) of the traces that do not hold a constant only in the step of a
        spike (the others keep :data:`FAST_TAU`).
    pre, post : list of (float, str)
        ``(sign, product)`` terms of the presynaptic (``x0*...``) and postsynaptic (``y0*...``) updates.
    w_bounds : (float, float)
        The rule's weight bounds (Brian2 units).
    """

    impulses: dict
    taus: dict
    pre: list
    post: list
    w_bounds: tuple


LAVA_RULES: dict = {}
"""Rule class -> its mapping function ``(rule, k, s, dt) -> RuleTerms``, registered with :func:`lava_rule`;
``k`` is ``|scale| * lr`` (Lava weight per Brian2 weight, times the learning-rate scale), ``s`` the sign
of the projection.  Only classes whose :class:`~neuromem.spec.registry.RuleCaps` declare ``lava_learnable``."""


def lava_rule(rule_cls):
    """Decorator registering the Loihi 2 mapping of a rule class in :data:`LAVA_RULES`.

    The rule class must be registered in :data:`neuromem.spec.registry.RULES` with
    ``lava_learnable=True`` (the capability :func:`rule_support` and
    :func:`~neuromem.export.lava.check_lava_learning` read), so the declaration and
    the mapping cannot disagree.
    """
    def deco(fn):
        name = next((n for n, c in RULES.items() if c is rule_cls), None)
        if name is None or not RULES.caps(name).lava_learnable:
            raise ValueError(f"{rule_cls.__name__} is not a rule registered as lava_learnable")
        LAVA_RULES[rule_cls] = fn
        return fn
    return deco


def rule_mapping(rule):
    """The mapping function registered for ``rule``'s class (walking its MRO).

    Raises
    ------
    TypeError
        If no mapping is registered (the rule does not learn on Lava).
    """
    for t in type(rule).__mro__:
        if t in LAVA_RULES:
            return LAVA_RULES[t]
    raise TypeError(f"no Loihi 2 learning rule for {type(rule).__name__}")


@lava_rule(PairSTDP)
def _map_pair_stdp(rule: PairSTDP, k: float, s: float, dt: float) -> RuleTerms:
    """Traces ``x1`` (pre), ``y1`` (post), ``y3`` (same-step post), constants ``x2`` (c_pre), ``y2`` (c_post)."""
    m = 1.0 if rule.window == "symmetric" else -1.0
    imp = {"x1": k * rule.a_plus, "y1": k * rule.a_minus, "y3": k * rule.a_minus,
           "x2": k * rule.c_pre, "y2": k * rule.c_post}
    pre = [(m * s, "x0*y1"), (-m * s, "x0*y3"), (-s, "x0*x2")]
    post = [(s, "y0*x1"), (-s, "y0*y2")]
    return RuleTerms(imp, {"x1": rule.tau_pre / dt, "y1": rule.tau_post / dt}, pre, post, (rule.w_min, rule.w_max))


@lava_rule(VogelsISTDP)
def _map_vogels_istdp(rule: VogelsISTDP, k: float, s: float, dt: float) -> RuleTerms:
    """Traces ``x1``, ``y1`` (both ``eta``, time constant ``tau``), ``y3`` (same-step post), constant ``x2`` (``eta alpha``)."""
    imp = {"x1": k * rule.eta, "y1": k * rule.eta, "y3": k * rule.eta, "x2": k * rule.eta * rule.alpha, "y2": 0.0}
    pre = [(s, "x0*y1"), (-s, "x0*y3"), (-s, "x0*x2")]
    post = [(s, "y0*x1")]
    return RuleTerms(imp, {"x1": rule.tau / dt, "y1": rule.tau / dt}, pre, post, (0.0, rule.w_max))


def rule_support(rule) -> str | None:
    """Where ``rule`` runs when a phase learns on Lava: ``"chip"``, ``"host"`` or ``None`` (nowhere).

    From the capabilities declared with its class (:class:`neuromem.spec.registry.RuleCaps`):
    ``"chip"`` when it is ``lava_learnable`` and has a mapping in :data:`LAVA_RULES`, ``"host"``
    when it is a ``host`` rule.
    """
    caps = RULES.caps(rule)
    if caps.lava_learnable and any(t in LAVA_RULES for t in type(rule).__mro__):
        return "chip"
    return "host" if caps.host else None


RULE_SUPPORT = {cls: ("chip" if RULES.caps(n).lava_learnable and cls in LAVA_RULES else
                      "host" if RULES.caps(n).host else None)
                for n, cls in RULES.items()}
"""Rule class -> where it runs when a phase learns on Lava (None: it cannot), for the rules registered
when this module is imported; :func:`rule_support` answers for any rule object."""


def map_rule(rule, scale: float, lr: float, dt: float, projection: str = "", rule_name: str = "") -> LearningRulePlan:
    """The ``Loihi2FLearningRule`` of a rule with a registered mapping (:data:`LAVA_RULES`).

    Every amplitude is a trace impulse (a product's constant must be
    ``m * 2**e`` with ``|m| <= 7``, which Brian2's amplitudes times ``kappa``
    are not), constant depressions are traces of :data:`FAST_TAU`, and ``y3``
    removes a same-step postsynaptic spike from the presynaptic update
    (Brian2 runs ``on_pre`` first).  Terms whose trace impulse is 0 are left out.

    Parameters
    ----------
    rule : PairSTDP or VogelsISTDP or another rule registered with :func:`lava_rule`
    scale : float
        ``sign * gain * kappa`` of the projection in the phase (Lava weight per volt).
    lr : float
        Learning-rate scale of the phase.
    dt : float
    projection, rule_name : str, optional
        Recorded in the plan.

    Returns
    -------
    LearningRulePlan

    Raises
    ------
    TypeError
        For a rule without a registered mapping.
    ValueError
        If ``scale`` is 0.
    """
    mapping = rule_mapping(rule)
    if scale == 0:
        raise ValueError(f"projection {projection!r}: a plastic projection needs a non-zero gain")
    terms = mapping(rule, abs(scale) * lr, 1.0 if scale > 0 else -1.0, dt)
    imp = {tr: float(terms.impulses.get(tr, 0.0)) for tr in TRACES}
    taus = {tr: float(terms.taus.get(tr, FAST_TAU)) for tr in TRACES}

    def keep(ts):
        return [(c, t) for c, t in ts if imp[t.split("*")[1]] != 0.0]

    pre, post = keep(terms.pre), keep(terms.post)
    w_bounds = terms.w_bounds
    lo, hi = sorted((w_bounds[0] * scale, w_bounds[1] * scale))
    return LearningRulePlan(
        projection=projection, rule=rule_name, rule_type=type(rule).__name__,
        dw=_rule_string(pre + post), dw_pre=_rule_string(pre), impulses=imp, taus=taus,
        scale=float(scale), lr=float(lr), w_bounds=tuple(float(w) for w in w_bounds),
        lava_bounds=(float(lo), float(hi)))


def learning_rule_plans(model, phase) -> dict:
    """``{projection: LearningRulePlan}`` for the projections that learn on chip in ``phase``.

    Projections whose mapped rule has no non-zero term are left out (they
    cannot change).  A projection blocked in the phase gets the Lava weights
    and rule of gain 1 and ``blocked=True``.  Call
    :func:`neuromem.export.lava.check_lava_learning` first.
    """
    ph = resolve_phase(model, phase)
    out = {}
    for name, lr in ph.plastic.items():
        pr = model.projections[name]
        rules = [(r, model.rules[r]) for r in pr.plasticity if rule_support(model.rules[r]) == "chip"]
        if not rules:
            continue
        tgt = model.populations[pr.target]
        kappa = exact_coefficients(tgt.tau_m, tgt.tau_syn, model.dt)["kappa"]
        sign = 1.0 if pr.sign == "excitatory" else -1.0
        rname, rule = rules[0]
        gain = phase_gain(ph, name)
        plan = map_rule(rule, sign * (gain if gain != 0 else 1.0) * kappa, float(lr), model.dt, name, rname)
        if plan.dw:
            out[name] = dataclasses.replace(plan, blocked=gain == 0)
    return out


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


@dataclass
class HostNormalisation:
    """A :class:`~neuromem.spec.SynapticNormalisation` done by the host on a ``LearningDense``.

    Loihi 2's learning engine sees one synapse's traces, never a neuron's
    summed input, so it has no multiplicative normalisation; on a real system
    the host does it between chunks of the run.  :meth:`apply` reads the
    ``LearningDense`` weights (``Var.get``), applies Brian2's operation to
    ``w = W_lava / scale`` (:meth:`~neuromem.spec.SynapticNormalisation.factors`
    over the same synapses: only ever scales down, no clipping, independent
    of gain and learning rate) and writes them back (``Var.set``) if some
    neuron was over the total.

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
        Filled by :meth:`apply`: ``applied``, ``rescaled``, ``neuron_rescales``,
        ``min_factor``, ``values_read``, ``values_written``, ``get_s``,
        ``set_s``, ``compute_s``.
    """

    projection: str
    norm: SynapticNormalisation
    steps: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    scale: float
    n_owner: int
    stats: dict = None

    def __post_init__(self):
        self.stats = {"applied": 0, "rescaled": 0, "neuron_rescales": 0, "min_factor": 1.0,
                      "values_read": 0, "values_written": 0, "get_s": 0.0, "set_s": 0.0, "compute_s": 0.0}

    def factors(self, W: np.ndarray) -> np.ndarray:
        """Per-owning-neuron factors for Lava weights ``W`` (n_post, n_pre): Brian2's arithmetic."""
        return self.norm.factors(W[self.post, self.pre] / self.scale, self.norm.owners(self.pre, self.post),
                                 self.n_owner)

    def apply(self, conn) -> None:
        """Read ``conn.weights``, rescale the rows (incoming) or columns (outgoing) of neurons over ``total``, write back if any."""
        st = self.stats
        t0 = time.perf_counter()
        W = np.array(conn.weights.get(), dtype=float)
        t1 = time.perf_counter()
        f = self.factors(W)
        over = f != 1.0
        t2 = time.perf_counter()
        st["applied"] += 1
        st["values_read"] += W.size
        st["get_s"] += t1 - t0
        st["compute_s"] += t2 - t1
        if over.any():
            st["rescaled"] += 1
            st["neuron_rescales"] += int(over.sum())
            st["min_factor"] = min(st["min_factor"], float(f.min()))
            # W is (n_post, n_pre): the owners' factors along rows (incoming) or columns (outgoing)
            conn.weights.set(W * self.norm.owners(f[np.newaxis, :], f[:, np.newaxis]))
            st["values_written"] += W.size
            st["set_s"] += time.perf_counter() - t2

    def summary(self, dt: float) -> dict:
        """JSON-ready description and counts."""
        return {"rule": self.norm.name, "where": "host (Var.get / Var.set between chunks of the run)",
                "total_mV": self.norm.total * 1e3, "interval_s": self.norm.interval,
                "direction": self.norm.direction,
                "interval_steps": self.norm.interval / dt, "n_scheduled": int(self.steps.size),
                "first_step": int(self.steps[0]) if self.steps.size else None, **self.stats}


def host_normalisations(model, phase, rules: dict, synapses: dict, n_steps: int,
                        t_start: float = 0.0) -> list:
    """A :class:`HostNormalisation` per normalisation rule of the learning projections plastic in ``phase``.

    In Brian2's order: projections in the phase's ``plastic`` order, each
    projection's rules in its ``plasticity`` order.

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
        norms = model.normalisations_of(name)
        if not norms:
            continue
        if name not in rules:
            raise ValueError(f"projection {name!r}: a normalisation needs a learning projection (see "
                             f"check_lava_learning)")
        i, j = (np.asarray(a, dtype=np.int64) for a in synapses[name])
        out.extend(HostNormalisation(
            projection=name, norm=norm, steps=normalisation_steps(t_start, n_steps, model.dt, norm.interval),
            pre=i, post=j, scale=rules[name].scale,
            n_owner=model.nodes()[norm.owner_node(model.projections[name])].size)
            for norm in norms)
    return out
