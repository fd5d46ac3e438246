"""One trial (``/trial/<experiment>/<run_id>/<trial_id>``): test accuracy per fold beside the same-fold baselines,
the confusion matrix, loss curves per fold, the config and the raw record."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from dash import dash_table, dcc, html

from dashboards import figures
from dashboards.components import (
    METRIC_LABELS,
    data_table,
    graph,
    note,
    num,
    page,
    problems,
    section,
    status_badge,
)
from dashboards.links import (
    TRIAL_PATH,
    run_href,
)
from dashboards.reading import (
    NotFound,
    ResultsReader,
    baseline_rows,
    check_page_id,
    find_run,
    read_run,
)
from vixray import figures as shared_figures
from vixray import store

log = logging.getLogger(__name__)


PATH = TRIAL_PATH


def _trial_metrics(trial: Mapping[str, Any], baselines: pl.DataFrame | None) -> dash_table.DataTable:
    pooled = baseline_rows(baselines)
    rows = [
        {"model": "this trial", **{label: trial.get(f"test_{key}") for key, label in METRIC_LABELS.items()}}
    ]
    for name, r in pooled.items():
        rows.append({"model": name, **{label: r.get(key) for key, label in METRIC_LABELS.items()}})
    return data_table(rows)


def _confusion_or_note(
    trial: Mapping[str, Any],
    folds: pl.DataFrame | None,
    baselines: pl.DataFrame | None,
    *,
    classes: tuple[str, ...],
) -> html.Div:
    """The trial's confusion matrix summed over folds where folds.parquet stores one, else a note saying so."""
    table = _trial_metrics(trial, baselines)
    if folds is not None and "confusion" in folds.columns and not folds.is_empty():
        total = np.sum(np.asarray(folds["confusion"].to_list(), dtype=np.int64), axis=0)  # (K, K)
        fig = shared_figures.confusion_heatmap(
            total.tolist(), classes=classes, title="Confusion matrix, summed over the folds"
        )
        return html.Div([graph(fig, "trial-confusion"), table])
    why = note(
        "Confusion matrices are not stored per trial (folds.parquet holds accuracy, balanced accuracy, macro-F1 "
        "and log-loss), so the pooled metrics are shown instead; the holdout evaluation stores the confusion matrix.",
        id="no-confusion-note",
    )
    return html.Div([why, table])


def content(results: ResultsReader, experiment: str, run_id: str, trial_id: str) -> html.Div:
    check_page_id(trial_id, what="trial id")
    data = read_run(results, find_run(results, experiment, run_id))
    title = f"Trial {trial_id} of {experiment} / {run_id}"
    if data.trials is None:
        return page(title, problems(data.problems or ["trials.parquet is not written yet"]), page_id="trial")
    match = data.trials.filter(pl.col("trial_id") == trial_id)
    if match.is_empty():
        raise NotFound(
            f"trial {trial_id!r} is not in run {experiment}/{run_id}; it has {data.trials.height} trials"
        )
    trial = match.row(0, named=True)
    folds = data.folds.filter(pl.col("trial_id") == trial_id) if data.folds is not None else None
    curves = data.curves.filter(pl.col("trial_id") == trial_id) if data.curves is not None else None
    baselines = (
        data.baselines
        if data.baselines is not None
        else pl.DataFrame({"baseline": [], "fold": [], "accuracy": []})
    )
    params = {k[len(store.PARAM_PREFIX) :]: v for k, v in trial.items() if k.startswith(store.PARAM_PREFIX)}
    raw = {"trial": trial, "folds": folds.to_dicts() if folds is not None else []}

    def fold_bars() -> Any:
        if folds is None or folds.is_empty():
            why = (
                f": ASHA stopped it after epoch {trial.get('epochs')}" if trial["status"] == "pruned" else ""
            )
            return note(f"No test results: the trial is {trial['status']}{why}.")
        shown = ("majority", *([data.strongest] if data.strongest and data.strongest != "majority" else []))
        return graph(
            figures.fold_accuracy(folds, baselines, shown=shown, classes=data.classes), "fold-accuracy"
        )

    return page(
        title,
        problems(data.problems),
        html.P(
            [
                status_badge(str(trial["status"])),
                f" {trial.get('epochs')} epoch(s), {num(trial.get('seconds'), 3)} s",
                f" · error: {trial['error']}" if trial.get("error") else "",
                " · ",
                dcc.Link("back to the search", href=run_href(experiment, run_id)),
            ]
        ),
        section("Test accuracy by fold", fold_bars),
        section(
            "Pooled test metrics",
            lambda: _confusion_or_note(trial, folds, data.baselines, classes=data.classes),
        ),
        section(
            "Loss by epoch",
            lambda: (
                graph(figures.fold_loss_curves(curves), "fold-curves")
                if curves is not None and not curves.is_empty()
                else note("No epoch reported.")
            ),
        ),
        section("Config", lambda: data_table([{"parameter": k, "value": v} for k, v in params.items()])),
        html.Details(
            [html.Summary("raw JSON"), html.Pre(json.dumps(raw, indent=2, default=str), id="raw-json")],
            open=False,
        ),
        page_id="trial",
    )
