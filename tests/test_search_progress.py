"""The quiet console: the progress line counts trials by how they end, Ray's noise stays off the console but not out
of the log, and Ray's own output goes to the run's ray.log."""

from __future__ import annotations

import io
import logging
import pickle
import sys
from types import SimpleNamespace

from vixray import store
from vixray.search.progress import ProgressLine, RayNoise, quiet_console
from vixray.search.trainable import DECIDED


def _trial(trial_id: str, error: str | None = None, tmp_path=None):
    error_file = None
    if error is not None:
        error_file = tmp_path / f"{trial_id}.txt"
        error_file.write_text(f"Traceback...\nValueError: {error}\n")
    return SimpleNamespace(trial_id=trial_id, config={}, error_file=str(error_file) if error_file else None)


def test_the_line_counts_each_way_a_trial_ends_and_tracks_the_best(tmp_path, monkeypatch):
    monkeypatch.delenv("VIXRAY_VERBOSE", raising=False)
    out = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", out)
    run = store.create_run(tmp_path, "tiny", manifest={"status": "running"})
    line = ProgressLine(run.path, total=4, metric="val_loss", mode="min")
    pickle.dumps(line)  # Ray pickles its callbacks with the search: the line must survive it
    a, b, c, d = (_trial(t) for t in "abcd")
    for t in (a, b, c, d):
        line.on_trial_start(0, [], t)
    line.on_trial_result(0, [], a, {"val_loss": 0.9, "test_accuracy": 0.5})
    line.on_trial_complete(0, [], a)  # finished: it reported test scores
    line.on_trial_result(0, [], b, {"val_loss": 0.8})
    line.on_trial_complete(0, [], b)  # pruned: stopped without them, but its metric is the best so far
    line.on_trial_error(0, [], _trial("c", "seq_len too long", tmp_path))
    line.on_trial_result(0, [], d, {"val_loss": 0.1, DECIDED: True})  # a replay from before a restart
    line.on_trial_complete(0, [], d)
    assert line.counts == {"finished": 1, "pruned": 1, "errored": 1} and not line.running - {"d"}
    assert line.best == (0.8, "b")  # the replayed 0.1 was counted before the restart, not now
    line.on_experiment_end([])
    shown = out.getvalue()
    assert "trial c errored: ValueError: seq_len too long" in shown
    assert "1 finished, 1 pruned, 1 errored" in shown and "best val_loss 0.8000 (b)" in shown
    pickle.dumps(line)


def test_the_line_starts_from_what_the_store_already_holds(tmp_path, monkeypatch):
    monkeypatch.delenv("VIXRAY_VERBOSE", raising=False)
    monkeypatch.setattr(sys, "__stderr__", io.StringIO())
    run = store.create_run(tmp_path, "tiny", manifest={"status": "running"})
    import polars as pl

    store.write_parquet(
        run.path / store.TRIALS, pl.DataFrame({"trial_id": ["x", "y"], "status": ["finished", "pruned"]})
    )
    line = ProgressLine(run.path, total=5, metric="val_loss", mode="min")
    line.on_trial_start(0, [], _trial("z"))
    assert line.counts == {"finished": 1, "pruned": 1, "errored": 0} and line._bar.n == 2


def test_verbose_leaves_the_console_to_ray(tmp_path, monkeypatch):
    monkeypatch.setenv("VIXRAY_VERBOSE", "1")
    line = ProgressLine(tmp_path, total=2, metric="val_loss", mode="min")
    line.on_trial_start(0, [], _trial("a"))
    assert line._bar is None


def test_ray_noise_stays_off_the_console_and_everything_reaches_the_log(tmp_path, capsys):
    ray_logger = logging.getLogger("ray")
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(RayNoise())
    ray_logger.addHandler(console)
    log = tmp_path / store.RAY_LOG
    try:
        with quiet_console(log, verbose=False):
            ray_logger.warning("Token authentication is enabled for this Ray cluster.")
            ray_logger.warning("a trial could not be placed")
            print("╭── a Ray table ──╮")
    finally:
        ray_logger.removeHandler(console)
    shown = capsys.readouterr()
    assert "Token authentication" not in shown.err and "a trial could not be placed" in shown.err
    assert "a Ray table" not in shown.out
    text = log.read_text()
    assert "Token authentication" in text and "a trial could not be placed" in text and "a Ray table" in text
