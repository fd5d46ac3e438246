"""Seeded synthetic prices with the stylised facts of the real series, for tests and offline examples.

SPY follows a GJR-GARCH(1,1) with Student-t shocks (volatility clustering, fat tails, leverage); log VIX is an AR(1)
around a level that rises with SPY's conditional volatility, its shocks loading negatively on SPY's; QQQ, the other
equity indexes and the other volatility indexes are built from the same core paths.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from vixray.data.layout import DEFAULT_TICKERS, FIELD_OF_COLUMN, FIELDS, column_prefix
from vixray.data.validate import as_date, check_tickers, validate_series

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
    tickers = check_tickers(tickers)
    first = as_date(start, name="start") or date(2010, 1, 4)
    days = np.busday_offset(np.datetime64(first, "D"), np.arange(n_days), roll="forward")  # (N,)
    core = _core_paths(n_days, np.random.default_rng(seed))
    columns: dict[str, Any] = {"date": pl.Series("date", days).cast(pl.Date)}
    for ticker in tickers:
        prefix = column_prefix(ticker)
        series = _synthetic_series(ticker, core, np.random.default_rng([seed, _stable_key(prefix)]))
        for key in FIELDS:
            columns[f"{prefix}_{key}"] = pl.Series(f"{prefix}_{key}", series[key], dtype=pl.Float64)
    return pl.DataFrame(columns)


def load_synthetic(tickers: Sequence[str], *, seed: int) -> dict[str, pl.DataFrame]:
    frame = synthetic_prices(seed=seed, tickers=tickers)
    series = {}
    for ticker in tickers:
        prefix = column_prefix(ticker)
        yahoo = frame.select(
            pl.col("date").alias("Date"),
            *(pl.col(f"{prefix}_{f}").alias(c) for c, f in list(FIELD_OF_COLUMN.items())[1:]),
        )
        series[ticker] = validate_series(yahoo, ticker=ticker, origin=f"synthetic:{seed}")
    return series
