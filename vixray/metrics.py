"""Scores and significance tests for direction forecasts on the test rows of walk-forward folds.

:func:`classification_metrics` scores one set of predictions (accuracy, balanced accuracy, macro-F1, log loss,
confusion, per-class precision and recall); pooled over folds, every test day weighs the same.
The tests ask whether the model's pooled hits could be luck: an exact binomial test against chance and against the
majority baseline's rate, McNemar's test against each baseline on the same days, Pesaran-Timmermann for the Up and
Down calls, a stationary block-bootstrap interval for accuracy (days are autocorrelated, so an iid interval would be
too narrow) and Hansen's SPA test for losses. Everything returned is plain Python (floats, ints, lists, dicts, None),
ready for JSON.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from arch.bootstrap import SPA, StationaryBootstrap, optimal_block_length
from scipy.stats import binomtest, chi2, norm

from vixray.labels import DOWN, N_CLASSES, UP

PROBA_CLIP = 1e-7
# float32 softmax outputs sum to 1 within ~1e-6; anything further off is not a probability row
PROBA_SUM_TOL = 1e-4
_ALTERNATIVES = ("greater", "less", "two-sided")


# ------------------------------------------------------------------------------------------------ checks


def _check_n_classes(n_classes: int) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes = {n_classes!r}: must be an integer >= 2 (3 for Down / Neutral / Up)")


def _vector(values: Any, *, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}: pass a 1-D array with one value per day")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: pass at least one test row")
    return arr


def _labels(values: Any, *, name: str, n_classes: int) -> np.ndarray:
    arr = _vector(values, name=name)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} has dtype {arr.dtype}: pass integer class labels 0..{n_classes - 1} "
            "(np.argmax(proba, axis=1) turns probabilities into labels)"
        )
    bad = arr[(arr < 0) | (arr >= n_classes)]
    if bad.size:
        raise ValueError(
            f"{name} holds label {int(bad[0])}, outside 0..{n_classes - 1} for n_classes = {n_classes}; "
            "labels are 0 Down, 1 Neutral, 2 Up"
        )
    return arr.astype(np.int64)


def _flags(values: Any, *, name: str) -> np.ndarray:
    arr = _vector(values, name=name)
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} has dtype {arr.dtype} with values other than 0/1: pass a boolean array "
                "(e.g. pred == y_true, or actual == 2 for Up)"
            )
        arr = arr.astype(bool)
    return arr


def _same_length(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} has {len(a)} rows but {names[1]} has {len(b)}: both must hold the same test days in "
            "the same order"
        )


def _proba(proba: Any, *, n: int, n_classes: int) -> np.ndarray:
    arr = np.asarray(proba, dtype=np.float64)
    if arr.shape != (n, n_classes):
        raise ValueError(
            f"proba has shape {arr.shape}, expected ({n}, {n_classes}): one row per test day, one column per "
            "class in label order"
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("proba holds negative or non-finite values: pass probabilities in [0, 1]")
    sums = arr.sum(axis=1)  # (n,)
    off = np.flatnonzero(np.abs(sums - 1.0) > PROBA_SUM_TOL)
    if off.size:
        raise ValueError(
            f"proba row {int(off[0])} sums to {sums[off[0]]:.6g}, not 1 (tolerance {PROBA_SUM_TOL}): "
            "pass probabilities, e.g. softmax(logits), not raw scores"
        )
    return arr


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level!r}: must lie strictly between 0 and 1 (0.95 for a 95% interval)")


def _check_n_boot(n_boot: int) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot = {n_boot!r}: must be an integer >= 1 (2000 is usual)")


def _check_block_length(block_length: float | None) -> None:
    if block_length is not None and not (math.isfinite(block_length) and block_length >= 1.0):
        raise ValueError(
            f"block_length = {block_length!r}: must be a number >= 1 (the mean block length in days), "
            "or None to choose it from the data"
        )


def _check_probability(value: float, *, name: str, open_interval: bool = False) -> None:
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = "strictly between 0 and 1" if open_interval else "in [0, 1]"
        raise ValueError(f"{name} = {value!r}: must be a probability {bounds}")


# ------------------------------------------------------------------------------------------------ scores


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
    _check_n_classes(n_classes)
    yt = _labels(y_true, name="y_true", n_classes=n_classes)
    yp = _labels(y_pred, name="y_pred", n_classes=n_classes)
    _same_length(yt, yp, names=("y_true", "y_pred"))
    p = _proba(proba, n=len(yt), n_classes=n_classes) if proba is not None else None

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


# ------------------------------------------------------------------------------------------------ tests


def binomial_test(k: int, n: int, *, p: float, alternative: str = "greater") -> dict[str, Any]:
    """Exact binomial test of ``k`` hits in ``n`` days against a hit rate ``p`` (one-sided 'greater' by default)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n = {n!r}: must be an integer >= 1 (the number of test days)")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= n:
        raise ValueError(f"k = {k!r}: must be an integer in [0, n = {n}] (the number of correct days)")
    _check_probability(p, name="p")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative = {alternative!r}: choose one of {list(_ALTERNATIVES)}")
    result = binomtest(int(k), int(n), p=float(p), alternative=alternative)
    return {
        "k": int(k),
        "n": int(n),
        "p0": float(p),
        "alternative": alternative,
        "p_value": float(result.pvalue),
    }


def mcnemar_test(correct_a: Any, correct_b: Any) -> dict[str, Any]:
    """McNemar's test of two forecasters on the same days: exact binomial p-value, plus the corrected chi-square.

    Only the days where exactly one is right carry information: b (A right, B wrong) and c (A wrong, B right).
    Under equal accuracy each such day is a fair coin, so the exact two-sided p-value is the binomial one on
    min(b, c) of b + c. The chi-square statistic (|b - c| - 1)^2 / (b + c) is reported beside it for reference.
    """
    a = _flags(correct_a, name="correct_a")
    b_flags = _flags(correct_b, name="correct_b")
    _same_length(a, b_flags, names=("correct_a", "correct_b"))
    b = int(np.sum(a & ~b_flags))
    c = int(np.sum(~a & b_flags))
    out: dict[str, Any] = {"b": b, "c": c, "n_discordant": b + c}
    if b + c == 0:
        # the two are right on exactly the same days: no evidence either way
        return {**out, "p_value": 1.0, "statistic": None, "chi2_p_value": 1.0}
    exact = binomtest(min(b, c), b + c, p=0.5, alternative="two-sided").pvalue
    stat = (abs(b - c) - 1.0) ** 2 / (b + c)
    return {
        **out,
        "p_value": float(min(exact, 1.0)),
        "statistic": float(stat),
        "chi2_p_value": float(chi2.sf(stat, 1)),
    }


def pesaran_timmermann(actual: Any, predicted: Any) -> dict[str, Any]:
    """Pesaran-Timmermann (1992) test that binary calls (e.g. "Up tomorrow") beat independence from the outcome.

    With P the hit rate, Pa and Pf the shares of actual and predicted events, P* = Pa Pf + (1 - Pa)(1 - Pf) is the
    hit rate of a predictor independent of the outcome; the statistic (P - P*) / sqrt(var(P) - var(P*)) is
    asymptotically N(0, 1), and the one-sided p-value is 1 - Phi(stat). A constant outcome or a constant call makes
    the variance difference 0: there is nothing to test, so the statistic is None and p_value 1.0, with a note.
    """
    y = _flags(actual, name="actual")
    f = _flags(predicted, name="predicted")
    _same_length(y, f, names=("actual", "predicted"))
    n = len(y)
    hit = float(np.mean(y == f))
    pa, pf = float(y.mean()), float(f.mean())
    expected = pa * pf + (1 - pa) * (1 - pf)
    var_p = expected * (1 - expected) / n
    var_expected = (
        (2 * pa - 1) ** 2 * pf * (1 - pf) / n
        + (2 * pf - 1) ** 2 * pa * (1 - pa) / n
        + 4 * pa * pf * (1 - pa) * (1 - pf) / n**2
    )
    out: dict[str, Any] = {
        "n": n,
        "hit_rate": hit,
        "expected_hit_rate": expected,
        "p_actual": pa,
        "p_predicted": pf,
    }
    denominator = var_p - var_expected
    if pa in (0.0, 1.0) or pf in (0.0, 1.0) or denominator <= 0:
        which = "the actual outcome" if pa in (0.0, 1.0) else "the prediction"
        return {
            **out,
            "statistic": None,
            "p_value": 1.0,
            "note": f"{which} is constant: the test is undefined",
        }
    stat = (hit - expected) / math.sqrt(denominator)
    return {**out, "statistic": float(stat), "p_value": float(norm.sf(stat)), "note": None}


def _auto_block_length(series: np.ndarray) -> float:
    """Politis-White stationary block length (max over columns), at least 1; 1 for a constant series."""
    matrix = series.reshape(len(series), -1)  # (T, K)
    if len(series) < 3 or np.all(np.ptp(matrix, axis=0) == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # a constant column divides 0 by 0; it falls back to 1
        lengths = optimal_block_length(matrix)["stationary"].to_numpy(dtype=np.float64)  # (K,)
    lengths = lengths[np.isfinite(lengths)]
    return float(max(1.0, lengths.max())) if lengths.size else 1.0


def block_bootstrap_ci(
    values: Any,
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    block_length: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean of ``values`` (e.g. daily correctness 0/1) with a stationary block-bootstrap percentile interval.

    Resampling blocks of consecutive days keeps their autocorrelation (VIX regimes last weeks), so a run of good
    days is not mistaken for many independent ones. ``block_length`` (mean block length in days) defaults to
    Politis and White's optimal length for the series, at least 1.
    """
    x = _vector(values, name="values").astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("values holds NaN or infinite entries: drop or fill them before bootstrapping")
    _check_level(level)
    _check_n_boot(n_boot)
    _check_block_length(block_length)
    length = float(block_length) if block_length is not None else _auto_block_length(x)
    # arch takes the stationary bootstrap's mean block length as a float (its stub says int)
    bootstrap = StationaryBootstrap(length, x, seed=np.random.default_rng(seed))  # type: ignore[arg-type]
    low, high = bootstrap.conf_int(np.mean, reps=int(n_boot), method="percentile", size=level)[:, 0]
    return {
        "mean": float(x.mean()),
        "low": float(low),
        "high": float(high),
        "level": float(level),
        "block_length": length,
        "n_boot": int(n_boot),
    }


def spa_test(
    model_losses: Any,
    benchmark_loss: Any,
    *,
    n_boot: int = 2000,
    block_length: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Hansen's SPA test: does any of the K models beat the benchmark on per-day loss (lower is better)?

    ``model_losses`` is (T, K) (or (T,) for one model), ``benchmark_loss`` is (T,). A small p-value says at least
    one model has lower expected loss than the benchmark, accounting for having tried K of them; "consistent" is
    Hansen's recommended p-value, "lower" and "upper" bound it. When every model is clearly worse, arch compares the
    (negative, not floored at 0) mean loss difference with its own bootstrap spread, so "lower" and "consistent"
    sit near 1/2 and only "upper" approaches 1: either way, no evidence of a better model. The block length
    defaults to the largest Politis-White length among the loss differentials, at least 1.
    """
    bench = _vector(benchmark_loss, name="benchmark_loss").astype(np.float64)
    models = np.asarray(model_losses, dtype=np.float64)
    if models.ndim == 1:
        models = models[:, None]  # (T, 1)
    if models.ndim != 2 or models.shape[1] == 0:
        raise ValueError(
            f"model_losses has shape {models.shape}: pass (T, K) per-day losses, one column per model"
        )
    if models.shape[0] != len(bench):
        raise ValueError(
            f"model_losses has {models.shape[0]} rows but benchmark_loss has {len(bench)}: both must hold the same "
            "test days in the same order"
        )
    if not (np.isfinite(models).all() and np.isfinite(bench).all()):
        raise ValueError("model_losses or benchmark_loss holds NaN or infinite entries: pass finite losses")
    _check_n_boot(n_boot)
    _check_block_length(block_length)
    length = float(block_length) if block_length is not None else _auto_block_length(bench[:, None] - models)
    spa = SPA(bench, models, block_size=length, reps=int(n_boot), seed=np.random.default_rng(seed))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # a model identical to the benchmark has zero variance
        spa.compute()
    pvalues = spa.pvalues
    return {
        "p_values": {key: float(pvalues[key]) for key in ("lower", "consistent", "upper")},
        "n_models": int(models.shape[1]),
        "block_length": length,
    }


# ------------------------------------------------------------------------------------------------ the bundle


def compare_to_baselines(
    y_true: Any,
    model_pred: Any,
    *,
    baselines: Mapping[str, Any],
    majority_accuracy: float | None = None,
    chance: float = 1.0 / N_CLASSES,
    bootstrap: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The pooled significance tests of a model's predictions on its test rows.

    ``binomial_vs_chance`` (hits against ``chance``), ``binomial_vs_majority`` (against the majority baseline's
    accuracy on the same rows; None when ``majority_accuracy`` is None), ``mcnemar`` (against each baseline's
    predictions on the same rows), ``pesaran_timmermann`` (``up``: Up vs not Up, ``down``: Down vs not Down) and
    ``bootstrap_ci`` (stationary block-bootstrap interval of accuracy; ``bootstrap`` passes ``level``, ``n_boot``,
    ``block_length`` to :func:`block_bootstrap_ci`).
    """
    y = _labels(y_true, name="y_true", n_classes=N_CLASSES)
    pred = _labels(model_pred, name="model_pred", n_classes=N_CLASSES)
    _same_length(y, pred, names=("y_true", "model_pred"))
    _check_probability(chance, name="chance", open_interval=True)
    if majority_accuracy is not None:
        _check_probability(majority_accuracy, name="majority_accuracy")
    options = dict(bootstrap or {})
    unknown = set(options) - {"level", "n_boot", "block_length"}
    if unknown:
        raise ValueError(
            f"bootstrap has unknown key(s) {sorted(unknown)}: allowed are level, n_boot, block_length "
            "(the seed comes from seed=)"
        )
    checked = {}
    for name, baseline_pred in baselines.items():
        b = _labels(baseline_pred, name=f"baselines[{name!r}]", n_classes=N_CLASSES)
        _same_length(y, b, names=("y_true", f"baselines[{name!r}]"))
        checked[name] = b

    correct = y == pred  # (n,)
    hits, n = int(correct.sum()), len(y)
    return {
        "n": n,
        "accuracy": hits / n,
        "binomial_vs_chance": binomial_test(hits, n, p=chance),
        "binomial_vs_majority": (
            binomial_test(hits, n, p=majority_accuracy) if majority_accuracy is not None else None
        ),
        "mcnemar": {name: mcnemar_test(correct, y == b) for name, b in checked.items()},
        "pesaran_timmermann": {
            "up": pesaran_timmermann(y == UP, pred == UP),
            "down": pesaran_timmermann(y == DOWN, pred == DOWN),
        },
        "bootstrap_ci": block_bootstrap_ci(correct.astype(np.float64), seed=seed, **options),
    }
