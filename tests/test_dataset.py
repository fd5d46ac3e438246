from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from vixray.config import ErasConfig, ExperimentConfig, LabelConfig, experiment_from_dict
from vixray.data import synthetic_prices
from vixray.dataset import build_dataset, development_dataset, holdout_dataset, resolve_eras, usable_range
from vixray.features import NAMES
from vixray.labels import DIRECTION

TICKERS = ("SPY", "QQQ", "^VIX")
ALL_TICKERS = ("SPY", "QQQ", "^VIX", "^VIX3M", "^VIX9D", "^VXN")


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return synthetic_prices(n_days=400, seed=3)


def test_resolve_last_fraction(prices):
    eras = resolve_eras(prices["date"], ErasConfig(holdout_fraction=0.25))
    dates = prices["date"].to_list()
    assert eras.holdout == (dates[300], dates[-1])
    assert eras.development == (dates[0], dates[299])


def test_resolve_dates_clip_to_data(prices):
    dates = prices["date"].to_list()
    cfg = ErasConfig(development_start=date(1990, 1, 1), holdout_start=dates[350])
    eras = resolve_eras(prices["date"], cfg)
    assert eras.development == (dates[0], dates[349])
    assert eras.holdout == (dates[350], dates[-1])
    assert eras.to_dict()["holdout"]["start"] == dates[350].isoformat()


def test_resolve_errors(prices):
    last = prices["date"][-1]
    with pytest.raises(
        ValueError, match=r"holds no trading day of the data loaded.*write 'holdout: last 20%'"
    ):
        resolve_eras(prices["date"], ErasConfig(holdout_start=date(2099, 1, 1)))
    with pytest.raises(ValueError, match=r"eras.development ends before any trading day"):
        resolve_eras(prices["date"], ErasConfig(holdout_start=prices["date"][0]))
    with pytest.raises(ValueError, match=r"no trading days were loaded"):
        resolve_eras([], ErasConfig(holdout_start=last))


@pytest.fixture(scope="module")
def all_prices() -> pl.DataFrame:
    return synthetic_prices(n_days=400, seed=3, tickers=ALL_TICKERS)


@pytest.mark.parametrize("kind", ["threshold", DIRECTION])
@pytest.mark.parametrize("feature_set", [*NAMES, "seed+calendar+term"])
def test_no_table_reads_a_holdout_price(all_prices, feature_set, kind):
    exp = experiment_from_dict(
        {
            "name": "t",
            "data": {"tickers": list(ALL_TICKERS)},
            "features": {"set": feature_set},
            "labels": {"kind": kind},
        }
    )
    eras = resolve_eras(all_prices["date"], exp.eras)
    dev = development_dataset(all_prices, exp, eras)
    assert dev.classes == exp.labels.classes and max(dev.frame["label_date"]) <= eras.development[1]
    assert max(dev.dates) < eras.development[1]
    # wreck every holdout price: the development table is bit-for-bit the same
    wrecked = all_prices.with_columns(
        pl.when(pl.col("date") >= eras.holdout[0]).then(pl.col(c) * 7.0).otherwise(pl.col(c)).alias(c)
        for c in all_prices.columns
        if c != "date"
    )
    assert development_dataset(wrecked, exp, eras).frame.equals(dev.frame)


def test_direction_labels_are_the_sign_of_the_next_change(prices):
    ds = build_dataset(
        prices, tickers=TICKERS, feature_set="seed", labels=LabelConfig(kind=DIRECTION, down=0.0, up=0.0)
    )
    assert ds.classes == ("down", "up") and ds.n_classes == 2
    vix = prices.select("date", "VIX_close").with_columns(
        up=pl.col("VIX_close").shift(-1) > pl.col("VIX_close")
    )
    expected = ds.frame.select("date").join(vix, on="date", how="left")["up"].cast(pl.Int64).to_numpy()
    np.testing.assert_array_equal(ds.y, expected)
    np.testing.assert_array_equal(ds.column("prev_label")[1:], ds.y[:-1])


def test_each_set_starts_where_its_own_inputs_start(all_prices):
    # ^VIX3M known from row 200 only: the sets that read it start there, the others keep every row
    late = all_prices.with_columns(
        pl.when(pl.int_range(pl.len()) >= 200).then(pl.col(c)).otherwise(None).alias(c)
        for c in all_prices.columns
        if c.startswith("VIX3M_")
    )
    labels = LabelConfig()
    first = {s: usable_range(late, tickers=ALL_TICKERS, feature_set=s, labels=labels)["first"] for s in NAMES}
    dates = late["date"].to_list()
    assert first["seed"] == first["calendar"] == dates[21]  # the HAR terms' 22-day warm-up
    assert first["vix"] == first["realised"] == dates[22]  # 22-day changes and variances need 23 closes
    assert first["extended"] == first["term"] == first["full"] == dates[200]


def test_holdout_dataset_marks_first_holdout_row(prices):
    exp = ExperimentConfig(name="t")
    eras = resolve_eras(prices["date"], exp.eras)
    full, first = holdout_dataset(prices, exp, eras)
    assert full.dates[first] == eras.holdout[0]
    assert full.dates[first - 1] < eras.holdout[0]


def test_dataset_columns_and_no_nulls(prices):
    ds = build_dataset(prices, tickers=TICKERS, feature_set="extended", labels=LabelConfig())
    assert ds.X.shape == (len(ds), len(ds.feature_names)) and ds.X.dtype == np.float64
    assert set(np.unique(ds.y)) <= {0, 1, 2}
    assert ds.frame.null_count().sum_horizontal()[0] == 0
    for col in ("label", "label_date", "prev_label", "har_1", "har_5", "har_22", "target_log_change"):
        assert col in ds.frame.columns
    # prev_label is yesterday's label
    np.testing.assert_array_equal(ds.column("prev_label")[1:], ds.y[:-1])


def test_another_index_as_the_target_moves_the_label_and_the_baselines_inputs(all_prices):
    exp = experiment_from_dict(
        {
            "name": "t",
            "data": {"tickers": list(ALL_TICKERS)},
            "features": {"blocks": ["seed", "target"]},
            "labels": {"kind": DIRECTION, "target": "^VXN"},
        }
    )
    eras = resolve_eras(all_prices["date"], exp.eras)
    dev = development_dataset(all_prices, exp, eras)
    vxn = all_prices.select(
        "date",
        up=(pl.col("VXN_close").shift(-1) > pl.col("VXN_close")).cast(pl.Int64),
        ret=(pl.col("VXN_adj_close") / pl.col("VXN_adj_close").shift(1) - 1),
        har_1=pl.col("VXN_adj_close").log(),
    )
    joined = dev.frame.select("date", "label", "tgt_ret", "har_1").join(vxn, on="date", how="left")
    np.testing.assert_array_equal(joined["label"].to_numpy(), joined["up"].to_numpy())
    np.testing.assert_allclose(joined["tgt_ret"].to_numpy(), joined["ret"].to_numpy())
    np.testing.assert_allclose(joined["har_1"].to_numpy(), joined["har_1_right"].to_numpy())
