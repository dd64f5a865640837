"""Command-line overrides (``--set key.path=value``) applied to the raw model table before validation.

Overrides are checked exactly like the file, since they change the table the
file was read into; an error about a key that an override set names it
(:func:`annotate_override`).
"""

from __future__ import annotations

import re

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from neuromem.spec.errors import ModelError
from neuromem.spec.validate import MAX_DEPTH, describe

__all__ = ["apply_overrides", "annotate_override"]


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
            raise ModelError(f"an override must be a string key.path=value, got {describe(text)}", key="--set")
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
                raise ModelError(f"{canon} is {describe(node)}, not a table", key=f"--set {text.strip()}")
        origins.append((canon, text.strip()))
    return origins


def _parent(key: str) -> str:
    cut = max(key.rfind("."), key.rfind("["))
    return key[:cut] if cut > 0 else ""


def annotate_override(e: ModelError, origins: list[tuple[str, str]]) -> ModelError:
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
