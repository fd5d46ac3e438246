"""Walk-forward folds: rolling or expanding training blocks, a gap, then a test block, anchored at the data's end.

:class:`WalkForwardSplit` honours scikit-learn's splitter contract (``split(X, y, groups)`` yields ``(train, test)``
index arrays, ``get_n_splits``), so it can be passed as ``cv=`` to ``cross_val_score`` and friends.
:func:`describe_folds` turns folds into dates for reports and manifests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------------------ checks


def _int_param(name: str, value: Any, *, minimum: int) -> int:
    # bool is an int subclass; True as a fold count is always a mistake
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"WalkForwardSplit {name} = {value!r}: must be an integer >= {minimum}")
    return int(value)


ALL = "all"  # n_splits = "all": as many folds as the data holds


def _n_splits_param(value: Any) -> int | str:
    if value == ALL:
        return ALL
    if isinstance(value, str):
        raise ValueError(f"WalkForwardSplit n_splits = {value!r}: must be an integer >= 1 or {ALL!r}")
    return _int_param("n_splits", value, minimum=1)


def _num_samples(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if isinstance(shape, tuple) and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise ValueError(
            f"X of type {type(X).__name__} has no length: pass an array, a DataFrame or a list with one row per "
            "sample"
        ) from None


# ------------------------------------------------------------------------------------------------ the splitter


class WalkForwardSplit:
    """Walk-forward cross-validation: train on a block of the past, skip ``gap`` rows, test on the next block.

    Folds are anchored at the END of the data, as in scikit-learn's ``TimeSeriesSplit``: the last test block ends at
    the last sample, and each earlier fold sits ``step`` rows before the next. ``n_splits="all"`` takes as many
    folds as fit, so the test blocks tile the data from the first row after one training block to the end (the
    ``(n - train_size - gap - test_size) % step`` rows before the oldest test block stay untested). For ``n``
    samples, fold ``k`` (0-based, oldest first) is::

        test_end    = n - (n_splits - 1 - k) * step        (exclusive)
        test_start  = test_end - test_size
        train_end   = test_start - gap                     (exclusive)
        train_start = 0 if expanding else train_end - train_size

    Rolling folds (``expanding=False``), ``n_splits=3, train_size=8, gap=1, test_size=3`` on 18 samples, one
    character per sample::

        sample:  012345678901234567
        fold 0: |TTTTTTTTgttt      |
        fold 1: |   TTTTTTTTgttt   |
        fold 2: |      TTTTTTTTgttt|
                 T = train, g = gap, t = test

    Expanding folds (``expanding=True``), same settings: every fold trains on all rows before its gap::

        sample:  012345678901234567
        fold 0: |TTTTTTTTgttt      |
        fold 1: |TTTTTTTTTTTgttt   |
        fold 2: |TTTTTTTTTTTTTTgttt|
                 T = train, g = gap, t = test

    ``n_splits="all"``, rolling, ``train_size=8, gap=1, test_size=3`` on 19 samples: three folds fit, and the
    first ``(19 - 8 - 1 - 3) % 3 = 1`` row after the oldest training block is never tested::

        sample:  0123456789012345678
        fold 0: | TTTTTTTTgttt      |
        fold 1: |    TTTTTTTTgttt   |
        fold 2: |       TTTTTTTTgttt|

    Parameters
    ----------
    n_splits:
        Number of folds (>= 1), or ``"all"``: as many as the data holds (:meth:`get_n_splits` then needs ``X``).
    train_size:
        Rows in each training block; with ``expanding=True`` the size of the first (smallest) block when the data
        holds exactly :meth:`min_samples` rows (extra history at the start goes into every expanding block).
    test_size:
        Rows in each test block.
    step:
        Rows between the starts of consecutive test blocks; defaults to ``test_size``. Test blocks never overlap,
        so ``step < test_size`` is an error (``step > test_size`` leaves untested rows between blocks).
    gap:
        Rows dropped between the last training row and the first test row. It must cover the label horizon, so no
        training label is computed from prices inside the test block; the caller checks ``gap >= horizon``.
    expanding:
        Train from the first sample in every fold instead of on a rolling block of ``train_size`` rows.
    """

    def __init__(
        self,
        n_splits: int | str = 5,
        *,
        train_size: int,
        test_size: int,
        step: int | None = None,
        gap: int = 1,
        expanding: bool = False,
    ) -> None:
        self.n_splits = _n_splits_param(n_splits)
        self.train_size = _int_param("train_size", train_size, minimum=1)
        self.test_size = _int_param("test_size", test_size, minimum=1)
        self.step = self.test_size if step is None else _int_param("step", step, minimum=1)
        if self.step < self.test_size:
            raise ValueError(
                f"WalkForwardSplit step = {self.step} is below test_size = {self.test_size}: test blocks would "
                f"overlap; use step >= {self.test_size} (or leave step unset to use test_size)"
            )
        self.gap = _int_param("gap", gap, minimum=0)
        if not isinstance(expanding, bool | np.bool_):
            raise ValueError(f"WalkForwardSplit expanding = {expanding!r}: must be True or False")
        self.expanding = bool(expanding)

    def min_samples(self) -> int:
        """The fewest samples this splitter needs: the oldest fold's full training block must fit (one fold's worth
        for ``n_splits="all"``)."""
        folds = 1 if self.n_splits == ALL else int(self.n_splits)
        return self.train_size + self.gap + self.test_size + (folds - 1) * self.step

    def _folds_for(self, n_samples: int) -> int:
        need = self.min_samples()
        if n_samples < need:
            raise ValueError(
                f"Cannot split n_samples={n_samples} with n_splits={self.n_splits!r}, train_size={self.train_size}, "
                f"test_size={self.test_size}, step={self.step} and gap={self.gap}: at least {need} samples are "
                f"needed (train_size + gap + test_size + (n_splits - 1) * step); lower "
                "n_splits/train_size/test_size or load more history"
            )
        if self.n_splits == ALL:
            return 1 + (n_samples - need) // self.step
        return int(self.n_splits)

    def _bounds(self, n_samples: int) -> list[tuple[int, int, int, int]]:
        """(train_start, train_end, test_start, test_end) per fold, ends exclusive, oldest first."""
        n_folds = self._folds_for(n_samples)
        out = []
        for k in range(n_folds):
            test_end = n_samples - (n_folds - 1 - k) * self.step
            test_start = test_end - self.test_size
            train_end = test_start - self.gap
            train_start = 0 if self.expanding else train_end - self.train_size
            out.append((train_start, train_end, test_start, test_end))
        return out

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` int64 position arrays, oldest fold first; ``y`` and ``groups`` unused."""
        for train_start, train_end, test_start, test_end in self._bounds(_num_samples(X)):
            yield (
                np.arange(train_start, train_end, dtype=np.int64),
                np.arange(test_start, test_end, dtype=np.int64),
            )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds; for ``n_splits="all"`` it depends on ``X``'s length, which must be given (``y`` and
        ``groups`` are accepted for scikit-learn compatibility and ignored)."""
        if self.n_splits != ALL:
            return int(self.n_splits)
        if X is None:
            raise ValueError(
                "WalkForwardSplit(n_splits='all').get_n_splits needs X: the number of folds depends on the number "
                "of samples; pass the data (get_n_splits(X))"
            )
        return self._folds_for(_num_samples(X))

    def __repr__(self) -> str:
        return (
            f"WalkForwardSplit(n_splits={self.n_splits!r}, train_size={self.train_size}, "
            f"test_size={self.test_size}, step={self.step}, gap={self.gap}, expanding={self.expanding})"
        )


# ------------------------------------------------------------------------------------------------ validation tail

# val_fraction * n is rounded to this many decimals before ceil, so 0.1 * 30 = 3.0000000000000004 gives 3, not 4
_FRACTION_DECIMALS = 9


def validation_split(
    train_idx: np.ndarray, *, val_fraction: float, val_gap: int
) -> tuple[np.ndarray, np.ndarray]:
    """A training block's (fit, validation) rows: the validation tail is its last ``ceil(val_fraction * n)`` rows,
    and ``val_gap`` rows before the tail are dropped, so no fit label (``val_gap`` = the label horizon) reaches into
    the tail. ``val_fraction = 0`` gives every row to fit and an empty tail.

    The network early-stops on this tail and the tuned baselines choose their settings on it, so both see the same
    days (a test checks it).
    """
    train = np.asarray(train_idx)
    n_train = len(train)
    n_val = math.ceil(round(val_fraction * n_train, _FRACTION_DECIMALS))
    # without a validation tail there is nothing to keep the fit labels away from
    fit_end = n_train - n_val - val_gap if n_val else n_train
    return train[: max(fit_end, 0)], train[n_train - n_val :]


# ------------------------------------------------------------------------------------------------ reporting


def _iso(value: Any) -> str:
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return str(iso())
    return str(value)  # np.datetime64 and strings print as ISO already


def describe_folds(
    folds: Sequence[tuple[np.ndarray, np.ndarray]], dates: Sequence[Any]
) -> list[dict[str, Any]]:
    """Per fold: ``fold``, the first/last dates of its training and test rows (ISO strings), n_train, n_test.

    ``folds`` are ``(train_idx, test_idx)`` pairs (from :meth:`WalkForwardSplit.split`, or a trainer's test rows);
    ``dates`` has one entry per sample (a list of dates, a ``pl.Series``, a ``datetime64`` array). The ends are
    inclusive: the date of the last training row and of the last test row. Reports and manifests use this.
    """
    days = list(dates)
    return [
        {
            "fold": k,
            "train_start": _iso(days[int(train[0])]),
            "train_end": _iso(days[int(train[-1])]),
            "test_start": _iso(days[int(test[0])]),
            "test_end": _iso(days[int(test[-1])]),
            "n_train": int(len(train)),
            "n_test": int(len(test)),
        }
        for k, (train, test) in enumerate(folds)
    ]
