"""Run folders: write a :class:`~neuromem.records.Run` to disk, checkpoint it, read it back, verify it.

A run folder (its files: :mod:`neuromem.io.layout`) is assembled as
``.<name>.partial`` next to its final place and renamed only when complete,
so a folder without the leading dot is always a finished run; if writing
fails the partial folder is removed.  A run written phase by phase
(:class:`RunCheckpoint`, what ``neuromem run`` does) keeps a ``checkpoint/``
subfolder there until it completes, from which an interrupted run is resumed.

=========================  ==========================================================
module                     what
=========================  ==========================================================
:mod:`~.layout`            file names of a run folder
:mod:`~.errors`            :class:`RunFolderError` and the other errors
:mod:`~.provenance`        :func:`versions`, :func:`git_info`
:mod:`~.atomic`            :func:`write_json_atomic`, :func:`write_npz_atomic`
:mod:`~.outdir`            :func:`check_out_dir`, partial folders and their writer
:mod:`~.read`              :func:`read_run`, ``load_*``, :func:`check_run_folder`
:mod:`~.verify`            :func:`file_checksums`, :func:`verify_run`
:mod:`~.write`             :func:`write_run`
:mod:`~.checkpoint`        :class:`RunCheckpoint`
=========================  ==========================================================

Each module imports only those above it in this table.  The names below are
the package's public API (``from neuromem.io import write_run``).
"""

from __future__ import annotations

from neuromem.spec.names import safe_name
from neuromem.io.layout import CHECKPOINT_DIR, WRITER_FILE
from neuromem.io.errors import OutDirError, ResumeError, RunFolderError, UnknownPhaseError
from neuromem.io.provenance import OPTIONAL_DEPENDENCIES, git_info, versions
from neuromem.io.atomic import write_json_atomic, write_npz_atomic
from neuromem.io.outdir import check_out_dir, claim_partial, clean_stale_partials, stale_partials
from neuromem.io.read import (RunFolder, check_run_folder, load_initial, load_model_text, load_patterns, load_phase,
                              load_spikes, load_state, load_synapses, load_weights, read_run)
from neuromem.io.verify import file_checksums, verify_run
from neuromem.io.write import write_run
from neuromem.io.checkpoint import RunCheckpoint

__all__ = [
    "write_run", "read_run", "RunFolder", "load_spikes", "load_weights", "load_synapses",
    "load_patterns", "load_state", "load_phase", "safe_name", "versions", "git_info", "OPTIONAL_DEPENDENCIES",
    "RunFolderError", "UnknownPhaseError", "check_run_folder", "verify_run", "file_checksums",
    "OutDirError", "check_out_dir", "claim_partial", "stale_partials", "clean_stale_partials", "WRITER_FILE",
    "RunCheckpoint", "ResumeError", "CHECKPOINT_DIR", "write_json_atomic", "write_npz_atomic",
    "load_initial", "load_model_text",
]
