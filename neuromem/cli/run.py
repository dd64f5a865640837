"""The ``run`` and ``validate`` subcommands: simulate a model, or check it without simulating."""

from __future__ import annotations

import argparse
import sys

from neuromem.cli.arguments import add_force_argument, add_model_arguments, check_resources, load_from_args
from neuromem.cli import subcommand


@subcommand("run", help="simulate a model (Brian2), print a summary and write a run folder")
def _setup_run(p: argparse.ArgumentParser):
    add_model_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="runs", metavar="DIR", help="parent folder of the run folder (default runs)")
    p.add_argument("--target", choices=("auto", "cython", "numpy"), default="auto",
                   help="Brian2 code generation target (default auto: Cython if it compiles, else numpy)")
    p.add_argument("--device", choices=("runtime", "cpp_standalone"), default=None,
                   help="Brian2 device: runtime (phase by phase from Python) or cpp_standalone (the whole "
                        "protocol in one compiled program, cached and rerun for another seed without "
                        "recompiling); default $NEUROMEM_DEVICE, else runtime")
    add_force_argument(p)
    p.add_argument("--no-figures", dest="figures", action="store_false", help="do not draw figures")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars, phase log or summary; print only the results line")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run from its last completed phase: RUN_DIR is its hidden "
                        "partial folder (.<name>.partial, printed when the run stopped); MODEL, --seed and "
                        "--set must be those it was started with; it is finished next to RUN_DIR "
                        "(--out does not apply) with the results of an uninterrupted run")

    def run(args) -> int:
        check_resources(load_from_args(args), args)
        from neuromem.backends.brian2 import Brian2Options
        from neuromem.experiment import run_experiment, summary_lines
        from neuromem.io import ResumeError

        _prepare_out(args)
        options = Brian2Options(target=args.target, progress=not args.quiet, device=args.device)
        try:
            _, metrics, folder = run_experiment(
                args.model, seed=args.seed, overrides=args.overrides, out_dir=args.out,
                backend_options=options, figures=args.figures, progress=not args.quiet,
                log=None if args.quiet else print, resume=args.resume)
        except ResumeError as e:
            print(f"error: cannot resume: {e}", file=sys.stderr)
            return 2
        if not args.quiet:
            for line in summary_lines(metrics):
                print(line)
        print(f"results: {folder}")
        return 0

    return run


def _prepare_out(args) -> None:
    """Before anything is simulated: refuse an unusable ``--out`` and clean its stale partial folders.

    Raises
    ------
    neuromem.io.OutDirError
        If ``args.out`` is a file, under a file, or not writable (exit status 2).
    """
    from neuromem.io import check_out_dir, clean_stale_partials

    if getattr(args, "resume", None) is not None:   # finished next to the resumed folder, not in --out
        return
    check_out_dir(args.out)
    clean_stale_partials(args.out, log=lambda line: print(line, file=sys.stderr))


@subcommand("validate", help="check a model file (with overrides) and summarise it")
def _setup_validate(p: argparse.ArgumentParser):
    add_model_arguments(p)
    add_force_argument(p)

    def run(args) -> int:
        m = load_from_args(args)
        lines = check_resources(m, args)
        print(f"OK: {m.name}: {len(m.populations)} populations, {len(m.projections)} projections, "
              f"{len(m.protocol.phases)} phases, n_memories={m.protocol.n_memories}")
        for line in lines:
            print(line)
        return 0

    return run
