"""Projections: who connects to whom, with which initial weights."""

from __future__ import annotations

from dataclasses import dataclass

from neuromem.spec.errors import require

CONNECTORS = ("fixed_probability", "fixed_indegree", "one_to_one", "all_to_all")
WEIGHT_KINDS = ("constant", "uniform", "normal")
SIGNS = ("excitatory", "inhibitory")


@dataclass(frozen=True)
class Connector:
    """How pre- and postsynaptic neurons are paired.

    Attributes
    ----------
    kind : {"fixed_probability", "fixed_indegree", "one_to_one", "all_to_all"}
    p : float or None
        Connection probability (``fixed_probability``), in [0, 1].
    indegree : int or None
        Presynaptic partners per postsynaptic neuron (``fixed_indegree``),
        drawn without replacement.
    allow_self : bool
        Whether a neuron may connect to itself when source is target.
    """

    kind: str
    p: float | None = None
    indegree: int | None = None
    allow_self: bool = False

    def __post_init__(self):
        require(self.kind in CONNECTORS, "kind", f"must be one of {CONNECTORS}, got {self.kind!r}")
        if self.kind == "fixed_probability":
            require(self.p is not None, "p", "is required for a fixed_probability connector")
            require(0.0 <= self.p <= 1.0, "p", f"must be a probability in [0, 1], got {self.p!r}")
        elif self.p is not None:
            raise_key = "p"
            require(False, raise_key, f"is only used by fixed_probability, not {self.kind}")
        if self.kind == "fixed_indegree":
            require(isinstance(self.indegree, int) and self.indegree > 0, "indegree",
                    f"must be a positive integer, got {self.indegree!r}")
        elif self.indegree is not None:
            require(False, "indegree", f"is only used by fixed_indegree, not {self.kind}")


@dataclass(frozen=True)
class WeightInit:
    """Initial weights (V, current jump per spike; always a magnitude >= 0).

    Attributes
    ----------
    kind : {"constant", "uniform", "normal"}
    value : float
        ``constant``: the weight.  ``normal``: the mean.
    low, high : float
        ``uniform`` bounds.
    std : float
        ``normal`` standard deviation; samples are clipped at 0.
    """

    kind: str = "constant"
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    std: float = 0.0

    def __post_init__(self):
        require(self.kind in WEIGHT_KINDS, "kind", f"must be one of {WEIGHT_KINDS}, got {self.kind!r}")
        require(self.value >= 0, "value", "weights are magnitudes and must be >= 0 (the sign is the projection's)")
        if self.kind == "uniform":
            require(0 <= self.low <= self.high, "high", "need 0 <= low <= high")
        require(self.std >= 0, "std", "must be >= 0")


@dataclass(frozen=True)
class Projection:
    """A set of synapses from a source to a target population.

    Attributes
    ----------
    name : str
    source, target : str
        Population or spike-source names; the target must be a neuron population.
    connector : Connector
    weight : WeightInit
        Initial weight magnitudes (V).
    sign : {"excitatory", "inhibitory"}
        Inhibitory projections subtract their weight from the target current.
        Must match the kind of a source population (Dale's law).
    delay : float
        Axonal delay (s), >= 0.
    plasticity : tuple of str
        Names of rules in ``Model.rules`` acting on these synapses (at most one
        spike-timing rule, plus optionally a normalisation); empty for static
        synapses.
    """

    name: str
    source: str
    target: str
    connector: Connector
    weight: WeightInit
    sign: str = "excitatory"
    delay: float = 0.0
    plasticity: tuple[str, ...] = ()

    def __post_init__(self):
        require(self.sign in SIGNS, "sign", f"must be one of {SIGNS}, got {self.sign!r}")
        require(self.delay >= 0, "delay", "must be >= 0")
        require(isinstance(self.plasticity, tuple), "plasticity", "must be a list of rule names")
