"""Synaptic normalisation (:class:`~neuromem.spec.SynapticNormalisation`) as Brian2 generated code.

Registered with :class:`~neuromem.backends.brian2.builder.Builder` for the spec type; the
package's ``__init__`` imports this module so that the registration is in place whenever the
Brian2 backend is used.
"""

from __future__ import annotations

import brian2 as b2

from neuromem.spec import SynapticNormalisation, Projection
from neuromem.spec.registry import NEURONS
from neuromem.backends.brian2.builder import Builder, WEIGHT_UNITS

__all__ = ["build_normalisation"]


@Builder.register(SynapticNormalisation)
def build_normalisation(norm: SynapticNormalisation, syn, proj: Projection, model, synapses, order=0):
    """Periodic multiplicative normalisation (see :class:`~neuromem.spec.SynapticNormalisation`), as generated code.

    Every ``norm.interval`` at the end of the time step, after all plasticity
    updates, four ``run_regularly`` operations on one clock, in this order
    (``order`` places them after the projection's earlier normalisations):

    1. the owner group (target for incoming, source for outgoing) zeroes its
       per-neuron sum ``normsum_<projection>_<direction>``;
    2. the synapses add their weights into it (``normsum_..._post += w``, in
       synapse order, as :meth:`~neuromem.spec.SynapticNormalisation.factors`
       sums them);
    3. the owner group turns each sum into its factor
       (``normfac_<projection>_<direction>``: ``total / sum`` where the sum
       exceeds ``total``, else exactly 1);
    4. the synapses scale ``w = w * normfac_..._post``.

    The arithmetic is that of ``factors`` (same summation order, one division
    per neuron), so the weights equal a numpy normalisation bit for bit.  The
    work is O(synapses) per interval, in the code target's language (Cython,
    or C++ in standalone mode), never per time step.  Returns the four
    objects (active only while the projection is plastic).
    """
    unit, unit_name = WEIGHT_UNITS[NEURONS.caps(model.populations[proj.target]).weight]
    incoming = norm.direction == "incoming"
    owner = syn.target if incoming else syn.source
    suffix, index = ("_post", "_postsynaptic_idx") if incoming else ("_pre", "_presynaptic_idx")
    tag = f"{proj.name}_{norm.direction}"
    total, fac = f"normsum_{tag}", f"normfac_{tag}"
    owner.variables.add_array(total, size=owner.N, dimensions=unit.dim)
    owner.variables.add_array(fac, size=owner.N)
    syn.variables.add_reference(total + suffix, owner, total, index=index)
    syn.variables.add_reference(fac + suffix, owner, fac, index=index)
    clock = b2.Clock(dt=norm.interval * b2.second, name=f"{syn.name}_normclock_{norm.direction}")
    cap_name = f"normcap_{tag}"
    owner.variables.add_constant(cap_name, float(norm.total), dimensions=unit.dim)
    # factor = total / sum where sum > total, else 1 (exactly: 1 * x + 0 and 0 * finite + 1); the
    # guard keeps the unused division finite (a sum of 0 would divide by zero)
    over = f"int({total} > {cap_name})"
    factor = (f"{fac} = {over} * ({cap_name} / ({total} + (1 - {over}) * {cap_name})) + (1 - {over})")
    base = 4 * order
    kw = {"clock": clock, "when": "end"}
    return [
        owner.run_regularly(f"{total} = 0 * {unit_name}", order=base, name=f"{syn.name}_norm_{norm.direction}_zero",
                            **kw),
        syn.run_regularly(f"{total}{suffix} += w", order=base + 1, name=f"{syn.name}_norm_{norm.direction}_sum",
                          **kw),
        owner.run_regularly(factor, order=base + 2, name=f"{syn.name}_norm_{norm.direction}_factor", **kw),
        syn.run_regularly(f"w = w * {fac}{suffix}", order=base + 3, name=f"{syn.name}_norm_{norm.direction}_scale",
                          **kw),
    ]
