"""Plotly figures of a holdout evaluation, shared by ``report.html`` and the results explorer, and the helpers every
vixray figure uses (one palette, one chance line, one rolling window).

Pure functions from store tables (Polars) or report dicts to figures, importing neither Ray, torch nor Dash, so the
report and the dashboard draw the same thing from the same numbers. Every accuracy figure carries the line of a
uniform random guess among the classes (33.3% for Down / Neutral / Up, 50% for Down / Up), so a bar is read against
chance at a glance; the figures take the label kind's ``classes`` (:func:`vixray.labels.class_names`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from vixray.labels import CLASS_NAMES
from vixray.store import PARAM_PREFIX

ROLLING_DAYS = 60  # the rolling-accuracy window of every figure: about a quarter of trading days
COLORS = {
    "model": "#1f77b4",
    "majority": "#ff7f0e",
    "persistence": "#2ca02c",
    "random": "#7f7f7f",
    "stratified": "#9467bd",
    "logistic": "#8c564b",
    "har": "#e377c2",
    "calendar": "#17becf",
    "boosting": "#bcbd22",
    "garch": "#393b79",
    "strongest": "#d4a017",  # the strongest baseline of a run, whichever it is
    "finished": "#1f77b4",
    "pruned": "#b0b0b0",
    "correct": "#2ca02c",
    "wrong": "#d62728",
    "vix": "#444444",
    "best": "#d62728",
}
_TEMPLATE = "plotly_white"
_HEIGHT = 400


# ------------------------------------------------------------------------------------------------ helpers


def require(frame: pl.DataFrame, columns: Sequence[str], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {missing}; it has {sorted(frame.columns)}: pass a table in the store's schema"
        )


def check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"mode = {mode!r}: use 'min' (lower is better) or 'max' (higher is better)")


def param_label(column: str) -> str:
    return column[len(PARAM_PREFIX) :] if column.startswith(PARAM_PREFIX) else column


def base(title: str, **layout: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title, template=_TEMPLATE, height=_HEIGHT, margin={"l": 60, "r": 30, "t": 60, "b": 50}, **layout
    )
    return fig


def chance(classes: Sequence[str] = CLASS_NAMES) -> float:
    """The accuracy of guessing one of the classes uniformly at random (33.3% for three, 50% for two)."""
    return 1.0 / len(classes)


def labels_of(classes: Sequence[str]) -> list[str]:
    return [name.capitalize() for name in classes]


def add_chance_line(fig: go.Figure, *, classes: Sequence[str] = CLASS_NAMES) -> go.Figure:
    """The dashed line of :func:`chance` for ``classes``."""
    fig.add_hline(
        y=chance(classes),
        line_dash="dash",
        line_color=COLORS["random"],
        annotation_text=f"random {chance(classes):.1%}",
        annotation_position="top left",
    )
    return fig


def accuracy_axis(
    fig: go.Figure, values: Sequence[float | None], *, classes: Sequence[str] = CLASS_NAMES
) -> None:
    # leave room above the highest bar for its label; never cut the chance line off
    top = max([v for v in values if v is not None and math.isfinite(v)] + [chance(classes)])
    fig.update_yaxes(title="accuracy", tickformat=".0%", range=[0, min(1.0, top + 0.12)])


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why there is nothing to draw (no trials yet, a missing file...)."""
    fig = base("")
    fig.update_layout(height=220)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return fig


def bar(name: str, x: Sequence[Any], y: Sequence[float | None], *, color: str | None = None) -> go.Bar:
    return go.Bar(
        name=name,
        x=list(x),
        y=list(y),
        marker_color=color or COLORS.get(name),
        texttemplate="%{y:.1%}",
        textposition="outside",
    )


def rolling_hit_rate(correct: Sequence[bool], *, window: int) -> list[float | None]:
    """Trailing share of correct days over ``window`` days; None until a full window is available."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window = {window!r}: must be an integer >= 1 (a number of days)")
    hits = np.cumsum(np.asarray(correct, dtype=np.float64))  # (n,)
    out: list[float | None] = []
    for i in range(len(hits)):
        if i + 1 < window:
            out.append(None)
        else:
            before = hits[i - window] if i >= window else 0.0
            out.append(float((hits[i] - before) / window))
    return out


# ------------------------------------------------------------------------------------------------ evaluation


def block_accuracy(
    blocks: Sequence[Mapping[str, Any]],
    *,
    baselines: Sequence[str] | None = None,
    classes: Sequence[str] = CLASS_NAMES,
) -> go.Figure:
    """Holdout accuracy per walk-forward block: the model beside each baseline (all of the report's by default)."""
    if not blocks:
        return empty_figure("the report has no blocks")
    names = list(baselines) if baselines is not None else list(blocks[0].get("baselines", {}))
    x = [f"block {b.get('block', i)}" for i, b in enumerate(blocks)]
    fig = base("Holdout accuracy by block", barmode="group")
    model = [(b.get("model") or {}).get("accuracy") for b in blocks]
    fig.add_trace(bar("model", x, model, color=COLORS["model"]))
    values = list(model)
    for name in names:
        y = [((b.get("baselines") or {}).get(name) or {}).get("accuracy") for b in blocks]
        values += y
        fig.add_trace(bar(name, x, y))
    accuracy_axis(fig, values, classes=classes)
    return add_chance_line(fig, classes=classes)


def confusion_heatmap(
    confusion: Sequence[Sequence[int]],
    *,
    classes: Sequence[str] = CLASS_NAMES,
    title: str = "Confusion matrix",
) -> go.Figure:
    """Counts with rows = true class and columns = predicted class, in the order of ``classes``."""
    z = np.asarray(confusion, dtype=np.int64)  # (K, K)
    names = labels_of(classes)
    if z.shape != (len(names), len(names)):
        raise ValueError(
            f"confusion has shape {z.shape}: expected {len(names)}x{len(names)} counts "
            f"(rows = true, columns = predicted, in the order {names}); pass the run's classes"
        )
    fig = base(title)
    fig.add_trace(
        go.Heatmap(
            z=z.tolist(),
            x=[f"pred {c}" for c in names],
            y=[f"true {c}" for c in names],
            colorscale="Blues",
            text=z.tolist(),
            texttemplate="%{text}",
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=360, width=460)
    return fig


def prediction_timeline(predictions: pl.DataFrame, *, classes: Sequence[str] = CLASS_NAMES) -> go.Figure:
    """The VIX close over the holdout, each day marked green when the call was right and red when wrong."""
    names = labels_of(classes)
    require(predictions, ["date", "vix_close", "y_true", "pred"], what="predictions")
    if predictions.is_empty():
        return empty_figure("no predictions")
    p = predictions.sort("date")
    fig = base("Holdout predictions over the VIX close")
    fig.add_trace(
        go.Scatter(
            name="VIX close",
            x=p["date"].to_list(),
            y=p["vix_close"].to_list(),
            mode="lines",
            line={"color": COLORS["vix"], "width": 1},
        )
    )
    right = p["y_true"] == p["pred"]
    for name, sub in (("correct", p.filter(right)), ("wrong", p.filter(~right))):
        fig.add_trace(
            go.Scatter(
                name=name,
                x=sub["date"].to_list(),
                y=sub["vix_close"].to_list(),
                text=[
                    f"true {names[t]}, called {names[c]}"
                    for t, c in zip(sub["y_true"], sub["pred"], strict=True)
                ],
                mode="markers",
                marker={"color": COLORS[name], "size": 5},
                hovertemplate="%{x}<br>VIX %{y:.2f}<br>%{text}<extra></extra>",
            )
        )
    fig.update_yaxes(title="VIX close")
    return fig


def rolling_accuracy(
    predictions: pl.DataFrame,
    *,
    window: int = ROLLING_DAYS,
    baseline: str | None = None,
    classes: Sequence[str] = CLASS_NAMES,
) -> go.Figure:
    """Trailing ``window``-day accuracy of the model (and of one baseline's ``pred_<name>`` column, if given)."""
    require(predictions, ["date", "y_true", "pred"], what="predictions")
    if baseline is not None:
        require(predictions, [f"pred_{baseline}"], what="predictions")
    p = predictions.sort("date")
    dates = p["date"].to_list()
    fig = base(f"Rolling {window}-day accuracy")
    series = [("model", "pred", COLORS["model"])]
    if baseline is not None:
        series.append((baseline, f"pred_{baseline}", COLORS.get(baseline, COLORS["random"])))
    values: list[float | None] = []
    for name, column, color in series:
        rate = rolling_hit_rate((p["y_true"] == p[column]).to_list(), window=window)
        values += rate
        fig.add_trace(go.Scatter(name=name, x=dates, y=rate, mode="lines", line={"color": color}))
    if all(v is None for v in values):
        fig.add_annotation(
            text=f"fewer than {window} days", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
        )
    accuracy_axis(fig, values, classes=classes)
    return add_chance_line(fig, classes=classes)


# ------------------------------------------------------------------------------------------------ backtest


def _curves(curves: pl.DataFrame, names: Sequence[str], column: str, *, title: str, axis: str) -> go.Figure:
    require(curves, ["date", "forecaster", column], what="backtest curves")
    present = [n for n in names if n in set(curves["forecaster"].to_list())]
    if not present:
        return empty_figure("no backtest in this evaluation")
    fig = base(title)
    for name in present:
        sub = curves.filter(pl.col("forecaster") == name).sort("date")
        color = COLORS.get(
            "model" if name == "model" else name, COLORS["vix"] if name == "buy_and_hold" else None
        )
        fig.add_trace(
            go.Scatter(
                name=name.replace("_", " "),
                x=sub["date"].to_list(),
                y=sub[column].to_list(),
                mode="lines",
                line={"color": color, "width": 1.5},
            )
        )
    fig.update_yaxes(title=axis, tickformat=".0%" if column == "drawdown" else None)
    return fig


def equity_curve(curves: pl.DataFrame, *, names: Sequence[str]) -> go.Figure:
    """Each named forecaster's backtest value over the holdout (1.0 at the first close), beside buy-and-hold SPY."""
    return _curves(curves, names, "value", title="Backtest: value of 1 invested", axis="value")


def drawdown_curve(curves: pl.DataFrame, *, names: Sequence[str]) -> go.Figure:
    """Each named forecaster's drawdown from its running peak."""
    return _curves(
        curves, names, "drawdown", title="Backtest: drawdown from the running peak", axis="drawdown"
    )
