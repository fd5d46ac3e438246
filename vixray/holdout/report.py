"""The holdout report: report.json's content, the predictions table and the console summary.

One row per holdout test day in ``predictions.parquet`` (the best config's ensemble with its probabilities, every
baseline's call, the top-K configs' calls, the VIX close); ``report.json`` holds the per-block and pooled scores,
the configs with their per-seed spread, the tests, the SPA and the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from vixray import store
from vixray.crossval import METRIC_KEYS, FoldScores, significance
from vixray.data import Prices, column
from vixray.dataset import Eras
from vixray.holdout.ensemble import ConfigResult
from vixray.holdout.stats import spa_report, verdict


def score_fields(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics a report keeps of one set of scores (per block, pooled, per config)."""
    out = {k: metrics.get(k) for k in METRIC_KEYS}
    out["n"] = int(metrics["n"])
    out["confusion"] = metrics["confusion"]
    return out


def _seed_summary(result: ConfigResult) -> dict[str, Any]:
    per_seed = [
        {"seed": s, **{k: seed_scores.pooled[k] for k in METRIC_KEYS}}
        for s, seed_scores in zip(result.seeds, result.per_seed, strict=True)
    ]
    mean, sd = {}, {}
    for k in METRIC_KEYS:
        values = np.array([row[k] for row in per_seed], dtype=np.float64)
        mean[k] = float(values.mean())
        sd[k] = float(values.std(ddof=1)) if len(values) > 1 else None
    c = result.candidate
    return {
        "rank": c.rank,
        "trial_id": c.trial_id,
        "params": c.params,
        "search_metric": {"name": c.metric, "value": c.metric_value},
        "seeds": result.seeds,
        "epochs_run": result.epochs_run,
        "per_seed": per_seed,
        "mean": mean,
        "sd": sd,
        "ensemble": score_fields(result.ensemble.pooled),
    }


def _blocks(best: ConfigResult, baselines: Mapping[str, FoldScores]) -> list[dict[str, Any]]:
    dates = best.table.dataset.dates
    out = []
    for k, rows in enumerate(best.rows):
        info = best.prepared.fold_info[k]
        out.append(
            {
                "block": k,
                "test_start": dates[int(rows[0])].isoformat(),
                "test_end": dates[int(rows[-1])].isoformat(),
                "n_test": int(len(rows)),
                "train_start": info["train_start"],
                "train_end": info["train_end"],
                "n_train": info["n_train"],
                "model": score_fields(best.ensemble.per_fold[k]),
                "baselines": {name: score_fields(s.per_fold[k]) for name, s in baselines.items()},
            }
        )
    return out


def predictions_frame(
    results: Sequence[ConfigResult], baselines: Mapping[str, FoldScores], prices: Prices, *, target: str
) -> pl.DataFrame:
    """One row per holdout test day: the best config's ensemble, every baseline, the top-K configs' predictions."""
    best = results[0]
    proba = best.proba  # (T, K)
    frame = pl.DataFrame(
        {
            "date": pl.Series(best.dates, dtype=pl.Date),
            "block": np.concatenate([np.full(len(r), k) for k, r in enumerate(best.rows)]).astype(np.int64),
            "y_true": best.ensemble.y_true.astype(np.int64),
            **{f"p_{name}": proba[:, k] for k, name in enumerate(best.ensemble.classes)},
            "pred": best.ensemble.pred.astype(np.int64),
        }
    )
    frame = frame.join(
        prices.frame.select("date", pl.col(column(target, "close")).alias("vix_close")),
        on="date",
        how="left",
        maintain_order="left",
    )
    frame = frame.with_columns(
        pl.Series(f"pred_{name}", s.pred.astype(np.int64)) for name, s in baselines.items()
    )
    for r in results:
        by_date = pl.DataFrame(
            {"date": pl.Series(r.dates, dtype=pl.Date), f"config{r.candidate.rank}_pred": r.ensemble.pred}
        )
        frame = frame.join(by_date, on="date", how="left", maintain_order="left")
    return frame


def build_report(
    *,
    run: store.Run,
    prices: Prices,
    data_changed: bool,
    eras: Eras,
    results: Sequence[ConfigResult],
    baselines: Mapping[str, FoldScores],
    settings: Mapping[str, Any],
    strongest: str,
    strongest_chosen_on: str,
    horizon: int,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    best = results[0]
    tests = significance(
        best.ensemble, baselines, strongest=strongest, horizon=horizon, seed=seed, n_boot=n_boot
    )
    spa = spa_report(results, baselines, strongest, n_boot=n_boot, seed=seed)
    model = best.ensemble.pooled
    beats, sentence = verdict(
        comparison=tests["vs_strongest"], strongest=strongest, spa_p=spa["p_values"]["consistent"]
    )
    dates = best.dates
    table = best.table
    era_days = prices.frame["date"].filter(prices.frame["date"].is_between(*eras.holdout)).to_list()
    tested = set(dates)
    untested = [d.isoformat() for d in era_days if d not in tested]
    return {
        "eval_id": None,  # the folder's name, set when it is written
        "run_id": run.run_id,
        "experiment": run.experiment,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            **prices.describe(),
            "searched_fingerprint": (run.manifest().get("data") or {}).get("fingerprint"),
            "changed": data_changed,
        },
        "eras": eras.to_dict(),
        "classes": list(best.ensemble.classes),
        "holdout": {
            "start": eras.holdout[0].isoformat(),
            "end": eras.holdout[1].isoformat(),
            "n_rows": len(table.dataset) - table.first_holdout,
            "block_size": table.block_size,
            "n_blocks": len(table.folds),
            "test_start": dates[0].isoformat(),
            "test_end": dates[-1].isoformat(),
            "n_test": len(dates),
            # trading days of the era without a test: its last labels.horizon days (no next close to label) and
            # any day a feature of the set cannot be computed on
            "n_days": len(era_days),
            "untested_days": untested,
        },
        "settings": dict(settings),
        "configs": [_seed_summary(r) for r in results],
        "blocks": _blocks(best, baselines),
        "pooled": {
            "model": score_fields(model),
            "baselines": {name: score_fields(s.pooled) for name, s in baselines.items()},
        },
        "significance": tests,
        "spa": spa,
        "strongest_baseline": strongest,
        "strongest_baseline_chosen_on": strongest_chosen_on,
        "beats_strongest_baseline": beats,
        "verdict": sentence,
        "device": best.device,
    }
