"""Where prices come from: a folder of CSVs, the offline sample, Yahoo with its Parquet cache, or the generator.

Each source returns one validated frame per ticker (``date`` + :data:`~vixray.data.layout.FIELDS`); aligning them
is :mod:`vixray.data.prices`'s job. :func:`resolve_source` is the one rule for which source a command uses.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from vixray.data.layout import YAHOO_COLUMNS, column_prefix
from vixray.data.synthetic import load_synthetic
from vixray.data.validate import validate_series
from vixray.store import write_atomic

log = logging.getLogger(__name__)

SOURCE_FORMS = ("auto", "yahoo", "sample", "synthetic", "synthetic:SEED", "csv:DIR")
ALTERNATIVES = "--data sample (offline, ships with vixray) or --data csv:DIR (your own Yahoo-layout CSVs)"

# Yahoo: first day asked for when nothing is cached (VIX starts in 1990); a short per-request timeout so an offline
# machine whose DNS does not fail fast cannot hang a run.
YAHOO_HISTORY_START = date(1990, 1, 1)
YAHOO_TIMEOUT_S = 10
# A cache whose last day is older than this (calendar days) is called stale when a refresh brings nothing new;
# a long weekend with a holiday is 4 days.
_STALE_AFTER_DAYS = 4


class DataUnavailableError(ValueError):
    """A source cannot deliver the data asked for (Yahoo offline, a ticker the sample does not have)."""


# ------------------------------------------------------------------------------------------------ which source


def resolve_source(explicit: str | None, *, recorded: str | None = None, configured: str) -> str:
    """The source a command loads: ``--data`` when given, else the one a run recorded (so a resumed search and its
    evaluation read what the search read), else the experiment's ``data.source``."""
    return explicit or recorded or configured


def parse_source(source: str) -> tuple[str, str | int | None]:
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
        if path.is_dir():
            raise ValueError(
                f"{path}: is a folder, not a CSV file, for ticker {ticker}; put the Yahoo-layout CSV there instead"
            )
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
        series[ticker] = validate_series(raw, ticker=ticker, origin=str(path), header_lines=1)
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
    series = {}
    for ticker in tickers:
        module = _SAMPLE[ticker][0]
        raw = importlib.import_module(f"arch.data.{module}").load()
        if module == "vix":
            # arch's VIX file has NaN rows on market holidays (days the other series do not have).
            raw = raw.dropna().rename(columns={"vix": "Close"})
        series[ticker] = validate_series(
            _from_pandas(raw), ticker=ticker, origin=f"sample (arch.data.{module})"
        )
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
        f"{ALTERNATIVES}"
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
    last: date | None = None
    if cached is not None and cached.height:
        last = cast(date, cached["Date"].max())
        first_day = last + timedelta(days=1)
    else:
        cached = None
        first_day = min(start or YAHOO_HISTORY_START, YAHOO_HISTORY_START)
    fresh = _download(ticker, first_day) if first_day <= today else None
    if fresh is None:
        if cached is None or last is None:
            raise _unavailable(ticker, "an empty download: offline, rate-limited or an unknown ticker")
        stale = (today - last).days > _STALE_AFTER_DAYS
        (log.warning if stale else log.info)(
            "yahoo: no new rows for %s after %s; using the cache %s%s",
            ticker,
            last,
            path,
            " (stale data: the refresh came back empty, e.g. offline)" if stale else "",
        )
        return validate_series(cached, ticker=ticker, origin=f"yahoo cache {path}")
    merged = fresh if cached is None else pl.concat([cached, fresh], how="diagonal_relaxed")
    merged = merged.unique(subset="Date", keep="last", maintain_order=True).sort("Date")
    series = validate_series(merged, ticker=ticker, origin=f"yahoo ({path})")
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


# ------------------------------------------------------------------------------------------------ dispatch


def load_series(
    kind: str, arg: str | int | None, tickers: Sequence[str], *, cache_dir: Path | None, start: date | None
) -> tuple[dict[str, pl.DataFrame], str, tuple[str, ...]]:
    """One validated frame per ticker from a parsed source, the source's label and its notes for the manifest."""
    notes: tuple[str, ...]
    if kind == "csv":
        return _load_csv(str(arg), tickers), f"csv:{arg}", ()
    if kind == "sample":
        return _load_sample(tickers), "sample", _sample_notes(tickers)
    if kind == "synthetic":
        seed = int(arg or 0)
        notes = (f"synthetic: generated prices (seed {seed}), not market data",)
        return load_synthetic(tickers, seed=seed), f"synthetic:{seed}", notes
    cache = _cache_dir(cache_dir)
    if kind == "yahoo":
        return _load_yahoo(tickers, cache=cache, start=start), "yahoo", ()
    try:
        return _load_yahoo(tickers, cache=cache, start=start), "yahoo", ()
    except DataUnavailableError as exc:
        series, notes = _fallback_to_sample(tickers, exc)
        return series, "sample", notes


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
