"""The ``vixray`` command: ``data``, ``features``, ``cv``, ``tune``, ``evaluate``, ``backtest``, ``dashboard``.

Every subcommand is parsed in its module (:mod:`~vixray.cli.data`, :mod:`~vixray.cli.training`,
:mod:`~vixray.cli.holdout`) and calls one library function; this package owns the one logging set-up and the exit
codes (0 done, 2 bad input, 130 interrupted). Heavy modules (torch, Ray, Dash, vectorbt) are imported only by the
subcommand that needs them, so ``vixray data`` starts quickly. Bad input is a one-line error on stderr, with no
traceback. ``python -m vixray.evaluate`` is :func:`evaluate_main`, the ``evaluate`` subcommand under its own name.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from vixray.cli import data, holdout, training
from vixray.cli.common import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, log
from vixray.store import StoreWriteError


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboards.app import run

    run(Path(args.results).resolve(), host=args.host, port=args.port)
    return EXIT_OK


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging, and Ray's own tables during a search (as VIXRAY_VERBOSE=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vixray",
        description="Predict next-day VIX direction (Down/Neutral/Up, or Up/Down): data, features, cross-validation, "
        "search, holdout evaluation, backtest.",
    )
    _add_verbose(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    data.register(sub)
    training.register(sub)
    holdout.register(sub)
    p = sub.add_parser("dashboard", help="the Dash results explorer on http://127.0.0.1:8050")
    p.add_argument("--results", default="results", help="results folder (default ./results)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(func=cmd_dashboard)
    return parser


def _run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """The one logging set-up and the exit codes, for every command."""
    if args.verbose:
        os.environ["VIXRAY_VERBOSE"] = "1"  # what a search (and Ray's restored callbacks) read
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
    except StoreWriteError as err:  # a full disk, a folder that became read-only: one line, not a traceback
        log.error("error: %s", err.strerror or err)
        return EXIT_ERROR
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
    holdout.add_evaluate_arguments(parser)
    return _run(holdout.cmd_evaluate, parser.parse_args(argv))


__all__ = ["build_parser", "evaluate_main", "main"]
