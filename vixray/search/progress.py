"""A quiet console for a search: one live progress line, one line per errored trial, and Ray's own output in the run.

Ray Tune prints a table per trial start, result and status tick (thousands of lines for a quick search). By default
(:func:`quiet_console`) that output, everything Ray writes to stdout and stderr and its log records, goes to
``ray.log`` in the run folder, while the console shows :class:`ProgressLine`: trials finished / pruned / errored /
running of the budget, the best metric so far and its trial, elapsed time and ETA, and a line per errored trial with
its reason. ``verbose`` (``--verbose``, ``VIXRAY_VERBOSE=1``) restores Ray's tables on the console. Either way a few
one-off Ray notices a user can do nothing about are kept off the console (:class:`RayNoise`), never off the log.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ray import tune

from vixray import store
from vixray.search.records import error_message
from vixray.search.summary import counts
from vixray.search.trainable import DECIDED, REPLAYED_ERROR

# messages of Ray's a user cannot act on: the token-authentication notice at start, the snapshot-frequency warning
# a short search triggers every few seconds (its snapshots are what makes resume exact), the closing save notice
NOISE = (
    "Token authentication is enabled",
    "Experiment state snapshotting has been triggered",
    "Wrote the latest version of all result files",
)


def verbose_from_env() -> bool:
    return os.environ.get("VIXRAY_VERBOSE", "").strip().lower() in ("1", "true", "yes")


class RayNoise(logging.Filter):
    """Drops :data:`NOISE` records (a filter on the console handlers only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in NOISE)


def filter_ray_noise() -> None:
    """Keep :data:`NOISE` off the console handlers of Ray's loggers (before Ray starts: its first notice comes then)."""
    for name in ("ray", "ray.tune"):
        for handler in logging.getLogger(name).handlers:
            console = isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            )
            if console and not any(isinstance(f, RayNoise) for f in handler.filters):
                handler.addFilter(RayNoise())


@contextlib.contextmanager
def quiet_console(log_path: Path, *, verbose: bool) -> Iterator[None]:
    """Ray's output to ``log_path`` (appended): its log records always, its stdout and stderr unless ``verbose``."""
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ray_logger = logging.getLogger("ray")
    ray_logger.addHandler(handler)
    try:
        if verbose:
            yield
            return
        with (
            open(log_path, "a", encoding="utf-8", buffering=1) as out,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(out),
        ):
            yield
    finally:
        ray_logger.removeHandler(handler)
        handler.close()


class ProgressLine(tune.Callback):
    """One live line: the budget's trials by state, the best metric so far with its trial, elapsed and ETA.

    Ray pickles a search's callbacks with its state and restores them on resume, so the bar is made at the first
    event (not pickled), counting the trials the run's store already records as ended; it stays off when the
    console is verbose (``VIXRAY_VERBOSE``), where Ray's own tables show the same."""

    def __init__(self, run_path: Path, *, total: int, metric: str, mode: str) -> None:
        self.run_path, self.total, self.metric, self.mode = Path(run_path), total, metric, mode
        self.counts = {"finished": 0, "pruned": 0, "errored": 0}
        self.running: set[str] = set()
        self.best: tuple[float, str] | None = None
        self._tested: dict[str, bool] = {}  # trial -> whether its last report carried test scores (finished)
        self._replayed: set[str] = set()  # trials that replayed a record from before a restart
        self._bar: Any = None
        self._tty = False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_bar": None}

    def _line(self) -> Any:
        if self._bar is None and not verbose_from_env():
            from tqdm import tqdm  # the console's one progress bar

            before = counts(store.Run(self.run_path))
            for state in self.counts:
                self.counts[state] = before[state]
            stream = sys.__stderr__ or sys.stderr
            tty = self._tty = stream.isatty()
            self._bar = tqdm(
                total=self.total,
                initial=sum(self.counts.values()),
                unit="trial",
                desc="search",
                file=stream,
                dynamic_ncols=tty,
                mininterval=0.5 if tty else 30.0,  # a log file gets a line every 30 s, not every tick
            )
        return self._bar

    def _refresh(self) -> None:
        bar = self._line()
        if bar is None:
            return
        c = self.counts
        text = f"{c['finished']} finished, {c['pruned']} pruned, {c['errored']} errored, {len(self.running)} running"
        if self.best is not None:
            text += f"; best {self.metric} {self.best[0]:.4f} ({self.best[1]})"
        # on a terminal the line redraws at once; into a file tqdm writes it at most every mininterval
        bar.set_postfix_str(text, refresh=self._tty)

    def _ended(self, state: str) -> None:
        self.counts[state] += 1
        bar = self._line()
        if bar is not None:
            bar.update(1)
        self._refresh()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._refresh()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if result.get(DECIDED):  # a replayed record: counted from the store already
            self._replayed.add(trial.trial_id)
            return
        value = result.get(self.metric)
        if isinstance(value, int | float) and math.isfinite(value):
            better = self.best is None or (
                value < self.best[0] if self.mode == "min" else value > self.best[0]
            )
            if better:
                self.best = (float(value), trial.trial_id)
        self._tested[trial.trial_id] = "test_accuracy" in result

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        if trial.trial_id in self._replayed:
            self._refresh()
            return
        self._ended("finished" if self._tested.get(trial.trial_id) else "pruned")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        bar = self._line()
        if bar is not None:
            failures = int(getattr(trial, "num_failures", 0) or 0)
            bar.write(
                f"trial {trial.trial_id} failed ({error_message(trial) or 'its node was lost'}); restarting it "
                f"from its last checkpoint (failure {failures} of search.max_failures)",
                file=bar.fp,
            )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        message = error_message(trial)
        if REPLAYED_ERROR in message:  # errored before the restart: counted from the store already
            self._refresh()
            return
        bar = self._line()
        if bar is not None:
            bar.write(f"trial {trial.trial_id} errored: {message}", file=bar.fp)
        self._ended("errored")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._bar is not None:
            self._bar.close()  # draws the final state once
            self._bar = None
