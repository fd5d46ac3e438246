"""Scores and statistical tests of direction forecasts on the test rows of walk-forward folds.

:mod:`~vixray.metrics.scores` (accuracy, balanced accuracy, macro-F1, clipped log loss, confusion),
:mod:`~vixray.metrics.significance` (binomial, McNemar, Pesaran-Timmermann, block-bootstrap intervals, the paired
comparison of two forecasters with Diebold-Mariano) and :mod:`~vixray.metrics.spa` (Hansen's studentized SPA).
"""

from vixray.metrics.checks import PROBA_CLIP
from vixray.metrics.scores import classification_metrics, confusion_matrix, daily_log_loss
from vixray.metrics.significance import (
    DEFAULT_N_BOOT,
    binomial_test,
    block_bootstrap_ci,
    compare_to_baselines,
    diebold_mariano,
    mcnemar_test,
    paired_comparison,
    pesaran_timmermann,
)
from vixray.metrics.spa import spa_test

__all__ = [
    "DEFAULT_N_BOOT",
    "PROBA_CLIP",
    "binomial_test",
    "block_bootstrap_ci",
    "classification_metrics",
    "compare_to_baselines",
    "confusion_matrix",
    "daily_log_loss",
    "diebold_mariano",
    "mcnemar_test",
    "paired_comparison",
    "pesaran_timmermann",
    "spa_test",
]
