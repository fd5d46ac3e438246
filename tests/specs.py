"""The tiny experiment every test that trains builds on: seconds-long, on synthetic prices, in the YAML's shape.

``tiny_experiment()`` is a plain dict as an experiment file would hold it (sections, dotted keys in the space), so a
test can change any key, write it as YAML for the CLI or pass it to ``experiment_from_dict``. The defaults are a
two-fold walk-forward split, a 4-unit one-layer LSTM with a 4-unit head, and a small search over the hidden size, the
learning rate and the feature set.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "model.hidden_size": {"type": "categorical", "choices": [4, 8]},
    "train.lr": {"type": "loguniform", "low": 1e-3, "high": 3e-2},
    "features.set": {"type": "categorical", "choices": ["seed", "extended"]},
}


def tiny_experiment(
    *,
    source: str = "synthetic:3",
    num_samples: int = 4,
    space: dict[str, Any] | None = None,
    max_epochs: int = 3,
    reduction_factor: float = 2,
    search: bool = True,
    **search_keys: Any,
) -> dict[str, Any]:
    """A fresh spec dict (safe to modify); ``search=False`` leaves the search section out, as in a preset."""
    spec: dict[str, Any] = {
        "name": "tiny",
        "data": {"source": source},
        "eras": {"holdout": "last 20%"},
        "split": {"n_splits": 2, "train_size": 200, "test_size": 60, "gap": 1, "val_fraction": 0.2},
        "model": {
            "seq_len": 3,
            "hidden_size": 4,
            "num_layers": 1,
            "dropout": 0.0,
            "head": [4],
            "head_dropout": [0.0],
        },
        "train": {"epochs": max_epochs, "batch_size": 32, "patience": None, "seed": 0},
    }
    if search:
        spec["search"] = {
            "num_samples": num_samples,
            "max_concurrent": 2,
            "seed": 0,
            "resources": {"cpus": 1},
            "scheduler": {"max_epochs": max_epochs, "grace_period": 1, "reduction_factor": reduction_factor},
            "space": copy.deepcopy(space if space is not None else DEFAULT_SPACE),
            **search_keys,
        }
    return spec


def development_table(spec: dict[str, Any], *, source: str = "synthetic:3") -> tuple[Any, Any]:
    """The validated experiment of ``spec`` and its development-era table on ``source``'s prices."""
    from vixray.config import experiment_from_dict
    from vixray.data import load_prices
    from vixray.dataset import development_dataset, resolve_eras

    experiment = experiment_from_dict(spec)
    prices = load_prices(source)
    eras = resolve_eras(prices.frame["date"], experiment.eras)
    return experiment, development_dataset(prices.frame, experiment, eras)
