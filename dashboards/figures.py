"""Figures of the results explorer's search, trial and overview pages: pure functions from store tables (Polars) to
Plotly figures. The holdout figures, shared with ``report.html``, and the palette and chance line are in
:mod:`vixray.figures`.

The few statistics drawn here (running best, a rank-based parameter importance) are computed here too, as plain
functions a test can check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from vixray.figures import (
    COLORS,
    accuracy_axis,
    add_chance_line,
    bar,
    base,
    check_mode,
    empty_figure,
    param_label,
    require,
)
from vixray.labels import CLASS_NAMES

# beside each run's best trial: always calling the most frequent class, and the run's strongest baseline
COMPARED_BASELINES = ("majority", "strongest")


# ------------------------------------------------------------------------------------------------ statistics


def running_best(values: Sequence[float | None], *, mode: str) -> list[float | None]:
    """Best value so far at each position (None until the first value); None entries carry the best forward."""
    check_mode(mode)
    better = min if mode == "min" else max
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            best = v if best is None else better(best, v)
        out.append(best)
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    return pl.Series(values).rank("average").to_numpy().astype(np.float64)


def rank_importance(trials: pl.DataFrame, *, params: Sequence[str], metric: str) -> dict[str, float]:
    """A model-free importance estimate, normalised to sum to 1 (all 0 when nothing varies with the metric).

    A numeric parameter scores the squared Spearman correlation of its values with the metric; a categorical one
    the share of the metric's rank variance explained by its categories (eta squared). Only trials with a value
    for both count; fewer than three such trials score 0.
    """
    require(trials, [metric, *params], what="trials")
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

    ``rows`` hold ``label``, ``model`` and one key per baseline (None where it is unknown), and may hold the run's
    ``classes``: a chance line is drawn for every number of classes among the rows (three when none says).
    """
    if not rows:
        return empty_figure("no run has a finished trial yet")
    labels = [str(r["label"]) for r in rows]
    fig = base("Best trial's test accuracy vs baselines (pooled over the folds)", barmode="group")
    fig.add_trace(bar("best trial", labels, [r.get("model") for r in rows], color=COLORS["model"]))
    for name in baselines:
        legend = "strongest baseline (each run's own)" if name == "strongest" else name
        fig.add_trace(bar(legend, labels, [r.get(name) for r in rows], color=COLORS.get(name)))
    accuracy_axis(fig, [r.get(k) for r in rows for k in ("model", *baselines)])
    by_count = {len(r.get("classes") or CLASS_NAMES): tuple(r.get("classes") or CLASS_NAMES) for r in rows}
    for classes in by_count.values():
        add_chance_line(fig, classes=classes)
    return fig


# ------------------------------------------------------------------------------------------------ search


GROUP_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")  # one per group, in order


def optimisation_history(
    trials: pl.DataFrame, *, metric: str, mode: str, colour_by: str | None = None
) -> go.Figure:
    """The search metric of each trial in the order trials were started, and the running best. With ``colour_by``
    (a column such as ``param.model.kind``) each of its values gets a colour, finished trials circles and pruned ones
    crosses."""
    check_mode(mode)
    require(trials, ["trial_id", "status", metric, *([colour_by] if colour_by else [])], what="trials")
    values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in trials[metric]]
    if all(v is None for v in values):
        return empty_figure(f"no trial has reported {metric} yet")
    order = list(range(1, trials.height + 1))
    better = "lower" if mode == "min" else "higher"
    fig = base(f"Optimisation history: {metric} by trial ({better} is better)")
    groups = [str(g) for g in trials[colour_by]] if colour_by else ["" for _ in range(trials.height)]
    palette = {g: GROUP_COLORS[k % len(GROUP_COLORS)] for k, g in enumerate(dict.fromkeys(groups))}
    for group, colour in palette.items():
        for status, symbol in (("finished", "circle"), ("pruned", "x")):
            keep = [
                i
                for i, s in enumerate(trials["status"])
                if s == status and values[i] is not None and groups[i] == group
            ]
            if keep:
                fig.add_trace(
                    go.Scatter(
                        name=f"{group} {status}" if colour_by else status,
                        x=[order[i] for i in keep],
                        y=[values[i] for i in keep],
                        text=[trials["trial_id"][i] for i in keep],
                        mode="markers",
                        marker={
                            "symbol": symbol,
                            "color": colour if colour_by else COLORS[status],
                            "size": 9,
                        },
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
    check_mode(mode)
    require(trials, [metric, *params], what="trials")
    done = trials.filter(pl.col(metric).is_not_null())
    if done.is_empty():
        return empty_figure(f"no trial has reported {metric} yet")
    dims = []
    for name in params:
        col = done[name]
        if col.dtype.is_numeric():
            dims.append(
                _numeric_dimension(param_label(name), col.cast(pl.Float64).to_list(), log=name in log_params)
            )
        else:
            dims.append(_categorical_dimension(param_label(name), col.to_list()))
    metric_values = done[metric].cast(pl.Float64).to_list()
    dims.append({"label": metric, "values": metric_values})
    fig = base(f"Hyperparameters of {done.height} trials, coloured by {metric}")
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
    fig = base(f"Parameter importance ({method})")
    fig.add_trace(
        go.Bar(
            x=[v for _, v in ordered],
            y=[param_label(k) for k, _ in ordered],
            orientation="h",
            marker_color=COLORS["model"],
            texttemplate="%{x:.2f}",
            textposition="outside",
        )
    )
    fig.update_xaxes(title="importance (sums to 1)", range=[0, 1.1])
    return fig


def block_importance(explained: Mapping[str, Any] | None) -> go.Figure:
    """Permutation importance of each feature block (block_importance.json): the drop in test accuracy (left) and
    the rise in log loss (right) when the block is shuffled, for the best trial and the boosting baseline, with the
    spread over the permutations."""
    forecasters: list[tuple[str, Mapping[str, Any]]] = [
        (label, explained[key])
        for label, key in (("best trial", "model"), ("boosting", "boosting"))
        if explained and explained.get(key)
    ]
    if not forecasters:
        return empty_figure("no block importance yet: the search writes it when it ends")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy drop", "log-loss rise"), shared_yaxes=True)
    for label, found in forecasters:
        blocks = found["blocks"]
        names = list(blocks)
        color = COLORS["model"] if label == "best trial" else COLORS["boosting"]
        for col, key in ((1, "accuracy_drop"), (2, "log_loss_rise")):
            fig.add_trace(
                go.Bar(
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    x=[blocks[n][key] for n in names],
                    y=names,
                    orientation="h",
                    marker_color=color,
                    error_x={"type": "data", "array": [blocks[n].get(f"{key}_sd") or 0.0 for n in names]},
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        title="Which inputs matter: each feature block shuffled on the development test days",
        template="plotly_white",
        barmode="group",
        height=360,
    )
    fig.update_xaxes(tickformat=".1%", row=1, col=1)
    return fig


def learning_curves(curves: pl.DataFrame, *, statuses: Mapping[str, str]) -> go.Figure:
    """Mean validation loss over folds by epoch, one line per trial; ASHA's stops (the last epoch of each pruned
    trial) are marked."""
    require(curves, ["trial_id", "epoch", "fold", "val_loss"], what="curves")
    if curves.is_empty():
        return empty_figure("no epoch reported yet")
    mean = curves.group_by("trial_id", "epoch").agg(pl.col("val_loss").mean()).sort("trial_id", "epoch")
    fig = base("Learning curves: mean validation loss over folds")
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
    folds: pl.DataFrame,
    baselines: pl.DataFrame,
    *,
    shown: Sequence[str] = ("majority",),
    classes: Sequence[str] = CLASS_NAMES,
) -> go.Figure:
    """A trial's test accuracy per fold beside the baselines on the same fold's rows."""
    require(folds, ["fold", "accuracy"], what="folds")
    require(baselines, ["baseline", "fold", "accuracy"], what="baselines")
    if folds.is_empty():
        return empty_figure("no fold has a test result")
    folds = folds.sort("fold")
    ks = folds["fold"].to_list()
    x = [f"fold {k}" for k in ks]
    fig = base("Test accuracy by fold", barmode="group")
    fig.add_trace(bar("trial", x, folds["accuracy"].to_list(), color=COLORS["model"]))
    values = folds["accuracy"].to_list()
    for name in shown:
        sub = baselines.filter(pl.col("baseline") == name)
        by_fold = dict(zip(sub["fold"].to_list(), sub["accuracy"].to_list(), strict=True))
        y = [by_fold.get(k) for k in ks]
        values += y
        fig.add_trace(bar(name, x, y))
    accuracy_axis(fig, values, classes=classes)
    return add_chance_line(fig, classes=classes)


def fold_loss_curves(curves: pl.DataFrame) -> go.Figure:
    """Training (dashed) and validation (solid) loss by epoch, one colour per fold."""
    require(curves, ["epoch", "fold", "train_loss", "val_loss"], what="curves")
    if curves.is_empty():
        return empty_figure("no epoch reported for this trial")
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    fig = base("Loss by epoch and fold")
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
