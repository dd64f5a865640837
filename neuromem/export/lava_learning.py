"""Learning on Lava under its former module name; everything lives in :mod:`neuromem.export.lava`.

Kept so that ``from neuromem.export.lava_learning import run_lava_learning``
(scripts, notebooks) keeps working.  New code imports from
:mod:`neuromem.export.lava`.
"""

from neuromem.export.lava import (
    BOUNDS, FAST_TAU, HostNormalisation, LavaLearningNetwork, LearningRulePlan, build_learning_network,
    check_lava_learning, follow_up_phase, host_normalisations, is_plastic, learning_rule_plans, map_rule,
    normalisation_steps, phase_start_time, results_file, run_is_plastic, run_lava_learning, weights_file,
)

__all__ = [
    "BOUNDS", "FAST_TAU", "LearningRulePlan", "check_lava_learning", "learning_rule_plans",
    "map_rule", "build_learning_network", "LavaLearningNetwork", "run_lava_learning",
    "follow_up_phase", "is_plastic", "run_is_plastic", "results_file", "weights_file",
    "HostNormalisation", "host_normalisations", "normalisation_steps", "phase_start_time",
]
