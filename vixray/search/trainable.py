"""The search trial: sampled parameters -> a frozen experiment -> the fold-batched trainer, reporting to Ray.

This module is thin on purpose (as Ray's ``mnist_pytorch`` keeps ``train_func`` apart from the trainable): the
sampled parameters become a validated :class:`~vixray.config.ExperimentConfig`, :mod:`vixray.crossval` builds the
folds' windows and :class:`vixray.train.FoldTrainer` fits every development fold at once, exactly as ``vixray cv``
does; only the reporting and checkpointing here know about Ray. The data arrives once per worker through the object
store (:class:`SearchPayload`, via ``tune.with_parameters``) and holds the development era only.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import ray
from ray import tune

from vixray.config import ExperimentConfig
from vixray.config.search import trial_overrides
from vixray.crossval import METRIC_KEYS, PreparedFolds, prepare_folds, score_folds
from vixray.dataset import Dataset

CHECKPOINT_FILE = "trainer.pt"
# A trial saves its trainer at most this often (and at its last epoch): a resumed trial repeats at most this much.
CHECKPOINT_SECONDS = 10.0
# A trial reports at least this often (and at ASHA's rungs and its end), so progress and curves stay live.
REPORT_SECONDS = 1.0
EARLIER_EPOCHS = "earlier_epochs"  # a report's key for the epochs trained since the previous report
# every test day's call of a finished trial (for the search's SPA) travels in its last checkpoint, through the
# storage every node reaches, not in its report: the driver keeps a trial's reports until the search ends
DAILY_PREDICTIONS_FILE = "daily_predictions.parquet"
# a report's key marking the replay of a trial that had ended before the search was restored
DECIDED = "decided_before_restore"
REPLAYED_ERROR = "errored before the search was restored"  # what a replayed errored trial raises


@dataclass(frozen=True)
class SearchPayload:
    """What every trial needs, shipped once through the object store: development-era tables only."""

    experiment: ExperimentConfig
    datasets: Mapping[str, Dataset]  # feature set -> development table
    epochs: int
    threads: int
    device: str  # "cpu" for trials that reserve no GPU, else the experiment's train.device
    rungs: frozenset[int]  # the epochs ASHA judges trials at: a trial always reports at them
    # the trials the store records as ended before a restore: {"report": last report} or {"error": message}
    decided: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def trial_experiment(payload: SearchPayload, params: Mapping[str, Any]) -> ExperimentConfig:
    overrides = trial_overrides(params, epochs=payload.epochs)
    overrides["train.threads"] = payload.threads
    overrides["train.device"] = payload.device
    return payload.experiment.with_overrides(overrides, origin="search trial")


def epoch_metrics(report: Any) -> dict[str, Any]:
    """One Ray report: the fold means that ASHA and Optuna see, and every fold's values for the curves."""
    out: dict[str, Any] = {
        "epoch": int(report.epoch),
        "val_loss": float(np.mean(report.val_loss)),
        "val_accuracy": float(np.mean(report.val_accuracy)),
        "train_loss": float(np.mean(report.train_loss)),
        "active_folds": int(np.sum(report.active)),
    }
    for k in range(len(report.val_loss)):
        out[f"fold{k}_train_loss"] = float(report.train_loss[k])
        out[f"fold{k}_val_loss"] = float(report.val_loss[k])
        out[f"fold{k}_val_accuracy"] = float(report.val_accuracy[k])
    return out


def test_scores(
    prepared: PreparedFolds, proba: Sequence[np.ndarray], pred: Sequence[np.ndarray]
) -> tuple[dict[str, Any], pl.DataFrame]:
    """A finished trial's test metrics for its last report, pooled and per fold (with each fold's confusion matrix),
    and every test day's call (for its last checkpoint)."""
    rows = [prepared.windows.test_rows(f) for f in range(len(prepared.folds))]
    scores = score_folds(prepared.dataset, rows, pred, proba)
    out: dict[str, Any] = {f"test_{k}": scores.pooled[k] for k in METRIC_KEYS}
    for f, fold in enumerate(scores.per_fold):
        for k in METRIC_KEYS:
            out[f"fold{f}_test_{k}"] = fold[k]
        out[f"fold{f}_n_test"] = int(fold["n"])
        out[f"fold{f}_test_confusion"] = fold["confusion"]  # (K, K) rows true, columns predicted
    return out, scores.daily(prepared.dataset)


def train_trial(config: dict[str, Any], payload: SearchPayload) -> None:
    """Ray's function trainable: ``config`` is the sampled parameters (dotted names), ``payload`` the shared data."""
    import torch

    from vixray.train import FoldTrainer

    # one line per epoch per trial about checkpoints would drown Ray's progress table
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    decided = payload.decided.get(tune.get_context().get_trial_id())
    if decided is not None:  # ended before the restart: replay the decision, train nothing
        if "error" in decided:
            raise RuntimeError(f"{REPLAYED_ERROR}: {decided['error']}")
        tune.report({**decided["report"], DECIDED: True})
        return
    experiment = trial_experiment(payload, config)
    prepared = prepare_folds(payload.datasets[experiment.features.set], experiment)
    trainer = FoldTrainer(prepared.windows, model=experiment.model, train=experiment.train)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trainer.load_state_dict(torch.load(Path(folder) / CHECKPOINT_FILE, weights_only=True))
    node_id = ray.get_runtime_context().get_node_id()  # where the trial ran, for cluster users (and tests)
    # tune.report waits for the driver to take the result, a few milliseconds each time: more than a short epoch
    # is worth. So a trial reports at ASHA's rungs (where it is judged, on exactly that epoch), at its end and
    # every REPORT_SECONDS; a report carries the epochs since the previous one, so every epoch reaches the curves.
    unreported: list[dict[str, Any]] = []
    last_report = last_saved = time.monotonic()
    while not trainer.done():
        metrics = {**epoch_metrics(trainer.run_epoch()), "node_id": node_id}
        done = trainer.done()
        if not (
            done or metrics["epoch"] in payload.rungs or time.monotonic() - last_report >= REPORT_SECONDS
        ):
            unreported.append(metrics)
            continue
        metrics[EARLIER_EPOCHS] = unreported
        daily = None
        if done:
            proba, pred = trainer.predict("test")
            scores, daily = test_scores(prepared, proba, pred)
            metrics.update(scores)
        # A trial's second checkpoint since Ray's last snapshot makes Ray snapshot the whole search (with
        # CheckpointConfig(num_to_keep=2)), so saving after every sub-second epoch would cost more than the epoch.
        # Save every CHECKPOINT_SECONDS, and always at the end so a trial that finished just before a crash is not
        # trained again on resume.
        if done or time.monotonic() - last_saved >= CHECKPOINT_SECONDS:
            with tempfile.TemporaryDirectory() as folder:
                torch.save(trainer.state_dict(), Path(folder) / CHECKPOINT_FILE)
                if daily is not None:
                    daily.write_parquet(Path(folder) / DAILY_PREDICTIONS_FILE)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            last_saved = time.monotonic()
        else:
            tune.report(metrics)
        unreported = []
        last_report = time.monotonic()
