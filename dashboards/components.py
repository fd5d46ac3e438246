"""The explorer's building blocks: tables, key-value lists, graphs, sections that fail alone, the page frame.

A section whose content cannot be built from what is on disk says why instead, while the rest of the page renders.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme, Trim

from dashboards import links

log = logging.getLogger(__name__)

NUMBER = Format(precision=4, scheme=Scheme.decimal_or_exponent, trim=Trim.yes)
METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "log_loss": "log-loss",
}


def clean(value: Any) -> Any:
    """A JSON- and DataTable-friendly cell value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)


def num(value: Any, digits: int = 4) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.{digits}g}"
    return "–" if value is None else str(value)


def md_link(text: str, href: str) -> str:
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
    rows = [{k: clean(v) for k, v in r.items()} for r in records]
    names = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    spec = []
    for name in names:
        col: dict[str, Any] = {"id": name, "name": name}
        values = [r.get(name) for r in rows if r.get(name) is not None]
        if name in markdown:
            col["presentation"] = "markdown"
        elif values and all(isinstance(v, int | float) for v in values):
            col.update(type="numeric", format=NUMBER)
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


def kv(pairs: Sequence[tuple[str, Any]]) -> html.Table:
    return html.Table(
        [html.Tr([html.Th(k), html.Td(v if not isinstance(v, float) else num(v))]) for k, v in pairs],
        className="kv",
    )


def graph(fig: go.Figure, graph_id: str) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=fig, config={"displaylogo": False})


def problems(found: Sequence[str]) -> html.Div | None:
    if not found:
        return None
    return html.Div(
        [html.Strong("malformed: "), html.Ul([html.Li(p) for p in found])],
        className="problem",
    )


def note(text: str, **kwargs: Any) -> html.P:
    return html.P(text, className="note", **kwargs)


def section(title: str, build: Callable[[], Any]) -> html.Section:
    """A titled section; if its content cannot be built from what is on disk, it says so instead."""
    try:
        body = build()
    except Exception as err:  # one bad file must not take the whole page down
        log.warning("section %r failed: %s", title, err)
        body = html.Div(f"cannot show this: {err}", className="problem")
    return html.Section([html.H3(title), body])


def page(title: str, *children: Any, page_id: str) -> html.Div:
    return html.Div([html.H2(title), *[c for c in children if c is not None]], id=page_id)


def status_badge(status: str) -> html.Span:
    return html.Span(status, className=f"status status-{status}")


def not_found_page(message: str) -> html.Div:
    return page(
        "Not found",
        html.P(message, id="not-found-message"),
        dcc.Link("back to all runs", href=links.OVERVIEW_PATH),
        page_id="not-found",
    )
