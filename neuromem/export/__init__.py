"""Export trained neuromem networks to neuromorphic toolchains.

The backend-free core, numpy only:

:mod:`neuromem.export.issues`
    :class:`ExportIssue`, :class:`ExportError` and the neuron features every
    current-based LIF target refuses;
:mod:`neuromem.export.frozen`
    the network frozen at the start of a phase: exported parts, gains, exact
    coefficients, weight matrices, delays, :func:`load_frozen_network`;
:mod:`neuromem.export.compare`
    spike agreement and the recall scoring shared by every exporter that simulates.

Exporters built on it:

:mod:`neuromem.export.lava`
    Lava (lava-nc 0.10): :func:`check_lava`, :func:`build_lava_network`,
    :func:`run_lava` (float, or Loihi 2 bit-accurate fixed point),
    :func:`run_lava_learning` (a plastic phase learning on Lava);
:mod:`neuromem.export.nir`
    the Neuromorphic Intermediate Representation: :func:`to_nir`,
    :func:`export_nir`, and :func:`simulate_nir`, a reference simulator of
    the exported graph;
:mod:`neuromem.export.nwb`
    a run's spike trains as Neurodata Without Borders.

Importing this package imports neither lava nor nir; they are loaded when a
function that needs them is called.  The mapping, and what is exact or
approximate, is documented in ``docs/export.md``; how to add an exporter in
``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
import sys
import warnings

_EXPORTS = {
    "check_lava": "lava", "build_lava_network": "lava", "run_lava": "lava", "plan_lava": "lava",
    "check_lava_learning": "lava", "run_lava_learning": "lava",
    "load_frozen_network": "frozen", "FrozenNetwork": "frozen",
    "ExportIssue": "issues", "ExportError": "issues", "LavaExportError": "issues",
    "compare_spikes": "compare",
    "to_nir": "nir", "export_nir": "nir", "simulate_nir": "nir",
}

_DEPRECATED = {
    "DEFAULT_PHASE": ("recall_lesioned_after_sleep",
                      "neuromem.export.DEFAULT_PHASE is deprecated: no exporter defaults to a phase any more; "
                      "it is the default model's (models/cls.toml) recall phase after sleep -- name the phase"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    if name in _DEPRECATED:
        value, message = _DEPRECATED[name]
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(vars(sys.modules[__name__])) | set(_EXPORTS))
