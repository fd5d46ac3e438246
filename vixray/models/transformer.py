"""The Transformer family: a small causal encoder over the window whose last position feeds the shared MLP head.

The window's days are projected to the model width and given sinusoidal positions (Vaswani et al. 2017); each of
``num_layers`` pre-norm blocks adds causal multi-head self-attention and a ReLU feed-forward layer
(``ff_size``) to its residual stream, and a final LayerNorm closes the encoder. Causal: a day attends to itself and
the days before it only, so the positions read the window in time order as the recurrent families do.

* :class:`TransformerClassifier`, the reference form: ``nn.Linear``, ``nn.TransformerEncoder`` of
  ``nn.TransformerEncoderLayer(norm_first=True, batch_first=True)`` and ``nn.LayerNorm``.
* :class:`FoldTransformerClassifier`, F independent copies with a leading fold dimension on every weight. Nothing
  recurs over time, so every projection is one ``baddbmm`` over all of a fold's days at once and autograd's backward
  is already a few large matmuls; only the attention is written out (scores, causal mask, softmax, dropout from the
  trainer's own stream, so a resumed trial draws the same masks).

Initialisation follows PyTorch's: Linear layers uniform in ±1/sqrt(fan_in), the attention's input projection
Xavier-uniform with zero biases, the output projection's bias zero, LayerNorms one and zero.

Shapes: F folds, B windows, T days, C features, D model width, N heads, E = D / N per head, K classes.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F_
from torch import nn

from vixray.config import ModelConfig
from vixray.labels import N_CLASSES
from vixray.models.base import FoldClassifier, ReferenceClassifier
from vixray.models.blocks import Spec, dropout

LN_EPS = 1e-5  # nn.LayerNorm's and nn.TransformerEncoderLayer's default


def positions(steps: int, width: int, *, device: torch.device | None = None) -> torch.Tensor:
    """Sinusoidal position encodings (T, D): sin on even dimensions, cos on odd, wavelengths up to 10000 x 2 pi."""
    pos = torch.arange(steps, dtype=torch.float32, device=device)[:, None]  # (T, 1)
    rate = torch.exp(
        torch.arange(0, width, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / width)
    )
    out = torch.zeros(steps, width, device=device)  # (T, D)
    out[:, 0::2] = torch.sin(pos * rate)
    out[:, 1::2] = torch.cos(pos * rate)[:, : width // 2]
    return out


# ------------------------------------------------------------------------------------------------ reference model


class TransformerClassifier(ReferenceClassifier):
    """One model: Linear to the model width, + positions, a causal pre-norm encoder, LayerNorm, last day, head."""

    def __init__(self, n_features: int, config: ModelConfig, *, n_classes: int = N_CLASSES) -> None:
        super().__init__(n_features, config, n_classes=n_classes)
        D = config.hidden_size
        self.embed = nn.Linear(n_features, D)
        layer = nn.TransformerEncoderLayer(
            D,
            config.heads,
            dim_feedforward=config.feed_forward,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(D)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        z = self.embed(x) + positions(T, self.config.hidden_size, device=x.device)  # (B, T, D)
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device)  # (T, T)
        z = self.encoder(z, mask=mask, is_causal=True)  # (B, T, D)
        return self.norm(z[:, -1])  # (B, D)


# ------------------------------------------------------------------------------------------------ fold-stacked model

_LAYER = (
    "ln1_w",
    "ln1_b",
    "qkv_w",
    "qkv_b",
    "out_w",
    "out_b",
    "ln2_w",
    "ln2_b",
    "ff1_w",
    "ff1_b",
    "ff2_w",
    "ff2_b",
)


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the last dimension of (F, ..., D) with per-fold affine ``w``, ``b`` (F, 1, D)."""
    return torch.addcmul(b, F_.layer_norm(x, x.shape[-1:], eps=LN_EPS), w)


class FoldTransformerClassifier(FoldClassifier):
    """F independent Transformer classifiers. Per fold: ``embed_w`` (C, D), ``embed_b`` (1, D); per layer the
    attention's ``qkv_w`` (D, 3D) / ``qkv_b`` (1, 3D) (query, key, value in that order) and ``out_w`` (D, D) /
    ``out_b``, the feed-forward ``ff1_w`` (D, ff) / ``ff2_w`` (ff, D) with biases, two LayerNorms; ``norm_w`` /
    ``norm_b`` (1, D); then the head's. Weights are input-major (``x @ W``)."""

    reference = TransformerClassifier
    embed_w: nn.ParameterList
    embed_b: nn.ParameterList
    norm_w: nn.ParameterList
    norm_b: nn.ParameterList
    qkv_w: nn.ParameterList
    qkv_b: nn.ParameterList

    def encoder_specs(self) -> list[Spec]:
        D, ff, C = self.config.hidden_size, self.config.feed_forward, self.n_features
        specs = [Spec("embed_w", (C, D), 1 / math.sqrt(C)), Spec("embed_b", (1, D), 1 / math.sqrt(C))]
        for _ in range(self.config.num_layers):
            specs += [
                Spec("ln1_w", (1, D), fill=1.0),
                Spec("ln1_b", (1, D), fill=0.0),
                Spec(
                    "qkv_w", (D, 3 * D), math.sqrt(6.0 / (D + 3 * D))
                ),  # xavier_uniform_ of the (3D, D) matrix
                Spec("qkv_b", (1, 3 * D), fill=0.0),
                Spec("out_w", (D, D), 1 / math.sqrt(D)),
                Spec("out_b", (1, D), fill=0.0),
                Spec("ln2_w", (1, D), fill=1.0),
                Spec("ln2_b", (1, D), fill=0.0),
                Spec("ff1_w", (D, ff), 1 / math.sqrt(D)),
                Spec("ff1_b", (1, ff), 1 / math.sqrt(D)),
                Spec("ff2_w", (ff, D), 1 / math.sqrt(ff)),
                Spec("ff2_b", (1, D), 1 / math.sqrt(ff)),
            ]
        return [*specs, Spec("norm_w", (1, D), fill=1.0), Spec("norm_b", (1, D), fill=0.0)]

    def _drop(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        rate = self.config.dropout
        return dropout(x, rate, generator) if self.training and rate > 0 else x

    def _attention(self, z: torch.Tensor, layer: int, generator: torch.Generator | None) -> torch.Tensor:
        """Causal multi-head self-attention of (F, B, T, D) -> (F, B*T, D), before the output projection."""
        F, B, T, D = z.shape
        N = self.config.heads
        E = D // N
        qkv = torch.baddbmm(self.qkv_b[layer], z.reshape(F, B * T, D), self.qkv_w[layer])  # (F, B*T, 3D)
        q, k, v = qkv.view(F, B, T, 3, N, E).permute(3, 0, 1, 4, 2, 5).unbind(0)  # (F, B, N, T, E) each
        scores = q @ k.transpose(-1, -2) / math.sqrt(E)  # (F, B, N, T, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=z.device).triu_(
            1
        )  # (T, T) True above the diagonal
        weights = self._drop(
            scores.masked_fill(causal, float("-inf")).softmax(-1), generator
        )  # (F, B, N, T, T)
        return (weights @ v).permute(0, 1, 3, 2, 4).reshape(F, B * T, D)  # (F, B*T, D)

    def states(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The residual stream after the last block at every day, (F, B, T, D): day t's reads days <= t only."""
        F, B, T, C = x.shape
        D = self.config.hidden_size
        z = torch.baddbmm(self.embed_b[0], x.reshape(F, B * T, C), self.embed_w[0])  # (F, B*T, D)
        z = (z.view(F, B, T, D) + positions(T, D, device=x.device)).view(F, B * T, D)  # (F, B*T, D)
        for layer in range(self.config.num_layers):
            p = {name: getattr(self, name)[layer] for name in _LAYER}
            a = self._attention(_layer_norm(z, p["ln1_w"], p["ln1_b"]).view(F, B, T, D), layer, generator)
            z = z + self._drop(torch.baddbmm(p["out_b"], a, p["out_w"]), generator)  # (F, B*T, D)
            h = torch.baddbmm(
                p["ff1_b"], _layer_norm(z, p["ln2_w"], p["ln2_b"]), p["ff1_w"]
            ).relu()  # (F, B*T, ff)
            z = z + self._drop(torch.baddbmm(p["ff2_b"], self._drop(h, generator), p["ff2_w"]), generator)
        return z.view(F, B, T, D)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        last = self.states(x, generator)[:, :, -1]  # (F, B, D): the last day feeds the head
        return _layer_norm(last, self.norm_w[0], self.norm_b[0])  # (F, B, D)

    # -------------------------------------------------------------------------------------- the reference bridge

    def _pairs(self, model: TransformerClassifier, fold: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(stacked slice, reference tensor in the stacked layout) for every weight of fold ``fold``."""
        pairs = [(self.embed_w[0][fold], model.embed.weight.T), (self.embed_b[0][fold, 0], model.embed.bias)]
        for layer, block in enumerate(cast(list[nn.TransformerEncoderLayer], list(model.encoder.layers))):
            mine = {name: getattr(self, name)[layer][fold] for name in _LAYER}
            pairs += [
                (mine["ln1_w"][0], block.norm1.weight),
                (mine["ln1_b"][0], block.norm1.bias),
                (mine["qkv_w"], block.self_attn.in_proj_weight.T),
                (mine["qkv_b"][0], block.self_attn.in_proj_bias),
                (mine["out_w"], block.self_attn.out_proj.weight.T),
                (mine["out_b"][0], block.self_attn.out_proj.bias),
                (mine["ln2_w"][0], block.norm2.weight),
                (mine["ln2_b"][0], block.norm2.bias),
                (mine["ff1_w"], block.linear1.weight.T),
                (mine["ff1_b"][0], block.linear1.bias),
                (mine["ff2_w"], block.linear2.weight.T),
                (mine["ff2_b"][0], block.linear2.bias),
            ]
        return [
            *pairs,
            (self.norm_w[0][fold, 0], model.norm.weight),
            (self.norm_b[0][fold, 0], model.norm.bias),
        ]

    def load_encoder(self, fold: int, model: ReferenceClassifier) -> None:
        for stacked, theirs in self._pairs(cast(TransformerClassifier, model), fold):
            stacked.copy_(theirs)

    def export_encoder(self, fold: int, model: ReferenceClassifier) -> None:
        for stacked, theirs in self._pairs(cast(TransformerClassifier, model), fold):
            theirs.copy_(stacked)
