from __future__ import annotations

import inspect
import textwrap
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from vixray.split import WalkForwardSplit, describe_folds


def bounds(splitter: WalkForwardSplit, n: int) -> list[tuple[int, int, int, int]]:
    """(first train, last train, first test, last test) per fold, inclusive, checking contiguity on the way."""
    out = []
    for train, test in splitter.split(np.zeros((n, 2))):
        assert np.array_equal(train, np.arange(train[0], train[-1] + 1))
        assert np.array_equal(test, np.arange(test[0], test[-1] + 1))
        out.append((int(train[0]), int(train[-1]), int(test[0]), int(test[-1])))
    return out


# ------------------------------------------------------------------------------------------------ hand-computed folds


def test_rolling_folds_by_hand():
    # n = 20, 3 folds, test 3, step 3, gap 1, train 5: test ends 14, 17, 20 (exclusive)
    s = WalkForwardSplit(3, train_size=5, test_size=3, gap=1)
    assert bounds(s, 20) == [(5, 9, 11, 13), (8, 12, 14, 16), (11, 15, 17, 19)]


def test_rolling_folds_with_step_and_gap_by_hand():
    # n = 30, step 4 leaves one untested row between test blocks, gap 2
    s = WalkForwardSplit(3, train_size=6, test_size=3, step=4, gap=2)
    # test ends 22, 26, 30 -> tests 19..21, 23..25, 27..29; train ends 17, 21, 25 (exclusive)
    assert bounds(s, 30) == [(11, 16, 19, 21), (15, 20, 23, 25), (19, 24, 27, 29)]


def test_expanding_folds_by_hand():
    s = WalkForwardSplit(3, train_size=5, test_size=3, gap=1, expanding=True)
    assert bounds(s, 20) == [(0, 9, 11, 13), (0, 12, 14, 16), (0, 15, 17, 19)]


def test_expanding_at_minimum_length_first_block_is_train_size():
    s = WalkForwardSplit(3, train_size=5, test_size=3, step=4, gap=2, expanding=True)
    n = s.min_samples()
    assert n == 5 + 2 + 3 + 2 * 4
    folds = list(s.split(np.zeros(n)))
    assert [len(tr) for tr, _ in folds] == [5, 9, 13]
    assert folds[0][0][0] == 0 and folds[-1][1][-1] == n - 1


def test_zero_gap_puts_test_right_after_train():
    s = WalkForwardSplit(2, train_size=4, test_size=2, gap=0)
    assert bounds(s, 10) == [(2, 5, 6, 7), (4, 7, 8, 9)]


def test_single_split_uses_the_last_rows():
    s = WalkForwardSplit(1, train_size=4, test_size=2, gap=1)
    assert bounds(s, 12) == [(5, 8, 10, 11)]


@pytest.mark.parametrize("expanding", [False, True])
@pytest.mark.parametrize(
    ("n_splits", "train", "test", "step", "gap"), [(4, 7, 3, 3, 1), (5, 10, 2, 5, 3), (2, 1, 1, 1, 0)]
)
def test_invariants(expanding, n_splits, train, test, step, gap):
    s = WalkForwardSplit(n_splits, train_size=train, test_size=test, step=step, gap=gap, expanding=expanding)
    n = s.min_samples() + 7
    folds = list(s.split(np.zeros(n)))
    assert len(folds) == s.get_n_splits() == n_splits
    assert folds[-1][1][-1] == n - 1  # anchored at the end
    for k, (tr, te) in enumerate(folds):
        assert tr.dtype == np.int64 and te.dtype == np.int64
        assert len(te) == test
        assert tr.max() < te.min() - gap  # every train index is below every test index minus the gap
        assert te.min() - tr.max() - 1 == gap
        assert tr.min() >= 0
        assert len(tr) == (te.min() - gap if expanding else train)
        if k:
            prev_test = folds[k - 1][1]
            assert prev_test.max() < te.min()  # test blocks never overlap
            assert te[0] - prev_test[0] == step
    all_test = np.concatenate([te for _, te in folds])
    assert len(np.unique(all_test)) == len(all_test)


def test_accepts_lists_polars_frames_and_numpy_integers():
    s = WalkForwardSplit(np.int64(2), train_size=np.int32(4), test_size=2)
    expected = bounds(s, 9)
    frame = pl.DataFrame({"a": range(9), "b": range(9)})
    for data in (list(range(9)), frame, np.zeros((9, 3))):
        got = [(int(tr[0]), int(tr[-1]), int(te[0]), int(te[-1])) for tr, te in s.split(data)]
        assert got == expected


def test_get_n_splits_and_min_samples():
    s = WalkForwardSplit(4, train_size=10, test_size=3, step=5, gap=2)
    assert s.get_n_splits() == 4
    assert s.get_n_splits(np.zeros(100), None, None) == 4
    assert s.min_samples() == 10 + 2 + 3 + 3 * 5
    assert len(list(s.split(np.zeros(s.min_samples())))) == 4


def test_repr_names_every_parameter_with_step_resolved():
    s = WalkForwardSplit(5, train_size=1000, test_size=250)
    assert repr(s) == (
        "WalkForwardSplit(n_splits=5, train_size=1000, test_size=250, step=250, gap=1, expanding=False)"
    )
    s = WalkForwardSplit(2, train_size=3, test_size=4, step=6, gap=0, expanding=True)
    assert repr(s) == "WalkForwardSplit(n_splits=2, train_size=3, test_size=4, step=6, gap=0, expanding=True)"


# ------------------------------------------------------------------------------------------------ scikit-learn


def test_cross_val_score_runs_with_the_splitter():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + 0.1 * rng.normal(size=120) > 0).astype(int)
    cv = WalkForwardSplit(4, train_size=40, test_size=15, gap=1)
    scores = cross_val_score(LogisticRegression(), X, y, cv=cv)
    assert scores.shape == (4,)
    assert np.all((scores >= 0) & (scores <= 1))


# ------------------------------------------------------------------------------------------------ reporting


def _diagram(splitter: WalkForwardSplit, n_samples: int) -> str:
    """The folds drawn as in the class docstring, one character per sample, from what split() yields."""
    width = len(f"fold {splitter.n_splits - 1}: ")
    lines = [f"{'sample:':<{width}} " + "".join(str(i % 10) for i in range(n_samples))]
    for k, (train, test) in enumerate(splitter.split(np.zeros(n_samples))):
        row = [" "] * n_samples
        for i in train:
            row[i] = "T"
        for i in range(int(train[-1]) + 1, int(test[0])):
            row[i] = "g"
        for i in test:
            row[i] = "t"
        lines.append(f"{f'fold {k}:':<{width - 1}} |{''.join(row)}|")
    lines.append(" " * (width + 1) + "T = train, g = gap, t = test")
    return "\n".join(lines)


def test_describe_folds_on_a_date_list():
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(20)]
    s = WalkForwardSplit(2, train_size=5, test_size=3, gap=1)
    # test ends 17, 20 -> tests 14..16, 17..19; trains 8..12, 11..15
    assert describe_folds(list(s.split(days)), days) == [
        {
            "fold": 0,
            "train_start": "2021-01-09",
            "train_end": "2021-01-13",
            "test_start": "2021-01-15",
            "test_end": "2021-01-17",
            "n_train": 5,
            "n_test": 3,
        },
        {
            "fold": 1,
            "train_start": "2021-01-12",
            "train_end": "2021-01-16",
            "test_start": "2021-01-18",
            "test_end": "2021-01-20",
            "n_train": 5,
            "n_test": 3,
        },
    ]


def test_describe_folds_accepts_series_and_datetime64():
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(12)]
    folds = list(WalkForwardSplit(1, train_size=4, test_size=2, gap=1, expanding=True).split(days))
    expected = describe_folds(folds, days)
    assert expected[0]["train_start"] == "2021-01-01" and expected[0]["n_train"] == 9
    assert describe_folds(folds, pl.Series(days)) == expected
    assert describe_folds(folds, np.array(days, dtype="datetime64[D]")) == expected


def test_describe_folds_of_folds_that_are_not_contiguous():
    # a trainer's test rows can skip rows without enough history: the dates are those of the rows given
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(10)]
    (info,) = describe_folds([(np.array([0, 2, 3]), np.array([6, 9]))], days)
    assert (info["train_start"], info["train_end"], info["test_start"], info["test_end"]) == (
        "2021-01-01",
        "2021-01-04",
        "2021-01-07",
        "2021-01-10",
    )
    assert (info["n_train"], info["n_test"]) == (3, 2)


@pytest.mark.parametrize("expanding", [False, True])
def test_docstring_diagram_matches_the_folds(expanding):
    diagram = _diagram(WalkForwardSplit(3, train_size=8, test_size=3, gap=1, expanding=expanding), 18)
    assert textwrap.indent(diagram, "    ") in inspect.getdoc(WalkForwardSplit)


# ------------------------------------------------------------------------------------------------ errors


def test_too_few_samples_names_everything_and_the_fix():
    s = WalkForwardSplit(3, train_size=10, test_size=4, step=5, gap=2)
    with pytest.raises(
        ValueError,
        match=(
            r"n_samples=25 with n_splits=3, train_size=10, test_size=4, step=5 and gap=2: at least 26 samples "
            r".*lower n_splits/train_size/test_size or load more history"
        ),
    ):
        list(s.split(np.zeros(25)))
    assert len(list(s.split(np.zeros(26)))) == 3


def test_too_few_samples_expanding_needs_the_same():
    s = WalkForwardSplit(2, train_size=5, test_size=3, expanding=True)
    with pytest.raises(ValueError, match=r"at least 12 samples"):
        list(s.split(np.zeros(11)))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_splits": 0}, r"n_splits = 0: must be an integer >= 1"),
        ({"n_splits": True}, r"n_splits = True: must be an integer >= 1"),
        ({"n_splits": 2.0}, r"n_splits = 2.0: must be an integer >= 1"),
        ({"n_splits": "most"}, r"n_splits = 'most': must be an integer >= 1 or 'all'"),
        ({"train_size": 0}, r"train_size = 0: must be an integer >= 1"),
        ({"train_size": False}, r"train_size = False: must be an integer"),
        ({"test_size": -1}, r"test_size = -1: must be an integer >= 1"),
        ({"test_size": "3"}, r"test_size = '3': must be an integer >= 1"),
        ({"step": 0}, r"step = 0: must be an integer >= 1"),
        ({"step": True}, r"step = True: must be an integer >= 1"),
        ({"step": 2}, r"step = 2 is below test_size = 3: test blocks would overlap; use step >= 3"),
        ({"gap": -1}, r"gap = -1: must be an integer >= 0"),
        ({"gap": 1.5}, r"gap = 1.5: must be an integer >= 0"),
        ({"expanding": "yes"}, r"expanding = 'yes': must be True or False"),
    ],
)
def test_bad_parameters_name_the_parameter_and_value(kwargs, pattern):
    params = {"n_splits": 2, "train_size": 5, "test_size": 3, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        WalkForwardSplit(params.pop("n_splits"), **params)


def test_x_without_length():
    s = WalkForwardSplit(1, train_size=2, test_size=1)
    with pytest.raises(ValueError, match=r"X of type int has no length"):
        list(s.split(5))
