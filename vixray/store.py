"""The on-disk results store: one directory per search, never overwritten, written atomically.

Layout::

    results/<experiment>/<run-id>/          run ids are UTC timestamps (sortable) plus a random suffix
        manifest.json     resolved experiment, data description + fingerprint, eras, folds, seeds, versions, status
        trials.parquet    one row per trial: trial_id, status, param.*, pooled test metrics, fold<k>_* metrics,
                          best/last validation metric, epochs, seconds, error
        folds.parquet     one row per trial x fold: test metrics and date ranges
        baselines.parquet one row per baseline x fold (plus fold = -1 for pooled): the same metrics on the same rows
        baseline_predictions.parquet   one row per baseline x test day: the class called and its probabilities
        predictions/<trial-id>.parquet one row per test day of each finished trial (written when it finishes)
        spa.json          Hansen's SPA of every finished trial against the strongest baseline (when the search ends)
        curves.parquet    one row per trial x epoch x fold: train_loss, val_loss, val_accuracy
        parts/            rows of the three trial tables written since they were last compacted, while a search runs:
                          one file per table for each trial that ended (O(1) per trial), one for those running
        optuna.db         the Optuna study (``optuna-dashboard sqlite:///<run>/optuna.db``), written when the search ends
        importance.json   Optuna's fANOVA parameter importances over the finished trials, written with optuna.db
        ray/              Ray Tune's experiment directory (``Tuner.restore`` / ``ResultGrid`` work on it)
        .lock, lock.json  held by the one driver searching the run (:func:`lock_run`), and who that is
        evaluation/<eval-id>/   written by ``vixray evaluate``: report.json, predictions.parquet, report.html

Every file is written to a temporary name and renamed, so a reader (the dashboard, ``evaluate``) sees either the old
or the new file, never half of one, and a run that is still going is readable. This module owns the store's names
(files, folders, the ``param.`` column prefix, trial statuses) and imports neither Ray nor torch: the dashboard reads
through it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

MANIFEST = "manifest.json"
TRIALS = "trials.parquet"
FOLDS = "folds.parquet"
BASELINES = "baselines.parquet"
CURVES = "curves.parquet"
OPTUNA_DB = "optuna.db"
IMPORTANCE = "importance.json"
RAY_DIR = "ray"
# trials, folds and curves are read as the compacted table merged with its parts: <key>.<table> in PARTS_DIR, where
# key is LIVE_PART (the running trials, rewritten while they run) or "<sortable sequence>-<trial id>" (an ended trial)
TRIAL_TABLES = (TRIALS, FOLDS, CURVES)
PARTS_DIR = "parts"
LIVE_PART = "live"
BASELINE_PREDICTIONS = "baseline_predictions.parquet"
TRIAL_PREDICTIONS_DIR = "predictions"
SEARCH_SPA = "spa.json"
RAY_LOG = "ray.log"  # everything Ray printed and logged during the run's searches
BLOCK_IMPORTANCE = "block_importance.json"  # permutation importance of each feature block (vixray.importance)
EVALUATION_DIR = "evaluation"
# the files of one evaluation folder
REPORT_JSON = "report.json"
PREDICTIONS = "predictions.parquet"
REPORT_HTML = "report.html"
BACKTEST_CURVES = "backtest.parquet"  # each forecaster's value and drawdown per holdout day (vixray.backtest)
# trials.parquet names each searched parameter's column PARAM_PREFIX + its dotted name ("param.train.lr")
PARAM_PREFIX = "param."
# a trial's status in trials.parquet: finished (all epochs, test scores), pruned (stopped by ASHA at a rung),
# errored, or running (the search is still going, or died with it)
TRIAL_STATUSES = ("finished", "pruned", "errored", "running")
ENDED_STATUSES = TRIAL_STATUSES[:3]  # a trial's status once it has ended
# a run's status in its manifest (vixray.search.summary says when each holds)
RUNNING, FINISHED, INTERRUPTED, FAILED = "running", "finished", "interrupted", "failed"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class RunNotFoundError(ValueError):
    """No run (or experiment) matches; the message lists what exists."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a damaged file is a ValueError naming it."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def check_id(value: str, *, what: str = "run id") -> str:
    """Accept only plain names, so no id taken from a URL or the command line can reach outside the store."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise ValueError(f"{what} {value!r} is not valid: use letters, digits, '_', '-' and '.' only")
    return value


def new_run_id(now: datetime | None = None) -> str:
    """``20261125-053012-3fa9``: sorts by start time; the suffix keeps two runs in one second apart."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def param_column(name: str) -> str:
    """The trials.parquet column of a searched parameter: ``train.lr`` -> ``param.train.lr``."""
    return PARAM_PREFIX + name


def trial_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """A trials row's searched parameters by dotted name; a conditional parameter that was not sampled (null) is
    left out. numpy scalars become Python values, so the result goes straight to JSON and config overrides."""
    return {
        key[len(PARAM_PREFIX) :]: value.item() if hasattr(value, "item") else value
        for key, value in row.items()
        if key.startswith(PARAM_PREFIX) and value is not None
    }


# ------------------------------------------------------------------------------------------------ atomic writes


class StoreWriteError(OSError):
    """A results file could not be written (a full disk, a read-only folder): the message says which, where, and how
    much room is left."""


def _free_space(path: Path) -> str:
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there"
    return "free space unknown"


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename it over ``path``; a failure leaves the old file
    as it was and raises :class:`StoreWriteError`."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, StoreWriteError):
            raise StoreWriteError(
                err.errno, f"could not write {path} ({err.strerror or err}; {_free_space(path.parent)})"
            ) from err
        raise


def check_writable(folder: Path, *, what: str) -> None:
    """Refuse a folder nothing can be written to, before any work that would write there (``what`` names it)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        raise ValueError(
            f"{what} {folder} is not writable ({err.strerror or err}); choose a folder you can write to"
        ) from None


LOCK, LOCK_OWNER = ".lock", "lock.json"


class RunLockedError(ValueError):
    """Another live process holds the run's lock."""


@contextlib.contextmanager
def lock_run(run: Run, *, action: str) -> Iterator[None]:
    """Hold the run's exclusive lock while one driver searches it (``action``: "search", "resume"). The lock is the
    operating system's (released when its process dies, so a crashed driver leaves no stale lock); lock.json says who
    holds it, for the refusal a second driver gets."""
    from filelock import FileLock, Timeout  # the one file-lock library, used only here

    lock = FileLock(str(run.path / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        owner = {}
        with contextlib.suppress(OSError, ValueError):
            owner = read_json(run.path / LOCK_OWNER)
        raise RunLockedError(
            f"run {run.experiment}/{run.run_id} is already being searched by pid {owner.get('pid', '?')} on "
            f"{owner.get('host', '?')} (a {owner.get('action', '?')} since {owner.get('since', '?')}); wait for "
            "it to end, or stop that process and resume"
        ) from None
    try:
        write_json(
            run.path / LOCK_OWNER,
            {"pid": os.getpid(), "host": socket.gethostname(), "action": action, "since": _now_iso()},
        )
        yield
    finally:
        lock.release()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n"))


def write_parquet(path: Path, frame: pl.DataFrame) -> None:
    write_atomic(path, frame.write_parquet)


def read_parquet(path: Path) -> pl.DataFrame:
    """A table as it was at one instant: its bytes in one read, then parsed. polars opens a path more than once
    (footer, then pages), so a reader racing :func:`write_parquet`'s replace could mix two versions of the file."""
    return pl.read_parquet(io.BytesIO(Path(path).read_bytes()))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ------------------------------------------------------------------------------------------------ runs


@dataclass(frozen=True)
class Importance:
    """How much each searched parameter explains the search metric (``values`` sum to 1), and how that was found."""

    method: str
    values: dict[str, float]


@dataclass(frozen=True)
class Run:
    """A run directory. Readers return None for a file not written yet; a malformed file raises ValueError."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def experiment(self) -> str:
        return self.path.parent.name

    @property
    def ray_dir(self) -> Path:
        return self.path / RAY_DIR

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{(self.path / OPTUNA_DB).resolve()}"

    def manifest(self) -> dict[str, Any]:
        path = self.path / MANIFEST
        if not path.is_file():
            raise ValueError(f"{path}: missing; the run was never started properly")
        return read_json(path)

    def _table(self, name: str) -> pl.DataFrame | None:
        return self._read(self.path / name)

    @staticmethod
    def _read(path: Path) -> pl.DataFrame | None:
        if not path.is_file():
            return None
        try:
            return read_parquet(path)
        except Exception as err:  # polars raises several error types for a damaged file
            raise ValueError(f"{path}: unreadable Parquet ({err})") from None

    def ended_parts(self, name: str) -> list[Path]:
        """The parts of table ``name`` for trials that ended since the last compaction, oldest first."""
        live = f"{LIVE_PART}.{name}"
        return sorted(p for p in (self.path / PARTS_DIR).glob(f"*.{name}") if p.name != live)

    def _trial_table(self, name: str) -> pl.DataFrame | None:
        """The compacted table, then the running trials' part, then the ended trials' parts: each trial's rows
        come from the newest of these that holds it."""
        paths = [self.path / name, self.path / PARTS_DIR / f"{LIVE_PART}.{name}", *self.ended_parts(name)]
        # newest first: a compaction writes the table before it removes the parts in it, so a part gone by the time
        # it is read is in the table read after it
        frames = [self._read(p) for p in reversed(paths)][::-1]
        present = [f.with_columns(_rank=pl.lit(i)) for i, f in enumerate(frames) if f is not None and f.width]
        if len(present) <= 1:
            return present[0].drop("_rank") if present else frames[0]
        merged = pl.concat(present, how="diagonal_relaxed")
        return merged.filter(pl.col("_rank") == pl.col("_rank").max().over("trial_id")).drop("_rank")

    def trials(self) -> pl.DataFrame | None:
        return self._trial_table(TRIALS)

    def folds(self) -> pl.DataFrame | None:
        return self._trial_table(FOLDS)

    def baselines(self) -> pl.DataFrame | None:
        return self._table(BASELINES)

    def curves(self) -> pl.DataFrame | None:
        return self._trial_table(CURVES)

    def baseline_predictions(self) -> pl.DataFrame | None:
        return self._table(BASELINE_PREDICTIONS)

    def write_trial_predictions(self, trial_id: str, frame: pl.DataFrame) -> None:
        """A finished trial's test days, one file per trial: written once, never rewritten with the tables."""
        check_id(trial_id, what="trial id")
        write_parquet(self.path / TRIAL_PREDICTIONS_DIR / f"{trial_id}.parquet", frame)

    def trial_predictions(self, trial_ids: Iterable[str] | None = None) -> pl.DataFrame | None:
        """The stored test days of the given trials (all that have them by default), with a ``trial_id`` column."""
        root = self.path / TRIAL_PREDICTIONS_DIR
        wanted = None if trial_ids is None else set(trial_ids)
        paths = (
            sorted(p for p in root.glob("*.parquet") if wanted is None or p.stem in wanted)
            if root.is_dir()
            else []
        )
        if not paths:
            return None
        try:
            return pl.concat([read_parquet(p).with_columns(trial_id=pl.lit(p.stem)) for p in paths])
        except Exception as err:  # polars raises several error types for a damaged file
            raise ValueError(f"{root}: unreadable trial predictions ({err})") from None

    def search_spa(self) -> dict[str, Any] | None:
        """spa.json (the whole-search SPA), or None before the search has written it."""
        return self._json_view(SEARCH_SPA)

    def block_importance(self) -> dict[str, Any] | None:
        """block_importance.json (each feature block's permutation importance), or None before it is written."""
        return self._json_view(BLOCK_IMPORTANCE)

    def _json_view(self, name: str) -> dict[str, Any] | None:
        path = self.path / name
        return read_json(path) if path.is_file() else None

    def importance(self) -> Importance | None:
        """The parameter importances of importance.json, or None before the search has written them."""
        path = self.path / IMPORTANCE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            values = {str(k): float(v) for k, v in data["importances"].items()}
            return Importance(method=str(data["method"]), values=values)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"{path}: malformed ({err})") from None

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        data = {**self.manifest(), **changes}
        write_json(self.path / MANIFEST, data)
        return data

    def evaluations(self) -> list[Path]:
        root = self.path / EVALUATION_DIR
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if p.is_dir() and (p / REPORT_JSON).is_file())

    def new_evaluation_dir(self) -> Path:
        """A fresh ``evaluation/<eval-id>/`` folder: an earlier evaluation is never overwritten."""
        return _new_dir(self.path / EVALUATION_DIR)


def _new_dir(root: Path) -> Path:
    """A new folder under ``root`` named by :func:`new_run_id`; an existing id is never reused."""
    root.mkdir(parents=True, exist_ok=True)
    while True:
        path = root / new_run_id()
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def create_run(results_dir: Path, experiment: str, *, manifest: dict[str, Any]) -> Run:
    """Make a fresh run directory (an existing one is never reused) and write its first manifest."""
    check_id(experiment, what="experiment name")
    path = _new_dir(Path(results_dir).resolve() / experiment)
    run = Run(path)
    write_json(path / MANIFEST, {"run_id": run.run_id, "experiment": experiment, **manifest})
    return run


@dataclass(frozen=True)
class RunSummary:
    """One line of :func:`list_runs`; ``problem`` says why a run directory could not be read."""

    experiment: str
    run_id: str
    path: Path
    status: str
    problem: str | None = None


def list_runs(results_dir: Path, *, experiment: str | None = None) -> list[RunSummary]:
    """Every run under ``results_dir``, oldest first; malformed ones are listed with their problem. A run folder
    that is a link leading out of ``results_dir`` is listed as malformed and never read."""
    root = Path(results_dir)
    inside = root.resolve()
    if experiment is not None:
        check_id(experiment, what="experiment name")
    if not root.is_dir():
        return []
    out = []
    for exp_dir in sorted(p for p in root.iterdir() if p.is_dir() and _ID.fullmatch(p.name)):
        if experiment is not None and exp_dir.name != experiment:
            continue
        for run_dir in sorted(p for p in exp_dir.iterdir() if p.is_dir() and _ID.fullmatch(p.name)):
            problem: str | None
            if not run_dir.resolve().is_relative_to(inside):
                problem = f"{exp_dir.name}/{run_dir.name}: links outside the results folder; not read"
                out.append(RunSummary(exp_dir.name, run_dir.name, run_dir, "malformed", problem))
                continue
            try:
                status = str(Run(run_dir).manifest().get("status", "unknown"))
                problem = None
            except ValueError as err:
                status, problem = "malformed", str(err)
            out.append(RunSummary(exp_dir.name, run_dir.name, run_dir, status, problem))
    return sorted(out, key=lambda r: (r.run_id, r.experiment))


def load_run(results_dir: Path, run: str = "latest", *, experiment: str | None = None) -> Run:
    """A run by id (or ``latest``, optionally within one experiment). Errors list what exists."""
    runs = list_runs(results_dir, experiment=experiment)
    if not runs:
        where = f" for experiment {experiment!r}" if experiment else ""
        known = sorted({r.experiment for r in list_runs(results_dir)})
        also = f"; experiments with runs: {known}" if known and experiment else ""
        raise RunNotFoundError(f"no runs{where} in {results_dir}{also}; run `make tune` first")
    if run == "latest":
        readable = [r for r in runs if r.problem is None]
        if not readable:
            raise RunNotFoundError(f"every run in {results_dir} is malformed: {runs[-1].problem}")
        return Run(readable[-1].path)
    check_id(run)
    matches = [r for r in runs if r.run_id == run]
    if not matches:
        listing = ", ".join(f"{r.experiment}/{r.run_id}" for r in runs[-10:])
        raise RunNotFoundError(f"run {run!r} not found in {results_dir}; runs: {listing}")
    return Run(matches[0].path)


def best_trials(run: Run, *, k: int = 1, metric: str | None = None, mode: str | None = None) -> pl.DataFrame:
    """The ``k`` best FINISHED trials by the run's search metric (from the manifest unless given).

    A trial ASHA pruned stopped at a rung; its metric is from fewer epochs than a finished one's and it has no test
    scores, so it is never among the best."""
    if k < 1:
        raise ValueError(f"k = {k}: ask for at least one trial")
    trials = run.trials()
    if trials is None or trials.is_empty():
        raise ValueError(f"run {run.run_id} has no trials yet ({run.path / TRIALS} is missing or empty)")
    search = run.manifest().get("search", {})
    metric = metric or search.get("metric")
    mode = mode or search.get("mode")
    if metric is None or mode not in ("min", "max"):
        raise ValueError(
            f"run {run.run_id}: the manifest names no search metric/mode; pass metric= and mode="
        )
    if metric not in trials.columns:
        raise ValueError(f"metric {metric!r} is not a trials column; columns: {sorted(trials.columns)}")
    done = trials.filter((pl.col("status") == "finished") & pl.col(metric).is_not_null())
    if done[metric].dtype.is_float():  # a NaN metric (no validation days) never ranks, in either direction
        done = done.filter(pl.col(metric).is_not_nan())
    if done.is_empty():
        raise ValueError(f"run {run.run_id} has no finished trial with a value for {metric!r}")
    return done.sort(metric, descending=(mode == "max"), nulls_last=True).head(k)
