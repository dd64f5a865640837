"""Backend-neutral model description.

Frozen dataclasses that declare *what* a neuromem model is: neuron
populations, spike sources, projections, plasticity rules and the phase
protocol.  Nothing here knows how to simulate; backends (``neuromem.backends``)
and exporters (``neuromem.export``) consume these objects.

Every physical field is stored as a plain float in one canonical SI unit:

===========  ========  ===================================================
quantity     unit      fields
===========  ========  ===================================================
time         second    ``tau_m``, ``tau_syn``, ``refractory``, ``delay``, ...
voltage      volt      ``v_rest``, ``v_th``, a LIF's ``bias``, weights onto LIF
rate         hertz     stimulus rates, ``rho0``
current      ampere    a conductance LIF's ``bias``
conductance  siemens   ``g_leak``, weights onto conductance LIF
capacitance  farad     ``c_m``
===========  ========  ===================================================

Synaptic weights (and the amplitudes and bounds of the rules acting on them)
take the dimension that the synapse type of the target's neuron model
declares (:class:`~neuromem.spec.registry.SynapseCaps`, :mod:`neuromem.spec.synapses`): onto a current-based
:class:`LIFPopulation` they are *current jumps in voltage units* (a
presynaptic spike adds ``w`` to the postsynaptic current variable ``I`` (in
volts), which then decays with ``tau_syn`` and drives
``tau_m dv/dt = v_rest - v + I``); onto a :class:`CondLIFPopulation` they are
conductance jumps in siemens.  The registries of
:mod:`neuromem.spec.registry` declare every neuron model, synapse type, rule, connector,
weight, initial-state and stimulus kind.

This package imports numpy and the standard library only (a test enforces it).
"""

from neuromem.spec.model import Model, ModelError
from neuromem.spec.neurons import LIFPopulation, CondLIFPopulation, SpikeSource, Adaptation, VInit, GInit
from neuromem.spec.projections import Connector, WeightInit, Projection
from neuromem.spec.plasticity import (PairSTDP, TripletSTDP, VogelsISTDP, SynapticNormalisation, ActivityGate, ShortTermDepression,
                                      BistableSynapse, RULE_TYPES)
from neuromem.spec.protocol import Stimulus, Phase, Protocol, PatternOverlap
from neuromem.spec import compose

__all__ = [
    "Model", "ModelError", "LIFPopulation", "CondLIFPopulation", "SpikeSource", "Adaptation", "VInit", "GInit",
    "Connector", "WeightInit", "Projection", "PairSTDP", "TripletSTDP", "VogelsISTDP", "SynapticNormalisation", "ActivityGate",
    "ShortTermDepression", "BistableSynapse", "RULE_TYPES", "Stimulus", "Phase", "Protocol", "PatternOverlap", "compose",
]
