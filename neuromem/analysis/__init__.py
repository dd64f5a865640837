"""Metrics computed from in-memory run records (:mod:`neuromem.records`).

Pure numpy.  :func:`compute_metrics` gives the JSON-serialisable summary that
:func:`neuromem.io.write_run` stores in ``results.json``; the building blocks
(recall overlap, winners, assemblies, replay events, rates) are exported for
notebooks and tests.
"""

from neuromem.analysis.recall import recall_overlap, winner, recall_phase_metrics, cue_mask, pearson, best_recall, best_recall_row
from neuromem.analysis.activity import (
    population_rates, find_assemblies, detect_replay, replay_summary, replay_composition,
)
from neuromem.analysis.summary import compute_metrics, replay_analysis
from neuromem.analysis.memories import (presented_memories, encoding_phases, memory_ages, group_items,
                                        assembly_size_effect)
from neuromem.analysis.relearn import relearn, relearnable

__all__ = [
    "recall_overlap", "winner", "recall_phase_metrics", "cue_mask", "pearson", "best_recall", "best_recall_row",
    "population_rates", "find_assemblies", "detect_replay", "replay_summary", "replay_composition",
    "compute_metrics", "replay_analysis",
    "presented_memories", "encoding_phases", "memory_ages", "group_items", "assembly_size_effect",
    "relearn", "relearnable",
]
