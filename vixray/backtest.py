"""A trading-signal backtest of holdout forecasts: what each direction call would have earned on an instrument in the
data, beside buy-and-hold SPY on the same days.

The VIX itself cannot be traded, and a right call on its direction is not a profit on a VIX product (futures roll
down the curve, ETPs decay), so the rules say plainly what they trade (``BacktestConfig.rule``):

``cash``       hold SPY, and step to cash on a day an Up (VIX rising) move is forecast;
``short``      hold SPY, and go short SPY when Up is forecast;
``vix_proxy``  long the forecast index itself (``labels.target``, ^VIX by default) when Up is forecast, short it
               otherwise: a PROXY of a call's value on the index's direction, not a return anyone could have earned.

A position is decided at day t's close from the forecast made with data up to t, and held from t's close to the next
session's close (a market-on-close order; no later price is read). A trading day inside the holdout without a
forecast (an untested day) is flat. The accounting is vectorbt's (``Portfolio.from_orders`` with target weights, the
rebalancing cost ``cost_bps`` per unit of turnover as a proportional fee); the value not held long in the instrument
earns ``cash_rate`` a year (a second, fee-free "cash" asset in the same portfolio; short proceeds earn nothing).
vectorbt is imported only here, when a backtest runs, never by the search or the results explorer.

Returned per forecaster: total and annualised return, annualised volatility, Sharpe and Sortino ratios (252 trading
days a year, no risk-free rate), maximum drawdown, average daily turnover, exposure (mean |weight|), the hit rate of
the days in the market, and the days; plus a cost sweep (:data:`COST_SWEEP_BPS`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from vixray.config import BacktestConfig
from vixray.data.layout import column
from vixray.labels import class_id

TRADING_DAYS = 252
COST_SWEEP_BPS = (0.0, 1.0, 5.0, 10.0)
BUY_AND_HOLD = "buy_and_hold"  # the benchmark's name among the forecasters: always long SPY


def instrument(rule: str, *, target: str = "^VIX") -> str:
    """The ticker a rule trades: SPY, or for the proxy the forecast index itself."""
    return target if rule == "vix_proxy" else "SPY"


def signal_weights(pred: np.ndarray, *, classes: Sequence[str], rule: str) -> np.ndarray:
    """(T,) target weight on the rule's instrument for each decision day's forecast class."""
    up = np.asarray(pred) == class_id(classes, "up")
    if rule == "cash":
        return np.where(up, 0.0, 1.0)
    if rule == "short":
        return np.where(up, -1.0, 1.0)
    return np.where(up, 1.0, -1.0)


@dataclass(frozen=True, eq=False)
class Backtest:
    """One forecaster's path: values at each close from the first decision day to the day after the last."""

    name: str
    dates: list[date]  # (T + 1,) the trading days
    weights: (
        np.ndarray
    )  # (T + 1,) target weight decided at each close (0 on the last: nothing is decided there)
    value: np.ndarray  # (T + 1,) portfolio value, 1.0 at the first close
    asset_returns: (
        np.ndarray
    )  # (T + 1,) the instrument's return from each close to the next (NaN on the last)

    @property
    def returns(self) -> np.ndarray:
        return self.value[1:] / self.value[:-1] - 1.0  # (T,)

    @property
    def drawdown(self) -> np.ndarray:
        return self.value / np.maximum.accumulate(self.value) - 1.0  # (T + 1,)


def _closes(prices: pl.DataFrame, dates: Sequence[date], ticker: str) -> tuple[list[date], np.ndarray]:
    """The trading days from the first decision day to the session after the last, and the ticker's closes."""
    if not dates:
        raise ValueError("no decision days: a backtest needs at least one forecast")
    first, last = min(dates), max(dates)
    days = prices["date"]
    after = prices.filter(days > last).head(1)
    if after.is_empty():
        raise ValueError(
            f"the prices end on {days[-1]}, the last forecast's day ({last}): its position needs the next close; "
            "load prices one session past the holdout's last test day"
        )
    rows = prices.filter((days >= first) & (days <= after["date"][0]))
    name = column(ticker, "adj_close")
    if name not in rows.columns:
        raise ValueError(f"the prices have no {ticker} column ({name}); load {ticker} to backtest rule on it")
    close = rows[name].to_numpy().astype(np.float64)  # (T + 1,)
    if not np.isfinite(close).all():
        bad = rows.filter(~pl.col(name).is_finite() | pl.col(name).is_null())["date"][0]
        raise ValueError(
            f"{ticker} has no close on {bad} inside the backtest's days; use data that covers them"
        )
    return rows["date"].to_list(), close


def _simulate(
    close: np.ndarray, weights: np.ndarray, dates: Sequence[date], config: BacktestConfig
) -> np.ndarray:
    """Portfolio values at every close, from vectorbt, for target ``weights`` on the instrument (T + 1,)."""
    import pandas as pd
    import vectorbt as vbt  # seconds to import and compile: only when a backtest runs

    index = pd.DatetimeIndex(pd.to_datetime(list(dates)))
    daily_cash = (1.0 + config.cash_rate) ** (1.0 / TRADING_DAYS)
    cash_price = daily_cash ** np.arange(len(close))  # (T + 1,) a fee-free asset growing at the cash rate
    closes = pd.DataFrame({"asset": close, "cash": cash_price}, index=index)
    size = pd.DataFrame(
        {"asset": weights, "cash": 1.0 - np.maximum(weights, 0.0)}, index=index
    )  # target shares of the portfolio's value
    size.iloc[-1] = np.nan  # the last close only values the last position
    fees = np.array([[config.cost_bps / 1e4, 0.0]])  # (1, 2): the cash asset trades for free
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vectorbt's pandas deprecation notices; the accounting is unaffected
        portfolio = vbt.Portfolio.from_orders(
            closes,
            size=size,
            size_type="targetpercent",
            direction="both",
            fees=fees,
            init_cash=1.0,
            cash_sharing=True,
            group_by=True,
            call_seq="auto",
            freq="1D",
        )
        return np.asarray(portfolio.value(), dtype=np.float64)  # (T + 1,)


def run_backtest(
    prices: pl.DataFrame,
    dates: Sequence[date],
    weights: Mapping[str, np.ndarray],
    *,
    config: BacktestConfig,
    ticker: str = "SPY",
) -> dict[str, Backtest]:
    """Each forecaster's backtest: ``weights[name]`` (T,) are its target weights on ``ticker``, decided on ``dates``
    (T,)."""
    days, close = _closes(prices, dates, ticker)
    at = {d: i for i, d in enumerate(days)}
    missing = [d for d in dates if d not in at]
    if missing:
        raise ValueError(
            f"decision day {missing[0]} is not a trading day of the prices; pass forecasts on data days"
        )
    asset_returns = np.append(close[1:] / close[:-1] - 1.0, np.nan)  # (T + 1,) close to next close
    out = {}
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (len(dates),):
            raise ValueError(
                f"weights[{name!r}] has shape {w.shape}: pass one weight per decision day ({len(dates)})"
            )
        full = np.zeros(len(days))  # (T + 1,) flat on a day without a forecast, and on the last close
        full[[at[d] for d in dates]] = w
        full[-1] = 0.0
        out[name] = Backtest(name, days, full, _simulate(close, full, days, config), asset_returns)
    return out


def metrics(backtest: Backtest) -> dict[str, Any]:
    """The figures of one backtest (vectorbt's returns accessor, 252 days a year), plain floats."""
    import pandas as pd
    import vectorbt  # noqa: F401  (registers the .vbt accessor)

    r = backtest.returns  # (T,)
    series = pd.Series(r, index=pd.to_datetime(backtest.dates[:-1]))
    acc = series.vbt.returns(freq="1D", year_freq=f"{TRADING_DAYS} days")
    w = backtest.weights[:-1]  # (T,) the positions held over each day
    turnover = np.abs(np.diff(np.concatenate([[0.0], w])))  # (T,) |change of weight| at each close
    held = w != 0
    hits = (w * backtest.asset_returns[:-1])[held] > 0

    def number(value: Any) -> float | None:
        value = float(value)
        return value if math.isfinite(value) else None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "days": int(len(r)),
            "total_return": number(acc.total()),
            "annual_return": number(acc.annualized()),
            "volatility": number(acc.annualized_volatility()),
            "sharpe": number(acc.sharpe_ratio()),
            "sortino": number(acc.sortino_ratio()),
            "max_drawdown": number(acc.max_drawdown()),
            "turnover": float(turnover.mean()),
            "exposure": float(np.abs(w).mean()),
            "hit_rate": float(hits.mean()) if hits.size else None,
        }


def backtest_report(
    predictions: pl.DataFrame,
    prices: pl.DataFrame,
    *,
    classes: Sequence[str],
    config: BacktestConfig,
    target: str = "^VIX",
    sweep: Sequence[float] = COST_SWEEP_BPS,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """Backtests of every forecaster of a holdout's predictions table (``pred`` = the model, ``pred_<baseline>``) and
    of buy-and-hold SPY: the report block and the curves (date, forecaster, value, drawdown). ``target`` is the
    forecast index (``labels.target``), which the proxy rule trades."""
    ticker = instrument(config.rule, target=target)
    table = predictions.sort("date")
    dates = table["date"].to_list()
    calls = {"model": "pred", **{c[len("pred_") :]: c for c in table.columns if c.startswith("pred_")}}
    weights = {
        name: signal_weights(table[col].to_numpy(), classes=classes, rule=config.rule)
        for name, col in calls.items()
    }
    runs = run_backtest(prices, dates, weights, config=config, ticker=ticker)
    hold = run_backtest(prices, dates, {BUY_AND_HOLD: np.ones(len(dates))}, config=config, ticker="SPY")
    runs |= hold
    cost_sweep: dict[str, dict[str, Any]] = {}
    for bps in sweep:
        at = BacktestConfig(rule=config.rule, cost_bps=float(bps), cash_rate=config.cash_rate)
        again = run_backtest(prices, dates, weights, config=at, ticker=ticker)
        again |= run_backtest(prices, dates, {BUY_AND_HOLD: np.ones(len(dates))}, config=at, ticker="SPY")
        for name, bt in again.items():
            m = metrics(bt)
            cost_sweep.setdefault(name, {})[f"{bps:g}"] = {
                "total_return": m["total_return"],
                "sharpe": m["sharpe"],
            }
    report = {
        "rule": config.rule,
        "instrument": ticker,
        "proxy": config.rule == "vix_proxy",
        "cost_bps": config.cost_bps,
        "cash_rate": config.cash_rate,
        "first_day": dates[0].isoformat(),
        "last_day": runs["model"].dates[-1].isoformat(),
        "forecasters": {name: metrics(bt) for name, bt in runs.items()},
        "cost_sweep": cost_sweep,
    }
    curves = pl.concat(
        pl.DataFrame(
            {
                "date": pl.Series(bt.dates, dtype=pl.Date),
                "forecaster": [name] * len(bt.dates),
                "value": bt.value,
                "drawdown": bt.drawdown,
            }
        )
        for name, bt in runs.items()
    )
    return report, curves


# ------------------------------------------------------------------------------------------------ tables

METRIC_COLUMNS = (
    ("total_return", "total return"),
    ("annual_return", "annual return"),
    ("volatility", "volatility"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("max_drawdown", "max drawdown"),
    ("turnover", "turnover/day"),
    ("exposure", "exposure"),
    ("hit_rate", "hit rate"),
)


def ordered(block: Mapping[str, Any], *, strongest: str | None) -> list[str]:
    """The forecasters of a report's backtest block in reading order: the model, the strongest baseline,
    buy-and-hold, then the other baselines."""
    names = list(block.get("forecasters") or {})
    head = [n for n in ("model", strongest or "", BUY_AND_HOLD) if n in names]
    return head + [n for n in names if n not in head]


def summary_rows(block: Mapping[str, Any], *, strongest: str | None) -> list[dict[str, Any]]:
    """One row per forecaster of a report's backtest block (what report.html, the explorer and the console show)."""
    rows = []
    for name in ordered(block, strongest=strongest):
        m = block["forecasters"][name]
        label = name + (" (strongest baseline)" if name == strongest else "")
        rows.append({"forecaster": label, **{title: m.get(key) for key, title in METRIC_COLUMNS}})
    return rows


def sweep_rows(block: Mapping[str, Any], *, strongest: str | None) -> list[dict[str, Any]]:
    """Sharpe ratio at each cost of the sweep, one row per forecaster."""
    sweep = block.get("cost_sweep") or {}
    rows = []
    for name in ordered(block, strongest=strongest):
        costs = sweep.get(name) or {}
        rows.append(
            {"forecaster": name, **{f"Sharpe at {bps} bps": v.get("sharpe") for bps, v in costs.items()}}
        )
    return rows


def describe(block: Mapping[str, Any]) -> str:
    """What a backtest block trades, in one sentence."""
    what = {
        "cash": "hold SPY, step to cash on a forecast VIX rise",
        "short": "hold SPY, go short on a forecast VIX rise",
        "vix_proxy": f"long {block.get('instrument')} on a forecast rise, short otherwise: a PROXY, the index is not "
        "tradable",
    }[str(block.get("rule"))]
    return (
        f"Backtest {block.get('first_day')}..{block.get('last_day')}: {what}; a position decided at each close is held "
        f"to the next, costs {block.get('cost_bps')} bps per unit of turnover, cash earns {block.get('cash_rate'):.2%} "
        "a year; beside buy-and-hold SPY on the same days."
    )
