"""The holdout era as walk-forward test blocks, each trained only on rows whose labels end before it.

The holdout era is tiled by test blocks (``split.test_size`` rows, or ``--block-size``) anchored at its end; each
block's training window may reach back into the development era (what the search never saw is the holdout's
labels, not its early prices), and :func:`check_holdout_folds` proves no training label reaches into its block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import numpy as np

from vixray.config import ExperimentConfig
from vixray.crossval import make_splitter
from vixray.data import Prices
from vixray.dataset import Dataset, Eras, holdout_dataset
from vixray.holdout.guards import positive


def holdout_experiment(
    experiment: ExperimentConfig, *, n_holdout_rows: int, block_size: int | None = None
) -> ExperimentConfig:
    """The experiment with its split turned into holdout blocks: ``n_holdout_rows // block`` blocks of ``block``
    rows, consecutive (step = block), so the folds anchored at the table's end tile the end of the holdout era."""
    block = experiment.split.test_size if block_size is None else positive("block_size", block_size)
    n_blocks = n_holdout_rows // block
    if n_blocks == 0:
        source = "--block-size" if block_size is not None else "split.test_size"
        raise ValueError(
            f"the holdout era holds {n_holdout_rows} labelled rows, fewer than one test block of {block} rows "
            f"({source}); pass --block-size {max(1, n_holdout_rows)} or smaller, or give the holdout more days"
        )
    return experiment.with_overrides(
        {"split.n_splits": n_blocks, "split.test_size": block, "split.step": None}, origin="holdout blocks"
    )


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
    experiment: ExperimentConfig  # the split is the holdout blocks
    folds: list[tuple[np.ndarray, np.ndarray]]


def holdout_table(
    prices: Prices, experiment: ExperimentConfig, eras: Eras, *, block_size: int | None = None
) -> HoldoutTable:
    """The table of ``experiment``'s feature set over both eras and the holdout blocks as walk-forward folds."""
    dataset, first_holdout = holdout_dataset(prices.frame, experiment, eras)
    blocks = holdout_experiment(
        experiment, n_holdout_rows=len(dataset) - first_holdout, block_size=block_size
    )
    split = blocks.split
    try:
        folds = [(np.asarray(tr), np.asarray(te)) for tr, te in make_splitter(split).split(dataset.frame)]
    except ValueError as err:
        raise ValueError(
            f"the table up to the holdout's end ({dataset.dates[0]}..{dataset.dates[-1]}, {len(dataset)} labelled "
            f"rows) cannot hold {split.n_splits} holdout block(s) of {split.test_size} rows behind a training "
            f"window of split.train_size = {split.train_size} rows: {err}"
        ) from None
    check_holdout_folds(dataset, folds, first_holdout=first_holdout)
    return HoldoutTable(dataset, first_holdout, blocks, folds)
