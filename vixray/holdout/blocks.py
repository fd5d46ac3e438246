"""The holdout era as walk-forward test blocks, each trained only on rows whose labels end before it.

The blocks start at the holdout era's first labelled row and tile it to its last, the last block shorter when the
era is not a whole number of blocks, so every labelled holdout day is tested once (:func:`holdout_folds`). Each
block's training window (``split.train_size`` rows, or everything before it with ``split.expanding``) ends
``split.gap`` rows before the block and may reach back into the development era: what the search never saw is the
holdout's labels, not its early prices. :func:`check_holdout_folds` proves no training label reaches into its
block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import numpy as np

from vixray.config import ExperimentConfig, SplitConfig
from vixray.data import Prices
from vixray.dataset import Dataset, Eras, holdout_dataset
from vixray.holdout.guards import positive


def holdout_folds(
    n_rows: int, *, first_holdout: int, block: int, split: SplitConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Test blocks of ``block`` rows from row ``first_holdout`` to the table's end, each behind its training window.

    Block ``k`` tests rows ``[first + k * block, min(first + (k + 1) * block, n))``; its training rows end ``gap``
    rows before it and start ``train_size`` rows earlier (at row 0 with ``expanding``). With ``first = 10``,
    ``block = 4``, ``train_size = 6``, ``gap = 1`` on 20 rows (the holdout era starts at row 10)::

        row:      01234567890123456789
        block 0: |   TTTTTTgtttt      |
        block 1: |       TTTTTTgtttt  |
        block 2: |           TTTTTTgtt|
                  T = train, g = gap, t = test (the last block holds the two rows left)
    """
    positive("block", block)
    if not 0 <= first_holdout < n_rows:
        raise ValueError(
            f"first_holdout = {first_holdout}: the table of {n_rows} labelled rows has no holdout row there; "
            "the holdout era needs at least one labelled day"
        )
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(first_holdout, n_rows, block):
        train_end = start - split.gap
        train_start = 0 if split.expanding else train_end - split.train_size
        if train_start < 0 or train_end <= train_start:
            raise ValueError(
                f"holdout block {len(folds)} starts at row {start}, but a training window of split.train_size = "
                f"{split.train_size} rows and split.gap = {split.gap} needs {split.train_size + split.gap} rows "
                f"before it; the table holds {start}: lower split.train_size, or load more history before the "
                "holdout era"
            )
        folds.append(
            (
                np.arange(train_start, train_end, dtype=np.int64),
                np.arange(start, min(start + block, n_rows), dtype=np.int64),
            )
        )
    return folds


def check_holdout_folds(
    dataset: Dataset, folds: Sequence[tuple[np.ndarray, np.ndarray]], *, first_holdout: int
) -> None:
    """Every test row in the holdout era; every training label ends strictly before its block's first day."""
    dates = dataset.frame["date"]
    label_dates = dataset.frame["label_date"]
    for k, (train, test) in enumerate(folds):
        if len(test) == 0 or int(test.min()) < first_holdout:
            where = f"row {int(test.min())} ({dates[int(test.min())]})" if len(test) else "no row"
            raise ValueError(
                f"holdout block {k} starts at {where}, before the holdout era's first row {first_holdout} "
                f"({dates[first_holdout] if first_holdout < len(dates) else '-'}): fewer or smaller blocks are needed"
            )
        first_test = dates[int(test.min())]
        last_label = cast(date, label_dates.gather(train).max()) if len(train) else None
        if last_label is not None and last_label >= first_test:
            raise ValueError(
                f"holdout block {k}: a training label ends on {last_label}, not before the block's first day "
                f"{first_test}; raise split.gap to at least labels.horizon"
            )


def table_key(experiment: ExperimentConfig) -> tuple[str, Any]:
    return experiment.features.set, experiment.split


@dataclass(frozen=True)
class HoldoutTable:
    """One feature set's table up to the holdout's end, and its holdout blocks as folds."""

    dataset: Dataset
    first_holdout: int
    block_size: int
    folds: list[tuple[np.ndarray, np.ndarray]]


def holdout_table(
    prices: Prices, experiment: ExperimentConfig, eras: Eras, *, block_size: int | None = None
) -> HoldoutTable:
    """The table of ``experiment``'s feature set over both eras and the holdout blocks (``split.test_size`` rows,
    or ``block_size``) as walk-forward folds."""
    block = experiment.split.test_size if block_size is None else positive("block_size", block_size)
    dataset, first_holdout = holdout_dataset(prices.frame, experiment, eras)
    if first_holdout >= len(dataset):
        raise ValueError(
            f"the holdout era {eras.holdout[0]}..{eras.holdout[1]} has no labelled row of feature set "
            f"{experiment.features.set!r} (its table ends {dataset.dates[-1] if len(dataset) else '-'}); move the "
            "holdout, or use a set whose inputs cover it"
        )
    try:
        folds = holdout_folds(len(dataset), first_holdout=first_holdout, block=block, split=experiment.split)
    except ValueError as err:
        raise ValueError(
            f"the table up to the holdout's end ({dataset.dates[0]}..{dataset.dates[-1]}, {len(dataset)} labelled "
            f"rows, the holdout from row {first_holdout}) cannot hold holdout blocks of {block} rows: {err}"
        ) from None
    check_holdout_folds(dataset, folds, first_holdout=first_holdout)
    return HoldoutTable(dataset, first_holdout, block, folds)
