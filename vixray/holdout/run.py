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

import logging
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from vixray import store
from vixray.crossval import baseline_scores
from vixray.data import check_same_data, load_for, resolve_source
from vixray.dataset import resolve_eras
from vixray.holdout.blocks import HoldoutTable, holdout_table, table_key
from vixray.holdout.ensemble import train_config
from vixray.holdout.guards import check_holdout_untouched, positive
from vixray.holdout.html import render_html
from vixray.holdout.report import build_report, predictions_frame
from vixray.holdout.select import searched_experiment, select_configs, yardstick
from vixray.metrics import DEFAULT_N_BOOT

log = logging.getLogger(__name__)

DEFAULT_TOP = 5
DEFAULT_SEEDS = 3


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
        store.write_parquet(path / store.PREDICTIONS, predictions)
        page = render(report, predictions)
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
    data: str | None = None,
    allow_data_change: bool = False,
    device: str | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    progress: bool = False,
) -> Evaluation:
    """Re-train the run's ``top`` best configs (or the finished trials ``trial_ids``) with ``seeds`` seeds on the
    holdout blocks (each block refitted on its whole training window for its early-stopped epochs unless
    ``refit=False``); write and return the report.

    Every check (the run's trials, the data fingerprint, the eras, the blocks) runs before any training, and nothing
    is written unless the whole evaluation succeeds.
    """
    from tqdm import tqdm

    top, n_seeds, n_boot = positive("top", top), positive("seeds", seeds), positive("n_boot", n_boot)
    if block_size is not None:
        positive("block_size", block_size)
    name = f"{run.experiment}/{run.run_id}"
    manifest = run.manifest()
    experiment = searched_experiment(run, manifest)
    candidates = select_configs(run, experiment, top=top, trial_ids=trial_ids)

    recorded = manifest.get("data") or {}
    source = resolve_source(data, recorded=recorded.get("source"), configured=experiment.data.source)
    prices = load_for(experiment.data, data=source)
    changed = check_same_data(
        prices,
        recorded=recorded.get("fingerprint"),
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
        strongest=strongest,
        strongest_chosen_on=chosen_on,
        horizon=experiment.labels.horizon,
        n_boot=n_boot,
        seed=seed,
    )
    predictions = predictions_frame(results, baselines, prices, target=experiment.labels.target)
    path = write_evaluation(run, report, predictions)
    log.info("wrote %s", path)
    return Evaluation(path, report, predictions)
