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

The schema (which keys each table accepts, their types and units, which are
required) is not kept here: it is derived from the spec dataclasses' field
metadata (:func:`neuromem.spec.registry.spec_field`) and the registries of
neuron models, rules and kinds (:func:`schema`), so a type registered there is
read and written without touching this module.

This module reads the TOML text and writes it back; the rest lives beside it:

``schema.py``
    The schema derived from the dataclasses (:func:`schema`).
``validate.py``
    A raw table checked against the schema and built into a
    :class:`~neuromem.spec.Model`.
``overrides.py``
    ``--set key.path=value`` applied to the raw table (:func:`apply_overrides`).

This module never writes files; :func:`dumps_model` returns a string.
"""

from __future__ import annotations

import os
import stat

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from neuromem.spec.errors import ModelError
from neuromem.spec.model import Model
from neuromem.spec.overrides import annotate_override, apply_overrides
from neuromem.spec.registry import NEURONS, RULES, WEIGHT, nested
from neuromem.spec.schema import (FLOAT, INTS, QUANTITIES, STRS, TABLE, TABLES, TIME, VOLTAGE, plain_schema, schema,
                                  tagged_schema)
from neuromem.spec.units import format_quantity
from neuromem.spec.validate import MAX_DEPTH, check_depth, model_from_table

__all__ = ["load_model", "loads_model", "model_to_dict", "dumps_model", "apply_overrides", "schema"]

MAX_FILE_BYTES = 16 * 2**20
"""Largest model file read (the default model is 17 kB)."""


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
        check_depth(raw)
    except ModelError as e:
        raise e.within(None, file) from None
    try:
        return model_from_table(raw)
    except ModelError as e:
        raise annotate_override(e, origins).within(None, file) from None


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

    ``cls`` is the dataclass (``None`` for a registry of classes), ``registry``
    the registry of a tagged table (``None`` for an untagged one), as the
    reader takes them (:mod:`neuromem.spec.validate`); the tag of a registered
    class is written unless it is the registry's default.
    """
    out = {}
    if registry is None:
        schema = plain_schema(type(obj))
    elif cls is not None:
        schema = tagged_schema(cls, registry, getattr(obj, registry.tag))
    else:
        tag = registry.name_of(obj)
        schema = tagged_schema(None, registry, tag)
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
        elif t in QUANTITIES:
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
