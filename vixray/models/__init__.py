"""The network families, each in two forms: a plain ``torch.nn`` reference and a fold-stacked form whose F folds
run as one computation with per-fold weights (:mod:`vixray.models.base`).

``model.kind`` picks the family: ``lstm`` (:mod:`~vixray.models.lstm`), ``gru`` (:mod:`~vixray.models.gru`),
``transformer`` (:mod:`~vixray.models.transformer`). :func:`fold_model` builds the trainer's stack,
:func:`reference_model` one plain model.
"""

from __future__ import annotations

from vixray.config import ModelConfig
from vixray.config.sections import MODEL_KINDS
from vixray.labels import N_CLASSES
from vixray.models.base import FoldClassifier, ReferenceClassifier
from vixray.models.gru import FoldGRUClassifier, GRUClassifier
from vixray.models.lstm import FoldLSTMClassifier, LSTMClassifier
from vixray.models.transformer import FoldTransformerClassifier, TransformerClassifier

FAMILIES: dict[str, type[FoldClassifier]] = {
    "lstm": FoldLSTMClassifier,
    "gru": FoldGRUClassifier,
    "transformer": FoldTransformerClassifier,
}
if tuple(FAMILIES) != MODEL_KINDS:  # the config names the families; every name needs its module
    raise ImportError(f"vixray.models registers {list(FAMILIES)} but model.kind allows {list(MODEL_KINDS)}")


def fold_model(
    config: ModelConfig, *, n_folds: int, n_features: int, n_classes: int = N_CLASSES, seed: int = 0
) -> FoldClassifier:
    """The fold-stacked network of ``config.kind``: F independent models, one computation."""
    return FAMILIES[config.kind](n_folds, n_features, config, n_classes=n_classes, seed=seed)


def reference_model(
    config: ModelConfig, *, n_features: int, n_classes: int = N_CLASSES
) -> ReferenceClassifier:
    """One plain ``torch.nn`` model of ``config.kind``."""
    return FAMILIES[config.kind].reference(n_features, config, n_classes=n_classes)


__all__ = [
    "FAMILIES",
    "FoldClassifier",
    "FoldGRUClassifier",
    "FoldLSTMClassifier",
    "FoldTransformerClassifier",
    "GRUClassifier",
    "LSTMClassifier",
    "ReferenceClassifier",
    "TransformerClassifier",
    "fold_model",
    "reference_model",
]
