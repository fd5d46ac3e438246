"""Daily prices for vixray: sources, validation, alignment (:func:`load_prices` is the entry point).

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

Modules: :mod:`~vixray.data.layout` (column names), :mod:`~vixray.data.validate` (one validation path for every
source), :mod:`~vixray.data.sources`, :mod:`~vixray.data.synthetic`, :mod:`~vixray.data.prices` (alignment, the
fingerprint).
"""

from vixray.data.layout import (
    DEFAULT_TICKERS,
    FIELDS,
    OPTIONAL_TICKERS,
    YAHOO_COLUMNS,
    column,
    column_prefix,
    frame_layout,
)
from vixray.data.prices import Prices, check_same_data, load_for, load_prices, load_recorded
from vixray.data.sources import (
    SOURCE_FORMS,
    YAHOO_HISTORY_START,
    DataUnavailableError,
    resolve_source,
)
from vixray.data.synthetic import synthetic_prices

__all__ = [
    "DEFAULT_TICKERS",
    "FIELDS",
    "OPTIONAL_TICKERS",
    "SOURCE_FORMS",
    "YAHOO_COLUMNS",
    "YAHOO_HISTORY_START",
    "DataUnavailableError",
    "Prices",
    "check_same_data",
    "column",
    "column_prefix",
    "frame_layout",
    "load_for",
    "load_prices",
    "load_recorded",
    "resolve_source",
    "synthetic_prices",
]
