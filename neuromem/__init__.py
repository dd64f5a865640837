"""neuromem: a brain-inspired spiking memory simulator.

Encode patterns into a cortex–hippocampus spiking network, consolidate them
by hippocampal replay during simulated sleep, recall them from partial cues;
run on Brian2, export to Lava / NIR.
"""

__version__ = "0.1.0"
