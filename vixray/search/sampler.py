"""How a search proposes and stops trials: Optuna's TPE over the experiment's space, and Ray's ASHA scheduler.

The space of :class:`vixray.config.SearchConfig` becomes Optuna distributions (:func:`distribution`, also what
optuna.db records) sampled define-by-run (:class:`DefineByRun`), so conditional parameters (``when:``) are only
suggested when their condition holds. OptunaSearch never prunes (it uses Optuna's NopPruner under Ray); stopping is
ASHA's, on the ``epoch`` a trial reports, at the rungs :func:`asha_rungs` lists.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from vixray.config import Param, SearchConfig
from vixray.config.search import is_active


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
            elif isinstance(d, FloatDistribution):
                values[p.name] = trial.suggest_float(p.name, d.low, d.high, step=d.step, log=d.log)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs each study it creates at INFO, which lands in the middle of the search's console output."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def make_searcher(search: SearchConfig, *, study_name: str) -> ConcurrencyLimiter:
    """TPE (multivariate, grouped for the conditional space, constant liar for concurrent trials) behind Ray's
    OptunaSearch, at most ``search.max_concurrent`` trials at a time. The study lives in memory while the search
    runs (Ray pickles it with the search state); optuna.db is written from the trial tables when it ends."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=search.seed, multivariate=True, group=True, constant_liar=True
        )
    with quiet_optuna():
        searcher = OptunaSearch(
            space=DefineByRun(search.space),
            metric=search.metric,
            mode=search.mode,
            sampler=sampler,
            study_name=study_name,
        )
    return ConcurrencyLimiter(searcher, max_concurrent=search.max_concurrent)


def make_scheduler(search: SearchConfig) -> ASHAScheduler:
    """ASHA on the reported ``epoch`` (trials report every few epochs, always at the rungs: see the trainable)."""
    return ASHAScheduler(
        time_attr="epoch",
        max_t=search.scheduler.max_epochs,
        grace_period=search.scheduler.grace_period,
        reduction_factor=search.scheduler.reduction_factor,
    )


def asha_rungs(*, grace_period: int, reduction_factor: float, max_epochs: int) -> frozenset[int]:
    """The epochs ASHA judges at: the first epoch >= each milestone grace_period * reduction_factor**k <= max_epochs
    (Ray's rungs, computed as Ray computes them, are among these)."""
    rungs, k = set(), 0
    while (milestone := grace_period * reduction_factor**k) <= max_epochs:
        rungs.add(math.ceil(milestone))
        k += 1
    return frozenset(rungs)
