"""Plasticity rules, each with its equations.

Each rule class is registered in :data:`neuromem.spec.registry.RULES` with
its type tag and capabilities (:class:`~neuromem.spec.registry.RuleCaps`);
amplitudes, bounds and totals are in the weight unit of the projections the
rule acts on (volts onto current-based populations, siemens onto
conductance-based ones).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromem.spec.errors import require
from neuromem.spec.registry import RULES, WEIGHT, RuleCaps, spec_field

WINDOWS = ("asymmetric", "symmetric")
DIRECTIONS = ("incoming", "outgoing")


def _require_bounded_timing_rule(rule, times, amplitudes) -> None:
    """The checks every bounded spike-timing rule shares: time constants ``times`` > 0, amplitudes and
    constant depressions ``amplitudes`` (and ``w_min``) >= 0, ``w_max`` above ``w_min``."""
    for f in times:
        require(getattr(rule, f) > 0, f, "must be > 0")
    for f in (*amplitudes, "w_min"):
        require(getattr(rule, f) >= 0, f, "must be >= 0")
    require(rule.w_max > rule.w_min, "w_max", "must be above w_min")


@RULES.register("pair_stdp", RuleCaps(timing=True, lava_learnable=True))
@dataclass(frozen=True)
class PairSTDP:
    r"""Pair-based, additive STDP with exponential traces and hard bounds.

    Traces (``x`` presynaptic, ``y`` postsynaptic) jump by 1 at each spike and
    decay as :math:`\tau_{pre}\,dx/dt = -x`, :math:`\tau_{post}\,dy/dt = -y`.
    With learning-rate scale :math:`\eta` (set per phase by the protocol):

    asymmetric window (Bi & Poo; Song et al. 2000)
        on a presynaptic spike :math:`w \leftarrow w - \eta(A_- y + c_{pre})`,
        on a postsynaptic spike :math:`w \leftarrow w + \eta(A_+ x - c_{post})`.
    symmetric window (Mishra et al. 2016; Ecker et al. 2022)
        on a presynaptic spike :math:`w \leftarrow w + \eta(A_- y - c_{pre})`,
        on a postsynaptic spike :math:`w \leftarrow w + \eta(A_+ x - c_{post})`,

    so coincident firing potentiates in either order.  ``c_pre`` and ``c_post``
    (>= 0) are constant depressions per presynaptic and per postsynaptic spike:
    firing on one side without the other weakens the synapse.  For Poisson
    firing at rates :math:`r_i, r_j` the symmetric rule's mean drift is

    .. math:: \langle\dot w\rangle = \eta\,[(A_+\tau_{pre} + A_-\tau_{post})\,r_i r_j
              - c_{pre} r_i - c_{post} r_j],

    a covariance-like rule: a synapse grows only when both sides fire together
    well above background, and a weakly active input onto a strongly driven
    neuron (or the converse) is depressed.
    After every update :math:`w \leftarrow \mathrm{clip}(w, w_{min}, w_{max})`.

    Attributes
    ----------
    name : str
    window : {"asymmetric", "symmetric"}
    tau_pre, tau_post : float
        Trace time constants (s).
    a_plus, a_minus : float
        Amplitudes (V) at zero time lag.
    c_pre : float
        Constant depression per presynaptic spike (V).
    c_post : float
        Constant depression per postsynaptic spike (V).
    w_min, w_max : float
        Hard bounds (V).
    """

    name: str
    window: str = spec_field("str")
    tau_pre: float = spec_field("time")
    tau_post: float = spec_field("time")
    a_plus: float = spec_field(WEIGHT)
    a_minus: float = spec_field(WEIGHT)
    w_max: float = spec_field(WEIGHT)
    w_min: float = spec_field(WEIGHT, 0.0)
    c_pre: float = spec_field(WEIGHT, 0.0)
    c_post: float = spec_field(WEIGHT, 0.0)

    def __post_init__(self):
        require(self.window in WINDOWS, "window", f"must be one of {WINDOWS}, got {self.window!r}")
        _require_bounded_timing_rule(self, ("tau_pre", "tau_post"), ("a_plus", "a_minus", "c_pre", "c_post"))


@RULES.register("triplet_stdp", RuleCaps(timing=True, lava_learnable=False))
@dataclass(frozen=True)
class TripletSTDP:
    r"""Triplet STDP, the minimal all-to-all model of Pfister & Gerstner (2006), with hard bounds.

    A presynaptic trace :math:`r_1` and two postsynaptic traces :math:`o_1`,
    :math:`o_2` jump by 1 at each spike of their side and decay as
    :math:`\tau_+\,dr_1/dt = -r_1`, :math:`\tau_-\,do_1/dt = -o_1`,
    :math:`\tau_y\,do_2/dt = -o_2`.  With learning-rate scale :math:`\eta`
    (set per phase by the protocol):

    on a presynaptic spike :math:`w \leftarrow w - \eta (A_2^- o_1 + c_{pre})`,
    on a postsynaptic spike :math:`w \leftarrow w + \eta [r_1 (A_2^+ + A_3^+ o_2) - c_{post}]`,

    with :math:`o_2` read before the spike's own jump.  For Poisson firing at
    rates :math:`r_i, r_j` the mean drift is

    .. math:: \langle\dot w\rangle = \eta\, r_i r_j\,
              [A_2^+\tau_+ + A_3^+\tau_+\tau_y\, r_j - A_2^-\tau_-] - \eta (c_{pre} r_i + c_{post} r_j),

    a BCM-like rule: a synapse grows when both sides fire and the
    postsynaptic rate is above :math:`\theta = (A_2^-\tau_- - A_2^+\tau_+) /
    (A_3^+\tau_+\tau_y)`, and weakens when it fires below it.  Unlike the
    constant depressions of :class:`PairSTDP` (here ``c_pre`` and ``c_post``,
    0 by default), nothing changes while either side is silent, so a cell that
    fires in other patterns' reactivations keeps its synapses onto partners
    that stay silent.
    After every update :math:`w \leftarrow \mathrm{clip}(w, w_{min}, w_{max})`.

    Attributes
    ----------
    name : str
    tau_plus, tau_minus, tau_y : float
        Time constants (s) of :math:`r_1`, :math:`o_1`, :math:`o_2`; 16.8,
        33.7 and 114 ms in Pfister & Gerstner's fit to visual-cortex data.
    a2_plus, a3_plus, a2_minus : float
        Amplitudes (V) of the pair potentiation, the triplet potentiation and
        the pair depression.
    c_pre, c_post : float
        Constant depression (V) per presynaptic and per postsynaptic spike.
    w_min, w_max : float
        Hard bounds (V).
    """

    name: str
    tau_plus: float = spec_field("time")
    tau_minus: float = spec_field("time")
    tau_y: float = spec_field("time")
    a3_plus: float = spec_field(WEIGHT)
    a2_minus: float = spec_field(WEIGHT)
    w_max: float = spec_field(WEIGHT)
    a2_plus: float = spec_field(WEIGHT, 0.0)
    w_min: float = spec_field(WEIGHT, 0.0)
    c_pre: float = spec_field(WEIGHT, 0.0)
    c_post: float = spec_field(WEIGHT, 0.0)

    def __post_init__(self):
        _require_bounded_timing_rule(self, ("tau_plus", "tau_minus", "tau_y"),
                                     ("a2_plus", "a3_plus", "a2_minus", "c_pre", "c_post"))

    @property
    def theta(self) -> float:
        """The postsynaptic rate (Hz) above which the pair and triplet terms' mean drift is potentiation
        (``inf`` without :math:`A_3^+`; the constant depressions are not counted)."""
        num = self.a2_minus * self.tau_minus - self.a2_plus * self.tau_plus
        return float("inf") if self.a3_plus == 0 else max(num, 0.0) / (self.a3_plus * self.tau_plus * self.tau_y)


@RULES.register("vogels_istdp", RuleCaps(timing=True, lava_learnable=True, sign="inhibitory"))
@dataclass(frozen=True)
class VogelsISTDP:
    r"""Inhibitory STDP of Vogels et al. (2011), for inhibitory → excitatory synapses.

    Traces jump by 1 per spike and decay with :math:`\tau`.  With learning-rate
    scale :math:`\eta_p` from the protocol:

    on a presynaptic (inhibitory) spike :math:`w \leftarrow w + \eta\eta_p (y - \alpha)`,
    on a postsynaptic spike :math:`w \leftarrow w + \eta\eta_p\, x`,

    with :math:`\alpha = 2\rho_0\tau`, so the postsynaptic rate is driven to
    the target :math:`\rho_0`; :math:`w` is clipped to ``[0, w_max]``.

    Attributes
    ----------
    name : str
    tau : float
        Trace time constant (s); 20 ms in the paper.
    eta : float
        Learning rate (V).
    rho0 : float
        Target postsynaptic rate (Hz); 3 Hz in the paper.
    w_max : float
        Upper bound (V).
    """

    name: str
    tau: float = spec_field("time")
    eta: float = spec_field(WEIGHT)
    rho0: float = spec_field("rate")
    w_max: float = spec_field(WEIGHT)

    def __post_init__(self):
        require(self.tau > 0, "tau", "must be > 0")
        require(self.eta >= 0, "eta", "must be >= 0")
        require(self.rho0 > 0, "rho0", "must be > 0")
        require(self.w_max > 0, "w_max", "must be > 0")

    @property
    def alpha(self) -> float:
        """Depression offset :math:`2\\rho_0\\tau` (dimensionless)."""
        return 2.0 * self.rho0 * self.tau


@RULES.register("normalisation", RuleCaps(timing=False, lava_learnable=False, host=True))
@dataclass(frozen=True)
class SynapticNormalisation:
    r"""Multiplicative normalisation of each neuron's total incoming or outgoing weight.

    Every ``interval`` seconds, for each neuron ``n`` that owns synapses
    (``direction = "incoming"``: the postsynaptic neuron, sums over its input
    synapses; ``"outgoing"``: the presynaptic neuron, sums over its output
    synapses) with :math:`S_n = \sum_{s \in n} w_s > \text{total}`:
    :math:`w_s \leftarrow w_s\,\text{total}/S_n` for its synapses ``s``
    (only ever scales down).  It acts only during phases in which the
    projection is plastic.

    An incoming cap (Lazar et al. 2009; Zenke et al. 2015's heterosynaptic
    term) makes a neuron's inputs compete, so a neuron that belongs to two
    stored assemblies gets half the input from each.  An outgoing cap
    (a presynaptic resource limit, as in Fiete et al. 2010, who cap both)
    makes a neuron's outputs compete instead, which spreads that cost over
    all the neuron's targets.

    Attributes
    ----------
    name : str
    total : float
        Maximum summed weight per neuron (V).
    interval : float
        How often normalisation is applied (s).
    direction : {"incoming", "outgoing"}
        Whose synapses are summed: each postsynaptic neuron's (incoming) or
        each presynaptic neuron's (outgoing).
    """

    name: str
    total: float = spec_field(WEIGHT)
    interval: float = spec_field("time")
    direction: str = spec_field("str", "incoming")

    def __post_init__(self):
        require(self.total > 0, "total", "must be > 0")
        require(self.interval > 0, "interval", "must be > 0")
        require(self.direction in DIRECTIONS, "direction",
                f"must be one of {DIRECTIONS}, got {self.direction!r}")

    def owners(self, pre, post):
        """The neuron each synapse's weight is summed for: ``post`` (incoming) or ``pre`` (outgoing)."""
        return post if self.direction == "incoming" else pre

    def owner_node(self, projection) -> str:
        """The node whose neurons own the sums on ``projection``: its target (incoming) or source (outgoing)."""
        return self.owners(projection.source, projection.target)

    def factors(self, w, owner, n_owner: int):
        """Per-neuron factors of one normalisation (1 where the sum is within ``total``).

        The one implementation of the arithmetic, shared by every backend so
        that they rescale bit for bit alike.

        Parameters
        ----------
        w : ndarray
            Weights of the projection's synapses (V).
        owner : ndarray of int
            The neuron each synapse is summed for (:meth:`owners`; the sums
            follow this order).
        n_owner : int
            Size of the owners' population (target for incoming, source for
            outgoing).

        Returns
        -------
        ndarray
            ``f_n = total / S_n`` where ``S_n > total``, else 1; the new
            weights are ``w * f[owner]``.
        """
        import numpy as np

        sums = np.bincount(owner, weights=w, minlength=n_owner)
        f = np.ones(n_owner)
        over = sums > self.total
        f[over] = self.total / sums[over]
        return f


@RULES.register("bistable", RuleCaps(timing=False, lava_learnable=False, host=True))
@dataclass(frozen=True)
class BistableSynapse:
    r"""Bistable synapses: between spike-driven updates each weight relaxes to one of two stable states.

    A synapse above the threshold :math:`\theta` drifts to the up state, one at
    or below it to the down state (the bistable synapses of Amit & Fusi 1994
    and Fusi et al. 2000; the late, stable phase of synaptic tagging and
    capture, Clopath et al. 2008; Graupner & Brunel 2012):

    .. math:: \frac{dw}{dt} = \frac{w_{up} - w}{\tau_{up}}\ (w > \theta), \qquad
              \frac{dw}{dt} = \frac{w_{down} - w}{\tau_{down}}\ (w \le \theta),

    applied exactly over each ``interval`` at its end, after the projection's
    spike-timing updates (and before its normalisations when listed before
    them): :math:`w \leftarrow w_\ast + (w - w_\ast)\,e^{-\Delta t/\tau_\ast}`
    with :math:`\ast` the state on the synapse's side of :math:`\theta`.  It
    acts only during phases in which the projection is plastic.

    Beside a spike-timing rule it turns the rule's graded changes into a
    binary memory: whatever number of replay events (or spikes per event)
    took a synapse over :math:`\theta`, it ends at :math:`w_{up}`, and a
    synapse that stays below it decays to :math:`w_{down}` — a clipped,
    Willshaw-like matrix, whose capacity does not depend on how evenly the
    memories were reactivated.

    Attributes
    ----------
    name : str
    theta : float
        The unstable point between the two states (V).
    w_up, w_down : float
        The two stable states (V), ``w_down < theta < w_up``.
    tau_up, tau_down : float
        Relaxation times (s) above and below ``theta``.
    interval : float
        How often the relaxation is applied (s).
    """

    name: str
    theta: float = spec_field(WEIGHT)
    w_up: float = spec_field(WEIGHT)
    tau_up: float = spec_field("time")
    tau_down: float = spec_field("time")
    w_down: float = spec_field(WEIGHT, 0.0)
    interval: float = spec_field("time", 10e-3)

    def __post_init__(self):
        require(self.w_down >= 0, "w_down", "must be >= 0")
        require(self.theta > self.w_down, "theta", "must be above w_down")
        require(self.w_up > self.theta, "w_up", "must be above theta")
        for f in ("tau_up", "tau_down", "interval"):
            require(getattr(self, f) > 0, f, "must be > 0")

    def relax(self, w, steps: int = 1):
        """The weights after ``steps`` intervals of relaxation (the one implementation of the arithmetic).

        Parameters
        ----------
        w : ndarray
            Weights (V).
        steps : int
            Number of intervals.

        Returns
        -------
        ndarray
            ``w_* + (w - w_*) exp(-steps interval / tau_*)``, per synapse on its side of ``theta``
            (the side at the start: a weight never crosses ``theta`` by relaxing).
        """
        import numpy as np

        w = np.asarray(w, dtype=float)
        up = w > self.theta
        d_up, d_down = (np.exp(-steps * self.interval / tau) for tau in (self.tau_up, self.tau_down))
        return np.where(up, self.w_up + (w - self.w_up) * d_up, self.w_down + (w - self.w_down) * d_down)


@RULES.register("activity_gate", RuleCaps(timing=False, lava_learnable=False, modulator=True))
@dataclass(frozen=True)
class ActivityGate:
    r"""A third factor: the projection's spike-timing rule learns only while a population is active.

    The population's rate :math:`r` (Hz per neuron) is its spikes low-pass
    filtered,

    .. math:: \tau\,\frac{dr}{dt} = -r + \frac{1}{N}\sum_k \delta(t - t_k),

    (:math:`t_k` the spike times of all its :math:`N` neurons), and every
    update of the projection's timing rule is scaled by

    .. math:: \eta_{\text{eff}}(t) = \eta\,\Theta(r(t) - \text{threshold}),

    so the synapses change only during the population's bursts, e.g. cortical
    plasticity locked to hippocampal sharp-wave ripples (Girardeau et al.
    2009 and Ego-Stengel & Wilson 2010: suppressing ripples in sleep impairs
    consolidation; Sadowski et al. 2016).  While the gate is shut the
    weights stay exactly as they are; normalisations on the projection are
    not gated (they run while the projection is plastic).  A projection may
    carry one gate, and only beside a spike-timing rule.

    Attributes
    ----------
    name : str
    population : str
        The neuron population whose rate opens the gate.
    tau : float
        Time constant of the rate estimate (s).
    threshold : float
        Rate (Hz per neuron) above which the rule learns.
    """

    name: str
    population: str = spec_field("str")
    tau: float = spec_field("time")
    threshold: float = spec_field("rate")

    def __post_init__(self):
        require(self.tau > 0, "tau", "must be > 0")
        require(self.threshold >= 0, "threshold", "must be >= 0")


@RULES.register("short_term_depression", RuleCaps(timing=False, lava_learnable=False, exportable=False,
                                                  transmission=True))
@dataclass(frozen=True)
class ShortTermDepression:
    r"""Short-term synaptic depression (Tsodyks & Markram 1997): a spike uses a fraction of the synapse's resources.

    Each synapse has a fraction :math:`R \in (0, 1]` of available resources,
    1 at the start of the run, that recovers between spikes as

    .. math:: \tau_{rec}\,\frac{dR}{dt} = 1 - R;

    a presynaptic spike transmits :math:`w R` (in place of :math:`w`; the
    stored weight, and any rule that changes it, are untouched) and then
    uses a fraction :math:`U` of what is left, :math:`R \leftarrow R\,(1 - U)`.
    A first spike after a long silence transmits the full weight; a train
    at rate :math:`r` settles to :math:`R^* = 1 / (1 + U r \tau_{rec})` on
    average (Poisson).  On the recurrent synapses of an assembly it ends a
    burst and keeps the assembly weak for about :math:`\tau_{rec}` after it,
    so that other assemblies take their turn (e.g. replay sequences and
    alternation: Romani & Tsodyks 2015).  It acts in every phase, plastic or
    not, and the resources carry over from one phase to the next; while the
    projection is blocked (gain 0) its spikes release nothing and use
    nothing; in a phase that switches it off
    (:attr:`~neuromem.spec.Phase.stp_off`) a spike transmits :math:`w` and
    uses nothing.  A projection may carry one.

    Attributes
    ----------
    name : str
    u : float
        Fraction of the available resources used by a spike, in (0, 1].
    tau_rec : float
        Recovery time constant (s).
    """

    name: str
    u: float = spec_field("float")
    tau_rec: float = spec_field("time")

    def __post_init__(self):
        require(0 < self.u <= 1, "u", f"must be in (0, 1], got {self.u!r}")
        require(self.tau_rec > 0, "tau_rec", "must be > 0")

    def efficacies(self, times) -> "numpy.ndarray":
        """The resources :math:`R` each spike of one presynaptic train at ``times`` (s, sorted) transmits with.

        The exact solution of the equations above, shared by tests and any backend that needs a reference.
        """
        import numpy as np

        times = np.asarray(times, dtype=float)
        out = np.empty(times.size)
        r, last = 1.0, None
        for k, t in enumerate(times):
            if last is not None:
                r = 1.0 - (1.0 - r) * np.exp(-(t - last) / self.tau_rec)
            out[k] = r
            r *= 1.0 - self.u
            last = t
        return out


RULE_TYPES = dict(RULES.items())
"""Rule classes by type tag (a view of :data:`neuromem.spec.registry.RULES`, kept for callers)."""
