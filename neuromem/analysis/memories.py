"""Which phase encoded each memory, and how many sleeps it has been through.

Experiments of several rounds (encode set 1, sleep, encode set 2, ...) score
memories by *age*: the number of sleep phases the network went through between
a memory's encoding and the test.  Both follow the protocol's branching rule
(:meth:`neuromem.spec.Protocol.lineage`), so a test phase on a branch (e.g. an
arm whose sleeps had replay blocked) counts the sleeps of its own branch.
Pure protocol logic: works on a :class:`~neuromem.spec.Protocol` alone.
:func:`assembly_size_effect` groups a run's per-memory recall by the size of
each memory's hippocampal assembly instead (what limits capacity,
``simulations/capacity.py``).
"""

from __future__ import annotations

import numpy as np

from neuromem.analysis.recall import pearson

__all__ = ["presented_memories", "encoding_phases", "memory_ages", "group_items", "assembly_size_effect"]


def presented_memories(phase, n_memories: int) -> tuple[int, ...]:
    """Memories presented by a spec phase's ``patterns`` stimuli (in order, unique)."""
    out: list[int] = []
    for st in phase.stimuli:
        if st.kind == "patterns":
            for m in (st.memories or range(n_memories)):
                if int(m) not in out:
                    out.append(int(m))
    return tuple(out)


def encoding_phases(protocol, at_phase: str, kind: str = "encode") -> dict:
    """The phase that encoded each memory, as seen from phase ``at_phase``.

    Parameters
    ----------
    protocol : neuromem.spec.Protocol
    at_phase : str
        The phase whose history is followed (its lineage, itself excluded).
    kind : str, optional
        Phase kind that counts as encoding.

    Returns
    -------
    dict of int to str or None
        For every memory, the first phase of kind ``kind`` in the lineage of
        ``at_phase`` that presented it; ``None`` when no such phase did.
    """
    out = {m: None for m in range(protocol.n_memories)}
    for name in protocol.lineage(at_phase)[:-1]:
        ph = protocol.phase(name)
        if ph.kind != kind:
            continue
        for m in presented_memories(ph, protocol.n_memories):
            if out[m] is None:
                out[m] = name
    return out


def memory_ages(protocol, at_phase: str, sleep_kind: str = "sleep", encode_kind: str = "encode") -> dict:
    """Number of sleep phases between each memory's encoding and ``at_phase``.

    Parameters
    ----------
    protocol : neuromem.spec.Protocol
    at_phase : str
        Usually a recall phase.
    sleep_kind, encode_kind : str, optional

    Returns
    -------
    dict of int to int or None
        Age of every memory (``None`` for a memory never encoded on the
        lineage of ``at_phase``).
    """
    lineage = protocol.lineage(at_phase)[:-1]
    enc = encoding_phases(protocol, at_phase, kind=encode_kind)
    out = {}
    for m, name in enc.items():
        if name is None:
            out[m] = None
            continue
        after = lineage[lineage.index(name) + 1:]
        out[m] = sum(protocol.phase(n).kind == sleep_kind for n in after)
    return out


def group_items(values, memories, groups: dict) -> dict:
    """Mean of per-item values grouped by a per-memory label.

    Parameters
    ----------
    values : sequence of float
        One value per recall item (e.g. ``recall[phase]["overlap"]``).
    memories : sequence of int
        The memory of each item.
    groups : dict of int to hashable
        Label of each memory (e.g. from :func:`memory_ages`); items whose
        label is ``None`` are left out.

    Returns
    -------
    dict
        ``{label: {"mean": float, "values": [float, ...], "memories": [int, ...]}}``,
        labels in sorted order.
    """
    acc: dict = {}
    for v, m in zip(values, memories):
        label = groups.get(int(m))
        if label is None:
            continue
        g = acc.setdefault(label, {"values": [], "memories": []})
        g["values"].append(float(v))
        g["memories"].append(int(m))
    return {k: {"mean": float(np.mean(g["values"])), **g} for k, g in sorted(acc.items(), key=lambda kv: kv[0])}


def assembly_size_effect(metrics: dict, recall_phase: str, sleep_phase: str = "sleep") -> dict | None:
    """How a run's recall depends on the size of each memory's hippocampal assembly.

    Per memory, the size of its CA3 assembly (the replay analysis's
    ``metrics["replay"][sleep_phase]["assembly_sizes"]``) against its mean
    recall overlap in ``recall_phase``.  The memories are ranked by size; the
    quarter with the smallest and the quarter with the largest assemblies
    (``max(1, K // 4)`` memories each) are compared.

    Parameters
    ----------
    metrics : dict
        :func:`neuromem.analysis.compute_metrics` of a run (or its
        ``results.json`` ``"metrics"``).
    recall_phase : str
        A recall phase of the run (e.g. a cortex-alone recall after sleep).
    sleep_phase : str, optional
        The phase whose replay analysis gives the assembly sizes.

    Returns
    -------
    dict or None
        ``{"r": Pearson r of size and recall, "smallest_quarter": {"cells", "recall"},
        "largest_quarter": {"cells", "recall"}}`` (means over the quarter's
        memories); ``None`` when the run has no assembly sizes for
        ``sleep_phase`` or no recall items in ``recall_phase``.
    """
    sizes = (metrics.get("replay") or {}).get(sleep_phase, {}).get("assembly_sizes")
    rec = (metrics.get("recall") or {}).get(recall_phase)
    if not sizes or not rec or not rec.get("memory"):
        return None
    per = group_items(rec["overlap"], rec["memory"], {m: m for m in range(len(sizes))})
    mems = np.array(sorted(per))
    size = np.array([sizes[m] for m in mems], dtype=float)
    recall = np.array([per[m]["mean"] for m in mems])
    order = np.argsort(size, kind="stable")
    q = max(1, len(mems) // 4)

    def quarter(idx):
        return {"cells": float(size[idx].mean()), "recall": float(recall[idx].mean())}

    return {"r": pearson(size, recall), "smallest_quarter": quarter(order[:q]), "largest_quarter": quarter(order[-q:])}
