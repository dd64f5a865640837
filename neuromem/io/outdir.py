"""The output folder of runs: checking it, reserving a run's partial folder, and its writer.

A run folder is assembled as ``.<name>.partial`` next to its final place
(:func:`reserve_folder`) and renamed only when complete, so a folder without
the leading dot is always a finished run.  The partial folder names the
process writing it (:data:`~neuromem.io.layout.WRITER_FILE`,
:func:`claim_partial`), so that a partial folder whose writer is gone can be
told from one being written (:func:`stale_partials`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from neuromem.io.errors import OutDirError
from neuromem.io.layout import WRITER_FILE

__all__ = ["check_out_dir", "claim_partial", "writer_pid", "writer_alive", "stale_partials", "clean_stale_partials", "reserve_folder", "final_name"]


def check_out_dir(out_dir) -> Path:
    """Check, without creating anything, that run folders can be written into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Parent folder of run folders; it may not exist yet.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    OutDirError
        If ``out_dir`` is a file, lies under a file, or it (or, when missing,
        its nearest existing ancestor) is not a writable folder.
    """
    out_dir = Path(out_dir)
    probe = out_dir
    while not probe.exists():
        if probe.is_symlink():
            raise OutDirError(probe, "is a broken symbolic link; cannot create the output folder")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutDirError(probe, "is a file, not a folder" if probe == out_dir else
                          f"is a file, so the output folder {out_dir} cannot be created under it")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".neuromem-write-test-", dir=probe))
        tmp.rmdir()
    except OSError as e:
        where = "" if probe == out_dir else f" (the output folder {out_dir} would be created in it)"
        raise OutDirError(probe, f"is not writable{where}: {e.strerror or e}") from None
    return out_dir


_STALE_AFTER_S = 60.0
"""A partial folder without a writer file is stale once untouched this long (seconds)."""


def _process_start(pid: int):
    """Start time of process ``pid`` (clock ticks since boot, from /proc), or ``None`` if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def claim_partial(folder) -> None:
    """Record the current process as the writer of the partial folder ``folder``.

    :func:`stale_partials` leaves a partial folder alone while this process
    runs.  Called when the folder is reserved; a process that continues an
    interrupted run in an existing partial folder calls it again.
    """
    writer = {"pid": os.getpid(), "host": platform.node(), "start": _process_start(os.getpid())}
    tmp = Path(folder) / f"{WRITER_FILE}.tmp"
    tmp.write_text(json.dumps(writer) + "\n", encoding="utf-8")
    os.replace(tmp, Path(folder) / WRITER_FILE)


def writer_pid(folder: Path) -> int | None:
    """The process id recorded in ``folder/.writer`` (``None`` if unreadable)."""
    try:
        return int(json.loads((Path(folder) / WRITER_FILE).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def writer_alive(folder: Path) -> bool | None:
    """Whether the process named in ``folder/.writer`` runs (``None``: no readable writer file)."""
    try:
        w = json.loads((folder / WRITER_FILE).read_text(encoding="utf-8"))
        pid, host, start = int(w["pid"]), w.get("host"), w.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != platform.node():
        return True                        # another machine's process: cannot tell, so leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                               # exists, another user's
    now = _process_start(pid)
    return start is None or now is None or now == start   # a reused PID is another process


def stale_partials(out_dir) -> list[Path]:
    """Hidden ``.<name>.partial`` folders in ``out_dir`` that no running process writes.

    A partial folder is stale when the writer recorded in it (:func:`claim_partial`)
    no longer runs, or, without a writer file, when it has not been touched
    for a minute.

    Parameters
    ----------
    out_dir : str or Path

    Returns
    -------
    list of Path
        Sorted; empty if ``out_dir`` does not exist.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    out = []
    for f in sorted(out_dir.glob(".*.partial")):
        if not f.is_dir() or f.is_symlink():
            continue
        alive = writer_alive(f)
        if alive is None:
            try:
                alive = _dt.datetime.now().timestamp() - f.stat().st_mtime < _STALE_AFTER_S
            except OSError:
                continue
        if not alive:
            out.append(f)
    return out


def clean_stale_partials(out_dir, log=None) -> dict:
    """Remove the stale partial folders of ``out_dir``; keep (and report) resumable ones.

    A stale partial folder holding a checkpoint (``checkpoint/run.json``,
    see :class:`RunCheckpoint`) is the only copy of an interrupted run's
    completed phases: it is kept and reported so that it can be resumed.

    Parameters
    ----------
    out_dir : str or Path
    log : callable, optional
        Called with one line per folder removed or kept.

    Returns
    -------
    dict
        ``removed`` and ``resumable``: lists of Path.
    """
    say = log or (lambda line: None)
    removed, resumable = [], []
    for f in stale_partials(out_dir):
        if (f / "checkpoint" / "run.json").is_file():
            resumable.append(f)
            say(f"note: {f} is an interrupted run's partial folder; it was kept and can be resumed "
                f"(neuromem run MODEL --resume {f}); delete it if not needed")
            continue
        shutil.rmtree(f, ignore_errors=True)
        if f.exists():
            say(f"warning: could not remove the stale partial folder {f}")
            continue
        removed.append(f)
        say(f"removed {f}: the partial folder of a run that was killed before it finished")
    return {"removed": removed, "resumable": resumable}


def reserve_folder(out_dir: Path, base: str) -> tuple[Path, Path]:
    """Final and partial paths for the first free ``base``, ``base-2``, ..."""
    k = 1
    while True:
        name = base if k == 1 else f"{base}-{k}"
        final, partial = out_dir / name, out_dir / f".{name}.partial"
        if not final.exists() and not partial.exists():
            try:
                partial.mkdir()
            except FileExistsError:
                pass
            else:
                claim_partial(partial)
                return final, partial
        k += 1


def final_name(partial: Path) -> str:
    """``name`` for a partial folder ``.name.partial``."""
    return partial.name[1:-len(".partial")]
