"""Memories, cues and input spike trains, generated once per run with numpy.

Every backend receives the very same spikes: the Brian2 backend feeds them to
``SpikeGeneratorGroup`` objects, the Lava exporter to ``RingBuffer`` processes.
Random streams are derived from the run seed with :class:`numpy.random.SeedSequence`,
one independent stream per purpose, so changing e.g. the sleep duration does
not change the stored patterns.
"""

from __future__ import annotations

import zlib

import numpy as np

from neuromem.records import Item

__all__ = ["rng_for", "make_patterns", "apply_overlaps", "protocol_patterns", "make_cues", "phase_inputs",
           "initial_potentials"]


def rng_for(seed: int, purpose: str) -> np.random.Generator:
    """Independent generator for one purpose (``"patterns"``, ``"phase:sleep"``, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(purpose.encode())]))


def initial_potentials(pop, seed: int) -> np.ndarray:
    """Membrane potentials (V) of population ``pop`` at the start of a run.

    ``v_rest`` for every neuron without a ``v_init``; otherwise drawn as
    :class:`neuromem.spec.neurons.VInit` says from the stream
    ``"v_init:<population>"`` of the run seed, so every backend starts from
    the same values.
    """
    init = pop.v_init
    if init is None:
        return np.full(pop.size, float(pop.v_rest))
    if init.kind == "constant":
        return np.full(pop.size, float(init.value))
    rng = rng_for(seed, f"v_init:{pop.name}")
    if init.kind == "uniform":
        return rng.uniform(init.low, init.high, pop.size)
    if init.kind == "normal":
        return rng.normal(init.value, init.std, pop.size)
    raise ValueError(f"unknown v_init kind {init.kind!r}")  # pragma: no cover - the spec refuses it


def make_patterns(n_memories: int, n: int, coding_level: float, rng: np.random.Generator) -> np.ndarray:
    """Random sparse binary patterns with exactly ``round(coding_level * n)`` active neurons each.

    Returns
    -------
    ndarray of bool, shape (n_memories, n)
    """
    k = int(round(coding_level * n))
    pats = np.zeros((n_memories, n), dtype=bool)
    for m in range(n_memories):
        pats[m, rng.choice(n, size=k, replace=False)] = True
    return pats


def apply_overlaps(patterns: np.ndarray, overlaps, rng: np.random.Generator) -> np.ndarray:
    """Redraw the patterns of overlapped memories (:class:`neuromem.spec.PatternOverlap`).

    Memory ``m`` overlapping memory ``s`` by ``fraction`` keeps its number of
    active neurons ``k``: ``round(fraction * k)`` of them are drawn from
    ``s``'s active neurons, the others from the neurons outside ``s``'s pattern.

    Returns
    -------
    ndarray of bool
        A new array; ``patterns`` is not modified.
    """
    out = np.array(patterns, dtype=bool, copy=True)
    for ov in overlaps:
        for m, s in zip(ov.memories, ov.share):
            k = int(out[m].sum())
            n_shared = int(round(ov.fraction * k))
            inside, outside = np.flatnonzero(out[s]), np.flatnonzero(~out[s])
            new = np.zeros(out.shape[1], dtype=bool)
            new[rng.choice(inside, size=min(n_shared, inside.size), replace=False)] = True
            new[rng.choice(outside, size=k - min(n_shared, inside.size), replace=False)] = True
            out[m] = new
    return out


def protocol_patterns(protocol, n: int, seed: int) -> np.ndarray:
    """The stored patterns of a run: independent random patterns, then the protocol's overlaps.

    Without overlaps this is exactly ``make_patterns(..., rng_for(seed, "patterns"))``;
    overlaps draw from their own stream (``"overlaps"``), so declaring them
    leaves the other memories' patterns unchanged.
    """
    if protocol.n_memories == 0:      # a plain network simulation stores nothing
        return np.zeros((0, n), dtype=bool)
    pats = make_patterns(protocol.n_memories, n, protocol.coding_level, rng_for(seed, "patterns"))
    if protocol.overlaps:
        pats = apply_overlaps(pats, protocol.overlaps, rng_for(seed, "overlaps"))
    return pats


def make_cues(patterns: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """For each pattern, a random subset of ``round(fraction * k)`` of its active neurons."""
    cues = np.zeros_like(patterns)
    for m, pat in enumerate(patterns):
        idx = np.flatnonzero(pat)
        n_cue = max(1, int(round(fraction * idx.size)))
        cues[m, rng.choice(idx, size=n_cue, replace=False)] = True
    return cues


def _poisson(rates: np.ndarray, dt: float, rng: np.random.Generator):
    """Bernoulli spikes on the dt grid from a (T, n) rate array; returns (i, t)."""
    spk = rng.random(rates.shape) < rates * dt
    steps, idx = np.nonzero(spk)
    order = np.lexsort((idx, steps))
    return idx[order].astype(np.int32), steps[order] * dt


def phase_inputs(phase, model, patterns: np.ndarray, cues: dict, rng: np.random.Generator):
    """Spike trains of every spike source for one phase.

    Parameters
    ----------
    phase : neuromem.spec.Phase
    model : neuromem.spec.Model
    patterns : ndarray of bool (n_memories, n)
    cues : dict of float to ndarray of bool
        Cue masks per fraction (filled on demand by the caller, see :func:`make_cues`).
    rng : numpy.random.Generator

    Returns
    -------
    inputs : dict of str to (i, t)
        Spike indices and times (s, relative to the phase start, on the dt grid),
        for every source (empty arrays for sources without a stimulus).
    items : list of Item
        The memories presented by the phase's patterns stimulus.
    cue_fraction : float
    """
    dt = model.dt
    n_mem = model.protocol.n_memories
    duration = phase.length(n_mem)
    n_steps = int(round(duration / dt))
    t = np.arange(n_steps) * dt
    inputs, items, fraction = {}, [], 1.0
    for name, src in model.sources.items():
        inputs[name] = (np.zeros(0, np.int32), np.zeros(0))
    # chunk the rate matrix to bound memory on long phases
    chunk = max(1, int(2_000_000 // max((s.size for s in model.sources.values()), default=1)))
    for st in phase.stimuli:
        n = model.sources[st.source].size
        if st.kind == "patterns":
            mems = list(st.memories) if st.memories else list(range(n_mem))
            fraction = st.fraction
            drive = patterns if st.fraction >= 1.0 else cues[st.fraction]
            period = st.item + st.gap
            items = [Item(m, k * period, k * period + st.item) for k, m in enumerate(mems)]
        all_i, all_t = [inputs[st.source][0]], [inputs[st.source][1]]
        for s0 in range(0, n_steps, chunk):
            tt = t[s0:s0 + chunk]
            if st.kind == "patterns":
                rates = np.full((tt.size, n), st.background)
                k = np.minimum((tt // period).astype(int), len(mems) - 1)
                on = (tt - k * period) < st.item - 1e-12
                on &= tt < len(mems) * period
                for kk in np.unique(k[on]):
                    rows = on & (k == kk)
                    rates[np.ix_(rows, drive[mems[kk]])] = st.rate
            else:
                rate_t = np.full(tt.size, st.rate)
                if st.up > 0:
                    up = np.mod(tt, st.up + st.down) < st.up - 1e-12
                    rate_t = np.where(up, st.rate, st.rate_down)
                rates = np.broadcast_to(rate_t[:, None], (tt.size, n))
            i, ts = _poisson(rates, dt, rng)
            all_i.append(i)
            all_t.append(ts + s0 * dt)
        i, ts = np.concatenate(all_i), np.concatenate(all_t)
        order = np.lexsort((i, ts))
        i, ts = i[order], ts[order]
        # one spike per neuron and step (several stimuli on one source merge)
        key = np.round(ts / dt).astype(np.int64) * n + i
        _, keep = np.unique(key, return_index=True)
        inputs[st.source] = (i[keep], ts[keep])
    return inputs, items, fraction
