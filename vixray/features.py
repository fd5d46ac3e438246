"""Features: pure functions returning ``pl.Expr``, grouped into blocks, and the blocks into named feature sets.

Every expression reads columns by name from the aligned price frame of :mod:`vixray.data` (``SPY_adj_close``,
``VIX_close``, ..., named by :func:`vixray.data.layout.column`) or the exchange-calendar columns of
:mod:`vixray.calendar`, and looks only backwards (``shift(k)`` with k >= 0, trailing rolling windows), so the value
at day t uses data up to t only. A set is built lazily and collected once (:func:`build_features`).

Blocks (:data:`BLOCKS`):

``seed``      the original six: SPY, QQQ and VIX one-day returns, SPY and QQQ five-day return std, QQQ - SPY.
``vix``       VIX dynamics: log level, momentum over 1, 5 and 22 days, distance from its 5- and 22-day means.
``realised``  SPY realised volatility (5, 22 days), the variance risk premium (VIX/100)^2 - RV22^2, the downside
              return min(SPY return, 0) and the 22-day correlation of SPY and VIX returns.
``term``      the Cboe term structure: VIX / VIX3M, VIX9D / VIX and VXN - VIX; each feature needs its optional
              ticker (``data.tickers``) and is left out without it.
``calendar``  the NYSE calendar around day t: weekday (one-hot), calendar days to the next session and since the
              previous one, a holiday before the next session, sessions left in the month.
``target``    the label's own index (``labels.target``: ^VIX, ^VXN, ^VIX9D): its 1-, 5- and 22-day changes, log
              level and distance from its 22-day mean.

Sets (:data:`FEATURE_SETS`): ``seed``, ``extended`` (the seed block with VIX levels and SPY realised volatility, as
before the blocks), ``calendar`` and ``full`` (every block but ``target``, with what the loaded tickers allow). A feature-set spec is
a set or block name, or several joined by ``+`` (``seed+calendar``); an experiment may list them as
``features: {blocks: [...]}``. Rows start where a set's own inputs start: a set without ``term`` keeps SPY's
history when ^VIX3M (2009 on) is loaded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from vixray import calendar
from vixray.data.layout import DEFAULT_TICKERS, column

TRADING_DAYS = 252
SEPARATOR = "+"  # joins block or set names into one feature-set spec: "seed+calendar"


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


def spread(minuend: str, subtrahend: str) -> pl.Expr:
    """Level difference, in index points (VXN - VIX)."""
    return price(minuend) - price(subtrahend)


def variance_premium(vol_index: str, ticker: str, *, window: int = 22) -> pl.Expr:
    """Implied minus realised annual variance: (index / 100)^2 - realised_vol(ticker, window)^2 (Bollerslev, Tauchen
    and Zhou 2009, with the trailing realised variance the index can be compared with at day t)."""
    return (price(vol_index) / 100.0) ** 2 - realised_vol(ticker, window=window) ** 2


def downside(ticker: str) -> pl.Expr:
    """min(return, 0): falls move the VIX more than rises of the same size (the leverage effect)."""
    return pl.min_horizontal(simple_return(ticker), pl.lit(0.0))


def return_correlation(a: str, b: str, *, window: int) -> pl.Expr:
    """Trailing correlation of two tickers' daily returns."""
    return pl.rolling_corr(simple_return(a), simple_return(b), window_size=window)


def calendar_value(name: str) -> pl.Expr:
    """A column of :func:`vixray.calendar.calendar_frame` as a float feature."""
    return pl.col(name).cast(pl.Float64)


def is_weekday(day: int) -> pl.Expr:
    """1.0 on weekday ``day`` (0 Monday .. 4 Friday), else 0.0."""
    return (pl.col(calendar.WEEKDAY) == day).cast(pl.Float64)


# ------------------------------------------------------------------------------------------------ blocks and sets


@dataclass(frozen=True)
class Feature:
    """A named feature: ``build()`` gives its expression; it is skipped when an ``optional`` ticker is absent. A
    feature of the label's own index (the ``target`` block) is built as ``build(target)``; its ``requires`` names
    :data:`TARGET`, which stands for the target."""

    name: str
    build: Callable[..., pl.Expr]
    requires: tuple[str, ...]
    optional: bool = False

    def expression(self, target: str) -> pl.Expr:
        return self.build(target) if TARGET in self.requires else self.build()

    def tickers(self, target: str) -> tuple[str, ...]:
        return tuple(target if t == TARGET else t for t in self.requires)


TARGET = "<target>"  # a feature's stand-in for labels.target


def _target_block() -> tuple[Feature, ...]:
    """The target's own dynamics, whatever index it is: its 1-, 5- and 22-day changes, log level, distance from its
    22-day mean (for ^VIX they repeat the vix block under other names)."""
    return (
        Feature("tgt_ret", simple_return, (TARGET,)),
        Feature("tgt_chg5", functools.partial(_change, periods=5), (TARGET,)),
        Feature("tgt_chg22", functools.partial(_change, periods=22), (TARGET,)),
        Feature("tgt_log", log_level, (TARGET,)),
        Feature("tgt_dev22", functools.partial(deviation_from_mean, window=22), (TARGET,)),
    )


def _change(ticker: str, *, periods: int) -> pl.Expr:
    return simple_return(ticker, periods=periods)


def _calendar_block() -> tuple[Feature, ...]:
    days = ("mon", "tue", "wed", "thu", "fri")
    weekdays = tuple(Feature(f"day_{d}", functools.partial(is_weekday, k), ()) for k, d in enumerate(days))
    return (
        *weekdays,
        Feature("days_to_next", lambda: calendar_value(calendar.DAYS_TO_NEXT), ()),
        Feature("days_since_prev", lambda: calendar_value(calendar.DAYS_SINCE_PREV), ()),
        Feature("holiday_next", lambda: calendar_value(calendar.HOLIDAY_NEXT), ()),
        Feature("sessions_left", lambda: calendar_value(calendar.SESSIONS_LEFT_IN_MONTH), ()),
    )


_VIX_RET = Feature("vix_ret", lambda: simple_return("^VIX"), ("^VIX",))
_VIX_LOG = Feature("vix_log", lambda: log_level("^VIX"), ("^VIX",))
_VIX_CHG5 = Feature("vix_chg5", lambda: simple_return("^VIX", periods=5), ("^VIX",))
_VIX_DEV5 = Feature("vix_dev5", lambda: deviation_from_mean("^VIX", window=5), ("^VIX",))
_VIX_DEV22 = Feature("vix_dev22", lambda: deviation_from_mean("^VIX", window=22), ("^VIX",))
_SPY_RV5 = Feature("spy_rv5", lambda: realised_vol("SPY", window=5), ("SPY",))
_SPY_RV22 = Feature("spy_rv22", lambda: realised_vol("SPY", window=22), ("SPY",))
_VIX_VIX3M = Feature("vix_vix3m", lambda: ratio("^VIX", "^VIX3M"), ("^VIX", "^VIX3M"), optional=True)

SEED: tuple[Feature, ...] = (
    Feature("spy_ret", lambda: simple_return("SPY"), ("SPY",)),
    Feature("qqq_ret", lambda: simple_return("QQQ"), ("QQQ",)),
    _VIX_RET,
    Feature("spy_std5", lambda: rolling_std(simple_return("SPY"), window=5), ("SPY",)),
    Feature("qqq_std5", lambda: rolling_std(simple_return("QQQ"), window=5), ("QQQ",)),
    Feature("qqq_spy_spread", lambda: simple_return("QQQ") - simple_return("SPY"), ("SPY", "QQQ")),
)

BLOCKS: dict[str, tuple[Feature, ...]] = {
    "seed": SEED,
    "vix": (
        _VIX_LOG,
        _VIX_RET,
        _VIX_CHG5,
        Feature("vix_chg22", lambda: simple_return("^VIX", periods=22), ("^VIX",)),
        _VIX_DEV5,
        _VIX_DEV22,
    ),
    "realised": (
        _SPY_RV5,
        _SPY_RV22,
        Feature("vrp22", lambda: variance_premium("^VIX", "SPY", window=22), ("^VIX", "SPY")),
        Feature("spy_down", lambda: downside("SPY"), ("SPY",)),
        Feature("spy_vix_corr22", lambda: return_correlation("SPY", "^VIX", window=22), ("SPY", "^VIX")),
    ),
    "term": (
        _VIX_VIX3M,
        Feature("vix9d_vix", lambda: ratio("^VIX9D", "^VIX"), ("^VIX9D", "^VIX"), optional=True),
        Feature("vxn_vix", lambda: spread("^VXN", "^VIX"), ("^VXN", "^VIX"), optional=True),
    ),
    "calendar": _calendar_block(),
    "target": _target_block(),
}

EXTENDED: tuple[Feature, ...] = (
    *SEED,
    _VIX_LOG,
    _VIX_DEV5,
    _VIX_DEV22,
    _VIX_CHG5,
    _SPY_RV5,
    _SPY_RV22,
    _VIX_VIX3M,
)

FEATURE_SETS: dict[str, tuple[Feature, ...]] = {
    "seed": SEED,
    "extended": EXTENDED,
    "calendar": BLOCKS["calendar"],
    # every block but ``target``, which for the default ^VIX target would repeat the vix block under other names
    "full": tuple(f for name, block in BLOCKS.items() if name != "target" for f in block),
}
NAMES = tuple(dict.fromkeys((*FEATURE_SETS, *BLOCKS)))  # every name a spec may use


def spec_parts(spec: str) -> tuple[str, ...]:
    """The set and block names of a feature-set spec (``"seed+calendar"`` -> ("seed", "calendar")); an unknown or
    repeated name is an error naming it."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(
            f"features.set = {spec!r}: name a feature set or blocks joined by '+'; choose from {NAMES}"
        )
    parts = tuple(p.strip() for p in spec.split(SEPARATOR))
    for part in parts:
        if part not in NAMES:
            raise ValueError(
                f"features.set = {spec!r}: unknown feature set or block {part!r}; choose one of {list(NAMES)} "
                f"(or several joined by '{SEPARATOR}')"
            )
    repeated = sorted({p for p in parts if parts.count(p) > 1})
    if repeated:
        raise ValueError(f"features.set = {spec!r}: {repeated} listed twice; list each block once")
    return parts


def resolve(spec: str) -> tuple[Feature, ...]:
    """The features of a spec, in block order; a feature in two of its parts is kept once."""
    features: dict[str, Feature] = {}
    for part in spec_parts(spec):
        for feature in FEATURE_SETS.get(part) or BLOCKS[part]:
            features.setdefault(feature.name, feature)
    return tuple(features.values())


def block_of(feature: str) -> str:
    """The block a feature belongs to (the first that lists it: ``vix_ret`` is the seed block's)."""
    for name, block in BLOCKS.items():
        if any(f.name == feature for f in block):
            return name
    raise ValueError(f"feature {feature!r} is in no block of vixray.features; the blocks are {list(BLOCKS)}")


def block_columns(feature_names: Sequence[str]) -> dict[str, list[int]]:
    """The column positions of each block among ``feature_names`` (a table's columns), blocks in table order."""
    out: dict[str, list[int]] = {}
    for i, name in enumerate(feature_names):
        out.setdefault(block_of(name), []).append(i)
    return out


def optional_tickers(spec: str) -> tuple[str, ...]:
    """The tickers beyond SPY, QQQ and ^VIX that a spec's optional features can read."""
    wanted = (t for f in resolve(spec) for t in f.requires if t not in (*DEFAULT_TICKERS, TARGET))
    return tuple(dict.fromkeys(wanted))


def feature_exprs(spec: str, *, tickers: Sequence[str], target: str = "^VIX") -> list[pl.Expr]:
    """The spec's expressions (aliased to the feature names) for the tickers that were loaded; the ``target`` block
    reads ``target`` (``labels.target``)."""
    exprs = []
    for feature in resolve(spec):
        missing = [t for t in feature.tickers(target) if t not in tickers]
        if missing and feature.optional:
            continue
        if missing:
            raise ValueError(
                f"feature {feature.name!r} of set {spec!r} needs tickers {missing}, "
                f"which are not among the loaded tickers {list(tickers)}; add them to data.tickers"
            )
        exprs.append(feature.expression(target).alias(feature.name))
    return exprs


def with_calendar(frame: pl.DataFrame) -> pl.LazyFrame:
    """``frame`` with the exchange-calendar columns of its dates (:func:`vixray.calendar.calendar_frame`)."""
    facts = calendar.calendar_frame(frame["date"]).lazy()
    return frame.lazy().join(facts, on="date", how="left", maintain_order="left")


def build_features(
    frame: pl.DataFrame, spec: str, *, tickers: Sequence[str], target: str = "^VIX"
) -> pl.DataFrame:
    """``date`` plus the spec's feature columns, one row per input row (warm-up rows hold nulls)."""
    exprs = feature_exprs(spec, tickers=tickers, target=target)
    return with_calendar(frame).select("date", *exprs).collect()


# ------------------------------------------------------------------------------------------------ HAR terms


def har_terms(ticker: str = "^VIX") -> list[pl.Expr]:
    """Daily, weekly and monthly log-level terms of the HAR-type baseline (Corsi 2009), known at day t."""
    level = log_level(ticker)
    return [
        level.alias("har_1"),
        level.rolling_mean(window_size=5).alias("har_5"),
        level.rolling_mean(window_size=22).alias("har_22"),
    ]
