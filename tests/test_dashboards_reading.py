"""Reading the results store for the explorer: the cache, the signature that drives refreshes, ranking."""

from __future__ import annotations

import polars as pl
import pytest
from runs import make_run

from dashboards.reading import ResultsReader, best_finished, page_signature, ranked, read_run
from vixray import store


def test_the_reader_rereads_a_file_only_when_it_changes(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("one")
    reads = []

    def read() -> str:
        reads.append(1)
        return path.read_text()

    reader = ResultsReader(tmp_path)
    assert [reader.cached(path, read) for _ in range(3)] == ["one"] * 3 and len(reads) == 1
    path.write_text("three")  # a new size (and time): read again
    assert reader.cached(path, read) == "three" and len(reads) == 2
    assert ResultsReader(tmp_path).cached(path, read) == "three" and len(reads) == 3  # apps share nothing


def test_the_reader_never_keeps_an_error(tmp_path):
    path = tmp_path / "half-written.json"
    path.write_text("{")
    outcomes = iter([ValueError("half-written"), "whole"])

    def read() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    reader = ResultsReader(tmp_path)
    with pytest.raises(ValueError, match="half-written"):
        reader.cached(path, read)
    assert reader.cached(path, read) == "whole"  # the same file, unchanged on disk, is read again


def test_the_signature_ignores_other_runs_on_a_run_page(results, scratch):
    reader = ResultsReader(scratch.root)
    before, everything = page_signature(reader, scratch.run), page_signature(reader)
    make_run(scratch.root, experiment="later", with_evaluation=False)
    assert page_signature(reader, scratch.run) == before
    assert page_signature(reader) != everything  # a page about every run sees the new one
    assert page_signature(reader) != page_signature(ResultsReader(results.root))


def test_the_signature_changes_with_any_file_of_the_run_and_its_evaluations(scratch):
    reader = ResultsReader(scratch.root)
    before = page_signature(reader, scratch.run)
    folder = scratch.run.evaluations()[0]
    (folder / store.REPORT_HTML).write_text("<!doctype html><title>rewritten</title>\n")
    after = page_signature(reader, scratch.run)
    assert after != before
    (scratch.path / ".trials.parquet.x.tmp").write_text("a write in progress")  # temporary files do not count
    assert page_signature(reader, scratch.run) == after


def test_rows_a_search_appends_as_parts_are_read_at_once(scratch):
    reader = ResultsReader(scratch.root)
    before, signature = read_run(reader, scratch.run).trials, page_signature(reader, scratch.run)
    row = before.filter(pl.col("status") == "pruned").with_columns(trial_id=pl.lit("newest"))
    store.write_parquet(scratch.path / store.PARTS_DIR / f"00000000000000000001-newest.{store.TRIALS}", row)
    after = read_run(reader, scratch.run).trials
    assert after.height == before.height + 1 and "newest" in after["trial_id"].to_list()
    assert page_signature(reader, scratch.run) != signature


def test_best_finished_never_picks_a_pruned_trial(results):
    data = read_run(ResultsReader(results.root), results.run)
    pruned = results.trials.filter(pl.col("status") == "pruned")
    assert pruned.height == 1
    best = best_finished(data)
    finished = results.trials.filter(pl.col("status") == "finished")
    assert best["status"] == "finished" and best["val_loss"] == pytest.approx(finished["val_loss"].min())
    assert ranked(data)["status"].unique().to_list() == ["finished"]
