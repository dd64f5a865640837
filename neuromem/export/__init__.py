"""Export trained neuromem networks to neuromorphic toolchains.

:mod:`neuromem.export.lava`
    Frozen networks on Lava (lava-nc 0.10): :func:`check_lava`,
    :func:`build_lava_network`, :func:`run_lava` (float, or Loihi 2
    bit-accurate fixed point).
:mod:`neuromem.export.nir`
    The Neuromorphic Intermediate Representation: :func:`to_nir`,
    :func:`export_nir`, and :func:`simulate_nir`, a small reference simulator
    of the exported graph.

Importing this package imports neither lava nor nir; they are loaded when a
function that needs them is called.  The mapping, and what is exact or
approximate, is documented in ``docs/export.md``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "check_lava": "lava", "build_lava_network": "lava", "run_lava": "lava", "plan_lava": "lava",
    "load_frozen_network": "lava", "ExportIssue": "lava", "LavaExportError": "lava",
    "DEFAULT_PHASE": "lava",
    "to_nir": "nir", "export_nir": "nir", "simulate_nir": "nir",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
