"""Plasticity rules on Lava: which rules map, and their ``Loihi2FLearningRule`` parameters.

Numpy only.  :data:`RULE_SUPPORT` says, per rule class, where a rule runs when
a plastic phase learns on Lava: ``"chip"`` (a spike-timing rule carried by
Loihi 2's sum-of-products learning engine, :func:`map_rule`) or ``"host"``
(a synaptic normalisation, which needs a neuron's summed weight that no
per-synapse rule sees: the host rescales the weights at Brian2's steps; a
bistable synapse's periodic relaxation: both in
:mod:`neuromem.export.lava.host`), read from the capabilities each rule class
declares (:class:`~neuromem.spec.registry.RuleCaps`).  A rule that learns on
chip has its mapping function registered per rule class in :data:`LAVA_RULES`
(``@lava_rule(MyRule)``), the one place this exporter knows a rule.

How each Brian2 update becomes a trace and a product term is tabulated in
``docs/export.md`` ("Learning on Lava").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from neuromem.export.frozen import exact_coefficients, phase_gain
from neuromem.export.issues import resolve_phase
from neuromem.spec import PairSTDP, ShortTermDepression, VogelsISTDP
from neuromem.spec.registry import RULES

__all__ = [
    "RULE_SUPPORT", "rule_support", "FAST_TAU", "TRACES", "LearningRulePlan", "RuleTerms", "LAVA_RULES", "lava_rule",
    "rule_mapping", "map_rule", "learning_rule_plans",
    "TRANSMISSION_SUPPORT", "transmission_modes", "normalisation_steps", "phase_start_time", "HostNormalisation", "host_normalisations",
]

FAST_TAU = 1e-3
"""Time constant (steps) of the traces that hold a constant only in the step of a spike."""

TRACES = ("x1", "x2", "y1", "y2", "y3")
"""The learning traces of a ``LearningDense`` that the mapped rules use."""



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


TRANSMISSION_SUPPORT = {ShortTermDepression: ("float",)}
"""Transmission rules (short-term plasticity: ``RuleCaps.transmission``, not ``exportable`` as static
weights) that the Lava exporter builds, with the modes it builds them in.  Short-term depression: a
:class:`~neuromem.export.lava.processes.DepressingSpikes` process turns each arriving spike into a
graded one worth the available resources, in front of the projection's ``Dense`` (graded spikes,
floating point; fixed point would need Loihi 2's graded spikes in the 8-bit weight mapping), on a
projection that does not learn in the network (``LearningDense`` reads binary spikes)."""


def transmission_modes(rule) -> tuple:
    """The modes in which the Lava exporter builds a transmission rule (:data:`TRANSMISSION_SUPPORT`; empty: none)."""
    return next((modes for t in type(rule).__mro__ for c, modes in TRANSMISSION_SUPPORT.items() if t is c), ())


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
