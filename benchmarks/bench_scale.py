"""A search at scale: many very short trials (a tiny model, 2 epochs, few rows), to see what the driver costs.

Prints the driver's resident memory after 100, 500 and 1000 ended trials (its growth is the figure to watch: Ray
Tune keeps every trial in the driver), trials per minute, and the overhead ratio: the search's wall time against
the trials' own time spread over the slots. For trials this short the ratio measures Ray's and the store's
per-trial cost far more than training; ``bench_tune.py`` gives the same ratio for the ``quick`` search.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from vixray import store
from vixray.config import experiment_from_dict
from vixray.data import load_prices

MB = 1024 * 1024


def tiny_search(num_samples: int, *, source: str) -> dict:
    """An experiment whose trials each train a 4-unit LSTM for 2 epochs on two folds of 150 rows."""
    return {
        "name": "scale",
        "data": {"source": source},
        "eras": {"holdout": "last 20%"},
        "split": {"n_splits": 2, "train_size": 150, "test_size": 40, "gap": 1, "val_fraction": 0.2},
        "model": {
            "seq_len": 3,
            "hidden_size": 4,
            "num_layers": 1,
            "dropout": 0.0,
            "head": [],
            "head_dropout": [],
        },
        "train": {"epochs": 2, "batch_size": 64, "patience": None, "seed": 0},
        "search": {
            "num_samples": num_samples,
            "max_concurrent": os.cpu_count() or 1,
            "seed": 0,
            "resources": {"cpus": 1},
            "scheduler": {"max_epochs": 2, "grace_period": 2, "reduction_factor": 2},
            "space": {
                "model.hidden_size": {"type": "categorical", "choices": [4, 8]},
                "train.lr": {"type": "loguniform", "low": 1e-3, "high": 3e-2},
            },
        },
    }


class MemoryWatch:
    """Samples this process's RSS whenever the run's store shows another checkpoint count of ended trials."""

    def __init__(self, results: Path, marks: list[int]) -> None:
        self.results, self.marks = results, marks
        self.rss: dict[int, tuple[float, float]] = {}  # mark -> (RSS MB, seconds since start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._started = time.perf_counter()

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _ended(self) -> int:
        runs = store.list_runs(self.results)
        trials = store.Run(runs[-1].path).trials() if runs else None
        if trials is None:
            return 0
        return int(trials.filter(trials["status"].is_in(["finished", "pruned", "errored"])).height)

    def _watch(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.5):
            try:
                ended = self._ended()
            except (OSError, ValueError):
                continue  # a table caught mid-replace: read it next time
            for mark in self.marks:
                if ended >= mark and mark not in self.rss:
                    self.rss[mark] = (process.memory_info().rss / MB, time.perf_counter() - self._started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument(
        "--data", default="synthetic:3", help="a source with few rows is enough (default: synthetic)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import ray

    from vixray.search import run_search

    experiment = experiment_from_dict(tiny_search(args.trials, source=args.data))
    prices = load_prices(args.data)
    marks = sorted({m for m in (100, 500, 1000, args.trials) if m <= args.trials})
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as results:
            rss_start = psutil.Process().memory_info().rss / MB
            with MemoryWatch(Path(results), marks) as watch:
                t0 = time.perf_counter()
                summary = run_search(experiment, prices=prices, results_dir=Path(results))
                wall = time.perf_counter() - t0
            trials = summary.run.trials()
    finally:
        ray.shutdown()
    search = experiment.search
    if search is None:
        raise SystemExit("the scale experiment lost its search section")
    slots = min(search.max_concurrent, os.cpu_count() or 1)
    busy = float(trials["seconds"].sum())
    print(
        f"scale search: {trials.height} trials of 2 epochs ({summary.counts}), {slots} concurrent on "
        f"{os.cpu_count()} cores; driver RSS {rss_start:.0f} MB with Ray up, before the search "
        f"(MALLOC_ARENA_MAX {os.environ.get('MALLOC_ARENA_MAX', 'unset')}: see the README's cluster section)"
    )
    for mark in marks:
        if mark in watch.rss:
            rss, at = watch.rss[mark]
            print(f"  after {mark:>5} trials ({at:6.1f} s): driver RSS {rss:7.1f} MB")
    if 100 in watch.rss and marks[-1] in watch.rss and marks[-1] > 100:
        growth = watch.rss[marks[-1]][0] - watch.rss[100][0]
        print(f"driver RSS growth from 100 to {marks[-1]} trials: {growth:+.1f} MB  (target < 100 MB)")
    print(
        f"search wall {wall:.1f} s; trials' own time {busy:.1f} s; throughput {trials.height / wall * 60:.0f} trials/min"
    )
    print(
        f"overhead ratio wall / (trial time / {slots} slots) = {wall / (busy / slots):.2f}  (target <= 1.25)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
