"""Pattern completion: how well a partial cue recalls the rest of a memory.

A recall trial drives a fraction of one memory's pattern neurons (the *cue*)
and looks at the rest of the pattern population.  Cued neurons fire because
they are driven, so every score here is computed on the **uncued** neurons
only: a network that merely relays the cue scores about 0, one that fires
exactly the missing pattern neurons scores 1.
"""

from __future__ import annotations

import numpy as np

from neuromem.spec.protocol import RECALL_WINDOW_SKIP

__all__ = ["recall_overlap", "winner", "recall_phase_metrics", "cue_mask", "pearson", "best_recall"]


def pearson(x, y) -> float:
    """Pearson correlation of two equally long arrays; 0.0 where it is undefined.

    The one correlation of neuromem (recall overlap, winners, and the
    exporters' agreement figures through
    :func:`neuromem.export.compare.count_correlation`).  Where the
    correlation is undefined -- fewer than two values, or either side with
    zero variance (``x`` within ``1e-12`` of constant, relative to its
    largest magnitude) -- it is 0.0, not NaN: a recall score has to be a
    number for a silent network or a cue that covers the whole pattern, and
    "no linear relation" is what such a trial shows.  The result is clipped
    to ``[-1, 1]`` against rounding.

    Parameters
    ----------
    x, y : array_like of shape (N,)

    Returns
    -------
    float
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2:
        return 0.0
    xc = x - x.mean()
    yc = y - y.mean()
    sx = float(np.sqrt(np.dot(xc, xc)))
    sy = float(np.sqrt(np.dot(yc, yc)))
    if sx <= 1e-12 * max(1.0, float(np.abs(x).max())) or sy == 0.0:
        return 0.0
    return float(np.clip(np.dot(xc, yc) / (sx * sy), -1.0, 1.0))


def recall_overlap(counts, pattern, cued, duration: float = 1.0, min_rate: float = 5.0) -> dict:
    """Score one recall trial on the uncued neurons.

    Parameters
    ----------
    counts : array_like of shape (N,)
        Spike count of every neuron of the pattern population in the recall
        window.
    pattern : array_like of bool, shape (N,)
        The memory being recalled.
    cued : array_like of bool, shape (N,)
        Neurons driven by the cue in this trial (a subset of ``pattern``).
    duration : float, optional
        Length of the recall window (s), to turn counts into rates.
    min_rate : float, optional
        A neuron counts as active when its rate is at least this (Hz).

    Returns
    -------
    dict
        ``overlap``
            Pearson correlation between the counts of the uncued neurons and
            the pattern restricted to them; 0.0 when the uncued counts (or the
            restricted pattern, e.g. a cue covering the whole pattern) have zero
            variance.  About 0 for the cue alone, 1 for perfect completion.
        ``hit_rate``
            Fraction of uncued pattern neurons with rate >= ``min_rate``
            (0.0 when the cue covers the whole pattern).
        ``false_alarm_rate``
            Fraction of non-pattern neurons with rate >= ``min_rate``.
        ``rate_pattern_hz``, ``rate_other_hz``, ``rate_cued_hz``
            Mean rate of the uncued pattern neurons, the non-pattern neurons
            and the cued neurons.
        ``n_uncued_pattern``
            Number of uncued pattern neurons.
    """
    counts = np.asarray(counts, dtype=float)
    pattern = np.asarray(pattern, dtype=bool)
    cued = np.asarray(cued, dtype=bool)
    if not (counts.shape == pattern.shape == cued.shape):
        raise ValueError(f"shapes differ: counts {counts.shape}, pattern {pattern.shape}, cued {cued.shape}")
    if duration <= 0:
        raise ValueError(f"duration must be > 0, got {duration!r}")
    uncued = ~cued
    rates = counts / duration
    target = pattern & uncued
    other = ~pattern & uncued

    def frac(mask):
        return float(np.mean(rates[mask] >= min_rate)) if mask.any() else 0.0

    def mean(mask):
        return float(rates[mask].mean()) if mask.any() else 0.0

    return {
        "overlap": pearson(counts[uncued], pattern[uncued]),
        "hit_rate": frac(target),
        "false_alarm_rate": frac(other),
        "rate_pattern_hz": mean(target),
        "rate_other_hz": mean(other),
        "rate_cued_hz": mean(cued),
        "n_uncued_pattern": int(target.sum()),
    }


def winner(counts, patterns, cued) -> tuple[int, np.ndarray]:
    """The stored pattern that the activity matches best.

    Parameters
    ----------
    counts : array_like of shape (N,)
        Spike counts of the pattern population in the recall window.
    patterns : array_like of bool, shape (n_memories, N)
        All stored patterns.
    cued : array_like of bool, shape (N,)
        Neurons cued in this trial; they are excluded from every comparison.

    Returns
    -------
    index : int
        Index of the pattern with the highest correlation, or -1 when the
        uncued activity has zero variance (e.g. silence) so no pattern wins.
    correlations : ndarray of float, shape (n_memories,)
        Pearson correlation of the uncued counts with each pattern restricted
        to the uncued neurons.
    """
    counts = np.asarray(counts, dtype=float)
    patterns = np.atleast_2d(np.asarray(patterns, dtype=bool))
    keep = ~np.asarray(cued, dtype=bool)
    x = counts[keep]
    corr = np.array([pearson(x, p[keep]) for p in patterns], dtype=float)
    if corr.size == 0 or np.all(corr == 0.0):
        return -1, corr
    return int(np.argmax(corr)), corr


def cue_mask(run, fraction: float) -> np.ndarray:
    """Cued neurons (n_memories, N) of ``run`` for a cue fraction.

    Looks ``fraction`` up in ``run.cues`` with a small tolerance; a fraction of
    1 without an entry means the whole pattern.

    Raises
    ------
    KeyError
        When the fraction was not used in the run.
    """
    for f, mask in run.cues.items():
        if abs(float(f) - float(fraction)) < 1e-9:
            return np.asarray(mask, dtype=bool)
    if abs(float(fraction) - 1.0) < 1e-9:
        return np.asarray(run.patterns, dtype=bool)
    raise KeyError(f"no cues recorded for fraction {fraction!r} (have {sorted(run.cues)})")


def recall_phase_metrics(phase, run, window=(RECALL_WINDOW_SKIP, None), min_rate: float = 5.0) -> dict:
    """Recall scores for every item of a phase.

    Parameters
    ----------
    phase : neuromem.records.PhaseRecord
    run : neuromem.records.Run
        Supplies the patterns, the cues (``run.cues[phase.cue_fraction]``) and
        the pattern population (``run.model.protocol.pattern_population``).
    window : (float, float or None), optional
        Recall window relative to each item's onset: spikes in
        ``[t_on + window[0], t_on + window[1])`` are counted; ``None`` as the
        end means the item's offset ``t_off``.  The default skips the first
        20 ms (:data:`neuromem.spec.protocol.RECALL_WINDOW_SKIP`, which the
        model loader also checks recall items against), when only the cue has
        had time to act.
    min_rate : float, optional
        Activity threshold (Hz) for hit and false-alarm rates.

    Returns
    -------
    dict
        Lists have one entry per item, in presentation order: ``memory``,
        ``overlap``, ``hit_rate``, ``false_alarm_rate``, ``rate_pattern_hz``,
        ``rate_other_hz``, ``winner`` (-1: no winner); scalars
        ``mean_overlap``, ``mean_hit_rate``, ``mean_false_alarm_rate`` and
        ``correct_winner_fraction`` (``None`` when the phase has no items),
        ``cue_fraction`` and ``window``.
    """
    pop = run.model.protocol.pattern_population
    spikes = phase.spikes[pop]
    patterns = np.asarray(run.patterns, dtype=bool)
    cues = cue_mask(run, phase.cue_fraction)
    keys = ("overlap", "hit_rate", "false_alarm_rate", "rate_pattern_hz", "rate_other_hz")
    out = {k: [] for k in ("memory",) + keys + ("winner",)}
    for item in phase.items:
        t0 = item.t_on + window[0]
        t1 = item.t_off if window[1] is None else item.t_on + window[1]
        if t1 <= t0:
            raise ValueError(f"empty recall window [{t0}, {t1}) for memory {item.memory} in phase {phase.name!r}")
        counts = spikes.counts(t0, t1)
        cued = cues[item.memory]
        scores = recall_overlap(counts, patterns[item.memory], cued, duration=t1 - t0, min_rate=min_rate)
        out["memory"].append(int(item.memory))
        for k in keys:
            out[k].append(scores[k])
        out["winner"].append(winner(counts, patterns, cued)[0])

    def mean(xs):
        return float(np.mean(xs)) if xs else None

    out["mean_overlap"] = mean(out["overlap"])
    out["mean_hit_rate"] = mean(out["hit_rate"])
    out["mean_false_alarm_rate"] = mean(out["false_alarm_rate"])
    out["correct_winner_fraction"] = (
        mean([float(w == m) for w, m in zip(out["winner"], out["memory"])]))
    out["cue_fraction"] = float(phase.cue_fraction)
    out["window"] = [float(window[0]), None if window[1] is None else float(window[1])]
    return out


def best_recall(recall: dict, phases: dict, max_false_alarm: float = 0.05) -> dict:
    """The best of several recalls of the same memories at different recall inhibitions.

    Parameters
    ----------
    recall : dict
        A run's ``metrics["recall"]`` (:func:`recall_phase_metrics` per phase).
    phases : dict
        ``{gain: recall phase name}``: the recall inhibition (``ctx_ei`` gain) each phase ran at.
    max_false_alarm : float, optional
        The capacity criterion's false-alarm limit (0.05).

    Returns
    -------
    dict
        Of the rows ``{gain, overlap (mean over memories), false_alarm}``, the one with the highest
        ``overlap`` among those with ``false_alarm ≤ max_false_alarm``, or, when none is within the
        limit, the one with the lowest ``false_alarm``; plus ``within_limit`` (bool) and ``all`` (the
        rows).
    """
    rows = [{"gain": float(g), "overlap": float(np.mean(recall[name]["overlap"])),
             "false_alarm": float(recall[name]["mean_false_alarm_rate"])} for g, name in phases.items()]
    return best_recall_row(rows, max_false_alarm)


def best_recall_row(rows, max_false_alarm: float = 0.05) -> dict:
    """The choice :func:`best_recall` makes, on rows already read (e.g. from a sweep table).

    Parameters
    ----------
    rows : list of dict
        ``{gain, overlap, false_alarm}`` per recall, in the order ties are broken (the first wins).
    max_false_alarm : float, optional
        The capacity criterion's false-alarm limit (0.05).

    Returns
    -------
    dict
        As :func:`best_recall`.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("best_recall: no recalls given")
    ok = [r for r in rows if r["false_alarm"] <= max_false_alarm]
    best = max(ok, key=lambda r: r["overlap"]) if ok else min(rows, key=lambda r: r["false_alarm"])
    return {**best, "within_limit": bool(ok), "all": rows}
