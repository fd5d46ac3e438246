"""One configuration over the folds of an era: pooled scores, the baselines on the model's rows, the tests."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import polars as pl
import pytest
from specs import development_table, tiny_experiment

from vixray.config import experiment_from_dict
from vixray.crossval import baseline_scores, prepare_folds, score_folds, significance
from vixray.data import load_prices
from vixray.dataset import Dataset, development_dataset, resolve_eras
from vixray.metrics import classification_metrics


def _dataset(labels: list[int]) -> Dataset:
    frame = pl.DataFrame({"date": list(range(len(labels))), "x": [0.0] * len(labels), "label": labels})
    return Dataset(frame=frame, feature_names=("x",))


def test_pooled_scores_pool_rows_not_fold_scores():
    # fold 0: 1 of 1 right; fold 1: 1 of 3 right -> pooled 2/4, not the fold mean (1 + 1/3) / 2
    dataset = _dataset([0, 1, 2, 2])
    scores = score_folds(dataset, [np.array([0]), np.array([1, 2, 3])], [np.array([0]), np.array([1, 0, 0])])
    assert scores.pooled["accuracy"] == pytest.approx(0.5)
    assert [m["accuracy"] for m in scores.per_fold] == pytest.approx([1.0, 1 / 3])
    assert scores.pooled["n"] == 4 and scores.proba is None and scores.pooled["log_loss"] is None
    expected = classification_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 0, 0]))["confusion"]
    assert scores.pooled["confusion"] == expected
    assert scores.y_true.tolist() == [0, 1, 2, 2] and scores.pred.tolist() == [0, 1, 0, 0]


def test_pooled_log_loss_weighs_every_day_alike():
    dataset = _dataset([0, 1])
    probas = [np.array([[0.5, 0.25, 0.25]]), np.array([[0.2, 0.6, 0.2]])]
    scores = score_folds(dataset, [np.array([0]), np.array([1])], [np.array([0]), np.array([1])], probas)
    assert scores.pooled["log_loss"] == pytest.approx(-(math.log(0.5) + math.log(0.6)) / 2)


@pytest.fixture(scope="module")
def prepared():
    experiment = experiment_from_dict(tiny_experiment(search=False))
    prices = load_prices("synthetic:3")
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    dataset = development_dataset(prices.frame, experiment, eras)
    return experiment, dataset, prepare_folds(dataset, experiment)


def test_baselines_are_scored_on_exactly_the_model_test_rows(prepared):
    experiment, dataset, folds = prepared
    scores = baseline_scores(dataset, folds, experiment)
    rows = [folds.windows.test_rows(f) for f in range(len(folds.folds))]
    for name, s in scores.items():
        assert [m["n"] for m in s.per_fold] == [len(r) for r in rows], name
        assert s.y_true.tolist() == dataset.y[np.concatenate(rows)].tolist(), name
    assert scores["random"].pooled["expected_accuracy"] == pytest.approx(1 / 3)


def test_significance_flags_the_strongest_baseline(prepared):
    experiment, dataset, folds = prepared
    baselines = baseline_scores(dataset, folds, experiment)
    majority = baselines["majority"]
    tests = significance(majority, baselines, n_boot=50, strongest="logistic")
    assert [name for name, t in tests["mcnemar"].items() if t["strongest"]] == ["logistic"]
    # the majority baseline against itself: right on the same days, no evidence either way
    assert (
        tests["mcnemar"]["majority"]["n_discordant"] == 0 and tests["mcnemar"]["majority"]["p_value"] == 1.0
    )
    assert tests["binomial_vs_majority"]["p0"] == pytest.approx(majority.pooled["accuracy"])
    assert tests["bootstrap_ci"]["n_boot"] == 50


def test_a_direction_experiment_is_two_classes_from_the_windows_to_the_tests():
    from vixray.crossval import cross_validate

    spec = tiny_experiment(search=False, max_epochs=1)
    spec["labels"] = {"kind": "direction"}
    experiment, dataset = development_table(spec)
    assert dataset.classes == ("down", "up") and set(np.unique(dataset.y)) == {0, 1}
    folds = prepare_folds(dataset, experiment)
    assert folds.windows.class_weights.shape == (2, 2)
    report = cross_validate(dataset, experiment)
    pooled = report["pooled"]
    assert np.asarray(pooled["model"]["confusion"]).shape == (2, 2)
    assert pooled["tests"]["binomial_vs_chance"]["p0"] == 0.5
    assert pooled["baselines"]["random"]["expected_accuracy"] == 0.5
    baselines = baseline_scores(dataset, folds, experiment)
    daily = baselines["har"].daily(dataset)
    assert [c for c in daily.columns if c.startswith("p_")] == ["p_down", "p_up"]
    np.testing.assert_allclose(daily.select("p_down", "p_up").sum_horizontal().to_numpy(), 1.0)


def test_a_refit_trains_each_fold_on_its_whole_block_for_its_early_stopped_epochs(prepared):
    from vixray.crossval import fit_prepared
    from vixray.train import fit_folds
    from vixray.windows import make_fold_windows

    experiment, dataset, folds = prepared
    experiment = experiment.with_overrides({"train.epochs": 4, "train.patience": 1})
    first = fit_prepared(folds, experiment, refit=False)
    refit = fit_prepared(folds, experiment, refit=True)
    assert first.refit_epochs is None and refit.refit_epochs.tolist() == first.best_epoch.tolist()
    # the history is the early-stopping pass's, the same in both
    assert [r.epoch for r in refit.history] == [r.epoch for r in first.history]
    # by hand: windows without a validation tail (scaler fitted on the whole block), each fold its own epochs
    whole = make_fold_windows(
        dataset.X, dataset.y, folds.folds, seq_len=experiment.model.seq_len, val_fraction=0.0, val_gap=1
    )
    assert whole.m_fit.sum() > folds.windows.m_fit.sum() and whole.x_val.shape[1] == 0
    train = dataclasses.replace(experiment.train, epochs=int(first.best_epoch.max()), patience=None)
    manual = fit_folds(whole, model=experiment.model, train=train, epoch_limits=first.best_epoch)
    for a, b in zip(refit.test_proba, manual.test_proba, strict=True):
        np.testing.assert_allclose(a, b)
    assert any(not np.allclose(a, b) for a, b in zip(refit.test_proba, first.test_proba, strict=True))
    for a, b in zip(refit.test_rows, first.test_rows, strict=True):
        np.testing.assert_array_equal(a, b)
