"""The ``vixray`` command: ``data``, ``features``, ``cv``, ``tune``, ``evaluate``, ``dashboard``.

Each subcommand parses its arguments here and calls one library function; heavy modules (torch, Ray, Dash) are
imported only by the subcommand that needs them, so ``vixray data`` starts quickly. Bad input is a one-line
error on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

log = logging.getLogger("vixray")

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


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
    from vixray.data import load_prices
    from vixray.dataset import build_dataset
    from vixray.labels import check_thresholds

    check_thresholds(down=-args.threshold, up=args.threshold)
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
    labels = LabelConfig(down=-args.threshold, up=args.threshold)
    dataset = build_dataset(prices.frame, tickers=prices.tickers, feature_set="seed", labels=labels)
    counts = dataset.frame["label"].value_counts().sort("label")
    total = dataset.frame.height
    mix = ", ".join(
        f"{name} {count / total:.1%}"
        for name, count in zip(("down", "neutral", "up"), _counts(counts, 3), strict=True)
    )
    print(f"labels (±{args.threshold:.2%} next-day VIX change, {total} labelled rows): {mix}")
    return EXIT_OK


def _counts(value_counts, k: int) -> list[int]:  # type: ignore[no-untyped-def]
    found = dict(zip(value_counts["label"].to_list(), value_counts["count"].to_list(), strict=True))
    return [int(found.get(c, 0)) for c in range(k)]


# ---------------------------------------------------------------------------------------------------- features


def cmd_features(args: argparse.Namespace) -> int:
    import polars as pl

    from vixray.config import LabelConfig
    from vixray.data import load_prices
    from vixray.dataset import build_dataset
    from vixray.store import write_atomic

    out = Path(args.out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--out {args.out}: the file must end in .parquet or .csv")
    prices = load_prices(args.data, tickers=args.tickers)
    labels = LabelConfig(down=-args.threshold, up=args.threshold)
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
    if out.suffix.lower() == ".csv":
        write_atomic(out, frame.write_csv)
    else:
        write_atomic(out, frame.write_parquet)
    log.info(
        "wrote %d rows x %d features (%s set, %s..%s) to %s",
        frame.height,
        len(dataset.feature_names),
        args.set,
        frame["date"][0],
        frame["date"][-1],
        out,
    )
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- cv


def load_for_experiment(experiment_path: str, data: str | None):  # type: ignore[no-untyped-def]
    """The experiment (with ``--data`` replacing data.source) and its prices."""
    from vixray.config import load_experiment
    from vixray.data import load_prices

    experiment = load_experiment(experiment_path, overrides={"data.source": data} if data else None)
    prices = load_prices(
        experiment.data.source,
        tickers=experiment.data.tickers,
        start=experiment.data.start,
        end=experiment.data.end,
    )
    return experiment, prices


def _fmt(value: object, width: int = 7) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.3f}"
    return f"{value!s:>{width}}"


def _pvalue(p: float | None) -> str:
    if p is None:
        return "-"
    return "<1e-4" if p < 1e-4 else f"{p:.4f}"


def format_cv_report(report: dict) -> str:
    """The console table of ``vixray cv``: accuracy per fold and pooled, model beside every baseline, p-values."""
    names = list(report["pooled"]["baselines"])
    head = f"{'fold':<6}{'test period':<25}{'n':>6}{'model':>8}" + "".join(f"{n[:11]:>12}" for n in names)
    lines = [f"accuracy on the development era's test blocks (experiment {report['experiment']})", head]
    for fold in report["folds"]:
        period = f"{fold['test_start']}..{fold['test_end']}"
        cells = "".join(f"{_fmt(fold['baselines'][n]['accuracy'], 12)}" for n in names)
        lines.append(
            f"{fold['fold']:<6}{period:<25}{fold['n_test']:>6}{_fmt(fold['model']['accuracy'], 8)}{cells}"
        )
    pooled = report["pooled"]
    cells = "".join(f"{_fmt(pooled['baselines'][n]['accuracy'], 12)}" for n in names)
    lines.append(f"{'pooled':<31}{pooled['n_test']:>6}{_fmt(pooled['model']['accuracy'], 8)}{cells}")
    m = pooled["model"]
    lines.append(
        f"model: balanced accuracy {m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
        f"log loss {_fmt(m.get('log_loss'), 0).strip()}"
    )
    t = pooled["tests"]
    lines.append(
        f"binomial test vs 1/3: p = {_pvalue(t['binomial_vs_chance']['p_value'])}; "
        f"vs majority rate: p = {_pvalue((t.get('binomial_vs_majority') or {}).get('p_value'))}"
    )
    lines.append(
        "McNemar vs " + ", ".join(f"{n}: p = {_pvalue(v['p_value'])}" for n, v in t["mcnemar"].items())
    )
    pt = t["pesaran_timmermann"]
    lines.append(
        f"Pesaran-Timmermann: Up vs not Up p = {_pvalue(pt['up']['p_value'])}, "
        f"Down vs not Down p = {_pvalue(pt['down']['p_value'])}"
    )
    ci = t["bootstrap_ci"]
    lines.append(
        f"accuracy {ci['mean']:.3f}, stationary block-bootstrap {ci['level']:.0%} interval [{ci['low']:.3f}, {ci['high']:.3f}]"
    )
    lines.append(
        f"trained {report['timing']['epochs_run']} epochs in {report['timing']['train_seconds']:.1f} s on {report['timing']['device']}"
    )
    return "\n".join(lines)


def cmd_cv(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vixray.crossval import cross_validate
    from vixray.dataset import development_dataset, resolve_eras
    from vixray.store import write_json

    experiment, prices = load_for_experiment(args.experiment, args.data)
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

    def on_epoch(report) -> None:  # type: ignore[no-untyped-def]
        bar.update(1)
        bar.set_postfix(val_loss=f"{float(report.val_loss.mean()):.4f}", active=int(report.active.sum()))

    try:
        report = cross_validate(dataset, experiment, on_epoch=on_epoch)
    finally:
        bar.close()
    report["data"] = prices.describe()
    report["eras"] = eras.to_dict()
    print(format_cv_report(report))
    if args.json:
        write_json(Path(args.json), report)
        log.info("wrote %s", args.json)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- tune


def format_search_summary(summary) -> str:  # type: ignore[no-untyped-def]
    c = summary.counts
    lines = [
        f"trials: {c.get('finished', 0)} finished, {c.get('pruned', 0)} pruned by ASHA, "
        f"{c.get('errored', 0)} errored ({summary.seconds:.0f} s)"
    ]
    if summary.best is None:
        lines.append("no trial finished; nothing to report")
    else:
        row = summary.best["trial"]
        params = {k[len("param.") :]: v for k, v in row.items() if k.startswith("param.") and v is not None}
        lines.append(
            f"best trial {row['trial_id']}: val_loss {row['val_loss']:.4f}, val_accuracy {row['val_accuracy']:.3f}"
        )
        lines.append(
            "  "
            + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        )
        majority = {r["fold"]: r for r in summary.baselines.get("majority", [])}
        persistence = {r["fold"]: r for r in summary.baselines.get("persistence", [])}
        lines.append(
            f"  {'fold':<8}{'n':>6}{'best':>8}{'majority':>10}{'persistence':>13}   (test accuracy, same rows)"
        )
        for f in summary.best["folds"]:
            k = f["fold"]
            lines.append(
                f"  {k:<8}{f['n_test']:>6}{_fmt(f['accuracy'], 8)}{_fmt(majority.get(k, {}).get('accuracy'), 10)}"
                f"{_fmt(persistence.get(k, {}).get('accuracy'), 13)}"
            )
        lines.append(
            f"  {'pooled':<14}{_fmt(row['test_accuracy'], 8)}{_fmt(majority.get(-1, {}).get('accuracy'), 10)}"
            f"{_fmt(persistence.get(-1, {}).get('accuracy'), 13)}   (random: 0.333)"
        )
    lines.append(f"run directory: {summary.run.path}")
    lines.append(f"optuna study:  optuna-dashboard {summary.run.optuna_url}")
    lines.append("next: python -m vixray.evaluate --best")
    return "\n".join(lines)


def cmd_tune(args: argparse.Namespace) -> int:
    from vixray import store
    from vixray.tune import resume_search, run_search

    results = Path(args.results).resolve()
    if args.resume:
        run = store.load_run(results, args.resume)
        log.info("resuming %s/%s", run.experiment, run.run_id)
        summary = resume_search(
            run, address=args.address, data=args.data, allow_data_change=args.allow_data_change
        )
    else:
        experiment, prices = load_for_experiment(args.experiment, args.data)
        if experiment.search is None:
            raise ValueError(
                f"{args.experiment}: no 'search' section; use experiments/quick.yaml, dev.yaml or prod.yaml"
            )
        for note in prices.notes:
            log.warning("data: %s", note)
        summary = run_search(experiment, prices=prices, results_dir=results, address=args.address)
    print(format_search_summary(summary))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- evaluate, dashboard


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    from vixray.evaluate import add_arguments

    add_arguments(parser)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vixray.evaluate import run_from_args

    return run_from_args(args)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboards.app import run

    run(Path(args.results).resolve(), host=args.host, port=args.port)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vixray",
        description="Predict next-day VIX direction (Down/Neutral/Up): data, features, cross-validation, search.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="show per-ticker coverage, the common range and the label class mix")
    _add_data_args(p)
    p.add_argument("--tickers", nargs="+", default=["SPY", "QQQ", "^VIX"])
    p.add_argument("--start", type=_date)
    p.add_argument("--end", type=_date)
    p.add_argument("--threshold", type=float, default=0.01, help="label threshold (default 0.01 = ±1%%)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("features", help="export the feature matrix with labels to Parquet or CSV")
    _add_data_args(p)
    p.add_argument("--set", default="seed", help="feature set: seed | extended (default seed)")
    p.add_argument("--tickers", nargs="+", default=["SPY", "QQQ", "^VIX"])
    p.add_argument("--start", type=_date)
    p.add_argument("--end", type=_date)
    p.add_argument("--threshold", type=float, default=0.01)
    p.add_argument("--out", required=True, help="output file, .parquet or .csv")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("cv", help="train one configuration over every development fold, beside the baselines")
    p.add_argument("--experiment", required=True, help="experiments/NAME.yaml")
    _add_data_args(p, default=None)
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_cv)

    p = sub.add_parser("tune", help="hyperparameter search on Ray Tune + Optuna + ASHA")
    p.add_argument(
        "--experiment", default="experiments/quick.yaml", help="experiments/NAME.yaml with a search section"
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as err:
        log.error("error: %s", err)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
