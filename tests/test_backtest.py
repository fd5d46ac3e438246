"""The backtest of holdout forecasts: three days by hand, buy-and-hold against the data's own compounding, the timing
of a position (a signal shifted one day into the future is caught), costs, the cash rate, the report block."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from vixray.backtest import (
    BUY_AND_HOLD,
    backtest_report,
    describe,
    metrics,
    run_backtest,
    signal_weights,
    summary_rows,
)
from vixray.config import BacktestConfig, ConfigError

DAYS = [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6), date(2020, 1, 7)]
SPY = [100.0, 110.0, 99.0, 108.9]  # +10%, -10%, +10%
FREE = BacktestConfig(cost_bps=0.0)


def prices(spy=SPY, days=DAYS, vix=None) -> pl.DataFrame:
    frame = pl.DataFrame({"date": days, "SPY_adj_close": spy})
    return frame.with_columns(VIX_adj_close=pl.Series(vix if vix is not None else [20.0] * len(days)))


def test_three_days_by_hand():
    # long, cash, long: +10%, sit out the -10%, +10%
    bt = run_backtest(prices(), DAYS[:3], {"m": np.array([1.0, 0.0, 1.0])}, config=FREE)["m"]
    np.testing.assert_allclose(bt.value, [1.0, 1.1, 1.1, 1.21])
    m = metrics(bt)
    assert m["total_return"] == pytest.approx(0.21) and m["max_drawdown"] == 0.0
    assert m["turnover"] == pytest.approx((1 + 1 + 1) / 3) and m["exposure"] == pytest.approx(2 / 3)
    assert m["hit_rate"] == 1.0 and m["days"] == 3
    # short through the fall: +10%, +10%, +10%
    short = run_backtest(prices(), DAYS[:3], {"m": np.array([1.0, -1.0, 1.0])}, config=FREE)["m"]
    np.testing.assert_allclose(short.value, [1.0, 1.1, 1.21, 1.331])
    np.testing.assert_allclose(short.drawdown, 0.0)


def test_buy_and_hold_is_the_data_s_own_compounded_return():
    rng = np.random.default_rng(0)
    days = [date(2021, 1, 4) + timedelta(days=i) for i in range(60)]
    spy = list(100 * np.cumprod(1 + rng.normal(0, 0.01, 60)))
    bt = run_backtest(prices(spy, days), days[:-1], {"hold": np.ones(59)}, config=FREE)["hold"]
    np.testing.assert_allclose(bt.value, np.array(spy) / spy[0])
    assert metrics(bt)["total_return"] == pytest.approx(spy[-1] / spy[0] - 1)


def test_a_position_earns_the_next_day_so_a_future_shifted_signal_is_caught():
    rng = np.random.default_rng(1)
    days = [date(2021, 1, 4) + timedelta(days=i) for i in range(201)]
    spy = 100 * np.cumprod(1 + rng.normal(0, 0.01, 201))
    nxt = spy[1:] / spy[:-1] - 1  # (200,) the return a position decided at day t earns
    future = np.where(nxt > 0, 1.0, -1.0)  # knows tomorrow: only a one-day shift into the future gives this
    known = np.where(np.concatenate([[0.0], nxt[:-1]]) > 0, 1.0, -1.0)  # today's move: known at t
    runs = run_backtest(prices(list(spy), days), days[:-1], {"future": future, "known": known}, config=FREE)
    assert metrics(runs["future"])["hit_rate"] == 1.0  # the engine paid day t's weight the t -> t+1 return
    np.testing.assert_allclose(runs["future"].value[-1], np.prod(1 + np.abs(nxt)))
    assert 0.35 < metrics(runs["known"])["hit_rate"] < 0.65  # no edge without the future


def test_costs_are_charged_per_unit_of_turnover_and_cash_earns_its_rate():
    w = np.array([1.0, 0.0, 1.0])  # turnover 1 + 1 + 1
    free = run_backtest(prices(), DAYS[:3], {"m": w}, config=FREE)["m"].value[-1]
    paid = run_backtest(prices(), DAYS[:3], {"m": w}, config=BacktestConfig(cost_bps=10))["m"].value[-1]
    assert paid < free and (free - paid) / free == pytest.approx(
        3 * 0.001, rel=0.02
    )  # 10 bps x 3 to first order
    cash = run_backtest(
        prices(), DAYS[:3], {"m": np.zeros(3)}, config=BacktestConfig(cost_bps=0, cash_rate=0.10)
    )["m"]
    np.testing.assert_allclose(cash.value, 1.10 ** (np.arange(4) / 252))


def test_signal_rules():
    pred = np.array([0, 1, 2, 1])  # Down, Neutral, Up, Neutral
    three = ("down", "neutral", "up")
    assert signal_weights(pred, classes=three, rule="cash").tolist() == [1, 1, 0, 1]
    assert signal_weights(pred, classes=three, rule="short").tolist() == [1, 1, -1, 1]
    assert signal_weights(pred, classes=three, rule="vix_proxy").tolist() == [-1, -1, 1, -1]
    assert signal_weights(np.array([0, 1]), classes=("down", "up"), rule="cash").tolist() == [1, 0]


def test_the_report_block_and_curves():
    predictions = pl.DataFrame(
        {"date": DAYS[:3], "pred": [0, 2, 0], "pred_majority": [0, 0, 0], "pred_calendar": [2, 2, 2]}
    )
    block, curves = backtest_report(predictions, prices(), classes=("down", "neutral", "up"), config=FREE)
    assert set(block["forecasters"]) == {"model", "majority", "calendar", BUY_AND_HOLD}
    assert block["forecasters"]["model"]["total_return"] == pytest.approx(0.21)
    assert block["forecasters"][BUY_AND_HOLD]["total_return"] == pytest.approx(108.9 / 100 - 1)
    assert block["forecasters"]["calendar"]["exposure"] == 0.0  # always Up: always in cash
    assert list(block["cost_sweep"]["model"]) == ["0", "1", "5", "10"]
    sharpe = [block["cost_sweep"]["model"][k]["sharpe"] for k in ("0", "1", "5", "10")]
    assert sharpe == sorted(sharpe, reverse=True)
    assert (block["first_day"], block["last_day"], block["instrument"]) == ("2020-01-02", "2020-01-07", "SPY")
    assert curves.filter(pl.col("forecaster") == "model")["value"].to_list() == pytest.approx(
        [1, 1.1, 1.1, 1.21]
    )
    rows = summary_rows(block, strongest="calendar")
    assert [r["forecaster"] for r in rows] == [
        "model",
        "calendar (strongest baseline)",
        BUY_AND_HOLD,
        "majority",
    ]


def test_bad_input_names_the_fix():
    with pytest.raises(
        ValueError, match=r"the prices end on 2020-01-07, the last forecast's day \(2020-01-07\)"
    ):
        run_backtest(prices(), DAYS, {"m": np.ones(4)}, config=FREE)
    with pytest.raises(ValueError, match=r"decision day 2020-01-04 is not a trading day of the prices"):
        run_backtest(prices(), [DAYS[0], date(2020, 1, 4)], {"m": np.ones(2)}, config=FREE)
    with pytest.raises(
        ValueError, match=r"weights\['m'\] has shape \(2,\): pass one weight per decision day \(3\)"
    ):
        run_backtest(prices(), DAYS[:3], {"m": np.ones(2)}, config=FREE)
    with pytest.raises(ValueError, match=r"no SPY column \(SPY_adj_close\)"):
        run_backtest(prices().drop("SPY_adj_close"), DAYS[:3], {"m": np.ones(3)}, config=FREE)
    with pytest.raises(ConfigError, match=r"rule = 'long': choose one of \['cash', 'short', 'vix_proxy'\]"):
        BacktestConfig(rule="long")
    with pytest.raises(ConfigError, match=r"cost_bps = -1: must be a cost in basis points"):
        BacktestConfig(cost_bps=-1)


def test_the_proxy_trades_the_forecast_index_itself():
    frame = prices().with_columns(VXN_adj_close=pl.Series([30.0, 33.0, 29.7, 32.67]))  # +10%, -10%, +10%
    predictions = pl.DataFrame({"date": DAYS[:3], "pred": [1, 0, 1]})  # Up, Down, Up: long, short, long
    block, curves = backtest_report(
        predictions,
        frame,
        classes=("down", "up"),
        config=BacktestConfig(rule="vix_proxy", cost_bps=0),
        target="^VXN",
    )
    assert block["instrument"] == "^VXN" and block["proxy"] is True
    assert block["forecasters"]["model"]["total_return"] == pytest.approx(1.1**3 - 1)
    assert block["forecasters"][BUY_AND_HOLD]["total_return"] == pytest.approx(108.9 / 100 - 1)  # still SPY
    assert "long ^VXN on a forecast rise" in describe(block) and "PROXY" in describe(block)
