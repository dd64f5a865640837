"""Export a frozen neuromem network to Lava (lava-nc 0.10) and run it there.

The Brian2 backend integrates each current-based LIF population exactly
(``method='exact'``)::

    dv/dt = (v_rest - v + I) / tau_m      (unless refractory)
    dI/dt = -I / tau_syn
    on a presynaptic spike:  I += w   (I -= w for inhibitory projections)
    v > v_th  ->  spike, v = v_reset, v frozen for `refractory` seconds

Lava's ``LIF`` process updates, once per step, ``u <- u (1 - du) + a_in`` and
``v <- v (1 - dv) + u + bias``; it spikes when ``v > vth`` and resets ``v`` to
0.  With ``a_s = exp(-dt/tau_syn)`` and ``a_m = exp(-dt/tau_m)`` the mapping

=====================  ===================================================
Lava                   Brian2
=====================  ===================================================
``v``                  ``v - v_reset``
``u``                  ``kappa * I``
``du``, ``dv``         ``1 - a_s``, ``1 - a_m``
``vth``                ``v_th - v_reset``
``bias_mant``          ``(1 - a_m) (v_rest - v_reset)``
Dense weight           ``+-kappa * w``, ``kappa = tau_syn/(tau_syn - tau_m) (a_s - a_m)``
                       (``kappa = (dt/tau_m) a_m`` when ``tau_syn == tau_m``)
``refractory_period``  ``round(refractory/dt) - 1`` (``LIFRefractory``)
delay of d steps       ``DelayDense(delays=d)`` (``Dense`` for d = 0)
=====================  ===================================================

is the exact discretisation Brian2 uses, step for step; Lava's one-step
``Dense`` buffer matches Brian2's update -> threshold -> synapses order, so
floating-point Lava reproduces Brian2's spikes (neuron and step), also from
a mid-run network state (:func:`load_frozen_network` reads
``initial/<phase>.npz``).  The fixed-point (Loihi 2 bit-accurate) variant
quantises decays, threshold, bias and weights and has no refractoriness
(``refractory="emulate"`` adds it with a neuromem process model); see
:func:`plan_lava` and ``docs/export.md`` for the scales and the measured
differences.

Lava itself is imported lazily (through :func:`neuromem._compat.lava311.import_lava`)
by :func:`build_lava_network` and :func:`run_lava` only; :func:`check_lava`,
:func:`plan_lava` and :func:`load_frozen_network` need numpy only.

Examples
--------
>>> from neuromem.export import check_lava, run_lava
>>> for issue in check_lava(model, "recall_lesioned_after_sleep", mode="fixed"):  # doctest: +SKIP
...     print(issue)
>>> res = run_lava("runs/cls-20250101-120000-seed1", mode="float")  # doctest: +SKIP
>>> res["agreement"]["identical_spike_fraction"]                    # doctest: +SKIP
1.0
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_PHASE", "MODES", "ExportIssue", "LavaExportError", "check_lava", "exact_coefficients",
    "exported_parts", "weight_matrices", "load_frozen_network", "FrozenNetwork", "plan_lava",
    "LavaPlan", "PopulationPlan", "ProjectionPlan", "build_lava_network", "LavaNetwork", "run_lava",
    "compare_spikes", "phase_gain", "DEFAULT_HEADROOM",
]

DEFAULT_PHASE = "recall_lesioned_after_sleep"
"""Phase exported by :func:`run_lava` when none is named."""

MODES = ("float", "fixed")
REFRACTORY = ("ignore", "emulate")

DEFAULT_HEADROOM = 8.0
"""Fixed point: Loihi's 24-bit ``v`` spans ``v_reset ± DEFAULT_HEADROOM (v_th - v_reset)``.

Inhibition drives ``v`` far below ``v_reset`` (cls: ``ctx_e`` to -150 mV, ``hpc_e`` to
-245 mV in the recall phases); Loihi saturates ``v`` there, which makes the cells less
hyperpolarised and raises every rate (headroom 4: +2 to +4 %, 8: within 0.7 %).  A
larger headroom costs resolution (8: about 70 000 units per mV for 15 mV thresholds)."""
_TAGS = {"float": "floating_pt", "fixed": "fixed_pt"}

# Loihi 2 limits (lava-nc 0.10 bit-accurate process models)
DECAY_UNITY = 4096          # du, dv: 12 bit
VTH_MAX = 2 ** 17 - 1       # vth: 17 bit unsigned, compared as vth << 6
UV_MAX = 2 ** 23            # u, v: 24 bit signed
SHIFT = 6                   # vth and synaptic input are shifted left by 6 bits
BIAS_MANT_MAX = 4095        # 13 bit signed mantissa
BIAS_EXP_MAX = 7            # 3 bit exponent
WEIGHT_MAX = 255            # 8 bit weight magnitude (single-sign matrices)
WEIGHT_EXP_RANGE = (-8, 7)  # shared weight exponent per Dense
MAX_DELAY_FIXED = 63        # DelayDense on Loihi 2: 6 bit delays


# ---------------------------------------------------------------------------
# issues
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportIssue:
    """A model feature that Lava cannot represent exactly.

    Attributes
    ----------
    severity : {"error", "warning"}
        ``"error"``: the feature cannot be exported and the exporter refuses
        the model.  ``"warning"``: it is exported approximately (or left out)
        and the result may differ from Brian2.
    feature : str
        Short name: ``"tau_syn_inh"``, ``"adaptation"``, ``"noise"``,
        ``"conductance"``, ``"refractory"``, ``"delay"``, ``"plasticity"``.
    message : str
        What is affected and why; names the population, projection or rule.
    """

    severity: str
    feature: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


class LavaExportError(ValueError):
    """The model (or phase) uses features Lava cannot represent.

    Attributes
    ----------
    issues : list of ExportIssue
        Every issue found, errors and warnings.
    """

    def __init__(self, issues, what: str = "the model"):
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        lines = "\n  ".join(str(i) for i in errors)
        super().__init__(f"cannot export {what} to Lava:\n  {lines}")


def _ms(x: float) -> str:
    return f"{x * 1e3:g} ms"


def _resolve_phase(model, phase):
    """``Phase`` object for a name, a Phase, or ``None``."""
    if phase is None or not isinstance(phase, str):
        return phase
    try:
        return model.protocol.phase(phase)
    except KeyError:
        names = ", ".join(p.name for p in model.protocol.phases)
        raise KeyError(f"model {model.name!r} has no phase {phase!r} (phases: {names})") from None


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def exported_parts(model, phase=None) -> tuple[list, list, list]:
    """Populations, spike sources and projections that take part in a phase.

    Populations silenced in the phase cannot spike, so they are left out
    together with every projection from or to them; blocked projections and
    projections with a transmission gain of 0 in the phase (``gain = 0`` in
    Brian2) are left out; spike sources without a remaining projection are
    left out.  (Other gains scale the weights: :func:`phase_gain`.)

    Parameters
    ----------
    model : neuromem.spec.Model
    phase : str or neuromem.spec.Phase or None
        ``None``: the whole model.

    Returns
    -------
    populations, sources, projections : list of str
        Names, in model order.
    """
    ph = _resolve_phase(model, phase)
    silenced = set(ph.silence) if ph is not None else set()
    blocked = set(ph.block) if ph is not None else set()
    if ph is not None:
        blocked |= {k for k, g in getattr(ph, "gain", {}).items() if g == 0}
    pops = [p for p in model.populations if p not in silenced]
    projs = [name for name, pr in model.projections.items()
             if name not in blocked and pr.target in pops
             and (pr.source in pops or pr.source in model.sources)]
    used = {model.projections[p].source for p in projs}
    sources = [s for s in model.sources if s in used]
    return pops, sources, projs


def phase_gain(phase, projection: str) -> float:
    """Transmission gain of a projection in a phase (Brian2's ``gain``): 0 if
    blocked, ``phase.gain[projection]`` if given, else 1."""
    if phase is None:
        return 1.0
    if projection in phase.block:
        return 0.0
    return float(getattr(phase, "gain", {}).get(projection, 1.0))


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
        Fixed mode: how refractoriness is treated (see :func:`plan_lava`);
        only changes the wording of the refractory warning.

    Returns
    -------
    list of ExportIssue
        Errors first; empty when the export is exact.  Errors:
        a separate inhibitory synaptic time constant (``tau_syn_inh``),
        spike-triggered adaptation, intrinsic noise, conductance-based
        synapses, delays over 63 steps in fixed point, plasticity rules other
        than pair STDP active in the phase.  Warnings: refractoriness in fixed
        point (ignored), pair STDP active in the phase (weights are frozen at
        the phase start), rules other than pair STDP when no phase is given
        (no on-chip learning for them).

    Examples
    --------
    >>> [str(i) for i in check_lava(model, mode="fixed")]          # doctest: +SKIP
    ["warning: population 'ctx_e': refractory period (5 ms = 10 steps) is ignored ..."]
    """
    _check_mode(mode)
    from neuromem.spec import PairSTDP, VogelsISTDP

    ph = _resolve_phase(model, phase)
    pops, _, projs = exported_parts(model, ph)
    dt = model.dt
    issues = []
    for name in pops:
        pop = model.populations[name]
        if pop.tau_syn_inh is not None and not math.isclose(pop.tau_syn_inh, pop.tau_syn):
            issues.append(ExportIssue(
                "error", "tau_syn_inh",
                f"population {name!r}: a second synaptic time constant for inhibitory inputs "
                f"(tau_syn_inh = {_ms(pop.tau_syn_inh)}, tau_syn = {_ms(pop.tau_syn)}) needs two "
                f"current variables per neuron; Lava's LIF has one (u)"))
        if pop.adaptation is not None:
            issues.append(ExportIssue(
                "error", "adaptation",
                f"population {name!r}: spike-triggered adaptation (adaptation.tau_w = "
                f"{_ms(pop.adaptation.tau_w)}) has no counterpart in Lava's LIF "
                f"(it needs a custom neuron model, i.e. microcode on Loihi 2)"))
        if getattr(pop, "noise", None):
            issues.append(ExportIssue(
                "error", "noise",
                f"population {name!r}: intrinsic noise cannot be reproduced; drive the population "
                f"from a recorded spike source instead"))
        if getattr(pop, "synapse", "current") != "current":
            issues.append(ExportIssue(
                "error", "conductance",
                f"population {name!r}: conductance-based synapses are not LIF + Dense "
                f"(the input depends on v)"))
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
        d = int(round(pr.delay / dt))
        if mode == "fixed" and d > MAX_DELAY_FIXED:
            issues.append(ExportIssue(
                "error", "delay",
                f"projection {name!r}: delay {_ms(pr.delay)} = {d} steps exceeds Loihi 2's "
                f"{MAX_DELAY_FIXED}-step synaptic delay"))
    rule_projs = projs if ph is not None else list(model.projections)
    for name in rule_projs:
        for rname in model.projections[name].plasticity:
            rule = model.rules[rname]
            rtype = type(rule).__name__
            learnable = isinstance(rule, (PairSTDP, VogelsISTDP))
            if ph is None:
                if not learnable:
                    issues.append(ExportIssue(
                        "warning", "plasticity",
                        f"projection {name!r}: rule {rname!r} ({rtype}) has no Loihi 2 learning-rule "
                        f"counterpart (pair STDP and Vogels iSTDP map onto Loihi2FLearningRule; "
                        f"neuromem.export.lava_learning runs a synaptic normalisation on the host between "
                        f"chunks of the run); frozen weights export fine"))
            elif name in ph.plastic:
                if learnable:
                    issues.append(ExportIssue(
                        "warning", "plasticity",
                        f"projection {name!r} is plastic in phase {ph.name!r} ({rtype} {rname!r}); "
                        f"a frozen export keeps its weights at the start of the phase; to learn on Lava "
                        f"run the phase with neuromem.export.lava_learning (`neuromem export lava RUN_DIR "
                        f"--phase {ph.name}`)"))
                else:
                    issues.append(ExportIssue(
                        "error", "plasticity",
                        f"projection {name!r} is plastic in phase {ph.name!r} with rule {rname!r} "
                        f"({rtype}); a frozen export cannot learn: run the phase with "
                        f"neuromem.export.lava_learning (pair STDP and Vogels iSTDP on chip, a synaptic "
                        f"normalisation on the host)"))
    issues.sort(key=lambda i: i.severity != "error")
    return issues


def _raise_on_errors(model, phase, mode, refractory="ignore") -> list[ExportIssue]:
    if refractory not in REFRACTORY:
        raise ValueError(f"refractory must be one of {REFRACTORY}, got {refractory!r}")
    issues = check_lava(model, phase, mode, refractory)
    if any(i.severity == "error" for i in issues):
        ph = _resolve_phase(model, phase)
        what = f"model {model.name!r}" + (f", phase {ph.name!r}" if ph is not None else "")
        raise LavaExportError(issues, f"{what} ({mode} mode)")
    return issues


# ---------------------------------------------------------------------------
# the exact discretisation (shared with neuromem.export.nir)
# ---------------------------------------------------------------------------


def exact_coefficients(tau_m: float, tau_syn: float, dt: float) -> dict:
    """Per-step coefficients of the exact solution of the current-based LIF.

    Over one step of length ``dt`` (no spike, not refractory)::

        I(t+dt) = a_s I(t)
        v(t+dt) = v_rest + a_m (v(t) - v_rest) + kappa I(t)

    Parameters
    ----------
    tau_m, tau_syn, dt : float
        Seconds.

    Returns
    -------
    dict
        ``a_s``, ``a_m`` and ``kappa``.

    Examples
    --------
    >>> c = exact_coefficients(0.02, 0.005, 0.0005)
    >>> round(c["kappa"], 6)
    0.023491
    """
    a_s = math.exp(-dt / tau_syn)
    a_m = math.exp(-dt / tau_m)
    if math.isclose(tau_syn, tau_m, rel_tol=1e-9):
        kappa = dt / tau_m * a_m
    else:
        kappa = tau_syn / (tau_syn - tau_m) * (a_s - a_m)
    return {"a_s": a_s, "a_m": a_m, "kappa": kappa}


def _delay_steps(delay: float, dt: float) -> int:
    # Brian2's SpikeQueue rounds delays to the nearest step
    return int(np.round(delay / dt))


def weight_matrices(model, synapses: dict, weights: dict, projections=None) -> dict:
    """Dense ``(n_post, n_pre)`` weight magnitudes from synapse lists.

    Parameters
    ----------
    model : neuromem.spec.Model
    synapses : dict of str to (i, j)
        Pre/post indices per projection (``weights/synapses.npz``).
    weights : dict of str to ndarray
        Magnitudes (V) aligned with ``synapses``.
    projections : iterable of str, optional
        Default: every projection in ``weights``.

    Returns
    -------
    dict of str to ndarray of shape (n_post, n_pre)
        Repeated (i, j) pairs are summed.
    """
    nodes = model.nodes()
    out = {}
    for name in (projections if projections is not None else weights):
        pr = model.projections[name]
        i, j = synapses[name]
        mat = np.zeros((nodes[pr.target].size, nodes[pr.source].size))
        np.add.at(mat, (np.asarray(j, dtype=np.int64), np.asarray(i, dtype=np.int64)),
                  np.asarray(weights[name], dtype=float))
        out[name] = mat
    return out


# ---------------------------------------------------------------------------
# the plan: every number given to Lava, computed with numpy only
# ---------------------------------------------------------------------------


@dataclass
class PopulationPlan:
    """Parameters of one Lava ``LIF``/``LIFRefractory`` process.

    Attributes
    ----------
    name : str
    size : int
    scale : float
        Lava voltage units per volt (1 in float mode).  In fixed mode the
        unit is one LSB of Loihi's 24-bit ``v``, so the threshold
        ``v_th - v_reset`` is ``vth << 6`` units.
    du, dv, vth : float or int
    bias_mant : float or int
    bias_exp : int
    refractory_period : int
        Steps v stays frozen after a spike (0: plain ``LIF``).
    kappa : float
        Current-to-voltage factor (per step) used for the weights.
    v_reset, v_rest : float
        Volts (Brian2), for converting states.
    """

    name: str
    size: int
    scale: float
    du: float
    dv: float
    vth: float
    bias_mant: float
    bias_exp: int
    refractory_period: int
    kappa: float
    a_s: float
    a_m: float
    v_reset: float
    v_rest: float


@dataclass
class ProjectionPlan:
    """Parameters of one Lava ``Dense``/``DelayDense`` process.

    Attributes
    ----------
    name, source, target : str
    weights : ndarray of shape (n_post, n_pre)
        Signed; float (scaled by kappa) or int (8-bit mantissa).
    weight_exp : int
        Shared exponent (fixed mode; 0 in float mode).
    delay : int
        Steps (Brian2's delay rounded to the step).
    carry_in : bool
        The source is silenced in the phase; the projection only delivers
        spikes that were in flight at the phase start (fed by a silent
        source, its delay buffer pre-filled).
    """

    name: str
    source: str
    target: str
    weights: np.ndarray
    weight_exp: int
    delay: int
    carry_in: bool = False


@dataclass
class LavaPlan:
    """Everything :func:`build_lava_network` gives to Lava.

    Attributes
    ----------
    mode : {"float", "fixed"}
    dt : float
    phase : str or None
    populations : dict of str to PopulationPlan
    sources : dict of str to int
        Spike sources (name → size) feeding exported projections.
    projections : dict of str to ProjectionPlan
    issues : list of ExportIssue
        Warnings (errors are raised before a plan is made).
    quantisation : dict
        Fixed mode: per population and projection, the integer values and
        the errors they introduce (empty in float mode).
    """

    mode: str
    dt: float
    phase: str | None
    populations: dict
    sources: dict
    projections: dict
    issues: list = field(default_factory=list)
    quantisation: dict = field(default_factory=dict)


def _split_bias(b: float) -> tuple[int, int]:
    """Loihi bias ``mant << exp`` closest to ``b`` (13-bit mantissa, 3-bit exponent)."""
    for e in range(BIAS_EXP_MAX + 1):
        m = int(round(b / 2 ** e))
        if -BIAS_MANT_MAX - 1 <= m <= BIAS_MANT_MAX:
            return m, e
    m = int(np.clip(round(b / 2 ** BIAS_EXP_MAX), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX))
    return m, BIAS_EXP_MAX


def _quantise_weights(target: np.ndarray) -> tuple[np.ndarray, int, dict]:
    """8-bit mantissas and a shared exponent for a signed target matrix.

    ``target`` is in units of Lava's synaptic input before the 6-bit shift;
    the result ``W`` and ``e`` give ``W * 2**e``.  Single-sign matrices use
    magnitudes up to 255; mixed-sign ones are rounded to even values (Loihi
    drops their lowest bit).
    """
    nz = target != 0
    amax = float(np.max(np.abs(target))) if nz.any() else 0.0
    mixed = bool((target > 0).any() and (target < 0).any())
    top = 2 * (WEIGHT_MAX // 2) if mixed else WEIGHT_MAX
    if amax == 0.0:
        return np.zeros(target.shape, dtype=np.int32), 0, {
            "weight_exp": 0, "relative_error_mean": 0.0, "relative_error_max": 0.0, "summed_relative_error": 0.0,
            "n_zeroed": 0, "n_clipped": 0, "mixed_sign": mixed}
    e = math.ceil(math.log2(amax / top))
    e = int(np.clip(e, *WEIGHT_EXP_RANGE))
    step = 2.0 ** e * (2 if mixed else 1)
    w = np.round(target / step) * (2 if mixed else 1)
    n_clipped = int(np.sum(np.abs(w) > top))
    w = np.clip(w, -top, top).astype(np.int32)
    got = w * 2.0 ** e
    rel = np.abs(got[nz] - target[nz]) / np.abs(target[nz])
    return w, e, {
        "weight_exp": e,
        "relative_error_mean": float(rel.mean()),
        "relative_error_max": float(rel.max()),
        # error of the total synaptic drive: small weights rounded to 0 weigh little
        "summed_relative_error": float(np.abs(got[nz] - target[nz]).sum() / np.abs(target[nz]).sum()),
        "n_zeroed": int(np.sum(nz & (w == 0))),
        "n_clipped": n_clipped,
        "mixed_sign": mixed,
    }


def _headrooms(model, pops, headroom) -> dict:
    """``{population: headroom}`` from a number or a per-population dict (others: the default)."""
    if isinstance(headroom, dict):
        unknown = sorted(set(headroom) - set(model.populations))
        if unknown:
            raise ValueError(f"headroom given for unknown population(s) {unknown}; "
                             f"populations: {sorted(model.populations)}")
        out = {name: float(headroom.get(name, DEFAULT_HEADROOM)) for name in pops}
    else:
        out = {name: float(headroom) for name in pops}
    for name, h in out.items():
        if not h >= 1.0:
            raise ValueError(f"headroom must be >= 1, got {h!r} for population {name!r}")
    return out


def plan_lava(model, weights: dict, phase=None, mode: str = "float", headroom=DEFAULT_HEADROOM,
              refractory: str = "ignore", carry_in=()) -> LavaPlan:
    """Compute every Lava parameter for a frozen network.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray
        Weight magnitudes (V) per projection as dense ``(n_post, n_pre)``
        matrices (see :func:`weight_matrices`); every exported projection
        must be present.
    phase : str or Phase, optional
        Leaves out what the phase silences or blocks; multiplies weights by
        the phase's transmission gains.
    mode : {"float", "fixed"}
    headroom : float or dict of str to float, optional
        Fixed mode only: Loihi's 24-bit ``v`` spans ``±headroom`` times the
        threshold distance ``v_th - v_reset`` around ``v_reset`` (values
        beyond saturate; ``u`` wraps beyond the same range).  The threshold
        is then ``vth = 2**17 / headroom`` (17 bit), i.e. the per-population
        voltage scale is ``vth * 2**6 / (v_th - v_reset)`` units per volt.
        A dict gives it per population (others: :data:`DEFAULT_HEADROOM`).
        Too small a headroom lets strong inhibition saturate ``v`` (cells
        then fire more than in Brian2); too large a one costs resolution.
    refractory : {"ignore", "emulate"}
        Fixed mode only.  ``"ignore"``: Loihi 2's standard bit-accurate LIF,
        which has no refractory period.  ``"emulate"``: a neuromem process
        model for ``LIFRefractory`` with the same integer arithmetic plus
        Brian2's v freeze (what a microcoded Loihi 2 neuron could do); it
        separates the quantisation error from the missing refractoriness.
    carry_in : iterable of str, optional
        Projections from populations silenced in the phase that still have
        spikes in flight at its start (see :func:`build_lava_network`).

    Returns
    -------
    LavaPlan

    Raises
    ------
    LavaExportError
        If :func:`check_lava` finds errors.

    Notes
    -----
    Fixed point, per population (scale ``S``, one per population so that all
    projections into it add up in the same unit): ``du = round(4096 (1 - a_s)) - 1``
    (Loihi adds 1), ``dv = round(4096 (1 - a_m))``; ``kappa`` and the bias are
    recomputed from the *quantised* decays so that the integer system is the
    exact discretisation of a LIF with the effective time constants (the
    resting potential stays exact); ``bias = (1 - a_m')(v_rest - v_reset) S``
    split into a 13-bit mantissa and 3-bit exponent.  Per projection the
    target ``kappa' w S / 2**6`` is written as an 8-bit mantissa times
    ``2**weight_exp`` (one exponent per projection, chosen for the largest
    weight).
    """
    _check_mode(mode)
    issues = _raise_on_errors(model, phase, mode, refractory)
    ph = _resolve_phase(model, phase)
    pops, sources, projs = exported_parts(model, ph)
    dt = model.dt
    headrooms = _headrooms(model, pops, headroom)
    pplans, quant_pops = {}, {}
    for name in pops:
        pop = model.populations[name]
        c = exact_coefficients(pop.tau_m, pop.tau_syn, dt)
        gap = pop.v_th - pop.v_reset
        n_ref = int(round(pop.refractory / dt))
        if mode == "float":
            pplans[name] = PopulationPlan(
                name=name, size=pop.size, scale=1.0, du=1.0 - c["a_s"], dv=1.0 - c["a_m"], vth=gap,
                bias_mant=(1.0 - c["a_m"]) * (pop.v_rest - pop.v_reset), bias_exp=0,
                refractory_period=max(0, n_ref - 1), kappa=c["kappa"], a_s=c["a_s"], a_m=c["a_m"],
                v_reset=pop.v_reset, v_rest=pop.v_rest)
            continue
        du = int(np.clip(round(DECAY_UNITY * (1.0 - c["a_s"])) - 1, 0, DECAY_UNITY - 1))
        dv = int(np.clip(round(DECAY_UNITY * (1.0 - c["a_m"])), 0, DECAY_UNITY - 1))
        a_s = 1.0 - (du + 1) / DECAY_UNITY
        a_m = 1.0 - dv / DECAY_UNITY
        tau_s_eff = -dt / math.log(a_s) if 0 < a_s < 1 else math.inf
        tau_m_eff = -dt / math.log(a_m) if 0 < a_m < 1 else math.inf
        kappa = exact_coefficients(tau_m_eff, tau_s_eff, dt)["kappa"] if math.isfinite(tau_m_eff) and \
            math.isfinite(tau_s_eff) else c["kappa"]
        h = headrooms[name]
        vth = int(min(VTH_MAX, round(2 ** 17 / h)))
        scale = vth * 2 ** SHIFT / gap
        bias = (1.0 - a_m) * (pop.v_rest - pop.v_reset) * scale
        mant, exp = _split_bias(bias)
        pplans[name] = PopulationPlan(
            name=name, size=pop.size, scale=scale, du=du, dv=dv, vth=vth, bias_mant=mant,
            bias_exp=exp, refractory_period=max(0, n_ref - 1) if refractory == "emulate" else 0,
            kappa=kappa, a_s=a_s, a_m=a_m,
            v_reset=pop.v_reset, v_rest=pop.v_rest)
        quant_pops[name] = {
            "scale_units_per_mV": scale * 1e-3,
            "vth": vth, "du": du, "dv": dv, "bias_mant": mant, "bias_exp": exp,
            "tau_syn_ms": pop.tau_syn * 1e3, "tau_syn_effective_ms": tau_s_eff * 1e3,
            "tau_syn_relative_error": tau_s_eff / pop.tau_syn - 1.0,
            "tau_m_ms": pop.tau_m * 1e3, "tau_m_effective_ms": tau_m_eff * 1e3,
            "tau_m_relative_error": tau_m_eff / pop.tau_m - 1.0,
            "bias_relative_error": (mant * 2.0 ** exp - bias) / bias if bias else 0.0,
            "headroom": h,
            "v_range_mV": [(pop.v_reset - h * gap) * 1e3, (pop.v_reset + h * gap) * 1e3],
            "refractory_ignored_steps": 0 if refractory == "emulate" else max(0, n_ref - 1),
        }
    jplans, quant_projs = {}, {}
    carry_in = [c for c in carry_in if c not in projs]
    for name in list(projs) + carry_in:
        pr = model.projections[name]
        if name not in weights:
            raise KeyError(f"no weights given for exported projection {name!r}")
        w = np.asarray(weights[name], dtype=float)
        tgt = pplans[pr.target]
        n_pre = model.nodes()[pr.source].size
        if w.shape != (tgt.size, n_pre):
            raise ValueError(f"projection {name!r}: weight matrix has shape {w.shape}, "
                             f"expected (n_post, n_pre) = {(tgt.size, n_pre)}")
        sign = 1.0 if pr.sign == "excitatory" else -1.0
        target = sign * phase_gain(ph, name) * tgt.kappa * w * tgt.scale
        if mode == "float":
            mat, e = target, 0
        else:
            mat, e, q = _quantise_weights(target / 2 ** SHIFT)
            quant_projs[name] = q
        jplans[name] = ProjectionPlan(name=name, source=pr.source, target=pr.target, weights=mat,
                                      weight_exp=e, delay=_delay_steps(pr.delay, dt),
                                      carry_in=name in carry_in)
    quant = {}
    if mode == "fixed":
        rel = [q["relative_error_mean"] for q in quant_projs.values()]
        quant = {
            "headroom": dict(headroom) if isinstance(headroom, dict) else float(headroom),
            "refractory": refractory,
            "populations": quant_pops,
            "projections": quant_projs,
            "weight_relative_error_mean": float(np.mean(rel)) if rel else 0.0,
            "weight_relative_error_max": max((q["relative_error_max"] for q in quant_projs.values()),
                                             default=0.0),
            "weight_summed_relative_error_max": max(
                (q["summed_relative_error"] for q in quant_projs.values()), default=0.0),
            "decay_tau_relative_error_max": max(
                (max(abs(q["tau_syn_relative_error"]), abs(q["tau_m_relative_error"]))
                 for q in quant_pops.values()), default=0.0),
        }
    return LavaPlan(mode=mode, dt=dt, phase=None if ph is None else ph.name, populations=pplans,
                    sources={s: model.sources[s].size for s in sources}, projections=jplans,
                    issues=issues, quantisation=quant)


# ---------------------------------------------------------------------------
# Lava processes
# ---------------------------------------------------------------------------


def _components(populations, edges) -> list[set]:
    """Connected groups of ``populations`` joined by ``(source, target)`` edges."""
    parent = {p: p for p in populations}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for source, target in edges:
        if source in parent:
            parent[find(source)] = find(target)
    groups: dict = {}
    for p in populations:
        groups.setdefault(find(p), set()).add(p)
    return list(groups.values())


def _link_components(plan, neurons: dict, edges, dtype=float) -> list:
    """Join the separate parts of a network with all-zero ``Dense`` links.

    Lava compiles only what is connected to the process it runs; the links
    add exactly 0.  ``edges``: the ``(source, target)`` pairs of the network's
    projections.
    """
    from lava.proc.dense.process import Dense
    links = []
    comps = _components(plan.populations, edges)
    for a, b in zip(comps, comps[1:]):
        pa, pb = min(a), min(b)
        zero = np.zeros((plan.populations[pb].size, plan.populations[pa].size), dtype=dtype)
        link = Dense(weights=zero, name=f"link_{pa}_{pb}")
        neurons[pa].s_out.connect(link.s_in)
        link.a_out.connect(neurons[pb].a_in)
        links.append(link)
    return links


class _LavaRuntime:
    """Shared shut-down of a built Lava network (``neurons``, ``sinks``, ``_started``)."""

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


class LavaNetwork(_LavaRuntime):
    """Lava processes of one exported network, ready to run.

    Attributes
    ----------
    plan : LavaPlan
    n_steps : int
    neurons : dict of str to lava LIF process
    connections : dict of str to lava Dense/DelayDense process
    sources : dict of str to lava RingBuffer (source)
    sinks : dict of str to SpikeRecorder, one per population
        A small lava process that writes each step's spikes into a
        memory-mapped file (lava's own sinks return their data one value at a
        time through a pipe: 20 s for 250 neurons x 2500 steps).

    Use as a context manager (or call :meth:`stop`) so that Lava's runtime
    processes are always shut down.
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
            extra["exception_proc_model_map"] = {LIFRefractory: _fixed_refractory_model()}
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


def _input_matrix(size: int, spikes, n_steps: int, dt: float) -> np.ndarray:
    """(size, n_steps) 0/1 array from (i, t) spikes (t on the dt grid)."""
    data = np.zeros((size, n_steps))
    if spikes is None:
        return data
    i, t = spikes
    k = np.round(np.asarray(t, dtype=float) / dt).astype(np.int64)
    ok = (k >= 0) & (k < n_steps)
    data[np.asarray(i, dtype=np.int64)[ok], k[ok]] = 1.0
    return data


def build_lava_network(model, weights: dict, phase=None, mode: str = "float", inputs: dict | None = None,
                       n_steps: int | None = None, initial_state: dict | None = None,
                       recent_spikes: dict | None = None, headroom=DEFAULT_HEADROOM,
                       refractory: str = "ignore") -> LavaNetwork:
    """Build the Lava processes of a frozen network.

    One ``LIF`` (float with refractoriness: ``LIFRefractory``) per exported
    population, one ``Dense`` (``DelayDense`` when the delay is >= 1 step)
    per exported projection, a source ``RingBuffer`` per spike source with the
    phase's recorded spikes, and a sink ``RingBuffer`` per population.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray (n_post, n_pre)
        Weight magnitudes (V); see :func:`weight_matrices`.
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
        Brian2's state at the phase start, i.e. after the last step of the
        previous phase including its synaptic events; ``lastspike`` is
        relative to the phase start (negative; ``-inf`` or very negative when
        the neuron never fired) and sets the remaining refractory period
        (float mode).  Missing entries: rest (``v = v_rest``, ``I = 0``, not
        refractory).
    recent_spikes : dict of str to (i, t), optional
        Spikes of populations and sources before the phase start (``t < 0``,
        relative to it) that are still travelling along delayed projections
        at the start (only the last ``delay`` steps matter).
    headroom : float or dict, optional
        Fixed mode voltage range, see :func:`plan_lava`.
    refractory : {"ignore", "emulate"}
        Fixed mode refractoriness, see :func:`plan_lava`.

    Returns
    -------
    LavaNetwork
        Not yet compiled; use it as a context manager.

    Raises
    ------
    LavaExportError
        Before anything is built, if :func:`check_lava` reports errors.
    """
    ph = _resolve_phase(model, phase)
    plan = plan_lava(model, weights, phase, mode, headroom, refractory,
                     carry_in=_carry_in(model, ph, recent_spikes))
    if n_steps is None:
        if ph is None:
            raise ValueError("n_steps is required when no phase is given")
        n_steps = int(round(ph.length(model.protocol.n_memories) / model.dt))
    n_steps = int(n_steps)
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    from neuromem._compat.lava311 import import_lava
    import_lava()
    from lava.proc.dense.process import Dense, DelayDense
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
                # a spike m steps before the phase (Lava step 1 - m) freezes v up to step rp + 1 - m
                m = _steps_before(st["lastspike"], model.dt)
                end = np.where(m < 2 ** 40, p.refractory_period + 1 - m, 0).clip(0)
                neurons[name].refractory_period_end.init = end.astype(int)
        else:
            neurons[name] = LIF(**kw)
        sinks[name] = _spike_recorder()(shape=(p.size,), n_steps=n_steps, name=f"rec_{name}")
        neurons[name].s_out.connect(sinks[name].a_in)
    inputs = inputs or {}
    for name, size in plan.sources.items():
        data = _input_matrix(size, inputs.get(name), n_steps, model.dt)
        sources[name] = SourceBuffer(data=data.astype(np.int32) if fixed else data)
    silent = {}
    for name, j in plan.projections.items():
        w = j.weights
        kw = dict(weights=w, name=f"conn_{name}")
        if fixed:
            kw.update(weight_exp=j.weight_exp, num_weight_bits=8)
        if j.delay > 0:
            conn = DelayDense(delays=np.full(w.shape, j.delay, dtype=int), **kw)
        else:
            conn = Dense(**kw)
        if j.carry_in:
            if j.source not in silent:
                silent[j.source] = SourceBuffer(data=np.zeros((w.shape[1], 1), dtype=np.int32 if fixed else float))
            pre = silent[j.source]
        else:
            pre = sources[j.source] if j.source in sources else neurons[j.source]
        pre.s_out.connect(conn.s_in)
        conn.a_out.connect(neurons[j.target].a_in)
        connections[name] = conn
        if j.delay > 0 and recent_spikes and j.source in recent_spikes:
            buff = _in_flight(j, recent_spikes[j.source], model.dt, fixed)
            if buff is not None:
                conn.a_buff.init = buff
    links = _link_components(plan, neurons, ((j.source, j.target) for j in plan.projections.values()),
                             dtype=np.int32 if fixed else float)
    return LavaNetwork(plan, n_steps, neurons, connections, sources, sinks, links)


_FIXED_REFRACTORY_MODEL = None
_SPIKE_RECORDER = None


def _spike_recorder():
    """The ``SpikeRecorder`` process class (created on first use: it needs lava).

    ``SpikeRecorder(shape=(n,), n_steps=T)`` receives spikes on ``a_in`` and
    writes step ``k`` (1-based) into column ``k - 1`` of a boolean ``(n, T)``
    memory-mapped file in a temporary folder; :meth:`read` returns the array
    after the run, :meth:`cleanup` deletes the folder.  Its process model is
    defined in this module (where lava's compiler looks for it), for both
    ``floating_pt`` and ``fixed_pt``.
    """
    global _SPIKE_RECORDER
    if _SPIKE_RECORDER is not None:
        return _SPIKE_RECORDER
    import shutil

    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    class SpikeRecorder(AbstractProcess):
        def __init__(self, *, shape, n_steps, name=None):
            folder = tempfile.mkdtemp(prefix="neuromem-lava-")
            path = os.path.join(folder, "spikes.bool")
            np.lib.format.open_memmap(path, mode="w+", dtype=bool, shape=(shape[0], n_steps)).flush()
            super().__init__(shape=shape, n_steps=n_steps, path=path, name=name)
            self.a_in = InPort(shape=shape)
            self._folder, self._path = folder, path

        def read(self) -> np.ndarray:
            return np.array(np.load(self._path, mmap_mode="r"))

        def cleanup(self):
            shutil.rmtree(self._folder, ignore_errors=True)

    @implements(proc=SpikeRecorder, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("floating_pt", "fixed_pt")
    class PySpikeRecorderModel(PyLoihiProcessModel):
        a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)

        def __init__(self, proc_params):
            super().__init__(proc_params)
            self._rec = np.load(proc_params["path"], mmap_mode="r+")
            self._n_steps = proc_params["n_steps"]

        def run_spk(self):
            s = self.a_in.recv()
            if self.time_step <= self._n_steps:
                self._rec[:, self.time_step - 1] = s != 0
                if self.time_step == self._n_steps:
                    self._rec.flush()

    # lava's compiler looks for process models in the process's module
    globals()["SpikeRecorder"] = SpikeRecorder
    globals()["PySpikeRecorderModel"] = PySpikeRecorderModel
    _SPIKE_RECORDER = SpikeRecorder
    return SpikeRecorder



def _fixed_refractory_model():
    """A fixed-point process model for ``LIFRefractory`` (lava has float only).

    Integer arithmetic of Loihi 2's bit-accurate LIF (``PyLifModelBitAcc``);
    while refractory, ``v`` keeps its value (the reset, 0) as in lava's float
    ``LIFRefractory`` and Brian2, and ``u`` keeps integrating.
    """
    global _FIXED_REFRACTORY_MODEL
    if _FIXED_REFRACTORY_MODEL is None:
        from lava.magma.core.decorator import implements, requires, tag
        from lava.magma.core.model.py.type import LavaPyType
        from lava.magma.core.resources import CPU
        from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
        from lava.proc.lif.models import PyLifModelBitAcc
        from lava.proc.lif.process import LIFRefractory

        @implements(proc=LIFRefractory, protocol=LoihiProtocol)
        @requires(CPU)
        @tag("fixed_pt")
        class PyLifRefractoryModelFixed(PyLifModelBitAcc):
            implements_process = None  # it subclasses LIF's model; it implements LIFRefractory
            refractory_period_end: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

            def __init__(self, proc_params):
                super().__init__(proc_params)
                self.refractory_period = proc_params["refractory_period"]

            def subthr_dynamics(self, activation_in):
                v_before = self.v.copy()
                super().subthr_dynamics(activation_in)
                frozen = self.refractory_period_end >= self.time_step
                self.v[frozen] = v_before[frozen]

            def reset_voltage(self, spike_vector):
                self.refractory_period_end[spike_vector] = self.time_step + self.refractory_period
                super().reset_voltage(spike_vector)

        _FIXED_REFRACTORY_MODEL = PyLifRefractoryModelFixed
    return _FIXED_REFRACTORY_MODEL


def _carry_in(model, ph, recent_spikes) -> list:
    """Projections from silenced populations with spikes in flight at the phase start.

    Brian2 delivers spikes already in a delayed projection's queue even when
    the phase silences their source population (silencing only stops new
    spikes); so such a projection is exported with a silent source and a
    pre-filled delay buffer.
    """
    if not recent_spikes or ph is None:
        return []
    pops, _, projs = exported_parts(model, ph)
    out = []
    for name, pr in model.projections.items():
        d = _delay_steps(pr.delay, model.dt)
        if (name in projs or pr.target not in pops or pr.source not in model.populations
                or d == 0 or phase_gain(ph, name) == 0 or pr.source not in recent_spikes):
            continue
        m = _steps_before(recent_spikes[pr.source][1], model.dt)
        if ((m >= 1) & (m <= d)).any():
            out.append(name)
    return out


def _steps_before(lastspike, dt: float) -> np.ndarray:
    """Steps between a spike at ``lastspike`` (s, < 0) and the phase start; huge if never."""
    ls = np.asarray(lastspike, dtype=float)
    m = np.full(ls.shape, 2 ** 62, dtype=np.int64)
    ok = np.isfinite(ls) & (ls > -1e3)
    m[ok] = np.round(-ls[ok] / dt).astype(np.int64)
    return m


def _in_flight(j: ProjectionPlan, spikes, dt: float, fixed: bool):
    """Initial ``a_buff`` of a DelayDense holding spikes sent before the phase start.

    A spike ``m`` steps before the phase start (Brian2 step ``-m``) over a
    delay of ``d`` steps reaches ``I`` at Brian2 step ``d - m`` and thus
    Lava's ``u`` at Lava step ``d - m + 2``; ``a_buff[:, c]`` is delivered at
    Lava step ``c + 1``, so it goes into column ``d - m + 1`` (``m = 1..d``).
    """
    i, t = spikes
    m = _steps_before(t, dt)
    i = np.asarray(i, dtype=np.int64)
    keep = (m >= 1) & (m <= j.delay)
    if not keep.any():
        return None
    buff = np.zeros((j.weights.shape[0], j.delay + 1), dtype=np.int64 if fixed else float)
    for col in range(1, j.delay + 1):
        sel = i[keep & (m == j.delay + 1 - col)]
        if sel.size:
            acc = np.bincount(sel, minlength=j.weights.shape[1])
            a = j.weights @ acc
            if fixed:
                a = np.left_shift(a, j.weight_exp) if j.weight_exp > 0 else np.right_shift(a, -j.weight_exp)
            buff[:, col] = a
    return buff.astype(np.int32) if fixed else buff


# ---------------------------------------------------------------------------
# run folders
# ---------------------------------------------------------------------------


@dataclass
class FrozenNetwork:
    """A trained network read back from a run folder, ready to export.

    Attributes
    ----------
    model : neuromem.spec.Model
    phase : str
    synapses : dict of str to (i, j)
    weights : dict of str to ndarray
        Magnitudes per synapse (aligned with ``synapses``) at the start of
        the phase, every projection.
    matrices : dict of str to ndarray (n_post, n_pre)
    inputs : dict of str to (i, t)
        The phase's recorded spike-source spikes.
    n_steps : int
    weights_from : dict of str to str
        Where each projection's weights came from (a weights file, or
        ``"regenerated from seed"`` for static projections).
    initial_state : dict or None
        ``{population: {"v", "I", "lastspike"}}`` from ``initial/<phase>.npz``
        (``<pop>_v``, ``<pop>_I`` in V, ``<pop>_lastspike`` in s relative to
        the phase start) when the run folder has one; ``None`` otherwise.
    recent_spikes : dict or None
        With a snapshot: the spikes of the phase the state comes from, with
        times shifted to be relative to this phase's start (negative), for
        the spikes still in flight on delayed projections.
    """

    model: object
    phase: str
    synapses: dict
    weights: dict
    matrices: dict
    inputs: dict
    n_steps: int
    weights_from: dict
    initial_state: dict | None = None
    recent_spikes: dict | None = None


def _start_snapshot(results: dict, model, phase: str) -> str | None:
    """Name of the weights file holding the weights at the start of ``phase``.

    Non-plastic phases do not change weights, so their own snapshot is the
    start state.  A plastic phase starts from the phase it branches from
    (``start_from``), else from the phase run before it, else from
    ``initial``.
    """
    ph = model.protocol.phase(phase)
    if not ph.plastic:
        return phase
    return _origin_phase(results, model, phase)


def _origin_phase(results: dict, model, phase: str) -> str | None:
    """The phase whose final network state ``phase`` starts from (``None``: the initial state).

    ``results`` is unused: :meth:`neuromem.spec.Protocol.origin` is the one rule."""
    return model.protocol.origin(phase)


def load_frozen_network(run_dir, phase: str = DEFAULT_PHASE) -> FrozenNetwork:
    """Read the model, the weights at the start of ``phase`` and its input spikes.

    Plastic projections' weights come from ``weights/<phase>.npz`` (for a
    phase without plasticity; otherwise the snapshot the phase starts from).
    Static projections' weights are not stored by the Brian2 backend; they
    are regenerated from the run's seed exactly as
    :func:`neuromem.backends.brian2.simulate` drew them, and the regenerated
    synapses are checked against ``weights/synapses.npz``.

    Parameters
    ----------
    run_dir : str or Path
    phase : str

    Returns
    -------
    FrozenNetwork
    """
    from neuromem.connectivity import draw_projection
    from neuromem.io import (
        RunFolderError, UnknownPhaseError, _npz_files, load_spikes, load_synapses, load_weights, read_run,
        safe_name,
    )
    from neuromem.spec.loader import loads_model

    run_dir = Path(run_dir)
    rf = read_run(run_dir)
    model = loads_model(rf.model_text, file=str(run_dir / "model.toml"))
    phases = [p["name"] for p in rf["phases"]]
    if phase not in phases:
        raise UnknownPhaseError(run_dir / "results.json", f"no phase {phase!r} (phases: {', '.join(phases)})")
    synapses = load_synapses(run_dir)
    snap = _start_snapshot(rf, model, phase)
    stored = dict(load_weights(run_dir, None))
    origin = {k: "weights/initial.npz" for k in stored}
    if snap is not None:
        for k, w in load_weights(run_dir, snap).items():
            stored[k] = w
            origin[k] = f"weights/{safe_name(snap)}.npz"
    weights, weights_from = {}, {}
    for name in model.projections:
        if name in stored:
            weights[name], weights_from[name] = np.asarray(stored[name], dtype=float), origin[name]
            continue
        if name not in synapses:
            raise RunFolderError(run_dir / "weights" / "synapses.npz", f"has no synapses of projection {name!r}")
        i, j, w = draw_projection(model, name, int(rf["seed"]))
        si, sj = synapses[name]
        if not (np.array_equal(i, si) and np.array_equal(j, sj)):
            raise RunFolderError(run_dir / "weights" / "synapses.npz",
                                 f"static projection {name!r}: its weights are not stored and regenerating "
                                 f"them from seed {rf['seed']} gives other synapses than this file")
        weights[name] = w
        weights_from[name] = "regenerated from seed"
    spikes = load_spikes(run_dir, phase)
    inputs = {s: (spikes[s].i, spikes[s].t) for s in model.sources if s in spikes}
    duration = next(p["duration"] for p in rf["phases"] if p["name"] == phase)
    init = recent = None
    f = run_dir / "initial" / f"{safe_name(phase)}.npz"
    if f.exists():
        z = _npz_files(f)
        init = {}
        for key in z:
            pop, _, var = key.rpartition("_")
            if pop in model.populations and var in ("v", "I", "lastspike"):
                init.setdefault(pop, {})[var] = z[key]
        origin = _origin_phase(rf, model, phase)
        if origin is not None:
            d_origin = next(p["duration"] for p in rf["phases"] if p["name"] == origin)
            recent = {k: (sp.i, np.asarray(sp.t) - d_origin) for k, sp in load_spikes(run_dir, origin).items()}
    return FrozenNetwork(model=model, phase=phase, synapses=synapses, weights=weights,
                         matrices=weight_matrices(model, synapses, weights, model.projections),
                         inputs=inputs, n_steps=int(round(duration / model.dt)),
                         weights_from=weights_from, initial_state=init, recent_spikes=recent)


def _start_state(frozen: FrozenNetwork, run_dir, phase: str, from_rest: bool) -> FrozenNetwork:
    """``frozen`` started from rest when ``from_rest``; refused when its recorded start state is missing.

    Raises
    ------
    neuromem.io.RunFolderError
        Without ``from_rest``, if the run folder has no ``initial/<phase>.npz``.
    """
    from neuromem.io import RunFolderError, safe_name

    if from_rest:
        frozen.initial_state = frozen.recent_spikes = None
    elif frozen.initial_state is None:
        raise RunFolderError(Path(run_dir) / "initial" / f"{safe_name(phase)}.npz",
                             f"missing: the network state at the start of phase {phase!r}; from rest Lava "
                             f"cannot reproduce Brian2 (give from_rest=True, or --from-rest, to run from rest "
                             f"anyway)")
    return frozen


def _to_spikes(raster: np.ndarray, dt: float):
    from neuromem.records import Spikes
    k, i = np.nonzero(raster.T)  # sorted by step, then neuron
    return Spikes(i=i.astype(np.int32), t=k * dt, n=raster.shape[0])


def _pearson(x, y) -> float | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2:
        return None
    if np.array_equal(x, y):
        return 1.0
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def compare_spikes(reference: dict, other: dict, dt: float, duration: float, populations) -> dict:
    """Spike-level agreement of two simulations of the same phase.

    Parameters
    ----------
    reference, other : dict of str to Spikes
        E.g. Brian2's and Lava's spikes.
    dt, duration : float
    populations : iterable of str

    Returns
    -------
    dict
        ``identical_spike_fraction``: spikes at the same (population, neuron,
        step) in both, divided by the reference's spike count (1.0 when both
        are silent); ``spike_count_correlation``: Pearson correlation of
        per-neuron spike counts over all populations; ``rate_relative_error``:
        relative difference of the total population rate; per population the
        same as ``by_population``; the spike counts.
    """
    n_same = n_ref = n_other = 0
    c_ref, c_other, by_pop = [], [], {}
    for pop in populations:
        a, b = reference[pop], other[pop]
        ka = np.round(np.asarray(a.t) / dt).astype(np.int64) * a.n + np.asarray(a.i, np.int64)
        kb = np.round(np.asarray(b.t) / dt).astype(np.int64) * b.n + np.asarray(b.i, np.int64)
        same = np.intersect1d(ka, kb).size
        ca, cb = np.bincount(a.i, minlength=a.n), np.bincount(b.i, minlength=b.n)
        by_pop[pop] = {
            "spikes_reference": int(ka.size), "spikes": int(kb.size),
            "identical_spike_fraction": same / ka.size if ka.size else float(kb.size == 0),
            "rate_reference_hz": ka.size / (a.n * duration), "rate_hz": kb.size / (b.n * duration),
            "rate_relative_error": (kb.size - ka.size) / ka.size if ka.size else float(kb.size != 0),
            "spike_count_correlation": _pearson(ca, cb),
        }
        n_same, n_ref, n_other = n_same + same, n_ref + ka.size, n_other + kb.size
        c_ref.append(ca)
        c_other.append(cb)
    return {
        "identical_spike_fraction": n_same / n_ref if n_ref else float(n_other == 0),
        "spike_count_correlation": _pearson(np.concatenate(c_ref), np.concatenate(c_other))
        if c_ref else None,
        "rate_relative_error": (n_other - n_ref) / n_ref if n_ref else float(n_other != 0),
        "spikes_reference": int(n_ref),
        "spikes": int(n_other),
        "by_population": by_pop,
    }


def _write_json_atomic(path: Path, data: dict) -> None:
    from neuromem.io import _jsonable
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_jsonable(data), fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_lava(run_dir, phase: str = DEFAULT_PHASE, mode: str = "float", out=None,
             headroom=DEFAULT_HEADROOM, refractory: str = "ignore", from_rest: bool = False,
             progress=None) -> dict:
    """Run one phase of a Brian2 run folder on Lava and compare.

    Reads ``model.toml``, the weights at the start of the phase (see
    :func:`load_frozen_network`), the phase's recorded spike-source spikes;
    builds the network (:func:`build_lava_network`), runs it with
    ``Loihi2SimCfg(select_tag="floating_pt" | "fixed_pt")``, and compares
    the spikes with Brian2's.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by :func:`neuromem.io.write_run`.
    phase : str, optional
        Default :data:`DEFAULT_PHASE`.
    mode : {"float", "fixed"}
    out : str or Path, optional
        Folder for ``lava_results.json`` (default ``run_dir``).  The file is
        written atomically (temporary file, then rename).
    headroom : float or dict, optional
        Fixed mode voltage range (see :func:`plan_lava`; default
        :data:`DEFAULT_HEADROOM`).
    refractory : {"ignore", "emulate"}
        Fixed mode refractoriness (see :func:`plan_lava`).
    from_rest : bool, optional
        Start from rest (``v = v_rest``, ``I = 0``, nothing in flight) instead
        of the recorded start state ``initial/<phase>.npz``.  Without it a run
        folder lacking that file is refused.
    progress : callable, optional
        Told each step as it starts: ``progress(step)``, and for the Lava run
        ``progress("run", total=n_steps)`` (e.g.
        :class:`neuromem.cli.LavaProgress`).

    Returns
    -------
    dict
        ``mode``, ``phase``, ``n_steps``, ``recall_overlap`` (mean over the
        phase's items, from :func:`neuromem.analysis.recall_phase_metrics` on
        Lava's spikes; ``None`` without items), ``recall_overlap_brian2``
        (the same on Brian2's spikes, with spike times put on the ``k * dt``
        grid like Lava's; it can differ from ``results.json`` in the last
        digits when a spike sits on a window edge), ``recall`` /
        ``recall_brian2`` (the full metrics), ``agreement``
        (``identical_spike_fraction``, ``spike_count_correlation``,
        ``pattern_identity``: fraction of items whose winning memory equals
        Brian2's, ``rate_relative_error``, per population details),
        ``wall_time_s`` (``lava_build``: processes, ``lava_compile``,
        ``lava_run``: runtime start and the steps, ``lava_stop``: shutting the
        runtime down, ``lava_total``: all of these plus reading the results;
        ``brian2``: the phase's simulation time from ``results.json``),
        ``refractory`` (``"exact"`` in float mode), ``populations`` /
        ``sources`` / ``projections`` exported (with ``carry_in`` for
        projections from silenced populations that only deliver spikes in
        flight at the start),
        ``issues`` (warnings), ``initial_state`` (``"rest"`` or
        ``"snapshot"``), ``from_rest`` (``from_rest`` as given),
        ``weights_from``, ``quantisation`` (fixed mode) and ``output`` (the
        path written).

    Raises
    ------
    LavaExportError
        Before building, if the phase uses features Lava cannot represent.
    neuromem.io.RunFolderError
        Before building, if a file of the run folder is missing or malformed
        (``initial/<phase>.npz`` only matters without ``from_rest``).
    """
    from neuromem.analysis import recall_phase_metrics
    from neuromem.io import load_patterns, load_phase, read_run
    from neuromem.records import PhaseRecord, Run

    _check_mode(mode)
    run_dir = Path(run_dir)
    rf = read_run(run_dir)
    from neuromem.spec.loader import loads_model
    model = loads_model(rf.model_text, file=str(run_dir / "model.toml"))
    _resolve_phase(model, phase)
    issues = _raise_on_errors(model, phase, mode, refractory)  # refuse before reading arrays or importing lava
    frozen = _start_state(load_frozen_network(run_dir, phase), run_dir, phase, from_rest)
    say = progress or (lambda step, total=None: None)
    dt = model.dt
    t0 = time.perf_counter()
    say("build")
    net = build_lava_network(model, frozen.matrices, phase, mode, inputs=frozen.inputs,
                             n_steps=frozen.n_steps, initial_state=frozen.initial_state,
                             recent_spikes=frozen.recent_spikes, headroom=headroom, refractory=refractory)
    build_time = time.perf_counter() - t0
    try:
        say("compile")
        net.compile()
        say("run", total=frozen.n_steps)
        rasters = net.run()
        say("compare with Brian2")
    finally:
        t_stop = time.perf_counter()
        net.stop()
        stop_time = time.perf_counter() - t_stop
    total = time.perf_counter() - t0

    brian = load_phase(run_dir, phase)
    # Brian2 stores times as float sums of dt; put both on the same k * dt grid so
    # that recall windows count identical spikes identically
    for sp in brian.spikes.values():
        sp.t = np.round(np.asarray(sp.t) / dt) * dt
    duration = frozen.n_steps * dt
    lava_spikes = {pop: _to_spikes(r, dt) for pop, r in rasters.items()}
    # silenced populations and sources: as recorded (they are not simulated)
    lava_rec = PhaseRecord(name=brian.name, kind=brian.kind, duration=brian.duration,
                           spikes={**brian.spikes, **lava_spikes}, items=brian.items,
                           cue_fraction=brian.cue_fraction, silenced=brian.silenced)
    patterns, cues = load_patterns(run_dir)
    run = Run(model=model, seed=int(rf["seed"]), patterns=patterns, cues=cues, synapses=frozen.synapses,
              initial_weights={})
    pop_pattern = model.protocol.pattern_population
    if brian.items and pop_pattern in lava_spikes:
        rec_lava = recall_phase_metrics(lava_rec, run)
        rec_brian = recall_phase_metrics(brian, run)
        identity = float(np.mean([a == b for a, b in zip(rec_lava["winner"], rec_brian["winner"])]))
    else:
        rec_lava = rec_brian = None
        identity = None
    agreement = compare_spikes(brian.spikes, lava_spikes, dt, duration, list(net.plan.populations))
    agreement["pattern_identity"] = identity
    result = {
        "mode": mode,
        "refractory": refractory if mode == "fixed" else "exact",
        "phase": phase,
        "n_steps": frozen.n_steps,
        "dt": dt,
        "recall_overlap": None if rec_lava is None else rec_lava["mean_overlap"],
        "recall_overlap_brian2": None if rec_brian is None else rec_brian["mean_overlap"],
        "recall": rec_lava,
        "recall_brian2": rec_brian,
        "agreement": agreement,
        "wall_time_s": {
            "lava_build": build_time, "lava_compile": net.compile_time, "lava_run": net.run_time,
            "lava_read": net.read_time, "lava_stop": stop_time, "lava_total": total,
            "brian2": float(rf["wall_time_s"].get(phase, float("nan"))),
        },
        "populations": list(net.plan.populations),
        "sources": list(net.plan.sources),
        "projections": {k: {"delay_steps": j.delay, "weight_exp": j.weight_exp, "carry_in": j.carry_in}
                        for k, j in net.plan.projections.items()},
        "issues": [{"severity": i.severity, "feature": i.feature, "message": i.message} for i in issues],
        "initial_state": "snapshot" if frozen.initial_state else "rest",
        "from_rest": bool(from_rest),
        "weights_from": frozen.weights_from,
        "quantisation": net.plan.quantisation or None,
    }
    if frozen.initial_state is None:
        result["initial_state_note"] = (
            "Lava starts from rest (v = v_rest, I = 0, nothing in flight); Brian2 starts this phase "
            "from the network state where the previous phase ended. Spike-for-spike agreement is only "
            "expected when that state is rest (e.g. the first phase, or after a long silent gap).")
    dest = Path(out) if out is not None else run_dir
    path = dest / "lava_results.json"
    result["output"] = str(path)
    _write_json_atomic(path, result)
    return result
