"""Export a trained neuromem network to Lava (lava-nc 0.10) and run it there.

Frozen weights in floating point (spike for spike Brian2's) or Loihi 2
bit-accurate fixed point (:func:`run_lava`), or a plastic phase learning on
Lava (:func:`run_lava_learning`).  Modules, in the order data flow through them:

:mod:`~neuromem.export.lava.check`
    what Lava cannot represent (:func:`check_lava`, :func:`check_lava_learning`);
:mod:`~neuromem.export.lava.plan`, :mod:`~neuromem.export.lava.rules`, :mod:`~neuromem.export.lava.host`
    every number given to Lava and the host operations of a learning phase, numpy only
    (:func:`plan_lava`, :func:`map_rule`, :func:`host_normalisations`);
:mod:`~neuromem.export.lava.network`, :mod:`~neuromem.export.lava.learning`
    the Lava processes of a frozen and of a learning network;
:mod:`~neuromem.export.lava.processes`
    the process classes neuromem adds (imports lava: loaded when a network is built);
:mod:`~neuromem.export.lava.run`
    the orchestration from a run folder to a results file.

Importing this package does not import lava.  The mapping and the measured
agreement are in ``docs/export.md``.
"""

from neuromem.export.compare import compare_spikes
from neuromem.export.frozen import (
    FrozenNetwork, exact_coefficients, exported_parts, load_frozen_network, phase_gain, start_state, weight_matrices,
)
from neuromem.export.issues import ExportError, ExportIssue, LavaExportError
from neuromem.export.lava.check import (
    BOUNDS, MAX_DELAY_FIXED, MODES, REFRACTORY, check_lava, check_lava_learning, is_plastic, require_lava,
    require_lava_learning,
)
from neuromem.export.lava.host import (
    HostBistable, HostNormalisation, host_normalisations, normalisation_steps, phase_start_time,
)
from neuromem.export.lava.learning import LavaLearningNetwork, build_learning_network
from neuromem.export.lava.network import LavaNetwork, build_lava_network
from neuromem.export.lava.plan import (
    DEFAULT_HEADROOM, LavaPlan, PopulationPlan, ProjectionPlan, plan_lava, quantise_weights,
)
from neuromem.export.lava.rules import (
    FAST_TAU, LAVA_RULES, RULE_SUPPORT, TRANSMISSION_SUPPORT, LearningRulePlan, RuleTerms, lava_rule,
    learning_rule_plans, map_rule, rule_mapping, transmission_modes,
)
from neuromem.export.lava.run import (
    follow_up_phase, results_file, run_is_plastic, run_lava, run_lava_learning, weights_file,
)

__all__ = [
    "MODES", "REFRACTORY", "BOUNDS", "MAX_DELAY_FIXED", "DEFAULT_HEADROOM", "FAST_TAU", "RULE_SUPPORT",
    "ExportIssue", "ExportError", "LavaExportError",
    "check_lava", "require_lava", "check_lava_learning", "require_lava_learning", "is_plastic",
    "exported_parts", "phase_gain", "exact_coefficients", "weight_matrices", "FrozenNetwork",
    "load_frozen_network", "start_state", "compare_spikes",
    "LavaPlan", "PopulationPlan", "ProjectionPlan", "plan_lava", "quantise_weights",
    "LearningRulePlan", "RuleTerms", "LAVA_RULES", "lava_rule", "rule_mapping", "map_rule", "learning_rule_plans", "normalisation_steps", "phase_start_time",
    "HostNormalisation", "HostBistable", "host_normalisations", "TRANSMISSION_SUPPORT", "transmission_modes",
    "LavaNetwork", "build_lava_network", "LavaLearningNetwork", "build_learning_network",
    "run_lava", "run_lava_learning", "follow_up_phase", "run_is_plastic", "results_file", "weights_file",
]


def __getattr__(name):
    """``DEFAULT_PHASE``, deprecated: see :data:`neuromem.export.DEFAULT_PHASE`."""
    if name == "DEFAULT_PHASE":
        import neuromem.export
        return neuromem.export.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
