from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from vixray.labels import (
    CLASS_NAMES,
    DOWN,
    N_CLASSES,
    NEUTRAL,
    UP,
    check_thresholds,
    classify,
    direction_label,
    realised_label,
)


def vix(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"VIX_close": values})


def test_labels_by_hand():
    # changes: 20->21 +5% Up, 21->20.79 -1% exactly Neutral, 20.79->20.5 -1.39% Down, 20.5->20.6 +0.49% Neutral
    out = vix([20.0, 21.0, 20.79, 20.5, 20.6]).select(direction_label("^VIX").alias("y"))["y"].to_list()
    assert out == [UP, NEUTRAL, DOWN, NEUTRAL, None]


def test_exact_threshold_is_neutral():
    out = vix([100.0, 101.0, 100.0]).select(direction_label("^VIX", down=-0.02, up=0.01).alias("y"))["y"]
    assert out.to_list() == [NEUTRAL, NEUTRAL, None]  # +1% is not > 1%; -0.99% is not < -2%


def test_horizon_two_uses_t_plus_two():
    out = vix([10.0, 50.0, 10.5, 10.0]).select(direction_label("^VIX", horizon=2).alias("y"))["y"].to_list()
    assert out == [UP, DOWN, None, None]  # 10 -> 10.5 is +5%; 50 -> 10 is -80%


def test_asymmetric_thresholds():
    out = vix([100.0, 100.6, 100.0]).select(direction_label("^VIX", down=-0.003, up=0.005).alias("y"))["y"]
    assert out.to_list() == [UP, DOWN, None]


def test_label_depends_only_on_t_to_t_plus_h():
    rng = np.random.default_rng(0)
    base = 20 * np.exp(np.cumsum(rng.normal(0, 0.05, 40)))
    ref = vix(list(base)).select(direction_label("^VIX", horizon=2).alias("y"))["y"].to_list()
    for t in range(len(base) - 2):
        perturbed = base.copy()
        outside = np.ones(len(base), dtype=bool)
        outside[t : t + 3] = False
        perturbed[outside] *= rng.uniform(0.5, 2.0, outside.sum())
        got = vix(list(perturbed)).select(direction_label("^VIX", horizon=2).alias("y"))["y"].to_list()
        assert got[t] == ref[t]


def test_realised_label_is_yesterdays_label():
    frame = vix([20.0, 21.0, 20.79, 20.5, 20.6])
    out = frame.select(realised_label("^VIX").alias("p"))["p"].to_list()
    assert out == [None, UP, NEUTRAL, DOWN, NEUTRAL]


@pytest.mark.parametrize(
    ("down", "up", "match"),
    [
        (-0.01, -0.005, r"up = -0.005: the Up threshold must be >= 0"),
        (0.01, 0.02, r"down = 0.01: the Down threshold must be <= 0"),
        (0.0, 0.0, r"down = 0.0 is not below up = 0.0: the thresholds are inverted"),
    ],
)
def test_bad_thresholds(down, up, match):
    with pytest.raises(ValueError, match=match):
        check_thresholds(down=down, up=up)
    with pytest.raises(ValueError, match=match):
        classify(pl.col("x"), down=down, up=up)


def test_class_ids_are_the_positions_of_the_class_names():
    assert CLASS_NAMES == ("down", "neutral", "up") and N_CLASSES == 3
    assert (CLASS_NAMES[DOWN], CLASS_NAMES[NEUTRAL], CLASS_NAMES[UP]) == ("down", "neutral", "up")
