"""``vixray cv`` and ``vixray tune``: one configuration over the development folds, and the search."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vixray.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, add_data_args, log

if TYPE_CHECKING:  # for the annotations only: the commands import what they need when they run
    from vixray.config import ExperimentConfig
    from vixray.train import EpochReport

DEFAULT_SEARCH = "experiments/search/quick.yaml"


def _load_experiment(args: argparse.Namespace) -> ExperimentConfig:
    """``--experiment`` with ``--data`` (when given) as its data.source, so the run records the data it used, and
    ``--override KEY=VALUE`` pairs (cv) on top."""
    from vixray.config import load_experiment, parse_overrides

    overrides = parse_overrides(getattr(args, "override", None) or [])
    if args.data:
        overrides["data.source"] = args.data
    return load_experiment(args.experiment, overrides=overrides or None)


def cmd_cv(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vixray.console import format_cv
    from vixray.crossval import cross_validate
    from vixray.data import load_for
    from vixray.dataset import development_dataset, resolve_eras
    from vixray.store import write_json

    experiment = _load_experiment(args)
    prices = load_for(experiment.data)
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    dataset = development_dataset(prices.frame, experiment, eras)
    log.info(
        "cv %s on %s: development era %s..%s (%d labelled rows); the holdout era %s..%s is not read",
        experiment.name,
        prices.source,
        *eras.development,
        len(dataset),
        *eras.holdout,
    )
    bar = tqdm(total=experiment.train.epochs, unit="epoch", disable=args.no_progress, file=sys.stderr)

    def on_epoch(report: EpochReport) -> None:
        bar.update(1)
        bar.set_postfix(val_loss=f"{float(report.val_loss.mean()):.4f}", active=int(report.active.sum()))

    try:
        report = cross_validate(dataset, experiment, on_epoch=on_epoch)
    finally:
        bar.close()
    report["data"] = prices.describe()
    report["eras"] = eras.to_dict()
    print(format_cv(report))
    if args.json:
        write_json(Path(args.json), report)
        log.info("wrote %s", args.json)
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    from vixray import store
    from vixray.console import format_search
    from vixray.data import load_for
    from vixray.search import resume_search, run_search

    results = Path(args.results).resolve()
    if args.resume:
        # `--resume latest` with an experiment resumes that experiment's latest run, not any experiment's
        named = Path(args.experiment).stem if args.experiment else None
        run = store.load_run(results, args.resume, experiment=named)
        log.info("resuming %s/%s", run.experiment, run.run_id)
        summary = resume_search(
            run,
            address=args.address,
            data=args.data,
            allow_data_change=args.allow_data_change,
            storage=args.storage,
        )
    else:
        args.experiment = args.experiment or DEFAULT_SEARCH
        experiment = _load_experiment(args)
        if experiment.search is None:
            raise ValueError(
                f"{args.experiment}: no 'search' section; use an experiment of experiments/search/ "
                "(quick.yaml, dev.yaml or prod.yaml)"
            )
        prices = load_for(experiment.data)
        for note in prices.notes:
            log.warning("data: %s", note)
        summary = run_search(
            experiment, prices=prices, results_dir=results, address=args.address, storage=args.storage
        )
    print(format_search(summary))
    return {store.FINISHED: EXIT_OK, store.INTERRUPTED: EXIT_INTERRUPTED}.get(summary.status, EXIT_ERROR)


def register(sub: Any) -> None:
    p = sub.add_parser("cv", help="train one configuration over every development fold, beside the baselines")
    p.add_argument("--experiment", required=True, help="experiments/presets/NAME.yaml (or any experiment)")
    add_data_args(p, default=None)
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.add_argument(
        "--override",
        action="append",
        metavar="KEY=VALUE",
        help="change one setting, e.g. --override features.set=seed+calendar --override labels.kind=direction",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_cv)

    p = sub.add_parser("tune", help="hyperparameter search on Ray Tune + Optuna + ASHA")
    p.add_argument(
        "--experiment",
        default=None,
        help=f"an experiment with a search section (default {DEFAULT_SEARCH}; with --resume latest: resume "
        "that experiment's latest run)",
    )
    add_data_args(p, default=None)
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument(
        "--storage",
        metavar="URI",
        help="where Ray's experiment state goes, for a cluster without a shared disk: s3://bucket/prefix, gs://..., "
        "file:///mnt/nfs/... or an absolute path (default: search.storage, else the run folder); credentials from "
        "the environment",
    )
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run: its id, or 'latest'")
    p.add_argument("--allow-data-change", action="store_true", help="resume even if the data changed")
    p.set_defaults(func=cmd_tune)
