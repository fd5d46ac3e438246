"""The baselines that learn from the features: logistic regression, the calendar, gradient-boosted trees.

Each is fitted on one fold's training rows only (scalers included) and chooses its one setting on the training block's
validation tail, by log loss (the same tail the network early-stops on), then refits on the whole training block:

* ``logistic``: multinomial logistic regression on the experiment's features, its inverse regularisation ``C`` from
  :data:`C_GRID` (a fixed C = 1 was the untuned version; it is in the grid, so tuning can only keep or improve it).
* ``calendar``: the same logistic regression on calendar facts only (:mod:`vixray.calendar`: the weekday, the
  calendar days to the next session, a holiday before it), one-hot, so it learns each gap's class mix. VIX is
  quoted in calendar time, so a close before a weekend or a holiday tends to be followed by a rise.
* ``boosting``: scikit-learn's ``HistGradientBoostingClassifier`` on the features and the calendar facts, its number
  of boosting rounds chosen on the tail (one fit of :data:`MAX_ROUNDS` rounds on the fit part, scored round by
  round with ``staged_predict_proba``): early stopping on a time-ordered tail, never on the random split
  scikit-learn's own early stopping would draw from the training days.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vixray import calendar
from vixray.baselines.core import BaselineForecast, Fold, constant, full_proba, validation_loss

log = logging.getLogger(__name__)

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
MAX_ROUNDS, UNTUNED_ROUNDS = 200, 50
_GAP_BUCKETS = (1, 2, 3)  # calendar days to the next session: 1, 2, 3 and 4 or more


def _one_class(name: str, fold: Fold) -> BaselineForecast | None:
    """lbfgs and trees need two classes: with one, the only honest forecast is that class for every row."""
    y = fold.y(fold.train)
    present = np.unique(y)
    if present.size >= 2:
        return None
    log.warning("%s baseline: training rows hold only class %d; predicting it everywhere", name, present[0])
    n = len(fold.test)
    return BaselineForecast(name, np.full(n, present[0], np.int64), constant(fold.prior(fold.train), n))


def _predict(model: Any, X: np.ndarray, *, n_classes: int) -> np.ndarray:
    return full_proba(model.classes_, model.predict_proba(X), n_classes=n_classes)  # (n, K)


def _logistic_model(c: float) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))


def _tuned_logistic(name: str, fold: Fold, X: np.ndarray) -> BaselineForecast:
    """Choose C on the validation tail (ties keep the stronger regularisation), refit on every training row."""
    if (single := _one_class(name, fold)) is not None:
        return single
    c_best = 1.0
    if fold.val.size:
        losses = []
        for c in C_GRID:
            model = _fit(_logistic_model(c), X[fold.fit], fold.y(fold.fit))
            losses.append(
                validation_loss(fold.y(fold.val), _predict(model, X[fold.val], n_classes=fold.n_classes))
            )
        c_best = C_GRID[int(np.argmin(losses))]
    model = _fit(_logistic_model(c_best), X[fold.train], fold.y(fold.train))
    return fold.forecast(name, _predict(model, X[fold.test], n_classes=fold.n_classes), C=c_best)


def _fit(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        # a very weak penalty on separable days may stop at max_iter; the fit is still the best it found
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def calendar_design(fold: Fold) -> np.ndarray:
    """(R, 10) one-hot calendar facts of every row: weekday (5), days to the next session (1, 2, 3, 4+), holiday."""
    weekday = fold.dataset.column(calendar.WEEKDAY).astype(np.int64)  # (R,)
    gap = np.minimum(
        fold.dataset.column(calendar.DAYS_TO_NEXT).astype(np.int64), len(_GAP_BUCKETS) + 1
    )  # (R,)
    holiday = fold.dataset.column(calendar.HOLIDAY_NEXT).astype(np.float64)  # (R,)
    return np.column_stack(
        [
            np.eye(5)[np.clip(weekday, 0, 4)],
            np.eye(len(_GAP_BUCKETS) + 1)[gap - 1],
            holiday,
        ]
    )


def logistic(fold: Fold) -> BaselineForecast:
    return _tuned_logistic("logistic", fold, fold.dataset.X)


def calendar_logistic(fold: Fold) -> BaselineForecast:
    return _tuned_logistic("calendar", fold, calendar_design(fold))


def _trees(seed: int, rounds: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=rounds,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def boosting_inputs(fold: Fold) -> np.ndarray:
    """The trees' design matrix: the experiment's features, then the calendar facts (:data:`calendar.COLUMNS`)."""
    return np.column_stack(
        [fold.dataset.X, *(fold.dataset.column(c) for c in calendar.COLUMNS)]
    )  # (R, C + 5)


def fit_boosting(fold: Fold, X: np.ndarray) -> tuple[HistGradientBoostingClassifier, int]:
    """The trees refitted on the whole training block with the rounds chosen on its tail, and those rounds (the
    fold needs two classes in its training rows)."""
    rounds = UNTUNED_ROUNDS
    if fold.val.size:
        model = _trees(fold.seed, MAX_ROUNDS).fit(X[fold.fit], fold.y(fold.fit))
        y_val = fold.y(fold.val)
        losses = [
            validation_loss(y_val, full_proba(model.classes_, p, n_classes=fold.n_classes))
            for p in model.staged_predict_proba(X[fold.val])
        ]
        rounds = int(np.argmin(losses)) + 1
    return _trees(fold.seed, rounds).fit(X[fold.train], fold.y(fold.train)), rounds


def boosting_proba(model: HistGradientBoostingClassifier, X: np.ndarray, *, n_classes: int) -> np.ndarray:
    return _predict(model, X, n_classes=n_classes)  # (n, K)


def boosting(fold: Fold) -> BaselineForecast:
    if (single := _one_class("boosting", fold)) is not None:
        return single
    X = boosting_inputs(fold)  # (R, C + 5)
    model, rounds = fit_boosting(fold, X)
    return fold.forecast(
        "boosting", boosting_proba(model, X[fold.test], n_classes=fold.n_classes), rounds=rounds
    )


LEARNED: dict[str, Callable[[Fold], BaselineForecast]] = {
    "calendar": calendar_logistic,
    "logistic": logistic,
    "boosting": boosting,
}
