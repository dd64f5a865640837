"""The backend-free export core: no default phase, one correlation, one atomic writer, phase branching."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest


def test_no_exporter_defaults_to_a_phase_name():
    from neuromem.export.frozen import load_frozen_network
    from neuromem.export.lava import run_lava, run_lava_learning
    from neuromem.export.nir import export_nir
    for fn in (run_lava, run_lava_learning, load_frozen_network, export_nir):
        assert inspect.signature(fn).parameters["phase"].default is inspect.Parameter.empty, fn.__name__


def test_default_phase_is_deprecated():
    import neuromem.export
    with pytest.warns(DeprecationWarning, match="name the phase"):
        assert neuromem.export.DEFAULT_PHASE == "recall_lesioned_after_sleep"
    from neuromem.cli import DEFAULT_EXPORT_PHASE
    assert DEFAULT_EXPORT_PHASE == "recall_lesioned_after_sleep"


def test_one_correlation_with_agreement_edge_cases():
    from neuromem.analysis import pearson
    from neuromem.export.compare import count_correlation
    x, y = np.array([0, 1, 3, 2.0]), np.array([1, 1, 4, 2.0])
    assert count_correlation(x, y) == pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    silent = np.zeros(5)
    assert pearson(silent, silent) == 0.0          # a score: no linear relation
    assert count_correlation(silent, silent) == 1.0  # an agreement: identical rasters agree
    assert count_correlation(silent, np.eye(5)[0]) == 0.0
    assert count_correlation([1.0], [1.0]) is None and pearson([1.0], [2.0]) == 0.0


def test_write_json_atomic_keeps_the_old_file_on_failure(tmp_path):
    from neuromem.io import write_json_atomic
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(path, {"a": np.float32(0.5), "b": [np.int64(2)], "c": float("inf")})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [2], "c": None}
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})
    assert json.loads(path.read_text())["a"] == 0.5
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def _branching_model():
    """A protocol with ``start_from`` branches (only the protocol is used)."""
    from types import SimpleNamespace

    from neuromem.spec import Phase, Protocol
    phases = (Phase("enc", "encode", duration=0.1),
              Phase("sleep", "sleep", duration=0.2, start_from="enc"),
              Phase("r1", "recall", duration=0.1, start_from="enc"),
              Phase("r2", "recall", duration=0.1, start_from="sleep"),
              Phase("r3", "recall", duration=0.1))
    return SimpleNamespace(protocol=Protocol(3, "E", 0.3, phases))


def test_phase_branching_follows_the_protocol():
    from neuromem.export.lava import follow_up_phase, phase_start_time
    m = _branching_model()
    results = {"phases": [{"name": p.name, "duration": p.duration} for p in m.protocol.phases]}
    # r2 continues from sleep by start_from, r3 from sleep's successor r2: the first recall after sleep is r2
    assert follow_up_phase(results, m, "sleep") == "r2"
    assert follow_up_phase(results, m, "r3") is None
    assert phase_start_time(results, m, "enc") == 0.0
    assert phase_start_time(results, m, "r2") == pytest.approx(0.1 + 0.2)
    assert phase_start_time(results, m, "r3") == pytest.approx(0.1 + 0.2 + 0.1)
