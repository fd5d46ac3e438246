"""The explorer's pages, report route and callbacks on fake runs from tests/runs.py, without a browser."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from dash import dash_table, dcc
from plotly.io.json import to_json_plotly
from runs import make_run

from dashboards import create_app, layout
from vixray import store

REPO = Path(__file__).resolve().parents[1]

# the trials table is dash_table.DataTable on purpose (sortable, filterable, no extra package)
pytestmark = pytest.mark.filterwarnings(
    r"ignore:(?s).*dash_table.DataTable will be removed:DeprecationWarning"
)


# ------------------------------------------------------------------------------------------------ helpers


def _walk(component: Any):
    yield component
    children = getattr(component, "children", None)
    if children is None:
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from _walk(child)


def _by_id(page: Any, component_id: str) -> Any:
    found = [c for c in _walk(page) if getattr(c, "id", None) == component_id]
    assert len(found) == 1, f"expected one component with id {component_id!r}, found {len(found)}"
    return found[0]


def _text(page: Any) -> str:
    parts = []
    for c in _walk(page):
        children = getattr(c, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            if isinstance(child, str | int | float):
                parts.append(str(child))
        if isinstance(c, dash_table.DataTable):
            parts += [json.dumps(c.data, default=str), json.dumps([col["name"] for col in c.columns])]
    return "\n".join(parts)


def _tables(page: Any) -> list[dash_table.DataTable]:
    return [c for c in _walk(page) if isinstance(c, dash_table.DataTable)]


def _trace(fig: Any, name: str) -> Any:
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"no single trace {name!r} in {[t.name for t in fig.data]}"
    return found[0]


@functools.cache
def _reader(root: Path) -> layout.ResultsReader:
    return layout.ResultsReader(root)  # one per folder, as one per app: renders share its cache


def _render(root: Path, path: str, search: str = "") -> Any:
    page = layout.render_page(_reader(root), path, search)
    to_json_plotly(page)  # what Dash sends must serialise
    return page


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("results")
    tiny = make_run(root)  # 4 finished, 1 pruned, 1 errored, one evaluation
    other = make_run(root, experiment="other", n_trials=4, with_evaluation=False, seed=1)
    run = store.Run(tiny)
    return SimpleNamespace(
        root=root,
        tiny=tiny,
        other=other,
        run=run,
        eval_id=run.evaluations()[0].name,
        trials=run.trials(),
    )


@pytest.fixture
def scratch(tmp_path: Path) -> SimpleNamespace:
    """A results folder of its own, for tests that damage or change a run."""
    root = tmp_path / "results"
    path = make_run(root)
    return SimpleNamespace(root=root, path=path, run=store.Run(path))


def _best_finished(trials: pl.DataFrame) -> dict[str, Any]:
    return trials.filter(pl.col("status") == "finished").sort("val_loss").row(0, named=True)


# ------------------------------------------------------------------------------------------------ overview


def test_overview_lists_every_run_with_counts_best_accuracy_and_baselines(results):
    page = _render(results.root, "/")
    assert page.id == "overview"
    table = _by_id(page, "runs-table")
    rows = {r["experiment"]: r for r in table.data}
    assert set(rows) == {"tiny", "other"}
    tiny = rows["tiny"]
    assert (tiny["status"], tiny["finished"], tiny["pruned"], tiny["errored"], tiny["running"]) == (
        "finished",
        4,
        1,
        1,
        0,
    )
    best = _best_finished(results.trials)
    pooled = results.run.baselines().filter(pl.col("fold") == -1)
    majority = pooled.filter(pl.col("baseline") == "majority")["accuracy"][0]
    assert tiny["best test accuracy"] == pytest.approx(best["test_accuracy"])
    assert tiny["best val_loss"] == pytest.approx(results.trials["val_loss"].min())
    assert tiny["majority"] == pytest.approx(majority)
    assert tiny["run"] == f"[{results.tiny.name}](/run/tiny/{results.tiny.name})"
    assert tiny["evaluated"].startswith("[yes (1)](/evaluation/tiny/")
    assert rows["other"]["evaluated"] == "no"
    fig = _by_id(page, "overview-accuracy").figure
    model = _trace(fig, "best trial")
    at = list(model.x).index(f"tiny/{results.tiny.name}")
    assert model.y[at] == pytest.approx(best["test_accuracy"])
    assert _trace(fig, "majority").y[at] == pytest.approx(majority)
    assert any(s.y0 == pytest.approx(1 / 3) for s in fig.layout.shapes)


def test_overview_of_an_empty_or_absent_store_says_how_to_start(tmp_path):
    page = _render(tmp_path / "not-yet", "/")
    assert "No runs in" in _text(page) and "make tune" in _text(page)


# ------------------------------------------------------------------------------------------------ search page


def test_search_page_shows_trials_and_every_figure(results):
    page = _render(results.root, f"/run/tiny/{results.tiny.name}")
    assert page.id == "search"
    table = _by_id(page, layout.TRIALS_TABLE)
    assert len(table.data) == results.trials.height
    assert (table.sort_action, table.filter_action) == ("native", "native")
    first = results.trials["trial_id"][0]
    assert table.data[0]["trial_id"] == f"[{first}](/trial/tiny/{results.tiny.name}/{first})"
    assert {c["id"]: c.get("type") for c in table.columns}["test_accuracy"] == "numeric"

    history = _by_id(page, "history").figure
    best = list(_trace(history, "running best").y)
    assert best == sorted(best, reverse=True) and best[-1] == pytest.approx(results.trials["val_loss"].min())

    (parcoords,) = _by_id(page, "parallel").figure.data
    params = [c for c in results.trials.columns if c.startswith("param.")]
    assert [d.label for d in parcoords.dimensions] == [p[len("param.") :] for p in params] + ["val_loss"]

    importance = _by_id(page, "importance").figure
    assert "Optuna fANOVA" in importance.layout.title.text
    assert sum(importance.data[0].x) == pytest.approx(1.0)

    stops = _trace(_by_id(page, "curves").figure, "stopped by ASHA")
    pruned = results.trials.filter(pl.col("status") == "pruned")
    assert list(stops.text) == pruned["trial_id"].to_list()
    assert list(stops.x) == pruned["epochs"].to_list()
    assert results.eval_id in _text(page)


def test_importance_falls_back_to_rank_correlation_without_stored_importances(scratch):
    path = scratch.path / store.IMPORTANCE
    path.unlink()
    page = _render(scratch.root, f"/run/tiny/{scratch.path.name}")
    assert "rank correlation with val_loss" in _by_id(page, "importance").figure.layout.title.text
    path.write_text('{"method": "x", "importances": [1, 2]}')  # a damaged file is shown as a fallback too
    page = _render(scratch.root, f"/run/tiny/{scratch.path.name}")
    assert "rank correlation" in _by_id(page, "importance").figure.layout.title.text


def test_a_running_run_shows_new_trials_on_the_next_read(scratch):
    scratch.run.update_manifest(status="running")
    path = f"/run/tiny/{scratch.path.name}"
    before_sig = layout.page_signature(_reader(scratch.root), path)
    before = len(_by_id(_render(scratch.root, path), layout.TRIALS_TABLE).data)
    trials = scratch.run.trials()
    extra = trials.head(1).with_columns(
        pl.lit("fffff_00099").alias("trial_id"),
        pl.lit("running").alias("status"),
        pl.lit(None, dtype=pl.Float64).alias("test_accuracy"),
    )
    store.write_parquet(scratch.path / store.TRIALS, pl.concat([trials, extra]))
    assert layout.page_signature(_reader(scratch.root), path) != before_sig
    page = _render(scratch.root, path)
    assert len(_by_id(page, layout.TRIALS_TABLE).data) == before + 1
    overview = {r["experiment"]: r for r in _by_id(_render(scratch.root, "/"), "runs-table").data}
    assert (overview["tiny"]["status"], overview["tiny"]["running"]) == ("running", 1)


def test_the_reader_rereads_a_file_only_when_it_changes(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("one")
    reads = []

    def read() -> str:
        reads.append(1)
        return path.read_text()

    reader = layout.ResultsReader(tmp_path)
    assert [reader.cached(path, read) for _ in range(3)] == ["one"] * 3 and len(reads) == 1
    path.write_text("three")  # a new size (and time): read again
    assert reader.cached(path, read) == "three" and len(reads) == 2
    assert (
        layout.ResultsReader(tmp_path).cached(path, read) == "three" and len(reads) == 3
    )  # apps share nothing


def test_the_reader_never_keeps_an_error(tmp_path):
    path = tmp_path / "half-written.json"
    path.write_text("{")
    outcomes = iter([ValueError("half-written"), "whole"])

    def read() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    reader = layout.ResultsReader(tmp_path)
    with pytest.raises(ValueError, match="half-written"):
        reader.cached(path, read)
    assert reader.cached(path, read) == "whole"  # the same file, unchanged on disk, is read again


def test_the_signature_ignores_other_runs_on_a_run_page(results, scratch):
    path = f"/run/tiny/{scratch.path.name}"
    before = layout.page_signature(_reader(scratch.root), path)
    make_run(scratch.root, experiment="later", with_evaluation=False)
    assert layout.page_signature(_reader(scratch.root), path) == before
    assert layout.page_signature(_reader(scratch.root), "/") != layout.page_signature(
        _reader(results.root), "/"
    )


# ------------------------------------------------------------------------------------------------ trial page


def test_trial_page_of_a_finished_trial(results):
    best = _best_finished(results.trials)
    trial_id = best["trial_id"]
    page = _render(results.root, f"/trial/tiny/{results.tiny.name}/{trial_id}")
    assert page.id == "trial"
    fig = _by_id(page, "fold-accuracy").figure
    folds = results.run.folds().filter(pl.col("trial_id") == trial_id).sort("fold")
    per_fold = (
        results.run.baselines()
        .filter((pl.col("baseline") == "persistence") & (pl.col("fold") >= 0))
        .sort("fold")
    )
    assert list(_trace(fig, "trial").y) == pytest.approx(folds["accuracy"].to_list())
    assert list(_trace(fig, "persistence").y) == pytest.approx(per_fold["accuracy"].to_list())
    assert any(s.y0 == pytest.approx(1 / 3) for s in fig.layout.shapes)
    assert "not stored per trial" in _by_id(page, "no-confusion-note").children
    raw = json.loads(_by_id(page, "raw-json").children)
    assert raw["trial"]["trial_id"] == trial_id and len(raw["folds"]) == folds.height
    config = {r["parameter"]: r["value"] for r in _tables(page)[-1].data}
    assert config["train.lr"] == pytest.approx(best["param.train.lr"])
    curves = _by_id(page, "fold-curves").figure
    assert len(curves.data) == 2 * folds.height


def test_trial_page_of_a_pruned_trial_says_where_asha_stopped_it(results):
    pruned = results.trials.filter(pl.col("status") == "pruned").row(0, named=True)
    page = _render(results.root, f"/trial/tiny/{results.tiny.name}/{pruned['trial_id']}")
    assert f"ASHA stopped it after epoch {pruned['epochs']}" in _text(page)


def test_trial_page_draws_the_confusion_matrix_when_folds_store_one(scratch):
    folds = scratch.run.folds()
    trial_id = folds["trial_id"][0]
    per_fold = [
        [[2, 1, 0], [0, 3, 1], [1, 0, 4]]
    ] * folds.height  # every fold the same, so the sum is n_folds x
    store.write_parquet(scratch.path / store.FOLDS, folds.with_columns(pl.Series("confusion", per_fold)))
    page = _render(scratch.root, f"/trial/tiny/{scratch.path.name}/{trial_id}")
    n = folds.filter(pl.col("trial_id") == trial_id).height
    z = [list(row) for row in _by_id(page, "trial-confusion").figure.data[0].z]
    assert z == [[2 * n, n, 0], [0, 3 * n, n], [n, 0, 4 * n]]
    assert "not stored per trial" not in _text(page)


# ------------------------------------------------------------------------------------------------ evaluation page


def test_evaluation_page_shows_the_holdout_report(results):
    folder = results.run.evaluations()[0]
    report = json.loads((folder / "report.json").read_text())
    page = _render(results.root, f"/evaluation/tiny/{results.tiny.name}/{results.eval_id}")
    assert page.id == "evaluation"
    assert _by_id(page, "verdict").children == report["verdict"]
    assert (
        _by_id(page, "report-link").href == f"/reports/tiny/{results.tiny.name}/{results.eval_id}/report.html"
    )
    assert "no evidence" in _by_id(page, "spa-verdict").children
    assert "persistence" in _by_id(page, "spa-verdict").children
    blocks = _by_id(page, "block-accuracy").figure
    assert list(_trace(blocks, "model").y) == [b["model"]["accuracy"] for b in report["blocks"]]
    p_values = next(t for t in _tables(page) if t.data and "p-value" in t.data[0])
    assert {r["test"] for r in p_values.data} == {"binomial", "McNemar", "Pesaran-Timmermann"}
    assert len(p_values.data) == 2 + 2 + 2
    predictions = pl.read_parquet(folder / "predictions.parquet")
    timeline = _by_id(page, "timeline").figure
    n_correct = int((predictions["y_true"] == predictions["pred"]).sum())
    assert len(_trace(timeline, "correct").x) == n_correct
    assert len(_trace(timeline, "wrong").x) == predictions.height - n_correct
    rolling = _by_id(page, "rolling-accuracy").figure
    assert {t.name for t in rolling.data} == {"model", "persistence"}
    assert _by_id(page, "confusion").figure.data[0].z is not None


def test_spa_sentence_by_hand():
    spa = {"benchmark": "logistic", "n_models": 5, "loss": "zero_one", "p_values": {"consistent": 0.012}}
    assert layout.spa_text(spa) == (
        "SPA test on zero_one loss against logistic (5 model(s)): consistent p = 0.012, "
        "evidence at the 5% level that a model beats logistic."
    )
    spa = {**spa, "p_values": {"consistent": 0.66}, "log_loss": {"p_values": {"consistent": 0.067}}}
    assert "no evidence at the 5% level" in layout.spa_text(spa)
    assert layout.spa_text(spa).endswith("On log-loss: p = 0.067.")
    assert layout.spa_text({}) == "No SPA test in this report."


def test_a_half_written_evaluation_is_shown_as_such(scratch):
    folder = scratch.run.evaluations()[0]
    path = f"/evaluation/tiny/{scratch.path.name}/{folder.name}"
    (folder / "predictions.parquet").unlink()
    page = _render(scratch.root, path)
    assert _by_id(page, "verdict").children  # the report itself still shows
    assert "predictions.parquet: missing" in _text(page)
    (folder / "report.json").write_text("{ half a report")
    page = _render(scratch.root, path)
    assert "not readable JSON" in _text(page)


# ------------------------------------------------------------------------------------------------ compare


def test_compare_page_puts_runs_and_trials_side_by_side(results):
    tiny, other = f"tiny/{results.tiny.name}", f"other/{results.other.name}"
    trial = results.trials["trial_id"][1]
    search = layout.compare_search([tiny, other, f"{tiny}/{trial}", "tiny/../etc"])
    assert layout.parse_compare(search) == [tiny, other, f"{tiny}/{trial}", "tiny/../etc"]
    page = _render(results.root, "/compare", search)
    assert page.id == "compare"
    fig = _by_id(page, "compare-accuracy").figure
    assert list(_trace(fig, "best trial").x) == [tiny, other, f"{tiny}/{trial}"]
    assert _trace(fig, "best trial").y[0] == pytest.approx(_best_finished(results.trials)["test_accuracy"])
    assert _trace(fig, "best trial").y[2] == pytest.approx(results.trials["test_accuracy"][1])
    side = _tables(page)[-1]
    assert [c["name"] for c in side.columns] == ["", tiny, other, f"{tiny}/{trial}"]
    assert "train.lr" in {r[""] for r in side.data}
    assert "run id '..' is not valid" in _text(page)
    picker = _by_id(page, layout.COMPARE_PICKER)
    assert isinstance(picker, dcc.Dropdown) and picker.value[:2] == [tiny, other]


def test_compare_page_with_fewer_than_two_runs_asks_for_more(results):
    page = _render(results.root, "/compare", "")
    assert "Pick two or more runs" in _text(page)


# ------------------------------------------------------------------------------------------------ not found, malformed


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
    page = _render(results.root, path.format(run=results.tiny.name))
    assert page.id == "not-found"
    assert message in _by_id(page, "not-found-message").children


def test_a_malformed_manifest_is_listed_and_does_not_break_other_pages(scratch):
    bad = scratch.root / "tiny" / "20000101-000000-dead"
    bad.mkdir()
    (bad / store.MANIFEST).write_text("{ not json")
    table = _by_id(_render(scratch.root, "/"), "runs-table")
    assert table.columns[-1]["id"] == "problem"
    rows = {r["run"]: r for r in table.data}
    bad_row = next(r for k, r in rows.items() if bad.name in k)
    assert bad_row["status"] == "malformed" and "not valid JSON" in bad_row["problem"]
    good_row = next(r for k, r in rows.items() if scratch.path.name in k)
    assert good_row["status"] == "finished"
    page = _render(scratch.root, f"/run/tiny/{bad.name}")
    assert page.id == "search" and "not valid JSON" in _text(page)
    assert _render(scratch.root, f"/run/tiny/{scratch.path.name}").id == "search"


def test_a_run_that_fails_unexpectedly_does_not_hide_the_others(scratch, monkeypatch):
    other = make_run(scratch.root, experiment="other", with_evaluation=False, seed=1)
    real = layout._ranked

    def flaky(data):
        if data.run.path == scratch.path:
            raise RuntimeError("something nobody foresaw")
        return real(data)

    monkeypatch.setattr(layout, "_ranked", flaky)
    rows = {r["experiment"]: r for r in _by_id(_render(scratch.root, "/"), "runs-table").data}
    assert rows["tiny"]["status"] == "malformed" and "nobody foresaw" in rows["tiny"]["problem"]
    assert rows["other"]["status"] == "finished" and other.name in rows["other"]["run"]


def test_an_unreadable_trials_table_marks_the_run_malformed(scratch):
    (scratch.path / store.TRIALS).write_bytes(b"PAR1 truncated")
    overview = _by_id(_render(scratch.root, "/"), "runs-table").data
    assert overview[0]["status"] == "malformed" and "unreadable Parquet" in overview[0]["problem"]
    page = _render(scratch.root, f"/run/tiny/{scratch.path.name}")
    text = _text(page)
    assert "unreadable Parquet" in text and "No trials yet" in text
    assert "majority" in text  # the baselines still show
    trial = _render(scratch.root, f"/trial/tiny/{scratch.path.name}/00000_00000")
    assert "unreadable Parquet" in _text(trial)


def test_a_finished_run_without_its_tables_is_malformed(scratch):
    (scratch.path / store.TRIALS).unlink()
    (scratch.path / store.BASELINES).unlink()
    row = _by_id(_render(scratch.root, "/"), "runs-table").data[0]
    assert row["status"] == "malformed"
    assert "trials.parquet: missing" in row["problem"] and "baselines.parquet: missing" in row["problem"]


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


def _post_render(client: Any, path: str, *, tick: int | None, previous: str | None, changed: str) -> Any:
    body = {
        "output": f"..{layout.PAGE}.children...{layout.SIGNATURE}.data..",
        "outputs": [
            {"id": layout.PAGE, "property": "children"},
            {"id": layout.SIGNATURE, "property": "data"},
        ],
        "inputs": [
            {"id": layout.URL, "property": "pathname", "value": path},
            {"id": layout.URL, "property": "search", "value": ""},
            {"id": layout.REFRESH, "property": "n_intervals", "value": tick},
        ],
        "state": [{"id": layout.SIGNATURE, "property": "data", "value": previous}],
        "changedPropIds": [changed],
    }
    return client.post("/_dash-update-component", json=body)


def test_refresh_redraws_only_when_the_store_changed(scratch):
    client = create_app(scratch.root).server.test_client()
    path = f"/run/tiny/{scratch.path.name}"
    first = _post_render(client, path, tick=None, previous=None, changed=f"{layout.URL}.pathname")
    assert first.status_code == 200
    signature = first.get_json()["response"][layout.SIGNATURE]["data"]
    assert "Search tiny" in json.dumps(first.get_json())
    unchanged = _post_render(
        client, path, tick=1, previous=signature, changed=f"{layout.REFRESH}.n_intervals"
    )
    assert unchanged.status_code == 204
    trials = scratch.run.trials()
    store.write_parquet(scratch.path / store.TRIALS, trials.with_columns(pl.lit("running").alias("status")))
    changed = _post_render(client, path, tick=2, previous=signature, changed=f"{layout.REFRESH}.n_intervals")
    assert changed.status_code == 200
    assert changed.get_json()["response"][layout.SIGNATURE]["data"] != signature
    assert json.dumps(changed.get_json()).count('"running"') >= trials.height


def test_the_compare_picker_writes_the_url(scratch):
    client = create_app(scratch.root).server.test_client()
    body = {
        "output": f"{layout.URL}.search",
        "outputs": {"id": layout.URL, "property": "search"},
        "inputs": [{"id": layout.COMPARE_PICKER, "property": "value", "value": ["a/1", "b/2"]}],
        "state": [{"id": layout.URL, "property": "search", "value": "?runs=a/1"}],
        "changedPropIds": [f"{layout.COMPARE_PICKER}.value"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    assert response.get_json()["response"][layout.URL]["search"] == "?runs=a/1,b/2"
    body["state"][0]["value"] = "?runs=a/1,b/2"
    assert client.post("/_dash-update-component", json=body).status_code == 204


def test_the_explorer_never_imports_ray_torch_or_optuna(tmp_path):
    script = f"""
import sys
import dashboards.app
from dashboards import layout
from runs import make_run
from vixray import store
path = make_run({str(tmp_path)!r})
run = store.Run(path)
root, rid, ev = {str(tmp_path)!r}, path.name, run.evaluations()[0].name
for url in ["/", f"/run/tiny/{{rid}}", f"/trial/tiny/{{rid}}/00000_00000", f"/evaluation/tiny/{{rid}}/{{ev}}", "/compare"]:
    assert layout.render_page(layout.ResultsReader(root), url, f"?runs=tiny/{{rid}}").id != "error", url
dashboards.app.create_app(root)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "ray", "optuna"))
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
