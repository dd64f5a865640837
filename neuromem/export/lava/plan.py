"""Every number a frozen network gives to Lava, computed with numpy only.

:func:`plan_lava` turns a model, a phase and dense weight matrices into a
:class:`LavaPlan`: one :class:`PopulationPlan` per ``LIF``/``LIFRefractory``
process and one :class:`ProjectionPlan` per ``Dense``/``DelayDense``.  In
float mode the parameters are the exact discretisation
(:func:`neuromem.export.frozen.exact_coefficients`); in fixed mode they are
Loihi 2's integers (12-bit decays, 17-bit threshold, 13-bit bias mantissa,
8-bit weights with one exponent per projection), chosen so that the integer
system is the exact discretisation of a LIF with the quantised time constants.
The scales and what they cost are in ``docs/export.md`` ("Fixed point").
Also the spikes in flight at a phase start (:func:`in_flight`,
:func:`carry_in`), which the network builder loads into the delay buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neuromem.export.frozen import delay_steps, exact_coefficients, exported_parts, phase_gain, steps_before
from neuromem.export.issues import resolve_phase
from neuromem.export.lava.check import check_mode, require_lava

__all__ = [
    "DEFAULT_HEADROOM", "DECAY_UNITY", "VTH_MAX", "UV_MAX", "SHIFT", "BIAS_MANT_MAX", "BIAS_EXP_MAX",
    "WEIGHT_MAX", "WEIGHT_EXP_RANGE", "PopulationPlan", "ProjectionPlan", "LavaPlan", "split_bias",
    "quantise_weights", "plan_lava", "carry_in", "in_flight", "delay_buffer", "components",
]

DEFAULT_HEADROOM = 8.0
"""Fixed point: Loihi's 24-bit ``v`` spans ``v_reset ± DEFAULT_HEADROOM (v_th - v_reset)``.

Inhibition drives ``v`` far below ``v_reset``, where Loihi saturates it; a
saturated cell recovers early and fires more.  A larger headroom costs
resolution.  The default keeps the small model's rates within the noise of
the comparison (``docs/export.md``)."""

# Loihi 2 limits (lava-nc 0.10 bit-accurate process models)
DECAY_UNITY = 4096          # du, dv: 12 bit
VTH_MAX = 2 ** 17 - 1       # vth: 17 bit unsigned, compared as vth << 6
UV_MAX = 2 ** 23            # u, v: 24 bit signed
SHIFT = 6                   # vth and synaptic input are shifted left by 6 bits
BIAS_MANT_MAX = 4095        # 13 bit signed mantissa
BIAS_EXP_MAX = 7            # 3 bit exponent
WEIGHT_MAX = 255            # 8 bit weight magnitude (single-sign matrices)
WEIGHT_EXP_RANGE = (-8, 7)  # shared weight exponent per Dense


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
    a_s, a_m : float
        Per-step decays of the current and the voltage (the effective ones in
        fixed mode).
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
    """Everything :func:`~neuromem.export.lava.build_lava_network` gives to Lava.

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


def split_bias(b: float) -> tuple[int, int]:
    """Loihi bias ``mant << exp`` closest to ``b`` (13-bit mantissa, 3-bit exponent)."""
    for e in range(BIAS_EXP_MAX + 1):
        m = int(round(b / 2 ** e))
        if -BIAS_MANT_MAX - 1 <= m <= BIAS_MANT_MAX:
            return m, e
    m = int(np.clip(round(b / 2 ** BIAS_EXP_MAX), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX))
    return m, BIAS_EXP_MAX


def quantise_weights(target: np.ndarray) -> tuple[np.ndarray, int, dict]:
    """8-bit mantissas and a shared exponent for a signed target matrix.

    Parameters
    ----------
    target : ndarray
        In units of Lava's synaptic input before the 6-bit shift.

    Returns
    -------
    W : ndarray of int32
    e : int
        ``W * 2**e`` approximates ``target``; the exponent is chosen for the
        largest magnitude.  Single-sign matrices use magnitudes up to 255;
        mixed-sign ones are rounded to even values (Loihi drops their lowest bit).
    info : dict
        ``weight_exp``, ``relative_error_mean``/``_max`` per synapse,
        ``summed_relative_error`` (of the total drive), ``n_zeroed``,
        ``n_clipped``, ``mixed_sign``.
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


def _fixed_population(name, pop, c, dt, headroom, refractory, n_ref):
    """A fixed-point :class:`PopulationPlan` and its quantisation record."""
    gap = pop.v_th - pop.v_reset
    du = int(np.clip(round(DECAY_UNITY * (1.0 - c["a_s"])) - 1, 0, DECAY_UNITY - 1))
    dv = int(np.clip(round(DECAY_UNITY * (1.0 - c["a_m"])), 0, DECAY_UNITY - 1))
    a_s = 1.0 - (du + 1) / DECAY_UNITY
    a_m = 1.0 - dv / DECAY_UNITY
    tau_s_eff = -dt / math.log(a_s) if 0 < a_s < 1 else math.inf
    tau_m_eff = -dt / math.log(a_m) if 0 < a_m < 1 else math.inf
    kappa = exact_coefficients(tau_m_eff, tau_s_eff, dt)["kappa"] if math.isfinite(tau_m_eff) and \
        math.isfinite(tau_s_eff) else c["kappa"]
    vth = int(min(VTH_MAX, round(2 ** 17 / headroom)))
    scale = vth * 2 ** SHIFT / gap
    bias = (1.0 - a_m) * (pop.v_rest + pop.bias - pop.v_reset) * scale      # bias: LIFPopulation.bias (V)
    mant, exp = split_bias(bias)
    plan = PopulationPlan(
        name=name, size=pop.size, scale=scale, du=du, dv=dv, vth=vth, bias_mant=mant,
        bias_exp=exp, refractory_period=max(0, n_ref - 1) if refractory == "emulate" else 0,
        kappa=kappa, a_s=a_s, a_m=a_m, v_reset=pop.v_reset, v_rest=pop.v_rest)
    record = {
        "scale_units_per_mV": scale * 1e-3,
        "vth": vth, "du": du, "dv": dv, "bias_mant": mant, "bias_exp": exp,
        "tau_syn_ms": pop.tau_syn * 1e3, "tau_syn_effective_ms": tau_s_eff * 1e3,
        "tau_syn_relative_error": tau_s_eff / pop.tau_syn - 1.0,
        "tau_m_ms": pop.tau_m * 1e3, "tau_m_effective_ms": tau_m_eff * 1e3,
        "tau_m_relative_error": tau_m_eff / pop.tau_m - 1.0,
        "bias_relative_error": (mant * 2.0 ** exp - bias) / bias if bias else 0.0,
        "headroom": headroom,
        "v_range_mV": [(pop.v_reset - headroom * gap) * 1e3, (pop.v_reset + headroom * gap) * 1e3],
        "refractory_ignored_steps": 0 if refractory == "emulate" else max(0, n_ref - 1),
    }
    return plan, record


def plan_lava(model, weights: dict, phase=None, mode: str = "float", headroom=DEFAULT_HEADROOM,
              refractory: str = "ignore", carry_in=()) -> LavaPlan:
    """Compute every Lava parameter for a frozen network.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray
        Weight magnitudes (V) per projection as dense ``(n_post, n_pre)``
        matrices (:func:`neuromem.export.frozen.weight_matrices`); every
        exported projection must be present.
    phase : str or Phase, optional
        Leaves out what the phase silences or blocks; multiplies weights by
        the phase's transmission gains.
    mode : {"float", "fixed"}
    headroom : float or dict of str to float, optional
        Fixed mode only: Loihi's 24-bit ``v`` spans ``±headroom`` times the
        threshold distance ``v_th - v_reset`` around ``v_reset`` (beyond,
        ``v`` saturates and ``u`` wraps): ``vth = 2**17 / headroom`` and the
        population's scale is ``vth * 2**6 / (v_th - v_reset)`` units per
        volt.  A dict gives it per population (others: :data:`DEFAULT_HEADROOM`).
    refractory : {"ignore", "emulate"}
        Fixed mode only.  ``"ignore"``: Loihi 2's standard bit-accurate LIF,
        which has no refractory period.  ``"emulate"``: neuromem's fixed-point
        ``LIFRefractory`` model (the same integer arithmetic plus Brian2's v
        freeze), which separates the quantisation error from the missing
        refractoriness.
    carry_in : iterable of str, optional
        Projections from populations silenced in the phase that still have
        spikes in flight at its start (:func:`carry_in`).

    Returns
    -------
    LavaPlan

    Raises
    ------
    ExportError
        If :func:`~neuromem.export.lava.check_lava` finds errors.
    """
    check_mode(mode)
    issues = require_lava(model, phase, mode, refractory)
    ph = resolve_phase(model, phase)
    pops, sources, projs = exported_parts(model, ph)
    dt = model.dt
    headrooms = _headrooms(model, pops, headroom)
    pplans, quant_pops = {}, {}
    for name in pops:
        pop = model.populations[name]
        c = exact_coefficients(pop.tau_m, pop.tau_syn, dt)
        n_ref = int(round(pop.refractory / dt))
        if mode == "float":
            pplans[name] = PopulationPlan(
                name=name, size=pop.size, scale=1.0, du=1.0 - c["a_s"], dv=1.0 - c["a_m"],
                vth=pop.v_th - pop.v_reset, bias_mant=(1.0 - c["a_m"]) * (pop.v_rest + pop.bias - pop.v_reset), bias_exp=0,
                refractory_period=max(0, n_ref - 1), kappa=c["kappa"], a_s=c["a_s"], a_m=c["a_m"],
                v_reset=pop.v_reset, v_rest=pop.v_rest)
        else:
            pplans[name], quant_pops[name] = _fixed_population(name, pop, c, dt, headrooms[name], refractory,
                                                               n_ref)
    jplans, quant_projs = {}, {}
    carry = [c for c in carry_in if c not in projs]
    for name in list(projs) + carry:
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
            mat, e, q = quantise_weights(target / 2 ** SHIFT)
            quant_projs[name] = q
        jplans[name] = ProjectionPlan(name=name, source=pr.source, target=pr.target, weights=mat,
                                      weight_exp=e, delay=delay_steps(pr.delay, dt), carry_in=name in carry)
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


def carry_in(model, phase, recent_spikes) -> list:
    """Projections from silenced populations with spikes in flight at the phase start.

    Brian2 delivers spikes already in a delayed projection's queue even when
    the phase silences their source population (silencing only stops new
    spikes); such a projection is exported with a silent source and a
    pre-filled delay buffer.
    """
    ph = resolve_phase(model, phase)
    if not recent_spikes or ph is None:
        return []
    pops, _, projs = exported_parts(model, ph)
    out = []
    for name, pr in model.projections.items():
        d = delay_steps(pr.delay, model.dt)
        if (name in projs or pr.target not in pops or pr.source not in model.populations
                or d == 0 or phase_gain(ph, name) == 0 or pr.source not in recent_spikes):
            continue
        m = steps_before(recent_spikes[pr.source][1], model.dt)
        if ((m >= 1) & (m <= d)).any():
            out.append(name)
    return out


def in_flight(j: ProjectionPlan, spikes, dt: float, fixed: bool):
    """Initial ``a_buff`` of a ``DelayDense`` holding spikes sent before the phase start (``None`` if none).

    A spike ``m`` steps before the phase start (Brian2 step ``-m``) over a
    delay of ``d`` steps reaches ``I`` at Brian2 step ``d - m`` and thus
    Lava's ``u`` at Lava step ``d - m + 2``; ``a_buff[:, c]`` is delivered at
    Lava step ``c + 1``, so it goes into column ``d - m + 1`` (``m = 1..d``).
    """
    i, t = spikes
    m = steps_before(t, dt)
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


def delay_buffer(spikes, n: int, delay: int, dt: float) -> np.ndarray:
    """Initial :class:`~neuromem.export.lava.processes.SpikeDelay` buffer: column ``c`` holds step ``c - delay``."""
    buf = np.zeros((n, delay))
    if spikes is None:
        return buf
    i, t = spikes
    m = steps_before(t, dt)
    keep = (m >= 1) & (m <= delay)
    buf[np.asarray(i, dtype=np.int64)[keep], delay - m[keep]] = 1.0
    return buf


def components(populations, edges) -> list[set]:
    """Connected groups of ``populations`` joined by ``(source, target)`` edges (Lava compiles one group)."""
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
