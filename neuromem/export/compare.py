"""How an exported network's spikes compare with the Brian2 run they came from.

The one scoring tail of every exporter that simulates: put both simulations'
spikes on the same step grid, compare them spike by spike
(:func:`compare_spikes`), and score recall on both with the analysis Brian2's
metrics come from (:func:`score_phase`).  Also the agreement of learned
weights (:func:`weight_agreement`).  Numpy only.
"""

from __future__ import annotations

import numpy as np

from neuromem.analysis import pearson, recall_phase_metrics
from neuromem.io import load_phase
from neuromem.records import PhaseRecord, Spikes

__all__ = ["count_correlation", "to_spikes", "on_grid", "reference_phase", "compare_spikes", "score_phase",
           "weight_agreement"]


def count_correlation(x, y) -> float | None:
    """Agreement correlation of two arrays (spike counts, weights): :func:`neuromem.analysis.pearson`,
    except that identical arrays agree perfectly (1.0, also when both are constant, e.g. silent) and
    fewer than two values give ``None`` (nothing to correlate)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2:
        return None
    if np.array_equal(x, y):
        return 1.0
    return pearson(x, y)


def to_spikes(raster: np.ndarray, dt: float) -> Spikes:
    """:class:`~neuromem.records.Spikes` from a boolean ``(n, n_steps)`` raster (column ``k``: time ``k * dt``)."""
    k, i = np.nonzero(raster.T)  # sorted by step, then neuron
    return Spikes(i=i.astype(np.int32), t=k * dt, n=raster.shape[0])


def on_grid(record: PhaseRecord, dt: float) -> PhaseRecord:
    """``record`` with every spike time put on the ``k * dt`` grid (in place).

    Brian2 stores times as float sums of ``dt``; on the grid, recall windows
    count identical spikes identically in both simulations.
    """
    for sp in record.spikes.values():
        sp.t = np.round(np.asarray(sp.t) / dt) * dt
    return record


def reference_phase(run_dir, phase: str, dt: float) -> PhaseRecord:
    """Brian2's record of ``phase`` (:func:`neuromem.io.load_phase`), on the step grid."""
    return on_grid(load_phase(run_dir, phase), dt)


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
        are silent); ``spike_count_correlation``: :func:`count_correlation` of
        per-neuron spike counts over all populations; ``rate_relative_error``:
        relative difference of the total spike count; ``spikes_reference``,
        ``spikes``; and ``by_population``: the same per population, with the
        rates in Hz.
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
            "spike_count_correlation": count_correlation(ca, cb),
        }
        n_same, n_ref, n_other = n_same + same, n_ref + ka.size, n_other + kb.size
        c_ref.append(ca)
        c_other.append(cb)
    return {
        "identical_spike_fraction": n_same / n_ref if n_ref else float(n_other == 0),
        "spike_count_correlation": count_correlation(np.concatenate(c_ref), np.concatenate(c_other))
        if c_ref else None,
        "rate_relative_error": (n_other - n_ref) / n_ref if n_ref else float(n_other != 0),
        "spikes_reference": int(n_ref),
        "spikes": int(n_other),
        "by_population": by_pop,
    }


def score_phase(reference: PhaseRecord, spikes: dict, populations, dt: float, n_steps: int, model, run) -> dict:
    """Compare an exported simulation of one phase with Brian2's, spikes and recall.

    Parameters
    ----------
    reference : PhaseRecord
        Brian2's record of the phase on the step grid (:func:`reference_phase`).
    spikes : dict of str to Spikes
        The exported simulation's spikes of the populations it simulated.
    populations : iterable of str
        The populations compared (those not silenced in the phase).
    dt : float
    n_steps : int
    model : neuromem.spec.Model
    run : callable or None
        Returns the :class:`~neuromem.records.Run` (patterns, cues, seed) the
        recall analysis needs; called only when the phase has recall items.
        ``None``: spikes only, no recall.

    Returns
    -------
    dict
        ``agreement``: :func:`compare_spikes` plus ``pattern_identity`` (the
        fraction of items whose winning memory is Brian2's; ``None`` without
        items); ``recall`` and ``recall_reference``:
        :func:`neuromem.analysis.recall_phase_metrics` on the exported
        spikes (silenced populations and sources as recorded) and on Brian2's,
        ``None`` without items.
    """
    agreement = compare_spikes(reference.spikes, spikes, dt, n_steps * dt, list(populations))
    rec = rec_ref = identity = None
    if run is not None and reference.items and model.protocol.pattern_population in spikes:
        r = run()
        other = PhaseRecord(name=reference.name, kind=reference.kind, duration=reference.duration,
                            spikes={**reference.spikes, **spikes}, items=reference.items,
                            cue_fraction=reference.cue_fraction, silenced=reference.silenced)
        rec = recall_phase_metrics(other, r)
        rec_ref = recall_phase_metrics(reference, r)
        identity = float(np.mean([a == b for a, b in zip(rec["winner"], rec_ref["winner"])]))
    agreement["pattern_identity"] = identity
    return {"agreement": agreement, "recall": rec, "recall_reference": rec_ref}


def weight_agreement(w_other, w_reference, w_start, w_bounds) -> dict:
    """Agreement of learned weights (per synapse, V) with the reference's after the same phase.

    Parameters
    ----------
    w_other, w_reference, w_start : array_like
        Per synapse: learned by the exported simulation, by Brian2, and at the
        phase start.
    w_bounds : (float, float)
        The rule's bounds (V).

    Returns
    -------
    dict
        ``correlation`` and ``change_correlation`` (:func:`count_correlation`),
        mean and largest absolute difference (mV, and relative), mean weight
        and mean change, counts at and beyond the bounds.
    """
    w_lava, w_brian, w_start = (np.asarray(a, dtype=float) for a in (w_other, w_reference, w_start))
    diff = np.abs(w_lava - w_brian)
    dl, db = w_lava - w_start, w_brian - w_start
    lo, hi = w_bounds
    tol = 1e-9 * max(abs(hi), 1e-12)
    scale = float(np.mean(np.abs(w_brian))) if w_brian.size else 0.0
    return {
        "n_synapses": int(w_brian.size),
        "correlation": count_correlation(w_lava, w_brian),
        "change_correlation": count_correlation(dl, db),
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
