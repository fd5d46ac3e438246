"""Validation of one ticker's rows in the Yahoo layout, whatever the source; errors name the place and the fix.

Every source hands its rows to :func:`validate_series`, so a CSV file, the Yahoo cache and the offline sample are
checked by one path: the columns, the dates (parsable, unique, ascending) and the prices (present, numeric, and
positive closes). Each error names the file or source, the ticker, the row (and file line) or date, and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from vixray.data.layout import FIELD_OF_COLUMN, FIELDS, YAHOO_COLUMNS, column_prefix

# Header spellings seen in Yahoo and pandas exports, keyed by the lower-cased name with spaces and '_' removed.
_HEADER_ALIASES = {
    "date": "Date",
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adjclose": "Adj Close",
    "volume": "Volume",
}


# ------------------------------------------------------------------------------------------------ arguments


def as_date(value: date | str | None, *, name: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} = {value!r} is not a date; write it as YYYY-MM-DD (e.g. 2015-01-02)")


def check_tickers(tickers: Sequence[str]) -> tuple[str, ...]:
    if isinstance(tickers, str):
        raise ValueError(
            f"tickers = {tickers!r} is a single string; pass a list such as ['SPY', 'QQQ', '^VIX']"
        )
    tickers = tuple(tickers)
    if not tickers:
        raise ValueError("tickers is empty; list at least one ticker, e.g. ['SPY', 'QQQ', '^VIX']")
    seen: dict[str, str] = {}
    for ticker in tickers:
        if not isinstance(ticker, str) or not column_prefix(ticker):
            raise ValueError(f"tickers: {ticker!r} is not a ticker symbol; write e.g. 'SPY' or '^VIX'")
        prefix = column_prefix(ticker)
        if prefix in seen:
            raise ValueError(
                f"tickers: {seen[prefix]!r} and {ticker!r} both map to the column prefix {prefix!r}; list each once"
            )
        seen[prefix] = ticker
    return tickers


# ------------------------------------------------------------------------------------------------ rows


def _row(i: int, header_lines: int) -> str:
    return f"row {i + 1}" + (f" (line {i + 1 + header_lines} of the file)" if header_lines else "")


def _match_columns(columns: Sequence[str], where: str) -> dict[str, str]:
    """Yahoo column name -> the frame's own spelling of it, for the columns present."""
    found: dict[str, str] = {}
    for column in columns:
        key = column.strip().lower().replace(" ", "").replace("_", "")
        if key in _HEADER_ALIASES and _HEADER_ALIASES[key] not in found:
            found[_HEADER_ALIASES[key]] = column
    missing = [c for c in ("Date", "Close") if c not in found]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing} (found {list(columns)}); the Yahoo layout is "
            f"{','.join(YAHOO_COLUMNS)} with Date and Close required; rename the header to match"
        )
    return found


def _parse_dates(raw: pl.Series, *, where: str, header_lines: int) -> pl.Series:
    if raw.dtype == pl.Date:
        dates = raw
    elif isinstance(raw.dtype, pl.Datetime):
        dates = raw.dt.date()
    elif raw.dtype == pl.String:
        # A time of day after the date (pandas exports of a DatetimeIndex) is allowed and dropped.
        text = raw.str.strip_chars().str.replace(r"[ T].*$", "")
        dates = text.str.to_date("%Y-%m-%d", strict=False)
    else:
        raise ValueError(f"{where}: the Date column has type {raw.dtype}; write dates as YYYY-MM-DD")
    bad = dates.is_null().arg_true()
    if len(bad):
        i = int(bad[0])
        shown = "(empty)" if raw[i] is None or str(raw[i]).strip() == "" else repr(raw[i])
        raise ValueError(
            f"{where}: unparsable date {shown} in {_row(i, header_lines)}; write dates as YYYY-MM-DD "
            f"(e.g. 2015-01-02)"
        )
    return dates.alias("date")


def _numeric(raw: pl.Series) -> pl.Series:
    if raw.dtype == pl.String:
        return raw.str.strip_chars().cast(pl.Float64, strict=False)
    return raw.cast(pl.Float64, strict=False)


def validate_series(frame: pl.DataFrame, *, ticker: str, origin: str, header_lines: int = 0) -> pl.DataFrame:
    """One ticker's rows in the Yahoo layout -> ``date`` + :data:`FIELDS` (Float64), or a ValueError saying why not.

    ``origin`` is the file or source named in errors; ``header_lines`` turns row numbers into file line numbers.
    Absent Open/High/Low default to the close, Adj Close to the close and Volume to 0.
    """
    where = f"{origin}: ticker {ticker}"
    names = _match_columns(frame.columns, where)
    if frame.height == 0:
        raise ValueError(
            f"{where}: no rows; the data holds a header only, so add the history or drop the ticker"
        )
    dates = _parse_dates(frame[names["Date"]], where=where, header_lines=header_lines)

    duplicated = dates.is_duplicated()
    if duplicated.any():
        first = dates.filter(duplicated)[0]
        rows = (dates == first).arg_true().to_list()
        raise ValueError(
            f"{where}: date {first} appears {len(rows)} times "
            f"({', '.join(_row(i, header_lines) for i in rows)}); keep one row per trading day"
        )
    days = dates.to_physical().to_numpy()  # (R,) days since 1970-01-01
    unsorted = np.flatnonzero(days[1:] < days[:-1])
    if len(unsorted):
        i = int(unsorted[0]) + 1
        raise ValueError(
            f"{where}: dates are not ascending: {dates[i]} in {_row(i, header_lines)} comes after {dates[i - 1]}; "
            f"sort the rows by Date"
        )

    values: dict[str, pl.Series] = {}
    for column, key in list(FIELD_OF_COLUMN.items())[1:]:
        if column not in names:
            continue
        raw = frame[names[column]]
        series = _numeric(raw)
        missing = (series.is_null() | series.is_nan()).fill_null(True).arg_true()
        if len(missing):
            i = int(missing[0])
            raise ValueError(
                f"{where}: {column} is empty, NaN or not a number on {dates[i]} ({_row(i, header_lines)}, "
                f"value {raw[i]!r}); fill in the value or delete the row"
            )
        infinite = series.is_infinite().arg_true()
        if len(infinite):
            i = int(infinite[0])
            raise ValueError(
                f"{where}: {column} = {raw[i]!r} on {dates[i]} ({_row(i, header_lines)}) is infinite; "
                "correct the value or delete the row"
            )
        if key in ("close", "adj_close"):
            nonpositive = (series <= 0).arg_true()
            if len(nonpositive):
                i = int(nonpositive[0])
                raise ValueError(
                    f"{where}: {column} = {series[i]} on {dates[i]} ({_row(i, header_lines)}) is not positive; "
                    f"prices must be > 0, so correct or delete the row"
                )
        values[key] = series.alias(key)

    close = values["close"]
    for key in ("open", "high", "low", "adj_close"):
        values.setdefault(key, close.alias(key))
    values.setdefault("volume", pl.Series("volume", np.zeros(frame.height), dtype=pl.Float64))
    return pl.DataFrame([dates, *(values[f] for f in FIELDS)])


def coverage(series: pl.DataFrame) -> dict[str, Any]:
    return {
        "first": series["date"][0].isoformat(),
        "last": series["date"][-1].isoformat(),
        "rows": series.height,
    }


# ------------------------------------------------------------------------------------------------ outliers

OUTLIER_RATIO = 10.0  # a close this many times above (or below 1/ratio of) the median of its neighbours
OUTLIER_WINDOW = 21  # rows around a close (itself included) whose median it is compared with
HOLE_DAYS = 60  # calendar days between two rows that no exchange closure explains
ON_OUTLIER = ("warn", "error")


def outliers(series: pl.DataFrame, *, ticker: str, origin: str) -> list[str]:
    """What looks like a bad print in one validated ticker's rows: a close at least :data:`OUTLIER_RATIO` times
    off the median of the :data:`OUTLIER_WINDOW` rows around it, and a hole of more than :data:`HOLE_DAYS` calendar
    days between two rows; one line per finding, naming the date and the value (the data quality check of
    ``vixray data``, not a feature: it reads the rows on both sides)."""
    close = series["close"]
    median = close.rolling_median(window_size=OUTLIER_WINDOW, center=True, min_samples=3)
    ratio = (close / median).to_numpy()  # (R,)
    found = []
    for i in np.flatnonzero((ratio >= OUTLIER_RATIO) | (ratio <= 1.0 / OUTLIER_RATIO)):
        found.append(
            f"{origin}: ticker {ticker}: close = {close[int(i)]} on {series['date'][int(i)]} is "
            f"{ratio[i]:.3g}x the median of the {OUTLIER_WINDOW} rows around it: a bad print?"
        )
    days = series["date"].to_physical().to_numpy()  # (R,)
    for i in np.flatnonzero(np.diff(days) > HOLE_DAYS):
        found.append(
            f"{origin}: ticker {ticker}: no row between {series['date'][int(i)]} and {series['date'][int(i) + 1]} "
            f"({int(days[i + 1] - days[i])} calendar days): a hole in the data?"
        )
    return found
