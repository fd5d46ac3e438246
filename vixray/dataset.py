"""The modelling table of one era: features, labels and the baselines' inputs, one row per trading day.

Eras keep the final evaluation honest. :func:`resolve_eras` turns an experiment's era spec into dates for the data
loaded; :func:`development_dataset` cuts the prices at the end of the development era BEFORE any feature or label is
computed, so nothing a search sees can depend on a holdout price, and its last label ends inside the era.
:func:`holdout_dataset` builds the full table and says where the holdout era starts; only evaluation uses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from vixray import calendar
from vixray.config import ErasConfig, ExperimentConfig, LabelConfig
from vixray.features import feature_exprs, har_terms, with_calendar
from vixray.labels import CLASS_NAMES, direction_label, future_log_change, past_log_change, realised_label

# beside the features and the label: the baselines' inputs (all known at day t but the target, which is the label's)
AUX_COLUMNS = (
    "prev_label",
    "har_1",
    "har_5",
    "har_22",
    "target_log_change",
    "target_log_return",
    *calendar.COLUMNS,
)


@dataclass(frozen=True)
class Eras:
    """Resolved era bounds (inclusive dates) for the data that was loaded."""

    development: tuple[date, date]
    holdout: tuple[date, date]

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {
            "development": {"start": self.development[0].isoformat(), "end": self.development[1].isoformat()},
            "holdout": {"start": self.holdout[0].isoformat(), "end": self.holdout[1].isoformat()},
        }


def resolve_eras(dates: Sequence[date] | pl.Series, eras: ErasConfig) -> Eras:
    """Resolve ``eras`` against the trading days loaded (ascending). Errors name the eras and the data range."""
    days = list(dates)
    if not days:
        raise ValueError("no trading days were loaded; check data.source, data.start and data.end")
    first, last = days[0], days[-1]
    dev_start = max(eras.development_start or first, first)
    if eras.holdout_fraction is not None:
        in_range = [d for d in days if d >= dev_start]
        n_holdout = math.ceil(eras.holdout_fraction * len(in_range))
        if n_holdout >= len(in_range):
            raise ValueError(
                f"eras.holdout = last {eras.holdout_fraction:.0%} leaves no development era in the "
                f"{len(in_range)} days loaded ({first}..{last}); lower the fraction or load more history"
            )
        holdout = (in_range[-n_holdout], last)
        development = (dev_start, in_range[-n_holdout - 1])
    else:
        h_start = max(eras.holdout_start or first, first)  # ErasConfig guarantees a start here
        h_end = min(eras.holdout_end or last, last)
        holdout_days = [d for d in days if h_start <= d <= h_end]
        if not holdout_days:
            raise ValueError(
                f"eras.holdout = {eras.holdout_start}..{eras.holdout_end or 'end'} holds no trading day of the data "
                f"loaded ({first}..{last}); move the holdout inside the data, or write 'holdout: last 20%'"
            )
        dev_end = eras.development_end or last
        dev_days = [d for d in days if dev_start <= d <= dev_end and d < holdout_days[0]]
        if not dev_days:
            raise ValueError(
                f"eras.development ends before any trading day of the data loaded ({first}..{last}) given "
                f"holdout.start = {eras.holdout_start}; load earlier history or move the holdout later"
            )
        development = (dev_days[0], dev_days[-1])
        holdout = (holdout_days[0], holdout_days[-1])
    return Eras(development=development, holdout=holdout)


@dataclass(frozen=True)
class Dataset:
    """Rows with every feature, the label and the baselines' inputs present; columns by name."""

    frame: pl.DataFrame
    feature_names: tuple[str, ...]
    classes: tuple[str, ...] = CLASS_NAMES  # the label kind's class names, in id order

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def X(self) -> np.ndarray:  # noqa: N802  (the usual name for a design matrix)
        return self.frame.select(self.feature_names).to_numpy().astype(np.float64)  # (R, C)

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy().astype(np.int64)  # (R,)

    @property
    def dates(self) -> list[date]:
        return self.frame["date"].to_list()

    def column(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy()

    def __len__(self) -> int:
        return self.frame.height


def build_dataset(
    prices: pl.DataFrame,
    *,
    tickers: Sequence[str],
    feature_set: str,
    labels: LabelConfig,
    start: date | None = None,
) -> Dataset:
    """Features, label and auxiliaries for every day of ``prices`` that has them all, from ``start`` on.

    Warm-up rows (rolling windows not yet full) and the last ``labels.horizon`` rows (no future close) are dropped.
    The calendar columns (:mod:`vixray.calendar`) come from the exchange's published calendar, not from other rows.
    """
    features = feature_exprs(feature_set, tickers=tickers, target=labels.target)
    names = tuple(expr.meta.output_name() for expr in features)
    label_spec: dict[str, Any] = {
        "down": labels.down,
        "up": labels.up,
        "horizon": labels.horizon,
        "kind": labels.kind,
    }
    frame = (
        with_calendar(prices)
        .select(
            "date",
            *features,
            direction_label(labels.target, **label_spec).alias("label"),
            pl.col("date").shift(-labels.horizon).alias("label_date"),
            realised_label(labels.target, **label_spec).alias("prev_label"),
            *har_terms(labels.target),
            future_log_change(labels.target, horizon=labels.horizon).alias("target_log_change"),
            past_log_change(labels.target).alias("target_log_return"),
            *calendar.COLUMNS,
        )
        .filter(pl.col("date") >= start if start is not None else pl.lit(True))
        .drop_nulls()
        .filter(pl.all_horizontal([pl.col(n).is_finite() for n in names]))
        .collect()
    )
    return Dataset(frame=frame, feature_names=names, classes=labels.classes)


def usable_range(
    prices: pl.DataFrame, *, tickers: Sequence[str], feature_set: str, labels: LabelConfig
) -> dict[str, Any]:
    """Where a feature set's table starts and ends on ``prices`` (its own inputs' warm-up and first days), with its
    number of features and labelled rows: what ``vixray data`` shows for each set."""
    table = build_dataset(prices, tickers=tickers, feature_set=feature_set, labels=labels)
    dates = table.frame["date"]
    return {
        "set": feature_set,
        "features": len(table.feature_names),
        "first": dates[0] if len(table) else None,
        "last": dates[-1] if len(table) else None,
        "rows": len(table),
    }


def development_dataset(prices: pl.DataFrame, experiment: ExperimentConfig, eras: Eras) -> Dataset:
    """The search's table: prices are cut at the development era's end first, so no holdout price is ever read."""
    cut = prices.filter(pl.col("date") <= eras.development[1])
    return build_dataset(
        cut,
        tickers=experiment.data.tickers,
        feature_set=experiment.features.set,
        labels=experiment.labels,
        start=eras.development[0],
    )


def holdout_dataset(prices: pl.DataFrame, experiment: ExperimentConfig, eras: Eras) -> tuple[Dataset, int]:
    """The evaluation's table over both eras up to the holdout's end, and the row where the holdout starts."""
    cut = prices.filter(pl.col("date") <= eras.holdout[1])
    dataset = build_dataset(
        cut,
        tickers=experiment.data.tickers,
        feature_set=experiment.features.set,
        labels=experiment.labels,
        start=eras.development[0],
    )
    first_holdout = int((dataset.frame["date"] < eras.holdout[0]).sum())
    return dataset, first_holdout
