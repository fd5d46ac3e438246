"""Data-snooping control over a whole search: is the best of N trials better than the yardstick, after trying N?

A search reports its best trial on the development folds, and the best of many trials on the same days is flattered
by the choice itself. Hansen's studentized SPA (:func:`vixray.metrics.spa_test`) of EVERY finished trial against the
strongest baseline, on the days all of them were tested, corrects for that choice: a small p-value says at least one
trial has a lower expected loss than the baseline, given that N were tried. It corrects for the trials of this search
only; earlier searches, feature sets tried by hand and the choice of the yardstick itself are not counted. The loss is
0/1 (accuracy, the headline), and log loss where the baseline gives probabilities.

The inputs are the run's own records (each finished trial's test days under ``predictions/``, the baselines' under
``baseline_predictions.parquet``, the strongest baseline in the manifest), so the test runs again on a resumed or an
old run the same way; the result is ``spa.json``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from vixray import store
from vixray.metrics import DEFAULT_N_BOOT, daily_log_loss, spa_test

log = logging.getLogger(__name__)


def _proba_columns(frame: pl.DataFrame) -> list[str]:
    """The class-probability columns ``p_<class>`` of a stored table, in class order (two or three classes)."""
    return [c for c in frame.columns if c.startswith("p_") and ":" not in c]


def _days(run: store.Run) -> tuple[str, list[str], pl.DataFrame] | None:
    """The benchmark, the finished trials and one row per day every one of them and the benchmark was tested on:
    the truth, the benchmark's call and probabilities, and each trial's as ``<column>:<trial id>``."""
    benchmark = run.manifest().get("strongest_baseline")
    trials, baselines = run.trials(), run.baseline_predictions()
    if benchmark is None or trials is None or baselines is None:
        return None
    finished = trials.filter(pl.col("status") == "finished")["trial_id"].to_list()
    calls = run.trial_predictions(finished)
    if calls is None or calls.is_empty():
        return None
    ids = sorted(calls["trial_id"].unique().to_list())
    proba = _proba_columns(baselines)
    table = baselines.filter(pl.col("baseline") == benchmark).select("date", "y_true", "pred", *proba)
    for column in ("pred", *proba):
        wide = calls.pivot(on="trial_id", index="date", values=column).select(
            "date", *(pl.col(i).alias(f"{column}:{i}") for i in ids)
        )
        table = table.join(wide, on="date", how="inner")
    # a feature set with a longer warm-up starts later: keep the days every trial has
    table = table.drop_nulls([f"pred:{i}" for i in ids]).sort("date")
    return (benchmark, ids, table) if table.height else None


def search_spa(run: store.Run, *, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict[str, Any] | None:
    """The SPA of the run's finished trials against its strongest development baseline, written to spa.json, or
    None when the run lacks what it needs (no finished trial, no stored days, an old run without a benchmark)."""
    found = _days(run)
    if found is None:
        return None
    benchmark, ids, table = found
    y = table["y_true"].to_numpy()  # (T,)
    pred = table.select(f"pred:{i}" for i in ids).to_numpy()  # (T, K)
    test = spa_test(
        (pred != y[:, None]).astype(np.float64),
        (table["pred"].to_numpy() != y).astype(np.float64),
        n_boot=n_boot,
        seed=seed,
    )
    out: dict[str, Any] = {
        "benchmark": benchmark,
        "loss": "zero_one",
        "n_models": test["n_models"],
        "n_days": test["n_days"],
        "first_day": table["date"][0].isoformat(),
        "last_day": table["date"][-1].isoformat(),
        "statistic": test["statistic"],
        "p_values": test["p_values"],
        "block_length": test["block_length"],
        "n_boot": test["n_boot"],
        "best_trial": ids[test["best_model"]],
        "log_loss": None,
    }
    proba = _proba_columns(table)
    bench_proba = table.select(proba).to_numpy()  # (T, classes)
    if np.isfinite(bench_proba).all():
        logs = np.column_stack(
            [daily_log_loss(y, table.select(f"{c}:{i}" for c in proba).to_numpy()) for i in ids]
        )  # (T, K)
        test_log = spa_test(logs, daily_log_loss(y, bench_proba), n_boot=n_boot, seed=seed)
        out["log_loss"] = {
            "statistic": test_log["statistic"],
            "p_values": test_log["p_values"],
            "best_trial": ids[test_log["best_model"]],
        }
    store.write_json(run.path / store.SEARCH_SPA, out)
    log.debug(
        "best of %d trials vs %s on %d development days: SPA p = %.3f",
        out["n_models"],
        benchmark,
        out["n_days"],
        out["p_values"]["consistent"],
    )
    return out
