r"""Synapse types: how a presynaptic spike enters its target neuron.

A synapse type is registered in :data:`~neuromem.spec.registry.SYNAPSES`
with its :class:`~neuromem.spec.registry.SynapseCaps` (the dimension of the
weights onto it, whether LIF + Dense targets represent it); a neuron model
names the one it uses (:attr:`NeuronCaps.synapse
<neuromem.spec.registry.NeuronCaps.synapse>`).  The loader reads weights
and rule amplitudes of a projection in the unit its target's synapse type
declares, the backends pick the Brian2 unit from it, and the exporters
refuse from it.  Each backend builds a type's equations with one function
registered for its tag (Brian2: ``Builder.register_synapse`` in
:mod:`neuromem.backends.brian2.builder`).

``current``
    Exponential current synapses: a spike through a projection of weight
    :math:`w` (V) adds :math:`\pm w` to a synaptic current :math:`I` that
    decays as :math:`\tau_{syn}\, dI/dt = -I` and drives the membrane as a
    voltage, :math:`\tau_m\, dv/dt = \ldots + I`.  What LIF + Dense targets
    (Lava, NIR ``CubaLIF``) represent.
``conductance``
    Exponential conductance synapses: a spike adds :math:`w` (S) to
    :math:`g_e` (excitatory projection) or :math:`g_i` (inhibitory), which
    decay as :math:`\tau\, dg/dt = -g` and drive the membrane through
    reversal potentials, :math:`C_m\, dv/dt = \ldots + g_e (E_{exc} - v) + g_i (E_{inh} - v)`.
    The input depends on :math:`v`, which a weighted sum of spikes into a
    current cannot represent.
"""

from __future__ import annotations

from neuromem.spec.registry import SYNAPSES, SynapseCaps

__all__ = ["SYNAPSE_TYPES"]

SYNAPSES.add("current", None, SynapseCaps(weight="voltage", lif_dense=True))
SYNAPSES.add("conductance", None, SynapseCaps(
    weight="conductance", lif_dense=False,
    refusal="conductance-based synapses are not LIF + Dense: the synaptic input g (E - v) depends on v"))

SYNAPSE_TYPES = SYNAPSES.names()
"""Tags of the synapse types defined here (``"current"``, ``"conductance"``)."""
