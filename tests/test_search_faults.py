"""A search under faults: every trial erroring, a results write failing (a full disk), a damaged Ray state, a
finished run resumed, a second driver, a folder nothing can be written to. Each keeps the store's trials and
leaves a true status; none starts a search over."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time

import pytest
import yaml
from specs import tiny_experiment

from vixray import store
from vixray.cli import main
from vixray.config import experiment_from_dict
from vixray.data import load_prices
from vixray.search import resume_search, run_search


@pytest.fixture(scope="module")
def prices():
    return load_prices("synthetic:3")


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory, prices):
    """A small finished search, shared by the tests that only read it or copy it."""
    experiment = experiment_from_dict(tiny_experiment(num_samples=3, max_epochs=2))
    return run_search(experiment, prices=prices, results_dir=tmp_path_factory.mktemp("results")).run


def _snapshot(run: store.Run) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_a_search_whose_every_trial_errored_ends_failed_and_says_why(ray_session, tmp_path, prices):
    # a window longer than the whole era: every trial fails when its windows are built
    space = {"model.seq_len": {"type": "categorical", "choices": [5000]}}
    experiment = experiment_from_dict(tiny_experiment(num_samples=2, space=space, max_epochs=2))
    summary = run_search(experiment, prices=prices, results_dir=tmp_path)
    assert summary.status == "failed" and summary.run.manifest()["status"] == "failed"
    assert summary.counts["errored"] == 2 and "seq_len" in (summary.first_error or "")
    from vixray.console import next_step

    assert next_step(summary).startswith("failed: every trial errored (first error: ")


def test_a_failed_results_write_fails_the_search_with_one_line(ray_session, tmp_path, prices, monkeypatch):
    writes = {"n": 0}
    real = store.tempfile.mkstemp

    def filling_up(*args, **kwargs):
        if kwargs.get("prefix", "").endswith(f"{store.TRIALS}."):  # the table, or any of its parts
            writes["n"] += 1
            if writes["n"] > 1:  # the disk fills up after the first trials table
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(store.tempfile, "mkstemp", filling_up)
    experiment = experiment_from_dict(tiny_experiment(num_samples=4, max_epochs=3))
    with pytest.raises(store.StoreWriteError) as caught:
        run_search(experiment, prices=prices, results_dir=tmp_path)
    message = caught.value.strerror
    assert "could not write" in message and store.TRIALS in message and "MiB free there" in message
    (run_dir,) = (tmp_path / "tiny").iterdir()
    run = store.Run(run_dir)
    assert run.manifest()["status"] == "failed"  # true: not "finished", not "running"
    assert run.trials() is not None  # the first table, written before the disk filled up, is intact


def test_a_damaged_ray_state_is_refused_and_the_store_kept(finished, tmp_path):
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished.path), str(copy)], check=True)
    run = store.Run(copy)
    run.update_manifest(status="interrupted")
    state = sorted(run.ray_dir.glob("experiment_state-*.json"))[-1]
    state.write_text(state.read_text()[: len(state.read_text()) // 2])  # cut short, as by a full disk
    before = _snapshot(run)
    with pytest.raises(
        ValueError, match=r"cannot be resumed: Ray's experiment state in .* is damaged .* unreadable"
    ):
        resume_search(run)
    assert _snapshot(run) == before  # the store's trials, status and all, as they were


def test_a_finished_run_is_left_untouched_by_a_resume(finished):
    before = _snapshot(finished)
    summary = resume_search(finished)
    assert summary.status == "finished" and summary.counts["finished"] + summary.counts["pruned"] == 3
    assert _snapshot(finished) == before  # node ids and all


LOCKER = """
import sys, time
from vixray import store
from pathlib import Path
with store.lock_run(store.Run(Path(sys.argv[1])), action="search"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_driver_is_refused_with_who_holds_the_run(finished, caplog):
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(finished.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        finished.update_manifest(status="interrupted")
        with pytest.raises(store.RunLockedError, match=rf"already being searched by pid {holder.pid} on "):
            resume_search(finished)
        results = finished.path.parent.parent
        assert main(["tune", "--resume", finished.run_id, "--results", str(results)]) == 2
        assert f"pid {holder.pid}" in caplog.text and "wait for it to end" in caplog.text
    finally:
        holder.kill()
        holder.wait()
        finished.update_manifest(status="finished")
    # the holder died: its lock went with it, so nothing stale blocks the run
    with store.lock_run(finished, action="resume"):
        owner = json.loads((finished.path / store.LOCK_OWNER).read_text())
        assert owner["action"] == "resume"


def test_a_results_folder_nothing_can_be_written_to_is_refused_before_anything_starts(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_experiment(num_samples=2, max_epochs=1)))
    started = time.monotonic()
    assert main(["tune", "--experiment", str(spec), "--results", str(blocker / "results")]) == 2
    assert "--results" in caplog.text and "is not writable" in caplog.text
    assert time.monotonic() - started < 60 and "Traceback" not in caplog.text


def test_resume_latest_stays_within_the_named_experiment(tmp_path, caplog):
    from runs import make_run

    make_run(tmp_path, experiment="alpha", n_trials=2, with_evaluation=False)
    make_run(
        tmp_path, experiment="beta", n_trials=2, with_evaluation=False
    )  # the newest run of any experiment
    with caplog.at_level("INFO"):
        assert (
            main(
                [
                    "tune",
                    "--resume",
                    "latest",
                    "--experiment",
                    "experiments/alpha.yaml",
                    "--results",
                    str(tmp_path),
                ]
            )
            == 0
        )
    assert "resuming alpha/" in caplog.text and "resuming beta/" not in caplog.text
    assert "is finished: nothing to resume" in caplog.text


def test_evaluate_refuses_a_partial_search_unless_told(tmp_path, caplog):
    from runs import make_run

    run = store.Run(make_run(tmp_path, n_trials=3, with_evaluation=False))
    run.update_manifest(status="interrupted")
    assert main(["evaluate", "--results", str(tmp_path), "--no-progress"]) == 2
    assert "is interrupted, not finished" in caplog.text and "--allow-partial" in caplog.text
    assert not (run.path / store.EVALUATION_DIR).exists() or not any(
        (run.path / store.EVALUATION_DIR).iterdir()
    )


def test_a_trial_ray_never_knew_after_a_restart_is_not_left_running(tmp_path):
    from types import SimpleNamespace

    from vixray.search.records import LOST, StoreCallback

    run = store.create_run(tmp_path, "tiny", manifest={"status": "running"})
    callback = StoreCallback(run.path, n_folds=1)
    for trial_id in ("known", "lost"):
        callback.on_trial_start(0, [], SimpleNamespace(trial_id=trial_id, config={"train.lr": 0.01}))
    callback.on_experiment_end([SimpleNamespace(trial_id="known")])
    rows = {r["trial_id"]: r for r in run.trials().iter_rows(named=True)}
    assert rows["lost"]["status"] == "errored" and rows["lost"]["error"] == LOST
    assert rows["known"]["status"] == "running"  # Ray still knows it: not this callback's to decide
