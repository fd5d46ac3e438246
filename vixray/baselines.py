"""Reference forecasts on exactly the model's test rows: chance, the training prior, persistence, logistic, HAR.

Each baseline is fitted on one fold's training rows only and predicts that fold's test rows, so its scores sit beside
the model's on the same days. The training rows are trusted to end before the test block (the walk-forward splitter
leaves a gap); what can be checked here is checked: indices in range, no overlap, every training row (and, where the
table has ``label_date``, every training label) before the first test day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import numpy as np
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vixray.config import LabelConfig
from vixray.dataset import Dataset
from vixray.labels import DOWN, N_CLASSES, NEUTRAL, UP

log = logging.getLogger(__name__)

BASELINES = ("random", "majority", "persistence", "stratified", "logistic", "har")
HAR_TERMS = ("har_1", "har_5", "har_22")

# The columns each baseline reads besides ``label`` (the feature columns come from ``dataset.feature_names``).
_NEEDS: dict[str, tuple[str, ...]] = {
    "random": (),
    "majority": (),
    "persistence": ("prev_label",),
    "stratified": (),
    "logistic": (),
    "har": (*HAR_TERMS, "target_log_change"),
}
# Separate random streams, so the random and stratified draws of one seed are not the same uniforms reshaped.
_STREAM = {"random": 0, "stratified": 1}


@dataclass(frozen=True)
class BaselineForecast:
    """One baseline's forecast for one fold's test rows, in ``test_idx`` order."""

    name: str
    pred: np.ndarray  # (n_test,) int64
    proba: np.ndarray | None  # (n_test, 3) float64, rows sum to 1; None where a probability is not meaningful
    expected_accuracy: float | None = None  # the random baseline's expectation, reported beside its one draw


@dataclass(frozen=True)
class HarFit:
    """OLS of the h-day log VIX change on [1, har_1, har_5, har_22]; ``sigma`` is the residual std."""

    coef: np.ndarray  # (4,) intercept, har_1, har_5, har_22
    sigma: float


# ------------------------------------------------------------------------------------------------ checks


def _check_name(name: str) -> None:
    if name not in BASELINES:
        raise ValueError(f"baseline name = {name!r} is unknown; choose one of {list(BASELINES)}")


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


def _check_fold(
    dataset: Dataset, train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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
    return train, test


def _check_columns(name: str, dataset: Dataset) -> None:
    missing = [c for c in ("label", *_NEEDS[name]) if c not in dataset.frame.columns]
    if missing:
        raise ValueError(
            f"baseline {name!r} needs dataset column(s) {missing}, absent from {dataset.frame.columns}; "
            "build the table with vixray.dataset.build_dataset"
        )


def _train_labels(dataset: Dataset, train: np.ndarray) -> np.ndarray:
    y = dataset.y[train]  # (n_train,)
    bad = y[(y < 0) | (y >= N_CLASSES)]
    if bad.size:
        raise ValueError(
            f"training label {int(bad[0])} is not a class 0 Down, 1 Neutral or 2 Up; "
            "build labels with vixray.labels.direction_label"
        )
    return y


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be an integer >= 0")


# ------------------------------------------------------------------------------------------------ pieces


def class_prior(y: np.ndarray) -> np.ndarray:
    """Class frequencies of ``y`` over all three classes (absent classes get 0)."""
    return np.bincount(y, minlength=N_CLASSES).astype(np.float64) / len(y)  # (3,)


def _constant(prior: np.ndarray, n: int) -> np.ndarray:
    return np.tile(prior, (n, 1))  # (n, 3)


def classify_log_change(mu: np.ndarray, labels: LabelConfig) -> np.ndarray:
    """Classes of forecast log changes under the label thresholds, with the labels' own rule.

    exp is monotone, so comparing exp(mu) - 1 with ``up``/``down`` is the log-space rule mu > log(1 + up); doing it on
    the change rounded to 10 decimals (as :mod:`vixray.labels` does) keeps a forecast exactly at a threshold Neutral
    despite float rounding in the fit.
    """
    change = np.round(np.expm1(mu), 10)  # (n,)
    return np.where(change > labels.up, UP, np.where(change < labels.down, DOWN, NEUTRAL)).astype(np.int64)


def _har_design(dataset: Dataset, rows: np.ndarray) -> np.ndarray:
    terms = dataset.frame.select(HAR_TERMS).to_numpy().astype(np.float64)[rows]  # (n, 3)
    return np.column_stack([np.ones(len(rows)), terms])  # (n, 4)


def fit_har(dataset: Dataset, train_idx: np.ndarray) -> HarFit:
    """OLS on the training rows; sigma uses n - rank degrees of freedom (0 where the fit is exact by construction)."""
    design = _har_design(dataset, train_idx)  # (n, 4)
    target = dataset.column("target_log_change").astype(np.float64)[train_idx]  # (n,)
    coef, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    resid = target - design @ coef  # (n,)
    dof = len(target) - int(rank)
    sigma = float(np.sqrt(resid @ resid / dof)) if dof > 0 else 0.0
    return HarFit(coef=coef, sigma=sigma)


def har_mean(fit: HarFit, dataset: Dataset, rows: np.ndarray) -> np.ndarray:
    return _har_design(dataset, rows) @ fit.coef  # (n,)


def har_proba(mu: np.ndarray, sigma: float, labels: LabelConfig, pred: np.ndarray) -> np.ndarray:
    """P(Down), P(Neutral), P(Up) under N(mu, sigma^2) for the next log change."""
    if sigma <= 0:  # an exact fit has no spread: all mass on the forecast class
        return np.eye(N_CLASSES)[pred]  # (n, 3)
    p_down = norm.cdf((np.log1p(labels.down) - mu) / sigma)  # (n,)
    p_up = norm.sf((np.log1p(labels.up) - mu) / sigma)  # (n,)
    p_neutral = np.clip(1.0 - p_down - p_up, 0.0, None)
    proba = np.column_stack([p_down, p_neutral, p_up])  # (n, 3)
    return proba / proba.sum(axis=1, keepdims=True)


def _logistic(dataset: Dataset, train: np.ndarray, test: np.ndarray, y: np.ndarray) -> BaselineForecast:
    X = dataset.X  # (R, C)  # noqa: N806
    present = np.unique(y)
    if present.size < 2:
        # lbfgs needs two classes; with one, the only honest fit is that class for every row
        log.warning(
            "logistic baseline: training rows hold only class %d; predicting it everywhere", present[0]
        )
        return BaselineForecast(
            "logistic", np.full(len(test), present[0], np.int64), _constant(class_prior(y), len(test))
        )
    # scaler and model fitted on the training rows only
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000))
    model.fit(X[train], y)
    proba = np.zeros((len(test), N_CLASSES))  # (n_test, 3)
    proba[:, model.classes_] = model.predict_proba(
        X[test]
    )  # a class absent from training keeps probability 0
    pred = np.argmax(proba, axis=1).astype(np.int64)  # (n_test,)
    return BaselineForecast("logistic", pred, proba)


def _har(dataset: Dataset, train: np.ndarray, test: np.ndarray, labels: LabelConfig) -> BaselineForecast:
    fit = fit_har(dataset, train)
    mu = har_mean(fit, dataset, test)  # (n_test,)
    pred = classify_log_change(mu, labels)
    return BaselineForecast("har", pred, har_proba(mu, fit.sigma, labels, pred))


# ------------------------------------------------------------------------------------------------ public


def fit_predict(
    name: str,
    dataset: Dataset,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    labels: LabelConfig,
    seed: int = 0,
) -> BaselineForecast:
    """Fit baseline ``name`` on ``train_idx`` and forecast ``test_idx``; draws repeat for the same ``seed``."""
    _check_name(name)
    _check_seed(seed)
    _check_columns(name, dataset)
    train, test = _check_fold(dataset, train_idx, test_idx)
    y = _train_labels(dataset, train)
    n = len(test)
    if name == "random":
        rng = np.random.default_rng([int(seed), _STREAM[name]])
        pred = rng.integers(0, N_CLASSES, size=n).astype(np.int64)
        return BaselineForecast(
            name, pred, np.full((n, N_CLASSES), 1.0 / N_CLASSES), expected_accuracy=1.0 / N_CLASSES
        )
    if name == "majority":
        prior = class_prior(y)
        # The prior, not a one-hot on the mode: a one-hot scores an infinite log loss on the first non-mode day,
        # while the frequencies give the loss of knowing the base rates (argmax still picks the mode).
        return BaselineForecast(name, np.full(n, int(np.argmax(prior)), np.int64), _constant(prior, n))
    if name == "persistence":
        pred = dataset.column("prev_label").astype(np.int64)[
            test
        ]  # (n_test,) the class of the move ending at t
        return BaselineForecast(name, pred, None)
    if name == "stratified":
        prior = class_prior(y)
        rng = np.random.default_rng([int(seed), _STREAM[name]])
        pred = rng.choice(N_CLASSES, size=n, p=prior).astype(np.int64)
        return BaselineForecast(name, pred, _constant(prior, n))
    if name == "logistic":
        return _logistic(dataset, train, test, y)
    return _har(dataset, train, test, labels)


def fold_seed(seed: int, fold: int) -> int:
    """A per-fold seed: folds draw differently, the same (seed, fold) always draws the same."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def run_baselines(
    dataset: Dataset,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    labels: LabelConfig,
    names: Sequence[str] = BASELINES,
    seed: int = 0,
) -> dict[str, list[BaselineForecast]]:
    """Every baseline in ``names`` on every fold: name -> one forecast per fold, in fold order."""
    for name in names:
        _check_name(name)
    _check_seed(seed)
    out: dict[str, list[BaselineForecast]] = {name: [] for name in names}
    for k, (train_idx, test_idx) in enumerate(folds):
        for name in names:
            out[name].append(
                fit_predict(name, dataset, train_idx, test_idx, labels=labels, seed=fold_seed(seed, k))
            )
        log.debug("baselines: fold %d done (%d train, %d test rows)", k, len(train_idx), len(test_idx))
    return out
