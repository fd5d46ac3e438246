"""Daily prices: :func:`load_prices` is the one entry point for every source; it returns a validated, aligned frame.

The tickers' validated rows (from :mod:`vixray.data.sources`) are aligned and cut to ``[start, end]``: SPY, QQQ and
^VIX (:func:`~vixray.data.layout.spine_tickers`) are inner-joined on their common trading days, which are the rows;
every other ticker is joined onto those days, empty on a day it lacks (before its first day, after its last, in a
gap of its file: nothing is carried forward, so no feature reads a stale close and no label a made-up one), so
loading ^VIX3M (from 2009) never shortens the history of a feature that does not read it. The result (:class:`Prices`) carries a content fingerprint that goes into every run's manifest;
:func:`check_same_data` is the one refusal of data that differs from what a run searched.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from vixray.data.layout import DEFAULT_TICKERS, FIELDS, column, frame_layout, spine_tickers
from vixray.data.sources import load_series, parse_source, resolve_source
from vixray.data.validate import ON_OUTLIER, as_date, check_tickers, coverage, outliers

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Prices:
    """Daily prices of ``tickers`` on the trading days of SPY, QQQ and ^VIX, ascending, one row per day (an optional
    ticker's columns are null before its first day).

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
        expected = frame_layout(self.tickers)
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


# ------------------------------------------------------------------------------------------------ loading


def _align(
    series: Mapping[str, pl.DataFrame], tickers: Sequence[str]
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The spine tickers inner-joined on their common days, every other ticker left-joined onto them; columns
    prefixed by ticker. Returns the frame and a note per optional ticker: its first and last day on the spine and
    the spine days between them it lacks."""
    spine = spine_tickers(tickers)
    frames = {t: series[t].rename({f: column(t, f) for f in FIELDS}) for t in tickers}
    aligned = frames[spine[0]]
    for t in spine[1:]:
        aligned = aligned.join(frames[t], on="date", how="inner")
    aligned = aligned.sort("date")
    notes = []
    for t in (t for t in tickers if t not in spine):
        aligned = aligned.join(frames[t], on="date", how="left", maintain_order="left")
        present = aligned[column(t, "close")].is_not_null()
        if not present.any():
            notes.append(f"{t}: no day in common with {list(spine)}; its columns are empty")
            continue
        days = aligned["date"].filter(present)
        first, last = days[0], days[-1]
        gaps = int(aligned["date"].is_between(first, last).sum()) - len(days)
        notes.append(
            f"{t}: optional, on the {list(spine)} days from {first} to {last} ({gaps} day(s) between missing, left "
            "empty); features that do not read it keep the full history"
        )
    return aligned.select(frame_layout(tickers)), tuple(notes)


def load_prices(
    source: str = "auto",
    *,
    tickers: Sequence[str] = DEFAULT_TICKERS,
    start: date | str | None = None,
    end: date | str | None = None,
    min_rows: int = 1,
    cache_dir: Path | None = None,
    on_outlier: str = "warn",
) -> Prices:
    """Load, validate and align daily prices of ``tickers`` from ``source`` (see :mod:`vixray.data`), cut to
    ``[start, end]`` (inclusive). Raises ValueError (DataUnavailableError when a source cannot deliver)."""
    kind, arg = parse_source(source)
    tickers = check_tickers(tickers)
    first, last = as_date(start, name="start"), as_date(end, name="end")
    if first and last and first > last:
        raise ValueError(f"start = {first} is after end = {last}; swap them or widen the range")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValueError(f"min_rows = {min_rows!r}: must be an integer >= 1")

    if on_outlier not in ON_OUTLIER:
        raise ValueError(f"on_outlier = {on_outlier!r}: choose one of {list(ON_OUTLIER)}")
    series, label, notes = load_series(kind, arg, tickers, cache_dir=cache_dir, start=first)
    suspicious = [line for t in tickers for line in outliers(series[t], ticker=t, origin=label)]
    if suspicious and on_outlier == "error":
        raise ValueError(
            f"{suspicious[0]}{f' (and {len(suspicious) - 1} more)' if len(suspicious) > 1 else ''}; correct the "
            "data, or set data.on_outlier: warn to go on with a warning"
        )
    for line in suspicious:
        log.warning("%s", line)
    notes = (*notes, *(f"outlier: {line}" for line in suspicious))
    loaded = {t: coverage(series[t]) for t in tickers}
    aligned, joined = _align(series, tickers)
    notes = (*notes, *joined)
    if first:
        aligned = aligned.filter(pl.col("date") >= first)
    if last:
        aligned = aligned.filter(pl.col("date") <= last)
    if aligned.height < min_rows:
        found = f"{aligned['date'][0]}..{aligned['date'][-1]}" if aligned.height else "no common day"
        listed = ", ".join(f"{t} {c['first']}..{c['last']} ({c['rows']} rows)" for t, c in loaded.items())
        raise ValueError(
            f"{label}: too little history: {aligned.height} common rows of {list(tickers)} ({found}) between "
            f"start = {first or 'the first day'} and end = {last or 'the last day'}, fewer than min_rows = "
            f"{min_rows}; loaded: {listed}; widen start/end, drop the ticker with the shortest history, or use a "
            f"source with more history"
        )
    return Prices(frame=aligned, source=label, tickers=tickers, notes=notes, coverage=loaded)


class DataSpec(Protocol):
    """What :func:`load_for` reads of an experiment's ``data`` section (:class:`vixray.config.DataConfig`)."""

    @property
    def source(self) -> str: ...
    @property
    def tickers(self) -> tuple[str, ...]: ...
    @property
    def start(self) -> date | None: ...
    @property
    def end(self) -> date | None: ...
    @property
    def on_outlier(self) -> str: ...


def load_for(spec: DataSpec, *, data: str | None = None, recorded: str | None = None) -> Prices:
    """An experiment's prices from the source :func:`~vixray.data.sources.resolve_source` picks: ``data``
    (``--data``), else ``recorded`` (the source a run searched), else ``spec.source``."""
    source = resolve_source(data, recorded=recorded, configured=spec.source)
    return load_prices(
        source, tickers=spec.tickers, start=spec.start, end=spec.end, on_outlier=spec.on_outlier
    )


def load_recorded(
    spec: DataSpec,
    recorded: Mapping[str, Any] | None,
    *,
    data: str | None,
    run_name: str,
    allow_change: bool,
    action: str,
) -> tuple[Prices, bool]:
    """The prices of what a run recorded (``recorded``: its manifest's or report's ``data`` block, with ``source``
    and ``fingerprint``), read from ``data`` (``--data``) else the recorded source; refused by
    :func:`check_same_data` when they differ unless ``allow_change``. Returns them and whether they differ."""
    recorded = recorded or {}
    prices = load_for(spec, data=data, recorded=recorded.get("source"))
    changed = check_same_data(
        prices,
        recorded=recorded.get("fingerprint"),
        run_name=run_name,
        allow_change=allow_change,
        action=action,
    )
    return prices, changed


def check_same_data(
    prices: Prices, *, recorded: str | None, run_name: str, allow_change: bool, action: str
) -> bool:
    """Whether ``prices`` differ from the data a run recorded (its fingerprint); an error unless ``allow_change``.

    ``action`` says what would go on with other data ("resume", "evaluate"), for the message and the override.
    """
    if recorded == prices.fingerprint:
        return False
    was = str(recorded)[:12] if recorded else "none recorded"
    if not allow_change:
        raise ValueError(
            f"the data loaded from {prices.source} (fingerprint {prices.fingerprint[:12]}) differs from the data "
            f"run {run_name} searched ({was}); {action} on the same data (--data), or pass --allow-data-change to "
            f"{action} anyway (the run records the change)"
        )
    log.warning(
        "the data loaded from %s (fingerprint %s) differs from the data run %s searched (%s); %s anyway "
        "(--allow-data-change)",
        prices.source,
        prices.fingerprint[:12],
        run_name,
        was,
        action,
    )
    return True
