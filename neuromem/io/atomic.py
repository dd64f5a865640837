"""Atomic writes: a file is either the old one or the complete new one (JSON and ``.npz``).

:func:`write_json_atomic` is the one atomic JSON writer of neuromem (run
checkpoints, export results, summaries of the simulations); :func:`jsonable`
turns numpy values into JSON types.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["jsonable", "write_json_atomic", "write_npz_atomic", "savez_fast", "NPZ_COMPRESSLEVEL"]


def jsonable(x):
    """Recursively convert to JSON types; non-finite floats become ``None``."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, str):
        return x
    raise TypeError(f"not JSON-serialisable: {type(x).__name__} {x!r}")


def _write_atomic(path, mode: str, write) -> Path:
    """Write ``path`` through a temporary file in its folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_json_atomic(path, obj) -> Path:
    """Write ``obj`` as JSON so that ``path`` is either the old file or the complete new one.

    The data go to a temporary file in the same folder, which is then renamed
    over ``path`` (``os.replace``); on any failure the temporary file is
    removed and ``path`` is untouched.  Numpy values become JSON types and
    non-finite floats ``null``.  The one atomic JSON writer of neuromem (run
    checkpoints, export results).

    Parameters
    ----------
    path : str or Path
        Its folder is created if missing.
    obj : dict or list

    Returns
    -------
    Path
        ``path``.
    """
    def write(fh):
        json.dump(jsonable(obj), fh, indent=2, allow_nan=False)
        fh.write("\n")
    return _write_atomic(path, "w", write)


def write_npz_atomic(path, arrays: dict) -> Path:
    """Write ``arrays`` as an (uncompressed) ``.npz`` file atomically, as :func:`write_json_atomic`.

    Parameters
    ----------
    path : str or Path
    arrays : dict of str to array_like

    Returns
    -------
    Path
        ``path``.
    """
    return _write_atomic(path, "wb", lambda fh: np.savez(fh, **arrays))


NPZ_COMPRESSLEVEL = 1
"""zlib level of the run folder's ``.npz`` files (:func:`savez_fast`)."""


def savez_fast(path, **arrays) -> None:
    """Write ``arrays`` as a deflate-compressed ``.npz``, as :func:`numpy.savez_compressed` but at zlib level 1.

    ``numpy.savez_compressed`` deflates at zlib's default level 6, which on a
    run's weights (float64 with random low bits, hardly compressible) spends
    about twice the time of level 1 for files a few per cent smaller.  The
    files are ordinary ``.npz`` archives (one ``<name>.npy`` member per array,
    written by :func:`numpy.lib.format.write_array`): :func:`numpy.load`
    reads the same arrays from either.

    Parameters
    ----------
    path : str or Path
        The file to write (replaced if it exists).
    **arrays : array_like
        Name → array (no object arrays).
    """
    import zipfile

    with zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True,
                         compresslevel=NPZ_COMPRESSLEVEL) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)
