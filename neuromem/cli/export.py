"""The ``check`` and ``export`` subcommands: what a target cannot represent, and exports to Lava, NIR, NWB.

The exporters themselves live in :mod:`neuromem.export`; this module parses
and checks the options (refusing a broken run folder or output folder before
anything slow starts), reports progress (:class:`LavaProgress`) and prints
the agreement with Brian2, warning for rates that differ too much
(:func:`warn_rates`).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from neuromem.cli.arguments import add_model_arguments, add_refractory_argument, load_from_args, refractory_from_args
from neuromem.cli import subcommand

__all__ = ["LavaProgress", "RATE_TOLERANCE", "DEFAULT_EXPORT_PHASE", "fmt_optional", "warn_rates"]


@subcommand("check", help="list what a backend cannot represent in a model (exit 1 if any error)")
def _setup_check(p: argparse.ArgumentParser):
    add_model_arguments(p)
    p.add_argument("--backend", choices=["lava"], default="lava", help="target backend (default lava)")
    p.add_argument("--mode", choices=["float", "fixed"], default="float", help="Lava number format")
    p.add_argument("--phase", default=None, help="check one phase only (default: the whole model)")
    add_refractory_argument(p)

    def run(args) -> int:
        from neuromem.export.lava import check_lava

        refractory = refractory_from_args(args)
        if refractory is None:
            return 2
        m = load_from_args(args)
        issues = check_lava(m, phase=args.phase, mode=args.mode, refractory=refractory)
        for issue in issues:
            print(issue)
        errors = [i for i in issues if i.severity == "error"]
        variant = args.mode if args.mode == "float" else f"{args.mode}, refractory {refractory}"
        print(f"{m.name}: {len(errors)} error(s), {len(issues) - len(errors)} warning(s) for "
              f"{args.backend} ({variant})")
        return 1 if errors else 0

    return run


@subcommand("export", help="export a Brian2 run folder to Lava (and run it), to NIR or to NWB")
def _setup_export(p: argparse.ArgumentParser):
    p.add_argument("target", choices=["lava", "nir", "nwb"])
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `neuromem run`")
    p.add_argument("--phase", default=DEFAULT_EXPORT_PHASE,
                   help=f"phase to export (default {DEFAULT_EXPORT_PHASE}, the default model's recall after "
                        f"sleep); lava: a plastic phase (e.g. sleep) runs with learning on Lava "
                        f"(LearningDense), then the recall phase that follows it, unless --frozen")
    p.add_argument("--mode", choices=["float", "fixed"], default="float", help="Lava number format")
    add_refractory_argument(p)
    p.add_argument("--headroom", type=float, default=None, metavar="H",
                   help="lava, --mode fixed only: Loihi's 24-bit v spans v_reset +- H (v_th - v_reset) "
                        "(default 8; smaller: finer resolution, but strong inhibition saturates v)")
    p.add_argument("--out", default=None,
                   help="lava: folder for lava_results.json (lava_<phase>_results.json with learning) "
                        "(default RUN_DIR; a second export there replaces it: give each phase/mode/"
                        "refractory its own --out to keep several); nir: output file (default RUN_DIR/model.nir); "
                        "nwb: output file (default RUN_DIR/run.nwb)")
    p.add_argument("--frozen", action="store_true",
                   help="lava: run a plastic phase with its weights frozen at the phase start (no learning)")
    p.add_argument("--then", default="auto", metavar="PHASE",
                   help="lava, learning: the phase run after the plastic one in the same Lava network "
                        "(default auto: the recall phase continuing from it; 'none': none)")
    p.add_argument("--bounds", choices=["clip", "brian2", "none"], default="clip",
                   help="lava, learning: weight bounds: clip once per step (Loihi-style saturation, default), "
                        "brian2 (clip after each pre/post update, as Brian2), none (Lava's LearningDense)")
    p.add_argument("--from-rest", action="store_true",
                   help="lava: start the phase from rest (v = v_rest, I = 0, nothing in flight) instead of "
                        "Brian2's recorded start state initial/<phase>.npz; without this flag a run folder "
                        "lacking that file is refused (from rest, spikes are not expected to match Brian2's)")

    def run(args) -> int:
        from pathlib import Path

        from neuromem.export import ExportError
        from neuromem.io import OutDirError, check_out_dir, check_run_folder

        progress = LavaProgress()   # prints nothing until the export reports its first step
        try:
            if args.target == "lava":
                # every file the export reads is checked first: a broken run folder is refused at once,
                # naming the file, before anything slow (or Lava) starts
                then = [] if args.then.lower() in ("auto", "none") else [args.then]
                check_run_folder(args.run_dir, [args.phase, *then])
                if args.out is not None:      # refused now, not after Lava has run
                    check_out_dir(args.out)
                from neuromem.export.lava import run_is_plastic

                if args.from_rest:
                    print(f"warning: --from-rest: Lava starts phase {args.phase!r} from rest, not from Brian2's "
                          f"recorded start state; spikes are not expected to match Brian2's (recorded as "
                          f"\"from_rest\": true in the results)", file=sys.stderr)

                if not args.frozen and run_is_plastic(args.run_dir, args.phase):
                    for opt in ("refractory", "headroom"):
                        if getattr(args, opt) is not None:
                            print(f"error: --{opt} {getattr(args, opt)} applies to frozen fixed-point exports "
                                  f"only; phase {args.phase!r} is plastic and learns on Lava in floating "
                                  f"point (add --frozen --mode fixed to run it with frozen weights in fixed "
                                  f"point)", file=sys.stderr)
                            return 2
                    return _export_lava_learning(args, progress)
                refractory = refractory_from_args(args)
                if refractory is None:
                    return 2
                if args.headroom is not None and args.mode != "fixed":
                    print("error: --headroom applies to --mode fixed only", file=sys.stderr)
                    return 2
                if args.headroom is not None and not args.headroom >= 1:
                    print(f"error: --headroom must be >= 1, got {args.headroom:g}", file=sys.stderr)
                    return 2
                from neuromem.export.lava import DEFAULT_HEADROOM, run_lava

                dest = Path(args.out or args.run_dir) / "lava_results.json"
                before = _previous_lava_results(dest)
                res = run_lava(args.run_dir, phase=args.phase, mode=args.mode, out=args.out,
                               refractory="ignore" if refractory == "exact" else refractory,
                               headroom=DEFAULT_HEADROOM if args.headroom is None else args.headroom,
                               from_rest=args.from_rest, progress=progress)
                progress.close()
                a = res["agreement"]
                warn_rates(a["by_population"], f"lava {res['mode']} {res['phase']}")
                variant = f"refractory {res['refractory']}"
                if res["quantisation"]:
                    variant += f", headroom {res['quantisation']['headroom']:g}"
                print(f"lava {res['mode']} ({variant}) {res['phase']}: recall overlap "
                      f"{fmt_optional(res['recall_overlap'])} (brian2 {fmt_optional(res['recall_overlap_brian2'])}); "
                      f"identical spikes {a['identical_spike_fraction']:.3f}, pattern identity "
                      f"{fmt_optional(a['pattern_identity'])}, "
                      f"rate error {a['rate_relative_error']:+.3f}")
                if before is not None:
                    print(f"replaced the previous {dest.name} there ({before}); use --out DIR to keep several")
                print(f"results: {res['output']}")
            else:
                for opt in ("refractory", "headroom"):
                    if getattr(args, opt) is not None:
                        print(f"error: --{opt} applies to `export lava` only", file=sys.stderr)
                        return 2
                if args.from_rest:
                    print("error: --from-rest applies to `export lava` only", file=sys.stderr)
                    return 2
                if args.target == "nwb":
                    return _export_nwb(args)
                check_run_folder(args.run_dir, [args.phase])
                if args.out is not None:
                    if Path(args.out).is_dir():
                        raise OutDirError(args.out, "is a folder; --out names the .nir file to write")
                    check_out_dir(Path(args.out).parent)
                from neuromem.export.nir import export_nir

                out = args.out or str(Path(args.run_dir) / "model.nir")
                export_nir(args.run_dir, out, phase=args.phase)
                print(f"written: {out}")
        except ExportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        finally:
            progress.close()
        return 0

    return run


class LavaProgress:
    """Progress of a Lava export on stderr, step by step, with the elapsed time.

    Called by :func:`neuromem.export.lava.run_lava` and
    :func:`neuromem.export.lava.run_lava_learning` as each step
    starts (build, compile, run, compare).  On a terminal each step is a
    :mod:`tqdm` bar: a step counter where the exporter reports steps (the
    chunks of a learning run), otherwise the elapsed time, refreshed twice a
    second while Lava runs as one call.  Elsewhere (a log file) each step
    prints one line when it ends, with its duration.

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr``.
    """

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lines: list[str] = []
        self._name = self._bar = self._stop = None
        self._t0 = self._total = 0

    def __call__(self, step: str, total: int | None = None, done: int | None = None) -> None:
        """Start ``step`` (or, for the current step, report ``done`` of ``total`` Lava steps)."""
        if step == self._name:
            if self._bar is not None and done is not None:
                self._bar.n = done
                self._bar.refresh()
            return
        self.close()
        self._name, self._t0, self._total = step, time.perf_counter(), total
        if self.tty:
            from tqdm import tqdm

            bar_format = "{desc}: {elapsed}" if not total else None
            self._bar = tqdm(total=total, desc=f"lava: {step}", unit="step", file=self.stream, bar_format=bar_format,
                             initial=done or 0)
            self._stop = threading.Event()
            threading.Thread(target=self._tick, args=(self._bar, self._stop), daemon=True).start()

    @staticmethod
    def _tick(bar, stop):
        while not stop.wait(0.5):
            bar.refresh()

    def close(self) -> None:
        """End the current step (prints its line off a terminal)."""
        if self._name is None:
            return
        elapsed = time.perf_counter() - self._t0
        if self._bar is not None:
            self._stop.set()
            self._bar.close()
            self._bar = None
        else:
            steps = f" ({self._total} steps)" if self._total else ""
            line = f"lava: {self._name}{steps} {elapsed:.1f} s"
            self.lines.append(line)
            print(line, file=self.stream, flush=True)
        self._name = None


RATE_TOLERANCE = 0.03
"""Largest relative difference of an exported population's rate from Brian2's without a warning."""

DEFAULT_EXPORT_PHASE = "recall_lesioned_after_sleep"
"""``neuromem export``'s ``--phase`` when none is given: the default model's (``models/cls.toml``)
recall after sleep.  A command-line convenience only; the library's exporters take the phase
as a required argument."""


def fmt_optional(x, spec: str = ".3f") -> str:
    """``format(x, spec)``, or ``"n/a"`` for ``None`` (a figure an export could not compute)."""
    return "n/a" if x is None else format(x, spec)


def warn_rates(by_population: dict, what: str, tolerance: float = RATE_TOLERANCE) -> list[str]:
    """Print ``warning: ...`` on stderr for each population whose rate differs from Brian2's too much.

    Parameters
    ----------
    by_population : dict
        ``agreement["by_population"]`` of an export
        (:func:`neuromem.export.compare.compare_spikes`): ``rate_hz``,
        ``rate_reference_hz`` and ``rate_relative_error`` per population.
    what : str
        What ran, for the message (e.g. ``"lava fixed recall"``).
    tolerance : float, optional
        Relative difference allowed (default :data:`RATE_TOLERANCE`, 3 %).

    Returns
    -------
    list of str
        The lines printed.
    """
    lines = []
    for pop, d in by_population.items():
        err = d.get("rate_relative_error")
        if err is not None and abs(err) > tolerance:
            lines.append(f"warning: {what}: {pop} fires at {d['rate_hz']:.3g} Hz, Brian2 at "
                         f"{d['rate_reference_hz']:.3g} Hz ({err:+.1%}; more than the {tolerance:.0%} target)")
    for line in lines:
        print(line, file=sys.stderr)
    return lines


def _export_nwb(args) -> int:
    """``export nwb``: the whole run (every phase) as one NWB file; exit 2 without pynwb."""
    from neuromem.export.nwb import NWBExportError, export_nwb

    try:
        out = export_nwb(args.run_dir, args.out)
    except NWBExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"written: {out}")
    return 0


def _previous_lava_results(path) -> str | None:
    """``"phase P, mode M, refractory R"`` of an existing ``lava_results.json``, else ``None``."""
    import json

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        return f"phase {old.get('phase')}, mode {old.get('mode')}, refractory {old.get('refractory')}"
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return "unreadable"


def _export_lava_learning(args, progress=None) -> int:
    """``neuromem export lava RUN_DIR --phase <plastic phase>``: learning on Lava, then the recall."""
    from neuromem.export.lava import run_lava_learning

    then = None if args.then.lower() == "none" else args.then
    res = run_lava_learning(args.run_dir, phase=args.phase, then=then, mode=args.mode, bounds=args.bounds,
                            out=args.out, from_rest=args.from_rest, progress=progress)
    if progress is not None:
        progress.close()
    warn_rates(res["spikes"]["by_population"], f"lava {res['mode']} {res['phase']} (learning)")
    if res["recall"] is not None:
        warn_rates(res["recall"]["spikes"]["by_population"], f"lava {res['mode']} {res['then']}")

    print(f"lava {res['mode']} {res['phase']} with learning (bounds {res['bounds']}): identical spikes "
          f"{res['spikes']['identical_spike_fraction']:.3f}")
    for name, w in res["weights"].items():
        ev = w.get("bound_events")
        extra = "" if not ev else f", clipped {ev['clipped']}, order-sensitive {ev['order_sensitive']}"
        print(f"  {name}: weights r = {fmt_optional(w['correlation'], '.6f')} (changes r = "
              f"{fmt_optional(w['change_correlation'], '.4f')}), mean |diff| {w['mean_abs_diff_mV']:.2g} mV{extra}")
    if res["then"] is not None:
        print(f"{res['then']} after the Lava {res['phase']}: recall overlap {fmt_optional(res['recall_overlap'])} "
              f"(after the Brian2 {res['phase']}: {fmt_optional(res['recall_overlap_brian2'])}; difference "
              f"{fmt_optional(res['recall_overlap_difference'], '+.3f')})")
    print(f"results: {res['output']}")
    print(f"learned weights: {res['weights_output']}")
    return 0
