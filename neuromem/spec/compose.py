"""Build protocols from Python: copies of template phases and many-round protocols.

A model file spells out every phase, which is clear for a handful of phases and
tedious for an experiment of many rounds (encode set 1, sleep, encode set 2,
sleep, ...).  Such protocols are written in Python from the phases of a model
file used as templates::

    import dataclasses
    from neuromem.spec import compose
    from neuromem.spec.loader import load_model

    base = load_model("models/cls.toml")
    encode, sleep = base.protocol.phase("encode"), base.protocol.phase("sleep")
    phases = compose.rounds(encode, sleep, [(0, 1), (2, 3), (4, 5)])
    model = compose.with_phases(base, phases, n_memories=6)

The result is an ordinary validated :class:`~neuromem.spec.Model`; its
resolved TOML (:func:`neuromem.spec.loader.dumps_model`, written to every run
folder as ``model.toml``) lists the expanded phases, so a run made this way is
rerun from its folder with ``neuromem run RUN_DIR/model.toml``.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

from neuromem.spec.errors import require
from neuromem.spec.model import Model
from neuromem.spec.protocol import Phase

__all__ = ["phase_copy", "rounds", "with_phases", "with_protocol"]

_KEEP = object()


def phase_copy(phase: Phase, name: str, *, memories: Iterable[int] | None = None,
               start_from=_KEEP, **changes) -> Phase:
    """A copy of ``phase`` under a new name.

    Parameters
    ----------
    phase : Phase
        The template.
    name : str
        Name of the copy.
    memories : iterable of int, optional
        Memories presented by the copy's ``patterns`` stimuli (``()`` = all);
        unchanged when omitted.
    start_from : str or None, optional
        The phase the copy starts from; unchanged when omitted, ``None`` to
        continue from the phase before it.
    **changes
        Other :class:`Phase` fields to replace (``duration``, ``silence``, ...).

    Returns
    -------
    Phase
    """
    if memories is not None:
        mems = tuple(int(m) for m in memories)
        stimuli = tuple(dataclasses.replace(st, memories=mems) if st.kind == "patterns" else st
                        for st in changes.pop("stimuli", phase.stimuli))
        changes["stimuli"] = stimuli
    if start_from is not _KEEP:
        changes["start_from"] = start_from
    return dataclasses.replace(phase, name=name, **changes)


def rounds(encode: Phase, sleep: Phase | None, memory_sets: Sequence[Sequence[int]], *,
           encode_name: str = "encode_{r}", sleep_name: str = "sleep_{r}",
           sleep_after_last: bool = False, start_from: str | None = None,
           sleep_changes: dict | None = None, first: int = 1) -> tuple[Phase, ...]:
    """Encode one memory set per round, with a sleep after each round.

    Round ``r`` (from ``first``, 1 by default) presents ``memory_sets[r - 1]`` with a copy of
    ``encode`` named ``encode_name.format(r=r)``, then sleeps with a copy of
    ``sleep`` named ``sleep_name.format(r=r)``; every phase continues from the
    one before it.  By default no sleep follows the last round, so the last set
    is tested with no sleep since its encoding (age 0).

    Parameters
    ----------
    encode, sleep : Phase
        Templates; ``sleep`` may be ``None`` (rounds of encoding only).
    memory_sets : sequence of sequence of int
        Memories encoded in each round.
    encode_name, sleep_name : str, optional
        Format strings with the field ``r`` (round number, from 1).
    sleep_after_last : bool, optional
        Also sleep after the last round.
    start_from : str or None, optional
        The first encode phase starts from this phase (e.g. to put a second
        arm of rounds on a branch); ``None`` continues from the phase before.
    sleep_changes : dict, optional
        Fields replaced in every sleep copy (e.g. ``{"silence": ("hpc_e",)}``
        for an arm without replay, or ``{"duration": 10.0}``).
    first : int, optional
        Number of the first round in the names (to continue an arm whose first
        round is written separately).

    Returns
    -------
    tuple of Phase
    """
    require(len(memory_sets) >= 1, "memory_sets", "at least one round is required")
    phases = []
    for k, mems in enumerate(memory_sets):
        r = first + k
        mems = tuple(int(m) for m in mems)
        require(len(mems) >= 1, f"memory_sets[{k}]", "a round encodes at least one memory")
        phases.append(phase_copy(encode, encode_name.format(r=r), memories=mems,
                                 start_from=start_from if k == 0 else None))
        if sleep is not None and (k < len(memory_sets) - 1 or sleep_after_last):
            phases.append(phase_copy(sleep, sleep_name.format(r=r), start_from=None,
                                     **dict(sleep_changes or {})))
    return tuple(phases)


def with_phases(model: Model, phases: Iterable[Phase], n_memories: int | None = None) -> Model:
    """``model`` with its protocol's phases (and optionally memory count) replaced.

    The new model is validated like one read from a file.

    Raises
    ------
    neuromem.spec.ModelError
        If the phases do not fit the model (unknown projections, memories out
        of range, a ``start_from`` that is not an earlier phase, ...).
    """
    proto = dataclasses.replace(model.protocol, phases=tuple(phases),
                                n_memories=model.protocol.n_memories if n_memories is None else int(n_memories))
    return dataclasses.replace(model, protocol=proto)


def with_protocol(model: Model, **changes) -> Model:
    """``model`` with fields of its protocol replaced (``overlaps``, ``n_memories``, ...), validated."""
    return dataclasses.replace(model, protocol=dataclasses.replace(model.protocol, **changes))
