"""The fold-stacked LSTM: shapes, initialisation, bad input (what every family shares,
equality with its reference included, is tested in test_models.py)."""

from __future__ import annotations

import math

import pytest
import torch

from vixray.config import ModelConfig
from vixray.models.lstm import FoldLSTMClassifier, LSTMClassifier

C = 3  # features


def config(**kw) -> ModelConfig:
    base = {
        "seq_len": 4,
        "hidden_size": 8,
        "num_layers": 2,
        "dropout": 0.0,
        "head": (6, 5),
        "head_dropout": (0.0, 0.0),
    }
    return ModelConfig(**{**base, **kw})


def windows(folds: int, batch: int, steps: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(folds, batch, steps, C, generator=torch.Generator().manual_seed(seed))  # (F, B, T, C)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_shapes(layers):
    model = FoldLSTMClassifier(3, C, config(num_layers=layers))
    assert model(windows(3, 5)).shape == (3, 5, 3)
    assert len(model.weight_ih) == layers and len(model.head_weight) == 3
    assert model.weight_ih[0].shape == (3, C, 32) and model.weight_hh[-1].shape == (3, 8, 32)
    assert model.head_weight[0].shape == (3, 8, 6) and model.head_bias[2].shape == (3, 1, 3)


def test_initialisation_matches_torch_bounds_and_is_seeded():
    cfg = config(hidden_size=16, head=(32,), head_dropout=(0.0,))
    model = FoldLSTMClassifier(4, C, cfg, seed=1)
    lstm_bound = 1 / math.sqrt(16)  # nn.LSTM: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias
    for p in [*model.weight_ih, *model.weight_hh, *model.bias_ih, *model.bias_hh]:
        assert p.abs().max() <= lstm_bound and p.abs().max() > 0.95 * lstm_bound
    for w, b, fan_in in zip(model.head_weight, model.head_bias, (16, 32), strict=True):
        bound = 1 / math.sqrt(fan_in)  # nn.Linear: kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(fan_in), ...)
        assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound and b.abs().max() <= bound
    same = FoldLSTMClassifier(4, C, cfg, seed=1)
    other = FoldLSTMClassifier(4, C, cfg, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters(), strict=True))
    assert not torch.equal(model.weight_hh[0], other.weight_hh[0])
    assert not torch.equal(model.weight_hh[0][0], model.weight_hh[0][1])  # folds start apart


def test_bad_inputs_raise():
    model = FoldLSTMClassifier(2, C, config())
    with pytest.raises(ValueError, match=r"x has shape \(3, 4, 4, 3\): expected \(folds=2"):
        model(windows(3, 4))
    with pytest.raises(ValueError, match="features=3"):
        model(torch.zeros(2, 4, 4, 5))
    with pytest.raises(ValueError, match="n_folds = 0"):
        FoldLSTMClassifier(0, C, config())
    with pytest.raises(ValueError, match="n_features = 0"):
        FoldLSTMClassifier(1, 0, config())
    with pytest.raises(ValueError, match="models is empty"):
        FoldLSTMClassifier.from_single([])
    with pytest.raises(ValueError, match=r"fold = 2: the model has folds 0\.\.1"):
        model.to_single(2)
    with pytest.raises(ValueError, match="same ModelConfig"):
        model.load_fold(0, LSTMClassifier(C, config(hidden_size=4)))
