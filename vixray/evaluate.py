"""The honest number: the search's best configs re-trained walk-forward on the holdout era, beside the baselines.

A search picks its winner on the development era's folds; the best of many trials on the same folds is flattered by
the choice itself. Here the top-K configs of a run are re-trained with several seeds and tested on the HOLDOUT era,
which no trial ever saw:

* The holdout era is tiled by test blocks (``split.test_size`` rows, or ``--block-size``) anchored at its end; each
  block's model trains only on rows whose labels end before the block (the training window may reach back into the
  development era: what the search never saw is the holdout's labels).
* Each config is trained with ``--seeds`` seeds; the seeds' mean probabilities (the ensemble) are its forecast. The
  best config's ensemble is "the model" of the report.
* Every baseline forecasts exactly the same rows. The report gives accuracy, balanced accuracy, macro-F1, log loss and
  confusion per block and pooled, binomial tests against 1/3 and the majority rate, McNemar against every baseline
  (the strongest flagged), Pesaran-Timmermann for Up and Down, a block-bootstrap interval, and Hansen's SPA test of
  the top-K ensembles against the strongest baseline, which corrects for having searched many configurations.
* The verdict: the best config beats the strongest baseline only if its accuracy is higher AND McNemar p < 0.05 AND
  the SPA consistent p < 0.05.

A run whose search touched the holdout era, or whose data differs from the data loaded now (unless
``--allow-data-change``), is refused before anything is trained or written. Results go to
``<run>/evaluation/<eval-id>/`` (report.json, predictions.parquet, report.html), never over an earlier evaluation;
a failure while writing removes the new folder.
"""

from __future__ import annotations

import argparse
import html
import logging
import math
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from vixray import store
from vixray.config import CLASS_NAMES, ExperimentConfig, experiment_from_dict
from vixray.crossval import (
    METRIC_KEYS,
    FoldScores,
    PreparedFolds,
    baseline_scores,
    make_splitter,
    prepare_folds,
    score_folds,
)
from vixray.data import Prices, column_prefix, load_prices
from vixray.dataset import Dataset, Eras, holdout_dataset, resolve_eras
from vixray.metrics import PROBA_CLIP, compare_to_baselines, spa_test
from vixray.search_space import trial_overrides

log = logging.getLogger(__name__)

EXIT_OK, EXIT_BAD_INPUT = 0, 2
DEFAULT_TOP = 5
DEFAULT_SEEDS = 3
DEFAULT_N_BOOT = 2000
ALPHA = 0.05
CHANCE = 1.0 / 3.0
PARAM_PREFIX = "param."
REPORT_JSON, PREDICTIONS, REPORT_HTML = "report.json", "predictions.parquet", "report.html"
ROLLING_DAYS = 20


# ------------------------------------------------------------------------------------------------ small helpers


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} = {value!r}: must be an integer >= 1")
    return int(value)


def _plain(value: Any) -> Any:
    """numpy scalars (polars hands them out for some columns) -> Python, so params go to JSON and configs."""
    return value.item() if hasattr(value, "item") else value


def _scores(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: metrics.get(k) for k in METRIC_KEYS}
    out["n"] = int(metrics["n"])
    out["confusion"] = metrics["confusion"]
    return out


def _pvalue_text(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def _daily_log_loss(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-day log loss with the clipping of :func:`vixray.metrics.classification_metrics` (its mean is that loss)."""
    clipped = np.clip(proba, PROBA_CLIP, 1.0)  # (n, K)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return -np.log(clipped[np.arange(len(y)), y])  # (n,)


# ------------------------------------------------------------------------------------------------ the run's configs


@dataclass(frozen=True)
class Candidate:
    """One of the run's best finished trials, as the experiment it trains (search epochs, trial params applied)."""

    rank: int  # 1 = best by the search metric
    trial_id: str
    params: dict[str, Any]  # dotted name -> value, only the parameters the trial sampled
    metric: str
    metric_value: float | None
    experiment: ExperimentConfig


def trial_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``param.*`` columns of a trials row without the prefix; a conditional parameter not sampled is null."""
    return {
        k[len(PARAM_PREFIX) :]: _plain(v)
        for k, v in row.items()
        if k.startswith(PARAM_PREFIX) and v is not None
    }


def searched_experiment(run: store.Run, manifest: Mapping[str, Any]) -> ExperimentConfig:
    raw = manifest.get("experiment_config")
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{run.path / store.MANIFEST}: no experiment_config; the run was not written by `vixray tune` "
            "and cannot be re-trained"
        )
    return experiment_from_dict(raw, origin=str(run.path / store.MANIFEST))


def select_configs(run: store.Run, experiment: ExperimentConfig, *, top: int) -> list[Candidate]:
    """The ``top`` best FINISHED trials by the run's search metric (a pruned trial stopped before its last epoch)."""
    top = _positive("top", top)
    trials = run.trials()
    ranked = store.best_trials(run, k=max(1, trials.height if trials is not None else 1))
    finished = ranked.filter(pl.col("status") == "finished").head(top)
    if finished.is_empty():
        counts = dict(trials.group_by("status").len().iter_rows()) if trials is not None else {}
        raise ValueError(
            f"run {run.experiment}/{run.run_id} has no finished trial (trial statuses: {counts}); wait for the "
            f"search to finish one, or resume it with `vixray tune --resume {run.run_id}`"
        )
    metric = str(run.manifest().get("search", {}).get("metric"))
    epochs = experiment.search.scheduler.max_epochs if experiment.search is not None else None
    out = []
    for rank, row in enumerate(finished.iter_rows(named=True), start=1):
        params = trial_params(row)
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


# ------------------------------------------------------------------------------------------------ refusals


def check_data(
    manifest: Mapping[str, Any], prices: Prices, *, run_name: str, allow_data_change: bool
) -> bool:
    """Whether the data differs from what the search saw; an error unless ``allow_data_change``."""
    searched = (manifest.get("data") or {}).get("fingerprint")
    if searched == prices.fingerprint:
        return False
    was = str(searched)[:12] if searched else "none recorded"
    if not allow_data_change:
        raise ValueError(
            f"the data loaded from {prices.source} (fingerprint {prices.fingerprint[:12]}) differs from the data "
            f"run {run_name} searched ({was}); evaluate on the same data (--data), or pass --allow-data-change "
            "to evaluate anyway (the report records the change)"
        )
    log.warning(
        "the data loaded from %s (fingerprint %s) differs from the data run %s searched (%s); "
        "evaluating anyway (--allow-data-change)",
        prices.source,
        prices.fingerprint[:12],
        run_name,
        was,
    )
    return True


def check_holdout_untouched(manifest: Mapping[str, Any], eras: Eras, *, run_name: str) -> None:
    """Refuse a run whose development era or folds reach the holdout era being evaluated."""
    start = eras.holdout[0]
    dev_end = ((manifest.get("eras") or {}).get("development") or {}).get("end")
    if not dev_end:
        raise ValueError(
            f"run {run_name}: the manifest records no development era (eras.development.end), so nothing shows "
            "that the search kept off the holdout era; re-run the search with `vixray tune`"
        )
    problems = []
    if date.fromisoformat(str(dev_end)) >= start:
        problems.append(f"its development era ends on {dev_end}")
    for fold in manifest.get("folds") or []:
        for key in ("train_end", "test_end"):
            value = fold.get(key)
            if value and date.fromisoformat(str(value)) >= start:
                problems.append(f"development fold {fold.get('fold')} has {key} = {value}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(
            f"run {run_name}: the search touched the holdout era, which starts on {start}: {problems[0]}{more}; "
            "its trials were ranked with holdout data, so no honest holdout number can come from it; re-run the "
            f"search with eras.development ending before {start}"
        )


# ------------------------------------------------------------------------------------------------ holdout blocks


def holdout_experiment(
    experiment: ExperimentConfig, *, n_holdout_rows: int, block_size: int | None = None
) -> ExperimentConfig:
    """The experiment with its split turned into holdout blocks: ``n_holdout_rows // block`` blocks of ``block``
    rows, consecutive (step = block), so the folds anchored at the table's end tile the end of the holdout era."""
    block = experiment.split.test_size if block_size is None else _positive("block_size", block_size)
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
        last_label = label_dates.gather(train).max() if len(train) else None
        if last_label is not None and last_label >= first_test:
            raise ValueError(
                f"holdout block {k}: a training label ends on {last_label}, not before the block's first day "
                f"{first_test}; raise split.gap to at least labels.horizon"
            )


def _table_key(experiment: ExperimentConfig) -> tuple[str, Any]:
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


# ------------------------------------------------------------------------------------------------ training


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
    def dates(self) -> list[date]:
        all_dates = self.table.dataset.dates
        return [all_dates[r] for r in np.concatenate(self.rows)]


def train_config(
    candidate: Candidate,
    table: HoldoutTable,
    *,
    seeds: Sequence[int],
    device: str | None = None,
    on_epoch: Callable[[int, int, Any], None] | None = None,
    on_fit: Callable[[int, int], None] | None = None,
) -> ConfigResult:
    """Fit every block of one config at once (the blocks are the trainer's folds), once per seed."""
    from vixray.train import fit_folds  # torch is imported only when a model is trained

    blocks = table.experiment.split
    experiment = candidate.experiment.with_overrides(
        {"split.n_splits": blocks.n_splits, "split.test_size": blocks.test_size, "split.step": None},
        origin="holdout blocks",
    )
    prepared = prepare_folds(table.dataset, experiment, folds=table.folds)
    rows = [prepared.windows.test_rows(f) for f in range(len(table.folds))]
    per_seed, probas, epochs, used = [], [], [], ""
    for seed in seeds:
        overrides: dict[str, Any] = {"train.seed": int(seed)}
        if device is not None:
            overrides["train.device"] = device
        config = experiment.with_overrides(overrides, origin=f"trial {candidate.trial_id}, seed {seed}")
        fit = fit_folds(
            prepared.windows,
            model=config.model,
            train=config.train,
            on_epoch=(lambda report, s=seed: on_epoch(candidate.rank, s, report)) if on_epoch else None,
        )
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
    mean_proba = [np.mean([p[f] for p in probas], axis=0) for f in range(len(rows))]  # per block (n_f, 3)
    mean_pred = [np.argmax(p, axis=1).astype(np.int64) for p in mean_proba]
    ensemble = score_folds(table.dataset, rows, mean_pred, mean_proba)
    return ConfigResult(candidate, table, prepared, rows, list(seeds), per_seed, ensemble, epochs, used)


# ------------------------------------------------------------------------------------------------ statistics


# A random draw that happens to score well is luck, not a forecaster worth beating; the strongest baseline is
# chosen among the ones that learn something from the training block.
RANDOM_BASELINES = ("random", "stratified")


def strongest_baseline(baselines: Mapping[str, FoldScores]) -> str:
    """The non-random baseline with the highest pooled accuracy (the first listed on a tie)."""
    candidates = [name for name in baselines if name not in RANDOM_BASELINES] or list(baselines)
    if not candidates:
        raise ValueError("no baseline was scored: the report compares the model with the baselines")
    return max(candidates, key=lambda name: baselines[name].pooled["accuracy"])


def _aligned_losses(
    results: Sequence[ConfigResult], benchmark: FoldScores
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """Per-day 0/1 and log losses of every config's ensemble and of the benchmark on the days all of them have.

    The benchmark is scored on the best config's rows; another feature set can in principle drop a day, so the
    configs are matched by date.
    """
    best_dates = results[0].dates
    keep = set(best_dates)
    for r in results[1:]:
        keep &= set(r.dates)
    mask = np.array([d in keep for d in best_dates])  # (T_best,)
    zero_one, logs = [], []
    for r in results:
        pos = {d: i for i, d in enumerate(r.dates)}
        idx = np.array([pos[d] for d in np.array(best_dates, dtype=object)[mask]], dtype=np.int64)
        y, pred, proba = r.ensemble.y_true[idx], r.ensemble.pred[idx], r.ensemble.proba[idx]
        zero_one.append((pred != y).astype(np.float64))
        logs.append(_daily_log_loss(y, proba))
    y_b = benchmark.y_true[mask]
    bench01 = (benchmark.pred[mask] != y_b).astype(np.float64)  # (T,)
    bench_log = _daily_log_loss(y_b, benchmark.proba[mask]) if benchmark.proba is not None else None
    return (
        np.column_stack(zero_one),  # (T, K)
        bench01,
        np.column_stack(logs) if bench_log is not None else None,
        bench_log,
        int(len(best_dates) - mask.sum()),
    )


def spa_report(
    results: Sequence[ConfigResult],
    baselines: Mapping[str, FoldScores],
    strongest: str,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Hansen's SPA of the top-K ensembles against the strongest baseline on per-day 0/1 loss (and log loss where
    the baseline gives probabilities)."""
    models01, bench01, models_log, bench_log, dropped = _aligned_losses(results, baselines[strongest])
    test = spa_test(models01, bench01, n_boot=n_boot, seed=seed)
    out: dict[str, Any] = {
        "benchmark": strongest,
        "n_models": test["n_models"],
        "models": [r.candidate.trial_id for r in results],
        "loss": "zero_one",
        "n_days": int(len(bench01)),
        "days_dropped": dropped,
        "p_values": test["p_values"],
        "block_length": test["block_length"],
        "n_boot": int(n_boot),
        "log_loss": None,
    }
    if models_log is not None and bench_log is not None:
        test_log = spa_test(models_log, bench_log, n_boot=n_boot, seed=seed)
        out["log_loss"] = {"p_values": test_log["p_values"], "block_length": test_log["block_length"]}
    return out


def significance_report(
    model: FoldScores,
    baselines: Mapping[str, FoldScores],
    strongest: str,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    majority = baselines.get("majority")
    tests = compare_to_baselines(
        model.y_true,
        model.pred,
        baselines={name: s.pred for name, s in baselines.items()},
        majority_accuracy=majority.pooled["accuracy"] if majority is not None else None,
        chance=CHANCE,
        bootstrap={"n_boot": n_boot},
        seed=seed,
    )
    for name, result in tests["mcnemar"].items():
        result["strongest"] = name == strongest
    return tests


def verdict(
    *,
    accuracy: float,
    n_days: int,
    strongest: str,
    strongest_accuracy: float,
    mcnemar_p: float,
    spa_p: float,
) -> tuple[bool, str]:
    """Beat = higher accuracy AND McNemar p < 0.05 AND SPA consistent p < 0.05; one plain sentence either way."""
    beats = accuracy > strongest_accuracy and mcnemar_p < ALPHA and spa_p < ALPHA
    return beats, (
        f"The best config {'beats' if beats else 'does not beat'} the strongest baseline ({strongest}, "
        f"{strongest_accuracy:.1%}) out of sample: {accuracy:.1%} on {n_days} holdout days, "
        f"McNemar p = {_pvalue_text(mcnemar_p)}, SPA p = {_pvalue_text(spa_p)}."
    )


# ------------------------------------------------------------------------------------------------ report


def _seed_summary(result: ConfigResult) -> dict[str, Any]:
    per_seed = [
        {"seed": s, **{k: scores.pooled[k] for k in METRIC_KEYS}}
        for s, scores in zip(result.seeds, result.per_seed, strict=True)
    ]
    mean, sd = {}, {}
    for k in METRIC_KEYS:
        values = np.array([row[k] for row in per_seed], dtype=np.float64)
        mean[k] = float(values.mean())
        sd[k] = float(values.std(ddof=1)) if len(values) > 1 else None
    c = result.candidate
    return {
        "rank": c.rank,
        "trial_id": c.trial_id,
        "params": c.params,
        "search_metric": {"name": c.metric, "value": c.metric_value},
        "seeds": result.seeds,
        "epochs_run": result.epochs_run,
        "per_seed": per_seed,
        "mean": mean,
        "sd": sd,
        "ensemble": _scores(result.ensemble.pooled),
    }


def _blocks(best: ConfigResult, baselines: Mapping[str, FoldScores]) -> list[dict[str, Any]]:
    dates = best.table.dataset.dates
    out = []
    for k, rows in enumerate(best.rows):
        info = best.prepared.fold_info[k]
        out.append(
            {
                "block": k,
                "test_start": dates[int(rows[0])].isoformat(),
                "test_end": dates[int(rows[-1])].isoformat(),
                "n_test": int(len(rows)),
                "train_start": info["train_start"],
                "train_end": info["train_end"],
                "n_train": info["n_train"],
                "model": _scores(best.ensemble.per_fold[k]),
                "baselines": {name: _scores(s.per_fold[k]) for name, s in baselines.items()},
            }
        )
    return out


def predictions_frame(
    results: Sequence[ConfigResult], baselines: Mapping[str, FoldScores], prices: Prices, *, target: str
) -> pl.DataFrame:
    """One row per holdout test day: the best config's ensemble, every baseline, the top-K configs' predictions."""
    best = results[0]
    proba = best.ensemble.proba  # (T, 3)
    frame = pl.DataFrame(
        {
            "date": pl.Series(best.dates, dtype=pl.Date),
            "block": np.concatenate([np.full(len(r), k) for k, r in enumerate(best.rows)]).astype(np.int64),
            "y_true": best.ensemble.y_true.astype(np.int64),
            "p_down": proba[:, 0],
            "p_neutral": proba[:, 1],
            "p_up": proba[:, 2],
            "pred": best.ensemble.pred.astype(np.int64),
        }
    )
    close = f"{column_prefix(target)}_close"
    frame = frame.join(
        prices.frame.select("date", pl.col(close).alias("vix_close")),
        on="date",
        how="left",
        maintain_order="left",
    )
    frame = frame.with_columns(
        pl.Series(f"pred_{name}", s.pred.astype(np.int64)) for name, s in baselines.items()
    )
    for r in results:
        by_date = pl.DataFrame(
            {"date": pl.Series(r.dates, dtype=pl.Date), f"config{r.candidate.rank}_pred": r.ensemble.pred}
        )
        frame = frame.join(by_date, on="date", how="left", maintain_order="left")
    return frame


def build_report(
    *,
    run: store.Run,
    prices: Prices,
    data_changed: bool,
    eras: Eras,
    results: Sequence[ConfigResult],
    baselines: Mapping[str, FoldScores],
    settings: Mapping[str, Any],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    best = results[0]
    strongest = strongest_baseline(baselines)
    tests = significance_report(best.ensemble, baselines, strongest, n_boot=n_boot, seed=seed)
    spa = spa_report(results, baselines, strongest, n_boot=n_boot, seed=seed)
    model = best.ensemble.pooled
    beats, sentence = verdict(
        accuracy=model["accuracy"],
        n_days=int(model["n"]),
        strongest=strongest,
        strongest_accuracy=baselines[strongest].pooled["accuracy"],
        mcnemar_p=tests["mcnemar"][strongest]["p_value"],
        spa_p=spa["p_values"]["consistent"],
    )
    dates = best.dates
    table = best.table
    return {
        "eval_id": None,  # the folder's name, set when it is written
        "run_id": run.run_id,
        "experiment": run.experiment,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            **prices.describe(),
            "searched_fingerprint": (run.manifest().get("data") or {}).get("fingerprint"),
            "changed": data_changed,
        },
        "eras": eras.to_dict(),
        "holdout": {
            "start": eras.holdout[0].isoformat(),
            "end": eras.holdout[1].isoformat(),
            "n_rows": len(table.dataset) - table.first_holdout,
            "block_size": table.experiment.split.test_size,
            "n_blocks": len(table.folds),
            "test_start": dates[0].isoformat(),
            "test_end": dates[-1].isoformat(),
            "n_test": len(dates),
        },
        "settings": dict(settings),
        "configs": [_seed_summary(r) for r in results],
        "blocks": _blocks(best, baselines),
        "pooled": {
            "model": _scores(model),
            "baselines": {name: _scores(s.pooled) for name, s in baselines.items()},
        },
        "significance": tests,
        "spa": spa,
        "strongest_baseline": strongest,
        "beats_strongest_baseline": beats,
        "verdict": sentence,
        "device": best.device,
    }


# ------------------------------------------------------------------------------------------------ report.html

_CLASS_COLOURS = {"down": "#2ca02c", "neutral": "#7f7f7f", "up": "#d62728"}


def _figures(report: Mapping[str, Any], predictions: pl.DataFrame) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    strongest = report["strongest_baseline"]
    names = list(report["pooled"]["baselines"])
    blocks = report["blocks"]
    labels = [f"{b['block']}: {b['test_start']}..{b['test_end']}" for b in blocks]

    by_block = go.Figure()
    by_block.add_bar(x=labels, y=[b["model"]["accuracy"] for b in blocks], name="model (best config)")
    for name in names:
        by_block.add_scatter(
            x=labels,
            y=[b["baselines"][name]["accuracy"] for b in blocks],
            name=name + (" (strongest)" if name == strongest else ""),
            mode="lines+markers",
            line={"width": 3 if name == strongest else 1},
        )
    by_block.add_hline(y=CHANCE, line_dash="dash", annotation_text="chance 33.3%")
    by_block.update_layout(
        title="Accuracy by holdout block", yaxis_title="accuracy", yaxis_tickformat=".0%", height=420
    )

    confusion = make_subplots(
        rows=1, cols=2, subplot_titles=("model (best config)", f"strongest baseline: {strongest}")
    )
    for col, matrix in enumerate(
        (report["pooled"]["model"]["confusion"], report["pooled"]["baselines"][strongest]["confusion"]),
        start=1,
    ):
        confusion.add_heatmap(
            z=matrix,
            x=list(CLASS_NAMES),
            y=list(CLASS_NAMES),
            text=matrix,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            row=1,
            col=col,
        )
        confusion.update_xaxes(title_text="predicted", row=1, col=col)
        confusion.update_yaxes(title_text="true", autorange="reversed", row=1, col=col)
    confusion.update_layout(title="Pooled confusion matrices (rows: true class)", height=420)

    days = predictions["date"].to_list()
    timeline = go.Figure()
    timeline.add_scatter(x=days, y=predictions["vix_close"].to_list(), name="VIX close", mode="lines")
    correct = (predictions["pred"] == predictions["y_true"]).to_numpy()
    for k, cls in enumerate(CLASS_NAMES):
        for hit in (True, False):
            sel = (predictions["pred"].to_numpy() == k) & (correct == hit)
            timeline.add_scatter(
                x=[d for d, s in zip(days, sel, strict=True) if s],
                y=predictions["vix_close"].to_numpy()[sel],
                mode="markers",
                name=f"predicted {cls}, {'right' if hit else 'wrong'}",
                marker={
                    "color": _CLASS_COLOURS[cls],
                    "symbol": "circle" if hit else "x",
                    "size": 6,
                },
            )
    timeline.update_layout(
        title="Predictions over the VIX (next-day direction called on each day)",
        yaxis_title="VIX",
        height=480,
    )

    window = max(1, min(ROLLING_DAYS, predictions.height))
    rolling = go.Figure()
    for column, name in (("pred", "model (best config)"), (f"pred_{strongest}", strongest)):
        hits = (predictions[column] == predictions["y_true"]).cast(pl.Float64)
        rolling.add_scatter(x=days, y=hits.rolling_mean(window).to_list(), name=name, mode="lines")
    rolling.add_hline(y=CHANCE, line_dash="dash", annotation_text="chance 33.3%")
    rolling.update_layout(
        title=f"Rolling {window}-day accuracy", yaxis_title="accuracy", yaxis_tickformat=".0%", height=420
    )
    return [("by-block", by_block), ("confusion", confusion), ("timeline", timeline), ("rolling", rolling)]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return html.escape("-" if value is None else str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Mapping[str, Any], predictions: pl.DataFrame) -> str:
    """A self-contained page (plotly.js inline, so it opens offline): verdict, tables and four figures."""
    pooled = report["pooled"]
    strongest = report["strongest_baseline"]
    metric_rows = [["model (best config)", *(pooled["model"][k] for k in METRIC_KEYS)]]
    metric_rows += [
        [name + (" (strongest)" if name == strongest else ""), *(m[k] for k in METRIC_KEYS)]
        for name, m in pooled["baselines"].items()
    ]
    sig = report["significance"]
    spa = report["spa"]
    tests = [
        ["binomial vs 1/3", sig["binomial_vs_chance"]["p_value"]],
        ["binomial vs majority rate", (sig.get("binomial_vs_majority") or {}).get("p_value")],
        *[
            [f"McNemar vs {name}" + (" (strongest)" if v.get("strongest") else ""), v["p_value"]]
            for name, v in sig["mcnemar"].items()
        ],
        ["Pesaran-Timmermann Up", sig["pesaran_timmermann"]["up"]["p_value"]],
        ["Pesaran-Timmermann Down", sig["pesaran_timmermann"]["down"]["p_value"]],
        [
            f"SPA (0/1 loss, {spa['n_models']} configs vs {spa['benchmark']}), consistent",
            spa["p_values"]["consistent"],
        ],
    ]
    ci = sig["bootstrap_ci"]
    config_rows = [
        [
            c["rank"],
            c["trial_id"],
            c["ensemble"]["accuracy"],
            c["mean"]["accuracy"],
            c["sd"]["accuracy"],
            c["ensemble"]["log_loss"],
            ", ".join(f"{k}={v}" for k, v in c["params"].items()),
        ]
        for c in report["configs"]
    ]
    figures = []
    for i, (name, fig) in enumerate(_figures(report, predictions)):
        figures.append(
            fig.to_html(
                full_html=False, include_plotlyjs=(i == 0), div_id=f"fig-{name}", default_width="100%"
            )
        )
    h = report["holdout"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vixray holdout evaluation {html.escape(str(report["experiment"]))}/{html.escape(str(report["run_id"]))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }}
.verdict {{ font-size: 1.2em; padding: 0.8em; background: #f6f8fa; border-left: 4px solid #555; }}
</style></head><body>
<h1>Holdout evaluation: {html.escape(str(report["experiment"]))} / {html.escape(str(report["run_id"]))}</h1>
<p class="verdict">{html.escape(report["verdict"])}</p>
<p>Holdout era {h["start"]}..{h["end"]} ({h["n_rows"]} labelled days); tested {h["test_start"]}..{h["test_end"]}
({h["n_test"]} days in {h["n_blocks"]} blocks of {h["block_size"]}). Data: {html.escape(str(report["data"]["source"]))},
fingerprint {html.escape(str(report["data"]["fingerprint"])[:16])}{" (differs from the searched data)" if report["data"]["changed"] else ""}.
Evaluation {html.escape(str(report["eval_id"]))}, created {html.escape(str(report["created"]))}.</p>
<h2>Pooled over the holdout blocks</h2>
{_table(["forecaster", *METRIC_KEYS], metric_rows)}
<h2>Significance</h2>
{_table(["test", "p-value"], tests)}
<p>Accuracy {ci["mean"]:.3f}, stationary block-bootstrap {ci["level"]:.0%} interval [{ci["low"]:.3f}, {ci["high"]:.3f}].</p>
<h2>Configurations (seed ensembles; mean and sd over seeds)</h2>
{_table(["rank", "trial", "ensemble accuracy", "mean accuracy", "sd accuracy", "ensemble log loss", "params"], config_rows)}
{"".join(figures)}
</body></html>
"""


# ------------------------------------------------------------------------------------------------ writing


def write_evaluation(
    run: store.Run,
    report: dict[str, Any],
    predictions: pl.DataFrame,
    *,
    render: Callable[[Mapping[str, Any], pl.DataFrame], str] = render_html,
) -> Path:
    """A new evaluation folder with the three files; any failure removes the folder, so nothing half-written stays.

    report.json is written last: :meth:`vixray.store.Run.evaluations` lists a folder only once it holds one.
    """
    path = run.new_evaluation_dir()
    try:
        report["eval_id"] = path.name
        store.write_parquet(path / PREDICTIONS, predictions)
        page = render(report, predictions)
        store.write_atomic(path / REPORT_HTML, lambda p: p.write_text(page, encoding="utf-8"))
        store.write_json(path / REPORT_JSON, report)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


# ------------------------------------------------------------------------------------------------ the evaluation


@dataclass(frozen=True)
class Evaluation:
    path: Path  # the evaluation folder
    report: dict[str, Any]
    predictions: pl.DataFrame


def evaluate_run(
    run: store.Run,
    *,
    top: int = DEFAULT_TOP,
    seeds: int = DEFAULT_SEEDS,
    block_size: int | None = None,
    data: str | None = None,
    allow_data_change: bool = False,
    device: str | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    progress: bool = False,
) -> Evaluation:
    """Re-train the run's ``top`` best configs with ``seeds`` seeds on the holdout blocks; write and return the report.

    Every check (the run's trials, the data fingerprint, the eras, the blocks) runs before any training, and nothing
    is written unless the whole evaluation succeeds.
    """
    from tqdm import tqdm

    top, n_seeds, n_boot = _positive("top", top), _positive("seeds", seeds), _positive("n_boot", n_boot)
    if block_size is not None:
        _positive("block_size", block_size)
    name = f"{run.experiment}/{run.run_id}"
    manifest = run.manifest()
    experiment = searched_experiment(run, manifest)
    candidates = select_configs(run, experiment, top=top)

    source = data or (manifest.get("data") or {}).get("source") or experiment.data.source
    prices = load_prices(
        source, tickers=experiment.data.tickers, start=experiment.data.start, end=experiment.data.end
    )
    changed = check_data(manifest, prices, run_name=name, allow_data_change=allow_data_change)
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    check_holdout_untouched(manifest, eras, run_name=name)

    # one table per feature set and split the configs use (a search may vary either)
    tables: dict[tuple[str, Any], HoldoutTable] = {}
    for c in candidates:
        key = _table_key(c.experiment)
        if key not in tables:
            tables[key] = holdout_table(prices, c.experiment, eras, block_size=block_size)
    best_table = tables[_table_key(candidates[0].experiment)]
    n_blocks = len(best_table.folds)
    log.info(
        "evaluating %d config(s) of run %s x %d seed(s) on %d holdout block(s) of %d days (%s..%s)",
        len(candidates),
        name,
        n_seeds,
        n_blocks,
        best_table.experiment.split.test_size,
        best_table.dataset.dates[int(best_table.folds[0][1][0])],
        best_table.dataset.dates[int(best_table.folds[-1][1][-1])],
    )

    bar = tqdm(
        total=len(candidates) * n_seeds * n_blocks,
        unit="block",
        desc="holdout",
        disable=not progress,
        file=sys.stderr,
    )

    def on_epoch(rank: int, seed: int, report: Any) -> None:
        bar.set_postfix(config=rank, seed=seed, epoch=int(report.epoch), refresh=True)

    def on_fit(rank: int, blocks: int) -> None:
        bar.update(blocks)

    try:
        results = []
        for c in candidates:
            base = c.experiment.train.seed
            results.append(
                train_config(
                    c,
                    tables[_table_key(c.experiment)],
                    seeds=[base + i for i in range(n_seeds)],
                    device=device,
                    on_epoch=on_epoch,
                    on_fit=on_fit,
                )
            )
    finally:
        bar.close()

    best = results[0]
    seed = best.candidate.experiment.train.seed
    baselines = baseline_scores(best.table.dataset, best.prepared, best.candidate.experiment, seed=seed)
    settings = {
        "top": top,
        "n_configs": len(candidates),
        "seeds": n_seeds,
        "block_size": block_size,
        "n_boot": n_boot,
        "data": source,
        "allow_data_change": allow_data_change,
        "device": device,
        "epochs": best.candidate.experiment.train.epochs,
    }
    report = build_report(
        run=run,
        prices=prices,
        data_changed=changed,
        eras=eras,
        results=results,
        baselines=baselines,
        settings=settings,
        n_boot=n_boot,
        seed=seed,
    )
    predictions = predictions_frame(results, baselines, prices, target=experiment.labels.target)
    path = write_evaluation(run, report, predictions)
    log.info("wrote %s", path)
    return Evaluation(path, report, predictions)


# ------------------------------------------------------------------------------------------------ console


def format_summary(report: Mapping[str, Any]) -> str:
    """The console summary: accuracy per block beside the strongest baseline, configs, tests, the verdict."""
    strongest = report["strongest_baseline"]
    lines = [
        f"holdout evaluation of {report['experiment']}/{report['run_id']} "
        f"({report['holdout']['n_test']} days, {report['holdout']['n_blocks']} blocks)",
        f"{'block':<7}{'test period':<25}{'n':>6}{'model':>9}{strongest[:12]:>13}",
    ]
    for b in report["blocks"]:
        lines.append(
            f"{b['block']:<7}{b['test_start'] + '..' + b['test_end']:<25}{b['n_test']:>6}"
            f"{b['model']['accuracy']:>9.3f}{b['baselines'][strongest]['accuracy']:>13.3f}"
        )
    pooled = report["pooled"]
    lines.append(
        f"{'pooled':<32}{pooled['model']['n']:>6}{pooled['model']['accuracy']:>9.3f}"
        f"{pooled['baselines'][strongest]['accuracy']:>13.3f}"
    )
    lines.append(
        "baselines (pooled accuracy): "
        + ", ".join(f"{n} {m['accuracy']:.3f}" for n, m in pooled["baselines"].items())
    )
    for c in report["configs"]:
        sd = c["sd"]["accuracy"]
        spread = f" ± {sd:.3f}" if sd is not None else ""
        lines.append(
            f"config {c['rank']} ({c['trial_id']}): ensemble {c['ensemble']['accuracy']:.3f}, "
            f"seeds {c['mean']['accuracy']:.3f}{spread}"
        )
    sig = report["significance"]
    lines.append(
        f"binomial vs 1/3 p = {_pvalue_text(sig['binomial_vs_chance']['p_value'])}, vs majority p = "
        f"{_pvalue_text((sig.get('binomial_vs_majority') or {}).get('p_value'))}; Pesaran-Timmermann Up p = "
        f"{_pvalue_text(sig['pesaran_timmermann']['up']['p_value'])}, Down p = "
        f"{_pvalue_text(sig['pesaran_timmermann']['down']['p_value'])}"
    )
    ci = sig["bootstrap_ci"]
    lines.append(
        f"accuracy {ci['mean']:.3f}, block-bootstrap 95% interval [{ci['low']:.3f}, {ci['high']:.3f}]"
    )
    lines.append(report["verdict"])
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--best", action="store_true", help="evaluate the best config(s) of the run (the default behaviour)"
    )
    parser.add_argument("--results", default="results", help="results folder (default ./results)")
    parser.add_argument("--experiment", metavar="NAME", help="only runs of this experiment")
    parser.add_argument("--run", default="latest", metavar="RUN", help="run id, or 'latest' (default)")
    parser.add_argument(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        metavar="K",
        help=f"evaluate the K best configs (default {DEFAULT_TOP})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        metavar="N",
        help=f"seeds per config (default {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--block-size",
        type=int,
        metavar="N",
        help="holdout test block in days (default: the split's test_size)",
    )
    parser.add_argument("--data", metavar="SOURCE", help="data source (default: the one the run searched)")
    parser.add_argument(
        "--allow-data-change",
        action="store_true",
        help="evaluate even if the data differs from the searched data",
    )
    parser.add_argument("--device", help="train on auto | cpu | cuda | cuda:N (default: the experiment's)")
    parser.add_argument(
        "--n-boot",
        type=int,
        default=DEFAULT_N_BOOT,
        metavar="N",
        help=f"bootstrap replications for the interval and SPA (default {DEFAULT_N_BOOT})",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_from_args(args: argparse.Namespace) -> int:
    """Evaluate and print the summary, ending in the verdict and the report's path; bad input is exit status 2."""
    try:
        run = store.load_run(Path(args.results), args.run, experiment=args.experiment)
        evaluation = evaluate_run(
            run,
            top=args.top,
            seeds=args.seeds,
            block_size=args.block_size,
            data=args.data,
            allow_data_change=args.allow_data_change,
            device=args.device,
            n_boot=args.n_boot,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError) as err:
        log.error("error: %s", err)
        return EXIT_BAD_INPUT
    print(format_summary(evaluation.report))
    print(f"report: {evaluation.path / REPORT_HTML}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vixray.evaluate",
        description="Walk-forward evaluation of a search's best configs on the holdout era it never saw.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
        stream=sys.stderr,
    )
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
