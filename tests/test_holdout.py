"""The holdout evaluation end to end, on a tiny run built in the test (no Ray) over synthetic prices."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest
from specs import tiny_experiment

from vixray import store
from vixray.baselines import BASELINES, strongest_baseline
from vixray.config import experiment_from_dict
from vixray.crossval import baseline_scores, prepare_folds
from vixray.data import load_prices
from vixray.dataset import development_dataset, holdout_dataset, resolve_eras
from vixray.evaluate import main as evaluate_main
from vixray.holdout import evaluate_run
from vixray.holdout.blocks import check_holdout_folds, holdout_folds, holdout_table
from vixray.holdout.run import write_evaluation
from vixray.holdout.select import searched_experiment, select_configs
from vixray.holdout.stats import verdict
from vixray.metrics import block_bootstrap_ci, mcnemar_test, pesaran_timmermann, spa_test

N_BOOT = 200
BLOCK = 90
MAX_EPOCHS = 2

TINY = tiny_experiment(
    source="synthetic:7",
    max_epochs=MAX_EPOCHS,
    metric="val_loss",
    space={
        "model.hidden_size": {"type": "categorical", "choices": [4, 8]},
        "model.head_layers": {"type": "int", "low": 0, "high": 1},
        "model.head_width": {"type": "categorical", "choices": [4], "when": {"model.head_layers": [1]}},
        "train.lr": {"type": "loguniform", "low": 1e-3, "high": 3e-2},
    },
)
TINY["eras"] = {"holdout": "last 25%"}
TINY["split"]["test_size"] = BLOCK
TINY["model"].update(head=[], head_dropout=[])
# epochs differ from the search's max_epochs, so the test sees which one the evaluation trains with
TINY["train"].update(epochs=7, device="cpu")

# "c" has the lowest val_loss but was pruned by ASHA; "d" is the worst finished trial.
TRIALS = pl.DataFrame(
    {
        "trial_id": ["a", "b", "c", "d"],
        "status": ["finished", "finished", "pruned", "finished"],
        "param.model.hidden_size": [4, 8, 4, 8],
        "param.model.head_layers": [0, 1, 0, 1],
        "param.model.head_width": [None, 4, None, 4],
        "param.train.lr": [0.01, 0.003, 0.02, 0.001],
        "val_loss": [0.9, 1.0, 0.5, 1.1],
    }
)


@pytest.fixture(scope="module")
def prices():
    return load_prices("synthetic:7")


@pytest.fixture(scope="module")
def experiment():
    return experiment_from_dict(TINY)


def make_manifest(experiment, prices) -> dict:
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    folds = prepare_folds(development_dataset(prices.frame, experiment, eras), experiment).fold_info
    return {
        "status": "finished",
        "experiment_config": experiment.to_dict(),
        "data": prices.describe(),
        "eras": eras.to_dict(),
        "folds": folds,
        "search": experiment.search.to_dict(),
    }


def make_run(root: Path, manifest: dict, trials: pl.DataFrame = TRIALS) -> store.Run:
    run = store.create_run(root, "tiny", manifest=manifest)
    store.write_parquet(run.path / store.TRIALS, trials)
    return run


def evaluation_dirs(run: store.Run) -> list[Path]:
    root = run.path / store.EVALUATION_DIR
    return sorted(p for p in root.iterdir()) if root.is_dir() else []


@pytest.fixture(scope="module")
def manifest(experiment, prices):
    return make_manifest(experiment, prices)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, manifest):
    root = tmp_path_factory.mktemp("results")
    run = make_run(root, manifest)
    result = evaluate_run(run, top=2, seeds=2, n_boot=N_BOOT)
    report = json.loads((result.path / store.REPORT_JSON).read_text())
    predictions = pl.read_parquet(result.path / store.PREDICTIONS)
    return root, run, result, report, predictions


@pytest.fixture(scope="module")
def holdout(experiment, prices):
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    dataset, first = holdout_dataset(prices.frame, experiment, eras)
    n_blocks = -(-(len(dataset) - first) // BLOCK)  # the last block holds what is left
    rows = np.arange(first, len(dataset))
    return eras, dataset, first, n_blocks, rows


# ------------------------------------------------------------------------------------------------ choosing configs


def test_the_best_finished_trials_are_chosen_with_the_search_epochs(tmp_path, manifest):
    run = make_run(tmp_path, manifest)
    experiment = searched_experiment(run, run.manifest())
    first, second = select_configs(run, experiment, top=2)
    # the pruned trial "c" has the lowest val_loss but stopped early; "d" is third
    assert [first.trial_id, second.trial_id] == ["a", "b"] and (first.rank, second.rank) == (1, 2)
    assert first.params == {"model.hidden_size": 4, "model.head_layers": 0, "train.lr": 0.01}
    assert first.experiment.model.hidden_size == 4 and first.experiment.model.head == ()
    assert second.experiment.model.hidden_size == 8 and second.experiment.model.head == (4,)
    assert first.experiment.train.lr == 0.01 and second.experiment.train.lr == 0.003
    assert first.experiment.train.epochs == MAX_EPOCHS
    assert first.metric == "val_loss" and first.metric_value == 0.9
    assert [c.trial_id for c in select_configs(run, experiment, top=5)] == ["a", "b", "d"]


def test_named_trials_are_chosen_in_the_order_given(tmp_path, manifest):
    run = make_run(tmp_path, manifest)
    experiment = searched_experiment(run, run.manifest())
    chosen = select_configs(run, experiment, top=1, trial_ids=["d", "a", "d"])
    assert [(c.rank, c.trial_id) for c in chosen] == [(1, "d"), (2, "a")]
    assert chosen[0].experiment.model.hidden_size == 8 and chosen[0].metric_value == 1.1
    with pytest.raises(ValueError, match=r"--trial 'c' is pruned: only a finished trial .* or use --best"):
        select_configs(run, experiment, top=1, trial_ids=["c"])
    with pytest.raises(
        ValueError, match=r"--trial 'zz' is not a trial of run tiny/.* \(4 trials, e.g. a, b, c, d\)"
    ):
        select_configs(run, experiment, top=1, trial_ids=["zz"])


# ------------------------------------------------------------------------------------------------ holdout blocks


def test_blocks_tile_the_holdout_from_its_first_day_and_train_only_on_the_past(experiment, prices, holdout):
    eras, dataset, first, n_blocks, rows = holdout
    table = holdout_table(prices, experiment, eras)
    assert len(table.folds) == n_blocks == 5 and table.block_size == BLOCK
    tests = np.concatenate([te for _, te in table.folds])
    assert np.array_equal(tests, rows)  # every labelled holdout row, from the first, once
    assert dataset.dates[tests[0]] == eras.holdout[0]
    assert [len(te) for _, te in table.folds] == [BLOCK] * 4 + [len(rows) - 4 * BLOCK]
    label_dates = dataset.frame["label_date"]
    for train, test in table.folds:
        assert len(train) == TINY["split"]["train_size"] and train[-1] == test[0] - 1 - TINY["split"]["gap"]
        assert label_dates.gather(train).max() < dataset.dates[test[0]]
    # the first blocks train on rows from the development era: allowed, their labels were seen by the search anyway
    assert table.folds[0][0].min() < first


def test_holdout_folds_by_hand_as_the_docstring_draws_them():
    rolling = experiment_from_dict({**TINY, "split": {"train_size": 6, "gap": 1, "test_size": 4}}).split
    folds = holdout_folds(20, first_holdout=10, block=4, split=rolling)
    assert [(tr.tolist(), te.tolist()) for tr, te in folds] == [
        (list(range(3, 9)), [10, 11, 12, 13]),
        (list(range(7, 13)), [14, 15, 16, 17]),
        (list(range(11, 17)), [18, 19]),
    ]
    expanding = experiment_from_dict({**TINY, "split": {"train_size": 6, "expanding": True}}).split
    assert [tr[0] for tr, _ in holdout_folds(20, first_holdout=10, block=4, split=expanding)] == [0, 0, 0]
    with pytest.raises(ValueError, match=r"block = 0: must be an integer >= 1"):
        holdout_folds(20, first_holdout=10, block=0, split=rolling)
    with pytest.raises(
        ValueError, match=r"first_holdout = 20: the table of 20 labelled rows has no holdout row"
    ):
        holdout_folds(20, first_holdout=20, block=4, split=rolling)


def test_a_training_window_longer_than_the_history_is_an_error(experiment, prices, holdout):
    eras = holdout[0]
    long = experiment.with_overrides({"split.train_size": 1200})
    with pytest.raises(
        ValueError,
        match=r"cannot hold holdout blocks of 90 rows: holdout block 0 starts at row \d+, but a training window "
        r"of split.train_size = 1200 rows and split.gap = 1 needs 1201 rows before it",
    ):
        holdout_table(prices, long, eras)


def test_leaky_or_misplaced_blocks_are_rejected(holdout):
    _, dataset, first, _, _ = holdout
    test = np.arange(first + 10, first + 20)
    touching = (np.arange(first - 50, first + 10), test)  # the last training label is the block's first day
    with pytest.raises(ValueError, match="a training label ends on .* not before the block's first day"):
        check_holdout_folds(dataset, [touching], first_holdout=first)
    early = (np.arange(0, 100), np.arange(first - 5, first + 5))
    with pytest.raises(ValueError, match="before the holdout era's first row"):
        check_holdout_folds(dataset, [early], first_holdout=first)
    check_holdout_folds(dataset, [(np.arange(first - 50, first + 9), test)], first_holdout=first)


# ------------------------------------------------------------------------------------------------ the report


def test_report_files_and_fields(evaluated):
    _, run, result, report, predictions = evaluated
    assert sorted(p.name for p in result.path.iterdir()) == sorted(
        [store.REPORT_JSON, store.PREDICTIONS, store.REPORT_HTML, store.BACKTEST_CURVES]
    )
    assert result.path.parent == run.path / store.EVALUATION_DIR and run.evaluations() == [result.path]
    assert report["eval_id"] == result.path.name and report["run_id"] == run.run_id
    assert (
        report["experiment"] == "tiny"
        and report["data"]["fingerprint"] == run.manifest()["data"]["fingerprint"]
    )
    assert report["data"]["changed"] is False
    for key in (
        "created",
        "holdout",
        "configs",
        "blocks",
        "pooled",
        "significance",
        "spa",
        "strongest_baseline",
    ):
        assert key in report
    holdout = report["holdout"]
    assert holdout["n_blocks"] == 5 and holdout["block_size"] == BLOCK
    assert holdout["n_test"] == holdout["n_rows"] == predictions.height
    # the era's only untested trading day is its last: no next close to label it
    assert holdout["untested_days"] == [holdout["end"]] and holdout["n_days"] == holdout["n_test"] + 1
    assert report["settings"]["refit"] is True

    assert [c["trial_id"] for c in report["configs"]] == ["a", "b"]
    for config in report["configs"]:
        assert config["seeds"] == [0, 1] and [s["seed"] for s in config["per_seed"]] == [0, 1]
        assert config["epochs_run"] == [MAX_EPOCHS, MAX_EPOCHS]
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss"):
            values = [s[key] for s in config["per_seed"]]
            assert config["mean"][key] == pytest.approx(np.mean(values))
            assert config["sd"][key] == pytest.approx(np.std(values, ddof=1))
    # the best config's ensemble is "the model"
    assert report["configs"][0]["ensemble"] == report["pooled"]["model"]
    model = report["pooled"]["model"]
    assert np.array(model["confusion"]).sum() == predictions.height
    assert set(report["pooled"]["baselines"]) == set(BASELINES)
    assert report["pooled"]["baselines"]["persistence"]["log_loss"] is None

    page = (result.path / store.REPORT_HTML).read_text()
    assert "<script src=" not in page and "Plotly.newPlot" in page  # plotly.js inline: opens offline
    for div in ("fig-by-block", "fig-confusion", "fig-timeline", "fig-rolling", "fig-equity", "fig-drawdown"):
        assert f'id="{div}"' in page
    assert report["verdict"] in page.replace("&#x27;", "'")


def test_predictions_cover_exactly_the_holdout_blocks(evaluated, holdout, prices):
    _, _, _, report, predictions = evaluated
    eras, dataset, _, n_blocks, rows = holdout
    dates = [dataset.dates[r] for r in rows]
    assert predictions["date"].to_list() == dates and min(dates) >= eras.holdout[0]
    assert predictions["block"].to_list() == [i // BLOCK for i in range(len(rows))]
    assert np.array_equal(predictions["y_true"].to_numpy(), dataset.y[rows])
    vix = prices.frame.filter(pl.col("date").is_in(dates)).sort("date")["VIX_close"]
    assert predictions["vix_close"].to_list() == vix.to_list()
    proba = predictions.select("p_down", "p_neutral", "p_up").to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(predictions["pred"].to_numpy(), proba.argmax(axis=1))
    assert predictions["config1_pred"].to_list() == predictions["pred"].to_list()
    for b, block in enumerate(report["blocks"]):
        assert (block["test_start"], block["test_end"]) == (
            dates[b * BLOCK].isoformat(),
            dates[min((b + 1) * BLOCK, len(dates)) - 1].isoformat(),
        )


def test_baselines_are_scored_on_the_same_rows(evaluated, holdout):
    _, _, _, report, predictions = evaluated
    _, dataset, _, _, rows = holdout
    # persistence calls tomorrow's class as today's move: checkable by hand on the table
    assert np.array_equal(predictions["pred_persistence"].to_numpy(), dataset.column("prev_label")[rows])
    y = predictions["y_true"].to_numpy()
    for name, pooled in report["pooled"]["baselines"].items():
        pred = predictions[f"pred_{name}"].to_numpy()
        assert pooled["n"] == len(y) and pooled["accuracy"] == pytest.approx(np.mean(pred == y))
        for b, block in enumerate(report["blocks"]):
            part = slice(b * BLOCK, (b + 1) * BLOCK)
            assert block["n_test"] == len(y[part])
            assert block["baselines"][name]["accuracy"] == pytest.approx(np.mean(pred[part] == y[part]))
    for b, block in enumerate(report["blocks"]):
        part = slice(b * BLOCK, (b + 1) * BLOCK)
        assert block["model"]["accuracy"] == pytest.approx(
            np.mean(predictions["pred"].to_numpy()[part] == y[part])
        )


def test_significance_matches_the_library_on_the_saved_predictions(evaluated):
    _, _, _, report, predictions = evaluated
    y, pred = predictions["y_true"].to_numpy(), predictions["pred"].to_numpy()
    sig = report["significance"]
    hits, n = int(np.sum(pred == y)), len(y)
    chance = sig["binomial_vs_chance"]
    assert (chance["k"], chance["n"]) == (hits, n) and chance["p0"] == pytest.approx(1 / 3)
    assert chance["p_value"] == pytest.approx(binomtest(hits, n, 1 / 3, alternative="greater").pvalue)
    majority_rate = float(np.mean(predictions["pred_majority"].to_numpy() == y))
    majority = sig["binomial_vs_majority"]
    assert majority["p0"] == pytest.approx(majority_rate)
    assert majority["p_value"] == pytest.approx(
        binomtest(hits, n, majority_rate, alternative="greater").pvalue
    )

    accuracies = {name: m["accuracy"] for name, m in report["pooled"]["baselines"].items()}
    strongest = report["strongest_baseline"]
    assert strongest == report["spa"]["benchmark"] == sig["strongest"]
    # the headline: the model against the strongest baseline on the same days, by hand
    head = sig["vs_strongest"]
    right, base_right = pred == y, predictions[f"pred_{strongest}"].to_numpy() == y
    assert (head["accuracy_a"], head["accuracy_b"]) == pytest.approx((right.mean(), base_right.mean()))
    expected_diff = block_bootstrap_ci(right.astype(float) - base_right, n_boot=N_BOOT, seed=0)
    assert head["accuracy_difference"] == pytest.approx(expected_diff)
    assert head["mcnemar"] == mcnemar_test(right, base_right)
    for name in accuracies:
        expected = mcnemar_test(pred == y, predictions[f"pred_{name}"].to_numpy() == y)
        got = sig["mcnemar"][name]
        assert (got["b"], got["c"]) == (expected["b"], expected["c"])
        assert got["p_value"] == pytest.approx(expected["p_value"])
        assert got["strongest"] is (name == strongest)
    for side, cls in (("up", 2), ("down", 0)):
        expected = pesaran_timmermann(y == cls, pred == cls)
        assert sig["pesaran_timmermann"][side]["p_value"] == pytest.approx(expected["p_value"])
    ci = sig["bootstrap_ci"]
    expected = block_bootstrap_ci((pred == y).astype(float), n_boot=N_BOOT, seed=0)
    assert ci["mean"] == pytest.approx(hits / n) and ci["low"] <= ci["mean"] <= ci["high"]
    assert (ci["low"], ci["high"]) == pytest.approx((expected["low"], expected["high"]))


def test_spa_matches_the_library_on_the_saved_losses(evaluated):
    _, _, _, report, predictions = evaluated
    y = predictions["y_true"].to_numpy()
    spa = report["spa"]
    models = np.column_stack([(predictions[f"config{k}_pred"].to_numpy() != y) for k in (1, 2)]).astype(float)
    bench = (predictions[f"pred_{spa['benchmark']}"].to_numpy() != y).astype(float)
    expected = spa_test(models, bench, n_boot=N_BOOT, seed=0)
    assert spa["n_models"] == 2 and spa["models"] == ["a", "b"] and spa["n_days"] == len(y)
    assert spa["p_values"] == pytest.approx(expected["p_values"])
    assert all(0.0 <= value <= 1.0 for value in spa["p_values"].values())
    # the log-loss SPA runs exactly when the benchmark gives probabilities (persistence alone gives none)
    assert (spa["log_loss"] is None) == (spa["benchmark"] == "persistence")
    assert all(0.0 <= v <= 1.0 for v in (spa["log_loss"] or {"p_values": {}})["p_values"].values())


def test_the_verdict_follows_the_rule(evaluated):
    _, _, _, report, _ = evaluated
    strongest = report["strongest_baseline"]
    head = report["significance"]["vs_strongest"]
    spa_p = report["spa"]["p_values"]["consistent"]
    beats = head["accuracy_difference"]["mean"] > 0 and head["mcnemar"]["p_value"] < 0.05 and spa_p < 0.05
    assert report["beats_strongest_baseline"] is beats
    assert report["verdict"].startswith("The best config beats" if beats else "The best config does not beat")
    assert f"development-era baseline ({strongest})" in report["verdict"]
    assert f"on {report['holdout']['n_test']} holdout days" in report["verdict"]


def test_the_yardstick_is_chosen_on_the_development_folds_never_on_the_holdout(evaluated, experiment, prices):
    _, _, _, report, _ = evaluated
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    dev = development_dataset(prices.frame, experiment, eras)
    dev_scores = baseline_scores(dev, prepare_folds(dev, experiment), experiment, seed=0)
    on_development = strongest_baseline({n: s.pooled["accuracy"] for n, s in dev_scores.items()})
    # this run's manifest predates the record, so the evaluation recomputes the choice on the development folds
    assert report["strongest_baseline"] == on_development
    assert "recomputed" in report["strongest_baseline_chosen_on"]


def test_a_recorded_yardstick_is_used_even_when_it_does_badly_on_the_holdout(tmp_path, manifest):
    run = make_run(tmp_path, {**manifest, "strongest_baseline": "persistence"})
    result = evaluate_run(run, top=1, seeds=1, n_boot=N_BOOT)
    assert result.report["strongest_baseline"] == "persistence" == result.report["spa"]["benchmark"]
    assert result.report["strongest_baseline_chosen_on"] == "the search's development folds"
    assert result.report["significance"]["vs_strongest"]["accuracy_b"] == pytest.approx(
        result.report["pooled"]["baselines"]["persistence"]["accuracy"]
    )


@pytest.mark.parametrize(
    ("difference", "mcnemar_p", "spa_p", "beats"),
    [
        (0.04, 0.01, 0.02, True),
        (0.04, 0.01, 0.2, False),
        (0.04, 0.2, 0.01, False),
        (-0.01, 0.01, 0.01, False),
    ],
)
def test_verdict_needs_a_gain_mcnemar_and_spa(difference, mcnemar_p, spa_p, beats):
    comparison = {
        "n": 500,
        "accuracy_a": 0.412 + difference,
        "accuracy_b": 0.412,
        "accuracy_difference": {"mean": difference, "low": difference - 0.03, "high": difference + 0.03},
        "mcnemar": {"p_value": mcnemar_p},
    }
    got, sentence = verdict(comparison=comparison, strongest="persistence", spa_p=spa_p)
    assert got is beats
    verb = "beats" if beats else "does not beat"
    assert sentence == (
        f"The best config {verb} the strongest development-era baseline (persistence) out of sample: accuracy "
        f"{0.412 + difference:.1%} vs 41.2% on 500 holdout days, difference {difference:+.1%} "
        f"[{difference - 0.03:+.1%}, {difference + 0.03:+.1%}], McNemar p = {mcnemar_p:.2g}, studentized SPA p = "
        f"{spa_p:.2g}."
    )


# ------------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("where", ["fold", "development_end"])
def test_a_search_that_touched_the_holdout_is_refused(tmp_path, manifest, where):
    bad = copy.deepcopy(manifest)
    holdout_start = bad["eras"]["holdout"]["start"]
    if where == "fold":
        bad["folds"][-1]["test_end"] = holdout_start
        match = r"touched the holdout era, which starts on .*: development fold 1 has test_end"
    else:
        bad["eras"]["development"]["end"] = holdout_start
        match = r"touched the holdout era, which starts on .*: its development era ends on"
    run = make_run(tmp_path, bad)
    with pytest.raises(ValueError, match=match):
        evaluate_run(run, top=1, seeds=1, n_boot=N_BOOT)
    assert evaluation_dirs(run) == []


def test_changed_data_is_refused_unless_allowed(tmp_path, manifest):
    run = make_run(tmp_path, manifest)
    with pytest.raises(
        ValueError, match=r"synthetic:8 .* differs from the data run tiny/.* --allow-data-change"
    ):
        evaluate_run(run, top=1, seeds=1, data="synthetic:8", n_boot=N_BOOT)
    assert evaluation_dirs(run) == []
    result = evaluate_run(run, top=1, seeds=1, data="synthetic:8", allow_data_change=True, n_boot=N_BOOT)
    assert result.report["data"]["source"] == "synthetic:8" and result.report["data"]["changed"] is True
    assert result.report["data"]["searched_fingerprint"] == manifest["data"]["fingerprint"]
    assert evaluation_dirs(run) == [result.path]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top": 0}, r"top = 0: must be an integer >= 1"),
        ({"seeds": 0}, r"seeds = 0: must be an integer >= 1"),
        ({"n_boot": 0}, r"n_boot = 0: must be an integer >= 1"),
        ({"block_size": 0}, r"block_size = 0: must be an integer >= 1"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, manifest, kwargs, match):
    run = make_run(tmp_path, manifest)
    with pytest.raises(ValueError, match=match):
        evaluate_run(run, **{"top": 1, "seeds": 1, "n_boot": N_BOOT, **kwargs})
    assert evaluation_dirs(run) == []


def test_a_failure_while_writing_leaves_no_folder_behind(evaluated):
    _, run, result, report, predictions = evaluated
    before = evaluation_dirs(run)

    def broken(report, predictions, curves):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_evaluation(run, copy.deepcopy(report), predictions, render=broken)
    assert evaluation_dirs(run) == before and (result.path / store.REPORT_JSON).is_file()


# ------------------------------------------------------------------------------------------------ command line


def _one_error(caplog) -> str:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    message = errors[0].getMessage()
    assert "\n" not in message and "Traceback" not in message
    return message


def test_main_with_no_runs_says_to_tune_first(tmp_path, caplog):
    assert evaluate_main(["--results", str(tmp_path / "results"), "--best"]) == 2
    assert "run `make tune` first" in _one_error(caplog)
    assert not (tmp_path / "results").exists()


def test_main_names_what_exists_for_an_unknown_run_or_experiment(tmp_path, manifest, caplog):
    run = make_run(tmp_path, manifest)
    assert evaluate_main(["--results", str(tmp_path), "--run", "20990101-000000-abcd"]) == 2
    assert f"tiny/{run.run_id}" in _one_error(caplog)
    caplog.clear()
    assert evaluate_main(["--results", str(tmp_path), "--experiment", "other"]) == 2
    assert "experiments with runs: ['tiny']" in _one_error(caplog)
    assert evaluation_dirs(run) == []


def test_main_on_a_run_without_a_finished_trial(tmp_path, manifest, caplog):
    pruned = TRIALS.with_columns(pl.lit("pruned").alias("status"))
    run = make_run(tmp_path, manifest, trials=pruned)
    assert evaluate_main(["--results", str(tmp_path), "--no-progress"]) == 2
    assert f"run tiny/{run.run_id} has no finished trial" in _one_error(caplog)
    assert evaluation_dirs(run) == []


def test_main_adds_an_evaluation_and_never_overwrites_one(evaluated, capsys):
    root, run, first, _, _ = evaluated
    snapshot = {p.name: p.read_bytes() for p in first.path.iterdir()}
    args = ["--results", str(root), "--best", "--top", "1", "--seeds", "1", "--block-size", "120"]
    assert evaluate_main([*args, "--n-boot", "50", "--no-progress"]) == 0
    dirs = evaluation_dirs(run)
    assert len(dirs) == 2 and first.path in dirs
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == snapshot
    (second,) = [d for d in dirs if d != first.path]
    report = json.loads((second / store.REPORT_JSON).read_text())
    # 374 holdout days in blocks of 120: three whole blocks and one of the 14 days left
    assert report["holdout"]["block_size"] == 120 and report["holdout"]["n_blocks"] == 4
    assert [b["n_test"] for b in report["blocks"]] == [120, 120, 120, 14]
    # --no-refit was not given: each block's model was refitted on its whole training window
    assert report["settings"]["refit"] is True
    assert report["spa"]["n_models"] == 1 and [c["seeds"] for c in report["configs"]] == [[0]]
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2] == report["verdict"]
    assert lines[-1] == f"report: {second / store.REPORT_HTML}"


def test_the_vixray_evaluate_subcommand_takes_the_same_arguments():
    from vixray.cli import build_parser

    args = build_parser().parse_args(
        ["evaluate", "--best", "--top", "2", "--seeds", "4", "--block-size", "60"]
    )
    assert (args.top, args.seeds, args.block_size, args.run, args.results) == (2, 4, 60, "latest", "results")
    assert args.func.__name__ == "cmd_evaluate" and args.trial == []
    args = build_parser().parse_args(["evaluate", "--trial", "a", "b"])
    assert args.trial == ["a", "b"] and not args.best


def test_best_and_trial_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--best", "--trial", "a"])
    assert exit_info.value.code == 2
    assert "argument --trial: not allowed with argument --best" in capsys.readouterr().err


def test_importing_the_module_does_not_import_torch():
    code = "import sys, vixray.evaluate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_backtest_trades_the_saved_calls_on_the_holdout_days(evaluated, prices):
    from vixray.backtest import BUY_AND_HOLD, run_backtest, signal_weights

    _, _, result, report, predictions = evaluated
    block = report["backtest"]
    assert report["settings"]["backtest"] == {"rule": "cash", "cost_bps": 1.0, "cash_rate": 0.0}
    assert set(block["forecasters"]) == {"model", BUY_AND_HOLD, *BASELINES}
    assert block["first_day"] == report["holdout"]["test_start"]
    # by the module's own engine on the saved calls: the model's value path is what the report holds
    classes = tuple(report["classes"])
    weights = signal_weights(predictions["pred"].to_numpy(), classes=classes, rule="cash")
    from vixray.config import BacktestConfig

    again = run_backtest(
        prices.frame, predictions["date"].to_list(), {"m": weights}, config=BacktestConfig()
    )["m"]
    curves = pl.read_parquet(result.path / store.BACKTEST_CURVES)
    model = curves.filter(pl.col("forecaster") == "model").sort("date")
    np.testing.assert_allclose(model["value"].to_numpy(), again.value)
    hold = block["forecasters"][BUY_AND_HOLD]
    first, last = (date.fromisoformat(block[k]) for k in ("first_day", "last_day"))
    closes = prices.frame.filter(pl.col("date").is_between(first, last))["SPY_adj_close"]
    assert hold["total_return"] == pytest.approx((closes[-1] / closes[0]) * (1 - 1e-4) - 1, rel=1e-3)
    page = (result.path / store.REPORT_HTML).read_text()
    assert "<h2>Backtest</h2>" in page and "buy_and_hold" in page


def test_the_backtest_command_prints_the_table_of_a_finished_evaluation(
    evaluated, capsys, caplog, tmp_path, manifest
):
    from vixray.cli import main

    root, run, result, report, _ = evaluated
    args = ["backtest", "--results", str(root), "--run", run.run_id]
    assert main([*args, "--eval", result.path.name, "--rule", "short", "--cost-bps", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"evaluation {result.path.name} of tiny/{run.run_id}")
    assert "hold SPY, go short on a forecast VIX rise" in out and "costs 0.0 bps" in out
    lines = out.splitlines()
    model = next(line for line in lines if line.startswith("model "))
    assert model.split()[1].endswith("%")  # its total return
    assert "buy_and_hold" in out and "cost sweep" in out
    assert main([*args, "--rule", "long"]) == 2
    assert "rule = 'long': choose one of ['cash', 'short', 'vix_proxy']" in caplog.text
    assert main([*args, "--eval", "nope"]) == 2
    assert "evaluation 'nope' is not in run" in caplog.text
    empty = make_run(tmp_path, manifest)
    assert main(["backtest", "--results", str(tmp_path), "--run", empty.run_id]) == 2
    assert "has no evaluation yet; run python -m vixray.evaluate --best first" in caplog.text
