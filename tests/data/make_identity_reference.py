"""Write ``cls_small_identity_seed0.npz``, the reference of ``tests/test_identity.py``.

Run from the repository root, on a clean checkout of the commit to record::

    python tests/data/make_identity_reference.py

Only when a change is *meant* to change the small model's spikes for a seed
(e.g. a new connectivity draw); say why in the commit and in ``README.md`` here.
"""

import hashlib
import subprocess
from pathlib import Path

import numpy as np

import neuromem
from neuromem.backends.brian2.simulator import Brian2Options, simulate

ROOT = Path(__file__).resolve().parents[2]
PHASES = ["encode", "recall_intact_after_encoding"]


def main():
    model = neuromem.load_model(ROOT / "models" / "cls_small.toml", overrides=["protocol.n_memories=2"])
    run = simulate(model, 0, Brian2Options(progress=False), phases=PHASES)
    out = {"commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout.strip()}
    for ph in run.phases:
        for name in model.populations:
            out[f"{ph.name}/{name}/i"] = ph.spikes[name].i
            out[f"{ph.name}/{name}/t"] = ph.spikes[name].t
        for name, w in ph.weights.items():
            out[f"{ph.name}/weights_sha256/{name}"] = hashlib.sha256(
                np.ascontiguousarray(w, dtype=np.float64).tobytes()).hexdigest()
    np.savez(Path(__file__).with_name("cls_small_identity_seed0.npz"), **out)
    print(f"written for commit {out['commit']}")


if __name__ == "__main__":
    main()
