"""Checksums of a run folder's files, recorded in ``results.json`` and verified against the files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from neuromem.io.errors import RunFolderError
from neuromem.io.layout import WRITER_FILE
from neuromem.io.read import read_results

__all__ = ["file_checksums", "verify_run"]


_NOT_RECORDED = ("results.json",)


_EXPORT_OUTPUTS = re.compile(r"(lava_results\.json|lava_.+_results\.json|lava_.+_weights\.npz|model\.nir|run\.nwb)")
"""Files that exporters write into a run folder after it was finished (not checksummed)."""


def _file_sha256(f: Path) -> str:
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_checksums(folder) -> dict:
    """``{relative path: sha256}`` of every file under ``folder`` except ``results.json``.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    dict
        Paths relative to ``folder`` with ``/`` separators, sorted.
    """
    folder = Path(folder)
    out = {}
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder).as_posix()
        if f.is_file() and rel not in _NOT_RECORDED and rel != WRITER_FILE:
            out[rel] = _file_sha256(f)
    return out


def verify_run(path) -> dict:
    """Compare a run folder with the checksums recorded in its ``results.json``.

    Parameters
    ----------
    path : str or Path
        A run folder written by :func:`write_run` (which records
        ``results.json["files"]``, ``{relative path: sha256}`` of every file
        written before ``results.json``).

    Returns
    -------
    dict
        ``ok`` (bool), ``files`` (number of recorded files), ``missing``,
        ``changed`` and ``extra`` (sorted relative paths; files exporters add
        later -- ``lava_results.json``, ``lava_<phase>_results.json``,
        ``lava_<phase>_weights.npz``, ``model.nir`` -- are listed under
        ``exports`` instead and do not count as extra).

    Raises
    ------
    RunFolderError
        If ``results.json`` is unreadable or records no checksums.
    """
    path = Path(path)
    res = read_results(path)
    f = path / "results.json"
    recorded = res.get("files")
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise RunFolderError(f, "records no file checksums ('files'); written by an older neuromem?")
    actual = file_checksums(path)
    missing = sorted(k for k in recorded if k not in actual)
    changed = sorted(k for k in recorded if k in actual and actual[k] != recorded[k])
    others = sorted(k for k in actual if k not in recorded)
    exports = [k for k in others if _EXPORT_OUTPUTS.fullmatch(k)]
    extra = [k for k in others if k not in exports]
    return {"ok": not (missing or changed or extra), "files": len(recorded), "missing": missing,
            "changed": changed, "extra": extra, "exports": exports}
