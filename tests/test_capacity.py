"""The capacity script's model changes (fast; the sweep itself is in test_experiments.py, slow)."""

import importlib.util
from pathlib import Path

import pytest

from neuromem.spec.errors import ModelError
from neuromem.spec.loader import load_model

ROOT = Path(__file__).resolve().parent.parent


def _capacity():
    spec = importlib.util.spec_from_file_location("sim_capacity_fast", ROOT / "simulations" / "capacity.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("p", [0.125, 0.25, 0.5])
def test_fixed_field_keeps_connections_times_weight(p):
    cap = _capacity()
    base = load_model(cap.MODEL)
    model = load_model(cap.MODEL, overrides=[f"{cap.P_KEY}={p}"] + cap.fixed_field_overrides(base, p))
    old, new = base.rules["ctx_slow"], model.rules["ctx_slow"]
    for f in ("a_plus", "a_minus", "c_pre", "c_post", "w_max"):
        assert getattr(new, f) * p == pytest.approx(getattr(old, f) * 0.5, rel=1e-6), f
    assert (model.projections["ctx_ee"].weight.high * p
            == pytest.approx(base.projections["ctx_ee"].weight.high * 0.5, rel=1e-6))
    # the normalisation totals are sums over a cell's synapses: unchanged
    assert model.rules["ctx_norm"].total == base.rules["ctx_norm"].total
    assert model.rules["ctx_incap"].total == base.rules["ctx_incap"].total


def test_set_option_refuses_a_bad_key_before_running(tmp_path, capsys):
    cap = _capacity()
    with pytest.raises(ModelError, match="no_such_population"):
        cap.main(["--quick", "--seed", "1", "--out", str(tmp_path / "cap"),
                  "--set", "populations.no_such_population.size=3"])
    assert not (tmp_path / "cap").exists()
