"""The C++ program of the ``cpp_standalone`` device: Brian2 objects built once, phases as code.

:func:`generate_and_compile` builds the model's network on Brian2's
``cpp_standalone`` device, adds the code that runs the recorded phase actions
(switch values and input spikes read from files, branches copied in memory,
each phase's start state, end weights and monitor sizes written out), and
compiles it.  :class:`neuromem.backends.brian2.standalone.StandaloneBackend`
calls it when a build's key changes and otherwise reruns the compiled program.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["generate_and_compile", "HELPERS"]

# Helpers at the top of main(): read and write raw arrays under the results folder.
HELPERS = r"""
auto _nm_bytes = [](const std::string& name) -> size_t {
    std::ifstream f(brian::results_dir + name, std::ios::binary | std::ios::ate);
    if (!f.is_open()) { std::cerr << "neuromem: cannot open " << brian::results_dir + name << std::endl; std::exit(3); }
    return (size_t)f.tellg();
};
auto _nm_load = [](const std::string& name, void* dst, size_t nbytes) {
    std::ifstream f(brian::results_dir + name, std::ios::binary | std::ios::ate);
    if (!f.is_open()) { std::cerr << "neuromem: cannot open " << brian::results_dir + name << std::endl; std::exit(3); }
    if ((size_t)f.tellg() != nbytes) {
        std::cerr << "neuromem: " << name << " has " << (size_t)f.tellg() << " bytes, expected " << nbytes << std::endl;
        std::exit(3);
    }
    f.seekg(0);
    if (nbytes) f.read((char*)dst, nbytes);
    if (!f) { std::cerr << "neuromem: cannot read " << name << std::endl; std::exit(3); }
};
auto _nm_save = [](const std::string& name, const void* src, size_t nbytes) {
    std::ofstream f(brian::results_dir + name, std::ios::binary);
    if (nbytes) f.write((const char*)src, nbytes);
    if (!f) { std::cerr << "neuromem: cannot write " << name << std::endl; std::exit(3); }
};
auto _nm_now = []() -> double {
    struct timespec _ts; clock_gettime(CLOCK_MONOTONIC, &_ts); return _ts.tv_sec + 1e-9 * _ts.tv_nsec;
};
std::vector<int64_t> _nm_marks;
std::vector<double> _nm_walls;
std::vector<double> _nm_loops;   // Brian2's own measure of each Network::run loop (CPU seconds, std::clock)
"""


def generate_and_compile(model, draws, options, actions, folder: Path, key: str) -> dict:
    """Generate the program for ``actions`` (the recorded phase steps) in ``folder`` and compile it.

    Parameters
    ----------
    model : neuromem.spec.Model
    draws : neuromem.backends.runner.Draws
        What the seed fixed (synapses, initial weights and state).
    options : neuromem.backends.brian2.Brian2Options
    actions : list
        The phase actions recorded by the backend, in order.
    folder : Path
        The build folder.
    key : str
        The build's key (what the program's code depends on).

    Returns
    -------
    dict
        The manifest: the files the program reads and writes, per phase and monitor.
    """
    import brian2 as b2
    from brian2.codegen.generators.cpp_generator import c_data_type

    from neuromem.backends.brian2.builder import BuiltNetwork
    from neuromem.backends.brian2.codecache import cache_stateupdaters, default_cache_dir, reuse_code_objects
    from neuromem.backends.brian2.merging import build_populations, build_projections, merge_plan, spike_monitors

    cache_stateupdaters(Path(options.cache_dir) if options.cache_dir else default_cache_dir())
    b2.set_device("cpp_standalone", build_on_run=False)
    device = b2.get_device()
    device.reinit()
    device.activate(build_on_run=False)
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{max(1, os.cpu_count() or 1)}"]
    if options.compile_args is not None:
        b2.prefs.codegen.cpp.extra_compile_args_gcc = list(options.compile_args)
    b2.prefs.codegen.loop_invariant_optimisations = True
    b2.start_scope()
    b2.defaultclock.dt = model.dt * b2.second
    b2.seed(0)
    device.insert_code("main", HELPERS)

    def arr(var, data=False):
        return device.get_array_name(var, access_data=data)

    def ctype(var):
        return c_data_type(var.dtype)

    manifest: dict = {"key": key, "inputs": {}, "monitors": {}, "phases": []}

    class RunTimeNetwork(BuiltNetwork):
        def connect(self, syn, proj, i, j, weights, unit):
            # the synapses and weights are read from input/ when the program runs
            lines = [f"{{ // synapses of {proj.name}",
                     f'const size_t _n = _nm_bytes("input/syn_{proj.name}_i.bin") / 4;']
            # Brian2 keeps a synapse's indices in the underlying groups: a subgroup's offset added
            for var, f, end in ((syn.variables["_synaptic_pre"], "i", syn.source),
                                (syn.variables["_synaptic_post"], "j", syn.target)):
                lines += [f"{arr(var)}.resize(_n);",
                          f'_nm_load("input/syn_{proj.name}_{f}.bin", {arr(var)}.data(), _n * 4);']
                if offset_of(end):
                    lines.append(f"for (size_t _s = 0; _s < _n; ++_s) {arr(var)}[_s] += {offset_of(end)};")
            for var in sorted(syn._registered_variables, key=lambda v: v.name):
                if getattr(var, "ndim", 1) == 1:
                    lines.append(f"{arr(var)}.resize(_n);")
            lines.append(f"{arr(syn.variables['N'], True)}[0] = _n;")
            w = syn.variables["w"]
            lines.append(f'_nm_load("input/syn_{proj.name}_w.bin", {arr(w)}.data(), _n * sizeof({ctype(w)}));')
            lines.append("}")
            device.insert_code("main", "\n".join(lines))
            syn._connect_called = True
            manifest["inputs"][f"syn_{proj.name}"] = proj.name

        def connect_merged(self, syn, parts, unit):
            # the projections' files one after the other, target indices shifted into the shared group
            names = [proj.name for proj, *_ in parts]
            lines = [f"{{ // synapses of {', '.join(names)}"]
            for k, n in enumerate(names):
                lines.append(f'const size_t _n{k} = _nm_bytes("input/syn_{n}_i.bin") / 4;')
            lines.append("const size_t _n = " + " + ".join(f"_n{k}" for k in range(len(names))) + ";")
            pre, post, w = syn.variables["_synaptic_pre"], syn.variables["_synaptic_post"], syn.variables["w"]
            lines += [f"{arr(pre)}.resize(_n);", f"{arr(post)}.resize(_n);"]
            for var in sorted(syn._registered_variables, key=lambda v: v.name):
                if getattr(var, "ndim", 1) == 1:
                    lines.append(f"{arr(var)}.resize(_n);")
            lines.append("size_t _at = 0;")
            for k, (proj, _i, _j, _w, offset) in enumerate(parts):
                n = proj.name
                lines += [f'_nm_load("input/syn_{n}_i.bin", {arr(pre)}.data() + _at, _n{k} * 4);',
                          f'_nm_load("input/syn_{n}_j.bin", {arr(post)}.data() + _at, _n{k} * 4);',
                          f"for (size_t _s = _at; _s < _at + _n{k}; ++_s) {{ {arr(pre)}[_s] += {offset_of(syn.source)}; "
                          f"{arr(post)}[_s] += {int(offset)}; }}",
                          f'_nm_load("input/syn_{n}_w.bin", {arr(w)}.data() + _at, _n{k} * sizeof({ctype(w)}));',
                          f"_at += _n{k};"]
                manifest["inputs"][f"syn_{n}"] = n
            lines.append(f"{arr(syn.variables['N'], True)}[0] = _n;")
            lines.append("}")
            device.insert_code("main", "\n".join(lines))
            syn._connect_called = True

    def span(pname, var):
        """(pointer, size, variable) of population ``pname``'s part of state variable ``var``."""
        if pname in net.shared:
            group, start = net.shared[pname]
            v = group.variables[var]
            return f"{arr(v, True)} + {int(start)}", model.populations[pname].size, v
        v = net.groups[pname].variables[var]
        return arr(v, True), v.size, v

    def offset_of(group):
        """The first index of ``group`` in the group it is part of (0 unless a subgroup)."""
        return int(group.start) if isinstance(group, b2.Subgroup) else 0

    net = RunTimeNetwork()
    plan = merge_plan(model, options)
    build_populations(model, net, plan)
    for pname in model.populations:
        for var in sorted(draws.initial[pname]):
            ptr, size, v = span(pname, var)
            device.insert_code("main", f'_nm_load("input/init_{pname}_{var}.bin", {ptr}, '
                                       f'{size} * sizeof({ctype(v)}));')
    build_projections(model, net, plan, draws)
    spike_mons = spike_monitors(net, model)
    monitors = {key: m for key, (m, _) in spike_mons.items()}
    state_pops = sorted({p for kind, s in actions if kind == "phase" for p in s.record_state})
    state_mons = {p: b2.StateMonitor(net.groups[p], "v", record=np.arange(min(50, model.populations[p].size)),
                                     name=f"statemon_{p}") for p in state_pops}
    network = b2.Network(*net.objects(), *monitors.values(), *state_mons.values(), name="neuromem_net")
    reuse_code_objects(network.sorted_objects)

    plastic = [n for n, pr in model.projections.items() if pr.plasticity]
    stp = model.stp_projections()
    mark_arrays = [arr(m.variables["t"]) for m in monitors.values()] + \
                  [arr(m.variables["t"]) for m in state_mons.values()]
    marks = "; ".join(f"_nm_marks.push_back((int64_t){a}.size())" for a in mark_arrays) + ";"

    # the state a branch copies: every non-constant array of the groups and synapses, the queues, t
    snap_vars = []
    for obj in [*net.brian_groups(), *net.brian_synapses()]:
        for vname, var in sorted(obj.variables.items()):
            if getattr(var, "owner", None) is None or var.owner.name != obj.name:
                continue
            if not hasattr(var, "dtype") or var.constant or vname.startswith("_spikespace"):
                continue
            if type(var).__name__ not in ("ArrayVariable", "DynamicArrayVariable"):
                continue
            if getattr(var, "ndim", 1) != 1:
                continue
            snap_vars.append(var)
    # the clocks' t and time step (a run sets the step of every clock it uses, not t, which
    # the first step of the run reads: after a branch it must be the branch point's)
    for clock in sorted({obj.clock for obj in network.sorted_objects}, key=lambda c: c.name):
        snap_vars += [clock.variables["timestep"], clock.variables["t"]]
    pathways = [pw.name for syn in net.brian_synapses() for pw in syn._pathways]

    def snapshot(tag):
        lines = [f"// state at the end of {tag}"]
        for k, var in enumerate(snap_vars):
            name = arr(var)
            if type(var).__name__ == "DynamicArrayVariable":
                lines.append(f"std::vector<{ctype(var)}> _nm_s_{tag}_{k}({name});")
            else:
                lines.append(f"std::vector<{ctype(var)}> _nm_s_{tag}_{k}({name}, {name} + {var.size});")
        for k, pw in enumerate(pathways):
            lines.append(f"auto _nm_q_{tag}_{k} = brian::{pw}.queue[0]->_full_state();")
        lines.append(f"const double _nm_t_{tag} = brian::{network.name}.t;")
        return "\n".join(lines)

    def restore(tag):
        lines = [f"// back to the state at the end of {tag}"]
        for k, var in enumerate(snap_vars):
            name = arr(var)
            if type(var).__name__ == "DynamicArrayVariable":
                lines.append(f"{name} = _nm_s_{tag}_{k};")
            else:
                lines.append(f"std::copy(_nm_s_{tag}_{k}.begin(), _nm_s_{tag}_{k}.end(), {name});")
        for k, pw in enumerate(pathways):
            lines.append(f"brian::{pw}.queue[0]->_restore_from_full_state(_nm_q_{tag}_{k});")
        lines.append(f"brian::{network.name}.t = _nm_t_{tag};")
        return "\n".join(lines)

    tags: dict = {}
    k = 0
    for kind, arg in actions:
        if kind == "store":
            tags[arg] = f"st{len(tags)}"
            device.insert_code("main", snapshot(tags[arg]))
            continue
        if kind == "restore":
            device.insert_code("main", restore(tags[arg]))
            continue
        step = arg
        lines = [f"// phase {k}: {step.name}"]
        for src, g in net.groups.items():
            if src not in model.sources:
                continue
            ni, tb = g.variables["neuron_index"], g.variables["_timebins"]
            lines += [f'{{ const size_t _n = _nm_bytes("input/ph{k}_{src}_i.bin") / 4;',
                      f"{arr(ni)}.resize(_n); {arr(tb)}.resize(_n);",
                      f'_nm_load("input/ph{k}_{src}_i.bin", {arr(ni)}.data(), _n * 4);',
                      f'_nm_load("input/ph{k}_{src}_b.bin", {arr(tb)}.data(), _n * 4);',
                      f"{arr(g.variables['_lastindex'], True)}[0] = 0;",
                      f"{arr(g.variables['_period_bins'], True)}[0] = 0; }}"]
        # switches: gains of every projection, learning rates of the plastic ones, silenced flags,
        # short-term plasticity on/off of the projections with a transmission rule
        n_sw = len(model.projections) + len(plastic) + len(model.populations) + len(stp)
        lines.append(f"{{ std::vector<double> _sw({n_sw}); "
                     f'_nm_load("input/ph{k}_switches.bin", _sw.data(), {n_sw} * sizeof(double));')
        pos = 0
        for pname, syn in net.synapses.items():
            lines.append(f"{arr(syn.variables['gain'], True)}[0] = _sw[{pos}];")
            pos += 1
        for pname in plastic:
            lines.append(f"{arr(net.synapses[pname].variables['lr'], True)}[0] = _sw[{pos}];")
            pos += 1
        for pname in model.populations:
            lines.append(f"{arr(net.groups[pname].variables['silenced'], True)}[0] = _sw[{pos}];")
            pos += 1
        for pname in stp:
            lines.append(f"{arr(net.synapses[pname].variables['stp_on'], True)}[0] = _sw[{pos}];")
            pos += 1
        lines.append("}")
        for pname in model.populations:
            for var in [*net.state[pname], "lastspike"]:
                ptr, size, v = span(pname, var)
                lines.append(f'_nm_save("ph{k}_init_{pname}_{var}.bin", {ptr}, '
                             f"{size} * sizeof({ctype(v)}));")
        lines.append(marks)
        lines.append("const double _nm_w0_%d = _nm_now();" % k)
        device.insert_code("main", "\n".join(lines))
        for pname, objs in net.normalisers.items():
            for obj in objs:
                obj.active = pname in step.plastic
        for p, m in state_mons.items():
            m.active = p in step.record_state
        # Brian2 writes the clocks' start (t, time step) into the program from the Python
        # network's time: make it the phase's (after a branch the program's time went back)
        network.t_ = float(step.t_start)
        network.run(step.duration * b2.second, namespace={}, level=0)
        lines = [f"_nm_walls.push_back(_nm_now() - _nm_w0_{k});",
                 "_nm_loops.push_back(Network::_last_run_time);", marks]
        for pname in plastic:
            w = net.synapses[pname].variables["w"]
            lines.append(f'_nm_save("ph{k}_w_{pname}.bin", {arr(w)}.data(), '
                         f"{arr(w)}.size() * sizeof({ctype(w)}));")
        device.insert_code("main", "\n".join(lines))
        manifest["phases"].append({"name": step.name, "index": k})
        k += 1
    device.insert_code("main", '_nm_save("marks.bin", _nm_marks.data(), _nm_marks.size() * 8);\n'
                               '_nm_save("walls.bin", _nm_walls.data(), _nm_walls.size() * 8);\n'
                               '_nm_save("loops.bin", _nm_loops.data(), _nm_loops.size() * 8);')

    folder.mkdir(parents=True, exist_ok=True)
    device.build(directory=str(folder), compile=True, run=False, clean=False)
    manifest["monitors"] = {
        "spikes": {key: {"i": device.get_array_filename(m.variables["i"]),
                         "t": device.get_array_filename(m.variables["t"]),
                         "populations": {p: list(r) for p, r in ranges.items()}}
                   for key, (m, ranges) in spike_mons.items()},
        "state": {p: {"t": device.get_array_filename(m.variables["t"]),
                      "v": device.get_array_filename(m.variables["v"]), "n": int(len(m.record))}
                  for p, m in state_mons.items()},
    }
    manifest["state_vars"] = {p: list(net.state[p]) for p in model.populations}
    manifest["plastic"] = plastic
    manifest["merged"] = plan.describe()
    manifest["projections"] = list(net.synapses)
    return manifest
