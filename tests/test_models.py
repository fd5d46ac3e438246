"""Every network family in its two forms: the fold-stacked model computes what its torch.nn reference computes, per
fold, in outputs and in the gradient of every parameter; folds are independent; the registry builds each kind."""

from __future__ import annotations

import copy

import pytest
import torch

from vixray.config import ConfigError, ModelConfig
from vixray.config.sections import MODEL_KINDS
from vixray.models import FAMILIES, fold_model, reference_model
from vixray.models.gru import FoldGRULayer
from vixray.models.lstm import FoldLSTMLayer

C = 3  # features


def config(kind: str, **kw) -> ModelConfig:
    base = {
        "kind": kind,
        "seq_len": 4,
        "hidden_size": 8,
        "num_layers": 2,
        "dropout": 0.0,
        "head": (6,),
        "head_dropout": (0.0,),
        "heads": 2,
        "ff_size": 12,
    }
    return ModelConfig(**{**base, **kw})


def windows(folds: int, batch: int, steps: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(folds, batch, steps, C, generator=torch.Generator().manual_seed(seed))  # (F, B, T, C)


def grads_as_single(stacked, fold: int):
    """Fold ``fold``'s gradients laid out as the reference model's parameters (the bridge maps the layouts)."""
    holder = copy.deepcopy(stacked)
    with torch.no_grad():
        for p, q in zip(holder.parameters(), stacked.parameters(), strict=True):
            p.copy_(q.grad)
    return list(holder.to_single(fold).parameters())


def test_the_registry_is_the_config_s_list_of_kinds():
    assert tuple(FAMILIES) == MODEL_KINDS == ("lstm", "gru", "transformer")
    for kind in MODEL_KINDS:
        assert type(reference_model(config(kind), n_features=C)) is FAMILIES[kind].reference
        assert isinstance(fold_model(config(kind), n_folds=2, n_features=C), FAMILIES[kind])


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("layers", [1, 2])
def test_outputs_equal_the_reference_per_fold(kind, layers):
    torch.manual_seed(0)
    cfg = config(kind, num_layers=layers, dropout=0.3, head_dropout=(0.2,))
    singles = [reference_model(cfg, n_features=C).eval() for _ in range(3)]
    stacked = FAMILIES[kind].from_single(singles).eval()
    x = windows(3, 7)
    out = stacked(x)
    assert out.shape == (3, 7, 3)
    for f, single in enumerate(singles):
        torch.testing.assert_close(out[f], single(x[f]), atol=1e-5, rtol=0)
        for a, b in zip(stacked.to_single(f).parameters(), single.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("steps", [1, 6])
def test_every_gradient_equals_the_reference_autograd(kind, steps):
    torch.manual_seed(1)
    cfg = config(kind)
    singles = [reference_model(cfg, n_features=C) for _ in range(2)]
    stacked = FAMILIES[kind].from_single(singles)
    x = windows(2, 6, steps=steps)
    y = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0, 1]])
    loss = torch.nn.functional.cross_entropy(stacked(x).reshape(-1, 3), y.reshape(-1), reduction="sum")
    loss.backward()
    for f, single in enumerate(singles):
        torch.nn.functional.cross_entropy(single(x[f]), y[f], reduction="sum").backward()
        mine = grads_as_single(stacked, f)
        for (name, p), g in zip(single.named_parameters(), mine, strict=True):
            torch.testing.assert_close(g, p.grad, atol=1e-5, rtol=1e-4, msg=f"{kind}: {name}")


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_folds_are_independent_and_start_the_same_whatever_shares_their_stack(kind):
    model = fold_model(config(kind), n_folds=3, n_features=C).eval()
    x = windows(3, 6)
    before = model(x).detach()
    with torch.no_grad():
        for p in model.parameters():
            p[1].add_(0.5)
    after = model(x).detach()
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])
    assert not torch.allclose(after[1], before[1])
    two = fold_model(config(kind), n_folds=2, n_features=C, seed=3)
    five = fold_model(config(kind), n_folds=5, n_features=C, seed=3)
    for a, b in zip(two.parameters(), five.parameters(), strict=True):
        assert torch.equal(a, b[:2])


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_dropout_only_in_train_mode_and_drawn_from_the_generator(kind):
    model = fold_model(config(kind, dropout=0.5, head_dropout=(0.5,)), n_folds=2, n_features=C)
    x = windows(2, 8)

    def run(seed):
        return model(x, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0)) and not torch.allclose(run(0), run(1))
    model.eval()
    assert torch.equal(run(0), run(1))


@pytest.mark.parametrize(("layer", "gates"), [(FoldLSTMLayer, 4), (FoldGRULayer, 3)], ids=["lstm", "gru"])
def test_the_hand_written_backward_passes_gradcheck(layer, gates):
    gen = torch.Generator().manual_seed(0)
    F, T, B, Cin, H = 2, 3, 2, 3, 4

    def rand(*shape):
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) - 0.5).requires_grad_()

    G = gates * H
    args = (rand(F, T, B, Cin), rand(F, Cin, G), rand(F, H, G), rand(F, 1, G), rand(F, 1, G))
    assert torch.autograd.gradcheck(layer.apply, args)


def test_the_transformer_is_causal_and_reads_positions():
    model = fold_model(config("transformer", num_layers=1), n_folds=1, n_features=C).eval()
    x = windows(1, 4, steps=6)
    # the last day's output reads every day: changing the first one moves it
    moved = x.clone()
    moved[:, :, 0] += 1.0
    assert not torch.allclose(model(x), model(moved))
    # the same days in another order give another forecast: positions are encoded
    assert not torch.allclose(model(x), model(x.flip(2)))
    # causal: every day's state reads that day and the days before it only, through both layers
    deep = fold_model(config("transformer", num_layers=2), n_folds=1, n_features=C).eval()
    six, five = deep.states(x), deep.states(x[:, :, :5])  # (1, 4, 6, D), (1, 4, 5, D)
    torch.testing.assert_close(six[:, :, :5], five, atol=1e-6, rtol=0)
    later = x.clone()
    later[:, :, 5] += 3.0  # the last day changed: no earlier state moves, the last one does
    moved = deep.states(later)
    assert torch.equal(moved[:, :, :5], six[:, :, :5]) and not torch.allclose(moved[:, :, 5], six[:, :, 5])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kind": "rnn"}, r"kind = 'rnn': choose one of \['lstm', 'gru', 'transformer'\]"),
        (
            {"kind": "transformer", "hidden_size": 10, "heads": 4},
            r"heads = 4: must divide model.hidden_size = 10",
        ),
        ({"kind": "transformer", "ff_size": 0}, r"ff_size = 0: must be an integer >= 1"),
    ],
)
def test_bad_model_settings_name_the_key(kw, match):
    with pytest.raises(ConfigError, match=match):
        config(**{"kind": "lstm", **kw})


def test_the_bridge_refuses_another_architecture():
    model = fold_model(config("gru"), n_folds=2, n_features=C)
    with pytest.raises(ValueError, match="same ModelConfig"):
        model.load_fold(0, reference_model(config("gru", hidden_size=4), n_features=C))
    with pytest.raises(ValueError, match=r"models is empty: pass one GRUClassifier per fold"):
        FAMILIES["gru"].from_single([])
