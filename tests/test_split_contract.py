"""The splitter contract, checked over every configuration of a grid (as sktime runs its splitter suite).

Whatever the settings: ``split`` yields ``get_n_splits()`` pairs of int64 position arrays, ascending and unique,
inside the data; no test row is in its training rows, exactly ``gap`` rows separate the two; test blocks never
overlap and the last one ends at the last sample; ``y`` and ``groups`` change nothing; the same data gives the same
folds; ``repr`` rebuilds an equal splitter; scikit-learn takes it as ``cv=``; too little data is a ValueError that
names the settings. Bad parameters are tested in test_split.py.
"""

from __future__ import annotations

import itertools
from types import GeneratorType

import numpy as np
import pytest
from sklearn.model_selection import check_cv

from vixray.split import WalkForwardSplit

GRID = [
    {
        "n_splits": n_splits,
        "train_size": train,
        "test_size": test,
        "step": step,
        "gap": gap,
        "expanding": expanding,
    }
    for n_splits, train, test, step, gap, expanding in itertools.product(
        (1, 2, 5, "all"), (1, 7), (1, 3), (None, "wide"), (0, 1, 3), (False, True)
    )
]
for params in GRID:  # "wide" steps leave two untested rows between test blocks
    params["step"] = params["test_size"] + 2 if params["step"] == "wide" else None
IDS = [
    f"k{p['n_splits']}-tr{p['train_size']}-te{p['test_size']}-st{p['step']}-g{p['gap']}-{'exp' if p['expanding'] else 'roll'}"
    for p in GRID
]


@pytest.fixture(params=GRID, ids=IDS)
def splitter(request: pytest.FixtureRequest) -> WalkForwardSplit:
    params = dict(request.param)
    return WalkForwardSplit(params.pop("n_splits"), **params)


@pytest.fixture(params=[0, 5], ids=["at-minimum", "with-extra-history"])
def n_samples(request: pytest.FixtureRequest, splitter: WalkForwardSplit) -> int:
    return splitter.min_samples() + request.param


def test_split_yields_get_n_splits_pairs_of_int64_positions(splitter, n_samples):
    X = np.zeros((n_samples, 2))
    produced = splitter.split(X)
    assert isinstance(produced, GeneratorType)  # lazy, as scikit-learn's splitters
    folds = list(produced)
    assert len(folds) == splitter.get_n_splits(X) == splitter.get_n_splits(X, None, None)
    if splitter.n_splits != "all":
        assert splitter.get_n_splits() == len(folds)  # a fixed count needs no data
    for train, test in folds:
        for idx in (train, test):
            assert isinstance(idx, np.ndarray) and idx.ndim == 1 and idx.dtype == np.int64
            assert idx.size > 0 and idx.min() >= 0 and idx.max() < n_samples
            assert np.all(np.diff(idx) > 0)  # ascending, so unique


def test_train_ends_gap_rows_before_its_test_block(splitter, n_samples):
    for train, test in splitter.split(np.zeros(n_samples)):
        assert np.intersect1d(train, test).size == 0
        assert int(test.min()) - int(train.max()) - 1 == splitter.gap
        assert len(test) == splitter.test_size
        if splitter.expanding:
            assert train[0] == 0 and len(train) == int(test.min()) - splitter.gap
        else:
            assert len(train) == splitter.train_size


def test_test_blocks_walk_forward_to_the_last_sample(splitter, n_samples):
    tests = [test for _, test in splitter.split(np.zeros(n_samples))]
    assert tests[-1][-1] == n_samples - 1
    for before, after in itertools.pairwise(tests):
        assert before.max() < after.min()
        assert after[0] - before[0] == splitter.step
    every = np.concatenate(tests)
    assert np.unique(every).size == every.size


def test_y_and_groups_change_nothing_and_folds_repeat(splitter, n_samples):
    X = np.zeros((n_samples, 3))
    y = np.arange(n_samples) % 3
    plain = [(tr.tolist(), te.tolist()) for tr, te in splitter.split(X)]
    with_y = [(tr.tolist(), te.tolist()) for tr, te in splitter.split(X, y, groups=y)]
    again = [(tr.tolist(), te.tolist()) for tr, te in splitter.split(X)]
    assert plain == with_y == again


def test_repr_rebuilds_an_equal_splitter(splitter, n_samples):
    rebuilt = eval(repr(splitter), {"WalkForwardSplit": WalkForwardSplit})  # noqa: S307 - our own repr
    assert repr(rebuilt) == repr(splitter)
    X = np.zeros(n_samples)
    assert [(tr.tolist(), te.tolist()) for tr, te in rebuilt.split(X)] == [
        (tr.tolist(), te.tolist()) for tr, te in splitter.split(X)
    ]


def test_scikit_learn_accepts_it_as_cv(splitter):
    assert check_cv(splitter) is splitter


def test_one_sample_too_few_is_an_error_naming_the_settings(splitter):
    n = splitter.min_samples() - 1
    with pytest.raises(
        ValueError, match=rf"Cannot split n_samples={n} with n_splits={splitter.n_splits!r}, .*at least"
    ):
        list(splitter.split(np.zeros(n)))


ALL = [(p, i) for p, i in zip(GRID, IDS, strict=True) if p["n_splits"] == "all"]


@pytest.mark.parametrize("extra", [0, 1, 5])
@pytest.mark.parametrize("params", [p for p, _ in ALL], ids=[i for _, i in ALL])
def test_all_takes_every_fold_that_fits_and_no_more(params, extra):
    params = dict(params)
    splitter = WalkForwardSplit(params.pop("n_splits"), **params)
    n_samples = splitter.min_samples() + extra
    folds = list(splitter.split(np.zeros(n_samples)))
    # one more fold would need `step` more rows before the oldest training block than the data has
    train, test = folds[0]
    first_train = int(test.min()) - splitter.gap - splitter.train_size
    assert 0 <= first_train < splitter.step
    assert len(folds) == 1 + (n_samples - splitter.min_samples()) // splitter.step
    with pytest.raises(ValueError, match=r"get_n_splits needs X: the number of folds depends on the number"):
        splitter.get_n_splits()
