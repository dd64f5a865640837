"""Firing rates, memory assemblies and replay events."""

from __future__ import annotations

import numpy as np

__all__ = ["population_rates", "find_assemblies", "detect_replay", "replay_summary", "replay_composition"]


def population_rates(run) -> dict:
    """Mean firing rate per neuron of every neuron population in every phase.

    Parameters
    ----------
    run : neuromem.records.Run

    Returns
    -------
    dict
        ``{population: {phase_name: rate_hz}}`` for every LIF population of
        ``run.model.populations`` (spike sources are skipped).  Phases without
        a record for a population, or of zero duration, are left out.
    """
    out = {}
    for pop in run.model.populations:
        rates = {}
        for ph in run.phases:
            sp = ph.spikes.get(pop)
            if sp is None or ph.duration <= 0 or sp.n == 0:
                continue
            rates[ph.name] = float(len(sp.t) / (sp.n * ph.duration))
        out[pop] = rates
    return out


def find_assemblies(phase, population: str, n_memories: int, min_rate: float = 10.0,
                    selectivity: float = 2.0) -> np.ndarray:
    """Neurons that respond selectively to each memory during a phase.

    Parameters
    ----------
    phase : neuromem.records.PhaseRecord
        Usually an encoding phase, whose items present each memory.
    population : str
        Population whose neurons are classified.
    n_memories : int
    min_rate : float, optional
        Minimum rate (Hz) during memory ``k``'s items.
    selectivity : float, optional
        Minimum ratio of that rate to the neuron's mean rate during the items
        of the other memories.

    Returns
    -------
    ndarray of bool, shape (n_memories, N)
        ``True`` where neuron ``j`` belongs to memory ``k``'s assembly.  Rows of
        memories not presented in the phase are all ``False``; when only one
        memory is presented, the selectivity criterion is vacuous.
    """
    sp = phase.spikes[population]
    counts = np.zeros((n_memories, sp.n))
    time = np.zeros(n_memories)
    for item in phase.items:
        counts[item.memory] += sp.counts(item.t_on, item.t_off)
        time[item.memory] += item.t_off - item.t_on
    out = np.zeros((n_memories, sp.n), dtype=bool)
    for k in range(n_memories):
        if time[k] <= 0:
            continue
        rate_k = counts[k] / time[k]
        others = np.arange(n_memories) != k
        t_other = time[others].sum()
        rate_other = counts[others].sum(0) / t_other if t_other > 0 else np.zeros(sp.n)
        out[k] = (rate_k >= min_rate) & (rate_k >= selectivity * rate_other)
    return out


def detect_replay(spikes, assemblies, bin: float = 0.02, min_fraction: float = 0.5,
                  min_gap: float = 0.05, duration: float | None = None) -> list:
    """Find bursts in which most of one memory's assembly fires together.

    Time is cut into bins of ``bin`` seconds.  In each bin, the fraction of
    each assembly's neurons that spike at least once is computed; the bin is
    assigned to the assembly with the largest fraction among those reaching
    ``min_fraction``.  Bins of the same memory separated by less than
    ``min_gap`` seconds (in particular consecutive bins) form one event.

    Parameters
    ----------
    spikes : neuromem.records.Spikes
        Spikes of the population the assemblies are defined on.
    assemblies : array_like of bool, shape (n_memories, N)
        Empty assemblies never produce events.
    bin, min_fraction, min_gap : float, optional
    duration : float, optional
        Length of the recording (s); defaults to just past the last spike.

    Returns
    -------
    list of dict
        One per event, sorted by start time: ``memory`` (int), ``t`` (start of
        the first bin, s), ``t_end`` (end of the last bin, s) and ``fraction``
        (the peak fraction of the assembly active in one bin).
    """
    assemblies = np.atleast_2d(np.asarray(assemblies, dtype=bool))
    sizes = assemblies.sum(1)
    if len(spikes.t) == 0 or not sizes.any():
        return []
    t_end = float(duration) if duration is not None else float(np.max(spikes.t)) + bin
    n_bins = max(1, int(np.ceil(t_end / bin - 1e-9)))
    b = np.floor(np.asarray(spikes.t) / bin).astype(np.int64)
    i = np.asarray(spikes.i, dtype=np.int64)
    ok = (b >= 0) & (b < n_bins)
    # each (bin, neuron) pair once
    key = np.unique(b[ok] * spikes.n + i[ok])
    kb, ki = key // spikes.n, key % spikes.n
    frac = np.zeros((len(assemblies), n_bins))
    for k, a in enumerate(assemblies):
        if sizes[k]:
            frac[k] = np.bincount(kb, weights=a[ki].astype(float), minlength=n_bins) / sizes[k]
    frac[sizes == 0] = 0.0
    best = np.argmax(frac, axis=0)
    peak = frac[best, np.arange(n_bins)]
    events, open_ = [], {}
    for j in np.flatnonzero(peak >= min_fraction - 1e-12):
        m = int(best[j])
        start, end = j * bin, (j + 1) * bin
        ev = open_.get(m)
        if ev is not None and start - ev["t_end"] < min_gap - 1e-12:
            ev["t_end"] = end
            ev["fraction"] = max(ev["fraction"], float(peak[j]))
        else:
            ev = {"memory": m, "t": float(start), "t_end": float(end), "fraction": float(peak[j])}
            open_[m] = ev
            events.append(ev)
    return events


def replay_summary(events, n_memories: int, duration: float) -> dict:
    """Count replay events.

    Parameters
    ----------
    events : list of dict
        From :func:`detect_replay`.
    n_memories : int
    duration : float
        Length of the recording (s).

    Returns
    -------
    dict
        ``counts`` (list of int, per memory), ``total`` (int), ``rate``
        (events per second, all memories) and ``rate_per_memory`` (list).
    """
    counts = np.zeros(n_memories, dtype=int)
    for ev in events:
        counts[ev["memory"]] += 1
    d = float(duration) if duration > 0 else float("inf")
    return {
        "counts": [int(c) for c in counts],
        "total": int(counts.sum()),
        "rate": float(counts.sum() / d),
        "rate_per_memory": [float(c / d) for c in counts],
    }


def replay_composition(events, source, assemblies, target=None, patterns=None, tail: float = 0.01) -> dict:
    """What fires during replay events: the replayed assembly, the others, and their target cells.

    For each event of :func:`detect_replay`, the spikes of the replaying
    population in ``[t, t_end)`` are split into those of the replayed memory's
    assembly, of other memories' assemblies and of neurons in no assembly.
    With ``target`` and ``patterns`` (e.g. the cortical population and the
    stored patterns), the reinstatement in the target is scored too: the
    target neurons that spike in ``[t, t_end + tail)`` are *active*; of those,
    the fraction in the replayed memory's pattern is the event's *purity*, and
    the fraction of the pattern that is active its *coverage*.

    Parameters
    ----------
    events : list of dict
        From :func:`detect_replay` (``memory``, ``t``, ``t_end``).
    source : neuromem.records.Spikes
        Spikes of the replaying population (the one ``assemblies`` index).
    assemblies : array_like of bool, shape (n_memories, N_source)
    target : neuromem.records.Spikes, optional
        Spikes of the population the replay reinstates.
    patterns : array_like of bool, shape (n_memories, N_target), optional
        Required with ``target``.
    tail : float, optional
        Seconds after an event's end still counted in the target (its
        transmission delay and integration), 10 ms by default.

    Returns
    -------
    dict
        ``events`` (int) and, as means over events (``None`` without
        events): ``own_spikes``, ``other_spikes``, ``unassigned_spikes``
        (source spikes per event in the replayed assembly, in other
        assemblies, in none), ``other_cells`` (other assemblies' neurons
        active per event, not counting those also in the replayed one),
        ``duration`` (s); with ``target``: ``purity``, ``coverage`` and
        ``active`` (target neurons active per event; events where none is
        active are left out of ``purity``).
    """
    asm = np.atleast_2d(np.asarray(assemblies, dtype=bool))
    in_any = asm.any(0)
    keys = ("own_spikes", "other_spikes", "unassigned_spikes", "other_cells", "duration")
    if target is not None:
        if patterns is None:
            raise ValueError("replay_composition: target spikes given without patterns")
        pats = np.atleast_2d(np.asarray(patterns, dtype=bool))
        keys += ("purity", "coverage", "active")
    rows = {key: [] for key in keys}
    for ev in events:
        c = source.counts(ev["t"], ev["t_end"])
        own = asm[ev["memory"]]
        other = in_any & ~own
        rows["own_spikes"].append(c[own].sum())
        rows["other_spikes"].append(c[other].sum())
        rows["unassigned_spikes"].append(c[~in_any].sum())
        rows["other_cells"].append(((c > 0) & other).sum())
        rows["duration"].append(ev["t_end"] - ev["t"])
        if target is not None:
            act = target.counts(ev["t"], ev["t_end"] + tail) > 0
            pat = pats[ev["memory"]]
            hit = (act & pat).sum()
            if act.any():
                rows["purity"].append(hit / act.sum())
            rows["coverage"].append(hit / pat.sum() if pat.any() else np.nan)
            rows["active"].append(act.sum())
    out = {"events": len(events)}
    for key, vals in rows.items():
        out[key] = float(np.nanmean(vals)) if len(vals) and not np.all(np.isnan(vals)) else None
    return out
