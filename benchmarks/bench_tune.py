"""The quick search's overhead: wall time against the trials' own training time, and trials per minute."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import default_source

from vixray.config import load_experiment
from vixray.data import load_for

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiment", default=str(REPO / "experiments" / "search" / "quick.yaml"))
    parser.add_argument("--data", default=default_source())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

    import ray

    from vixray.search import run_search

    experiment = load_experiment(args.experiment, overrides={"data.source": args.data})
    prices = load_for(experiment.data)
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as results:
        t0 = time.perf_counter()
        summary = run_search(experiment, prices=prices, results_dir=Path(results))
        wall = time.perf_counter() - t0
        trials = summary.run.trials()
    ray.shutdown()
    busy = float(trials["seconds"].sum())
    search = experiment.search
    if search is None:
        raise SystemExit(f"{args.experiment}: no search section")
    slots = min(search.max_concurrent, int((os.cpu_count() or 1) // search.resources.cpus))
    ideal = busy / slots
    print(
        f"search {experiment.name} on {prices.source}: {trials.height} trials "
        f"({summary.counts}), {slots} concurrent on {os.cpu_count()} cores"
    )
    print(
        f"ray start {ray_start:.1f} s (not counted); search wall {wall:.1f} s; trials' own time {busy:.1f} s"
    )
    print(f"overhead ratio wall / (trial time / {slots} slots) = {wall / ideal:.2f}  (target <= 1.25)")
    print(f"throughput {trials.height / wall * 60:.1f} trials per minute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
