"""Tests of direction forecasts on the same test days: could the model's hits be luck, and is it better than a
yardstick?

* One forecaster: an exact binomial test of its hits against a rate, Pesaran-Timmermann for the Up and Down calls,
  and a stationary block-bootstrap interval of accuracy (days are autocorrelated, so an iid interval would be too
  narrow; the block length is Politis and White's).
* Two forecasters on the same days (:func:`paired_comparison`): the accuracy difference with a paired
  stationary-bootstrap interval (the daily differences are resampled, so both forecasters see the same days) and
  McNemar's exact test; with probabilities, the log-loss difference with its interval and the Diebold-Mariano test
  with the Harvey-Leybourne-Newbold small-sample correction (:func:`diebold_mariano`).

Everything returned is plain Python (floats, ints, lists, dicts, None), ready for JSON.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from arch.bootstrap import StationaryBootstrap, optimal_block_length
from scipy.stats import binomtest, chi2, norm
from scipy.stats import t as student_t
from statsmodels.tsa.stattools import acovf

from vixray.labels import CLASS_NAMES, class_id
from vixray.metrics.checks import (
    check_block_length,
    check_level,
    check_n_boot,
    check_probability,
    flags,
    labels_array,
    proba_array,
    same_length,
    vector,
)
from vixray.metrics.scores import daily_log_loss

ALTERNATIVES = ("greater", "less", "two-sided")
DEFAULT_N_BOOT = 2000


# ------------------------------------------------------------------------------------------------ one forecaster


def binomial_test(k: int, n: int, *, p: float, alternative: str = "greater") -> dict[str, Any]:
    """Exact binomial test of ``k`` hits in ``n`` days against a hit rate ``p`` (one-sided 'greater' by default)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n = {n!r}: must be an integer >= 1 (the number of test days)")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= n:
        raise ValueError(f"k = {k!r}: must be an integer in [0, n = {n}] (the number of correct days)")
    check_probability(p, name="p")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative = {alternative!r}: choose one of {list(ALTERNATIVES)}")
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
    a = flags(correct_a, name="correct_a")
    b_flags = flags(correct_b, name="correct_b")
    same_length(a, b_flags, names=("correct_a", "correct_b"))
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
    y = flags(actual, name="actual")
    f = flags(predicted, name="predicted")
    same_length(y, f, names=("actual", "predicted"))
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


def auto_block_length(series: np.ndarray) -> float:
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
    x = vector(values, name="values").astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("values holds NaN or infinite entries: drop or fill them before bootstrapping")
    check_level(level)
    check_n_boot(n_boot)
    check_block_length(block_length)
    length = float(block_length) if block_length is not None else auto_block_length(x)
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


# ------------------------------------------------------------------------------------------------ two forecasters


def diebold_mariano(loss_a: Any, loss_b: Any, *, horizon: int = 1) -> dict[str, Any]:
    """Diebold-Mariano (1995) test of equal expected loss, with Harvey, Leybourne and Newbold's (1997) correction.

    d_t = loss_b - loss_a, so a positive mean says A has the lower loss. The long-run variance of d is
    gamma_0 + 2 (gamma_1 + ... + gamma_{h-1}) (statsmodels' autocovariances), DM = mean(d) / sqrt(var / T), and
    HLN's factor sqrt((T + 1 - 2h + h(h - 1) / T) / T) turns it into a statistic compared with Student's t on
    T - 1 degrees of freedom (two-sided p-value). Losses equal on every day leave nothing to test: the statistic is
    None and the p-value 1.
    """
    a = vector(loss_a, name="loss_a").astype(np.float64)
    b = vector(loss_b, name="loss_b").astype(np.float64)
    same_length(a, b, names=("loss_a", "loss_b"))
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon = {horizon!r}: must be an integer >= 1 (days ahead of the forecasts)")
    d = b - a  # (T,)
    n = len(d)
    gammas = acovf(d, nlag=horizon - 1, fft=False) if n > 1 else np.zeros(horizon)  # (h,)
    variance = float(gammas[0] + 2.0 * np.sum(gammas[1:horizon]))
    out: dict[str, Any] = {"n": n, "mean_difference": float(d.mean()), "horizon": horizon}
    if n < 2 or variance <= 1e-300:
        return {**out, "statistic": None, "p_value": 1.0}
    dm = d.mean() / math.sqrt(variance / n)
    hln = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = float(dm * hln)
    return {**out, "statistic": statistic, "p_value": float(2.0 * student_t.sf(abs(statistic), df=n - 1))}


def paired_comparison(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    *,
    proba_a: Any | None = None,
    proba_b: Any | None = None,
    horizon: int = 1,
    level: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    classes: Sequence[str] = CLASS_NAMES,
) -> dict[str, Any]:
    """Forecaster A against B on the same days: the difference of their accuracies (A - B) with a paired stationary
    block-bootstrap interval and McNemar's exact p; with both probabilities, the difference of their log losses
    (B - A: positive favours A, as for accuracy) with its interval and the Diebold-Mariano test. ``classes`` names
    the label kind's classes in id order (:func:`vixray.labels.class_names`)."""
    k = len(classes)
    y = labels_array(y_true, name="y_true", n_classes=k)
    a = labels_array(pred_a, name="pred_a", n_classes=k)
    b = labels_array(pred_b, name="pred_b", n_classes=k)
    same_length(y, a, names=("y_true", "pred_a"))
    same_length(y, b, names=("y_true", "pred_b"))
    right_a, right_b = y == a, y == b  # (T,) each
    out: dict[str, Any] = {
        "n": len(y),
        "accuracy_a": float(right_a.mean()),
        "accuracy_b": float(right_b.mean()),
        "accuracy_difference": block_bootstrap_ci(
            right_a.astype(np.float64) - right_b, level=level, n_boot=n_boot, seed=seed
        ),
        "mcnemar": mcnemar_test(right_a, right_b),
        "log_loss_difference": None,
        "diebold_mariano": None,
    }
    if proba_a is not None and proba_b is not None:
        loss_a = daily_log_loss(y, proba_array(proba_a, n=len(y), n_classes=k))  # (T,)
        loss_b = daily_log_loss(y, proba_array(proba_b, n=len(y), n_classes=k))  # (T,)
        out["log_loss_difference"] = block_bootstrap_ci(
            loss_b - loss_a, level=level, n_boot=n_boot, seed=seed
        )
        out["diebold_mariano"] = diebold_mariano(loss_a, loss_b, horizon=horizon)
    return out


# ------------------------------------------------------------------------------------------------ the bundle


def compare_to_baselines(
    y_true: Any,
    model_pred: Any,
    *,
    baselines: Mapping[str, Any],
    majority_accuracy: float | None = None,
    chance: float | None = None,
    bootstrap: Mapping[str, Any] | None = None,
    seed: int = 0,
    classes: Sequence[str] = CLASS_NAMES,
) -> dict[str, Any]:
    """The pooled significance tests of a model's predictions on its test rows.

    ``binomial_vs_chance`` (hits against ``chance``), ``binomial_vs_majority`` (against the majority baseline's
    accuracy on the same rows; None when ``majority_accuracy`` is None), ``mcnemar`` (against each baseline's
    predictions on the same rows), ``pesaran_timmermann`` (``up``: Up vs not Up, ``down``: Down vs not Down) and
    ``bootstrap_ci`` (stationary block-bootstrap interval of accuracy; ``bootstrap`` passes ``level``, ``n_boot``,
    ``block_length`` to :func:`block_bootstrap_ci`). ``classes`` names the classes in id order; ``chance``
    defaults to one over their number (the uniform random guess). With two classes the Up and Down tests coincide.
    """
    k = len(classes)
    for name in ("up", "down"):
        if name not in classes:
            raise ValueError(
                f"classes = {list(classes)} has no {name!r} class: pass vixray.labels.class_names(kind)"
            )
    chance = 1.0 / k if chance is None else chance
    y = labels_array(y_true, name="y_true", n_classes=k)
    pred = labels_array(model_pred, name="model_pred", n_classes=k)
    same_length(y, pred, names=("y_true", "model_pred"))
    check_probability(chance, name="chance", open_interval=True)
    if majority_accuracy is not None:
        check_probability(majority_accuracy, name="majority_accuracy")
    options = dict(bootstrap or {})
    unknown = set(options) - {"level", "n_boot", "block_length"}
    if unknown:
        raise ValueError(
            f"bootstrap has unknown key(s) {sorted(unknown)}: allowed are level, n_boot, block_length "
            "(the seed comes from seed=)"
        )
    checked = {}
    for name, baseline_pred in baselines.items():
        b = labels_array(baseline_pred, name=f"baselines[{name!r}]", n_classes=k)
        same_length(y, b, names=("y_true", f"baselines[{name!r}]"))
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
            name: pesaran_timmermann(y == class_id(classes, name), pred == class_id(classes, name))
            for name in ("up", "down")
        },
        "bootstrap_ci": block_bootstrap_ci(correct.astype(np.float64), seed=seed, **options),
    }
