"""Backend-neutral model description.

Frozen dataclasses that declare *what* a neuromem model is: neuron
populations, spike sources, projections, plasticity rules and the phase
protocol.  Nothing here knows how to simulate; backends (``neuromem.backends``)
and exporters (``neuromem.export``) consume these objects.

Every physical field is stored as a plain float in one canonical SI unit:

=========  ========  =====================================================
quantity   unit      fields
=========  ========  =====================================================
time       second    ``tau_m``, ``tau_syn``, ``refractory``, ``delay``, ...
voltage    volt      ``v_rest``, ``v_th``, synaptic weights (see below)
rate       hertz     stimulus rates, ``rho0``
=========  ========  =====================================================

Synaptic weights are *current jumps in voltage units*: a presynaptic spike
adds ``w`` to the postsynaptic current variable ``I`` (in volts), which then
decays with ``tau_syn`` and drives ``tau_m dv/dt = v_rest - v + I``.

This package imports numpy and the standard library only (a test enforces it).
"""

from neuromem.spec.model import Model, ModelError
from neuromem.spec.neurons import LIFPopulation, SpikeSource, Adaptation
from neuromem.spec.projections import Connector, WeightInit, Projection
from neuromem.spec.plasticity import PairSTDP, VogelsISTDP, SynapticNormalisation, RULE_TYPES
from neuromem.spec.protocol import Stimulus, Phase, Protocol, PatternOverlap
from neuromem.spec import compose

__all__ = [
    "Model", "ModelError", "LIFPopulation", "SpikeSource", "Adaptation",
    "Connector", "WeightInit", "Projection", "PairSTDP", "VogelsISTDP",
    "SynapticNormalisation", "RULE_TYPES", "Stimulus", "Phase", "Protocol", "PatternOverlap", "compose",
]
