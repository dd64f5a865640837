"""The small model's behaviour (the default model when this was written) is unchanged by refactoring (issue 12).

Runs ``models/cls_small.toml`` with two memories, seed 0, for the ``encode`` and
``recall_intact_after_encoding`` phases only, and compares every population's
spikes and the plastic weights (SHA-256 of their bytes) with
``tests/data/cls_small_identity_seed0.npz``, made before the registries were
introduced (commit recorded in the file; see ``tests/data/README.md``).
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest

import neuromem

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "tests" / "data" / "cls_small_identity_seed0.npz"
PHASES = ["encode", "recall_intact_after_encoding"]


@pytest.mark.slow        # the small model's network: ~65 s on a cold cache (CI runs it in the slow set)
def test_small_model_spikes_and_weights_unchanged():
    from neuromem.backends.brian2.simulator import Brian2Options, simulate

    model = neuromem.load_model(ROOT / "models" / "cls_small.toml", overrides=["protocol.n_memories=2"])
    run = simulate(model, 0, Brian2Options(progress=False), phases=PHASES)
    ref = np.load(REF)
    assert [ph.name for ph in run.phases] == PHASES
    seen = {"commit"}
    for ph in run.phases:
        for name in model.populations:
            s = ph.spikes[name]
            ki, kt = f"{ph.name}/{name}/i", f"{ph.name}/{name}/t"
            np.testing.assert_array_equal(s.i, ref[ki], err_msg=ki)
            np.testing.assert_array_equal(s.t, ref[kt], err_msg=kt)
            seen |= {ki, kt}
        for name, w in ph.weights.items():
            k = f"{ph.name}/weights_sha256/{name}"
            digest = hashlib.sha256(np.ascontiguousarray(w, dtype=np.float64).tobytes()).hexdigest()
            assert digest == str(ref[k]), k
            seen.add(k)
    assert seen == set(ref.files)
