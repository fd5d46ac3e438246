"""What every baseline shares: one fold's rows (checked), the forecast it returns, and the pieces several use.

A baseline is fitted on one fold's training rows only and forecasts that fold's test rows. The training rows are
trusted to end before the test block (the walk-forward splitter leaves a gap); what can be checked here is checked:
indices in range, no overlap, every training row (and, where the table has ``label_date``, every training label)
before the first test day. The tuned baselines choose their settings on the training block's validation tail, the
same rows the network early-stops on (:func:`vixray.split.validation_split`), then refit on the whole block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import numpy as np

from vixray.config import LabelConfig
from vixray.dataset import Dataset
from vixray.labels import N_CLASSES
from vixray.metrics import daily_log_loss
from vixray.split import validation_split


@dataclass(frozen=True)
class BaselineForecast:
    """One baseline's forecast for one fold's test rows, in ``test_idx`` order."""

    name: str
    pred: np.ndarray  # (n_test,) int64
    proba: np.ndarray | None  # (n_test, K) float64, rows sum to 1; None where a probability is not meaningful
    expected_accuracy: float | None = None  # the random baseline's expectation, reported beside its one draw
    settings: dict[str, Any] = field(
        default_factory=dict
    )  # what a tuned baseline chose on the validation tail


@dataclass(frozen=True)
class Fold:
    """One fold as a baseline sees it: every training row, its fit part and validation tail, the test rows."""

    dataset: Dataset
    train: np.ndarray  # (n_train,) int64, ascending
    fit: np.ndarray  # training rows before the validation tail and its gap
    val: np.ndarray  # the validation tail (empty when val_fraction = 0)
    test: np.ndarray  # (n_test,) int64
    labels: LabelConfig
    seed: int

    @property
    def classes(self) -> tuple[str, ...]:
        return self.dataset.classes

    @property
    def n_classes(self) -> int:
        return self.dataset.n_classes

    def y(self, rows: np.ndarray) -> np.ndarray:
        return self.dataset.y[rows]  # (n,)

    def prior(self, rows: np.ndarray) -> np.ndarray:
        """Class frequencies of ``rows``' labels over all the label kind's classes."""
        return class_prior(self.y(rows), n_classes=self.n_classes)  # (K,)

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        return self.dataset.column(name).astype(np.float64)[rows]  # (n,)

    def forecast(self, name: str, proba: np.ndarray, **settings: Any) -> BaselineForecast:
        """The most probable class of each row's probabilities (the first on a tie)."""
        return BaselineForecast(name, np.argmax(proba, axis=1).astype(np.int64), proba, settings=settings)


# ------------------------------------------------------------------------------------------------ checks


def _as_rows(idx: np.ndarray, *, what: str, n_rows: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(
            f"{what} has dtype {idx.dtype} and shape {idx.shape}: pass a 1-D array of integer row positions "
            "(np.flatnonzero turns a boolean mask into one)"
        )
    if idx.size == 0:
        raise ValueError(f"{what} is empty: every fold needs at least one {what.split('_')[0]} row")
    low, high = int(idx.min()), int(idx.max())
    if low < 0 or high >= n_rows:
        bad = low if low < 0 else high
        raise ValueError(
            f"{what} holds row {bad}, out of range for a dataset of {n_rows} rows; "
            f"indices must lie in [0, {n_rows - 1}] (negative positions are not allowed)"
        )
    return idx.astype(np.int64)


def make_fold(
    dataset: Dataset,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    labels: LabelConfig,
    val_fraction: float,
    seed: int,
) -> Fold:
    """Check one fold's rows against the table and cut the validation tail; errors name the rows and the fix."""
    n = len(dataset)
    train = _as_rows(train_idx, what="train_idx", n_rows=n)
    test = _as_rows(test_idx, what="test_idx", n_rows=n)
    shared = np.intersect1d(train, test)
    if shared.size:
        raise ValueError(
            f"train_idx and test_idx share {shared.size} row(s), first {int(shared[0])}: a baseline would be "
            "fitted on rows it is scored on; pass disjoint folds (vixray.split.WalkForwardSplit makes them)"
        )
    if train.max() >= test.min():
        raise ValueError(
            f"train_idx reaches row {int(train.max())}, not strictly before the first test row {int(test.min())}: "
            "walk-forward training must end before the test block; pass folds from vixray.split.WalkForwardSplit"
        )
    if "label_date" in dataset.frame.columns and "date" in dataset.frame.columns:
        last_label = cast(date, dataset.frame["label_date"].gather(train).max())
        first_test = cast(date, dataset.frame["date"].gather(test).min())
        if last_label > first_test:
            raise ValueError(
                f"a training label ends on {last_label}, after the first test day {first_test}: training would "
                "see the test block's prices; leave a gap of at least labels.horizon rows (split.gap) between "
                "train and test"
            )
    if dataset.classes != labels.classes:
        raise ValueError(
            f"the table's classes {list(dataset.classes)} differ from labels.kind = {labels.kind!r}'s "
            f"{list(labels.classes)}: build the table with the same labels (vixray.dataset.build_dataset)"
        )
    y = dataset.y[train]
    bad = y[(y < 0) | (y >= dataset.n_classes)]
    if bad.size:
        raise ValueError(
            f"training label {int(bad[0])} is not a class id of {list(dataset.classes)} (0..{dataset.n_classes - 1}); "
            "build labels with vixray.labels.direction_label"
        )
    fit, val = validation_split(np.sort(train), val_fraction=val_fraction, val_gap=labels.horizon)
    if val.size and np.unique(dataset.y[fit]).size < 2:
        fit, val = train, train[:0]  # nothing to tune on: a fit part of one class
    return Fold(dataset, train, fit, val, test, labels, seed)


# ------------------------------------------------------------------------------------------------ pieces


def class_prior(y: np.ndarray, *, n_classes: int = N_CLASSES) -> np.ndarray:
    """Class frequencies of ``y`` over all ``n_classes`` classes (absent classes get 0)."""
    return np.bincount(y, minlength=n_classes).astype(np.float64) / len(y)  # (K,)


def constant(prior: np.ndarray, n: int) -> np.ndarray:
    return np.tile(prior, (n, 1))  # (n, K)


def full_proba(classes: np.ndarray, proba: np.ndarray, *, n_classes: int) -> np.ndarray:
    """A classifier's probabilities over the classes it saw, as (n, K) with 0 for a class absent from training."""
    out = np.zeros((len(proba), n_classes))  # (n, K)
    out[:, classes] = proba
    return out


def validation_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean log loss on the validation tail, clipped as every reported log loss is."""
    return float(np.mean(daily_log_loss(y, proba)))
