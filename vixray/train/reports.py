"""What training reports: each epoch's per-fold losses (:class:`EpochReport`) and a whole fit (:class:`FitResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array comparison has no single truth value
class EpochReport:
    """One epoch, per fold. ``active``: the folds that trained in this epoch. A fold that has stopped reports the
    values of its restored best weights (and the training loss of its last epoch); a fold without validation windows
    reports NaN validation metrics."""

    epoch: int  # 1-based
    train_loss: np.ndarray  # (F,)
    val_loss: np.ndarray  # (F,)
    val_accuracy: np.ndarray  # (F,)
    active: np.ndarray  # (F,) bool
    seconds: float

    @property
    def mean_val_loss(self) -> float:
        return nanmean(self.val_loss)

    @property
    def mean_val_accuracy(self) -> float:
        return nanmean(self.val_accuracy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss.tolist(),
            "val_loss": self.val_loss.tolist(),
            "val_accuracy": self.val_accuracy.tolist(),
            "active": self.active.tolist(),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochReport:
        return cls(
            epoch=int(d["epoch"]),
            train_loss=np.asarray(d["train_loss"], dtype=np.float64),
            val_loss=np.asarray(d["val_loss"], dtype=np.float64),
            val_accuracy=np.asarray(d["val_accuracy"], dtype=np.float64),
            active=np.asarray(d["active"], dtype=bool),
            seconds=float(d["seconds"]),
        )


def nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass(frozen=True, eq=False)
class FitResult:
    """Test predictions per fold (unpadded, in window order) with each fold's best weights, and the history."""

    test_proba: list[np.ndarray]  # per fold (n_test_f, K) float64
    test_pred: list[np.ndarray]  # per fold (n_test_f,) int64
    test_rows: list[np.ndarray]  # per fold (n_test_f,) int64 row ids into the table
    history: list[EpochReport]
    best_epoch: np.ndarray  # (F,) 1-based
    epochs_run: int
    seconds: float
    device: str
    # with a refit (vixray.crossval.fit_prepared): the epochs each fold was refitted for on its whole training
    # block, whose weights made the test predictions; ``history`` and ``best_epoch`` are the early-stopping pass's
    refit_epochs: np.ndarray | None = None
