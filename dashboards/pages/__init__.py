"""The explorer's pages, registered with Dash pages by their path templates (:mod:`dashboards.links`).

Each page module has a ``PATH`` and a ``content(results, **path variables)`` that reads the store and lays out the
page. :func:`register` wraps every ``content`` in one layout function that finds the app's
:class:`~dashboards.reading.ResultsReader`, percent-decodes the path variables (so ``%2e%2e`` arrives as ``..`` and is
refused like a literal one), turns :class:`~dashboards.reading.NotFound` into the not-found page and an unexpected
failure into an error page, and stamps the page with the store's signature. Dash pages' router also runs on the
refresh timer (``routing_callback_inputs`` in :func:`dashboards.app.create_app`): a tick redraws the page only when
the signature changed, so a reader's zoom and table state survive an idle store.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import dash
import flask
from dash import dcc, html
from dash.exceptions import PreventUpdate

from dashboards import links
from dashboards.components import not_found_page, page
from dashboards.pages import compare, evaluation, overview, search, trial
from dashboards.reading import NotFound, ResultsReader, find_run, page_signature

log = logging.getLogger(__name__)

PAGES = (overview, search, trial, evaluation, compare)
READER = "vixray.results_reader"  # the key of each app's reader in its Flask app's extensions


def current_reader() -> ResultsReader:
    """The reader of the app serving this request (one per app, so each app keeps its own cache)."""
    return flask.current_app.extensions[READER]


def _triggered_by_timer() -> bool:
    try:
        return dash.ctx.triggered_id == links.REFRESH
    except dash.exceptions.MissingCallbackContextException:
        return False


def _draw(content: Callable[..., Any], results: ResultsReader, args: dict[str, Any]) -> Any:
    try:
        return content(results, **args)
    except NotFound as err:
        return not_found_page(str(err))
    except Exception as err:  # a store in an unexpected state must still leave the app usable
        log.exception("rendering %s %s failed", content.__module__, args)
        return page("Cannot show this page", html.Div(str(err), className="problem"), page_id="error")


def page_layout(content: Callable[..., Any]) -> Callable[..., Any]:
    """The Dash pages layout of one page's ``content``: keyword arguments are the path variables, the query
    parameters and the router's extra inputs (``tick``, ``signature``)."""
    accepted = [name for name in inspect.signature(content).parameters if name != "results"]

    def layout(tick: int | None = None, signature: str | None = None, **kwargs: Any) -> html.Div:
        results = current_reader()
        args = {k: unquote(v) if isinstance(v, str) else v for k, v in kwargs.items() if k in accepted}
        run = None
        if "experiment" in args and "run_id" in args:
            try:
                run = find_run(results, args["experiment"], args["run_id"])
            except NotFound:
                run = None  # the not-found page watches the whole store, so the run shows once it exists
        stamp = page_signature(results, run)
        if _triggered_by_timer() and stamp == signature:
            raise PreventUpdate
        return html.Div([dcc.Store(id=links.PAGE_SIGNATURE, data=stamp), _draw(content, results, args)])

    return layout


def _not_found(**_: Any) -> html.Div:
    pathname = None
    with contextlib.suppress(dash.exceptions.MissingCallbackContextException):
        grouping = dash.ctx.args_grouping  # the router's inputs by name, Dash pages' location among them
        values = grouping.values() if isinstance(grouping, dict) else grouping
        pathname = next(
            (g.get("value") for g in values if isinstance(g, dict) and g.get("property") == "pathname"), None
        )
    where = f" at {pathname!r}" if pathname else " at this address"
    return not_found_page(f"no page{where}: see the list of runs")


def register(app: dash.Dash) -> None:
    """Register every page (and the not-found page) for ``app``, which must use Dash pages."""
    for module in PAGES:
        templated = "<" in module.PATH
        dash.register_page(
            module.__name__,
            path=None if templated else module.PATH,
            path_template=module.PATH if templated else None,
            layout=page_layout(module.content),
            title=app.title,
        )
    dash.register_page(f"{__name__}.not_found_404", path="/404", layout=_not_found, title=app.title)
