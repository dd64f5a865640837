"""The one exception type for invalid model descriptions."""

from __future__ import annotations


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
