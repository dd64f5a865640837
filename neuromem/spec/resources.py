"""What a model will cost to simulate: memory and time steps, estimated before anything runs.

:func:`estimate_resources` turns a :class:`~neuromem.spec.Model` into byte
counts with plain arithmetic (no simulator is imported, nothing is
allocated), so that ``neuromem validate`` can print it and ``neuromem run`` /
``validate`` can refuse a model that cannot fit in memory
(:func:`available_memory`) before Brian2 dies trying to allocate it.

The estimate is an order-of-magnitude figure, not a measurement; its
assumptions are listed in :func:`estimate_resources`.
"""

from __future__ import annotations

import math
import os

__all__ = ["estimate_resources", "format_resources", "available_memory", "format_bytes",
           "ASSUMED_RATE_HZ", "BASELINE_BYTES"]

ASSUMED_RATE_HZ = 20.0
"""Mean firing rate (Hz) assumed for every neuron of every population when sizing spike monitors."""

BASELINE_BYTES = 200 * 2**20
"""Interpreter, numpy, Brian2 and matplotlib after import (measured about 140 MB on Linux, CPython 3.11)."""

# bytes per item; float64 values are 8 bytes, indices 4 (int32)
_SYN_BACKEND = 8 + 4 + 4 + 4 + 4 + 8 + 4   # w; pre, post index; N_incoming, N_outgoing; delay; spike-queue slot
_SYN_PLASTIC = 8 + 4 + 8 + 16              # postsynaptic pathway delay + queue slot; lastupdate; traces x, y
_SYN_OURS = 4 + 4                          # the run's copy of (i, j)
_NEURON = 8 * 4 + 1 + 4                    # v, I, lastspike, refractory-until; not_refractory; spike space
_SPIKE = 4 + 8                             # index (int32) + time (float64)
_ITEM = 120                                # one presented item (a small Python object)
_DRAW_SCRATCH = 16 * 2**20                 # one vectorised step of a sparse connector (2^18 synapses)


def _n_synapses(model, proj) -> float:
    """Expected number of synapses of a projection (float: may exceed any int64 for absurd models)."""
    n_src = model.nodes()[proj.source].size
    n_tgt = model.populations[proj.target].size
    no_self = proj.source == proj.target and not proj.connector.allow_self
    kind = proj.connector.kind
    if kind == "one_to_one":
        return float(n_src)
    if kind == "fixed_indegree":
        return float(proj.connector.indegree) * n_tgt
    pairs = float(n_src) * n_tgt - (min(n_src, n_tgt) if no_self else 0)
    return pairs if kind == "all_to_all" else pairs * proj.connector.p


def _draw_bytes(model, proj, n_syn: float) -> float:
    """Transient bytes while numpy draws a projection (``neuromem.connectivity.draw_projection``).

    Proportional to the synapses, as the drawing is: the int32 (i, j) arrays
    and the float64 weights, plus for ``fixed_indegree`` the per-target table
    and the int64 sort keys (and, above half the candidates, a boolean mask
    of the candidate pairs, at most two bytes per synapse), plus the fixed
    scratch of one vectorised step.
    """
    per_syn = 4 + 4 + 8                                   # i, j (int32), w (float64)
    mask = 0.0
    if proj.connector.kind == "fixed_indegree":
        per_syn += 4 + 8                                  # per-target sources, int64 (i, j) sort keys
        n_src = model.nodes()[proj.source].size
        if 2 * proj.connector.indegree > n_src - 1:       # drawn as its complement: mask + nonzero
            mask = float(n_src) * model.populations[proj.target].size
            per_syn += 8
    return n_syn * per_syn + mask + _DRAW_SCRATCH


def _input_rate(model, st) -> float:
    """Mean total spike rate (Hz) a stimulus asks of its source."""
    n = model.sources[st.source].size
    if st.kind == "patterns":
        period = st.item + st.gap
        n_pat = model.populations[model.protocol.pattern_population].size
        k = max(1, round(round(model.protocol.coding_level * n_pat) * st.fraction))
        on = st.item / period if period > 0 else 1.0
        return n * st.background + k * max(0.0, st.rate - st.background) * on
    if st.up > 0:
        return n * (st.rate * st.up + st.rate_down * st.down) / (st.up + st.down)
    return n * st.rate


def estimate_resources(model, rate_hz: float = ASSUMED_RATE_HZ) -> dict:
    """Estimate the memory and the number of time steps a run of ``model`` needs.

    Pure arithmetic on the spec: nothing is allocated and no simulator is
    imported.

    Parameters
    ----------
    model : neuromem.spec.Model
    rate_hz : float, optional
        Mean firing rate assumed for every neuron when sizing the spike
        monitors (default :data:`ASSUMED_RATE_HZ`).

    Returns
    -------
    dict
        ``synapses`` (expected count), ``neurons``, ``steps`` (time steps of
        all phases together), ``simulated_s`` and bytes: ``synapse_bytes``,
        ``neuron_bytes``, ``monitor_bytes``, ``input_bytes``,
        ``pattern_bytes``, ``draw_bytes`` (transient, while the connectivity
        is drawn), ``baseline_bytes`` and ``total_bytes`` (the peak:
        everything persistent plus the larger of the drawing and the inputs
        of the largest phase); ``assumed_rate_hz``.  Counts are floats so
        that absurd models (10^12 synapses) do not overflow.

    Notes
    -----
    Assumptions (the figure is an estimate, good to a factor of about 2; it
    errs high: a 3000-neuron plastic all-to-all projection, 9 million
    synapses, run for 20 ms on the numpy target, is estimated at 1.3 GiB and
    peaked at 0.85 GiB resident):

    * every phase runs once (``neuromem run`` runs them all);
    * per synapse: the backend's weight, pre/post indices, in/out-degree
      counters, delay and spike-queue slot (Brian2 runtime layout, float64
      values, int32 indices), the run's copy of the indices; plastic
      projections add a postsynaptic pathway, event-driven traces and their
      last-update time, the initial weights and one weight snapshot per
      phase;
    * the network state is stored once more for every phase that another
      phase starts from (``start_from``);
    * per neuron: four float64 state variables and flags, stored likewise,
      plus the start state recorded for each phase;
    * spike monitors record every neuron of every population at ``rate_hz``
      over the whole protocol, 12 bytes per spike, counted three times
      (monitor arrays grow by doubling, plus the per-phase copy kept in the
      run); state monitors record up to 50 neurons per listed population in
      the phases that ask for it, counted three times likewise;
    * input spike trains are generated one phase at a time (the largest phase
      counts, three copies: generation, sorting and the spike generator);
    * stored patterns and cues are one byte per neuron and memory, presented
      items 120 bytes each;
    * a fixed :data:`BASELINE_BYTES` for the interpreter and libraries; the
      C compiler that builds Brian2's Cython code is a separate process and
      is not counted.
    """
    proto = model.protocol
    dt = model.dt
    n_phases = len(proto.phases)
    n_stores = len({ph.start_from for ph in proto.phases if ph.start_from is not None})
    lengths = [ph.length(proto.n_memories) for ph in proto.phases]
    steps = sum(float(round(L / dt)) if math.isfinite(L / dt) else math.inf for L in lengths)
    simulated = float(sum(lengths))

    n_syn_total, syn_bytes, draw = 0.0, 0.0, 0.0
    for proj in model.projections.values():
        n = _n_synapses(model, proj)
        n_syn_total += n
        backend = _SYN_BACKEND + (_SYN_PLASTIC if proj.plasticity else 0)
        per = backend * (1 + n_stores) + _SYN_OURS
        if proj.plasticity:
            per += 8 * (1 + n_phases)          # initial weights + a snapshot per phase
        syn_bytes += n * per
        draw = max(draw, _draw_bytes(model, proj, n))

    n_neurons = float(sum(p.size for p in model.populations.values()))
    n_inputs = float(sum(s.size for s in model.sources.values()))
    neuron_bytes = n_neurons * (_NEURON * (1 + n_stores) + 24 * n_phases) + n_inputs * 16

    spikes = n_neurons * rate_hz * simulated
    state = 0.0
    for ph, L in zip(proto.phases, lengths):
        n_rec = sum(min(50, model.populations[p].size) for p in ph.record_state)
        state += (n_rec + 1) * 8.0 * (L / dt)
    monitor_bytes = 3 * (spikes * _SPIKE + state)

    input_bytes, items = 0.0, 0.0
    for ph, L in zip(proto.phases, lengths):
        n_spk = sum(_input_rate(model, st) for st in ph.stimuli) * L
        input_bytes = max(input_bytes, 3 * n_spk * _SPIKE)
        items += sum(st.n_items(proto.n_memories) for st in ph.stimuli if st.kind == "patterns")
    n_pat = model.populations[proto.pattern_population].size if proto.pattern_population is not None else 0
    fractions = {st.fraction for ph in proto.phases for st in ph.stimuli if st.kind == "patterns"} - {1.0}
    pattern_bytes = float(proto.n_memories) * n_pat * (1 + len(fractions)) + items * _ITEM

    persistent = syn_bytes + neuron_bytes + monitor_bytes + pattern_bytes + BASELINE_BYTES
    total = persistent + max(draw, input_bytes)
    return {
        "synapses": n_syn_total, "neurons": n_neurons, "steps": steps, "simulated_s": simulated,
        "synapse_bytes": syn_bytes, "neuron_bytes": neuron_bytes, "monitor_bytes": monitor_bytes,
        "input_bytes": input_bytes, "pattern_bytes": pattern_bytes, "draw_bytes": draw,
        "baseline_bytes": float(BASELINE_BYTES), "total_bytes": total, "assumed_rate_hz": float(rate_hz),
    }


def format_bytes(n: float) -> str:
    """``1.5 GiB``-style text for a byte count (``inf`` as is)."""
    if not math.isfinite(n):
        return f"{n} B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _count(x: float) -> str:
    return f"{x:,.0f}" if math.isfinite(x) and x < 1e15 else f"{x:.3g}"


def format_resources(est: dict, available: float | None = None) -> list[str]:
    """Human-readable lines for an :func:`estimate_resources` result.

    Parameters
    ----------
    est : dict
    available : float, optional
        Bytes of memory available (:func:`available_memory`), shown beside the total.

    Returns
    -------
    list of str
    """
    avail = f" of {format_bytes(available)} available" if available is not None else ""
    return [
        f"estimated memory: {format_bytes(est['total_bytes'])}{avail} "
        f"(synapses {format_bytes(est['synapse_bytes'])}, neurons {format_bytes(est['neuron_bytes'])}, "
        f"monitors {format_bytes(est['monitor_bytes'])} at {est['assumed_rate_hz']:g} Hz "
        f"over {est['simulated_s']:.6g} s, "
        f"inputs {format_bytes(est['input_bytes'])}, patterns {format_bytes(est['pattern_bytes'])}, "
        f"drawing connectivity {format_bytes(est['draw_bytes'])})",
        f"size: {_count(est['neurons'])} neurons, {_count(est['synapses'])} synapses, "
        f"{_count(est['steps'])} time steps ({est['simulated_s']:.6g} s simulated)",
    ]


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
        return int(text)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory this process may still use, or ``None`` when unknown.

    ``MemAvailable`` from ``/proc/meminfo`` (else the free physical pages from
    :func:`os.sysconf`), lowered to the room left under a cgroup v2 memory
    limit when one is set (containers, batch jobs).
    """
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    limit = _read_int("/sys/fs/cgroup/memory.max")       # "max" (no limit) reads as None
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        room = max(0, limit - used)
        avail = room if avail is None else min(avail, room)
    return avail
