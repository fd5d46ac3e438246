"""The network families, each in two forms: a plain ``torch.nn`` reference and a fold-stacked form whose F folds
run as one computation with per-fold weights (:mod:`vixray.models.lstm`)."""

from vixray.models.lstm import FoldLSTMClassifier, LSTMClassifier

__all__ = ["FoldLSTMClassifier", "LSTMClassifier"]
