"""Reading the results store for the explorer: one :class:`ResultsReader` per app, caching what it read.

A file's contents are re-read only when its modification time or size changes, so a search in progress shows its new
trials on the next refresh while unchanged tables cost nothing. A page never fails because one file is bad:
:func:`read_run` collects read problems (the run shows as malformed) instead of raising. :class:`NotFound` is an
invalid id or a run, trial or evaluation that does not exist; the pages turn it into the not-found page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from vixray import store
from vixray.labels import stored_classes

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotFound(Exception):
    """A URL names no page, an invalid id, or a run, trial or evaluation that does not exist."""


def stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ResultsReader:
    """The results folder as the explorer reads it: one per app, so each app keeps its own cache of what it read.

    A file's contents are reused while its modification time and size stay the same, so a refresh during a search
    re-reads only the tables the search rewrote. Errors are never cached.
    """

    def __init__(self, root: Path, *, cache_size: int = 512) -> None:
        self.root = Path(root).resolve()
        self._cache: OrderedDict[Path, tuple[tuple[tuple[int, int] | None, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()  # Dash serves callbacks from several threads
        self._cache_size = cache_size

    def inside(self, path: Path) -> Path:
        """``path`` if it resolves inside the results folder, else a ValueError naming it relative to the folder:
        a link planted in the results must not lead a page to a file outside it."""
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            shown = (
                Path(path).relative_to(self.root) if Path(path).is_relative_to(self.root) else Path(path).name
            )
            raise ValueError(f"{shown}: links outside the results folder; not read")
        return resolved

    def cached(self, path: Path, read: Callable[[], T], *, also: tuple[Path, ...] = ()) -> T:
        """``read()``, or what it returned last time if ``path`` (and each of ``also``: a folder whose entries the
        read merges in) has not changed since; a path leading out of the results folder is refused
        (:meth:`inside`), never read."""
        self.inside(path)
        own = stat_key(path)
        if own is None and not also:
            return read()
        key = (own, *(stat_key(p) for p in also))
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                self._cache.move_to_end(path)
                return hit[1]
        value = read()
        with self._lock:
            self._cache[path] = (key, value)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value


def check_page_id(value: str, *, what: str) -> str:
    try:
        return store.check_id(value, what=what)
    except ValueError as err:
        raise NotFound(str(err)) from None


def find_run(results: ResultsReader, experiment: str, run_id: str) -> store.Run:
    """The run ``experiment/run_id`` in the results folder; NotFound for an invalid id or a missing folder."""
    check_page_id(experiment, what="experiment name")
    check_page_id(run_id, what="run id")
    root = results.root
    path = root / experiment / run_id
    if not path.is_dir() or not path.resolve().is_relative_to(root):
        known = [f"{r.experiment}/{r.run_id}" for r in store.list_runs(root) if r.problem is None][-10:]
        raise NotFound(
            f"run {experiment}/{run_id} not found in the results folder; runs: {', '.join(known) or 'none yet'}"
        )
    return store.Run(path)


@dataclass(frozen=True)
class RunData:
    """Everything a page needs from one run; ``problems`` lists what could not be read."""

    run: store.Run
    manifest: dict[str, Any]
    trials: pl.DataFrame | None
    folds: pl.DataFrame | None
    baselines: pl.DataFrame | None
    curves: pl.DataFrame | None
    importance: store.Importance | None  # None before the search has written them (or when unreadable)
    spa: dict[str, Any] | None  # spa.json, the whole search against the strongest baseline (when it ended)
    problems: tuple[str, ...]
    block_importance: dict[str, Any] | None = None  # block_importance.json (vixray.importance), when written

    @property
    def status(self) -> str:
        return "malformed" if self.problems else str(self.manifest.get("status", "unknown"))

    @property
    def metric(self) -> tuple[str, str]:
        search = self.manifest.get("search")
        search = search if isinstance(search, dict) else {}
        mode = str(search.get("mode")) if search.get("mode") in ("min", "max") else "min"
        return str(search.get("metric") or "val_loss"), mode

    @property
    def strongest(self) -> str | None:
        """The strongest baseline on the development folds, as the search recorded it (an older run: the
        non-random baseline with the best pooled accuracy in baselines.parquet)."""
        recorded = self.manifest.get("strongest_baseline")
        if isinstance(recorded, str):
            return recorded
        pooled = baseline_rows(self.baselines)
        accuracy = {name: r["accuracy"] for name, r in pooled.items() if isinstance(r.get("accuracy"), float)}
        if not accuracy:
            return None
        from vixray.baselines import strongest_baseline  # the rule's one owner, imported only for old runs

        return strongest_baseline(accuracy)

    @property
    def classes(self) -> tuple[str, ...]:
        """The run's class names in id order, from its experiment's label kind."""
        return stored_classes(self.manifest.get("experiment_config"))

    @property
    def params(self) -> list[str]:
        return (
            [c for c in self.trials.columns if c.startswith(store.PARAM_PREFIX)]
            if self.trials is not None
            else []
        )


def read_run(results: ResultsReader, run: store.Run) -> RunData:
    """Read a run's manifest and tables, collecting problems instead of raising."""
    problems = []
    try:
        manifest = results.cached(run.path / store.MANIFEST, run.manifest)
    except ValueError as err:
        manifest, problems = {}, [str(err)]
    readers = {
        store.TRIALS: run.trials,
        store.FOLDS: run.folds,
        store.BASELINES: run.baselines,
        store.CURVES: run.curves,
    }
    tables: dict[str, pl.DataFrame | None] = {}
    for name, reader in readers.items():
        # a search appends the trial tables' newest rows as parts (store.PARTS_DIR) that the reader merges in
        parts = (run.path / store.PARTS_DIR,) if name in store.TRIAL_TABLES else ()
        try:
            tables[name] = results.cached(run.path / name, reader, also=parts)
        except ValueError as err:
            tables[name] = None
            problems.append(str(err))
    if manifest.get("status") == "finished":  # a finished search has written all of these
        problems += [f"{run.path / n}: missing" for n in (store.TRIALS, store.BASELINES) if tables[n] is None]
    trials = tables[store.TRIALS]
    if trials is not None and not {"trial_id", "status"} <= set(trials.columns):
        problems.append(f"{run.path / store.TRIALS}: no trial_id/status columns ({trials.columns})")
        trials = None
    # importances are optional: a damaged file falls back to the search page's own estimate
    try:
        importance = results.cached(run.path / store.IMPORTANCE, run.importance)
    except ValueError as err:
        log.info("no stored importances for %s: %s", run.path, err)
        importance = None
    try:
        spa = results.cached(run.path / store.SEARCH_SPA, run.search_spa)
    except ValueError as err:
        spa, problems = None, [*problems, str(err)]
    try:
        explained = results.cached(run.path / store.BLOCK_IMPORTANCE, run.block_importance)
    except ValueError as err:
        explained, problems = None, [*problems, str(err)]
    return RunData(
        run,
        manifest,
        trials,
        tables[store.FOLDS],
        tables[store.BASELINES],
        tables[store.CURVES],
        importance,
        spa,
        tuple(problems),
        explained,
    )


def get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def trial_counts(trials: pl.DataFrame | None) -> dict[str, int]:
    counts = dict.fromkeys(store.TRIAL_STATUSES, 0)
    if trials is not None:
        for status, n in trials.group_by("status").len().iter_rows():
            counts[str(status)] = int(n)
    return counts


def ranked(data: RunData) -> pl.DataFrame | None:
    """Finished trials, best first by the run's search metric (None when there are none)."""
    if data.trials is None or data.trials.is_empty():
        return None
    metric, mode = data.metric
    try:
        return store.best_trials(data.run, k=data.trials.height, metric=metric, mode=mode)
    except ValueError:
        return None


def best_finished(data: RunData) -> dict[str, Any] | None:
    """The best finished trial by the search metric (a pruned trial has no test result)."""
    order = ranked(data)
    return order.row(0, named=True) if order is not None and not order.is_empty() else None


def compared_accuracy(data: RunData) -> dict[str, float | None]:
    """The pooled accuracy of the yardsticks every page shows beside a trial: the majority class, the strongest."""
    pooled = baseline_rows(data.baselines)
    strongest = data.strongest
    return {
        "majority": get(pooled, "majority", "accuracy"),
        "strongest": get(pooled, strongest, "accuracy") if strongest else None,
    }


def baseline_rows(baselines: pl.DataFrame | None, *, fold: int = -1) -> dict[str, dict[str, Any]]:
    if baselines is None or not {"baseline", "fold"} <= set(baselines.columns):
        return {}
    return {r["baseline"]: r for r in baselines.filter(pl.col("fold") == fold).iter_rows(named=True)}


def evaluation_ids(run: store.Run) -> list[str]:
    return [p.name for p in run.evaluations()]


def read_report(results: ResultsReader, folder: Path) -> dict[str, Any]:
    path = folder / store.REPORT_JSON

    def read() -> dict[str, Any]:
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not readable JSON ({err})") from None
        if not isinstance(report, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return report

    return results.cached(path, read)


def read_predictions(results: ResultsReader, folder: Path) -> pl.DataFrame:
    return _read_table(results, folder / store.PREDICTIONS)


def read_backtest(results: ResultsReader, folder: Path) -> pl.DataFrame | None:
    """An evaluation's backtest curves, or None for one written before the backtest (or without it)."""
    path = folder / store.BACKTEST_CURVES
    return _read_table(results, path) if path.is_file() else None


def _read_table(results: ResultsReader, path: Path) -> pl.DataFrame:
    def read() -> pl.DataFrame:
        if not path.is_file():
            raise ValueError(f"{path}: missing")
        try:
            return store.read_parquet(path)
        except Exception as err:  # polars raises several error types for a damaged file
            raise ValueError(f"{path}: unreadable Parquet ({err})") from None

    return results.cached(path, read)


def log_params(manifest: dict[str, Any]) -> set[str]:
    space = get(manifest, "search", "space") or {}
    return {
        store.PARAM_PREFIX + name
        for name, spec in space.items()
        if isinstance(spec, dict) and (spec.get("type") == "loguniform" or spec.get("log"))
    }


def _run_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(run for exp in root.iterdir() if exp.is_dir() for run in exp.iterdir() if run.is_dir())


def page_signature(results: ResultsReader, run: store.Run | None = None) -> str:
    """Changes whenever a file a page reads changes: ``run``'s files and evaluations for a page about one run, else
    those of every run (so a new run shows too). A refresh redraws a page only when its signature changed."""
    entries = []
    try:
        for run_dir in [run.path] if run is not None else _run_dirs(results.root):
            files = [p for p in run_dir.iterdir() if p.is_file()]
            if (run_dir / store.PARTS_DIR).is_dir():
                files += [p for p in (run_dir / store.PARTS_DIR).iterdir() if p.is_file()]
            evaluations = run_dir / store.EVALUATION_DIR
            if evaluations.is_dir():
                files += [f for d in evaluations.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file()]
            entries.append(str(run_dir))
            entries += [f"{f}:{stat_key(f)}" for f in sorted(files) if not f.name.startswith(".")]
    except OSError as err:  # a folder removed while listed: the next refresh sees the settled state
        entries.append(f"unsettled: {err}")
    text = "\n".join(entries)
    return hashlib.sha1(text.encode()).hexdigest()
