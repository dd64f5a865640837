"""The phase protocol: what happens, in which order, with which stimuli.

A protocol is an ordered list of :class:`Phase` objects.  Each phase lasts a
duration, drives spike sources with :class:`Stimulus` descriptions, switches
plasticity per projection (with a learning-rate scale), and may silence
populations or block projections (lesions).  A phase may start from the
network state saved at the end of an earlier phase (``start_from``), so a
control arm (e.g. sleep with the hippocampus silenced) branches from the same
trained network as the main arm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neuromem.spec.errors import ModelError, require
from neuromem.spec.registry import STIMULI, spec_field

for _k in ("patterns", "noise"):
    STIMULI.add(_k)
STIMULUS_KINDS = STIMULI.names()

PHASE_KINDS = ("encode", "sleep", "recall", "wake")
"""The phase kinds: what the analysis computes for a phase depends on its kind
(``"recall"``: recall overlap per item; ``"sleep"``: replay events;
``"encode"``: the replay population's assemblies; ``"wake"``: awake rest,
rates only)."""

PHASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A phase name (matched in full): it names the phase's files in a run folder
(``spikes/<name>.npz``, ...), so only characters that file names keep unchanged."""

RECALL_WINDOW_SKIP = 0.02
"""Seconds at the start of each recall item that recall scoring skips (only the
cue has acted then): the start of the default recall window of
:func:`neuromem.analysis.recall.recall_phase_metrics`.  A recall phase's items
must be longer than this."""


@dataclass(frozen=True)
class Stimulus:
    """Spike trains for one spike source during a phase.

    ``patterns``
        The memories listed in ``memories`` (all when empty) are presented one
        after another, each for ``item`` seconds followed by ``gap`` seconds of
        background.  During an item, a random fraction ``fraction`` of the
        memory's pattern neurons (the same subset every time for a given
        fraction: the *cue*) fire Poisson spikes at ``rate``; all other source
        neurons fire at ``background``.  The source maps one-to-one onto the
        protocol's pattern population.
    ``noise``
        Every source neuron fires Poisson spikes at ``rate``.  With ``up`` and
        ``down`` set, the rate alternates between ``rate`` for ``up`` seconds
        and ``rate_down`` for ``down`` seconds (a slow-oscillation-like
        up/down-state drive), starting with an up state.

    Attributes
    ----------
    source : str
    kind : {"patterns", "noise"}
    rate, background, rate_down : float
        Hz.
    item, gap, up, down : float
        Seconds.
    fraction : float
        Fraction of each pattern driven, in (0, 1].
    memories : tuple of int
        Memory indices presented (``patterns``); empty means all, in order.
    """

    source: str = spec_field("str")
    kind: str = spec_field("str")
    rate: float = spec_field("rate")
    background: float = spec_field("rate", 0.0, kinds={"patterns": False})
    item: float = spec_field("time", 0.0, kinds={"patterns": True})
    gap: float = spec_field("time", 0.0, kinds={"patterns": False})
    fraction: float = spec_field("float", 1.0, kinds={"patterns": False})
    memories: tuple[int, ...] = spec_field("ints", (), kinds={"patterns": False})
    up: float = spec_field("time", 0.0, kinds={"noise": False})
    down: float = spec_field("time", 0.0, kinds={"noise": False})
    rate_down: float = spec_field("rate", 0.0, kinds={"noise": False})

    def __post_init__(self):
        require(self.kind in STIMULI, "kind", f"must be one of {STIMULI.names()}, got {self.kind!r}")
        for f in ("rate", "background", "rate_down", "gap", "up", "down"):
            require(getattr(self, f) >= 0, f, "must be >= 0")
        if self.kind == "patterns":
            require(self.item > 0, "item", "must be > 0 for a patterns stimulus")
            require(0 < self.fraction <= 1, "fraction", f"must be in (0, 1], got {self.fraction!r}")
        if (self.up > 0) != (self.down > 0):
            require(False, "up" if self.up <= 0 else "down", "up and down must be given together")

    def n_items(self, n_memories: int) -> int:
        return len(self.memories) if self.memories else n_memories

    def length(self, n_memories: int) -> float | None:
        """Duration implied by a patterns stimulus (s), ``None`` for noise."""
        if self.kind != "patterns":
            return None
        return self.n_items(n_memories) * (self.item + self.gap)


@dataclass(frozen=True)
class Phase:
    """One period of the experiment.

    Attributes
    ----------
    name : str
        Unique name (:data:`PHASE_NAME`: ASCII letters, digits, ``.``, ``_``,
        ``-``; it names the phase's files); recall phases' names are the
        metric keys in results.
    kind : {"encode", "sleep", "recall", "wake"}
        One of :data:`PHASE_KINDS`.  Recall overlap metrics are computed for
        phases of kind ``"recall"`` (whose patterns items must be longer than
        :data:`RECALL_WINDOW_SKIP`), replay events for ``"sleep"``, the replay
        population's assemblies from ``"encode"``; ``"wake"`` is awake rest.
    duration : float or None
        Seconds; when ``None`` it is implied by the phase's patterns stimulus.
    stimuli : tuple of Stimulus
        Spike sources not named here are silent during the phase.
    plastic : dict
        Projection name → learning-rate scale (> 0).  Projections not named are
        frozen during the phase.
    silence : tuple of str
        Populations that cannot spike during the phase (lesion).
    block : tuple of str
        Projections that transmit nothing during the phase (gain 0).
    gain : dict
        Projection name → transmission gain (>= 0) during the phase, e.g. a
        neuromodulatory change of synaptic efficacy; 1 when not named.  A
        projection may not be both blocked and given a gain.
    stp_off : tuple of str
        Projections whose short-term plasticity (their transmission rule,
        e.g. :class:`~neuromem.spec.ShortTermDepression`) is off during the
        phase: each spike transmits the stored weight and uses no resources,
        which recover as usual (e.g. depression of the CA3 recurrence only in
        sleep, where it ends replay events, not while recalling).
    start_from : str or None
        Restore the network state saved at the end of this earlier phase.
    record_state : tuple of str
        Populations whose membrane potential is recorded (spikes of all
        populations are always recorded).
    """

    name: str = spec_field("str")
    kind: str = spec_field("str")
    duration: float | None = spec_field("time", None)
    stimuli: tuple[Stimulus, ...] = spec_field("tables", (), table=Stimulus, tagged=STIMULI)
    plastic: dict = spec_field("table", default_factory=dict)
    silence: tuple[str, ...] = spec_field("strs", ())
    block: tuple[str, ...] = spec_field("strs", ())
    gain: dict = spec_field("table", default_factory=dict)
    stp_off: tuple[str, ...] = spec_field("strs", ())
    start_from: str | None = spec_field("str", None)
    record_state: tuple[str, ...] = spec_field("strs", ())

    def __post_init__(self):
        require(isinstance(self.name, str) and PHASE_NAME.fullmatch(self.name) is not None, "name",
                f"phase name {self.name!r} is not usable: phase names name files in the run folder, so they "
                "are ASCII letters, digits, '.', '_' and '-', starting with a letter or digit")
        require(self.kind in PHASE_KINDS, "kind",
                f"unknown phase kind {self.kind!r}; allowed: {', '.join(PHASE_KINDS)}")
        if self.kind == "recall":
            for j, st in enumerate(self.stimuli):
                require(st.kind != "patterns" or st.item > RECALL_WINDOW_SKIP, f"stimuli[{j}].item",
                        f"a recall item of {st.item * 1e3:g} ms leaves nothing to score: recall scoring "
                        f"skips the first {RECALL_WINDOW_SKIP * 1e3:g} ms of each item, so items must be longer")
        if self.duration is not None:
            require(self.duration > 0, "duration", "must be > 0")
        for proj, g in self.gain.items():
            require(isinstance(g, (int, float)) and g >= 0, f"gain.{proj}",
                    f"transmission gain must be a number >= 0, got {g!r}")
            require(proj not in self.block, f"gain.{proj}", "projection is also blocked")
        for proj, scale in self.plastic.items():
            require(isinstance(scale, (int, float)) and scale > 0, f"plastic.{proj}",
                    f"learning-rate scale must be a number > 0, got {scale!r}")

    def length(self, n_memories: int) -> float:
        """Duration of the phase (s), explicit or implied by its stimuli."""
        implied = {s.length(n_memories) for s in self.stimuli} - {None}
        if self.duration is not None:
            for L in implied:
                require(abs(L - self.duration) < 1e-9 or L <= self.duration, "duration",
                        f"{self.duration} s is shorter than its patterns stimulus ({L} s)")
            return self.duration
        if not implied:
            raise ModelError("is required when no patterns stimulus implies it", key="duration")
        require(len(implied) == 1, "stimuli", f"patterns stimuli imply different durations: {sorted(implied)}")
        return implied.pop()


@dataclass(frozen=True)
class PatternOverlap:
    """Memories whose patterns share a set fraction of their neurons with other memories'.

    Memory ``memories[j]`` takes ``round(fraction * k)`` of its ``k`` active
    neurons from the pattern of memory ``share[j]`` and the rest from neurons
    outside that pattern, so the two overlap by exactly that many neurons
    (their overlap with every other memory stays at chance).  Used to make new
    memories interfere with old ones in a controlled way.

    Attributes
    ----------
    memories : tuple of int
        The memories whose patterns are drawn with overlap.
    share : tuple of int
        For each of ``memories``, the memory it overlaps (same length).
    fraction : float
        Fraction of the pattern shared, in [0, 1].
    """

    memories: tuple[int, ...] = spec_field("ints")
    share: tuple[int, ...] = spec_field("ints")
    fraction: float = spec_field("float")

    def __post_init__(self):
        require(len(self.memories) == len(self.share), "share",
                f"needs one memory per overlapped memory ({len(self.memories)}), got {len(self.share)}")
        require(len(self.memories) > 0, "memories", "at least one memory is required")
        require(isinstance(self.fraction, (int, float)) and 0 <= self.fraction <= 1, "fraction",
                f"must be in [0, 1], got {self.fraction!r}")
        for m, s in zip(self.memories, self.share):
            require(m != s, "share", f"memory {m} cannot overlap itself")


@dataclass(frozen=True)
class Protocol:
    """The memories and the ordered phases.

    Attributes
    ----------
    n_memories : int
        Number of stored patterns (>= 0; 0 by default: a plain network
        simulation that stores nothing).
    pattern_population : str or None
        Population whose neurons the patterns are defined on; required when
        ``n_memories > 0``.
    coding_level : float or None
        Fraction of ``pattern_population`` active in each pattern, in (0, 1);
        required when ``n_memories > 0``.
    phases : tuple of Phase
    replay_population : str or None
        Population holding the fast-learned memory index (e.g. hippocampal
        CA3); its per-memory assemblies, found during encoding, are used to
        detect replay events in other phases.
    overlaps : tuple of PatternOverlap
        Memories drawn to overlap others by a set fraction (default: none,
        every pattern drawn independently).
    """

    n_memories: int = spec_field("int", 0)
    pattern_population: str | None = spec_field("str", None)
    coding_level: float | None = spec_field("float", None)
    phases: tuple[Phase, ...] = spec_field("tables", (), required=True, table=Phase)
    replay_population: str | None = spec_field("str", None)
    overlaps: tuple[PatternOverlap, ...] = spec_field("tables", (), table=PatternOverlap)

    def __post_init__(self):
        require(isinstance(self.n_memories, int) and self.n_memories >= 0, "n_memories",
                f"must be an integer >= 0, got {self.n_memories!r}")
        if self.n_memories > 0:
            require(self.pattern_population is not None, "pattern_population",
                    f"is required to store {self.n_memories} memories")
            require(self.coding_level is not None, "coding_level",
                    f"is required to store {self.n_memories} memories")
        if self.coding_level is not None:
            require(0 < self.coding_level < 1, "coding_level", f"must be in (0, 1), got {self.coding_level!r}")
        require(len(self.phases) > 0, "phases", "at least one phase is required")
        overlapped = [m for ov in self.overlaps for m in ov.memories]
        for i, ov in enumerate(self.overlaps):
            for m in ov.memories + ov.share:
                require(isinstance(m, int) and 0 <= m < self.n_memories, f"overlaps[{i}]",
                        f"memory {m!r} is outside 0..{self.n_memories - 1}")
            for s in ov.share:
                require(s not in overlapped, f"overlaps[{i}].share",
                        f"memory {s} is itself drawn with overlap (no chains)")
        require(len(overlapped) == len(set(overlapped)), "overlaps",
                "a memory is drawn with overlap more than once")
        names = [p.name for p in self.phases]
        for i, ph in enumerate(self.phases):
            require(ph.name not in names[:i], f"phases[{i}].name", f"duplicate phase name {ph.name!r}")
            if ph.start_from is not None:
                require(ph.start_from in names[:i], f"phases[{i}].start_from",
                        f"{ph.start_from!r} is not an earlier phase")

    def phase(self, name: str) -> Phase:
        for ph in self.phases:
            if ph.name == name:
                return ph
        raise KeyError(name)

    def origin(self, name: str) -> str | None:
        """The phase whose final network state phase ``name`` starts from.

        This is the one rule of phase branching: a phase starts from the state
        saved at the end of its ``start_from`` phase when it names one, and
        otherwise from the end of the phase just before it in the protocol
        (``None`` for the first phase: the initial state).

        Raises
        ------
        KeyError
            If no phase is called ``name``.
        """
        names = [p.name for p in self.phases]
        k = names.index(name) if name in names else -1
        if k < 0:
            raise KeyError(name)
        ph = self.phases[k]
        if ph.start_from is not None:
            return ph.start_from
        return names[k - 1] if k > 0 else None

    def lineage(self, name: str) -> tuple[str, ...]:
        """The phases whose effects the network carries at the end of ``name``.

        Follows :meth:`origin` back to the initial state.

        Returns
        -------
        tuple of str
            Phase names in simulated order, ending with ``name``.
        """
        chain = []
        cur: str | None = name
        while cur is not None:
            chain.append(cur)
            cur = self.origin(cur)
        return tuple(reversed(chain))
