"""Hansen's studentized SPA against hand-worked values, against arch where they must agree, and where they must not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch.bootstrap import SPA

from vixray.metrics import spa_test
from vixray.metrics.spa import stationary_bootstrap_variance


def _kernel_variance_by_the_book(d: np.ndarray, block_length: float) -> np.ndarray:
    """Hansen (2005): gamma_0 + 2 sum_{i=1}^{n-1} kappa(n, i) gamma_i, written as the loop of the paper."""
    n = len(d)
    q = 1.0 / block_length
    centred = d - d.mean(axis=0)
    out = (centred**2).sum(axis=0) / n
    for i in range(1, n):
        kappa = (1 - i / n) * (1 - q) ** i + (i / n) * (1 - q) ** (n - i)
        out = out + 2 * kappa * (centred[: n - i] * centred[i:]).sum(axis=0) / n
    return out


def test_the_variance_by_hand_on_four_days():
    # d = 1, 0, 2, 0: mean 0.75, centred 0.25, -0.75, 1.25, -0.75; block length 2, so q = 1/2
    d = np.array([[1.0], [0.0], [2.0], [0.0]])
    gamma = [2.75 / 4, (0.25 * -0.75 + -0.75 * 1.25 + 1.25 * -0.75) / 4, (0.25 * 1.25 + -0.75 * -0.75) / 4]
    gamma.append(0.25 * -0.75 / 4)
    kappa = [(1 - i / 4) * 0.5**i + (i / 4) * 0.5 ** (4 - i) for i in (1, 2, 3)]
    expected = gamma[0] + 2 * sum(k * g for k, g in zip(kappa, gamma[1:], strict=True))
    assert stationary_bootstrap_variance(d, block_length=2.0) == pytest.approx([expected])


def test_the_fft_variance_is_the_loop_of_the_paper():
    d = np.random.default_rng(0).normal(size=(300, 4)) + np.linspace(0, 1, 300)[:, None]
    for length in (1.5, 7.0, 40.0):
        np.testing.assert_allclose(
            stationary_bootstrap_variance(d, block_length=length), _kernel_variance_by_the_book(d, length)
        )


def test_the_statistic_is_the_largest_studentized_mean():
    rng = np.random.default_rng(1)
    bench = rng.normal(1.0, 1.0, 200)
    models = np.column_stack([bench - 0.2 + rng.normal(0, 0.5, 200), bench + 0.3 + rng.normal(0, 0.5, 200)])
    got = spa_test(models, bench, n_boot=50, block_length=3.0, seed=0)
    d = bench[:, None] - models
    t = math.sqrt(200) * d.mean(axis=0) / np.sqrt(_kernel_variance_by_the_book(d, 3.0))
    assert got["statistic"] == pytest.approx(max(0.0, t.max())) and got["best_model"] == 0
    assert got["studentized"] is True and (got["n_models"], got["n_days"]) == (2, 200)


def _precise_and_noisy(n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    bench = rng.normal(1.0, 1.0, n)
    precise = bench - 0.1 + rng.normal(0, 0.2, n)  # a little better, every day alike
    noisy = bench - 0.3 + rng.normal(0, 8.0, n)  # better on average, but by a wild margin
    return np.column_stack([precise, noisy]), bench


def test_studentizing_finds_the_precise_model_the_raw_maximum_hides():
    models, bench = _precise_and_noisy()
    ours = spa_test(models, bench, n_boot=1000, block_length=5.0, seed=1)
    raw = SPA(bench, models, block_size=5, reps=1000, seed=np.random.default_rng(1))
    raw.compute()
    # arch 8 compares the largest raw mean (the noisy model's) with its wide bootstrap spread: no evidence
    assert raw.pvalues["consistent"] > 0.2
    # studentized, the precise model's t-statistic dominates: overwhelming evidence that one model is better
    assert ours["p_values"]["consistent"] < 0.001 and ours["best_model"] == 0


@pytest.mark.parametrize("copies", [1, 3])
def test_one_model_or_equal_spreads_agree_with_arch(copies):
    # one model better on average (or several identical copies of it): studentizing divides every column by the
    # same spread, which changes no comparison, so the p-values are arch's own on the same resamples
    rng = np.random.default_rng(2)
    bench = rng.normal(1.0, 1.0, 400)
    model = bench - 0.05 + rng.normal(0, 1.0, 400)
    models = np.column_stack([model] * copies)
    ours = spa_test(models, bench, n_boot=500, block_length=4.0, seed=7)
    theirs = SPA(bench, models, block_size=4, reps=500, seed=np.random.default_rng(7))
    theirs.compute()
    assert ours["p_values"] == pytest.approx(dict(theirs.pvalues))


def test_models_all_worse_give_no_evidence():
    rng = np.random.default_rng(3)
    bench = rng.uniform(0.5, 1.5, 300)
    worse = np.column_stack([bench + 0.5 + rng.normal(0, 0.1, 300), bench + 0.1 + rng.normal(0, 1, 300)])
    got = spa_test(worse, bench, n_boot=200, seed=0)
    assert got["statistic"] == 0.0 and got["p_values"] == {"lower": 1.0, "consistent": 1.0, "upper": 1.0}


def test_the_three_p_values_are_ordered_and_repeat_for_a_seed():
    rng = np.random.default_rng(4)
    bench = rng.normal(1.0, 1.0, 300)
    models = np.column_stack([bench - 0.1 + rng.normal(0, 1, 300), bench + 0.5 + rng.normal(0, 1, 300)])
    got = spa_test(models, bench, n_boot=400, seed=5)
    p = got["p_values"]
    assert p["lower"] <= p["consistent"] <= p["upper"]
    assert spa_test(models, bench, n_boot=400, seed=5) == got


def test_a_model_identical_to_the_benchmark_is_harmless():
    bench = np.random.default_rng(6).normal(1.0, 1.0, 100)
    got = spa_test(np.column_stack([bench, bench + 0.2]), bench, n_boot=100, seed=0)
    assert got["statistic"] == 0.0 and got["p_values"]["consistent"] == 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"model_losses has 5 rows but benchmark_loss has 4"):
        spa_test(np.ones((5, 2)), np.ones(4))
    with pytest.raises(ValueError, match=r"model_losses has shape \(5, 0\)"):
        spa_test(np.ones((5, 0)), np.ones(5))
    with pytest.raises(ValueError, match=r"model_losses or benchmark_loss holds NaN"):
        spa_test(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match=r"n_boot = 0"):
        spa_test(np.ones(5), np.ones(5), n_boot=0)
