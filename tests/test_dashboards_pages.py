"""The explorer's pages on fake runs from tests/runs.py, each called as Dash pages calls it, without a browser."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from dash import dash_table, dcc
from plotly.io.json import to_json_plotly
from runs import make_run

from dashboards import create_app, links, reading
from dashboards.pages import compare, evaluation, overview, page_layout, search, trial
from vixray import store

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
def _app(root: Path) -> Any:
    return create_app(root)  # one per folder, as in use: its reader's cache is shared by the renders


def _page(root: Path, module: ModuleType, **kwargs: Any) -> Any:
    """The page as Dash pages draws it for these path variables (or query values), under its signature."""
    with _app(root).server.app_context():
        drawn = page_layout(module.content)(**kwargs)
    to_json_plotly(drawn)  # what Dash sends must serialise
    stamp, body = drawn.children
    assert stamp.id == links.PAGE_SIGNATURE and stamp.data
    return body


def _best_finished(trials: pl.DataFrame) -> dict[str, Any]:
    return trials.filter(pl.col("status") == "finished").sort("val_loss").row(0, named=True)


# ------------------------------------------------------------------------------------------------ overview


def test_overview_lists_every_run_with_counts_best_accuracy_and_baselines(results):
    page = _page(results.root, overview)
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
    page = _page(tmp_path / "not-yet", overview)
    assert "No runs in" in _text(page) and "make tune" in _text(page)


# ------------------------------------------------------------------------------------------------ search page


def test_search_page_shows_trials_and_every_figure(results):
    page = _page(results.root, search, experiment="tiny", run_id=results.tiny.name)
    assert page.id == "search"
    table = _by_id(page, links.TRIALS_TABLE)
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

    explained = results.tiny.joinpath(store.BLOCK_IMPORTANCE)
    stored = json.loads(explained.read_text())
    blocks = _by_id(page, "block-importance").figure
    model = [t for t in blocks.data if t.name == "best trial"]
    assert len(model) == 2 and list(model[0].y) == ["seed", "vix", "realised"]
    assert list(model[0].x) == [
        stored["model"]["blocks"][b]["accuracy_drop"] for b in ("seed", "vix", "realised")
    ]
    assert list(model[1].x) == [
        stored["model"]["blocks"][b]["log_loss_rise"] for b in ("seed", "vix", "realised")
    ]
    assert [list(t.y) for t in blocks.data if t.name == "boosting"] == [["seed", "calendar"]] * 2

    stops = _trace(_by_id(page, "curves").figure, "stopped by ASHA")
    pruned = results.trials.filter(pl.col("status") == "pruned")
    assert list(stops.text) == pruned["trial_id"].to_list()
    assert list(stops.x) == pruned["epochs"].to_list()
    assert results.eval_id in _text(page)


def test_importance_falls_back_to_rank_correlation_without_stored_importances(scratch):
    path = scratch.path / store.IMPORTANCE
    path.unlink()
    page = _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name)
    assert "rank correlation with val_loss" in _by_id(page, "importance").figure.layout.title.text
    path.write_text('{"method": "x", "importances": [1, 2]}')  # a damaged file is shown as a fallback too
    page = _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name)
    assert "rank correlation" in _by_id(page, "importance").figure.layout.title.text


def test_without_block_importance_the_run_page_says_when_it_comes(scratch):
    (scratch.path / store.BLOCK_IMPORTANCE).unlink()
    page = _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name)
    assert (
        "the search writes it when it ends"
        in _by_id(page, "block-importance").figure.layout.annotations[0].text
    )


def test_a_running_run_shows_new_trials_on_the_next_read(scratch):
    scratch.run.update_manifest(status="running")
    before_sig = reading.page_signature(reading.ResultsReader(scratch.root), scratch.run)
    before = len(
        _by_id(
            _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name), links.TRIALS_TABLE
        ).data
    )
    trials = scratch.run.trials()
    extra = trials.head(1).with_columns(
        pl.lit("fffff_00099").alias("trial_id"),
        pl.lit("running").alias("status"),
        pl.lit(None, dtype=pl.Float64).alias("test_accuracy"),
    )
    store.write_parquet(scratch.path / store.TRIALS, pl.concat([trials, extra]))
    assert reading.page_signature(reading.ResultsReader(scratch.root), scratch.run) != before_sig
    page = _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name)
    assert len(_by_id(page, links.TRIALS_TABLE).data) == before + 1
    rows = {r["experiment"]: r for r in _by_id(_page(scratch.root, overview), "runs-table").data}
    assert (rows["tiny"]["status"], rows["tiny"]["running"]) == ("running", 1)


# ------------------------------------------------------------------------------------------------ trial page


def test_trial_page_of_a_finished_trial(results):
    best = _best_finished(results.trials)
    trial_id = best["trial_id"]
    page = _page(results.root, trial, experiment="tiny", run_id=results.tiny.name, trial_id=trial_id)
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
    page = _page(
        results.root, trial, experiment="tiny", run_id=results.tiny.name, trial_id=pruned["trial_id"]
    )
    assert f"ASHA stopped it after epoch {pruned['epochs']}" in _text(page)


def test_trial_page_draws_the_confusion_matrix_when_folds_store_one(scratch):
    folds = scratch.run.folds()
    trial_id = folds["trial_id"][0]
    per_fold = [
        [[2, 1, 0], [0, 3, 1], [1, 0, 4]]
    ] * folds.height  # every fold the same, so the sum is n_folds x
    store.write_parquet(scratch.path / store.FOLDS, folds.with_columns(pl.Series("confusion", per_fold)))
    page = _page(scratch.root, trial, experiment="tiny", run_id=scratch.path.name, trial_id=trial_id)
    n = folds.filter(pl.col("trial_id") == trial_id).height
    z = [list(row) for row in _by_id(page, "trial-confusion").figure.data[0].z]
    assert z == [[2 * n, n, 0], [0, 3 * n, n], [n, 0, 4 * n]]
    assert "not stored per trial" not in _text(page)


# ------------------------------------------------------------------------------------------------ evaluation page


def test_evaluation_page_shows_the_holdout_report(results):
    folder = results.run.evaluations()[0]
    report = json.loads((folder / "report.json").read_text())
    page = _page(
        results.root, evaluation, experiment="tiny", run_id=results.tiny.name, eval_id=results.eval_id
    )
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
    confusion = _by_id(page, "confusion").figure.data[0].z
    assert [list(row) for row in confusion] == report["pooled"]["model"]["confusion"]
    # the backtest: what it trades, the figures of the model, the strongest baseline and buy-and-hold first
    assert "hold SPY, step to cash" in _by_id(page, "backtest-rule").children
    table = _by_id(page, "backtest-table").data
    assert [r["forecaster"] for r in table[:3]] == [
        "model",
        "persistence (strongest baseline)",
        "buy_and_hold",
    ]
    assert table[0]["Sharpe"] == report["backtest"]["forecasters"]["model"]["sharpe"]
    curves = pl.read_parquet(folder / store.BACKTEST_CURVES)
    equity = _by_id(page, "equity").figure
    assert [t.name for t in equity.data] == ["model", "persistence", "buy and hold"]
    model = curves.filter(pl.col("forecaster") == "model")["value"].to_list()
    assert list(_trace(equity, "model").y) == pytest.approx(model)
    assert _by_id(page, "drawdown").figure.layout.yaxis.tickformat == ".0%"


def test_spa_sentence_by_hand():
    spa = {"benchmark": "logistic", "n_models": 5, "loss": "zero_one", "p_values": {"consistent": 0.012}}
    assert evaluation.spa_text(spa) == (
        "SPA test on zero_one loss against logistic (5 model(s)): consistent p = 0.012, "
        "evidence at the 5% level that a model beats logistic."
    )
    spa = {**spa, "p_values": {"consistent": 0.66}, "log_loss": {"p_values": {"consistent": 0.067}}}
    assert "no evidence at the 5% level" in evaluation.spa_text(spa)
    assert evaluation.spa_text(spa).endswith("On log-loss: p = 0.067.")
    assert evaluation.spa_text({}) == "No SPA test in this report."


def test_a_half_written_evaluation_is_shown_as_such(scratch):
    folder = scratch.run.evaluations()[0]
    where = {"experiment": "tiny", "run_id": scratch.path.name, "eval_id": folder.name}
    (folder / "predictions.parquet").unlink()
    page = _page(scratch.root, evaluation, **where)
    assert _by_id(page, "verdict").children  # the report itself still shows
    assert "predictions.parquet: missing" in _text(page)
    (folder / store.BACKTEST_CURVES).unlink()
    assert "backtest.parquet is unavailable" in _text(_page(scratch.root, evaluation, **where))
    report = json.loads((folder / "report.json").read_text())
    del report["backtest"]  # an evaluation written before the backtest
    (folder / "report.json").write_text(json.dumps(report))
    assert "This evaluation has no backtest" in _text(_page(scratch.root, evaluation, **where))
    (folder / "report.json").write_text("{ half a report")
    page = _page(scratch.root, evaluation, **where)
    assert "not readable JSON" in _text(page)


# ------------------------------------------------------------------------------------------------ compare


def test_compare_page_puts_runs_and_trials_side_by_side(results):
    tiny, other = f"tiny/{results.tiny.name}", f"other/{results.other.name}"
    trial = results.trials["trial_id"][1]
    search = links.compare_search([tiny, other, f"{tiny}/{trial}", "tiny/../etc"])
    assert links.parse_compare(search) == [tiny, other, f"{tiny}/{trial}", "tiny/../etc"]
    page = _page(results.root, compare, runs=search)
    assert page.id == "compare"
    fig = _by_id(page, "compare-accuracy").figure
    assert list(_trace(fig, "best trial").x) == [tiny, other, f"{tiny}/{trial}"]
    assert _trace(fig, "best trial").y[0] == pytest.approx(_best_finished(results.trials)["test_accuracy"])
    assert _trace(fig, "best trial").y[2] == pytest.approx(results.trials["test_accuracy"][1])
    side = _tables(page)[-1]
    assert [c["name"] for c in side.columns] == ["", tiny, other, f"{tiny}/{trial}"]
    assert "train.lr" in {r[""] for r in side.data}
    assert "run id '..' is not valid" in _text(page)
    picker = _by_id(page, links.COMPARE_PICKER)
    assert isinstance(picker, dcc.Dropdown) and picker.value[:2] == [tiny, other]


def test_compare_page_with_fewer_than_two_runs_asks_for_more(results):
    page = _page(results.root, compare)
    assert "Pick two or more runs" in _text(page)


# ------------------------------------------------------------------------------------------------ not found, malformed


def test_a_malformed_manifest_is_listed_and_does_not_break_other_pages(scratch):
    bad = scratch.root / "tiny" / "20000101-000000-dead"
    bad.mkdir()
    (bad / store.MANIFEST).write_text("{ not json")
    table = _by_id(_page(scratch.root, overview), "runs-table")
    assert table.columns[-1]["id"] == "problem"
    rows = {r["run"]: r for r in table.data}
    bad_row = next(r for k, r in rows.items() if bad.name in k)
    assert bad_row["status"] == "malformed" and "not valid JSON" in bad_row["problem"]
    good_row = next(r for k, r in rows.items() if scratch.path.name in k)
    assert good_row["status"] == "finished"
    page = _page(scratch.root, search, experiment="tiny", run_id=bad.name)
    assert page.id == "search" and "not valid JSON" in _text(page)
    assert _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name).id == "search"


def test_a_run_that_fails_unexpectedly_does_not_hide_the_others(scratch, monkeypatch):
    other = make_run(scratch.root, experiment="other", with_evaluation=False, seed=1)
    real = overview.ranked

    def flaky(data):
        if data.run.path == scratch.path:
            raise RuntimeError("something nobody foresaw")
        return real(data)

    monkeypatch.setattr(overview, "ranked", flaky)
    rows = {r["experiment"]: r for r in _by_id(_page(scratch.root, overview), "runs-table").data}
    assert rows["tiny"]["status"] == "malformed" and "nobody foresaw" in rows["tiny"]["problem"]
    assert rows["other"]["status"] == "finished" and other.name in rows["other"]["run"]


def test_an_unreadable_trials_table_marks_the_run_malformed(scratch):
    (scratch.path / store.TRIALS).write_bytes(b"PAR1 truncated")
    rows = _by_id(_page(scratch.root, overview), "runs-table").data
    assert rows[0]["status"] == "malformed" and "unreadable Parquet" in rows[0]["problem"]
    page = _page(scratch.root, search, experiment="tiny", run_id=scratch.path.name)
    text = _text(page)
    assert "unreadable Parquet" in text and "No trials yet" in text
    assert "majority" in text  # the baselines still show
    shown = _page(scratch.root, trial, experiment="tiny", run_id=scratch.path.name, trial_id="00000_00000")
    assert "unreadable Parquet" in _text(shown)


def test_a_finished_run_without_its_tables_is_malformed(scratch):
    (scratch.path / store.TRIALS).unlink()
    (scratch.path / store.BASELINES).unlink()
    row = _by_id(_page(scratch.root, overview), "runs-table").data[0]
    assert row["status"] == "malformed"
    assert "trials.parquet: missing" in row["problem"] and "baselines.parquet: missing" in row["problem"]


# ------------------------------------------------------------------------------------------------ yardsticks


def test_every_page_shows_the_run_s_strongest_baseline_and_its_spa(results):
    strongest = results.run.manifest()["strongest_baseline"]
    spa = results.run.search_spa()
    pooled = {
        r["baseline"]: r for r in results.run.baselines().filter(pl.col("fold") == -1).iter_rows(named=True)
    }
    rows = {r["experiment"]: r for r in _by_id(_page(results.root, overview), "runs-table").data}
    assert rows["tiny"]["strongest baseline"] == strongest
    assert rows["tiny"]["its accuracy"] == pytest.approx(pooled[strongest]["accuracy"])
    assert rows["tiny"]["dev SPA p"] == spa["p_values"]["consistent"]
    bars = _by_id(_page(results.root, overview), "overview-accuracy").figure
    at = list(_trace(bars, "best trial").x).index(f"tiny/{results.tiny.name}")
    assert _trace(bars, "strongest baseline (each run's own)").y[at] == pytest.approx(
        pooled[strongest]["accuracy"]
    )
    page = _page(results.root, search, experiment="tiny", run_id=results.tiny.name)
    sentence = _by_id(page, "search-spa").children
    assert (
        sentence.startswith(f"best of {spa['n_models']} finished trials vs {strongest}")
        and "p = 0.42" in sentence
    )
    best = _best_finished(results.trials)
    shown = _page(results.root, trial, experiment="tiny", run_id=results.tiny.name, trial_id=best["trial_id"])
    assert {t.name for t in _by_id(shown, "fold-accuracy").figure.data} == {"trial", "majority", strongest}


def test_the_evaluation_page_leads_with_the_strongest_development_baseline(results):
    report = json.loads((results.run.evaluations()[0] / store.REPORT_JSON).read_text())
    page = _page(
        results.root, evaluation, experiment="tiny", run_id=results.tiny.name, eval_id=results.eval_id
    )
    headline = _by_id(page, "headline").children
    head = report["significance"]["vs_strongest"]
    assert headline.startswith(f"best config vs persistence: accuracy {head['accuracy_a']:.3f}")
    assert "McNemar p = 0.54" in headline
    assert "never by its holdout score" in _text(page)
    assert "Studentized SPA test" in _by_id(page, "spa-verdict").children


# ------------------------------------------------------------------------------------------------ links out


SECRET = "secret=do-not-show"


def test_links_planted_in_the_results_never_lead_a_page_outside_it(scratch, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    # a whole run folder that is a link to a run elsewhere, with a secret in its manifest
    elsewhere = store.Run(make_run(outside / "store"))
    elsewhere.update_manifest(status=SECRET, experiment_yaml=SECRET)
    planted = scratch.root / "tiny" / "20990101-000000-link"
    planted.symlink_to(elsewhere.path, target_is_directory=True)
    # inside a real run: its trials table and an evaluation's report are links to files elsewhere
    secret_table = outside / "trials.parquet"
    pl.DataFrame({"trial_id": [SECRET], "status": ["finished"]}).write_parquet(secret_table)
    trials = scratch.path / store.TRIALS
    trials.unlink()
    trials.symlink_to(secret_table)
    report = scratch.run.evaluations()[0] / store.REPORT_JSON
    (outside / "report.json").write_text(json.dumps({"verdict": SECRET}))
    report.unlink()
    report.symlink_to(outside / "report.json")
    where = {"experiment": "tiny", "run_id": scratch.path.name}
    pages = [
        _page(scratch.root, overview),
        _page(scratch.root, search, **where),
        _page(scratch.root, evaluation, **where, eval_id=report.parent.name),
    ]
    for page in pages:
        text = json.dumps(to_json_plotly(page))
        assert SECRET not in text and str(outside) not in text
    assert "links outside the results folder; not read" in _text(pages[1])
    assert "20990101-000000-link: links outside the results folder" in json.dumps(to_json_plotly(pages[0]))
    # the planted run cannot be opened by its address either, and the not-found page does not print where the
    # results folder lies
    missing = _page(scratch.root, search, experiment="tiny", run_id="20990101-000000-link")
    assert SECRET not in _text(missing) and str(scratch.root) not in _text(missing)
