"""The baseline zoo on small hand-made tables where each answer is known, the leakage checks, and the errors."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from vixray import calendar
from vixray.baselines import (
    BASELINES,
    RANDOM_BASELINES,
    class_prior,
    fit_predict,
    fold_seed,
    run_baselines,
    strongest_baseline,
)
from vixray.baselines.learned import C_GRID
from vixray.baselines.volatility import empirical_proba
from vixray.config import LabelConfig
from vixray.dataset import Dataset
from vixray.labels import DOWN, NEUTRAL, UP

LABELS = LabelConfig()  # ±1%, one day ahead
TRUE_COEF = np.array([0.15, -0.2, 0.1, 0.05])  # intercept, har_1, har_5, har_22
FIRST_DAY = date(2021, 1, 4)


def business_days(n: int) -> list[date]:
    days = np.busday_offset(np.datetime64(FIRST_DAY, "D"), np.arange(n), roll="forward")
    return [d.astype(date) for d in days]


def make_dataset(
    n: int = 40,
    *,
    seed: int = 0,
    label: np.ndarray | None = None,
    prev_label: np.ndarray | None = None,
    har: np.ndarray | None = None,
    noise: float = 0.0,
    horizon: int = 1,
    features: np.ndarray | None = None,
    returns: np.ndarray | None = None,
) -> Dataset:
    """A table with every column the baselines read, on Mon-Fri days; the target follows TRUE_COEF plus ``noise``."""
    rng = np.random.default_rng(seed)
    days = business_days(n)
    if har is None:
        har = np.column_stack([rng.normal(3.0, 0.3, n), rng.normal(3.0, 0.2, n), rng.normal(3.0, 0.1, n)])
    target = TRUE_COEF[0] + har @ TRUE_COEF[1:] + noise * rng.standard_normal(n)
    if label is None:
        label = rng.integers(0, 3, n)
    if prev_label is None:
        prev_label = np.concatenate([[NEUTRAL], label[:-1]])
    if features is None:
        features = rng.normal(size=(n, 2))
    if returns is None:
        returns = rng.standard_t(5, n) * 0.05
    frame = pl.DataFrame(
        {
            "date": days,
            "f1": features[:, 0],
            "f2": features[:, 1],
            "label": np.asarray(label, dtype=np.int64),
            "label_date": business_days(n + horizon)[horizon:],  # the day whose close ends the label
            "prev_label": np.asarray(prev_label, dtype=np.int64),
            "har_1": har[:, 0],
            "har_5": har[:, 1],
            "har_22": har[:, 2],
            "target_log_change": target,
            "target_log_return": returns,
        }
    ).join(calendar.calendar_frame(days), on="date", how="left", maintain_order="left")
    return Dataset(frame=frame, feature_names=("f1", "f2"))


def rows(a: int, b: int) -> np.ndarray:
    return np.arange(a, b, dtype=np.int64)


# ------------------------------------------------------------------------------------------------ class mix only


def test_majority_picks_mode_with_prior_as_proba():
    label = np.array([0, 2, 2, 1, 2, 0, 1, 0, 1, 1])  # train rows 0..4: one 0, one 1, three 2s
    out = fit_predict("majority", make_dataset(10, label=label), rows(0, 5), rows(6, 10), labels=LABELS)
    assert out.pred.tolist() == [UP] * 4
    np.testing.assert_allclose(out.proba, [[0.2, 0.2, 0.6]] * 4)


def test_majority_tie_goes_to_lowest_class():
    label = np.array([2, 0, 2, 0, 1, 1, 1, 1])  # train rows 0..4: two 0s, two 2s, one 1
    out = fit_predict("majority", make_dataset(8, label=label), rows(0, 5), rows(6, 8), labels=LABELS)
    assert out.pred.tolist() == [DOWN, DOWN]
    np.testing.assert_allclose(out.proba[0], [0.4, 0.2, 0.4])


def test_persistence_is_prev_label_at_test_rows():
    prev = np.array([1, 0, 2, 2, 1, 0, 2, 1, 0, 0, 2, 1])
    out = fit_predict(
        "persistence", make_dataset(12, prev_label=prev), rows(0, 6), rows(7, 12), labels=LABELS
    )
    assert out.pred.tolist() == [1, 0, 0, 2, 1]
    assert out.pred.dtype == np.int64 and out.proba is None


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


# ------------------------------------------------------------------------------------------------ learned


def _signal_dataset(n: int, *, strength: float, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """f1 says Up (> 0) or Down (< 0) with ``strength``; Neutral never happens."""
    rng = np.random.default_rng(seed)
    label = rng.choice([DOWN, UP], n)
    f1 = np.where(label == UP, 1.0, -1.0) * strength + rng.normal(size=n)
    return make_dataset(n, label=label, features=np.column_stack([f1, rng.normal(size=n)])), label


def test_logistic_chooses_a_weak_penalty_for_a_clear_signal_and_a_strong_one_for_noise():
    ds, label = _signal_dataset(400, strength=3.0)
    out = fit_predict("logistic", ds, rows(0, 300), rows(301, 400), labels=LABELS, val_fraction=0.25)
    assert out.settings["C"] >= 1.0 and (out.pred == label[301:]).mean() > 0.95
    np.testing.assert_array_equal(out.proba[:, NEUTRAL], 0.0)  # a class absent from training keeps 0
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0)
    noise = make_dataset(400, seed=4, label=np.random.default_rng(5).integers(0, 3, 400))
    out = fit_predict("logistic", noise, rows(0, 300), rows(301, 400), labels=LABELS, val_fraction=0.25)
    assert out.settings["C"] <= C_GRID[2]  # labels independent of the features: shrink towards the class mix
    untuned = fit_predict("logistic", noise, rows(0, 300), rows(301, 400), labels=LABELS, val_fraction=0.0)
    assert untuned.settings["C"] == 1.0  # no validation tail: nothing to tune on


def test_logistic_with_one_training_class_predicts_it():
    label = np.array([UP] * 10 + [DOWN] * 5)
    out = fit_predict("logistic", make_dataset(15, label=label), rows(0, 10), rows(11, 15), labels=LABELS)
    assert out.pred.tolist() == [UP] * 4
    np.testing.assert_allclose(out.proba, [[0.0, 0.0, 1.0]] * 4)


def test_the_calendar_baseline_learns_a_weekend_effect():
    days = business_days(300)
    facts = calendar.calendar_frame(days)
    gaps = facts[calendar.DAYS_TO_NEXT].to_numpy()
    label = np.where(gaps >= 3, UP, DOWN)  # Up before every weekend or long holiday, Down on other days
    ds = make_dataset(300, label=label)
    out = fit_predict("calendar", ds, rows(0, 200), rows(201, 300), labels=LABELS, val_fraction=0.2)
    fridays = facts[calendar.WEEKDAY].to_numpy()[201:] == 4
    assert fridays.sum() >= 15 and (out.pred[fridays] == UP).all()  # every weekend seen in the test block
    assert (out.pred == label[201:]).mean() >= 0.97  # a rare two-day holiday gap may be called either way


def test_boosting_finds_a_threshold_and_chooses_its_rounds_on_the_tail():
    ds, label = _signal_dataset(500, strength=2.5, seed=1)
    out = fit_predict("boosting", ds, rows(0, 400), rows(401, 500), labels=LABELS, val_fraction=0.25)
    assert (out.pred == label[401:]).mean() > 0.9
    assert 1 <= out.settings["rounds"] <= 200
    noise = make_dataset(500, seed=2, label=np.random.default_rng(3).integers(0, 3, 500))
    shrunk = fit_predict("boosting", noise, rows(0, 400), rows(401, 500), labels=LABELS, val_fraction=0.25)
    assert shrunk.settings["rounds"] < out.settings["rounds"]  # noise: fewer rounds win on the tail


# ------------------------------------------------------------------------------------------------ volatility


def test_empirical_proba_by_hand():
    shocks = np.array([-0.05, -0.02, 0.0, 0.01, 0.03])
    proba = empirical_proba(shocks, below=np.array([-0.02, 0.5]), above=np.array([0.01, 0.6]))
    # row 0: one shock below -0.02 (strictly), one above 0.01 (strictly), the three at or between are Neutral
    np.testing.assert_allclose(proba, [[0.2, 0.6, 0.2], [1.0, 0.0, 0.0]])


def test_har_predicts_the_most_probable_class_of_its_empirical_distribution():
    ds = make_dataset(200, noise=0.02)
    out = fit_predict("har", ds, rows(0, 150), rows(151, 200), labels=LABELS)
    design = np.column_stack([np.ones(150), ds.frame.select("har_1", "har_5", "har_22").to_numpy()[:150]])
    target = ds.column("target_log_change")[:150]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residuals = np.sort(target - design @ coef)
    test_design = np.column_stack([np.ones(49), ds.frame.select("har_1", "har_5", "har_22").to_numpy()[151:]])
    mu = test_design @ coef
    expected = empirical_proba(residuals, below=math.log(0.99) - mu, above=math.log(1.01) - mu)
    np.testing.assert_allclose(out.proba, expected)
    np.testing.assert_array_equal(out.pred, expected.argmax(axis=1))
    np.testing.assert_allclose(coef, TRUE_COEF, atol=0.05)


def _ar_garch(n: int, *, seed: int, phi: float = 0.6) -> np.ndarray:
    """r_t = phi r_(t-1) + e_t, e_t = sigma_t z_t, sigma_t^2 = 0.1 + 0.1 e_(t-1)^2 + 0.85 sigma_(t-1)^2, in percent."""
    rng = np.random.default_rng(seed)
    r, var, shock = np.zeros(n), 2.0, 0.0
    for t in range(1, n):
        var = 0.1 + 0.1 * shock**2 + 0.85 * var
        shock = math.sqrt(var) * rng.standard_normal()
        r[t] = phi * r[t - 1] + shock
    return r


def test_garch_finds_a_known_autoregression_and_follows_today():
    path = _ar_garch(900, seed=0)[200:]  # (700,) after a burn-in
    har = np.full((700, 3), 3.0) + np.random.default_rng(0).normal(0, 1e-3, (700, 3))
    ds = make_dataset(700, returns=path / 100.0, har=har)
    out = fit_predict("garch", ds, rows(0, 600), rows(601, 700), labels=LABELS)
    assert out.settings["params"]["y[1]"] == pytest.approx(0.6, abs=0.08)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0)
    # with a persistent mean, the odds of Up over Down follow the move that ended on the forecast day
    today = path[601:700]
    assert np.corrcoef(today, out.proba[:, UP] - out.proba[:, DOWN])[0, 1] > 0.9


# ------------------------------------------------------------------------------------------------ no leakage


def wreck(ds: Dataset, at: np.ndarray, columns: list[str]) -> Dataset:
    """Change ``columns`` at rows ``at``: labels to another class, numbers to something else."""
    mask = pl.Series(np.isin(np.arange(len(ds)), at))
    changed = []
    for c in columns:
        if c in ("label", "prev_label"):
            new = (pl.col(c) + 1) % 3  # another class
        elif c.startswith("cal_"):
            new = (pl.col(c) + 1) % 3 + 1  # another calendar fact, still a valid one
        else:
            new = pl.col(c) * -3.0 + 7.0
        changed.append(pl.when(mask).then(new).otherwise(pl.col(c)).alias(c))
    return Dataset(ds.frame.with_columns(changed), ds.feature_names)


INPUTS = ["f1", "f2", "prev_label", "har_1", "har_5", "har_22", "target_log_return", *calendar.COLUMNS]
FUTURE = ["label", "target_log_change"]


def forecasts(ds: Dataset, train: np.ndarray, test: np.ndarray) -> dict:
    return {
        name: fit_predict(name, ds, train, test, labels=LABELS, seed=5, val_fraction=0.25)
        for name in BASELINES
    }


def assert_same(a, b, *, first_row_only: bool = False) -> None:
    for name in BASELINES:
        sl = slice(0, 1) if first_row_only else slice(None)
        np.testing.assert_array_equal(a[name].pred[sl], b[name].pred[sl], err_msg=name)
        if a[name].proba is not None:
            np.testing.assert_array_equal(a[name].proba[sl], b[name].proba[sl], err_msg=name)


def test_no_leakage_from_test_rows_or_later():
    ds = make_dataset(200, noise=0.01)
    train, test = rows(0, 150), rows(151, 175)
    ref = forecasts(ds, train, test)
    # the future of the test rows and of everything after them: not read at all
    assert_same(ref, forecasts(wreck(ds, rows(151, 200), FUTURE), train, test))
    # everything after the test block: not read at all
    assert_same(ref, forecasts(wreck(ds, rows(175, 200), INPUTS + FUTURE), train, test))
    # the later test rows' inputs do not move the forecast of the first: nothing is fitted on test rows, and the
    # sequential GARCH forecast of a day uses the days up to it only
    assert_same(ref, forecasts(wreck(ds, rows(152, 200), INPUTS + FUTURE), train, test), first_row_only=True)
    # control: the same change on the training rows does move every fitted baseline
    moved = forecasts(wreck(ds, rows(0, 150), INPUTS + FUTURE), train, test)
    for name in ("majority", "stratified", "calendar", "logistic", "boosting", "har", "garch"):
        assert not np.array_equal(ref[name].proba, moved[name].proba), name


# ------------------------------------------------------------------------------------------------ all folds


def test_run_baselines_one_forecast_per_fold():
    ds = make_dataset(200, noise=0.01)
    folds = [(rows(0, 80), rows(81, 100)), (rows(40, 120), rows(121, 150)), (rows(70, 150), rows(151, 200))]
    out = run_baselines(ds, folds, labels=LABELS, seed=2, val_fraction=0.2)
    assert tuple(out) == BASELINES
    for name, per_fold in out.items():
        assert len(per_fold) == 3
        for forecast, (_, te) in zip(per_fold, folds, strict=True):
            assert forecast.name == name
            assert forecast.pred.shape == (len(te),) and forecast.pred.dtype == np.int64
            assert forecast.proba is None or forecast.proba.shape == (len(te), 3)
    # folds draw differently, and a rerun draws the same
    again = run_baselines(ds, folds, labels=LABELS, names=("random",), seed=2)
    assert list(again) == ["random"]
    for a, b in zip(out["random"], again["random"], strict=True):
        np.testing.assert_array_equal(a.pred, b.pred)
    assert fold_seed(2, 0) != fold_seed(2, 1)


def test_the_strongest_baseline_is_never_a_random_draw():
    accuracy = {"random": 0.9, "stratified": 0.8, "majority": 0.45, "logistic": 0.47, "har": 0.47}
    assert strongest_baseline(accuracy) == "logistic"  # the first listed on a tie
    assert set(RANDOM_BASELINES) == {"random", "stratified"}
    assert strongest_baseline({"random": 0.4}) == "random"  # nothing else to choose from
    with pytest.raises(ValueError, match=r"no baseline was scored"):
        strongest_baseline({})


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
    ds = make_dataset(20, horizon=2)  # the label of row 9 ends two days on, after test row 10's day
    with pytest.raises(ValueError, match=r"training label ends on .*, after the first test day .*split.gap"):
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
    with pytest.raises(
        ValueError, match=r"training label 3 is not a class id of \[.down., .neutral., .up.\] \(0..2\)"
    ):
        fit_predict("majority", bad, rows(0, 10), rows(11, 20), labels=LABELS)


def test_the_tuned_baselines_choose_on_the_rows_the_network_early_stops_on():
    from vixray.baselines.core import make_fold
    from vixray.windows import make_fold_windows

    ds = make_dataset(200)
    train, test = rows(0, 150), rows(151, 200)
    fold = make_fold(ds, train, test, labels=LABELS, val_fraction=0.2, seed=0)
    windows = make_fold_windows(ds.X, ds.y, [(train, test)], seq_len=3, val_fraction=0.2, val_gap=1)
    np.testing.assert_array_equal(fold.val, windows.val_rows(0))  # the last 30 training rows, for both
    np.testing.assert_array_equal(fold.fit[fold.fit >= 2], windows.fit_rows(0))  # windows need 2 earlier rows
    assert fold.fit[-1] == fold.val[0] - 2  # one row (the label horizon) kept between fit and validation


# ------------------------------------------------------------------------------------------------ two classes

DIRECTION_LABELS = LabelConfig(kind="direction", down=0.0, up=0.0)


def direction_dataset(n: int = 200, **kwargs) -> Dataset:
    """make_dataset with Up (1) when the target's change is positive, else Down (0), and the two class names."""
    ds = make_dataset(n, **kwargs)
    label = (ds.column("target_log_change") > 0).astype(np.int64)
    frame = ds.frame.with_columns(
        label=pl.Series(label), prev_label=pl.Series(np.concatenate([[0], label[:-1]]))
    )
    return Dataset(frame, ds.feature_names, classes=DIRECTION_LABELS.classes)


def test_empirical_proba_two_classes_by_hand():
    shocks = np.array([-0.05, -0.02, 0.0, 0.01, 0.03])
    proba = empirical_proba(
        shocks, below=np.array([0.0, 0.5]), above=np.array([0.0, -0.03]), classes=("down", "up")
    )
    # row 0: two shocks strictly above 0 are Up, the three at or below Down; row 1: four above -0.03
    np.testing.assert_allclose(proba, [[0.6, 0.4], [0.2, 0.8]])


def test_every_baseline_forecasts_two_classes_for_a_direction_label():
    ds = direction_dataset(300, noise=0.02)
    for name in BASELINES:
        out = fit_predict(name, ds, rows(0, 250), rows(251, 300), labels=DIRECTION_LABELS, val_fraction=0.2)
        assert set(np.unique(out.pred)) <= {0, 1}, name
        if out.proba is not None:
            assert out.proba.shape == (49, 2), name
            np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, err_msg=name)
    assert (
        fit_predict("random", ds, rows(0, 250), rows(251, 300), labels=DIRECTION_LABELS).expected_accuracy
        == 0.5
    )
    # har's Up probability is the share of training residuals above minus the forecast mean
    har = fit_predict("har", ds, rows(0, 250), rows(251, 300), labels=DIRECTION_LABELS)
    design = np.column_stack([np.ones(250), ds.frame.select("har_1", "har_5", "har_22").to_numpy()[:250]])
    target = ds.column("target_log_change")[:250]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residuals = np.sort(target - design @ coef)
    mu = np.column_stack([np.ones(49), ds.frame.select("har_1", "har_5", "har_22").to_numpy()[251:]]) @ coef
    np.testing.assert_allclose(har.proba[:, 1], [np.mean(residuals > -m) for m in mu])


def test_a_label_kind_other_than_the_tables_is_an_error():
    ds = direction_dataset(60)
    with pytest.raises(
        ValueError, match=r"the table's classes \['down', 'up'\] differ from labels.kind = 'threshold'"
    ):
        fit_predict("majority", ds, rows(0, 40), rows(41, 60), labels=LABELS)
