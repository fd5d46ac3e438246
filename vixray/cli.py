"""The ``vixray`` command: ``data``, ``features``, ``cv``, ``tune``, ``evaluate``, ``dashboard``.

Every subcommand is parsed here and calls one library function; this module owns the one logging set-up and the exit
codes (0 done, 2 bad input, 130 interrupted). Heavy modules (torch, Ray, Dash) are imported only by the subcommand
that needs them, so ``vixray data`` starts quickly. Bad input is a one-line error on stderr, with no traceback.
``python -m vixray.evaluate`` is :func:`evaluate_main`, the ``evaluate`` subcommand under its own name.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: the commands import what they need when they run
    from vixray.config import ExperimentConfig
    from vixray.train import EpochReport

log = logging.getLogger("vixray")

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_SEARCH = "experiments/search/quick.yaml"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def _add_data_args(parser: argparse.ArgumentParser, *, default: str | None = "auto") -> None:
    parser.add_argument(
        "--data",
        default=default,
        metavar="SOURCE",
        help="auto | yahoo | sample | synthetic[:SEED] | csv:DIR (default: the experiment's, else auto)",
    )


# ---------------------------------------------------------------------------------------------------- data


def cmd_data(args: argparse.Namespace) -> int:
    from vixray.config import LabelConfig
    from vixray.data import OPTIONAL_TICKERS, load_prices
    from vixray.dataset import build_dataset, usable_range
    from vixray.features import FEATURE_SETS
    from vixray.labels import DIRECTION

    prices = load_prices(args.data, tickers=args.tickers, start=args.start, end=args.end)
    desc = prices.describe()
    print(f"source: {desc['source']}")
    for note in desc.get("notes", []):
        print(f"note:   {note}")
    print(f"\n{'ticker':<8} {'first':<11} {'last':<11} {'rows':>6}")
    for ticker, cov in desc["coverage"].items():
        print(f"{ticker:<8} {cov['first']:<11} {cov['last']:<11} {cov['rows']:>6}")
    print(f"\ncommon range: {desc['start']} to {desc['end']} ({desc['rows']} rows)")
    print(f"fingerprint:  {desc['fingerprint'][:16]}")

    framings = {
        f"threshold ±{args.threshold:.2%}": LabelConfig(down=-args.threshold, up=args.threshold),
        "direction (Up if higher)": LabelConfig(kind=DIRECTION, down=0.0, up=0.0),
    }
    print("\nnext-day VIX labels (seed set rows):")
    for title, labels in framings.items():
        dataset = build_dataset(prices.frame, tickers=prices.tickers, feature_set="seed", labels=labels)
        counts = dict(dataset.frame["label"].value_counts().iter_rows())
        total = dataset.frame.height
        mix = ", ".join(f"{name} {counts.get(k, 0) / total:.1%}" for k, name in enumerate(dataset.classes))
        print(f"  {title:<26} {total} labelled rows: {mix}")

    print(f"\n{'feature set':<12} {'features':>8}  {'first':<11} {'last':<11} {'rows':>6}")
    for name in FEATURE_SETS:
        r = usable_range(
            prices.frame,
            tickers=prices.tickers,
            feature_set=name,
            labels=framings["direction (Up if higher)"],
        )
        print(f"{name:<12} {r['features']:>8}  {str(r['first']):<11} {str(r['last']):<11} {r['rows']:>6}")
    absent = [t for t in OPTIONAL_TICKERS if t not in prices.tickers]
    if absent:
        print(f"(the term block reads {absent}: add them to --tickers where the source has them)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- features


def cmd_features(args: argparse.Namespace) -> int:
    import polars as pl

    from vixray.config import LabelConfig
    from vixray.data import DEFAULT_TICKERS, load_prices
    from vixray.dataset import build_dataset
    from vixray.features import optional_tickers, spec_parts
    from vixray.store import write_atomic

    out = Path(args.out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--out {args.out}: the file must end in .parquet or .csv")
    spec_parts(args.set)  # an unknown set is an error before any data is read
    labels = LabelConfig(down=-args.threshold, up=args.threshold)
    tickers = args.tickers or [*DEFAULT_TICKERS, *optional_tickers(args.set)]
    prices = load_prices(args.data, tickers=tickers)
    dataset = build_dataset(prices.frame, tickers=prices.tickers, feature_set=args.set, labels=labels)
    frame = dataset.frame.select("date", *dataset.feature_names, "label")
    if args.start:
        frame = frame.filter(pl.col("date") >= args.start)
    if args.end:
        frame = frame.filter(pl.col("date") <= args.end)
    if frame.is_empty():
        raise ValueError(
            f"no labelled rows between --start {args.start} and --end {args.end}; widen the range"
        )
    write_atomic(out, frame.write_csv if out.suffix.lower() == ".csv" else frame.write_parquet)
    log.info(
        "wrote %d rows x %d features (%s set, tickers %s, %s..%s) to %s",
        frame.height,
        len(dataset.feature_names),
        args.set,
        " ".join(prices.tickers),
        frame["date"][0],
        frame["date"][-1],
        out,
    )
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- cv


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


# ---------------------------------------------------------------------------------------------------- tune


def cmd_tune(args: argparse.Namespace) -> int:
    from vixray import store
    from vixray.console import format_search
    from vixray.data import load_for
    from vixray.search import resume_search, run_search

    results = Path(args.results).resolve()
    if args.resume:
        run = store.load_run(results, args.resume)
        log.info("resuming %s/%s", run.experiment, run.run_id)
        summary = resume_search(
            run, address=args.address, data=args.data, allow_data_change=args.allow_data_change
        )
    else:
        experiment = _load_experiment(args)
        if experiment.search is None:
            raise ValueError(
                f"{args.experiment}: no 'search' section; use an experiment of experiments/search/ "
                "(quick.yaml, dev.yaml or prod.yaml)"
            )
        prices = load_for(experiment.data)
        for note in prices.notes:
            log.warning("data: %s", note)
        summary = run_search(experiment, prices=prices, results_dir=results, address=args.address)
    print(format_search(summary))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- evaluate


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    from vixray.holdout import DEFAULT_SEEDS, DEFAULT_TOP
    from vixray.metrics import DEFAULT_N_BOOT

    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--best",
        action="store_true",
        help="the run's best finished trials by its search metric, --top of them (the default)",
    )
    which.add_argument(
        "--trial",
        nargs="+",
        metavar="TRIAL_ID",
        default=[],
        help="these finished trials instead, ranked in the order given",
    )
    parser.add_argument("--results", default="results", help="results folder (default ./results)")
    parser.add_argument("--experiment", metavar="NAME", help="only runs of this experiment")
    parser.add_argument("--run", default="latest", metavar="RUN", help="run id, or 'latest' (default)")
    parser.add_argument(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        metavar="K",
        help=f"with --best: the K best (default {DEFAULT_TOP})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        metavar="N",
        help=f"seeds per config (default {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--block-size",
        type=int,
        metavar="N",
        help="holdout test block in days (default: the split's test_size); blocks tile the holdout from its first "
        "day, the last one shorter",
    )
    parser.add_argument(
        "--no-refit",
        action="store_true",
        help="predict with each block's early-stopped model instead of refitting it on its whole training window",
    )
    parser.add_argument("--data", metavar="SOURCE", help="data source (default: the one the run searched)")
    parser.add_argument(
        "--allow-data-change",
        action="store_true",
        help="evaluate even if the data differs from the searched data",
    )
    parser.add_argument("--device", help="train on auto | cpu | cuda | cuda:N (default: the experiment's)")
    parser.add_argument(
        "--n-boot",
        type=int,
        default=DEFAULT_N_BOOT,
        metavar="N",
        help=f"bootstrap replications for the interval and SPA (default {DEFAULT_N_BOOT})",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate and print the summary, ending in the verdict and the report's path."""
    from vixray import store
    from vixray.console import format_holdout
    from vixray.holdout import evaluate_run

    run = store.load_run(Path(args.results), args.run, experiment=args.experiment)
    evaluation = evaluate_run(
        run,
        top=args.top,
        trial_ids=args.trial,
        seeds=args.seeds,
        block_size=args.block_size,
        refit=not args.no_refit,
        data=args.data,
        allow_data_change=args.allow_data_change,
        device=args.device,
        n_boot=args.n_boot,
        progress=not args.no_progress,
    )
    print(format_holdout(evaluation.report))
    print(f"report: {evaluation.path / store.REPORT_HTML}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- dashboard


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboards.app import run

    run(Path(args.results).resolve(), host=args.host, port=args.port)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vixray",
        description="Predict next-day VIX direction (Down/Neutral/Up, or Up/Down): data, features, cross-validation, "
        "search.",
    )
    _add_verbose(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "data", help="show per-ticker coverage, each feature set's usable range and the label class mixes"
    )
    _add_data_args(p)
    p.add_argument(
        "--tickers",
        nargs="+",
        default=["SPY", "QQQ", "^VIX"],
        help="tickers to load (add ^VIX3M ^VIX9D ^VXN for the term block)",
    )
    p.add_argument("--start", type=_date)
    p.add_argument("--end", type=_date)
    p.add_argument("--threshold", type=float, default=0.01, help="label threshold (default 0.01 = ±1%%)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("features", help="export the feature matrix with labels to Parquet or CSV")
    _add_data_args(p)
    p.add_argument(
        "--set",
        default="seed",
        help="feature set or blocks joined by +: seed | extended | calendar | full | seed+calendar+term ... "
        "(default seed)",
    )
    p.add_argument(
        "--tickers",
        nargs="+",
        default=None,
        help="tickers to load (default SPY QQQ ^VIX and the optional indexes the set reads)",
    )
    p.add_argument("--start", type=_date)
    p.add_argument("--end", type=_date)
    p.add_argument("--threshold", type=float, default=0.01)
    p.add_argument("--out", required=True, help="output file, .parquet or .csv")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("cv", help="train one configuration over every development fold, beside the baselines")
    p.add_argument("--experiment", required=True, help="experiments/presets/NAME.yaml (or any experiment)")
    _add_data_args(p, default=None)
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
    p.add_argument("--experiment", default=DEFAULT_SEARCH, help="an experiment with a search section")
    _add_data_args(p, default=None)
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--address", help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run: its id, or 'latest'")
    p.add_argument("--allow-data-change", action="store_true", help="resume even if the data changed")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("evaluate", help="walk-forward evaluation of the best configs on the holdout era")
    add_evaluate_arguments(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("dashboard", help="the Dash results explorer on http://127.0.0.1:8050")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(func=cmd_dashboard)
    return parser


def _run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """The one logging set-up and the exit codes, for every command."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(command(args))
    except (ValueError, FileNotFoundError) as err:
        log.error("error: %s", err)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _run(args.func, args)


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``python -m vixray.evaluate``: the ``evaluate`` subcommand under its own name."""
    parser = argparse.ArgumentParser(
        prog="python -m vixray.evaluate",
        description="Walk-forward evaluation of a search's best configs on the holdout era it never saw.",
    )
    _add_verbose(parser)
    add_evaluate_arguments(parser)
    return _run(cmd_evaluate, parser.parse_args(argv))


if __name__ == "__main__":
    from vixray.entry import ensure_dependencies

    ensure_dependencies("vixray.cli")
    sys.exit(main())
