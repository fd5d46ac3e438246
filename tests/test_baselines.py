from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from vixray.baselines import (
    BASELINES,
    class_prior,
    classify_log_change,
    fit_har,
    fit_predict,
    fold_seed,
    har_mean,
    har_proba,
    run_baselines,
)
from vixray.config import LabelConfig
from vixray.dataset import Dataset
from vixray.labels import DOWN, NEUTRAL, UP

LABELS = LabelConfig()  # ±1%, one day ahead
TRUE_COEF = np.array([0.15, -0.2, 0.1, 0.05])  # intercept, har_1, har_5, har_22


def make_dataset(
    n: int = 40,
    *,
    seed: int = 0,
    label: np.ndarray | None = None,
    prev_label: np.ndarray | None = None,
    har: np.ndarray | None = None,
    noise: float = 0.0,
    horizon: int = 1,
) -> Dataset:
    """A tiny table with every column the baselines read; the target follows TRUE_COEF plus ``noise``."""
    rng = np.random.default_rng(seed)
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(n)]
    if har is None:
        har = np.column_stack([rng.normal(3.0, 0.3, n), rng.normal(3.0, 0.2, n), rng.normal(3.0, 0.1, n)])
    target = TRUE_COEF[0] + har @ TRUE_COEF[1:] + noise * rng.standard_normal(n)
    if label is None:
        label = rng.integers(0, 3, n)
    if prev_label is None:
        prev_label = np.concatenate([[NEUTRAL], label[:-1]])
    frame = pl.DataFrame(
        {
            "date": days,
            "f1": rng.normal(size=n),
            "f2": rng.normal(size=n),
            "label": np.asarray(label, dtype=np.int64),
            "label_date": [d + timedelta(days=horizon) for d in days],
            "prev_label": np.asarray(prev_label, dtype=np.int64),
            "har_1": har[:, 0],
            "har_5": har[:, 1],
            "har_22": har[:, 2],
            "target_log_change": target,
        }
    )
    return Dataset(frame=frame, feature_names=("f1", "f2"))


def rows(a: int, b: int) -> np.ndarray:
    return np.arange(a, b, dtype=np.int64)


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# ------------------------------------------------------------------------------------------------ one by one


def test_majority_picks_mode_with_prior_as_proba():
    label = np.array([0, 2, 2, 1, 2, 0, 1, 0, 1, 1])  # train rows 0..4: one 0, one 1, three 2s
    ds = make_dataset(10, label=label)
    out = fit_predict("majority", ds, rows(0, 5), rows(6, 10), labels=LABELS)
    assert out.pred.tolist() == [UP] * 4
    np.testing.assert_allclose(out.proba, [[0.2, 0.2, 0.6]] * 4)


def test_majority_tie_goes_to_lowest_class():
    label = np.array([2, 0, 2, 0, 1, 1, 1, 1])  # train rows 0..4: two 0s, two 2s, one 1
    out = fit_predict("majority", make_dataset(8, label=label), rows(0, 5), rows(6, 8), labels=LABELS)
    assert out.pred.tolist() == [DOWN, DOWN]
    np.testing.assert_allclose(out.proba[0], [0.4, 0.2, 0.4])


def test_persistence_is_prev_label_at_test_rows():
    prev = np.array([1, 0, 2, 2, 1, 0, 2, 1, 0, 0, 2, 1])
    ds = make_dataset(12, prev_label=prev)
    out = fit_predict("persistence", ds, rows(0, 6), rows(7, 12), labels=LABELS)
    assert out.pred.tolist() == [1, 0, 0, 2, 1]
    assert out.pred.dtype == np.int64
    assert out.proba is None


def test_random_is_uniform_and_repeatable():
    ds = make_dataset(300)
    a = fit_predict("random", ds, rows(0, 50), rows(51, 300), labels=LABELS, seed=7)
    b = fit_predict("random", ds, rows(0, 50), rows(51, 300), labels=LABELS, seed=7)
    c = fit_predict("random", ds, rows(0, 50), rows(51, 300), labels=LABELS, seed=8)
    np.testing.assert_array_equal(a.pred, b.pred)
    assert not np.array_equal(a.pred, c.pred)  # 249 draws: equal by chance with probability 3**-249
    assert set(a.pred.tolist()) == {0, 1, 2}
    np.testing.assert_allclose(a.proba, np.full((249, 3), 1 / 3))
    assert a.expected_accuracy == pytest.approx(1 / 3)


def test_stratified_proba_is_training_prior_and_draws_only_seen_classes():
    label = np.array([0, 0, 2, 0, 2, 0] + [1] * 100)  # train rows 0..5: prior (4/6, 0, 2/6)
    ds = make_dataset(106, label=label)
    out = fit_predict("stratified", ds, rows(0, 6), rows(7, 106), labels=LABELS, seed=3)
    np.testing.assert_allclose(out.proba, np.tile([4 / 6, 0.0, 2 / 6], (99, 1)))
    assert set(out.pred.tolist()) == {DOWN, UP}  # Neutral has prior 0 and is never drawn
    again = fit_predict("stratified", ds, rows(0, 6), rows(7, 106), labels=LABELS, seed=3)
    np.testing.assert_array_equal(out.pred, again.pred)
    assert out.expected_accuracy is None


def test_class_prior_counts_absent_classes_as_zero():
    np.testing.assert_allclose(class_prior(np.array([2, 2, 0, 2])), [0.25, 0.0, 0.75])


def test_logistic_fills_a_class_missing_from_training():
    n = 80
    label = np.where(np.arange(n) % 2 == 0, DOWN, UP)
    ds = make_dataset(n, label=label)
    # make f1 say the class: -2 for Down, +2 for Up, so the fit has something to find
    ds = Dataset(
        ds.frame.with_columns(
            f1=pl.when(pl.col("label") == UP).then(2.0).otherwise(-2.0) + pl.col("f1") * 0.1
        ),
        ds.feature_names,
    )
    out = fit_predict("logistic", ds, rows(0, 60), rows(61, 80), labels=LABELS)
    assert out.proba.shape == (19, 3)
    np.testing.assert_array_equal(out.proba[:, NEUTRAL], 0.0)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out.pred, label[61:80])


def test_logistic_with_one_training_class_predicts_it():
    label = np.array([UP] * 10 + [DOWN] * 5)
    out = fit_predict("logistic", make_dataset(15, label=label), rows(0, 10), rows(11, 15), labels=LABELS)
    assert out.pred.tolist() == [UP] * 4
    np.testing.assert_allclose(out.proba, [[0.0, 0.0, 1.0]] * 4)


def test_har_recovers_known_coefficients():
    ds = make_dataset(200, noise=1e-6)
    fit = fit_har(ds, rows(0, 150))
    np.testing.assert_allclose(fit.coef, TRUE_COEF, atol=1e-4)
    assert 0.5e-6 < fit.sigma < 2e-6
    out = fit_predict("har", ds, rows(0, 150), rows(151, 200), labels=LABELS)
    mu_true = TRUE_COEF[0] + ds.frame.select("har_1", "har_5", "har_22").to_numpy()[151:] @ TRUE_COEF[1:]
    expected = np.where(mu_true > math.log(1.01), UP, np.where(mu_true < math.log(0.99), DOWN, NEUTRAL))
    np.testing.assert_array_equal(out.pred, expected)
    np.testing.assert_allclose(
        out.proba, har_proba(har_mean(fit, ds, rows(151, 200)), fit.sigma, LABELS, out.pred)
    )


def har_row_with_mean(mu: float, har_5: float = 3.0, har_22: float = 3.0) -> list[float]:
    """HAR terms whose TRUE_COEF forecast is exactly ``mu`` (solved for har_1)."""
    har_1 = (mu - TRUE_COEF[0] - TRUE_COEF[2] * har_5 - TRUE_COEF[3] * har_22) / TRUE_COEF[1]
    return [har_1, har_5, har_22]


def test_har_forecast_at_threshold_is_neutral():
    rng = np.random.default_rng(1)
    train = rng.normal(3.0, 0.3, (30, 3))
    up, down = math.log(1.01), math.log(0.99)
    test = [har_row_with_mean(m) for m in (up, down, up + 1e-6, down - 1e-6, 0.0)]
    ds = make_dataset(36, har=np.vstack([train, [[3.0, 3.0, 3.0]], test]), noise=1e-14)
    out = fit_predict("har", ds, rows(0, 30), rows(31, 36), labels=LABELS)
    assert out.pred.tolist() == [NEUTRAL, NEUTRAL, UP, DOWN, NEUTRAL]


def test_classify_log_change_boundaries():
    mu = np.log1p([0.01, -0.01, 0.0100001, -0.0100001, 0.0])
    assert classify_log_change(mu, LABELS).tolist() == [NEUTRAL, NEUTRAL, UP, DOWN, NEUTRAL]
    asym = LabelConfig(down=-0.02, up=0.005)
    assert classify_log_change(np.log1p([0.006, -0.015, -0.021]), asym).tolist() == [UP, NEUTRAL, DOWN]


def test_har_proba_by_hand():
    sigma = 0.02
    mu = np.array([math.log(1.01), 0.0])
    proba = har_proba(mu, sigma, LABELS, classify_log_change(mu, LABELS))
    p_down0 = phi((math.log(0.99) - math.log(1.01)) / sigma)
    np.testing.assert_allclose(proba[0], [p_down0, 0.5 - p_down0, 0.5])
    p_up1 = 1 - phi(math.log(1.01) / sigma)
    p_down1 = phi(math.log(0.99) / sigma)
    np.testing.assert_allclose(proba[1], [p_down1, 1 - p_up1 - p_down1, p_up1])


def test_har_exact_fit_puts_all_mass_on_forecast_class():
    ds = make_dataset(8)  # no noise and only 4 training rows: zero residual degrees of freedom
    fit = fit_har(ds, rows(0, 4))
    assert fit.sigma == 0.0
    out = fit_predict("har", ds, rows(0, 4), rows(5, 8), labels=LABELS)
    np.testing.assert_array_equal(out.proba, np.eye(3)[out.pred])


# ------------------------------------------------------------------------------------------------ no leakage


def wreck(ds: Dataset, at: np.ndarray, columns: list[str]) -> Dataset:
    """Change ``columns`` at rows ``at``: labels to another class, numbers to something else."""
    mask = pl.Series(np.isin(np.arange(len(ds)), at))
    changed = []
    for c in columns:
        new = (pl.col(c) + 1) % 3 if c in ("label", "prev_label") else pl.col(c) * -3.0 + 7.0
        changed.append(pl.when(mask).then(new).otherwise(pl.col(c)).alias(c))
    return Dataset(ds.frame.with_columns(changed), ds.feature_names)


INPUTS = ["f1", "f2", "prev_label", "har_1", "har_5", "har_22"]
FUTURE = ["label", "target_log_change"]


def forecasts(ds: Dataset, train: np.ndarray, test: np.ndarray) -> dict:
    return {name: fit_predict(name, ds, train, test, labels=LABELS, seed=5) for name in BASELINES}


def assert_same(a, b, *, first_row_only: bool = False) -> None:
    for name in BASELINES:
        sl = slice(0, 1) if first_row_only else slice(None)
        np.testing.assert_array_equal(a[name].pred[sl], b[name].pred[sl], err_msg=name)
        if a[name].proba is not None:
            np.testing.assert_array_equal(a[name].proba[sl], b[name].proba[sl], err_msg=name)


def test_no_leakage_from_test_rows_or_later():
    ds = make_dataset(120, noise=0.01)
    train, test = rows(0, 80), rows(81, 100)
    ref = forecasts(ds, train, test)
    # the future of the test rows and of everything after them: not read at all
    assert_same(ref, forecasts(wreck(ds, rows(81, 120), FUTURE), train, test))
    # everything after the test block: not read at all
    assert_same(ref, forecasts(wreck(ds, rows(100, 120), INPUTS + FUTURE), train, test))
    # the other test rows' inputs do not move the forecast of the first (nothing is fitted on test rows)
    assert_same(ref, forecasts(wreck(ds, rows(82, 120), INPUTS + FUTURE), train, test), first_row_only=True)
    # control: the same change on the training rows does move the fitted baselines
    moved = forecasts(wreck(ds, rows(0, 80), INPUTS + FUTURE), train, test)
    for name in ("majority", "stratified", "logistic", "har"):
        assert not np.array_equal(ref[name].proba, moved[name].proba), name


# ------------------------------------------------------------------------------------------------ all folds


def test_run_baselines_one_forecast_per_fold():
    ds = make_dataset(60, noise=0.01)
    folds = [(rows(0, 20), rows(21, 31)), (rows(10, 30), rows(31, 45)), (rows(20, 40), rows(41, 60))]
    out = run_baselines(ds, folds, labels=LABELS, seed=2)
    assert tuple(out) == BASELINES
    for name, per_fold in out.items():
        assert len(per_fold) == 3
        for forecast, (_, te) in zip(per_fold, folds, strict=True):
            assert forecast.name == name
            assert forecast.pred.shape == (len(te),)
            assert forecast.pred.dtype == np.int64
            assert forecast.proba is None or forecast.proba.shape == (len(te), 3)
    # folds draw differently, and a rerun draws the same
    again = run_baselines(ds, folds, labels=LABELS, names=("random",), seed=2)
    assert list(again) == ["random"]
    for a, b in zip(out["random"], again["random"], strict=True):
        np.testing.assert_array_equal(a.pred, b.pred)
    assert fold_seed(2, 0) != fold_seed(2, 1)
    same_size = run_baselines(ds, [folds[0], (rows(0, 30), rows(31, 41))], labels=LABELS, names=("random",))
    assert not np.array_equal(same_size["random"][0].pred, same_size["random"][1].pred)


def test_run_baselines_on_walk_forward_folds():
    split = pytest.importorskip("vixray.split")
    ds = make_dataset(100, noise=0.01)
    folds = list(split.WalkForwardSplit(3, train_size=40, test_size=15, gap=1).split(ds.X))
    out = run_baselines(ds, folds, labels=LABELS)
    for name in BASELINES:
        assert [len(f.pred) for f in out[name]] == [len(te) for _, te in folds]


# ------------------------------------------------------------------------------------------------ errors


def test_errors():
    ds = make_dataset(20)
    tr, te = rows(0, 10), rows(11, 20)
    with pytest.raises(ValueError, match=r"baseline name = 'lstm' is unknown; choose one of \['random'"):
        fit_predict("lstm", ds, tr, te, labels=LABELS)
    with pytest.raises(ValueError, match=r"baseline name = 'naive' is unknown; choose one of"):
        run_baselines(ds, [(tr, te)], labels=LABELS, names=("majority", "naive"))
    with pytest.raises(ValueError, match=r"train_idx is empty: every fold needs at least one train row"):
        fit_predict("majority", ds, np.array([], dtype=np.int64), te, labels=LABELS)
    with pytest.raises(ValueError, match=r"test_idx is empty: every fold needs at least one test row"):
        fit_predict("majority", ds, tr, np.array([]), labels=LABELS)
    with pytest.raises(
        ValueError, match=r"test_idx holds row 20, out of range for a dataset of 20 rows.*\[0, 19\]"
    ):
        fit_predict("majority", ds, tr, rows(11, 21), labels=LABELS)
    with pytest.raises(ValueError, match=r"train_idx holds row -1, out of range.*negative positions"):
        fit_predict("majority", ds, np.array([-1, 0, 1]), te, labels=LABELS)
    with pytest.raises(ValueError, match=r"train_idx has dtype bool.*integer row positions.*np.flatnonzero"):
        fit_predict("majority", ds, np.arange(20) < 10, te, labels=LABELS)
    with pytest.raises(ValueError, match=r"share 2 row\(s\), first 5.*pass disjoint folds"):
        fit_predict("majority", ds, tr, np.array([9, 5, 15]), labels=LABELS)
    with pytest.raises(
        ValueError, match=r"train_idx reaches row 15, not strictly before the first test row 11"
    ):
        fit_predict("majority", ds, np.array([0, 1, 15]), rows(11, 15), labels=LABELS)
    with pytest.raises(ValueError, match=r"seed = -1: must be an integer >= 0"):
        fit_predict("random", ds, tr, te, labels=LABELS, seed=-1)
    with pytest.raises(ValueError, match=r"seed = -1: must be an integer >= 0"):
        run_baselines(ds, [(tr, te)], labels=LABELS, seed=-1)


def test_error_training_label_reaching_into_test_block():
    ds = make_dataset(20, horizon=2)  # the label of row 9 ends on day 11, after test row 10's day
    with pytest.raises(
        ValueError, match=r"training label ends on 2020-01-12, after the first test day 2020-01-11.*split.gap"
    ):
        fit_predict("majority", ds, rows(0, 10), rows(10, 20), labels=LabelConfig(horizon=2))
    fit_predict(
        "majority", ds, rows(0, 10), rows(12, 20), labels=LabelConfig(horizon=2)
    )  # a gap of 2 is fine


def test_error_missing_column_and_bad_label():
    ds = make_dataset(20)
    no_har = Dataset(ds.frame.drop("har_22"), ds.feature_names)
    with pytest.raises(
        ValueError, match=r"baseline 'har' needs dataset column\(s\) \['har_22'\].*build_dataset"
    ):
        fit_predict("har", no_har, rows(0, 10), rows(11, 20), labels=LABELS)
    fit_predict("majority", no_har, rows(0, 10), rows(11, 20), labels=LABELS)  # majority does not read it
    bad = Dataset(ds.frame.with_columns(label=pl.lit(3, dtype=pl.Int64)), ds.feature_names)
    with pytest.raises(ValueError, match=r"training label 3 is not a class 0 Down, 1 Neutral or 2 Up"):
        fit_predict("majority", bad, rows(0, 10), rows(11, 20), labels=LABELS)
