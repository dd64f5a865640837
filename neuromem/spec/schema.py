"""The model-file schema, derived from the spec dataclasses' field metadata.

Which keys each table of a model file accepts, their TOML types or physical
dimensions, and which are required, is read from the dataclasses
(:func:`neuromem.spec.registry.spec_field` metadata) and from the registries of
neuron models, rules and kinds, never kept beside them: a type registered
there is read (:mod:`neuromem.spec.validate`) and written
(:mod:`neuromem.spec.loader`) without touching these modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromem.spec.model import Model
from neuromem.spec.registry import NEURONS, RULES, file_fields, kinds_of, nested
from neuromem.spec.units import DIMENSIONS

__all__ = ["Field", "plain_schema", "tagged_schema", "schema", "TIME", "VOLTAGE", "RATE", "INT", "FLOAT", "BOOL",
           "STR", "STRS", "INTS", "TABLE", "TABLES", "QUANTITIES"]

TIME, VOLTAGE, RATE = "time", "voltage", "rate"
INT, FLOAT, BOOL, STR = "int", "float", "bool", "str"
STRS, INTS, TABLE, TABLES = "strs", "ints", "table", "tables"
QUANTITIES = tuple(DIMENSIONS)
"""The physical dimensions a key may have (its value is then a quantity string such as ``"20 ms"``)."""


@dataclass(frozen=True)
class Field:
    """One key of a table: its type and whether it must be present."""

    type: str
    required: bool = True


def plain_schema(cls) -> dict:
    """Schema of an untagged table: the model-file keys of dataclass ``cls`` (its field metadata)."""
    return {k: Field(t, req) for k, t, req, _ in file_fields(cls)}


def tagged_schema(cls, registry, tag: str) -> dict:
    """Schema of a tagged table whose tag is ``tag``.

    ``cls`` is the one dataclass of a table whose kinds are declared on its
    fields (connectors, weights, stimuli, ...), or ``None`` for a registry of
    classes (neuron models, rules), whose tag key comes first and is optional
    when the registry has a default.
    """
    if cls is not None:
        return {k: Field(t, req) for k, t, req in kinds_of(cls, registry.tag, tag)}
    return {registry.tag: Field(STR, registry.default is None), **plain_schema(registry.cls(tag))}


def schema() -> tuple[dict, dict]:
    """The model-file schema, derived from the spec dataclasses' field metadata.

    Returns
    -------
    tables : dict of str to list of str
        ``{table: [keys]}`` of every untagged table (``"model"`` is the top level).
    tagged : dict of str to dict
        ``{table: {tag value: [keys]}}`` of every tagged table (``"populations"``,
        ``"rules"``, ``"connector"``, ``"weight"``, ``"v_init"``, ``"stimuli"``, ...).
    """
    tables, tagged = {}, {}

    def walk(name, cls, registry):
        if registry is None:
            if name in tables:
                return
            tables[name] = list(plain_schema(cls))
            subs = [cls]
        else:
            if name in tagged:
                return
            tagged[name] = {t: list(tagged_schema(cls, registry, t)) for t in registry}
            subs = [cls] if cls is not None else [registry.cls(t) for t in registry]
        for sub in subs:
            for k, *_ in file_fields(sub):
                n = nested(sub, k)
                if n is not None:
                    walk(k, *n)

    walk("model", Model, None)
    walk("populations", None, NEURONS)
    walk("rules", None, RULES)
    return tables, tagged

# ---------------------------------------------------------------------------
# reading values
# ---------------------------------------------------------------------------
