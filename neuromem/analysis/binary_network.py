"""The capacity of an ideal binary associative network of a given size, connectivity and code.

A reference for the capacity experiment (``simulations/capacity.py``): what a
network with the cortex's size ``n``, connection probability ``p``, coding
level ``f`` and cue fraction could store *at best* with binary weights, so
that a spiking model's capacity K* can be read against the ceiling of its own
architecture rather than only against formulas for other settings (Hopfield's
dense ±1 patterns, Tsodyks & Feigel'man's covariance rule, Willshaw's full
connectivity and complete cues).

The network is the clipped Hebbian (Willshaw) one on a random partial
connectivity: ``K`` random patterns of ``k = round(f n)`` active cells; a
directed connection ``i → j`` exists with probability ``p`` (no self
connections) and its weight is

.. math::

    W_{ij} = c_{ij}\\,\\Theta\\Big(\\sum_{\\mu=1}^{K} \\xi^\\mu_i \\xi^\\mu_j\\Big) \\in \\{0, 1\\},

1 when the two cells were active together in at least one pattern.  Recall of
pattern μ starts from a cue of ``round(cue k)`` of its cells, held active; at
each of ``iterations`` steps every other cell's dendritic sum
:math:`h_j = \\sum_i W_{ij} x_i` is computed and the ``k − cued`` cells with the
largest sums are active (k-winners-take-all: an inhibition that knows the
pattern size, the ideal adaptive threshold).  Scores are those of
:func:`neuromem.analysis.recall.recall_overlap` on binary output: Pearson
correlation between output and pattern over the uncued cells, hit and
false-alarm rates.

Pure numpy; O(n²) memory (a dense boolean matrix: for the cortex-sized
networks of the experiment, n ≈ 10³).
"""

from __future__ import annotations

import numpy as np

from neuromem.analysis.recall import recall_overlap

__all__ = ["binary_network_recall", "binary_network_capacity", "weights_recall"]


def binary_network_recall(n: int, coding_level: float, p: float, n_memories: int, cue_fraction: float = 0.3,
                          seed: int = 0, iterations: int = 3) -> dict:
    """Mean recall of every stored pattern in one random clipped-Hebbian network.

    Parameters
    ----------
    n : int
        Number of cells.
    coding_level : float
        Fraction ``f`` of cells active in a pattern (``k = round(f n)``).
    p : float
        Connection probability (connections per cell ``C = p (n − 1)``).
    n_memories : int
        Number of stored patterns ``K``.
    cue_fraction : float, optional
        Fraction of a pattern's cells given as the cue.
    seed : int, optional
        Seed of the patterns, connections and cues (``numpy.random.default_rng``).
    iterations : int, optional
        k-winners-take-all steps after the cue.

    Returns
    -------
    dict
        ``overlap``, ``hit_rate``, ``false_alarm_rate`` (means over the
        patterns) and ``weight_fraction`` (fraction of existing connections
        with weight 1).
    """
    if not 0 < coding_level < 1 or not 0 < p <= 1 or not 0 < cue_fraction <= 1:
        raise ValueError("coding_level and cue_fraction must be in (0, 1], p in (0, 1]")
    rng = np.random.default_rng(seed)
    k = int(round(coding_level * n))
    n_cue = int(round(cue_fraction * k))
    if not 0 < n_cue < k:
        raise ValueError(f"the cue must hold between 1 and k - 1 cells (k = {k}, cue = {n_cue})")
    patterns = np.zeros((n_memories, n), bool)
    for m in range(n_memories):
        patterns[m, rng.choice(n, k, replace=False)] = True
    conn = rng.random((n, n)) < p
    np.fill_diagonal(conn, False)
    co = patterns.T.astype(np.float32) @ patterns.astype(np.float32)
    w = (co > 0) & conn                                  # w[i, j]: i -> j
    got = _kwta_recall(w, patterns, n_cue, rng, iterations)
    return {"overlap": float(got[:, 0].mean()), "hit_rate": float(got[:, 1].mean()),
            "false_alarm_rate": float(got[:, 2].mean()), "weight_fraction": float(w.sum() / max(conn.sum(), 1))}


def weights_recall(w, patterns, cue_fraction: float = 0.3, seed: int = 0, iterations: int = 3) -> dict:
    """Recall of every pattern by k-winners-take-all on a given weight matrix (e.g. a spiking run's).

    The recall of :func:`binary_network_recall` (a cue of ``round(cue k)``
    cells held active, ``iterations`` steps in which the ``k − cued`` other
    cells with the largest summed input win) on real weights instead of
    clipped-Hebbian ones: a reading of what a weight matrix stores that does
    not depend on the spiking network's gains, for comparing weight matrices
    of the same network (e.g. the same sleep learned by two rules,
    :func:`neuromem.analysis.relearn`).

    Parameters
    ----------
    w : ndarray, shape (n, n)
        ``w[i, j]``: weight of the synapse ``i → j`` (0 where there is none).
    patterns : ndarray of bool, shape (K, n)
    cue_fraction : float, optional
    seed : int, optional
        Seed of the cues.
    iterations : int, optional

    Returns
    -------
    dict
        ``overlap``, ``hit_rate``, ``false_alarm_rate`` (means over the
        patterns) and ``per_memory`` (each pattern's overlap).
    """
    patterns = np.asarray(patterns, dtype=bool)
    k = patterns.sum(1)
    n_cue = np.rint(cue_fraction * k).astype(int)
    if (n_cue < 1).any() or (n_cue >= k).any():
        raise ValueError(f"the cue must hold between 1 and k - 1 cells of every pattern (cue_fraction {cue_fraction})")
    got = _kwta_recall(np.asarray(w, dtype=float), patterns, n_cue, np.random.default_rng(seed), iterations)
    return {"overlap": float(got[:, 0].mean()), "hit_rate": float(got[:, 1].mean()),
            "false_alarm_rate": float(got[:, 2].mean()), "per_memory": got[:, 0].tolist()}


def _kwta_recall(w, patterns, n_cue, rng, iterations) -> np.ndarray:
    """Overlap, hit and false-alarm rate of each pattern recalled by k-WTA from a random cue (rows)."""
    n = patterns.shape[1]
    n_cue = np.broadcast_to(n_cue, len(patterns))
    scores = np.zeros((len(patterns), 3))
    for m in range(len(patterns)):
        members = np.flatnonzero(patterns[m])
        k, c = len(members), int(n_cue[m])
        cued = np.zeros(n, bool)
        cued[rng.choice(members, c, replace=False)] = True
        x = cued.copy()
        for _ in range(iterations):
            h = w[x].sum(0).astype(float)
            h[cued] = -1.0                               # the cue stays; the others compete (weights >= 0)
            x = cued.copy()
            x[np.argsort(-h, kind="stable")[: k - c]] = True
        # binary output as one spike per active cell, scored by neuromem's own recall score
        got = recall_overlap(x.astype(float), patterns[m], cued, duration=1.0, min_rate=1.0)
        scores[m] = got["overlap"], got["hit_rate"], got["false_alarm_rate"]
    return scores


def binary_network_capacity(n: int, coding_level: float, p: float, ks, seeds=(1, 2, 3), cue_fraction: float = 0.3,
                            min_overlap: float = 0.8, max_false_alarm: float = 0.05, iterations: int = 3) -> dict:
    """K* of the ideal binary network: the largest K on a grid meeting the recall criterion.

    Each K is scored on the mean over ``seeds`` of :func:`binary_network_recall`;
    the grid is walked upwards and stops after the first K that fails (recall
    falls with K).

    Parameters
    ----------
    n, coding_level, p, cue_fraction, iterations
        As :func:`binary_network_recall`.
    ks : iterable of int
        Memory counts, increasing.
    seeds : iterable of int, optional
        One network per seed and K.
    min_overlap, max_false_alarm : float, optional
        The criterion (the capacity experiment's: overlap ≥ 0.8, false alarms ≤ 0.05).

    Returns
    -------
    dict
        ``k_star`` (int, or None when the smallest K fails) and ``table``
        (K → mean ``overlap``, ``hit_rate``, ``false_alarm_rate``).
    """
    table, k_star = {}, None
    for k in ks:
        runs = [binary_network_recall(n, coding_level, p, int(k), cue_fraction, seed=s, iterations=iterations)
                for s in seeds]
        table[int(k)] = {key: float(np.mean([r[key] for r in runs]))
                         for key in ("overlap", "hit_rate", "false_alarm_rate")}
        if table[int(k)]["overlap"] >= min_overlap and table[int(k)]["false_alarm_rate"] <= max_false_alarm:
            k_star = int(k)
        else:
            break
    return {"k_star": k_star, "table": table}
