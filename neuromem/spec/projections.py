"""Projections: who connects to whom, with which initial weights."""

from __future__ import annotations

from dataclasses import dataclass

from neuromem.spec.errors import require
from neuromem.spec.registry import CONNECTORS as _CONNECTOR_REGISTRY, WEIGHT, WEIGHTS, spec_field

for _k in ("fixed_probability", "fixed_indegree", "one_to_one", "all_to_all"):
    _CONNECTOR_REGISTRY.add(_k)
for _k in ("constant", "uniform", "normal"):
    WEIGHTS.add(_k)

CONNECTORS = _CONNECTOR_REGISTRY.names()
WEIGHT_KINDS = WEIGHTS.names()
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

    kind: str = spec_field("str")
    p: float | None = spec_field("float", None, kinds={"fixed_probability": True})
    indegree: int | None = spec_field("int", None, kinds={"fixed_indegree": True})
    allow_self: bool = spec_field("bool", False,
                                  kinds={"fixed_probability": False, "fixed_indegree": False, "all_to_all": False})

    def __post_init__(self):
        require(self.kind in _CONNECTOR_REGISTRY, "kind",
                f"must be one of {_CONNECTOR_REGISTRY.names()}, got {self.kind!r}")
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
    """Initial weights (magnitudes >= 0, in the target's weight unit: V, a current jump per
    spike, onto current-based populations; S, a conductance jump, onto conductance-based ones).

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

    kind: str = spec_field("str", "constant")
    value: float = spec_field(WEIGHT, 0.0, kinds={"constant": True, "normal": True})
    low: float = spec_field(WEIGHT, 0.0, kinds={"uniform": True})
    high: float = spec_field(WEIGHT, 0.0, kinds={"uniform": True})
    std: float = spec_field(WEIGHT, 0.0, kinds={"normal": True})

    def __post_init__(self):
        require(self.kind in WEIGHTS, "kind", f"must be one of {WEIGHTS.names()}, got {self.kind!r}")
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
    source: str = spec_field("str")
    target: str = spec_field("str")
    connector: Connector = spec_field("table", table=Connector, tagged=_CONNECTOR_REGISTRY)
    weight: WeightInit = spec_field("table", table=WeightInit, tagged=WEIGHTS)
    sign: str = spec_field("str", "excitatory")
    delay: float = spec_field("time", 0.0)
    plasticity: tuple[str, ...] = spec_field("strs", ())

    def __post_init__(self):
        require(self.sign in SIGNS, "sign", f"must be one of {SIGNS}, got {self.sign!r}")
        require(self.delay >= 0, "delay", "must be >= 0")
        require(isinstance(self.plasticity, tuple), "plasticity", "must be a list of rule names")
