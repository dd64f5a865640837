"""A trained network frozen at the start of one phase: what every exporter exports.

Backend-free (numpy only): which populations, sources and projections take
part in a phase (:func:`exported_parts`), with which transmission gain
(:func:`phase_gain`), the exact per-step coefficients of the current-based LIF
(:func:`exact_coefficients`), dense weight matrices (:func:`weight_matrices`),
delays in steps, and :func:`load_frozen_network`, which reads all of that plus
the network state and the input spikes from a run folder.  Phase branching
(where a phase's state comes from) follows :meth:`neuromem.spec.Protocol.origin`,
the one rule.  The exporters (:mod:`neuromem.export.lava`,
:mod:`neuromem.export.nir`) build on this module; the mapping is documented in
``docs/export.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromem.connectivity import draw_projection
from neuromem.export.issues import resolve_phase
from neuromem.io import (
    RunFolderError, UnknownPhaseError, load_initial, load_spikes, load_synapses, load_weights, read_run, safe_name,
)
from neuromem.spec.loader import loads_model

__all__ = [
    "exported_parts", "phase_gain", "exact_coefficients", "delay_steps", "weight_matrices", "steps_before",
    "input_raster", "FrozenNetwork", "read_model", "load_frozen_network", "start_state", "history_spikes",
    "depression_of", "depression_acts", "depressing", "depression_start", "load_depression",
]


def exported_parts(model, phase=None) -> tuple[list, list, list]:
    """Populations, spike sources and projections that take part in a phase.

    Populations silenced in the phase cannot spike, so they are left out
    together with every projection from or to them; blocked projections and
    projections with a transmission gain of 0 in the phase are left out;
    spike sources without a remaining projection are left out.  (Other gains
    scale the weights: :func:`phase_gain`.)

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
    ph = resolve_phase(model, phase)
    silenced = set(ph.silence) if ph is not None else set()
    blocked = set(ph.block) if ph is not None else set()
    if ph is not None:
        blocked |= {k for k, g in ph.gain.items() if g == 0}
    pops = [p for p in model.populations if p not in silenced]
    projs = [name for name, pr in model.projections.items()
             if name not in blocked and pr.target in pops
             and (pr.source in pops or pr.source in model.sources)]
    used = {model.projections[p].source for p in projs}
    sources = [s for s in model.sources if s in used]
    return pops, sources, projs


def phase_gain(phase, projection: str) -> float:
    """Transmission gain of a projection in a phase (Brian2's ``gain``).

    0 if blocked, ``phase.gain[projection]`` if given, else 1 (also without a phase).
    """
    if phase is None:
        return 1.0
    if projection in phase.block:
        return 0.0
    return float(phase.gain.get(projection, 1.0))


def exact_coefficients(tau_m: float, tau_syn: float, dt: float) -> dict:
    """Per-step coefficients of the exact solution of the current-based LIF.

    Over one step of length ``dt`` (no spike, not refractory)::

        I(t+dt) = a_s I(t)
        v(t+dt) = v_rest + a_m (v(t) - v_rest) + kappa I(t)

    This is the discretisation the Brian2 backend integrates (``method='exact'``)
    and every exporter reproduces.

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


def delay_steps(delay: float, dt: float) -> int:
    """A delay in whole steps, rounded to the nearest as Brian2's ``SpikeQueue`` does."""
    return int(np.round(delay / dt))


def steps_before(lastspike, dt: float) -> np.ndarray:
    """Steps between spikes at times ``lastspike`` (s, < 0) and the phase start.

    Never-fired entries (non-finite, or -1e3 s and earlier) give ``2**62``.
    """
    ls = np.asarray(lastspike, dtype=float)
    m = np.full(ls.shape, 2 ** 62, dtype=np.int64)
    ok = np.isfinite(ls) & (ls > -1e3)
    m[ok] = np.round(-ls[ok] / dt).astype(np.int64)
    return m


def input_raster(size: int, spikes, n_steps: int, dt: float) -> np.ndarray:
    """``(size, n_steps)`` 0/1 array from ``(i, t)`` spikes (``t`` on the ``dt`` grid; ``None``: silent)."""
    data = np.zeros((size, n_steps))
    if spikes is None:
        return data
    i, t = spikes
    k = np.round(np.asarray(t, dtype=float) / dt).astype(np.int64)
    ok = (k >= 0) & (k < n_steps)
    data[np.asarray(i, dtype=np.int64)[ok], k[ok]] = 1.0
    return data


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
        (``v``, ``I`` in V, ``lastspike`` in s relative to the phase start)
        when the run folder has one; ``None`` otherwise.
    recent_spikes : dict or None
        With a start state: the spikes of the phase the state comes from, with
        times relative to this phase's start (negative), for the spikes still
        in flight on delayed projections.
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


def read_model(run_dir):
    """``(results, model)`` of a run folder: :func:`neuromem.io.read_run` and its validated ``model.toml``."""
    run_dir = Path(run_dir)
    rf = read_run(run_dir)
    return rf, loads_model(rf.model_text, file=str(run_dir / "model.toml"))


def _duration(results, phase: str) -> float:
    return next(p["duration"] for p in results["phases"] if p["name"] == phase)


def _start_snapshot(model, phase: str) -> str | None:
    """The weights file holding the weights at the start of ``phase``.

    A phase without plasticity does not change weights, so its own snapshot
    is its start state; a plastic phase starts from its origin's.
    """
    if not model.protocol.phase(phase).plastic:
        return phase
    return model.protocol.origin(phase)


def load_frozen_network(run_dir, phase: str) -> FrozenNetwork:
    """Read the model, the weights at the start of ``phase``, its input spikes and start state.

    Plastic projections' weights come from ``weights/<phase>.npz`` (for a
    phase without plasticity; otherwise the snapshot of the phase it starts
    from).  Static projections' weights are not stored by the Brian2 backend;
    they are regenerated from the run's seed exactly as the backend drew them,
    and the regenerated synapses are checked against ``weights/synapses.npz``.

    Parameters
    ----------
    run_dir : str or Path
    phase : str

    Returns
    -------
    FrozenNetwork

    Raises
    ------
    neuromem.io.RunFolderError
        If a file is missing or malformed, or the regenerated synapses differ.
    neuromem.io.UnknownPhaseError
        If the run has no phase ``phase``.
    """
    run_dir = Path(run_dir)
    rf, model = read_model(run_dir)
    phases = [p["name"] for p in rf["phases"]]
    if phase not in phases:
        raise UnknownPhaseError(run_dir / "results.json", f"no phase {phase!r} (phases: {', '.join(phases)})")
    synapses = load_synapses(run_dir)
    snap = _start_snapshot(model, phase)
    stored = dict(load_weights(run_dir, None))
    source = {k: "weights/initial.npz" for k in stored}
    if snap is not None:
        for k, w in load_weights(run_dir, snap).items():
            stored[k] = w
            source[k] = f"weights/{safe_name(snap)}.npz"
    weights, weights_from = {}, {}
    for name in model.projections:
        if name in stored:
            weights[name], weights_from[name] = np.asarray(stored[name], dtype=float), source[name]
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
    init = recent = None
    arrays = load_initial(run_dir, phase)
    if arrays is not None:
        init = {}
        for key in arrays:
            pop, _, var = key.rpartition("_")
            if pop in model.populations and var in ("v", "I", "lastspike"):
                init.setdefault(pop, {})[var] = arrays[key]
        origin = model.protocol.origin(phase)
        if origin is not None:
            d_origin = _duration(rf, origin)
            recent = {k: (sp.i, np.asarray(sp.t) - d_origin) for k, sp in load_spikes(run_dir, origin).items()}
    return FrozenNetwork(model=model, phase=phase, synapses=synapses, weights=weights,
                         matrices=weight_matrices(model, synapses, weights, model.projections),
                         inputs=inputs, n_steps=int(round(_duration(rf, phase) / model.dt)),
                         weights_from=weights_from, initial_state=init, recent_spikes=recent)


def start_state(frozen: FrozenNetwork, run_dir, phase: str, from_rest: bool) -> FrozenNetwork:
    """``frozen`` started from rest when ``from_rest``; refused when its recorded start state is missing.

    Without its start state a network does not reproduce Brian2's phase (it
    starts from rest where Brian2 continues), so an export asks for it to be
    explicit.

    Parameters
    ----------
    frozen : FrozenNetwork
        Changed in place (and returned).
    run_dir : str or Path
    phase : str
    from_rest : bool
        Drop the start state and the spikes in flight.

    Raises
    ------
    neuromem.io.RunFolderError
        Without ``from_rest``, if the run folder has no ``initial/<phase>.npz``.
    """
    if from_rest:
        frozen.initial_state = frozen.recent_spikes = None
    elif frozen.initial_state is None:
        raise RunFolderError(Path(run_dir) / "initial" / f"{safe_name(phase)}.npz",
                             f"missing: the network state at the start of phase {phase!r}; from rest Lava "
                             f"cannot reproduce Brian2 (give from_rest=True, or --from-rest, to run from rest "
                             f"anyway)")
    return frozen


def history_spikes(run_dir, results, model, phase: str, horizon: float):
    """Spikes before ``phase`` along the phases its state comes from (:meth:`~neuromem.spec.Protocol.lineage`).

    Phases are added from the latest back (its origin, the origin's origin,
    ...) until they cover ``horizon`` seconds.

    Returns
    -------
    spikes : dict of str to (i, t)
        ``t < 0``, relative to the start of ``phase``.
    phases : list of str
        The phases used, latest first.
    truncated : bool
        Whether older phases were left out.
    """
    durations = {p["name"]: float(p["duration"]) for p in results["phases"]}
    before = list(reversed(model.protocol.lineage(phase)[:-1]))
    parts: dict = {}
    used, offset = [], 0.0
    for name in before:
        if offset >= horizon:
            break
        offset += durations[name]
        for k, sp in load_spikes(run_dir, name).items():
            parts.setdefault(k, []).append((np.asarray(sp.i), np.asarray(sp.t) - offset))
        used.append(name)
    spikes = {k: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for k, v in parts.items()}
    return spikes, used, len(used) < len(before)


# ---------------------------------------------------------------- short-term depression


def depression_of(model, projection: str):
    """The projection's transmission rule (e.g. a :class:`~neuromem.spec.ShortTermDepression`), or ``None``."""
    from neuromem.spec.registry import RULES

    return next((model.rules[r] for r in model.projections[projection].plasticity
                 if RULES.caps(model.rules[r]).transmission), None)


def depression_acts(phase, projection: str) -> bool:
    """Whether a projection's transmission rule changes what it transmits in ``phase``.

    It does not while the projection is blocked (a spike releases and uses
    nothing) nor in a phase that switches it off (:attr:`~neuromem.spec.Phase.stp_off`:
    a spike transmits the stored weight and uses nothing).
    """
    return phase_gain(phase, projection) > 0 and (phase is None or projection not in phase.stp_off)


def depressing(model, phases, projections=None) -> list:
    """The projections (of ``projections``; default all) whose transmission rule acts in any of ``phases``
    (:func:`depression_acts`; a phase ``None`` is the whole model, where it acts)."""
    names = model.projections if projections is None else projections
    return [n for n in names if depression_of(model, n) is not None and any(depression_acts(p, n) for p in phases)]


def depression_start(model, projection: str, lineage) -> tuple[np.ndarray, np.ndarray]:
    """Resources of each presynaptic neuron of a depressing projection at the start of a phase.

    Replays the rule's updates (:class:`~neuromem.spec.ShortTermDepression`, as
    the Brian2 backend applies them at each arrival) over the spikes of the
    phases before it.  A spike emitted at step ``k`` arrives at step ``k +
    delay`` and is governed by the phase it arrives in (its gain and
    ``stp_off``); arrivals at or after the phase start are still in flight
    (the exporter's delay buffer carries them).  Every synapse from one neuron
    sees the same arrivals, so the resources are one value per neuron.

    Parameters
    ----------
    model : neuromem.spec.Model
    projection : str
    lineage : list of (Phase, int, (i, t))
        The phases before the exported one, earliest first
        (:meth:`~neuromem.spec.Protocol.lineage`), each with its number of
        steps and its source population's spikes (``t`` in s from that
        phase's start).

    Returns
    -------
    r : ndarray
        Resources after each neuron's last arrival (1 for a neuron without).
    last : ndarray
        The step of that arrival relative to the phase start (``< 0``;
        ``-2**40`` for none).
    """
    rule = depression_of(model, projection)
    pr = model.projections[projection]
    n = model.nodes()[pr.source].size
    dt = model.dt
    d = delay_steps(pr.delay, dt)
    r, last = np.ones(n), np.full(n, -2.0 ** 40)
    if rule is None or not lineage:
        return r, last
    starts = -np.cumsum([n_steps for _, n_steps, _ in lineage][::-1])[::-1]     # each phase's first step
    arrivals, neurons = [], []
    for (_, _, (i, t)), k0 in zip(lineage, starts):
        arrivals.append(k0 + np.round(np.asarray(t, dtype=float) / dt).astype(np.int64) + d)
        neurons.append(np.asarray(i, dtype=np.int64))
    a, i = np.concatenate(arrivals), np.concatenate(neurons)
    keep = a < 0
    a, i = a[keep], i[keep]
    order = np.lexsort((a, i))        # per neuron, in time
    a, i = a[order], i[order]
    where = np.searchsorted(starts, a, side="right") - 1       # the phase each arrival falls in
    on = np.array([0.0 if projection in ph.stp_off else 1.0 for ph, _, _ in lineage])[where]
    use = np.array([1.0 if phase_gain(ph, projection) > 0 else 0.0 for ph, _, _ in lineage])[where]
    for k in range(a.size):
        j = i[k]
        rk = 1.0 - (1.0 - r[j]) * math.exp(-(a[k] - last[j]) * dt / rule.tau_rec)
        r[j] = rk - on[k] * use[k] * rule.u * rk
        last[j] = a[k]
    return r, last


def load_depression(run_dir, results, model, phase: str, projections) -> dict:
    """:func:`depression_start` of each of ``projections`` at the start of ``phase`` of a run folder.

    Returns
    -------
    dict of str to (r, last)

    Raises
    ------
    neuromem.io.RunFolderError
        If a phase before it has no recorded spikes of a depressing projection's source.
    """
    run_dir = Path(run_dir)
    durations = {p["name"]: float(p["duration"]) for p in results["phases"]}
    before = model.protocol.lineage(phase)[:-1]
    spikes = {name: load_spikes(run_dir, name) for name in before}
    out = {}
    for name in projections:
        src = model.projections[name].source
        lineage = []
        for ph in before:
            if src not in spikes[ph]:
                raise RunFolderError(run_dir / "spikes" / f"{safe_name(ph)}.npz", f"phase {ph!r} has no spikes of {src!r}: the resources "
                                     f"of projection {name!r}'s short-term depression cannot be reconstructed")
            sp = spikes[ph][src]
            lineage.append((model.protocol.phase(ph), int(round(durations[ph] / model.dt)), (sp.i, sp.t)))
        out[name] = depression_start(model, name, lineage)
    return out
