"""The figure functions (vixray.figures, shared with report.html, and the explorer's dashboards.figures) on small
hand-made tables: values, lines and traces checked by hand."""

from __future__ import annotations

from datetime import date, timedelta

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboards import figures
from vixray import figures as shared


def _chance_shapes(fig: go.Figure) -> list:
    return [s for s in fig.layout.shapes if s.y0 == pytest.approx(1 / 3) and s.y1 == pytest.approx(1 / 3)]


def _trace(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"expected one trace named {name!r}, got {[t.name for t in fig.data]}"
    return found[0]


def _baselines() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "baseline": ["majority"] * 3 + ["persistence"] * 3 + ["random"] * 3,
            "fold": [0, 1, -1] * 3,
            "accuracy": [0.40, 0.42, 0.41, 0.30, 0.36, 0.33, 0.33, 0.34, 0.335],
        }
    )


def _predictions() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [date(2020, 1, 1) + timedelta(days=i) for i in range(5)],
            "y_true": [0, 1, 2, 2, 1],
            "pred": [0, 2, 2, 2, 0],  # right, wrong, right, right, wrong
            "pred_persistence": [1, 1, 1, 2, 1],  # wrong, right, wrong, right, right
            "vix_close": [12.0, 13.0, 15.0, 14.0, 16.0],
        }
    )


# ------------------------------------------------------------------------------------------------ the chance line


def _accuracy_figures() -> dict[str, go.Figure]:
    folds = pl.DataFrame({"fold": [0, 1], "accuracy": [0.5, 0.45]})
    blocks = [{"block": 0, "model": {"accuracy": 0.4}, "baselines": {"majority": {"accuracy": 0.38}}}]
    return {
        "best_vs_baselines": figures.best_vs_baselines([{"label": "a/1", "model": 0.4, "majority": 0.38}]),
        "fold_accuracy": figures.fold_accuracy(folds, _baselines()),
        "block_accuracy": shared.block_accuracy(blocks),
        "rolling_accuracy": shared.rolling_accuracy(_predictions(), window=2),
    }


@pytest.mark.parametrize("name", sorted(_accuracy_figures()))
def test_every_accuracy_figure_draws_the_random_line_at_one_third(name):
    fig = _accuracy_figures()[name]
    assert len(_chance_shapes(fig)) == 1
    assert any("33.3%" in a.text for a in fig.layout.annotations)
    assert fig.layout.yaxis.tickformat == ".0%"


# ------------------------------------------------------------------------------------------------ overview / compare


def test_best_vs_baselines_carries_the_values_given_per_run():
    rows = [
        {"label": "exp/run-a", "model": 0.45, "majority": 0.40, "strongest": 0.47},
        {"label": "exp/run-b", "model": 0.38, "majority": 0.41, "strongest": None},
    ]
    fig = figures.best_vs_baselines(rows)
    assert [t.name for t in fig.data] == ["best trial", "majority", "strongest baseline (each run's own)"]
    assert list(_trace(fig, "best trial").x) == ["exp/run-a", "exp/run-b"]
    assert list(_trace(fig, "best trial").y) == [0.45, 0.38]
    assert list(_trace(fig, "majority").y) == [0.40, 0.41]
    assert list(_trace(fig, "strongest baseline (each run's own)").y) == [0.47, None]
    assert fig.layout.barmode == "group"


def test_best_vs_baselines_without_rows_says_so():
    fig = figures.best_vs_baselines([])
    assert not fig.data
    assert "no run has a finished trial" in fig.layout.annotations[0].text


# ------------------------------------------------------------------------------------------------ running best, history


def test_running_best_by_hand():
    values = [None, 3.0, None, 2.0, 5.0, 1.0]
    assert figures.running_best(values, mode="min") == [None, 3.0, 3.0, 2.0, 2.0, 1.0]
    assert figures.running_best(values, mode="max") == [None, 3.0, 3.0, 3.0, 5.0, 5.0]
    assert figures.running_best([float("nan"), 4.0], mode="min") == [None, 4.0]


def test_running_best_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode = 'lowest'"):
        figures.running_best([1.0], mode="lowest")


def _trials() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trial_id": ["t0", "t1", "t2", "t3", "t4"],
            "status": ["finished", "pruned", "errored", "finished", "finished"],
            "val_loss": [1.10, 1.05, None, 1.08, 1.02],
            "param.model.hidden_size": [16, 32, 64, 32, 16],
            "param.train.lr": [1e-4, 1e-3, 1e-2, 1e-3, 1e-4],
            "param.features.set": ["seed", "extended", "seed", "seed", "extended"],
            "param.model.dropout": [0.1, None, 0.3, None, 0.2],
        }
    )


def test_optimisation_history_running_best_is_monotone_and_hand_checked():
    fig = figures.optimisation_history(_trials(), metric="val_loss", mode="min")
    best = _trace(fig, "running best")
    assert list(best.x) == [1, 2, 3, 4, 5]
    assert list(best.y) == [1.10, 1.05, 1.05, 1.05, 1.02]
    assert all(b <= a for a, b in zip(best.y, best.y[1:], strict=False))
    finished = _trace(fig, "finished")
    assert list(finished.x) == [1, 4, 5] and list(finished.y) == [1.10, 1.08, 1.02]
    pruned = _trace(fig, "pruned")
    assert list(pruned.x) == [2] and list(pruned.y) == [1.05]


def test_optimisation_history_of_a_maximised_metric_climbs():
    trials = pl.DataFrame(
        {"trial_id": ["a", "b", "c"], "status": ["finished"] * 3, "val_accuracy": [0.4, 0.35, 0.5]}
    )
    fig = figures.optimisation_history(trials, metric="val_accuracy", mode="max")
    assert list(_trace(fig, "running best").y) == [0.4, 0.4, 0.5]


def test_optimisation_history_without_values_and_with_a_missing_column():
    empty = pl.DataFrame(
        {"trial_id": ["a"], "status": ["running"], "val_loss": [None]},
        schema_overrides={"val_loss": pl.Float64},
    )
    assert not figures.optimisation_history(empty, metric="val_loss", mode="min").data
    with pytest.raises(ValueError, match=r"trials lacks column\(s\) \['val_accuracy'\]"):
        figures.optimisation_history(empty, metric="val_accuracy", mode="max")


# ------------------------------------------------------------------------------------------------ parallel coordinates


def test_parallel_coordinates_has_a_dimension_per_parameter_plus_the_metric():
    params = ["param.model.hidden_size", "param.train.lr", "param.features.set", "param.model.dropout"]
    fig = figures.parallel_coordinates(
        _trials(), params=params, metric="val_loss", log_params={"param.train.lr"}
    )
    (trace,) = fig.data
    assert trace.type == "parcoords"
    dims = {d.label: d for d in trace.dimensions}
    assert list(dims) == ["model.hidden_size", "train.lr", "features.set", "model.dropout", "val_loss"]
    # the errored trial has no metric and is left out: four lines
    assert list(dims["val_loss"].values) == [1.10, 1.05, 1.08, 1.02]
    assert list(trace.line.color) == [1.10, 1.05, 1.08, 1.02]
    # categories become codes with their names as ticks
    assert list(dims["features.set"].ticktext) == ["extended", "seed"]
    assert list(dims["features.set"].values) == [1, 0, 1, 0]
    # a log parameter is drawn as log10, its ticks labelled in the original units
    assert list(dims["train.lr"].values) == pytest.approx([-4, -3, -3, -4])
    assert dims["train.lr"].ticktext[0] == "0.0001" and dims["train.lr"].ticktext[-1] == "0.001"
    # an inactive conditional parameter sits on an 'n/a' tick below the range
    dropout = dims["model.dropout"]
    assert dropout.ticktext[0] == "n/a"
    na = dropout.tickvals[0]
    assert list(dropout.values) == pytest.approx([0.1, na, na, 0.2])
    assert na < 0.1


def test_parallel_coordinates_with_no_finished_trial_is_empty():
    trials = _trials().with_columns(pl.lit(None, dtype=pl.Float64).alias("val_loss"))
    fig = figures.parallel_coordinates(trials, params=["param.train.lr"], metric="val_loss")
    assert not fig.data


# ------------------------------------------------------------------------------------------------ importance


def test_rank_importance_by_hand():
    trials = pl.DataFrame(
        {
            "val_loss": [1.0, 2.0, 3.0, 4.0],
            "x": [10, 20, 30, 40],  # rank correlation 1
            "z": [1, 4, 4, 1],  # centred ranks (-1, 1, 1, -1) against (-1.5, -0.5, 0.5, 1.5): correlation 0
            "c": ["a", "a", "b", "b"],  # group means of ranks 1.5 and 3.5: eta^2 = 4 / 5
        }
    )
    got = figures.rank_importance(trials, params=["x", "z", "c"], metric="val_loss")
    assert got["x"] == pytest.approx(1 / 1.8)
    assert got["z"] == pytest.approx(0.0, abs=1e-12)
    assert got["c"] == pytest.approx(0.8 / 1.8)
    assert sum(got.values()) == pytest.approx(1.0)


def test_rank_importance_needs_three_trials_with_a_value():
    trials = pl.DataFrame({"val_loss": [1.0, 2.0, None], "x": [1, 2, 3]})
    assert figures.rank_importance(trials, params=["x"], metric="val_loss") == {"x": 0.0}


def test_param_importance_puts_the_largest_on_top():
    fig = figures.param_importance({"param.train.lr": 0.7, "param.model.hidden_size": 0.3}, method="test")
    (bar,) = fig.data
    assert list(bar.y) == ["model.hidden_size", "train.lr"]  # plotly draws the last category on top
    assert list(bar.x) == [0.3, 0.7]
    assert "test" in fig.layout.title.text
    assert not figures.param_importance({}, method="test").data


# ------------------------------------------------------------------------------------------------ learning curves


def test_learning_curves_average_folds_and_mark_asha_stops():
    curves = pl.DataFrame(
        {
            "trial_id": ["a"] * 6 + ["b"] * 4,
            "epoch": [1, 1, 2, 2, 3, 3, 1, 1, 2, 2],
            "fold": [0, 1] * 5,
            "val_loss": [1.0, 1.2, 0.9, 1.1, 0.8, 1.0, 1.3, 1.5, 1.2, 1.4],
        }
    )
    fig = figures.learning_curves(curves, statuses={"a": "finished", "b": "pruned"})
    a = _trace(fig, "a")
    assert list(a.x) == [1, 2, 3] and list(a.y) == pytest.approx([1.1, 1.0, 0.9])
    stops = _trace(fig, "stopped by ASHA")
    assert list(stops.x) == [2] and list(stops.y) == pytest.approx([1.3])
    assert list(stops.text) == ["b"]


# ------------------------------------------------------------------------------------------------ trial


def test_fold_accuracy_puts_the_same_folds_baselines_beside_the_trial():
    folds = pl.DataFrame({"fold": [1, 0], "accuracy": [0.45, 0.5]})
    fig = figures.fold_accuracy(folds, _baselines(), shown=("majority", "persistence"))
    assert list(_trace(fig, "trial").x) == ["fold 0", "fold 1"]
    assert list(_trace(fig, "trial").y) == [0.5, 0.45]
    assert list(_trace(fig, "majority").y) == [0.40, 0.42]
    assert list(_trace(fig, "persistence").y) == [0.30, 0.36]
    assert {t.name for t in fig.data} == {"trial", "majority", "persistence"}  # the pooled row is not a fold


def test_fold_loss_curves_draw_train_and_val_per_fold():
    curves = pl.DataFrame(
        {
            "epoch": [1, 2, 1, 2],
            "fold": [0, 0, 1, 1],
            "train_loss": [1.0, 0.9, 1.1, 1.0],
            "val_loss": [1.05, 1.0, 1.15, 1.1],
        }
    )
    fig = figures.fold_loss_curves(curves)
    assert [t.name for t in fig.data] == ["fold 0 train", "fold 0 val", "fold 1 train", "fold 1 val"]
    assert list(_trace(fig, "fold 1 val").y) == [1.15, 1.1]
    assert _trace(fig, "fold 0 train").line.dash == "dash"


# ------------------------------------------------------------------------------------------------ evaluation


def test_block_accuracy_shows_the_model_and_every_baseline_per_block():
    blocks = [
        {
            "block": 0,
            "model": {"accuracy": 0.42},
            "baselines": {"majority": {"accuracy": 0.40}, "har": {"accuracy": 0.3}},
        },
        {
            "block": 1,
            "model": {"accuracy": 0.38},
            "baselines": {"majority": {"accuracy": 0.41}, "har": {"accuracy": 0.35}},
        },
    ]
    fig = shared.block_accuracy(blocks)
    assert [t.name for t in fig.data] == ["model", "majority", "har"]
    assert list(_trace(fig, "model").y) == [0.42, 0.38]
    assert list(_trace(fig, "har").y) == [0.3, 0.35]
    assert list(_trace(fig, "model").x) == ["block 0", "block 1"]


def test_confusion_heatmap_and_its_shape_check():
    fig = shared.confusion_heatmap([[5, 1, 0], [2, 6, 1], [0, 1, 4]])
    assert [list(row) for row in fig.data[0].z] == [[5, 1, 0], [2, 6, 1], [0, 1, 4]]
    assert list(fig.data[0].y) == ["true Down", "true Neutral", "true Up"]
    with pytest.raises(ValueError, match=r"confusion has shape \(2, 2\)"):
        shared.confusion_heatmap([[1, 0], [0, 1]])


def test_prediction_timeline_splits_right_and_wrong_days():
    fig = shared.prediction_timeline(_predictions())
    assert list(_trace(fig, "VIX close").y) == [12.0, 13.0, 15.0, 14.0, 16.0]
    assert list(_trace(fig, "correct").y) == [12.0, 15.0, 14.0]
    assert list(_trace(fig, "wrong").y) == [13.0, 16.0]
    assert list(_trace(fig, "wrong").text) == ["true Neutral, called Up", "true Neutral, called Down"]


def test_rolling_hit_rate_by_hand():
    correct = [True, False, True, True, False]
    assert shared.rolling_hit_rate(correct, window=1) == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert shared.rolling_hit_rate(correct, window=2) == [None, 0.5, 0.5, 1.0, 0.5]
    got = shared.rolling_hit_rate(correct, window=3)
    assert got[:2] == [None, None] and got[2:] == pytest.approx([2 / 3, 2 / 3, 2 / 3])
    assert shared.rolling_hit_rate(correct, window=6) == [None] * 5


@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_rolling_hit_rate_rejects_a_bad_window(window):
    with pytest.raises(ValueError, match="window = "):
        shared.rolling_hit_rate([True], window=window)


def test_rolling_accuracy_of_model_and_baseline_by_hand():
    fig = shared.rolling_accuracy(_predictions(), window=2, baseline="persistence")
    assert list(_trace(fig, "model").y) == [None, 0.5, 0.5, 1.0, 0.5]
    assert list(_trace(fig, "persistence").y) == [None, 0.5, 0.5, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['pred_har'\]"):
        shared.rolling_accuracy(_predictions(), window=2, baseline="har")


def test_rolling_accuracy_shorter_than_the_window_says_so():
    fig = shared.rolling_accuracy(_predictions(), window=60)
    assert all(v is None for v in _trace(fig, "model").y)
    assert any("fewer than 60 days" in a.text for a in fig.layout.annotations)


def test_missing_values_travel_as_json_null_not_nan():
    text = shared.rolling_accuracy(_predictions(), window=3).to_json()
    assert "NaN" not in text and "null" in text


# ------------------------------------------------------------------------------------------------ two classes

DIRECTION = ("down", "up")


def _half_shapes(fig: go.Figure) -> list:
    return [s for s in fig.layout.shapes if s.y0 == pytest.approx(0.5) and s.y1 == pytest.approx(0.5)]


def test_two_class_figures_draw_chance_at_one_half_and_name_two_classes():
    folds = pl.DataFrame({"fold": [0, 1], "accuracy": [0.5, 0.45]})
    blocks = [{"block": 0, "model": {"accuracy": 0.55}, "baselines": {"majority": {"accuracy": 0.52}}}]
    direction = _predictions().with_columns(
        y_true=pl.Series([0, 1, 1, 1, 0]), pred=pl.Series([0, 0, 1, 1, 1])
    )
    for fig in (
        figures.fold_accuracy(folds, _baselines(), classes=DIRECTION),
        shared.block_accuracy(blocks, classes=DIRECTION),
        shared.rolling_accuracy(direction, window=2, classes=DIRECTION),
    ):
        assert len(_half_shapes(fig)) == 1 and not _chance_shapes(fig)
        assert any("50.0%" in a.text for a in fig.layout.annotations)
    heat = shared.confusion_heatmap([[3, 1], [2, 4]], classes=DIRECTION)
    assert list(heat.data[0].y) == ["true Down", "true Up"] and list(heat.data[0].x) == [
        "pred Down",
        "pred Up",
    ]
    timeline = shared.prediction_timeline(direction, classes=DIRECTION)
    assert list(_trace(timeline, "wrong").text) == ["true Up, called Down", "true Down, called Up"]


def test_best_vs_baselines_draws_a_chance_line_per_number_of_classes():
    rows = [
        {"label": "a/1", "model": 0.4, "majority": 0.38, "classes": ("down", "neutral", "up")},
        {"label": "b/1", "model": 0.55, "majority": 0.52, "classes": DIRECTION},
        {"label": "c/1", "model": 0.56, "majority": 0.53, "classes": DIRECTION},
    ]
    fig = figures.best_vs_baselines(rows)
    assert len(_chance_shapes(fig)) == 1 and len(_half_shapes(fig)) == 1


def test_optimisation_history_colours_trials_by_family():
    trials = _trials().with_columns(
        pl.Series("param.model.kind", ["lstm", "gru", "gru", "transformer", "lstm"])
    )
    fig = figures.optimisation_history(trials, metric="val_loss", mode="min", colour_by="param.model.kind")
    points = {t.name: list(t.text) for t in fig.data if t.mode == "markers"}
    # the errored t2 has no value; each family's finished and pruned trials are their own trace
    assert points == {"lstm finished": ["t0", "t4"], "gru pruned": ["t1"], "transformer finished": ["t3"]}
    colours = {t.name: t.marker.color for t in fig.data if t.mode == "markers"}
    assert len(set(colours.values())) == 3
    assert list(_trace(fig, "running best").y) == [1.10, 1.05, 1.05, 1.05, 1.02]
    with pytest.raises(ValueError, match=r"trials lacks column\(s\) \['param.model.kind'\]"):
        figures.optimisation_history(_trials(), metric="val_loss", mode="min", colour_by="param.model.kind")
