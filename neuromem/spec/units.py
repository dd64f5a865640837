"""Quantity strings with units, for model files.

Model files write every physical value as a string with a unit (``"20 ms"``,
``"-70 mV"``, ``"200 Hz"``); the spec dataclasses store plain SI floats
(seconds, volts, hertz).  This module converts between the two.  It is
deliberately tiny: three dimensions, a fixed table of unit symbols, and exact
decimal scaling so that ``parse_quantity(format_quantity(x, d), d) == x`` for
every finite float ``x``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, DecimalException

from neuromem.spec.errors import ModelError

__all__ = ["DIMENSIONS", "UNITS", "parse_quantity", "format_quantity"]

UNITS: dict[str, tuple[str, int]] = {
    # symbol: (dimension, power of ten of the SI unit)
    "s": ("time", 0),
    "ms": ("time", -3),
    "us": ("time", -6),
    "µs": ("time", -6),  # micro sign
    "μs": ("time", -6),  # Greek mu
    "ns": ("time", -9),
    "V": ("voltage", 0),
    "mV": ("voltage", -3),
    "uV": ("voltage", -6),
    "µV": ("voltage", -6),
    "μV": ("voltage", -6),
    "Hz": ("rate", 0),
    "kHz": ("rate", 3),
    "A": ("current", 0),
    "mA": ("current", -3),
    "uA": ("current", -6),
    "µA": ("current", -6),
    "μA": ("current", -6),
    "nA": ("current", -9),
    "pA": ("current", -12),
    "S": ("conductance", 0),
    "mS": ("conductance", -3),
    "uS": ("conductance", -6),
    "µS": ("conductance", -6),
    "μS": ("conductance", -6),
    "nS": ("conductance", -9),
    "pS": ("conductance", -12),
    "F": ("capacitance", 0),
    "uF": ("capacitance", -6),
    "µF": ("capacitance", -6),
    "μF": ("capacitance", -6),
    "nF": ("capacitance", -9),
    "pF": ("capacitance", -12),
}
"""Accepted unit symbols (case-sensitive) and their dimension and SI scale."""

DIMENSIONS: dict[str, str] = {"time": "20 ms", "voltage": "-70 mV", "rate": "200 Hz", "current": "200 pA",
                              "conductance": "10 nS", "capacitance": "200 pF"}
"""The known dimensions, each with an example quantity used in error messages."""

_ARTICLE = {"time": "a time", "voltage": "a voltage", "rate": "a rate", "current": "a current",
            "conductance": "a conductance", "capacitance": "a capacitance"}

# ASCII digits only: ``\d`` would also accept Arabic-Indic or full-width digits.
_QUANTITY = re.compile(
    r"^\s*(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(?P<unit>[^\s0-9.+-][^\s]*)?\s*$"
)


def _check_dimension(dimension: str) -> None:
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")


def parse_quantity(value, dimension: str, key: str | None = None) -> float:
    """Convert a quantity string to a float in the SI unit of its dimension.

    Parameters
    ----------
    value : str
        A number followed by a unit symbol, with or without a space:
        ``"20 ms"``, ``"0.5ms"``, ``"-70 mV"``, ``"2 kHz"``, ``"1e-3 s"``.
    dimension : {"time", "voltage", "rate", "current", "conductance", "capacitance"}
        The dimension the field expects.
    key : str, optional
        Dotted key path of the field, attached to any error raised.

    Returns
    -------
    float
        The value in seconds, volts, hertz, amperes, siemens or farads.

    Raises
    ------
    ModelError
        If ``value`` is a bare number or not a string, the unit is unknown,
        the unit's dimension is not ``dimension``, the number has a digit
        other than ASCII ``0``-``9`` (full-width, Arabic-Indic, ...), or the
        number is not finite (``"1e999 s"``, ``"1e1000000 s"``).

    Examples
    --------
    >>> parse_quantity("20 ms", "time")
    0.02
    >>> parse_quantity("-70 mV", "voltage")
    -0.07
    """
    _check_dimension(dimension)
    example = DIMENSIONS[dimension]
    want = _ARTICLE[dimension]
    if not isinstance(value, str):
        raise ModelError(f'expected {want} with a unit such as "{example}", got {value!r}', key=key)
    if any(c.isdigit() and not c.isascii() for c in value):   # "２０ ms", "2٠ ms", "20 ms²"
        raise ModelError(f"only ASCII digits 0-9 are accepted in numbers, got {value!r}", key=key)
    m = _QUANTITY.match(value)
    if m is None:
        raise ModelError(f'expected {want} with a unit such as "{example}", got {value!r}', key=key)
    unit = m.group("unit")
    if unit is None:
        raise ModelError(f'expected {want} with a unit such as "{example}", got {value!r} (no unit)', key=key)
    if unit not in UNITS:
        known = ", ".join(u for u, (d, _) in UNITS.items() if d == dimension)
        raise ModelError(f"unknown unit {unit!r} in {value!r}; {dimension} units: {known}", key=key)
    got_dim, power = UNITS[unit]
    if got_dim != dimension:
        raise ModelError(f"expected {want} (dimension {dimension}), got {_ARTICLE[got_dim]} "
                         f"(dimension {got_dim}): {value!r}", key=key)
    try:
        out = float(Decimal(m.group("num")).scaleb(power))
    except (DecimalException, OverflowError, ValueError):  # exponent beyond the decimal context
        raise ModelError(f"{value!r} is not a finite {dimension} (the number is out of range)", key=key) from None
    if not math.isfinite(out):
        raise ModelError(f"{value!r} is not a finite {dimension}", key=key)
    return out


def _unit_for(x: float, dimension: str) -> str:
    a = abs(x)
    if dimension == "time":
        if a >= 1:
            return "s"
        return "ms" if a >= 1e-6 or a == 0 else "us"
    if dimension == "voltage":
        if a >= 1:
            return "V"
        return "mV" if a >= 1e-6 or a == 0 else "uV"
    if dimension == "current":
        return "nA" if a >= 1e-9 else "pA"
    if dimension == "conductance":
        return "nS" if a < 1e-6 else "uS"
    if dimension == "capacitance":
        return "pF" if a < 1e-9 else "nF"
    return "Hz"


def format_quantity(x: float, dimension: str) -> str:
    """Write an SI float as a readable quantity string.

    The unit is chosen for readability: seconds for times of 1 s or more,
    milliseconds below (microseconds under 1 us); millivolts for voltages
    under 1 V (volts above, microvolts under 1 uV); hertz for rates;
    nanoamperes for currents of 1 nA or more, picoamperes below; nanosiemens
    for conductances under 1 uS (microsiemens above); picofarads for
    capacitances under 1 nF (nanofarads above).
    The decimal digits are exact, so :func:`parse_quantity` returns ``x``
    bit for bit.

    Parameters
    ----------
    x : float
        Value in seconds, volts, hertz, amperes, siemens or farads.
    dimension : {"time", "voltage", "rate", "current", "conductance", "capacitance"}

    Returns
    -------
    str
        E.g. ``"20 ms"``, ``"-70 mV"``, ``"30 s"``, ``"200 Hz"``.

    Raises
    ------
    ValueError
        If ``x`` is not finite or ``dimension`` is unknown.
    """
    _check_dimension(dimension)
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot format non-finite {dimension} {x!r}")
    unit = _unit_for(x, dimension)
    d = Decimal(repr(x)).scaleb(-UNITS[unit][1]).normalize()
    text = format(d, "f") if -9 <= d.adjusted() <= 15 else format(d, "e")
    if text in ("-0", "-0.0"):
        text = "0"
    return f"{text} {unit}"
