"""What every subcommand shares: the exit codes, the logger, the date and ``--data`` arguments."""

from __future__ import annotations

import argparse
import logging
from datetime import date

log = logging.getLogger("vixray")

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def add_data_args(parser: argparse.ArgumentParser, *, default: str | None = "auto") -> None:
    parser.add_argument(
        "--data",
        default=default,
        metavar="SOURCE",
        help="auto | yahoo | sample | synthetic[:SEED] | csv:DIR (default: the experiment's, else auto)",
    )
