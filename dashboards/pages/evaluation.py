"""One holdout evaluation (``/evaluation/<experiment>/<run_id>/<eval_id>``): the verdict, accuracy by block beside
the baselines, p-values and the SPA sentence, the configs, and report.html's figures over the predictions."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl
from dash import dash_table, dcc, html

from dashboards.components import (
    METRIC_LABELS,
    data_table,
    graph,
    md_link,
    note,
    page,
    problems,
    section,
)
from dashboards.links import (
    EVALUATION_PATH,
    report_href,
    run_href,
    trial_href,
)
from dashboards.reading import (
    NotFound,
    ResultsReader,
    check_page_id,
    evaluation_ids,
    find_run,
    get,
    read_backtest,
    read_predictions,
    read_report,
)
from vixray import figures as shared_figures
from vixray import store
from vixray.backtest import BUY_AND_HOLD, describe, summary_rows, sweep_rows
from vixray.labels import stored_classes
from vixray.prose import comparison_text, coverage_text

log = logging.getLogger(__name__)


PATH = EVALUATION_PATH


def _backtest(report: Mapping[str, Any], curves: pl.DataFrame | None) -> Any:
    """The report's backtest: what it trades, each forecaster's figures, the cost sweep, equity and drawdown."""
    block = report.get("backtest")
    if not block:
        return note(
            "This evaluation has no backtest (it was written before vixray backtested holdout calls)."
        )
    strongest = report.get("strongest_baseline")
    names = ("model", *([strongest] if strongest else []), BUY_AND_HOLD)
    parts: list[Any] = [
        html.P(describe(block), id="backtest-rule"),
        data_table(summary_rows(block, strongest=strongest), table_id="backtest-table"),
        data_table(sweep_rows(block, strongest=strongest), table_id="backtest-sweep"),
    ]
    if curves is not None:
        parts += [
            graph(shared_figures.equity_curve(curves, names=names), "equity"),
            graph(shared_figures.drawdown_curve(curves, names=names), "drawdown"),
        ]
    else:
        parts.append(note("backtest.parquet is unavailable: no curves to draw."))
    return html.Div(parts)


def _p_value_rows(significance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flatten the report's significance block into one row per test."""
    rows = []
    chance = get(significance, "binomial_vs_chance", "p0")
    for key, against in (
        ("binomial_vs_chance", f"chance ({chance:.1%})" if isinstance(chance, float) else "chance"),
        ("binomial_vs_majority", "majority accuracy"),
    ):
        t = significance.get(key)
        if isinstance(t, dict):
            rows.append(
                {"test": "binomial", "against": against, "statistic": t.get("k"), "p-value": t.get("p_value")}
            )
    for name, t in (significance.get("mcnemar") or {}).items():
        if isinstance(t, dict):
            rows.append(
                {
                    "test": "McNemar",
                    "against": name,
                    "statistic": t.get("statistic"),
                    "p-value": t.get("p_value"),
                }
            )
    for side, t in (significance.get("pesaran_timmermann") or {}).items():
        if isinstance(t, dict):
            rows.append(
                {
                    "test": "Pesaran-Timmermann",
                    "against": f"{side} vs not",
                    "statistic": t.get("statistic"),
                    "p-value": t.get("p_value"),
                }
            )
    return rows


def _bootstrap_text(ci: Any) -> str:
    values = [get(ci, k) for k in ("mean", "low", "high", "level")]
    if not all(isinstance(v, int | float) for v in values):
        return "No bootstrap interval in this report."
    mean, low, high, level = values
    return f"Block-bootstrap accuracy: {mean:.1%}, {level:.0%} interval [{low:.1%}, {high:.1%}]."


def spa_text(spa: Mapping[str, Any], *, level: float = 0.05) -> str:
    """One sentence on Hansen's SPA test from a report's ``spa`` block (consistent p-value against ``level``)."""
    spa = dict(spa)
    p = get(spa, "p_values", "consistent")
    if not isinstance(p, int | float):
        return "No SPA test in this report."
    bench = spa.get("benchmark") or "the benchmark"
    loss = f" on {spa['loss']} loss" if spa.get("loss") else ""
    evidence = "evidence" if p < level else "no evidence"
    name = "Studentized SPA test" if spa.get("studentized") else "SPA test"
    text = (
        f"{name}{loss} against {bench} ({spa.get('n_models', '?')} model(s)): consistent p = {p:.3f}, "
        f"{evidence} at the {level:.0%} level that a model beats {bench}."
    )
    p_log = get(spa, "log_loss", "p_values", "consistent")
    if isinstance(p_log, int | float):
        text += f" On log-loss: p = {p_log:.3f}."
    return text


def _headline(report: Mapping[str, Any]) -> html.Div:
    """The best config against the development era's strongest baseline: the paired difference and its tests."""
    comparison = get(dict(report), "significance", "vs_strongest")
    strongest = report.get("strongest_baseline")
    if not isinstance(comparison, dict) or not strongest:
        return note("This report predates the paired comparison with the strongest baseline.")
    chosen = report.get("strongest_baseline_chosen_on") or "the development era"
    return html.Div(
        [
            html.P(comparison_text(comparison, a="best config", b=f"{strongest}"), id="headline"),
            note(f"{strongest} was chosen on {chosen}, never by its holdout score."),
        ]
    )


def _pooled_table(pooled: Mapping[str, Any]) -> dash_table.DataTable:
    rows = [{"model": "model", **{lab: get(dict(pooled), "model", k) for k, lab in METRIC_LABELS.items()}}]
    for name, m in (pooled.get("baselines") or {}).items():
        rows.append({"model": name, **{lab: (m or {}).get(k) for k, lab in METRIC_LABELS.items()}})
    return data_table(rows)


def _configs_table(
    configs: Sequence[Mapping[str, Any]], experiment: str, run_id: str
) -> dash_table.DataTable:
    rows = []
    for c in configs:
        trial = str(c.get("trial_id"))
        rows.append(
            {
                "rank": c.get("rank"),
                "trial": md_link(trial, trial_href(experiment, run_id, trial)),
                "seeds": len(c.get("seeds") or []),
                "mean accuracy": get(dict(c), "mean", "accuracy"),
                "sd accuracy": get(dict(c), "sd", "accuracy"),
                "ensemble accuracy": get(dict(c), "ensemble", "accuracy"),
                "params": json.dumps(c.get("params") or {}),
            }
        )
    return data_table(rows, markdown=("trial",))


def content(results: ResultsReader, experiment: str, run_id: str, eval_id: str) -> html.Div:
    check_page_id(eval_id, what="evaluation id")
    run = find_run(results, experiment, run_id)
    folder = run.path / store.EVALUATION_DIR / eval_id
    if not (folder / "report.json").is_file():
        known = ", ".join(evaluation_ids(run)) or "none"
        raise NotFound(f"evaluation {eval_id!r} not found in run {experiment}/{run_id}; evaluations: {known}")
    title = f"Evaluation {eval_id} of {experiment} / {run_id}"
    try:
        report = read_report(results, folder)
    except ValueError as err:
        return page(title, problems([str(err)]), page_id="evaluation")
    try:
        predictions: pl.DataFrame | None = read_predictions(results, folder)
        unreadable: list[str] = []
    except ValueError as err:
        predictions, unreadable = None, [str(err)]
    try:
        curves = read_backtest(results, folder)
    except ValueError as err:
        curves, unreadable = None, [*unreadable, str(err)]
    pooled = report.get("pooled") or {}
    strongest = report.get("strongest_baseline")
    confusion = get(pooled, "model", "confusion")
    classes = stored_classes(report)

    def need_predictions(build: Callable[[pl.DataFrame], Any]) -> Callable[[], Any]:
        return lambda: (
            build(predictions) if predictions is not None else note("predictions.parquet is unavailable.")
        )

    def rolling(p: pl.DataFrame) -> Any:
        baseline = strongest if strongest and f"pred_{strongest}" in p.columns else None
        return graph(
            shared_figures.rolling_accuracy(
                p, window=shared_figures.ROLLING_DAYS, baseline=baseline, classes=classes
            ),
            "rolling-accuracy",
        )

    holdout = report.get("holdout") or {}
    return page(
        title,
        problems(unreadable),
        html.P(
            [
                f"holdout {holdout.get('start')} .. {holdout.get('end')} ({holdout.get('n_rows')} rows), "
                f"{coverage_text(holdout)} · "
                f"data {get(report, 'data', 'source')} · created {report.get('created')} · ",
                html.A(
                    "report.html",
                    href=report_href(experiment, run_id, eval_id),
                    target="_blank",
                    id="report-link",
                ),
                " · ",
                dcc.Link("the search", href=run_href(experiment, run_id)),
            ]
        ),
        html.Blockquote(
            str(report.get("verdict") or "(no verdict in the report)"), id="verdict", className="verdict"
        ),
        section("Against the strongest development-era baseline", lambda: _headline(report)),
        section(
            "Accuracy by block",
            lambda: graph(
                shared_figures.block_accuracy(report.get("blocks") or [], classes=classes), "block-accuracy"
            ),
        ),
        section("Pooled over the holdout", lambda: _pooled_table(pooled)),
        section(
            "Confusion matrix (pooled)",
            lambda: (
                graph(shared_figures.confusion_heatmap(confusion, classes=classes), "confusion")
                if confusion
                else note("Not in the report.")
            ),
        ),
        section(
            "Significance",
            lambda: html.Div(
                [
                    data_table(_p_value_rows(report.get("significance") or {})),
                    note(_bootstrap_text(get(report, "significance", "bootstrap_ci"))),
                    html.P(spa_text(report.get("spa") or {}), id="spa-verdict"),
                ]
            ),
        ),
        section("Configurations", lambda: _configs_table(report.get("configs") or [], experiment, run_id)),
        section(
            "Predictions over the VIX",
            need_predictions(
                lambda p: graph(shared_figures.prediction_timeline(p, classes=classes), "timeline")
            ),
        ),
        section(f"Rolling {shared_figures.ROLLING_DAYS}-day accuracy", need_predictions(rolling)),
        section("Backtest", lambda: _backtest(report, curves)),
        page_id="evaluation",
    )
