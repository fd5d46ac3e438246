"""What every network family shares: per-fold initial draws, dropout from an owned stream, and the MLP head.

Every family ends the same way: the encoder's last time step (F, B, H) feeds Linear/ReLU/Dropout blocks
(``model.head``, ``model.head_dropout``) and a final Linear to K logits. The reference form is ``nn.Sequential``
(:func:`reference_head`); the fold-stacked form keeps each Linear as a (F, in, out) weight and a (F, 1, out) bias and
runs it as one ``baddbmm`` over the folds (:func:`fold_head`). Both initialise as ``nn.Linear`` does.

Shapes: F folds, B windows, H encoder width, K classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from vixray.config import ModelConfig


class Spec(NamedTuple):
    """One stacked parameter: the ``nn.ParameterList`` it goes to, its shape per fold, and its initial values,
    uniform in ±``bound`` unless ``fill`` gives a constant (a LayerNorm's ones, a zero bias)."""

    name: str
    shape: tuple[int, ...]
    bound: float = 0.0
    fill: float | None = None


Tensors = Sequence[torch.Tensor] | nn.ParameterList


def fold_init(specs: Sequence[Spec], *, seed: int, fold: int) -> list[torch.Tensor]:
    """One fold's initial tensors, uniform in (-bound, bound), from a stream seeded by (seed, fold), so a fold starts
    the same whichever folds share its stack."""
    stream = int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])
    gen = torch.Generator().manual_seed(stream)
    out = []
    for spec in specs:
        draw = torch.empty(*spec.shape).uniform_(-spec.bound, spec.bound, generator=gen)
        out.append(draw if spec.fill is None else torch.full(spec.shape, spec.fill))
    return out


def stack_parameters(module: nn.Module, specs: Sequence[Spec], *, n_folds: int, seed: int) -> None:
    """Register each spec's (F, *shape) parameter on ``module`` in spec order (the order of ``parameters()``, and
    of the trainer's flat buffer), appending to the ``nn.ParameterList`` the spec names."""
    draws = [fold_init(specs, seed=seed, fold=f) for f in range(n_folds)]
    for k, spec in enumerate(specs):
        if spec.name not in module._modules:
            setattr(module, spec.name, nn.ParameterList())
        getattr(module, spec.name).append(nn.Parameter(torch.stack([d[k] for d in draws])))


def dropout(x: torch.Tensor, rate: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout drawn from ``generator``, so a trainer owns (and can checkpoint) the random stream."""
    keep = 1.0 - rate
    # rand + compare is about twice as fast as bernoulli_ on the CPU
    mask = torch.rand(x.shape, generator=generator, device=x.device).lt_(keep).div_(keep)  # same shape as x
    return x * mask


# ------------------------------------------------------------------------------------------------ the head


def reference_head(width: int, config: ModelConfig, *, n_classes: int) -> nn.Sequential:
    """Linear/ReLU/Dropout blocks of ``model.head`` and a last Linear to ``n_classes`` logits."""
    layers: list[nn.Module] = []
    for size, rate in zip(config.head, config.head_dropout, strict=True):
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(rate)]
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def linears(head: nn.Sequential) -> list[nn.Linear]:
    return [m for m in head if isinstance(m, nn.Linear)]


def head_specs(width: int, config: ModelConfig, *, n_classes: int) -> list[Spec]:
    """The fold-stacked head's parameters: ``head_weight`` (in, out) and ``head_bias`` (1, out) per Linear."""
    specs: list[Spec] = []
    widths = [width, *config.head, n_classes]
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        # nn.Linear's kaiming_uniform_(a=sqrt(5)) reduces to this bound; its bias uses the same one
        specs += [Spec("head_weight", (fan_in, fan_out), 1 / math.sqrt(fan_in))]
        specs += [Spec("head_bias", (1, fan_out), 1 / math.sqrt(fan_in))]
    return specs


def fold_head(
    z: torch.Tensor,
    weights: Tensors,
    biases: Tensors,
    *,
    rates: Sequence[float],
    training: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The head over fold-stacked features ``z`` (F, B, H) -> logits (F, B, K)."""
    for j, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = torch.baddbmm(b, z, w)  # (F, B, out_j)
        if j < len(rates):
            z = z.relu()
            if training and rates[j] > 0:
                z = dropout(z, rates[j], generator)
    return z  # (F, B, K)


@torch.no_grad()
def load_head(head: nn.Sequential, weights: Tensors, biases: Tensors, fold: int) -> None:
    """Copy a reference head's Linears into fold ``fold`` of the stacked weights."""
    for j, linear in enumerate(linears(head)):
        weights[j][fold].copy_(linear.weight.T)
        biases[j][fold, 0].copy_(linear.bias)


@torch.no_grad()
def export_head(head: nn.Sequential, weights: Tensors, biases: Tensors, fold: int) -> None:
    """Copy fold ``fold`` of the stacked weights into a reference head's Linears."""
    for j, linear in enumerate(linears(head)):
        linear.weight.copy_(weights[j][fold].T)
        linear.bias.copy_(biases[j][fold, 0])


def check_fold(fold: int, n_folds: int) -> None:
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold = {fold}: the model has folds 0..{n_folds - 1}")


def check_input(x: torch.Tensor, *, n_folds: int, n_features: int) -> None:
    if x.dim() != 4 or x.shape[0] != n_folds or x.shape[-1] != n_features:
        raise ValueError(
            f"x has shape {tuple(x.shape)}: expected (folds={n_folds}, batch, time, features={n_features})"
        )
