from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from vixray.data import (
    DEFAULT_TICKERS,
    FIELDS,
    YAHOO_HISTORY_START,
    DataUnavailableError,
    Prices,
    check_same_data,
    column_prefix,
    load_for,
    load_prices,
    resolve_source,
    sources,
    synthetic_prices,
)

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


def write_csv(folder: Path, name: str, lines: list[str], *, header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def bar(day: str, close: float, *, volume: int = 1000) -> str:
    """A Yahoo row whose open/high/low/adj close are close -1/+1/-2/x0.9, so every field is checkable."""
    return f"{day},{close - 1},{close + 1},{close - 2},{close},{close * 0.9},{volume}"


def folder_with(tmp_path: Path, series: dict[str, list[tuple[str, float]]]) -> Path:
    folder = tmp_path / "csv"
    for name, rows in series.items():
        write_csv(folder, name, [bar(d, c) for d, c in rows])
    return folder


THREE_DAYS = [("2020-01-02", 10.0), ("2020-01-03", 11.0), ("2020-01-06", 12.0)]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """SPY, QQQ and VIX on the same three days."""
    return folder_with(
        tmp_path,
        {
            "SPY": THREE_DAYS,
            "QQQ": [(d, c * 2) for d, c in THREE_DAYS],
            "VIX": [(d, c + 5) for d, c in THREE_DAYS],
        },
    )


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("ticker", "prefix"),
    [("^VIX", "VIX"), ("SPY", "SPY"), ("^GSPC", "GSPC"), ("BRK-B", "BRK_B"), ("^VIX3M", "VIX3M")],
)
def test_column_prefix(ticker, prefix):
    assert column_prefix(ticker) == prefix


# ------------------------------------------------------------------------------------------------ csv: loading


def test_csv_layout_values_and_types(small):
    prices = load_prices(f"csv:{small}")
    frame = prices.frame
    assert frame.columns == ["date", *(f"{p}_{f}" for p in ("SPY", "QQQ", "VIX") for f in FIELDS)]
    assert frame["date"].dtype == pl.Date
    assert all(frame[c].dtype == pl.Float64 for c in frame.columns[1:])
    assert frame["date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)]
    row = frame.row(1, named=True)  # 2020-01-03: SPY 11, QQQ 22, VIX 16
    assert (row["SPY_open"], row["SPY_high"], row["SPY_low"], row["SPY_close"]) == (10.0, 12.0, 9.0, 11.0)
    assert row["SPY_adj_close"] == pytest.approx(9.9) and row["SPY_volume"] == 1000.0
    assert row["QQQ_close"] == 22.0 and row["VIX_close"] == 16.0
    assert prices.tickers == DEFAULT_TICKERS and prices.source == f"csv:{small}" and prices.notes == ()


def test_csv_relative_folder_is_resolved(small, monkeypatch):
    monkeypatch.chdir(small.parent)
    prices = load_prices("csv:csv")
    assert prices.source == f"csv:{small.resolve()}"


def test_csv_optional_columns_default_from_close(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "VIX", ["2020-01-02,15.5", "2020-01-03,16.25"], header="Date,Close")
    frame = load_prices(f"csv:{folder}", tickers=["^VIX"]).frame
    for field in ("open", "high", "low", "close", "adj_close"):
        assert frame[f"VIX_{field}"].to_list() == [15.5, 16.25]
    assert frame["VIX_volume"].to_list() == [0.0, 0.0]


def test_alignment_is_an_inner_join_on_common_days(tmp_path):
    folder = folder_with(
        tmp_path,
        {
            "SPY": [("2020-01-02", 1.0), ("2020-01-03", 2.0), ("2020-01-06", 3.0), ("2020-01-07", 4.0)],
            "VIX": [("2020-01-03", 20.0), ("2020-01-06", 21.0), ("2020-01-08", 22.0)],
        },
    )
    prices = load_prices(f"csv:{folder}", tickers=["SPY", "^VIX"])
    assert prices.frame["date"].to_list() == [date(2020, 1, 3), date(2020, 1, 6)]
    assert prices.frame["SPY_close"].to_list() == [2.0, 3.0]
    assert prices.frame["VIX_close"].to_list() == [20.0, 21.0]
    # coverage is counted before the join
    assert prices.coverage == {
        "SPY": {"first": "2020-01-02", "last": "2020-01-07", "rows": 4},
        "^VIX": {"first": "2020-01-03", "last": "2020-01-08", "rows": 3},
    }


def test_optional_ticker_is_joined_onto_the_spine_days_and_never_shortens_it(tmp_path):
    days = [f"2020-01-{d:02d}" for d in (2, 3, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17, 20, 21)]
    spine = {"SPY": [(d, 100.0 + i) for i, d in enumerate(days)]}
    spine |= {"QQQ": spine["SPY"], "VIX": [(d, 20.0 + i) for i, d in enumerate(days)]}
    # VIX3M starts on the 7th and misses the 9th and the six rows from the 13th to the 20th: all stay empty
    late = [("2020-01-07", 30.0), ("2020-01-08", 31.0), ("2020-01-10", 32.0), ("2020-01-21", 40.0)]
    folder = folder_with(tmp_path, {**spine, "VIX3M": late})
    prices = load_prices(f"csv:{folder}", tickers=["SPY", "QQQ", "^VIX", "^VIX3M"])
    assert prices.frame["date"].dt.to_string().to_list() == days  # the spine's days, all of them
    before, gap = [None] * 3, [None] * 6
    assert prices.frame["VIX3M_close"].to_list() == [*before, 30.0, 31.0, None, 32.0, *gap, 40.0]
    (note,) = prices.notes
    assert note.startswith(
        "^VIX3M: optional, on the ['SPY', 'QQQ', '^VIX'] days from 2020-01-07 to 2020-01-21"
    )
    assert "(7 day(s) between missing, left empty)" in note
    # the spine alone gives the same rows: loading the optional ticker cut nothing
    alone = load_prices(f"csv:{folder}", tickers=["SPY", "QQQ", "^VIX"])
    assert alone.frame["date"].equals(prices.frame["date"])


def test_without_the_default_tickers_every_ticker_is_inner_joined(tmp_path):
    folder = folder_with(
        tmp_path, {"VIX3M": [("2020-01-02", 1.0), ("2020-01-03", 2.0)], "VXN": [("2020-01-03", 3.0)]}
    )
    prices = load_prices(f"csv:{folder}", tickers=["^VIX3M", "^VXN"])
    assert prices.frame["date"].to_list() == [date(2020, 1, 3)] and prices.notes == ()


def test_ticker_order_sets_column_order(small):
    prices = load_prices(f"csv:{small}", tickers=["^VIX", "SPY"])
    assert prices.frame.columns[1:7] == [f"VIX_{f}" for f in FIELDS]
    assert prices.frame.columns[7] == "SPY_open"


def test_date_cut_is_inclusive(small):
    prices = load_prices(f"csv:{small}", start="2020-01-03", end=date(2020, 1, 6))
    assert prices.frame["date"].to_list() == [date(2020, 1, 3), date(2020, 1, 6)]
    only_first = load_prices(f"csv:{small}", end="2020-01-02")
    assert only_first.frame["date"].to_list() == [date(2020, 1, 2)]
    # coverage still describes what was loaded, before the cut
    assert only_first.coverage["SPY"]["rows"] == 3


def test_time_of_day_after_the_date_is_accepted(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", ["2020-01-02 00:00:00,10", "2020-01-03 00:00:00,11"], header="Date,Close")
    assert load_prices(f"csv:{folder}", tickers=["SPY"]).frame["date"].to_list() == [
        date(2020, 1, 2),
        date(2020, 1, 3),
    ]


# ------------------------------------------------------------------------------------------------ errors


def test_missing_file(small):
    (small / "QQQ.csv").unlink()
    with pytest.raises(
        ValueError, match=r"QQQ\.csv: missing file for ticker QQQ \(CSV files in .*'SPY\.csv', 'VIX\.csv'"
    ):
        load_prices(f"csv:{small}")


def test_missing_folder(tmp_path):
    with pytest.raises(ValueError, match=r"csv:.*nope: no such folder; point --data csv:DIR"):
        load_prices(f"csv:{tmp_path / 'nope'}")


def test_missing_column_names_the_columns_found(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", ["2020-01-02,1,2"], header="Date,Open,High")
    with pytest.raises(
        ValueError,
        match=r"SPY\.csv: ticker SPY: missing column\(s\) \['Close'\] \(found \['Date', 'Open', 'High'\]\)",
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_unparsable_date_names_row_and_value(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-02", 1), bar("01/03/2020", 2)])
    with pytest.raises(
        ValueError,
        match=r"SPY\.csv: ticker SPY: unparsable date '01/03/2020' in row 2 \(line 3 of the file\); write dates as YYYY-MM-DD",
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_empty_date_is_unparsable(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-02", 1), ",1,1,1,1,1,1"])
    with pytest.raises(ValueError, match=r"unparsable date \(empty\) in row 2 \(line 3 of the file\)"):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_duplicate_dates(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-02", 1), bar("2020-01-03", 2), bar("2020-01-03", 3)])
    with pytest.raises(
        ValueError,
        match=r"ticker SPY: date 2020-01-03 appears 2 times \(row 2 .*, row 3 .*\); keep one row per trading day",
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_unsorted_dates(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-03", 1), bar("2020-01-02", 2)])
    with pytest.raises(
        ValueError,
        match=r"dates are not ascending: 2020-01-02 in row 2 \(line 3 of the file\) comes after 2020-01-03; sort",
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"])


@pytest.mark.parametrize("value", ["", "NaN", "null"])
def test_missing_or_nan_close(tmp_path, value):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-02", 1), f"2020-01-03,1,1,1,{value},1,1"])
    with pytest.raises(
        ValueError,
        match=r"ticker SPY: Close is empty, NaN or not a number on 2020-01-03 \(row 2 .*fill in the value or delete",
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"])


@pytest.mark.parametrize("value", ["0", "-3.5"])
def test_non_positive_close(tmp_path, value):
    folder = tmp_path / "d"
    write_csv(folder, "VIX", ["2020-01-02,12", f"2020-01-03,{value}"], header="Date,Close")
    with pytest.raises(ValueError, match=r"ticker \^VIX: Close = -?[0-9.]+ on 2020-01-03 .* is not positive"):
        load_prices(f"csv:{folder}", tickers=["^VIX"])


def test_non_numeric_other_column(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-02", 1), "2020-01-03,abc,1,1,1,1,1"])
    with pytest.raises(ValueError, match=r"Open is empty, NaN or not a number on 2020-01-03 .*value 'abc'"):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_header_only_file(tmp_path):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [])
    with pytest.raises(ValueError, match=r"SPY\.csv: ticker SPY: no rows"):
        load_prices(f"csv:{folder}", tickers=["SPY"])


@pytest.mark.parametrize("source", ["nope", "csv", "csv:", "yahoo:x", "synthetic:abc", "synthetic:-1"])
def test_bad_source_string(source):
    with pytest.raises(ValueError, match=r"data source|csv:DIR|seed"):
        load_prices(source)


def test_unknown_source_lists_the_valid_forms():
    with pytest.raises(
        ValueError,
        match=r"unknown data source 'nope'; use one of auto, yahoo, sample, synthetic, synthetic:SEED, csv:DIR",
    ):
        load_prices("nope")


def test_start_after_end():
    with pytest.raises(ValueError, match=r"start = 2021-01-01 is after end = 2020-01-01; swap them"):
        load_prices("synthetic", start="2021-01-01", end="2020-01-01")


def test_bad_start_string():
    with pytest.raises(ValueError, match=r"start = '2020-13-01' is not a date; write it as YYYY-MM-DD"):
        load_prices("synthetic", start="2020-13-01")


def test_too_little_history_names_rows_range_and_ask(small):
    with pytest.raises(
        ValueError,
        match=r"too little history: 2 common rows of \['SPY', 'QQQ', '\^VIX'\] \(2020-01-03\.\.2020-01-06\) between "
        r"start = 2020-01-03 and end = the last day, fewer than min_rows = 5; loaded: SPY 2020-01-02\.\.2020-01-06 \(3 rows\)",
    ):
        load_prices(f"csv:{small}", start="2020-01-03", min_rows=5)


def test_no_common_day_is_too_little_history(tmp_path):
    folder = folder_with(tmp_path, {"SPY": [("2020-01-02", 1.0)], "VIX": [("2020-01-03", 2.0)]})
    with pytest.raises(ValueError, match=r"0 common rows .*\(no common day\)"):
        load_prices(f"csv:{folder}", tickers=["SPY", "^VIX"])


@pytest.mark.parametrize(
    ("tickers", "message"),
    [
        ([], "tickers is empty"),
        ("SPY", "single string"),
        (["^VIX", "VIX"], "both map to the column prefix 'VIX'"),
    ],
)
def test_bad_tickers(tickers, message):
    with pytest.raises(ValueError, match=message):
        load_prices("synthetic", tickers=tickers)


def test_bad_min_rows():
    with pytest.raises(ValueError, match=r"min_rows = 0: must be an integer >= 1"):
        load_prices("synthetic", min_rows=0)


def test_prices_rejects_a_frame_of_another_layout():
    with pytest.raises(ValueError, match=r"Prices\.frame has columns .* need .*build it with load_prices"):
        Prices(frame=pl.DataFrame({"date": [date(2020, 1, 2)]}), source="x", tickers=("SPY",))


# ------------------------------------------------------------------------------------------------ fingerprint, describe


def test_fingerprint_is_stable_and_content_only(small, tmp_path):
    first = load_prices(f"csv:{small}")
    again = load_prices(f"csv:{small}")
    assert re.fullmatch(r"[0-9a-f]{64}", first.fingerprint)
    assert first.fingerprint == again.fingerprint
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in small.iterdir():
        (copy / path.name).write_text(path.read_text())
    assert load_prices(f"csv:{copy}").fingerprint == first.fingerprint


def test_fingerprint_is_sha256_of_the_rows_names_types_and_values():
    frame = pl.DataFrame(
        {"date": [date(2020, 1, 2), date(2020, 1, 3)], **{f"SPY_{f}": [1.5, 2.5] for f in FIELDS}}
    )
    digest = hashlib.sha256(b"rows=2\n")
    digest.update(b"date:Date\n" + np.array([18263, 18264], dtype="<i8").tobytes())  # days since 1970-01-01
    for f in FIELDS:
        digest.update(f"SPY_{f}:Float64\n".encode() + np.array([1.5, 2.5], dtype="<f8").tobytes())
    assert Prices(frame=frame, source="test", tickers=("SPY",)).fingerprint == digest.hexdigest()


def test_fingerprint_changes_with_one_value(small):
    before = load_prices(f"csv:{small}").fingerprint
    path = small / "VIX.csv"
    path.write_text(
        path.read_text().replace("2020-01-03,15.0,17.0,14.0,16.0", "2020-01-03,15.0,17.0,14.0,16.01")
    )
    assert load_prices(f"csv:{small}").frame["VIX_close"][1] == 16.01
    assert load_prices(f"csv:{small}").fingerprint != before


def test_fingerprint_changes_with_the_cut_and_the_columns(small):
    full = load_prices(f"csv:{small}")
    assert load_prices(f"csv:{small}", start="2020-01-03").fingerprint != full.fingerprint
    assert load_prices(f"csv:{small}", tickers=["SPY", "QQQ"]).fingerprint != full.fingerprint


def test_describe_fields(small):
    prices = load_prices(f"csv:{small}", end="2020-01-03")
    desc = prices.describe()
    assert desc == {
        "source": f"csv:{small}",
        "tickers": ["SPY", "QQQ", "^VIX"],
        "start": "2020-01-02",
        "end": "2020-01-03",
        "rows": 2,
        "coverage": {
            t: {"first": "2020-01-02", "last": "2020-01-06", "rows": 3} for t in ("SPY", "QQQ", "^VIX")
        },
        "notes": [],
        "fingerprint": prices.fingerprint,
    }
    assert json.loads(json.dumps(desc)) == desc


# ------------------------------------------------------------------------------------------------ synthetic


def test_synthetic_is_deterministic_per_seed():
    a = synthetic_prices(n_days=300, seed=4)
    assert a.equals(synthetic_prices(n_days=300, seed=4))
    assert not a.equals(synthetic_prices(n_days=300, seed=5))


def test_synthetic_layout_business_days_positive():
    tickers = ("SPY", "QQQ", "^VIX", "^VIX3M", "^VIX9D", "^VXN", "^GSPC", "IWM")
    frame = synthetic_prices(n_days=400, seed=1, tickers=tickers, start=date(2020, 1, 4))  # a Saturday
    assert frame.columns == ["date", *(f"{column_prefix(t)}_{f}" for t in tickers for f in FIELDS)]
    assert frame.height == 400 and frame["date"][0] == date(2020, 1, 6)
    assert frame["date"].dt.weekday().max() <= 5  # Monday=1 .. Friday=5
    assert frame["date"].is_sorted() and frame["date"].n_unique() == 400
    prices = frame.drop("date").to_numpy()
    assert np.isfinite(prices).all()
    for t in tickers:
        p = column_prefix(t)
        close, open_ = frame[f"{p}_close"].to_numpy(), frame[f"{p}_open"].to_numpy()
        assert (close > 0).all()
        assert (frame[f"{p}_high"].to_numpy() >= np.maximum(open_, close)).all()
        assert (frame[f"{p}_low"].to_numpy() <= np.minimum(open_, close)).all()
    assert (frame["VIX_volume"] == 0).all() and (frame["SPY_volume"] > 0).all()


def test_synthetic_core_does_not_depend_on_extra_tickers():
    core = synthetic_prices(n_days=200, seed=2)
    more = synthetic_prices(n_days=200, seed=2, tickers=("SPY", "^VIX3M", "QQQ", "^VIX"))
    assert more.select(core.columns).equals(core)


def _log_returns(frame: pl.DataFrame, prefix: str) -> np.ndarray:
    return np.diff(np.log(frame[f"{prefix}_close"].to_numpy()))


def _autocorr(x: np.ndarray, lag: int = 1) -> float:
    x = x - x.mean()
    return float((x[lag:] * x[:-lag]).sum() / (x * x).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_stylised_facts(seed):
    frame = synthetic_prices(n_days=3000, seed=seed, tickers=("SPY", "QQQ", "^VIX", "^VIX3M"))
    spy, qqq, vix = (_log_returns(frame, p) for p in ("SPY", "QQQ", "VIX"))
    # volatility clustering: |r| is autocorrelated (about 0 for independent returns, +-0.02 at n=3000)
    assert _autocorr(np.abs(spy)) > 0.05
    # fat tails: kurtosis above the normal's 3
    assert ((spy - spy.mean()) ** 4).mean() / spy.var() ** 2 > 4
    assert 0.8 < np.corrcoef(spy, qqq)[0, 1] < 0.97 and qqq.std() > spy.std()
    assert np.corrcoef(vix, spy)[0, 1] < -0.4
    assert np.corrcoef(vix, _log_returns(frame, "VIX3M"))[0, 1] > 0.8
    # mean reversion: log VIX is AR(1) with a coefficient below one, around a plausible level
    level = np.log(frame["VIX_close"].to_numpy())
    slope = np.polyfit(level[:-1], level[1:], 1)[0]
    assert 0.8 < slope < 0.995
    assert 12 < np.exp(level).mean() < 25


def test_synthetic_is_fast():
    synthetic_prices()
    best = min(_timed(synthetic_prices) for _ in range(3))
    assert best < 0.05


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_days": 0}, "n_days = 0"), ({"seed": -1}, "seed = -1"), ({"seed": 1.5}, "seed = 1.5")],
)
def test_synthetic_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic_prices(**kwargs)


def test_synthetic_source():
    prices = load_prices("synthetic:7")
    assert prices.source == "synthetic:7" and prices.frame.equals(synthetic_prices(seed=7))
    assert "not market data" in prices.notes[0]
    assert load_prices("synthetic").frame.equals(synthetic_prices(seed=0))


# ------------------------------------------------------------------------------------------------ sample


@pytest.fixture(scope="module")
def sample() -> Prices:
    return load_prices("sample")


def test_sample_loads_the_arch_data(sample):
    from arch.data import sp500, vix

    vix_days = set(vix.load()["vix"].dropna().index)
    common = [d for d in sp500.load().index if d in vix_days]
    assert sample.source == "sample"
    assert sample.frame.height == len(common)
    assert sample.describe()["start"] == "2014-01-03" and sample.describe()["end"] == "2018-12-31"
    assert (
        sample.coverage["^VIX"]["first"] == "2014-01-03" and sample.coverage["^VIX"]["last"] == "2019-01-03"
    )
    assert sample.coverage["SPY"]["first"] == "1999-01-04"
    first = sample.frame.row(0, named=True)
    assert first["VIX_open"] == first["VIX_close"] == vix.load()["vix"].iloc[0]
    notes = " ".join(sample.notes)
    assert "S&P 500" in notes and "NASDAQ Composite" in notes and "stand-ins" in notes and "2014" in notes


def test_sample_other_ticker_is_unavailable():
    with pytest.raises(
        DataUnavailableError,
        match=r"sample: no data for \['\^VIX3M'\]; the sample has \['SPY', 'QQQ', '\^VIX'\]",
    ):
        load_prices("sample", tickers=["SPY", "^VIX3M"])


# ------------------------------------------------------------------------------------------------ yahoo


def yahoo_frame(days: list[date], *, first: float = 100.0, ticker: str | None = None):
    """What yfinance.download returns: a pandas frame on a DatetimeIndex, flat or (Price, Ticker) columns."""
    import pandas as pd

    close = first + np.arange(len(days), dtype=float)
    frame = pd.DataFrame(
        {
            "Adj Close": close * 0.9,
            "Close": close,
            "High": close + 1,
            "Low": close - 1,
            "Open": close,
            "Volume": 1e6,
        },
        index=pd.DatetimeIndex(pd.to_datetime(days), name="Date"),
    )
    if ticker is not None:
        frame.columns = pd.MultiIndex.from_product([frame.columns, [ticker]], names=["Price", "Ticker"])
    return frame


def business_days(start: date, n: int) -> list[date]:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


class FakeYahoo:
    """Stands in for yfinance.download over a fixed history per ticker; records each request."""

    def __init__(self, history: dict[str, list[date]], *, multiindex: bool = False) -> None:
        self.history = history
        self.multiindex = multiindex
        self.calls: list[tuple[str, str]] = []

    def __call__(self, ticker, start=None, **kwargs):
        self.calls.append((ticker, start))
        assert kwargs["auto_adjust"] is False and kwargs["progress"] is False
        all_days = self.history[ticker]
        days = [d for d in all_days if d >= date.fromisoformat(start)]
        offset = 100.0 + all_days.index(days[0]) if days else 100.0
        return yahoo_frame(days, first=offset, ticker=ticker if self.multiindex else None)


@pytest.fixture
def yf(monkeypatch, tmp_path):
    """yfinance.download replaced by a fake (set its ``.fake``), the cache in tmp_path, and a fixed today."""
    import yfinance

    monkeypatch.setenv("VIXRAY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "_today", lambda: date(2024, 6, 3))

    def install(fake):
        monkeypatch.setattr(yfinance, "download", fake)
        return fake

    return install


def test_yahoo_offline_is_data_unavailable(yf):
    import pandas as pd

    yf(lambda *a, **k: pd.DataFrame())
    with pytest.raises(
        DataUnavailableError, match=r"yahoo: no data for SPY .*--data sample .*--data csv:DIR"
    ):
        load_prices("yahoo")


def test_yahoo_exception_is_data_unavailable(yf):
    def broken(*args, **kwargs):
        raise ConnectionError("name resolution failed")

    yf(broken)
    with pytest.raises(
        DataUnavailableError, match=r"no data for SPY .*ConnectionError: name resolution failed.*sample"
    ) as err:
        load_prices("yahoo")
    assert isinstance(err.value.__cause__, ConnectionError)


@pytest.mark.parametrize("multiindex", [False, True])
def test_yahoo_download_and_cache(yf, tmp_path, multiindex):
    days = business_days(date(2024, 5, 1), 10)
    fake = yf(FakeYahoo({t: days for t in DEFAULT_TICKERS}, multiindex=multiindex))
    prices = load_prices("yahoo")
    assert prices.source == "yahoo" and prices.frame.height == 10
    assert prices.frame["SPY_close"].to_list() == [100.0 + i for i in range(10)]
    assert prices.frame["SPY_adj_close"][0] == pytest.approx(90.0)
    assert fake.calls == [(t, YAHOO_HISTORY_START.isoformat()) for t in DEFAULT_TICKERS]
    cached = pl.read_parquet(tmp_path / "cache" / "VIX.parquet")
    assert cached["Date"].to_list() == days


def test_yahoo_refresh_asks_only_for_days_after_the_cache(yf, tmp_path):
    days = business_days(date(2024, 5, 1), 12)
    yf(FakeYahoo({"SPY": days[:8]}))
    load_prices("yahoo", tickers=["SPY"], cache_dir=tmp_path / "own")
    fake = yf(FakeYahoo({"SPY": days}))
    prices = load_prices("yahoo", tickers=["SPY"], cache_dir=tmp_path / "own")
    assert fake.calls == [("SPY", (days[7] + timedelta(days=1)).isoformat())]
    assert prices.frame["date"].to_list() == days
    assert prices.frame["SPY_close"].to_list() == [100.0 + i for i in range(12)]
    assert pl.read_parquet(tmp_path / "own" / "SPY.parquet").height == 12
    assert not (tmp_path / "cache").exists()  # cache_dir wins over VIXRAY_CACHE


def test_yahoo_today_is_returned_but_not_cached(yf, tmp_path, monkeypatch):
    days = business_days(date(2024, 5, 1), 5)
    monkeypatch.setattr(sources, "_today", lambda: days[-1])
    fake = yf(FakeYahoo({"SPY": days}))
    assert load_prices("yahoo", tickers=["SPY"]).frame.height == 5
    assert pl.read_parquet(tmp_path / "cache" / "SPY.parquet")["Date"].to_list() == days[:4]
    load_prices("yahoo", tickers=["SPY"])
    assert fake.calls[-1] == ("SPY", days[-1].isoformat())


def test_yahoo_empty_refresh_uses_the_stale_cache_with_a_warning(yf, caplog):
    import pandas as pd

    days = business_days(date(2024, 5, 1), 6)
    yf(FakeYahoo({"SPY": days}))
    first = load_prices("yahoo", tickers=["SPY"])
    yf(lambda *a, **k: pd.DataFrame())
    with caplog.at_level(logging.WARNING, logger="vixray.data"):
        again = load_prices("yahoo", tickers=["SPY"])
    assert again.fingerprint == first.fingerprint
    assert "no new rows for SPY" in caplog.text and "stale" in caplog.text


def test_yahoo_unreadable_cache_is_downloaded_again(yf, tmp_path, caplog):
    days = business_days(date(2024, 5, 1), 4)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "SPY.parquet").write_bytes(b"not parquet")
    fake = yf(FakeYahoo({"SPY": days}))
    with caplog.at_level(logging.WARNING, logger="vixray.data"):
        prices = load_prices("yahoo", tickers=["SPY"])
    assert prices.frame.height == 4 and fake.calls == [("SPY", YAHOO_HISTORY_START.isoformat())]
    assert "cannot be read" in caplog.text
    assert pl.read_parquet(tmp_path / "cache" / "SPY.parquet")["Date"].to_list() == days


# ------------------------------------------------------------------------------------------------ auto


def test_auto_falls_back_to_sample_with_a_warning(yf, caplog, sample):
    import pandas as pd

    yf(lambda *a, **k: pd.DataFrame())
    with caplog.at_level(logging.WARNING, logger="vixray.data"):
        prices = load_prices("auto")
    assert prices.source == "sample" and prices.fingerprint == sample.fingerprint
    assert "Yahoo was unavailable" in prices.notes[0]
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "offline sample" in warning[0] and "--data csv:DIR" in warning[0] and "--data yahoo" in warning[0]


def test_auto_uses_yahoo_when_it_works(yf):
    yf(FakeYahoo({t: business_days(date(2024, 5, 1), 5) for t in DEFAULT_TICKERS}))
    assert load_prices("auto").source == "yahoo"


def test_auto_offline_with_a_ticker_the_sample_lacks(yf):
    import pandas as pd

    yf(lambda *a, **k: pd.DataFrame())
    with pytest.raises(
        DataUnavailableError, match=r"auto: Yahoo is unavailable .* and sample: no data for \['\^VIX3M'\]"
    ):
        load_prices("auto", tickers=["SPY", "QQQ", "^VIX", "^VIX3M"])


# ------------------------------------------------------------------------------------------------ real data


@pytest.mark.integration
def test_real_data_spy_qqq_vix(shared_data, monkeypatch):
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(repo)
    prices = load_prices(f"csv:{os.path.relpath(shared_data, repo)}")  # csv:../shared/data
    assert prices.source == f"csv:{shared_data.resolve()}"
    desc = prices.describe()
    assert (desc["rows"], desc["start"], desc["end"]) == (6870, "1999-03-10", "2026-07-01")
    assert desc["coverage"]["SPY"] == {"first": "1993-01-29", "last": "2026-07-01", "rows": 8412}
    spy = prices.frame.filter(pl.col("date") == date(2020, 3, 23))["SPY_close"]
    assert spy.to_list() == [pytest.approx(222.949997)]
    vix = prices.frame.filter(pl.col("date") == date(2020, 3, 16))["VIX_close"]
    assert vix.to_list() == [pytest.approx(82.69)]


# ------------------------------------------------------------------------------------------------ which data a command loads


def test_the_source_rule_is_the_flag_then_the_run_then_the_experiment():
    assert resolve_source("csv:x", recorded="sample", configured="auto") == "csv:x"
    assert resolve_source(None, recorded="sample", configured="auto") == "sample"
    assert resolve_source(None, recorded=None, configured="auto") == "auto"
    assert resolve_source("", recorded="", configured="synthetic:2") == "synthetic:2"


def test_load_for_reads_an_experiment_data_section():
    from vixray.config import DataConfig

    spec = DataConfig(source="synthetic:4", start=date(2010, 3, 1), end=date(2010, 6, 30))
    prices = load_for(spec)
    assert prices.source == "synthetic:4" and prices.tickers == DEFAULT_TICKERS
    assert prices.frame["date"][0] >= date(2010, 3, 1) and prices.frame["date"][-1] <= date(2010, 6, 30)
    assert load_for(spec, recorded="synthetic:5").source == "synthetic:5"
    assert load_for(spec, data="synthetic:6", recorded="synthetic:5").source == "synthetic:6"


def test_changed_data_is_refused_with_the_fix_unless_allowed(caplog):
    prices = load_prices("synthetic:1")
    assert (
        check_same_data(
            prices, recorded=prices.fingerprint, run_name="x/1", allow_change=False, action="resume"
        )
        is False
    )
    with pytest.raises(
        ValueError,
        match=(
            r"the data loaded from synthetic:1 \(fingerprint [0-9a-f]{12}\) differs from the data run x/1 searched "
            r"\(abcdef012345\); resume on the same data \(--data\), or pass --allow-data-change to resume anyway"
        ),
    ):
        check_same_data(
            prices, recorded="abcdef0123456789", run_name="x/1", allow_change=False, action="resume"
        )
    with caplog.at_level(logging.WARNING):
        assert (
            check_same_data(prices, recorded=None, run_name="x/1", allow_change=True, action="evaluate")
            is True
        )
    assert "(none recorded); evaluate anyway" in caplog.text


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_an_infinite_price_is_refused_with_file_row_and_ticker(tmp_path, value):
    folder = tmp_path / "d"
    write_csv(folder, "SPY", [bar("2020-01-02", 1), f"2020-01-03,1,1,1,{value},1,1"])
    with pytest.raises(
        ValueError, match=r"SPY.csv: ticker SPY: Close = '.*' on 2020-01-03 \(row 2.*is infinite"
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_a_folder_where_the_csv_should_be_is_named_as_such(tmp_path):
    folder = tmp_path / "d"
    (folder / "SPY.csv").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"SPY.csv: is a folder, not a CSV file, for ticker SPY"):
        load_prices(f"csv:{folder}", tickers=["SPY"])


def test_bad_prints_and_holes_warn_or_refuse(tmp_path, caplog):
    days = [date(2020, 1, 2) + timedelta(days=i) for i in range(40)] + [
        date(2020, 6, 1) + timedelta(days=i) for i in range(5)
    ]
    closes = [100.0 + (i % 3) for i in range(len(days))]
    closes[20] = 1e6  # a bad print among 100s
    folder = folder_with(tmp_path, {"SPY": [(d.isoformat(), c) for d, c in zip(days, closes, strict=True)]})
    with caplog.at_level("WARNING"):
        prices = load_prices(f"csv:{folder}", tickers=["SPY"])
    found = [n for n in prices.notes if n.startswith("outlier: ")]
    assert len(found) == 2 and "close = 1000000.0 on 2020-01-22" in found[0] and "a bad print?" in found[0]
    assert "no row between 2020-02-10 and 2020-06-01 (112 calendar days): a hole" in found[1]
    assert "close = 1000000.0 on 2020-01-22" in caplog.text
    with pytest.raises(
        ValueError, match=r"close = 1000000.0 on 2020-01-22 .* \(and 1 more\); correct the data"
    ):
        load_prices(f"csv:{folder}", tickers=["SPY"], on_outlier="error")
    # the real history holds neither
    assert not [n for n in load_prices("synthetic:3").notes if n.startswith("outlier")]
