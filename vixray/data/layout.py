"""The aligned price frame's layout: one ``date`` column, then ``<PREFIX>_<field>`` per ticker.

This module owns the facts every other module reads columns by: the ticker -> column prefix rule, the fields kept
per ticker, the Yahoo CSV header they come from, the tickers the features need (``DEFAULT_TICKERS``, which set the
trading days) and the optional Cboe indexes some features read (``OPTIONAL_TICKERS``, joined onto those days).
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_TICKERS: tuple[str, ...] = ("SPY", "QQQ", "^VIX")
# the term-structure and Nasdaq-volatility indexes (Cboe): ^VIX3M from 2009, ^VIX9D from 2011, ^VXN from 2009
OPTIONAL_TICKERS: tuple[str, ...] = ("^VIX3M", "^VIX9D", "^VXN")
FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
YAHOO_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
FIELD_OF_COLUMN = dict(zip(YAHOO_COLUMNS, ("date", *FIELDS), strict=True))


def column_prefix(ticker: str) -> str:
    """Column prefix of a ticker: ``^VIX`` -> ``VIX``, ``SPY`` -> ``SPY``, ``BRK-B`` -> ``BRK_B``."""
    return "".join(ch if ch.isalnum() else "_" for ch in ticker.lstrip("^"))


def column(ticker: str, field: str) -> str:
    """The aligned frame's column of one ticker's field: ``column("^VIX", "close")`` -> ``VIX_close``."""
    return f"{column_prefix(ticker)}_{field}"


def spine_tickers(tickers: Sequence[str]) -> tuple[str, ...]:
    """The tickers whose common trading days are the rows of the aligned frame: the ``DEFAULT_TICKERS`` among
    ``tickers`` (all of ``tickers`` when none of them is loaded). The others are joined onto those days."""
    spine = tuple(t for t in tickers if t in DEFAULT_TICKERS)
    return spine or tuple(tickers)


def frame_layout(tickers: Sequence[str]) -> list[str]:
    """Every column of the aligned frame for ``tickers``, in order."""
    return ["date", *(column(t, f) for t in tickers for f in FIELDS)]
