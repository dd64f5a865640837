"""Neuron populations and spike sources."""

from __future__ import annotations

import math
from dataclasses import dataclass

from neuromem.spec.errors import require
from neuromem.spec.registry import INITS, NEURONS, NeuronCaps, spec_field
from neuromem.spec import synapses as _synapses  # noqa: F401  (registers the synapse types the models name)

KINDS = ("excitatory", "inhibitory")

MAX_SIZE = 2**31 - 1
"""Largest population or source size: neuron indices are 32-bit integers."""


@dataclass(frozen=True)
class Adaptation:
    r"""Spike-triggered adaptation current (non-exportable option).

    .. math::
        \tau_w \frac{dw}{dt} = -w, \qquad w \leftarrow w + b \text{ at each spike},

    and ``w`` is subtracted from the membrane drive.

    Attributes
    ----------
    tau_w : float
        Adaptation time constant (s).
    b : float
        Increment per spike (V).
    """

    tau_w: float = spec_field("time")
    b: float = spec_field("voltage")

    def __post_init__(self):
        require(self.tau_w > 0, "tau_w", "must be > 0")
        require(self.b >= 0, "b", "must be >= 0")


for _k in ("constant", "uniform", "normal"):
    INITS.add(_k)


@dataclass(frozen=True)
class VInit:
    r"""Distribution of the membrane potentials at the start of a run.

    ``constant``: every neuron at ``value``; ``uniform``: independent draws
    from :math:`U(\text{low}, \text{high})`; ``normal``: from
    :math:`N(\text{value}, \text{std}^2)` (not clipped).  The draws come from
    the run seed, stream ``"v_init:<population>"``
    (:func:`neuromem.stimulus.initial_potentials`), so every backend starts
    from the same values.  Without a ``v_init`` a population starts at
    ``v_rest``.

    Attributes
    ----------
    kind : {"constant", "uniform", "normal"}
    value, low, high, std : float
        Volts (see ``kind``).
    """

    kind: str = spec_field("str")
    value: float = spec_field("voltage", 0.0, kinds={"constant": True, "normal": True})
    low: float = spec_field("voltage", 0.0, kinds={"uniform": True})
    high: float = spec_field("voltage", 0.0, kinds={"uniform": True})
    std: float = spec_field("voltage", 0.0, kinds={"normal": True})

    def __post_init__(self):
        require(self.kind in INITS, "kind", f"must be one of {INITS.names()}, got {self.kind!r}")
        if self.kind == "uniform":
            require(self.low <= self.high, "high", "need low <= high")
        require(self.std >= 0, "std", "must be >= 0")


@dataclass(frozen=True)
class GInit(VInit):
    """Distribution of a conductance at the start of a run (S): as :class:`VInit`, in siemens.

    Brian's COBA benchmark starts its cells with random conductances (excitatory
    ``N(40 nS, 15 nS)``, inhibitory ``N(200 nS, 120 nS)``, not clipped), which
    puts the network in its balanced state at once instead of a start-up volley.
    The draws come from the stream ``"<variable>_init:<population>"`` of the run seed.
    """

    kind: str = spec_field("str")
    value: float = spec_field("conductance", 0.0, kinds={"constant": True, "normal": True})
    low: float = spec_field("conductance", 0.0, kinds={"uniform": True})
    high: float = spec_field("conductance", 0.0, kinds={"uniform": True})
    std: float = spec_field("conductance", 0.0, kinds={"normal": True})


def _declared_limits(pop) -> dict:
    """What the registered capabilities of ``pop``'s model and synapse type say LIF + Dense targets cannot represent."""
    caps = NEURONS.caps(pop)
    out = {}
    if not caps.lif_dense:
        out["neuron"] = caps.refusal
    if not caps.synapse_caps.lif_dense:
        out[caps.synapse] = caps.synapse_caps.refusal
    return out


def _check_common(pop) -> None:
    """Validation shared by every neuron model: size, kind, thresholds, refractoriness."""
    require(isinstance(pop.size, int) and pop.size > 0, "size", f"must be a positive integer, got {pop.size!r}")
    require(pop.size <= MAX_SIZE, "size", f"{pop.size} exceeds {MAX_SIZE} (neuron indices are 32-bit)")
    require(pop.kind in KINDS, "kind", f"must be one of {KINDS}, got {pop.kind!r}")
    require(pop.refractory >= 0, "refractory", "must be >= 0")
    require(pop.v_reset < pop.v_th, "v_reset", "must be below v_th")


@NEURONS.register("lif", NeuronCaps(synapse="current", lif_dense=True))
@dataclass(frozen=True)
class LIFPopulation:
    r"""Leaky integrate-and-fire neurons with exponential current synapses.

    .. math::
        \tau_m \frac{dv}{dt} = v_{rest} - v + b + I_e + I_i - w_{adapt}, \qquad
        \tau_{syn} \frac{dI_e}{dt} = -I_e, \qquad
        \tau_{syn,i} \frac{dI_i}{dt} = -I_i

    A presynaptic spike through a projection of weight ``w`` adds ``+w``
    (excitatory) or ``-w`` (inhibitory) to the current.  When ``v > v_th`` the
    neuron spikes, ``v`` is set to ``v_reset`` and held there for
    ``refractory`` seconds.  With ``tau_syn_inh`` unset, excitatory and
    inhibitory inputs share one current ``I`` with time constant ``tau_syn``
    (the exportable form).  ``b`` (``bias``) is a constant drive in voltage
    units, the depolarisation :math:`R I_{bias}` a constant current would hold
    at rest (e.g. 200 pA through 100 MOhm = 20 mV); it may put the effective
    rest :math:`v_{rest} + b` above ``v_th``, and so may ``v_rest`` itself:
    such cells fire tonically.  Model file tag: ``model = "lif"`` (the
    default when a population has no ``model`` key).

    Attributes
    ----------
    name : str
    size : int
        Number of neurons (> 0).
    kind : {"excitatory", "inhibitory"}
        Dale's law: the sign of every projection leaving this population.
    tau_m, tau_syn, refractory : float
        Membrane and synaptic time constants, refractory period (s).
    v_rest, v_reset, v_th : float
        Resting, reset and threshold potentials (V); ``v_reset < v_th``.
    tau_syn_inh : float or None
        Separate inhibitory synaptic time constant (non-exportable).
    adaptation : Adaptation or None
        Spike-triggered adaptation (non-exportable).
    bias : float
        Constant drive (V, voltage-equivalent :math:`R I_{bias}`); 0 by default.
    v_init : VInit or None
        Initial membrane potentials; ``None``: every neuron at ``v_rest``.
    """

    name: str
    size: int = spec_field("int")
    kind: str = spec_field("str")
    tau_m: float = spec_field("time")
    tau_syn: float = spec_field("time")
    v_rest: float = spec_field("voltage")
    v_reset: float = spec_field("voltage")
    v_th: float = spec_field("voltage")
    refractory: float = spec_field("time")
    tau_syn_inh: float | None = spec_field("time", None)
    adaptation: Adaptation | None = spec_field("table", None, table=Adaptation)
    bias: float = spec_field("voltage", 0.0)
    v_init: VInit | None = spec_field("table", None, table=VInit, tagged=INITS)

    def __post_init__(self):
        _check_common(self)
        for f in ("tau_m", "tau_syn"):
            require(getattr(self, f) > 0, f, "must be > 0")
        if self.tau_syn_inh is not None:
            require(self.tau_syn_inh > 0, "tau_syn_inh", "must be > 0")

    def initial_values(self) -> dict:
        """``{state variable: VInit or None}``: the distributions a run starts from (``None``: rest)."""
        return {"v": self.v_init}

    def time_constants(self) -> list[tuple[str, float]]:
        """``(key, seconds)`` of every time constant, for the model's time-step check."""
        taus = [("tau_m", self.tau_m), ("tau_syn", self.tau_syn)]
        if self.tau_syn_inh is not None:
            taus.append(("tau_syn_inh", self.tau_syn_inh))
        if self.adaptation is not None:
            taus.append(("adaptation.tau_w", self.adaptation.tau_w))
        return taus

    @property
    def export_limits(self) -> dict:
        """Features of this population beyond a current-based LIF with one synaptic current.

        The one declaration of what LIF + Dense targets (Lava, NIR ``CubaLIF``)
        cannot represent; :func:`neuromem.export.check_lava` and
        :func:`neuromem.export.to_nir` refuse from it.

        Returns
        -------
        dict of str to str
            ``{feature: what}``, e.g. ``{"adaptation": "spike-triggered
            adaptation (adaptation.tau_w = 100 ms) ..."}``; empty when the
            population is a plain current-based LIF.  Equal time constants
            (``tau_syn_inh`` within rounding of ``tau_syn``) are one current.
        """
        out = _declared_limits(self)
        if self.tau_syn_inh is not None and not math.isclose(self.tau_syn_inh, self.tau_syn):
            out["tau_syn_inh"] = (f"a second synaptic time constant for inhibitory inputs (tau_syn_inh = "
                                  f"{self.tau_syn_inh * 1e3:g} ms, tau_syn = {self.tau_syn * 1e3:g} ms) needs "
                                  f"two current variables per neuron")
        if self.adaptation is not None:
            out["adaptation"] = (f"spike-triggered adaptation (adaptation.tau_w = {self.adaptation.tau_w * 1e3:g} "
                                 f"ms) needs an adaptation variable per neuron")
        return out

    @property
    def exportable_issues(self) -> list[str]:
        """:attr:`export_limits` as sentences naming the population."""
        return [f"population {self.name!r}: {what}" for what in self.export_limits.values()]


@NEURONS.register("cond_lif", NeuronCaps(synapse="conductance", lif_dense=True))
@dataclass(frozen=True)
class CondLIFPopulation:
    r"""Leaky integrate-and-fire neurons with exponential conductance synapses.

    .. math::
        C_m \frac{dv}{dt} = g_L (v_{rest} - v) + g_e (E_{exc} - v) + g_i (E_{inh} - v) + I_{bias},
        \qquad \tau_{exc} \frac{dg_e}{dt} = -g_e, \qquad \tau_{inh} \frac{dg_i}{dt} = -g_i

    A presynaptic spike through a projection of weight ``w`` (a conductance,
    S) adds ``w`` to :math:`g_e` (excitatory projection) or :math:`g_i`
    (inhibitory); rules on such projections have their amplitudes and bounds
    in siemens too.  When ``v > v_th`` the neuron spikes, ``v`` is set to
    ``v_reset`` and held there for ``refractory`` seconds.  The membrane time
    constant is :math:`\tau_m = C_m / g_L`; ``bias`` is a constant current
    (A).  ``v_rest`` (or the bias) may hold the cells above threshold (tonic
    firing).  Model file tag: ``model = "cond_lif"``.  Exporters to LIF +
    Dense targets refuse it (its synapse type, :class:`~neuromem.spec.registry.SynapseCaps`).

    Attributes
    ----------
    name : str
    size : int
    kind : {"excitatory", "inhibitory"}
    c_m : float
        Membrane capacitance (F).
    g_leak : float
        Leak conductance (S).
    v_rest, v_reset, v_th : float
        Leak reversal (resting), reset and threshold potentials (V).
    refractory : float
        Refractory period (s).
    e_exc, e_inh : float
        Excitatory and inhibitory reversal potentials (V).
    tau_exc, tau_inh : float
        Decay time constants of the excitatory and inhibitory conductances (s).
    bias : float
        Constant current (A); 0 by default.
    v_init : VInit or None
        Initial membrane potentials; ``None``: every neuron at ``v_rest``.
    g_exc_init, g_inh_init : GInit or None
        Initial conductances; ``None``: 0.
    """

    name: str
    size: int = spec_field("int")
    kind: str = spec_field("str")
    c_m: float = spec_field("capacitance")
    g_leak: float = spec_field("conductance")
    v_rest: float = spec_field("voltage")
    v_reset: float = spec_field("voltage")
    v_th: float = spec_field("voltage")
    refractory: float = spec_field("time")
    e_exc: float = spec_field("voltage")
    e_inh: float = spec_field("voltage")
    tau_exc: float = spec_field("time")
    tau_inh: float = spec_field("time")
    bias: float = spec_field("current", 0.0)
    v_init: VInit | None = spec_field("table", None, table=VInit, tagged=INITS)
    g_exc_init: GInit | None = spec_field("table", None, table=GInit, tagged=INITS)
    g_inh_init: GInit | None = spec_field("table", None, table=GInit, tagged=INITS)

    def __post_init__(self):
        _check_common(self)
        for f in ("c_m", "g_leak", "tau_exc", "tau_inh"):
            require(getattr(self, f) > 0, f, "must be > 0")
        require(self.e_inh < self.e_exc, "e_inh", "must be below e_exc")

    def initial_values(self) -> dict:
        """``{state variable: distribution or None}``: what a run starts from (``None``: rest, 0)."""
        return {"v": self.v_init, "g_exc": self.g_exc_init, "g_inh": self.g_inh_init}

    @property
    def tau_m(self) -> float:
        """Membrane time constant :math:`C_m / g_L` (s)."""
        return self.c_m / self.g_leak

    def time_constants(self) -> list[tuple[str, float]]:
        """``(key, seconds)`` of every time constant, for the model's time-step check."""
        return [("c_m / g_leak", self.tau_m), ("tau_exc", self.tau_exc), ("tau_inh", self.tau_inh)]

    @property
    def export_limits(self) -> dict:
        """``{"conductance": why}``: its synapse type's declared capabilities (never LIF + Dense)."""
        return _declared_limits(self)

    @property
    def exportable_issues(self) -> list[str]:
        """:attr:`export_limits` as sentences naming the population."""
        return [f"population {self.name!r}: {what}" for what in self.export_limits.values()]


@dataclass(frozen=True)
class SpikeSource:
    """A group of input neurons that emit the spike trains a phase's stimuli describe.

    The spike trains are generated by :mod:`neuromem.stimulus` (seeded numpy)
    before a phase runs, so every backend receives the very same spikes.

    Attributes
    ----------
    name : str
    size : int
    """

    name: str
    size: int = spec_field("int")

    def __post_init__(self):
        require(isinstance(self.size, int) and self.size > 0, "size", f"must be a positive integer, got {self.size!r}")
        require(self.size <= MAX_SIZE, "size", f"{self.size} exceeds {MAX_SIZE} (neuron indices are 32-bit)")
