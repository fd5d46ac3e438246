"""Direction labels of the h-day-ahead VIX close-to-close change, in one of two framings (``labels.kind``):

``threshold``
    three classes, 0 Down (change < down), 1 Neutral, 2 Up (change > up): a change exactly at a threshold is
    Neutral. Changes are rounded to 10 decimals first, so a move of exactly 1% in decimal prices (20.00 -> 20.20)
    is Neutral despite float rounding.
``direction``
    two classes, 0 Down and 1 Up: Up when the close h days ahead is higher, else Down (an unchanged close is Down),
    the framing of the literature's out-of-sample figures (Ahoniemi 2008; Bai and Cai).

The label at day t uses closes at t and t+h only (``shift(-h)``); the last h rows have no label (null). This module
owns the class names, ids and counts: a class id is the position of its name in :func:`class_names`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from vixray.data.layout import column

THRESHOLD, DIRECTION = "threshold", "direction"
KINDS = (THRESHOLD, DIRECTION)
# The class ids are the positions of the names: every module that names, counts or indexes classes reads them here.
_CLASSES = {THRESHOLD: ("down", "neutral", "up"), DIRECTION: ("down", "up")}
CLASS_NAMES = _CLASSES[THRESHOLD]  # the default framing's
DOWN, NEUTRAL, UP = range(len(CLASS_NAMES))  # the default framing's ids
N_CLASSES = len(CLASS_NAMES)


def class_names(kind: str = THRESHOLD) -> tuple[str, ...]:
    """The class names of a label kind, in class-id order."""
    if kind not in _CLASSES:
        raise ValueError(f"labels.kind = {kind!r}: choose one of {list(KINDS)}")
    return _CLASSES[kind]


def class_id(classes: Sequence[str], name: str) -> int:
    """The id of class ``name`` ("up", "down") among ``classes``."""
    return list(classes).index(name)


def stored_classes(record: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The classes a stored report, manifest or experiment dict names: its ``classes``, else the class names of
    its ``labels.kind`` (or ``config.labels.kind``), else the three classes (a run from before the two framings)."""
    record = record or {}
    if record.get("classes"):
        return tuple(record["classes"])
    for holder in (record, record.get("config") or {}):
        labels = holder.get("labels") if isinstance(holder, Mapping) else None
        if isinstance(labels, Mapping) and labels.get("kind"):
            return class_names(str(labels["kind"]))
    return CLASS_NAMES


def check_thresholds(*, down: float, up: float) -> None:
    """Reject negative-up, positive-down and inverted thresholds with the fix in the message."""
    if up < 0:
        raise ValueError(f"up = {up}: the Up threshold must be >= 0 (0.01 means a rise of more than 1%)")
    if down > 0:
        raise ValueError(f"down = {down}: the Down threshold must be <= 0 (write a 1% fall as -0.01)")
    if down >= up:
        raise ValueError(f"down = {down} is not below up = {up}: the thresholds are inverted; swap them")


def future_change(ticker: str = "^VIX", *, horizon: int = 1) -> pl.Expr:
    """Close-to-close change from t to t+horizon, as a fraction (null for the last ``horizon`` rows)."""
    if horizon < 1:
        raise ValueError(f"horizon = {horizon}: must be >= 1 day ahead")
    close = pl.col(column(ticker, "close"))
    return close.shift(-horizon) / close - 1.0


def future_log_change(ticker: str = "^VIX", *, horizon: int = 1) -> pl.Expr:
    """log(close[t+h] / close[t]), the HAR baseline's regression target."""
    if horizon < 1:
        raise ValueError(f"horizon = {horizon}: must be >= 1 day ahead")
    close = pl.col(column(ticker, "close"))
    return (close.shift(-horizon) / close).log()


def past_log_change(ticker: str = "^VIX") -> pl.Expr:
    """log(close[t] / close[t-1]): the move that ended at day t, known at t (the GARCH baseline's series)."""
    close = pl.col(column(ticker, "close"))
    return (close / close.shift(1)).log()


def classify(change: pl.Expr, *, down: float = -0.01, up: float = 0.01, kind: str = THRESHOLD) -> pl.Expr:
    """Map a fractional change to the classes of ``kind``: {0 Down, 1 Neutral, 2 Up} at the thresholds, or
    {0 Down, 1 Up} by its sign (the thresholds are not used); nulls stay null."""
    change = change.round(10)
    if class_names(kind) == _CLASSES[DIRECTION]:
        return pl.when(change.is_null()).then(None).when(change > 0).then(1).otherwise(0).cast(pl.Int8)
    check_thresholds(down=down, up=up)
    return (
        pl.when(change.is_null())
        .then(None)
        .when(change > up)
        .then(UP)
        .when(change < down)
        .then(DOWN)
        .otherwise(NEUTRAL)
        .cast(pl.Int8)
    )


def direction_label(
    ticker: str = "^VIX", *, down: float = -0.01, up: float = 0.01, horizon: int = 1, kind: str = THRESHOLD
) -> pl.Expr:
    """The label column: ``classify(future_change(...))``."""
    return classify(future_change(ticker, horizon=horizon), down=down, up=up, kind=kind)


def realised_label(
    ticker: str = "^VIX", *, down: float = -0.01, up: float = 0.01, horizon: int = 1, kind: str = THRESHOLD
) -> pl.Expr:
    """The class of the change that ended today (t-h to t), known at t: the persistence baseline's forecast."""
    return direction_label(ticker, down=down, up=up, horizon=horizon, kind=kind).shift(horizon)
