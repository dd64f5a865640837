"""Synapse lists and initial weights, drawn with numpy from the spec.

Connectivity is generated here, not by a simulator, so that every backend and
exporter builds exactly the same network from a seed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["connect", "connector_kind", "CONNECT", "initial_weights", "draw_projection"]


CONNECT: dict = {}
"""Connector kind -> function ``(connector, n_src, n_tgt, no_self, rng) -> (i, j)``: how each kind
registered in :data:`neuromem.spec.registry.CONNECTORS` is drawn (:func:`connector_kind` registers one)."""


def connector_kind(kind: str):
    """Register the function that draws the synapses of connector ``kind`` (a decorator)."""
    def deco(fn):
        CONNECT[kind] = fn
        return fn
    return deco


@connector_kind("one_to_one")
def _one_to_one(connector, n_src, n_tgt, no_self, rng):
    i = j = np.arange(n_src)
    return i, j


def _mask_pairs(mask, no_self):
    if no_self:
        np.fill_diagonal(mask, False)
    return np.nonzero(mask)


@connector_kind("all_to_all")
def _all_to_all(connector, n_src, n_tgt, no_self, rng):
    return _mask_pairs(np.ones((n_src, n_tgt), dtype=bool), no_self)


@connector_kind("fixed_probability")
def _fixed_probability(connector, n_src, n_tgt, no_self, rng):
    return _mask_pairs(rng.random((n_src, n_tgt)) < connector.p, no_self)


@connector_kind("fixed_indegree")
def _fixed_indegree(connector, n_src, n_tgt, no_self, rng):
    k = connector.indegree
    scores = rng.random((n_tgt, n_src))
    if no_self:
        np.fill_diagonal(scores, np.inf)
    pre = np.argpartition(scores, k - 1, axis=1)[:, :k]
    j = np.repeat(np.arange(n_tgt), k)
    i = pre.ravel()
    order = np.lexsort((j, i))
    return i[order], j[order]


def connect(connector, n_src: int, n_tgt: int, same: bool, rng: np.random.Generator):
    """Pre/post index arrays for a :class:`~neuromem.spec.Connector`, drawn by its kind's function (:data:`CONNECT`).

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
    """
    no_self = same and not connector.allow_self
    try:
        draw = CONNECT[connector.kind]
    except KeyError:  # pragma: no cover - the spec refuses unregistered kinds
        raise ValueError(f"no synapse drawing registered for connector kind {connector.kind!r}") from None
    i, j = draw(connector, n_src, n_tgt, no_self, rng)
    return np.asarray(i).astype(np.int32), np.asarray(j).astype(np.int32)


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
