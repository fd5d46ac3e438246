from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vixray.data.layout import column
from vixray.features import (
    BLOCKS,
    FEATURE_SETS,
    NAMES,
    build_features,
    deviation_from_mean,
    downside,
    feature_exprs,
    optional_tickers,
    realised_vol,
    resolve,
    return_correlation,
    rolling_std,
    simple_return,
    spec_parts,
    variance_premium,
)

TICKERS = ("SPY", "QQQ", "^VIX", "^VIX3M", "^VIX9D", "^VXN")


def frame_from(closes: dict[str, list[float]]) -> pl.DataFrame:
    n = len(next(iter(closes.values())))
    cols: dict[str, object] = {"date": [date(2021, 1, 4) + timedelta(days=i) for i in range(n)]}
    for ticker, values in closes.items():
        cols[column(ticker, "close")] = values
        cols[column(ticker, "adj_close")] = values
    return pl.DataFrame(cols)


def random_frame(n: int = 80, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return frame_from({t: list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))) for t in TICKERS})


def test_features_read_the_columns_the_data_layout_names():
    assert column("^VIX", "close") == "VIX_close"
    assert column("SPY", "adj_close") == "SPY_adj_close"
    assert column("^VIX3M", "adj_close") == "VIX3M_adj_close"
    # a feature's expression reads exactly those columns, whatever the caret
    expr = simple_return("^VIX3M")
    assert set(expr.meta.root_names()) == {"VIX3M_adj_close"}


def test_simple_return_and_rolling_std_by_hand():
    frame = frame_from({"SPY": [100.0, 110.0, 99.0, 99.0, 108.9, 98.01]})
    out = frame.select(
        simple_return("SPY").alias("r"),
        rolling_std(simple_return("SPY"), window=5).alias("s"),
        deviation_from_mean("SPY", window=2).alias("d"),
    )
    # returns: -, +10%, -10%, 0, +10%, -10%
    assert out["r"].to_list()[1:] == pytest.approx([0.10, -0.10, 0.0, 0.10, -0.10])
    # first full window holds rows 1..5: [0.1, -0.1, 0, 0.1, -0.1], mean 0, ss = 0.04, ddof 1 -> var 0.01
    assert out["s"][5] == pytest.approx(0.1)
    assert out["s"][4] is None  # only four returns yet
    # 99.0 - mean(99.0, 108.9)
    assert out["d"][4] == pytest.approx(108.9 - (99.0 + 108.9) / 2)


def test_realised_vol_is_annualised_log_return_std():
    closes = [100.0, 101.0, 99.0, 102.0, 100.5, 103.0]
    frame = frame_from({"SPY": closes})
    got = frame.select(realised_vol("SPY", window=5).alias("rv"))["rv"][5]
    logs = np.diff(np.log(closes))
    assert got == pytest.approx(np.std(logs, ddof=1) * math.sqrt(252))


def test_seed_set_columns():
    out = build_features(random_frame(), "seed", tickers=TICKERS)
    assert out.columns == ["date", "spy_ret", "qqq_ret", "vix_ret", "spy_std5", "qqq_std5", "qqq_spy_spread"]


def test_extended_set_adds_term_structure_only_with_vix3m():
    with_3m = build_features(random_frame(), "extended", tickers=TICKERS).columns
    without = build_features(random_frame(), "extended", tickers=("SPY", "QQQ", "^VIX")).columns
    assert "vix_vix3m" in with_3m
    assert "vix_vix3m" not in without
    assert set(with_3m) - set(without) == {"vix_vix3m"}


def test_variance_premium_downside_and_correlation_by_hand():
    spy = [100.0, 101.0, 99.0, 102.0, 100.5, 103.0]
    vix = [20.0, 19.0, 21.0, 18.0, 19.5, 17.0]
    out = frame_from({"SPY": spy, "^VIX": vix}).select(
        variance_premium("^VIX", "SPY", window=5).alias("vrp"),
        downside("SPY").alias("down"),
        return_correlation("SPY", "^VIX", window=5).alias("corr"),
    )
    rv = np.std(np.diff(np.log(spy)), ddof=1) * math.sqrt(252)
    assert out["vrp"][5] == pytest.approx((17.0 / 100) ** 2 - rv**2)
    assert out["vrp"][4] is None
    assert out["down"].to_list()[1:] == pytest.approx([0.0, 99 / 101 - 1, 0.0, 100.5 / 102 - 1, 0.0])
    r_spy, r_vix = np.diff(spy) / spy[:-1], np.diff(vix) / vix[:-1]
    assert out["corr"][5] == pytest.approx(np.corrcoef(r_spy, r_vix)[0, 1])


def test_calendar_block_reads_the_exchange_calendar():
    # Thu 2024-07-03 (early close, a session), Fri 07-05 after the Independence Day holiday, Mon 07-08
    frame = frame_from({"SPY": [1.0, 1.0, 1.0]}).with_columns(
        date=pl.Series([date(2024, 7, 3), date(2024, 7, 5), date(2024, 7, 8)])
    )
    out = build_features(frame, "calendar", tickers=("SPY",))
    assert out.columns == [
        "date",
        "day_mon",
        "day_tue",
        "day_wed",
        "day_thu",
        "day_fri",
        "days_to_next",
        "days_since_prev",
        "holiday_next",
        "sessions_left",
    ]
    wednesday, friday, monday = out.rows(named=True)
    assert wednesday["day_wed"] == 1.0 and wednesday["day_thu"] == 0.0
    assert (wednesday["days_to_next"], wednesday["holiday_next"]) == (2.0, 1.0)  # the 4th is a holiday
    assert (friday["days_since_prev"], friday["days_to_next"], friday["holiday_next"]) == (2.0, 3.0, 0.0)
    # July 2024 sessions after Monday the 8th: 9..12, 15..19, 22..26, 29..31 = 17
    assert monday["day_mon"] == 1.0 and monday["sessions_left"] == 17.0


def test_full_set_is_every_block_and_drops_what_the_tickers_cannot_feed():
    names = [f.name for f in resolve("full")]
    others = [b for name, b in BLOCKS.items() if name != "target"]  # target repeats the vix block for ^VIX
    assert names == list(dict.fromkeys(f.name for block in others for f in block))
    few = [e.meta.output_name() for e in feature_exprs("full", tickers=("SPY", "QQQ", "^VIX"))]
    assert set(names) - set(few) == {"vix_vix3m", "vix9d_vix", "vxn_vix"}
    assert optional_tickers("full") == ("^VIX3M", "^VIX9D", "^VXN")
    assert optional_tickers("seed+calendar") == ()


def test_block_specs_join_sets_and_blocks_once():
    assert spec_parts("seed+calendar+term") == ("seed", "calendar", "term")
    names = [f.name for f in resolve("seed+vix")]
    assert names.count("vix_ret") == 1 and names[:6] == [f.name for f in BLOCKS["seed"]]
    assert set(NAMES) == {*FEATURE_SETS, *BLOCKS}
    with pytest.raises(
        ValueError, match=r"features.set = 'seed\+magic': unknown feature set or block 'magic'"
    ):
        spec_parts("seed+magic")
    with pytest.raises(ValueError, match=r"\['seed'\] listed twice; list each block once"):
        spec_parts("seed+calendar+seed")
    with pytest.raises(ValueError, match=r"features.set = '': name a feature set"):
        spec_parts("")


SPECS = sorted({*NAMES, "seed+calendar+term"})


@pytest.mark.parametrize("set_name", SPECS)
def test_no_lookahead_every_feature_every_cut(set_name):
    """Perturb every input row after day t: no feature at a day <= t may change, for every t."""
    base = random_frame(n=60, seed=1)
    reference = build_features(base, set_name, tickers=TICKERS).drop("date")
    value_cols = [c for c in base.columns if c != "date"]
    rng = np.random.default_rng(2)
    for t in range(0, base.height - 1):
        noise = rng.uniform(0.5, 2.0, size=(base.height, len(value_cols)))
        noise[: t + 1] = 1.0  # rows 0..t untouched
        perturbed = base.with_columns(
            [pl.Series(c, base[c].to_numpy() * noise[:, j]) for j, c in enumerate(value_cols)]
        )
        got = build_features(perturbed, set_name, tickers=TICKERS).drop("date")
        head_ref, head_got = reference.head(t + 1), got.head(t + 1)
        for col in reference.columns:
            a, b = head_ref[col].to_numpy(), head_got[col].to_numpy()
            np.testing.assert_array_equal(np.isnan(a.astype(float)), np.isnan(b.astype(float)), err_msg=col)
            np.testing.assert_allclose(a, b, rtol=0, atol=0, equal_nan=True, err_msg=f"{col} at t={t}")
        # and the perturbation did reach the later rows of every price-based feature, so the check is not vacuous
        if t < base.height - 30:
            for col in (c for c in reference.columns if c not in CALENDAR_FEATURES):
                assert not np.allclose(
                    reference[col][t + 25 :].to_numpy(), got[col][t + 25 :].to_numpy(), equal_nan=True
                ), col


CALENDAR_FEATURES = {f.name for f in BLOCKS["calendar"]}


@pytest.mark.parametrize("set_name", SPECS)
def test_no_feature_reads_the_next_row(set_name):
    """Cut the file after day t: every feature at days <= t is what the whole file gives (the calendar block reads
    the exchange's calendar, so the last row of a file still knows the next session)."""
    base = random_frame(n=60, seed=3)
    reference = build_features(base, set_name, tickers=TICKERS)
    for t in range(0, base.height - 1, 7):
        cut = build_features(base.head(t + 1), set_name, tickers=TICKERS)
        # a rolling variance's running sums may differ in the last bit with the series' length: nothing more
        assert_frame_equal(cut, reference.head(t + 1), rel_tol=1e-12, abs_tol=1e-15)


def test_unknown_set_is_an_error():
    with pytest.raises(
        ValueError,
        match=r"features.set = 'fancy': unknown feature set or block 'fancy'; choose one of \['seed'",
    ):
        feature_exprs("fancy", tickers=TICKERS)


def test_missing_required_ticker_is_an_error():
    with pytest.raises(
        ValueError, match=r"'qqq_ret' of set 'seed' needs tickers \['QQQ'\].*add them to data.tickers"
    ):
        feature_exprs("seed", tickers=("SPY", "^VIX"))


@pytest.mark.integration
def test_seed_set_matches_pandas_on_real_data(shared_data):
    pd = pytest.importorskip("pandas")
    from vixray.data import load_prices

    prices = load_prices(f"csv:{shared_data}")
    ours = build_features(prices.frame, "seed", tickers=prices.tickers)

    def read(name: str) -> pd.Series:
        df = pd.read_csv(shared_data / f"{name}.csv", parse_dates=["Date"], index_col="Date")
        return df["Adj Close"]

    adj = pd.concat({"SPY": read("SPY"), "QQQ": read("QQQ"), "VIX": read("VIX")}, axis=1, join="inner")
    ret = adj.pct_change()
    expected = pd.DataFrame(
        {
            "spy_ret": ret["SPY"],
            "qqq_ret": ret["QQQ"],
            "vix_ret": ret["VIX"],
            "spy_std5": ret["SPY"].rolling(5).std(),
            "qqq_std5": ret["QQQ"].rolling(5).std(),
            "qqq_spy_spread": ret["QQQ"] - ret["SPY"],
        }
    )
    assert ours.height == len(expected) == 6870
    for col in expected.columns:
        np.testing.assert_allclose(
            ours[col].to_numpy().astype(float),
            expected[col].to_numpy(),
            rtol=0,
            atol=1e-9,
            equal_nan=True,
            err_msg=col,
        )


def test_the_target_block_follows_the_label_s_index():
    frame = random_frame()
    vxn = build_features(frame, "target", tickers=TICKERS, target="^VXN")
    expected = frame.select(
        simple_return("^VXN").alias("tgt_ret"), deviation_from_mean("^VXN", window=22).alias("tgt_dev22")
    )
    assert vxn.columns == ["date", "tgt_ret", "tgt_chg5", "tgt_chg22", "tgt_log", "tgt_dev22"]
    assert vxn.select("tgt_ret", "tgt_dev22").equals(expected)
    vix = build_features(frame, "target", tickers=TICKERS)  # the default target is ^VIX
    assert vix["tgt_ret"].equals(build_features(frame, "seed", tickers=TICKERS)["vix_ret"].alias("tgt_ret"))
    with pytest.raises(ValueError, match=r"'tgt_ret' of set 'target' needs tickers \['\^VIX9D'\]"):
        feature_exprs("target", tickers=("SPY", "QQQ", "^VIX"), target="^VIX9D")
