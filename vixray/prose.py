"""The sentences reports are made of: p-values, bootstrap intervals, paired comparisons, the search's SPA.

One wording for the console, report.html and the results explorer; plain functions of the reports' dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def pvalue_text(p: float | None) -> str:
    """A p-value for prose: ``n/a``, ``< 0.0001`` or two significant digits."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def interval_text(ci: Mapping[str, Any], digits: int = 3) -> str:
    """A bootstrap interval (:func:`vixray.metrics.block_bootstrap_ci`) as ``+0.012 [-0.004, +0.027]``."""
    return f"{ci['mean']:+.{digits}f} [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}]"


def comparison_text(comparison: Mapping[str, Any], *, a: str, b: str) -> str:
    """One paired comparison (:func:`vixray.metrics.paired_comparison`) in a sentence: A against B."""
    diff = comparison["accuracy_difference"]
    text = (
        f"{a} vs {b}: accuracy {comparison['accuracy_a']:.3f} vs {comparison['accuracy_b']:.3f}, difference "
        f"{interval_text(diff)} ({diff['level']:.0%} paired block bootstrap), McNemar p = "
        f"{pvalue_text(comparison['mcnemar']['p_value'])}"
    )
    if comparison.get("log_loss_difference") is not None:
        dm = comparison["diebold_mariano"]
        text += (
            f"; log-loss gain {interval_text(comparison['log_loss_difference'], 4)}, Diebold-Mariano p = "
            f"{pvalue_text(dm['p_value'])}"
        )
    return text


def search_spa_sentence(spa: Mapping[str, Any]) -> str:
    """The whole-search SPA (spa.json) in a sentence: the best of N trials against the strongest baseline."""
    text = (
        f"best of {spa['n_models']} finished trials vs {spa['benchmark']} on the {spa['n_days']} development test "
        f"days: SPA p = {pvalue_text(spa['p_values']['consistent'])} on 0/1 loss"
    )
    if spa.get("log_loss"):
        text += f", {pvalue_text(spa['log_loss']['p_values']['consistent'])} on log loss"
    return text + " (Hansen's studentized SPA: corrects for having picked the best of these trials)"


def coverage_text(holdout: Mapping[str, Any], *, listed: int = 10) -> str:
    """Which holdout days a report tested (its ``holdout`` block): the tested range and every untested day (the
    first ``listed`` by date, then a count)."""
    text = (
        f"tested {holdout.get('test_start')}..{holdout.get('test_end')} ({holdout.get('n_test')} days in "
        f"{holdout.get('n_blocks')} block(s) of up to {holdout.get('block_size')})"
    )
    untested = holdout.get("untested_days")
    if untested is None:  # a report from before the untested days were recorded
        return text
    if not untested:
        return f"{text}; every trading day of the holdout era is tested"
    shown = ", ".join(untested[:listed]) + (
        f" and {len(untested) - listed} more" if len(untested) > listed else ""
    )
    return (
        f"{text}; {len(untested)} of its {holdout.get('n_days')} trading days untested ({shown}): the last "
        "labels.horizon days have no next close, other days lack a feature"
    )
