"""A raw model table (as read from TOML, overrides applied) checked against the schema and built into a Model.

Every key is checked against the schema derived from the dataclasses
(:mod:`neuromem.spec.schema`): unknown keys are refused listing the valid
ones, then missing required keys, then each value's TOML type or unit.  The
dataclasses then validate their own fields (``__post_init__``) and
:class:`~neuromem.spec.Model` the cross-references; every error is re-keyed
under the dotted path of the table it came from.
"""

from __future__ import annotations

import math

from neuromem.spec.errors import ModelError, key_part
from neuromem.spec.model import Model
from neuromem.spec.neurons import SpikeSource
from neuromem.spec.projections import Projection
from neuromem.spec.protocol import Protocol
from neuromem.spec.registry import NEURONS, RULES, WEIGHT, nested
from neuromem.spec.schema import (BOOL, FLOAT, INT, INTS, QUANTITIES, STR, STRS, TABLE, TABLES, VOLTAGE,
                                  plain_schema, tagged_schema)
from neuromem.spec.units import parse_quantity

__all__ = ["model_from_table", "convert", "read_table", "describe", "join_key", "check_depth", "MAX_DEPTH"]

MAX_DEPTH = 16
"""Deepest nesting of tables and arrays accepted in a model file (the format needs 6)."""

INT_LIMIT = 2**63
"""Integers must lie in [-2**63, 2**63), TOML's range."""


def describe(v) -> str:
    """``repr`` of a TOML value with its TOML type, for error messages."""
    if isinstance(v, bool):
        t = "a boolean"
    elif isinstance(v, int):
        t = "an integer"
    elif isinstance(v, float):
        t = "a float"
    elif isinstance(v, str):
        t = "a string"
    elif isinstance(v, list):
        t = "an array"
    elif isinstance(v, dict):
        t = "a table"
    else:
        t = "a date/time"
    return f"{v!r} ({t})"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def convert(v, t: str, key: str, weight: str | None = None):
    """Check the TOML value ``v`` against type ``t`` and convert it to its spec form.

    ``weight`` is the dimension that :data:`~neuromem.spec.registry.WEIGHT`
    stands for here (default ``"voltage"``).
    """
    if t == WEIGHT:
        t = weight or VOLTAGE
    if t in QUANTITIES:
        return parse_quantity(v, t, key)
    if t == INT:
        if not _is_int(v):
            raise ModelError(f"expected an integer, got {describe(v)}", key=key)
        if not -INT_LIMIT <= v < INT_LIMIT:
            raise ModelError(f"integer {v} is out of range (64-bit)", key=key)
        return v
    if t == FLOAT:
        if not _is_number(v):
            raise ModelError(f"expected a number, got {describe(v)}", key=key)
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise ModelError(f"expected a finite number, got {v!r}", key=key)
        return x
    if t == BOOL:
        if not isinstance(v, bool):
            raise ModelError(f"expected true or false, got {describe(v)}", key=key)
        return v
    if t == STR:
        if not isinstance(v, str):
            raise ModelError(f"expected a string, got {describe(v)}", key=key)
        return v
    if t in (STRS, INTS):
        elem, ok = ("strings", lambda x: isinstance(x, str)) if t == STRS else ("integers", _is_int)
        if not isinstance(v, list):
            raise ModelError(f"expected an array of {elem}, got {describe(v)}", key=key)
        for i, x in enumerate(v):
            if not ok(x):
                raise ModelError(f"expected an array of {elem}, element {i} is {describe(x)}", key=key)
        return tuple(v)
    if t == TABLE:
        if not isinstance(v, dict):
            raise ModelError(f"expected a table, got {describe(v)}", key=key)
        return v
    if t == TABLES:
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise ModelError(f"expected an array of tables ([[{key}]]), got {describe(v)}", key=key)
        return v
    raise AssertionError(t)  # pragma: no cover


def join_key(key: str, k: str) -> str:
    k = key_part(k)
    return f"{key}.{k}" if key else k


def read_table(table: dict, schema: dict, key: str, what: str = "", weight: str | None = None) -> dict:
    """Check a raw table against ``schema``; return the converted present values.

    Unknown keys are refused (listing the valid ones), then missing required
    keys, then each value is type-checked in schema order.
    """
    if not isinstance(table, dict):
        raise ModelError(f"expected a table, got {describe(table)}", key=key)
    for k in table:
        if k not in schema:
            valid = ", ".join(schema)
            raise ModelError(f"unknown key {k!r}; valid keys{what}: {valid}", key=join_key(key, k))
    for k, f in schema.items():
        if f.required and k not in table:
            raise ModelError(f"missing required key {k!r}", key=join_key(key, k))
    return {k: convert(table[k], f.type, join_key(key, k), weight) for k, f in schema.items() if k in table}


def _choose(table, tag: str, choices, key: str, noun: str, default: str | None = None) -> str:
    """The tag of a tagged table (``kind = ...``/``type = ...``/``model = ...``), checked against ``choices``."""
    if not isinstance(table, dict):
        raise ModelError(f"expected a table, got {describe(table)}", key=key)
    if tag not in table and default is not None:
        return default
    if tag not in table:
        raise ModelError(f"missing required key {tag!r} (one of: {', '.join(choices)})", key=f"{key}.{tag}")
    v = table[tag]
    if not isinstance(v, str) or v not in choices:
        raise ModelError(f"unknown {noun} {v!r}; known: {', '.join(choices)}", key=f"{key}.{tag}")
    return v


def _build(cls, prefix: str, **kwargs):
    """Construct a spec dataclass, re-keying its validation errors under ``prefix``."""
    try:
        return cls(**kwargs)
    except ModelError as e:
        raise e.within(prefix) from None


def _named(raw: dict, section: str) -> dict:
    tables = raw.get(section, {})
    for name, t in tables.items():
        if not isinstance(t, dict):
            key = join_key(section, name)
            raise ModelError(f"expected a table [{key}], got {describe(t)}", key=key)
    return tables


def _obj(t, cls, registry, key: str, weight: str | None = None, **extra):
    """Read a table into its spec dataclass, with its nested tables.

    ``cls`` is the dataclass (``None`` for a registry of classes), ``registry``
    the registry of a tagged table (``None`` for an untagged one); ``extra``
    are fields that are not keys of the table (``name``).  A table-valued key
    whose field names no dataclass is a map of names to numbers (a phase's
    ``plastic`` and ``gain``).
    """
    if registry is None:
        target, schema, what = cls, plain_schema(cls), ""
    else:
        tag = _choose(t, registry.tag, registry.names(), key, registry.what, registry.default)
        target, schema = cls or registry.cls(tag), tagged_schema(cls, registry, tag)
        what = f" for {registry.what} {tag!r}"
    kw = read_table(t, schema, key, what, weight)
    if registry is not None and cls is None:
        kw.pop(registry.tag, None)
    for k, f in schema.items():
        if k not in kw or f.type not in (TABLE, TABLES):
            continue
        sub = nested(target, k)
        kkey = join_key(key, k)
        if sub is None:
            kw[k] = {p: convert(v, FLOAT, join_key(kkey, p)) for p, v in kw[k].items()}
        elif f.type == TABLE:
            kw[k] = _obj(kw[k], *sub, kkey, weight)
        else:
            kw[k] = tuple(_obj(x, *sub, f"{kkey}[{i}]", weight) for i, x in enumerate(kw[k]))
    return _build(target, key, **extra, **kw)


def _weight_dims(projections: dict, populations: dict) -> dict:
    """Weight dimension of each rule: that of the targets of the projections naming it (first one wins;
    :class:`Model` refuses a rule shared by projections of different dimensions)."""
    dims: dict = {}
    for t in projections.values():
        if not isinstance(t, dict) or not isinstance(t.get("plasticity"), list):
            continue
        pop = populations.get(t.get("target")) if isinstance(t.get("target"), str) else None
        if pop is None:
            continue
        for r in t["plasticity"]:
            if isinstance(r, str):
                dims.setdefault(r, NEURONS.caps(pop).weight)
    return dims


def model_from_table(raw: dict) -> Model:
    kw = read_table(raw, plain_schema(Model), "")
    populations = {n: _obj(t, None, NEURONS, join_key("populations", n), name=n)
                   for n, t in _named(kw, "populations").items()}
    sources = {n: _obj(t, SpikeSource, None, join_key("sources", n), name=n) for n, t in _named(kw, "sources").items()}
    raw_projections = _named(kw, "projections")
    dims = _weight_dims(raw_projections, populations)
    rules = {n: _obj(t, None, RULES, join_key("rules", n), dims.get(n), name=n) for n, t in _named(kw, "rules").items()}
    projections = {}
    for n, t in raw_projections.items():
        tgt = t.get("target")
        weight = NEURONS.caps(populations[tgt]).weight if isinstance(tgt, str) and tgt in populations else None
        projections[n] = _obj(t, Projection, None, join_key("projections", n), weight, name=n)
    protocol = _obj(kw["protocol"], Protocol, None, "protocol")
    return _build(Model, None, name=kw["name"], description=kw.get("description", ""), dt=kw["dt"],
                  populations=populations, sources=sources, projections=projections, rules=rules,
                  protocol=protocol)


def check_depth(raw: dict, limit: int = MAX_DEPTH) -> None:
    """Refuse tables and arrays nested more than ``limit`` levels deep (iteratively, no recursion)."""
    stack = [(raw, "", 0)]
    while stack:
        node, key, depth = stack.pop()
        if depth > limit:
            raise ModelError(f"nested more than {limit} levels deep (tables and arrays)", key=key or None)
        if isinstance(node, dict):
            stack.extend((v, join_key(key, str(k)), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{key}[{i}]", depth + 1) for i, v in enumerate(node))
