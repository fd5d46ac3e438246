"""The holdout's inference: Hansen's studentized SPA over the top-K ensembles, and the verdict.

The yardstick is the strongest baseline of the DEVELOPMENT era (the search records it; :mod:`~vixray.holdout.select`),
never the one that happens to score best on the holdout. The SPA compares the top-K configs' seed ensembles with it
day by day, which corrects for having picked the best of K; the verdict asks for a positive paired accuracy difference,
McNemar p < ALPHA and SPA p < ALPHA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vixray.crossval import FoldScores
from vixray.holdout.ensemble import ConfigResult
from vixray.metrics import daily_log_loss, spa_test
from vixray.prose import pvalue_text

ALPHA = 0.05


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
    """Hansen's studentized SPA of the top-K ensembles against the strongest baseline on per-day 0/1 loss (and log
    loss where the baseline gives probabilities): corrects for having re-trained K configs and reported the best."""
    models01, bench01, models_log, bench_log, dropped = _aligned_losses(results, baselines[strongest])
    test = spa_test(models01, bench01, n_boot=n_boot, seed=seed)
    out: dict[str, Any] = {
        "benchmark": strongest,
        "n_models": test["n_models"],
        "models": [r.candidate.trial_id for r in results],
        "loss": "zero_one",
        "n_days": int(len(bench01)),
        "days_dropped": dropped,
        "statistic": test["statistic"],
        "p_values": test["p_values"],
        "studentized": test["studentized"],
        "block_length": test["block_length"],
        "n_boot": int(n_boot),
        "log_loss": None,
    }
    if models_log is not None and bench_log is not None:
        test_log = spa_test(models_log, bench_log, n_boot=n_boot, seed=seed)
        out["log_loss"] = {
            "statistic": test_log["statistic"],
            "p_values": test_log["p_values"],
            "block_length": test_log["block_length"],
        }
    return out


def verdict(*, comparison: Mapping[str, Any], strongest: str, spa_p: float) -> tuple[bool, str]:
    """Beat = a positive accuracy difference AND McNemar p < ALPHA AND the studentized SPA's consistent p < ALPHA;
    one plain sentence either way. ``comparison`` is the best config against ``strongest``
    (:func:`vixray.metrics.paired_comparison`)."""
    diff = comparison["accuracy_difference"]
    mcnemar_p = comparison["mcnemar"]["p_value"]
    beats = diff["mean"] > 0 and mcnemar_p < ALPHA and spa_p < ALPHA
    return beats, (
        f"The best config {'beats' if beats else 'does not beat'} the strongest development-era baseline "
        f"({strongest}) out of sample: accuracy {comparison['accuracy_a']:.1%} vs {comparison['accuracy_b']:.1%} on "
        f"{comparison['n']} holdout days, difference {diff['mean']:+.1%} [{diff['low']:+.1%}, {diff['high']:+.1%}], "
        f"McNemar p = {pvalue_text(mcnemar_p)}, studentized SPA p = {pvalue_text(spa_p)}."
    )
