"""Export a run folder's spike trains to NWB (Neurodata Without Borders) with pynwb.

One NWB file holds a whole run:

``processing["populations"]``
    One :class:`pynwb.misc.Units` table per population of the model, named
    after it: one row per neuron (``id`` = neuron index), its spike times in
    seconds of session time.
``processing["sources"]``
    The same for every input spike source (the stimulus the network received).
``epochs``
    One epoch per phase, in the order they were simulated: ``start_time``,
    ``stop_time``, ``tags`` = ``[kind]``, and columns ``phase`` (its name),
    ``kind``, ``origin`` (the phase whose end state it starts from,
    :meth:`neuromem.spec.Protocol.origin`; ``""`` for the initial state),
    ``silenced`` (comma-separated populations) and ``cue_fraction``.
``intervals["items"]``
    Every presented memory: ``start_time``, ``stop_time``, ``memory``,
    ``phase`` and ``cue_fraction`` (absent when no phase presents patterns).
``processing["membrane_potential"]``
    The membrane potentials recorded in a phase (``record_state``): one
    :class:`pynwb.base.TimeSeries` ``<population>_<phase>`` per population and
    phase, data (time, neuron) in volts for the recorded neurons (the first
    ones of the population, in index order), with session-time timestamps
    (absent when nothing was recorded).
Metadata
    ``notes`` is the resolved model (``model.toml``, TOML text);
    ``session_description`` names the model and the seed; ``session_id`` is
    the run folder's name; ``experiment_description`` is the model's
    ``description``; ``scratch["neuromem"]`` is a JSON text with ``model``,
    ``model_file``, ``model_sha256``, ``model_text_sha256``, ``seed``,
    ``overrides``, ``versions``, ``backend``, ``dt`` and ``metrics`` from
    ``results.json``.

Session time lays the phases end to end in simulated order: phase *k* starts
at the sum of the durations of the phases before it.  A phase that starts
from an earlier phase's state (``start_from``) still follows the phase before
it in session time; ``origin`` says which state it started from.

Examples
--------
>>> from neuromem.export.nwb import export_nwb
>>> export_nwb("runs/cls-20250101-120000-seed1", "run.nwb")           # doctest: +SKIP
>>> from pynwb import NWBHDF5IO
>>> with NWBHDF5IO("run.nwb", "r") as io:                              # doctest: +SKIP
...     units = io.read().processing["populations"]["ctx_e"]
...     units["spike_times"][0]                                         # neuron 0's spike times
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np

from neuromem.io import RunFolderError, check_run_folder
from neuromem.spec.loader import loads_model

__all__ = ["export_nwb", "NWBExportError", "spike_times_by_neuron"]


class NWBExportError(RuntimeError):
    """The NWB export cannot run (pynwb is not installed)."""


def _pynwb():
    try:
        import pynwb
    except ImportError as e:
        raise NWBExportError("the NWB export needs pynwb: pip install 'neuromem[nwb]' (or pip install pynwb)") from e
    return pynwb


def spike_times_by_neuron(i_list, t_list, n: int) -> list:
    """Each neuron's spike times from (index, time) arrays of several chunks, in order.

    Parameters
    ----------
    i_list, t_list : list of ndarray
        Neuron indices and times of each chunk (a phase, shifted to session
        time); chunks are given in time order.
    n : int
        Number of neurons.

    Returns
    -------
    list of ndarray
        ``n`` float64 arrays, each sorted.
    """
    i = np.concatenate([np.asarray(x, dtype=np.int64) for x in i_list]) if i_list else np.zeros(0, np.int64)
    t = np.concatenate([np.asarray(x, dtype=np.float64) for x in t_list]) if t_list else np.zeros(0)
    order = np.lexsort((t, i))
    i, t = i[order], t[order]
    edges = np.searchsorted(i, np.arange(n + 1))
    return [t[edges[k]:edges[k + 1]] for k in range(n)]


def _units(pynwb, name: str, description: str, trains: dict, n: int):
    units = pynwb.misc.Units(name=name, description=description)
    for k, times in enumerate(trains):
        units.add_unit(spike_times=times, id=k)
    return units


def export_nwb(run_dir, out_path=None) -> Path:
    """Write the spike trains, phases and presented memories of a run folder as an NWB file.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``neuromem run``.
    out_path : str or Path, optional
        The NWB file (default ``RUN_DIR/run.nwb``); replaced if it exists.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    NWBExportError
        If pynwb is not installed.
    neuromem.io.RunFolderError
        If a file of the run folder is missing, truncated or inconsistent.
    """
    pynwb = _pynwb()
    run_dir = Path(run_dir)
    rf = check_run_folder(run_dir)
    out_path = Path(out_path) if out_path is not None else run_dir / "run.nwb"
    model = loads_model(rf.model_text, file=str(run_dir / "model.toml"))
    phases = rf["phases"]
    try:
        start = _dt.datetime.fromisoformat(rf["timestamp"])
    except (KeyError, TypeError, ValueError):
        raise RunFolderError(run_dir / "results.json", "has no valid 'timestamp'") from None
    if start.tzinfo is None:
        start = start.astimezone()

    nwb = pynwb.NWBFile(
        session_description=f"neuromem simulation of model {model.name!r}, seed {rf['seed']}",
        identifier=f"{run_dir.name}:{rf.get('model_text_sha256', '')[:16]}",
        session_start_time=start,
        session_id=run_dir.name,
        experiment_description=model.description or model.name,
        notes=rf.model_text,
        keywords=["neuromem", "spiking network simulation", "Brian2"],
    )
    meta = {k: rf.get(k) for k in ("model", "model_file", "model_sha256", "model_text_sha256", "seed",
                                   "overrides", "versions", "backend", "metrics")}
    meta["dt"] = model.dt
    nwb.add_scratch(json.dumps(meta), name="neuromem",
                    description="results.json of the run: identity, versions, backend, metrics (JSON)")

    # phases laid end to end in simulated order
    offsets, t = {}, 0.0
    for p in phases:
        offsets[p["name"]] = t
        t += float(p["duration"])
    for col, desc in (("phase", "phase name"), ("kind", "phase kind (encode, sleep, recall, ...)"),
                      ("origin", "phase whose end state this phase starts from ('' = initial state)"),
                      ("silenced", "populations silenced during the phase (comma-separated)"),
                      ("cue_fraction", "fraction of each pattern driven by the phase's patterns stimulus")):
        nwb.add_epoch_column(name=col, description=desc)
    for p in phases:
        t0 = offsets[p["name"]]
        try:
            origin = model.protocol.origin(p["name"]) or ""
        except KeyError:
            raise RunFolderError(run_dir / "model.toml", f"has no phase {p['name']!r} (results.json lists it)") from None
        nwb.add_epoch(start_time=t0, stop_time=t0 + float(p["duration"]), tags=[p["kind"]], phase=p["name"],
                      kind=p["kind"], origin=origin, silenced=",".join(p.get("silenced", [])),
                      cue_fraction=float(p.get("cue_fraction", 1.0)))

    items = [(p, it) for p in phases for it in p.get("items", [])]
    if items:
        table = pynwb.epoch.TimeIntervals(name="items", description="memories presented (patterns stimuli)")
        table.add_column(name="memory", description="memory index")
        table.add_column(name="phase", description="phase name")
        table.add_column(name="cue_fraction", description="fraction of the pattern driven")
        for p, (memory, on, off) in items:
            t0 = offsets[p["name"]]
            table.add_interval(start_time=t0 + float(on), stop_time=t0 + float(off), memory=int(memory),
                               phase=p["name"], cue_fraction=float(p.get("cue_fraction", 1.0)))
        nwb.add_time_intervals(table)

    groups = {"populations": (model.populations, "neurons of the simulated network, one Units table per population"),
              "sources": (model.sources, "input spike sources (the stimulus), one Units table per source")}
    spikes = {p["name"]: rf.spikes(p["name"]) for p in phases}
    for module_name, (nodes, desc) in groups.items():
        if not nodes:
            continue
        module = nwb.create_processing_module(name=module_name, description=desc)
        for name, node in nodes.items():
            chunks = [(sp[name].i, sp[name].t + offsets[ph]) for ph, sp in spikes.items() if name in sp]
            trains = spike_times_by_neuron([c[0] for c in chunks], [c[1] for c in chunks], int(node.size))
            kind = getattr(node, "kind", "source")
            module.add(_units(pynwb, name, f"{name}: {node.size} {kind} neurons; spike times in s of session time",
                              trains, int(node.size)))

    traces = [(p["name"], pop, t, v) for p in phases for pop, (t, v) in rf.state(p["name"]).items()]
    if traces:
        module = nwb.create_processing_module(
            name="membrane_potential", description="membrane potentials of the recorded neurons (record_state)")
        for ph, pop, t, v in traces:
            module.add(pynwb.base.TimeSeries(
                name=f"{pop}_{ph}", data=np.asarray(v, dtype=np.float64).T, unit="volts",
                timestamps=np.asarray(t, dtype=np.float64) + offsets[ph],
                description=f"v of {pop} neurons 0-{np.shape(v)[0] - 1} during phase {ph!r} (columns: neurons)"))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.partial.nwb")
    try:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path
