"""Build Brian2 objects from spec objects.

Build functions are registered per spec type (the idea of Nengo's
``Builder.register``): :func:`build` looks up the function for the object's
class (walking the MRO), so a new population type or rule plugs in by
registering one function, without touching the simulator loop.  Synapse
types, which the spec declares by tag (:data:`neuromem.spec.registry.SYNAPSES`)
rather than by class, register theirs by that tag
(``Builder.register_synapse(tag)``).

What each kind of build function returns:

neuron model (``build(pop, net, model, rng)``)
    The ``NeuronGroup``, stored in ``net.groups``.  It must have a membrane
    potential ``v`` (volt) and a shared ``silenced`` flag (its threshold
    ignores spikes while it is 1), and declare in ``net.state[pop.name]`` the
    variables that make up a neuron's state (name → Brian2 unit; recorded at
    each phase's start) and in ``net.inputs[pop.name]`` a function
    ``(projection) -> on_pre code`` that adds a presynaptic spike to the
    right variable.  Its synaptic part comes from its synapse type
    (:func:`synapse_code`): the neuron model writes the membrane equation
    around the synapse type's ``drive`` and adds its equations, namespace,
    state variables and ``on_pre`` code.  Populations that share a group
    (:mod:`neuromem.backends.brian2.merging`) are built by one call, for a
    copy of the first population with their summed size and the group's name.
synapse type (``Builder.register_synapse(tag)``; ``fn(pop) -> SynapseCode``)
    The synaptic variables of a population of that synapse type, their
    equations and constants (from the population's parameters), the term
    they add to the membrane equation and the code a spike runs
    (:class:`SynapseCode`).
spike-timing rule (``build(rule, unit)``; ``RuleCaps.timing``)
    ``(namespace, synapse model, on_pre code, on_post code)`` for the
    projection's ``Synapses``; ``unit`` is the Brian2 unit of its weights.
modulating rule (``build(rule, projection, net)``; ``RuleCaps.modulator``)
    ``(namespace, synapse model, factor, objects, link)``: the factor (an
    expression) scales the timing rule's learning rate ``lr`` in its code,
    ``objects`` join the network, ``link(syn)`` connects the synapses to them.
transmission rule (``build(rule)``; ``RuleCaps.transmission``)
    ``(namespace, synapse model, efficacy, on_pre code, initial values)``:
    the target's ``on_pre`` code transmits ``w * efficacy`` in place of
    ``w``, then runs the rule's ``on_pre`` code (before a timing rule's);
    ``initial values`` (``{variable: value}``) are set once, after the
    synapses are created.
other rules (``build(rule, syn, projection, model, (i, j), order)``)
    Brian2 objects (one or a list) run beside the synapses while the
    projection is plastic (e.g. ``run_regularly`` operations), the
    ``order``-th rule of the projection's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import brian2 as b2

from neuromem.spec import (LIFPopulation, SpikeSource, PairSTDP, TripletSTDP, VogelsISTDP, ActivityGate, ShortTermDepression, BistableSynapse,
                           Projection, ModelError)
from neuromem.spec.neurons import CondLIFPopulation
from neuromem.spec.registry import NEURONS, RULES, SYNAPSES

#: Brian2 unit and its name in equations, per weight dimension (:attr:`NeuronCaps.weight`)
WEIGHT_UNITS = {"voltage": (b2.volt, "volt"), "conductance": (b2.siemens, "siemens")}

__all__ = ["Builder", "build", "BuiltNetwork", "SynapseCode", "synapse_code", "operation_rules"]


#: Brian2 devices a build function supports unless it says otherwise
ALL_DEVICES = ("runtime", "cpp_standalone")


class Builder:
    """Registry of build functions keyed by spec type.

    Each function declares the Brian2 devices its objects run on
    (``register(SpecClass, devices=...)``, default both): one that builds e.g.
    a Python ``NetworkOperation`` declares ``devices=("runtime",)``, and the
    cpp_standalone device refuses a model that needs it before building
    anything (:meth:`unsupported`).
    """

    builders: dict = {}
    devices: dict = {}
    #: synapse-type tag (:data:`~neuromem.spec.registry.SYNAPSES`) -> ``fn(pop) -> SynapseCode``
    synapse_builders: dict = {}

    @classmethod
    def register(cls, spec_type, devices=ALL_DEVICES):
        def deco(fn):
            cls.builders[spec_type] = fn
            cls.devices[spec_type] = tuple(devices)
            return fn
        return deco

    @classmethod
    def register_synapse(cls, tag: str):
        """Register ``fn(pop) -> SynapseCode``, the Brian2 code of synapse type ``tag``.

        ``tag`` must be registered in the spec's
        :data:`~neuromem.spec.registry.SYNAPSES` first (``ValueError``
        otherwise), so a misspelt tag fails when the backend is imported.
        """
        if tag not in SYNAPSES:
            raise ValueError(f"synapse type {tag!r} is not registered in neuromem.spec.registry.SYNAPSES "
                             f"(known: {', '.join(SYNAPSES.names())})")

        def deco(fn):
            cls.synapse_builders[tag] = fn
            return fn
        return deco

    @classmethod
    def unsupported(cls, obj, device: str) -> bool:
        """Whether the function that builds ``obj`` does not run on ``device``."""
        for t in type(obj).__mro__:
            if t in cls.builders:
                return device not in cls.devices.get(t, ALL_DEVICES)
        return True

    @classmethod
    def lookup(cls, obj):
        for t in type(obj).__mro__:
            if t in cls.builders:
                return cls.builders[t]
        raise ModelError(f"the Brian2 backend cannot build {type(obj).__name__} objects")


def build(obj, *args, **kwargs):
    """Build ``obj`` with the function registered for its type."""
    return Builder.lookup(obj)(obj, *args, **kwargs)


@dataclass(frozen=True)
class SynapseCode:
    """The Brian2 code of a population's synapses: what its synapse type adds to the neuron model.

    Attributes
    ----------
    drive : str
        The synaptic input in the membrane equation, in ``drive_unit``
        (e.g. ``"I"``, or ``"g_exc * (e_exc - v) + g_inh * (e_inh - v)"``).
    drive_unit : brian2.Unit
        The unit of ``drive``, which fixes the membrane equations it fits:
        volts for ``tau_m dv/dt = ... + drive``, amperes for
        ``C_m dv/dt = ... + drive``.
    equations : str
        The synaptic variables' equations, one per line, each ending in ``"\\n"``.
    on_pre : callable
        ``(projection) -> code`` run on the synapses when a presynaptic spike
        arrives: adds ``gain * w`` to the variable the projection feeds.
    namespace : dict
        The constants those equations use (Brian2 quantities).
    state : dict
        ``{variable: Brian2 unit}`` of the synaptic variables recorded with
        the neuron's state at each phase's start.
    """

    drive: str
    drive_unit: object
    equations: str
    on_pre: Callable
    namespace: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


def synapse_code(pop, drive_unit) -> SynapseCode:
    """The :class:`SynapseCode` of ``pop``'s synapse type (``NEURONS.caps(pop).synapse``).

    Parameters
    ----------
    pop : spec population
        A neuron-model population; its synapse type's parameters (time
        constants, reversal potentials) are read from it.
    drive_unit : brian2.Unit
        The unit the neuron model's membrane equation takes a synaptic drive
        in; a synapse type whose drive has another unit is refused.

    Raises
    ------
    neuromem.spec.ModelError
        When the Brian2 backend has no builder for the synapse type, or its
        drive does not fit the neuron model's membrane equation.
    """
    tag = NEURONS.caps(pop).synapse
    fn = Builder.synapse_builders.get(tag)
    if fn is None:
        raise ModelError(f"the Brian2 backend has no builder for synapse type {tag!r} "
                         f"(population {pop.name!r}); register one with Builder.register_synapse({tag!r})")
    code = fn(pop)
    if b2.get_dimensions(code.drive_unit) != b2.get_dimensions(drive_unit):
        raise ModelError(f"synapse type {tag!r} drives the membrane in {code.drive_unit}, but the "
                         f"{type(pop).__name__} equations of population {pop.name!r} take {drive_unit}")
    return code


class BuiltNetwork:
    """Brian2 objects of one model, indexed by spec name.

    Populations and projections may share Brian2 objects
    (:mod:`neuromem.backends.brian2.merging`): a population is then a
    ``Subgroup`` of a shared ``NeuronGroup`` (``shared``) and a projection a
    range of a shared ``Synapses``' synapses (``slices``).

    Attributes
    ----------
    groups : dict of str to NeuronGroup, Subgroup or SpikeGeneratorGroup
        Every population and source; a population's object reads and writes
        exactly its neurons.
    synapses : dict of str to Synapses
        Every projection's ``Synapses`` (the shared one for a merged projection).
    extra : list
        Other objects to keep in the Network (e.g. normalisation operations).
    shared : dict of str to (NeuronGroup, int)
        Population → its shared group and its first neuron's index there
        (merged populations only).
    slices : dict of str to slice
        Projection → its synapses in its shared ``Synapses`` (merged projections only).
    """

    def __init__(self):
        self.groups: dict = {}
        self.synapses: dict = {}
        self.extra: list = []
        #: projection name -> objects that exist only for its normalisation
        #: (summed-variable updater, periodic rescaling); active only while plastic
        self.normalisers: dict = {}
        #: population name -> {state variable: Brian2 unit} (recorded at each phase's start)
        self.state: dict = {}
        #: population name -> function(projection) -> on_pre code adding a spike to the target
        self.inputs: dict = {}
        self.shared: dict = {}
        self.slices: dict = {}

    def brian_groups(self) -> list:
        """The Brian2 groups, each once (a shared group in place of its subgroups), in ``groups`` order."""
        out = {}
        for name, g in self.groups.items():
            g = self.shared[name][0] if name in self.shared else g
            out.setdefault(g.name, g)
        return list(out.values())

    def brian_synapses(self) -> list:
        """The Brian2 ``Synapses``, each once, in ``synapses`` order."""
        return list({s.name: s for s in self.synapses.values()}.values())

    def objects(self):
        return [*self.brian_groups(), *self.brian_synapses(), *self.extra]

    def synapse_range(self, name: str) -> slice:
        """Projection ``name``'s synapses in its ``Synapses`` (all of them unless merged)."""
        return self.slices.get(name, slice(None))

    def connect(self, syn, proj, i, j, weights, unit) -> None:
        """Create the synapses ``(i, j)`` of ``syn`` with initial weights ``weights`` (in ``unit``).

        A device that loads them at run time (cpp_standalone) overrides this.
        """
        syn.connect(i=i, j=j)
        syn.w = weights * unit

    def connect_merged(self, syn, parts, unit) -> None:
        """Create the synapses of several projections in one ``Synapses``, one projection after the other.

        ``parts``: ``(projection, i, j, weights, offset)`` per projection, ``j``
        already shifted by ``offset`` (the target population's first index in
        the shared group).  A device that loads them at run time overrides this.
        """
        syn.connect(i=np.concatenate([p[1] for p in parts]), j=np.concatenate([p[2] for p in parts]))
        syn.w = np.concatenate([p[3] for p in parts]) * unit


@Builder.register_synapse("current")
def build_current_synapses(pop) -> SynapseCode:
    """Exponential current synapses (equations: :mod:`neuromem.spec.synapses`), as a voltage drive.

    A spike adds ``+w`` (excitatory projection) or ``-w`` (inhibitory) to
    ``I``, which decays with ``pop.tau_syn``; with ``pop.tau_syn_inh``
    inhibitory spikes add ``w`` to a second current ``I_inh`` that decays with
    it and enters the membrane with a minus sign.
    """
    ns = {"tau_syn": pop.tau_syn * b2.second}
    drive = "I"
    eqs = "dI/dt = -I / tau_syn : volt\n"
    tau_syn_inh = getattr(pop, "tau_syn_inh", None)
    if tau_syn_inh is not None:
        ns["tau_syn_inh"] = tau_syn_inh * b2.second
        drive += " - I_inh"
        eqs += "dI_inh/dt = -I_inh / tau_syn_inh : volt\n"

    def on_pre(proj: Projection) -> str:
        if proj.sign == "inhibitory" and tau_syn_inh is not None:
            return "I_inh_post += gain * w"
        op = "+=" if proj.sign == "excitatory" else "-="
        return f"I_post {op} gain * w"

    return SynapseCode(drive=drive, drive_unit=b2.volt, equations=eqs, namespace=ns, state={"I": b2.volt},
                       on_pre=on_pre)


@Builder.register_synapse("conductance")
def build_conductance_synapses(pop) -> SynapseCode:
    """Exponential conductance synapses (equations: :mod:`neuromem.spec.synapses`), as a current drive.

    A spike adds ``w`` to ``g_exc`` (excitatory projection) or ``g_inh``
    (inhibitory), which decay with ``pop.tau_exc`` / ``pop.tau_inh`` and
    drive the membrane through the reversal potentials ``pop.e_exc`` /
    ``pop.e_inh``.
    """
    ns = {"e_exc": pop.e_exc * b2.volt, "e_inh": pop.e_inh * b2.volt, "tau_exc": pop.tau_exc * b2.second,
          "tau_inh": pop.tau_inh * b2.second}
    return SynapseCode(
        drive="g_exc * (e_exc - v) + g_inh * (e_inh - v)", drive_unit=b2.amp,
        equations="dg_exc/dt = -g_exc / tau_exc : siemens\ndg_inh/dt = -g_inh / tau_inh : siemens\n",
        namespace=ns, state={"g_exc": b2.siemens, "g_inh": b2.siemens},
        on_pre=lambda proj: ("g_exc_post" if proj.sign == "excitatory" else "g_inh_post") + " += gain * w")


@Builder.register(LIFPopulation)
def build_lif(pop: LIFPopulation, net: BuiltNetwork, model, rng):
    """LIF group with a voltage drive; see :class:`neuromem.spec.LIFPopulation` for the equations.

    The synaptic input comes from its synapse type (:func:`synapse_code`,
    ``current`` for ``lif``), added to the membrane equation as a voltage.
    """
    syn = synapse_code(pop, b2.volt)
    ns = {"tau_m": pop.tau_m * b2.second, "v_rest": pop.v_rest * b2.volt, "v_reset": pop.v_reset * b2.volt,
          "v_th": pop.v_th * b2.volt, **syn.namespace}
    drive = syn.drive
    extra_eqs = ""
    if pop.bias != 0:
        ns["v_bias"] = pop.bias * b2.volt
        drive += " + v_bias"
    reset = "v = v_reset"
    if pop.adaptation is not None:
        ns["tau_w"] = pop.adaptation.tau_w * b2.second
        ns["b_w"] = pop.adaptation.b * b2.volt
        drive += " - w_adapt"
        extra_eqs += "dw_adapt/dt = -w_adapt / tau_w : volt\n"
        reset += "\nw_adapt += b_w"
    eqs = (f"dv/dt = (v_rest - v + {drive}) / tau_m : volt (unless refractory)\n"
           + syn.equations + extra_eqs +
           "silenced : 1 (shared)\n")
    g = b2.NeuronGroup(pop.size, eqs, threshold="v > v_th and silenced < 0.5", reset=reset,
                       refractory=pop.refractory * b2.second, method="exact", namespace=ns,
                       name=pop.name)
    g.v = pop.v_rest * b2.volt
    net.groups[pop.name] = g
    net.state[pop.name] = {"v": b2.volt, **syn.state}
    net.inputs[pop.name] = syn.on_pre
    return g


@Builder.register(CondLIFPopulation)
def build_cond_lif(pop: CondLIFPopulation, net: BuiltNetwork, model, rng):
    """LIF group with a capacitance and a leak conductance; see :class:`neuromem.spec.neurons.CondLIFPopulation`.

    The synaptic input comes from its synapse type (:func:`synapse_code`,
    ``conductance`` for ``cond_lif``), added to the membrane equation as a
    current.  Integrated with Brian2's ``exponential_euler`` (exact for ``v``
    at fixed conductances, as in Brian2's own COBA example).
    """
    syn = synapse_code(pop, b2.amp)
    ns = {"c_m": pop.c_m * b2.farad, "g_leak": pop.g_leak * b2.siemens, "v_rest": pop.v_rest * b2.volt,
          "v_reset": pop.v_reset * b2.volt, "v_th": pop.v_th * b2.volt, **syn.namespace,
          "i_bias": pop.bias * b2.amp}
    eqs = (f"dv/dt = (g_leak * (v_rest - v) + {syn.drive} + i_bias) / c_m "
           ": volt (unless refractory)\n"
           + syn.equations +
           "silenced : 1 (shared)\n")
    g = b2.NeuronGroup(pop.size, eqs, threshold="v > v_th and silenced < 0.5", reset="v = v_reset",
                       refractory=pop.refractory * b2.second, method="exponential_euler", namespace=ns,
                       name=pop.name)
    g.v = pop.v_rest * b2.volt
    net.groups[pop.name] = g
    net.state[pop.name] = {"v": b2.volt, **syn.state}
    net.inputs[pop.name] = syn.on_pre
    return g


@Builder.register(SpikeSource)
def build_source(src: SpikeSource, net: BuiltNetwork, model, rng):
    """Spike generator; its spikes are set before each phase."""
    g = b2.SpikeGeneratorGroup(src.size, np.zeros(0, dtype=int), np.zeros(0) * b2.second,
                               name=src.name)
    net.groups[src.name] = g
    return g


# A frozen projection (lr == 0) keeps its weights exactly, even weights outside
# the rule's bounds: while lr is 0 the clip bounds are widened by w_unbounded
# (and w + 0 * dw == w), while lr > 0 they are exactly the rule's bounds.
_W_UNBOUNDED = 1e6
_FROZEN = "int(lr <= 0) * w_unbounded"


@Builder.register(PairSTDP)
def build_pair_stdp(rule: PairSTDP, unit=b2.volt):
    """Pair STDP as synaptic code (equations: :class:`neuromem.spec.PairSTDP`)."""
    ns = {"tau_pre": rule.tau_pre * b2.second, "tau_post": rule.tau_post * b2.second,
          "a_plus": rule.a_plus * unit, "a_minus": rule.a_minus * unit,
          "c_pre": rule.c_pre * unit, "c_post": rule.c_post * unit, "w_min": rule.w_min * unit, "w_max": rule.w_max * unit}
    model = ("dx/dt = -x / tau_pre : 1 (event-driven)\n"
             "dy/dt = -y / tau_post : 1 (event-driven)\n")
    ns["w_unbounded"] = _W_UNBOUNDED * unit
    lo, hi = f"w_min - {_FROZEN}", f"w_max + {_FROZEN}"
    if rule.window == "symmetric":
        pre = f"w = clip(w + lr * (a_minus * y - c_pre), {lo}, {hi})\nx += 1"
    else:
        pre = f"w = clip(w - lr * (a_minus * y + c_pre), {lo}, {hi})\nx += 1"
    post = f"w = clip(w + lr * (a_plus * x - c_post), {lo}, {hi})\ny += 1"
    return ns, model, pre, post


@Builder.register(TripletSTDP)
def build_triplet_stdp(rule: TripletSTDP, unit=b2.volt):
    """Minimal triplet STDP as synaptic code (equations: :class:`neuromem.spec.TripletSTDP`)."""
    ns = {"tau_plus": rule.tau_plus * b2.second, "tau_minus": rule.tau_minus * b2.second,
          "tau_y": rule.tau_y * b2.second, "a2_plus": rule.a2_plus * unit, "a3_plus": rule.a3_plus * unit,
          "a2_minus": rule.a2_minus * unit, "c_pre": rule.c_pre * unit, "c_post": rule.c_post * unit,
          "w_min": rule.w_min * unit, "w_max": rule.w_max * unit, "w_unbounded": _W_UNBOUNDED * unit}
    model = ("dr1/dt = -r1 / tau_plus : 1 (event-driven)\n"
             "do1/dt = -o1 / tau_minus : 1 (event-driven)\n"
             "do2/dt = -o2 / tau_y : 1 (event-driven)\n")
    lo, hi = f"w_min - {_FROZEN}", f"w_max + {_FROZEN}"
    pre = f"w = clip(w - lr * (a2_minus * o1 + c_pre), {lo}, {hi})\nr1 += 1"
    post = f"w = clip(w + lr * (r1 * (a2_plus + a3_plus * o2) - c_post), {lo}, {hi})\no1 += 1\no2 += 1"
    return ns, model, pre, post


@Builder.register(VogelsISTDP)
def build_vogels_istdp(rule: VogelsISTDP, unit=b2.volt):
    """Vogels iSTDP as synaptic code (equations: :class:`neuromem.spec.VogelsISTDP`)."""
    ns = {"tau_i": rule.tau * b2.second, "eta": rule.eta * unit, "alpha": rule.alpha,
          "w_max": rule.w_max * unit}
    model = ("dx/dt = -x / tau_i : 1 (event-driven)\n"
             "dy/dt = -y / tau_i : 1 (event-driven)\n")
    ns["w_unbounded"] = _W_UNBOUNDED * unit
    ns["w_zero"] = 0 * unit
    lo, hi = f"w_zero - {_FROZEN}", f"w_max + {_FROZEN}"
    pre = f"w = clip(w + lr * eta * (y - alpha), {lo}, {hi})\nx += 1"
    post = f"w = clip(w + lr * eta * x, {lo}, {hi})\ny += 1"
    return ns, model, pre, post


@Builder.register(ActivityGate)
def build_activity_gate(gate: ActivityGate, proj: Projection, net: BuiltNetwork):
    """The gate's rate estimate (equations: :class:`neuromem.spec.ActivityGate`) and the factor it gives.

    One neuron ``PROJ_gate`` integrates ``dr/dt = -r / tau``; every spike of
    the gate's population adds ``1 / (N tau)`` to ``r`` (synapses
    ``PROJ_gate_in``, all onto that neuron); the projection's synapses read
    ``r`` as a linked shared variable and learn while ``r > threshold``.
    """
    tau = gate.tau * b2.second
    group = b2.NeuronGroup(1, "dr/dt = -r / tau_gate : hertz", method="exact", namespace={"tau_gate": tau},
                           name=f"{proj.name}_gate")
    pop = net.groups[gate.population]
    feed = b2.Synapses(pop, group, on_pre="r_post += rate_step", namespace={"rate_step": 1.0 / (len(pop) * tau)},
                       name=f"{proj.name}_gate_in")
    feed.connect(i=np.arange(len(pop)), j=0)

    def link(syn):
        syn.gate_r = b2.linked_var(group, "r")

    return ({"gate_threshold": gate.threshold * b2.Hz}, "gate_r : hertz (linked, shared)\n",
            "int(gate_r > gate_threshold)", [group, feed], link)


@Builder.register(ShortTermDepression)
def build_short_term_depression(rule: ShortTermDepression):
    """Tsodyks–Markram depression as synaptic code (equations: :class:`neuromem.spec.ShortTermDepression`).

    The resources ``stp_r`` of each synapse recover event-driven (exactly, at each spike); a spike
    transmits ``w * stp_r`` and then uses the fraction ``u``, unless the projection is blocked
    (``gain`` 0: no release, nothing used).  The shared switch ``stp_on`` (set per phase, 0 in a phase
    whose ``stp_off`` names the projection) makes a spike transmit ``w`` and use nothing.
    """
    ns = {"stp_u": rule.u, "stp_tau_rec": rule.tau_rec * b2.second}
    model = "dstp_r/dt = (1 - stp_r) / stp_tau_rec : 1 (event-driven)\nstp_on : 1 (shared)\n"
    return (ns, model, "(stp_on * stp_r + (1 - stp_on))", "stp_r -= stp_on * int(gain > 0) * stp_u * stp_r",
            {"stp_r": 1.0, "stp_on": 1.0})


@Builder.register(BistableSynapse)
def build_bistable(rule: BistableSynapse, syn, proj: Projection, model, synapses, order=0):
    """Relaxation to the two stable states (equations: :class:`neuromem.spec.BistableSynapse`), as generated code.

    One ``run_regularly`` on the synapses every ``rule.interval``, at the end of
    the time step, after the spike-timing updates; ``order`` places it among
    the projection's other operation rules (list order).  The arithmetic is
    :meth:`~neuromem.spec.BistableSynapse.relax`'s: ``1 * x + 0 * y`` keeps the
    chosen side's value exactly.  Active only while the projection is plastic.

    Returns
    -------
    list
        The operation.
    """
    unit, _ = WEIGHT_UNITS[NEURONS.caps(model.populations[proj.target]).weight]
    syn.namespace.update({
        "bi_theta": rule.theta * unit, "bi_up": rule.w_up * unit, "bi_down": rule.w_down * unit,
        "bi_decay_up": float(np.exp(-rule.interval / rule.tau_up)),
        "bi_decay_down": float(np.exp(-rule.interval / rule.tau_down))})
    code = ("w = int(w > bi_theta) * (bi_up + (w - bi_up) * bi_decay_up)"
            " + int(w <= bi_theta) * (bi_down + (w - bi_down) * bi_decay_down)")
    clock = b2.Clock(dt=rule.interval * b2.second, name=f"{syn.name}_bistable_clock")
    return [syn.run_regularly(code, clock=clock, when="end", order=4 * order, name=f"{syn.name}_bistable")]


def operation_rules(rules) -> list:
    """Of a projection's rules, in list order, those built as objects beside its synapses (neither a
    timing rule, a modulator nor a transmission rule, which are built into its code): the ``order``
    their build functions get."""
    return [r for r in rules
            if not (RULES.caps(r).timing or RULES.caps(r).modulator or RULES.caps(r).transmission)]


def _transmitted(code: str, efficacy: str) -> str:
    """A synapse type's ``on_pre`` code with the weight ``w`` it adds replaced by ``w * efficacy``."""
    return re.sub(r"\bw\b", f"(w * {efficacy})", code)


def _scaled_lr(code: str) -> str:
    """A timing rule's code with its learning rate ``lr`` replaced by the gated ``lr_gated``."""
    return re.sub(r"\blr\b", "lr_gated", code)


@Builder.register(Projection)
def build_projection(proj: Projection, net: BuiltNetwork, model, synapses, weights):
    """Synapses with the given (i, j) pairs and weight magnitudes.

    Every projection has a shared ``gain`` (0 blocks it) and, when plastic, a
    shared learning-rate scale ``lr`` (0 freezes it); the simulator sets both
    per phase.
    """
    i, j = synapses
    ns: dict = {}
    unit, unit_name = WEIGHT_UNITS[NEURONS.caps(model.populations[proj.target]).weight]
    syn_model = f"w : {unit_name}\ngain : 1 (shared)\n"
    on_pre = net.inputs[proj.target](proj)
    on_post = None
    rules = model.rules_of(proj.name)
    timing = [r for r in rules if RULES.caps(r).timing]
    modulators = [r for r in rules if RULES.caps(r).modulator]
    initial: dict = {}
    for rule in (r for r in rules if RULES.caps(r).transmission):   # at most one (Model checks)
        tns, tmodel, efficacy, use, initial = build(rule)
        ns.update(tns)
        syn_model += tmodel
        on_pre = _transmitted(on_pre, efficacy) + "\n" + use
    if rules:
        syn_model += "lr : 1 (shared)\n"
    links = []
    for rule in modulators:        # at most one (Model checks)
        mns, mmodel, factor, objects, link = build(rule, proj, net)
        ns.update(mns)
        syn_model += mmodel + f"lr_gated = lr * {factor} : 1 (shared)\n"
        net.extra.extend(objects)
        links.append(link)
    for rule in timing:
        rns, rmodel, pre, post = build(rule, unit)
        if modulators:
            pre, post = _scaled_lr(pre), _scaled_lr(post)
        ns.update(rns)
        syn_model += rmodel
        on_pre += "\n" + pre
        on_post = post
    kwargs = {"on_post": on_post} if on_post else {}
    syn = b2.Synapses(net.groups[proj.source], net.groups[proj.target], model=syn_model,
                      on_pre=on_pre, namespace=ns, name=proj.name, **kwargs)
    net.connect(syn, proj, i, j, weights, unit)
    for var, value in initial.items():
        setattr(syn, var, value)
    for link in links:
        link(syn)
    syn.gain = 1.0
    if rules:
        syn.lr = 0.0
    if proj.delay > 0:
        syn.delay = proj.delay * b2.second
    ops = []
    others = operation_rules(rules)
    for k, rule in enumerate(others):   # applied in list order, same step
        made = build(rule, syn, proj, model, (i, j), order=k)
        ops.extend(made if isinstance(made, (list, tuple)) else [made])
    if ops:
        net.extra.extend(ops)
        net.normalisers[proj.name] = ops
    net.synapses[proj.name] = syn
    return syn
