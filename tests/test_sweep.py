"""``neuromem sweep`` and :mod:`neuromem.sweep` on a real Dask cluster on loopback.

A 40-neuron model (Brian2 numpy target, a few seconds a run) is swept on a
module-wide :func:`neuromem.sweep.local_cluster` (two single-threaded worker
processes on a 2-core machine), reached by its scheduler address, and once on
the local cluster ``neuromem sweep`` starts itself.  About nine runs in all.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from neuromem import cli  # noqa: E402
from neuromem.spec.loader import loads_model  # noqa: E402
from neuromem.sweep import (  # noqa: E402
    SweepError, flatten_metrics, local_cluster, parse_grid, parse_seeds, plan_sweep, plot_sweep, run_sweep,
    write_table)

TINY = (Path(__file__).resolve().parent / "data" / "tiny.toml").read_text(encoding="utf-8").replace("n_memories = 3", "n_memories = 2")

GRID = {"protocol.n_memories": [1, 2], "protocol.coding_level": [0.2, 0.25]}
NUMPY = {"target": "numpy"}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster as ``neuromem sweep`` starts it by default."""
    with local_cluster() as c:
        yield c


def _csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _results(folder) -> dict:
    return json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))


def _run_folders(out: Path) -> set:
    return {p for p in (out / "runs").glob("*/*") if p.is_dir()}


# ---------------------------------------------------------------- parsing, table, figure (no cluster)


def test_parse_grid_and_seeds():
    assert parse_grid(["protocol.n_memories=5,10,20", "protocol.phases.sleep.duration=10 s, 20 s"]) == {
        "protocol.n_memories": ["5", "10", "20"], "protocol.phases.sleep.duration": ["10 s", "20 s"]}
    # commas inside TOML arrays, tables and strings do not split values
    assert parse_grid(['a.b=[1, 2],{x = 1, y = 2},"p, q"']) == {"a.b": ["[1, 2]", "{x = 1, y = 2}", '"p, q"']}
    assert parse_grid({"k": [5, 0.1, True, "20 s"]}) == {"k": ["5", "0.1", "true", "20 s"]}
    for bad in (["novalue"], ["k="], ["k=1,,2"], ["k=1,1"], ["k=1", "k=2"], ["a..b=1"]):
        with pytest.raises(SweepError):
            parse_grid(bad)
    assert parse_seeds("1-5") == [1, 2, 3, 4, 5]
    assert parse_seeds("0-2,5,1") == [0, 1, 2, 5]
    assert parse_seeds(3) == [3] and parse_seeds([2, 0]) == [2, 0]
    for bad in ("5-1", "x", "", "-1", [-1], [1.5]):
        with pytest.raises(SweepError):
            parse_seeds(bad)


def test_flatten_metrics_keeps_scalars():
    m = {"recall": {"r": {"mean_overlap": 0.5, "overlap": [0.4, 0.6], "mean_hit_rate": None}},
         "r": 0.5, "replay": {"sleep": {"total": 3, "counts": [1, 2]}}}
    assert flatten_metrics(m) == {"recall.r.mean_overlap": 0.5, "recall.r.mean_hit_rate": None, "r": 0.5,
                                  "replay.sleep.total": 3}


def _rows():
    rows = []
    for dur, base in (("10 s", 0.2), ("20 s", 0.5)):
        for p, shift in (("0.1", 0.0), ("0.3", 0.1)):
            for seed, noise in ((0, -0.05), (1, 0.05)):
                rows.append({"protocol.phases.sleep.duration": dur, "projections.ctx_ee.connector.p": float(p),
                             "seed": seed, "status": "ran", "recall_after": base + shift + noise})
    rows.append({"protocol.phases.sleep.duration": "10 s", "projections.ctx_ee.connector.p": 0.1, "seed": 2,
                 "status": "error", "error": "RuntimeError: boom"})
    return rows


def test_plot_sweep_mean_and_sd_over_seeds_one_line_per_second_key():
    fig = plot_sweep(_rows(), ["protocol.phases.sleep.duration", "projections.ctx_ee.connector.p"], "recall_after")
    (ax,) = fig.axes
    assert len(ax.containers) == 2          # one line per value of the second key
    assert ax.get_xlabel() == "protocol.phases.sleep.duration (s)"
    for container, shift in zip(ax.containers, (0.0, 0.1)):
        xy = container.lines[0].get_xydata()
        assert xy[:, 0].tolist() == [10.0, 20.0]                       # quantities in SI units
        assert xy[:, 1] == pytest.approx([0.2 + shift, 0.5 + shift])   # the error row is left out
        (bars,) = container.lines[2]
        spans = [seg[1, 1] - seg[0, 1] for seg in bars.get_segments()]
        assert spans == pytest.approx([2 * 0.0707107] * 2, rel=1e-4)    # ± SD (ddof 1) of 2 seeds
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "projections.ctx_ee.connector.p=0.1", "projections.ctx_ee.connector.p=0.3"]
    assert "2 seeds" in ax.get_title()
    with pytest.raises(SweepError, match="no run has this metric.*recall_after"):
        plot_sweep(_rows(), ["protocol.phases.sleep.duration"], "recall_before")


def test_write_table_parquet_when_pyarrow_is_installed(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", exc_type=ImportError)
    rows = _rows()
    files = write_table(rows, tmp_path)
    assert [f.name for f in files] == ["sweep.csv", "sweep.parquet"]
    back = pq.read_table(files[1]).to_pylist()
    cols = list(rows[0]) + ["error"]
    assert back == [{c: r.get(c) for c in cols} for r in rows]


def test_write_table_csv(tmp_path):
    rows = _rows()
    files = write_table(rows, tmp_path)
    assert files[0] == tmp_path / "sweep.csv"
    back = _csv(files[0])
    assert list(back[0]) == list(rows[0]) + ["error"]
    assert back[-1]["status"] == "error" and back[-1]["error"] == "RuntimeError: boom"
    assert back[-1]["recall_after"] == "" and back[0]["error"] == ""
    assert float(back[0]["recall_after"]) == rows[0]["recall_after"]


# ---------------------------------------------------------------- on a Dask cluster


def test_local_cluster_is_one_single_threaded_process_per_core(cluster):
    import dask.system
    from distributed import Client

    with Client(cluster) as client:
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == dask.system.CPU_COUNT
        assert all(w["nthreads"] == 1 for w in workers)
        env = client.run(lambda: (os.getpid(), os.environ.get("OMP_NUM_THREADS"),
                                  os.environ.get("OPENBLAS_NUM_THREADS")))
    pids = {pid for pid, _, _ in env.values()}
    assert len(pids) == len(env) and os.getpid() not in pids
    assert all(omp == "1" and blas == "1" for _, omp, blas in env.values())


def test_sweep_runs_every_point_then_reuses_them(cluster, model_file, tmp_path):
    out = tmp_path / "sweep"
    lines = []
    rows = run_sweep(loads_model(TINY), GRID, [1], out, scheduler=cluster.scheduler_address,
                     backend_options=NUMPY, progress=False, log=lines.append)
    assert [(r["protocol.n_memories"], r["protocol.coding_level"], r["seed"]) for r in rows] == [
        (1, 0.2, 1), (1, 0.25, 1), (2, 0.2, 1), (2, 0.25, 1)]
    assert all(r["status"] == "ran" and r["error"] is None and r["wall_s"] > 0 for r in rows)
    for r in rows:
        res = _results(r["folder"])
        assert res["seed"] == 1
        assert res["overrides"] == [f"protocol.n_memories={r['protocol.n_memories']}",
                                    f"protocol.coding_level={r['protocol.coding_level']}"]
        model = loads_model((Path(r["folder"]) / "model.toml").read_text())
        assert (model.protocol.n_memories, model.protocol.coding_level) == (
            r["protocol.n_memories"], r["protocol.coding_level"])
        flat = flatten_metrics(res["metrics"])
        assert {k: r[k] for k in flat} == flat
        assert "recall.recall_half_cue.mean_false_alarm_rate" in flat
        assert r["recall_half_cue"] == res["metrics"]["recall"]["recall_half_cue"]["mean_overlap"]
    table = _csv(out / "sweep.csv")
    assert [row["folder"] for row in table] == [r["folder"] for r in rows]
    assert list(table[0]) == list(rows[0])
    assert [float(row["recall_half_cue"]) for row in table] == [r["recall_half_cue"] for r in rows]
    assert (out / "sweep-recall_half_cue.png").is_file()
    assert f"table: {out / 'sweep.csv'}" in lines

    # again, from the file, with the grid's keys in the other order: every point is reused
    before = _run_folders(out)
    again = run_sweep(model_file, dict(reversed(GRID.items())), "1", out, progress=False,
                      backend_options=NUMPY)
    assert _run_folders(out) == before
    assert all(r["status"] == "reused" for r in again)
    by_point = {(r["protocol.n_memories"], r["protocol.coding_level"]): r for r in again}
    for r in rows:
        old = by_point[(r["protocol.n_memories"], r["protocol.coding_level"])]
        assert old["folder"] == r["folder"] and old["recall_half_cue"] == r["recall_half_cue"]
        assert old["wall_s"] == _results(r["folder"])["run_wall_time_s"]["total"]
    assert {row["status"] for row in _csv(out / "sweep.csv")} == {"reused"}


def test_cli_sweep_on_a_scheduler_address(cluster, model_file, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["sweep", str(model_file), "--grid", "protocol.n_memories=1,2", "--seeds", "1-2", "--out", str(out),
            "--scheduler", cluster.scheduler_address, "--target", "numpy",
            "--metric", "recall.recall_half_cue.mean_hit_rate"]
    assert cli.main(argv) == 0
    cap = capsys.readouterr()
    assert "4/4" in cap.err                         # the progress bar over completed points
    assert f"table: {out.resolve() / 'sweep.csv'}" in cap.out and "4 runs: 4 ran, 0 reused, 0 failed" in cap.out
    table = _csv(out / "sweep.csv")
    assert [(row["protocol.n_memories"], row["seed"]) for row in table] == [("1", "1"), ("1", "2"), ("2", "1"),
                                                                          ("2", "2")]
    for row in table:
        res = _results(row["folder"])
        assert res["model_file"] == str(model_file.resolve()) and res["backend"]["target"] == "numpy"
        assert res["overrides"] == [f"protocol.n_memories={row['protocol.n_memories']}"]
    assert (out / "sweep-recall.recall_half_cue.mean_hit_rate.png").is_file()

    assert cli.main(argv) == 0                      # rerun: nothing runs
    assert "4 runs: 0 ran, 4 reused, 0 failed" in capsys.readouterr().out
    # a metric no run has: the table is written, the figure refused
    assert cli.main(argv[:-1] + ["nope"]) == 2
    assert "error: --metric nope: no run has this metric" in capsys.readouterr().err


def test_points_with_the_same_model_and_seed_run_once(cluster, model_file, tmp_path):
    out = tmp_path / "same"
    rows = run_sweep(model_file, ["protocol.coding_level=0.2,0.20"], [3], out, scheduler=cluster.scheduler_address,
                     backend_options=NUMPY, progress=False, figure=False)
    assert [r["status"] for r in rows] == ["ran", "ran"]
    assert rows[0]["folder"] == rows[1]["folder"] and len(_run_folders(out)) == 1
    assert not list(out.glob("*.png"))


def test_invalid_grid_exits_2_before_any_job(model_file, tmp_path, capsys):
    out = tmp_path / "never"
    nowhere = "tcp://127.0.0.1:9"     # nothing listens there: connecting would fail, not exit 2
    base = ["sweep", str(model_file), "--out", str(out), "--scheduler", nowhere]
    cases = [
        (["--grid", "protocol.n_memories=2,abc"], "protocol.n_memories: expected an integer, got 'abc'"),
        (["--grid", "protocol.n_memories=2", "--grid", "protocol.coding_level=0.2,0.01"],
         "protocol.coding_level: gives no active neuron"),
        (["--grid", "protocol.nope=1"], "protocol.nope"),
        (["--grid", "protocol.n_memories"], "--grid protocol.n_memories: expected key.path=value1,value2"),
        (["--grid", "protocol.n_memories=1,1"], "value '1' is listed twice"),
        (["--grid", "protocol.n_memories=1", "--seeds", "3-1"], "--seeds 3-1"),
        (["--grid", "protocol.n_memories=1", "--workers", "2"], "--workers applies to the local cluster only"),
    ]
    for extra, message in cases:
        assert cli.main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (extra, err)
        assert "Traceback" not in err
        assert not out.exists()


def test_a_failing_point_is_recorded_and_the_others_run(model_file, tmp_path, capsys):
    out = tmp_path / "fail"
    grid = ["protocol.n_memories=1,2"]
    first = plan_sweep(model_file, grid, [1], out)[0]
    first.folder.parent.mkdir(parents=True)
    first.folder.write_text("a file where the point's folder goes\n")    # its run cannot be written
    argv = ["sweep", str(model_file), "--grid", grid[0], "--seeds", "1", "--out", str(out), "--workers", "1",
            "--target", "numpy"]
    assert cli.main(argv) == 1          # on the local cluster the command starts itself
    cap = capsys.readouterr()
    assert "error: protocol.n_memories=1, seed 1: " in cap.err
    assert "2 runs: 1 ran, 0 reused, 1 failed" in cap.out
    failed, ok = _csv(out / "sweep.csv")
    assert failed["status"] == "error" and failed["folder"] == "" and failed["recall_half_cue"] == ""
    assert "Error" in failed["error"] and str(first.folder) in failed["error"]
    assert ok["status"] == "ran" and _results(ok["folder"])["seed"] == 1 and float(ok["recall_half_cue"]) >= -1


def test_the_sweep_extra_is_declared_and_installed_by_make_venv():
    import re

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "dask[distributed]" in extras["sweep"]
    (line,) = re.findall(r"pip install -e '\.\[([^\]]*)\]'\n\t.*lava-nc", (root / "Makefile").read_text())
    assert "sweep" in line.split(",")
