"""The store callback: a running trial's rows rewritten while it runs, an ended trial's appended once (O(1) per
trial), parts compacted into the tables, readers seeing one merged table throughout, a restart keeping what ended."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vixray import store
from vixray.crossval import METRIC_KEYS
from vixray.search.records import StoreCallback


def _trial(trial_id, *, failures=0):
    return SimpleNamespace(
        trial_id=trial_id, config={"train.lr": 0.01}, num_failures=failures, error_file=None
    )


def _report(epoch, *, finished=False):
    out = {"epoch": epoch, "val_loss": 1.0 / epoch, "val_accuracy": 0.4, "train_loss": 1.0, "node_id": "n"}
    out |= {
        "fold0_train_loss": 1.0,
        "fold0_val_loss": 1.0 / epoch,
        "fold0_val_accuracy": 0.4,
        "time_total_s": 2.0,
    }
    if finished:
        out |= {f"test_{k}": 0.5 for k in METRIC_KEYS} | {f"fold0_test_{k}": 0.5 for k in METRIC_KEYS}
        out |= {"fold0_n_test": 10, "fold0_test_confusion": [[1, 2], [3, 4]]}
    return out


def _finish(callback, trial_id, *, epochs=2):
    trial = _trial(trial_id)
    callback.on_trial_start(0, [], trial)
    for epoch in range(1, epochs + 1):
        callback.on_trial_result(0, [], trial, _report(epoch, finished=epoch == epochs))
    callback.on_trial_complete(0, [], trial)


@pytest.fixture
def run(tmp_path):
    return store.create_run(tmp_path, "tiny", manifest={"status": "running"})


@pytest.fixture
def written(monkeypatch):
    """Every table write: (file name, rows)."""
    rows: list[tuple[str, int]] = []
    real = store.write_parquet

    def counting(path, frame):
        rows.append((path.name, frame.height))
        real(path, frame)

    monkeypatch.setattr(store, "write_parquet", counting)
    return rows


def test_an_ended_trial_is_written_once_and_the_work_per_trial_does_not_grow(run, written):
    callback = StoreCallback(run.path, n_folds=1, flush_seconds=0.0)
    per_trial = []
    for i in range(200):
        before = sum(n for _, n in written)
        _finish(callback, f"t{i:03d}")
        per_trial.append(sum(n for _, n in written) - before)
    compactions = [i for i, n in enumerate(per_trial) if n > per_trial[0]]
    assert compactions == [63, 127], (
        per_trial
    )  # when the parts hold as many trials as the tables (at least 64)
    # each row written about 2 + log2 times on average, not once per trial that ends after it
    assert sum(per_trial) < 4 * 200 * per_trial[0]
    ended = [name for name, _ in written if not name.startswith(store.LIVE_PART)]
    assert sum("-t000." in name for name in ended) == len(store.TRIAL_TABLES)  # its three parts, once
    trials = run.trials()
    assert (
        trials.height == 200
        and trials["trial_id"].n_unique() == 200
        and set(trials["status"]) == {"finished"}
    )
    assert run.folds().height == 200 and run.curves().height == 400


def test_readers_merge_the_tables_the_running_part_and_the_ended_parts(run):
    callback = StoreCallback(run.path, n_folds=1, flush_seconds=0.0)
    for i in range(3):
        _finish(callback, f"done{i}")
    running = _trial("running")
    callback.on_trial_start(0, [], running)
    callback.on_trial_result(0, [], running, _report(1))
    assert not (run.path / store.TRIALS).exists()  # nothing compacted yet: all of it is in parts
    statuses = dict(run.trials().select("trial_id", "status").iter_rows())
    assert statuses == {"done0": "finished", "done1": "finished", "done2": "finished", "running": "running"}
    callback.compact()
    assert not run.ended_parts(store.TRIALS) and (run.path / store.TRIALS).is_file()
    assert dict(run.trials().select("trial_id", "status").iter_rows()) == statuses
    callback.on_trial_result(0, [], running, _report(2, finished=True))
    callback.on_trial_complete(0, [], running)
    # the compacted table still holds the trial as running; its ended part is newer and wins
    assert run.trials().filter(trial_id="running")["status"].item() == "finished"
    assert run.curves().filter(trial_id="running").height == 2
    callback.on_experiment_end([])
    assert not list((run.path / store.PARTS_DIR).iterdir())
    assert run.trials().height == 4 and run.curves().height == 8


def test_a_restarted_callback_keeps_what_ended_and_ignores_its_replays(run):
    first = StoreCallback(run.path, n_folds=1, flush_seconds=0.0)
    _finish(first, "done")
    half = _trial("half")
    first.on_trial_start(0, [], half)
    first.on_trial_result(0, [], half, _report(1))
    # the driver dies here: no compaction; a resumed search starts a new callback on the same run
    second = StoreCallback(run.path, n_folds=1, flush_seconds=0.0)
    replay = _trial("done")
    second.on_trial_result(0, [], replay, {**_report(5, finished=True), "decided_before_restore": True})
    second.on_trial_complete(0, [], replay)
    second.on_trial_recover(0, [], _trial("half", failures=1))
    second.on_trial_result(0, [], half, _report(2, finished=True))
    second.on_trial_complete(0, [], half)
    second.on_experiment_end([])
    rows = {r["trial_id"]: r for r in run.trials().iter_rows(named=True)}
    assert rows["done"]["epochs"] == 2 and rows["done"]["status"] == "finished"  # the replay rewrote nothing
    assert rows["half"]["status"] == "finished" and rows["half"]["failures"] == 1
    assert run.curves().filter(trial_id="half")["epoch"].to_list() == [1, 2]
