"""Argument groups and checks shared by several subcommands.

Each ``add_*`` function adds one group of arguments to a subcommand's parser;
:func:`load_from_args` and :func:`check_resources` turn them into a validated
model, refused before anything runs when it cannot fit in memory.
"""

from __future__ import annotations

import argparse
import sys

from neuromem.spec import ModelError

__all__ = ["add_model_arguments", "load_from_args", "add_force_argument", "check_resources",
           "add_refractory_argument", "refractory_from_args"]


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``MODEL`` (a TOML file) and repeatable ``--set key.path=value``."""
    p.add_argument("model", metavar="MODEL", help="model file (TOML; format: models/README.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a model value before validation, e.g. "
                        "--set 'protocol.phases.sleep.duration=20 s' (repeatable; later wins)")


def load_from_args(args: argparse.Namespace):
    """The :class:`~neuromem.spec.Model` named by ``args.model`` with ``args.overrides``.

    Raises
    ------
    neuromem.spec.ModelError
        For an unreadable file, an invalid model or a refused override.
    """
    from neuromem.spec.loader import load_model

    return load_model(args.model, overrides=args.overrides)


def add_force_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--force``: go on although the model's estimated memory exceeds what is available."""
    p.add_argument("--force", action="store_true",
                   help="go on even if the estimated memory (printed by validate) exceeds the memory available")


def check_resources(model, args: argparse.Namespace) -> list[str]:
    """Refuse a model whose estimated memory exceeds what this machine has available.

    Parameters
    ----------
    model : neuromem.spec.Model
    args : argparse.Namespace
        ``args.model`` (named in the error) and ``args.force`` (warn on
        stderr instead of refusing).

    Returns
    -------
    list of str
        The estimate, formatted (:func:`neuromem.spec.resources.format_resources`).

    Raises
    ------
    neuromem.spec.ModelError
        When the estimate exceeds the available memory and ``--force`` is not
        given (exit status 2, nothing run).
    """
    from neuromem.spec.resources import available_memory, estimate_resources, format_bytes, format_resources

    est = estimate_resources(model)
    avail = available_memory()
    lines = format_resources(est, avail)
    if avail is not None and est["total_bytes"] > avail:
        what = (f"needs an estimated {format_bytes(est['total_bytes'])} of memory but "
                f"{format_bytes(avail)} is available")
        if not getattr(args, "force", False):
            raise ModelError(f"{what}; refused before anything runs (--force to try anyway)\n  "
                             + "\n  ".join(lines), file=args.model)
        print(f"warning: {args.model}: {what}; going on (--force)", file=sys.stderr)
    return lines


def add_refractory_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--refractory {ignore,emulate}`` (Lava fixed point only; default ``None`` = not given)."""
    p.add_argument("--refractory", choices=["ignore", "emulate"], default=None,
                   help="lava, --mode fixed only: Loihi 2's bit-accurate LIF has no refractory period; "
                        "emulate it (default: neuromem's fixed-point LIFRefractory model, same integer "
                        "arithmetic, v frozen like Brian2; on a chip this needs a microcoded neuron) or "
                        "ignore it (Loihi 2's stock LIF: neurons fire again at once and rates run away)")


def refractory_from_args(args) -> str | None:
    """``args.refractory`` resolved (``"emulate"`` when not given in fixed mode, ``"exact"`` in float
    mode); ``None`` after printing an error when ``--refractory`` is given without ``--mode fixed``."""
    if args.mode != "fixed":
        if args.refractory is not None:
            print(f"error: --refractory {args.refractory} applies to --mode fixed only (floating point "
                  f"reproduces refractoriness exactly with LIFRefractory)", file=sys.stderr)
            return None
        return "exact"
    return args.refractory or "emulate"
