"""The explorer's own callbacks (Dash pages routes the URL): the shown page's signature kept where the router reads
it, and the compare picker kept in step with the URL. Nothing here reads files."""

from __future__ import annotations

import dash
from dash import Input, Output, State
from dash.exceptions import PreventUpdate

from dashboards import links


def register_callbacks(app: dash.Dash) -> None:
    """Wire the signature copy and the compare picker to ``app``."""
    # each page carries the signature it was drawn at; the shell's store outlives pages, so the router (on a timer
    # tick) compares with what is on screen
    app.clientside_callback(
        "function(signature) { return signature; }",
        Output(links.SIGNATURE, "data"),
        Input(links.PAGE_SIGNATURE, "data"),
    )

    @app.callback(
        Output(links.URL, "search"),
        Input(links.COMPARE_PICKER, "value"),
        State(links.URL, "search"),
        prevent_initial_call=True,
    )
    def pick(items: list[str] | None, search: str | None) -> str:
        wanted = links.compare_search(items or [])
        if wanted == (search or ""):
            raise PreventUpdate
        return wanted
