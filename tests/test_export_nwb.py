"""``neuromem export nwb``: a run folder's spike trains, phases and items in NWB, read back with pynwb.

Skipped when pynwb is not installed (``pip install 'neuromem[nwb]'``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuromem import cli
from neuromem.export.nwb import spike_times_by_neuron
from neuromem.io import read_run

MODEL = '''\
name = "nwbtiny"
description = "20 neurons and their input: encode, recall from half cues after a branch"
dt = "0.5 ms"

[populations.ctx_e]
size = 20
kind = "excitatory"
tau_m = "20 ms"
tau_syn = "5 ms"
v_rest = "-70 mV"
v_reset = "-65 mV"
v_th = "-50 mV"
refractory = "5 ms"

[sources.ctx_in]
size = 20

[projections.ctx_in_e]
source = "ctx_in"
target = "ctx_e"
connector = { kind = "one_to_one" }
weight = { kind = "constant", value = "60 mV" }

[protocol]
n_memories = 2
pattern_population = "ctx_e"
coding_level = 0.25

[[protocol.phases]]
name = "encode"
kind = "encode"
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "patterns"
rate = "200 Hz"
background = "2 Hz"
item = "100 ms"
gap = "50 ms"

[[protocol.phases]]
name = "rest"
kind = "sleep"
duration = "200 ms"
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "noise"
rate = "20 Hz"

[[protocol.phases]]
name = "recall"
kind = "recall"
start_from = "encode"
record_state = ["ctx_e"]
[[protocol.phases.stimuli]]
source = "ctx_in"
kind = "patterns"
rate = "200 Hz"
background = "2 Hz"
item = "100 ms"
gap = "50 ms"
fraction = 0.5
'''


def test_spike_times_by_neuron():
    trains = spike_times_by_neuron([np.array([1, 0, 1]), np.array([1, 2])],
                                   [np.array([0.1, 0.2, 0.3]), np.array([1.05, 1.5])], 4)
    assert [t.tolist() for t in trains] == [[0.2], [0.1, 0.3, 1.05], [1.5], []]
    assert [t.size for t in spike_times_by_neuron([], [], 2)] == [0, 0]


@pytest.fixture(scope="module")
def run_dir(make_run_folder) -> Path:
    return make_run_folder(MODEL, seed=4, name="nwbtiny")


def test_export_nwb_reads_back_with_pynwb(run_dir, tmp_path, capsys):
    pynwb = pytest.importorskip("pynwb")
    out = tmp_path / "sub" / "run.nwb"
    assert cli.main(["export", "nwb", str(run_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"written: {out}"
    rf = read_run(run_dir)
    phases = rf["phases"]
    offsets = np.cumsum([0.0] + [p["duration"] for p in phases])[:-1]
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.notes == rf.model_text
        assert "seed 4" in nwb.session_description and "'nwbtiny'" in nwb.session_description
        assert nwb.session_id == run_dir.name
        assert nwb.experiment_description.startswith("20 neurons")
        meta = json.loads(nwb.scratch["neuromem"].data[()] if hasattr(nwb.scratch["neuromem"].data, "shape")
                          else nwb.scratch["neuromem"].data)
        assert meta["seed"] == 4 and meta["metrics"] == rf["metrics"] and meta["dt"] == 0.0005
        # one epoch per phase, end to end, with its kind and origin
        ep = nwb.epochs.to_dataframe()
        assert list(ep["phase"]) == [p["name"] for p in phases] == ["encode", "rest", "recall"]
        np.testing.assert_allclose(ep["start_time"], offsets)
        np.testing.assert_allclose(ep["stop_time"], offsets + [p["duration"] for p in phases])
        assert list(ep["origin"]) == ["", "encode", "encode"]
        assert list(ep["kind"]) == ["encode", "sleep", "recall"] and list(ep["tags"].map(list)) == [
            ["encode"], ["sleep"], ["recall"]]
        # presented memories
        items = nwb.intervals["items"].to_dataframe()
        want = [(p["name"], m, off + on, off + end) for p, off in zip(phases, offsets) for m, on, end in p["items"]]
        assert len(want) == 4
        assert list(zip(items["phase"], items["memory"])) == [(w[0], w[1]) for w in want]
        np.testing.assert_allclose(items["start_time"], [w[2] for w in want])
        np.testing.assert_allclose(items["stop_time"], [w[3] for w in want])
        # one Units table per population and source: every spike of every phase at its session time
        assert set(nwb.processing["populations"].data_interfaces) == {"ctx_e"}
        assert set(nwb.processing["sources"].data_interfaces) == {"ctx_in"}
        for module, name in (("populations", "ctx_e"), ("sources", "ctx_in")):
            units = nwb.processing[module][name]
            assert len(units) == 20 and list(units.id[:]) == list(range(20))
            total = 0
            for k in range(20):
                want_t = np.concatenate([rf.spikes(p["name"])[name].t[rf.spikes(p["name"])[name].i == k] + off
                                         for p, off in zip(phases, offsets)])
                got = np.asarray(units["spike_times"][k])
                np.testing.assert_array_equal(got, np.sort(want_t))
                total += got.size
            assert total == sum(rf.spikes(p["name"])[name].i.size for p in phases) > 50
        # recorded membrane potentials, (time, neuron), at session time
        assert set(nwb.processing["membrane_potential"].data_interfaces) == {"ctx_e_recall"}
        ts = nwb.processing["membrane_potential"]["ctx_e_recall"]
        t, v = rf.state("recall")["ctx_e"]
        assert ts.unit == "volts" and v.shape[0] == 20 and v.shape[1] > 100
        np.testing.assert_array_equal(ts.data[:], v.T)
        np.testing.assert_array_equal(ts.timestamps[:], t + offsets[2])


def test_export_nwb_default_path_and_broken_folder(run_dir, tmp_path, capsys):
    pytest.importorskip("pynwb")
    assert cli.main(["export", "nwb", str(run_dir)]) == 0
    assert (run_dir / "run.nwb").is_file() and not list(run_dir.glob(".*nwb"))
    # an export output: `verify` lists it, and the run folder still verifies
    capsys.readouterr()
    assert cli.main(["verify", str(run_dir)]) == 0
    assert "run.nwb" in capsys.readouterr().out
    (run_dir / "run.nwb").unlink()
    assert cli.main(["export", "nwb", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing" in err and "Traceback" not in err


def test_export_nwb_without_pynwb_is_a_clean_error(run_dir, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "pynwb", None)   # import pynwb -> ImportError
    assert cli.main(["export", "nwb", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the NWB export needs pynwb") and "neuromem[nwb]" in err
    assert not (run_dir / "run.nwb").exists()
