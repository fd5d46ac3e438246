"""Which configurations the holdout evaluation re-trains (the search's best finished trials, or named ones), and the
yardstick it tests them against (the development era's strongest baseline).

Each becomes a :class:`Candidate`: the experiment the run searched with the trial's sampled parameters applied and
the search's epoch budget, validated like any experiment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from vixray import store
from vixray.baselines import strongest_baseline
from vixray.config import ExperimentConfig, experiment_from_dict
from vixray.config.search import trial_overrides
from vixray.crossval import baseline_scores, pooled_accuracy, prepare_folds
from vixray.data import Prices
from vixray.dataset import Eras, development_dataset
from vixray.holdout.guards import positive


@dataclass(frozen=True)
class Candidate:
    """A finished trial of the run, as the experiment it trains (search epochs, trial params applied)."""

    rank: int  # 1 = best by the search metric (or the first trial named)
    trial_id: str
    params: dict[str, Any]  # dotted name -> value, only the parameters the trial sampled
    metric: str
    metric_value: float | None
    experiment: ExperimentConfig


def searched_experiment(run: store.Run, manifest: Mapping[str, Any]) -> ExperimentConfig:
    """The experiment the run searched, as its manifest recorded it."""
    raw = manifest.get("experiment_config")
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{run.path / store.MANIFEST}: no experiment_config; the run was not written by `vixray tune` "
            "and cannot be re-trained"
        )
    return experiment_from_dict(raw, origin=str(run.path / store.MANIFEST))


def _chosen_rows(run: store.Run, trials: pl.DataFrame, *, top: int, trial_ids: Sequence[str]) -> list[dict]:
    if not trial_ids:
        return list(store.best_trials(run, k=top).iter_rows(named=True))
    rows = []
    for trial_id in dict.fromkeys(trial_ids):
        match = trials.filter(pl.col("trial_id") == trial_id)
        if match.is_empty():
            known = ", ".join(trials["trial_id"].head(5).to_list())
            raise ValueError(
                f"--trial {trial_id!r} is not a trial of run {run.experiment}/{run.run_id} ({trials.height} trials, "
                f"e.g. {known}); copy an id from trials.parquet or the dashboard, or use --best"
            )
        row = match.row(0, named=True)
        if row["status"] != "finished":
            raise ValueError(
                f"--trial {trial_id!r} is {row['status']}: only a finished trial (trained for the search's whole "
                "epoch budget) can be re-trained on the holdout; pick a finished one, or use --best"
            )
        rows.append(row)
    return rows


def select_configs(
    run: store.Run, experiment: ExperimentConfig, *, top: int, trial_ids: Sequence[str] = ()
) -> list[Candidate]:
    """The ``top`` best finished trials by the run's search metric (``--best``), or the finished trials named in
    ``trial_ids`` (``--trial``, ranked in the order given). A pruned trial stopped before its last epoch and has no
    test scores, so it is never a candidate."""
    top = positive("top", top)
    trials = run.trials()
    finished = trials.filter(pl.col("status") == "finished") if trials is not None else None
    if trials is None or finished is None or finished.is_empty():
        counts = dict(trials.group_by("status").len().iter_rows()) if trials is not None else {}
        raise ValueError(
            f"run {run.experiment}/{run.run_id} has no finished trial (trial statuses: {counts}); wait for the "
            f"search to finish one, or resume it with `vixray tune --resume {run.run_id}`"
        )
    metric = str((run.manifest().get("search") or {}).get("metric"))
    epochs = experiment.search.scheduler.max_epochs if experiment.search is not None else None
    out = []
    for rank, row in enumerate(_chosen_rows(run, trials, top=top, trial_ids=trial_ids), start=1):
        params = store.trial_params(row)
        config = experiment.with_overrides(
            trial_overrides(params, epochs=epochs), origin=f"trial {row['trial_id']}"
        )
        value = row.get(metric)
        out.append(
            Candidate(
                rank, str(row["trial_id"]), params, metric, None if value is None else float(value), config
            )
        )
    return out


def yardstick(
    run: store.Run, manifest: Mapping[str, Any], experiment: ExperimentConfig, prices: Prices, eras: Eras
) -> tuple[str, str]:
    """The baseline the holdout tests against, chosen on the DEVELOPMENT era, and where the choice was made: the
    strongest baseline the search recorded, or (for a run made before searches recorded it) the strongest on the
    development folds, recomputed here. Never the baseline that scores best on the holdout."""
    recorded = manifest.get("strongest_baseline")
    if recorded:
        return str(recorded), "the search's development folds"
    dataset = development_dataset(prices.frame, experiment, eras)
    scores = baseline_scores(
        dataset, prepare_folds(dataset, experiment), experiment, seed=experiment.train.seed
    )
    return strongest_baseline(
        pooled_accuracy(scores)
    ), "the development folds (recomputed: the run predates the record)"
