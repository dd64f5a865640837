"""Run a phase of a Brian2 run folder on Lava and compare: the one orchestration of both exports.

:func:`run_lava` (frozen weights, float or fixed point) and
:func:`run_lava_learning` (a plastic phase learning on Lava, then the recall
phase that continues from it) go through the same steps: read the run folder
and its model, refuse what Lava cannot represent (before anything is read or
lava imported), load the network frozen at the phase start
(:func:`neuromem.export.frozen.load_frozen_network`), build the Lava network,
run it (:func:`_execute`), put its spikes on the step grid and score them
against Brian2's with the shared tail (:func:`neuromem.export.compare.score_phase`),
then write the results atomically (:func:`neuromem.io.write_json_atomic`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from neuromem.export.compare import reference_phase, score_phase, to_spikes, weight_agreement
from neuromem.export.frozen import (
    delay_steps, depressing, exported_parts, history_spikes, load_depression, load_frozen_network, read_model,
    start_state,
)
from neuromem.export.issues import resolve_phase
from neuromem.export.lava.check import check_mode, is_plastic, require_lava, require_lava_learning
from neuromem.export.lava.learning import Segment, build_learning_network
from neuromem.export.lava.network import build_lava_network
from neuromem.export.lava.plan import DEFAULT_HEADROOM
from neuromem.export.lava.host import HostNormalisation, phase_start_time
from neuromem.export.lava.rules import learning_rule_plans
from neuromem.io import (
    UnknownPhaseError, load_model_text, load_patterns, load_spikes, load_weights, safe_name, write_json_atomic,
    write_npz_atomic,
)
from neuromem.records import Run
from neuromem.spec.loader import loads_model

__all__ = ["RESULTS_FILE", "results_file", "weights_file", "follow_up_phase", "run_is_plastic", "run_lava",
           "run_lava_learning"]

RESULTS_FILE = "lava_results.json"
"""The results file of :func:`run_lava` (one name for every frozen export: give each its own ``out``)."""


def results_file(phase: str) -> str:
    """Name of the results file of :func:`run_lava_learning` (``lava_<phase>_results.json``)."""
    return f"lava_{safe_name(phase)}_results.json"


def weights_file(phase: str) -> str:
    """Name of the learned-weights file of :func:`run_lava_learning` (``lava_<phase>_weights.npz``, per synapse, V)."""
    return f"lava_{safe_name(phase)}_weights.npz"


def follow_up_phase(results, model, phase: str):
    """The recall phase to run after ``phase`` in the same network, or ``None``.

    The first phase of kind ``"recall"`` in the run that continues from the
    end of ``phase`` (:meth:`~neuromem.spec.Protocol.origin`).
    """
    for p in results["phases"]:
        name = p["name"]
        if name != phase and model.protocol.origin(name) == phase and model.protocol.phase(name).kind == "recall":
            return name
    return None


def run_is_plastic(run_dir, phase: str) -> bool:
    """Whether ``phase`` of a run folder's model has plastic projections (reads ``model.toml`` only).

    ``False`` for a phase the model does not have.
    """
    run_dir = Path(run_dir)
    model = loads_model(load_model_text(run_dir), file=str(run_dir / "model.toml"))
    try:
        return is_plastic(model, phase)
    except KeyError:
        return False


def _progress(progress):
    return progress or (lambda step, total=None, done=None: None)


def _execute(build, run, say):
    """Build a Lava network, compile and run it, always shut it down.

    Returns ``(net, rasters, wall)`` with ``wall`` holding ``lava_build``,
    ``lava_stop`` and ``lava_total`` (build to stop, reading included).
    """
    t0 = time.perf_counter()
    say("build")
    net = build()
    build_time = time.perf_counter() - t0
    try:
        say("compile")
        net.compile()
        rasters = run(net)
        say("compare with Brian2")
    finally:
        t_stop = time.perf_counter()
        net.stop()
        stop_time = time.perf_counter() - t_stop
    return net, rasters, {"lava_build": build_time, "lava_stop": stop_time,
                          "lava_total": time.perf_counter() - t0}


def _recall_run(run_dir, results, model, synapses):
    """A callable giving the :class:`~neuromem.records.Run` the recall analysis needs (patterns read on call)."""
    def make():
        patterns, cues = load_patterns(run_dir)
        return Run(model=model, seed=int(results["seed"]), patterns=patterns, cues=cues, synapses=synapses,
                   initial_weights={})
    return make


def _phase_names(run_dir, results, *phases):
    names = [p["name"] for p in results["phases"]]
    for phase in phases:
        if phase is not None and phase not in names:
            raise UnknownPhaseError(Path(run_dir) / "results.json", f"no phase {phase!r} (phases: {', '.join(names)})")


def _duration(results, phase: str) -> float:
    return next(p["duration"] for p in results["phases"] if p["name"] == phase)


def run_lava(run_dir, phase: str, mode: str = "float", out=None, headroom=DEFAULT_HEADROOM,
             refractory: str = "ignore", from_rest: bool = False, progress=None) -> dict:
    """Run one phase of a Brian2 run folder on Lava with frozen weights and compare.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by :func:`neuromem.io.write_run`.
    phase : str
        The phase to export (the network as it was at its start).
    mode : {"float", "fixed"}
    out : str or Path, optional
        Folder for ``lava_results.json`` (default ``run_dir``), written atomically.
    headroom : float or dict, optional
        Fixed mode voltage range (:func:`~neuromem.export.lava.plan.plan_lava`).
    refractory : {"ignore", "emulate"}
        Fixed mode refractoriness (:func:`~neuromem.export.lava.plan.plan_lava`).
    from_rest : bool, optional
        Start from rest instead of the recorded start state
        ``initial/<phase>.npz``; without it a run folder lacking that file is
        refused.
    progress : callable, optional
        Told each step as it starts: ``progress(step)``, and for the Lava run
        ``progress("run", total=n_steps)`` (e.g. :class:`neuromem.cli.LavaProgress`).

    Returns
    -------
    dict
        ``mode``, ``refractory`` (``"exact"`` in float mode), ``phase``,
        ``n_steps``, ``dt``; ``recall_overlap`` and ``recall_overlap_brian2``
        (mean over the phase's items on Lava's and on Brian2's spikes, both on
        the step grid; ``None`` without items), ``recall`` /
        ``recall_brian2`` (the full metrics); ``agreement``
        (:func:`~neuromem.export.compare.compare_spikes` plus
        ``pattern_identity``); ``wall_time_s`` (``lava_build``,
        ``lava_compile``, ``lava_run``, ``lava_read``, ``lava_stop``,
        ``lava_total``, ``brian2``: the phase in ``results.json``);
        ``populations``, ``sources``, ``projections`` (delay, weight exponent,
        ``carry_in``); ``issues`` (warnings); ``initial_state``
        (``"snapshot"`` or ``"rest"``, with ``initial_state_note`` when
        rest); ``from_rest``; ``weights_from``; ``quantisation`` (fixed
        mode); ``output`` (the path written).

    Raises
    ------
    ExportError
        Before building, if the phase uses features Lava cannot represent.
    neuromem.io.RunFolderError
        Before building, if a file of the run folder is missing or malformed.
    """
    check_mode(mode)
    run_dir = Path(run_dir)
    rf, model = read_model(run_dir)
    resolve_phase(model, phase)
    issues = require_lava(model, phase, mode, refractory)  # refuse before reading arrays or importing lava
    frozen = start_state(load_frozen_network(run_dir, phase), run_dir, phase, from_rest)
    ph = model.protocol.phase(phase)
    acting = depressing(model, [ph], exported_parts(model, ph)[2])
    depression = {} if from_rest else load_depression(run_dir, rf, model, phase, acting)
    say = _progress(progress)
    dt = model.dt

    def run(net):
        say("run", total=frozen.n_steps)
        return net.run()

    net, rasters, wall = _execute(
        lambda: build_lava_network(model, frozen.matrices, phase, mode, inputs=frozen.inputs,
                                   n_steps=frozen.n_steps, initial_state=frozen.initial_state,
                                   recent_spikes=frozen.recent_spikes, headroom=headroom, refractory=refractory,
                                   depression=depression),
        run, say)
    score = score_phase(reference_phase(run_dir, phase, dt), {pop: to_spikes(r, dt) for pop, r in rasters.items()},
                        net.plan.populations, dt, frozen.n_steps, model,
                        _recall_run(run_dir, rf, model, frozen.synapses))
    rec, rec_ref = score["recall"], score["recall_reference"]
    result = {
        "mode": mode,
        "refractory": refractory if mode == "fixed" else "exact",
        "phase": phase,
        "n_steps": frozen.n_steps,
        "dt": dt,
        "recall_overlap": None if rec is None else rec["mean_overlap"],
        "recall_overlap_brian2": None if rec_ref is None else rec_ref["mean_overlap"],
        "recall": rec,
        "recall_brian2": rec_ref,
        "agreement": score["agreement"],
        "wall_time_s": {
            "lava_build": wall["lava_build"], "lava_compile": net.compile_time, "lava_run": net.run_time,
            "lava_read": net.read_time, "lava_stop": wall["lava_stop"], "lava_total": wall["lava_total"],
            "brian2": float(rf["wall_time_s"].get(phase, float("nan"))),
        },
        "populations": list(net.plan.populations),
        "sources": list(net.plan.sources),
        "projections": {k: {"delay_steps": j.delay, "weight_exp": j.weight_exp, "carry_in": j.carry_in}
                        for k, j in net.plan.projections.items()},
        "issues": [i.as_dict() for i in issues],
        "initial_state": "snapshot" if frozen.initial_state else "rest",
        "from_rest": bool(from_rest),
        "weights_from": frozen.weights_from,
        "quantisation": net.plan.quantisation or None,
    }
    if frozen.initial_state is None:
        result["initial_state_note"] = (
            "Lava starts from rest (v = v_rest, I = 0, nothing in flight); Brian2 starts this phase "
            "from the network state where the previous phase ended. Spike-for-spike agreement is only "
            "expected when that state is rest (e.g. the first phase, or after a long silent gap).")
    path = (Path(out) if out is not None else run_dir) / RESULTS_FILE
    result["output"] = str(path)
    write_json_atomic(path, result)
    return result


def _host_results(net, frozen, learned, brian_after, dt) -> dict:
    """Per projection and host rule other than a normalisation (a bistable relaxation): the host's counts and
    how many synapses end above the rule's threshold, at the start, on Lava and in Brian2."""
    out = {}
    for op in net.normalisers:
        if isinstance(op, HostNormalisation):
            continue
        name, theta = op.projection, op.rule.theta
        out.setdefault(name, {})[op.rule.name] = {
            **op.summary(dt), "above_theta": {"start": int((frozen.weights[name] > theta).sum()),
                                              "lava": int((learned[name] > theta).sum()),
                                              "brian2": int((brian_after[name] > theta).sum())}}
    return out


def _normalisation_results(net, frozen, learned, brian_after, t_start, dt) -> dict:
    """Per normalised projection and rule: the host's counts and the largest summed weight per neuron."""
    out = {}
    for nz in net.normalisers:
        if not isinstance(nz, HostNormalisation):
            continue
        name = nz.projection
        own, n_own = nz.norm.owners(nz.pre, nz.post), nz.n_owner

        def top(w):
            return float(np.bincount(own, weights=w, minlength=n_own).max() * 1e3)

        out.setdefault(name, {})[nz.norm.name] = {
            **nz.summary(dt), "phase_start_s": t_start, "max_summed_weight_mV": {
                "start": top(frozen.weights[name]), "lava": top(learned[name]), "brian2": top(brian_after[name])}}
    return out


def run_lava_learning(run_dir, phase: str, then="auto", mode: str = "float", bounds: str = "clip",
                      out=None, from_rest: bool = False, progress=None) -> dict:
    """Run a plastic phase of a Brian2 run folder on Lava with learning, then the recall after it.

    ``phase`` runs with learning; ``then`` continues in the same network from
    Lava's own end-of-phase state with the learned weights and learning gated
    off (:mod:`neuromem.export.lava.learning`).  Compares weights, spikes and
    recall with the Brian2 run.

    Parameters
    ----------
    run_dir : str or Path
    phase : str
        A phase with plastic projections (e.g. a sleep phase).
    then : str, "auto" or None
        The phase run next in the same network; it must continue from the end
        of ``phase``.  ``"auto"``: :func:`follow_up_phase`; ``None``: none.
    mode : {"float"}
        ``"fixed"`` is refused.
    bounds : {"clip", "brian2", "none"}
        How the rules' weight bounds are enforced (``docs/export.md``).
    out : str or Path, optional
        Folder for :func:`results_file` and :func:`weights_file` (default
        ``run_dir``); both written atomically.
    from_rest : bool, optional
        Start ``phase`` from rest instead of ``initial/<phase>.npz`` (recorded
        as ``from_rest``); without it a run folder lacking that file is refused.
    progress : callable, optional
        Told each step as it starts, ``progress(step)``; while a phase runs on
        Lava, ``progress("run <phase>", total=n_steps, done=steps)`` after each chunk.

    Returns
    -------
    dict
        ``mode``, ``bounds``, ``phase``, ``then``, ``dt``, ``n_steps`` (per
        phase); ``recall_overlap`` (Lava, ``then``), ``recall_overlap_brian2``
        (Brian2's spikes on the step grid), ``recall_overlap_brian2_results``
        (``results.json``), ``recall_overlap_difference``; ``rules`` (per
        learning projection: rule string, impulses, taus, ``lr``, weight scale,
        bounds, delay); ``weights`` (:func:`~neuromem.export.compare.weight_agreement`
        per learning projection, with ``bound_events`` unless ``bounds="none"``);
        ``normalisation`` (host-side normalisations); ``host_rules`` (the other host
        rules, e.g. a bistable relaxation); ``spikes`` (agreement
        during ``phase``); ``recall`` (``then``: spike agreement, pattern
        identity, both recall metrics); ``wall_time_s``; ``issues``;
        ``initial_state``, ``from_rest``, ``weights_from``, ``trace_history``;
        ``populations``, ``projections``, ``learning_projections``; ``output``
        and ``weights_output``.

    Raises
    ------
    ExportError
        Before anything is read or built, if
        :func:`~neuromem.export.lava.check_lava_learning` reports errors.
    ValueError
        If ``phase`` is not plastic or ``then`` does not continue from it.
    """
    run_dir = Path(run_dir)
    rf, model = read_model(run_dir)
    ph = resolve_phase(model, phase)
    _phase_names(run_dir, rf, phase)
    if not ph.plastic:
        raise ValueError(f"phase {phase!r} has no plastic projection; run it frozen with run_lava")
    if then == "auto":
        then = follow_up_phase(rf, model, phase)
    if then is not None:
        _phase_names(run_dir, rf, then)
        if model.protocol.origin(then) != phase:
            raise ValueError(f"phase {then!r} does not continue from the end of {phase!r}, so it cannot run "
                             f"after it in the same network")
    issues = require_lava_learning(model, phase, mode, bounds, then)
    frozen = start_state(load_frozen_network(run_dir, phase), run_dir, phase, from_rest)
    rules = learning_rule_plans(model, ph)
    horizon = 30.0 * max([max(r.taus["x1"], r.taus["y1"]) * model.dt for r in rules.values()] + [0.0])
    history, hist_phases, truncated = history_spikes(run_dir, rf, model, phase, horizon)
    if from_rest:  # nothing before the phase: no spikes in flight, traces at 0
        history, hist_phases, truncated = {}, [], False
    dt = model.dt
    segments = [Segment(ph, frozen.n_steps, frozen.inputs)]
    if then is not None:
        sp = load_spikes(run_dir, then)
        segments.append(Segment(model.protocol.phase(then), int(round(_duration(rf, then) / dt)),
                                {s: (sp[s].i, sp[s].t) for s in model.sources if s in sp}))
    t_start = phase_start_time(rf, model, phase)
    acting = depressing(model, [sg.phase for sg in segments], [n for n in model.projections if n not in rules])
    depression = {} if from_rest else load_depression(run_dir, rf, model, phase, acting)
    say = _progress(progress)

    def run(net):
        net.progress = lambda name, done, total: say(f"run {name}", total=total, done=done)
        return net.run()

    net, rasters, wall = _execute(
        lambda: build_learning_network(model, frozen.matrices, segments, frozen.synapses, frozen.initial_state,
                                       history, bounds, t_start, depression),
        run, say)

    # learned weights, per synapse, Brian2 units
    brian_after = load_weights(run_dir, phase)
    learned, weights = {}, {}
    for name, rp in net.rules.items():
        i, j = (np.asarray(a, dtype=np.int64) for a in frozen.synapses[name])
        learned[name] = net.learned[name][j, i] / rp.scale
        weights[name] = weight_agreement(learned[name], brian_after[name], frozen.weights[name], rp.w_bounds)
        if name in net.bound_events:
            weights[name]["bound_events"] = net.bound_events[name]

    recall_run = _recall_run(run_dir, rf, model, frozen.synapses)
    T1 = segments[0].n_steps
    first = score_phase(reference_phase(run_dir, phase, dt),
                        {pop: to_spikes(r[:, :T1], dt) for pop, r in rasters.items()},
                        [p for p in model.populations if p not in ph.silence], dt, T1, model, None)
    recall = rec_lava = rec_brian = None
    if then is not None:
        T2 = segments[1].n_steps
        th = segments[1].phase
        second = score_phase(reference_phase(run_dir, then, dt),
                             {pop: to_spikes(r[:, T1:T1 + T2], dt) for pop, r in rasters.items()},
                             [p for p in model.populations if p not in th.silence], dt, T2, model, recall_run)
        agreement = second["agreement"]
        identity = agreement.pop("pattern_identity")
        recall = {"phase": then, "spikes": agreement}
        rec_lava, rec_brian = second["recall"], second["recall_reference"]
        if rec_lava is not None:
            recall["pattern_identity"] = identity
            recall["recall_lava"], recall["recall_brian2"] = rec_lava, rec_brian
    spikes = first["agreement"]
    spikes.pop("pattern_identity")
    metric = (rf.get("metrics", {}).get("recall", {}).get(then, {}) or {}).get("mean_overlap") if then else None
    ov_l = None if rec_lava is None else rec_lava["mean_overlap"]
    ov_b = None if rec_brian is None else rec_brian["mean_overlap"]
    wall_b = rf.get("wall_time_s", {})
    result = {
        "mode": mode,
        "bounds": bounds,
        "phase": phase,
        "then": then,
        "dt": dt,
        "n_steps": {s.phase.name: s.n_steps for s in segments},
        "recall_overlap": ov_l,
        "recall_overlap_brian2": ov_b,
        "recall_overlap_brian2_results": metric,
        "recall_overlap_difference": None if ov_l is None or ov_b is None else ov_l - ov_b,
        "rules": {name: {"rule": rp.rule, "type": rp.rule_type, "blocked": rp.blocked, "dw": rp.dw,
                         "impulses": rp.impulses,
                         "taus_steps": rp.taus, "lr": rp.lr, "lava_weight_per_volt": rp.scale,
                         "w_bounds_mV": [b * 1e3 for b in rp.w_bounds], "lava_bounds": list(rp.lava_bounds),
                         "delay_steps": delay_steps(model.projections[name].delay, dt)}
                  for name, rp in net.rules.items()},
        "weights": weights,
        "normalisation": _normalisation_results(net, frozen, learned, brian_after, t_start, dt),
        "host_rules": _host_results(net, frozen, learned, brian_after, dt),
        "spikes": spikes,
        "recall": recall,
        "wall_time_s": {
            "lava_build": wall["lava_build"], "lava_compile": net.compile_time,
            "lava_run": {s.phase.name: t for s, t in zip(segments, net.run_times)},
            "lava_host_normalisation": net.normalisation_time,
            "lava_switch": net.switch_time, "lava_read": net.read_time, "lava_stop": wall["lava_stop"],
            "lava_total": wall["lava_total"],
            "brian2": {s.phase.name: float(wall_b.get(s.phase.name, float("nan"))) for s in segments},
        },
        "issues": [i.as_dict() for i in issues],
        "initial_state": "snapshot" if frozen.initial_state else "rest",
        "from_rest": bool(from_rest),
        "weights_from": {k: frozen.weights_from[k] for k in net.rules},
        "trace_history": {"phases": hist_phases, "truncated": truncated},
        "populations": list(net.plan.populations),
        "projections": list(net.gains),
        "learning_projections": list(net.rules),
    }
    dest = Path(out) if out is not None else run_dir
    wpath = write_npz_atomic(dest / weights_file(phase), learned)
    path = dest / results_file(phase)
    result["output"], result["weights_output"] = str(path), str(wpath)
    write_json_atomic(path, result)
    return result
