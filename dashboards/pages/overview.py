"""The runs page (``/``): every run with its status, trial counts, best metric and evaluations, and each run's best
trial beside the chance line (33.3% for three classes, 50% for two), the majority class and the run's strongest
baseline (chosen on its development folds), and the search's SPA p-value (the best of its trials against that
baseline, corrected for the search)."""

from __future__ import annotations

import logging
from typing import Any

from dash import dcc, html

from dashboards import figures
from dashboards.components import (
    data_table,
    graph,
    md_link,
    note,
    page,
)
from dashboards.links import (
    OVERVIEW_PATH,
    REFRESH_MS,
    compare_href,
    evaluation_href,
    run_href,
)
from dashboards.reading import (
    ResultsReader,
    best_finished,
    compared_accuracy,
    evaluation_ids,
    get,
    ranked,
    read_run,
    trial_counts,
)
from vixray import store

log = logging.getLogger(__name__)


PATH = OVERVIEW_PATH


def _overview_row(
    results: ResultsReader, summary: store.RunSummary
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One line of the runs table, and the run's bars for the overview figure (None without a finished trial)."""
    row: dict[str, Any] = {
        "run": md_link(summary.run_id, run_href(summary.experiment, summary.run_id)),
        "experiment": summary.experiment,
    }
    if summary.problem is not None:
        return {**row, "status": "malformed", "problem": summary.problem}, None
    data = read_run(results, store.Run(summary.path))
    m = data.manifest
    counts = trial_counts(data.trials)
    metric, _ = data.metric
    order = ranked(data)
    best = best_finished(data)
    evals = evaluation_ids(data.run)
    yardsticks = compared_accuracy(data)
    row.update(
        {
            "started": m.get("started"),
            "status": data.status,
            "data": get(m, "data", "source"),
            "data range": f"{get(m, 'data', 'start') or '?'} .. {get(m, 'data', 'end') or '?'}",
            "trials": sum(counts.values()),
            **counts,
            f"best {metric}": order[metric][0] if order is not None and not order.is_empty() else None,
            "best test accuracy": best.get("test_accuracy") if best else None,
            "majority": yardsticks["majority"],
            "strongest baseline": data.strongest,
            "its accuracy": yardsticks["strongest"],
            "dev SPA p": get(data.spa, "p_values", "consistent"),
            "evaluated": (
                md_link(f"yes ({len(evals)})", evaluation_href(summary.experiment, summary.run_id, evals[-1]))
                if evals
                else "no"
            ),
            "problem": "; ".join(data.problems) or None,
        }
    )
    bars = None
    if best is not None:
        bars = {
            "label": f"{summary.experiment}/{summary.run_id}",
            "model": best.get("test_accuracy"),
            **yardsticks,
            "classes": data.classes,
        }
    return row, bars


def content(results: ResultsReader) -> html.Div:
    runs = store.list_runs(results.root)
    if not runs:
        return page(
            "Runs",
            note(
                f"No runs in {results.root} yet: start a search with `make tune`; it shows up here as it runs."
            ),
            page_id="overview",
        )
    lines, bars = [], []
    for summary in reversed(runs):  # newest first
        try:
            row, bar = _overview_row(results, summary)
        except Exception as err:  # one run in an unforeseen state must not hide the others
            log.warning("run %s: %s", summary.path, err)
            row = {
                "run": summary.run_id,
                "experiment": summary.experiment,
                "status": "malformed",
                "problem": str(err),
            }
            bar = None
        lines.append(row)
        if bar is not None:
            bars.append(bar)
    columns = list(dict.fromkeys(k for row in lines for k in row if k != "problem")) + ["problem"]
    readable = [f"{r.experiment}/{r.run_id}" for r in runs if r.problem is None]
    return page(
        "Runs",
        note(
            f"{len(runs)} run(s) in {results.root}; the page re-reads the store every {REFRESH_MS // 1000} s."
        ),
        data_table(
            lines, columns=columns, markdown=("run", "evaluated"), table_id="runs-table", interactive=True
        ),
        dcc.Link("compare the latest runs", href=compare_href(readable[-2:])),
        graph(figures.best_vs_baselines(list(reversed(bars))), "overview-accuracy"),
        page_id="overview",
    )
