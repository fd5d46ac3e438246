"""A schema-complete fake search run, written with the store's own writers, for the dashboard's tests.

The numbers are random but consistent: a trial's pooled test accuracy is the n-weighted mean of its folds, a
baseline's pooled row (fold -1) that of its fold rows, ``val_loss`` the mean over folds of the last epoch's curve,
and ``importance.json`` holds importances that sum to 1.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from specs import tiny_experiment

from vixray import store
from vixray.baselines import BASELINES, strongest_baseline

BASELINE_NAMES = BASELINES
METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
MAX_EPOCHS = 4
GRACE_EPOCHS = 2
N_TEST = 40
SPACE: dict[str, dict[str, Any]] = {
    "model.hidden_size": {"type": "categorical", "choices": [16, 32, 64]},
    "model.num_layers": {"type": "int", "low": 1, "high": 2},
    "model.dropout": {"type": "uniform", "low": 0.0, "high": 0.4, "when": {"model.num_layers": [2]}},
    "train.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
    "features.set": {"type": "categorical", "choices": ["seed", "extended"]},
}


def _status(i: int) -> str:
    # every sixth trial from the fifth is pruned, from the sixth errored: a default run has all three kinds
    return {4: "pruned", 5: "errored"}.get(i % 6, "finished")


def _params(rng: np.random.Generator) -> dict[str, Any]:
    layers = int(rng.integers(1, 3))
    return {
        "model.hidden_size": int(rng.choice([16, 32, 64])),
        "model.num_layers": layers,
        "model.dropout": float(rng.uniform(0.0, 0.4)) if layers == 2 else None,
        "train.lr": float(10 ** rng.uniform(-4, -2)),
        "features.set": str(rng.choice(["seed", "extended"])),
    }


def _metrics(rng: np.random.Generator, accuracy: float) -> dict[str, float]:
    return {
        "accuracy": accuracy,
        "balanced_accuracy": float(np.clip(accuracy - rng.uniform(0, 0.05), 0, 1)),
        "macro_f1": float(np.clip(accuracy - rng.uniform(0, 0.08), 0, 1)),
        "log_loss": float(rng.uniform(1.0, 1.2)),
    }


def _manifest(experiment: str, n_trials: int, n_folds: int, seed: int) -> dict[str, Any]:
    start = date(2014, 1, 2)
    folds = []
    for k in range(n_folds):
        test_start = start + timedelta(days=400 + 60 * k)
        folds.append(
            {
                "fold": k,
                "train_start": start.isoformat(),
                "train_end": (test_start - timedelta(days=2)).isoformat(),
                "test_start": test_start.isoformat(),
                "test_end": (test_start + timedelta(days=55)).isoformat(),
                "n_train": 280 + 40 * k,
                "n_test": N_TEST,
            }
        )
    search = {
        "metric": "val_loss",
        "mode": "min",
        "num_samples": n_trials,
        "max_concurrent": 2,
        "seed": seed,
        "resources": {"cpus": 1, "gpus": 0},
        "scheduler": {"max_epochs": MAX_EPOCHS, "grace_period": GRACE_EPOCHS, "reduction_factor": 3},
        "space": SPACE,
    }
    return {
        "status": "finished",
        "started": "2026-01-05T10:00:00+00:00",
        "ended": "2026-01-05T10:20:00+00:00",
        "experiment_config": {"name": experiment, "search": search, "split": {"n_splits": n_folds}},
        "experiment_yaml": f"name: {experiment}\nsplit: {{n_splits: {n_folds}}}\n",
        "data": {
            "source": "synthetic",
            "tickers": ["SPY", "QQQ", "^VIX"],
            "start": "2014-01-02",
            "end": "2018-12-31",
            "rows": 1258,
            "coverage": {},
            "notes": [],
            "fingerprint": f"{seed:064x}",
        },
        "eras": {
            "development": {"start": "2014-01-02", "end": "2017-12-29"},
            "holdout": {"start": "2018-01-02", "end": "2018-12-31"},
        },
        "folds": folds,
        "search": search,
        "seeds": {"search": seed, "train": seed},
        "versions": {"python": "3.11", "vixray": "0.1.0", "polars": pl.__version__},
        "git_commit": None,
        "machine": {"host": "test", "cpus": 2, "gpus": 0, "platform": "linux"},
    }


def _trial_tables(
    rng: np.random.Generator, *, n_trials: int, n_folds: int, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    trial_rows, fold_rows, curve_rows = [], [], []
    for i in range(n_trials):
        trial_id = f"{seed:05x}_{i:05d}"
        status = _status(i)
        params = _params(rng)
        epochs = {"finished": MAX_EPOCHS, "pruned": GRACE_EPOCHS, "errored": 0}[status]
        start_loss = rng.uniform(1.05, 1.15)
        means = []
        for epoch in range(1, epochs + 1):
            vals = []
            for f in range(n_folds):
                val = float(start_loss - 0.01 * epoch + rng.uniform(-0.005, 0.005))
                vals.append(val)
                curve_rows.append(
                    {
                        "trial_id": trial_id,
                        "epoch": epoch,
                        "fold": f,
                        "train_loss": float(start_loss - 0.02 * epoch),
                        "val_loss": val,
                        "val_accuracy": float(rng.uniform(0.3, 0.5)),
                    }
                )
            means.append(float(np.mean(vals)))
        row: dict[str, Any] = {"trial_id": trial_id, "status": status}
        row.update({f"param.{k}": v for k, v in params.items()})
        row["val_loss"] = means[-1] if means else None
        row["val_accuracy"] = float(rng.uniform(0.3, 0.5)) if means else None
        row["best_val_loss"] = min(means) if means else None
        row["best_val_accuracy"] = row["val_accuracy"]
        fold_metrics = []
        if status == "finished":
            for f in range(n_folds):
                m = _metrics(rng, float(rng.integers(12, 22)) / N_TEST)
                fold_metrics.append(m)
                fold_rows.append({"trial_id": trial_id, "fold": f, "n_test": N_TEST, **m})
        for key in METRICS:  # equal n_test per fold, so the pooled value is the plain mean
            row[f"test_{key}"] = float(np.mean([m[key] for m in fold_metrics])) if fold_metrics else None
        for f in range(n_folds):
            row[f"fold{f}_test_accuracy"] = fold_metrics[f]["accuracy"] if fold_metrics else None
        row["epochs"] = epochs
        row["seconds"] = float(rng.uniform(5, 30))
        row["error"] = "RuntimeError: CUDA out of memory" if status == "errored" else None
        trial_rows.append(row)
    return (
        pl.DataFrame(trial_rows, infer_schema_length=None),
        pl.DataFrame(
            fold_rows,
            schema={
                "trial_id": pl.String,
                "fold": pl.Int64,
                "n_test": pl.Int64,
                **dict.fromkeys(METRICS, pl.Float64),
            },
        ),
        pl.DataFrame(curve_rows),
    )


def _baselines(rng: np.random.Generator, *, n_folds: int) -> pl.DataFrame:
    rows = []
    for name in BASELINE_NAMES:
        per_fold = [_metrics(rng, float(rng.integers(10, 20)) / N_TEST) for _ in range(n_folds)]
        if name in ("majority", "persistence"):  # no probabilities
            for m in per_fold:
                m["log_loss"] = None
        for f, m in enumerate(per_fold):
            rows.append({"baseline": name, "fold": f, "n_test": N_TEST, **m})
        pooled = {
            k: (None if per_fold[0][k] is None else float(np.mean([m[k] for m in per_fold]))) for k in METRICS
        }
        rows.append({"baseline": name, "fold": -1, "n_test": N_TEST * n_folds, **pooled})
    return pl.DataFrame(rows, infer_schema_length=None)


def _importance(run: store.Run, rng: np.random.Generator) -> None:
    weights = rng.dirichlet(np.ones(len(SPACE)))
    store.write_json(
        run.path / store.IMPORTANCE,
        {
            "method": "Optuna fANOVA over the finished trials",
            "metric": "val_loss",
            "importances": dict(zip(SPACE, weights.tolist(), strict=True)),
        },
    )


def _block_importance(run: store.Run, rng: np.random.Generator, trial_id: str) -> None:
    def explained(blocks: tuple[str, ...]) -> dict[str, Any]:
        return {
            "accuracy": 0.42,
            "log_loss": 1.05,
            "n_test": N_TEST * 3,
            "blocks": {
                b: {
                    "columns": 3,
                    "accuracy_drop": float(rng.uniform(-0.01, 0.05)),
                    "accuracy_drop_sd": 0.01,
                    "log_loss_rise": float(rng.uniform(-0.01, 0.05)),
                    "log_loss_rise_sd": 0.01,
                }
                for b in blocks
            },
        }

    store.write_json(
        run.path / store.BLOCK_IMPORTANCE,
        {
            "repeats": 5,
            "seed": 0,
            "model": {
                "trial_id": trial_id,
                "feature_set": "extended",
                **explained(("seed", "vix", "realised")),
            },
            "boosting": {"feature_set": "seed", **explained(("seed", "calendar"))},
        },
    )


def _backtest(rng: np.random.Generator, days: list[date]) -> tuple[dict[str, Any], pl.DataFrame]:
    """A backtest block and its curves in the report's schema (the values are random, the shapes consistent)."""
    names = ("model", *BASELINE_NAMES, "buy_and_hold")
    curve_days = [*days, days[-1] + timedelta(days=1)]
    rows, forecasters = [], {}
    for name in names:
        value = np.cumprod(np.concatenate([[1.0], 1 + rng.normal(0, 0.01, len(days))]))
        drawdown = value / np.maximum.accumulate(value) - 1
        rows.append(
            pl.DataFrame({"date": curve_days, "forecaster": name, "value": value, "drawdown": drawdown})
        )
        forecasters[name] = {
            "days": len(days),
            "total_return": float(value[-1] - 1),
            "annual_return": 0.05,
            "volatility": 0.16,
            "sharpe": 0.3,
            "sortino": 0.4,
            "max_drawdown": float(drawdown.min()),
            "turnover": 0.2,
            "exposure": 0.8,
            "hit_rate": 0.52,
        }
    block = {
        "rule": "cash",
        "instrument": "SPY",
        "proxy": False,
        "cost_bps": 1.0,
        "cash_rate": 0.0,
        "first_day": days[0].isoformat(),
        "last_day": curve_days[-1].isoformat(),
        "forecasters": forecasters,
        "cost_sweep": {
            n: {b: {"total_return": 0.1, "sharpe": 0.3} for b in ("0", "1", "5", "10")} for n in names
        },
    }
    return block, pl.concat(rows)


def _evaluation(run: store.Run, rng: np.random.Generator, trial: dict[str, Any], *, seed: int) -> None:
    out = run.new_evaluation_dir()
    n_blocks, per_block = 2, 70
    n = n_blocks * per_block
    days = [date(2018, 1, 2) + timedelta(days=i) for i in range(n)]
    y_true = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.45, y_true, rng.integers(0, 3, n))
    vix = 15 + np.cumsum(rng.normal(0, 0.5, n))
    predictions: dict[str, Any] = {
        "date": days,
        "block": np.repeat(np.arange(n_blocks), per_block),
        "y_true": y_true,
        "p_down": np.full(n, 1 / 3),
        "p_neutral": np.full(n, 1 / 3),
        "p_up": np.full(n, 1 / 3),
        "pred": pred,
        "vix_close": vix,
    }
    for name in BASELINE_NAMES:
        predictions[f"pred_{name}"] = rng.integers(0, 3, n)

    def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
        confusion = np.zeros((3, 3), dtype=int)
        np.add.at(confusion, (y, p), 1)
        return {
            "accuracy": float((y == p).mean()),
            "balanced_accuracy": 0.4,
            "macro_f1": 0.35,
            "log_loss": 1.09,
            "confusion": confusion.tolist(),
        }

    blocks = []
    for b in range(n_blocks):
        rows = slice(b * per_block, (b + 1) * per_block)
        blocks.append(
            {
                "block": b,
                "test_start": days[rows][0].isoformat(),
                "test_end": days[rows][-1].isoformat(),
                "n_test": per_block,
                "model": metrics(y_true[rows], pred[rows]),
                "baselines": {
                    name: metrics(y_true[rows], predictions[f"pred_{name}"][rows]) for name in BASELINE_NAMES
                },
            }
        )
    pooled = {
        "model": metrics(y_true, pred),
        "baselines": {name: metrics(y_true, predictions[f"pred_{name}"]) for name in BASELINE_NAMES},
    }
    k = int((y_true == pred).sum())
    persistence = float((predictions["pred_persistence"] == y_true).mean())
    params = {k_[len("param.") :]: v for k_, v in trial.items() if k_.startswith("param.") and v is not None}
    per_seed = [{"seed": s, **{m: 0.4 + 0.01 * s for m in METRICS}} for s in range(3)]
    report = {
        "eval_id": out.name,
        "run_id": run.run_id,
        "experiment": run.experiment,
        "created": "2026-01-06T09:00:00+00:00",
        "data": {"source": "synthetic", "fingerprint": f"{seed:064x}"},
        "holdout": {"start": days[0].isoformat(), "end": days[-1].isoformat(), "n_rows": n},
        "configs": [
            {
                "rank": 1,
                "trial_id": trial["trial_id"],
                "params": params,
                "seeds": [0, 1, 2],
                "per_seed": per_seed,
                "mean": dict.fromkeys(METRICS, 0.41),
                "sd": dict.fromkeys(METRICS, 0.01),
                "ensemble": metrics(y_true, pred),
            }
        ],
        "blocks": blocks,
        "pooled": pooled,
        "significance": {
            "binomial_vs_chance": {"k": k, "n": n, "p0": 1 / 3, "p_value": 0.012},
            "binomial_vs_majority": {"k": k, "n": n, "p0": 0.38, "p_value": 0.2},
            "mcnemar": {
                name: {"b": 10, "c": 14, "statistic": 0.375, "p_value": 0.54}
                for name in ("majority", "persistence")
            },
            "pesaran_timmermann": {
                "up": {"statistic": 1.2, "p_value": 0.11},
                "down": {"statistic": 0.4, "p_value": 0.34},
            },
            "bootstrap_ci": {"mean": k / n, "low": k / n - 0.08, "high": k / n + 0.08, "level": 0.95},
            "strongest": "persistence",
            "vs_strongest": {
                "n": n,
                "accuracy_a": k / n,
                "accuracy_b": persistence,
                "accuracy_difference": {
                    "mean": k / n - persistence,
                    "low": k / n - persistence - 0.07,
                    "high": k / n - persistence + 0.07,
                    "level": 0.95,
                },
                "mcnemar": {"b": 10, "c": 14, "statistic": 0.375, "p_value": 0.54},
                "log_loss_difference": None,
                "diebold_mariano": None,
            },
        },
        "spa": {
            "benchmark": "persistence",
            "n_models": 1,
            "studentized": True,
            "p_values": {"lower": 0.2, "consistent": 0.3, "upper": 0.4},
        },
        "strongest_baseline": "persistence",
        "strongest_baseline_chosen_on": "the search's development folds",
        "verdict": "The model does not beat the persistence baseline on the holdout (SPA p = 0.30).",
    }
    report["backtest"], curves = _backtest(rng, days)
    store.write_parquet(out / store.BACKTEST_CURVES, curves)
    store.write_json(out / "report.json", report)
    store.write_parquet(out / "predictions.parquet", pl.DataFrame(predictions))
    (out / "report.html").write_text("<!doctype html><title>report</title><h1>Holdout report</h1>\n")


def make_run(
    results_dir: Path,
    *,
    experiment: str = "tiny",
    n_trials: int = 6,
    n_folds: int = 3,
    with_evaluation: bool = True,
    seed: int = 0,
) -> Path:
    """Write a finished run (trials of every status, curves, folds, baselines, importance.json, spa.json,
    block_importance.json, ray/ and, if asked, one evaluation) under ``results_dir/experiment`` and return its directory."""
    rng = np.random.default_rng(seed)
    run = store.create_run(results_dir, experiment, manifest=_manifest(experiment, n_trials, n_folds, seed))
    trials, folds, curves = _trial_tables(rng, n_trials=n_trials, n_folds=n_folds, seed=seed)
    store.write_parquet(run.path / store.TRIALS, trials)
    store.write_parquet(run.path / store.FOLDS, folds)
    store.write_parquet(run.path / store.CURVES, curves)
    baselines = _baselines(rng, n_folds=n_folds)
    store.write_parquet(run.path / store.BASELINES, baselines)
    pooled = baselines.filter(pl.col("fold") == -1)
    strongest = strongest_baseline(dict(zip(pooled["baseline"], pooled["accuracy"], strict=True)))
    run.update_manifest(strongest_baseline=strongest)
    _importance(run, rng)
    n_finished = int((trials["status"] == "finished").sum())
    store.write_json(
        run.path / store.SEARCH_SPA,
        {
            "benchmark": strongest,
            "loss": "zero_one",
            "n_models": n_finished,
            "n_days": N_TEST * n_folds,
            "statistic": 0.8,
            "p_values": {"lower": 0.31, "consistent": 0.42, "upper": 0.5},
            "best_trial": trials.filter(pl.col("status") == "finished")["trial_id"][0],
            "log_loss": None,
        },
    )
    if n_finished:
        _block_importance(
            run, rng, trials.filter(pl.col("status") == "finished").sort("val_loss")["trial_id"][0]
        )
    run.ray_dir.mkdir()
    counts = {s: int((trials["status"] == s).sum()) for s in ("finished", "pruned", "errored", "running")}
    run.update_manifest(counts=counts)
    if with_evaluation:
        finished = trials.filter(pl.col("status") == "finished")
        if not finished.is_empty():
            best = finished.sort("val_loss").row(0, named=True)
            _evaluation(run, rng, best, seed=seed)
    return run.path


def make_real_run(results_dir: Path, *, num_samples: int = 6, evaluate: bool = True) -> Path:
    """A run made by a real tiny search (Ray must be initialised by the caller), evaluated on its holdout."""
    from vixray.config import experiment_from_dict
    from vixray.data import load_prices
    from vixray.holdout import evaluate_run
    from vixray.search import run_search

    experiment = experiment_from_dict(tiny_experiment(num_samples=num_samples))
    summary = run_search(experiment, prices=load_prices("synthetic:3"), results_dir=results_dir)
    if evaluate:
        evaluate_run(summary.run, top=2, seeds=2, n_boot=200)
    return summary.run.path
