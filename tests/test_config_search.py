from __future__ import annotations

from pathlib import Path

import pytest

from vixray.config import ConfigError, load_experiment
from vixray.config.search import is_active, search_from_dict, trial_overrides

SEARCHES = Path(__file__).resolve().parents[1] / "experiments" / "search"

SPACE = {
    "model.num_layers": {"type": "int", "low": 1, "high": 3},
    "model.dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "when": {"model.num_layers": [2, 3]}},
    "train.lr": {"type": "loguniform", "low": "1e-4", "high": 1e-2},
    "model.head_layers": {"type": "int", "low": 0, "high": 2},
    "model.head_width": {"type": "categorical", "choices": [16, 32], "when": {"model.head_layers": [1, 2]}},
}


def test_parse_space_and_modes():
    search = search_from_dict({"space": SPACE, "metric": "val_accuracy"})
    assert search.mode == "max"
    lr = next(p for p in search.space if p.name == "train.lr")
    assert lr.low == pytest.approx(1e-4)  # YAML 1.1 strings become numbers
    assert search.to_dict()["space"]["model.dropout"]["when"] == {"model.num_layers": [2, 3]}
    assert search_from_dict(search.to_dict()) == search


def test_storage_and_max_failures_round_trip():
    uri = "s3://bucket/prefix?endpoint_override=127.0.0.1:9000"
    search = search_from_dict({"space": SPACE, "storage": uri, "max_failures": 0})
    assert search.storage == uri and search.max_failures == 0
    assert search_from_dict(search.to_dict()) == search
    default = search_from_dict({"space": SPACE})
    assert default.storage is None and default.max_failures == 2


def test_conditions():
    search = search_from_dict({"space": SPACE})
    dropout = next(p for p in search.space if p.name == "model.dropout")
    assert is_active(dropout, {"model.num_layers": 2})
    assert not is_active(dropout, {"model.num_layers": 1})
    assert not is_active(dropout, {})


def test_trial_overrides_expand_the_head():
    assert trial_overrides({"model.head_layers": 2, "model.head_width": 32, "train.lr": 0.01}, epochs=7) == {
        "model.head": [32, 16],
        "model.head_dropout": [0.3, 0.2],
        "train.lr": 0.01,
        "train.epochs": 7,
    }
    assert trial_overrides({"model.head_layers": 0})["model.head"] == []


@pytest.mark.parametrize("name", ["quick", "dev", "prod"])
def test_presets_load(name):
    config = load_experiment(SEARCHES / f"{name}.yaml")
    assert config.search is not None and config.search.metric == "val_loss"
    # every sampled combination must give a valid experiment: try the extremes of each parameter
    for param in config.search.space:
        values = list(param.choices) if param.type == "categorical" else [param.low, param.high]
        for value in values:
            value = int(value) if param.type == "int" else value
            params = {param.name: value}
            if param.name == "model.head_width":
                params["model.head_layers"] = 1
            config.with_overrides(trial_overrides(params, epochs=2))


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"space": {}}, r"search.space = \{\}: list at least one parameter"),
        ({"space": SPACE, "metric": "auc"}, r"search.metric = 'auc': choose one of"),
        (
            {"space": SPACE, "metric": "val_loss", "mode": "max"},
            r"search.mode = 'max': val_loss is optimised with mode 'min'",
        ),
        ({"space": SPACE, "num_samples": 0}, r"search.num_samples = 0: must be an integer >= 1"),
        ({"space": SPACE, "resources": {"gpus": -1}}, r"search.resources.gpus = -1: must be >= 0"),
        ({"space": SPACE, "resources": {"tpus": 1}}, r"search.resources.tpus = 1: unknown key"),
        (
            {"space": SPACE, "scheduler": {"max_epochs": 5, "grace_period": 9}},
            r"search.scheduler.grace_period = 9",
        ),
        (
            {"space": SPACE, "scheduler": {"reduction_factor": 1}},
            r"search.scheduler.reduction_factor = 1: must be > 1",
        ),
        (
            {"space": {"lr": {"type": "uniform", "low": 0, "high": 1}}},
            r"search.space.lr = None: name parameters SECTION.FIELD",
        ),
        (
            {"space": {"labels.up": {"type": "uniform", "low": 0, "high": 1}}},
            r"the label threshold is fixed per experiment",
        ),
        (
            {"space": {"train.lr": {"type": "normal", "low": 0, "high": 1}}},
            r"search.space.train.lr.type = 'normal'",
        ),
        (
            {"space": {"train.lr": {"type": "loguniform", "low": 0, "high": 1}}},
            r"search.space.train.lr.low = 0: a log-scale range must be > 0",
        ),
        (
            {"space": {"train.lr": {"type": "uniform", "low": 2, "high": 1}}},
            r"search.space.train.lr.low = 2: must be below high = 1",
        ),
        (
            {"space": {"model.num_layers": {"type": "int", "low": 1.5, "high": 3}}},
            r"an int parameter needs integer low and high",
        ),
        (
            {"space": {"train.batch_size": {"type": "categorical"}}},
            r"search.space.train.batch_size.choices = \[\]: list at least one",
        ),
        (
            {"space": {"train.batch_size": {"type": "categorical", "choices": [[1, 2]]}}},
            r"choices must be numbers, strings",
        ),
        (
            {
                "space": {
                    "model.dropout": {
                        "type": "uniform",
                        "low": 0,
                        "high": 1,
                        "when": {"model.num_layers": [2]},
                    }
                }
            },
            r"must name a parameter listed before this one",
        ),
        (
            {"space": {"model.head_width": {"type": "categorical", "choices": [8]}}},
            r"needs model.head_layers in the space",
        ),
        (
            {"space": {"train.lr": {"type": "uniform", "low": 0, "high": 1, "bogus": 1}}},
            r"search.space.train.lr.bogus = 1: unknown key",
        ),
        ({"space": SPACE, "budget": 3}, r"search.budget = 3: unknown key"),
        (
            {"space": SPACE, "storage": "ftp://host/x"},
            r"search.storage = 'ftp://host/x': unknown scheme 'ftp'",
        ),
        (
            {"space": SPACE, "storage": "shared/ray"},
            r"search.storage = 'shared/ray': a storage path must be absolute",
        ),
        (
            {"space": SPACE, "storage": ""},
            r"search.storage = '': give a shared folder's absolute path or a URI",
        ),
        (
            {"space": SPACE, "storage": 3},
            r"search.storage = 3: give a shared folder's absolute path or a URI",
        ),
        ({"space": SPACE, "max_failures": -1}, r"search.max_failures = -1: must be an integer >= 0"),
        ({"space": SPACE, "max_failures": 1.5}, r"search.max_failures = 1.5: must be an integer >= 0"),
    ],
)
def test_bad_search_sections(raw, match):
    with pytest.raises(ConfigError, match=match):
        search_from_dict(raw)


@pytest.mark.parametrize(
    ("space", "match"),
    [
        (
            {"train.lerning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2}},
            r"search.space.train.lerning_rate = 0.0001 would make an invalid experiment: train.lerning_rate: "
            r"unknown key",
        ),
        (
            {"model.hidden_size": {"type": "int", "low": -32, "high": 64}},
            r"search.space.model.hidden_size = -32 would make an invalid experiment: model.hidden_size = -32",
        ),
        (
            {"train.lr": {"type": "uniform", "low": 0.001, "high": 5}},
            r"search.space.train.lr = 5 would make an invalid experiment: train.lr = 5.0: must be a learning rate",
        ),
        (
            {"features.set": {"type": "categorical", "choices": ["seed", "fancy"]}},
            r"search.space.features.set = 'fancy' would make an invalid experiment: .*unknown feature set or block",
        ),
        (
            {
                "model.kind": {"type": "categorical", "choices": ["lstm", "transformer"]},
                "model.heads": {
                    "type": "categorical",
                    "choices": [2, 3],
                    "when": {"model.kind": ["transformer"]},
                },
            },
            r"search.space.model.heads = 3 would make an invalid experiment: model.heads = 3: must divide",
        ),
    ],
)
def test_every_value_a_search_can_draw_is_validated_when_the_experiment_loads(space, match):
    from specs import tiny_experiment

    from vixray.config import experiment_from_dict

    with pytest.raises(ConfigError, match=match):
        experiment_from_dict(tiny_experiment(space=space))


def test_a_validation_metric_needs_a_validation_tail():
    from specs import tiny_experiment

    from vixray.config import experiment_from_dict

    spec = tiny_experiment()
    spec["split"]["val_fraction"] = 0.0
    with pytest.raises(
        ConfigError, match=r"split.val_fraction = 0.0: the search metric val_loss is measured on"
    ):
        experiment_from_dict(spec)
    del spec["search"]  # vixray cv (no search) may train without a validation tail
    assert experiment_from_dict(spec).split.val_fraction == 0.0
