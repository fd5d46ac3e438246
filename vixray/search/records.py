"""What a search leaves in its run directory: the trial tables kept current while it runs, optuna.db and the
importances written when it ends.

:class:`StoreCallback` keeps trials.parquet, folds.parquet and curves.parquet current from every trial's report
history (atomically; a running trial's rows at most every few seconds, an ended trial's once, as parts that are
compacted into the tables); after a restore it starts from what is on disk (:func:`trials_from_store`), so a resumed
search keeps the rows of the trials that ended before. optuna.db is a
view of the same tables (:func:`write_study`), so optuna-dashboard shows exactly what the store holds.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import polars as pl
import pyarrow.fs as pafs
from ray import tune
from ray.train.constants import CHECKPOINT_DIR_NAME

from vixray import store
from vixray.config import SearchConfig
from vixray.crossval import METRIC_KEYS
from vixray.search.sampler import distribution, quiet_optuna
from vixray.search.trainable import DAILY_PREDICTIONS_FILE, DECIDED, EARLIER_EPOCHS

log = logging.getLogger(__name__)


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
        row.update({store.param_column(k): v for k, v in sorted(t["params"].items())})
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
        row["failures"] = int(t.get("failures") or 0)  # restarts after a lost node (search.max_failures)
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


_FOLD_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "trial_id": pl.String,
    "fold": pl.Int64,
    "n_test": pl.Int64,
    **dict.fromkeys(METRIC_KEYS, pl.Float64),
    "confusion": pl.List(pl.List(pl.Int64)),
}
_CURVE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "trial_id": pl.String,
    "epoch": pl.Int64,
    "fold": pl.Int64,
    "train_loss": pl.Float64,
    "val_loss": pl.Float64,
    "val_accuracy": pl.Float64,
}
_REPORT_KEYS = ("epoch", "val_loss", "val_accuracy", "train_loss", "node_id")
_SCORE_PREFIXES = ("fold", "test_")  # a finished trial's test scores, pooled and per fold
# what a report carries for the store alone: taken out of the result once recorded (the fold and test scores too),
# so that Ray's driver keeps the epoch and the two metrics a search can rank by
_STORE_ONLY = frozenset({EARLIER_EPOCHS, "train_loss", "active_folds", "node_id"})
_MIN_COMPACTION = 64  # ended trials' parts kept before the first compaction
LOST = "lost when the driver died: Ray's restored state did not know this trial; its epochs are kept"


class StoreCallback(tune.Callback):
    """Keeps trials.parquet, folds.parquet and curves.parquet current while the search runs, at O(1) per trial.

    A trial's rows are rewritten (the running trials' part, at most every ``flush_seconds``) only while it runs;
    when it ends they are appended as parts of their own and the trial leaves the callback's memory. The parts are
    compacted into the tables when they hold as many trials as the tables do (so each row is rewritten O(1) times on
    average) and when the search ends. Readers merge tables and parts (:meth:`vixray.store.Run.trials`).
    """

    def __init__(self, run_path: Path, *, n_folds: int, flush_seconds: float = 3.0) -> None:
        self.run_path = Path(run_path)
        self.n_folds = n_folds
        self.flush_seconds = flush_seconds
        self._trials: dict[str, dict[str, Any]] | None = None  # the trials not yet ended
        self._ended: set[str] = set()
        self._compacted = 0  # trials in the compacted tables
        self._last_flush = 0.0

    def _state(self) -> dict[str, dict[str, Any]]:
        if self._trials is None:  # first event, or first after a restore: start from what is on disk
            known = trials_from_store(store.Run(self.run_path), n_folds=self.n_folds)
            self._ended = {trial_id for trial_id, t in known.items() if t["ended"]}
            self._trials = {trial_id: t for trial_id, t in known.items() if not t["ended"]}
            self._compacted = len(known)
        return self._trials

    def _trial(self, trial: Any) -> dict[str, Any] | None:
        """The record of a trial still going, or None for one the store holds as ended (a replayed decision)."""
        state = self._state()
        if trial.trial_id in self._ended:
            return None
        entry = state.setdefault(trial.trial_id, {"params": {}, "history": [], "error": None, "ended": False})
        entry["params"] = dict(trial.config)
        entry["failures"] = max(int(entry.get("failures") or 0), int(getattr(trial, "num_failures", 0) or 0))
        return entry

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trial(trial)
        if entry is not None:
            entry["started"] = entry.get("started") or time.time()
            self.flush(force=False)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        entry = self._trial(trial)
        if entry is None or result.get(DECIDED):  # a trial that ended before a restart replays its record
            return
        if "test_accuracy" in result:
            # finished: its test days, from its last checkpoint, get a file of their own
            daily = _daily_predictions(trial, result)
            if daily is not None:
                store.Run(self.run_path).write_trial_predictions(trial.trial_id, daily)
        latest = {k: v for k, v in result.items() if k.startswith(_SCORE_PREFIXES) or k in _REPORT_KEYS}
        reported = [*result.get(EARLIER_EPOCHS, []), latest]
        # a trial resumed from a checkpoint trains again from there: its new epochs replace everything after it
        first = reported[0]["epoch"]
        entry["history"] = [*(h for h in entry["history"] if h["epoch"] < first), *reported]
        entry["seconds"] = float(result.get("time_total_s", entry.get("seconds") or 0.0))
        self.flush(force="test_accuracy" in latest)  # a finished trial's scores reach the disk at once
        # Ray keeps every trial's last result, and a running summary of each number in it, in the driver until the
        # search ends (and in every snapshot of its state): what the store now holds need not stay there too
        for key in [k for k in result if k.startswith(_SCORE_PREFIXES) or k in _STORE_ONLY]:
            del result[key]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._trial(trial) is not None:
            self._end(trial.trial_id)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # failed (its node lost, or an exception) and restarting from its last checkpoint: the count is the record
        if self._trial(trial) is not None:
            self.flush(force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trial(trial)  # None: an error recorded before a restart is kept as it was
        if entry is not None:
            entry["error"] = error_message(trial)
            self._end(trial.trial_id)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # a trial the store saw start but Ray's restored state never knew (the driver died within a snapshot of
        # starting it) will never end: say so, instead of leaving it "running" forever
        known = {t.trial_id for t in trials}
        for trial_id in [t for t in self._state() if t not in known]:
            self._state()[trial_id]["error"] = LOST
            self._end(trial_id)
        self.compact()

    def _end(self, trial_id: str) -> None:
        """Append the ended trial's rows as parts of their own; it leaves memory and the running trials' part."""
        entry = self._state().pop(trial_id)
        entry["ended"] = True
        key = f"{time.time_ns():020d}-{trial_id}"
        for name, frame in zip(
            store.TRIAL_TABLES, trial_tables({trial_id: entry}, n_folds=self.n_folds), strict=True
        ):
            store.write_parquet(self.run_path / store.PARTS_DIR / f"{key}.{name}", frame)
        self._ended.add(trial_id)
        self.flush(force=True)
        if len(self._ended) - self._compacted >= max(_MIN_COMPACTION, self._compacted):
            self.compact()

    def flush(self, *, force: bool) -> None:
        """Rewrite the running trials' part (O(trials running), at most every ``flush_seconds`` unless forced)."""
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_seconds:
            return
        self._last_flush = now
        running = self._state()
        if not running:
            self._drop_live_part()
            return
        frames = trial_tables(running, n_folds=self.n_folds)
        for name, frame in zip(store.TRIAL_TABLES, frames, strict=True):
            store.write_parquet(self.run_path / store.PARTS_DIR / f"{store.LIVE_PART}.{name}", frame)

    def _drop_live_part(self) -> None:
        for name in store.TRIAL_TABLES:
            (self.run_path / store.PARTS_DIR / f"{store.LIVE_PART}.{name}").unlink(missing_ok=True)

    def compact(self) -> None:
        """Merge the parts into the three tables, then remove the parts they now hold (readers stay consistent:
        :meth:`vixray.store.Run.trials` reads parts before tables)."""
        run = store.Run(self.run_path)
        self.flush(force=True)
        merged = {name: run.ended_parts(name) for name in store.TRIAL_TABLES}
        tables = {store.TRIALS: run.trials(), store.FOLDS: run.folds(), store.CURVES: run.curves()}
        for name, table in tables.items():
            if table is not None:
                store.write_parquet(self.run_path / name, table)
        for paths in merged.values():
            for path in paths:
                path.unlink(missing_ok=True)
        if not self._state():
            self._drop_live_part()
        self._compacted = len(self._ended) + len(self._state())


def _daily_predictions(trial: Any, result: Mapping[str, Any]) -> pl.DataFrame | None:
    """A finished trial's test-day calls, read from the checkpoint of its last report (on the run's storage, which
    the trial's node wrote before reporting), or None when that checkpoint holds none."""
    name = result.get(CHECKPOINT_DIR_NAME)
    if not name:
        return None
    path = f"{trial.storage.trial_fs_path}/{name}/{DAILY_PREDICTIONS_FILE}"
    filesystem = trial.storage.storage_filesystem
    if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with filesystem.open_input_file(path) as f:
        return pl.read_parquet(io.BytesIO(f.readall()))


def error_message(trial: Any) -> str:
    """The last line of a Ray trial's error file (what the store and the progress line show)."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "trial failed (no error message recorded)"


def trials_from_store(run: store.Run, *, n_folds: int) -> dict[str, dict[str, Any]]:
    """Rebuild the callback's state from a run's tables, so a resumed search keeps its finished trials' rows."""
    trials, curves = run.trials(), run.curves()
    if trials is None:
        return {}
    state: dict[str, dict[str, Any]] = {}
    for row in trials.iter_rows(named=True):
        params = store.trial_params(row)
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
            "failures": row.get("failures") or 0,
        }
    return state


def decided_trials(run: store.Run, *, n_folds: int) -> dict[str, dict[str, Any]]:
    """The trials a run's store records as ended (finished, pruned, errored), each with what a resumed trial
    replays instead of training again (its last report, or its error): what was decided before a crash stays
    decided, even when Ray's own snapshot of the search is older than the store."""
    out: dict[str, dict[str, Any]] = {}
    for trial_id, t in trials_from_store(run, n_folds=n_folds).items():
        if not t["ended"]:
            continue
        if t.get("error"):
            out[trial_id] = {"error": str(t["error"])}
        elif t["history"]:
            out[trial_id] = {"report": dict(t["history"][-1])}
    return out


_OPTUNA_STATES = {
    "finished": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "errored": optuna.trial.TrialState.FAIL,
}


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
    state = trials_from_store(run, n_folds=n_folds)
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
    direction = (
        optuna.study.StudyDirection.MINIMIZE if search.mode == "min" else optuna.study.StudyDirection.MAXIMIZE
    )
    with quiet_optuna(), tempfile.TemporaryDirectory(dir=run.path, prefix=".optuna-") as folder:
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
