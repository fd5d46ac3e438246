"""The honest number: the search's best configs re-trained walk-forward on the holdout era, beside the baselines.

A search picks its winner on the development era's folds; the best of many trials on the same folds is flattered by
the choice itself. Here the top-K configs of a run (:mod:`~vixray.holdout.select`) are re-trained with several seeds
on the HOLDOUT era, which no trial ever saw, tiled by walk-forward blocks (:mod:`~vixray.holdout.blocks`,
:mod:`~vixray.holdout.ensemble`); every baseline forecasts the same rows, and :mod:`~vixray.holdout.stats` tests
the result. Every refusal (:mod:`~vixray.holdout.guards`, the data fingerprint) comes before any training; results
go to ``<run>/evaluation/<eval-id>/`` (report.json, predictions.parquet, report.html), never over an earlier
evaluation, and a failure while writing removes the new folder.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from vixray import store
from vixray.backtest import backtest_report
from vixray.config import BacktestConfig
from vixray.crossval import baseline_scores
from vixray.data import load_recorded
from vixray.dataset import resolve_eras
from vixray.holdout.blocks import HoldoutTable, holdout_table, table_key
from vixray.holdout.ensemble import train_config
from vixray.holdout.guards import check_holdout_untouched, check_search_complete, positive
from vixray.holdout.html import render_html
from vixray.holdout.report import build_report, predictions_frame
from vixray.holdout.select import searched_experiment, select_configs, yardstick
from vixray.labels import stored_classes
from vixray.metrics import DEFAULT_N_BOOT

log = logging.getLogger(__name__)

DEFAULT_TOP = 5
DEFAULT_SEEDS = 3


def write_evaluation(
    run: store.Run,
    report: dict[str, Any],
    predictions: pl.DataFrame,
    *,
    curves: pl.DataFrame | None = None,
    render: Callable[..., str] = render_html,
) -> Path:
    """A new evaluation folder with its files (report.json, predictions.parquet, report.html and, with a backtest,
    backtest.parquet); any failure removes the folder, so nothing half-written stays.

    report.json is written last: :meth:`vixray.store.Run.evaluations` lists a folder only once it holds one.
    """
    path = run.new_evaluation_dir()
    try:
        report["eval_id"] = path.name
        store.write_parquet(path / store.PREDICTIONS, predictions)
        if curves is not None:
            store.write_parquet(path / store.BACKTEST_CURVES, curves)
        page = render(report, predictions, curves)
        store.write_atomic(path / store.REPORT_HTML, lambda p: p.write_text(page, encoding="utf-8"))
        store.write_json(path / store.REPORT_JSON, report)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


# ------------------------------------------------------------------------------------------------ the evaluation


@dataclass(frozen=True)
class Evaluation:
    """A written evaluation: its folder, report.json's content and predictions.parquet's table."""

    path: Path  # the evaluation folder
    report: dict[str, Any]
    predictions: pl.DataFrame


def evaluate_run(
    run: store.Run,
    *,
    top: int = DEFAULT_TOP,
    trial_ids: Sequence[str] = (),
    seeds: int = DEFAULT_SEEDS,
    block_size: int | None = None,
    refit: bool = True,
    backtest: BacktestConfig | None = None,
    data: str | None = None,
    allow_data_change: bool = False,
    allow_partial: bool = False,
    device: str | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    progress: bool = False,
) -> Evaluation:
    """Re-train the run's ``top`` best configs (or the finished trials ``trial_ids``) with ``seeds`` seeds on the
    holdout blocks (each block refitted on its whole training window for its early-stopped epochs unless
    ``refit=False``), backtest every forecaster's calls (``backtest``, default :class:`BacktestConfig`); write and
    return the report.

    Every check (the run's trials, the data fingerprint, the eras, the blocks) runs before any training, and nothing
    is written unless the whole evaluation succeeds.
    """
    from tqdm import tqdm

    top, n_seeds, n_boot = positive("top", top), positive("seeds", seeds), positive("n_boot", n_boot)
    backtest = backtest or BacktestConfig()
    if block_size is not None:
        positive("block_size", block_size)
    name = f"{run.experiment}/{run.run_id}"
    manifest = run.manifest()
    check_search_complete(manifest, run_name=name, allow_partial=allow_partial)
    store.check_writable(run.path / store.EVALUATION_DIR, what="the run's evaluation folder")
    experiment = searched_experiment(run, manifest)
    candidates = select_configs(run, experiment, top=top, trial_ids=trial_ids)

    prices, changed = load_recorded(
        experiment.data,
        manifest.get("data"),
        data=data,
        run_name=name,
        allow_change=allow_data_change,
        action="evaluate",
    )
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    check_holdout_untouched(manifest, eras, run_name=name)
    strongest, chosen_on = yardstick(run, manifest, experiment, prices, eras)

    # one table per feature set and split the configs use (a search may vary either)
    tables: dict[tuple[str, Any], HoldoutTable] = {}
    for c in candidates:
        key = table_key(c.experiment)
        if key not in tables:
            tables[key] = holdout_table(prices, c.experiment, eras, block_size=block_size)
    best_table = tables[table_key(candidates[0].experiment)]
    n_blocks = len(best_table.folds)
    log.info(
        "evaluating %d config(s) of run %s x %d seed(s) on %d holdout block(s) of %d days (%s..%s)",
        len(candidates),
        name,
        n_seeds,
        n_blocks,
        best_table.block_size,
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
                    tables[table_key(c.experiment)],
                    seeds=[base + i for i in range(n_seeds)],
                    refit=refit,
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
        "trials": list(trial_ids),
        "n_configs": len(candidates),
        "seeds": n_seeds,
        "block_size": block_size,
        "refit": refit,
        "backtest": dataclasses.asdict(backtest),
        "n_boot": n_boot,
        "data": prices.source,
        "allow_data_change": allow_data_change,
        "search_status": manifest.get("status"),
        "allow_partial": allow_partial,
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
        strongest=strongest,
        strongest_chosen_on=chosen_on,
        horizon=experiment.labels.horizon,
        n_boot=n_boot,
        seed=seed,
    )
    predictions = predictions_frame(results, baselines, prices, target=experiment.labels.target)
    report["backtest"], curves = backtest_report(
        predictions,
        prices.frame,
        classes=best.ensemble.classes,
        config=backtest,
        target=experiment.labels.target,
    )
    path = write_evaluation(run, report, predictions, curves=curves)
    log.info("wrote %s", path)
    return Evaluation(path, report, predictions)


def backtest_evaluation(
    run: store.Run,
    *,
    eval_id: str = "latest",
    config: BacktestConfig | None = None,
    data: str | None = None,
    allow_data_change: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The backtest of a finished evaluation's saved calls under ``config`` (its report's block and the report):
    the same predictions.parquet, the prices the run searched (``data`` overrides, refused if they differ unless
    ``allow_data_change``). Nothing is written."""
    folders = run.evaluations()
    if not folders:
        raise ValueError(
            f"run {run.experiment}/{run.run_id} has no evaluation yet; run python -m vixray.evaluate --best first"
        )
    if eval_id == "latest":
        folder = folders[-1]
    else:
        store.check_id(eval_id, what="evaluation id")
        named = [f for f in folders if f.name == eval_id]
        if not named:
            known = ", ".join(f.name for f in folders)
            raise ValueError(f"evaluation {eval_id!r} is not in run {run.run_id}; its evaluations: {known}")
        folder = named[0]
    report = store.read_json(folder / store.REPORT_JSON)
    predictions = store.read_parquet(folder / store.PREDICTIONS)
    experiment = searched_experiment(run, run.manifest())
    prices, _ = load_recorded(
        experiment.data,
        report.get("data"),
        data=data,
        run_name=f"{run.experiment}/{run.run_id}",
        allow_change=allow_data_change,
        action="backtest",
    )
    block, _ = backtest_report(
        predictions,
        prices.frame,
        classes=stored_classes(report),
        config=config or BacktestConfig(),
        target=experiment.labels.target,
    )
    return block, report
