"""The whole-search SPA read from a run's own records: the same days for every trial and the benchmark."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from vixray import store
from vixray.metrics import daily_log_loss, spa_test
from vixray.snooping import search_spa

N_DAYS = 120
DAYS = [date(2019, 1, 1) + timedelta(days=i) for i in range(N_DAYS)]


def _calls(y: np.ndarray, right: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """A forecaster's test days: right where ``right``, another class elsewhere, with honest-looking probabilities."""
    pred = np.where(right, y, (y + 1) % 3)
    proba = np.full((len(y), 3), 0.2)
    proba[np.arange(len(y)), pred] = 0.6
    return pl.DataFrame(
        {
            "fold": np.repeat([0, 1], len(y) // 2),
            "date": DAYS[: len(y)],
            "y_true": y,
            "pred": pred,
            "p_down": proba[:, 0],
            "p_neutral": proba[:, 1],
            "p_up": proba[:, 2],
        }
    )


@pytest.fixture
def run(tmp_path) -> tuple[store.Run, dict[str, pl.DataFrame], np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, N_DAYS)
    run = store.create_run(tmp_path, "tiny", manifest={"strongest_baseline": "logistic"})
    calls = {
        "t1": _calls(y, rng.random(N_DAYS) < 0.7, rng),
        "t2": _calls(y, rng.random(N_DAYS) < 0.5, rng),
        "t3": _calls(y, rng.random(N_DAYS) < 0.4, rng),  # pruned: never counted
    }
    for trial_id in ("t1", "t2"):
        run.write_trial_predictions(trial_id, calls[trial_id])
    trials = pl.DataFrame({"trial_id": ["t1", "t2", "t3"], "status": ["finished", "finished", "pruned"]})
    store.write_parquet(run.path / store.TRIALS, trials)
    baselines = pl.concat(
        [
            _calls(y, rng.random(N_DAYS) < 0.45, rng).with_columns(baseline=pl.lit("logistic")),
            _calls(y, rng.random(N_DAYS) < 0.9, rng).with_columns(baseline=pl.lit("stratified")),
        ]
    )
    store.write_parquet(run.path / store.BASELINE_PREDICTIONS, baselines)
    return run, calls, y


def test_every_finished_trial_against_the_strongest_baseline_on_the_same_days(run):
    run, calls, y = run
    got = search_spa(run, n_boot=300, seed=1)
    assert got == run.search_spa()  # written to spa.json
    bench = run.baseline_predictions().filter(pl.col("baseline") == "logistic")
    zero_one = np.column_stack([(calls[t]["pred"].to_numpy() != y) for t in ("t1", "t2")]).astype(float)
    expected = spa_test(zero_one, (bench["pred"].to_numpy() != y).astype(float), n_boot=300, seed=1)
    assert got["p_values"] == expected["p_values"] and got["statistic"] == expected["statistic"]
    assert (got["benchmark"], got["n_models"], got["n_days"], got["best_trial"]) == (
        "logistic",
        2,
        N_DAYS,
        "t1",
    )
    logs = np.column_stack(
        [daily_log_loss(y, calls[t].select("p_down", "p_neutral", "p_up").to_numpy()) for t in ("t1", "t2")]
    )
    bench_log = daily_log_loss(y, bench.select("p_down", "p_neutral", "p_up").to_numpy())
    assert got["log_loss"]["p_values"] == spa_test(logs, bench_log, n_boot=300, seed=1)["p_values"]
    assert got["p_values"]["consistent"] < 0.05  # t1 is right on ~70% of days, the benchmark on ~45%


def test_only_the_days_every_trial_shares_count(run):
    run, calls, _ = run
    run.write_trial_predictions("t2", calls["t2"].filter(pl.col("date") >= DAYS[20]))  # a longer warm-up
    got = search_spa(run, n_boot=50)
    assert got["n_days"] == N_DAYS - 20 and got["first_day"] == DAYS[20].isoformat()


def test_a_benchmark_without_probabilities_gets_the_zero_one_test_only(run):
    run, _, _ = run
    frame = run.baseline_predictions().with_columns(pl.lit(None, dtype=pl.Float64).alias("p_up"))
    store.write_parquet(run.path / store.BASELINE_PREDICTIONS, frame)
    got = search_spa(run, n_boot=50)
    assert got["log_loss"] is None and got["loss"] == "zero_one"


def test_a_run_without_the_records_gets_none(tmp_path):
    old = store.create_run(tmp_path, "old", manifest={})  # a run made before searches recorded these
    assert search_spa(old) is None and not (old.path / store.SEARCH_SPA).exists()
