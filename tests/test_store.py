from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from vixray import store


def make_run(tmp_path, experiment="exp", **manifest):
    return store.create_run(tmp_path, experiment, manifest={"status": "running", **manifest})


def test_run_ids_sort_by_time_and_differ():
    early = store.new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = store.new_run_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert early.startswith("20260102-030405-") and early < late
    assert len({store.new_run_id() for _ in range(20)}) == 20


def test_create_run_never_reuses_a_directory(tmp_path):
    a, b = make_run(tmp_path), make_run(tmp_path)
    assert a.path != b.path and a.path.parent == b.path.parent == (tmp_path / "exp").resolve()
    assert a.manifest()["run_id"] == a.run_id and a.manifest()["experiment"] == "exp"


def test_atomic_write_leaves_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "x.json"
    store.write_json(target, {"a": 1})

    def broken(path):
        path.write_text('{"half": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store.write_atomic(target, broken)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary left behind


def test_tables_are_none_until_written_then_read_back(tmp_path):
    run = make_run(tmp_path)
    assert run.trials() is None and run.curves() is None
    frame = pl.DataFrame({"trial_id": ["a"], "status": ["finished"], "val_loss": [0.9]})
    store.write_parquet(run.path / store.TRIALS, frame)
    assert run.trials().equals(frame)


def test_a_reader_racing_the_writer_sees_one_whole_version(tmp_path):
    # the dashboard and a test's poll read trials.parquet while the search replaces it every few seconds
    path = tmp_path / "t.parquet"
    versions = [pl.DataFrame({"a": list(range(n)), "b": [str(i) * 3 for i in range(n)]}) for n in (50, 900)]
    store.write_parquet(path, versions[0])
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            store.write_parquet(path, versions[i % 2])
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        heights = {store.read_parquet(path).height for _ in range(1500)}
    finally:
        stop.set()
        thread.join()
    assert heights <= {50, 900}


def test_list_and_load_runs(tmp_path):
    first = make_run(tmp_path, "alpha")
    second = make_run(tmp_path, "beta")
    (tmp_path / "beta" / "broken-run").mkdir()
    (tmp_path / "beta" / "broken-run" / store.MANIFEST).write_text("{not json")
    runs = store.list_runs(tmp_path)
    assert {r.run_id for r in runs} == {first.run_id, second.run_id, "broken-run"}
    broken = next(r for r in runs if r.run_id == "broken-run")
    assert broken.status == "malformed" and "not valid JSON" in broken.problem
    assert store.load_run(tmp_path, "latest", experiment="alpha").path == first.path
    assert store.load_run(tmp_path, first.run_id).path == first.path


def test_load_run_errors_list_what_exists(tmp_path):
    with pytest.raises(store.RunNotFoundError, match=r"no runs in .*; run `make tune` first"):
        store.load_run(tmp_path)
    run = make_run(tmp_path, "alpha")
    with pytest.raises(store.RunNotFoundError, match=rf"run 'nope' not found .*alpha/{run.run_id}"):
        store.load_run(tmp_path, "nope")
    with pytest.raises(
        store.RunNotFoundError, match=r"no runs for experiment 'beta'.*experiments with runs: \['alpha'\]"
    ):
        store.load_run(tmp_path, experiment="beta")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200, "..", "a\\b"])
def test_ids_cannot_escape_the_store(bad):
    with pytest.raises(ValueError, match="is not valid: use letters"):
        store.check_id(bad)


def test_best_trials_by_manifest_metric(tmp_path):
    run = make_run(tmp_path, search={"metric": "val_loss", "mode": "min"})
    frame = pl.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d"],
            "status": ["finished", "pruned", "errored", "finished"],
            "val_loss": [0.95, 0.90, None, 0.99],
        }
    )
    store.write_parquet(run.path / store.TRIALS, frame)
    # "b" has the lowest val_loss but ASHA pruned it at a rung: only finished trials rank
    assert store.best_trials(run, k=3)["trial_id"].to_list() == ["a", "d"]
    assert store.best_trials(run, k=1, metric="val_loss", mode="max")["trial_id"].to_list() == ["d"]
    with pytest.raises(ValueError, match=r"k = 0: ask for at least one trial"):
        store.best_trials(run, k=0)
    with pytest.raises(ValueError, match=r"metric 'nope' is not a trials column"):
        store.best_trials(run, metric="nope")


@pytest.mark.parametrize("mode", ["min", "max"])
def test_a_nan_metric_never_ranks_best(tmp_path, mode):
    run = make_run(tmp_path, search={"metric": "val_accuracy", "mode": mode})
    frame = pl.DataFrame(
        {"trial_id": ["a", "b", "c"], "status": ["finished"] * 3, "val_accuracy": [0.55, float("nan"), 0.52]}
    )
    store.write_parquet(run.path / store.TRIALS, frame)
    assert store.best_trials(run, k=3)["trial_id"].to_list() == (["a", "c"] if mode == "max" else ["c", "a"])


def test_best_trials_without_finished_trials(tmp_path):
    run = make_run(tmp_path, search={"metric": "val_loss", "mode": "min"})
    with pytest.raises(ValueError, match=r"has no trials yet"):
        store.best_trials(run)
    store.write_parquet(
        run.path / store.TRIALS,
        pl.DataFrame(
            {"trial_id": ["a"], "status": ["errored"], "val_loss": [None]},
            schema={"trial_id": pl.String, "status": pl.String, "val_loss": pl.Float64},
        ),
    )
    with pytest.raises(ValueError, match=r"has no finished trial with a value for 'val_loss'"):
        store.best_trials(run)


def test_evaluation_dirs_are_new_each_time(tmp_path):
    run = make_run(tmp_path)
    a, b = run.new_evaluation_dir(), run.new_evaluation_dir()
    assert a != b and a.parent == b.parent == run.path / store.EVALUATION_DIR
    assert run.evaluations() == []  # listed only once their report exists
    store.write_json(a / "report.json", {})
    assert run.evaluations() == [a]


def test_update_manifest_keeps_other_fields(tmp_path):
    run = make_run(tmp_path, data={"source": "sample"})
    run.update_manifest(status="finished", counts={"finished": 3})
    manifest = run.manifest()
    assert manifest["status"] == "finished" and manifest["data"] == {"source": "sample"}


def test_param_columns_and_trial_params():
    assert store.param_column("train.lr") == "param.train.lr"
    row = {
        "trial_id": "a",
        "param.train.lr": np.float64(0.01),
        "param.model.dropout": None,  # a conditional parameter the trial did not sample
        "param.model.hidden_size": np.int64(8),
        "val_loss": 0.9,
    }
    params = store.trial_params(row)
    assert params == {"train.lr": 0.01, "model.hidden_size": 8}
    assert type(params["train.lr"]) is float and type(params["model.hidden_size"]) is int
