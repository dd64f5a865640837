"""Every target of the core issue on the whole default protocol (slow).

The default model (``models/cls.toml``) runs its own protocol (15 memories, 90 s
of sleep per arm) on the demo's seed and on seed 1.  The small model
(``models/cls_small.toml``) runs from encoding to the recall after blocked sleep
(40 s of sleep per arm), seed 1, at its own size (10 memories) and at the upper
end of the range it must cover (15 memories).  Measured (seed 1, 10 / 15
memories): intact recall 0.990 / 0.983, cortex alone before sleep 0.00 at 10,
after sleep 0.937 / 0.917, after blocked sleep 0.00 at 10, false alarms after
sleep 0.001 / 0.007.  Other seeds are in the README ("Measured").
"""

from pathlib import Path

import numpy as np
import pytest

from neuromem.analysis import compute_metrics
from neuromem.spec.loader import load_model

MODEL = Path(__file__).resolve().parents[1] / "models" / "cls.toml"
SMALL = MODEL.parent / "cls_small.toml"


def assert_default_targets(m):
    """The core issue's targets on a whole-protocol run's metrics."""
    assert m["recall_intact_after_encoding"] >= 0.9
    assert m["recall_lesioned_before_sleep"] <= 0.4
    assert m["recall_lesioned_after_sleep"] >= 0.8
    assert m["recall_lesioned_after_blocked_sleep"] <= 0.4
    after = m["recall"]["recall_lesioned_after_sleep"]
    assert after["correct_winner_fraction"] >= 0.9
    assert np.mean(after["false_alarm_rate"]) <= 0.05, after["false_alarm_rate"]
    assert min(m["replay"]["sleep"]["counts"]) >= 5, m["replay"]["sleep"]["counts"]
    for pop in ("ctx_e", "hpc_e"):
        assert 0.1 <= m["rate_exc_hz"][pop]["sleep"] <= 30


@pytest.mark.slow
@pytest.mark.parametrize("n_memories", [10, 15])
def test_small_model_targets_whole_protocol(n_memories):
    from neuromem.backends.brian2 import Brian2Options, simulate

    model = load_model(SMALL, overrides=[f"protocol.n_memories={n_memories}"])
    assert_default_targets(compute_metrics(simulate(model, seed=1, options=Brian2Options(progress=False))))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_default_model_meets_the_default_targets(seed):
    """``models/cls.toml`` (the default model, built for K* = 50, the one model for the three
    experiments of ``docs/experiments.md``) meets the default protocol's targets on its own protocol:
    15 memories, 6 s of sleep per memory. Measured (seeds 0 / 1 / 2 / 3): intact 0.999 / 0.999 / 0.999 / 0.998,
    cortex alone before sleep and after blocked sleep 0.000, after sleep 0.960 / 0.957 / 0.949 / 0.949,
    intact after sleep 0.929 / 0.922 / 0.923 / 0.913, false alarms ≤ 0.002, fewest replays 19 / 20 / 14 / 20;
    sleep rates ctx_e 1.66-1.68 Hz, CA3 0.64 Hz, DG 0.100-0.106 Hz."""
    from neuromem.backends.brian2 import Brian2Options, simulate

    model = load_model(MODEL)
    assert model.protocol.n_memories == 15
    run = simulate(model, seed=seed, options=Brian2Options(progress=False, device="cpp_standalone"))
    m = compute_metrics(run)
    assert_default_targets(m)
    assert m["recall_intact_after_sleep"] >= 0.8
    assert m["replay"]["sleep_blocked"]["total"] == 0
