"""The volatility-model baselines: a HAR-type regression and an AR(1)-GARCH(1,1), each giving class probabilities.

Both forecast the distribution of the next log VIX change and read the classes off it with the labels' thresholds
(Down below log(1 + down), Up above log(1 + up); for a direction label Up above 0, Down the rest), predicting the
most probable class; a model's mean alone sits
inside the ±1% band on almost every day, so mapping the mean would forecast Neutral, the rarest class.

* ``har``: OLS of the h-day log VIX change on [1, log VIX, its 5- and 22-day means] (Corsi 2009) over the training
  rows; the predictive distribution is the forecast mean plus the EMPIRICAL distribution of the training residuals
  (VIX changes are skewed and fat-tailed, so no normal shape is assumed).
* ``garch``: an ARX(1)-GARCH(1,1) of the daily log VIX change (Ahoniemi 2008's family): its mean is AR(1) plus the
  previous day's HAR terms (so tomorrow's mean uses today's terms), its variance GARCH(1,1), fitted with ``arch``'s
  ``arch_model`` (Student-t quasi-likelihood) on the training block only (``last_obs``). Each test day's forecast
  comes from the fitted parameters and the data up to that day (arch's ``forecast(start=...)``), never from a later
  day; its class probabilities from the training block's standardised residuals (filtered historical simulation).
  For a horizon h > 1 the h daily steps' means and variances are summed (their autocorrelation is ignored) and
  the HAR terms are held at the origin's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from vixray.baselines.core import BaselineForecast, Fold
from vixray.labels import CLASS_NAMES, class_id

HAR_TERMS = ("har_1", "har_5", "har_22")
RETURN = "target_log_return"  # the target's log change from the day before to day t, known at t
_SCALE = 100.0  # arch fits percent changes: the optimiser is tuned for that scale


@dataclass(frozen=True)
class HarFit:
    """OLS of the h-day log VIX change on [1, har_1, har_5, har_22], and its training residuals (sorted)."""

    coef: np.ndarray  # (4,) intercept, har_1, har_5, har_22
    residuals: np.ndarray  # (n_train,) ascending


def _thresholds(fold: Fold) -> tuple[float, float]:
    return float(np.log1p(fold.labels.down)), float(np.log1p(fold.labels.up))


def _har_design(fold: Fold, rows: np.ndarray) -> np.ndarray:
    terms = np.column_stack([fold.column(t, rows) for t in HAR_TERMS])  # (n, 3)
    return np.column_stack([np.ones(len(rows)), terms])  # (n, 4)


def fit_har(fold: Fold) -> HarFit:
    design = _har_design(fold, fold.train)  # (n, 4)
    target = fold.column("target_log_change", fold.train)  # (n,)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return HarFit(coef=coef, residuals=np.sort(target - design @ coef))


def empirical_proba(
    shocks: np.ndarray,
    *,
    below: np.ndarray,
    above: np.ndarray,
    classes: tuple[str, ...] = CLASS_NAMES,
) -> np.ndarray:
    """Class probabilities from an empirical distribution: Up is a shock above ``above`` (per row); with three
    classes Down is a shock below ``below`` and Neutral the rest (a change exactly at a threshold is Neutral, as in
    the labels); with two (Down / Up) Down is everything not Up, ``below`` unused. ``shocks`` is sorted ascending."""
    n = len(shocks)
    up, down = class_id(classes, "up"), class_id(classes, "down")
    proba = np.zeros((len(above), len(classes)))  # (T, K)
    proba[:, up] = 1.0 - np.searchsorted(shocks, above, side="right") / n  # share of e > above
    if len(classes) == 2:
        proba[:, down] = 1.0 - proba[:, up]
        return proba
    proba[:, down] = np.searchsorted(shocks, below, side="left") / n  # share of e < below
    proba[:, class_id(classes, "neutral")] = 1.0 - proba[:, down] - proba[:, up]
    return proba


def har(fold: Fold) -> BaselineForecast:
    fit = fit_har(fold)
    mu = _har_design(fold, fold.test) @ fit.coef  # (n_test,)
    down, up = _thresholds(fold)
    return fold.forecast(
        "har", empirical_proba(fit.residuals, below=down - mu, above=up - mu, classes=fold.classes)
    )


def garch(fold: Fold) -> BaselineForecast:
    from arch import arch_model  # arch's univariate models, only when this baseline runs

    # the series from the first training day on: y[i] = the move ending at row first + i, and its regressors the
    # HAR terms of the row before, so the mean of tomorrow's move uses today's terms only
    first, last = max(int(fold.train[0]), 1), int(fold.test[-1])
    y = _SCALE * fold.column(RETURN, np.arange(first, last + 1))  # (N,)
    terms = np.column_stack([fold.column(t, np.arange(first - 1, last + 1)) for t in HAR_TERMS])  # (N + 1, 3)
    n_train = int(fold.train[-1]) - first + 1
    model = arch_model(y, x=terms[:-1], mean="ARX", lags=1, vol="GARCH", p=1, q=1, dist="t", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # arch's optimiser warns on slow convergence; the estimate still stands
        result = model.fit(disp="off", last_obs=n_train, show_warning=False)
    h = fold.labels.horizon
    step0 = int(fold.test[0]) - first  # the first forecast origin; arch forecasts from every origin after it
    origins = np.arange(step0, len(y))  # (n_origins,) positions in y, each forecast from the data up to it
    # the regressors of the steps ahead: the origin's own HAR terms (later days' terms are not known yet)
    ahead = np.repeat(terms[origins + 1].T[:, :, None], h, axis=2)  # (3, n_origins, h)
    forecast = result.forecast(horizon=h, start=step0, reindex=False, x=ahead)
    at = fold.test - first - step0  # (n_test,) the test days among the origins
    mean = forecast.mean.to_numpy()[at].sum(axis=1)  # (n_test,) the h steps' sum
    sd = np.sqrt(np.maximum(forecast.variance.to_numpy()[at].sum(axis=1), 1e-12))  # (n_test,)
    down, up = (_SCALE * t for t in _thresholds(fold))
    # the shocks' shape from the training block's own standardised residuals (filtered historical simulation):
    # daily VIX changes are right-skewed, which a symmetric t would miss in P(Down) against P(Up)
    resid = np.asarray(result.std_resid)[:n_train]
    shocks = np.sort(resid[np.isfinite(resid)])  # (n_train - 1,)
    proba = empirical_proba(shocks, below=(down - mean) / sd, above=(up - mean) / sd, classes=fold.classes)
    params = {k: float(v) for k, v in result.params.items()}
    return fold.forecast("garch", proba, params=params)
