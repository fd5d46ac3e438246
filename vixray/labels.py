"""Direction labels: the h-day-ahead VIX close-to-close change cut at thresholds into 0 Down, 1 Neutral, 2 Up.

The label at day t uses closes at t and t+h only (``shift(-h)``); the last h rows have no label (null).
A change exactly at a threshold is Neutral: Up needs change > up, Down needs change < down. Changes are rounded to
10 decimals first, so a move of exactly 1% in decimal prices (20.00 -> 20.20) is Neutral despite float rounding.
"""

from __future__ import annotations

import polars as pl

from vixray.data.layout import column

# The class ids are the positions in CLASS_NAMES: every module that names, counts or indexes classes reads them here.
CLASS_NAMES = ("down", "neutral", "up")
DOWN, NEUTRAL, UP = range(len(CLASS_NAMES))
N_CLASSES = len(CLASS_NAMES)


def check_thresholds(*, down: float, up: float) -> None:
    """Reject negative-up, positive-down and inverted thresholds with the fix in the message."""
    if up < 0:
        raise ValueError(f"up = {up}: the Up threshold must be >= 0 (0.01 means a rise of more than 1%)")
    if down > 0:
        raise ValueError(f"down = {down}: the Down threshold must be <= 0 (write a 1% fall as -0.01)")
    if down >= up:
        raise ValueError(f"down = {down} is not below up = {up}: the thresholds are inverted; swap them")


def future_change(ticker: str = "^VIX", *, horizon: int = 1) -> pl.Expr:
    """Close-to-close change from t to t+horizon, as a fraction (null for the last ``horizon`` rows)."""
    if horizon < 1:
        raise ValueError(f"horizon = {horizon}: must be >= 1 day ahead")
    close = pl.col(column(ticker, "close"))
    return close.shift(-horizon) / close - 1.0


def future_log_change(ticker: str = "^VIX", *, horizon: int = 1) -> pl.Expr:
    """log(close[t+h] / close[t]), the HAR baseline's regression target."""
    if horizon < 1:
        raise ValueError(f"horizon = {horizon}: must be >= 1 day ahead")
    close = pl.col(column(ticker, "close"))
    return (close.shift(-horizon) / close).log()


def past_log_change(ticker: str = "^VIX") -> pl.Expr:
    """log(close[t] / close[t-1]): the move that ended at day t, known at t (the GARCH baseline's series)."""
    close = pl.col(column(ticker, "close"))
    return (close / close.shift(1)).log()


def classify(change: pl.Expr, *, down: float = -0.01, up: float = 0.01) -> pl.Expr:
    """Map a fractional change to {0 Down, 1 Neutral, 2 Up}; nulls stay null."""
    check_thresholds(down=down, up=up)
    change = change.round(10)
    return (
        pl.when(change.is_null())
        .then(None)
        .when(change > up)
        .then(UP)
        .when(change < down)
        .then(DOWN)
        .otherwise(NEUTRAL)
        .cast(pl.Int8)
    )


def direction_label(
    ticker: str = "^VIX", *, down: float = -0.01, up: float = 0.01, horizon: int = 1
) -> pl.Expr:
    """The label column: ``classify(future_change(...))``."""
    return classify(future_change(ticker, horizon=horizon), down=down, up=up)


def realised_label(
    ticker: str = "^VIX", *, down: float = -0.01, up: float = 0.01, horizon: int = 1
) -> pl.Expr:
    """The class of the change that ended today (t-h to t), known at t: the persistence baseline's forecast."""
    return direction_label(ticker, down=down, up=up, horizon=horizon).shift(horizon)
