from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import yaml
from specs import tiny_experiment

from vixray.baselines import BASELINES
from vixray.cli import main

# the tiny experiment as a preset: no search section, five-seed synthetic prices, two epochs
TINY = tiny_experiment(source="synthetic:5", max_epochs=2, search=False)
TINY["split"].update(train_size=300, test_size=80)
TINY["train"]["batch_size"] = 64
del TINY["name"]


def test_data_prints_coverage_and_label_mix(capsys):
    assert main(["data", "--data", "synthetic:1"]) == 0
    out = capsys.readouterr().out
    assert "source: synthetic" in out and "common range:" in out
    assert "SPY" in out and "^VIX" in out
    assert "threshold ±1.00%" in out and "neutral" in out
    # the direction framing's two classes, each share printed: down x%, up y% summing to 100%
    (direction,) = [line for line in out.splitlines() if "direction (Up if higher)" in line]
    shares = [float(part.split()[-1].rstrip("%")) for part in direction.split(": ")[1].split(", ")]
    assert len(shares) == 2 and sum(shares) == pytest.approx(100.0, abs=0.11)
    # one line per feature set with its usable range; the term block's tickers are named when absent
    for name in ("seed", "extended", "calendar", "full"):
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name
    assert "the term block reads ['^VIX3M', '^VIX9D', '^VXN']" in out


def test_data_offline_yahoo_is_a_clean_error(monkeypatch, tmp_path, caplog):
    import pandas as pd
    import yfinance

    monkeypatch.setenv("VIXRAY_CACHE", str(tmp_path))
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pd.DataFrame())
    assert main(["data", "--data", "yahoo"]) == 2
    assert "SPY" in caplog.text and "sample" in caplog.text and "csv:" in caplog.text
    assert "Traceback" not in caplog.text


def test_features_export(tmp_path):
    out = tmp_path / "f.parquet"
    assert main(["features", "--data", "synthetic:2", "--set", "seed", "--out", str(out)]) == 0
    frame = pl.read_parquet(out)
    assert frame.columns == [
        "date",
        "spy_ret",
        "qqq_ret",
        "vix_ret",
        "spy_std5",
        "qqq_std5",
        "qqq_spy_spread",
        "label",
    ]
    assert frame["label"].null_count() == 0 and frame.height > 1000
    csv = tmp_path / "f.csv"
    assert (
        main(
            [
                "features",
                "--data",
                "synthetic:2",
                "--set",
                "extended",
                "--start",
                "2011-01-01",
                "--out",
                str(csv),
            ]
        )
        == 0
    )
    assert pl.read_csv(csv)["date"].min() >= "2011-01-01"


def test_features_full_set_loads_the_optional_indexes_it_reads(tmp_path, caplog):
    out = tmp_path / "full.parquet"
    with caplog.at_level("INFO", logger="vixray"):
        assert main(["features", "--data", "synthetic:2", "--set", "full", "--out", str(out)]) == 0
    columns = pl.read_parquet(out).columns
    assert {"vix_vix3m", "vix9d_vix", "vxn_vix", "vrp22", "spy_vix_corr22", "day_mon", "days_to_next"} <= set(
        columns
    )
    assert "tickers SPY QQQ ^VIX ^VIX3M ^VIX9D ^VXN" in caplog.text
    assert main(["features", "--data", "synthetic:2", "--set", "seed+oops", "--out", str(out)]) == 2
    assert "unknown feature set or block 'oops'" in caplog.text


def test_features_bad_output_suffix(tmp_path, caplog):
    assert main(["features", "--data", "synthetic:2", "--out", str(tmp_path / "f.txt")]) == 2
    assert "--out" in caplog.text and ".parquet or .csv" in caplog.text
    assert not (tmp_path / "f.txt").exists()


def test_cv_overrides_change_the_framing_and_the_folds(tmp_path, capsys, caplog):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out_json = tmp_path / "cv.json"
    args = ["cv", "--experiment", str(path), "--json", str(out_json), "--no-progress"]
    overrides = ["--override", "labels.kind=direction", "--override", "split.n_splits=all"]
    assert main([*args, *overrides]) == 0
    report = json.loads(out_json.read_text())
    assert (
        report["config"]["labels"]["kind"] == "direction" and report["config"]["split"]["n_splits"] == "all"
    )
    assert np.asarray(report["pooled"]["model"]["confusion"]).shape == (2, 2)
    assert len(report["folds"]) > 2  # every fold that fits, not the file's two
    assert f"{len(report['folds'])} fold(s) test {report['pooled']['n_test']} days" in capsys.readouterr().out
    assert main([*args, "--override", "split.n_splits=most"]) == 2
    assert "split.n_splits = 'most'" in caplog.text


def test_cv_bad_config_fails_before_training(tmp_path, caplog):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**TINY, "model": {**TINY["model"], "hidden_size": 0}}))
    assert main(["cv", "--experiment", str(path)]) == 2
    assert "model.hidden_size = 0" in caplog.text and "bad.yaml" in caplog.text


def test_cv_prints_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out_json = tmp_path / "cv.json"
    assert main(["cv", "--experiment", str(path), "--json", str(out_json), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    strongest = report["pooled"]["tests"]["strongest"]
    headline = printed.splitlines()[1]  # the model against the strongest baseline comes first
    assert headline.startswith(f"model vs strongest ({strongest}): accuracy ") and "McNemar p = " in headline
    assert "each baseline vs majority" in printed and "pooled" in printed and "garch" in printed
    assert len(report["folds"]) == 2
    fold = report["folds"][0]
    assert {"train_start", "train_end", "test_start", "test_end", "n_test", "model", "baselines"} <= set(fold)
    assert set(fold["baselines"]) == set(BASELINES)
    pooled = report["pooled"]
    assert pooled["n_test"] == sum(f["n_test"] for f in report["folds"])
    tests = pooled["tests"]
    assert {"vs_strongest", "baselines_vs_majority", "mcnemar", "pesaran_timmermann", "bootstrap_ci"} <= set(
        tests
    )
    # the strongest baseline is the non-random one with the best pooled accuracy on these development folds
    accuracy = {n: m["accuracy"] for n, m in pooled["baselines"].items() if n not in ("random", "stratified")}
    assert pooled["baselines"][strongest]["accuracy"] == max(accuracy.values())
    assert set(tests["baselines_vs_majority"]) == set(BASELINES) - {"majority"}
    assert report["timing"]["train_seconds"] > 0 and report["config"]["model"]["hidden_size"] == 4
    assert report["eras"]["development"]["end"] < report["eras"]["holdout"]["start"]


@pytest.mark.integration
def test_data_on_real_history(shared_data, capsys):
    assert main(["data", "--data", f"csv:{shared_data}"]) == 0
    out = capsys.readouterr().out
    assert "common range: 1999-03-10 to 2026-07-01 (6870 rows)" in out


@pytest.mark.integration
def test_full_features_on_real_history_keep_the_seed_set_from_1999(shared_data, tmp_path, capsys):
    out = tmp_path / "f.parquet"
    assert main(["features", "--data", f"csv:{shared_data}", "--set", "full", "--out", str(out)]) == 0
    full = pl.read_parquet(out)
    assert {"vix_vix3m", "vix9d_vix", "vxn_vix"} <= set(full.columns)
    assert str(full["date"].min()) == "2011-01-04"  # ^VIX9D's first day
    tickers = ["SPY", "QQQ", "^VIX", "^VIX3M"]
    assert main(["data", "--data", f"csv:{shared_data}", "--tickers", *tickers]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line}
    assert rows["seed"][2].startswith("1999-")  # loading ^VIX3M (2009 on) does not cut the seed set
    assert rows["extended"][2].startswith("2009-")
