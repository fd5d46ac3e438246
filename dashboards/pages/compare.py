"""Runs or trials side by side (``/compare?runs=exp/run,exp/run/trial``): test accuracy beside the baselines and
one column per item; the picker keeps the URL in step."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl
from dash import dash_table, dcc, html

from dashboards import figures
from dashboards.components import (
    METRIC_LABELS,
    clean,
    data_table,
    graph,
    note,
    num,
    page,
    section,
)
from dashboards.links import COMPARE_PATH, COMPARE_PICKER, parse_compare
from dashboards.reading import (
    NotFound,
    ResultsReader,
    best_finished,
    check_page_id,
    compared_accuracy,
    find_run,
    read_run,
)
from vixray import store

log = logging.getLogger(__name__)


PATH = COMPARE_PATH


def _compare_entry(results: ResultsReader, item: str) -> dict[str, Any]:
    """``exp/run`` (its best finished trial) or ``exp/run/trial`` -> label, trial row, pooled baselines."""
    parts = item.split("/")
    if len(parts) not in (2, 3):
        raise NotFound(f"{item!r}: name a run as experiment/run-id or a trial as experiment/run-id/trial-id")
    data = read_run(results, find_run(results, parts[0], parts[1]))
    if len(parts) == 3:
        check_page_id(parts[2], what="trial id")
        match = data.trials.filter(pl.col("trial_id") == parts[2]) if data.trials is not None else None
        if match is None or match.is_empty():
            raise NotFound(f"trial {parts[2]!r} is not in run {parts[0]}/{parts[1]}")
        trial: dict[str, Any] | None = match.row(0, named=True)
    else:
        trial = best_finished(data)
    return {"label": item, "data": data, "trial": trial, "baselines": compared_accuracy(data)}


def _trial_field(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda entry: (entry["trial"] or {}).get(key)


def _baseline_accuracy(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda entry: entry["baselines"].get(name)


def _compare_table(entries: Sequence[Mapping[str, Any]]) -> dash_table.DataTable:
    metric, _ = entries[0]["data"].metric
    params = sorted({k for e in entries for k in (e["trial"] or {}) if k.startswith(store.PARAM_PREFIX)})
    metric_rows: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
        ("status", lambda e: e["data"].status),
        ("trial", _trial_field("trial_id")),
        (metric, _trial_field(metric)),
        *((f"test {label}", _trial_field(f"test_{key}")) for key, label in METRIC_LABELS.items()),
        ("strongest baseline", lambda e: e["data"].strongest),
        *((f"{name} accuracy", _baseline_accuracy(name)) for name in figures.COMPARED_BASELINES),
        *((p[len(store.PARAM_PREFIX) :], _trial_field(p)) for p in params),
    ]
    rows = []
    for name, value in metric_rows:
        # mixed types per row (text and numbers): shown as text so every column renders
        rows.append({"": name, **{f"c{i}": num(clean(value(e))) for i, e in enumerate(entries)}})
    table = data_table(rows)
    table.columns = [{"id": "", "name": ""}] + [
        {"id": f"c{i}", "name": e["label"]} for i, e in enumerate(entries)
    ]
    return table


def content(results: ResultsReader, runs: str | Sequence[str] | None = None) -> html.Div:
    """The compare page for the ``runs`` query value (``exp/run,exp/run/trial``)."""
    items = parse_compare(runs)
    known_runs = store.list_runs(results.root)
    options = [
        {"label": f"{r.experiment}/{r.run_id}", "value": f"{r.experiment}/{r.run_id}"} for r in known_runs
    ]
    known = {o["value"] for o in options}
    options += [{"label": i, "value": i} for i in items if i not in known]
    entries, problems = [], []
    for item in items:
        try:
            entries.append(_compare_entry(results, item))
        except NotFound as err:
            problems.append(str(err))
    picker = dcc.Dropdown(
        id=COMPARE_PICKER, options=options, value=list(items), multi=True, placeholder="runs..."
    )
    body: list[Any] = [picker]
    if problems:
        body.append(
            html.Div(
                [html.Strong("not shown: "), html.Ul([html.Li(p) for p in problems])], className="problem"
            )
        )
    if len(entries) < 2:
        body.append(note("Pick two or more runs (or add exp/run/trial items to the URL) to compare them."))
    if entries:
        bars = [
            {
                "label": e["label"],
                "model": (e["trial"] or {}).get("test_accuracy"),
                **e["baselines"],
                "classes": e["data"].classes,
            }
            for e in entries
        ]
        body.append(
            section(
                "Test accuracy vs baselines",
                lambda: graph(figures.best_vs_baselines(bars), "compare-accuracy"),
            )
        )
        body.append(section("Side by side", lambda: _compare_table(entries)))
    return page("Compare", *body, page_id="compare")
