"""The metrics of a whole run, as stored in ``results.json``."""

from __future__ import annotations

import numpy as np

from neuromem.analysis.activity import detect_replay, find_assemblies, population_rates, replay_summary
from neuromem.analysis.memories import encoding_phases, memory_ages
from neuromem.analysis.recall import recall_phase_metrics
from neuromem.spec.protocol import RECALL_WINDOW_SKIP

__all__ = ["compute_metrics", "replay_analysis", "RESERVED_KEYS"]

RESERVED_KEYS = ("recall", "rate_exc_hz", "rate_hz", "replay")
"""Top-level metric keys; a recall phase with one of these names is stored
flat as ``<name>_overlap`` instead."""


def replay_analysis(run, min_rate: float = 10.0, selectivity: float = 2.0, by_sleep: bool = False,
                    **detect) -> tuple:
    """Assemblies of the replay population and replay events of sleep phases.

    Each memory's assembly is found (:func:`find_assemblies`) in the phase of
    kind ``"encode"`` that presented it, so protocols that encode their
    memories over several rounds are covered.  A sleep phase is scored against
    the assemblies of the encode phases on its own lineage
    (:meth:`neuromem.spec.Protocol.lineage`): a memory's row comes from the
    latest such phase that presented it (the assembly the network carries
    into that sleep).  In every encode phase a neuron's selectivity is judged
    against the other memories presented in that phase.

    Parameters
    ----------
    run : neuromem.records.Run
    min_rate, selectivity : float, optional
        Passed to :func:`find_assemblies`.
    by_sleep : bool, optional
        Also return, per sleep phase, the assemblies it was scored against.
    **detect
        Passed to :func:`detect_replay` (``bin``, ``min_fraction``, ``min_gap``).

    Returns
    -------
    assemblies : ndarray of bool, shape (n_memories, N), or None
        Over all encode phases of the run (latest presentation wins); ``None``
        when the protocol has no replay population or no encode phase.
    sources : list of (str or None)
        Per memory, the encode phase its row of ``assemblies`` comes from
        (``None``: never presented); ``None`` instead of a list when
        ``assemblies`` is ``None``.
    events : dict of str to list of dict
        Replay events per phase of kind ``"sleep"`` (empty without assemblies).
    scored : dict of str to (ndarray, list)
        Only with ``by_sleep``: per sleep phase, the ``(assemblies, sources)`` of its own lineage
        that its events were detected with (a memory not yet encoded there has an empty row and
        source ``None``).
    """
    proto = run.model.protocol
    pop = proto.replay_population
    encodes = [p for p in run.phases if p.kind == "encode" and pop is not None and pop in p.spikes]
    if pop is None or not encodes:
        return (None, None, {}, {}) if by_sleep else (None, None, {})
    per_phase = {}
    for enc in encodes:
        asm = find_assemblies(enc, pop, proto.n_memories, min_rate=min_rate, selectivity=selectivity)
        per_phase[enc.name] = (asm, {it.memory for it in enc.items})

    def combine(names):
        asm = np.zeros((proto.n_memories, encodes[0].spikes[pop].n), dtype=bool)
        src = [None] * proto.n_memories
        for name in names:
            if name not in per_phase:
                continue
            rows, presented = per_phase[name]
            for m in presented:
                asm[m] = rows[m]
                src[m] = name
        return asm, src

    assemblies, sources = combine([p.name for p in run.phases])
    events, scored = {}, {}
    for ph in run.phases:
        if ph.kind == "sleep" and pop in ph.spikes:
            scored[ph.name] = asm, _ = combine(proto.lineage(ph.name)[:-1])
            events[ph.name] = detect_replay(ph.spikes[pop], asm, duration=ph.duration, **detect)
    return (assemblies, sources, events, scored) if by_sleep else (assemblies, sources, events)


def compute_metrics(run, recall_window=(RECALL_WINDOW_SKIP, None), min_rate: float = 5.0) -> dict:
    """All metrics of a run, JSON-serialisable.

    Parameters
    ----------
    run : neuromem.records.Run
    recall_window : (float, float or None), optional
        Passed to :func:`recall_phase_metrics`.
    min_rate : float, optional
        Activity threshold (Hz) for hit and false-alarm rates.

    Returns
    -------
    dict
        ``recall``
            ``{phase: recall_phase_metrics(...)}`` for phases of kind ``"recall"``.
        ``<phase name>``
            That recall phase's mean overlap, flat (``None`` when it had no
            items); ``<phase name>_overlap`` if the name is one of
            :data:`RESERVED_KEYS`.
        ``rate_exc_hz``
            ``{population: {phase: Hz}}`` for the excitatory populations.
        ``rate_hz``
            The same for all neuron populations.
        ``replay``
            ``{phase: replay_summary(...)}`` for phases of kind ``"sleep"``
            (empty without a replay population or an encode phase); each
            summary also has ``assembly_sizes`` and ``assembly_phase`` (per
            memory: the assembly that sleep was scored against, from the
            latest encode phase on the sleep's own lineage that presented
            the memory; size 0 and ``None`` if none did; see
            :func:`replay_analysis`).

        Each recall phase's entry also has, per item, ``encoded_in`` (the
        encode phase that first presented the memory on the recall phase's
        lineage) and ``age`` (sleep phases since then), from
        :mod:`neuromem.analysis.memories`; ``None`` for a memory not encoded
        on that lineage.
    """
    model = run.model
    names = {p.name for p in model.protocol.phases}
    out = {"recall": {}}
    for ph in run.phases:
        if ph.kind == "recall":
            m = recall_phase_metrics(ph, run, window=recall_window, min_rate=min_rate)
            if ph.name in names:
                enc = encoding_phases(model.protocol, ph.name)
                ages = memory_ages(model.protocol, ph.name)
                m["encoded_in"] = [enc[k] for k in m["memory"]]
                m["age"] = [ages[k] for k in m["memory"]]
            out["recall"][ph.name] = m
    rates = population_rates(run)
    out["rate_exc_hz"] = {p: r for p, r in rates.items() if model.populations[p].kind == "excitatory"}
    out["rate_hz"] = rates
    _, _, events, scored = replay_analysis(run, by_sleep=True)
    out["replay"] = {}
    for name, evs in events.items():
        s = replay_summary(evs, model.protocol.n_memories, run.phase(name).duration)
        asm, source = scored[name]
        s["assembly_sizes"] = [int(x) for x in asm.sum(1)]
        s["assembly_phase"] = list(source)
        out["replay"][name] = s
    for name, m in out["recall"].items():
        key = f"{name}_overlap" if name in RESERVED_KEYS else name
        out[key] = m["mean_overlap"]
    return _plain(out)


def _plain(x):
    """Convert numpy scalars/arrays to Python types, recursively."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x
