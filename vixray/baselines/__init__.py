"""The baseline zoo: reference forecasts on exactly the model's test rows, each fitted on the fold's training rows.

=============  ==========================================================================================
``random``     a uniform draw among the classes (reported beside its expectation 1/K)
``majority``   the training block's most frequent class, its class mix as probabilities
``persistence``  tomorrow's class is the class of the move that ended today
``stratified`` draws from the training block's class mix
``calendar``   logistic regression on calendar facts only (weekday, days to the next session, a holiday)
``logistic``   multinomial logistic regression on the features, C chosen on the validation tail
``boosting``   gradient-boosted trees on the features and calendar facts, trees chosen on the validation tail
``har``        HAR-type regression of the next log VIX change, its empirical predictive distribution
``garch``      AR(1)-GARCH(1,1) with Student-t shocks on the daily log VIX change
=============  ==========================================================================================

:mod:`~vixray.baselines.core` (the fold and the checks), :mod:`~vixray.baselines.simple`,
:mod:`~vixray.baselines.learned`, :mod:`~vixray.baselines.volatility`. ``random`` and ``stratified`` are luck: the
strongest baseline of a report is chosen among the others (:func:`strongest_baseline`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from vixray.baselines import simple, volatility
from vixray.baselines.core import BaselineForecast, Fold, class_prior, make_fold
from vixray.baselines.learned import LEARNED
from vixray.config import LabelConfig
from vixray.dataset import Dataset

log = logging.getLogger(__name__)

_ZOO: dict[str, Callable[[Fold], BaselineForecast]] = {
    "random": simple.random,
    "majority": simple.majority,
    "persistence": simple.persistence,
    "stratified": simple.stratified,
    **LEARNED,
    "har": volatility.har,
    "garch": volatility.garch,
}
BASELINES = tuple(_ZOO)
RANDOM_BASELINES = ("random", "stratified")
# The columns each baseline reads besides ``label`` and the features.
NEEDS: dict[str, tuple[str, ...]] = {
    "persistence": ("prev_label",),
    "calendar": ("cal_weekday", "cal_days_to_next", "cal_holiday_next"),
    "boosting": ("cal_weekday", "cal_days_to_next", "cal_days_since_prev", "cal_holiday_next"),
    "har": (*volatility.HAR_TERMS, "target_log_change"),
    "garch": (volatility.RETURN,),
}

__all__ = [
    "BASELINES",
    "RANDOM_BASELINES",
    "BaselineForecast",
    "class_prior",
    "fit_predict",
    "fold_seed",
    "make_fold",
    "run_baselines",
    "strongest_baseline",
]


def _check_name(name: str) -> None:
    if name not in _ZOO:
        raise ValueError(f"baseline name = {name!r} is unknown; choose one of {list(BASELINES)}")


def _check_columns(name: str, dataset: Dataset) -> None:
    missing = [c for c in ("label", *NEEDS.get(name, ())) if c not in dataset.frame.columns]
    if missing:
        raise ValueError(
            f"baseline {name!r} needs dataset column(s) {missing}, absent from {dataset.frame.columns}; "
            "build the table with vixray.dataset.build_dataset"
        )


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be an integer >= 0")


def fit_predict(
    name: str,
    dataset: Dataset,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    labels: LabelConfig,
    seed: int = 0,
    val_fraction: float = 0.0,
) -> BaselineForecast:
    """Fit baseline ``name`` on ``train_idx`` and forecast ``test_idx``; draws repeat for the same ``seed``. A tuned
    baseline chooses its setting on the last ``val_fraction`` of the training rows (none when 0)."""
    _check_name(name)
    _check_seed(seed)
    _check_columns(name, dataset)
    fold = make_fold(dataset, train_idx, test_idx, labels=labels, val_fraction=val_fraction, seed=int(seed))
    return _ZOO[name](fold)


def fold_seed(seed: int, fold: int) -> int:
    """A per-fold seed: folds draw differently, the same (seed, fold) always draws the same."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def run_baselines(
    dataset: Dataset,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    labels: LabelConfig,
    val_fraction: float = 0.0,
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
                fit_predict(
                    name,
                    dataset,
                    train_idx,
                    test_idx,
                    labels=labels,
                    seed=fold_seed(seed, k),
                    val_fraction=val_fraction,
                )
            )
        log.debug("baselines: fold %d done (%d train, %d test rows)", k, len(train_idx), len(test_idx))
    return out


def strongest_baseline(accuracy: Mapping[str, float]) -> str:
    """The non-random baseline with the highest accuracy (the first listed on a tie): the yardstick a report tests
    the model against. Given development-era accuracies, the choice never looks at the holdout."""
    candidates = [name for name in accuracy if name not in RANDOM_BASELINES] or list(accuracy)
    if not candidates:
        raise ValueError("no baseline was scored: the report compares the model with the baselines")
    return max(candidates, key=lambda name: accuracy[name])
