from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest, chi2, norm
from scipy.stats import t as student_t
from sklearn import metrics as skm

from vixray.metrics import (
    binomial_test,
    block_bootstrap_ci,
    classification_metrics,
    compare_to_baselines,
    diebold_mariano,
    mcnemar_test,
    paired_comparison,
    pesaran_timmermann,
    spa_test,
)

# Nine days; rows = true, columns = predicted:
#   true 0 (days 0-2): predicted 0, 0, 1     -> [2, 1, 0]
#   true 1 (days 3-4): predicted 1, 1        -> [0, 2, 0]
#   true 2 (days 5-8): predicted 2, 2, 2, 0  -> [1, 0, 3]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 1, 2, 2, 2, 0])


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED)
    assert m["n"] == 9
    assert m["confusion"] == [[2, 1, 0], [0, 2, 0], [1, 0, 3]]
    # hits on the diagonal: 2 + 2 + 3 = 7 of 9
    assert m["accuracy"] == pytest.approx(7 / 9)
    # recall per row: 2/3, 2/2, 3/4; balanced accuracy = (8/12 + 12/12 + 9/12) / 3 = 29/36
    assert m["recall"] == pytest.approx([2 / 3, 1.0, 3 / 4])
    assert m["balanced_accuracy"] == pytest.approx(29 / 36)
    # precision per column: 2/3, 2/3, 3/3
    assert m["precision"] == pytest.approx([2 / 3, 2 / 3, 1.0])
    # F1 = 2tp / (2tp + fp + fn): 4/6, 4/5, 6/7; macro = (70 + 84 + 90) / 105 / 3 = 244/315
    assert m["macro_f1"] == pytest.approx(244 / 315)
    assert m["log_loss"] is None


def test_classification_metrics_match_sklearn():
    m = classification_metrics(Y_TRUE, Y_PRED)
    labels = [0, 1, 2]
    assert m["confusion"] == skm.confusion_matrix(Y_TRUE, Y_PRED, labels=labels).tolist()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(Y_TRUE, Y_PRED))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(Y_TRUE, Y_PRED, labels=labels, average="macro", zero_division=0)
    )
    prec, rec, _, _ = skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=labels, zero_division=0)
    assert m["precision"] == pytest.approx(prec.tolist()) and m["recall"] == pytest.approx(rec.tolist())


def test_absent_class_counts_in_macro_f1_but_not_balanced_accuracy():
    # Neutral never occurs nor is predicted. Recall: Down 2/2, Up 1/2 -> balanced (1 + 1/2) / 2 = 3/4.
    # F1: Down 2*2/(4 + 1 + 0) = 4/5, Neutral 0 (undefined -> 0), Up 2*1/(2 + 0 + 1) = 2/3 -> macro 22/45.
    y, p = np.array([0, 0, 2, 2]), np.array([0, 0, 2, 0])
    m = classification_metrics(y, p)
    assert m["balanced_accuracy"] == pytest.approx(3 / 4)
    assert m["macro_f1"] == pytest.approx(22 / 45)
    assert m["precision"][1] == 0.0 and m["recall"][1] == 0.0
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(y, p, labels=[0, 1, 2], average="macro", zero_division=0)
    )


def test_log_loss_by_hand():
    y = np.array([0, 1, 2])
    proba = np.array([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]])
    m = classification_metrics(y, np.array([0, 1, 2]), proba=proba)
    # probability on the true class: 0.5, 0.6, 0.8
    assert m["log_loss"] == pytest.approx(-(math.log(0.5) + math.log(0.6) + math.log(0.8)) / 3)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))


def test_log_loss_clips_a_confident_miss():
    # [1, 0, 0] on a Neutral day: clipped to [1, 1e-7, 1e-7], renormalised by 1 + 2e-7
    m = classification_metrics(np.array([1]), np.array([0]), proba=np.array([[1.0, 0.0, 0.0]]))
    assert m["log_loss"] == pytest.approx(-math.log(1e-7 / (1 + 2e-7)))


def test_metrics_are_json_able():
    m = classification_metrics(Y_TRUE, Y_PRED, proba=np.full((9, 3), 1 / 3))
    assert json.loads(json.dumps(m)) == m
    assert m["log_loss"] == pytest.approx(math.log(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": np.array([0, 1, 2]), "y_pred": np.array([0, 1])}, r"y_true has 3 rows but y_pred has 2"),
        ({"y_true": np.array([0, 3]), "y_pred": np.array([0, 1])}, r"y_true holds label 3, outside 0\.\.2"),
        ({"y_true": np.array([0, 1]), "y_pred": np.array([-1, 1])}, r"y_pred holds label -1"),
        ({"y_true": np.array([0.0, 1.0]), "y_pred": np.array([0, 1])}, r"y_true has dtype float64"),
        ({"y_true": np.array([], dtype=int), "y_pred": np.array([], dtype=int)}, r"y_true is empty"),
        ({"y_true": np.zeros((2, 2), int), "y_pred": np.array([0, 1])}, r"y_true has shape \(2, 2\)"),
        (
            {"y_true": np.array([0, 1]), "y_pred": np.array([0, 1]), "proba": np.full((2, 2), 0.5)},
            r"proba has shape \(2, 2\), expected \(2, 3\)",
        ),
        (
            {
                "y_true": np.array([0, 1]),
                "y_pred": np.array([0, 1]),
                "proba": np.array([[0.5, 0.5, 0.5]] * 2),
            },
            r"proba row 0 sums to 1\.5, not 1",
        ),
        (
            {"y_true": np.array([0]), "y_pred": np.array([0]), "proba": np.array([[1.5, -0.5, 0.0]])},
            r"proba holds negative or non-finite values",
        ),
        (
            {"y_true": np.array([0]), "y_pred": np.array([0]), "n_classes": 1},
            r"n_classes = 1: must be an integer >= 2",
        ),
    ],
)
def test_classification_metrics_rejects_bad_input(kwargs, match):
    y_true, y_pred = kwargs.pop("y_true"), kwargs.pop("y_pred")
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, y_pred, **kwargs)


# ------------------------------------------------------------------------------------------------ binomial


def test_binomial_upper_tail_by_hand():
    # P(X >= 7), X ~ Bin(10, 1/3) = sum_{i=7}^{10} C(10, i) (1/3)^i (2/3)^(10 - i)
    expected = sum(math.comb(10, i) * (1 / 3) ** i * (2 / 3) ** (10 - i) for i in range(7, 11))
    out = binomial_test(7, 10, p=1 / 3)
    assert out == {
        "k": 7,
        "n": 10,
        "p0": pytest.approx(1 / 3),
        "alternative": "greater",
        "p_value": pytest.approx(expected),
    }


def test_binomial_lower_tail():
    # P(X <= 1), X ~ Bin(4, 1/2) = (1 + 4) / 16
    assert binomial_test(1, 4, p=0.5, alternative="less")["p_value"] == pytest.approx(5 / 16)


@pytest.mark.parametrize(
    ("k", "n", "p", "alternative", "match"),
    [
        (3, 0, 0.5, "greater", r"n = 0: must be an integer >= 1"),
        (11, 10, 0.5, "greater", r"k = 11: must be an integer in \[0, n = 10\]"),
        (3, 10, 1.5, "greater", r"p = 1\.5: must be a probability in \[0, 1\]"),
        (3, 10, 0.5, "bigger", r"alternative = 'bigger'"),
    ],
)
def test_binomial_rejects_bad_input(k, n, p, alternative, match):
    with pytest.raises(ValueError, match=match):
        binomial_test(k, n, p=p, alternative=alternative)


# ------------------------------------------------------------------------------------------------ McNemar


def _pair(b: int, c: int, both: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([True] * b + [False] * c + [True] * both + [False] * neither)
    bb = np.array([False] * b + [True] * c + [True] * both + [False] * neither)
    return a, bb


def test_mcnemar_by_hand():
    a, b = _pair(8, 2, both=15, neither=5)
    out = mcnemar_test(a, b)
    assert (out["b"], out["c"], out["n_discordant"]) == (8, 2, 10)
    # exact: 2 * sum_{i<=2} C(10, i) / 2^10 = 2 * (1 + 10 + 45) / 1024 = 0.109375
    assert out["p_value"] == pytest.approx(2 * sum(math.comb(10, i) for i in range(3)) / 2**10)
    assert out["p_value"] == pytest.approx(0.109375)
    # (|8 - 2| - 1)^2 / 10 = 2.5
    assert out["statistic"] == pytest.approx(2.5)
    assert out["chi2_p_value"] == pytest.approx(chi2.sf(2.5, 1))


def test_mcnemar_is_symmetric_in_p_value():
    a, b = _pair(8, 2, both=3, neither=3)
    assert mcnemar_test(b, a)["p_value"] == pytest.approx(mcnemar_test(a, b)["p_value"])
    assert (mcnemar_test(b, a)["b"], mcnemar_test(b, a)["c"]) == (2, 8)


def test_mcnemar_without_discordant_days():
    a, b = _pair(0, 0, both=4, neither=2)
    out = mcnemar_test(a, b)
    assert out["p_value"] == 1.0 and out["statistic"] is None


def test_mcnemar_accepts_zero_one_ints():
    a, b = _pair(8, 2, both=1, neither=1)
    assert mcnemar_test(a.astype(int), b.astype(int))["p_value"] == pytest.approx(0.109375)


def test_mcnemar_rejects_bad_input():
    with pytest.raises(ValueError, match=r"correct_a has 3 rows but correct_b has 2"):
        mcnemar_test(np.array([True, False, True]), np.array([True, False]))
    with pytest.raises(ValueError, match=r"correct_b has dtype int64 with values other than 0/1"):
        mcnemar_test(np.array([True, False]), np.array([2, 0]))
    with pytest.raises(ValueError, match=r"correct_a is empty"):
        mcnemar_test(np.array([], bool), np.array([], bool))


# ------------------------------------------------------------------------------------------------ Pesaran-Timmermann


def test_pesaran_timmermann_by_hand():
    actual = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    predicted = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], bool)
    # 2x2: both 1 = 3, actual only = 1, predicted only = 2, both 0 = 4; n = 10
    # P = (3 + 4) / 10 = 0.7; Pa = 0.4; Pf = 0.5
    # P* = Pa Pf + (1 - Pa)(1 - Pf) = 0.2 + 0.3 = 0.5
    # var(P) = P*(1 - P*) / n = 0.025
    # var(P*) = (2Pa - 1)^2 Pf(1 - Pf) / n + (2Pf - 1)^2 Pa(1 - Pa) / n + 4 Pa Pf (1 - Pa)(1 - Pf) / n^2
    #         = 0.04 * 0.25 / 10 + 0 + 4 * 0.06 / 100 = 0.001 + 0.0024 = 0.0034
    # statistic = (0.7 - 0.5) / sqrt(0.025 - 0.0034) = 0.2 / sqrt(0.0216) = 1.3608
    out = pesaran_timmermann(actual, predicted)
    assert out["hit_rate"] == pytest.approx(0.7) and out["expected_hit_rate"] == pytest.approx(0.5)
    assert out["p_actual"] == pytest.approx(0.4) and out["p_predicted"] == pytest.approx(0.5)
    assert out["statistic"] == pytest.approx(0.2 / math.sqrt(0.0216))
    assert out["p_value"] == pytest.approx(1 - norm.cdf(0.2 / math.sqrt(0.0216)))
    assert out["note"] is None


def test_pesaran_timmermann_contrarian_calls_get_a_large_p():
    actual = np.array([1, 0] * 20, bool)
    assert pesaran_timmermann(actual, ~actual)["p_value"] > 0.99
    assert pesaran_timmermann(actual, actual)["p_value"] < 1e-6


@pytest.mark.parametrize(
    ("actual", "predicted", "which"),
    [
        ([1, 0, 1, 0], [1, 1, 1, 1], "the prediction"),
        ([1, 1, 1, 1], [1, 0, 1, 0], "the actual outcome"),
    ],
)
def test_pesaran_timmermann_degenerate(actual, predicted, which):
    out = pesaran_timmermann(np.array(actual, bool), np.array(predicted, bool))
    assert out["statistic"] is None and out["p_value"] == 1.0
    assert which in out["note"]


def test_pesaran_timmermann_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"actual has 3 rows but predicted has 2"):
        pesaran_timmermann(np.array([1, 0, 1], bool), np.array([1, 0], bool))


# ------------------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_interval_contains_mean_and_repeats_for_a_seed():
    x = np.random.default_rng(1).integers(0, 2, 300).astype(float)
    out = block_bootstrap_ci(x, n_boot=300, seed=7)
    assert out["low"] <= out["mean"] <= out["high"] and out["low"] < out["high"]
    assert out["mean"] == pytest.approx(x.mean())
    assert out["level"] == 0.95 and out["n_boot"] == 300 and out["block_length"] >= 1
    assert block_bootstrap_ci(x, n_boot=300, seed=7) == out
    assert block_bootstrap_ci(x, n_boot=300, seed=8) != out


def test_bootstrap_is_wider_for_autocorrelated_days():
    # both have mean 0.5 over 400 days; one comes in runs of 40 equal days
    runs = np.tile(np.repeat([1.0, 0.0], 40), 5)
    iid = np.random.default_rng(2).permutation(runs)
    a = block_bootstrap_ci(runs, n_boot=400, seed=0)
    b = block_bootstrap_ci(iid, n_boot=400, seed=0)
    assert a["block_length"] > b["block_length"]
    assert a["high"] - a["low"] > 2 * (b["high"] - b["low"])


def test_bootstrap_fixed_block_length_and_constant_series():
    x = np.ones(50)
    out = block_bootstrap_ci(x, n_boot=50, level=0.9)
    assert out["block_length"] == 1.0 and out["low"] == out["high"] == out["mean"] == 1.0
    assert block_bootstrap_ci(np.arange(30.0), n_boot=50, block_length=5)["block_length"] == 5.0


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        (np.ones(5), {"level": 1.0}, r"level = 1\.0: must lie strictly between 0 and 1"),
        (np.ones(5), {"level": 0.0}, r"level = 0\.0"),
        (np.array([]), {}, r"values is empty"),
        (np.array([1.0, np.nan]), {}, r"values holds NaN"),
        (np.ones(5), {"n_boot": 0}, r"n_boot = 0: must be an integer >= 1"),
        (np.ones(5), {"block_length": 0.5}, r"block_length = 0\.5: must be a number >= 1"),
    ],
)
def test_bootstrap_rejects_bad_input(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        block_bootstrap_ci(values, **kwargs)


# ------------------------------------------------------------------------------------------------ SPA


def test_spa_detects_a_much_better_model_and_not_a_worse_one():
    rng = np.random.default_rng(3)
    bench = rng.uniform(0.5, 1.5, 400)  # mean loss 1
    better = bench - 0.5 + rng.normal(0, 0.1, 400)
    worse = bench + 0.5 + rng.normal(0, 0.1, 400)
    good = spa_test(np.column_stack([better, worse]), bench, n_boot=200, seed=0)
    assert good["n_models"] == 2 and good["block_length"] >= 1
    assert max(good["p_values"].values()) < 0.01
    bad = spa_test(worse, bench, n_boot=200, seed=0)
    assert bad["n_models"] == 1
    # the upper p-value (every model recentred at the null boundary) is ~1; lower and consistent compare the
    # unfloored worse-than-benchmark mean with its own bootstrap spread, so they sit near 1/2: no evidence either way
    assert bad["p_values"]["upper"] > 0.95
    assert bad["p_values"]["consistent"] > 0.2
    assert bad["p_values"]["lower"] <= bad["p_values"]["consistent"] <= bad["p_values"]["upper"]
    assert spa_test(worse, bench, n_boot=200, seed=0) == bad


# ------------------------------------------------------------------------------------------------ paired


def test_diebold_mariano_by_hand():
    # d = loss_b - loss_a = 1, 0, 2, 0: mean 0.75, gamma_0 = 2.75 / 4; DM = 0.75 / sqrt(0.6875 / 4) = 1.8091,
    # HLN for h = 1: sqrt((4 + 1 - 2) / 4) = sqrt(0.75), so the statistic is 1.5667 on t(3)
    got = diebold_mariano(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 5.0, 4.0]))
    statistic = 0.75 / math.sqrt(0.6875 / 4) * math.sqrt(0.75)
    assert got["statistic"] == pytest.approx(statistic) and got["mean_difference"] == 0.75
    assert got["p_value"] == pytest.approx(2 * student_t.sf(statistic, df=3))


def test_diebold_mariano_two_days_ahead_counts_the_first_autocovariance():
    a = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 1.0])
    b = np.array([2.0, 2.5, 5.0, 4.0, 3.0, 5.0])
    d = b - a
    c = d - d.mean()
    gamma0, gamma1 = (c @ c) / 6, (c[:-1] @ c[1:]) / 6
    dm = d.mean() / math.sqrt((gamma0 + 2 * gamma1) / 6)
    hln = math.sqrt((6 + 1 - 4 + 2 / 6) / 6)
    assert diebold_mariano(a, b, horizon=2)["statistic"] == pytest.approx(dm * hln)


def test_diebold_mariano_of_equal_losses_tests_nothing():
    got = diebold_mariano(np.ones(5), np.ones(5))
    assert got["statistic"] is None and got["p_value"] == 1.0
    with pytest.raises(ValueError, match=r"horizon = 0: must be an integer >= 1"):
        diebold_mariano(np.ones(5), np.ones(5), horizon=0)


def test_paired_comparison_resamples_the_same_days_for_both():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    a = np.where(rng.random(300) < 0.6, y, (y + 1) % 3)  # right on ~60% of days
    b = np.where(rng.random(300) < 0.4, y, (y + 2) % 3)  # right on ~40%
    got = paired_comparison(y, a, b, n_boot=300, seed=2)
    right_a, right_b = a == y, b == y
    assert (got["accuracy_a"], got["accuracy_b"]) == pytest.approx((right_a.mean(), right_b.mean()))
    # the interval of the daily differences: both forecasters judged on each resampled day
    expected = block_bootstrap_ci(right_a.astype(float) - right_b, n_boot=300, seed=2)
    assert got["accuracy_difference"] == expected and got["accuracy_difference"]["low"] > 0
    assert got["mcnemar"] == mcnemar_test(right_a, right_b)
    assert got["log_loss_difference"] is None and got["diebold_mariano"] is None


def test_paired_comparison_with_probabilities_adds_the_log_loss_gain():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    sharp = np.eye(3)[y] * 0.8 + 0.2 / 3  # 0.8667 on the truth every day
    flat = np.full((8, 3), 1 / 3)
    got = paired_comparison(y, y, np.zeros(8, np.int64), proba_a=sharp, proba_b=flat, n_boot=50)
    gain = math.log(0.8 + 0.2 / 3) - math.log(1 / 3)  # log loss of flat minus log loss of sharp, each day
    assert got["log_loss_difference"]["mean"] == pytest.approx(gain)
    assert got["diebold_mariano"]["statistic"] is None  # the same gain every day: nothing varies


# ------------------------------------------------------------------------------------------------ the bundle


def _perfect_day_data(n: int = 60) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    y = np.tile([0, 1, 2], n // 3)  # (n,)
    rng = np.random.default_rng(4)
    return y, {"random": rng.integers(0, 3, n), "majority": np.ones(n, np.int64)}


def test_compare_to_baselines_perfect_predictor():
    y, baselines = _perfect_day_data()
    out = compare_to_baselines(
        y, y.copy(), baselines=baselines, majority_accuracy=1 / 3, bootstrap={"n_boot": 50}
    )
    assert set(out) == {
        "n",
        "accuracy",
        "binomial_vs_chance",
        "binomial_vs_majority",
        "mcnemar",
        "pesaran_timmermann",
        "bootstrap_ci",
    }
    assert out["n"] == 60 and out["accuracy"] == 1.0
    assert out["binomial_vs_chance"]["p_value"] == pytest.approx((1 / 3) ** 60)
    assert out["binomial_vs_majority"]["p_value"] == pytest.approx((1 / 3) ** 60)
    assert set(out["mcnemar"]) == {"random", "majority"}
    # majority is right on the 20 Neutral days only: b = 40, c = 0 -> p = 2 / 2^40
    assert out["mcnemar"]["majority"]["p_value"] == pytest.approx(2 / 2**40)
    assert out["mcnemar"]["random"]["p_value"] < 1e-6
    assert set(out["pesaran_timmermann"]) == {"up", "down"}
    assert out["pesaran_timmermann"]["up"]["p_value"] < 1e-6
    assert out["pesaran_timmermann"]["down"]["p_value"] < 1e-6
    ci = out["bootstrap_ci"]
    assert ci["low"] == ci["high"] == 1.0 and ci["n_boot"] == 50
    assert json.loads(json.dumps(out)) == out


def test_compare_to_baselines_without_majority_rate():
    y, baselines = _perfect_day_data()
    out = compare_to_baselines(y, baselines["random"], baselines={}, bootstrap={"n_boot": 20})
    assert out["binomial_vs_majority"] is None and out["mcnemar"] == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"baselines": {"har": np.zeros(5, np.int64)}}, r"y_true has 60 rows but baselines\['har'\] has 5"),
        ({"baselines": {"har": np.full(60, 4)}}, r"baselines\['har'\] holds label 4"),
        ({"chance": 0.0}, r"chance = 0\.0: must be a probability strictly between 0 and 1"),
        ({"majority_accuracy": 1.2}, r"majority_accuracy = 1\.2"),
        ({"bootstrap": {"reps": 10}}, r"bootstrap has unknown key\(s\) \['reps'\]"),
        ({"bootstrap": {"level": 2.0}}, r"level = 2\.0"),
    ],
)
def test_compare_to_baselines_rejects_bad_input(kwargs, match):
    y, _ = _perfect_day_data()
    kwargs = {"baselines": {}, **kwargs}
    with pytest.raises(ValueError, match=match):
        compare_to_baselines(y, y.copy(), **kwargs)


def test_compare_to_baselines_rejects_model_length_mismatch():
    y, _ = _perfect_day_data()
    with pytest.raises(ValueError, match=r"y_true has 60 rows but model_pred has 59"):
        compare_to_baselines(y, y[:-1], baselines={})


def test_two_classes_test_against_a_coin_and_up_down_coincide():
    y = np.tile([0, 1], 30)  # (60,) Down, Up, ...
    pred = y.copy()
    pred[:10] = 1 - pred[:10]  # 50 of 60 right
    out = compare_to_baselines(
        y,
        pred,
        baselines={"majority": np.zeros(60, np.int64)},
        bootstrap={"n_boot": 20},
        classes=("down", "up"),
    )
    assert out["binomial_vs_chance"]["p0"] == 0.5
    assert out["binomial_vs_chance"]["p_value"] == pytest.approx(
        binomtest(50, 60, 0.5, alternative="greater").pvalue
    )
    up, down = out["pesaran_timmermann"]["up"], out["pesaran_timmermann"]["down"]
    assert (
        up["statistic"] == pytest.approx(down["statistic"]) and up["hit_rate"] == down["hit_rate"] == 50 / 60
    )
    with pytest.raises(ValueError, match=r"model_pred holds label 2, outside 0..1 for n_classes = 2"):
        compare_to_baselines(y, np.full(60, 2), baselines={}, classes=("down", "up"))
    with pytest.raises(ValueError, match=r"classes = \['a', 'b'\] has no 'up' class"):
        compare_to_baselines(y, pred, baselines={}, classes=("a", "b"))


def test_paired_comparison_of_two_class_probabilities():
    y = np.tile([0, 1, 1, 0, 1], 6)  # (30,)
    a, b = np.tile([0, 1, 1, 0, 0], 6), np.zeros(30, np.int64)
    pa = np.tile([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.9, 0.1], [0.6, 0.4]], (6, 1))  # (30, 2)
    pb = np.full((30, 2), 0.5)
    out = paired_comparison(y, a, b, proba_a=pa, proba_b=pb, n_boot=20, classes=("down", "up"))
    assert out["accuracy_a"] == 0.8 and out["accuracy_b"] == 0.4
    expected = np.mean(-np.log(0.5) + np.log([0.8, 0.7, 0.6, 0.9, 0.4]))
    assert out["log_loss_difference"]["mean"] == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"proba has shape \(30, 3\), expected \(30, 2\)"):
        paired_comparison(y, a, b, proba_a=np.full((30, 3), 1 / 3), proba_b=pb, classes=("down", "up"))
