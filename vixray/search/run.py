"""Running a search: connect to Ray, build the development tables once, run the Tuner, keep the run directory true.

Every search is a run directory of :mod:`vixray.store`; Ray's own experiment folder lives inside it (``ray/``), so
``Tuner.restore`` resumes a run whose driver died (:func:`resume_search`). Everything that can be checked is checked
before Ray starts and before any folder is made: the data, too little history for the folds, a feature set that
cannot be built, the baselines (fitted up front), a results folder nothing can be written to, resources no node has.

While a search runs its driver holds the run's lock (a second driver is refused), and the run's status is always
true (:mod:`~vixray.search.summary`): ``finished`` only when every trial of the budget has ended, ``interrupted``
after Ctrl-C, ``failed`` when a write failed (a full disk) or every trial errored. A resume never starts over: it
refuses a finished run (left untouched) and a run whose Ray state is damaged, and a trial the store records as
ended before the restart keeps its result (:class:`~vixray.search.trainable.SearchPayload`'s ``decided``). A local
Ray started here is shut down on every exit this process controls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import ray
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from vixray import store
from vixray.baselines import strongest_baseline
from vixray.config import ExperimentConfig, SearchConfig, dump_experiment, experiment_from_dict
from vixray.config.search import check_storage
from vixray.crossval import (
    METRIC_KEYS,
    FoldScores,
    PreparedFolds,
    baseline_scores,
    era_folds,
    pooled_accuracy,
    prepare_folds,
)
from vixray.data import Prices, load_recorded
from vixray.dataset import Eras, development_dataset, resolve_eras
from vixray.importance import write_block_importance
from vixray.search.cluster import check_resources, check_shared_storage, ray_session
from vixray.search.progress import ProgressLine, filter_ray_noise, quiet_console, verbose_from_env
from vixray.search.records import StoreCallback, decided_trials, study_name, write_importance, write_study
from vixray.search.sampler import asha_rungs, make_scheduler, make_searcher
from vixray.search.storage import Storage, redact, run_storage
from vixray.search.summary import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    SearchSummary,
    counts,
    final_status,
    summarise,
)
from vixray.search.trainable import SearchPayload, train_trial, trial_experiment
from vixray.snooping import search_spa

log = logging.getLogger(__name__)


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


def _search(experiment: ExperimentConfig) -> SearchConfig:
    if experiment.search is None:
        raise ValueError(
            f"experiment {experiment.name!r} has no 'search' section; add one (see experiments/search/quick.yaml)"
        )
    return experiment.search


@dataclass(frozen=True)
class SearchSetup:
    experiment: ExperimentConfig
    prices: Prices
    eras: Eras
    payload: SearchPayload
    base: PreparedFolds
    baselines: Mapping[str, FoldScores] | None = None  # fitted before the run folder is made (a new search)


def setup_search(experiment: ExperimentConfig, prices: Prices, *, baselines: bool = False) -> SearchSetup:
    """Resolve the eras and build the development tables for every feature set the space may pick; with
    ``baselines``, fit every baseline on the folds too, so nothing fails after the run folder exists."""
    search = _search(experiment)
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
    scores = (
        baseline_scores(base_dataset, base, experiment, seed=experiment.train.seed) if baselines else None
    )
    return SearchSetup(experiment, prices, eras, payload, base, scores)


def _manifest(setup: SearchSetup, *, address: str, storage: str | None) -> dict[str, Any]:
    exp = setup.experiment
    return {
        "status": store.RUNNING,
        "started": _now(),
        "ended": None,
        "experiment_config": exp.to_dict(),
        "experiment_yaml": dump_experiment(exp),
        "data": setup.prices.describe(),
        "eras": setup.eras.to_dict(),
        "folds": setup.base.fold_info,
        "search": _search(exp).to_dict(),
        "seeds": {"search": _search(exp).seed, "train": exp.train.seed},
        "versions": _versions(),
        "git_commit": _git_commit(),
        "machine": _machine(),
        "ray_address": address,
        "storage": redact(storage) if storage else None,  # Ray's experiment state, when not in the run folder
        "command": " ".join(sys.argv),
    }


def write_baselines(run: store.Run, setup: SearchSetup) -> str:
    """Every baseline on the development folds' test rows (identical for every trial): scores per fold and pooled,
    every test day's call, and the strongest one, recorded in the manifest as the yardstick of every later
    comparison (the holdout evaluation's too: it is never chosen by a holdout score). Returns its name."""
    dataset = setup.base.dataset
    scores = setup.baselines
    if scores is None:
        scores = baseline_scores(dataset, setup.base, setup.experiment, seed=setup.experiment.train.seed)
    rows = []
    for name, s in scores.items():
        for f, m in [*enumerate(s.per_fold), (-1, s.pooled)]:
            rows.append(
                {"baseline": name, "fold": f, "n_test": int(m["n"]), **{k: m.get(k) for k in METRIC_KEYS}}
            )
    store.write_parquet(run.path / store.BASELINES, pl.DataFrame(rows))
    daily = pl.concat([s.daily(dataset).with_columns(baseline=pl.lit(name)) for name, s in scores.items()])
    store.write_parquet(run.path / store.BASELINE_PREDICTIONS, daily)
    strongest = strongest_baseline(pooled_accuracy(scores))
    run.update_manifest(strongest_baseline=strongest)
    return strongest


def _tuner(setup: SearchSetup, run: store.Run, *, restore: bool, storage: Storage) -> tune.Tuner:
    search = _search(setup.experiment)
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, payload=setup.payload),
        {"cpu": search.resources.cpus, "gpu": search.resources.gpus},
    )
    shared = {"storage_filesystem": storage.filesystem} if storage.uri else {}
    if restore:
        return tune.Tuner.restore(
            storage.ray_path, trainable=trainable, resume_unfinished=True, resume_errored=False, **shared
        )
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(search, study_name=study_name(run)),
            scheduler=make_scheduler(search),
            metric=search.metric,
            mode=search.mode,
            num_samples=search.num_samples,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=store.RAY_DIR,
            storage_path=storage.path,
            **shared,
            # a trial whose node died restarts from its last checkpoint on another node, this many times
            failure_config=tune.FailureConfig(max_failures=search.max_failures, fail_fast=False),
            # two kept, not one: Ray snapshots the whole search (O(trials)) whenever a trial has saved num_to_keep
            # checkpoints since the last snapshot, and with one that was every trial's end, O(trials^2) in all
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            # CSV and JSON keep Ray's ResultGrid working; the automatic TensorBoardX logger is left out
            # (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS in _fit): it imports torch in the driver and costs more per
            # result than a short epoch, and curves.parquet holds the same curves
            # the progress line first: its on_experiment_end closes it even when the store's final write fails
            callbacks=[
                ProgressLine(run.path, total=search.num_samples, metric=search.metric, mode=search.mode),
                StoreCallback(run.path, n_folds=len(setup.base.folds)),
                CSVLoggerCallback(),
                JsonLoggerCallback(),
            ],
            verbose=1 if verbose_from_env() else 0,  # Ray's tables on the console only when asked for
        ),
    )


def run_search(
    experiment: ExperimentConfig,
    *,
    prices: Prices,
    results_dir: Path,
    address: str | None = None,
    storage: str | None = None,
) -> SearchSummary:
    """Run a new search: everything is checked before its run directory is made, which is finalised whatever
    happens; the driver holds the run's lock throughout. ``storage`` (default ``search.storage``) is where Ray's
    experiment state goes (:mod:`vixray.search.storage`)."""
    storage = storage or _search(experiment).storage
    if storage is not None:
        check_storage(storage, key="--storage")
    setup = setup_search(experiment, prices, baselines=True)
    store.check_writable(results_dir, what="--results")
    filter_ray_noise()
    with ray_session(address) as where:
        check_resources(_search(experiment))
        check_shared_storage(storage)
        manifest = _manifest(setup, address=where, storage=storage)
        run = store.create_run(results_dir, experiment.name, manifest=manifest)
        log.info("run directory: %s", run.path)
        with store.lock_run(run, action="search"):
            write_baselines(run, setup)
            return _fit(run, setup, restore=False, storage=run_storage(run, storage))


def resume_search(
    run: store.Run,
    *,
    address: str | None = None,
    data: str | None = None,
    allow_data_change: bool = False,
    storage: str | None = None,
) -> SearchSummary:
    """Continue an interrupted run with ``Tuner.restore``: ended trials keep their results, unfinished ones resume.
    A finished run is left untouched (its summary is returned); a run whose Ray state is damaged is refused."""
    manifest = run.manifest()
    if manifest.get("status") == FINISHED:
        log.info("run %s/%s is finished: nothing to resume, nothing changed", run.experiment, run.run_id)
        return summarise(run, status=FINISHED, seconds=0.0, spa=run.search_spa())
    storage = storage or manifest.get("storage")
    state = run_storage(run, storage)
    check_restorable(run, state)
    experiment = experiment_from_dict(manifest["experiment_config"], origin=str(run.path / store.MANIFEST))
    prices, _ = load_recorded(
        experiment.data,
        manifest.get("data"),
        data=data,
        run_name=f"{run.experiment}/{run.run_id}",
        allow_change=allow_data_change,
        action="resume",
    )
    setup = setup_search(experiment, prices)
    decided = decided_trials(run, n_folds=len(setup.base.folds))
    setup = dataclasses.replace(setup, payload=dataclasses.replace(setup.payload, decided=decided))
    store.check_writable(run.path, what="the run folder")
    filter_ray_noise()
    with store.lock_run(run, action="resume"), ray_session(address):  # a second driver is refused before Ray
        check_resources(_search(experiment))
        check_shared_storage(storage)
        run.update_manifest(status=store.RUNNING, resumed=[*manifest.get("resumed", []), _now()])
        return _fit(run, setup, restore=True, storage=state)


def check_restorable(run: store.Run, state: Storage) -> None:
    """Refuse a resume that Ray would turn into a fresh search: no state, or state it cannot read (a disk that
    filled up mid-write). The store's trials are untouched either way."""
    name = f"{run.experiment}/{run.run_id}"
    kept = counts(run)
    try:
        found = state.exists("tuner.pkl")
    except OSError as err:
        raise ValueError(
            f"run {name}: Ray's experiment state at {state.describe()} cannot be read ({err})"
        ) from None
    if not found:
        raise ValueError(
            f"run {name} has no Ray experiment state ({state.describe()}); it cannot be resumed (a run searched "
            "with --storage resumes with the same --storage)"
        )
    states = state.experiment_states()
    problem = "no experiment_state file" if not states else None
    for latest in states[-1:]:
        try:
            state.read_json(latest)
        except (OSError, ValueError) as err:
            problem = f"{latest} is unreadable ({err})"
    if problem:
        raise ValueError(
            f"run {name} cannot be resumed: Ray's experiment state in {state.describe()} is damaged ({problem}), and "
            f"Ray would start the search over. The run keeps its {sum(kept.values())} trials "
            f"({kept['finished']} finished) as they are; start a new search (make tune) instead"
        )


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


def _fit(run: store.Run, setup: SearchSetup, *, restore: bool, storage: Storage) -> SearchSummary:
    started = time.perf_counter()
    status = FAILED
    try:
        tuner = _tuner(setup, run, restore=restore, storage=storage)
        with _ray_env(), quiet_console(run.path / store.RAY_LOG, verbose=verbose_from_env()):
            tuner.fit()  # returns normally after Ctrl-C too: final_status tells
        status = final_status(run, num_samples=_search(setup.experiment).num_samples)
    except KeyboardInterrupt:
        status = INTERRUPTED
        raise
    except Exception as err:
        written = _store_write_error(err)
        if written is not None:
            raise written from err  # one line: what, where, how much room is left
        raise
    finally:
        _save_study(run, setup)
        spa = _save_search_spa(run)
        summary = summarise(run, status=status, seconds=time.perf_counter() - started, spa=spa)
        try:
            run.update_manifest(status=status, ended=_now(), counts=summary.counts)
        except store.StoreWriteError as err:
            log.error("the run's status (%s) could not be recorded: %s", status, err)
    if status == FINISHED:
        _save_block_importance(run, setup)
    return summary


def _store_write_error(err: BaseException) -> store.StoreWriteError | None:
    """The results write that stopped the search, wherever Ray wrapped it."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, store.StoreWriteError):
            return seen
        if isinstance(seen, OSError) and seen.errno is not None:
            return store.StoreWriteError(seen.errno, f"a results write failed: {seen}")
        seen = seen.__cause__ or seen.__context__
    return None


def _save_block_importance(run: store.Run, setup: SearchSetup) -> None:
    """Which feature blocks the best trial and the boosting baseline use (block_importance.json): a view of the
    run, so failing to write it must not lose the run."""
    try:
        ranked = store.best_trials(run, k=1)
    except ValueError:
        return  # no trial at all
    if ranked.is_empty():
        return  # no finished trial: nothing to explain
    best = ranked.row(0, named=True)
    log.info(
        "permutation importance of each feature block (best trial %s, boosting baseline)", best["trial_id"]
    )
    try:
        experiment = trial_experiment(setup.payload, store.trial_params(best))
        prepared = prepare_folds(setup.payload.datasets[experiment.features.set], experiment)
        write_block_importance(
            run,
            trial_id=str(best["trial_id"]),
            trial=(prepared, experiment),
            baseline=(setup.base, setup.experiment),
            seed=setup.experiment.train.seed,
        )
    except Exception:
        log.exception(
            "could not write %s for run %s; the trial tables are intact", store.BLOCK_IMPORTANCE, run.run_id
        )


def _save_search_spa(run: store.Run) -> dict[str, Any] | None:
    """spa.json, like optuna.db, is a view of the records: failing to write it must not lose the run."""
    try:
        return search_spa(run)
    except Exception:
        log.exception(
            "could not write %s for run %s; the trial tables are intact", store.SEARCH_SPA, run.run_id
        )
        return None


def _save_study(run: store.Run, setup: SearchSetup) -> None:
    """optuna.db and importance.json are views of the tables: failing to write them must not lose the run."""
    try:
        study = write_study(run, _search(setup.experiment), n_folds=len(setup.base.folds))
        write_importance(run, study)
    except Exception:
        log.exception(
            "could not write %s for run %s; the trial tables are intact", store.OPTUNA_DB, run.run_id
        )
