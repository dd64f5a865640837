"""Synapse lists and initial weights, drawn with numpy from the spec.

Connectivity is generated here, not by a simulator, so that every backend and
exporter builds exactly the same network from a seed.

Every connector draws in time and memory proportional to the number of
synapses it makes, never to ``n_src * n_tgt`` (a 100 000 x 100 000 projection
at p = 0.001 takes about 0.1 GiB, its ten million synapses, not the 10^10
pairs):

* ``fixed_probability`` walks the candidate pairs in (i, j) order and jumps
  from one synapse to the next by geometrically distributed gaps (the
  skipping method of Batagelj & Brandes 2005, *Efficient generation of large
  random networks*, Phys. Rev. E 71, 036113): every pair is a synapse
  independently with probability ``p``, so each out- and in-degree is
  binomial, and the synapses come out already sorted;
* ``fixed_indegree`` draws, for every target, ``indegree`` distinct sources
  (all targets at once: draw with replacement, redraw the repeats until none
  is left; above half the candidates it draws the ones left out instead);
* ``all_to_all`` and ``one_to_one`` enumerate their pairs.

Self-connections (source is target and ``allow_self`` false) are never
candidates: row ``i`` chooses among the ``n - 1`` other neurons.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["connect", "connector_kind", "CONNECT", "initial_weights", "draw_projection"]

_CHUNK = 1 << 18
"""Synapses drawn per vectorised step of the sparse connectors (bounds their scratch memory, ~10 MB)."""


CONNECT: dict = {}
"""Connector kind -> function ``(connector, n_src, n_tgt, no_self, rng) -> (i, j)``: how each kind
registered in :data:`neuromem.spec.registry.CONNECTORS` is drawn (:func:`connector_kind` registers one)."""


def connector_kind(kind: str):
    """Register the function that draws the synapses of connector ``kind`` (a decorator)."""
    def deco(fn):
        CONNECT[kind] = fn
        return fn
    return deco


def _index_dtype(n: int):
    return np.int32 if n <= np.iinfo(np.int32).max else np.int64


def _skip_self(row, col):
    """Map column ``col`` of a row's ``n - 1`` candidates (itself left out) to a neuron index, in place."""
    col += col >= row
    return col


@connector_kind("one_to_one")
def _one_to_one(connector, n_src, n_tgt, no_self, rng):
    i = np.arange(n_src, dtype=_index_dtype(n_src))
    return i, i.copy()


@connector_kind("all_to_all")
def _all_to_all(connector, n_src, n_tgt, no_self, rng):
    m = n_tgt - 1 if no_self else n_tgt
    i = np.repeat(np.arange(n_src, dtype=_index_dtype(n_src)), m)
    j = np.tile(np.arange(m, dtype=_index_dtype(n_tgt)), n_src)
    if no_self:
        _skip_self(i, j)
    return i, j


def _bernoulli_pairs(n_rows: int, m: int, p: float, no_self: bool, rng: np.random.Generator):
    """Every pair of an ``n_rows`` x ``m`` grid independently with probability ``p``, in (row, column) order.

    The gap from one chosen pair to the next, along the flattened grid, is
    geometric with parameter ``p``; gaps are drawn ``_CHUNK`` at a time into
    output arrays sized for the expected count (grown if a draw runs over).
    """
    total = n_rows * m
    idx = _index_dtype(max(n_rows, m + 1))
    if total == 0 or p <= 0.0:
        return np.zeros(0, idx), np.zeros(0, idx)
    if p >= 1.0:
        i = np.repeat(np.arange(n_rows, dtype=idx), m)
        j = np.tile(np.arange(m, dtype=idx), n_rows)
        return i, (_skip_self(i, j) if no_self else j)
    mean = total * p
    cap = int(mean + 8.0 * math.sqrt(mean) + 64)
    out_i, out_j = np.empty(cap, idx), np.empty(cap, idx)
    n, last = 0, -1                          # synapses so far; flat index of the last one
    while True:
        left = total - 1 - last              # candidate pairs after the last synapse
        want = min(_CHUNK, int(left * p + 6.0 * math.sqrt(left * p) + 16))
        pos = np.cumsum(rng.geometric(p, size=want))
        pos += last
        stop = int(np.searchsorted(pos, total))
        pos = pos[:stop]
        if n + stop > out_i.size:            # more than 8 standard deviations over the mean: grow
            grow = max(n + stop, int(out_i.size * 1.25))
            out_i, out_j = np.resize(out_i, grow), np.resize(out_j, grow)
        rows, cols = np.divmod(pos, m)
        if no_self:
            _skip_self(rows, cols)
        out_i[n:n + stop], out_j[n:n + stop] = rows, cols
        n += stop
        if stop < want:                      # the walk left the grid
            return out_i[:n], out_j[:n]
        last = int(pos[-1])


@connector_kind("fixed_probability")
def _fixed_probability(connector, n_src, n_tgt, no_self, rng):
    return _bernoulli_pairs(n_src, n_tgt - 1 if no_self else n_tgt, float(connector.p), no_self, rng)


def _distinct_per_row(n_rows: int, m: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct integers in ``[0, m)`` for each of ``n_rows`` rows, each row sorted.

    Each row is a uniformly random ``k``-subset: values are drawn with
    replacement and every repeat is redrawn (the procedure treats all values
    alike, so every subset is equally likely) until no row has one.  Above
    ``k = m / 2`` the ``m - k`` values left out are drawn this way instead,
    which keeps the expected redraws per value below 1.
    """
    idx = _index_dtype(m)
    if k > m:
        raise ValueError(f"cannot draw {k} distinct values out of {m}")
    if 2 * k > m:
        out = np.ones((n_rows, m), dtype=bool)
        if k < m:
            left_out = _distinct_per_row(n_rows, m, m - k, rng)
            np.put_along_axis(out, left_out, False, axis=1)
        return np.nonzero(out)[1].astype(idx, copy=False).reshape(n_rows, k)
    a = rng.integers(0, m, size=(n_rows, k), dtype=idx)
    a.sort(axis=1)
    rows = np.flatnonzero((a[:, 1:] == a[:, :-1]).any(axis=1))
    while rows.size:
        sub = a[rows]
        repeat = np.zeros(sub.shape, dtype=bool)
        repeat[:, 1:] = sub[:, 1:] == sub[:, :-1]
        sub[repeat] = rng.integers(0, m, size=int(repeat.sum()), dtype=idx)
        sub.sort(axis=1)
        a[rows] = sub
        rows = rows[(sub[:, 1:] == sub[:, :-1]).any(axis=1)]
    return a


@connector_kind("fixed_indegree")
def _fixed_indegree(connector, n_src, n_tgt, no_self, rng):
    k = int(connector.indegree)
    m = n_src - 1 if no_self else n_src
    pre = _distinct_per_row(n_tgt, m, k, rng)               # row j: the sources of target j
    if no_self:
        _skip_self(np.arange(n_tgt, dtype=pre.dtype)[:, None], pre)
    # sort by (i, j): one int64 key per synapse, sorted in place, split back chunk by chunk
    key = pre.reshape(-1).astype(np.int64)
    del pre
    key *= n_tgt
    key.reshape(n_tgt, k)[...] += np.arange(n_tgt, dtype=np.int64)[:, None]
    key.sort()
    idx_i, idx_j = _index_dtype(n_src), _index_dtype(n_tgt)
    i, j = np.empty(key.size, idx_i), np.empty(key.size, idx_j)
    for s in range(0, key.size, _CHUNK):
        q, r = np.divmod(key[s:s + _CHUNK], n_tgt)
        i[s:s + _CHUNK], j[s:s + _CHUNK] = q, r
    return i, j


def connect(connector, n_src: int, n_tgt: int, same: bool, rng: np.random.Generator):
    """Pre/post index arrays for a :class:`~neuromem.spec.Connector`, drawn by its kind's function (:data:`CONNECT`).

    Time and memory are proportional to the number of synapses drawn (see
    the module docstring for each kind's method).

    Parameters
    ----------
    connector : neuromem.spec.Connector
    n_src, n_tgt : int
    same : bool
        Source and target are the same population (self-connections are then
        excluded unless ``connector.allow_self``).
    rng : numpy.random.Generator

    Returns
    -------
    i, j : ndarray of int32
        Sorted by (i, j).

    Raises
    ------
    ValueError
        If ``same`` but the sizes differ, or no function draws the connector's kind.
    """
    no_self = same and not connector.allow_self
    if no_self and n_src != n_tgt:
        raise ValueError(f"source and target are the same population but have sizes {n_src} and {n_tgt}")
    try:
        draw = CONNECT[connector.kind]
    except KeyError:  # pragma: no cover - the spec refuses unregistered kinds
        raise ValueError(f"no synapse drawing registered for connector kind {connector.kind!r}") from None
    i, j = draw(connector, n_src, n_tgt, no_self, rng)
    return np.asarray(i).astype(np.int32, copy=False), np.asarray(j).astype(np.int32, copy=False)


def initial_weights(init, n: int, rng: np.random.Generator) -> np.ndarray:
    """Initial weight magnitudes (V) for ``n`` synapses from a :class:`~neuromem.spec.WeightInit`."""
    if init.kind == "constant":
        return np.full(n, init.value)
    if init.kind == "uniform":
        return rng.uniform(init.low, init.high, size=n)
    if init.kind == "normal":
        return np.clip(rng.normal(init.value, init.std, size=n), 0.0, None)
    raise ValueError(init.kind)  # pragma: no cover


def draw_projection(model, name: str, seed: int):
    """Synapses and initial weights of one projection of ``model`` for a run seed.

    The single recipe shared by the simulator (which builds the network) and
    exporters (which regenerate static weights that a run folder does not
    store): one independent random stream per projection, connectivity first,
    then weights.

    Returns
    -------
    i, j : ndarray of int32
    w : ndarray of float
        Initial weight magnitudes (V).
    """
    from neuromem.stimulus import rng_for

    proj = model.projections[name]
    rng = rng_for(seed, f"projection:{name}")
    n_src, n_tgt = model.nodes()[proj.source].size, model.populations[proj.target].size
    i, j = connect(proj.connector, n_src, n_tgt, proj.source == proj.target, rng)
    return i, j, initial_weights(proj.weight, i.size, rng)
