"""One configuration re-trained on every holdout block with several seeds, and the seeds' ensemble.

The blocks are the trainer's folds, so all blocks of a seed train as one computation; the ensemble's forecast is
the seeds' mean class probabilities.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from vixray.crossval import FoldScores, PreparedFolds, fit_prepared, prepare_folds, score_folds
from vixray.holdout.blocks import HoldoutTable
from vixray.holdout.select import Candidate


@dataclass(frozen=True)
class ConfigResult:
    """One config over every holdout block and seed: per-seed scores and the seeds' ensemble."""

    candidate: Candidate
    table: HoldoutTable
    prepared: PreparedFolds
    rows: list[np.ndarray]  # per block, the table rows tested
    seeds: list[int]
    per_seed: list[FoldScores]
    ensemble: FoldScores
    epochs_run: list[int]
    device: str

    @property
    def proba(self) -> np.ndarray:
        """(T, K) the ensemble's class probabilities over every block (the seeds' mean, so always there)."""
        if self.ensemble.proba is None:
            raise RuntimeError(f"trial {self.candidate.trial_id}: the seed ensemble lost its probabilities")
        return self.ensemble.proba

    @property
    def dates(self) -> list[date]:
        all_dates = self.table.dataset.dates
        return [all_dates[r] for r in np.concatenate(self.rows)]


def train_config(
    candidate: Candidate,
    table: HoldoutTable,
    *,
    seeds: Sequence[int],
    refit: bool = True,
    device: str | None = None,
    on_epoch: Callable[[int, int, Any], None] | None = None,
    on_fit: Callable[[int, int], None] | None = None,
) -> ConfigResult:
    """Fit every block of one config at once (the blocks are the trainer's folds), once per seed; with ``refit``
    each block is refitted on its whole training window for its early-stopped epochs
    (:func:`vixray.crossval.fit_prepared`)."""
    experiment = candidate.experiment
    prepared = prepare_folds(table.dataset, experiment, folds=table.folds)
    rows = [prepared.windows.test_rows(f) for f in range(len(table.folds))]
    per_seed, probas, epochs, used = [], [], [], ""
    for seed in seeds:
        overrides: dict[str, Any] = {"train.seed": int(seed)}
        if device is not None:
            overrides["train.device"] = device
        config = experiment.with_overrides(overrides, origin=f"trial {candidate.trial_id}, seed {seed}")
        report_epoch = functools.partial(on_epoch, candidate.rank, seed) if on_epoch is not None else None
        fit = fit_prepared(prepared, config, refit=refit, on_epoch=report_epoch)
        for f, (got, want) in enumerate(zip(fit.test_rows, rows, strict=True)):
            if not np.array_equal(got, want):  # a broken invariant, not bad input: no exit status 2 for it
                raise RuntimeError(
                    f"trial {candidate.trial_id}, seed {seed}: the trainer returned other test rows for block {f} "
                    "than the windows hold; the windows and the trainer disagree"
                )
        per_seed.append(score_folds(table.dataset, rows, fit.test_pred, fit.test_proba))
        probas.append(fit.test_proba)
        epochs.append(int(fit.epochs_run))
        used = str(fit.device)
        if on_fit is not None:
            on_fit(candidate.rank, len(rows))
    mean_proba = [np.mean([p[f] for p in probas], axis=0) for f in range(len(rows))]  # per block (n_f, K)
    mean_pred = [np.argmax(p, axis=1).astype(np.int64) for p in mean_proba]
    ensemble = score_folds(table.dataset, rows, mean_pred, mean_proba)
    return ConfigResult(candidate, table, prepared, rows, list(seeds), per_seed, ensemble, epochs, used)
