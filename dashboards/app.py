"""The vixray results explorer: a Dash app over a results folder (``vixray dashboard`` / ``make dashboard``).

It reads the store only, through :mod:`vixray.store`, and imports neither Ray, torch nor Optuna. The pages
(:mod:`dashboards.pages`, one module each) are Dash pages routed by path templates; besides them the app serves each
evaluation's self-contained ``report.html`` through one Flask route that accepts plain ids only and never a file
outside the results folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dash
import flask
from dash import Input, State, dcc, html

from dashboards import links, pages
from dashboards.callbacks import register_callbacks
from dashboards.reading import ResultsReader
from vixray import store

log = logging.getLogger(__name__)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 24px 40px; color: #222; }
.nav { display: flex; gap: 18px; align-items: baseline; padding: 12px 0; border-bottom: 1px solid #ddd; }
.nav a, a { color: #1f5fa8; text-decoration: none; }
h2 { margin: 18px 0 8px; } h3 { margin: 22px 0 6px; font-size: 1.05em; }
.note { color: #555; font-size: 0.92em; }
.problem { background: #fdecea; border: 1px solid #e0b4b4; color: #8a1f11; padding: 6px 12px; margin: 8px 0; }
.status { padding: 1px 8px; border-radius: 8px; background: #eee; font-size: 0.9em; }
.status-finished { background: #e3f4e1; } .status-running { background: #e1ecf7; }
.status-malformed, .status-failed, .status-errored { background: #fdecea; }
.verdict { font-size: 1.15em; border-left: 4px solid #1f77b4; margin: 12px 0; padding: 6px 14px; background: #f5f8fc; }
.kv th { text-align: left; padding: 2px 14px 2px 0; color: #555; font-weight: normal; vertical-align: top; }
.pill { margin-right: 8px; }
pre { background: #f7f7f7; padding: 10px; overflow-x: auto; font-size: 12px; }
"""

_INDEX = (
    """<!DOCTYPE html>
<html>
  <head>
    {%metas%}
    <title>{%title%}</title>
    {%favicon%}
    {%css%}
    <style>"""
    + _STYLE
    + """</style>
  </head>
  <body>
    {%app_entry%}
    <footer>{%config%}{%scripts%}{%renderer%}</footer>
  </body>
</html>
"""
)


def _report_file(root: Path, experiment: str, run_id: str, eval_id: str) -> Path | None:
    """The report.html of one evaluation, or None when an id is invalid or the file lies outside ``root``."""
    try:
        for value, what in ((experiment, "experiment name"), (run_id, "run id"), (eval_id, "evaluation id")):
            store.check_id(value, what=what)
    except ValueError:
        return None
    path = (root / experiment / run_id / store.EVALUATION_DIR / eval_id / store.REPORT_HTML).resolve()
    if not path.is_relative_to(root) or not path.is_file():  # a symlink may not lead out of the store
        return None
    return path


def _add_report_route(server: flask.Flask, root: Path) -> None:
    @server.route(links.REPORT_ROUTE)
    def report(experiment: str, run_id: str, eval_id: str) -> flask.Response:
        path = _report_file(root, experiment, run_id, eval_id)
        if path is None:
            flask.abort(404)
        response = flask.send_file(path, mimetype="text/html", max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def create_app(results_dir: Path) -> dash.Dash:
    """The explorer for the results folder ``results_dir`` (it may not exist yet: runs appear as they start)."""
    root = Path(results_dir).resolve()
    if root.exists() and not root.is_dir():
        raise ValueError(
            f"results_dir = {str(results_dir)!r} is a file, not a folder: pass the folder that holds "
            "<experiment>/<run-id>/ directories (default: results)"
        )
    server = flask.Flask(__name__)
    server.extensions[pages.READER] = ResultsReader(root)
    _add_report_route(server, root)
    app = dash.Dash(
        __name__,
        server=server,
        title="vixray results",
        use_pages=True,
        pages_folder="",  # the pages register themselves (dashboards.pages.register), nothing is imported by path
        # the router also runs on the refresh timer, with the shown page's signature (see dashboards.pages)
        routing_callback_inputs={
            "tick": Input(links.REFRESH, "n_intervals"),
            "signature": State(links.SIGNATURE, "data"),
        },
        suppress_callback_exceptions=True,  # page components come and go with the URL
        index_string=_INDEX,
    )
    pages.register(app)
    app.layout = shell()
    register_callbacks(app)
    return app


def shell() -> html.Div:
    """The frame every page is drawn into: the refresh timer, the signature store, navigation, the page."""
    return html.Div(
        [
            dcc.Location(id=links.URL, refresh=False),
            dcc.Interval(id=links.REFRESH, interval=links.REFRESH_MS),
            dcc.Store(id=links.SIGNATURE),
            html.Nav(
                [
                    html.Strong("vixray"),
                    dcc.Link("runs", href=links.OVERVIEW_PATH),
                    dcc.Link("compare", href=links.COMPARE_PATH),
                ],
                className="nav",
            ),
            html.Main(dash.page_container),
        ]
    )


def run(results_dir: Path, *, host: str = "127.0.0.1", port: int = 8050, debug: bool = False) -> None:
    """Serve the explorer until interrupted."""
    app = create_app(results_dir)
    log.info("results explorer for %s on http://%s:%d", Path(results_dir).resolve(), host, port)
    app.run(host=host, port=port, debug=debug)
