"""Shared Brian2 objects: populations as subgroups of one ``NeuronGroup``, projections as one ``Synapses``.

Brian2's runtime device pays a fixed cost per object and time step (a
Python → Cython call that reads every array and constant of its namespace:
a few µs), which at a few thousand neurons is most of the loop.  A model file
written as populations and projections (``e``, ``i``; ``ee``, ``ei``, ``ie``,
``ii``) would build twice the objects of a plain script that has one group
with subgroups and one ``Synapses`` per presynaptic population.
:func:`plan_merges` decides, from the model alone (spec and protocol), which
populations share one ``NeuronGroup`` and which projections share one
``Synapses``; :func:`build_populations` and :func:`build_projections` build
them for both devices.  The results are those of the unmerged network, spike
for spike and bit for bit (``tests/test_merging.py``), because only objects
that compute the same thing in the same order are merged:

populations
    Neuron populations (not spike sources) of the same spec class whose
    parameters are equal except ``name``, ``size``, ``kind`` and the initial
    distributions (``*_init``, drawn by neuromem per population), that are
    silenced in the same phases (``silenced`` is one shared flag per
    ``NeuronGroup``) and that own no per-neuron arrays of a rule
    (populations a projection with a non-timing rule, e.g. synaptic
    normalisation, targets or leaves stay alone).  They become one group, in
    the model's population order; each population is a ``Subgroup`` of it,
    so ``BuiltNetwork.groups[name]`` still reads and writes exactly its
    neurons.
projections
    Projections without plasticity rules from the same source, with the same
    sign, delay and gain (and block) in every phase, onto distinct
    populations of one merged group: their synapses are concatenated in the
    model's projection order, target indices shifted to the group's, so a
    target neuron receives the same spikes through the same pathway order.
    Brian2 runs the pathways of one time slot in the order of their names;
    a merge that would change that order for some target population is not
    made (:func:`_order_kept`).

``Brian2Options.merge = False`` builds one object per population and projection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from neuromem.spec.registry import RULES

__all__ = ["MergePlan", "plan_merges", "no_merges", "merge_plan", "build_populations", "build_projections",
           "spike_monitors", "split_spikes"]


@dataclass(frozen=True)
class MergePlan:
    """Which populations share a ``NeuronGroup`` and which projections a ``Synapses``.

    Attributes
    ----------
    groups : tuple of tuple of str
        Each a shared group's populations (two or more), in the model's order.
    projections : tuple of tuple of str
        Each a shared ``Synapses``' projections (two or more), in the model's order.
    """

    groups: tuple = ()
    projections: tuple = ()
    group_of: dict = field(default_factory=dict, compare=False)

    def describe(self) -> dict:
        """The plan as JSON-able lists (part of the compiled program's key)."""
        return {"groups": [list(g) for g in self.groups], "projections": [list(p) for p in self.projections]}

    def group_name(self, members) -> str:
        """The Brian2 name of the shared group of ``members``."""
        return "merged_" + "_".join(members)


def no_merges() -> MergePlan:
    """The plan that merges nothing (one Brian2 object per population and projection)."""
    return MergePlan()


def _params(pop) -> tuple:
    """A population's parameters that its Brian2 code depends on (not name, size, kind, initial draws)."""
    skip = {"name", "size", "kind"}
    return (type(pop),) + tuple((f.name, repr(getattr(pop, f.name))) for f in dataclasses.fields(pop)
                                if f.name not in skip and not f.name.endswith("_init"))


def _phase_gain(phase, name) -> float:
    return 0.0 if name in phase.block else float(phase.gain.get(name, 1.0))


def _pathway_order(names) -> list:
    """Projection names in the order Brian2 runs their pathways (``<name>_pre``, by name)."""
    return sorted(names, key=lambda n: f"{n}_pre")


def _order_kept(model, merged: list) -> bool:
    """Whether merging ``merged`` (lists of projections) keeps each target's pathway order."""
    obj_of = {n: n for n in model.projections}
    for members in merged:
        first = _pathway_order(members)[0]
        for n in members:
            obj_of[n] = first
    for target in model.populations:
        feeding = _pathway_order([n for n, p in model.projections.items() if p.target == target])
        keys = [f"{obj_of[n]}_pre" for n in feeding]
        if keys != sorted(keys):
            return False
    return True


def plan_merges(model) -> MergePlan:
    """Decide which populations and projections of ``model`` share Brian2 objects (module docstring).

    Parameters
    ----------
    model : neuromem.spec.Model

    Returns
    -------
    MergePlan
        Depends on the model only (its populations' parameters, projections
        and every phase of its protocol), so a resumed run or a rerun of a
        compiled program builds the same objects.
    """
    phases = model.protocol.phases
    rule_owners = set()
    for name, proj in model.projections.items():
        if any(not RULES.caps(r).timing for r in model.rules_of(name)):
            rule_owners.update((proj.source, proj.target))
    buckets: dict = {}
    for pname, pop in model.populations.items():
        if pname in rule_owners:
            continue
        key = (_params(pop), tuple(pname in ph.silence for ph in phases))
        buckets.setdefault(key, []).append(pname)
    groups = tuple(tuple(m) for m in buckets.values() if len(m) > 1)
    group_of = {p: k for k, members in enumerate(groups) for p in members}

    pbuckets: dict = {}
    for name, proj in model.projections.items():
        if proj.plasticity or proj.target not in group_of:
            continue
        key = (proj.source, group_of[proj.target], proj.sign, proj.delay,
               tuple(_phase_gain(ph, name) for ph in phases))
        pbuckets.setdefault(key, []).append(name)
    merged = []
    for members in pbuckets.values():
        # one projection per target population: two onto the same neurons would interleave their
        # synapses per presynaptic spike, not one projection after the other
        chosen, targets = [], set()
        for n in members:
            if model.projections[n].target not in targets:
                chosen.append(n)
                targets.add(model.projections[n].target)
        if len(chosen) > 1:
            merged.append(chosen)
    # give up the merges that change a target population's pathway order alone, then (should two
    # together change it) the last ones, until none does
    merged = [m for m in merged if _order_kept(model, [m])]
    while merged and not _order_kept(model, merged):
        merged.pop()
    return MergePlan(groups=groups, projections=tuple(tuple(m) for m in merged), group_of=group_of)


def build_populations(model, net, plan: MergePlan) -> None:
    """Build every population and source of ``model`` into ``net``, the shared groups of ``plan`` once each.

    A shared group is built by the population's own build function, for a
    copy of its first population with the summed size and the group's name;
    each population becomes a ``Subgroup`` named after it, which takes its
    place in ``net.groups``, ``net.state`` and ``net.inputs``.
    """
    import brian2 as b2

    from neuromem.backends.brian2.builder import build

    merged = {p for members in plan.groups for p in members}
    for name, node in model.nodes().items():
        if name not in merged:
            build(node, net, model, None)
    for members in plan.groups:
        first = model.populations[members[0]]
        gname = plan.group_name(members)
        total = sum(model.populations[p].size for p in members)
        group = build(dataclasses.replace(first, name=gname, size=total), net, model, None)
        state, inputs = net.state.pop(gname), net.inputs.pop(gname)
        del net.groups[gname]
        start = 0
        for p in members:
            size = model.populations[p].size
            net.groups[p] = b2.Subgroup(group, start, start + size, name=p)
            net.state[p] = dict(state)
            net.inputs[p] = inputs
            net.shared[p] = (group, start)
            start += size


def build_projections(model, net, plan: MergePlan, draws) -> None:
    """Build every projection of ``model`` into ``net``, the shared ``Synapses`` of ``plan`` once each.

    A shared ``Synapses`` connects the source (sub)group to the whole shared
    target group, with the projections' synapses concatenated in their order
    (target indices shifted by each target's offset in the group); every
    member's name maps to it in ``net.synapses`` and ``net.slices[name]`` is
    the range of its own synapses.
    """
    import brian2 as b2

    from neuromem.backends.brian2.builder import WEIGHT_UNITS, build
    from neuromem.spec.registry import NEURONS

    merged = {n: members for members in plan.projections for n in members}
    done = set()
    for name, proj in model.projections.items():
        if name not in merged:
            build(proj, net, model, draws.synapses[name], draws.weights[name])
            continue
        members = merged[name]
        if members in done:
            continue
        done.add(members)
        sname = _pathway_order(members)[0]
        group, _ = net.shared[proj.target]
        unit, unit_name = WEIGHT_UNITS[NEURONS.caps(model.populations[proj.target]).weight]
        syn = b2.Synapses(net.groups[proj.source], group, model=f"w : {unit_name}\ngain : 1 (shared)\n",
                          on_pre=net.inputs[proj.target](proj), namespace={}, name=sname)
        parts, start = [], 0
        for n in members:
            i, j = draws.synapses[n]
            offset = net.shared[model.projections[n].target][1]
            parts.append((model.projections[n], np.asarray(i), np.asarray(j) + offset, draws.weights[n], offset))
            net.slices[n] = slice(start, start + len(i))
            start += len(i)
        net.connect_merged(syn, parts, unit)
        syn.gain = 1.0
        if proj.delay > 0:
            syn.delay = proj.delay * b2.second
        for n in members:
            net.synapses[n] = syn


def merge_plan(model, options):
    """The :class:`MergePlan` of ``model`` under ``options`` (a ``Brian2Options``: its ``merge`` flag)."""
    return plan_merges(model) if options.merge else no_merges()


def spike_monitors(net, model, prefix="spikemon_"):
    """One ``SpikeMonitor`` per Brian2 group of populations, and where each population's spikes are in it.

    Returns ``{key: (monitor, {population: (start, stop)})}``; a population
    alone in its group is its own key (monitor ``spikemon_<population>``).
    """
    import brian2 as b2

    out: dict = {}
    for pname, pop in model.populations.items():
        if pname in net.shared:
            group, start = net.shared[pname]
            key = group.name
        else:
            group, start, key = net.groups[pname], 0, pname
        if key not in out:
            out[key] = (b2.SpikeMonitor(group, record=True, name=f"{prefix}{key}"), {})
        out[key][1][pname] = (start, start + pop.size)
    return out


def split_spikes(i, t, ranges: dict) -> dict:
    """``{population: (i, t)}`` of a shared monitor's spikes ``(i, t)``, indices relative to each population."""
    if len(ranges) == 1 and next(iter(ranges.values()))[0] == 0:
        return {p: (i, t) for p in ranges}
    out = {}
    for p, (a, b) in ranges.items():
        sel = (i >= a) & (i < b)
        out[p] = ((i[sel] - a).astype(np.int32), t[sel])
    return out
