"""The holdout's inference: the strongest baseline, Hansen's SPA over the top-K ensembles, and the verdict.

A random draw that scores well is luck, not a forecaster worth beating: the strongest baseline is chosen among those
that learn from the training block. The SPA compares the top-K configs' seed ensembles with it day by day, which
corrects for having picked the best of K; the verdict asks for higher accuracy, McNemar p < ALPHA and SPA p < ALPHA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vixray.crossval import FoldScores
from vixray.holdout.ensemble import ConfigResult
from vixray.metrics import daily_log_loss, spa_test

ALPHA = 0.05
RANDOM_BASELINES = ("random", "stratified")


def pvalue_text(p: float | None) -> str:
    """A p-value for prose: ``n/a``, ``< 0.0001`` or two significant digits."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def strongest_baseline(baselines: Mapping[str, FoldScores]) -> str:
    """The non-random baseline with the highest pooled accuracy (the first listed on a tie)."""
    candidates = [name for name in baselines if name not in RANDOM_BASELINES] or list(baselines)
    if not candidates:
        raise ValueError("no baseline was scored: the report compares the model with the baselines")
    return max(candidates, key=lambda name: baselines[name].pooled["accuracy"])


def _aligned_losses(
    results: Sequence[ConfigResult], benchmark: FoldScores
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """Per-day 0/1 and log losses of every config's ensemble and of the benchmark on the days all of them have.

    The benchmark is scored on the best config's rows; another feature set can in principle drop a day, so the
    configs are matched by date.
    """
    best_dates = results[0].dates
    keep = set(best_dates)
    for r in results[1:]:
        keep &= set(r.dates)
    mask = np.array([d in keep for d in best_dates])  # (T_best,)
    zero_one, logs = [], []
    for r in results:
        pos = {d: i for i, d in enumerate(r.dates)}
        idx = np.array([pos[d] for d in np.array(best_dates, dtype=object)[mask]], dtype=np.int64)
        y, pred, proba = r.ensemble.y_true[idx], r.ensemble.pred[idx], r.proba[idx]
        zero_one.append((pred != y).astype(np.float64))
        logs.append(daily_log_loss(y, proba))
    y_b = benchmark.y_true[mask]
    bench01 = (benchmark.pred[mask] != y_b).astype(np.float64)  # (T,)
    bench_log = daily_log_loss(y_b, benchmark.proba[mask]) if benchmark.proba is not None else None
    return (
        np.column_stack(zero_one),  # (T, K)
        bench01,
        np.column_stack(logs) if bench_log is not None else None,
        bench_log,
        int(len(best_dates) - mask.sum()),
    )


def spa_report(
    results: Sequence[ConfigResult],
    baselines: Mapping[str, FoldScores],
    strongest: str,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Hansen's SPA of the top-K ensembles against the strongest baseline on per-day 0/1 loss (and log loss where
    the baseline gives probabilities)."""
    models01, bench01, models_log, bench_log, dropped = _aligned_losses(results, baselines[strongest])
    test = spa_test(models01, bench01, n_boot=n_boot, seed=seed)
    out: dict[str, Any] = {
        "benchmark": strongest,
        "n_models": test["n_models"],
        "models": [r.candidate.trial_id for r in results],
        "loss": "zero_one",
        "n_days": int(len(bench01)),
        "days_dropped": dropped,
        "p_values": test["p_values"],
        "block_length": test["block_length"],
        "n_boot": int(n_boot),
        "log_loss": None,
    }
    if models_log is not None and bench_log is not None:
        test_log = spa_test(models_log, bench_log, n_boot=n_boot, seed=seed)
        out["log_loss"] = {"p_values": test_log["p_values"], "block_length": test_log["block_length"]}
    return out


def verdict(
    *,
    accuracy: float,
    n_days: int,
    strongest: str,
    strongest_accuracy: float,
    mcnemar_p: float,
    spa_p: float,
) -> tuple[bool, str]:
    """Beat = higher accuracy AND McNemar p < 0.05 AND SPA consistent p < 0.05; one plain sentence either way."""
    beats = accuracy > strongest_accuracy and mcnemar_p < ALPHA and spa_p < ALPHA
    return beats, (
        f"The best config {'beats' if beats else 'does not beat'} the strongest baseline ({strongest}, "
        f"{strongest_accuracy:.1%}) out of sample: {accuracy:.1%} on {n_days} holdout days, "
        f"McNemar p = {pvalue_text(mcnemar_p)}, SPA p = {pvalue_text(spa_p)}."
    )
