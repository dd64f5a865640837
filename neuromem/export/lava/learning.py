"""Learning on Lava: run a plastic phase (e.g. sleep) of a Brian2 run with on-chip-style plasticity.

:mod:`neuromem.export.lava` exports a *frozen* network.  This module runs a
phase in which projections are plastic on Lava too, with Lava's
``LearningDense`` process and a ``Loihi2FLearningRule`` (Loihi 2's
sum-of-products learning engine, floating-point model), then continues the
same compiled network into the phase that follows (e.g. the lesioned recall
after sleep) with learning switched off by gating the trace impulses, and
compares the learned weights, the spikes and the recall score with Brian2's.

The mapping of the rules
------------------------
The Brian2 backend updates a plastic synapse on each presynaptic spike
*arrival* (after the projection's delay; the ``on_pre`` pathway runs first)
and then on each postsynaptic spike, clipping after each update (see
:class:`neuromem.spec.PairSTDP` and :class:`neuromem.spec.VogelsISTDP`).
Lava's learning engine, with ``t_epoch = 1``, evaluates once per step
``dw = sum of products`` whose dependencies ``x0`` (a presynaptic spike in the
step) and ``y0`` (a postsynaptic spike in the step) gate trace factors
evaluated at the spike's step.  With ``k = gain * kappa * lr`` (the Lava
weight is ``sign * gain * kappa * w``, see :mod:`neuromem.export.lava`;
``gain`` is 1 for a projection blocked in the phase, below; ``lr`` is the
phase's learning-rate scale) and ``s = +1`` for excitatory,
``-1`` for inhibitory projections, pair STDP becomes::

    dw = s * ( +-x0*y1*d  -+x0*y3*d  - x0*x2*d      (presynaptic spike: +-A- y - c_pre)
              + y0*x1*d   - y0*y2*d )               (postsynaptic spike: A+ x - c_post)

    x1: impulse k*A+,     tau = tau_pre/dt     (Brian2's x, times k*A+)
    y1: impulse k*A-,     tau = tau_post/dt    (Brian2's y, times k*A-)
    x2: impulse k*c_pre,  tau -> 0             (k*c_pre, in the step of a presynaptic spike only)
    y2: impulse k*c_post, tau -> 0             (k*c_post, in the step of a postsynaptic spike only)
    y3: impulse k*A-,     tau -> 0             (same-step correction, below)
    d  (tag_2): 1 on existing synapses, 0 elsewhere (the dense matrix's absent synapses stay 0)

with the upper signs for the symmetric window, the lower ones for the
asymmetric window.  Vogels' iSTDP (``w += lr*eta*(y - alpha)`` on a
presynaptic, ``w += lr*eta*x`` on a postsynaptic spike) is the same with
``x1, y1, y3`` impulses ``k*eta`` and ``x2`` impulse ``k*eta*alpha``.

Why each piece is there:

* **Constants in the impulses.**  A product's constant must be ``m * 2**e``
  (``|m| <= 7``, ``-7 <= e <= 8``): Brian2's amplitudes (1e-4 V times
  ``kappa ~ 0.02``) are not representable, so every amplitude is carried by a
  trace impulse (floats in the floating-point model) and every product has
  the constant ``+-1``.
* **Constant depressions** ``c_pre``, ``c_post``, ``alpha``: a trace whose time
  constant is so short (``FAST_TAU`` = 1e-3 steps: ``exp(-1000) == 0.0``) that
  it holds exactly its impulse in the step of the spike and 0 afterwards.
* **Same-step pairs.**  Lava evaluates ``y1`` at the presynaptic spike's step
  *including* a postsynaptic spike of the same step; Brian2 runs ``on_pre``
  before ``on_post``, so its ``y`` does not include it yet.  ``- x0*y3``
  removes exactly that impulse.  (``x1`` at a postsynaptic spike includes a
  same-step presynaptic spike in both simulators.)
* **Delays.**  Brian2 delays the whole ``on_pre`` pathway: transmission, the
  presynaptic trace and the presynaptic weight update happen on arrival.  A
  small ``SpikeDelay`` process (a ring buffer of ``d`` steps) in front of the
  ``LearningDense`` does the same (on chip: an axonal delay).  Static delayed
  projections use the same process in front of a ``Dense``, so that a spike in
  flight when the gain changes between phases is weighted on arrival, as in
  Brian2.

Traces start from the spikes of the phase the plastic phase continues from
(``start_from``, else the previous phase; earlier phases as long as they
matter), spikes still in flight fill the delay buffers, and ``v``, ``I`` and
the refractory clocks come from ``initial/<phase>.npz``, as for the frozen
exporter.

Bounds
------
Brian2 clips ``w`` to ``[w_min, w_max]`` after each update.  Lava's
floating-point ``LearningDense`` has no bound at all (given a ``sign_mode``
it clips at 0, i.e. at ``w_min = 0``).  Three choices (``bounds``):

``"clip"`` (default, on-chip style)
    :func:`_processes`' ``BoundedLearningDense``: Lava's own floating-point
    learning model (``PyLearningDenseModelFloat``) with its weight saturation
    set to ``[w_min, w_max]`` (Lava units) on the synapses with a spike in
    the step -- what Loihi 2 does at the ends of its weight range once the
    weight exponent puts ``w_max`` there.  It clips once, after the step's
    summed update; Brian2 clips after the presynaptic and again after the
    postsynaptic update.  The two differ only when a synapse's pre- and
    postsynaptic spikes fall in the same step and the presynaptic update
    alone crosses a bound; the model computes Brian2's value for every such
    pair and counts those where it differs (``order_sensitive``), with all
    clips (``clipped``) and all same-step pairs (``coincident``).
``"brian2"``
    The same model, but for those pairs it keeps Brian2's value (clip, add the
    postsynaptic update, clip): the weights equal Brian2's to rounding.  A
    learning engine that adds one summed update per epoch cannot do this on
    chip; it shows that the bound order is the only difference.
``"none"``
    Stock Lava: ``LearningDense`` with the projection's sign mode (exact for
    ``w_min = 0``; ``w_max`` is not enforced; the results count the weights
    beyond it).

Blocked plastic projections
---------------------------
Brian2 blocks a projection by setting its transmission ``gain`` to 0: the
``on_pre`` pathway still runs (``I += 0 * w``), so its traces and weight
updates are driven by the spikes as usual.  On Lava such a projection (e.g.
cls' ``ctx_ee`` in sleep) is a ``GatedLearningDense`` (the
``BoundedLearningDense`` is one) with the weights and the rule of gain 1
(``k = kappa * lr``) and its output gate closed (``transmit = 0``): it
receives the presynaptic spikes (through its ``SpikeDelay``) and the
postsynaptic back-propagated spikes and learns exactly as with transmission,
but accumulates nothing into its target.  When the next phase unblocks it,
its weights become the learned ones times that phase's gain and the gate
opens; a spike that arrived while it was blocked still delivers 0, as in
Brian2.

Synaptic normalisation: on the host, not on chip
------------------------------------------------
A :class:`~neuromem.spec.SynapticNormalisation` (cls: ``ctx_norm`` and
``ctx_incap`` on ``ctx_ee``: every 10 ms, each neuron whose summed outgoing,
resp. incoming, weight exceeds ``total`` has all those weights scaled down to
that sum) has no Loihi 2 learning-rule counterpart: a rule sees one synapse's
traces, never the sum over a neuron's synapses.  On a real system the host (or a microcoded/embedded
Lakemont process) does it between epochs.  Here the host does it:
:meth:`LavaLearningNetwork.run` runs the plastic phase in chunks that end
after the steps at which Brian2's normaliser runs and, between chunks, for
each such projection reads the ``LearningDense`` weights (``Var.get``),
applies Brian2's operation to ``w = W / scale``
(:meth:`~neuromem.spec.SynapticNormalisation.factors` over the same synapses,
the factor ``total / S_n`` for neurons with ``S_n > total``, nothing else
touched; several rules on one projection in its ``plasticity`` order) and writes the matrix back (``Var.set``) when a neuron
was over the total (:class:`HostNormalisation`).  It uses the Brian2 weight,
so it is independent of the transmission gain (also for a blocked projection)
and of the learning rate, as in Brian2.

Timing (:func:`normalisation_steps`): Brian2 runs it as a ``NetworkOperation``
with ``when="end"`` on its own clock (``dt = interval``), which starts at
``ceil(t_start / interval)`` of the *absolute* network time; ``t_start`` is the
end of the phase the state comes from (:func:`phase_start_time`).  So when the
phase starts at a multiple of the interval (cls' sleep, at 1.5 s), the first
normalisation comes at the end of the phase's first step (Lava step 1), then
every ``interval / dt`` steps; none at the end of the last step.

Bounds: the rescaling only scales down and does not clip (Brian2 clips only
inside the plasticity updates); the next update of a synapse clips it, in
Brian2 and on Lava with every ``bounds`` option (``"clip"`` and ``"brian2"``
clip exactly the synapses with an event, ``"none"`` keeps Lava's sign mode).
With ``"clip"``, an order-sensitive pair (below) changes a neuron's sum and so
the factor of all its inputs a little.

Cost: it is not on chip.  Each operation moves the whole ``(n_post, n_pre)``
matrix through Lava's runtime, one value per message (~22 us per value on
this CPU backend, ~1.4 s each way for 250 x 250), and each chunk is a
separate ``run`` call; the results report the operations, the values moved
and the host time (``normalisation``, ``wall_time_s.lava_host_normalisation``).
Fixed point stays refused.

What is refused (before anything is built): rules without a Loihi 2
counterpart active in the phase (other than pair STDP, Vogels iSTDP and a
normalisation), a normalisation on a projection without a spike-timing rule
that changes its weights in the phase (the host rescales ``LearningDense``
weights only), two timing rules on one projection, several plastic synapses
between one pair of neurons, plasticity in the phase that follows, fixed point
(``mode="fixed"``: see ``docs/export.md``), plus everything
:func:`neuromem.export.lava.check_lava` refuses for the neurons.

Examples
--------
>>> from neuromem.export.lava_learning import check_lava_learning, run_lava_learning
>>> [i.feature for i in check_lava_learning(model, "sleep")]         # doctest: +SKIP
['normalisation']
>>> res = run_lava_learning("runs/cls-...-seed1", phase="sleep")      # doctest: +SKIP
>>> res["recall_overlap"], res["recall_overlap_brian2"]              # doctest: +SKIP
(0.0763, 0.0763)
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromem.export.lava import (
    DEFAULT_PHASE, ExportIssue, LavaExportError, _LavaRuntime, _check_mode, _delay_steps, _input_matrix,
    _link_components, _origin_phase, _pearson, _resolve_phase, _spike_recorder, _steps_before, _to_spikes,
    _write_json_atomic, check_lava, compare_spikes, load_frozen_network, phase_gain, plan_lava,
)
from neuromem.spec import SynapticNormalisation

__all__ = [
    "BOUNDS", "FAST_TAU", "LearningRulePlan", "check_lava_learning", "learning_rule_plans",
    "map_rule", "build_learning_network", "LavaLearningNetwork", "run_lava_learning",
    "follow_up_phase", "is_plastic", "run_is_plastic", "results_file", "weights_file",
    "HostNormalisation", "host_normalisations", "normalisation_steps", "phase_start_time",
]

BOUNDS = ("clip", "brian2", "none")
FAST_TAU = 1e-3
"""Time constant (steps) of the traces that hold a constant only in the step of a spike."""
SILENT_VTH = 1e30
"""Threshold of a population silenced in a phase (it integrates but cannot spike, as in Brian2)."""
_OPEN = 1e300
_TRACES = ("x1", "x2", "y1", "y2", "y3")


def results_file(phase: str) -> str:
    """Name of the results file of :func:`run_lava_learning` (``lava_<phase>_results.json``)."""
    from neuromem.io import safe_name
    return f"lava_{safe_name(phase)}_results.json"


def weights_file(phase: str) -> str:
    """Name of the learned-weights file (``lava_<phase>_weights.npz``, per synapse, V)."""
    from neuromem.io import safe_name
    return f"lava_{safe_name(phase)}_weights.npz"


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------


def is_plastic(model, phase) -> bool:
    """Whether any projection learns in ``phase``."""
    ph = _resolve_phase(model, phase)
    return bool(ph is not None and ph.plastic)


def _timing_types():
    from neuromem.spec import PairSTDP, VogelsISTDP
    return (PairSTDP, VogelsISTDP)


def check_lava_learning(model, phase, mode: str = "float", bounds: str = "clip",
                        then=None) -> list[ExportIssue]:
    """List what keeps a plastic phase from running on Lava with learning.

    Parameters
    ----------
    model : neuromem.spec.Model
    phase : str or Phase
        The plastic phase.
    mode : {"float", "fixed"}
        Only ``"float"`` learns; ``"fixed"`` is refused (an error).
    bounds : {"clip", "brian2", "none"}
        ``"none"``: a warning per projection whose ``w_max`` (or ``w_min > 0``)
        is then not enforced.
    then : str or Phase, optional
        The phase run after it in the same network (frozen); its plasticity
        is refused.

    Returns
    -------
    list of ExportIssue
        Errors first.  The neuron and delay issues of
        :func:`neuromem.export.lava.check_lava` for the whole model (every
        population is simulated: a population silenced in a phase keeps
        integrating without spiking, as in Brian2), without its plasticity
        issues, which are replaced by:

        errors
            a rule other than pair STDP, Vogels iSTDP or
            ``SynapticNormalisation`` on a projection plastic in the phase,
            a normalisation on a projection without a spike-timing rule that
            changes its weights in the phase, two timing rules on one
            projection, plasticity in ``then``, fixed point;
        warnings
            ``bounds="none"``: bounds not enforced; a ``SynapticNormalisation``
            (feature ``"normalisation"``): it runs on the host between chunks
            of the run, not on chip (see :class:`HostNormalisation`).

        A plastic projection blocked (gain 0) in the phase is supported: it
        learns from its pre- and postsynaptic spikes and transmits nothing
        (see :func:`build_learning_network`).
    """
    if bounds not in BOUNDS:
        raise ValueError(f"bounds must be one of {BOUNDS}, got {bounds!r}")
    _check_mode(mode)

    ph = _resolve_phase(model, phase)
    if ph is None:
        raise ValueError("check_lava_learning needs a phase")
    issues = [i for i in check_lava(model, None, mode) if i.feature != "plasticity"]
    timing = _timing_types()
    norms = []
    if mode == "fixed":
        issues.append(ExportIssue(
            "error", "plasticity",
            f"phase {ph.name!r}: learning is built in floating point only (mode='float'); Lava's "
            f"fixed-point LearningDense (7-bit traces with stochastic rounding, 8-bit weights, "
            f"rule constants m*2^e) cannot carry these rules' amplitudes exactly"))
    for name in ph.plastic:
        pr = model.projections[name]
        kinds = []
        for rname in pr.plasticity:
            rule = model.rules[rname]
            rtype = type(rule).__name__
            if isinstance(rule, SynapticNormalisation):
                norms.append((name, rname, rule))
            elif isinstance(rule, timing):
                kinds.append(rname)
            else:
                issues.append(ExportIssue(
                    "error", "plasticity",
                    f"projection {name!r} is plastic in phase {ph.name!r} with rule {rname!r} ({rtype}), "
                    f"which has no mapping onto Loihi2FLearningRule"))
        if len(kinds) > 1:
            issues.append(ExportIssue(
                "error", "plasticity",
                f"projection {name!r} has several timing rules ({', '.join(map(repr, kinds))}); one "
                f"LearningDense holds one rule"))
        if kinds and bounds == "none":
            rule = model.rules[kinds[0]]
            lo = getattr(rule, "w_min", 0.0)
            issues.append(ExportIssue(
                "warning", "bounds",
                f"projection {name!r}, rule {kinds[0]!r}: bounds='none' (Lava's LearningDense) clips "
                f"only at 0; w_max = {rule.w_max * 1e3:g} mV"
                + (f" and w_min = {lo * 1e3:g} mV are" if lo > 0 else " is")
                + " not enforced (the results count the weights beyond)"))
    if norms:
        try:
            learning = learning_rule_plans(model, ph)
        except (TypeError, ValueError):
            learning = {}
    for name, rname, rule in norms:
        if name not in learning:
            issues.append(ExportIssue(
                "error", "plasticity",
                f"projection {name!r} is plastic in phase {ph.name!r} with rule {rname!r} "
                f"(SynapticNormalisation) but no spike-timing rule that changes its weights; the host-side "
                f"normalisation acts on a learning projection's LearningDense weights only"))
        else:
            n_int = rule.interval / model.dt
            issues.append(ExportIssue(
                "warning", "normalisation",
                f"projection {name!r}, rule {rname!r} (SynapticNormalisation, {rule.total * 1e3:g} mV every "
                f"{rule.interval * 1e3:g} ms = {n_int:g} steps): runs on the host, not on chip -- the run "
                f"stops every interval, reads the projection's weights (Var.get), rescales them and "
                f"writes them back (Var.set)"))
    th = _resolve_phase(model, then)
    if th is not None and th.plastic:
        issues.append(ExportIssue(
            "error", "plasticity",
            f"phase {th.name!r}, run after {ph.name!r} in the same Lava network, is plastic too "
            f"({', '.join(sorted(th.plastic))}); only the first phase may learn"))
    issues.sort(key=lambda i: i.severity != "error")
    return issues


def _raise_on_learning_errors(model, phase, mode, bounds, then) -> list[ExportIssue]:
    issues = check_lava_learning(model, phase, mode, bounds, then)
    if any(i.severity == "error" for i in issues):
        ph = _resolve_phase(model, phase)
        raise LavaExportError(issues, f"model {model.name!r}, phase {ph.name!r} with learning ({mode} mode)")
    return issues


# ---------------------------------------------------------------------------
# rules -> Loihi2FLearningRule parameters (numpy only)
# ---------------------------------------------------------------------------


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
        Per trace (``x1``, ``x2``, ``y1``, ``y2``, ``y3``); taus in steps.
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
        for tr in _TRACES:
            kw[f"{tr}_impulse"] = float(self.impulses[tr])
            kw[f"{tr}_tau"] = float(self.taus[tr])
        return Loihi2FLearningRule(dw=self.dw, t_epoch=1, rng_seed=1, **kw)


def _rule_string(terms) -> str:
    out = ""
    for coef, term in terms:
        sign = "+" if coef > 0 else "-"
        out += (f" {sign} " if out else ("" if sign == "+" else "-")) + f"{term}*d"
    return out


def map_rule(rule, scale: float, lr: float, dt: float, projection: str = "", rule_name: str = "") -> LearningRulePlan:
    """Map a :class:`~neuromem.spec.PairSTDP` or :class:`~neuromem.spec.VogelsISTDP` rule.

    Parameters
    ----------
    rule : PairSTDP or VogelsISTDP
    scale : float
        ``sign * gain * kappa`` of the projection in the phase (Lava weight per volt).
    lr : float
        Learning-rate scale of the phase.
    dt : float

    Returns
    -------
    LearningRulePlan
        See the module docstring for the rule string and the impulses.
    """
    from neuromem.spec import PairSTDP, VogelsISTDP

    if scale == 0:
        raise ValueError(f"projection {projection!r}: a plastic projection needs a non-zero gain")
    s = 1.0 if scale > 0 else -1.0
    k = abs(scale) * lr
    taus = {tr: FAST_TAU for tr in _TRACES}
    if isinstance(rule, PairSTDP):
        m = 1.0 if rule.window == "symmetric" else -1.0
        imp = {"x1": k * rule.a_plus, "y1": k * rule.a_minus, "y3": k * rule.a_minus,
               "x2": k * rule.c_pre, "y2": k * getattr(rule, "c_post", 0.0)}
        taus["x1"], taus["y1"] = rule.tau_pre / dt, rule.tau_post / dt
        pre = [(m * s, "x0*y1"), (-m * s, "x0*y3"), (-s, "x0*x2")]
        post = [(s, "y0*x1"), (-s, "y0*y2")]
        w_bounds = (rule.w_min, rule.w_max)
    elif isinstance(rule, VogelsISTDP):
        imp = {"x1": k * rule.eta, "y1": k * rule.eta, "y3": k * rule.eta,
               "x2": k * rule.eta * rule.alpha, "y2": 0.0}
        taus["x1"] = taus["y1"] = rule.tau / dt
        pre = [(s, "x0*y1"), (-s, "x0*y3"), (-s, "x0*x2")]
        post = [(s, "y0*x1")]
        w_bounds = (0.0, rule.w_max)
    else:
        raise TypeError(f"no Loihi 2 learning rule for {type(rule).__name__}")

    def keep(terms):
        return [(c, t) for c, t in terms if imp[t.split("*")[1]] != 0.0]

    pre, post = keep(pre), keep(post)
    lo, hi = sorted((w_bounds[0] * scale, w_bounds[1] * scale))
    return LearningRulePlan(
        projection=projection, rule=rule_name, rule_type=type(rule).__name__,
        dw=_rule_string(pre + post), dw_pre=_rule_string(pre), impulses=imp, taus=taus,
        scale=float(scale), lr=float(lr), w_bounds=tuple(float(w) for w in w_bounds),
        lava_bounds=(float(lo), float(hi)))


def learning_rule_plans(model, phase) -> dict:
    """``{projection: LearningRulePlan}`` for the projections that learn in ``phase``.

    Projections whose mapped rule has no non-zero term are left out (they
    cannot change).  A projection blocked in the phase gets the Lava weights
    and rule of gain 1 and ``blocked=True``.  Call :func:`check_lava_learning`
    first.
    """
    import dataclasses

    from neuromem.export.lava import exact_coefficients

    ph = _resolve_phase(model, phase)
    timing = _timing_types()
    out = {}
    for name, lr in ph.plastic.items():
        pr = model.projections[name]
        rules = [(r, model.rules[r]) for r in pr.plasticity if isinstance(model.rules[r], timing)]
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


# ---------------------------------------------------------------------------
# synaptic normalisation: on the host, between chunks of the run (numpy only)
# ---------------------------------------------------------------------------

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
    sets that clock to ``ceil(t_start / interval)`` (the absolute network time,
    not the phase time), so it fires at the absolute times ``m * interval``
    with ``t_start <= m * interval < t_end``.  A firing at the time of step
    ``k`` (within Brian2's 1e-4 step tolerance) runs at the end of that step,
    after its neuron, synapse and plasticity updates; a firing between steps
    ``k`` and ``k + 1`` runs after step ``k`` too.

    Parameters
    ----------
    t_start : float
        Brian2 network time at the start of the phase (s): the sum of the
        durations of the phases its state comes from
        (:func:`phase_start_time`).
    n_steps : int
        Steps of the phase.
    dt, interval : float
        Time step and normalisation interval (s).

    Returns
    -------
    ndarray of int
        Phase-relative steps ``s`` (0-based; Lava step ``s + 1``) at whose end
        the weights are rescaled, increasing.  With ``t_start`` a multiple of
        ``interval`` the first is step 0: Brian2 normalises at the end of a
        phase's first step.
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
    (``start_from`` restores the time stored with the state), so this is the
    start of that phase plus its duration, recursively (0 for the first).
    """
    durations = {p["name"]: float(p["duration"]) for p in results["phases"]}
    origin = _origin_phase(results, model, phase)
    return 0.0 if origin is None else phase_start_time(results, model, origin) + durations[origin]


@dataclass
class HostNormalisation:
    """A :class:`~neuromem.spec.SynapticNormalisation` done by the host on a ``LearningDense``.

    Loihi 2's learning engine sees one synapse's traces, never a neuron's
    summed input, so it has no multiplicative normalisation.  On a real system
    the host (or an embedded Lakemont process) does it: the network runs in
    chunks and, between chunks, the host reads the weights, rescales and
    writes them back.  :class:`LavaLearningNetwork` does exactly that with
    ``Var.get`` / ``Var.set`` on the ``LearningDense``'s ``weights`` after
    each step of :attr:`steps`; :meth:`apply` is Brian2's operation (for each
    owning neuron ``n`` -- the postsynaptic neuron for an incoming rule, the
    presynaptic one for an outgoing rule -- with ``S_n = sum of its synapses'
    w > total``: ``w *= total / S_n``; only ever scales down; no clipping --
    the next update of the synapse clips, in Brian2 and with every ``bounds``
    option) on Brian2's weights ``w = W_lava / scale``, independent of the
    transmission gain (blocked or not) and of the learning rate.

    Attributes
    ----------
    projection : str
    norm : SynapticNormalisation
        The model's rule (name, ``total`` in V, ``interval`` in s; its
        :meth:`~neuromem.spec.SynapticNormalisation.factors` is the arithmetic
        the Brian2 backend uses too).
    steps : ndarray of int
        Phase-relative steps after which it runs (:func:`normalisation_steps`).
    pre, post : ndarray of int
        The projection's synapses (Brian2's order: the sums are Brian2's
        ``bincount``).
    scale : float
        Lava weight per volt (the learning plan's ``scale``).
    n_owner : int
        Size of the population whose neurons own the sums (target for an
        incoming rule, source for an outgoing one).
    stats : dict
        Filled by :meth:`apply`: ``applied`` (operations), ``rescaled``
        (operations that scaled some neuron down), ``neuron_rescales``
        (neuron x operation), ``min_factor``, ``values_read``,
        ``values_written``, ``get_s``, ``set_s``, ``compute_s``.
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
    rules : dict of str to LearningRulePlan
        :func:`learning_rule_plans` of the phase (their ``scale``).
    synapses : dict of str to (i, j)
    n_steps : int
        Steps of the phase.
    t_start : float
        Brian2 network time at the phase start (:func:`phase_start_time`).
    """
    ph = _resolve_phase(model, phase)
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
            projection=name, norm=norm, steps=normalisation_steps(t_start, n_steps, model.dt, norm.interval), pre=i, post=j,
            scale=rules[name].scale, n_owner=model.nodes()[norm.owner_node(model.projections[name])].size)
            for norm in norms)
    return out


# ---------------------------------------------------------------------------
# Lava processes defined here (created on first use: they need lava)
# ---------------------------------------------------------------------------

_PROCS = None


def _processes():
    """``(SpikeDelay, BoundedLearningDense, lif_models, GatedLearningDense)``: process classes and LIF models.

    ``SpikeDelay(shape=(n,), delay=d, init=(n, d) array)`` re-emits at step
    ``t`` the spikes it received at step ``t - d``; column ``c`` of ``init``
    is emitted at step ``c + 1`` (spikes sent before the run).

    ``GatedLearningDense(transmit=0 or 1, **LearningDense arguments)`` is a
    ``LearningDense`` (Lava's ``PyLearningDenseModelFloat``, learning and
    sign-mode saturation unchanged) whose dendritic accumulation is replaced
    by zeros while ``transmit`` is 0: a blocked projection that still learns
    from the spikes it receives.  The gate acts when a spike is accumulated,
    not when it is sent, so a spike accumulated while blocked delivers 0 even
    if it is sent after the switch (Brian2 weights a spike with the gain at its
    arrival).

    ``BoundedLearningDense(w_lo=..., w_hi=..., dw_pre=..., **GatedLearningDense
    arguments)`` is a ``GatedLearningDense`` whose floating-point process model
    (Lava's ``PyLearningDenseModelFloat`` plus a weight saturation) clips the
    weights of synapses with a spike in the step to ``[w_lo, w_hi]`` after the
    step's update and counts, in the Vars ``n_clipped``, ``n_coincident`` and
    ``n_order_sensitive``, the clipped synapse-steps, the same-step pre/post
    pairs and those pairs where Brian2's clip after the presynaptic update
    alone gives another weight.  The process models are defined in this module,
    where Lava's compiler looks for them.  ``lif_models`` maps ``LIF`` and
    ``LIFRefractory`` to Lava's float models with ``vth`` stored as an array
    (settable between runs; the arithmetic is Lava's own).
    """
    global _PROCS
    if _PROCS is not None:
        return _PROCS
    from neuromem._compat.lava311 import import_lava
    import_lava()
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.learning.learning_rule_applier import LearningRuleApplierFloat
    from lava.magma.core.learning.product_series import ProductSeries
    from lava.magma.core.learning.symbolic_equation import SymbolicEquation
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.process.variable import Var
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
    from lava.proc.dense.models import PyLearningDenseModelFloat
    from lava.proc.dense.process import LearningDense
    from lava.proc.lif.models import PyLifModelFloat, PyLifRefractoryModelFloat
    from lava.proc.lif.process import LIF, LIFRefractory

    # Lava's float LIF models hold vth as a Python float, which Var.set cannot
    # change at run time (only ints and arrays); the same models with vth as an
    # array of one value let a phase switch silence a population.
    @implements(proc=LIF, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt")
    class PySwitchableLifModelFloat(PyLifModelFloat):
        implements_process = None
        vth: np.ndarray = LavaPyType(np.ndarray, float)

    @implements(proc=LIFRefractory, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt")
    class PySwitchableLifRefractoryModelFloat(PyLifRefractoryModelFloat):
        implements_process = None
        vth: np.ndarray = LavaPyType(np.ndarray, float)

    class SpikeDelay(AbstractProcess):
        def __init__(self, *, shape, delay, init=None, name=None):
            super().__init__(shape=shape, delay=delay, name=name)
            self.s_in = InPort(shape=shape)
            self.s_out = OutPort(shape=shape)
            buf = np.zeros((shape[0], delay)) if init is None else np.asarray(init, dtype=float)
            self.buffer = Var(shape=(shape[0], delay), init=buf)

    @implements(proc=SpikeDelay, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt")
    class PySpikeDelayModel(PyLoihiProcessModel):
        s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
        s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
        buffer: np.ndarray = LavaPyType(np.ndarray, float)

        def run_spk(self):
            c = (self.time_step - 1) % self.buffer.shape[1]
            self.s_out.send(self.buffer[:, c].copy())
            self.buffer[:, c] = self.s_in.recv()

    class GatedLearningDense(LearningDense):
        def __init__(self, *, transmit=1.0, **kwargs):
            super().__init__(**kwargs)
            self.transmit = Var(shape=(1,), init=float(transmit))

    @implements(proc=GatedLearningDense, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt")
    class PyGatedLearningDenseModelFloat(PyLearningDenseModelFloat):
        implements_process = None  # set by @implements (the parent implements LearningDense)
        transmit: np.ndarray = LavaPyType(np.ndarray, float)

        def run_spk(self):
            super().run_spk()   # sends a_buff, accumulates the arrived spikes, records the traces
            if self.transmit[0] == 0:
                self.a_buff = np.zeros_like(self.a_buff)

    class BoundedLearningDense(GatedLearningDense):
        def __init__(self, *, w_lo, w_hi, dw_pre="", clip_order="step", **kwargs):
            super().__init__(dw_pre=dw_pre, clip_order=clip_order, **kwargs)
            self.w_lo = Var(shape=(1,), init=float(w_lo))
            self.w_hi = Var(shape=(1,), init=float(w_hi))
            self.n_clipped = Var(shape=(1,), init=0)
            self.n_coincident = Var(shape=(1,), init=0)
            self.n_order_sensitive = Var(shape=(1,), init=0)

    @implements(proc=BoundedLearningDense, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt")
    class PyBoundedLearningDenseModelFloat(PyGatedLearningDenseModelFloat):
        implements_process = None  # set by @implements (the parent implements GatedLearningDense)
        w_lo: np.ndarray = LavaPyType(np.ndarray, float)
        w_hi: np.ndarray = LavaPyType(np.ndarray, float)
        n_clipped: np.ndarray = LavaPyType(np.ndarray, np.int64)
        n_coincident: np.ndarray = LavaPyType(np.ndarray, np.int64)
        n_order_sensitive: np.ndarray = LavaPyType(np.ndarray, np.int64)

        def __init__(self, proc_params):
            super().__init__(proc_params)
            pre = proc_params.get("dw_pre", "")
            self._pre_applier = (LearningRuleApplierFloat(ProductSeries(SymbolicEquation("dw", pre)))
                                 if pre else None)
            self._histories = None
            self._per_event = proc_params.get("clip_order", "step") == "per_event"

        def _apply_learning_rules(self, x_traces_history, y_traces_history):
            self._histories = (x_traces_history, y_traces_history)
            super()._apply_learning_rules(x_traces_history, y_traces_history)

        def _saturate_synaptic_variable(self, name, values):
            if name != "weights":
                return super()._saturate_synaptic_variable(name, values)
            x0, y0 = self.x0.astype(bool), self.y0.astype(bool)
            if not (x0.any() or y0.any()):
                return values
            lo, hi = float(self.w_lo[0]), float(self.w_hi[0])
            exists = self.tag_2 != 0
            event = (x0[np.newaxis, :] | y0[:, np.newaxis]) & exists
            unclipped = values
            clipped = np.clip(values, lo, hi)
            changed = event & (clipped != values)
            if changed.any():
                values = np.where(changed, clipped, values)
                self.n_clipped[0] += int(changed.sum())
            both = x0[np.newaxis, :] & y0[:, np.newaxis] & exists
            if both.any():
                self.n_coincident[0] += int(both.sum())
                if self._pre_applier is not None and self._histories is not None:
                    args = self._extract_applier_args(*self._histories)
                    after_pre = self._pre_applier.apply(self.weights, **args)  # w + presynaptic update
                    sens = both & ((after_pre < lo) | (after_pre > hi))
                    if sens.any():
                        # Brian2: clip after the presynaptic update, then after the postsynaptic one
                        post = unclipped - after_pre
                        exact = np.clip(np.clip(after_pre, lo, hi) + post, lo, hi)
                        differs = sens & (exact != values)
                        self.n_order_sensitive[0] += int(differs.sum())
                        if self._per_event:
                            values = np.where(differs, exact, values)
            return values

    g = globals()
    g["SpikeDelay"], g["PySpikeDelayModel"] = SpikeDelay, PySpikeDelayModel
    g["BoundedLearningDense"] = BoundedLearningDense
    g["GatedLearningDense"], g["PyGatedLearningDenseModelFloat"] = GatedLearningDense, PyGatedLearningDenseModelFloat
    g["PyBoundedLearningDenseModelFloat"] = PyBoundedLearningDenseModelFloat
    g["PySwitchableLifModelFloat"] = PySwitchableLifModelFloat
    g["PySwitchableLifRefractoryModelFloat"] = PySwitchableLifRefractoryModelFloat
    _PROCS = (SpikeDelay, BoundedLearningDense,
              {LIF: PySwitchableLifModelFloat, LIFRefractory: PySwitchableLifRefractoryModelFloat},
              GatedLearningDense)
    return _PROCS


# ---------------------------------------------------------------------------
# the network: the plastic phase, then the phases that follow it
# ---------------------------------------------------------------------------


@dataclass
class _Segment:
    phase: object
    n_steps: int
    inputs: dict


def _trace_start(spikes, n: int, delay: int, tau_steps: float, dt: float) -> np.ndarray:
    """Brian2's trace (impulse 1) at step -1, from spikes before the phase start.

    ``spikes``: ``(i, t)`` with ``t < 0`` relative to the phase start.  A spike
    at step ``-m`` arrives at step ``-m + delay``; arrivals at steps ``<= -1``
    are in the trace (later ones are still in flight, in the delay buffer).
    """
    out = np.zeros(n)
    if spikes is None:
        return out
    i, t = spikes
    m = _steps_before(t, dt)
    keep = (m >= delay + 1) & (m < 2 ** 40)
    np.add.at(out, np.asarray(i, dtype=np.int64)[keep], np.exp(-(m[keep] - delay - 1) / tau_steps))
    return out


def _delay_buffer(spikes, n: int, delay: int, dt: float) -> np.ndarray:
    """Initial ``SpikeDelay`` buffer: column ``c`` holds the spikes of step ``c - delay``."""
    buf = np.zeros((n, delay))
    if spikes is None:
        return buf
    i, t = spikes
    m = _steps_before(t, dt)
    keep = (m >= 1) & (m <= delay)
    buf[np.asarray(i, dtype=np.int64)[keep], delay - m[keep]] = 1.0
    return buf


class LavaLearningNetwork(_LavaRuntime):
    """Lava processes of a plastic phase followed by frozen phases, in one network.

    Built by :func:`build_learning_network`.  :meth:`run` runs the segments one
    after the other; between them it switches the phase: thresholds of
    silenced populations, weights whose transmission gain changes (and the
    output gate of a learning projection blocked in the plastic phase), and
    learning off (every trace impulse and trace set to 0, so ``dw`` is exactly
    0, and the saturation opened).

    Attributes
    ----------
    plan : LavaPlan
        Population and gain-1 weight plan of the whole model (float).
    segments : list
        ``(phase, n_steps, inputs)`` per segment.
    rules : dict of str to LearningRulePlan
    neurons, connections, learning, delays, sources, sinks : dict
    learned : dict of str to ndarray (n_post, n_pre)
        Lava weights of each learning projection at the end of the first
        segment (filled by :meth:`run`).
    bound_events : dict
        Per learning projection (``bounds`` ``"clip"`` or ``"brian2"``):
        ``clipped``, ``coincident``, ``order_sensitive``.
    normalisers : list of HostNormalisation
        Normalisations done by the host during the first segment: :meth:`run`
        runs it in chunks that end after each scheduled step and applies them
        in between (``Var.get``, rescale, ``Var.set``), in list order where
        several fall on one step (Brian2's order).
    normalisation_time : float
        Wall time of those host operations (s; included in ``run_times[0]``).
    progress : callable or None
        If set, :meth:`run` calls ``progress(phase name, steps done, steps of the phase)``
        as each segment starts and after each chunk it runs.
    """

    def __init__(self, plan, segments, rules, neurons, connections, learning, delays, sources, sinks,
                 links, gains, vths, bounds, normalisers=None):
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
        self._gains = gains
        self._vths = vths
        self.bounds = bounds
        self.normalisers: list = list(normalisers or ())
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
        return sum(s.n_steps for s in self.segments)

    def compile(self):
        from lava.magma.core.run_configs import Loihi2SimCfg
        if self._executable is None:
            t0 = time.perf_counter()
            self._executable = self._anchor().compile(Loihi2SimCfg(
                select_tag="floating_pt", exception_proc_model_map=dict(_processes()[2])))
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
            if k == 0 and self.normalisers:
                self._run_normalised(seg.n_steps)
            else:
                self._anchor().run(condition=RunSteps(num_steps=seg.n_steps, blocking=True))
            self._report(seg, seg.n_steps)
            self.run_times.append(time.perf_counter() - t0)
            if k == 0:
                t0 = time.perf_counter()
                for name, conn in self.learning.items():
                    self.learned[name] = np.array(conn.weights.get(), dtype=float)
                    if self.bounds != "none":
                        self.bound_events[name] = {
                            key: int(np.asarray(getattr(conn, var).get()).ravel()[0])
                            for key, var in (("clipped", "n_clipped"), ("coincident", "n_coincident"),
                                             ("order_sensitive", "n_order_sensitive"))}
                self.read_time += time.perf_counter() - t0
        self._ran = True
        t0 = time.perf_counter()
        out = {name: s.read() for name, s in self.sinks.items()}
        self.read_time += time.perf_counter() - t0
        return out

    def _report(self, seg, done: int):
        if self.progress is not None:
            self.progress(seg.phase.name, done, seg.n_steps)

    def _run_normalised(self, n_steps: int):
        """Run the plastic segment in chunks; after each scheduled step the host normalises.

        Lava step ``s + 1`` is Brian2 step ``s`` (its learning included: with
        ``t_epoch = 1`` the weight update of a step is done when the step
        returns), so a normalisation after Brian2 step ``s`` comes after
        ``s + 1`` Lava steps, before step ``s + 2`` -- Brian2's ``when="end"``.
        """
        from lava.magma.core.run_conditions import RunSteps
        at = {}
        for nz in self.normalisers:
            for s in nz.steps:
                if 0 <= s < n_steps:
                    at.setdefault(int(s), []).append(nz)
        done = 0
        for s in sorted(at):
            if s + 1 > done:
                self._anchor().run(condition=RunSteps(num_steps=s + 1 - done, blocking=True))
                done = s + 1
                self._report(self.segments[0], done)
            t0 = time.perf_counter()
            for nz in at[s]:
                nz.apply(self.learning[nz.projection])
            self.normalisation_time += time.perf_counter() - t0
        if done < n_steps:
            self._anchor().run(condition=RunSteps(num_steps=n_steps - done, blocking=True))

    def _switch(self, k: int):
        """Set the Vars that differ between segment ``k - 1`` and ``k``."""
        for name, vths in self._vths.items():
            if vths[k] != vths[k - 1]:
                self.neurons[name].vth.set(np.array([vths[k]], dtype=float))
        for name, gains in self._gains.items():
            if name in self.learning:
                conn = self.learning[name]
                if k == 1:  # learning off: gate the impulses, clear the traces, open the bounds
                    for tr in _TRACES:
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


def _synapse_mask(shape, synapses, name) -> np.ndarray:
    i, j = (np.asarray(a, dtype=np.int64) for a in synapses)
    mask = np.zeros(shape)
    np.add.at(mask, (j, i), 1.0)
    if (mask > 1).any():
        raise LavaExportError([ExportIssue(
            "error", "plasticity",
            f"projection {name!r} has several synapses between one pair of neurons; a LearningDense "
            f"holds one weight per pair")], f"projection {name!r}")
    return mask


def build_learning_network(model, weights: dict, segments, synapses: dict, initial_state: dict | None = None,
                           recent_spikes: dict | None = None, bounds: str = "clip",
                           phase_start: float = 0.0) -> LavaLearningNetwork:
    """Build one Lava network that runs a plastic phase and then the phases after it.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray (n_post, n_pre)
        Weight magnitudes (V) of every projection at the start of the plastic
        phase (:func:`neuromem.export.lava.weight_matrices`).
    segments : list of (phase, n_steps, inputs)
        The plastic phase first, then frozen phases that continue from its
        end; ``inputs`` maps spike sources to ``(i, t)`` (s from the phase start).
    synapses : dict of str to (i, j)
        Pre/post indices of the learning projections (their ``d`` mask).
    initial_state : dict, optional
        ``{population: {"v", "I", "lastspike"}}`` at the start of the plastic
        phase, as for :func:`neuromem.export.lava.build_lava_network`.
    recent_spikes : dict of str to (i, t), optional
        Spikes of populations and sources before the start (``t < 0``): they
        fill the delay buffers and the initial learning traces.
    bounds : {"clip", "brian2", "none"}
    phase_start : float
        Brian2 network time at the start of the plastic phase (s,
        :func:`phase_start_time`); it fixes the steps at which a
        ``SynapticNormalisation`` runs (:func:`normalisation_steps`).

    Returns
    -------
    LavaLearningNetwork
        Use it as a context manager.

    Notes
    -----
    Every population is simulated in every segment; a population silenced in
    a segment gets the threshold :data:`SILENT_VTH` (it integrates but cannot
    spike, as Brian2's ``silenced`` flag).  Every projection with a non-zero
    gain in some segment is built (weights ``sign * gain * kappa * w``, set
    again when the gain changes; 0 when blocked); delays are
    ``SpikeDelay`` processes shared per (source, delay).  A learning
    projection blocked in the plastic phase (Brian2: gain 0, plasticity still
    driven by the spikes) has the weights and rule of gain 1 and its output
    gated to 0 (``GatedLearningDense``, ``transmit = 0``): it receives the
    presynaptic spikes (through its delay) and the postsynaptic
    back-propagated spikes and learns as in Brian2; a later segment that
    unblocks it sets its weights to the learned ones times its gain and opens
    the gate.  A learning projection with a ``SynapticNormalisation`` in the
    plastic phase gets a :class:`HostNormalisation` (the host rescales its
    ``LearningDense`` weights between chunks of the run).
    """
    if bounds not in BOUNDS:
        raise ValueError(f"bounds must be one of {BOUNDS}, got {bounds!r}")
    segments = [s if isinstance(s, _Segment) else _Segment(_resolve_phase(model, s[0]), int(s[1]), s[2] or {})
                for s in segments]
    ph0 = segments[0].phase
    later = [s.phase.name for s in segments[1:] if s.phase.plastic]
    if later:
        raise ValueError(f"only the first phase of the network may learn; {', '.join(later)} is plastic")
    plan = plan_lava(model, weights, None, "float")
    rules = learning_rule_plans(model, ph0)
    SpikeDelay, BoundedLearningDense, _, GatedLearningDense = _processes()
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
                m = _steps_before(st["lastspike"], dt)
                end = np.where(m < 2 ** 40, p.refractory_period + 1 - m, 0).clip(0)
                neurons[name].refractory_period_end.init = end.astype(int)
        else:
            neurons[name] = LIF(**kw)
        sinks[name] = _spike_recorder()(shape=(p.size,), n_steps=n_total, name=f"rec_{name}")
        neurons[name].s_out.connect(sinks[name].a_in)

    used_sources = {model.projections[n].source for n in projs} & set(model.sources)
    sources = {}
    for name in model.sources:
        if name in used_sources:
            data = np.concatenate([_input_matrix(model.sources[name].size, s.inputs.get(name), s.n_steps, dt)
                                   for s in segments], axis=1)
            sources[name] = SourceBuffer(data=data)

    delays, connections, learning = {}, {}, {}
    for name in projs:
        pr = model.projections[name]
        jp = plan.projections[name]
        pre = sources[pr.source] if pr.source in sources else neurons[pr.source]
        n_pre = model.nodes()[pr.source].size
        d = _delay_steps(pr.delay, dt)
        if d > 0:
            key = (pr.source, d)
            if key not in delays:
                delays[key] = SpikeDelay(shape=(n_pre,), delay=d,
                                         init=_delay_buffer(recent_spikes.get(pr.source), n_pre, d, dt),
                                         name=f"delay_{pr.source}_{d}")
                pre.s_out.connect(delays[key].s_in)
            pre = delays[key]
        blocked = name in rules and rules[name].blocked
        w = jp.weights * (1.0 if blocked else gains[name][0])
        if name in rules:
            rp = rules[name]
            mask = _synapse_mask(w.shape, synapses[name], name)
            kw = dict(weights=w, tag_2=mask, learning_rule=rp.learning_rule(), name=f"learn_{name}")
            if bounds != "none":
                conn = BoundedLearningDense(w_lo=rp.lava_bounds[0], w_hi=rp.lava_bounds[1], dw_pre=rp.dw_pre,
                                            clip_order="per_event" if bounds == "brian2" else "step",
                                            transmit=0.0 if blocked else 1.0, **kw)
            else:
                sign_mode = SignMode.EXCITATORY if rp.scale > 0 else SignMode.INHIBITORY
                conn = (GatedLearningDense(transmit=0.0, sign_mode=sign_mode, **kw) if blocked
                        else LearningDense(sign_mode=sign_mode, **kw))
            conn.x1.init = rp.impulses["x1"] * _trace_start(recent_spikes.get(pr.source), n_pre, d,
                                                           rp.taus["x1"], dt)
            conn.y1.init = rp.impulses["y1"] * _trace_start(recent_spikes.get(pr.target), w.shape[0], 0,
                                                           rp.taus["y1"], dt)
            neurons[pr.target].s_out.connect(conn.s_in_bap)
            learning[name] = conn
        else:
            conn = Dense(weights=w, name=f"conn_{name}")
            connections[name] = conn
        pre.s_out.connect(conn.s_in)
        conn.a_out.connect(neurons[pr.target].a_in)
    links = _link_components(plan, neurons, ((model.projections[n].source, model.projections[n].target)
                                             for n in projs))
    normalisers = host_normalisations(model, ph0, rules, synapses, segments[0].n_steps, phase_start)
    return LavaLearningNetwork(plan, segments, rules, neurons, connections, learning, delays, sources, sinks,
                               links, {n: gains[n] for n in projs}, vths, bounds, normalisers)


# ---------------------------------------------------------------------------
# run folders
# ---------------------------------------------------------------------------


def follow_up_phase(results, model, phase: str):
    """The recall phase to test after ``phase``: :data:`DEFAULT_PHASE` if it
    continues from the end of ``phase``, else the first phase of kind
    ``"recall"`` that does; ``None`` if none does."""
    names = [p["name"] for p in results["phases"]]
    cands = [n for n in names if n != phase and _origin_phase(results, model, n) == phase]
    if DEFAULT_PHASE in cands:
        return DEFAULT_PHASE
    recalls = [n for n in cands if model.protocol.phase(n).kind == "recall"]
    return recalls[0] if recalls else None


def _history_spikes(run_dir, results, model, phase: str, horizon: float):
    """Spikes before ``phase`` along the chain of phases its state comes from.

    Phases are added (the origin, its origin, ...) until they cover
    ``horizon`` seconds.  Returns ``(spikes, phases, truncated)``:
    ``{node: (i, t)}`` with ``t < 0`` relative to the phase start, the phases
    used, and whether older phases were left out (``horizon`` is 30 trace
    time constants, so their weight is below ``exp(-30)``).
    """
    from neuromem.io import load_spikes
    durations = {p["name"]: float(p["duration"]) for p in results["phases"]}
    parts: dict = {}
    used, offset = [], 0.0
    cur = _origin_phase(results, model, phase)
    while cur is not None and offset < horizon:
        offset += durations[cur]
        for k, sp in load_spikes(run_dir, cur).items():
            parts.setdefault(k, []).append((np.asarray(sp.i), np.asarray(sp.t) - offset))
        used.append(cur)
        cur = _origin_phase(results, model, cur)
    spikes = {k: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for k, v in parts.items()}
    return spikes, used, (cur is not None)


def _weight_agreement(w_lava, w_brian, w_start, w_bounds) -> dict:
    w_lava, w_brian, w_start = (np.asarray(a, dtype=float) for a in (w_lava, w_brian, w_start))
    diff = np.abs(w_lava - w_brian)
    dl, db = w_lava - w_start, w_brian - w_start
    lo, hi = w_bounds
    tol = 1e-9 * max(abs(hi), 1e-12)
    scale = float(np.mean(np.abs(w_brian))) if w_brian.size else 0.0
    return {
        "n_synapses": int(w_brian.size),
        "correlation": _pearson(w_lava, w_brian),
        "change_correlation": _pearson(dl, db),
        "mean_abs_diff_mV": float(diff.mean() * 1e3) if diff.size else 0.0,
        "max_abs_diff_mV": float(diff.max() * 1e3) if diff.size else 0.0,
        "relative_mean_abs_diff": float(diff.mean() / scale) if scale else 0.0,
        "max_relative_diff": float(diff.max() / max(np.abs(w_brian).max(), 1e-300)) if diff.size else 0.0,
        "mean_weight_mV": {"start": float(w_start.mean() * 1e3), "lava": float(w_lava.mean() * 1e3),
                           "brian2": float(w_brian.mean() * 1e3)},
        "mean_change_mV": {"lava": float(dl.mean() * 1e3), "brian2": float(db.mean() * 1e3)},
        "at_upper_bound": {"lava": int(np.sum(np.abs(w_lava - hi) <= tol)),
                           "brian2": int(np.sum(np.abs(w_brian - hi) <= tol))},
        "at_lower_bound": {"lava": int(np.sum(np.abs(w_lava - lo) <= tol)),
                           "brian2": int(np.sum(np.abs(w_brian - lo) <= tol))},
        "beyond_bounds_lava": int(np.sum((w_lava > hi + tol) | (w_lava < lo - tol))),
    }


def _atomic_savez(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_lava_learning(run_dir, phase: str = "sleep", then="auto", mode: str = "float", bounds: str = "clip",
                      out=None, from_rest: bool = False, progress=None) -> dict:
    """Run a plastic phase of a Brian2 run folder on Lava with learning, then the recall after it.

    Reads the model, the weights, network state and spikes in flight at the
    start of ``phase`` and its recorded input spikes (as
    :func:`neuromem.export.lava.run_lava` does), builds
    :func:`build_learning_network` with ``phase`` followed by ``then`` and
    runs it with ``Loihi2SimCfg(select_tag="floating_pt")``: ``phase`` with
    learning, ``then`` (e.g. the lesioned recall after sleep) continuing from
    Lava's own end-of-phase state with the learned weights and learning
    gated off.  Compares with the Brian2 run.

    Parameters
    ----------
    run_dir : str or Path
    phase : str
        A phase with plastic projections (default ``"sleep"``).
    then : str, "auto" or None
        The phase run next in the same network; it must continue from the end
        of ``phase``.  ``"auto"``: :func:`follow_up_phase`; ``None``: none.
    mode : {"float"}
        ``"fixed"`` is refused.
    bounds : {"clip", "brian2", "none"}
        See the module docstring.
    out : str or Path, optional
        Folder for :func:`results_file` and :func:`weights_file` (default
        ``run_dir``); both written atomically.
    from_rest : bool, optional
        Start ``phase`` from rest instead of the recorded start state
        ``initial/<phase>.npz`` (recorded as ``from_rest`` in the results);
        without it a run folder lacking that file is refused
        (:class:`neuromem.io.RunFolderError`).
    progress : callable, optional
        Told each step as it starts, ``progress(step)``; while a phase runs on
        Lava, ``progress("run <phase>", total=n_steps, done=steps)`` after each
        chunk (see :attr:`LavaLearningNetwork.progress`).

    Returns
    -------
    dict
        ``mode``, ``bounds``, ``phase``, ``then``, ``n_steps``, ``dt``;
        ``rules`` (per learning projection: the rule string, impulses, taus,
        ``lr``, the Lava weight scale and bounds); ``weights`` (per learning
        projection: ``correlation`` and ``change_correlation`` with Brian2's
        weights after the phase, ``mean_abs_diff_mV``, ``max_abs_diff_mV``,
        ``relative_mean_abs_diff``, bound counts; ``bound_events``
        unless ``bounds="none"``); ``normalisation`` (per projection with a
        host-side ``SynapticNormalisation``: :meth:`HostNormalisation.summary`,
        ``phase_start_s`` and the largest summed weight per neuron at the
        start and after the phase, Lava and Brian2); ``spikes`` (agreement during ``phase``, see
        :func:`neuromem.export.lava.compare_spikes`); ``recall_overlap``
        (Lava, ``then``), ``recall_overlap_brian2`` (Brian2's spikes on the
        step grid), ``recall_overlap_brian2_results`` (``results.json``),
        ``recall_overlap_difference``, ``recall`` (full metrics, pattern
        identity and spike agreement during ``then``); ``wall_time_s``
        (``lava_host_normalisation``: the host's reads, rescaling and writes,
        part of ``lava_run``);
        ``issues``; ``trace_history`` (phases the initial traces come from);
        ``output`` and ``weights_output``.

    Raises
    ------
    LavaExportError
        Before anything is read or built, if :func:`check_lava_learning`
        reports errors.
    ValueError
        If ``phase`` is not plastic or ``then`` does not continue from it.
    """
    from neuromem.analysis import recall_phase_metrics
    from neuromem.export.lava import _start_state
    from neuromem.io import UnknownPhaseError, load_patterns, load_phase, load_spikes, load_weights, read_run
    from neuromem.records import PhaseRecord, Run
    from neuromem.spec.loader import loads_model

    run_dir = Path(run_dir)
    rf = read_run(run_dir)
    model = loads_model(rf.model_text, file=str(run_dir / "model.toml"))
    ph = _resolve_phase(model, phase)
    names = [p["name"] for p in rf["phases"]]
    if phase not in names:
        raise UnknownPhaseError(run_dir / "results.json", f"no phase {phase!r} (phases: {', '.join(names)})")
    if not ph.plastic:
        raise ValueError(f"phase {phase!r} has no plastic projection; run it frozen with run_lava")
    if then == "auto":
        then = follow_up_phase(rf, model, phase)
    if then is not None:
        if then not in names:
            raise UnknownPhaseError(run_dir / "results.json", f"no phase {then!r} (phases: {', '.join(names)})")
        if _origin_phase(rf, model, then) != phase:
            raise ValueError(f"phase {then!r} does not continue from the end of {phase!r}, so it cannot run "
                             f"after it in the same network")
    issues = _raise_on_learning_errors(model, phase, mode, bounds, then)
    frozen = _start_state(load_frozen_network(run_dir, phase), run_dir, phase, from_rest)
    rules = learning_rule_plans(model, ph)
    horizon = 30.0 * max([max(r.taus["x1"], r.taus["y1"]) * model.dt for r in rules.values()] + [0.0])
    history, hist_phases, truncated = _history_spikes(run_dir, rf, model, phase, horizon)
    if from_rest:  # nothing before the phase: no spikes in flight, traces at 0
        history, hist_phases, truncated = {}, [], False
    dt = model.dt
    segments = [_Segment(ph, frozen.n_steps, frozen.inputs)]
    if then is not None:
        sp = load_spikes(run_dir, then)
        dur = next(p["duration"] for p in rf["phases"] if p["name"] == then)
        segments.append(_Segment(model.protocol.phase(then), int(round(dur / dt)),
                                 {s: (sp[s].i, sp[s].t) for s in model.sources if s in sp}))
    t_start = phase_start_time(rf, model, phase)
    say = progress or (lambda step, total=None, done=None: None)
    t0 = time.perf_counter()
    say("build")
    net = build_learning_network(model, frozen.matrices, segments, frozen.synapses, frozen.initial_state,
                                 history, bounds, t_start)
    build_time = time.perf_counter() - t0
    try:
        say("compile")
        net.compile()
        net.progress = lambda name, done, total: say(f"run {name}", total=total, done=done)
        rasters = net.run()
        say("compare with Brian2")
    finally:
        t_stop = time.perf_counter()
        net.stop()
        stop_time = time.perf_counter() - t_stop
    total = time.perf_counter() - t0

    # learned weights, per synapse, Brian2 units
    brian_after = load_weights(run_dir, phase)
    learned, weights = {}, {}
    for name, rp in net.rules.items():
        i, j = (np.asarray(a, dtype=np.int64) for a in frozen.synapses[name])
        learned[name] = net.learned[name][j, i] / rp.scale
        weights[name] = _weight_agreement(learned[name], brian_after[name], frozen.weights[name], rp.w_bounds)
        if name in net.bound_events:
            weights[name]["bound_events"] = net.bound_events[name]
    normalisation = {}
    for nz in net.normalisers:
        name = nz.projection
        own, n_own = nz.norm.owners(nz.pre, nz.post), nz.n_owner
        normalisation.setdefault(name, {})[nz.norm.name] = {
            **nz.summary(dt), "phase_start_s": t_start, "max_summed_weight_mV": {
            "start": float(np.bincount(own, weights=frozen.weights[name], minlength=n_own).max() * 1e3),
            "lava": float(np.bincount(own, weights=learned[name], minlength=n_own).max() * 1e3),
            "brian2": float(np.bincount(own, weights=brian_after[name], minlength=n_own).max() * 1e3)}}

    def on_grid(rec):
        for s in rec.spikes.values():
            s.t = np.round(np.asarray(s.t) / dt) * dt
        return rec

    T1 = segments[0].n_steps
    lava_sp = {pop: _to_spikes(r[:, :T1], dt) for pop, r in rasters.items()}
    brian = on_grid(load_phase(run_dir, phase))
    active = [p for p in model.populations if p not in ph.silence]
    spikes = compare_spikes(brian.spikes, lava_sp, dt, T1 * dt, active)

    recall = None
    rec_lava = rec_brian = None
    if then is not None:
        T2 = segments[1].n_steps
        lava_then = {pop: _to_spikes(r[:, T1:T1 + T2], dt) for pop, r in rasters.items()}
        b_then = on_grid(load_phase(run_dir, then))
        th = model.protocol.phase(then)
        active_then = [p for p in model.populations if p not in th.silence]
        agreement = compare_spikes(b_then.spikes, lava_then, dt, T2 * dt, active_then)
        recall = {"phase": then, "spikes": agreement}
        if b_then.items and model.protocol.pattern_population in lava_then:
            patterns, cues = load_patterns(run_dir)
            run = Run(model=model, seed=int(rf["seed"]), patterns=patterns, cues=cues,
                      synapses=frozen.synapses, initial_weights={})
            lava_rec = PhaseRecord(name=b_then.name, kind=b_then.kind, duration=b_then.duration,
                                   spikes={**b_then.spikes, **lava_then}, items=b_then.items,
                                   cue_fraction=b_then.cue_fraction, silenced=b_then.silenced)
            rec_lava = recall_phase_metrics(lava_rec, run)
            rec_brian = recall_phase_metrics(b_then, run)
            recall["pattern_identity"] = float(np.mean([a == b for a, b in zip(rec_lava["winner"],
                                                                                  rec_brian["winner"])]))
            recall["recall_lava"], recall["recall_brian2"] = rec_lava, rec_brian
    metric = (rf.get("metrics", {}).get("recall", {}).get(then, {}) or {}).get("mean_overlap") if then else None
    ov_l = None if rec_lava is None else rec_lava["mean_overlap"]
    ov_b = None if rec_brian is None else rec_brian["mean_overlap"]
    wall_b = rf.get("wall_time_s", {})
    result = {
        "mode": mode,
        "bounds": bounds,
        "phase": phase,
        "then": then,
        "dt": dt,
        "n_steps": {s.phase.name: s.n_steps for s in segments},
        "recall_overlap": ov_l,
        "recall_overlap_brian2": ov_b,
        "recall_overlap_brian2_results": metric,
        "recall_overlap_difference": None if ov_l is None or ov_b is None else ov_l - ov_b,
        "rules": {name: {"rule": rp.rule, "type": rp.rule_type, "blocked": rp.blocked, "dw": rp.dw,
                         "impulses": rp.impulses,
                         "taus_steps": rp.taus, "lr": rp.lr, "lava_weight_per_volt": rp.scale,
                         "w_bounds_mV": [b * 1e3 for b in rp.w_bounds], "lava_bounds": list(rp.lava_bounds),
                         "delay_steps": _delay_steps(model.projections[name].delay, dt)}
                  for name, rp in net.rules.items()},
        "weights": weights,
        "normalisation": normalisation,
        "spikes": spikes,
        "recall": recall,
        "wall_time_s": {
            "lava_build": build_time, "lava_compile": net.compile_time,
            "lava_run": {s.phase.name: t for s, t in zip(segments, net.run_times)},
            "lava_host_normalisation": net.normalisation_time,
            "lava_switch": net.switch_time, "lava_read": net.read_time, "lava_stop": stop_time,
            "lava_total": total,
            "brian2": {s.phase.name: float(wall_b.get(s.phase.name, float("nan"))) for s in segments},
        },
        "issues": [{"severity": i.severity, "feature": i.feature, "message": i.message} for i in issues],
        "initial_state": "snapshot" if frozen.initial_state else "rest",
        "from_rest": bool(from_rest),
        "weights_from": {k: frozen.weights_from[k] for k in net.rules},
        "trace_history": {"phases": hist_phases, "truncated": truncated},
        "populations": list(net.plan.populations),
        "projections": list(net._gains),
        "learning_projections": list(net.rules),
    }
    dest = Path(out) if out is not None else run_dir
    wpath = dest / weights_file(phase)
    _atomic_savez(wpath, learned)
    path = dest / results_file(phase)
    result["output"], result["weights_output"] = str(path), str(wpath)
    _write_json_atomic(path, result)
    return result


def run_is_plastic(run_dir, phase: str) -> bool:
    """Whether ``phase`` of a run folder's model has plastic projections (reads ``model.toml`` only)."""
    from neuromem.spec.loader import loads_model
    from neuromem.io import _reading

    run_dir = Path(run_dir)
    with _reading(run_dir / "model.toml") as f:
        text = f.read_text(encoding="utf-8")
    model = loads_model(text, file=str(run_dir / "model.toml"))
    try:
        return is_plastic(model, phase)
    except KeyError:
        return False
