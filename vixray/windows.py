"""Per-fold scaling and sequence windows for every walk-forward fold at once.

Each fold's training block is cut into a *fit* part and a *validation* tail (its last rows, for early stopping),
with ``val_gap`` rows dropped between them so no fit label's horizon reaches into the validation rows
(:func:`vixray.split.validation_split`, the same cut the tuned baselines choose their settings on). The window of
row ``i`` is the scaled features of rows ``i - seq_len + 1 .. i`` and its label is ``y[i]``; rows with less history
than that (``i < seq_len - 1``) are dropped. A test window may look back at rows before its test block: those are
known on the day the prediction is made. Likewise a fit window of a rolling fold may read days before its training
block; they are older still, so a long ``seq_len`` is limited by the start of the data, not of the block.

Nothing fitted sees more than the fold's fit rows: the scaler (mean and population std of X) and the balanced class
weights come from the fit rows alone, and every window of the fold (fit, validation, test) is scaled with them.

All folds are built in one gather: row ids are padded to (F, N) with -1, turned into (F, N, T) index arrays and
looked up in a per-fold scaled copy of X. Folds of different sizes (expanding folds) are padded to the largest,
with mask False, label 0, row -1 and zero features on padding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vixray.labels import N_CLASSES
from vixray.split import validation_split

log = logging.getLogger(__name__)

SPLITS = ("fit", "val", "test")


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array comparison has no single truth value
class FoldWindows:
    """The windows of F folds, padded to a common length per split (mask False on padding)."""

    x_fit: (
        np.ndarray
    )  # (F, N_fit, T, C) float32, training windows (the training block minus its validation tail)
    y_fit: np.ndarray  # (F, N_fit) int64
    m_fit: np.ndarray  # (F, N_fit) bool, False on padding
    x_val: np.ndarray  # (F, N_val, T, C) float32, the validation tail of each training block
    y_val: np.ndarray  # (F, N_val) int64
    m_val: np.ndarray  # (F, N_val) bool
    x_test: np.ndarray  # (F, N_test, T, C) float32, the test block
    y_test: np.ndarray  # (F, N_test) int64
    m_test: np.ndarray  # (F, N_test) bool
    rows_fit: np.ndarray  # (F, N_fit) int64 row index into X, -1 on padding
    rows_val: np.ndarray  # (F, N_val) int64
    rows_test: np.ndarray  # (F, N_test) int64
    class_weights: np.ndarray  # (F, K) float32, from fit labels only
    scaler_mean: np.ndarray  # (F, C) float64, fit rows only
    scaler_scale: np.ndarray  # (F, C) float64, fit rows only; 1 where a feature is constant on them

    @property
    def n_folds(self) -> int:
        return int(self.x_fit.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.x_fit.shape[2])

    @property
    def n_features(self) -> int:
        return int(self.x_fit.shape[3])

    @property
    def n_classes(self) -> int:
        return int(self.class_weights.shape[1])

    def _rows(self, split: str, fold: int) -> np.ndarray:
        if isinstance(fold, bool) or not isinstance(fold, int | np.integer) or not 0 <= fold < self.n_folds:
            raise ValueError(f"fold = {fold!r}: the windows have folds 0..{self.n_folds - 1}")
        rows = getattr(self, f"rows_{split}")[fold]  # (N,)
        return rows[getattr(self, f"m_{split}")[fold]]

    def fit_rows(self, fold: int) -> np.ndarray:
        """Row ids (into X) of fold ``fold``'s fit windows, ascending, padding removed."""
        return self._rows("fit", fold)

    def val_rows(self, fold: int) -> np.ndarray:
        """Row ids of fold ``fold``'s validation windows, ascending, padding removed."""
        return self._rows("val", fold)

    def test_rows(self, fold: int) -> np.ndarray:
        """Row ids of fold ``fold``'s test windows, ascending, padding removed (the rows its predictions are for)."""
        return self._rows("test", fold)


# ------------------------------------------------------------------------------------------------ checks


def _check_params(*, seq_len: int, val_fraction: float, val_gap: int, n_classes: int) -> None:
    def whole(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, int | np.integer)

    if not whole(seq_len) or seq_len < 1:
        raise ValueError(f"seq_len = {seq_len!r}: must be an integer >= 1 (days of history per window)")
    fraction_ok = isinstance(val_fraction, int | float | np.floating) and not isinstance(val_fraction, bool)
    if not fraction_ok or not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"val_fraction = {val_fraction!r}: must be a number in [0, 1) (the share of each training block "
            "kept for validation; 0 turns validation off)"
        )
    if not whole(val_gap) or val_gap < 0:
        raise ValueError(
            f"val_gap = {val_gap!r}: must be an integer >= 0 (rows between fit and validation; use the label horizon)"
        )
    if not whole(n_classes) or n_classes < 2:
        raise ValueError(
            f"n_classes = {n_classes!r}: must be an integer >= 2 (3 for Down / Neutral / Up, 2 for Down / Up)"
        )


def _check_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X has shape {X.shape}: pass a 2-D (rows, features) array, one row per trading day")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X has dtype {X.dtype}: pass real-valued features")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y has shape {y.shape} but X has {X.shape[0]} rows: pass a 1-D label array with one label per row of X"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y has dtype {y.dtype}: pass integer class labels (0 Down, 1 Neutral, 2 Up)")
    return X.astype(np.float64, copy=False), y.astype(np.int64, copy=False)


def _check_fold(k: int, fold: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        train_idx, test_idx = fold
    except (TypeError, ValueError):
        raise ValueError(
            f"fold {k} is not a (train_idx, test_idx) pair: pass the folds of WalkForwardSplit.split"
        ) from None
    out = []
    for name, idx in (("train_idx", train_idx), ("test_idx", test_idx)):
        idx = np.asarray(idx)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"fold {k} {name} has shape {idx.shape} and dtype {idx.dtype}: pass a non-empty 1-D array of "
                "integer row positions"
            )
        low, high = int(idx.min()), int(idx.max())
        if low < 0 or high >= n_rows:
            raise ValueError(
                f"fold {k} {name} holds row {low if low < 0 else high}, out of range for X with {n_rows} rows; "
                f"positions must lie in [0, {n_rows - 1}]: build the folds on the same table as X"
            )
        if idx.size > 1 and np.any(np.diff(idx) <= 0):
            raise ValueError(
                f"fold {k} {name} is not strictly ascending: pass chronological, unique row positions"
            )
        out.append(idx.astype(np.int64))
    train, test = out
    if train[-1] >= test[0]:
        raise ValueError(
            f"fold {k} trains up to row {int(train[-1])}, not before its first test row {int(test[0])}: walk-forward "
            "training must end before the test block (WalkForwardSplit makes such folds)"
        )
    return train, test


# ------------------------------------------------------------------------------------------------ helpers


def _cut_fold(
    k: int, train: np.ndarray, test: np.ndarray, *, seq_len: int, val_fraction: float, val_gap: int
) -> dict[str, np.ndarray]:
    """Row ids of one fold's fit, validation and test windows (rows without seq_len of history dropped)."""
    n_train = len(train)
    fit, val = validation_split(train, val_fraction=val_fraction, val_gap=val_gap)
    n_val = len(val)
    cut = {"fit": fit, "val": val, "test": test}
    cut = {split: rows[rows >= seq_len - 1] for split, rows in cut.items()}
    if cut["fit"].size == 0:
        raise ValueError(
            f"fold {k} has no fit windows: its training block of {n_train} rows (rows {int(train[0])}.."
            f"{int(train[-1])}) loses its last {n_val} to validation (val_fraction = {val_fraction}) and {val_gap} "
            f"more to val_gap, and rows before {seq_len - 1} lack seq_len = {seq_len} days of history; lower "
            "seq_len, val_fraction or val_gap, or lengthen the training blocks (split.train_size)"
        )
    return cut


def _pad(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-fold row ids into (F, N) with -1 padding, and its mask."""
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), -1, dtype=np.int64)  # (F, N)
    for f, r in enumerate(rows):
        out[f, : len(r)] = r
    return out, out >= 0


def _window_index(rows: np.ndarray, mask: np.ndarray, seq_len: int) -> np.ndarray:
    """(F, N) row ids -> (F, N, T) rows each window reads, oldest first; padding points at row 0."""
    index = rows[:, :, None] - (seq_len - 1) + np.arange(seq_len)  # (F, N, T)
    return np.where(mask[:, :, None], index, 0)


def _check_finite(X: np.ndarray, index: np.ndarray, mask: np.ndarray, rows: np.ndarray, split: str) -> None:
    bad = ~np.isfinite(X).all(axis=1)[index] & mask[:, :, None]  # (F, N, T)
    if bad.any():
        f, n, t = np.argwhere(bad)[0]
        raise ValueError(
            f"X row {int(index[f, n, t])} has a NaN or infinite value, and fold {int(f)} reads it in the {split} "
            f"window of row {int(rows[f, n])}: clean or drop those rows before building windows"
        )


def _check_labels(y: np.ndarray, mask: np.ndarray, rows: np.ndarray, n_classes: int, split: str) -> None:
    labels = y[np.where(mask, rows, 0)]  # (F, N)
    bad = mask & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        f, n = np.argwhere(bad)[0]
        raise ValueError(
            f"y[{int(rows[f, n])}] = {int(labels[f, n])} (a {split} row of fold {int(f)}) is outside "
            f"0..{n_classes - 1} for n_classes = {n_classes}: labels are class ids of the label kind "
            "(vixray.labels.class_names)"
        )


def _fit_scaler(X: np.ndarray, rows: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per fold mean and population std (ddof=0) of X over the fit rows; (F, C) each."""
    values = X[np.where(mask, rows, 0)]  # (F, N, C)
    m = mask[:, :, None]  # (F, N, 1)
    count = mask.sum(axis=1)[:, None]  # (F, 1)
    mean = np.where(m, values, 0.0).sum(axis=1) / count  # (F, C)
    var = np.where(m, (values - mean[:, None, :]) ** 2, 0.0).sum(axis=1) / count  # (F, C)
    # a feature is constant exactly when its range is 0; its std may come out as rounding noise, not 0
    high = np.where(m, values, -np.inf).max(axis=1)  # (F, C)
    low = np.where(m, values, np.inf).min(axis=1)  # (F, C)
    scale = np.where(high > low, np.sqrt(var), 1.0)  # (F, C)
    return mean, scale


def _class_weights(y_fit: np.ndarray, m_fit: np.ndarray, n_classes: int, *, balanced: bool) -> np.ndarray:
    """Balanced weights n_fit / (K * count_k) per fold from the fit labels; (F, K) float32."""
    if not balanced:
        return np.ones((y_fit.shape[0], n_classes), dtype=np.float32)
    counts = ((y_fit[:, :, None] == np.arange(n_classes)) & m_fit[:, :, None]).sum(axis=1)  # (F, K)
    n_fit = m_fit.sum(axis=1, keepdims=True)  # (F, 1)
    weights = n_fit / (n_classes * np.maximum(counts, 1))  # (F, K)
    for f, k in np.argwhere(counts == 0):
        log.warning(
            "fold %d: class %d is absent from its %d fit labels; its class weight is set to 1.0",
            f,
            k,
            int(n_fit[f, 0]),
        )
    return np.where(counts == 0, 1.0, weights).astype(np.float32)


# ------------------------------------------------------------------------------------------------ the windows


def make_fold_windows(
    X: np.ndarray,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    seq_len: int,
    val_fraction: float = 0.2,
    val_gap: int = 1,
    n_classes: int = N_CLASSES,
    class_weighting: bool = True,
) -> FoldWindows:
    """Scaled sequence windows for every fold of ``folds`` (pairs from :class:`vixray.split.WalkForwardSplit`).

    ``X`` is (R, C) features, one row per trading day in order; ``y`` is (R,) labels in 0..n_classes-1. The
    validation tail of each training block is its last ``ceil(val_fraction * len(train_idx))`` rows, with
    ``val_gap`` rows dropped before it (set it to the label horizon). ``class_weighting=False`` gives all-ones weights.
    """
    _check_params(seq_len=seq_len, val_fraction=val_fraction, val_gap=val_gap, n_classes=n_classes)
    X, y = _check_data(X, y)
    folds = list(folds)
    if not folds:
        raise ValueError(
            "folds is empty: pass at least one (train_idx, test_idx) pair from WalkForwardSplit.split"
        )
    cuts = [
        _cut_fold(
            k, *_check_fold(k, fold, len(X)), seq_len=seq_len, val_fraction=val_fraction, val_gap=val_gap
        )
        for k, fold in enumerate(folds)
    ]

    padded = {split: _pad([c[split] for c in cuts]) for split in SPLITS}  # split -> ((F, N), (F, N))
    index = {split: _window_index(rows, mask, seq_len) for split, (rows, mask) in padded.items()}  # (F, N, T)
    for split, (rows, mask) in padded.items():
        _check_finite(X, index[split], mask, rows, split)
        _check_labels(y, mask, rows, n_classes, split)

    rows_fit, m_fit = padded["fit"]
    mean, scale = _fit_scaler(X, rows_fit, m_fit)  # (F, C) each
    # scale the whole table once per fold, then gather: the same arithmetic as scaling each window, far less memory
    scaled = ((X[None, :, :] - mean[:, None, :]) / scale[:, None, :]).astype(np.float32)  # (F, R, C)
    fold_ids = np.arange(len(folds))[:, None, None]  # (F, 1, 1)

    out: dict[str, np.ndarray] = {}
    for split, (rows, mask) in padded.items():
        x = scaled[fold_ids, index[split]]  # (F, N, T, C)
        x[~mask] = 0.0
        out[f"x_{split}"] = x
        out[f"y_{split}"] = np.where(mask, y[np.where(mask, rows, 0)], 0)  # (F, N)
        out[f"m_{split}"] = mask
        out[f"rows_{split}"] = rows

    log.debug(
        "windows for %d folds: fit %s, val %s, test %s (seq_len %d)",
        len(folds),
        out["x_fit"].shape,
        out["x_val"].shape,
        out["x_test"].shape,
        seq_len,
    )
    return FoldWindows(
        **out,
        class_weights=_class_weights(out["y_fit"], m_fit, n_classes, balanced=bool(class_weighting)),
        scaler_mean=mean,
        scaler_scale=scale,
    )


# ------------------------------------------------------------------------------------------------ checking


def check_windows(w: FoldWindows) -> None:
    """Shapes, labels, finiteness and class weights of windows built elsewhere than :func:`make_fold_windows`
    (a trainer takes any FoldWindows); each error names the array, the fold and the fix."""
    x = w.x_fit
    if x.ndim != 4:
        raise ValueError(f"windows.x_fit has shape {x.shape}: expected (folds, windows, seq_len, features)")
    n_folds, _, steps, n_features = x.shape
    if w.class_weights.ndim != 2 or w.class_weights.shape[0] != n_folds or w.class_weights.shape[1] < 2:
        raise ValueError(
            f"windows.class_weights has shape {w.class_weights.shape}: expected ({n_folds}, K), one column per "
            "class (K >= 2)"
        )
    n_classes = w.n_classes
    for split in ("fit", "val", "test"):
        xs, ys, ms, rows = (getattr(w, f"{k}_{split}") for k in ("x", "y", "m", "rows"))
        expect = (n_folds, xs.shape[1])
        if xs.shape[0] != n_folds or xs.shape[2:] != (steps, n_features):
            raise ValueError(
                f"windows.x_{split} has shape {xs.shape}: expected ({n_folds}, N, {steps}, {n_features}) "
                "like x_fit"
            )
        for name, arr in (("y", ys), ("m", ms), ("rows", rows)):
            if arr.shape != expect:
                raise ValueError(f"windows.{name}_{split} has shape {arr.shape}: expected {expect}")
        labels = ys[ms]
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(
                f"windows.y_{split} holds label {labels.min() if labels.min() < 0 else labels.max()}: "
                f"labels must be class ids 0..{n_classes - 1} (windows.class_weights has {n_classes} columns)"
            )
        bad = ~np.isfinite(xs).all(axis=(2, 3)) & ms  # (F, N)
        if bad.any():
            fold, item = np.argwhere(bad)[0]
            raise ValueError(
                f"windows.x_{split} has a NaN or infinite value in fold {fold}, window {item} "
                f"(row {rows[fold, item]}): clean the features before training"
            )
    empty = np.flatnonzero(w.m_fit.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(
            f"fold(s) {empty.tolist()} have no training windows: each fold needs a training block longer than "
            f"seq_len = {steps}"
        )
    bad_weights = ~(np.isfinite(w.class_weights) & (w.class_weights > 0)).all(axis=1)
    if bad_weights.any():
        f = int(np.flatnonzero(bad_weights)[0])
        raise ValueError(
            f"windows.class_weights[{f}] = {w.class_weights[f].tolist()}: weights must be finite and > 0 "
            "(all ones turns class weighting off)"
        )
