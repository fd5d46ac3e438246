"""Argument checks shared by the scores and the tests: each error names the argument, what it holds and the fix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PROBA_CLIP = 1e-7
# float32 softmax outputs sum to 1 within ~1e-6; anything further off is not a probability row
PROBA_SUM_TOL = 1e-4


def check_n_classes(n_classes: int) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes = {n_classes!r}: must be an integer >= 2 (3 for Down / Neutral / Up)")


def vector(values: Any, *, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}: pass a 1-D array with one value per day")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: pass at least one test row")
    return arr


def labels_array(values: Any, *, name: str, n_classes: int) -> np.ndarray:
    arr = vector(values, name=name)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} has dtype {arr.dtype}: pass integer class labels 0..{n_classes - 1} "
            "(np.argmax(proba, axis=1) turns probabilities into labels)"
        )
    bad = arr[(arr < 0) | (arr >= n_classes)]
    if bad.size:
        raise ValueError(
            f"{name} holds label {int(bad[0])}, outside 0..{n_classes - 1} for n_classes = {n_classes}; "
            "labels are 0 Down, 1 Neutral, 2 Up"
        )
    return arr.astype(np.int64)


def flags(values: Any, *, name: str) -> np.ndarray:
    arr = vector(values, name=name)
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} has dtype {arr.dtype} with values other than 0/1: pass a boolean array "
                "(e.g. pred == y_true, or actual == 2 for Up)"
            )
        arr = arr.astype(bool)
    return arr


def same_length(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} has {len(a)} rows but {names[1]} has {len(b)}: both must hold the same test days in "
            "the same order"
        )


def proba_array(proba: Any, *, n: int, n_classes: int) -> np.ndarray:
    arr = np.asarray(proba, dtype=np.float64)
    if arr.shape != (n, n_classes):
        raise ValueError(
            f"proba has shape {arr.shape}, expected ({n}, {n_classes}): one row per test day, one column per "
            "class in label order"
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("proba holds negative or non-finite values: pass probabilities in [0, 1]")
    sums = arr.sum(axis=1)  # (n,)
    off = np.flatnonzero(np.abs(sums - 1.0) > PROBA_SUM_TOL)
    if off.size:
        raise ValueError(
            f"proba row {int(off[0])} sums to {sums[off[0]]:.6g}, not 1 (tolerance {PROBA_SUM_TOL}): "
            "pass probabilities, e.g. softmax(logits), not raw scores"
        )
    return arr


def check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level!r}: must lie strictly between 0 and 1 (0.95 for a 95% interval)")


def check_n_boot(n_boot: int) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot = {n_boot!r}: must be an integer >= 1 (2000 is usual)")


def check_block_length(block_length: float | None) -> None:
    if block_length is not None and not (math.isfinite(block_length) and block_length >= 1.0):
        raise ValueError(
            f"block_length = {block_length!r}: must be a number >= 1 (the mean block length in days), "
            "or None to choose it from the data"
        )


def check_probability(value: float, *, name: str, open_interval: bool = False) -> None:
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = "strictly between 0 and 1" if open_interval else "in [0, 1]"
        raise ValueError(f"{name} = {value!r}: must be a probability {bounds}")
