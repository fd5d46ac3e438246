"""The explorer's callbacks: read the URL (and the refresh timer), ask the layout for the page, keep the URL in step
with the compare picker. Nothing here reads files itself."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from dashboards import layout


def register_callbacks(app: dash.Dash, results: layout.ResultsReader) -> None:
    """Wire the page router and the compare picker to ``app`` for the results folder ``results`` reads."""

    @app.callback(
        Output(layout.PAGE, "children"),
        Output(layout.SIGNATURE, "data"),
        Input(layout.URL, "pathname"),
        Input(layout.URL, "search"),
        Input(layout.REFRESH, "n_intervals"),
        State(layout.SIGNATURE, "data"),
    )
    def render(pathname: str | None, search: str | None, _tick: int | None, previous: str | None) -> Any:
        signature = layout.page_signature(results, pathname, search)
        # a timer tick redraws only when the store changed, so a reader's zoom and table state survive
        if ctx.triggered_id == layout.REFRESH and signature == previous:
            raise PreventUpdate
        return layout.render_page(results, pathname, search), signature

    @app.callback(
        Output(layout.URL, "search"),
        Input(layout.COMPARE_PICKER, "value"),
        State(layout.URL, "search"),
        prevent_initial_call=True,
    )
    def pick(items: list[str] | None, search: str | None) -> str:
        wanted = layout.compare_search(items or [])
        if wanted == (search or ""):
            raise PreventUpdate
        return wanted
