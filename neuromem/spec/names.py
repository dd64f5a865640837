"""Names of populations, sources and projections: what a backend can use.

Backends create one simulator object per population, spike source and
projection, named after it, plus objects of their own derived from those names
(spike and state monitors, the update steps of a group, the pre- and
postsynaptic pathways of a projection, a normalisation's periodic operation).
All these objects share **one namespace**, so a model is refused unless

* every name is a plain identifier: ASCII letters, digits and ``_``, starting
  with a letter (:data:`NAME_PATTERN`), not a Python keyword, and not starting
  with a reserved prefix (:data:`RESERVED_PREFIXES`);
* names are unique across populations, sources, projections and the objects
  generated for them (:data:`GENERATED_NAMES`): e.g. a projection may not be
  called like a population, and nothing may be called ``ctx_ee_pre`` while a
  projection ``ctx_ee`` exists.

This module is backend-neutral (it imports no simulator); the generated names
are declared here so that every backend keeps to them.
"""

from __future__ import annotations

import keyword
import re

from neuromem.spec.errors import ModelError, key_part

__all__ = ["NAME_PATTERN", "RESERVED_PREFIXES", "GENERATED_NAMES", "check_name", "generated_names",
           "check_names"]

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""A population, source or projection name (matched in full)."""

RESERVED_PREFIXES = ("spikemon_", "statemon_")
"""Prefixes of the monitors a backend creates; no model name may start with one."""

GENERATED_NAMES: dict[str, tuple[str, ...]] = {
    "population": ("spikemon_{}", "statemon_{}", "{}_stateupdater", "{}_spike_thresholder",
                   "{}_spike_resetter"),
    "source": (),
    "projection": ("{}_pre", "{}_post", "{}_pre_push_spikes", "{}_post_push_spikes", "{}_stateupdater",
                   *(f"{{}}_norm_{d}_{step}" for d in ("incoming", "outgoing")
                     for step in ("zero", "sum", "factor", "scale")),
                   "{}_normclock_incoming", "{}_normclock_outgoing",
                   "{}_gate", "{}_gate_stateupdater", "{}_gate_in", "{}_gate_in_pre",
                   "{}_gate_in_pre_push_spikes"),
}
"""Names of the objects a backend may generate for each model object (``{}`` is its name)."""


def check_name(name, key: str) -> None:
    """Refuse a name no backend can use.

    Parameters
    ----------
    name : str
        A population, source or projection name.
    key : str
        Key path for the error (e.g. ``"populations.ctx-i"``).

    Raises
    ------
    ModelError
        If ``name`` is not a string matching :data:`NAME_PATTERN` (ASCII
        letters, digits, ``_``, starting with a letter), is a Python keyword or
        starts with one of :data:`RESERVED_PREFIXES`.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ModelError(f"name {name!r} is not usable: names are ASCII letters, digits and '_', "
                         "starting with a letter", key=key)
    if keyword.iskeyword(name):
        raise ModelError(f"name {name!r} is a Python keyword", key=key)
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            raise ModelError(f"name {name!r} starts with {prefix!r}, reserved for the backend's monitors",
                             key=key)


def generated_names(populations, sources, projections) -> dict[str, str]:
    """Every object name a backend may use for a model, with the key path that owns it.

    Parameters
    ----------
    populations, sources, projections : iterable of str
        The model's names.

    Returns
    -------
    dict of str to str
        Name → key path of the model object it belongs to
        (``"populations.ctx_e"``); the model objects' own names first, then
        the generated ones (:data:`GENERATED_NAMES`).  Where two claim the same
        name, the first one is kept.
    """
    out: dict[str, str] = {}
    groups = (("population", "populations", populations), ("source", "sources", sources),
              ("projection", "projections", projections))
    for _, section, names in groups:
        for n in names:
            out.setdefault(n, f"{section}.{key_part(n)}")
    for kind, section, names in groups:
        for n in names:
            for pattern in GENERATED_NAMES[kind]:
                out.setdefault(pattern.format(n), f"{section}.{key_part(n)}")
    return out


def check_names(populations, sources, projections) -> None:
    """Check every name and that all names, generated ones included, are unique.

    Parameters
    ----------
    populations, sources, projections : iterable of str
        The model's names (the keys of its tables).

    Raises
    ------
    ModelError
        Keyed by the offending object's table (``projections.ctx_i``), naming
        the object that already uses the name.
    """
    groups = (("populations", list(populations)), ("sources", list(sources)), ("projections", list(projections)))
    for section, names in groups:
        for n in names:
            check_name(n, f"{section}.{key_part(n)}")
    seen: dict[str, str] = {}
    for section, names in groups:
        for n in names:
            key = f"{section}.{key_part(n)}"
            if n in seen:
                raise ModelError(f"name {n!r} is already used by {seen[n]}; names must be unique across "
                                 "populations, sources and projections", key=key)
            seen[n] = key
    taken = generated_names(*(names for _, names in groups))
    kinds = {"populations": "population", "sources": "source", "projections": "projection"}
    for section, names in groups:
        for n in names:
            key = f"{section}.{key_part(n)}"
            for pattern in GENERATED_NAMES[kinds[section]]:
                g = pattern.format(n)
                if taken[g] == key:
                    continue
                if g in seen:
                    raise ModelError(f"name {g!r} is taken: the backend gives it to one of its objects for "
                                     f"{key}; names must be unique across populations, sources, projections "
                                     "and the objects generated for them", key=seen[g])
                raise ModelError(f"the backend would give the name {g!r} to objects of both {taken[g]} and "
                                 f"{key}; names must be unique across populations, sources, projections and "
                                 "the objects generated for them", key=key)


def safe_name(name: str) -> str:
    """``name`` as a file name: every character outside ``[A-Za-z0-9._-]`` replaced by ``_``.

    Run folders name files after phases and models with it (phase names are
    already restricted to these characters; model names are not).
    """
    s = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
    return s.lstrip(".") or "_"
