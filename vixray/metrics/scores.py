"""Scores of one set of direction forecasts: accuracy, balanced accuracy, macro-F1, log loss, confusion, per-class
precision and recall. Pooled over folds, every test day weighs the same (the pooled tests assume it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vixray.labels import N_CLASSES
from vixray.metrics.checks import PROBA_CLIP, check_n_classes, labels_array, proba_array, same_length


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int = N_CLASSES) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class, for already validated labels."""
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)  # (K, K)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # 0 where undefined (a class never predicted or never present), as sklearn's zero_division=0
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def daily_log_loss(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-day log loss of validated labels and probabilities, clipped to [PROBA_CLIP, 1] and renormalised, so one
    confident miss costs ~16 nats rather than infinity; its mean is :func:`classification_metrics`' log loss."""
    clipped = np.clip(proba, PROBA_CLIP, 1.0)  # (n, K)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return -np.log(clipped[np.arange(len(y_true)), y_true])  # (n,)


def classification_metrics(
    y_true: Any, y_pred: Any, *, proba: Any | None = None, n_classes: int = N_CLASSES
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, log loss (None without ``proba``), confusion, precision, recall.

    Balanced accuracy averages recall over the classes present in ``y_true`` (as sklearn does); macro-F1 averages
    over all ``n_classes`` classes, a class never seen nor predicted scoring 0, so a model that ignores a class is
    not flattered. Log loss clips probabilities to [1e-7, 1] and renormalises, so one confident miss costs ~16
    nats rather than infinity.
    """
    check_n_classes(n_classes)
    yt = labels_array(y_true, name="y_true", n_classes=n_classes)
    yp = labels_array(y_pred, name="y_pred", n_classes=n_classes)
    same_length(yt, yp, names=("y_true", "y_pred"))
    p = proba_array(proba, n=len(yt), n_classes=n_classes) if proba is not None else None

    cm = confusion_matrix(yt, yp, n_classes=n_classes)  # (K, K)
    tp = np.diag(cm).astype(np.float64)  # (K,)
    support = cm.sum(axis=1).astype(np.float64)  # (K,) true count per class
    predicted = cm.sum(axis=0).astype(np.float64)  # (K,)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2.0 * tp, support + predicted)  # 2tp / (2tp + fp + fn)
    return {
        "n": len(yt),
        "accuracy": float(tp.sum() / len(yt)),
        "balanced_accuracy": float(recall[support > 0].mean()),
        "macro_f1": float(f1.mean()),
        "log_loss": float(np.mean(daily_log_loss(yt, p))) if p is not None else None,
        "confusion": cm.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
    }
