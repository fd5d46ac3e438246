"""Features: pure functions returning ``pl.Expr``, grouped into named feature sets.

Every expression reads columns by name from the aligned price frame of :mod:`vixray.data` (``SPY_adj_close``,
``VIX_close``, ..., named by :func:`vixray.data.layout.column`) and looks only backwards (``shift(k)`` with k >= 0, trailing rolling windows), so the value at
day t uses data up to t only. A set is built lazily and collected once (:func:`build_features`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from vixray.data.layout import column

TRADING_DAYS = 252


# ------------------------------------------------------------------------------------------------ building blocks


def price(ticker: str) -> pl.Expr:
    """Dividend-adjusted close (equal to the close for indexes such as ^VIX)."""
    return pl.col(column(ticker, "adj_close"))


def simple_return(ticker: str, *, periods: int = 1) -> pl.Expr:
    """Close-to-close change over ``periods`` days, as a fraction."""
    p = price(ticker)
    return p / p.shift(periods) - 1.0


def log_return(ticker: str, *, periods: int = 1) -> pl.Expr:
    p = price(ticker)
    return (p / p.shift(periods)).log()


def rolling_std(expr: pl.Expr, *, window: int) -> pl.Expr:
    """Trailing sample standard deviation (ddof=1, as pandas' ``rolling().std()``)."""
    return expr.rolling_std(window_size=window, ddof=1)


def realised_vol(ticker: str, *, window: int) -> pl.Expr:
    """Annualised realised volatility of daily log returns over a trailing window."""
    return rolling_std(log_return(ticker), window=window) * math.sqrt(TRADING_DAYS)


def log_level(ticker: str) -> pl.Expr:
    return price(ticker).log()


def deviation_from_mean(ticker: str, *, window: int) -> pl.Expr:
    """Level minus its trailing mean (today included), in index points."""
    p = price(ticker)
    return p - p.rolling_mean(window_size=window)


def ratio(numerator: str, denominator: str) -> pl.Expr:
    return price(numerator) / price(denominator)


# ------------------------------------------------------------------------------------------------ feature sets


@dataclass(frozen=True)
class Feature:
    """A named feature: ``build()`` gives its expression; it is skipped when an ``optional`` ticker is absent."""

    name: str
    build: Callable[[], pl.Expr]
    requires: tuple[str, ...]
    optional: bool = False


SEED: tuple[Feature, ...] = (
    Feature("spy_ret", lambda: simple_return("SPY"), ("SPY",)),
    Feature("qqq_ret", lambda: simple_return("QQQ"), ("QQQ",)),
    Feature("vix_ret", lambda: simple_return("^VIX"), ("^VIX",)),
    Feature("spy_std5", lambda: rolling_std(simple_return("SPY"), window=5), ("SPY",)),
    Feature("qqq_std5", lambda: rolling_std(simple_return("QQQ"), window=5), ("QQQ",)),
    Feature("qqq_spy_spread", lambda: simple_return("QQQ") - simple_return("SPY"), ("SPY", "QQQ")),
)

EXTENDED: tuple[Feature, ...] = (
    *SEED,
    Feature("vix_log", lambda: log_level("^VIX"), ("^VIX",)),
    Feature("vix_dev5", lambda: deviation_from_mean("^VIX", window=5), ("^VIX",)),
    Feature("vix_dev22", lambda: deviation_from_mean("^VIX", window=22), ("^VIX",)),
    Feature("vix_chg5", lambda: simple_return("^VIX", periods=5), ("^VIX",)),
    Feature("spy_rv5", lambda: realised_vol("SPY", window=5), ("SPY",)),
    Feature("spy_rv22", lambda: realised_vol("SPY", window=22), ("SPY",)),
    Feature("vix_vix3m", lambda: ratio("^VIX", "^VIX3M"), ("^VIX", "^VIX3M"), optional=True),
)

FEATURE_SETS: dict[str, tuple[Feature, ...]] = {"seed": SEED, "extended": EXTENDED}


def feature_exprs(set_name: str, *, tickers: Sequence[str]) -> list[pl.Expr]:
    """The named set's expressions (aliased to the feature names) for the tickers that were loaded."""
    if set_name not in FEATURE_SETS:
        raise ValueError(
            f"features.set = {set_name!r}: unknown feature set; choose one of {sorted(FEATURE_SETS)}"
        )
    exprs = []
    for feature in FEATURE_SETS[set_name]:
        missing = [t for t in feature.requires if t not in tickers]
        if missing and feature.optional:
            continue
        if missing:
            raise ValueError(
                f"feature {feature.name!r} of set {set_name!r} needs tickers {missing}, "
                f"which are not among the loaded tickers {list(tickers)}; add them to data.tickers"
            )
        exprs.append(feature.build().alias(feature.name))
    return exprs


def build_features(
    frame: pl.DataFrame | pl.LazyFrame, set_name: str, *, tickers: Sequence[str]
) -> pl.DataFrame:
    """``date`` plus the set's feature columns, one row per input row (warm-up rows hold nulls)."""
    lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    return lazy.select("date", *feature_exprs(set_name, tickers=tickers)).collect()


# ------------------------------------------------------------------------------------------------ HAR terms


def har_terms(ticker: str = "^VIX") -> list[pl.Expr]:
    """Daily, weekly and monthly log-level terms of the HAR-type baseline (Corsi 2009), known at day t."""
    level = log_level(ticker)
    return [
        level.alias("har_1"),
        level.rolling_mean(window_size=5).alias("har_5"),
        level.rolling_mean(window_size=22).alias("har_22"),
    ]
