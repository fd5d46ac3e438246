"""Figures of the results explorer: pure functions from store tables (Polars) or report dicts to Plotly figures.

Every accuracy figure carries the 33.3% line of a uniform random guess among Down / Neutral / Up, so a bar is read
against chance at a glance; the majority and persistence baselines sit beside the model on the same rows. The few
statistics drawn here (running best, rolling hit rate, a rank-based parameter importance) are computed here too, as
plain functions a test can check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

CHANCE = 1.0 / 3.0
CLASSES = ("Down", "Neutral", "Up")
COMPARED_BASELINES = ("majority", "persistence")
PARAM_PREFIX = "param."
COLORS = {
    "model": "#1f77b4",
    "majority": "#ff7f0e",
    "persistence": "#2ca02c",
    "random": "#7f7f7f",
    "stratified": "#9467bd",
    "logistic": "#8c564b",
    "har": "#e377c2",
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


def _require(frame: pl.DataFrame, columns: Sequence[str], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {missing}; it has {sorted(frame.columns)}: pass a table in the store's schema"
        )


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"mode = {mode!r}: use 'min' (lower is better) or 'max' (higher is better)")


def _label(column: str) -> str:
    return column[len(PARAM_PREFIX) :] if column.startswith(PARAM_PREFIX) else column


def _base(title: str, **layout: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title, template=_TEMPLATE, height=_HEIGHT, margin={"l": 60, "r": 30, "t": 60, "b": 50}, **layout
    )
    return fig


def add_chance_line(fig: go.Figure) -> go.Figure:
    """The 33.3% accuracy of guessing one of three classes uniformly at random."""
    fig.add_hline(
        y=CHANCE,
        line_dash="dash",
        line_color=COLORS["random"],
        annotation_text="random 33.3%",
        annotation_position="top left",
    )
    return fig


def _accuracy_axis(fig: go.Figure, values: Sequence[float | None]) -> None:
    # leave room above the highest bar for its label; never cut the chance line off
    top = max([v for v in values if v is not None and math.isfinite(v)] + [CHANCE])
    fig.update_yaxes(title="accuracy", tickformat=".0%", range=[0, min(1.0, top + 0.12)])


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why there is nothing to draw (no trials yet, a missing file...)."""
    fig = _base("")
    fig.update_layout(height=220)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return fig


def _bar(name: str, x: Sequence[Any], y: Sequence[float | None], *, color: str | None = None) -> go.Bar:
    return go.Bar(
        name=name,
        x=list(x),
        y=list(y),
        marker_color=color or COLORS.get(name),
        texttemplate="%{y:.1%}",
        textposition="outside",
    )


# ------------------------------------------------------------------------------------------------ statistics


def running_best(values: Sequence[float | None], *, mode: str) -> list[float | None]:
    """Best value so far at each position (None until the first value); None entries carry the best forward."""
    _check_mode(mode)
    better = min if mode == "min" else max
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            best = v if best is None else better(best, v)
        out.append(best)
    return out


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


def _ranks(values: np.ndarray) -> np.ndarray:
    return pl.Series(values).rank("average").to_numpy().astype(np.float64)


def rank_importance(trials: pl.DataFrame, *, params: Sequence[str], metric: str) -> dict[str, float]:
    """A model-free importance estimate, normalised to sum to 1 (all 0 when nothing varies with the metric).

    A numeric parameter scores the squared Spearman correlation of its values with the metric; a categorical one
    the share of the metric's rank variance explained by its categories (eta squared). Only trials with a value
    for both count; fewer than three such trials score 0.
    """
    _require(trials, [metric, *params], what="trials")
    scores: dict[str, float] = {}
    for name in params:
        sub = trials.select(name, metric).drop_nulls()
        sub = sub.filter(pl.col(metric).is_not_nan()) if sub[metric].dtype.is_float() else sub
        if sub.height < 3 or sub[name].n_unique() < 2:
            scores[name] = 0.0
            continue
        y = _ranks(sub[metric].to_numpy())  # (n,)
        if sub[name].dtype.is_numeric():
            x = _ranks(sub[name].to_numpy().astype(np.float64))  # (n,)
            rho = float(np.corrcoef(x, y)[0, 1]) if y.std() > 0 else 0.0
            scores[name] = rho * rho
        else:
            groups = sub[name].cast(pl.String).to_numpy()
            total = float(((y - y.mean()) ** 2).sum())
            between = sum(
                (groups == g).sum() * (y[groups == g].mean() - y.mean()) ** 2 for g in np.unique(groups)
            )
            scores[name] = float(between / total) if total > 0 else 0.0
    total = sum(scores.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in scores.items()}


# ------------------------------------------------------------------------------------------------ overview, compare


def best_vs_baselines(
    rows: Sequence[Mapping[str, Any]], *, baselines: Sequence[str] = COMPARED_BASELINES
) -> go.Figure:
    """Grouped bars per run (or trial): the best trial's test accuracy and each baseline's, pooled over folds.

    ``rows`` hold ``label``, ``model`` and one key per baseline (None where it is unknown).
    """
    if not rows:
        return empty_figure("no run has a finished trial yet")
    labels = [str(r["label"]) for r in rows]
    fig = _base("Best trial's test accuracy vs baselines (pooled over the folds)", barmode="group")
    fig.add_trace(_bar("best trial", labels, [r.get("model") for r in rows], color=COLORS["model"]))
    for name in baselines:
        fig.add_trace(_bar(name, labels, [r.get(name) for r in rows]))
    _accuracy_axis(fig, [r.get(k) for r in rows for k in ("model", *baselines)])
    return add_chance_line(fig)


# ------------------------------------------------------------------------------------------------ search


def optimisation_history(trials: pl.DataFrame, *, metric: str, mode: str) -> go.Figure:
    """The search metric of each trial in the order trials were started, and the running best."""
    _check_mode(mode)
    _require(trials, ["trial_id", "status", metric], what="trials")
    values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in trials[metric]]
    if all(v is None for v in values):
        return empty_figure(f"no trial has reported {metric} yet")
    order = list(range(1, trials.height + 1))
    better = "lower" if mode == "min" else "higher"
    fig = _base(f"Optimisation history: {metric} by trial ({better} is better)")
    for status, symbol in (("finished", "circle"), ("pruned", "x")):
        keep = [i for i, s in enumerate(trials["status"]) if s == status and values[i] is not None]
        if keep:
            fig.add_trace(
                go.Scatter(
                    name=status,
                    x=[order[i] for i in keep],
                    y=[values[i] for i in keep],
                    text=[trials["trial_id"][i] for i in keep],
                    mode="markers",
                    marker={"symbol": symbol, "color": COLORS[status], "size": 9},
                    hovertemplate="%{text}<br>%{y:.4f}<extra></extra>",
                )
            )
    best = running_best(values, mode=mode)
    shown = [i for i, b in enumerate(best) if b is not None]
    fig.add_trace(
        go.Scatter(
            name="running best",
            x=[order[i] for i in shown],
            y=[best[i] for i in shown],
            mode="lines",
            line={"shape": "hv", "color": COLORS["best"]},
        )
    )
    fig.update_xaxes(title="trial (start order)")
    fig.update_yaxes(title=metric)
    return fig


def _numeric_dimension(label: str, values: list[float | None], *, log: bool) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    if log and present and min(present) > 0:
        values = [math.log10(v) if v is not None else None for v in values]
        present = [v for v in values if v is not None]
    lo, hi = (min(present), max(present)) if present else (0.0, 1.0)
    ticks = list(np.linspace(lo, hi, 5)) if hi > lo else [lo]
    text = [f"{(10**t if log else t):.3g}" for t in ticks]
    if any(v is None for v in values):  # inactive conditional parameters sit below the axis, labelled n/a
        missing = lo - 0.15 * ((hi - lo) or 1.0)
        values = [missing if v is None else v for v in values]
        ticks, text = [missing, *ticks], ["n/a", *text]
    return {"label": label, "values": values, "tickvals": ticks, "ticktext": text}


def _categorical_dimension(label: str, values: list[Any]) -> dict[str, Any]:
    names = ["n/a" if v is None else str(v) for v in values]
    categories = sorted(set(names), key=lambda c: (c == "n/a", c))
    code = {c: i for i, c in enumerate(categories)}
    return {
        "label": label,
        "values": [code[n] for n in names],
        "tickvals": list(range(len(categories))),
        "ticktext": categories,
        "range": [-0.5, len(categories) - 0.5] if len(categories) > 1 else [-1, 1],
    }


def parallel_coordinates(
    trials: pl.DataFrame,
    *,
    params: Sequence[str],
    metric: str,
    mode: str = "min",
    log_params: Collection[str] = (),
) -> go.Figure:
    """One axis per hyperparameter (categorical ones get their categories as ticks) and one for the metric;
    lines coloured by the metric. ``log_params`` are drawn on a log10 axis."""
    _check_mode(mode)
    _require(trials, [metric, *params], what="trials")
    done = trials.filter(pl.col(metric).is_not_null())
    if done.is_empty():
        return empty_figure(f"no trial has reported {metric} yet")
    dims = []
    for name in params:
        col = done[name]
        if col.dtype.is_numeric():
            dims.append(
                _numeric_dimension(_label(name), col.cast(pl.Float64).to_list(), log=name in log_params)
            )
        else:
            dims.append(_categorical_dimension(_label(name), col.to_list()))
    metric_values = done[metric].cast(pl.Float64).to_list()
    dims.append({"label": metric, "values": metric_values})
    fig = _base(f"Hyperparameters of {done.height} trials, coloured by {metric}")
    fig.add_trace(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": metric_values,
                "colorscale": "Viridis",
                "reversescale": mode == "min",  # the best trials get the bright end either way
                "showscale": True,
                "colorbar": {"title": {"text": metric}},
            },
        )
    )
    fig.update_layout(margin={"l": 80, "r": 80, "t": 90, "b": 40})
    return fig


def param_importance(importances: Mapping[str, float], *, method: str) -> go.Figure:
    """Horizontal bars, the most important parameter on top."""
    if not importances:
        return empty_figure("no parameter importance: too few trials with a value")
    ordered = sorted(importances.items(), key=lambda kv: kv[1])
    fig = _base(f"Parameter importance ({method})")
    fig.add_trace(
        go.Bar(
            x=[v for _, v in ordered],
            y=[_label(k) for k, _ in ordered],
            orientation="h",
            marker_color=COLORS["model"],
            texttemplate="%{x:.2f}",
            textposition="outside",
        )
    )
    fig.update_xaxes(title="importance (sums to 1)", range=[0, 1.1])
    return fig


def learning_curves(curves: pl.DataFrame, *, statuses: Mapping[str, str]) -> go.Figure:
    """Mean validation loss over folds by epoch, one line per trial; ASHA's stops (the last epoch of each pruned
    trial) are marked."""
    _require(curves, ["trial_id", "epoch", "fold", "val_loss"], what="curves")
    if curves.is_empty():
        return empty_figure("no epoch reported yet")
    mean = curves.group_by("trial_id", "epoch").agg(pl.col("val_loss").mean()).sort("trial_id", "epoch")
    fig = _base("Learning curves: mean validation loss over folds")
    stops_x, stops_y, stops_text = [], [], []
    for trial_id in mean["trial_id"].unique(maintain_order=True).to_list():
        sub = mean.filter(pl.col("trial_id") == trial_id)
        status = statuses.get(trial_id, "unknown")
        fig.add_trace(
            go.Scatter(
                name=trial_id,
                x=sub["epoch"].to_list(),
                y=sub["val_loss"].to_list(),
                mode="lines",
                line={"color": COLORS.get(status, COLORS["random"]), "width": 1.5},
                legendgroup=status,
                hovertemplate=f"{trial_id} ({status})<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>",
                showlegend=False,
            )
        )
        if status == "pruned":
            stops_x.append(sub["epoch"][-1])
            stops_y.append(sub["val_loss"][-1])
            stops_text.append(trial_id)
    fig.add_trace(
        go.Scatter(
            name="stopped by ASHA",
            x=stops_x,
            y=stops_y,
            text=stops_text,
            mode="markers",
            marker={"symbol": "x", "size": 11, "color": COLORS["wrong"]},
            hovertemplate="%{text} stopped after epoch %{x}<extra></extra>",
        )
    )
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="mean validation loss")
    return fig


# ------------------------------------------------------------------------------------------------ trial


def fold_accuracy(
    folds: pl.DataFrame, baselines: pl.DataFrame, *, shown: Sequence[str] = COMPARED_BASELINES
) -> go.Figure:
    """A trial's test accuracy per fold beside the baselines on the same fold's rows."""
    _require(folds, ["fold", "accuracy"], what="folds")
    _require(baselines, ["baseline", "fold", "accuracy"], what="baselines")
    if folds.is_empty():
        return empty_figure("no fold has a test result")
    folds = folds.sort("fold")
    ks = folds["fold"].to_list()
    x = [f"fold {k}" for k in ks]
    fig = _base("Test accuracy by fold", barmode="group")
    fig.add_trace(_bar("trial", x, folds["accuracy"].to_list(), color=COLORS["model"]))
    values = folds["accuracy"].to_list()
    for name in shown:
        sub = baselines.filter(pl.col("baseline") == name)
        by_fold = dict(zip(sub["fold"].to_list(), sub["accuracy"].to_list(), strict=True))
        y = [by_fold.get(k) for k in ks]
        values += y
        fig.add_trace(_bar(name, x, y))
    _accuracy_axis(fig, values)
    return add_chance_line(fig)


def fold_loss_curves(curves: pl.DataFrame) -> go.Figure:
    """Training (dashed) and validation (solid) loss by epoch, one colour per fold."""
    _require(curves, ["epoch", "fold", "train_loss", "val_loss"], what="curves")
    if curves.is_empty():
        return empty_figure("no epoch reported for this trial")
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    fig = _base("Loss by epoch and fold")
    for i, fold in enumerate(sorted(curves["fold"].unique().to_list())):
        sub = curves.filter(pl.col("fold") == fold).sort("epoch")
        color = palette[i % len(palette)]
        for key, dash in (("train_loss", "dash"), ("val_loss", "solid")):
            fig.add_trace(
                go.Scatter(
                    name=f"fold {fold} {key.split('_')[0]}",
                    x=sub["epoch"].to_list(),
                    y=sub[key].to_list(),
                    mode="lines+markers",
                    line={"color": color, "dash": dash},
                    legendgroup=f"fold {fold}",
                )
            )
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="cross-entropy loss")
    return fig


# ------------------------------------------------------------------------------------------------ evaluation


def block_accuracy(
    blocks: Sequence[Mapping[str, Any]], *, baselines: Sequence[str] | None = None
) -> go.Figure:
    """Holdout accuracy per walk-forward block: the model beside each baseline (all of the report's by default)."""
    if not blocks:
        return empty_figure("the report has no blocks")
    names = list(baselines) if baselines is not None else list(blocks[0].get("baselines", {}))
    x = [f"block {b.get('block', i)}" for i, b in enumerate(blocks)]
    fig = _base("Holdout accuracy by block", barmode="group")
    model = [(b.get("model") or {}).get("accuracy") for b in blocks]
    fig.add_trace(_bar("model", x, model, color=COLORS["model"]))
    values = list(model)
    for name in names:
        y = [((b.get("baselines") or {}).get(name) or {}).get("accuracy") for b in blocks]
        values += y
        fig.add_trace(_bar(name, x, y))
    _accuracy_axis(fig, values)
    return add_chance_line(fig)


def confusion_heatmap(confusion: Sequence[Sequence[int]], *, title: str = "Confusion matrix") -> go.Figure:
    """Counts with rows = true class and columns = predicted class."""
    z = np.asarray(confusion, dtype=np.int64)  # (K, K)
    if z.shape != (len(CLASSES), len(CLASSES)):
        raise ValueError(
            f"confusion has shape {z.shape}: expected {len(CLASSES)}x{len(CLASSES)} counts "
            f"(rows = true, columns = predicted, in the order {list(CLASSES)})"
        )
    fig = _base(title)
    fig.add_trace(
        go.Heatmap(
            z=z.tolist(),
            x=[f"pred {c}" for c in CLASSES],
            y=[f"true {c}" for c in CLASSES],
            colorscale="Blues",
            text=z.tolist(),
            texttemplate="%{text}",
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=360, width=460)
    return fig


def prediction_timeline(predictions: pl.DataFrame) -> go.Figure:
    """The VIX close over the holdout, each day marked green when the call was right and red when wrong."""
    _require(predictions, ["date", "vix_close", "y_true", "pred"], what="predictions")
    if predictions.is_empty():
        return empty_figure("no predictions")
    p = predictions.sort("date")
    fig = _base("Holdout predictions over the VIX close")
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
                    f"true {CLASSES[t]}, called {CLASSES[c]}"
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
    predictions: pl.DataFrame, *, window: int = 60, baseline: str | None = None
) -> go.Figure:
    """Trailing ``window``-day accuracy of the model (and of one baseline's ``pred_<name>`` column, if given)."""
    _require(predictions, ["date", "y_true", "pred"], what="predictions")
    if baseline is not None:
        _require(predictions, [f"pred_{baseline}"], what="predictions")
    p = predictions.sort("date")
    dates = p["date"].to_list()
    fig = _base(f"Rolling {window}-day accuracy")
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
    _accuracy_axis(fig, values)
    return add_chance_line(fig)
