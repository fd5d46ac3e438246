"""One search (``/run/<experiment>/<run_id>``): the run's summary and baselines, the sortable trial table,
optimisation history, parallel coordinates, parameter importance, the permutation importance of each feature
block (best trial and boosting baseline) and learning curves with ASHA's stops."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
from dash import dcc, html

from dashboards import figures
from dashboards.components import (
    METRIC_LABELS,
    data_table,
    graph,
    kv,
    md_link,
    note,
    page,
    problems,
    section,
    status_badge,
)
from dashboards.links import (
    RUN_PATH,
    TRIALS_TABLE,
    compare_href,
    evaluation_href,
    trial_href,
)
from dashboards.reading import (
    ResultsReader,
    RunData,
    baseline_rows,
    best_finished,
    evaluation_ids,
    find_run,
    get,
    log_params,
    read_run,
    trial_counts,
)
from vixray import store
from vixray.prose import search_spa_sentence

log = logging.getLogger(__name__)


PATH = RUN_PATH
FAMILY_COLUMN = store.PARAM_PREFIX + "model.kind"  # the trials table's column of the network family


def param_importances(data: RunData) -> tuple[dict[str, float], str]:
    """The search's own importances (importance.json, Optuna's fANOVA) when written, else a rank-correlation
    estimate from trials.parquet: a run still searching, or one with fewer than two finished trials."""
    metric, _ = data.metric
    found = data.importance
    if found is not None and found.values:
        return {store.PARAM_PREFIX + k: v for k, v in found.values.items()}, found.method
    if data.trials is None or metric not in data.trials.columns:
        return {}, "no trials"
    estimate = figures.rank_importance(data.trials, params=data.params, metric=metric)
    return estimate, f"rank correlation with {metric}; no importances from the search yet"


def _run_summary(data: RunData) -> html.Table:
    m = data.manifest
    counts = trial_counts(data.trials)
    metric, mode = data.metric
    sched = get(m, "search", "scheduler") or {}
    return kv(
        [
            ("status", status_badge(data.status)),
            ("started / ended", f"{m.get('started') or '?'} / {m.get('ended') or '–'}"),
            (
                "data",
                f"{get(m, 'data', 'source')}: {get(m, 'data', 'start')} .. {get(m, 'data', 'end')} "
                f"({get(m, 'data', 'rows')} rows)",
            ),
            (
                "eras",
                f"development {get(m, 'eras', 'development', 'start')} .. {get(m, 'eras', 'development', 'end')}; "
                f"holdout {get(m, 'eras', 'holdout', 'start')} .. {get(m, 'eras', 'holdout', 'end')}",
            ),
            ("folds", len(m.get("folds") or [])),
            (
                "search",
                f"{metric} ({mode}), {get(m, 'search', 'num_samples')} samples; ASHA "
                + ", ".join(f"{k} {v}" for k, v in sched.items()),
            ),
            ("trials", ", ".join(f"{n} {s}" for s, n in counts.items())),
            (
                "strongest baseline",
                f"{data.strongest or '–'} (on the development folds: the yardstick of every test)",
            ),
        ]
    )


def _snooping(data: RunData) -> Any:
    """The whole search against the strongest baseline, corrected for the number of trials (spa.json)."""
    if data.spa is None:
        return note("No whole-search SPA yet: it is written when the search ends (and after a resume).")
    best = best_finished(data)
    lines = [html.P(search_spa_sentence(data.spa), id="search-spa")]
    if best is not None:
        lines.append(
            note(
                f"Best trial {best['trial_id']} by the search metric; the SPA's best by 0/1 loss: "
                f"{data.spa.get('best_trial')}. It covers the trials of this search only."
            )
        )
    return html.Div(lines)


def _baselines_table(baselines: pl.DataFrame | None) -> Any:
    rows = baseline_rows(baselines)
    if not rows:
        return note("baselines.parquet is not written yet.")
    return data_table(
        [
            {
                "baseline": name,
                **{label: r.get(key) for key, label in METRIC_LABELS.items()},
                "n_test": r.get("n_test"),
            }
            for name, r in rows.items()
        ]
    )


def _trials_records(data: RunData, trials: pl.DataFrame) -> list[dict[str, Any]]:
    exp, run_id = data.run.experiment, data.run.run_id
    records = []
    for r in trials.iter_rows(named=True):
        records.append(
            {**r, "trial_id": md_link(str(r["trial_id"]), trial_href(exp, run_id, str(r["trial_id"])))}
        )
    return records


def _search_figures(data: RunData, trials: pl.DataFrame) -> list[Any]:
    metric, mode = data.metric
    statuses = dict(zip(trials["trial_id"].to_list(), trials["status"].to_list(), strict=True))
    # a search over network families colours its trials by family (the table filters on the same column)
    family = FAMILY_COLUMN if FAMILY_COLUMN in trials.columns else None

    def importance() -> dcc.Graph:
        found, method = param_importances(data)
        return graph(figures.param_importance(found, method=method), "importance")

    return [
        section(
            "Optimisation history",
            lambda: graph(
                figures.optimisation_history(trials, metric=metric, mode=mode, colour_by=family), "history"
            ),
        ),
        section(
            "Hyperparameters",
            lambda: graph(
                figures.parallel_coordinates(
                    trials,
                    params=data.params,
                    metric=metric,
                    mode=mode,
                    log_params=log_params(data.manifest),
                ),
                "parallel",
            ),
        ),
        section("Parameter importance", importance),
        section(
            "Which inputs matter",
            lambda: graph(figures.block_importance(data.block_importance), "block-importance"),
        ),
        section(
            "Learning curves",
            lambda: (
                graph(figures.learning_curves(data.curves, statuses=statuses), "curves")
                if data.curves is not None
                else note("curves.parquet is not written yet.")
            ),
        ),
    ]


def content(results: ResultsReader, experiment: str, run_id: str) -> html.Div:
    data = read_run(results, find_run(results, experiment, run_id))
    evals = evaluation_ids(data.run)
    evaluation_links = [
        html.Span("evaluations: "),
        *(
            [dcc.Link(e, href=evaluation_href(experiment, run_id, e), className="pill") for e in evals]
            or [html.Span("none yet (`vixray evaluate`)")]
        ),
        html.Span(" · "),
        dcc.Link("compare with other runs", href=compare_href([f"{experiment}/{run_id}"])),
    ]
    body: list[Any] = [
        problems(data.problems),
        section("Run", lambda: _run_summary(data)),
        html.P(evaluation_links),
        section("Baselines (pooled over the folds)", lambda: _baselines_table(data.baselines)),
        section(
            "Data snooping: the best of the trials against the strongest baseline", lambda: _snooping(data)
        ),
    ]
    trials = data.trials
    if trials is None or trials.is_empty():
        body.append(note("No trials yet: trials.parquet appears once the first trial reports."))
    else:
        body.append(
            section(
                f"Trials ({trials.height})",
                lambda: data_table(
                    _trials_records(data, trials),
                    markdown=("trial_id",),
                    table_id=TRIALS_TABLE,
                    interactive=True,
                    page_size=25,
                ),
            )
        )
        body += _search_figures(data, trials)
    if data.manifest.get("experiment_yaml"):
        body.append(
            html.Details([html.Summary("experiment YAML"), html.Pre(str(data.manifest["experiment_yaml"]))])
        )
    return page(f"Search {experiment} / {run_id}", *body, page_id="search")
