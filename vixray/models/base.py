"""The two forms every family takes, as base classes: a reference classifier and its fold-stacked twin.

A family module (:mod:`~vixray.models.lstm`, :mod:`~vixray.models.gru`, :mod:`~vixray.models.transformer`) defines an
encoder twice: in the reference form from ``torch.nn`` modules (:class:`ReferenceClassifier`), and in the
fold-stacked form (:class:`FoldClassifier`) as parameters with a leading fold dimension, so the models of all F
walk-forward folds run as one computation. Both end in the shared head (:mod:`vixray.models.blocks`). The bridge
(:meth:`FoldClassifier.load_fold`, :meth:`~FoldClassifier.to_single`, :meth:`~FoldClassifier.from_single`) copies
weights between the forms, which is how the tests prove the two compute the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from vixray.config import ModelConfig
from vixray.labels import N_CLASSES
from vixray.models.blocks import (
    Spec,
    check_fold,
    check_input,
    export_head,
    fold_head,
    head_specs,
    linears,
    load_head,
    reference_head,
    stack_parameters,
)


class ReferenceClassifier(nn.Module):
    """One model: an encoder of ``(B, T, C)`` windows to ``(B, H)`` (:meth:`encode`), then the MLP head to K logits."""

    def __init__(self, n_features: int, config: ModelConfig, *, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.config = config
        self.n_features = n_features
        self.n_classes = n_classes
        self.head = reference_head(config.hidden_size, config, n_classes=n_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))  # (B, K)

    def linears(self) -> list[nn.Linear]:
        return linears(self.head)


class FoldClassifier(nn.Module):
    """F independent classifiers of one family; every parameter has a leading fold dimension.

    A family gives :meth:`encoder_specs` (its parameters, registered before the head's), :meth:`encode`
    ((F, B, T, C) windows -> (F, B, H)), and the weight copies to and from its reference form.
    """

    reference: ClassVar[type[ReferenceClassifier]]
    head_weight: nn.ParameterList
    head_bias: nn.ParameterList

    def __init__(
        self,
        n_folds: int,
        n_features: int,
        config: ModelConfig,
        *,
        n_classes: int = N_CLASSES,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_folds < 1:
            raise ValueError(f"n_folds = {n_folds}: need at least one fold")
        if n_features < 1:
            raise ValueError(f"n_features = {n_features}: the windows need at least one feature column")
        self.config = config
        self.n_folds = n_folds
        self.n_features = n_features
        self.n_classes = n_classes
        specs = [*self.encoder_specs(), *head_specs(config.hidden_size, config, n_classes=n_classes)]
        stack_parameters(self, specs, n_folds=n_folds, seed=seed)

    # ------------------------------------------------------------------------------------------ the family's part

    def encoder_specs(self) -> list[Spec]:
        raise NotImplementedError

    def encode(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def load_encoder(self, fold: int, model: ReferenceClassifier) -> None:
        raise NotImplementedError

    def export_encoder(self, fold: int, model: ReferenceClassifier) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ shared

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (F, B, K) for windows ``x`` (F, B, T, C); dropout (train mode only) draws from ``generator``."""
        check_input(x, n_folds=self.n_folds, n_features=self.n_features)
        z = self.encode(x, generator)  # (F, B, H)
        return fold_head(
            z,
            self.head_weight,
            self.head_bias,
            rates=self.config.head_dropout,
            training=self.training,
            generator=generator,
        )

    @torch.no_grad()
    def load_fold(self, fold: int, model: ReferenceClassifier) -> None:
        """Copy one reference model's weights into fold ``fold``."""
        check_fold(fold, self.n_folds)
        theirs = (model.n_features, model.config, model.n_classes)
        ours = (self.n_features, self.config, self.n_classes)
        if theirs != ours:
            raise ValueError(
                f"model for fold {fold} has (features, config, classes) = {theirs}; this stack is built for "
                f"{ours}: build the stack with the same ModelConfig and feature count"
            )
        self.load_encoder(fold, model)
        load_head(model.head, self.head_weight, self.head_bias, fold)

    @torch.no_grad()
    def to_single(self, fold: int) -> ReferenceClassifier:
        """Fold ``fold`` as a standalone reference model (on the CPU, in this model's train/eval mode)."""
        check_fold(fold, self.n_folds)
        model = self.reference(self.n_features, self.config, n_classes=self.n_classes)
        self.export_encoder(fold, model)
        export_head(model.head, self.head_weight, self.head_bias, fold)
        return model.train(self.training)

    @classmethod
    def from_single(cls, models: Sequence[ReferenceClassifier]) -> FoldClassifier:
        """Stack standalone models (one per fold, same architecture) into one fold-stacked model."""
        if not models:
            raise ValueError(f"models is empty: pass one {cls.reference.__name__} per fold")
        first = models[0]
        stacked = cls(len(models), first.n_features, first.config, n_classes=first.n_classes)
        for fold, model in enumerate(models):
            stacked.load_fold(fold, model)
        return stacked
