"""Names of the files and folders of a run folder.

Layout of ``<out_dir>/<model>-<YYYYmmdd-HHMMSS>-seed<seed>/``::

    results.json          model, seed, overrides, versions, git commit, timings, metrics
    model.toml            the resolved model (after overrides)
    patterns.npz          patterns; cue_<fraction> per cue fraction; cue_fractions
    spikes/<phase>.npz    <pop>_i, <pop>_t, <pop>_n for every population and source
    state/<phase>.npz     <pop>_t, <pop>_v for recorded membrane potentials (if any)
    initial/<phase>.npz   <pop>_<var> per state variable (v, I or g_exc, g_inh), <pop>_lastspike: the
                          network state at the phase start
    weights/initial.npz   plastic projections' weights before the first phase
    weights/<phase>.npz   ... after each phase
    weights/synapses.npz  <proj>_i, <proj>_j for every projection
    figures/*.png         see :func:`neuromem.plotting.save_figures`

File names are phase/projection names passed through
:func:`~neuromem.spec.names.safe_name`; a phase named ``initial`` or
``synapses`` has its weights stored as ``weights/phase_<name>.npz``
(:func:`weights_file`).
"""

from __future__ import annotations

from neuromem.spec.names import safe_name

__all__ = ["weights_file", "CHECKPOINT_DIR", "WRITER_FILE"]


_RESERVED_WEIGHT_FILES = ("initial", "synapses")


def weights_file(phase: str) -> str:
    """Stem of ``weights/<stem>.npz`` for the weights after ``phase`` (``phase_<name>`` for a reserved name)."""
    s = safe_name(phase)
    return f"phase_{s}" if s in _RESERVED_WEIGHT_FILES else s


CHECKPOINT_DIR = "checkpoint"
"""Subfolder of a partial run folder that makes it resumable (removed when the run completes)."""


WRITER_FILE = ".writer"
"""File in a ``.<name>.partial`` folder naming the process that writes it (removed before completion)."""
