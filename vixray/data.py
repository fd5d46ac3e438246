"""Daily prices: :func:`load_prices` is the one entry point for every source, and returns a validated, aligned frame.

Sources (the ``source`` string, also ``--data`` on the command line and ``data.source`` in an experiment):

``csv:DIR``
    A folder of Yahoo-layout CSVs (``Date,Open,High,Low,Close,Adj Close,Volume``), one per ticker, named by the
    column prefix: ``SPY.csv``, ``QQQ.csv``, ``VIX.csv`` for ``^VIX``.
``sample``
    Real daily data that ships in the ``arch`` package, fully offline. The S&P 500 index stands in for SPY and the
    NASDAQ Composite index for QQQ (1999-2018); VIX covers 2014-2018 only.
``yahoo``
    ``yfinance`` downloads, cached as Parquet per ticker and refreshed incrementally.
``auto``
    ``yahoo`` when it works, else ``sample`` with a warning.
``synthetic[:SEED]``
    :func:`synthetic_prices`, a seeded generator with the stylised facts of the real series, for tests.

Every ticker's rows go through one validation path (:func:`_validate`), whose errors name the file or source, the
ticker, the row or date and the fix. The tickers are then inner-joined on their common trading days and cut to
``[start, end]``. The result (:class:`Prices`) carries a content fingerprint that goes into every run's manifest.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from vixray.store import write_atomic

log = logging.getLogger(__name__)

DEFAULT_TICKERS: tuple[str, ...] = ("SPY", "QQQ", "^VIX")
FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
YAHOO_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
SOURCE_FORMS = ("auto", "yahoo", "sample", "synthetic", "synthetic:SEED", "csv:DIR")

_FIELD_OF_COLUMN = dict(zip(YAHOO_COLUMNS, ("date", *FIELDS), strict=True))
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
_ALTERNATIVES = "--data sample (offline, ships with vixray) or --data csv:DIR (your own Yahoo-layout CSVs)"

# Yahoo: first day asked for when nothing is cached (VIX starts in 1990); a short per-request timeout so an offline
# machine whose DNS does not fail fast cannot hang a run.
YAHOO_HISTORY_START = date(1990, 1, 1)
YAHOO_TIMEOUT_S = 10
# A cache whose last day is older than this (calendar days) is called stale when a refresh brings nothing new;
# a long weekend with a holiday is 4 days.
_STALE_AFTER_DAYS = 4


def column_prefix(ticker: str) -> str:
    """Column prefix of a ticker: ``^VIX`` -> ``VIX``, ``SPY`` -> ``SPY``, ``BRK-B`` -> ``BRK_B``."""
    return "".join(ch if ch.isalnum() else "_" for ch in ticker.lstrip("^"))


class DataUnavailableError(ValueError):
    """A source cannot deliver the data asked for (Yahoo offline, a ticker the sample does not have)."""


# ------------------------------------------------------------------------------------------------ arguments


def _as_date(value: date | str | None, *, name: str) -> date | None:
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


def _check_tickers(tickers: Sequence[str]) -> tuple[str, ...]:
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


def _parse_source(source: str) -> tuple[str, str | int | None]:
    """``(kind, argument)``: ``("csv", "/abs/dir")``, ``("synthetic", 7)``, ``("sample", None)``, ..."""
    forms = ", ".join(SOURCE_FORMS)
    if not isinstance(source, str):
        raise ValueError(f"data source {source!r} is not a string; use one of {forms}")
    kind, sep, arg = source.strip().partition(":")
    if kind in ("auto", "yahoo", "sample") and not sep:
        return kind, None
    if kind == "synthetic":
        if not sep:
            return kind, 0
        try:
            seed = int(arg)
        except ValueError:
            seed = -1
        if seed < 0:
            raise ValueError(f"data source {source!r}: the seed must be an integer >= 0, as in synthetic:7")
        return kind, seed
    if kind == "csv" and arg.strip():
        return kind, str(Path(arg.strip()).expanduser().resolve())
    if kind == "csv":
        raise ValueError(f"data source {source!r}: name the folder of CSVs, as in csv:../shared/data")
    raise ValueError(f"unknown data source {source!r}; use one of {forms}")


# ------------------------------------------------------------------------------------------------ validation


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


def _validate(frame: pl.DataFrame, *, ticker: str, origin: str, header_lines: int = 0) -> pl.DataFrame:
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
    for column, key in list(_FIELD_OF_COLUMN.items())[1:]:
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


def _coverage(series: pl.DataFrame) -> dict[str, Any]:
    return {
        "first": series["date"][0].isoformat(),
        "last": series["date"][-1].isoformat(),
        "rows": series.height,
    }


# ------------------------------------------------------------------------------------------------ the result


def _layout(tickers: Sequence[str]) -> list[str]:
    return ["date", *(f"{column_prefix(t)}_{f}" for t in tickers for f in FIELDS)]


@dataclass(frozen=True, eq=False)
class Prices:
    """Daily prices of ``tickers`` on their common trading days, ascending, one row per day.

    ``frame`` has ``date`` (pl.Date) and, per ticker prefix ``P``, ``P_open``, ``P_high``, ``P_low``, ``P_close``,
    ``P_adj_close``, ``P_volume`` (Float64). ``coverage`` gives each ticker's first and last day and row count as
    loaded, before alignment and the start/end cut.
    """

    frame: pl.DataFrame
    source: str
    tickers: tuple[str, ...]
    notes: tuple[str, ...] = ()
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = _layout(self.tickers)
        if self.frame.columns != expected:
            raise ValueError(
                f"Prices.frame has columns {self.frame.columns}; tickers {list(self.tickers)} need {expected}; "
                f"build it with load_prices"
            )

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the column names, types and values: equal frames give equal fingerprints on any machine."""
        digest = hashlib.sha256(f"rows={self.frame.height}\n".encode())
        for name in self.frame.columns:
            series = self.frame[name]
            digest.update(f"{name}:{series.dtype}\n".encode())
            values = series.to_physical().to_numpy()
            kind = "<f8" if values.dtype.kind == "f" else "<i8"
            digest.update(np.ascontiguousarray(values, dtype=kind).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for manifests and ``vixray data``."""
        dates = self.frame["date"]
        return {
            "source": self.source,
            "tickers": list(self.tickers),
            "start": dates[0].isoformat() if len(dates) else None,
            "end": dates[-1].isoformat() if len(dates) else None,
            "rows": self.frame.height,
            "coverage": {t: dict(c) for t, c in self.coverage.items()},
            "notes": list(self.notes),
            "fingerprint": self.fingerprint,
        }


def coverage_table(prices: Prices) -> list[dict[str, Any]]:
    """One row per ticker: its own first/last day and rows as loaded, and how many of those rows are not used
    (days another ticker lacks, or outside start/end)."""
    rows = []
    for ticker in prices.tickers:
        cov = prices.coverage.get(ticker, {})
        loaded = int(cov.get("rows", prices.frame.height))
        rows.append(
            {
                "ticker": ticker,
                "prefix": column_prefix(ticker),
                "first": cov.get("first"),
                "last": cov.get("last"),
                "rows": loaded,
                "unused": loaded - prices.frame.height,
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------ source: csv


def _load_csv(folder: str, tickers: Sequence[str]) -> dict[str, pl.DataFrame]:
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(
            f"csv:{folder}: no such folder; point --data csv:DIR at a folder of Yahoo-layout CSVs"
        )
    series = {}
    for ticker in tickers:
        path = root / f"{column_prefix(ticker)}.csv"
        if not path.is_file():
            present = sorted(p.name for p in root.glob("*.csv"))
            raise ValueError(
                f"{path}: missing file for ticker {ticker} (CSV files in {root}: {present or 'none'}); add "
                f"{path.name} in the Yahoo layout {','.join(YAHOO_COLUMNS)} or drop {ticker} from the tickers"
            )
        try:
            raw = pl.read_csv(path, infer_schema=False)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ValueError(
                f"{path}: ticker {ticker}: cannot be read as CSV ({exc}); save it as comma-separated text "
                f"with the header {','.join(YAHOO_COLUMNS)}"
            ) from exc
        series[ticker] = _validate(raw, ticker=ticker, origin=str(path), header_lines=1)
    return series


# ------------------------------------------------------------------------------------------------ source: sample


def _from_pandas(frame: Any) -> pl.DataFrame:
    """A pandas frame with a DatetimeIndex and Yahoo-named columns (flat or a (field, ticker) MultiIndex) -> polars."""
    import pandas as pd

    columns = frame.columns
    if isinstance(columns, pd.MultiIndex):
        level = next((k for k in range(columns.nlevels) if "Close" in set(columns.get_level_values(k))), 0)
        columns = columns.get_level_values(level)
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    days = index.to_numpy().astype("datetime64[D]")  # (R,) pandas may hold s, ms, us or ns resolution
    data: dict[str, Any] = {"Date": pl.Series("Date", days)}
    for k, name in enumerate(columns):
        if name in YAHOO_COLUMNS[1:] and name not in data:
            data[str(name)] = pl.Series(
                str(name), frame.iloc[:, k].to_numpy(dtype=np.float64, na_value=np.nan)
            )
    return pl.DataFrame(data)


# ticker -> (arch.data module, what it is)
_SAMPLE = {
    "SPY": ("sp500", "the S&P 500 index"),
    "QQQ": ("nasdaq", "the NASDAQ Composite index"),
    "^VIX": ("vix", "the VIX index"),
}


def _sample_notes(tickers: Sequence[str]) -> tuple[str, ...]:
    notes = ["sample: real daily data shipped with the arch package (arch.data), fully offline"]
    standins = [f"{t} is {_SAMPLE[t][1]}" for t in tickers if t in ("SPY", "QQQ")]
    if standins:
        notes.append(f"sample: {' and '.join(standins)} (arch.data), stand-ins for the ETFs (no dividends)")
    if "^VIX" in tickers:
        notes.append(
            "sample: ^VIX covers 2014-01-03..2019-01-03 only and has closes only (open = high = low)"
        )
    return tuple(notes)


def _load_sample(tickers: Sequence[str]) -> dict[str, pl.DataFrame]:
    unknown = [t for t in tickers if t not in _SAMPLE]
    if unknown:
        raise DataUnavailableError(
            f"sample: no data for {unknown}; the sample has {list(_SAMPLE)} only; use --data csv:DIR or "
            f"--data yahoo for other tickers"
        )
    import importlib

    series = {}
    for ticker in tickers:
        module = _SAMPLE[ticker][0]
        raw = importlib.import_module(f"arch.data.{module}").load()
        if module == "vix":
            # arch's VIX file has NaN rows on market holidays (days the other series do not have).
            raw = raw.dropna().rename(columns={"vix": "Close"})
        series[ticker] = _validate(_from_pandas(raw), ticker=ticker, origin=f"sample (arch.data.{module})")
    return series


# ------------------------------------------------------------------------------------------------ source: yahoo


def _cache_dir(cache_dir: Path | None) -> Path:
    chosen = cache_dir or os.environ.get("VIXRAY_CACHE") or Path.home() / ".cache" / "vixray"
    return Path(chosen).expanduser()


def _today() -> date:
    """Today in New York, where the trading day's bar is made."""
    try:
        return datetime.now(ZoneInfo("America/New_York")).date()
    except ZoneInfoNotFoundError:
        return datetime.now(UTC).date()


def _unavailable(ticker: str, why: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"yahoo: no data for {ticker} from Yahoo Finance ({why}); check the network or the ticker, or use "
        f"{_ALTERNATIVES}"
    )


def _download(ticker: str, start: date) -> pl.DataFrame | None:
    """Yahoo rows from ``start`` on in the Yahoo layout, or None when Yahoo returns nothing."""
    yf_log = logging.getLogger("yfinance")
    level = yf_log.level
    # yfinance logs each network failure and pandas deprecations at length; the error raised here says it once.
    yf_log.setLevel(logging.CRITICAL)
    try:
        import yfinance

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = yfinance.download(
                ticker, start=start.isoformat(), auto_adjust=False, progress=False, timeout=YAHOO_TIMEOUT_S
            )
    # yfinance raises many types (network, parsing, rate limits); all mean "unavailable" here.
    except Exception as exc:
        raise _unavailable(ticker, f"yfinance failed: {type(exc).__name__}: {exc}") from exc
    finally:
        yf_log.setLevel(level)
    if raw is None or len(raw) == 0:
        return None
    return _from_pandas(raw)


def _read_cache(path: Path) -> pl.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        log.warning("yahoo: the cache %s cannot be read (%s); downloading the full history again", path, exc)
        return None


def _yahoo_series(ticker: str, *, cache: Path, start: date | None) -> pl.DataFrame:
    path = cache / f"{column_prefix(ticker)}.parquet"
    cached = _read_cache(path)
    today = _today()
    if cached is not None and cached.height:
        last = cached["Date"].max()
        first_day = last + timedelta(days=1)
    else:
        cached, last = None, None
        first_day = min(start or YAHOO_HISTORY_START, YAHOO_HISTORY_START)
    fresh = _download(ticker, first_day) if first_day <= today else None
    if fresh is None:
        if cached is None:
            raise _unavailable(ticker, "an empty download: offline, rate-limited or an unknown ticker")
        stale = (today - last).days > _STALE_AFTER_DAYS
        (log.warning if stale else log.info)(
            "yahoo: no new rows for %s after %s; using the cache %s%s",
            ticker,
            last,
            path,
            " (stale data: the refresh came back empty, e.g. offline)" if stale else "",
        )
        return _validate(cached, ticker=ticker, origin=f"yahoo cache {path}")
    merged = fresh if cached is None else pl.concat([cached, fresh], how="diagonal_relaxed")
    merged = merged.unique(subset="Date", keep="last", maintain_order=True).sort("Date")
    series = _validate(merged, ticker=ticker, origin=f"yahoo ({path})")
    # Today's bar may be intraday and incomplete: it is returned but not cached, so the next refresh fetches it again.
    keep = merged.filter(pl.col("Date") < today)
    if keep.height > (0 if cached is None else cached.height):
        write_atomic(path, keep.write_parquet)
        log.info(
            "yahoo: cached %d rows of %s (%s..%s) in %s",
            keep.height,
            ticker,
            keep["Date"][0],
            keep["Date"][-1],
            path,
        )
    return series


def _load_yahoo(tickers: Sequence[str], *, cache: Path, start: date | None) -> dict[str, pl.DataFrame]:
    return {t: _yahoo_series(t, cache=cache, start=start) for t in tickers}


# ------------------------------------------------------------------------------------------------ source: synthetic

# SPY: GJR-GARCH(1,1) daily volatility around ~17% a year with Student-t(5) shocks (clustering, fat tails).
_SIGMA_BAR = 0.011
_GARCH_ALPHA, _GARCH_GAMMA, _GARCH_BETA = 0.03, 0.10, 0.90
_T_DOF = 5
# log VIX: AR(1) towards a mean of ln 18 that rises with SPY's conditional volatility; its shocks load on SPY's.
_VIX_MEAN = math.log(18.0)
_VIX_PHI = 0.97
_VIX_SHOCK = 0.06
_VIX_SPY_RHO = -0.75
_VIX_VOL_LINK = 0.6
# Equity-like tickers: (load on SPY shock, load on the QQQ-specific shock, own noise, drift, first close,
# volume level (0 for indexes), dividend yield). Returns are in units of SPY's conditional volatility.
_EQUITY = {
    "SPY": (1.0, 0.0, 0.0, 3e-4, 110.0, 1.2e8, 0.018),
    "QQQ": (1.2, 0.58, 0.0, 4e-4, 46.0, 5e7, 0.007),
    "GSPC": (1.0, 0.0, 0.08, 3e-4, 1130.0, 0.0, 0.0),
    "NDX": (1.2, 0.58, 0.08, 4e-4, 1880.0, 0.0, 0.0),
}
_EQUITY_DEFAULT = (1.0, 0.0, 0.6, 3e-4, 100.0, 1e7, 0.01)
# Volatility indexes: log level = mean + offset + loading * (log VIX - mean) + noise (term structure: VIX3M sits
# above VIX in calm markets and below it in stress, VIX9D the other way).
_VOL = {
    "VIX": (0.0, 1.0, 0.0),
    "VIX3M": (0.12, 0.65, 0.005),
    "VIX9D": (-0.06, 1.25, 0.015),
    "VXN": (0.22, 1.0, 0.015),
}
_VOL_DEFAULT = (0.1, 1.0, 0.03)


@dataclass(frozen=True)
class _Core:
    sigma: np.ndarray  # (N,) SPY conditional daily volatility
    z: np.ndarray  # (N,) SPY unit shocks
    e: np.ndarray  # (N,) QQQ-specific unit shocks
    log_vix: np.ndarray  # (N,)
    vix_mean: np.ndarray  # (N,) the level log VIX reverts to


def _core_paths(n: int, rng: np.random.Generator) -> _Core:
    z = rng.standard_t(_T_DOF, size=n) * math.sqrt((_T_DOF - 2) / _T_DOF)  # (N,) unit variance
    e = rng.standard_normal(n)  # (N,)
    u = rng.standard_normal(n)  # (N,) VIX shocks independent of SPY
    a, g, b = _GARCH_ALPHA, _GARCH_GAMMA, _GARCH_BETA
    omega = _SIGMA_BAR**2 * (1.0 - a - g / 2 - b)
    rho_perp = math.sqrt(1.0 - _VIX_SPY_RHO**2)
    sigma, log_vix, vix_mean = np.empty(n), np.empty(n), np.empty(n)
    var, x = _SIGMA_BAR**2, _VIX_MEAN
    for t, (zt, ut) in enumerate(zip(z.tolist(), u.tolist(), strict=True)):
        s = math.sqrt(var)
        ratio = s / _SIGMA_BAR
        mean = _VIX_MEAN + _VIX_VOL_LINK * math.log(ratio)
        x += (1.0 - _VIX_PHI) * (mean - x) + _VIX_SHOCK * math.sqrt(ratio) * (
            _VIX_SPY_RHO * zt + rho_perp * ut
        )
        sigma[t], log_vix[t], vix_mean[t] = s, x, mean
        r = s * zt
        var = min(omega + (a + (g if r < 0 else 0.0)) * r * r + b * var, 0.08**2)
    return _Core(sigma=sigma, z=z, e=e, log_vix=log_vix, vix_mean=vix_mean)


def _stable_key(prefix: str) -> int:
    """A seed component per ticker that does not change between runs (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:4], "little")


def _ohlc(close: np.ndarray, vol: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(close)
    previous = np.concatenate([close[:1], close[:-1]])  # (N,)
    open_ = previous * np.exp(0.25 * vol * rng.standard_normal(n))
    high = np.maximum(open_, close) * np.exp(0.5 * vol * np.abs(rng.standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-0.5 * vol * np.abs(rng.standard_normal(n)))
    return {"open": open_, "high": high, "low": low, "close": close}


def _synthetic_series(ticker: str, core: _Core, rng: np.random.Generator) -> dict[str, np.ndarray]:
    prefix = column_prefix(ticker)
    n = len(core.sigma)
    if prefix in _VOL or (prefix not in _EQUITY and (ticker.startswith("^V") or "VIX" in prefix)):
        offset, loading, noise = _VOL.get(prefix, _VOL_DEFAULT)
        level = (
            core.vix_mean + offset + loading * (core.log_vix - core.vix_mean) + noise * rng.standard_normal(n)
        )
        close = np.exp(level)  # (N,)
        fields = _ohlc(close, np.full(n, _VIX_SHOCK * max(loading, 0.5)), rng)
        return {**fields, "adj_close": close, "volume": np.zeros(n)}
    load_spy, load_qqq, own, drift, first, volume, dividend = _EQUITY.get(prefix, _EQUITY_DEFAULT)
    shocks = load_spy * core.z + load_qqq * core.e + own * rng.standard_normal(n)
    log_ret = drift + core.sigma * shocks  # (N,)
    log_ret[0] = 0.0
    close = first * np.exp(np.cumsum(log_ret))
    fields = _ohlc(close, core.sigma * max(load_spy, 1.0), rng)
    # Dividend-adjusted close: earlier closes scaled down by the dividends paid since, so it grows faster.
    adj_close = close * np.exp(-dividend / 252 * np.arange(n - 1, -1, -1))
    busy = np.exp(0.25 * rng.standard_normal(n) + 0.8 * np.log(core.sigma / _SIGMA_BAR))
    return {**fields, "adj_close": adj_close, "volume": np.round(volume * busy)}


def synthetic_prices(
    *,
    n_days: int = 1500,
    seed: int = 0,
    tickers: Sequence[str] = DEFAULT_TICKERS,
    start: date = date(2010, 1, 4),
) -> pl.DataFrame:
    """Seeded daily prices on business days (Mon-Fri) in the aligned layout of :class:`Prices`.

    SPY has GARCH volatility clustering with fat-tailed shocks; QQQ moves with SPY (daily correlation ~0.9) at higher
    volatility; ^VIX mean-reverts around ~18 and its daily changes are anti-correlated with SPY's returns (~-0.7).
    ^VIX3M, ^VIX9D, ^VXN and other ``^V...`` tickers follow VIX; ^GSPC, ^NDX and other tickers follow SPY/QQQ.
    SPY, QQQ and ^VIX are the same for a seed whatever other tickers are asked for.
    """
    if isinstance(n_days, bool) or not isinstance(n_days, int) or n_days < 1:
        raise ValueError(f"n_days = {n_days!r}: must be an integer >= 1 (trading days to generate)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be an integer >= 0")
    tickers = _check_tickers(tickers)
    start = _as_date(start, name="start")
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n_days), roll="forward")  # (N,)
    core = _core_paths(n_days, np.random.default_rng(seed))
    columns: dict[str, Any] = {"date": pl.Series("date", days).cast(pl.Date)}
    for ticker in tickers:
        prefix = column_prefix(ticker)
        series = _synthetic_series(ticker, core, np.random.default_rng([seed, _stable_key(prefix)]))
        for key in FIELDS:
            columns[f"{prefix}_{key}"] = pl.Series(f"{prefix}_{key}", series[key], dtype=pl.Float64)
    return pl.DataFrame(columns)


def _load_synthetic(tickers: Sequence[str], *, seed: int) -> dict[str, pl.DataFrame]:
    frame = synthetic_prices(seed=seed, tickers=tickers)
    series = {}
    for ticker in tickers:
        prefix = column_prefix(ticker)
        yahoo = frame.select(
            pl.col("date").alias("Date"),
            *(pl.col(f"{prefix}_{f}").alias(c) for c, f in list(_FIELD_OF_COLUMN.items())[1:]),
        )
        series[ticker] = _validate(yahoo, ticker=ticker, origin=f"synthetic:{seed}")
    return series


# ------------------------------------------------------------------------------------------------ loading


def _align(series: Mapping[str, pl.DataFrame], tickers: Sequence[str]) -> pl.DataFrame:
    """Inner join on the days every ticker has, columns prefixed by ticker."""
    frames = [series[t].rename({f: f"{column_prefix(t)}_{f}" for f in FIELDS}) for t in tickers]
    aligned = frames[0]
    for frame in frames[1:]:
        aligned = aligned.join(frame, on="date", how="inner")
    return aligned.sort("date").select(_layout(tickers))


def _fallback_to_sample(
    tickers: Sequence[str], error: DataUnavailableError
) -> tuple[dict[str, pl.DataFrame], tuple[str, ...]]:
    try:
        series = _load_sample(tickers)
    except DataUnavailableError as exc:
        raise DataUnavailableError(f"auto: Yahoo is unavailable ({error}) and {exc}") from exc
    log.warning(
        "auto: Yahoo data is unavailable (%s); using the offline sample instead: the S&P 500 and NASDAQ Composite "
        "indexes stand in for SPY and QQQ, and VIX covers 2014-2018 only. Point vixray at real data with "
        "--data csv:DIR (Yahoo-layout CSVs) or --data yahoo",
        error,
    )
    notes = ("auto: Yahoo was unavailable, so this is the offline sample", *_sample_notes(tickers))
    return series, notes


def load_prices(
    source: str = "auto",
    *,
    tickers: Sequence[str] = DEFAULT_TICKERS,
    start: date | str | None = None,
    end: date | str | None = None,
    min_rows: int = 1,
    cache_dir: Path | None = None,
) -> Prices:
    """Load, validate and align daily prices of ``tickers`` from ``source`` (see the module docstring), cut to
    ``[start, end]`` (inclusive). Raises ValueError (DataUnavailableError when a source cannot deliver)."""
    kind, arg = _parse_source(source)
    tickers = _check_tickers(tickers)
    first, last = _as_date(start, name="start"), _as_date(end, name="end")
    if first and last and first > last:
        raise ValueError(f"start = {first} is after end = {last}; swap them or widen the range")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValueError(f"min_rows = {min_rows!r}: must be an integer >= 1")

    notes: tuple[str, ...] = ()
    if kind == "csv":
        series, label = _load_csv(str(arg), tickers), f"csv:{arg}"
    elif kind == "sample":
        series, label, notes = _load_sample(tickers), "sample", _sample_notes(tickers)
    elif kind == "synthetic":
        seed = int(arg or 0)
        series, label = _load_synthetic(tickers, seed=seed), f"synthetic:{seed}"
        notes = (f"synthetic: generated prices (seed {seed}), not market data",)
    elif kind == "yahoo":
        series, label = _load_yahoo(tickers, cache=_cache_dir(cache_dir), start=first), "yahoo"
    else:
        try:
            series, label = _load_yahoo(tickers, cache=_cache_dir(cache_dir), start=first), "yahoo"
        except DataUnavailableError as exc:
            (series, notes), label = _fallback_to_sample(tickers, exc), "sample"

    coverage = {t: _coverage(series[t]) for t in tickers}
    aligned = _align(series, tickers)
    if first:
        aligned = aligned.filter(pl.col("date") >= first)
    if last:
        aligned = aligned.filter(pl.col("date") <= last)
    if aligned.height < min_rows:
        found = f"{aligned['date'][0]}..{aligned['date'][-1]}" if aligned.height else "no common day"
        loaded = ", ".join(f"{t} {c['first']}..{c['last']} ({c['rows']} rows)" for t, c in coverage.items())
        raise ValueError(
            f"{label}: too little history: {aligned.height} common rows of {list(tickers)} ({found}) between "
            f"start = {first or 'the first day'} and end = {last or 'the last day'}, fewer than min_rows = "
            f"{min_rows}; loaded: {loaded}; widen start/end, drop the ticker with the shortest history, or use a "
            f"source with more history"
        )
    return Prices(frame=aligned, source=label, tickers=tickers, notes=notes, coverage=coverage)
