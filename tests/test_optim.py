"""FoldAdam: the fused private kernel and the public fallback give torch.optim.Adam's weights, fold by fold."""

from __future__ import annotations

import logging

import pytest
import torch

from vixray import optim
from vixray.optim import FoldAdam, fused_adam_works

F, P, STEPS = 4, 9, 25
LR, WEIGHT_DECAY = 3e-2, 1e-3


def _schedule(step: int) -> tuple[int, ...]:
    """The folds with a batch in ``step``: some folds sit out some steps, as early-stopped or short folds do."""
    return tuple(f for f in range(F) if (step + f) % 3)


def _run(fused: bool, init: torch.Tensor) -> FoldAdam:
    params, grads = init.clone(), torch.zeros_like(init)
    adam = FoldAdam(params, grads, lr=LR, weight_decay=WEIGHT_DECAY, fused=fused)
    gen = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        grads.copy_(torch.randn(F, P, generator=gen))
        adam.step(_schedule(step))
    return adam


def _reference(init: torch.Tensor) -> torch.Tensor:
    """One torch.optim.Adam per fold, stepped only when the fold has a batch."""
    out = init.clone()
    for f in range(F):
        weight = torch.nn.Parameter(init[f].clone())
        adam = torch.optim.Adam([weight], lr=LR, weight_decay=WEIGHT_DECAY)
        gen = torch.Generator().manual_seed(1)
        for step in range(STEPS):
            grad = torch.randn(F, P, generator=gen)[f]
            if f in _schedule(step):
                weight.grad = grad
                adam.step()
        out[f] = weight.detach()
    return out


@pytest.fixture(scope="module")
def init() -> torch.Tensor:
    return torch.randn(F, P, generator=torch.Generator().manual_seed(0))


def test_the_fused_kernel_works_on_this_machine():
    # torch 2.13's CPU build has it; if a release drops it, the fallback below is what runs
    assert fused_adam_works(torch.device("cpu"))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "public"])
def test_both_paths_give_torch_adam_weights_per_fold(init, fused):
    adam = _run(fused, init)
    assert adam.fused is fused
    torch.testing.assert_close(adam.params, _reference(init), rtol=1e-6, atol=1e-6)
    steps = torch.tensor(
        [sum(f in _schedule(s) for s in range(STEPS)) for f in range(F)], dtype=torch.float32
    )
    assert torch.equal(adam.steps, steps)


def test_the_two_paths_agree_on_weights_and_moments(init):
    fused, public = _run(True, init), _run(False, init)
    for name in ("params", "exp_avg", "exp_avg_sq", "steps"):
        torch.testing.assert_close(getattr(fused, name), getattr(public, name), rtol=1e-6, atol=1e-7)


def test_a_fold_without_a_batch_does_not_move(init):
    for fused in (True, False):
        params, grads = init.clone(), torch.ones(F, P)
        adam = FoldAdam(params, grads, lr=LR, weight_decay=WEIGHT_DECAY, fused=fused)
        adam.step((0, 2))
        assert torch.equal(params[1], init[1]) and torch.equal(params[3], init[3])
        assert not torch.equal(params[0], init[0])
        assert adam.exp_avg[1].abs().sum() == 0 and adam.steps.tolist() == [1, 0, 1, 0]


def test_the_fallback_is_chosen_when_the_private_op_is_missing(monkeypatch, init, caplog):
    monkeypatch.delattr(torch, "_fused_adam_")
    assert not fused_adam_works(torch.device("cpu"))
    adam = FoldAdam(init.clone(), torch.zeros_like(init), lr=LR, weight_decay=0.0)
    assert adam.fused is False


def test_the_fallback_is_chosen_when_the_private_op_changed_its_signature(monkeypatch, caplog):
    def renamed(*args, lr, beta1, beta2, weight_decay, eps, amsgrad, maximize, grad_scale=None):  # noqa: ARG001
        raise TypeError("_fused_adam_() got an unexpected keyword argument 'beta1'")

    monkeypatch.setattr(torch, "_fused_adam_", renamed)
    with caplog.at_level(logging.INFO, logger=optim.__name__):
        assert not fused_adam_works(torch.device("cpu"))
    assert "unexpected keyword argument" in caplog.text and "torch.optim.Adam(foreach=True)" in caplog.text


def test_the_fallback_is_chosen_when_the_private_op_computes_something_else(monkeypatch, caplog):
    def wrong(params, *args, **kwargs):
        for p in params:
            p.add_(1.0)

    monkeypatch.setattr(torch, "_fused_adam_", wrong)
    with caplog.at_level(logging.INFO, logger=optim.__name__):
        assert not fused_adam_works(torch.device("cpu"))
    assert "for a known Adam step" in caplog.text


def test_bad_buffers_are_named():
    with pytest.raises(
        ValueError, match=r"params has shape \(3,\) and grads \(3,\): pass two \(folds, parameters\)"
    ):
        FoldAdam(torch.zeros(3), torch.zeros(3), lr=LR, weight_decay=0.0)
