"""Export a frozen neuromem network to NIR (the Neuromorphic Intermediate Representation).

Each exported population becomes a ``CubaLIF`` node, each projection a
``Linear`` node, each spike source an ``Input`` node, and each population also
feeds an ``Output`` node ``<population>_output``::

    CubaLIF(tau_syn, tau_mem, r=1, v_leak=v_rest, v_threshold=v_th, v_reset=v_reset, w_in=1)
    Linear(weight = sign * gain * W * tau_syn(target))   W: (n_post, n_pre), volts;
                                                        gain: the phase's transmission gain

Weight convention
    NIR's ``CubaLIF`` is continuous: ``tau_syn dI/dt = -I + w_in S`` with
    ``S`` the sum of the input spikes as Dirac deltas.  One spike through a
    ``Linear`` weight ``W_nir`` therefore makes ``I`` jump by
    ``W_nir / tau_syn``.  Brian2's ``on_pre: I += w`` is a jump of ``w``, so
    the exported weight is ``w * tau_syn`` (in volt-seconds).  A simulator
    that instead treats a spike as a value of 1 during one step of length
    ``dt`` (NIR's reference Euler code) must use ``W_nir / dt`` per step;
    ``metadata["weight_convention"]`` says this in words.

What NIR cannot hold is stored in metadata (and so survives ``nir.write`` /
``nir.read``): the time step and the spike-time convention (graph), the
refractory period per population (``CubaLIF`` node: ``refractory`` in s and
``refractory_steps``), the axonal delay per projection (``Linear`` node:
``delay`` in s and ``delay_steps``), and the neuromem version.

:func:`simulate_nir` runs such a graph with the exact per-step discretisation
that the Brian2 backend (and the Lava export) use, so a read-back graph can be
checked spike for spike against the Brian2 run it came from.

Examples
--------
>>> from neuromem.export.nir import export_nir
>>> import nir
>>> export_nir("runs/cls-20250101-120000-seed1", "cls.nir")        # doctest: +SKIP
>>> graph = nir.read("cls.nir")                                       # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuromem.export.frozen import delay_steps, exact_coefficients, exported_parts, load_frozen_network, phase_gain
from neuromem.export.issues import neuron_issues, raise_on_errors, resolve_phase, rule_issues

__all__ = ["WEIGHT_CONVENTION", "to_nir", "export_nir", "simulate_nir"]

WEIGHT_CONVENTION = (
    "Linear weights are Brian2 current jumps (V) times the target's tau_syn (s): an input spike is a "
    "Dirac delta, so one spike makes I jump by weight / tau_syn. Inhibitory projections have negative "
    "weights. With spikes as 1 per step of length dt, use weight / dt per step.")

SPIKE_TIME_CONVENTION = (
    "Per step of length dt: every CubaLIF is advanced with the exact solution of its linear ODEs "
    "(v frozen while refractory), neurons with v > v_threshold spike and are reset to v_reset; "
    "spikes of step k (inputs included) reach their targets' I at the end of step k + delay_steps, "
    "so they first affect v in step k + delay_steps + 1. Step k is time k * dt.")


def _nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - nir is an optional dependency
        raise ImportError("NIR export needs the 'nir' package: pip install 'neuromem[export]' "
                          "(or pip install nir h5py)") from exc
    return nir


def _version() -> str:
    import neuromem
    return str(getattr(neuromem, "__version__", "unknown"))


def to_nir(model, weights: dict, phase=None):
    """Build a NIR graph of a frozen network.

    Parameters
    ----------
    model : neuromem.spec.Model
    weights : dict of str to ndarray (n_post, n_pre)
        Weight magnitudes (V) of every exported projection (see
        :func:`neuromem.export.frozen.weight_matrices`).
    phase : str or Phase, optional
        Populations silenced and projections blocked in this phase are left
        out and weights are scaled by its transmission gains (as in the Lava
        export); ``None`` exports the whole model.

    Returns
    -------
    nir.NIRGraph
        With all input and output types known (type inference has run).
        Node names are the spec names (populations, sources, projections)
        plus ``<population>_output``.

    Raises
    ------
    neuromem.export.ExportError
        If an exported population has a feature of
        :attr:`~neuromem.spec.LIFPopulation.export_limits` (a separate
        ``tau_syn_inh``, adaptation): ``CubaLIF`` is a current-based LIF with
        one synaptic current; or if an exported projection has a rule whose
        synapses do not export (short-term depression: ``Affine`` weights are
        static).
    """
    nir = _nir()
    ph = resolve_phase(model, phase)
    pops, sources, projs = exported_parts(model, ph)
    raise_on_errors(neuron_issues(model, pops, "NIR's CubaLIF") + rule_issues(model, projs, ph),
                    f"model {model.name!r}", "NIR")
    dt = model.dt
    nodes, edges = {}, []
    for name in sources:
        n = model.sources[name].size
        nodes[name] = nir.Input(input_type={"input": np.array([n])},
                                metadata={"kind": "spike source", "size": n})
    for name in pops:
        p = model.populations[name]
        n = p.size
        nodes[name] = nir.CubaLIF(
            tau_syn=np.full(n, p.tau_syn), tau_mem=np.full(n, p.tau_m), r=np.ones(n),
            v_leak=np.full(n, p.v_rest + p.bias), v_threshold=np.full(n, p.v_th), v_reset=np.full(n, p.v_reset),
            w_in=np.ones(n),
            metadata={"kind": p.kind, "refractory": float(p.refractory),
                      "refractory_steps": int(round(p.refractory / dt))})
        out = f"{name}_output"
        nodes[out] = nir.Output(output_type={"output": np.array([n])})
        edges.append((name, out))
    for name in projs:
        pr = model.projections[name]
        tgt = model.populations[pr.target]
        w = np.asarray(weights[name], dtype=float)
        n_pre = model.nodes()[pr.source].size
        if w.shape != (tgt.size, n_pre):
            raise ValueError(f"projection {name!r}: weight matrix has shape {w.shape}, "
                             f"expected (n_post, n_pre) = {(tgt.size, n_pre)}")
        sign = 1.0 if pr.sign == "excitatory" else -1.0
        nodes[name] = nir.Linear(
            weight=sign * phase_gain(ph, name) * w * tgt.tau_syn,
            metadata={"source": pr.source, "target": pr.target, "sign": pr.sign,
                      "delay": float(pr.delay), "delay_steps": delay_steps(pr.delay, dt)})
        edges += [(pr.source, name), (name, pr.target)]
    metadata = {
        "generator": "neuromem", "neuromem_version": _version(), "model": model.name,
        "phase": "" if ph is None else ph.name, "dt": float(dt),
        "weight_convention": WEIGHT_CONVENTION, "spike_time_convention": SPIKE_TIME_CONVENTION,
        "refractory": "CubaLIF metadata 'refractory' (s) / 'refractory_steps': v is held at v_reset for "
                      "refractory_steps - 1 steps after the spike step (Brian2 semantics)",
        "delays": "Linear metadata 'delay' (s) / 'delay_steps' (same delay for all synapses of a projection)",
    }
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    graph.infer_types()
    return graph


def export_nir(run_dir, out_path, phase: str):
    """Write the network of a run folder, frozen at the start of ``phase``, as a NIR file.

    Parameters
    ----------
    run_dir : str or Path
        A run folder (:func:`neuromem.io.write_run`).
    out_path : str or Path
        The HDF5 file to write (``nir.write``).
    phase : str
        Weights are those at the start of this phase (see
        :func:`neuromem.export.frozen.load_frozen_network`); its silenced
        populations and blocked projections are left out.

    Returns
    -------
    nir.NIRGraph
        The graph written.
    """
    nir = _nir()
    frozen = load_frozen_network(run_dir, phase)
    graph = to_nir(frozen.model, frozen.matrices, phase)
    graph.metadata["run"] = str(Path(run_dir).resolve().name)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(out_path, graph)
    return graph


def _meta(node, key, default=None):
    v = (getattr(node, "metadata", None) or {}).get(key, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    return v


def simulate_nir(graph, inputs: dict, n_steps: int, dt: float | None = None) -> dict:
    """Run a NIR graph of ``Input``, ``Linear``, ``CubaLIF`` and ``Output`` nodes.

    The integration is exact per step (the discretisation of the Brian2
    backend and of the Lava export), with the refractory periods and delays
    from the node metadata written by :func:`to_nir` (none if absent)::

        I <- a_s I
        v <- v_leak + a_m (v - v_leak) + r kappa I      (v held while refractory)
        spike where v > v_threshold; v <- v_reset
        I_target += w_in * (W @ spikes) / tau_syn   at the end of step k + delay_steps

    with ``a_s = exp(-dt/tau_syn)``, ``a_m = exp(-dt/tau_mem)`` and
    ``kappa = tau_syn/(tau_syn - tau_mem) (a_s - a_m)``.

    Parameters
    ----------
    graph : nir.NIRGraph
    inputs : dict of str to (i, t) or ndarray
        Spikes per ``Input`` node: index and time arrays (s, on the dt grid)
        or a 0/1 array of shape (n, n_steps).  Inputs not given are silent.
    n_steps : int
    dt : float, optional
        Default ``graph.metadata["dt"]``.

    Returns
    -------
    dict of str to (i, t)
        Spikes of every ``CubaLIF`` node, sorted by time then index; times are
        ``step * dt``.
    """
    nir = _nir()
    if dt is None:
        dt = _meta(graph, "dt")
        if dt is None:
            raise ValueError("dt is not given and the graph has no 'dt' metadata")
    dt = float(dt)
    n_steps = int(n_steps)
    lif, lin, inp = {}, {}, {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.CubaLIF):
            lif[name] = node
        elif isinstance(node, nir.Linear):
            lin[name] = node
        elif isinstance(node, nir.Input):
            inp[name] = node
        elif not isinstance(node, nir.Output):
            raise NotImplementedError(f"simulate_nir supports Input, Linear, CubaLIF and Output nodes, "
                                      f"not {type(node).__name__} ({name!r})")
    pre_of, post_of = {}, {}
    for a, b in graph.edges:
        if b in lin:
            pre_of[b] = a
        if a in lin:
            post_of[a] = b
    # neuron parameters and state
    st = {}
    for name, node in lif.items():
        tau_s, tau_m = np.asarray(node.tau_syn, float), np.asarray(node.tau_mem, float)
        a_s, a_m = np.exp(-dt / tau_s), np.exp(-dt / tau_m)
        kappa = np.array([exact_coefficients(m, s, dt)["kappa"] for m, s in zip(tau_m, tau_s)])
        n_ref = int(_meta(node, "refractory_steps", 0) or 0)
        st[name] = {
            "a_s": a_s, "a_m": a_m, "kr": kappa * np.asarray(node.r, float),
            "v_leak": np.asarray(node.v_leak, float), "v_th": np.asarray(node.v_threshold, float),
            "v_reset": np.asarray(node.v_reset, float), "scale": np.asarray(node.w_in, float) / tau_s,
            "v": np.asarray(node.v_leak, float).copy(), "I": np.zeros(tau_s.shape),
            "ref_until": np.full(tau_s.shape, -1, dtype=np.int64), "n_ref": n_ref,
            "spikes": [],
        }
    conns = []
    max_delay = 0
    for name, node in lin.items():
        pre, post = pre_of.get(name), post_of.get(name)
        if pre is None or post is None:
            continue
        if post not in lif:
            raise NotImplementedError(f"Linear {name!r} must feed a CubaLIF node, not {post!r}")
        d = int(_meta(node, "delay_steps", 0) or 0)
        max_delay = max(max_delay, d)
        conns.append((pre, post, np.asarray(node.weight, float), d))
    # input rasters
    raster = {}
    for name, node in inp.items():
        n = int(np.prod(node.input_type["input"]))
        data = inputs.get(name)
        r = np.zeros((n, n_steps), dtype=bool)
        if data is not None:
            if isinstance(data, np.ndarray) and data.ndim == 2:
                r[:, :min(n_steps, data.shape[1])] = data[:, :n_steps] > 0
            else:
                i, t = data
                k = np.round(np.asarray(t, float) / dt).astype(np.int64)
                ok = (k >= 0) & (k < n_steps)
                r[np.asarray(i, np.int64)[ok], k[ok]] = True
        raster[name] = r
    # ring buffer of pending synaptic input per population: slot (k mod D)
    slots = max_delay + 1
    pending = {name: np.zeros((slots,) + s["I"].shape) for name, s in st.items()}
    for k in range(n_steps):
        fired = {}
        for name, s in st.items():
            free = s["ref_until"] < k
            v_new = s["v_leak"] + s["a_m"] * (s["v"] - s["v_leak"]) + s["kr"] * s["I"]
            s["I"] = s["a_s"] * s["I"]
            s["v"] = np.where(free, v_new, s["v"])
            spk = free & (s["v"] > s["v_th"])
            s["v"][spk] = s["v_reset"][spk]
            s["ref_until"][spk] = k + s["n_ref"] - 1
            idx = np.flatnonzero(spk)
            if idx.size:
                s["spikes"].append((idx, k))
            fired[name] = spk
        for name, r in raster.items():
            fired[name] = r[:, k]
        for pre, post, w, d in conns:
            s_pre = fired[pre]
            if s_pre.any():
                pending[post][(k + d) % slots] += w[:, s_pre].sum(axis=1)
        for name, s in st.items():
            slot = k % slots
            s["I"] += pending[name][slot] * s["scale"]
            pending[name][slot] = 0.0
    out = {}
    for name, s in st.items():
        if s["spikes"]:
            i = np.concatenate([idx for idx, _ in s["spikes"]]).astype(np.int32)
            t = np.concatenate([np.full(idx.size, kk) for idx, kk in s["spikes"]]) * dt
        else:
            i, t = np.zeros(0, np.int32), np.zeros(0)
        out[name] = (i, t)
    return out
