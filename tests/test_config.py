from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from vixray.config import (
    ConfigError,
    ExperimentConfig,
    LabelConfig,
    ModelConfig,
    SplitConfig,
    TrainConfig,
    dump_experiment,
    experiment_from_dict,
    load_experiment,
)

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_yaml_gets_defaults_and_file_name(tmp_path):
    config = load_experiment(write(tmp_path, "eras: {holdout: last 20%}\n", "mine.yaml"))
    assert config.name == "mine"
    assert config.labels == LabelConfig(down=-0.01, up=0.01)
    assert config.eras.holdout_fraction == pytest.approx(0.2)
    assert config.model == ModelConfig()


def test_full_yaml(tmp_path):
    text = """
name: full
data: {source: "csv:/tmp/x", tickers: [SPY, QQQ, ^VIX, ^VIX3M]}
features: {set: extended}
labels: {threshold: 0.02, horizon: 1}
eras:
  development: {start: 2000-01-01, end: 2019-12-31}
  holdout: {start: 2020-01-01}
split: {n_splits: 3, train_size: 500, test_size: 100, gap: 2, expanding: true}
model: {seq_len: 10, hidden_size: 16, num_layers: 1, dropout: 0.0, head: [8], head_dropout: [0.1]}
train: {epochs: 3, batch_size: 32, lr: 3e-4, weight_decay: 1e-5, grad_clip: null, patience: null}
"""
    config = load_experiment(write(tmp_path, text))
    assert config.data.tickers == ("SPY", "QQQ", "^VIX", "^VIX3M")
    assert config.labels.up == 0.02 and config.labels.down == -0.02
    assert config.eras.development_end == date(2019, 12, 31)
    assert config.eras.holdout_start == date(2020, 1, 1)
    assert config.split.expanding is True and config.split.gap == 2
    assert config.model.head == (8,)
    assert config.train.lr == pytest.approx(3e-4)  # YAML 1.1 reads 3e-4 as a string
    assert config.train.grad_clip is None


@pytest.mark.parametrize(
    "path",
    sorted((EXPERIMENTS / "presets").glob("*.yaml")) + sorted((EXPERIMENTS / "search").glob("*.yaml")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_shipped_experiment_round_trips_through_dict_and_yaml(tmp_path, path):
    config = load_experiment(path)
    assert experiment_from_dict(config.to_dict()) == config
    again = load_experiment(write(tmp_path, dump_experiment(config), f"{config.name}.yaml"))
    assert again == config


def test_the_shipped_experiments_are_where_the_commands_look():
    presets = {p.stem for p in (EXPERIMENTS / "presets").glob("*.yaml")}
    searches = {p.stem for p in (EXPERIMENTS / "search").glob("*.yaml")}
    assert presets == {"quick_test", "development", "production", "light_model", "heavy_model"}
    assert {"quick", "dev", "prod"} <= searches
    assert all(load_experiment(EXPERIMENTS / "search" / f"{s}.yaml").search is not None for s in searches)
    assert all(load_experiment(EXPERIMENTS / "presets" / f"{p}.yaml").search is None for p in presets)


def test_overrides_are_validated_like_yaml():
    base = ExperimentConfig(name="x")
    changed = base.with_overrides({"model.hidden_size": 8, "train.lr": 0.01})
    assert changed.model.hidden_size == 8 and changed.train.lr == 0.01
    assert base.model.hidden_size == 64  # frozen: the original is untouched
    with pytest.raises(ConfigError, match=r"trial: model.hidden_size = 0: must be an integer >= 1"):
        base.with_overrides({"model.hidden_size": 0}, origin="trial")
    with pytest.raises(ConfigError, match=r"unknown key 'hidden_size'; use SECTION.FIELD"):
        base.with_overrides({"hidden_size": 8})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("modle: {}\n", r"exp.yaml: modle: unknown section; valid sections are"),
        ("model: {hiden_size: 3}\n", r"exp.yaml: model.hiden_size: unknown key; valid keys in 'model' are"),
        ("model: {hidden_size: -1}\n", r"model.hidden_size = -1: must be an integer >= 1"),
        ("model: {dropout: 1.5}\n", r"model.dropout = 1.5: must be a number in \[0.0, 1.0\)"),
        (
            "model: {head: [32, 16], head_dropout: [0.1]}\n",
            r"model.head_dropout = \[0.1\]: needs one rate per head",
        ),
        ("train: {lr: 2}\n", r"train.lr = 2.0: must be a learning rate in \(0, 1\)"),
        ("train: {lr: abc}\n", r"train.lr = 'abc': must be a number"),
        ("train: {device: tpu}\n", r"train.device = 'tpu': choose auto, cpu, cuda or cuda:N"),
        ("labels: {threshold: -0.01}\n", r"labels.threshold = -0.01: must be a positive fraction"),
        ("labels: {down: 0.01, up: 0.02}\n", r"labels.down = 0.01: must be <= 0"),
        ("labels: {down: -0.02, up: -0.01}\n", r"labels.up = -0.01: must be >= 0"),
        ("labels: {threshold: 0.01, up: 0.02}\n", r"give either threshold or up/down"),
        ("split: {step: 10, test_size: 20}\n", r"split.step = 10: is below split.test_size = 20"),
        ("split: {gap: 0}\n", r"split.gap = 0: must be >= labels.horizon = 1"),
        ("split: {n_splits: most}\n", r"split.n_splits = 'most': must be an integer >= 1, or 'all'"),
        ("train: {refit: 2}\n", r"train.refit = 2: must be true or false"),
        ("features: {set: magic}\n", r"features.set = 'magic': unknown feature set"),
        (
            "features: {set: seed+magic}\n",
            r"features.set = 'seed\+magic': unknown feature set or block 'magic'",
        ),
        (
            "features: {blocks: [seed, magic]}\n",
            r"features.blocks = \['seed', 'magic'\]: unknown feature set or block 'magic'",
        ),
        ("features: {blocks: seed}\n", r"features.blocks = 'seed': must be a non-empty list of block"),
        ("features: {blocks: [seed], set: full}\n", r"give either features.set or features.blocks, not both"),
        ("labels: {kind: sign}\n", r"labels.kind = 'sign': choose one of \['threshold', 'direction'\]"),
        (
            "labels: {kind: direction, threshold: 0.01}\n",
            r"labels.threshold = 0.01: a direction label has no threshold",
        ),
        ("eras: {holdout: first 20%}\n", r"eras.holdout = 'first 20%': write 'last 20%'"),
        (
            "eras: {development: {end: 2020-06-01}, holdout: {start: 2020-01-01}}\n",
            r"must be before holdout.start",
        ),
        (
            "eras: {holdout: {start: 2020-13-01}}\n",
            r"eras.holdout.start = '2020-13-01': is not a date; write YYYY-MM-DD",
        ),
        (
            "eras: {development: {end: 2019-02-30}, holdout: {start: 2020-01-01}}\n",
            r"eras.development.end = '2019-02-30': is not a date",
        ),
        (
            "eras: {development: {end: 2019-12-31}, holdout: last 20%}\n",
            r"eras.development.end = '2019-12-31': cannot be combined with 'holdout: last N%'",
        ),
        ("train: {weight_decay: .inf}\n", r"train.weight_decay = inf: must be a finite number >= 0"),
        (
            "labels: {threshold: 5}\n",
            r"labels.down = -5.0: is a 500% daily move: thresholds are fractions up to 0.5",
        ),
        ("data: {on_outlier: ignore}\n", r"data.on_outlier = 'ignore': choose one of \['warn', 'error'\]"),
        ("eras: {development: {end: 2019-01-01}}\n", r"eras.holdout = None: required"),
        ("data: {tickers: [SPY, ^VIX]}\n", r"data.tickers = \['SPY', '\^VIX'\]: the features need \['QQQ'\]"),
        ("name: 'bad name!'\n", r"name = 'bad name!': use letters"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_experiment(write(tmp_path, text if "eras" in text else text + "eras: {holdout: last 20%}\n"))


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match=r"exp.yaml: the experiment must be a YAML mapping"):
        load_experiment(write(tmp_path, "- a list\n"))


def test_missing_file_lists_siblings(tmp_path):
    write(tmp_path, "eras: {holdout: last 20%}\n", "present.yaml")
    with pytest.raises(
        ConfigError, match=r"absent.yaml: experiment file not found; experiments there: \['present'\]"
    ):
        load_experiment(tmp_path / "absent.yaml")


def test_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_experiment(write(tmp_path, "model: {hidden: [\n"))


def test_dataclasses_validate_directly():
    with pytest.raises(ValueError, match=r"epochs = 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"n_splits = True"):
        SplitConfig(n_splits=True)  # a bool is not a count


def test_feature_blocks_and_direction_labels_round_trip(tmp_path):
    text = (
        "features: {blocks: [seed, calendar, term]}\nlabels: {kind: direction}\neras: {holdout: last 20%}\n"
    )
    exp = load_experiment(write(tmp_path, text + "split: {n_splits: all}\ntrain: {refit: true}\n"))
    assert exp.split.n_splits == "all" and exp.train.refit is True
    assert exp.features.set == "seed+calendar+term"
    assert exp.features.blocks == ("seed", "calendar", "term")
    assert exp.labels.kind == "direction" and exp.labels.classes == ("down", "up")
    plain = exp.to_dict()
    assert plain["labels"] == {"horizon": 1, "target": "^VIX", "kind": "direction"}
    assert experiment_from_dict(plain) == exp
    assert load_experiment(write(tmp_path, "eras: {holdout: last 20%}\n")).labels.classes == (
        "down",
        "neutral",
        "up",
    )


def test_command_line_overrides_are_yaml_values_validated_like_the_file():
    from vixray.config import parse_overrides

    assert parse_overrides(["features.set=seed+calendar", "split.n_splits=all", "train.refit=true"]) == {
        "features.set": "seed+calendar",
        "split.n_splits": "all",
        "train.refit": True,
    }
    assert parse_overrides(["model.head=[16, 8]", "train.lr=3e-4"])["model.head"] == [16, 8]
    with pytest.raises(
        ConfigError, match=r"--override 'features.set': write KEY=VALUE, e.g. features.set=full"
    ):
        parse_overrides(["features.set"])
    with pytest.raises(ConfigError, match=r"--override 'model.head=\[1,': the value is not valid YAML"):
        parse_overrides(["model.head=[1,"])
    # switching the framing drops the thresholds the file gave; switching back restores the ±1% default
    exp = experiment_from_dict({"name": "t", "labels": {"threshold": 0.02}})
    direction = exp.with_overrides({"labels.kind": "direction"})
    assert direction.labels.classes == ("down", "up") and (direction.labels.down, direction.labels.up) == (
        0,
        0,
    )
    assert direction.with_overrides({"labels.kind": "threshold"}).labels.up == 0.01
