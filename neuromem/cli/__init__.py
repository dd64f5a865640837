"""The ``neuromem`` command line.

::

    neuromem run MODEL [--seed N] [--out DIR] [--set key.path=value ...]
                       [--target auto|cython|numpy] [--no-figures] [--quiet] [--force] [--resume RUN_DIR]
    neuromem validate MODEL [--set key.path=value ...] [--force]
    neuromem info
    neuromem check MODEL --backend lava [--mode float|fixed] [--refractory ignore|emulate] [--phase P]
    neuromem export lava RUN_DIR [--phase P] [--mode float|fixed] [--refractory ignore|emulate]
                         [--headroom H] [--out DIR] [--frozen] [--then PHASE] [--bounds clip|brian2|none]
                         [--from-rest]
    neuromem export nir RUN_DIR [--phase P] [--out FILE]
    neuromem export nwb RUN_DIR [--out FILE]
    neuromem verify RUN_DIR
    neuromem sweep MODEL --grid key.path=v1,v2,... [--grid ...] [--seeds 1-5] [--scheduler ADDRESS]
                   [--workers N] [--out DIR] [--metric NAME] [--target auto|cython|numpy] [--set ...]

Every subcommand is one function decorated with :func:`subcommand`: it
receives its own :class:`argparse.ArgumentParser`, adds its arguments and
returns the handler ``handler(args) -> int`` (the exit status).  This
package holds the registry and :func:`main` only; the subcommands live in
one module per group, imported at the end of this file (the order of the
imports is the order of ``neuromem --help``):

``run.py``
    ``run`` and ``validate``;
``sweep.py``
    ``sweep``;
``export.py``
    ``check`` and ``export`` (with the Lava progress display and rate warnings);
``info.py``
    ``verify`` and ``info``.

Adding a subcommand means adding one such function to one of them (or to a
new module imported below); :func:`main` needs no change.  Shared argument
groups are helpers in ``arguments.py`` (:func:`add_model_arguments`,
:func:`load_from_args`, ...), re-exported here.

Exit status: 0 on success, 2 for a usage error, an invalid model (a
:class:`~neuromem.spec.ModelError`), a broken run folder or unusable output
folder (a :class:`~neuromem.io.RunFolderError`), each printed as one line
``error: <message>`` on stderr (nothing is written then), 1 for other
failures reported by a handler, 130 when interrupted (SIGINT) and 143 when
terminated (SIGTERM, handled like SIGINT: nothing half-written is left that
looks finished).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from neuromem.cli.arguments import (add_force_argument, add_model_arguments, add_refractory_argument,
                                    check_resources, load_from_args)
from neuromem.spec import ModelError

__all__ = ["main", "brian2_without_pylab", "subcommand", "build_parser", "add_model_arguments",
           "add_refractory_argument", "add_force_argument", "check_resources", "load_from_args", "SUBCOMMANDS", "LavaProgress",
           "warn_rates", "fmt_optional", "info_lines", "RATE_TOLERANCE", "DEFAULT_EXPORT_PHASE"]


@dataclass(frozen=True)
class _Subcommand:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]


SUBCOMMANDS: dict[str, _Subcommand] = {}
"""Registered subcommands by name, in the order they appear in ``--help``."""


def subcommand(name: str, help: str):
    """Register a subcommand.

    Parameters
    ----------
    name : str
        The word on the command line (``neuromem NAME ...``).
    help : str
        One line for ``neuromem --help``; also the subcommand's description.

    Returns
    -------
    callable
        A decorator for ``setup(parser) -> handler``: ``setup`` adds the
        subcommand's arguments to ``parser`` and returns
        ``handler(args) -> int``, which runs the subcommand and returns the
        exit status.  A :class:`~neuromem.spec.ModelError` raised by the
        handler is reported as ``error: <message>`` with status 2.

    Examples
    --------
    >>> @subcommand("hello", help="say hello")          # doctest: +SKIP
    ... def hello(p):
    ...     p.add_argument("--name", default="world")
    ...     def run(args):
    ...         print(f"hello {args.name}")
    ...         return 0
    ...     return run
    """

    def deco(setup):
        if name in SUBCOMMANDS:
            raise ValueError(f"subcommand {name!r} is already registered")
        SUBCOMMANDS[name] = _Subcommand(name, help, setup)
        return setup

    return deco



# ---------------------------------------------------------------- entry point


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and ``{subcommand: handler}``."""
    import neuromem

    parser = argparse.ArgumentParser(
        prog="neuromem", description="Spiking memory simulator: encode, sleep, recall.")
    parser.add_argument("--version", action="version", version=f"neuromem {neuromem.__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for cmd in SUBCOMMANDS.values():
        p = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        handlers[cmd.name] = cmd.setup(p)
    return parser, handlers


def main(argv=None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (usage errors and ``--help`` return argparse's status
        instead of raising :class:`SystemExit`).
    """
    from neuromem.io import RunFolderError

    parser, handlers = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    terminated: list = []
    try:
        with _sigterm_as_interrupt(terminated), brian2_without_pylab():
            return int(handlers[args.command](args) or 0)
    except (ModelError, RunFolderError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if terminated:
            print("terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        print("interrupted", file=sys.stderr)
        return 130


@contextmanager
def brian2_without_pylab():
    """While active, a first ``import brian2`` does not import ``pylab`` (matplotlib.pyplot).

    Brian2's ``__init__`` runs ``from pylab import *`` (when matplotlib is
    installed) so that ``from brian2 import *`` also gives a plotting
    namespace; neuromem never uses it (figures import matplotlib
    themselves, only when drawn), and importing pyplot is about a quarter of
    ``import brian2`` (~1 s of a 6 s ``neuromem run`` of a small network).
    ``pylab`` is made unimportable (``sys.modules["pylab"] = None``, which
    Brian2 handles as matplotlib missing: it imports numpy's names instead)
    only if neither Brian2 nor pylab has been imported yet, and importable
    again on exit.  :func:`main` runs every command inside it: the command
    line's process is neuromem's own; library calls (``neuromem.run``) leave
    a user's Brian2 as Brian2 makes it.
    """
    block = "brian2" not in sys.modules and "pylab" not in sys.modules
    if block:
        sys.modules["pylab"] = None
    try:
        yield
    finally:
        if block and "pylab" in sys.modules and sys.modules["pylab"] is None:
            del sys.modules["pylab"]


@contextmanager
def _sigterm_as_interrupt(received: list):
    """While active (main thread only), SIGTERM raises :class:`KeyboardInterrupt` like SIGINT.

    Job schedulers stop jobs with SIGTERM; turning it into the interrupt makes
    every ``except BaseException`` / ``finally`` clean-up run (a run folder
    being written is removed, Lava is shut down).

    Parameters
    ----------
    received : list
        The signal number is appended to it when SIGTERM arrives.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- the subcommands

# Imported last: each module registers its subcommands with :func:`subcommand`, defined above.
from neuromem.cli import run, sweep, export, info  # noqa: E402,F401  (registration order = --help order)
from neuromem.cli.export import DEFAULT_EXPORT_PHASE, RATE_TOLERANCE, LavaProgress, fmt_optional, warn_rates  # noqa: E402
from neuromem.cli.info import info_lines  # noqa: E402
