"""Build Brian2 objects from spec objects.

Build functions are registered per spec type (the idea of Nengo's
``Builder.register``): :func:`build` looks up the function for the object's
class (walking the MRO), so a new population type or rule plugs in by
registering one function, without touching the simulator loop.
"""

from __future__ import annotations

import numpy as np
import brian2 as b2

from neuromem.spec import (LIFPopulation, SpikeSource, PairSTDP, VogelsISTDP,
                           SynapticNormalisation, Projection, ModelError)

__all__ = ["Builder", "build", "BuiltNetwork"]


class Builder:
    """Registry of build functions keyed by spec type."""

    builders: dict = {}

    @classmethod
    def register(cls, spec_type):
        def deco(fn):
            cls.builders[spec_type] = fn
            return fn
        return deco

    @classmethod
    def lookup(cls, obj):
        for t in type(obj).__mro__:
            if t in cls.builders:
                return cls.builders[t]
        raise ModelError(f"the Brian2 backend cannot build {type(obj).__name__} objects")


def build(obj, *args, **kwargs):
    """Build ``obj`` with the function registered for its type."""
    return Builder.lookup(obj)(obj, *args, **kwargs)


class BuiltNetwork:
    """Brian2 objects of one model, indexed by spec name.

    Attributes
    ----------
    groups : dict of str to NeuronGroup or SpikeGeneratorGroup
    synapses : dict of str to Synapses
    extra : list
        Other objects to keep in the Network (e.g. normalisation operations).
    """

    def __init__(self):
        self.groups: dict = {}
        self.synapses: dict = {}
        self.extra: list = []
        #: projection name -> objects that exist only for its normalisation
        #: (summed-variable updater, periodic rescaling); active only while plastic
        self.normalisers: dict = {}

    def objects(self):
        return [*self.groups.values(), *self.synapses.values(), *self.extra]


@Builder.register(LIFPopulation)
def build_lif(pop: LIFPopulation, net: BuiltNetwork, model, rng):
    """Current-based LIF group; see :class:`neuromem.spec.LIFPopulation` for the equations."""
    ns = {"tau_m": pop.tau_m * b2.second, "tau_syn": pop.tau_syn * b2.second,
          "v_rest": pop.v_rest * b2.volt, "v_reset": pop.v_reset * b2.volt,
          "v_th": pop.v_th * b2.volt}
    drive = "I"
    extra_eqs = ""
    if pop.tau_syn_inh is not None:
        ns["tau_syn_inh"] = pop.tau_syn_inh * b2.second
        drive += " - I_inh"
        extra_eqs += "dI_inh/dt = -I_inh / tau_syn_inh : volt\n"
    reset = "v = v_reset"
    if pop.adaptation is not None:
        ns["tau_w"] = pop.adaptation.tau_w * b2.second
        ns["b_w"] = pop.adaptation.b * b2.volt
        drive += " - w_adapt"
        extra_eqs += "dw_adapt/dt = -w_adapt / tau_w : volt\n"
        reset += "\nw_adapt += b_w"
    eqs = (f"dv/dt = (v_rest - v + {drive}) / tau_m : volt (unless refractory)\n"
           "dI/dt = -I / tau_syn : volt\n" + extra_eqs +
           "silenced : 1 (shared)\n")
    g = b2.NeuronGroup(pop.size, eqs, threshold="v > v_th and silenced < 0.5", reset=reset,
                       refractory=pop.refractory * b2.second, method="exact", namespace=ns,
                       name=pop.name)
    g.v = pop.v_rest * b2.volt
    net.groups[pop.name] = g
    return g


@Builder.register(SpikeSource)
def build_source(src: SpikeSource, net: BuiltNetwork, model, rng):
    """Spike generator; its spikes are set before each phase."""
    g = b2.SpikeGeneratorGroup(src.size, np.zeros(0, dtype=int), np.zeros(0) * b2.second,
                               name=src.name)
    net.groups[src.name] = g
    return g


def _target_var(model, proj: Projection) -> str:
    tgt = model.populations[proj.target]
    if proj.sign == "inhibitory" and tgt.tau_syn_inh is not None:
        return "I_inh_post += gain * w"
    op = "+=" if proj.sign == "excitatory" else "-="
    return f"I_post {op} gain * w"


# A frozen projection (lr == 0) keeps its weights exactly, even weights outside
# the rule's bounds: while lr is 0 the clip bounds are widened by w_unbounded
# (and w + 0 * dw == w), while lr > 0 they are exactly the rule's bounds.
_W_UNBOUNDED = 1e6 * b2.volt
_FROZEN = "int(lr <= 0) * w_unbounded"


def _stdp_code(rule: PairSTDP):
    ns = {"tau_pre": rule.tau_pre * b2.second, "tau_post": rule.tau_post * b2.second,
          "a_plus": rule.a_plus * b2.volt, "a_minus": rule.a_minus * b2.volt,
          "c_pre": rule.c_pre * b2.volt, "c_post": rule.c_post * b2.volt, "w_min": rule.w_min * b2.volt, "w_max": rule.w_max * b2.volt}
    model = ("dx/dt = -x / tau_pre : 1 (event-driven)\n"
             "dy/dt = -y / tau_post : 1 (event-driven)\n")
    ns["w_unbounded"] = _W_UNBOUNDED
    lo, hi = f"w_min - {_FROZEN}", f"w_max + {_FROZEN}"
    if rule.window == "symmetric":
        pre = f"w = clip(w + lr * (a_minus * y - c_pre), {lo}, {hi})\nx += 1"
    else:
        pre = f"w = clip(w - lr * (a_minus * y + c_pre), {lo}, {hi})\nx += 1"
    post = f"w = clip(w + lr * (a_plus * x - c_post), {lo}, {hi})\ny += 1"
    return ns, model, pre, post


def _istdp_code(rule: VogelsISTDP):
    ns = {"tau_i": rule.tau * b2.second, "eta": rule.eta * b2.volt, "alpha": rule.alpha,
          "w_max": rule.w_max * b2.volt}
    model = ("dx/dt = -x / tau_i : 1 (event-driven)\n"
             "dy/dt = -y / tau_i : 1 (event-driven)\n")
    ns["w_unbounded"] = _W_UNBOUNDED
    lo, hi = f"0 * volt - {_FROZEN}", f"w_max + {_FROZEN}"
    pre = f"w = clip(w + lr * eta * (y - alpha), {lo}, {hi})\nx += 1"
    post = f"w = clip(w + lr * eta * x, {lo}, {hi})\ny += 1"
    return ns, model, pre, post


_RULE_CODE = {PairSTDP: _stdp_code, VogelsISTDP: _istdp_code}


def _normaliser(syn, owner, n_owner, norm, order=0):
    """Periodic multiplicative normalisation (see :class:`~neuromem.spec.SynapticNormalisation`).

    ``owner`` is the neuron each synapse is summed for (``norm.owners(i, j)``).
    Runs every ``norm.interval`` at the end of the time step, after all
    plasticity updates.  The per-neuron sums are computed only at that
    interval (numpy ``bincount``), not every step as a Brian2 summed variable
    would, which keeps a 500k-synapse projection cheap.  Runtime mode only.
    """
    owner = np.asarray(owner)
    w_var = syn.variables["w"]

    def normalise():
        w = w_var.get_value()
        scale = norm.factors(w, owner, n_owner)
        if (scale != 1.0).any():
            w *= scale[owner]

    return b2.NetworkOperation(normalise, dt=norm.interval * b2.second, when="end", order=order,
                               name=f"{syn.name}_normalisation_{norm.direction}")


@Builder.register(Projection)
def build_projection(proj: Projection, net: BuiltNetwork, model, synapses, weights):
    """Synapses with the given (i, j) pairs and weight magnitudes.

    Every projection has a shared ``gain`` (0 blocks it) and, when plastic, a
    shared learning-rate scale ``lr`` (0 freezes it); the simulator sets both
    per phase.
    """
    i, j = synapses
    ns: dict = {}
    syn_model = "w : volt\ngain : 1 (shared)\n"
    on_pre = _target_var(model, proj)
    on_post = None
    rules = model.rules_of(proj.name)
    timing = [r for r in rules if type(r) in _RULE_CODE]
    if rules:
        syn_model += "lr : 1 (shared)\n"
    for rule in timing:
        rns, rmodel, pre, post = _RULE_CODE[type(rule)](rule)
        ns.update(rns)
        syn_model += rmodel
        on_pre += "\n" + pre
        on_post = post
    kwargs = {"on_post": on_post} if on_post else {}
    syn = b2.Synapses(net.groups[proj.source], net.groups[proj.target], model=syn_model,
                      on_pre=on_pre, namespace=ns, name=proj.name, **kwargs)
    syn.connect(i=i, j=j)
    syn.w = weights * b2.volt
    syn.gain = 1.0
    if rules:
        syn.lr = 0.0
    if proj.delay > 0:
        syn.delay = proj.delay * b2.second
    ops = []
    for k, norm in enumerate(model.normalisations_of(proj.name)):   # applied in list order, same step
        ops.append(_normaliser(syn, norm.owners(i, j), model.nodes()[norm.owner_node(proj)].size, norm, order=k))
    if ops:
        net.extra.extend(ops)
        net.normalisers[proj.name] = ops
    net.synapses[proj.name] = syn
    return syn
