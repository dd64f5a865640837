"""What keeps a model, or one of its phases, from running on Lava.

:func:`check_lava` for a frozen export, :func:`check_lava_learning` for a
plastic phase that learns on Lava.  Both run before anything is read from a
run folder or lava is imported, and return :class:`~neuromem.export.issues.ExportIssue`
objects; :func:`require_lava` and :func:`require_lava_learning` raise
:class:`~neuromem.export.issues.ExportError` on errors.  Neuron features come
from the spec's declaration (:attr:`~neuromem.spec.LIFPopulation.export_limits`),
rules from :data:`~neuromem.export.lava.rules.RULE_SUPPORT` and
:data:`~neuromem.export.lava.rules.TRANSMISSION_SUPPORT`.  Numpy only.
"""

from __future__ import annotations

from neuromem.export.frozen import delay_steps, depressing, depression_of, exported_parts
from neuromem.export.issues import ExportIssue, neuron_issues, raise_on_errors, resolve_phase, rule_issues
from neuromem.export.lava.rules import (
    LAVA_RULES, learning_rule_plans, rule_mapping, rule_support, transmission_modes,
)
from neuromem.spec import SynapticNormalisation
from neuromem.spec.registry import RULES

__all__ = [
    "MODES", "REFRACTORY", "BOUNDS", "MAX_DELAY_FIXED", "check_mode", "check_lava", "require_lava",
    "check_lava_learning", "require_lava_learning", "is_plastic",
]

MODES = ("float", "fixed")
"""Lava number formats: floating point, or Loihi 2 bit-accurate fixed point."""

REFRACTORY = ("ignore", "emulate")
"""Fixed point: Loihi 2's stock LIF without refractoriness, or neuromem's emulation of it."""

BOUNDS = ("clip", "brian2", "none")
"""Learning: how the weight bounds are enforced (see ``docs/export.md``)."""

MAX_DELAY_FIXED = 63
"""Longest synaptic delay (steps) of Loihi 2's ``DelayDense`` (6 bit)."""

_NEURON = "Lava's LIF"


def _ms(x: float) -> str:
    return f"{x * 1e3:g} ms"


def check_mode(mode: str) -> None:
    """Refuse a ``mode`` not in :data:`MODES` (``ValueError``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def check_lava(model, phase=None, mode: str = "float", refractory: str = "ignore") -> list[ExportIssue]:
    """List every feature of a model (or of one phase) that Lava cannot represent.

    Parameters
    ----------
    model : neuromem.spec.Model
    phase : str or neuromem.spec.Phase, optional
        Check only what this phase uses (silenced populations and blocked
        projections are not exported) and its plasticity.  ``None``: the whole
        model, including every rule for on-chip learning.
    mode : {"float", "fixed"}
        ``"fixed"`` adds the limits of Loihi 2's bit-accurate models.
    refractory : {"ignore", "emulate"}
        Fixed mode: how refractoriness is treated (see
        :func:`~neuromem.export.lava.plan_lava`); only changes the wording of
        the refractory warning.

    Returns
    -------
    list of ExportIssue
        Errors first; empty when the export is exact.  Errors: the neuron
        features of :attr:`~neuromem.spec.LIFPopulation.export_limits`,
        delays over :data:`MAX_DELAY_FIXED` steps in fixed point, plasticity
        rules other than pair STDP and Vogels iSTDP active in the phase.
        Warnings: refractoriness in fixed point, a timing rule active in the
        phase (a frozen export keeps the weights of the phase start), rules
        without an on-chip counterpart when no phase is given.
    """
    check_mode(mode)
    ph = resolve_phase(model, phase)
    pops, _, projs = exported_parts(model, ph)
    dt = model.dt
    issues = neuron_issues(model, pops, _NEURON)
    for name in pops:
        pop = model.populations[name]
        n_ref = int(round(pop.refractory / dt))
        if mode == "fixed" and n_ref >= 2 and refractory == "emulate":
            issues.append(ExportIssue(
                "warning", "refractory",
                f"population {name!r}: refractory period ({_ms(pop.refractory)} = {n_ref} steps) is "
                f"emulated by neuromem's fixed-point LIFRefractory model (Loihi 2 LIF arithmetic plus a "
                f"v freeze); Loihi 2's standard LIF has none, on chip it needs a microcoded neuron"))
        elif mode == "fixed" and n_ref >= 2:
            issues.append(ExportIssue(
                "warning", "refractory",
                f"population {name!r}: refractory period ({_ms(pop.refractory)} = {n_ref} steps) is "
                f"ignored in fixed point (Loihi 2's bit-accurate LIF has none): v integrates again "
                f"right after the reset, {n_ref - 1} steps earlier than in Brian2"))
    for name in projs:
        pr = model.projections[name]
        d = delay_steps(pr.delay, dt)
        if mode == "fixed" and d > MAX_DELAY_FIXED:
            issues.append(ExportIssue(
                "error", "delay",
                f"projection {name!r}: delay {_ms(pr.delay)} = {d} steps exceeds Loihi 2's "
                f"{MAX_DELAY_FIXED}-step synaptic delay"))
    checked = projs if ph is not None else list(model.projections)
    # declared with the rule class (RuleCaps.exportable), unless this exporter builds it (in some mode: below)
    issues.extend(rule_issues(model, checked, ph, supported=lambda rule: bool(transmission_modes(rule))))
    for name in depressing(model, [ph], checked):
        rule = depression_of(model, name)
        modes = transmission_modes(rule)
        if modes and mode not in modes:
            rname = next(r for r in model.projections[name].plasticity if model.rules[r] is rule)
            issues.append(ExportIssue(
                "error", "plasticity",
                f"projection {name!r}: rule {rname!r} ({type(rule).__name__}) is built on Lava in "
                f"{' and '.join(modes)} mode only (graded spikes worth the available resources); "
                f"{mode} mode has no mapping of it"))
    for name in checked:
        for rname in model.projections[name].plasticity:
            rule = model.rules[rname]
            if not RULES.caps(rule).exportable:       # refused above (unless the phase switches it off)
                continue
            rtype = type(rule).__name__
            on_chip = rule_support(rule) == "chip"
            if ph is None:
                if not on_chip:
                    issues.append(ExportIssue(
                        "warning", "plasticity",
                        f"projection {name!r}: rule {rname!r} ({rtype}) has no Loihi 2 learning-rule "
                        f"counterpart ({', '.join(c.__name__ for c in LAVA_RULES)} map onto Loihi2FLearningRule; "
                        f"a host rule such as a synaptic normalisation runs as a host operation at Brian2's steps "
                        f"when the phase learns on Lava); frozen weights export fine"))
            elif name in ph.plastic:
                if on_chip:
                    issues.append(ExportIssue(
                        "warning", "plasticity",
                        f"projection {name!r} is plastic in phase {ph.name!r} ({rtype} {rname!r}); "
                        f"a frozen export keeps its weights at the start of the phase; to learn on Lava "
                        f"run the phase with run_lava_learning (`neuromem export lava RUN_DIR "
                        f"--phase {ph.name}`)"))
                else:
                    issues.append(ExportIssue(
                        "error", "plasticity",
                        f"projection {name!r} is plastic in phase {ph.name!r} with rule {rname!r} "
                        f"({rtype}); a frozen export cannot learn: run the phase with run_lava_learning "
                        f"(pair STDP and Vogels iSTDP on chip, a synaptic normalisation on the host)"))
    issues.sort(key=lambda i: i.severity != "error")
    return issues


def require_lava(model, phase=None, mode: str = "float", refractory: str = "ignore") -> list[ExportIssue]:
    """:func:`check_lava`'s warnings, or :class:`~neuromem.export.issues.ExportError` if it finds errors.

    Raises
    ------
    ValueError
        If ``mode`` or ``refractory`` is not a known value.
    ExportError
        If the model (phase) uses features Lava cannot represent.
    """
    if refractory not in REFRACTORY:
        raise ValueError(f"refractory must be one of {REFRACTORY}, got {refractory!r}")
    issues = check_lava(model, phase, mode, refractory)
    ph = resolve_phase(model, phase)
    what = f"model {model.name!r}" + (f", phase {ph.name!r}" if ph is not None else "")
    return raise_on_errors(issues, f"{what} ({mode} mode)", "Lava")


def is_plastic(model, phase) -> bool:
    """Whether any projection learns in ``phase``."""
    ph = resolve_phase(model, phase)
    return bool(ph is not None and ph.plastic)


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
        Errors first.  The neuron and delay issues of :func:`check_lava` for
        the whole model (every population is simulated: a silenced one keeps
        integrating without spiking, as in Brian2), and instead of its
        plasticity issues: errors for a rule without a Lava counterpart
        (:data:`~neuromem.export.lava.rules.RULE_SUPPORT`) on a projection
        plastic in the phase, a normalisation on a projection without a
        timing rule that changes its weights, two timing rules on one
        projection, plasticity in ``then``, fixed point; warnings for
        ``bounds="none"``, for each normalisation (feature
        ``"normalisation"``: the host's operation, run inside the process
        model) and each other host rule (feature ``"host"``, e.g. a bistable
        relaxation).  A transmission rule
        (short-term depression) that acts in ``phase`` or ``then`` is an error
        on a projection that learns in ``phase`` (``LearningDense`` reads
        binary spikes) or without a Lava counterpart
        (:data:`~neuromem.export.lava.rules.TRANSMISSION_SUPPORT`).
    """
    if bounds not in BOUNDS:
        raise ValueError(f"bounds must be one of {BOUNDS}, got {bounds!r}")
    check_mode(mode)
    ph = resolve_phase(model, phase)
    if ph is None:
        raise ValueError("check_lava_learning needs a phase")
    issues = [i for i in check_lava(model, None, mode) if i.feature != "plasticity"]
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
            if RULES.caps(rule).transmission:    # not a learning rule: checked below, where it acts
                continue
            where = rule_support(rule)
            if where == "host":
                norms.append((name, rname, rule))
            elif where == "chip":
                kinds.append(rname)
            else:
                issues.append(ExportIssue(
                    "error", "plasticity",
                    f"projection {name!r} is plastic in phase {ph.name!r} with rule {rname!r} "
                    f"({type(rule).__name__}), which has no mapping onto Loihi2FLearningRule"))
        if len(kinds) > 1:
            issues.append(ExportIssue(
                "error", "plasticity",
                f"projection {name!r} has several timing rules ({', '.join(map(repr, kinds))}); one "
                f"LearningDense holds one rule"))
        if kinds and bounds == "none":
            rule = model.rules[kinds[0]]
            lo = rule_mapping(rule)(rule, 1.0, 1.0, model.dt).w_bounds[0]
            issues.append(ExportIssue(
                "warning", "bounds",
                f"projection {name!r}, rule {kinds[0]!r}: bounds='none' (Lava's LearningDense) clips "
                f"only at 0; w_max = {rule.w_max * 1e3:g} mV"
                + (f" and w_min = {lo * 1e3:g} mV are" if lo > 0 else " is")
                + " not enforced (the results count the weights beyond)"))
    learning = {}
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
                f"({type(rule).__name__}) but no spike-timing rule that changes its weights; the host-side "
                f"operation acts on a learning projection's LearningDense weights only"))
        else:
            what = (f"SynapticNormalisation, {rule.total * 1e3:g} mV" if isinstance(rule, SynapticNormalisation)
                    else type(rule).__name__)
            issues.append(ExportIssue(
                "warning", "normalisation" if isinstance(rule, SynapticNormalisation) else "host",
                f"projection {name!r}, rule {rname!r} ({what} every {rule.interval * 1e3:g} ms = "
                f"{rule.interval / model.dt:g} steps): the host's operation, not the learning engine's -- "
                f"applied to the weights inside the LearningDense process model, after the learning of "
                f"each step it falls on"))
    th = resolve_phase(model, then)
    for name in depressing(model, [p for p in (ph, th) if p is not None]):
        rule = depression_of(model, name)
        rname = next(r for r in model.projections[name].plasticity if model.rules[r] is rule)
        if "float" not in transmission_modes(rule):
            issues.append(ExportIssue(
                "error", "plasticity",
                f"projection {name!r}: rule {rname!r} ({type(rule).__name__}) changes what a spike "
                f"transmits and has no Lava counterpart"))
        elif name in ph.plastic:
            issues.append(ExportIssue(
                "error", "plasticity",
                f"projection {name!r} learns in phase {ph.name!r} and transmits through rule {rname!r} "
                f"({type(rule).__name__}); Lava's LearningDense reads binary spikes, so a depressing "
                f"projection exports with learning only while it is blocked or the depression is off "
                f"(stp_off)"))
    if th is not None and th.plastic:
        issues.append(ExportIssue(
            "error", "plasticity",
            f"phase {th.name!r}, run after {ph.name!r} in the same Lava network, is plastic too "
            f"({', '.join(sorted(th.plastic))}); only the first phase may learn"))
    issues.sort(key=lambda i: i.severity != "error")
    return issues


def require_lava_learning(model, phase, mode: str = "float", bounds: str = "clip", then=None) -> list[ExportIssue]:
    """:func:`check_lava_learning`'s warnings, or :class:`~neuromem.export.issues.ExportError` on errors."""
    issues = check_lava_learning(model, phase, mode, bounds, then)
    ph = resolve_phase(model, phase)
    return raise_on_errors(issues, f"model {model.name!r}, phase {ph.name!r} with learning ({mode} mode)", "Lava")
