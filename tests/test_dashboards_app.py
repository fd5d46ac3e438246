"""The explorer as an app: Dash pages' router over real URLs, the refresh that redraws only on change, the compare
picker, the report route, and what the app never imports. Driven through Flask's test client, without a browser."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from runs import make_run

from dashboards import create_app, links
from vixray import store

REPO = Path(__file__).resolve().parents[1]
# Dash pages' own ids: its router writes the page into _pages_content and reads _pages_location
ROUTER = ".._pages_content.children..._pages_store.data.."

pytestmark = pytest.mark.filterwarnings(
    r"ignore:(?s).*dash_table.DataTable will be removed:DeprecationWarning"
)


@functools.cache
def _client(root: Path) -> Any:
    return create_app(root).server.test_client()


def _route(
    client: Any, path: str, search: str = "", *, tick: int | None = None, signature: str | None = None
) -> tuple[int, Any]:
    """What the router draws for a URL (the browser's first load, or a refresh tick): (status, page JSON)."""
    changed = f"{links.REFRESH}.n_intervals" if tick is not None else "_pages_location.pathname"
    body = {
        "output": ROUTER,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": search},
            {"id": links.REFRESH, "property": "n_intervals", "value": tick},
        ],
        "state": [{"id": links.SIGNATURE, "property": "data", "value": signature}],
        "changedPropIds": [changed],
    }
    response = client.post("/_dash-update-component", json=body)
    if response.status_code != 200:
        return response.status_code, None
    return 200, response.get_json()["response"]["_pages_content"]["children"]


def _find(node: Any, component_id: str) -> dict[str, Any] | None:
    """The props of the component with this id in a page's JSON, or None."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return props
        for value in node.values():
            if (found := _find(value, component_id)) is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            if (found := _find(value, component_id)) is not None:
                return found
    return None


# ------------------------------------------------------------------------------------------------ routing


def test_every_page_is_routed_by_its_path_template(results):
    client, run = _client(results.root), results.tiny.name
    trial = results.trials["trial_id"][0]
    pages = {
        "/": "overview",
        f"/run/tiny/{run}": "search",
        f"/trial/tiny/{run}/{trial}": "trial",
        f"/evaluation/tiny/{run}/{results.eval_id}": "evaluation",
        "/compare": "compare",
    }
    for path, page_id in pages.items():
        status, page = _route(client, path)
        assert status == 200 and _find(page, page_id) is not None, path
        assert _find(page, links.PAGE_SIGNATURE)["data"], path
    assert links.run_href("tiny", run) == f"/run/tiny/{run}"  # the links lead to these routes
    assert links.trial_href("tiny", run, trial) == f"/trial/tiny/{run}/{trial}"
    assert links.evaluation_href("tiny", run, results.eval_id) == f"/evaluation/tiny/{run}/{results.eval_id}"


def test_the_compare_page_reads_its_runs_from_the_query(results):
    tiny, other = f"tiny/{results.tiny.name}", f"other/{results.other.name}"
    status, page = _route(_client(results.root), "/compare", links.compare_search([tiny, other]))
    assert status == 200 and _find(page, links.COMPARE_PICKER)["value"] == [tiny, other]
    assert _find(page, "compare-accuracy") is not None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/run/tiny/20990101-000000-0000", "not found"),
        ("/run/nope/{run}", "not found"),
        ("/run/../{run}", "is not valid"),
        ("/run/%2e%2e/{run}", "is not valid"),
        ("/run/tiny/%2E%2E%2F%2E%2E", "is not valid"),
        ("/trial/tiny/{run}/..", "trial id '..' is not valid"),
        ("/trial/tiny/{run}/nope_00000", "is not in run"),
        ("/evaluation/tiny/{run}/20990101-000000-0000", "not found"),
        ("/evaluation/tiny/{run}/%2e%2e", "is not valid"),
        ("/run/tiny", "no page at"),
        ("/somewhere/else", "no page at"),
    ],
)
def test_unknown_or_invalid_ids_give_the_not_found_page(results, path, message):
    status, page = _route(_client(results.root), path.format(run=results.tiny.name))
    assert status == 200 and _find(page, "not-found") is not None
    assert message in _find(page, "not-found-message")["children"]


# ------------------------------------------------------------------------------------------------ the app


def test_create_app_rejects_a_file_for_the_results_folder(tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("")
    with pytest.raises(ValueError, match=r"results_dir = .* is a file, not a folder"):
        create_app(path)


def test_run_serves_the_app_on_the_host_and_port_asked(tmp_path, monkeypatch):
    import dash

    import dashboards.app

    calls = []
    monkeypatch.setattr(dash.Dash, "run", lambda self, **kwargs: calls.append((self, kwargs)))
    dashboards.app.run(tmp_path, host="0.0.0.0", port=8123)
    ((app, kwargs),) = calls
    assert kwargs == {"host": "0.0.0.0", "port": 8123, "debug": False}
    assert app.title == "vixray results"


def test_report_route_serves_report_html_only_from_inside_the_store(tmp_path):
    root = tmp_path / "results"
    run = store.Run(make_run(root))
    folder = run.evaluations()[0]
    # files a traversal would reach if ids were not checked
    outside = tmp_path / "outside" / store.EVALUATION_DIR / "e1"
    outside.mkdir(parents=True)
    (outside / "report.html").write_text("TOPSECRET")
    (tmp_path / "report.html").write_text("TOPSECRET")
    (run.path / store.EVALUATION_DIR / "linked").symlink_to(outside, target_is_directory=True)
    client = create_app(root).server.test_client()

    ok = client.get(f"/reports/tiny/{run.run_id}/{folder.name}/report.html")
    assert ok.status_code == 200 and b"Holdout report" in ok.data
    assert ok.mimetype == "text/html"
    for url in [
        "/reports/%2e%2e/outside/e1/report.html",
        "/reports/%2E%2E/outside/e1/report.html",
        f"/reports/tiny/{run.run_id}/linked/report.html",
        f"/reports/tiny/{run.run_id}/20990101-000000-0000/report.html",
        "/reports/tiny/nope/nope/report.html",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"TOPSECRET" not in response.data, url
    for url in [
        "/reports/../../report.html",
        "/%2e%2e/report.html",
        "/reports/%2e%2e/%2e%2e/report.html",
        f"/reports/tiny/{run.run_id}/..%2f..%2f..%2f/report.html",
        f"/reports/tiny/{run.run_id}/{folder.name}/predictions.parquet",
        f"/reports/tiny/{run.run_id}/{folder.name}/report.json",
    ]:
        response = client.get(url)  # anything else is the app's page, never a file of the store or beyond
        assert b"TOPSECRET" not in response.data and b"PAR1" not in response.data, url
        assert b'"verdict"' not in response.data, url


def test_refresh_redraws_only_when_the_store_changed(scratch):
    client = create_app(scratch.root).server.test_client()
    path = f"/run/tiny/{scratch.path.name}"
    status, first = _route(client, path)
    assert status == 200 and "Search tiny" in json.dumps(first)
    signature = _find(first, links.PAGE_SIGNATURE)["data"]
    unchanged, _ = _route(client, path, tick=1, signature=signature)
    assert unchanged == 204  # nothing on disk changed: the page on screen stays, with its zoom and sort
    trials = scratch.run.trials()
    store.write_parquet(scratch.path / store.TRIALS, trials.with_columns(pl.lit("running").alias("status")))
    status, changed = _route(client, path, tick=2, signature=signature)
    assert status == 200 and _find(changed, links.PAGE_SIGNATURE)["data"] != signature
    assert json.dumps(changed).count('"running"') >= trials.height
    other, _ = _route(client, "/compare", tick=3, signature=signature)
    assert other == 200  # a page about other runs has another signature


def test_the_page_signature_reaches_the_router_through_the_shell(scratch):
    client = create_app(scratch.root).server.test_client()
    dependencies = client.get("/_dash-dependencies").get_json()
    copy = next(d for d in dependencies if d["output"] == f"{links.SIGNATURE}.data")
    assert [i["id"] for i in copy["inputs"]] == [links.PAGE_SIGNATURE] and copy.get("clientside_function")
    router = next(d for d in dependencies if "_pages_content" in d["output"])
    assert f"{links.REFRESH}.n_intervals" in [f"{i['id']}.{i['property']}" for i in router["inputs"]]
    assert [s["id"] for s in router["state"]] == [links.SIGNATURE]


def test_the_compare_picker_writes_the_url(scratch):
    client = create_app(scratch.root).server.test_client()
    body = {
        "output": f"{links.URL}.search",
        "outputs": {"id": links.URL, "property": "search"},
        "inputs": [{"id": links.COMPARE_PICKER, "property": "value", "value": ["a/1", "b/2"]}],
        "state": [{"id": links.URL, "property": "search", "value": "?runs=a/1"}],
        "changedPropIds": [f"{links.COMPARE_PICKER}.value"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    assert response.get_json()["response"][links.URL]["search"] == "?runs=a/1,b/2"
    body["state"][0]["value"] = "?runs=a/1,b/2"
    assert client.post("/_dash-update-component", json=body).status_code == 204


def test_the_explorer_never_imports_ray_torch_or_optuna(tmp_path):
    # every page drawn through the real router of a fresh app, in a process of its own
    script = f"""
import sys
import json
import dashboards.app
from runs import make_run
from vixray import store
path = make_run({str(tmp_path)!r})
run = store.Run(path)
root, rid, ev = {str(tmp_path)!r}, path.name, run.evaluations()[0].name
client = dashboards.app.create_app(root).server.test_client()
pages = {{"/": "overview", f"/run/tiny/{{rid}}": "search", f"/trial/tiny/{{rid}}/00000_00000": "trial",
         f"/evaluation/tiny/{{rid}}/{{ev}}": "evaluation", "/compare": "compare"}}
for url, page_id in pages.items():
    body = {{
        "output": "{ROUTER}",
        "outputs": [{{"id": "_pages_content", "property": "children"}}, {{"id": "_pages_store", "property": "data"}}],
        "inputs": [{{"id": "_pages_location", "property": "pathname", "value": url}},
                   {{"id": "_pages_location", "property": "search", "value": f"?runs=tiny/{{rid}}"}},
                   {{"id": "refresh", "property": "n_intervals", "value": None}}],
        "state": [{{"id": "signature", "property": "data", "value": None}}],
        "changedPropIds": ["_pages_location.pathname"],
    }}
    response = client.post("/_dash-update-component", json=body)
    drawn = json.dumps(response.get_json())
    assert response.status_code == 200 and f'"id": "{{page_id}}"' in drawn, url
    assert "Cannot show this page" not in drawn, url
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "ray", "optuna", "vectorbt"))
assert not loaded, loaded
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    bare = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dashboards.app, sys; assert 'torch' not in sys.modules and 'ray' not in sys.modules",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode == 0, bare.stderr[-3000:]
