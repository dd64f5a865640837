"""Synaptic normalisation (:class:`~neuromem.spec.SynapticNormalisation`) as Brian2 generated code.

Registered with :class:`~neuromem.backends.brian2.builder.Builder` for the spec type; the
package's ``__init__`` imports this module so that the registration is in place whenever the
Brian2 backend is used.

A projection's normalisations that follow each other in its ``plasticity``
list and share an interval (at most one per direction: e.g. outgoing, then
incoming) run together, on one clock, as one *chain*: the first rule's build
function builds the chain's objects, the later ones build nothing.  The
weights after a tick are those of the numpy reference, applied in the list
order, bit for bit::

    for norm in chain:
        w *= norm.factors(w, owner, n_owner)[owner]

:meth:`~neuromem.spec.SynapticNormalisation.factors` sums each owner's weights
in synapse order from 0, and each factor is ``total / sum`` where the sum
exceeds ``total``, else exactly 1.  Two implementations keep that arithmetic:

runtime device (Cython or numpy): ``run_regularly`` operations
    zero the owners' sums; one pass over the synapses adds the weights into the
    first sum; the owner computes the first factors; one pass scales by them
    *and* adds the scaled weights into the next rule's sum (``w = w * f1;
    s2 += w``: the same products, added in the same order); ... ; a last pass
    scales by the last factors.  A chain of ``m`` rules makes ``m + 1`` passes
    over the synapses instead of ``2 m``.
cpp_standalone device: one C++ function per chain
    called once per tick (a ``run_regularly`` whose only statement is
    scalar, on the smaller of the projection's two groups: Brian2 still
    writes an empty loop over the host's elements, which on the synapses
    cost a fifth of the function's time).  One pass adds the weights into *every* sum of the
    chain; a rule whose factors are all 1 scales nothing (``w * 1 == w``); a
    rule with some factor not 1 scales in one pass that also recomputes the
    later rules' sums from the scaled weights.  A source-owned sum (outgoing;
    synapses are stored by presynaptic neuron) is accumulated in a register
    while consecutive synapses share their owner.  A tick with no neuron over
    its total costs one pass instead of four for ctx_ee's two caps.

Both are exact for any synapse order: every sum receives the same products,
in synapse order, as ``factors`` adds them.
"""

from __future__ import annotations

import brian2 as b2

from neuromem.spec import SynapticNormalisation, Projection
from neuromem.spec.registry import NEURONS
from neuromem.backends.brian2.builder import Builder, WEIGHT_UNITS, operation_rules

__all__ = ["build_normalisation", "normalisation_chain"]


def normalisation_chain(proj: Projection, model, order: int) -> list:
    """The normalisations that run with the ``order``-th non-timing rule of ``proj`` as one chain.

    Parameters
    ----------
    proj : Projection
        The projection.
    model : Model
        The model (its rules).
    order : int
        Position of the rule among the projection's non-timing rules (the
        builder's ``order``).

    Returns
    -------
    list of SynapticNormalisation
        The rule and the normalisations right after it with the same
        interval, in list order; empty when the rule belongs to the chain of
        an earlier one (built there).
    """
    others = operation_rules(model.rules_of(proj.name))

    def joins(k):          # rule k runs in the chain of rule k - 1
        return (k > 0 and isinstance(others[k], SynapticNormalisation)
                and isinstance(others[k - 1], SynapticNormalisation)
                and others[k].interval == others[k - 1].interval)

    if joins(order):
        return []
    chain = [others[order]]
    k = order + 1
    while k < len(others) and joins(k):
        chain.append(others[k])
        k += 1
    return chain


@Builder.register(SynapticNormalisation)
def build_normalisation(norm: SynapticNormalisation, syn, proj: Projection, model, synapses, order=0):
    """Periodic multiplicative normalisation (see :class:`~neuromem.spec.SynapticNormalisation`), as generated code.

    Every ``norm.interval`` at the end of the time step, after all plasticity
    updates, the chain of normalisations that starts with ``norm``
    (:func:`normalisation_chain`) rescales the weights as the numpy reference
    does, bit for bit (see the module docstring for both devices'
    implementations).  ``order`` places the objects after the projection's
    earlier rules.  The work is O(synapses) per interval, in the code
    target's language (Cython, or C++ in standalone mode), never per time
    step.

    Returns
    -------
    list
        The chain's Brian2 objects (active only while the projection is
        plastic); empty for a rule built with an earlier one's chain.
    """
    chain = normalisation_chain(proj, model, order)
    if not chain:
        return []
    unit, unit_name = WEIGHT_UNITS[NEURONS.caps(model.populations[proj.target]).weight]
    clock = b2.Clock(dt=chain[0].interval * b2.second, name=f"{syn.name}_normclock_{chain[0].direction}")
    kw = {"clock": clock, "when": "end"}
    if _compiled(syn):
        return [_build_compiled(chain, syn, 4 * order, kw)]
    return _build_generated(chain, syn, unit, unit_name, 4 * order, kw)


def _owner(norm, syn):
    incoming = norm.direction == "incoming"
    owner = syn.target if incoming else syn.source
    suffix, index = ("_post", "_postsynaptic_idx") if incoming else ("_pre", "_presynaptic_idx")
    return owner, suffix, index


def _build_generated(chain, syn, unit, unit_name, base, kw) -> list:
    """The chain as ``run_regularly`` operations in Brian2's abstract code (any device)."""
    zero, sums, factors, facs = [], [], [], []
    for norm in chain:
        owner, suffix, index = _owner(norm, syn)
        tag = f"{syn.name}_{norm.direction}"
        total, fac, cap = f"normsum_{tag}", f"normfac_{tag}", f"normcap_{tag}"
        owner.variables.add_array(total, size=owner.N, dimensions=unit.dim)
        owner.variables.add_array(fac, size=owner.N)
        owner.variables.add_constant(cap, float(norm.total), dimensions=unit.dim)
        syn.variables.add_reference(total + suffix, owner, total, index=index)
        syn.variables.add_reference(fac + suffix, owner, fac, index=index)
        # factor = total / sum where sum > total, else 1 (exactly: 1 * x + 0 and 0 * finite + 1);
        # the guard keeps the unused division finite (a sum of 0 would divide by zero)
        over = f"int({total} > {cap})"
        zero.append((owner, f"{total} = 0 * {unit_name}", norm.direction))
        sums.append(f"{total}{suffix} += w")
        factors.append((owner, f"{fac} = {over} * ({cap} / ({total} + (1 - {over}) * {cap})) + (1 - {over})",
                        norm.direction))
        facs.append(f"w = w * {fac}{suffix}")
    ops, k = [], base
    for owner, code, direction in zero:
        ops.append(owner.run_regularly(code, order=k, name=f"{syn.name}_norm_{direction}_zero", **kw))
        k += 1
    ops.append(syn.run_regularly(sums[0], order=k, name=f"{syn.name}_norm_{chain[0].direction}_sum", **kw))
    k += 1
    for r, norm in enumerate(chain):
        owner, code, direction = factors[r]
        ops.append(owner.run_regularly(code, order=k, name=f"{syn.name}_norm_{direction}_factor", **kw))
        # scale by this rule's factors; the next rule sums the scaled weights in the same pass
        scale = facs[r] + ("\n" + sums[r + 1] if r + 1 < len(chain) else "")
        ops.append(syn.run_regularly(scale, order=k + 1, name=f"{syn.name}_norm_{direction}_scale", **kw))
        k += 2
    return ops


def _compiled(syn) -> bool:
    """Whether ``syn`` is built for the cpp_standalone device, on whole groups (no subgroup offsets)."""
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
    from brian2.groups.subgroup import Subgroup

    return (isinstance(b2.get_device(), CPPStandaloneDevice)
            and not isinstance(syn.source, Subgroup) and not isinstance(syn.target, Subgroup))


def _build_compiled(chain, syn, order, kw):
    """The chain as one C++ function, called once per tick by a scalar ``run_regularly``."""
    device = b2.get_device()
    tag = f"{syn.name}_{chain[0].direction}"      # one chain per projection and first direction
    fname, counter = f"nm_normalise_{tag}", f"normticks_{tag}"   # no leading underscore: Brian2 reserves those names in namespaces
    code = _chain_code(fname, chain, syn, lambda var: device.get_array_name(var, access_data=False))
    func = b2.Function(_no_python, arg_units=[1], return_unit=1, arg_types=["float"], return_type="float",
                       stateless=False)
    func.implementations.add_implementation("cpp", code=code, name=fname)
    # the statement is scalar (one call per tick), but Brian2 still writes the host's loop over its
    # elements (empty; at -O1 gcc keeps it): host it on the smaller of the two groups, not the synapses
    host = min((syn.source, syn.target), key=lambda g: int(g.N))
    host.variables.add_array(counter, size=1, scalar=True, dtype=float)
    host.namespace[fname] = func
    return host.run_regularly(f"{counter} = {fname}({counter})", order=order,
                              name=f"{syn.name}_norm_{chain[0].direction}_sum", **kw)


def _no_python(*args):
    raise NotImplementedError("neuromem's compiled normalisation runs on the cpp_standalone device only")


def _chain_code(fname: str, chain, syn, array_name) -> str:
    """C++ source of the chain's function (see the module docstring).

    ``array_name(variable)`` is the device's name of a Brian2 array.
    """
    w = f"brian::{array_name(syn.variables['w'])}"
    index = {"outgoing": f"brian::{array_name(syn.variables['_synaptic_pre'])}",
             "incoming": f"brian::{array_name(syn.variables['_synaptic_post'])}"}
    sizes = {"outgoing": int(syn.source.N), "incoming": int(syn.target.N)}
    m = len(chain)
    lines = [f"static double {fname}(const double _ticks)", "{",
             f"    double* const _w = {w}.empty() ? 0 : &{w}[0];",
             f"    const size_t _n = {w}.size();"]
    for r, norm in enumerate(chain):
        d = norm.direction
        lines += [f"    const int32_t* const _own{r} = {index[d]}.empty() ? 0 : &{index[d]}[0];",
                  f"    static double _sum{r}[{sizes[d]}], _fac{r}[{sizes[d]}];",
                  f"    const double _cap{r} = {float(norm.total)!r};"]

    def accumulate(rules, scale=None):
        """One pass: optionally scale by rule ``scale``'s factors, then add into ``rules``' sums."""
        out = []
        for r in rules:
            out += [f"        for (int _k = 0; _k < {sizes[chain[r].direction]}; _k++) _sum{r}[_k] = 0.0;"]
        runs = [r for r in rules if chain[r].direction == "outgoing"]   # owners in runs: a register
        out += [f"        int _cur{r} = -1; double _acc{r} = 0.0;" for r in runs]
        out += ["        for (size_t _s = 0; _s < _n; _s++)", "        {"]
        if scale is None:
            out += ["            const double _x = _w[_s];"]
        else:
            out += [f"            const double _x = _w[_s] * _fac{scale}[_own{scale}[_s]];", "            _w[_s] = _x;"]
        for r in rules:
            if r in runs:
                out += [f"            const int32_t _o{r} = _own{r}[_s];",
                        f"            if (_o{r} != _cur{r}) {{ if (_cur{r} >= 0) _sum{r}[_cur{r}] = _acc{r}; "
                        f"_cur{r} = _o{r}; _acc{r} = _sum{r}[_o{r}]; }}",
                        f"            _acc{r} += _x;"]
            else:
                out += [f"            _sum{r}[_own{r}[_s]] += _x;"]
        out += ["        }"]
        out += [f"        if (_cur{r} >= 0) _sum{r}[_cur{r}] = _acc{r};" for r in runs]
        return out

    lines += ["    {"] + accumulate(list(range(m))) + ["    }"]
    for r, norm in enumerate(chain):
        n = sizes[norm.direction]
        lines += ["    {", "        bool _over = false;",
                  f"        for (int _k = 0; _k < {n}; _k++)", "        {",
                  f"            if (_sum{r}[_k] > _cap{r}) {{ _fac{r}[_k] = _cap{r} / _sum{r}[_k]; _over = true; }}",
                  f"            else _fac{r}[_k] = 1.0;", "        }",
                  "        if (_over)", "        {"]
        lines += ["    " + s for s in accumulate(list(range(r + 1, m)), scale=r)]
        lines += ["        }", "    }"]
    lines += ["    return _ticks + 1.0;", "}"]
    return "\n".join(lines) + "\n"
