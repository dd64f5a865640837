"""In-memory records of a run: what backends return and analysis consumes.

Backends fill these; :mod:`neuromem.analysis` computes metrics from them and
:mod:`neuromem.io` writes them to a run folder.  Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Spikes:
    """Spike train of one population or source during one phase.

    Attributes
    ----------
    i : ndarray of int32
        Neuron index of each spike.
    t : ndarray of float64
        Spike time (s) relative to the start of the phase.
    n : int
        Number of neurons in the population.
    """

    i: np.ndarray
    t: np.ndarray
    n: int

    def counts(self, t0: float = 0.0, t1: float = np.inf) -> np.ndarray:
        """Spike count per neuron in ``[t0, t1)``."""
        sel = (self.t >= t0) & (self.t < t1)
        return np.bincount(self.i[sel], minlength=self.n)


@dataclass
class Item:
    """One presented memory within a phase (from a ``patterns`` stimulus)."""

    memory: int
    t_on: float
    t_off: float


@dataclass
class PhaseRecord:
    """Everything recorded during one phase.

    Attributes
    ----------
    name, kind : str
    duration : float
        Seconds.
    spikes : dict of str to Spikes
        For every population and spike source.
    items : list of Item
        The memories presented, with times relative to the phase start.
    cue_fraction : float
        Fraction of each pattern driven by the phase's patterns stimulus (1.0
        when there is none).
    weights : dict of str to ndarray
        Weight snapshot after the phase, for every plastic projection:
        float array of shape (n_synapses,) aligned with ``Run.synapses``.
    state : dict of str to (t, v)
        Recorded membrane potentials, ``t`` shape (T,), ``v`` shape (n, T).
    initial_state : dict of str to ndarray
        Network state just before the phase ran: ``<pop>_v``, ``<pop>_I`` (V)
        and ``<pop>_lastspike`` (s, relative to the phase start) for every
        population; lets an exporter start exactly where the simulator did.
    wall_time : float
        Seconds spent simulating this phase.
    silenced : tuple of str
    """

    name: str
    kind: str
    duration: float
    spikes: dict
    items: list
    cue_fraction: float = 1.0
    weights: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    initial_state: dict = field(default_factory=dict)
    wall_time: float = 0.0
    silenced: tuple = ()


@dataclass
class Run:
    """A whole run.

    Attributes
    ----------
    model : neuromem.spec.Model
    seed : int
    patterns : ndarray of bool, shape (n_memories, n_pattern_population)
    cues : dict of float to ndarray of bool, shape (n_memories, n)
        For each cue fraction used, which pattern neurons were driven.
    synapses : dict of str to (i, j) int32 arrays
        Pre/post indices of every projection's synapses.
    initial_weights : dict of str to ndarray
        Weights of the plastic projections before the first phase.
    phases : list of PhaseRecord
    model_file : str or None
    model_text : str
        The resolved model (after overrides) as TOML text.
    overrides : list of str
    """

    model: object
    seed: int
    patterns: np.ndarray
    cues: dict
    synapses: dict
    initial_weights: dict
    phases: list = field(default_factory=list)
    model_file: str | None = None
    model_text: str = ""
    overrides: list = field(default_factory=list)

    def phase(self, name: str) -> PhaseRecord:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)
