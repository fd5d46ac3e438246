"""What a search ended as: the status the run records (true whatever stopped it) and the summary the console prints.

A search is ``finished`` only when every trial its budget allows has ended (finished, pruned or errored) and none
is still running; ``interrupted`` when it stopped short (Ctrl-C, which Ray Tune catches and returns from); and
``failed`` when it raised, or when every trial errored. The counts come from the store's own trials table, the
record a resume continues from.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import polars as pl

from vixray import store
from vixray.store import FAILED, FINISHED, INTERRUPTED


def counts(run: store.Run) -> dict[str, int]:
    trials = run.trials()
    out = dict.fromkeys(store.TRIAL_STATUSES, 0)
    if trials is not None:
        for status, n in trials.group_by("status").len().iter_rows():
            out[str(status)] = int(n)
    return out


def final_status(run: store.Run, *, num_samples: int) -> str:
    """How a search that returned normally ended, from the trials the store holds."""
    c = counts(run)
    ended = sum(c[s] for s in store.ENDED_STATUSES)
    if c["running"] or ended < num_samples:
        return INTERRUPTED
    return FAILED if c["errored"] == ended else FINISHED


@dataclass(frozen=True)
class SearchSummary:
    """What the console prints when a search ends: its status and counts, the best finished trial, the baselines,
    the SPA."""

    run: store.Run
    status: str
    counts: dict[str, int]
    best: dict[str, Any] | None
    baselines: dict[str, Any]
    seconds: float
    spa: dict[str, Any] | None  # spa.json: the best of the finished trials against the strongest baseline

    @property
    def first_error(self) -> str | None:
        trials = self.run.trials()
        if trials is None or "error" not in trials.columns:
            return None
        errors = trials.filter(pl.col("error").is_not_null())["error"]
        return str(errors[0]) if len(errors) else None


def summarise(run: store.Run, *, status: str, seconds: float, spa: dict[str, Any] | None) -> SearchSummary:
    best = None
    with contextlib.suppress(ValueError):
        row = store.best_trials(run, k=1).row(0, named=True)
        folds = run.folds()
        per_fold = (
            folds.filter(pl.col("trial_id") == row["trial_id"]).sort("fold").to_dicts()
            if folds is not None
            else []
        )
        best = {"trial": row, "folds": per_fold}
    baselines = run.baselines()
    base = {}
    if baselines is not None:
        for name in baselines["baseline"].unique().to_list():
            base[name] = baselines.filter(pl.col("baseline") == name).sort("fold").to_dicts()
    return SearchSummary(run, status, counts(run), best, base, seconds, spa)
