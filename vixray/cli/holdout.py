"""``vixray evaluate`` (also ``python -m vixray.evaluate``) and ``vixray backtest``: the holdout era."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vixray.cli.common import EXIT_OK


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
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="evaluate a run whose search did not finish (interrupted, failed): the best of the trials it has",
    )
    parser.add_argument("--device", help="train on auto | cpu | cuda | cuda:N (default: the experiment's)")
    parser.add_argument(
        "--n-boot",
        type=int,
        default=DEFAULT_N_BOOT,
        metavar="N",
        help=f"bootstrap replications for the interval and SPA (default {DEFAULT_N_BOOT})",
    )
    _add_backtest_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rule",
        default="cash",
        help="backtest rule: cash (SPY, to cash on a forecast VIX rise), short (SPY, short on a rise), "
        "vix_proxy (the forecast index itself, a proxy) (default cash)",
    )
    parser.add_argument(
        "--cost-bps", type=float, default=1.0, help="cost per unit of turnover (default 1 bp)"
    )
    parser.add_argument("--cash-rate", type=float, default=0.0, help="annual cash rate (default 0)")


def _backtest_config(args: argparse.Namespace) -> Any:
    from vixray.config import BacktestConfig

    return BacktestConfig(rule=args.rule, cost_bps=args.cost_bps, cash_rate=args.cash_rate)


def cmd_backtest(args: argparse.Namespace) -> int:
    """The backtest table of a finished evaluation's saved calls (nothing is written)."""
    from vixray import store
    from vixray.console import format_backtest
    from vixray.holdout import backtest_evaluation

    config = _backtest_config(args)  # bad settings fail before any data is read
    run = store.load_run(Path(args.results), args.run, experiment=args.experiment)
    block, report = backtest_evaluation(
        run, eval_id=args.eval, config=config, data=args.data, allow_data_change=args.allow_data_change
    )
    print(f"evaluation {report.get('eval_id')} of {run.experiment}/{run.run_id}")
    print(format_backtest(block, strongest=report.get("strongest_baseline")))
    return EXIT_OK


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
        backtest=_backtest_config(args),
        data=args.data,
        allow_data_change=args.allow_data_change,
        allow_partial=args.allow_partial,
        device=args.device,
        n_boot=args.n_boot,
        progress=not args.no_progress,
    )
    print(format_holdout(evaluation.report))
    print(f"report: {evaluation.path / store.REPORT_HTML}")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="walk-forward evaluation of the best configs on the holdout era")
    add_evaluate_arguments(p)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("backtest", help="the trading-signal backtest of a finished holdout evaluation")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--experiment", metavar="NAME", help="only runs of this experiment")
    p.add_argument("--run", default="latest", metavar="RUN", help="run id, or 'latest' (default)")
    p.add_argument("--eval", default="latest", metavar="EVAL_ID", help="evaluation id, or 'latest' (default)")
    p.add_argument("--data", metavar="SOURCE", help="data source (default: the one the run searched)")
    p.add_argument("--allow-data-change", action="store_true", help="backtest even if the data changed")
    _add_backtest_arguments(p)
    p.set_defaults(func=cmd_backtest)
