"""The fold-stacked LSTM classifier: shapes, initialisation, fold independence, equality with nn.LSTM per fold."""

from __future__ import annotations

import math

import pytest
import torch

from vixray.config import ModelConfig
from vixray.models.lstm import FoldLSTMClassifier, FoldLSTMLayer, LSTMClassifier

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


def test_a_fold_starts_the_same_whichever_folds_share_its_stack():
    two = FoldLSTMClassifier(2, C, config(), seed=3)
    five = FoldLSTMClassifier(5, C, config(), seed=3)
    for a, b in zip(two.parameters(), five.parameters(), strict=True):
        assert torch.equal(a, b[:2])


def test_folds_are_independent():
    model = FoldLSTMClassifier(3, C, config()).eval()
    x = windows(3, 6)
    before = model(x).detach()
    with torch.no_grad():
        for p in model.parameters():
            p[1].add_(0.5)
    after = model(x).detach()
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])
    assert not torch.allclose(after[1], before[1])


def test_equals_nn_lstm_per_fold_with_copied_weights():
    torch.manual_seed(0)
    singles = [LSTMClassifier(C, config(dropout=0.3, head_dropout=(0.3, 0.2))).eval() for _ in range(3)]
    stacked = FoldLSTMClassifier.from_single(singles).eval()
    x = windows(3, 7)
    out = stacked(x)
    for f, single in enumerate(singles):
        torch.testing.assert_close(out[f], single(x[f]), atol=1e-5, rtol=0)
        back = stacked.to_single(f)
        for a, b in zip(back.parameters(), single.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("steps", [1, 5])
def test_gradients_equal_nn_lstm_autograd(steps):
    torch.manual_seed(1)
    singles = [LSTMClassifier(C, config(num_layers=2)) for _ in range(2)]
    stacked = FoldLSTMClassifier.from_single(singles)
    x = windows(2, 6, steps=steps)
    y = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0, 1]])
    loss = torch.nn.functional.cross_entropy(stacked(x).reshape(-1, 3), y.reshape(-1), reduction="sum")
    loss.backward()
    for f, single in enumerate(singles):
        torch.nn.functional.cross_entropy(single(x[f]), y[f], reduction="sum").backward()
        lstm = single.lstm
        for layer in range(2):
            torch.testing.assert_close(
                stacked.weight_ih[layer].grad[f], getattr(lstm, f"weight_ih_l{layer}").grad.T
            )
            torch.testing.assert_close(
                stacked.weight_hh[layer].grad[f], getattr(lstm, f"weight_hh_l{layer}").grad.T
            )
            torch.testing.assert_close(
                stacked.bias_hh[layer].grad[f, 0], getattr(lstm, f"bias_hh_l{layer}").grad
            )
        for w, linear in zip(stacked.head_weight, single.linears(), strict=True):
            torch.testing.assert_close(w.grad[f], linear.weight.grad.T)


def test_lstm_layer_gradcheck():
    gen = torch.Generator().manual_seed(0)
    F, T, B, Cin, H = 2, 3, 2, 3, 4

    def rand(*shape):
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) - 0.5).requires_grad_()

    args = (rand(F, T, B, Cin), rand(F, Cin, 4 * H), rand(F, H, 4 * H), rand(F, 1, 4 * H), rand(F, 1, 4 * H))
    assert torch.autograd.gradcheck(FoldLSTMLayer.apply, args)


def test_dropout_only_in_train_mode_and_drawn_from_the_generator():
    model = FoldLSTMClassifier(2, C, config(dropout=0.5, head_dropout=(0.5, 0.5)))
    x = windows(2, 8)

    def run(seed):
        return model(x, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0)) and not torch.allclose(run(0), run(1))
    model.eval()
    assert torch.equal(run(0), run(1))


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
