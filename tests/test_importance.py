"""Permutation importance of feature blocks: by hand, against scikit-learn, and for the two forecasters a run
explains (the network and the boosting baseline) on a tiny synthetic experiment."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.inspection import permutation_importance as sklearn_importance
from sklearn.linear_model import LogisticRegression
from specs import development_table, tiny_experiment

from vixray.crossval import baseline_scores, prepare_folds
from vixray.importance import boosting_importance, network_importance, permutation_importance


def _sign_rule(xs):
    """Up (class 1) with probability 0.9 when column 0 is positive, else 0.1: column 1 is never read."""
    return [np.column_stack([1 - p, p]) for p in (np.where(x[:, 0] > 0, 0.9, 0.1) for x in xs)]


def test_a_block_the_rule_never_reads_costs_nothing_and_the_one_it_reads_by_hand():
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(30, 2)), rng.normal(size=(20, 2))]
    y = [(x[:, 0] > 0).astype(np.int64) for x in inputs]  # the rule is always right on intact inputs
    out = permutation_importance(_sign_rule, inputs, y, {"read": [0], "unread": [1]}, repeats=1, seed=7)
    assert out["accuracy"] == 1.0 and out["log_loss"] == pytest.approx(-np.log(0.9))
    assert out["blocks"]["unread"]["accuracy_drop"] == 0.0 and out["blocks"]["unread"]["log_loss_rise"] == 0.0
    # by hand: the "read" group (position 0) draws one permutation per fold from the stream [seed, 0]
    stream = np.random.default_rng([7, 0])
    hits = []
    for x, labels in zip(inputs, y, strict=True):
        shuffled = x[stream.permutation(len(x))][:, 0]
        hits.append((shuffled > 0) == labels.astype(bool))
    assert out["blocks"]["read"]["accuracy_drop"] == pytest.approx(1.0 - np.concatenate(hits).mean())
    assert out["blocks"]["read"]["accuracy_drop_sd"] is None and out["n_test"] == 50


def test_single_columns_agree_with_scikit_learn():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=600) > 0).astype(np.int64)
    model = LogisticRegression().fit(X[:300], y[:300])
    test, labels = X[300:], y[300:]
    ours = permutation_importance(
        lambda xs: [model.predict_proba(x) for x in xs],
        [test],
        [labels],
        {f"x{j}": [j] for j in range(3)},
        repeats=60,
        seed=3,
    )
    theirs = sklearn_importance(model, test, labels, scoring="accuracy", n_repeats=60, random_state=3)
    for j in range(3):
        block = ours["blocks"][f"x{j}"]
        se = np.hypot(block["accuracy_drop_sd"], theirs.importances_std[j]) / np.sqrt(60)
        assert block["accuracy_drop"] == pytest.approx(theirs.importances_mean[j], abs=4 * se + 1e-9)
    assert ours["blocks"]["x0"]["accuracy_drop"] > ours["blocks"]["x1"]["accuracy_drop"] > 0.05
    assert abs(ours["blocks"]["x2"]["accuracy_drop"]) < 0.02


def test_bad_arguments_name_the_fix():
    inputs, y = [np.zeros((4, 2))], [np.zeros(4, np.int64)]
    with pytest.raises(ValueError, match=r"repeats = 0: must be an integer >= 1"):
        permutation_importance(_sign_rule, inputs, y, {"a": [0]}, repeats=0)
    with pytest.raises(ValueError, match=r"groups\['a'\] = \[2\]: columns must be in 0..1"):
        permutation_importance(_sign_rule, inputs, y, {"a": [2]})
    with pytest.raises(ValueError, match=r"inputs has 1 folds but y has 2"):
        permutation_importance(_sign_rule, inputs, [*y, *y], {"a": [0]})


@pytest.fixture(scope="module")
def prepared():
    spec = tiny_experiment(search=False, max_epochs=2)
    spec["features"] = {"set": "seed+calendar"}
    experiment, dataset = development_table(spec)
    return experiment, prepare_folds(dataset, experiment)


def test_the_network_is_explained_block_by_block_on_its_own_test_days(prepared):
    experiment, folds = prepared
    out = network_importance(folds, experiment, repeats=2)
    assert list(out["blocks"]) == ["seed", "calendar"]
    assert out["blocks"]["seed"]["columns"] == 6 and out["blocks"]["calendar"]["columns"] == 9
    assert out["n_test"] == sum(len(folds.windows.test_rows(f)) for f in range(len(folds.folds)))
    # the intact accuracy is the trained network's own: the same as fit_folds gives
    from vixray.train import fit_folds

    fit = fit_folds(folds.windows, model=experiment.model, train=experiment.train)
    pred = np.concatenate(fit.test_pred)
    y = np.concatenate([folds.windows.y_test[f][folds.windows.m_test[f]] for f in range(len(folds.folds))])
    assert out["accuracy"] == pytest.approx(np.mean(pred == y))


def test_the_boosting_baseline_is_explained_as_the_run_scored_it(prepared):
    experiment, folds = prepared
    out = boosting_importance(folds, experiment, repeats=2)
    scored = baseline_scores(folds.dataset, folds, experiment, seed=experiment.train.seed)["boosting"]
    assert out["accuracy"] == pytest.approx(scored.pooled["accuracy"])
    assert out["log_loss"] == pytest.approx(scored.pooled["log_loss"])
    # the trees' own five calendar facts join the calendar block's nine features
    assert out["blocks"]["calendar"]["columns"] == 9 + 5 and out["blocks"]["seed"]["columns"] == 6
