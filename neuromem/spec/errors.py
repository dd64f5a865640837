"""The one exception type for invalid model descriptions."""

from __future__ import annotations

import json
import re

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ModelError(ValueError):
    """A model description is invalid.

    Parameters
    ----------
    message : str
        What is wrong.
    key : str, optional
        Dotted key path of the offending field (``"projections.ctx_ee.connector.p"``).
    file : str, optional
        The model file the value came from.

    The string form names the file, the key path and the problem, e.g.
    ``models/cls.toml: populations.ctx_e.tau_m: expected a time, got '20 mV'``.
    """

    def __init__(self, message: str, key: str | None = None, file: str | None = None):
        self.message = message
        self.key = key
        self.file = file
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        return ": ".join(parts + [self.message])

    def within(self, prefix: str | None = None, file: str | None = None) -> "ModelError":
        """Return a copy whose key is prefixed with ``prefix`` and whose file is set."""
        key = ".".join(p for p in (prefix, self.key) if p) or None
        return ModelError(self.message, key=key, file=file or self.file)


def require(cond: bool, key: str, message: str) -> None:
    """Raise :class:`ModelError` for ``key`` unless ``cond`` holds."""
    if not cond:
        raise ModelError(message, key=key)


def key_part(k) -> str:
    """One segment of a dotted key path as TOML writes it: bare when it can be, else quoted.

    ``ctx_e`` stays ``ctx_e``; an empty key, or one with spaces, dots or
    non-ASCII characters, is quoted (``""``, ``"ctx e"``, ``"ctx.e"``) so the
    path stays readable and unambiguous.
    """
    k = str(k)
    return k if _BARE_KEY.fullmatch(k) else json.dumps(k, ensure_ascii=False)
