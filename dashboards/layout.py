"""Pages of the results explorer: each reads its part of the store and lays out tables and figures.

URLs name runs by ids (``/run/<experiment>/<run-id>``, ``/trial/.../<trial-id>``, ``/evaluation/.../<eval-id>``,
``/compare?runs=exp/run,exp/run/trial``). Every id is checked with :func:`vixray.store.check_id` before a path is
built, so no URL reaches outside the results folder; an unknown or invalid id gives a not-found page. A page never
fails because one file is bad: read problems are listed on it (the run shows as malformed) and each section that
cannot be drawn says why, while the rest of the page renders.

Tables are re-read whenever their file changes on disk (:class:`ResultsReader`, one per app, caches by modification
time and size), so a search in progress shows its new trials on the next refresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

import numpy as np
import plotly.graph_objects as go
import polars as pl
from dash import dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme, Trim

from dashboards import figures
from vixray import store

log = logging.getLogger(__name__)

# component ids shared with the callbacks
URL = "url"
PAGE = "page"
REFRESH = "refresh"
SIGNATURE = "signature"
TRIALS_TABLE = "trials-table"
COMPARE_PICKER = "compare-runs"

REFRESH_MS = 5000
REPORT_PREFIX = "/reports"
ROLLING_WINDOW = 60
_STATUSES = ("finished", "pruned", "errored", "running")
_NUMBER = Format(precision=4, scheme=Scheme.decimal_or_exponent, trim=Trim.yes)
_METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "log_loss": "log-loss",
}

T = TypeVar("T")


class NotFound(Exception):
    """A URL names no page, an invalid id, or a run, trial or evaluation that does not exist."""


# ------------------------------------------------------------------------------------------------ links


def run_href(experiment: str, run_id: str) -> str:
    return f"/run/{experiment}/{run_id}"


def trial_href(experiment: str, run_id: str, trial_id: str) -> str:
    return f"/trial/{experiment}/{run_id}/{trial_id}"


def evaluation_href(experiment: str, run_id: str, eval_id: str) -> str:
    return f"/evaluation/{experiment}/{run_id}/{eval_id}"


def report_href(experiment: str, run_id: str, eval_id: str) -> str:
    return f"{REPORT_PREFIX}/{experiment}/{run_id}/{eval_id}/report.html"


def compare_search(items: Sequence[str]) -> str:
    return "?runs=" + ",".join(items) if items else ""


def parse_compare(search: str | None) -> list[str]:
    """``?runs=exp/run,exp/run/trial`` -> the items, in order, without blanks or repeats."""
    values = parse_qs((search or "").lstrip("?")).get("runs", [])
    items = [item.strip() for value in values for item in value.split(",")]
    return list(dict.fromkeys(item for item in items if item))


# ------------------------------------------------------------------------------------------------ reading the store


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ResultsReader:
    """The results folder as the explorer reads it: one per app, so each app keeps its own cache of what it read.

    A file's contents are reused while its modification time and size stay the same, so a refresh during a search
    re-reads only the tables the search rewrote. Errors are never cached.
    """

    def __init__(self, root: Path, *, cache_size: int = 512) -> None:
        self.root = Path(root).resolve()
        self._cache: OrderedDict[Path, tuple[tuple[int, int], Any]] = OrderedDict()
        self._lock = threading.Lock()  # Dash serves callbacks from several threads
        self._cache_size = cache_size

    def cached(self, path: Path, read: Callable[[], T]) -> T:
        """``read()``, or what it returned last time if ``path`` has not changed since."""
        key = _stat_key(path)
        if key is None:
            return read()
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                self._cache.move_to_end(path)
                return hit[1]
        value = read()
        with self._lock:
            self._cache[path] = (key, value)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value


def _check(value: str, *, what: str) -> str:
    try:
        return store.check_id(value, what=what)
    except ValueError as err:
        raise NotFound(str(err)) from None


def find_run(results: ResultsReader, experiment: str, run_id: str) -> store.Run:
    """The run ``experiment/run_id`` in the results folder; NotFound for an invalid id or a missing folder."""
    _check(experiment, what="experiment name")
    _check(run_id, what="run id")
    root = results.root
    path = root / experiment / run_id
    if not path.is_dir() or not path.resolve().is_relative_to(root):
        known = [f"{r.experiment}/{r.run_id}" for r in store.list_runs(root)][-10:]
        raise NotFound(
            f"run {experiment}/{run_id} not found in {root}; runs: {', '.join(known) or 'none yet'}"
        )
    return store.Run(path)


@dataclass(frozen=True)
class RunData:
    """Everything a page needs from one run; ``problems`` lists what could not be read."""

    run: store.Run
    manifest: dict[str, Any]
    trials: pl.DataFrame | None
    folds: pl.DataFrame | None
    baselines: pl.DataFrame | None
    curves: pl.DataFrame | None
    importance: store.Importance | None  # None before the search has written them (or when unreadable)
    problems: tuple[str, ...]

    @property
    def status(self) -> str:
        return "malformed" if self.problems else str(self.manifest.get("status", "unknown"))

    @property
    def metric(self) -> tuple[str, str]:
        search = self.manifest.get("search")
        search = search if isinstance(search, dict) else {}
        mode = search.get("mode") if search.get("mode") in ("min", "max") else "min"
        return str(search.get("metric") or "val_loss"), mode

    @property
    def params(self) -> list[str]:
        return (
            [c for c in self.trials.columns if c.startswith(figures.PARAM_PREFIX)]
            if self.trials is not None
            else []
        )


def read_run(results: ResultsReader, run: store.Run) -> RunData:
    """Read a run's manifest and tables, collecting problems instead of raising."""
    problems = []
    try:
        manifest = results.cached(run.path / store.MANIFEST, run.manifest)
    except ValueError as err:
        manifest, problems = {}, [str(err)]
    readers = {
        store.TRIALS: run.trials,
        store.FOLDS: run.folds,
        store.BASELINES: run.baselines,
        store.CURVES: run.curves,
    }
    tables: dict[str, pl.DataFrame | None] = {}
    for name, reader in readers.items():
        try:
            tables[name] = results.cached(run.path / name, reader)
        except ValueError as err:
            tables[name] = None
            problems.append(str(err))
    if manifest.get("status") == "finished":  # a finished search has written all of these
        problems += [f"{run.path / n}: missing" for n in (store.TRIALS, store.BASELINES) if tables[n] is None]
    trials = tables[store.TRIALS]
    if trials is not None and not {"trial_id", "status"} <= set(trials.columns):
        problems.append(f"{run.path / store.TRIALS}: no trial_id/status columns ({trials.columns})")
        trials = None
    # importances are optional: a damaged file falls back to the search page's own estimate
    try:
        importance = results.cached(run.path / store.IMPORTANCE, run.importance)
    except ValueError as err:
        log.info("no stored importances for %s: %s", run.path, err)
        importance = None
    return RunData(
        run,
        manifest,
        trials,
        tables[store.FOLDS],
        tables[store.BASELINES],
        tables[store.CURVES],
        importance,
        tuple(problems),
    )


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _counts(trials: pl.DataFrame | None) -> dict[str, int]:
    counts = dict.fromkeys(_STATUSES, 0)
    if trials is not None:
        for status, n in trials.group_by("status").len().iter_rows():
            counts[str(status)] = int(n)
    return counts


def _ranked(data: RunData) -> pl.DataFrame | None:
    """Finished and pruned trials, best first by the run's search metric (None when there are none)."""
    if data.trials is None or data.trials.is_empty():
        return None
    metric, mode = data.metric
    try:
        return store.best_trials(data.run, k=data.trials.height, metric=metric, mode=mode)
    except ValueError:
        return None


def _best_finished(data: RunData) -> dict[str, Any] | None:
    """The best trial by the search metric among those with a test result (pruned trials have none)."""
    ranked = _ranked(data)
    if ranked is None or "test_accuracy" not in ranked.columns:
        return None
    done = ranked.filter(pl.col("test_accuracy").is_not_null())
    return done.row(0, named=True) if not done.is_empty() else None


def _baseline_rows(baselines: pl.DataFrame | None, *, fold: int = -1) -> dict[str, dict[str, Any]]:
    if baselines is None or not {"baseline", "fold"} <= set(baselines.columns):
        return {}
    return {r["baseline"]: r for r in baselines.filter(pl.col("fold") == fold).iter_rows(named=True)}


def _evaluation_ids(run: store.Run) -> list[str]:
    return [p.name for p in run.evaluations()]


def _read_report(results: ResultsReader, folder: Path) -> dict[str, Any]:
    path = folder / "report.json"

    def read() -> dict[str, Any]:
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not readable JSON ({err})") from None
        if not isinstance(report, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return report

    return results.cached(path, read)


def _read_predictions(results: ResultsReader, folder: Path) -> pl.DataFrame:
    path = folder / "predictions.parquet"

    def read() -> pl.DataFrame:
        if not path.is_file():
            raise ValueError(f"{path}: missing")
        try:
            return pl.read_parquet(path)
        except Exception as err:  # polars raises several error types for a damaged file
            raise ValueError(f"{path}: unreadable Parquet ({err})") from None

    return results.cached(path, read)


def param_importances(data: RunData) -> tuple[dict[str, float], str]:
    """The search's own importances (importance.json, Optuna's fANOVA) when written, else a rank-correlation
    estimate from trials.parquet: a run still searching, or one with fewer than two finished trials."""
    metric, _ = data.metric
    found = data.importance
    if found is not None and found.values:
        return {figures.PARAM_PREFIX + k: v for k, v in found.values.items()}, found.method
    if data.trials is None or metric not in data.trials.columns:
        return {}, "no trials"
    estimate = figures.rank_importance(data.trials, params=data.params, metric=metric)
    return estimate, f"rank correlation with {metric}; no importances from the search yet"


def _log_params(manifest: dict[str, Any]) -> set[str]:
    space = _get(manifest, "search", "space") or {}
    return {
        figures.PARAM_PREFIX + name
        for name, spec in space.items()
        if isinstance(spec, dict) and (spec.get("type") == "loguniform" or spec.get("log"))
    }


# ------------------------------------------------------------------------------------------------ components


def _clean(value: Any) -> Any:
    """A JSON- and DataTable-friendly cell value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.{digits}g}"
    return "–" if value is None else str(value)


def _md_link(text: str, href: str) -> str:
    return f"[{text}]({href})"


def data_table(
    records: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    markdown: Sequence[str] = (),
    table_id: str | None = None,
    interactive: bool = False,
    page_size: int = 50,
) -> dash_table.DataTable:
    """A DataTable; numeric columns are typed (so native filters such as ``> 0.4`` work) and shown to 4 digits."""
    rows = [{k: _clean(v) for k, v in r.items()} for r in records]
    names = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    spec = []
    for name in names:
        col: dict[str, Any] = {"id": name, "name": name}
        values = [r.get(name) for r in rows if r.get(name) is not None]
        if name in markdown:
            col["presentation"] = "markdown"
        elif values and all(isinstance(v, int | float) for v in values):
            col.update(type="numeric", format=_NUMBER)
        spec.append(col)
    extra: dict[str, Any] = {}
    if interactive:
        extra = {
            "sort_action": "native",
            "filter_action": "native",
            "sort_mode": "multi",
            # a refresh rebuilds the table: keep the reader's sort and filter
            "persistence": True,
            "persisted_props": ["sort_by", "filter_query"],
            "persistence_type": "session",
        }
    if table_id is not None:
        extra["id"] = table_id
    return dash_table.DataTable(
        data=rows,
        columns=spec,
        page_size=page_size,
        markdown_options={"link_target": "_self"},
        style_table={"overflowX": "auto"},
        style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px", "textAlign": "left"},
        style_header={"fontWeight": "bold", "backgroundColor": "#f3f3f3"},
        **extra,
    )


def _kv(pairs: Sequence[tuple[str, Any]]) -> html.Table:
    return html.Table(
        [html.Tr([html.Th(k), html.Td(v if not isinstance(v, float) else _num(v))]) for k, v in pairs],
        className="kv",
    )


def _graph(fig: go.Figure, graph_id: str) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=fig, config={"displaylogo": False})


def _problems(problems: Sequence[str]) -> html.Div | None:
    if not problems:
        return None
    return html.Div(
        [html.Strong("malformed: "), html.Ul([html.Li(p) for p in problems])],
        className="problem",
    )


def _note(text: str, **kwargs: Any) -> html.P:
    return html.P(text, className="note", **kwargs)


def _section(title: str, build: Callable[[], Any]) -> html.Section:
    """A titled section; if its content cannot be built from what is on disk, it says so instead."""
    try:
        body = build()
    except Exception as err:  # one bad file must not take the whole page down
        log.warning("section %r failed: %s", title, err)
        body = html.Div(f"cannot show this: {err}", className="problem")
    return html.Section([html.H3(title), body])


def _page(title: str, *children: Any, page_id: str) -> html.Div:
    return html.Div([html.H2(title), *[c for c in children if c is not None]], id=page_id)


def _status_badge(status: str) -> html.Span:
    return html.Span(status, className=f"status status-{status}")


def not_found_page(message: str) -> html.Div:
    return _page(
        "Not found",
        html.P(message, id="not-found-message"),
        dcc.Link("back to all runs", href="/"),
        page_id="not-found",
    )


# ------------------------------------------------------------------------------------------------ overview


def _overview_row(
    results: ResultsReader, summary: store.RunSummary
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One line of the runs table, and the run's bars for the overview figure (None without a finished trial)."""
    row: dict[str, Any] = {
        "run": _md_link(summary.run_id, run_href(summary.experiment, summary.run_id)),
        "experiment": summary.experiment,
    }
    if summary.problem is not None:
        return {**row, "status": "malformed", "problem": summary.problem}, None
    data = read_run(results, store.Run(summary.path))
    m = data.manifest
    counts = _counts(data.trials)
    metric, _ = data.metric
    ranked = _ranked(data)
    best = _best_finished(data)
    evals = _evaluation_ids(data.run)
    base = _baseline_rows(data.baselines)
    row.update(
        {
            "started": m.get("started"),
            "status": data.status,
            "data": _get(m, "data", "source"),
            "data range": f"{_get(m, 'data', 'start') or '?'} .. {_get(m, 'data', 'end') or '?'}",
            "trials": sum(counts.values()),
            **counts,
            f"best {metric}": ranked[metric][0] if ranked is not None else None,
            "best test accuracy": best.get("test_accuracy") if best else None,
            "majority": _get(base, "majority", "accuracy"),
            "persistence": _get(base, "persistence", "accuracy"),
            "evaluated": (
                _md_link(
                    f"yes ({len(evals)})", evaluation_href(summary.experiment, summary.run_id, evals[-1])
                )
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
            **{name: _get(base, name, "accuracy") for name in figures.COMPARED_BASELINES},
        }
    return row, bars


def overview_page(results: ResultsReader) -> html.Div:
    runs = store.list_runs(results.root)
    if not runs:
        return _page(
            "Runs",
            _note(
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
    return _page(
        "Runs",
        _note(
            f"{len(runs)} run(s) in {results.root}; the page re-reads the store every {REFRESH_MS // 1000} s."
        ),
        data_table(
            lines, columns=columns, markdown=("run", "evaluated"), table_id="runs-table", interactive=True
        ),
        dcc.Link("compare the latest runs", href="/compare" + compare_search(readable[-2:])),
        _graph(figures.best_vs_baselines(list(reversed(bars))), "overview-accuracy"),
        page_id="overview",
    )


# ------------------------------------------------------------------------------------------------ search (one run)


def _run_summary(data: RunData) -> html.Table:
    m = data.manifest
    counts = _counts(data.trials)
    metric, mode = data.metric
    sched = _get(m, "search", "scheduler") or {}
    return _kv(
        [
            ("status", _status_badge(data.status)),
            ("started / ended", f"{m.get('started') or '?'} / {m.get('ended') or '–'}"),
            (
                "data",
                f"{_get(m, 'data', 'source')}: {_get(m, 'data', 'start')} .. {_get(m, 'data', 'end')} "
                f"({_get(m, 'data', 'rows')} rows)",
            ),
            (
                "eras",
                f"development {_get(m, 'eras', 'development', 'start')} .. {_get(m, 'eras', 'development', 'end')}; "
                f"holdout {_get(m, 'eras', 'holdout', 'start')} .. {_get(m, 'eras', 'holdout', 'end')}",
            ),
            ("folds", len(m.get("folds") or [])),
            (
                "search",
                f"{metric} ({mode}), {_get(m, 'search', 'num_samples')} samples; ASHA "
                + ", ".join(f"{k} {v}" for k, v in sched.items()),
            ),
            ("trials", ", ".join(f"{n} {s}" for s, n in counts.items())),
        ]
    )


def _baselines_table(baselines: pl.DataFrame | None) -> Any:
    rows = _baseline_rows(baselines)
    if not rows:
        return _note("baselines.parquet is not written yet.")
    return data_table(
        [
            {
                "baseline": name,
                **{label: r.get(key) for key, label in _METRIC_LABELS.items()},
                "n_test": r.get("n_test"),
            }
            for name, r in rows.items()
        ]
    )


def _trials_records(data: RunData) -> list[dict[str, Any]]:
    exp, run_id = data.run.experiment, data.run.run_id
    records = []
    for r in data.trials.iter_rows(named=True):
        records.append(
            {**r, "trial_id": _md_link(str(r["trial_id"]), trial_href(exp, run_id, str(r["trial_id"])))}
        )
    return records


def _search_figures(data: RunData) -> list[Any]:
    metric, mode = data.metric
    trials = data.trials
    statuses = dict(zip(trials["trial_id"].to_list(), trials["status"].to_list(), strict=True))

    def importance() -> dcc.Graph:
        found, method = param_importances(data)
        return _graph(figures.param_importance(found, method=method), "importance")

    return [
        _section(
            "Optimisation history",
            lambda: _graph(figures.optimisation_history(trials, metric=metric, mode=mode), "history"),
        ),
        _section(
            "Hyperparameters",
            lambda: _graph(
                figures.parallel_coordinates(
                    trials,
                    params=data.params,
                    metric=metric,
                    mode=mode,
                    log_params=_log_params(data.manifest),
                ),
                "parallel",
            ),
        ),
        _section("Parameter importance", importance),
        _section(
            "Learning curves",
            lambda: (
                _graph(figures.learning_curves(data.curves, statuses=statuses), "curves")
                if data.curves is not None
                else _note("curves.parquet is not written yet.")
            ),
        ),
    ]


def search_page(results: ResultsReader, experiment: str, run_id: str) -> html.Div:
    data = read_run(results, find_run(results, experiment, run_id))
    evals = _evaluation_ids(data.run)
    links = [
        html.Span("evaluations: "),
        *(
            [dcc.Link(e, href=evaluation_href(experiment, run_id, e), className="pill") for e in evals]
            or [html.Span("none yet (`vixray evaluate`)")]
        ),
        html.Span(" · "),
        dcc.Link("compare with other runs", href="/compare" + compare_search([f"{experiment}/{run_id}"])),
    ]
    body: list[Any] = [
        _problems(data.problems),
        _section("Run", lambda: _run_summary(data)),
        html.P(links),
        _section("Baselines (pooled over the folds)", lambda: _baselines_table(data.baselines)),
    ]
    if data.trials is None or data.trials.is_empty():
        body.append(_note("No trials yet: trials.parquet appears once the first trial reports."))
    else:
        body.append(
            _section(
                f"Trials ({data.trials.height})",
                lambda: data_table(
                    _trials_records(data),
                    markdown=("trial_id",),
                    table_id=TRIALS_TABLE,
                    interactive=True,
                    page_size=25,
                ),
            )
        )
        body += _search_figures(data)
    if data.manifest.get("experiment_yaml"):
        body.append(
            html.Details([html.Summary("experiment YAML"), html.Pre(str(data.manifest["experiment_yaml"]))])
        )
    return _page(f"Search {experiment} / {run_id}", *body, page_id="search")


# ------------------------------------------------------------------------------------------------ trial


def _trial_metrics(trial: Mapping[str, Any], baselines: pl.DataFrame | None) -> dash_table.DataTable:
    pooled = _baseline_rows(baselines)
    rows = [
        {"model": "this trial", **{label: trial.get(f"test_{key}") for key, label in _METRIC_LABELS.items()}}
    ]
    for name, r in pooled.items():
        rows.append({"model": name, **{label: r.get(key) for key, label in _METRIC_LABELS.items()}})
    return data_table(rows)


def _confusion_or_note(
    trial: Mapping[str, Any], folds: pl.DataFrame | None, baselines: pl.DataFrame | None
) -> html.Div:
    """The trial's confusion matrix summed over folds where folds.parquet stores one, else a note saying so."""
    table = _trial_metrics(trial, baselines)
    if folds is not None and "confusion" in folds.columns and not folds.is_empty():
        total = np.sum(np.asarray(folds["confusion"].to_list(), dtype=np.int64), axis=0)  # (K, K)
        fig = figures.confusion_heatmap(total.tolist(), title="Confusion matrix, summed over the folds")
        return html.Div([_graph(fig, "trial-confusion"), table])
    note = _note(
        "Confusion matrices are not stored per trial (folds.parquet holds accuracy, balanced accuracy, macro-F1 "
        "and log-loss), so the pooled metrics are shown instead; the holdout evaluation stores the confusion matrix.",
        id="no-confusion-note",
    )
    return html.Div([note, table])


def trial_page(results: ResultsReader, experiment: str, run_id: str, trial_id: str) -> html.Div:
    _check(trial_id, what="trial id")
    data = read_run(results, find_run(results, experiment, run_id))
    title = f"Trial {trial_id} of {experiment} / {run_id}"
    if data.trials is None:
        return _page(
            title, _problems(data.problems or ["trials.parquet is not written yet"]), page_id="trial"
        )
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
    params = {
        k[len(figures.PARAM_PREFIX) :]: v for k, v in trial.items() if k.startswith(figures.PARAM_PREFIX)
    }
    raw = {"trial": trial, "folds": folds.to_dicts() if folds is not None else []}

    def fold_bars() -> Any:
        if folds is None or folds.is_empty():
            why = (
                f": ASHA stopped it after epoch {trial.get('epochs')}" if trial["status"] == "pruned" else ""
            )
            return _note(f"No test results: the trial is {trial['status']}{why}.")
        return _graph(figures.fold_accuracy(folds, baselines), "fold-accuracy")

    return _page(
        title,
        _problems(data.problems),
        html.P(
            [
                _status_badge(str(trial["status"])),
                f" {trial.get('epochs')} epoch(s), {_num(trial.get('seconds'), 3)} s",
                f" · error: {trial['error']}" if trial.get("error") else "",
                " · ",
                dcc.Link("back to the search", href=run_href(experiment, run_id)),
            ]
        ),
        _section("Test accuracy by fold", fold_bars),
        _section("Pooled test metrics", lambda: _confusion_or_note(trial, folds, data.baselines)),
        _section(
            "Loss by epoch",
            lambda: (
                _graph(figures.fold_loss_curves(curves), "fold-curves")
                if curves is not None and not curves.is_empty()
                else _note("No epoch reported.")
            ),
        ),
        _section("Config", lambda: data_table([{"parameter": k, "value": v} for k, v in params.items()])),
        html.Details(
            [html.Summary("raw JSON"), html.Pre(json.dumps(raw, indent=2, default=str), id="raw-json")],
            open=False,
        ),
        page_id="trial",
    )


# ------------------------------------------------------------------------------------------------ evaluation


def _p_value_rows(significance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flatten the report's significance block into one row per test."""
    rows = []
    for key, against in (
        ("binomial_vs_chance", "chance (33.3%)"),
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
    values = [_get(ci, k) for k in ("mean", "low", "high", "level")]
    if not all(isinstance(v, int | float) for v in values):
        return "No bootstrap interval in this report."
    mean, low, high, level = values
    return f"Block-bootstrap accuracy: {mean:.1%}, {level:.0%} interval [{low:.1%}, {high:.1%}]."


def spa_text(spa: Mapping[str, Any], *, level: float = 0.05) -> str:
    """One sentence on Hansen's SPA test from a report's ``spa`` block (consistent p-value against ``level``)."""
    spa = dict(spa)
    p = _get(spa, "p_values", "consistent")
    if not isinstance(p, int | float):
        return "No SPA test in this report."
    bench = spa.get("benchmark") or "the benchmark"
    loss = f" on {spa['loss']} loss" if spa.get("loss") else ""
    evidence = "evidence" if p < level else "no evidence"
    text = (
        f"SPA test{loss} against {bench} ({spa.get('n_models', '?')} model(s)): consistent p = {p:.3f}, "
        f"{evidence} at the {level:.0%} level that a model beats {bench}."
    )
    p_log = _get(spa, "log_loss", "p_values", "consistent")
    if isinstance(p_log, int | float):
        text += f" On log-loss: p = {p_log:.3f}."
    return text


def _pooled_table(pooled: Mapping[str, Any]) -> dash_table.DataTable:
    rows = [{"model": "model", **{lab: _get(dict(pooled), "model", k) for k, lab in _METRIC_LABELS.items()}}]
    for name, m in (pooled.get("baselines") or {}).items():
        rows.append({"model": name, **{lab: (m or {}).get(k) for k, lab in _METRIC_LABELS.items()}})
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
                "trial": _md_link(trial, trial_href(experiment, run_id, trial)),
                "seeds": len(c.get("seeds") or []),
                "mean accuracy": _get(dict(c), "mean", "accuracy"),
                "sd accuracy": _get(dict(c), "sd", "accuracy"),
                "ensemble accuracy": _get(dict(c), "ensemble", "accuracy"),
                "params": json.dumps(c.get("params") or {}),
            }
        )
    return data_table(rows, markdown=("trial",))


def evaluation_page(results: ResultsReader, experiment: str, run_id: str, eval_id: str) -> html.Div:
    _check(eval_id, what="evaluation id")
    run = find_run(results, experiment, run_id)
    folder = run.path / store.EVALUATION_DIR / eval_id
    if not (folder / "report.json").is_file():
        known = ", ".join(_evaluation_ids(run)) or "none"
        raise NotFound(f"evaluation {eval_id!r} not found in run {experiment}/{run_id}; evaluations: {known}")
    title = f"Evaluation {eval_id} of {experiment} / {run_id}"
    try:
        report = _read_report(results, folder)
    except ValueError as err:
        return _page(title, _problems([str(err)]), page_id="evaluation")
    try:
        predictions: pl.DataFrame | None = _read_predictions(results, folder)
        problems: list[str] = []
    except ValueError as err:
        predictions, problems = None, [str(err)]
    pooled = report.get("pooled") or {}
    strongest = report.get("strongest_baseline")
    confusion = _get(pooled, "model", "confusion")

    def need_predictions(build: Callable[[pl.DataFrame], Any]) -> Callable[[], Any]:
        return lambda: (
            build(predictions) if predictions is not None else _note("predictions.parquet is unavailable.")
        )

    def rolling(p: pl.DataFrame) -> Any:
        baseline = strongest if strongest and f"pred_{strongest}" in p.columns else None
        return _graph(
            figures.rolling_accuracy(p, window=ROLLING_WINDOW, baseline=baseline), "rolling-accuracy"
        )

    holdout = report.get("holdout") or {}
    return _page(
        title,
        _problems(problems),
        html.P(
            [
                f"holdout {holdout.get('start')} .. {holdout.get('end')} ({holdout.get('n_rows')} rows) · "
                f"data {_get(report, 'data', 'source')} · created {report.get('created')} · ",
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
        _section(
            "Accuracy by block",
            lambda: _graph(figures.block_accuracy(report.get("blocks") or []), "block-accuracy"),
        ),
        _section("Pooled over the holdout", lambda: _pooled_table(pooled)),
        _section(
            "Confusion matrix (pooled)",
            lambda: (
                _graph(figures.confusion_heatmap(confusion), "confusion")
                if confusion
                else _note("Not in the report.")
            ),
        ),
        _section(
            "Significance",
            lambda: html.Div(
                [
                    data_table(_p_value_rows(report.get("significance") or {})),
                    _note(_bootstrap_text(_get(report, "significance", "bootstrap_ci"))),
                    html.P(spa_text(report.get("spa") or {}), id="spa-verdict"),
                ]
            ),
        ),
        _section("Configurations", lambda: _configs_table(report.get("configs") or [], experiment, run_id)),
        _section(
            "Predictions over the VIX",
            need_predictions(lambda p: _graph(figures.prediction_timeline(p), "timeline")),
        ),
        _section(f"Rolling {ROLLING_WINDOW}-day accuracy", need_predictions(rolling)),
        page_id="evaluation",
    )


# ------------------------------------------------------------------------------------------------ compare


def _compare_entry(results: ResultsReader, item: str) -> dict[str, Any]:
    """``exp/run`` (its best finished trial) or ``exp/run/trial`` -> label, trial row, pooled baselines."""
    parts = item.split("/")
    if len(parts) not in (2, 3):
        raise NotFound(f"{item!r}: name a run as experiment/run-id or a trial as experiment/run-id/trial-id")
    data = read_run(results, find_run(results, parts[0], parts[1]))
    if len(parts) == 3:
        _check(parts[2], what="trial id")
        match = data.trials.filter(pl.col("trial_id") == parts[2]) if data.trials is not None else None
        if match is None or match.is_empty():
            raise NotFound(f"trial {parts[2]!r} is not in run {parts[0]}/{parts[1]}")
        trial: dict[str, Any] | None = match.row(0, named=True)
    else:
        trial = _best_finished(data)
    return {"label": item, "data": data, "trial": trial, "baselines": _baseline_rows(data.baselines)}


def _compare_table(entries: Sequence[Mapping[str, Any]]) -> dash_table.DataTable:
    metric_rows = [
        ("status", lambda e: e["data"].status),
        ("trial", lambda e: (e["trial"] or {}).get("trial_id")),
    ]
    metric, _ = entries[0]["data"].metric
    metric_rows.append((metric, lambda e: (e["trial"] or {}).get(metric)))
    for key, label in _METRIC_LABELS.items():
        metric_rows.append((f"test {label}", lambda e, key=key: (e["trial"] or {}).get(f"test_{key}")))
    for name in figures.COMPARED_BASELINES:
        metric_rows.append((f"{name} accuracy", lambda e, name=name: _get(e["baselines"], name, "accuracy")))
    params = sorted({k for e in entries for k in (e["trial"] or {}) if k.startswith(figures.PARAM_PREFIX)})
    for p in params:
        metric_rows.append((p[len(figures.PARAM_PREFIX) :], lambda e, p=p: (e["trial"] or {}).get(p)))
    rows = []
    for name, get in metric_rows:
        # mixed types per row (text and numbers): shown as text so every column renders
        rows.append({"": name, **{f"c{i}": _num(_clean(get(e))) for i, e in enumerate(entries)}})
    table = data_table(rows)
    table.columns = [{"id": "", "name": ""}] + [
        {"id": f"c{i}", "name": e["label"]} for i, e in enumerate(entries)
    ]
    return table


def compare_page(results: ResultsReader, items: Sequence[str]) -> html.Div:
    runs = store.list_runs(results.root)
    options = [{"label": f"{r.experiment}/{r.run_id}", "value": f"{r.experiment}/{r.run_id}"} for r in runs]
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
        body.append(_note("Pick two or more runs (or add exp/run/trial items to the URL) to compare them."))
    if entries:
        bars = [
            {
                "label": e["label"],
                "model": (e["trial"] or {}).get("test_accuracy"),
                **{n: _get(e["baselines"], n, "accuracy") for n in figures.COMPARED_BASELINES},
            }
            for e in entries
        ]
        body.append(
            _section(
                "Test accuracy vs baselines",
                lambda: _graph(figures.best_vs_baselines(bars), "compare-accuracy"),
            )
        )
        body.append(_section("Side by side", lambda: _compare_table(entries)))
    return _page("Compare", *body, page_id="compare")


# ------------------------------------------------------------------------------------------------ routing


def _segments(pathname: str | None) -> list[str]:
    # percent-decoded, so %2e%2e arrives as '..' and is refused by check_id like a literal one
    return [unquote(p) for p in (pathname or "/").split("/") if p]


_PAGES: dict[str, tuple[int, Callable[..., html.Div]]] = {
    "run": (2, search_page),
    "trial": (3, trial_page),
    "evaluation": (3, evaluation_page),
}


def render_page(results: ResultsReader, pathname: str | None, search: str | None = None) -> html.Div:
    """The page for a URL; a bad URL gives the not-found page, an unexpected failure an error page."""
    parts = _segments(pathname)
    try:
        if not parts:
            return overview_page(results)
        if parts == ["compare"]:
            return compare_page(results, parse_compare(search))
        arity, page = _PAGES.get(parts[0], (-1, None))
        if page is None or len(parts) - 1 != arity:
            raise NotFound(f"no page at {pathname!r}: see the list of runs")
        return page(results, *parts[1:])
    except NotFound as err:
        return not_found_page(str(err))
    except Exception as err:  # a store in an unexpected state must still leave the app usable
        log.exception("rendering %s failed", pathname)
        return _page("Cannot show this page", html.Div(str(err), className="problem"), page_id="error")


def _run_dirs(results: ResultsReader, parts: Sequence[str]) -> list[Path]:
    if len(parts) >= 3 and parts[0] in _PAGES:
        try:
            return [find_run(results, parts[1], parts[2]).path]
        except NotFound:
            return []
    root = results.root
    if not root.is_dir():
        return []
    return sorted(run for exp in root.iterdir() if exp.is_dir() for run in exp.iterdir() if run.is_dir())


def page_signature(results: ResultsReader, pathname: str | None, search: str | None = None) -> str:
    """Changes whenever a file the page reads changes (or a run appears), so a refresh redraws only then."""
    entries = []
    try:
        for run_dir in _run_dirs(results, _segments(pathname)):
            files = [p for p in run_dir.iterdir() if p.is_file()]
            evaluations = run_dir / store.EVALUATION_DIR
            if evaluations.is_dir():
                files += [f for d in evaluations.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file()]
            entries.append(str(run_dir))
            entries += [f"{f}:{_stat_key(f)}" for f in sorted(files) if not f.name.startswith(".")]
    except OSError as err:  # a folder removed while listed: the next refresh sees the settled state
        entries.append(f"unsettled: {err}")
    text = f"{pathname}?{search}\n" + "\n".join(entries)
    return hashlib.sha1(text.encode()).hexdigest()


def shell() -> html.Div:
    """The frame every page is drawn into: URL, refresh timer, navigation."""
    return html.Div(
        [
            dcc.Location(id=URL, refresh=False),
            dcc.Interval(id=REFRESH, interval=REFRESH_MS),
            dcc.Store(id=SIGNATURE),
            html.Nav(
                [
                    html.Strong("vixray"),
                    dcc.Link("runs", href="/"),
                    dcc.Link("compare", href="/compare"),
                ],
                className="nav",
            ),
            html.Main(id=PAGE),
        ]
    )
