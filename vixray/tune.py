"""Distributed hyperparameter search: Ray Tune runs the trials, Optuna's TPE proposes them, ASHA stops the weak.

This is the only module that imports Ray or Optuna. Its trainable is thin: the sampled parameters become a frozen
:class:`~vixray.config.ExperimentConfig`, the fold-batched trainer fits every development fold at once, and each epoch
is reported to Ray (mean validation loss over folds, which ASHA prunes on) with a checkpoint so a resumed trial
continues where it stopped. The data travels to the workers once, through the object store
(``tune.with_parameters``), and holds the development era only: the holdout era is never loaded by a trial.

Every search is a run directory of :mod:`vixray.store`; Ray's own experiment folder lives inside it (``ray/``), so
``Tuner.restore`` resumes a run whose driver died, and the Optuna study is kept in ``optuna.db``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import polars as pl
import ray
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from vixray import store
from vixray.config import ExperimentConfig, dump_experiment, experiment_from_dict
from vixray.crossval import METRIC_KEYS, PreparedFolds, baseline_scores, era_folds, prepare_folds, score_folds
from vixray.data import Prices, load_prices
from vixray.dataset import Dataset, Eras, development_dataset, resolve_eras
from vixray.search_space import Param, SearchConfig, is_active, trial_overrides

log = logging.getLogger(__name__)

PARAM_PREFIX = "param."
_CHECKPOINT_FILE = "trainer.pt"
# A trial saves its trainer at most this often (and at its last epoch): a resumed trial repeats at most this much.
CHECKPOINT_SECONDS = 10.0
# A trial reports at least this often (and at ASHA's rungs and its end), so progress and curves stay live.
REPORT_SECONDS = 1.0
EARLIER_EPOCHS = "earlier_epochs"  # a report's key for the epochs trained since the previous report


# ------------------------------------------------------------------------------------------------ the space


def distribution(p: Param) -> BaseDistribution:
    """The Optuna distribution a space entry samples from: what the searcher suggests and optuna.db records."""
    if p.type == "categorical":
        return CategoricalDistribution(list(p.choices))
    if p.type == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step) if p.step else 1)  # type: ignore[arg-type]
    log_scale = p.type == "loguniform" or p.log
    return FloatDistribution(p.low, p.high, log=log_scale, step=None if log_scale else p.step)  # type: ignore[arg-type]


class DefineByRun:
    """Optuna define-by-run space with conditional parameters (a class, so the searcher state pickles)."""

    def __init__(self, space: Sequence[Param]) -> None:
        self.space = tuple(space)

    def __call__(self, trial: optuna.Trial) -> None:
        values: dict[str, Any] = {}
        for p in self.space:
            if not is_active(p, values):
                continue
            d = distribution(p)
            if isinstance(d, CategoricalDistribution):
                values[p.name] = trial.suggest_categorical(p.name, list(d.choices))
            elif isinstance(d, IntDistribution):
                values[p.name] = trial.suggest_int(p.name, d.low, d.high, step=d.step, log=d.log)
            else:
                values[p.name] = trial.suggest_float(p.name, d.low, d.high, step=d.step, log=d.log)


# ------------------------------------------------------------------------------------------------ the trainable


@dataclass(frozen=True)
class SearchPayload:
    """What every trial needs, shipped once through the object store: development-era tables only."""

    experiment: ExperimentConfig
    datasets: Mapping[str, Dataset]  # feature set -> development table
    epochs: int
    threads: int
    device: str  # "cpu" for trials that reserve no GPU, else the experiment's train.device
    rungs: frozenset[int]  # the epochs ASHA judges trials at: a trial always reports at them


def asha_rungs(*, grace_period: int, reduction_factor: float, max_epochs: int) -> frozenset[int]:
    """The epochs ASHA judges at: the first epoch >= each milestone grace_period * reduction_factor**k <= max_epochs
    (Ray's rungs, computed as Ray computes them, are among these)."""
    rungs, k = set(), 0
    while (milestone := grace_period * reduction_factor**k) <= max_epochs:
        rungs.add(math.ceil(milestone))
        k += 1
    return frozenset(rungs)


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


def test_metrics(
    prepared: PreparedFolds, proba: Sequence[np.ndarray], pred: Sequence[np.ndarray]
) -> dict[str, Any]:
    rows = [prepared.windows.test_rows(f) for f in range(len(prepared.folds))]
    scores = score_folds(prepared.dataset, rows, pred, proba)
    out: dict[str, Any] = {f"test_{k}": scores.pooled[k] for k in METRIC_KEYS}
    for f, fold in enumerate(scores.per_fold):
        for k in METRIC_KEYS:
            out[f"fold{f}_test_{k}"] = fold[k]
        out[f"fold{f}_n_test"] = int(fold["n"])
        out[f"fold{f}_test_confusion"] = fold["confusion"]  # (K, K) rows true, columns predicted
    return out


def _trainable(config: dict[str, Any], payload: SearchPayload) -> None:
    import torch

    from vixray.train import FoldTrainer

    # one line per epoch per trial about checkpoints would drown Ray's progress table
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    experiment = trial_experiment(payload, config)
    prepared = prepare_folds(payload.datasets[experiment.features.set], experiment)
    trainer = FoldTrainer(prepared.windows, model=experiment.model, train=experiment.train)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trainer.load_state_dict(torch.load(Path(folder) / _CHECKPOINT_FILE, weights_only=False))
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
        if done:
            proba, pred = trainer.predict("test")
            metrics.update(test_metrics(prepared, proba, pred))
        # Each checkpoint also makes Ray snapshot the whole search (CheckpointConfig(num_to_keep=1) forces it), so
        # saving after every sub-second epoch would cost more than the epoch. Save every CHECKPOINT_SECONDS, and
        # always at the end so a trial that finished just before a crash is not trained again on resume.
        if done or time.monotonic() - last_saved >= CHECKPOINT_SECONDS:
            with tempfile.TemporaryDirectory() as folder:
                torch.save(trainer.state_dict(), Path(folder) / _CHECKPOINT_FILE)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            last_saved = time.monotonic()
        else:
            tune.report(metrics)
        unreported = []
        last_report = time.monotonic()


# ------------------------------------------------------------------------------------------------ the store


def _status(history: Sequence[Mapping[str, Any]], *, error: str | None, ended: bool) -> str:
    if error:
        return "errored"
    if history and "test_accuracy" in history[-1]:
        return "finished"
    return "pruned" if ended else "running"


def trial_tables(
    trials: Mapping[str, Mapping[str, Any]], *, n_folds: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """trials.parquet, folds.parquet and curves.parquet rows from each trial's params and report history."""
    trial_rows, fold_rows, curve_rows = [], [], []
    for trial_id, t in trials.items():
        history: list[Mapping[str, Any]] = t["history"]
        last = history[-1] if history else {}
        status = _status(history, error=t.get("error"), ended=t.get("ended", False))
        row: dict[str, Any] = {"trial_id": trial_id, "status": status}
        row.update({PARAM_PREFIX + k: v for k, v in sorted(t["params"].items())})
        row["val_loss"] = last.get("val_loss")
        row["val_accuracy"] = last.get("val_accuracy")
        row["best_val_loss"] = min((h["val_loss"] for h in history), default=None)
        row["best_val_accuracy"] = max((h["val_accuracy"] for h in history), default=None)
        for key in METRIC_KEYS:
            row[f"test_{key}"] = last.get(f"test_{key}")
        for f in range(n_folds):
            row[f"fold{f}_test_accuracy"] = last.get(f"fold{f}_test_accuracy")
        row["epochs"] = int(last.get("epoch", 0))
        row["node_id"] = last.get("node_id")
        row["seconds"] = float(t.get("seconds") or 0.0)
        row["error"] = t.get("error")
        trial_rows.append(row)
        if status == "finished":
            for f in range(n_folds):
                fold_rows.append(
                    {
                        "trial_id": trial_id,
                        "fold": f,
                        "n_test": last.get(f"fold{f}_n_test"),
                        **{k: last.get(f"fold{f}_test_{k}") for k in METRIC_KEYS},
                        "confusion": last.get(f"fold{f}_test_confusion"),
                    }
                )
        for h in history:
            for f in range(n_folds):
                if f"fold{f}_val_loss" in h:
                    curve_rows.append(
                        {
                            "trial_id": trial_id,
                            "epoch": int(h["epoch"]),
                            "fold": f,
                            "train_loss": h[f"fold{f}_train_loss"],
                            "val_loss": h[f"fold{f}_val_loss"],
                            "val_accuracy": h[f"fold{f}_val_accuracy"],
                        }
                    )
    return (
        pl.DataFrame(trial_rows, infer_schema_length=None),
        pl.DataFrame(fold_rows, schema=_FOLD_SCHEMA),
        pl.DataFrame(curve_rows, schema=_CURVE_SCHEMA) if not curve_rows else pl.DataFrame(curve_rows),
    )


_FOLD_SCHEMA = {
    "trial_id": pl.String,
    "fold": pl.Int64,
    "n_test": pl.Int64,
    **dict.fromkeys(METRIC_KEYS, pl.Float64),
    "confusion": pl.List(pl.List(pl.Int64)),
}
_CURVE_SCHEMA = {
    "trial_id": pl.String,
    "epoch": pl.Int64,
    "fold": pl.Int64,
    "train_loss": pl.Float64,
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
}
_REPORT_KEYS = ("epoch", "val_loss", "val_accuracy", "train_loss", "node_id")


class StoreCallback(tune.Callback):
    """Keeps trials.parquet, folds.parquet and curves.parquet current while the search runs (atomic rewrites)."""

    def __init__(self, run_path: Path, *, n_folds: int, flush_seconds: float = 3.0) -> None:
        self.run_path = Path(run_path)
        self.n_folds = n_folds
        self.flush_seconds = flush_seconds
        self._trials: dict[str, dict[str, Any]] | None = None
        self._last_flush = 0.0

    def _state(self) -> dict[str, dict[str, Any]]:
        if self._trials is None:  # first event, or first after a restore: start from what is on disk
            self._trials = _trials_from_store(store.Run(self.run_path), n_folds=self.n_folds)
        return self._trials

    def _trial(self, trial: Any) -> dict[str, Any]:
        state = self._state()
        entry = state.setdefault(trial.trial_id, {"params": {}, "history": [], "error": None, "ended": False})
        entry["params"] = dict(trial.config)
        return entry

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trial(trial)
        entry["started"] = entry.get("started") or time.time()
        self.flush(force=False)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        entry = self._trial(trial)
        latest = {k: v for k, v in result.items() if k.startswith(("fold", "test_")) or k in _REPORT_KEYS}
        reported = [*result.get(EARLIER_EPOCHS, []), latest]
        # a trial resumed from a checkpoint trains again from there: its new epochs replace everything after it
        first = reported[0]["epoch"]
        entry["history"] = [*(h for h in entry["history"] if h["epoch"] < first), *reported]
        entry["seconds"] = float(result.get("time_total_s", entry.get("seconds") or 0.0))
        self.flush(force="test_accuracy" in latest)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial(trial)["ended"] = True
        self.flush(force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trial(trial)
        entry["ended"] = True
        entry["error"] = _error_message(trial)
        self.flush(force=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.flush(force=True)

    def flush(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_seconds:
            return
        self._last_flush = now
        trials_df, folds_df, curves_df = trial_tables(self._state(), n_folds=self.n_folds)
        store.write_parquet(self.run_path / store.TRIALS, trials_df)
        store.write_parquet(self.run_path / store.FOLDS, folds_df)
        store.write_parquet(self.run_path / store.CURVES, curves_df)


def _error_message(trial: Any) -> str:
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "trial failed (no error message recorded)"


def _trials_from_store(run: store.Run, *, n_folds: int) -> dict[str, dict[str, Any]]:
    """Rebuild the callback's state from a run's tables, so a resumed search keeps its finished trials' rows."""
    trials, curves = run.trials(), run.curves()
    if trials is None:
        return {}
    state: dict[str, dict[str, Any]] = {}
    for row in trials.iter_rows(named=True):
        params = {
            k[len(PARAM_PREFIX) :]: v for k, v in row.items() if k.startswith(PARAM_PREFIX) and v is not None
        }
        history: dict[int, dict[str, Any]] = {}
        if curves is not None:
            for c in curves.filter(pl.col("trial_id") == row["trial_id"]).iter_rows(named=True):
                h = history.setdefault(c["epoch"], {"epoch": c["epoch"]})
                for key in ("train_loss", "val_loss", "val_accuracy"):
                    h[f"fold{c['fold']}_{key}"] = c[key]
        for h in history.values():
            h["val_loss"] = float(np.mean([h[f"fold{f}_val_loss"] for f in range(n_folds)]))
            h["val_accuracy"] = float(np.mean([h[f"fold{f}_val_accuracy"] for f in range(n_folds)]))
        ordered = [history[e] for e in sorted(history)]
        if ordered and row["status"] == "finished":
            ordered[-1].update({f"test_{k}": row[f"test_{k}"] for k in METRIC_KEYS})
            folds = run.folds()
            if folds is not None:
                for fr in folds.filter(pl.col("trial_id") == row["trial_id"]).iter_rows(named=True):
                    ordered[-1][f"fold{fr['fold']}_n_test"] = fr["n_test"]
                    ordered[-1][f"fold{fr['fold']}_test_confusion"] = fr.get("confusion")
                    ordered[-1].update({f"fold{fr['fold']}_test_{k}": fr[k] for k in METRIC_KEYS})
        state[row["trial_id"]] = {
            "params": params,
            "history": ordered,
            "error": row.get("error"),
            "ended": row["status"] != "running",
            "seconds": row.get("seconds"),
        }
    return state


_OPTUNA_STATES = {
    "finished": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "errored": optuna.trial.TrialState.FAIL,
}


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs each study it creates at INFO, which lands in the middle of the search's console output."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def study_name(run: store.Run) -> str:
    return f"{run.experiment}-{run.run_id}"


def write_study(run: store.Run, search: SearchConfig, *, n_folds: int) -> optuna.Study:
    """optuna.db, rebuilt from the run's tables and renamed into place, for optuna-dashboard and importances.

    The search itself keeps its study in memory (Ray pickles it with the search state, so a resumed search goes on
    with it): an SQLite study commits on every suggestion and every report, which cost the driver about 90 ms of
    CPU per trial, a quarter of a quick-search trial's own time, on the cores the trials need.
    Trials stopped by ASHA are PRUNED, errored ones FAIL; each trial's value is its last reported search metric and
    its intermediate values the per-epoch fold means, as the searcher saw them. Unfinished trials are left out.
    """
    space = {p.name: distribution(p) for p in search.space}
    state = _trials_from_store(run, n_folds=n_folds)
    trials = []
    for trial_id, t in state.items():
        status = _status(t["history"], error=t.get("error"), ended=t.get("ended", False))
        if status not in _OPTUNA_STATES:
            continue
        params = {k: v for k, v in t["params"].items() if k in space}
        history = t["history"]
        value = history[-1][search.metric] if history and status != "errored" else None
        trials.append(
            optuna.trial.create_trial(
                state=_OPTUNA_STATES[status],
                value=value,
                params=params,
                distributions={k: space[k] for k in params},
                intermediate_values={int(h["epoch"]): float(h[search.metric]) for h in history},
                user_attrs={"ray_trial_id": trial_id},
            )
        )
    direction = "minimize" if search.mode == "min" else "maximize"
    with _quiet_optuna(), tempfile.TemporaryDirectory(dir=run.path, prefix=".optuna-") as folder:
        # built in memory (which the importances then read) and copied to SQLite in one pass
        memory = optuna.storages.InMemoryStorage()
        study = optuna.create_study(study_name=study_name(run), storage=memory, direction=direction)
        study.set_user_attr("metric", search.metric)
        study.add_trials(trials)
        staging = Path(folder) / store.OPTUNA_DB
        storage = optuna.storages.RDBStorage(f"sqlite:///{staging}")
        try:
            optuna.copy_study(from_study_name=study.study_name, from_storage=memory, to_storage=storage)
        finally:
            storage.engine.dispose()
        os.replace(staging, run.path / store.OPTUNA_DB)
    return study


def write_importance(run: store.Run, study: optuna.Study) -> store.Importance | None:
    """importance.json: Optuna's fANOVA importances over the finished trials (None with fewer than two)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return None
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
        )
    except (ValueError, RuntimeError) as err:  # e.g. no parameter shared by every finished trial
        log.info("no parameter importances for run %s: %s", run.run_id, err)
        return None
    importance = store.Importance(
        method=f"Optuna fANOVA over {len(complete)} finished trials",
        values={k: float(v) for k, v in found.items()},
    )
    record = {
        "method": importance.method,
        "metric": study.user_attrs.get("metric"),
        "importances": importance.values,
    }
    store.write_json(run.path / store.IMPORTANCE, record)
    return importance


# ------------------------------------------------------------------------------------------------ Ray


def connect(address: str | None = None) -> str:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local Ray sized to this machine."""
    if ray.is_initialized():
        return "existing"
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return address
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False)
    return "local"


def check_resources(search: SearchConfig) -> None:
    """A trial the cluster can never place waits forever; fail now with the numbers instead."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    max_cpus = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    max_gpus = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
    if search.resources.gpus > max_gpus:
        raise ValueError(
            f"search.resources.gpus = {search.resources.gpus}, but no node of the Ray cluster has that many GPUs "
            f"(largest: {max_gpus:g}); set gpus: 0 to train on CPU, or connect to a cluster with GPUs (--address)"
        )
    if search.resources.cpus > max_cpus:
        raise ValueError(
            f"search.resources.cpus = {search.resources.cpus}, but the largest node of the Ray cluster has "
            f"{max_cpus:g} CPUs; lower cpus or add bigger nodes"
        )


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vixray", "torch", "ray", "optuna", "polars", "numpy", "scikit-learn", "scipy", "arch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _machine() -> dict[str, Any]:
    resources = ray.cluster_resources() if ray.is_initialized() else {}
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cluster_cpus": resources.get("CPU"),
        "cluster_gpus": resources.get("GPU", 0.0),
        "cluster_nodes": len([n for n in ray.nodes() if n.get("Alive")]) if ray.is_initialized() else None,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------------------ the search


@dataclass(frozen=True)
class SearchSetup:
    experiment: ExperimentConfig
    prices: Prices
    eras: Eras
    payload: SearchPayload
    base: PreparedFolds


def setup_search(experiment: ExperimentConfig, prices: Prices) -> SearchSetup:
    """Resolve the eras and build the development tables for every feature set the space may pick."""
    if experiment.search is None:
        raise ValueError(
            f"experiment {experiment.name!r} has no 'search' section; add one (see experiments/quick.yaml)"
        )
    search: SearchConfig = experiment.search
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    sets = {experiment.features.set}
    for p in search.space:
        if p.name == "features.set":
            sets |= set(p.choices)
    datasets = {}
    for name in sorted(sets):
        variant = experiment.with_overrides({"features.set": name})
        datasets[name] = development_dataset(prices.frame, variant, eras)
    base_dataset = datasets[experiment.features.set]
    era_folds(base_dataset, experiment)  # too little data for the folds fails here, before Ray starts
    threads = max(1, int(search.resources.cpus))
    sched = search.scheduler
    rungs = asha_rungs(
        grace_period=sched.grace_period, reduction_factor=sched.reduction_factor, max_epochs=sched.max_epochs
    )
    # a trial that reserved no GPU must not take one that Ray may have given to another trial on its node
    device = "cpu" if search.resources.gpus == 0 else experiment.train.device
    payload = SearchPayload(experiment, datasets, sched.max_epochs, threads, device, rungs)
    for name in sets:  # every feature set must fit the folds too
        era_folds(datasets[name], experiment.with_overrides({"features.set": name}))
    base = prepare_folds(base_dataset, experiment)
    return SearchSetup(experiment, prices, eras, payload, base)


def _manifest(setup: SearchSetup, *, address: str) -> dict[str, Any]:
    exp = setup.experiment
    return {
        "status": "running",
        "started": _now(),
        "ended": None,
        "experiment_config": exp.to_dict(),
        "experiment_yaml": dump_experiment(exp),
        "data": setup.prices.describe(),
        "eras": setup.eras.to_dict(),
        "folds": setup.base.fold_info,
        "search": exp.search.to_dict(),
        "seeds": {"search": exp.search.seed, "train": exp.train.seed},
        "versions": _versions(),
        "git_commit": _git_commit(),
        "machine": _machine(),
        "ray_address": address,
        "command": " ".join(sys.argv),
    }


def write_baselines(run: store.Run, setup: SearchSetup) -> dict[str, Any]:
    """Every baseline on the development folds' test rows (identical for every trial), per fold and pooled."""
    scores = baseline_scores(
        setup.base.dataset, setup.base, setup.experiment, seed=setup.experiment.train.seed
    )
    rows = []
    for name, s in scores.items():
        for f, m in [*enumerate(s.per_fold), (-1, s.pooled)]:
            rows.append(
                {"baseline": name, "fold": f, "n_test": int(m["n"]), **{k: m.get(k) for k in METRIC_KEYS}}
            )
    store.write_parquet(run.path / store.BASELINES, pl.DataFrame(rows))
    return {name: s.pooled for name, s in scores.items()}


def _tuner(setup: SearchSetup, run: store.Run, *, restore: bool) -> tune.Tuner:
    search: SearchConfig = setup.experiment.search
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, payload=setup.payload),
        {"cpu": search.resources.cpus, "gpu": search.resources.gpus},
    )
    if restore:
        return tune.Tuner.restore(
            str(run.ray_dir), trainable=trainable, resume_unfinished=True, resume_errored=False
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=search.seed, multivariate=True, group=True, constant_liar=True
        )
    with _quiet_optuna():
        searcher = OptunaSearch(
            space=DefineByRun(search.space),
            metric=search.metric,
            mode=search.mode,
            sampler=sampler,
            study_name=study_name(run),  # in memory while the search runs; optuna.db is written when it ends
        )
    scheduler = ASHAScheduler(
        time_attr="epoch",  # trials report every few epochs, always at the rungs: see _trainable
        max_t=search.scheduler.max_epochs,
        grace_period=search.scheduler.grace_period,
        reduction_factor=search.scheduler.reduction_factor,
    )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=search.max_concurrent),
            scheduler=scheduler,
            metric=search.metric,
            mode=search.mode,
            num_samples=search.num_samples,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=store.RAY_DIR,
            storage_path=str(run.path),
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # CSV and JSON keep Ray's ResultGrid working; the automatic TensorBoardX logger is left out
            # (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS in _fit): it imports torch in the driver and costs more per
            # result than a short epoch, and curves.parquet holds the same curves
            callbacks=[
                StoreCallback(run.path, n_folds=len(setup.base.folds)),
                CSVLoggerCallback(),
                JsonLoggerCallback(),
            ],
            verbose=1,
        ),
    )


@dataclass(frozen=True)
class SearchSummary:
    run: store.Run
    counts: dict[str, int]
    best: dict[str, Any] | None
    baselines: dict[str, Any]
    seconds: float


def _summarise(run: store.Run, setup: SearchSetup, *, seconds: float) -> SearchSummary:
    trials = run.trials()
    counts = {s: 0 for s in ("finished", "pruned", "errored", "running")}
    if trials is not None:
        for status, n in trials.group_by("status").len().iter_rows():
            counts[status] = int(n)
    best = None
    with contextlib.suppress(ValueError):
        row = store.best_trials(run, k=1).row(0, named=True)
        folds = run.folds()
        per_fold = (
            folds.filter(pl.col("trial_id") == row["trial_id"]).sort("fold").to_dicts()
            if folds is not None
            else []
        )
        best = {"trial": row, "folds": per_fold}
    baselines = run.baselines()
    base = {}
    if baselines is not None:
        for name in baselines["baseline"].unique().to_list():
            sub = baselines.filter(pl.col("baseline") == name).sort("fold")
            base[name] = sub.to_dicts()
    return SearchSummary(run, counts, best, base, seconds)


def run_search(
    experiment: ExperimentConfig,
    *,
    prices: Prices,
    results_dir: Path,
    address: str | None = None,
) -> SearchSummary:
    """Run a new search; the run directory is created before Ray starts and finalised whatever happens."""
    setup = setup_search(experiment, prices)
    where = connect(address)
    check_resources(experiment.search)
    run = store.create_run(results_dir, experiment.name, manifest=_manifest(setup, address=where))
    log.info("run directory: %s", run.path)
    write_baselines(run, setup)
    return _fit(run, setup, restore=False)


def resume_search(
    run: store.Run, *, address: str | None = None, data: str | None = None, allow_data_change: bool = False
) -> SearchSummary:
    """Continue an interrupted run with ``Tuner.restore``: finished trials are kept, unfinished ones resume."""
    manifest = run.manifest()
    if not (run.ray_dir / "tuner.pkl").exists():
        raise ValueError(
            f"run {run.run_id} has no Ray experiment state ({run.ray_dir}); it cannot be resumed"
        )
    experiment = experiment_from_dict(manifest["experiment_config"], origin=str(run.path / store.MANIFEST))
    source = data or manifest["data"]["source"]
    d = manifest["data"]
    prices = load_prices(source, tickers=d["tickers"], start=experiment.data.start, end=experiment.data.end)
    if prices.fingerprint != d["fingerprint"] and not allow_data_change:
        raise ValueError(
            f"the data loaded from {source} (fingerprint {prices.fingerprint[:12]}) differs from the data run "
            f"{run.run_id} searched ({d['fingerprint'][:12]}); pass --allow-data-change to resume anyway"
        )
    setup = setup_search(experiment, prices)
    connect(address)
    check_resources(experiment.search)
    run.update_manifest(status="running", resumed=[*manifest.get("resumed", []), _now()])
    return _fit(run, setup, restore=True)


# Ray snapshots the search state at most every 10 s by default; a trial that ends between a snapshot and a crash
# would be resumed (and re-judged by ASHA) rather than kept. Snapshots of a search this size take milliseconds.
# Ray reads both settings from the environment when the search starts; a user's own values win.
_RAY_ENV = {"TUNE_GLOBAL_CHECKPOINT_S": "1", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}


@contextlib.contextmanager
def _ray_env() -> Iterator[None]:
    added = [k for k in _RAY_ENV if k not in os.environ]
    os.environ.update({k: _RAY_ENV[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _fit(run: store.Run, setup: SearchSetup, *, restore: bool) -> SearchSummary:
    started = time.perf_counter()
    status = "interrupted"
    try:
        tuner = _tuner(setup, run, restore=restore)
        with _ray_env():
            tuner.fit()
        status = "finished"
    except Exception:
        status = "failed"
        raise
    finally:
        summary = _summarise(run, setup, seconds=time.perf_counter() - started)
        _save_study(run, setup)
        run.update_manifest(status=status, ended=_now(), counts=summary.counts)
    return summary


def _save_study(run: store.Run, setup: SearchSetup) -> None:
    """optuna.db and importance.json are views of the tables: failing to write them must not lose the run."""
    try:
        study = write_study(run, setup.experiment.search, n_folds=len(setup.base.folds))
        write_importance(run, study)
    except Exception:
        log.exception(
            "could not write %s for run %s; the trial tables are intact", store.OPTUNA_DB, run.run_id
        )
