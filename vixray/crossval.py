"""One configuration over all walk-forward folds of an era: folds, windows, the trainer, baselines, scores.

The same pieces serve ``vixray cv`` (:func:`cross_validate`), each search trial (:mod:`vixray.search` calls
:func:`prepare_folds` and :func:`score_folds`) and the holdout evaluation (:mod:`vixray.holdout`), so all three score
the same rows the same way and test them with one :func:`significance`. Nothing here knows about Ray.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from vixray.baselines import run_baselines, strongest_baseline
from vixray.config import ExperimentConfig, SplitConfig
from vixray.dataset import Dataset
from vixray.metrics import DEFAULT_N_BOOT, classification_metrics, compare_to_baselines, paired_comparison
from vixray.split import WalkForwardSplit, describe_folds
from vixray.windows import FoldWindows, make_fold_windows

if TYPE_CHECKING:  # the trainer imports torch: only when a model is trained
    from vixray.train import FitResult

log = logging.getLogger(__name__)

METRIC_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")


def make_splitter(split: SplitConfig) -> WalkForwardSplit:
    return WalkForwardSplit(
        split.n_splits,
        train_size=split.train_size,
        test_size=split.test_size,
        step=split.step,
        gap=split.gap,
        expanding=split.expanding,
    )


@dataclass(frozen=True)
class PreparedFolds:
    """An era's table cut into folds, with the model's windows built for all folds at once."""

    dataset: Dataset
    folds: list[tuple[np.ndarray, np.ndarray]]
    windows: FoldWindows
    fold_info: list[dict[str, Any]]


def era_folds(
    dataset: Dataset, experiment: ExperimentConfig, *, era: str = "development"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Walk-forward folds over the table; too little data is an error naming the era and the split settings."""
    splitter = make_splitter(experiment.split)
    try:
        return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(dataset.X)]
    except ValueError as err:
        first, last = (dataset.dates[0], dataset.dates[-1]) if len(dataset) else ("-", "-")
        raise ValueError(
            f"the {era} era ({first}..{last}, {len(dataset)} labelled rows) is too short for the folds asked "
            f"(split: {splitter!r}): {err}"
        ) from None


def prepare_folds(
    dataset: Dataset,
    experiment: ExperimentConfig,
    *,
    folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> PreparedFolds:
    folds = list(folds) if folds is not None else era_folds(dataset, experiment)
    windows = make_fold_windows(
        dataset.X,
        dataset.y,
        folds,
        seq_len=experiment.model.seq_len,
        val_fraction=experiment.split.val_fraction,
        val_gap=experiment.labels.horizon,
        n_classes=dataset.n_classes,
        class_weighting=experiment.train.class_weighting,
    )
    fold_info = describe_folds(folds, dataset.dates)
    return PreparedFolds(dataset=dataset, folds=folds, windows=windows, fold_info=fold_info)


@dataclass(frozen=True)
class FoldScores:
    """Per-fold and pooled test metrics of one set of predictions on the folds' test rows."""

    per_fold: list[dict[str, Any]]
    pooled: dict[str, Any]
    y_true: np.ndarray  # pooled, in fold order
    pred: np.ndarray
    proba: np.ndarray | None
    rows: np.ndarray  # (T,) the table row of each pooled day
    fold: np.ndarray  # (T,) the fold each pooled day was tested in
    classes: tuple[str, ...]  # the label kind's class names, in id order

    def daily(self, dataset: Dataset) -> pl.DataFrame:
        """One row per test day: ``fold``, ``date``, ``y_true``, ``pred`` and the class probabilities ``p_<class>``
        (null without them): what a run stores for every trial and baseline, joined across them by date."""
        proba = self.proba if self.proba is not None else np.full((len(self.pred), len(self.classes)), np.nan)
        return pl.DataFrame(
            {
                "fold": self.fold.astype(np.int64),
                "date": pl.Series(dataset.frame["date"].gather(self.rows), dtype=pl.Date),
                "y_true": self.y_true.astype(np.int64),
                "pred": self.pred.astype(np.int64),
                **{f"p_{name}": proba[:, k] for k, name in enumerate(self.classes)},
            }
        ).with_columns(pl.col(f"p_{name}").fill_nan(None) for name in self.classes)


def fit_prepared(
    prepared: PreparedFolds,
    experiment: ExperimentConfig,
    *,
    refit: bool | None = None,
    on_epoch: Callable[[Any], None] | None = None,
) -> FitResult:
    """Train ``experiment``'s network on every fold at once (:func:`vixray.train.fit_folds`), early-stopping on each
    training block's validation tail.

    With ``refit`` (default ``train.refit``) each fold is then trained afresh on its WHOLE training block, scaler
    included, for the number of epochs it early-stopped at, and that model makes the test predictions: the first
    pass never fits on the last ``val_fraction`` of its block (the most recent days), while every baseline does.
    Returns the :class:`vixray.train.FitResult` (its ``refit_epochs`` say whether a refit made the predictions).
    """
    from vixray.train import fit_folds  # torch is imported only when a model is trained

    train = experiment.train
    fit = fit_folds(prepared.windows, model=experiment.model, train=train, on_epoch=on_epoch)
    if not (train.refit if refit is None else refit):
        return fit
    dataset = prepared.dataset
    whole = make_fold_windows(
        dataset.X,
        dataset.y,
        prepared.folds,
        seq_len=experiment.model.seq_len,
        val_fraction=0.0,
        val_gap=experiment.labels.horizon,
        n_classes=dataset.n_classes,
        class_weighting=train.class_weighting,
    )
    epochs = np.asarray(fit.best_epoch, dtype=np.int64)  # (F,)
    again = fit_folds(
        whole,
        model=experiment.model,
        train=dataclasses.replace(train, epochs=int(epochs.max()), patience=None),
        epoch_limits=epochs,
    )
    log.info("refitted %d folds on their whole training blocks for %s epochs", len(epochs), epochs.tolist())
    return dataclasses.replace(
        fit,
        test_proba=again.test_proba,
        test_pred=again.test_pred,
        test_rows=again.test_rows,
        seconds=fit.seconds + again.seconds,
        refit_epochs=epochs,
    )


def score_folds(
    dataset: Dataset,
    rows: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    probas: Sequence[np.ndarray] | None = None,
) -> FoldScores:
    y, n_classes = dataset.y, dataset.n_classes
    per_fold = []
    for k, (r, p) in enumerate(zip(rows, preds, strict=True)):
        proba_k = probas[k] if probas is not None else None
        per_fold.append(classification_metrics(y[r], p, proba=proba_k, n_classes=n_classes))
    all_rows = np.concatenate(list(rows))
    pred = np.concatenate(list(preds))
    proba = np.concatenate(list(probas)) if probas is not None else None
    pooled = classification_metrics(y[all_rows], pred, proba=proba, n_classes=n_classes)
    fold = np.concatenate([np.full(len(r), k) for k, r in enumerate(rows)])
    return FoldScores(per_fold, pooled, y[all_rows], pred, proba, all_rows, fold, dataset.classes)


def baseline_scores(
    dataset: Dataset, prepared: PreparedFolds, experiment: ExperimentConfig, *, seed: int = 0
) -> dict[str, FoldScores]:
    """Every baseline on exactly the model's test rows (windows may drop rows without enough history)."""
    test_rows = [prepared.windows.test_rows(f) for f in range(len(prepared.folds))]
    folds = [(tr, te) for (tr, _), te in zip(prepared.folds, test_rows, strict=True)]
    forecasts = run_baselines(
        dataset, folds, labels=experiment.labels, val_fraction=experiment.split.val_fraction, seed=seed
    )
    out = {}
    for name, per_fold in forecasts.items():
        probas = [f.proba for f in per_fold if f.proba is not None]
        out[name] = score_folds(
            dataset,
            test_rows,
            [f.pred for f in per_fold],
            probas if len(probas) == len(per_fold) else None,
        )
        if per_fold and per_fold[0].expected_accuracy is not None:
            out[name].pooled["expected_accuracy"] = per_fold[0].expected_accuracy
    return out


def pooled_accuracy(baselines: Mapping[str, FoldScores]) -> dict[str, float]:
    return {name: float(s.pooled["accuracy"]) for name, s in baselines.items()}


def _paired(a: FoldScores, b: FoldScores, *, horizon: int, n_boot: int, seed: int) -> dict[str, Any]:
    return paired_comparison(
        a.y_true,
        a.pred,
        b.pred,
        proba_a=a.proba,
        proba_b=b.proba,
        horizon=horizon,
        n_boot=n_boot,
        seed=seed,
        classes=a.classes,
    )


def significance(
    model: FoldScores,
    baselines: Mapping[str, FoldScores],
    *,
    strongest: str,
    horizon: int = 1,
    seed: int = 0,
    n_boot: int = DEFAULT_N_BOOT,
) -> dict[str, Any]:
    """The pooled tests of the model on its test rows, headed by the model against ``strongest``.

    ``vs_strongest``: the model against the strongest baseline (the accuracy difference with a paired bootstrap
    interval, McNemar, and the log-loss difference with Diebold-Mariano: :func:`vixray.metrics.paired_comparison`),
    the report's headline. ``baselines_vs_majority``: every other baseline against the majority class the same way
    (is the yardstick itself better than always calling the most frequent class?). Then the tests of
    :func:`vixray.metrics.compare_to_baselines` (binomial against chance and the majority rate, McNemar against
    each baseline with ``strongest`` flagged, Pesaran-Timmermann, the accuracy interval).
    """
    if strongest not in baselines:
        raise ValueError(f"strongest = {strongest!r} is not among the baselines scored: {sorted(baselines)}")
    majority = baselines.get("majority")
    tests = compare_to_baselines(
        model.y_true,
        model.pred,
        baselines={name: s.pred for name, s in baselines.items()},
        majority_accuracy=majority.pooled["accuracy"] if majority else None,
        bootstrap={"n_boot": n_boot},
        seed=seed,
        classes=model.classes,
    )
    for name, result in tests["mcnemar"].items():
        result["strongest"] = name == strongest
    paired = {"horizon": horizon, "n_boot": n_boot, "seed": seed}
    head = {"strongest": strongest, "vs_strongest": _paired(model, baselines[strongest], **paired)}
    if majority is not None:
        head["vs_majority"] = _paired(model, majority, **paired)
        head["baselines_vs_majority"] = {
            name: _paired(s, majority, **paired) for name, s in baselines.items() if name != "majority"
        }
    return {**head, **tests}


def cross_validate(
    dataset: Dataset,
    experiment: ExperimentConfig,
    *,
    on_epoch: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Train ``experiment`` over every fold at once (refitting them when ``train.refit``), score it beside every
    baseline; a JSON-able report."""
    started = time.perf_counter()
    prepared = prepare_folds(dataset, experiment)
    t0 = time.perf_counter()
    fit = fit_prepared(prepared, experiment, on_epoch=on_epoch)
    train_seconds = time.perf_counter() - t0
    model = score_folds(dataset, fit.test_rows, fit.test_pred, fit.test_proba)
    baselines = baseline_scores(dataset, prepared, experiment, seed=experiment.train.seed)
    # the yardstick chosen on these development folds, as a search chooses it on its own
    strongest = strongest_baseline(pooled_accuracy(baselines))
    tests = significance(
        model, baselines, strongest=strongest, horizon=experiment.labels.horizon, seed=experiment.train.seed
    )
    folds = []
    for k, info in enumerate(prepared.fold_info):
        folds.append(
            {
                **info,
                "n_test": int(len(fit.test_rows[k])),
                "epochs_run": int(fit.epochs_run),
                "best_epoch": int(fit.best_epoch[k]),
                "refit_epochs": int(fit.refit_epochs[k]) if fit.refit_epochs is not None else None,
                "model": model.per_fold[k],
                "baselines": {name: s.per_fold[k] for name, s in baselines.items()},
            }
        )
    return {
        "experiment": experiment.name,
        "folds": folds,
        "pooled": {
            "n_test": int(len(model.y_true)),
            "model": model.pooled,
            "baselines": {name: s.pooled for name, s in baselines.items()},
            "tests": tests,
        },
        "timing": {
            "total_seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
            "epochs_run": int(fit.epochs_run),
            "refit": fit.refit_epochs is not None,
            "device": str(fit.device),
        },
        "config": experiment.to_dict(),
    }
