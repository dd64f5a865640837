"""Read and write model files (TOML).

A model file declares a :class:`~neuromem.spec.Model` with every physical
value written as a quantity string (``"20 ms"``, ``"-70 mV"``, ``"200 Hz"``);
the format is documented key by key in ``models/README.md``.

Every problem, whether found by the reader (syntax, unknown or missing keys,
wrong types, units) or by the dataclasses' own validation, raises one
:class:`~neuromem.spec.ModelError` whose string names the file, the dotted key
path and the problem::

    models/cls.toml: projections.ctx_ee.connector.p: must be a probability in [0, 1], got 1.5

Command-line overrides (``--set key.path=value``) are applied to the raw TOML
table before validation, so they are checked exactly like the file.

This module never writes files; :func:`dumps_model` returns a string.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from neuromem.spec.errors import ModelError, key_part
from neuromem.spec.model import Model
from neuromem.spec.neurons import SpikeSource
from neuromem.spec.projections import Projection
from neuromem.spec.protocol import Phase, Protocol
from neuromem.spec.registry import NEURONS, RULES, WEIGHT, file_fields, kinds_of, nested
from neuromem.spec.units import DIMENSIONS, format_quantity, parse_quantity

__all__ = ["load_model", "loads_model", "model_to_dict", "dumps_model", "apply_overrides", "schema"]

# ---------------------------------------------------------------------------
# schema
# ---------------------------------------------------------------------------

TIME, VOLTAGE, RATE = "time", "voltage", "rate"
INT, FLOAT, BOOL, STR = "int", "float", "bool", "str"
STRS, INTS, TABLE, TABLES = "strs", "ints", "table", "tables"
_QUANTITIES = tuple(DIMENSIONS)

MAX_DEPTH = 16
"""Deepest nesting of tables and arrays accepted in a model file (the format needs 6)."""

MAX_FILE_BYTES = 16 * 2**20
"""Largest model file read (the default model is 12 kB)."""

_INT_LIMIT = 2**63
"""Integers must lie in [-2**63, 2**63), TOML's range."""


@dataclass(frozen=True)
class _F:
    """One key of a table: its type and whether it must be present."""

    type: str
    required: bool = True


def _opt(t: str) -> _F:
    return _F(t, required=False)


def _plain(cls) -> dict:
    """Schema of an untagged table: the model-file keys of dataclass ``cls`` (its field metadata)."""
    return {k: _F(t, req) for k, t, req, _ in file_fields(cls)}


def _tagged(cls, registry, tag: str) -> dict:
    """Schema of a tagged table whose tag is ``tag``.

    ``cls`` is the one dataclass of a table whose kinds are declared on its
    fields (connectors, weights, stimuli, ...), or ``None`` for a registry of
    classes (neuron models, rules), whose tag key comes first and is optional
    when the registry has a default.
    """
    if cls is not None:
        return {k: _F(t, req) for k, t, req in kinds_of(cls, registry.tag, tag)}
    return {registry.tag: _F(STR, registry.default is None), **_plain(registry.cls(tag))}


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
            tables[name] = list(_plain(cls))
            subs = [cls]
        else:
            if name in tagged:
                return
            tagged[name] = {t: list(_tagged(cls, registry, t)) for t in registry}
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


def _what(v) -> str:
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


def _convert(v, t: str, key: str, weight: str | None = None):
    """Check the TOML value ``v`` against type ``t`` and convert it to its spec form.

    ``weight`` is the dimension that :data:`~neuromem.spec.registry.WEIGHT`
    stands for here (default ``"voltage"``).
    """
    if t == WEIGHT:
        t = weight or VOLTAGE
    if t in _QUANTITIES:
        return parse_quantity(v, t, key)
    if t == INT:
        if not _is_int(v):
            raise ModelError(f"expected an integer, got {_what(v)}", key=key)
        if not -_INT_LIMIT <= v < _INT_LIMIT:
            raise ModelError(f"integer {v} is out of range (64-bit)", key=key)
        return v
    if t == FLOAT:
        if not _is_number(v):
            raise ModelError(f"expected a number, got {_what(v)}", key=key)
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise ModelError(f"expected a finite number, got {v!r}", key=key)
        return x
    if t == BOOL:
        if not isinstance(v, bool):
            raise ModelError(f"expected true or false, got {_what(v)}", key=key)
        return v
    if t == STR:
        if not isinstance(v, str):
            raise ModelError(f"expected a string, got {_what(v)}", key=key)
        return v
    if t in (STRS, INTS):
        elem, ok = ("strings", lambda x: isinstance(x, str)) if t == STRS else ("integers", _is_int)
        if not isinstance(v, list):
            raise ModelError(f"expected an array of {elem}, got {_what(v)}", key=key)
        for i, x in enumerate(v):
            if not ok(x):
                raise ModelError(f"expected an array of {elem}, element {i} is {_what(x)}", key=key)
        return tuple(v)
    if t == TABLE:
        if not isinstance(v, dict):
            raise ModelError(f"expected a table, got {_what(v)}", key=key)
        return v
    if t == TABLES:
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise ModelError(f"expected an array of tables ([[{key}]]), got {_what(v)}", key=key)
        return v
    raise AssertionError(t)  # pragma: no cover


def _join(key: str, k: str) -> str:
    k = key_part(k)
    return f"{key}.{k}" if key else k


def _read(table: dict, schema: dict, key: str, what: str = "", weight: str | None = None) -> dict:
    """Check a raw table against ``schema``; return the converted present values.

    Unknown keys are refused (listing the valid ones), then missing required
    keys, then each value is type-checked in schema order.
    """
    if not isinstance(table, dict):
        raise ModelError(f"expected a table, got {_what(table)}", key=key)
    for k in table:
        if k not in schema:
            valid = ", ".join(schema)
            raise ModelError(f"unknown key {k!r}; valid keys{what}: {valid}", key=_join(key, k))
    for k, f in schema.items():
        if f.required and k not in table:
            raise ModelError(f"missing required key {k!r}", key=_join(key, k))
    return {k: _convert(table[k], f.type, _join(key, k), weight) for k, f in schema.items() if k in table}


def _choose(table, tag: str, choices, key: str, noun: str, default: str | None = None) -> str:
    """The tag of a tagged table (``kind = ...``/``type = ...``/``model = ...``), checked against ``choices``."""
    if not isinstance(table, dict):
        raise ModelError(f"expected a table, got {_what(table)}", key=key)
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
            key = _join(section, name)
            raise ModelError(f"expected a table [{key}], got {_what(t)}", key=key)
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
        target, schema, what = cls, _plain(cls), ""
    else:
        tag = _choose(t, registry.tag, registry.names(), key, registry.what, registry.default)
        target, schema = cls or registry.cls(tag), _tagged(cls, registry, tag)
        what = f" for {registry.what} {tag!r}"
    kw = _read(t, schema, key, what, weight)
    if registry is not None and cls is None:
        kw.pop(registry.tag, None)
    for k, f in schema.items():
        if k not in kw or f.type not in (TABLE, TABLES):
            continue
        sub = nested(target, k)
        kkey = _join(key, k)
        if sub is None:
            kw[k] = {p: _convert(v, FLOAT, _join(kkey, p)) for p, v in kw[k].items()}
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


def _model(raw: dict) -> Model:
    kw = _read(raw, _plain(Model), "")
    populations = {n: _obj(t, None, NEURONS, _join("populations", n), name=n)
                   for n, t in _named(kw, "populations").items()}
    sources = {n: _obj(t, SpikeSource, None, _join("sources", n), name=n) for n, t in _named(kw, "sources").items()}
    raw_projections = _named(kw, "projections")
    dims = _weight_dims(raw_projections, populations)
    rules = {n: _obj(t, None, RULES, _join("rules", n), dims.get(n), name=n) for n, t in _named(kw, "rules").items()}
    projections = {}
    for n, t in raw_projections.items():
        tgt = t.get("target")
        weight = NEURONS.caps(populations[tgt]).weight if isinstance(tgt, str) and tgt in populations else None
        projections[n] = _obj(t, Projection, None, _join("projections", n), weight, name=n)
    protocol = _obj(kw["protocol"], Protocol, None, "protocol")
    return _build(Model, None, name=kw["name"], description=kw.get("description", ""), dt=kw["dt"],
                  populations=populations, sources=sources, projections=projections, rules=rules,
                  protocol=protocol)


# ---------------------------------------------------------------------------
# overrides
# ---------------------------------------------------------------------------


def _parse_value(text: str, override: str):
    """A TOML value (``6``, ``0.2``, ``"20 s"``, ``true``, ``[1, 2]``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ModelError(f"the value is nested more than {MAX_DEPTH} levels deep", key=f"--set {override}") from None


_INDEX = re.compile(r"-?[0-9]+")


def _index(lst: list, seg: str, where: str, override: str) -> int:
    """Resolve a path segment into a list: an index, or the ``name`` of a table element."""
    if _INDEX.fullmatch(seg):   # ASCII digits only: int() would also read "٣" or "３"
        i = int(seg)
        if not 0 <= i <= len(lst):
            raise ModelError(f"index {i} is out of range: {where} has {len(lst)} elements",
                             key=f"--set {override}")
        return i
    names = [x.get("name") for x in lst if isinstance(x, dict)]
    for i, x in enumerate(lst):
        if isinstance(x, dict) and x.get("name") == seg:
            return i
    known = ", ".join(repr(n) for n in names if n is not None) or "none named"
    hint = "; indices are written with ASCII digits 0-9" if any(c.isdigit() for c in seg) else ""
    raise ModelError(f"{where} has no element named {seg!r} (elements: {known}){hint}", key=f"--set {override}")


def apply_overrides(raw: dict, overrides) -> list[tuple[str, str]]:
    """Apply ``key.path=value`` overrides in place to a raw model table.

    Parameters
    ----------
    raw : dict
        The table read from a model file (modified in place).
    overrides : iterable of str
        ``"key.path=value"``.  The value is read as a TOML value (``6``,
        ``0.2``, ``"20 s"``, ``true``, ``[1, 2]``, ``{kind = "constant", value
        = "1 mV"}``) and otherwise taken as a bare string, so ``dt=0.1 ms``
        works.  Path segments name table keys; in an array of tables a
        segment is an index or the ``name`` of an element
        (``protocol.phases.sleep.duration``, ``protocol.phases.3.stimuli.0.rate``).
        Missing intermediate tables are created.

    Returns
    -------
    list of (str, str)
        The canonical key paths (as used in error messages, e.g.
        ``protocol.phases[3].duration``) that the overrides set or created,
        each with the text of its override.

    Raises
    ------
    ModelError
        If an override has no ``=``, an empty path segment, or a path that
        runs through a non-table value, a missing array element, or an
        index out of range.
    """
    if isinstance(overrides, str):
        overrides = (overrides,)
    origins = []
    for text in overrides:
        if not isinstance(text, str):
            raise ModelError(f"an override must be a string key.path=value, got {_what(text)}", key="--set")
        path, sep, value = text.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ModelError("an override must look like key.path=value", key=f"--set {text}")
        segs = path.split(".")
        if any(not s.strip() for s in segs):
            raise ModelError("empty key in the override's path", key=f"--set {text}")
        segs = [s.strip() for s in segs]
        node, canon = raw, ""
        for n, seg in enumerate(segs):
            last = n == len(segs) - 1
            if isinstance(node, dict):
                canon = f"{canon}.{seg}" if canon else seg
                if last:
                    node[seg] = _parse_value(value.strip(), text.strip())
                else:
                    if seg not in node:
                        node[seg] = {}
                        origins.append((canon, text.strip()))
                    node = node[seg]
            elif isinstance(node, list):
                i = _index(node, seg, canon, text.strip())
                if i == len(node) and not last:
                    raise ModelError(f"index {i} is out of range: {canon} has {len(node)} elements",
                                     key=f"--set {text.strip()}")
                canon = f"{canon}[{i}]"
                if last:
                    if i == len(node):
                        node.append(_parse_value(value.strip(), text.strip()))
                    else:
                        node[i] = _parse_value(value.strip(), text.strip())
                else:
                    node = node[i]
            else:
                raise ModelError(f"{canon} is {_what(node)}, not a table", key=f"--set {text.strip()}")
        origins.append((canon, text.strip()))
    return origins


def _deep_value(text: str, limit: int = MAX_DEPTH) -> tuple[str | None, int]:
    """Key path and line of the first value in TOML ``text`` nested deeper than ``limit``.

    A small scanner (strings and comments skipped, brackets counted) for text
    too deep for the TOML parser itself; the key is ``table.key`` as written.
    """
    depth, line, table, key, start = 0, 1, "", "", 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if depth == 0:
                start = i + 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if text[i] == "\\" and quote[0] == '"':
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
            i += len(quote)
            continue
        elif c == "=" and depth == 0:
            key = text[start:i].strip()
        elif c in "[{":
            if depth == 0 and text[start:i].strip() == "":       # a table header [a.b] / [[a.b]]
                end = text.find("\n", i)
                table = text[i:end if end >= 0 else n].split("#")[0].strip().strip("[]").strip()
                i = end if end >= 0 else n
                continue
            depth += 1
            if depth > limit:
                return ".".join(p for p in (table, key) if p) or None, line
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return ".".join(p for p in (table, key) if p) or None, line


def _check_depth(raw: dict, limit: int = MAX_DEPTH) -> None:
    """Refuse tables and arrays nested more than ``limit`` levels deep (iteratively, no recursion)."""
    stack = [(raw, "", 0)]
    while stack:
        node, key, depth = stack.pop()
        if depth > limit:
            raise ModelError(f"nested more than {limit} levels deep (tables and arrays)", key=key or None)
        if isinstance(node, dict):
            stack.extend((v, _join(key, str(k)), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{key}[{i}]", depth + 1) for i, v in enumerate(node))


def _parent(key: str) -> str:
    cut = max(key.rfind("."), key.rfind("["))
    return key[:cut] if cut > 0 else ""


def _annotate(e: ModelError, origins: list[tuple[str, str]]) -> ModelError:
    """Name the override behind an error about a key that an override set or changed.

    ``(set by --set ...)`` when the override set this key, a table holding it
    or a key inside it; ``(after --set ...)`` when it set a neighbouring key
    of the same table (e.g. ``v_th`` for an error on ``v_reset``).
    """
    if not e.key:
        return e
    for path, text in reversed(origins):
        for a, b in ((e.key, path), (path, e.key)):
            if a == b or a.startswith(b + ".") or a.startswith(b + "["):
                return ModelError(f"{e.message} (set by --set {text})", key=e.key, file=e.file)
    for path, text in reversed(origins):
        if _parent(path) and _parent(path) == _parent(e.key):
            return ModelError(f"{e.message} (after --set {text})", key=e.key, file=e.file)
    return e


# ---------------------------------------------------------------------------
# public API: reading
# ---------------------------------------------------------------------------


def loads_model(text: str, file: str = "<string>", overrides=()) -> Model:
    """Build a validated :class:`Model` from TOML text.

    Parameters
    ----------
    text : str
        The model file's contents (format: ``models/README.md``).
    file : str, optional
        Name used in error messages.
    overrides : iterable of str, optional
        ``"key.path=value"`` strings applied before validation
        (see :func:`apply_overrides`).

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        For any problem; its string names ``file``, the dotted key path and
        the problem.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"TOML syntax error: {e}", file=file) from None
    except RecursionError:
        key, line = _deep_value(text)
        raise ModelError(f"arrays or inline tables nested too deeply (line {line}; more than {MAX_DEPTH} "
                         "levels are refused)", key=key, file=file) from None
    try:
        origins = apply_overrides(raw, overrides)
        _check_depth(raw)
    except ModelError as e:
        raise e.within(None, file) from None
    try:
        return _model(raw)
    except ModelError as e:
        raise _annotate(e, origins).within(None, file) from None


def load_model(path, overrides=()) -> Model:
    """Read and validate a model file.

    Parameters
    ----------
    path : str or os.PathLike
        The TOML model file.
    overrides : iterable of str, optional
        ``"key.path=value"`` strings applied before validation
        (see :func:`apply_overrides`).

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        If the file cannot be read or describes an invalid model; the
        message names the file, the dotted key path and the problem.
    """
    file = os.fspath(path)
    try:
        # non-blocking open: a FIFO without a writer would otherwise block here
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):   # a pipe or a device would block or never end
                raise ModelError("not a regular file", file=file)
            if st.st_size > MAX_FILE_BYTES:
                raise ModelError(f"{st.st_size} bytes: larger than the {MAX_FILE_BYTES} bytes accepted for a "
                                 "model file", file=file)
            data = fh.read()
        text = data.decode("utf-8")
    except OSError as e:
        raise ModelError(f"cannot read model file: {e.strerror or e}", file=file) from None
    except UnicodeDecodeError as e:
        raise ModelError(f"not UTF-8 text: {e}", file=file) from None
    except ValueError as e:          # e.g. a NUL character in the path
        if isinstance(e, ModelError):
            raise
        raise ModelError(f"cannot read model file: {e}", file=file) from None
    return loads_model(text, file=file, overrides=overrides)


# ---------------------------------------------------------------------------
# public API: writing
# ---------------------------------------------------------------------------


def _dump(obj, cls=None, registry=None, weight: str | None = None) -> dict:
    """Write a spec object as a TOML table: its model-file keys (``None`` and empty tables omitted).

    ``cls``/``registry`` as in :func:`_obj`; the tag of a registered class is
    written unless it is the registry's default.
    """
    out = {}
    if registry is None:
        schema = _plain(type(obj))
    elif cls is not None:
        schema = _tagged(cls, registry, getattr(obj, registry.tag))
    else:
        tag = registry.name_of(obj)
        schema = _tagged(None, registry, tag)
        if tag != registry.default:
            out[registry.tag] = tag
    for k, f in schema.items():
        if registry is not None and cls is None and k == registry.tag:
            continue
        v = getattr(obj, k)
        if v is None:
            continue
        t = (weight or VOLTAGE) if f.type == WEIGHT else f.type
        if t in (TABLE, TABLES):
            if not v:
                continue
            sub = nested(type(obj), k)
            if sub is None:
                v = {p: float(x) for p, x in v.items()}
            elif t == TABLE:
                v = _dump(v, *sub, weight)
            else:
                v = [_dump(x, *sub, weight) for x in v]
        elif t in _QUANTITIES:
            v = format_quantity(v, t)
        elif t == FLOAT:
            v = float(v)
        elif t in (STRS, INTS):
            v = list(v)
        out[k] = v
    return out


def model_to_dict(model: Model) -> dict:
    """Convert a model to a TOML-ready table, quantities as unit strings.

    Every field is written, defaults included, except those that are
    ``None`` and empty tables; weight and connector tables carry only the
    keys of their kind and stimuli only those of theirs; a population's
    ``model`` tag is written unless it is the default (``"lif"``).
    ``Model.extra`` is not part of the file format and is not written.

    Parameters
    ----------
    model : Model

    Returns
    -------
    dict
        Plain ``str``/``int``/``float``/``bool``/``list``/``dict`` values,
        ready for ``tomli_w.dumps``; :func:`loads_model` of its TOML gives back
        an equal model.
    """
    dims: dict = {}
    for n, pr in model.projections.items():
        for r in pr.plasticity:
            dims.setdefault(r, model.weight_dimension(n))
    out = {"name": model.name, "description": model.description, "dt": format_quantity(model.dt, TIME)}
    out["populations"] = {n: _dump(p, None, NEURONS) for n, p in model.populations.items()}
    out["sources"] = {n: _dump(s) for n, s in model.sources.items()}
    out["rules"] = {n: _dump(r, None, RULES, dims.get(n)) for n, r in model.rules.items()}
    out["projections"] = {n: _dump(pr, weight=model.weight_dimension(n)) for n, pr in model.projections.items()}
    out["protocol"] = _dump(model.protocol)
    return out


def dumps_model(model: Model) -> str:
    """Write a model as TOML text (the resolved form of a model file).

    Parameters
    ----------
    model : Model

    Returns
    -------
    str
        TOML such that ``loads_model(dumps_model(m)) == m``.
    """
    import tomli_w

    return tomli_w.dumps(model_to_dict(model))
