"""Registries: the one place each kind of model element is declared.

Every extension point of a model file has one registry here, keyed by the
tag a model file writes:

==================  ==========================  ==========================================
registry            tag in a model file         entries
==================  ==========================  ==========================================
:data:`NEURONS`     ``populations.X.model``     neuron model classes (default ``"lif"``)
:data:`SYNAPSES`    (a neuron model's caps)     synapse types: how a spike enters the target
:data:`RULES`       ``rules.X.type``            plasticity rule classes
:data:`CONNECTORS`  ``...connector.kind``       connector kinds (fields of :class:`Connector`)
:data:`WEIGHTS`     ``...weight.kind``          initial-weight kinds (fields of :class:`WeightInit`)
:data:`INITS`       ``populations.X.v_init``    initial-potential kinds (fields of :class:`VInit`)
:data:`STIMULI`     ``...stimuli[j].kind``      stimulus kinds (fields of :class:`Stimulus`)
==================  ==========================  ==========================================

Neuron models and rules are classes registered with their capabilities
(:class:`NeuronCaps`, :class:`RuleCaps`), synapse types are tags registered
with theirs (:class:`SynapseCaps`) and named by the neuron models that use
them (:attr:`NeuronCaps.synapse`); backends and exporters read these
capabilities instead of testing classes or probing attributes.  Kinds of the
tagged tables (connectors, weights, ...) are declared on the fields of their
one dataclass: ``field(metadata=spec_field(..., kinds={kind: required}))``.

The loader's schema is derived from the dataclasses' field metadata
(:func:`spec_field`): the TOML type or physical dimension of each key and,
for fields used by some kinds only, which kinds use them and whether they
require them.  A field without metadata is not a key of the model file (e.g.
``name``, which is the table's own key).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Registry", "NeuronCaps", "SynapseCaps", "RuleCaps", "spec_field", "file_fields", "kinds_of", "nested",
           "NEURONS", "SYNAPSES", "RULES", "CONNECTORS", "WEIGHTS", "INITS", "STIMULI", "WEIGHT"]

WEIGHT = "weight"
"""Pseudo-dimension of synaptic weights and rule amplitudes: the weight
dimension of the synapse type of the target population's neuron model
(:attr:`SynapseCaps.weight`: ``"voltage"`` for current-based synapses,
``"conductance"`` for conductance-based ones)."""


def spec_field(toml: str, default=dataclasses.MISSING, *, kinds: dict | None = None, required: bool | None = None,
               table=None, tagged: "Registry | None" = None, **kw):
    """A dataclass field that is a key of the model file.

    Parameters
    ----------
    toml : str
        Its type in the file: a dimension of :mod:`neuromem.spec.units`
        (``"time"``, ``"voltage"``, ``"rate"``, ``"current"``,
        ``"conductance"``, ``"capacitance"``), :data:`WEIGHT`, or ``"int"``,
        ``"float"``, ``"bool"``, ``"str"``, ``"strs"``, ``"ints"``,
        ``"table"``, ``"tables"``.
    default : optional
        Without one the key is required.
    kinds : dict of str to bool, optional
        For a field of a tagged table (connector, weight, stimulus, ...): the
        kinds that accept the key, each mapped to whether it requires it.
        Without ``kinds`` every kind accepts it.
    required : bool, optional
        Whether the file must give the key; by default, when the field has
        no default.
    table : type, optional
        For a ``"table"`` or ``"tables"`` key: the dataclass each table is
        read into.
    tagged : Registry, optional
        When that dataclass is a tagged table (``kind = ...``): its registry.
    **kw
        Passed to :func:`dataclasses.field` (e.g. ``default_factory``).
    """
    meta = {"toml": toml, "kinds": dict(kinds) if kinds is not None else None, "required": required,
            "table": table, "tagged": tagged}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta, **kw)
    return dataclasses.field(default=default, metadata=meta, **kw)


def file_fields(cls) -> list[tuple[str, str, bool, dict | None]]:
    """``(key, toml type, required, kinds)`` of the fields of ``cls`` that are model-file keys, in field order.

    (:func:`nested` gives the dataclass of a table-valued key.)
    """
    out = []
    for f in dataclasses.fields(cls):
        if "toml" not in f.metadata:
            continue
        required = f.metadata.get("required")
        if required is None:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append((f.name, f.metadata["toml"], required, f.metadata["kinds"]))
    return out


def nested(cls, key: str):
    """``(dataclass, registry or None)`` of the table-valued field ``key`` of ``cls``, or ``None``."""
    for f in dataclasses.fields(cls):
        if f.name == key and f.metadata.get("table") is not None:
            return f.metadata["table"], f.metadata.get("tagged")
    return None


def kinds_of(cls, key: str, kind: str) -> list[tuple[str, str, bool]]:
    """``(key, toml type, required)`` of the fields that kind ``kind`` of the tagged class ``cls`` accepts.

    The tag field ``key`` comes first (required); a field whose ``kinds``
    names ``kind`` is required when it maps to ``True``.
    """
    out = [(key, "str", True)]
    for name, toml, required, kinds in file_fields(cls):
        if name == key:
            continue
        if kinds is None:
            out.append((name, toml, required))
        elif kind in kinds:
            out.append((name, toml, bool(kinds[kind])))
    return out


@dataclass(frozen=True)
class SynapseCaps:
    """What a synapse type is: the unit of its weights and whether LIF + Dense targets represent it.

    Attributes
    ----------
    weight : {"voltage", "conductance"}
        Dimension of the weights of projections onto a neuron with this
        synapse type (and of the amplitudes and bounds of their rules):
        ``"voltage"`` for current jumps in volts, ``"conductance"`` for
        conductance jumps in siemens.
    lif_dense : bool
        Whether a LIF + Dense target (Lava, NIR ``CubaLIF``), whose synaptic
        input is a weighted sum of spikes into a decaying current, represents it.
    refusal : str
        Why not, for exporters' messages (empty when ``lif_dense``).
    """

    weight: str = "voltage"
    lif_dense: bool = True
    refusal: str = ""

    def __post_init__(self):
        if self.weight not in ("voltage", "conductance"):
            raise ValueError(f"SynapseCaps.weight must be 'voltage' or 'conductance', got {self.weight!r}")


@dataclass(frozen=True)
class NeuronCaps:
    """What a neuron model is and what can be done with it.

    Attributes
    ----------
    synapse : str
        Its synapse type, a tag of :data:`SYNAPSES` (``"current"``,
        ``"conductance"``): how a presynaptic spike enters the neuron, and so
        the unit of the weights onto it (:attr:`weight`).
    lif_dense : bool
        Whether a population of this model (without the features its
        ``export_limits`` lists) is a LIF neuron that LIF + Dense targets
        (Lava, NIR ``CubaLIF``) represent, given a synapse type that they
        represent too (:attr:`SynapseCaps.lif_dense`).
    refusal : str
        Why it is not, for exporters' messages (empty when ``lif_dense``).
    """

    synapse: str = "current"
    lif_dense: bool = True
    refusal: str = ""

    def __post_init__(self):
        if self.synapse not in SYNAPSES:
            raise ValueError(f"unknown synapse type {self.synapse!r}; registered: {SYNAPSES.names()}")

    @property
    def synapse_caps(self) -> SynapseCaps:
        """The :class:`SynapseCaps` of :attr:`synapse`."""
        return SYNAPSES.caps(self.synapse)

    @property
    def weight(self) -> str:
        """Dimension of the weights onto this model: its synapse type's :attr:`SynapseCaps.weight`."""
        return self.synapse_caps.weight


@dataclass(frozen=True)
class RuleCaps:
    """What a plasticity rule is and which targets can run it.

    Attributes
    ----------
    timing : bool
        A spike-timing rule (per-spike weight updates from traces); at most
        one per projection.
    lava_learnable : bool
        Maps onto a Loihi 2 learning rule (``Loihi2FLearningRule``), so a
        plastic phase can learn on Lava.
    host : bool
        Runs as a host operation of a Lava run (a periodic operation on the
        weights: a normalisation, a bistable relaxation), at Brian2's steps.
    exportable : bool
        Frozen weights of a projection under this rule export.
    modulator : bool
        Scales the updates of the projection's timing rule by a factor that
        changes within a phase (a third factor, e.g. an activity gate); needs
        a timing rule beside it, at most one per projection.
    sign : str or None
        The projection sign the rule requires (``"inhibitory"`` for iSTDP).
    transmission : bool
        Changes what a presynaptic spike transmits, not the stored weight
        (short-term plasticity: the target receives ``w`` times an efficacy
        the rule computes); acts in every phase, plastic or not; at most one
        per projection.
    """

    timing: bool = False
    lava_learnable: bool = False
    host: bool = False
    exportable: bool = True
    modulator: bool = False
    sign: str | None = None
    transmission: bool = False


class Registry:
    """Model elements of one extension point, by tag.

    Parameters
    ----------
    what : str
        What an entry is, for messages (``"neuron model"``).
    tag : str
        The key that names an entry in a model file (``"model"``, ``"type"``).
    default : str, optional
        The entry used when a table has no tag (neuron models: ``"lif"``).
    """

    def __init__(self, what: str, tag: str, default: str | None = None):
        self.what, self.tag, self.default = what, tag, default
        self._entries: dict = {}
        self._by_class: dict = {}

    def register(self, name: str, caps=None):
        """Class decorator registering a class under ``name`` with capabilities ``caps``."""
        def deco(cls):
            self.add(name, cls, caps)
            return cls
        return deco

    def add(self, name: str, obj=None, caps=None) -> None:
        """Register ``obj`` (a class, or ``None`` for a kind of a tagged table) under ``name``."""
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._entries[name] = (obj, caps)
        if obj is not None:
            self._by_class[obj] = name

    def remove(self, name: str) -> None:
        """Unregister ``name`` (for tests and plug-ins that register temporarily)."""
        obj, _ = self._entries.pop(name)
        if obj is not None:
            self._by_class.pop(obj, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def cls(self, name: str):
        return self._entries[name][0]

    def name_of(self, obj) -> str:
        """The tag of an instance's class (walking its MRO)."""
        for t in type(obj).__mro__:
            if t in self._by_class:
                return self._by_class[t]
        raise KeyError(f"{type(obj).__name__} is not a registered {self.what}")

    def caps(self, obj_or_name):
        """Capabilities of an entry, by tag or by instance."""
        name = obj_or_name if isinstance(obj_or_name, str) else self.name_of(obj_or_name)
        return self._entries[name][1]

    def items(self):
        return [(n, c) for n, (c, _) in self._entries.items()]


NEURONS = Registry("neuron model", "model", default="lif")
SYNAPSES = Registry("synapse type", "synapse")
RULES = Registry("rule type", "type")
CONNECTORS = Registry("connector kind", "kind")
WEIGHTS = Registry("weight kind", "kind")
INITS = Registry("initial potential kind", "kind")
STIMULI = Registry("stimulus kind", "kind")
