"""Which inputs matter: permutation importance of each feature block on the development folds' test days.

A fitted forecaster predicts each fold's test days again with one block's inputs shuffled among those days (one
permutation per repeat and fold, shared by the block's columns, so their joint structure stays); the fall in pooled
accuracy and the rise in log loss from the intact inputs measure how much of its skill rests on the block (Breiman
2001; grouped as in Gregorutti, Michel and Saint-Pierre 2017). Nothing is refitted, so the numbers say what the
fitted model uses: a block that another duplicates can score near zero and still carry signal.

* The network (the search's best trial, retrained on the development folds exactly as its trial trained): a test
  day's input is its window of ``seq_len`` days, and the block's columns of whole windows are exchanged between the
  fold's test days.
* The boosting baseline (:mod:`vixray.baselines.learned`, refitted per fold as the search scored it): the block's
  columns of the test rows; its own calendar facts count with the ``calendar`` block.

scikit-learn's ``permutation_importance`` shuffles the columns of one fitted estimator on one table; shuffling
column groups inside each fold for the fold-stacked network is not in it, so :func:`permutation_importance` is
written here and tested against it on single columns. The result is ``block_importance.json`` in the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vixray import calendar, store
from vixray.baselines import fold_seed, make_fold
from vixray.baselines.learned import boosting_inputs, boosting_proba, fit_boosting
from vixray.config import ExperimentConfig
from vixray.crossval import PreparedFolds
from vixray.features import block_columns
from vixray.metrics import daily_log_loss

log = logging.getLogger(__name__)

REPEATS = 5  # permutations per block: the spread over them is reported beside the mean

Predict = Callable[
    [Sequence[np.ndarray]], list[np.ndarray]
]  # per-fold inputs -> per-fold (n_f, K) probabilities


def _scores(y: np.ndarray, probas: Sequence[np.ndarray]) -> tuple[float, float]:
    proba = np.concatenate(list(probas))  # (T, K)
    return float(np.mean(proba.argmax(axis=1) == y)), float(np.mean(daily_log_loss(y, proba)))


def permutation_importance(
    predict: Predict,
    inputs: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    groups: Mapping[str, Sequence[int]],
    *,
    repeats: int = REPEATS,
    seed: int = 0,
) -> dict[str, Any]:
    """The drop in pooled accuracy and the rise in log loss when each group of columns is shuffled.

    ``inputs`` holds one array per fold, test days first and columns last ((n_f, C) rows or (n_f, T, C) windows);
    ``predict`` maps such a list to per-fold class probabilities; ``y`` the folds' labels. Group ``g`` is shuffled
    with its own stream (seeded by ``seed`` and its position), so adding a group changes no other's numbers.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats = {repeats!r}: must be an integer >= 1 (permutations per block)")
    if len(inputs) != len(y):
        raise ValueError(f"inputs has {len(inputs)} folds but y has {len(y)}: pass one of each per fold")
    width = inputs[0].shape[-1]
    for name, cols in groups.items():
        if not len(cols) or min(cols) < 0 or max(cols) >= width:
            raise ValueError(
                f"groups[{name!r}] = {list(cols)}: columns must be in 0..{width - 1}, at least one"
            )
    labels = np.concatenate(list(y))  # (T,)
    accuracy, log_loss = _scores(labels, predict(inputs))
    blocks = {}
    for g, (name, cols) in enumerate(groups.items()):
        rng = np.random.default_rng([seed, g])
        drops, rises = [], []
        for _ in range(repeats):
            shuffled = []
            for a in inputs:
                b = a.copy()
                b[..., list(cols)] = a[rng.permutation(len(a))][..., list(cols)]
                shuffled.append(b)
            acc, loss = _scores(labels, predict(shuffled))
            drops.append(accuracy - acc)
            rises.append(loss - log_loss)
        blocks[name] = {
            "columns": len(cols),
            "accuracy_drop": float(np.mean(drops)),
            "accuracy_drop_sd": float(np.std(drops, ddof=1)) if repeats > 1 else None,
            "log_loss_rise": float(np.mean(rises)),
            "log_loss_rise_sd": float(np.std(rises, ddof=1)) if repeats > 1 else None,
        }
    return {"accuracy": accuracy, "log_loss": log_loss, "n_test": int(len(labels)), "blocks": blocks}


def network_importance(
    prepared: PreparedFolds, experiment: ExperimentConfig, *, repeats: int = REPEATS, seed: int = 0
) -> dict[str, Any]:
    """Train ``experiment``'s network on the folds (as :func:`vixray.train.fit_folds` does), then shuffle each block
    of its windows' columns among every fold's test days."""
    from vixray.train import FoldTrainer  # torch is imported only when a model is trained

    trainer = FoldTrainer(prepared.windows, model=experiment.model, train=experiment.train)
    while not trainer.done():
        trainer.run_epoch()
    w = prepared.windows
    inputs = [w.x_test[f][w.m_test[f]] for f in range(w.n_folds)]  # per fold (n_f, T, C)
    y = [w.y_test[f][w.m_test[f]] for f in range(w.n_folds)]

    def predict(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return trainer.predict("test", inputs=xs)[0]

    groups = block_columns(prepared.dataset.feature_names)
    return permutation_importance(predict, inputs, y, groups, repeats=repeats, seed=seed)


def boosting_importance(
    prepared: PreparedFolds, experiment: ExperimentConfig, *, repeats: int = REPEATS, seed: int = 0
) -> dict[str, Any] | None:
    """The boosting baseline refitted on every fold (its seed per fold, as the search's baselines), then each block
    of its inputs shuffled among the fold's test rows; None when a fold's training rows hold one class only."""
    dataset = prepared.dataset
    models, inputs, y = [], [], []
    for k, (train, _) in enumerate(prepared.folds):
        test = prepared.windows.test_rows(k)  # the rows every forecaster is scored on
        fold = make_fold(
            dataset,
            train,
            test,
            labels=experiment.labels,
            val_fraction=experiment.split.val_fraction,
            seed=fold_seed(experiment.train.seed, k),
        )
        if np.unique(fold.y(fold.train)).size < 2:
            log.warning("boosting importance: fold %d trains on one class; no importance for the baseline", k)
            return None
        X = boosting_inputs(fold)  # (R, C + 5)
        models.append(fit_boosting(fold, X)[0])
        inputs.append(X[test])
        y.append(fold.y(test))

    def predict(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [boosting_proba(m, x, n_classes=dataset.n_classes) for m, x in zip(models, xs, strict=True)]

    groups = block_columns(dataset.feature_names)
    n = len(dataset.feature_names)
    groups.setdefault("calendar", []).extend(range(n, n + len(calendar.COLUMNS)))  # the trees' calendar facts
    return permutation_importance(predict, inputs, y, groups, repeats=repeats, seed=seed)


def write_block_importance(
    run: store.Run,
    *,
    trial_id: str,
    trial: tuple[PreparedFolds, ExperimentConfig],
    baseline: tuple[PreparedFolds, ExperimentConfig],
    repeats: int = REPEATS,
    seed: int = 0,
) -> dict[str, Any]:
    """The importances of the best trial's network and of the boosting baseline, written to the run."""
    out: dict[str, Any] = {
        "repeats": repeats,
        "seed": seed,
        "model": {
            "trial_id": trial_id,
            "feature_set": trial[1].features.set,
            **network_importance(*trial, repeats=repeats, seed=seed),
        },
        "boosting": None,
    }
    boosted = boosting_importance(*baseline, repeats=repeats, seed=seed)
    if boosted is not None:
        out["boosting"] = {"feature_set": baseline[1].features.set, **boosted}
    store.write_json(run.path / store.BLOCK_IMPORTANCE, out)
    return out
