"""The whole model: populations, sources, projections, rules, protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from neuromem.spec.errors import ModelError, require
from neuromem.spec.names import check_names
from neuromem.spec.neurons import LIFPopulation, SpikeSource  # noqa: F401  (registers the neuron models)
from neuromem.spec.plasticity import BistableSynapse, SynapticNormalisation
from neuromem.spec.projections import Projection
from neuromem.spec.protocol import Protocol
from neuromem.spec.registry import NEURONS, RULES, spec_field

__all__ = ["Model", "ModelError"]


@dataclass(frozen=True)
class Model:
    """A complete, validated, backend-neutral neuromem model.

    Attributes
    ----------
    name : str
    dt : float
        Simulation time step (s).
    populations : dict of str to neuron population
        Instances of the classes registered in
        :data:`neuromem.spec.registry.NEURONS` (:class:`LIFPopulation`,
        :class:`CondLIFPopulation`, ...).
    sources : dict of str to SpikeSource
    projections : dict of str to Projection
    rules : dict of str to rule
        Instances of the classes registered in
        :data:`neuromem.spec.registry.RULES` (:class:`PairSTDP`,
        :class:`VogelsISTDP`, :class:`SynapticNormalisation`, ...).
    protocol : Protocol
    description : str

    Cross-references are checked on construction: projections name defined
    populations, their sign obeys Dale's law, named rules exist, phases name
    defined projections and populations.  So is what would fail or mean
    nothing at run time: names a backend cannot use or that collide
    (:mod:`neuromem.spec.names`), ``dt`` longer than a population's time
    constant, delays that are not whole multiples of ``dt`` (relative
    tolerance 1e-9), stimulus rates with ``rate * dt > 1`` and phases of
    infinite length.
    """

    name: str = spec_field("str")
    dt: float = spec_field("time")
    populations: dict = spec_field("table", tagged=NEURONS)
    sources: dict = spec_field("table", required=False, table=SpikeSource)
    projections: dict = spec_field("table", required=False, table=Projection)
    rules: dict = spec_field("table", required=False, tagged=RULES)
    protocol: Protocol = spec_field("table", table=Protocol)
    description: str = spec_field("str", "")
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        require(self.dt > 0, "dt", "must be > 0")
        both = set(self.populations) & set(self.sources)
        require(not both, "sources", f"names also used by populations: {sorted(both)}")
        check_names(self.populations, self.sources, self.projections)
        self._check_time_step()
        nodes = {**self.sources, **self.populations}
        for name, pr in self.projections.items():
            key = f"projections.{name}"
            require(pr.source in nodes, f"{key}.source", f"{pr.source!r} is not a defined population or source")
            require(pr.target in self.populations, f"{key}.target",
                    f"{pr.target!r} is not a defined neuron population")
            src, tgt = nodes[pr.source], self.populations[pr.target]
            if pr.source in self.populations:
                require(src.kind == pr.sign, f"{key}.sign",
                        f"{pr.sign} projection from {src.kind} population {src.name!r} breaks Dale's law")
            if pr.connector.kind == "one_to_one":
                require(src.size == tgt.size, f"{key}.connector",
                        f"one_to_one needs equal sizes, got {src.size} and {tgt.size}")
            if pr.connector.kind == "fixed_indegree":
                n_avail = src.size - (0 if pr.connector.allow_self or pr.source != pr.target else 1)
                require(pr.connector.indegree <= n_avail, f"{key}.connector.indegree",
                        f"{pr.connector.indegree} exceeds the {n_avail} available presynaptic neurons")
            require(pr.delay < 1e-9 or pr.delay >= self.dt - 1e-12, f"{key}.delay",
                    "must be 0 or at least one time step")
            steps = pr.delay / self.dt
            require(math.isfinite(steps) and abs(steps - round(steps)) <= 1e-9 * max(1.0, steps), f"{key}.delay",
                    f"{pr.delay * 1e3:g} ms is not a whole number of time steps (dt = {self.dt * 1e3:g} ms; "
                    f"{steps:.6g} steps): delays would be rounded")
            timing = modulators = transmission = 0
            for rname in pr.plasticity:
                require(rname in self.rules, f"{key}.plasticity", f"unknown rule {rname!r}")
                caps = RULES.caps(self.rules[rname])
                timing += caps.timing
                modulators += caps.modulator
                transmission += caps.transmission
                if caps.sign is not None:
                    require(pr.sign == caps.sign, f"{key}.plasticity",
                            f"rule {rname!r} ({RULES.name_of(self.rules[rname])}) applies to {caps.sign} "
                            "projections")
            require(timing <= 1, f"{key}.plasticity", "at most one spike-timing rule per projection")
            require(modulators <= 1, f"{key}.plasticity", "at most one modulating rule (gate) per projection")
            require(transmission <= 1, f"{key}.plasticity",
                    "at most one short-term plasticity rule (transmission) per projection")
            require(not modulators or timing, f"{key}.plasticity",
                    "a modulating rule (gate) scales a spike-timing rule's updates; the projection has none")
            dirs = [self.rules[r].direction for r in pr.plasticity if isinstance(self.rules[r], SynapticNormalisation)]
            require(len(dirs) == len(set(dirs)), f"{key}.plasticity",
                    "at most one normalisation per direction (incoming, outgoing) per projection")
            require(sum(isinstance(self.rules[r], BistableSynapse) for r in pr.plasticity) <= 1,
                    f"{key}.plasticity", "at most one bistable rule per projection")
        self._check_rule_units()
        for rname, rule in self.rules.items():      # a rule that reads a population (ActivityGate)
            pop = getattr(rule, "population", None)
            if pop is not None:
                require(pop in self.populations, f"rules.{rname}.population",
                        f"{pop!r} is not a defined neuron population")
        pp = self.protocol.pattern_population
        require(pp is None or pp in self.populations, "protocol.pattern_population",
                f"{pp!r} is not a defined population")
        n_pat = self.populations[pp].size if pp is not None else 0
        rp = self.protocol.replay_population
        require(rp is None or rp in self.populations, "protocol.replay_population",
                f"{rp!r} is not a defined population")
        if pp is not None and self.protocol.coding_level is not None:
            require(round(self.protocol.coding_level * n_pat) >= 1, "protocol.coding_level",
                    f"gives no active neuron in {pp!r} of size {n_pat}")
        stp = self.stp_projections()
        for i, ph in enumerate(self.protocol.phases):
            key = f"protocol.phases[{i}]"
            try:
                length = ph.length(self.protocol.n_memories)
            except ModelError as e:
                raise e.within(key) from None
            require(math.isfinite(length), f"{key}.duration", f"the phase lasts {length} s, not a finite time")
            for j, st in enumerate(ph.stimuli):
                skey = f"{key}.stimuli[{j}]"
                for f in ("rate", "background", "rate_down"):
                    r = getattr(st, f)
                    require(r * self.dt <= 1.0 + 1e-9, f"{skey}.{f}",
                            f"{r:g} Hz x dt ({self.dt * 1e3:g} ms) = {r * self.dt:g} > 1: a spike source "
                            f"fires at most once per time step, so rates above 1/dt = {1 / self.dt:g} Hz "
                            "cannot be produced")
                require(st.source in self.sources, f"{skey}.source", f"{st.source!r} is not a defined spike source")
                if st.kind == "patterns":
                    require(self.protocol.n_memories > 0, f"{skey}.kind",
                            "a patterns stimulus needs memories (protocol.n_memories > 0)")
                    require(self.sources[st.source].size == n_pat, f"{skey}.source",
                            f"a patterns stimulus needs a source of the pattern population's size ({n_pat})")
                    for m in st.memories:
                        require(0 <= m < self.protocol.n_memories, f"{skey}.memories",
                                f"memory {m} is outside 0..{self.protocol.n_memories - 1}")
            for proj in ph.plastic:
                require(proj in self.projections, f"{key}.plastic", f"{proj!r} is not a defined projection")
                require(bool(self.projections[proj].plasticity), f"{key}.plastic.{proj}",
                        "has no plasticity rule")
            for pop in ph.silence:
                require(pop in self.populations, f"{key}.silence", f"{pop!r} is not a defined population")
            for pop in ph.record_state:
                require(pop in self.populations, f"{key}.record_state", f"{pop!r} is not a defined population")
            for proj in ph.block:
                require(proj in self.projections, f"{key}.block", f"{proj!r} is not a defined projection")
            for proj in ph.gain:
                require(proj in self.projections, f"{key}.gain", f"{proj!r} is not a defined projection")
            for proj in ph.stp_off:
                require(proj in self.projections, f"{key}.stp_off", f"{proj!r} is not a defined projection")
                require(proj in stp, f"{key}.stp_off",
                        f"projection {proj!r} has no short-term plasticity rule (e.g. short_term_depression) "
                        "to switch off")

    def weight_dimension(self, projection: str) -> str:
        """Dimension of a projection's weights: its target's neuron model's (``"voltage"``, ``"conductance"``)."""
        return NEURONS.caps(self.populations[self.projections[projection].target]).weight

    def _check_rule_units(self) -> None:
        """Refuse a rule shared by projections whose weights have different dimensions."""
        seen: dict = {}
        for name, pr in self.projections.items():
            dim = self.weight_dimension(name)
            for rname in pr.plasticity:
                first = seen.setdefault(rname, (dim, name))
                require(first[0] == dim, f"projections.{name}.plasticity",
                        f"rule {rname!r} acts on {first[0]} weights (projection {first[1]!r}) and cannot also "
                        f"act on {dim} weights; declare a second rule")

    def _check_time_step(self) -> None:
        """Refuse a time step longer than a neuron time constant (the dynamics would mean nothing)."""
        for name, pop in self.populations.items():
            for f, tau in pop.time_constants():
                require(self.dt <= tau, "dt",
                        f"dt = {self.dt * 1e3:g} ms is longer than populations.{name}.{f} = {tau * 1e3:g} ms; "
                        "the time step must not exceed any population's time constant")

    def nodes(self) -> dict:
        """All populations and sources by name."""
        return {**self.sources, **self.populations}

    def rules_of(self, projection: str) -> list:
        return [self.rules[r] for r in self.projections[projection].plasticity]

    def stp_projections(self) -> tuple:
        """The projections with a short-term plasticity (transmission) rule, in model order: those a
        phase's :attr:`~neuromem.spec.Phase.stp_off` may name."""
        return tuple(name for name in self.projections
                     if any(RULES.caps(r).transmission for r in self.rules_of(name)))

    def normalisations_of(self, projection: str) -> tuple:
        """The projection's :class:`SynapticNormalisation` rules, in the order they are applied
        (the order of its ``plasticity`` list; at most one per direction)."""
        return tuple(r for r in self.rules_of(projection) if isinstance(r, SynapticNormalisation))

    def exportable_issues(self) -> list[str]:
        """Features that LIF + Dense neuromorphic targets cannot represent."""
        out = []
        for pop in self.populations.values():
            out.extend(pop.exportable_issues)
        return out
