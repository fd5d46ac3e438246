"""What the recurrent families share (:mod:`~vixray.models.lstm`, :mod:`~vixray.models.gru`): the reference built
on ``nn.LSTM`` / ``nn.GRU``, and the fold-stacked stack of hand-written layers with per-fold gate weights.

A family gives its ``torch.nn`` module, the number of gates (4 for the LSTM's i, f, g, o; 3 for the GRU's r, z, n)
and its fold-stacked layer (a ``torch.autograd.Function`` over time-major windows). Weights are stored input-major
(``x @ W``) so no transpose sits in the hot loop: ``weight_ih[l]`` (F, C_l, G*H), ``weight_hh[l]`` (F, H, G*H),
``bias_ih[l]`` / ``bias_hh[l]`` (F, 1, G*H), both biases kept as PyTorch has them, all uniform in ±1/sqrt(H) as
PyTorch initialises them.

Shapes: F folds, B windows, T time steps, C features, H hidden units, G gates.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, cast

import torch
from torch import nn

from vixray.config import ModelConfig
from vixray.labels import N_CLASSES
from vixray.models.base import FoldClassifier, ReferenceClassifier
from vixray.models.blocks import Spec, dropout


class RecurrentClassifier(ReferenceClassifier):
    """One model: the family's ``torch.nn`` recurrent module (batch first) -> last time step -> the head. The module
    is the attribute ``rnn_name`` (``lstm``, ``gru``), as the family calls it."""

    rnn_type: ClassVar[type[nn.LSTM] | type[nn.GRU]]
    rnn_name: ClassVar[str]

    def __init__(self, n_features: int, config: ModelConfig, *, n_classes: int = N_CLASSES) -> None:
        super().__init__(n_features, config, n_classes=n_classes)
        module = self.rnn_type(
            n_features,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        setattr(self, self.rnn_name, module)

    @property
    def rnn(self) -> nn.RNNBase:
        return cast(nn.RNNBase, getattr(self, self.rnn_name))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        return out[:, -1]  # (B, H)


class FoldRecurrentClassifier(FoldClassifier):
    """F independent recurrent classifiers: the family's layer per ``num_layers``, dropout between, then the head."""

    gates: ClassVar[int]
    layer: ClassVar[Any]  # a torch.autograd.Function: layer.apply(x, w_ih, w_hh, b_ih, b_hh) -> (F, T, B, H)
    weight_ih: nn.ParameterList
    weight_hh: nn.ParameterList
    bias_ih: nn.ParameterList
    bias_hh: nn.ParameterList

    def encoder_specs(self) -> list[Spec]:
        H, G = self.config.hidden_size, self.gates
        bound = 1.0 / math.sqrt(H)
        specs: list[Spec] = []
        for layer in range(self.config.num_layers):
            width = self.n_features if layer == 0 else H
            specs += [
                Spec("weight_ih", (width, G * H), bound),
                Spec("weight_hh", (H, G * H), bound),
                Spec("bias_ih", (1, G * H), bound),
                Spec("bias_hh", (1, G * H), bound),
            ]
        return specs

    def encode(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        layers = self.config.num_layers
        x = x.transpose(1, 2)  # (F, T, B, C): time-major, so each step's slice is one block per fold
        for layer in range(layers):
            x = self.layer.apply(
                x, self.weight_ih[layer], self.weight_hh[layer], self.bias_ih[layer], self.bias_hh[layer]
            )  # (F, T, B, H)
            if layer < layers - 1 and self.training and self.config.dropout > 0:
                x = dropout(x, self.config.dropout, generator)
        return x[:, -1]  # (F, B, H): the last time step feeds the head

    def _pairs(self, model: ReferenceClassifier, fold: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(stacked slice, reference tensor in the stacked layout) for every weight of fold ``fold``."""
        rnn = cast(RecurrentClassifier, model).rnn
        pairs = []
        for layer in range(self.config.num_layers):
            pairs += [
                (self.weight_ih[layer][fold], getattr(rnn, f"weight_ih_l{layer}").T),
                (self.weight_hh[layer][fold], getattr(rnn, f"weight_hh_l{layer}").T),
                (self.bias_ih[layer][fold, 0], getattr(rnn, f"bias_ih_l{layer}")),
                (self.bias_hh[layer][fold, 0], getattr(rnn, f"bias_hh_l{layer}")),
            ]
        return pairs

    def load_encoder(self, fold: int, model: ReferenceClassifier) -> None:
        for stacked, theirs in self._pairs(model, fold):
            stacked.copy_(theirs)

    def export_encoder(self, fold: int, model: ReferenceClassifier) -> None:
        for stacked, theirs in self._pairs(model, fold):
            theirs.copy_(stacked)
