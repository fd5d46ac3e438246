from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from vixray.split import WalkForwardSplit
from vixray.windows import FoldWindows, make_fold_windows


def ramp(n: int) -> np.ndarray:
    """X[i] = (i, 10 i): every window can be written down by hand."""
    i = np.arange(n, dtype=np.float64)
    return np.column_stack([i, 10 * i])  # (n, 2)


def rows(a: int, b: int) -> np.ndarray:
    """Rows a..b inclusive."""
    return np.arange(a, b + 1, dtype=np.int64)


def noisy(n: int, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c)), rng.integers(0, 3, n)


# ------------------------------------------------------------------------------------------------ exact windows


def test_windows_are_the_scaled_rows_by_hand():
    # train 0..19, test 21..25; val = last ceil(0.2 * 20) = 4 rows (16..19); val_gap 1 drops row 15;
    # fit = 0..14 minus rows 0..1 (no 3-day history) = 2..14
    X = ramp(26)
    y = np.arange(26) % 3
    w = make_fold_windows(X, y, [(rows(0, 19), rows(21, 25))], seq_len=3, val_fraction=0.2, val_gap=1)
    assert w.fit_rows(0).tolist() == list(range(2, 15))
    assert w.val_rows(0).tolist() == [16, 17, 18, 19]
    assert w.test_rows(0).tolist() == [21, 22, 23, 24, 25]
    # mean of 2..14 is 8; population variance of 13 consecutive integers is (13^2 - 1) / 12 = 14
    assert np.allclose(w.scaler_mean[0], [8.0, 80.0])
    assert np.allclose(w.scaler_scale[0], [math.sqrt(14), 10 * math.sqrt(14)])
    for split in ("fit", "val", "test"):
        x, yy, r = getattr(w, f"x_{split}")[0], getattr(w, f"y_{split}")[0], getattr(w, f"rows_{split}")[0]
        for j, i in enumerate(r):
            history = np.arange(i - 2, i + 1, dtype=np.float64)  # rows i-2..i
            expected = (history - 8.0) / math.sqrt(14)
            assert np.allclose(x[j, :, 0], expected, atol=1e-6)
            assert np.allclose(x[j, :, 1], expected, atol=1e-6)  # 10 i scaled by 10 std is the same
            assert yy[j] == y[i]
    # the first test window looks back across the gap row 20 and the training row 19
    assert np.allclose(w.x_test[0, 0, :, 0], (np.array([19.0, 20.0, 21.0]) - 8) / math.sqrt(14), atol=1e-6)


def test_seq_len_one_windows_are_single_rows():
    X, y = noisy(30)
    w = make_fold_windows(X, y, [(rows(0, 19), rows(21, 29))], seq_len=1, val_fraction=0.0)
    assert w.x_fit.shape == (1, 20, 1, 3)
    assert w.fit_rows(0).tolist() == list(range(20))  # no validation: the fit part is the whole block
    mean, std = X[:20].mean(axis=0), X[:20].std(axis=0)
    assert np.allclose(w.scaler_mean[0], mean) and np.allclose(w.scaler_scale[0], std)
    assert np.allclose(w.x_test[0, :, 0], (X[21:30] - mean) / std, atol=1e-5)


def test_constant_feature_gets_scale_one():
    X = np.column_stack([np.full(40, 0.7), np.arange(40.0)])
    y = np.zeros(40, dtype=int)
    assert X[:30, 0].std() > 0  # a plain std of a constant is rounding noise here, not 0
    w = make_fold_windows(X, y, [(rows(0, 29), rows(31, 39))], seq_len=2, val_fraction=0.0)
    assert w.scaler_scale[0, 0] == 1.0
    assert np.allclose(w.x_fit[0, :, :, 0], 0.0, atol=1e-6)
    assert np.allclose(w.x_test[0, :, :, 0], 0.0, atol=1e-6)
    assert w.scaler_scale[0, 1] > 0 and w.scaler_scale[0, 1] != 1.0


def test_shapes_dtypes_and_properties():
    X, y = noisy(80, c=4)
    folds = list(WalkForwardSplit(3, train_size=30, test_size=10, gap=1).split(X))
    w = make_fold_windows(X, y, folds, seq_len=5, val_fraction=0.2, val_gap=1)
    assert isinstance(w, FoldWindows)
    assert (w.n_folds, w.seq_len, w.n_features) == (3, 5, 4)
    # each training block: 30 rows, 6 validation, 1 gap, 23 fit; rolling folds start late enough to keep all
    assert (
        w.x_fit.shape == (3, 23, 5, 4) and w.x_val.shape == (3, 6, 5, 4) and w.x_test.shape == (3, 10, 5, 4)
    )
    for split in ("fit", "val", "test"):
        assert getattr(w, f"x_{split}").dtype == np.float32
        assert getattr(w, f"y_{split}").dtype == np.int64
        assert getattr(w, f"m_{split}").dtype == np.bool_
        assert getattr(w, f"rows_{split}").dtype == np.int64
        assert getattr(w, f"m_{split}").all()
    assert w.class_weights.shape == (3, 3) and w.class_weights.dtype == np.float32
    assert w.scaler_mean.shape == (3, 4) and w.scaler_mean.dtype == np.float64
    assert w.scaler_scale.shape == (3, 4) and w.scaler_scale.dtype == np.float64
    for f, (tr, te) in enumerate(folds):
        assert np.array_equal(w.test_rows(f), te)
        assert np.isin(w.fit_rows(f), tr).all() and np.isin(w.val_rows(f), tr).all()


# ------------------------------------------------------------------------------------------------ no leakage


def test_scaler_sees_fit_rows_only():
    X, y = noisy(60)
    fold = (rows(10, 39), rows(41, 59))
    w = make_fold_windows(X, y, [fold], seq_len=4, val_fraction=0.25, val_gap=2)
    fit = w.fit_rows(0)
    assert fit.tolist() == list(range(10, 30))  # 30 rows: 8 validation (32..39), gap 30..31
    assert np.allclose(w.scaler_mean[0], X[fit].mean(axis=0))
    assert np.allclose(w.scaler_scale[0], X[fit].std(axis=0))

    wild = X.copy()
    others = np.setdiff1d(np.arange(60), fit)
    wild[others] = wild[others] * 1000.0 + 500.0
    w_wild = make_fold_windows(wild, y, [fold], seq_len=4, val_fraction=0.25, val_gap=2)
    assert np.array_equal(w_wild.scaler_mean, w.scaler_mean)
    assert np.array_equal(w_wild.scaler_scale, w.scaler_scale)
    assert not np.allclose(w_wild.x_test, w.x_test)  # the test windows did read the changed rows

    moved = X.copy()
    moved[fit[5]] += 3.0
    w_moved = make_fold_windows(moved, y, [fold], seq_len=4, val_fraction=0.25, val_gap=2)
    assert not np.allclose(w_moved.scaler_mean, w.scaler_mean)
    assert not np.allclose(w_moved.scaler_scale, w.scaler_scale)


def test_class_weights_from_fit_labels_by_hand():
    # fit rows 2..14 (13 labels): two 0s, four 1s, seven 2s; everything else is class 0
    y = np.zeros(26, dtype=np.int64)
    y[2:4] = 0
    y[4:8] = 1
    y[8:15] = 2
    w = make_fold_windows(ramp(26), y, [(rows(0, 19), rows(21, 25))], seq_len=3, val_fraction=0.2, val_gap=1)
    assert w.fit_rows(0).tolist() == list(range(2, 15))
    assert np.allclose(w.class_weights[0], [13 / (3 * 2), 13 / (3 * 4), 13 / (3 * 7)])


def test_class_weights_per_fold_differ():
    y = np.array([0, 1] * 20 + [2] * 20)
    folds = [(rows(0, 9), rows(11, 12)), (rows(30, 49), rows(51, 52))]
    w = make_fold_windows(ramp(60), y, folds, seq_len=1, val_fraction=0.0)
    # fold 0 fits rows 0..9: five 0s, five 1s, no 2 -> 10 / (3 * 5) each, and 1.0 for the absent class
    assert np.allclose(w.class_weights[0], [10 / 15, 10 / 15, 1.0])
    # fold 1 fits rows 30..49: five 0s, five 1s, ten 2s
    assert np.allclose(w.class_weights[1], [20 / 15, 20 / 15, 20 / 30])


def test_absent_class_weight_one_and_warns(caplog):
    y = np.array([0, 1] * 10)
    with caplog.at_level(logging.WARNING, logger="vixray.windows"):
        w = make_fold_windows(ramp(20), y, [(rows(0, 11), rows(13, 19))], seq_len=2, val_fraction=0.0)
    assert w.class_weights[0, 2] == 1.0
    assert "fold 0: class 2 is absent from its 11 fit labels" in caplog.text


def test_class_weighting_off_gives_ones(caplog):
    y = np.array([0, 1] * 10)
    with caplog.at_level(logging.WARNING, logger="vixray.windows"):
        w = make_fold_windows(
            ramp(20), y, [(rows(0, 11), rows(13, 19))], seq_len=2, val_fraction=0.0, class_weighting=False
        )
    assert np.array_equal(w.class_weights, np.ones((1, 3), dtype=np.float32))
    assert caplog.text == ""


@pytest.mark.parametrize(("val_fraction", "val_gap", "n_val"), [(0.25, 2, 8), (0.1, 1, 3), (0.5, 0, 15)])
def test_validation_is_the_tail_of_the_training_block(val_fraction, val_gap, n_val):
    X, y = noisy(45)
    train, test = rows(0, 29), rows(31, 44)
    w = make_fold_windows(X, y, [(train, test)], seq_len=1, val_fraction=val_fraction, val_gap=val_gap)
    val, fit = w.val_rows(0), w.fit_rows(0)
    assert val.tolist() == list(range(30 - n_val, 30))  # ceil(val_fraction * 30), 0.1 * 30 rounds to 3
    assert fit.tolist() == list(range(0, 30 - n_val - val_gap))
    assert fit.max() + val_gap + 1 == val.min()


def test_no_validation_gives_empty_arrays():
    X, y = noisy(40)
    w = make_fold_windows(X, y, [(rows(0, 29), rows(31, 39))], seq_len=3, val_fraction=0.0, val_gap=5)
    assert w.x_val.shape == (1, 0, 3, 3) and w.y_val.shape == (1, 0) and w.m_val.shape == (1, 0)
    assert w.rows_val.shape == (1, 0) and w.val_rows(0).size == 0
    assert w.fit_rows(0).tolist() == list(range(2, 30))  # val_gap has nothing to separate


@pytest.mark.parametrize("expanding", [False, True])
def test_no_test_label_in_any_fit_or_val_rows(expanding):
    X, y = noisy(120)
    splitter = WalkForwardSplit(4, train_size=40, test_size=15, gap=2, expanding=expanding)
    w = make_fold_windows(X, y, list(splitter.split(X)), seq_len=5, val_fraction=0.2, val_gap=2)
    for f in range(w.n_folds):
        test = w.test_rows(f)
        seen = np.concatenate([w.fit_rows(f), w.val_rows(f)])
        assert not np.isin(test, seen).any()
        assert seen.max() < test.min() - 2  # the split gap still separates them
        assert w.fit_rows(f).max() < w.val_rows(f).min() - 2  # and val_gap separates fit from validation


# ------------------------------------------------------------------------------------------------ padding


def test_expanding_folds_are_padded_and_match_one_fold_at_a_time():
    X, y = noisy(70, c=2, seed=3)
    folds = list(WalkForwardSplit(3, train_size=20, test_size=8, gap=1, expanding=True).split(X))
    kwargs = {"seq_len": 4, "val_fraction": 0.2, "val_gap": 1}
    w = make_fold_windows(X, y, folds, **kwargs)
    # training blocks 0..44, 0..52, 0..60: validation ceil(0.2 n) = 9, 11, 13 rows, then the val_gap row, and
    # rows 0..2 lack 4 days of history
    n_fit = [45 - 9 - 1 - 3, 53 - 11 - 1 - 3, 61 - 13 - 1 - 3]
    assert w.m_fit.sum(axis=1).tolist() == n_fit
    assert w.m_val.sum(axis=1).tolist() == [9, 11, 13]
    assert w.x_fit.shape[1] == max(n_fit) and w.x_val.shape[1] == 13
    for f, (tr, te) in enumerate(folds):
        one = make_fold_windows(X, y, [(tr, te)], **kwargs)
        for split in ("fit", "val", "test"):
            m = getattr(w, f"m_{split}")[f]
            assert m[: m.sum()].all() and not m[m.sum() :].any()  # real windows first, padding after
            np.testing.assert_array_equal(getattr(w, f"x_{split}")[f][m], getattr(one, f"x_{split}")[0])
            np.testing.assert_array_equal(getattr(w, f"y_{split}")[f][m], getattr(one, f"y_{split}")[0])
            np.testing.assert_array_equal(getattr(w, f"rows_{split}")[f][m], getattr(one, f"rows_{split}")[0])
            assert (getattr(w, f"x_{split}")[f][~m] == 0).all()
            assert (getattr(w, f"y_{split}")[f][~m] == 0).all()
            assert (getattr(w, f"rows_{split}")[f][~m] == -1).all()
        np.testing.assert_array_equal(w.scaler_mean[f], one.scaler_mean[0])
        np.testing.assert_array_equal(w.class_weights[f], one.class_weights[0])


def test_unused_rows_may_hold_nan():
    X, y = noisy(50)
    X[0] = np.nan  # padding gathers row 0; no window reads it
    y[0] = 9
    folds = [(rows(10, 29), rows(31, 35)), (rows(10, 39), rows(41, 49))]
    w = make_fold_windows(X, y, folds, seq_len=3, val_fraction=0.2)
    assert not w.m_fit[0].all()  # fold 0 is padded
    for split in ("fit", "val", "test"):
        assert np.isfinite(getattr(w, f"x_{split}")).all()


def test_accessor_rejects_bad_fold():
    X, y = noisy(30)
    w = make_fold_windows(X, y, [(rows(0, 19), rows(21, 29))], seq_len=2)
    for bad in (1, -1, True):
        with pytest.raises(ValueError, match=r"fold = .*: the windows have folds 0\.\.0"):
            w.test_rows(bad)


# ------------------------------------------------------------------------------------------------ errors


def good() -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    X, y = noisy(40)
    return X, y, [(rows(0, 29), rows(31, 39))]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"seq_len": 0}, r"seq_len = 0: must be an integer >= 1"),
        ({"seq_len": True}, r"seq_len = True: must be an integer >= 1"),
        ({"seq_len": 2.0}, r"seq_len = 2.0: must be an integer >= 1"),
        ({"val_fraction": 1.0}, r"val_fraction = 1.0: must be a number in \[0, 1\)"),
        ({"val_fraction": -0.1}, r"val_fraction = -0.1: must be a number in \[0, 1\)"),
        ({"val_fraction": True}, r"val_fraction = True: must be a number in \[0, 1\)"),
        ({"val_fraction": "0.2"}, r"val_fraction = '0.2': must be a number"),
        ({"val_gap": -1}, r"val_gap = -1: must be an integer >= 0"),
        ({"n_classes": 1}, r"n_classes = 1: must be an integer >= 2"),
    ],
)
def test_bad_parameters(kwargs, pattern):
    X, y, folds = good()
    with pytest.raises(ValueError, match=pattern):
        make_fold_windows(X, y, folds, **{"seq_len": 3, **kwargs})


def test_x_not_2d():
    X, y, folds = good()
    with pytest.raises(ValueError, match=r"X has shape \(40,\): pass a 2-D \(rows, features\) array"):
        make_fold_windows(X[:, 0], y, folds, seq_len=3)


def test_x_not_numeric():
    X, y, folds = good()
    with pytest.raises(ValueError, match=r"X has dtype <U.*: pass real-valued features"):
        make_fold_windows(X.astype(str), y, folds, seq_len=3)


def test_y_length_mismatch():
    X, y, folds = good()
    with pytest.raises(ValueError, match=r"y has shape \(39,\) but X has 40 rows"):
        make_fold_windows(X, y[:-1], folds, seq_len=3)


def test_y_not_integer():
    X, y, folds = good()
    with pytest.raises(ValueError, match=r"y has dtype float64: pass integer class labels"):
        make_fold_windows(X, y.astype(float), folds, seq_len=3)


@pytest.mark.parametrize(
    ("row", "split", "window_row"),
    [(5, "fit", 5), (27, "val", 27), (30, "test", 31)],  # row 30 is the split gap, read by test window 31
)
def test_nan_in_a_used_row(row, split, window_row):
    X, y, folds = good()
    X[row, 1] = np.nan
    with pytest.raises(
        ValueError,
        match=rf"X row {row} has a NaN or infinite value, and fold 0 reads it in the {split} window",
    ):
        make_fold_windows(X, y, folds, seq_len=3, val_fraction=0.2, val_gap=1)
    X[row, 1] = np.inf
    with pytest.raises(ValueError, match=rf"X row {row} has a NaN .* window of row {window_row}"):
        make_fold_windows(X, y, folds, seq_len=3, val_fraction=0.2, val_gap=1)


@pytest.mark.parametrize(("label", "row"), [(3, 10), (-1, 35)])
def test_label_outside_classes(label, row):
    X, y, folds = good()
    y[row] = label
    with pytest.raises(ValueError, match=rf"y\[{row}\] = {label} .* is outside 0\.\.2 for n_classes = 3"):
        make_fold_windows(X, y, folds, seq_len=3)


def test_label_outside_classes_in_an_unused_row_is_fine():
    X, y, folds = good()
    y[0] = 7  # row 0 has no 3-day history, so no window is labelled with it
    w = make_fold_windows(X, y, folds, seq_len=3)
    assert 0 not in w.fit_rows(0)


def test_no_folds():
    X, y, _ = good()
    with pytest.raises(ValueError, match=r"folds is empty"):
        make_fold_windows(X, y, [], seq_len=3)


def test_fold_not_a_pair():
    X, y, _ = good()
    with pytest.raises(ValueError, match=r"fold 0 is not a \(train_idx, test_idx\) pair"):
        make_fold_windows(X, y, [rows(0, 10)], seq_len=3)


@pytest.mark.parametrize(
    ("fold", "pattern"),
    [
        ((rows(0, 20), rows(22, 40)), r"fold 1 test_idx holds row 40, out of range for X with 40 rows"),
        ((np.array([-1, 0, 1]), rows(22, 30)), r"fold 1 train_idx holds row -1, out of range"),
        ((np.array([], dtype=np.int64), rows(22, 30)), r"fold 1 train_idx has shape \(0,\)"),
        ((np.arange(0.0, 20.0), rows(22, 30)), r"fold 1 train_idx has shape \(20,\) and dtype float64"),
        ((rows(0, 20).reshape(3, 7), rows(22, 30)), r"fold 1 train_idx has shape \(3, 7\)"),
        ((rows(0, 20)[::-1], rows(22, 30)), r"fold 1 train_idx is not strictly ascending"),
        ((rows(0, 20), np.array([25, 25, 26])), r"fold 1 test_idx is not strictly ascending"),
        ((rows(0, 25), rows(20, 30)), r"fold 1 trains up to row 25, not before its first test row 20"),
    ],
)
def test_bad_fold_indices(fold, pattern):
    X, y, folds = good()
    with pytest.raises(ValueError, match=pattern):
        make_fold_windows(X, y, [folds[0], fold], seq_len=3)


def test_fold_without_fit_windows_names_fold_size_and_parameters():
    X, y, folds = good()
    # fold 1: 10 training rows, 4 to validation, 2 to val_gap, fit rows 0..3 all lack seq_len = 5 of history
    short = (rows(0, 9), rows(11, 15))
    with pytest.raises(
        ValueError,
        match=(
            r"fold 1 has no fit windows: its training block of 10 rows \(rows 0\.\.9\) loses its last 4 to "
            r"validation \(val_fraction = 0\.4\) and 2 more to val_gap.*seq_len = 5.*lower seq_len, val_fraction "
            r"or val_gap, or lengthen the training blocks"
        ),
    ):
        make_fold_windows(X, y, [folds[0], short], seq_len=5, val_fraction=0.4, val_gap=2)
    # one row fewer of history asked for, and the fold has a fit window
    w = make_fold_windows(X, y, [folds[0], short], seq_len=4, val_fraction=0.4, val_gap=2)
    assert w.fit_rows(1).tolist() == [3]


def test_validation_swallowing_the_block_is_an_error():
    X, y, _ = good()
    with pytest.raises(ValueError, match=r"fold 0 has no fit windows: its training block of 3 rows"):
        make_fold_windows(X, y, [(rows(0, 2), rows(4, 6))], seq_len=1, val_fraction=0.9, val_gap=0)
