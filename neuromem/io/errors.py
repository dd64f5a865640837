"""Errors of run folders: unreadable folders and files, unknown phases, unusable output folders, failed resumes."""

from __future__ import annotations

from pathlib import Path

__all__ = ["RunFolderError", "UnknownPhaseError", "ResumeError", "OutDirError"]


class RunFolderError(ValueError):
    """A run folder, or a file in it, is missing, truncated or malformed.

    Raised by every reader of this module (and by the exporters that read
    run folders) instead of the underlying ``FileNotFoundError``,
    ``JSONDecodeError``, ``BadZipFile``, ``KeyError``, ... .  The message is
    one line, ``<path>: <problem>``; the command line prints it as
    ``error: <message>`` and exits with status 2.

    Parameters
    ----------
    path : str or Path
        The file (or folder) at fault.
    problem : str
        What is wrong with it (whitespace is collapsed to keep one line).

    Attributes
    ----------
    path : Path
    problem : str
    """

    def __init__(self, path, problem):
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")

    def __str__(self) -> str:
        return self.args[0]


class UnknownPhaseError(RunFolderError, KeyError):
    """A phase name that the run folder's ``results.json`` does not list (also a ``KeyError``)."""


class ResumeError(Exception):
    """A folder cannot be resumed: not a run checkpoint, unreadable, or another run's."""


class OutDirError(RunFolderError):
    """The output folder (``--out``) is unusable: a file, under a file, or not writable."""
