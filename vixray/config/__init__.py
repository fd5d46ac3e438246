"""Experiment configuration: frozen dataclasses, validated on construction, loaded from YAML in one place.

:mod:`~vixray.config.errors` (ConfigError and the shared checks), :mod:`~vixray.config.sections` (data, features,
labels, eras, split, model, train), :mod:`~vixray.config.search` (the search section: space, budget, scheduler) and
:mod:`~vixray.config.experiment` (ExperimentConfig, YAML load and dump, overrides). Nothing here imports Ray,
Optuna or torch, so an experiment file is validated before anything starts.
"""

from vixray.config.errors import ConfigError
from vixray.config.experiment import (
    ExperimentConfig,
    dump_experiment,
    experiment_from_dict,
    load_experiment,
    parse_overrides,
)
from vixray.config.search import Param, Resources, Scheduler, SearchConfig, search_from_dict
from vixray.config.sections import (
    BacktestConfig,
    DataConfig,
    ErasConfig,
    FeatureConfig,
    LabelConfig,
    ModelConfig,
    SplitConfig,
    TrainConfig,
)

__all__ = [
    "BacktestConfig",
    "ConfigError",
    "DataConfig",
    "ErasConfig",
    "ExperimentConfig",
    "FeatureConfig",
    "LabelConfig",
    "ModelConfig",
    "Param",
    "Resources",
    "Scheduler",
    "SearchConfig",
    "SplitConfig",
    "TrainConfig",
    "dump_experiment",
    "experiment_from_dict",
    "load_experiment",
    "parse_overrides",
    "search_from_dict",
]
