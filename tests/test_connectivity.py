"""Connectivity drawing (neuromem/connectivity.py): distributions, invariants, determinism, memory.

Statistics are checked against the exact distributions (binomial degrees,
uniform subsets) with tolerances of several standard errors for the fixed
seeds used; memory against the bytes of the synapse arrays (tracemalloc).
No timings.
"""

from itertools import combinations
from pathlib import Path
import tracemalloc

import numpy as np
import pytest

from neuromem.connectivity import connect, draw_projection
from neuromem.spec import Connector
from neuromem.spec.loader import load_model

TINY = Path(__file__).parent / "data" / "tiny.toml"


def _fp(p, allow_self=False):
    return Connector(kind="fixed_probability", p=p, allow_self=allow_self)


def _fi(k, allow_self=False):
    return Connector(kind="fixed_indegree", indegree=k, allow_self=allow_self)


def _check_invariants(i, j, n_src, n_tgt, no_self):
    assert i.dtype == np.int32 and j.dtype == np.int32 and i.shape == j.shape
    if i.size:
        assert 0 <= i.min() and i.max() < n_src and 0 <= j.min() and j.max() < n_tgt
    key = i.astype(np.int64) * n_tgt + j
    assert (np.diff(key) > 0).all(), "not strictly sorted by (i, j): out of order or duplicated"
    if no_self:
        assert not (i == j).any()


def _check_binomial(counts, n, p, z=5.0):
    """Mean and variance of ``counts`` against Binomial(n, p), within ``z`` standard errors."""
    k = counts.size
    mean, var = n * p, n * p * (1 - p)
    assert abs(counts.mean() - mean) < z * np.sqrt(var / k)
    # standard error of the sample variance of a binomial: sqrt((mu4 - var^2 (k-3)/(k-1)) / k)
    mu4 = var * (1 + 3 * (n - 2) * p * (1 - p))
    assert abs(counts.var(ddof=1) - var) < z * np.sqrt((mu4 - var**2 * (k - 3) / (k - 1)) / k)


# --- fixed_probability --------------------------------------------------------------------------

@pytest.mark.parametrize("n_src,n_tgt,p,same,allow_self", [
    (3000, 3000, 0.02, True, False),     # recurrent, no self
    (3000, 3000, 0.3, True, True),       # recurrent with self, dense
    (2000, 5000, 0.01, False, False),    # feed-forward, rectangular
])
def test_fixed_probability_degrees_are_binomial(n_src, n_tgt, p, same, allow_self):
    no_self = same and not allow_self
    i, j = connect(_fp(p, allow_self), n_src, n_tgt, same, np.random.default_rng(3))
    _check_invariants(i, j, n_src, n_tgt, no_self)
    _check_binomial(np.bincount(i, minlength=n_src), n_tgt - no_self, p)
    _check_binomial(np.bincount(j, minlength=n_tgt), n_src - no_self, p)
    if same and allow_self:
        n_self = int((i == j).sum())
        assert abs(n_self - n_src * p) < 5 * np.sqrt(n_src * p * (1 - p))


@pytest.mark.parametrize("no_self", [False, True])
def test_fixed_probability_every_pair_has_probability_p(no_self):
    """Over many draws on a small grid each pair (first and last included) is chosen with frequency p,
    and pairs are independent (the number per draw is binomial over all candidate pairs)."""
    n, p, reps = 5, 0.3, 4000
    rng = np.random.default_rng(11)
    freq, totals = np.zeros((n, n)), []
    for _ in range(reps):
        i, j = connect(_fp(p), n, n, no_self, rng)
        np.add.at(freq, (i, j), 1)
        totals.append(i.size)
    pairs = n * n - (n if no_self else 0)
    cand = ~np.eye(n, dtype=bool) if no_self else np.ones((n, n), bool)
    assert (freq[~cand] == 0).all()
    se = np.sqrt(p * (1 - p) / reps)
    assert np.abs(freq[cand] / reps - p).max() < 4.5 * se
    _check_binomial(np.asarray(totals), pairs, p)


def test_fixed_probability_extremes():
    rng = np.random.default_rng(0)
    i, j = connect(_fp(0.0), 50, 60, False, rng)
    assert i.size == 0 and i.dtype == np.int32
    i, j = connect(_fp(1.0), 7, 7, True, rng)
    _check_invariants(i, j, 7, 7, True)
    assert i.size == 42
    i, j = connect(_fp(1.0, allow_self=True), 7, 7, True, rng)
    assert i.size == 49


# --- fixed_indegree ------------------------------------------------------------------------------

@pytest.mark.parametrize("n,k,same", [
    (4000, 40, True),       # sparse: draw and redraw repeats
    (300, 250, True),       # dense: the left-out sources are drawn instead
    (1000, 1000, False),    # every source
])
def test_fixed_indegree_exact_indegree_binomial_outdegree(n, k, same):
    n_tgt = 2 * n if not same else n
    i, j = connect(_fi(k), n, n_tgt, same, np.random.default_rng(5))
    _check_invariants(i, j, n, n_tgt, same)
    assert (np.bincount(j, minlength=n_tgt) == k).all()
    m = n - 1 if same else n
    if k < m:   # out-degree: each target picks a source with probability k/m, independently across targets
        _check_binomial(np.bincount(i, minlength=n), n_tgt - same, k / m)


@pytest.mark.parametrize("n,k", [(6, 2), (6, 4)])
def test_fixed_indegree_each_subset_equally_likely(n, k):
    """Both ways of drawing (repeats redrawn; left-out sources drawn) give uniform k-subsets."""
    reps = 3000
    rng = np.random.default_rng(21)
    counts = {}
    for _ in range(reps):
        i, j = connect(_fi(k), n, n, True, rng)
        for t in range(n):
            s = tuple(i[j == t])
            counts[(t, s)] = counts.get((t, s), 0) + 1
    subsets = [c for c in combinations(range(n - 1), k)]
    for t in range(n):
        expected = reps / len(subsets)
        seen = [counts.get((t, tuple(x + (x >= t) for x in c)), 0) for c in subsets]
        assert sum(seen) == reps                                   # no subset containing t itself
        assert max(abs(s - expected) for s in seen) < 5 * np.sqrt(expected)


def test_indegree_above_candidates_refused():
    with pytest.raises(ValueError, match="6 distinct values out of 5"):
        connect(_fi(6), 6, 6, True, np.random.default_rng(0))


def test_same_population_needs_equal_sizes():
    with pytest.raises(ValueError, match="sizes 5 and 6"):
        connect(_fp(0.5), 5, 6, True, np.random.default_rng(0))


# --- enumerated kinds ---------------------------------------------------------------------------

def test_all_to_all_and_one_to_one():
    rng = np.random.default_rng(0)
    i, j = connect(Connector(kind="all_to_all"), 4, 4, True, rng)
    _check_invariants(i, j, 4, 4, True)
    assert list(zip(i.tolist(), j.tolist())) == [(a, b) for a in range(4) for b in range(4) if a != b]
    i, j = connect(Connector(kind="all_to_all", allow_self=True), 3, 3, True, rng)
    assert i.size == 9
    i, j = connect(Connector(kind="all_to_all"), 2, 3, False, rng)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    i, j = connect(Connector(kind="one_to_one"), 5, 5, False, rng)
    _check_invariants(i, j, 5, 5, False)
    assert i.tolist() == j.tolist() == list(range(5))


# --- determinism ---------------------------------------------------------------------------------

@pytest.mark.parametrize("connector", ['{kind = "fixed_probability", p = 0.1}',
                                       '{kind = "fixed_indegree", indegree = 5}'])
def test_draw_projection_is_a_function_of_the_seed(connector):
    model = load_model(TINY, overrides=[f"projections.ctx_ee.connector={connector}",
                                        "projections.ctx_ee.weight={kind = \"uniform\", low = \"0 mV\", high = \"1 mV\"}"])
    a, b, c = (draw_projection(model, "ctx_ee", s) for s in (4, 4, 5))
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not (a[0].size == c[0].size and np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))
    assert a[2].size == a[0].size


# --- memory: proportional to the synapses, never to n_src * n_tgt --------------------------------

def _peak_ratio(connector, n):
    tracemalloc.start()
    try:
        i, j = connect(connector, n, n, True, np.random.default_rng(7))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return i, j, peak / (i.nbytes + j.nbytes)


def test_large_fixed_probability_draws_in_memory_proportional_to_synapses():
    n, p = 100_000, 0.001            # 10^10 candidate pairs, about 10^7 synapses
    i, j, ratio = _peak_ratio(_fp(p), n)
    expected = n * (n - 1) * p
    assert abs(i.size - expected) < 5 * np.sqrt(expected)
    assert ratio < 2.0               # measured 1.13 (the arrays themselves plus one vectorised step)
    _check_invariants(i[:200_000], j[:200_000], n, n, True)


def test_large_fixed_indegree_draws_in_memory_proportional_to_synapses():
    n, k = 100_000, 100
    i, j, ratio = _peak_ratio(_fi(k), n)
    assert i.size == n * k
    assert ratio < 3.0               # measured 2.10 (per-target table and int64 sort keys)


def test_estimate_of_drawing_memory_is_proportional_to_synapses_and_not_below_the_measured_peak():
    from neuromem.spec.resources import estimate_resources

    def est(n, k):
        model = load_model(TINY, overrides=[f"populations.ctx_e.size={n}", f"sources.ctx_in.size={n}",
                                            f"projections.ctx_ee.connector={{kind = \"fixed_probability\", p = {k / n}}}"])
        return model, estimate_resources(model)

    (m1, e1), (_, e4) = est(20_000, 50), est(80_000, 50)
    assert e4["synapses"] == pytest.approx(4 * e1["synapses"], rel=1e-3)
    per_syn = (e4["draw_bytes"] - e1["draw_bytes"]) / (e4["synapses"] - e1["synapses"])
    fixed = e1["draw_bytes"] - per_syn * e1["synapses"]
    assert 8 <= per_syn <= 40 and 0 <= fixed <= 32 * 2**20      # bytes per synapse, plus a bounded scratch
    tracemalloc.start()
    try:
        draw_projection(m1, "ctx_ee", 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= e1["draw_bytes"]
