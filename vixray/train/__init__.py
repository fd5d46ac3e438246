"""Fit all F walk-forward folds of one configuration as ONE computation.

Every fold keeps its own parameters (the fold dimension of :class:`~vixray.models.lstm.FoldLSTMClassifier`), Adam state,
class weights, mini-batch order, gradient clipping and early stopping; one training step runs every fold's batch
through one forward and one backward pass. Folds are independent because the total loss is the sum of per-fold
losses, so each fold's gradient is that of its own loss.

How a step works:

* All parameters live in one (F, P) buffer (each model parameter is a view into it), and the gradients of a step
  are gathered into a second (F, P) buffer, so per-fold work is one op over rows: the global-norm clip of each
  fold, and the optimiser.
* The optimiser is ``torch.optim.Adam`` with L2 weight decay (:class:`vixray.optim.FoldAdam`: the fused kernel
  ``torch.optim.Adam(fused=True)`` uses, with a tested fallback to the public optimiser), on the rows of the folds
  that have a batch in this step. A fold that has early-stopped, or has run out of batches this epoch, is left out:
  its parameters, moments and step count do not move (Adam's momentum would otherwise move it on a zero gradient).
* Loss per fold: the class-weighted cross-entropy mean as ``nn.CrossEntropyLoss(weight=w)`` computes it,
  ``sum(w_y * ce) / sum(w_y)`` over the fold's real items in the batch; padding items carry weight 0.
* The window length is the windows' own (``FoldWindows.seq_len``, built from ``model.seq_len`` by
  :func:`vixray.crossval.prepare_folds`): the network reads any length, so the trainer takes no second one.
* Each epoch, fold f's training items are shuffled by the fold's own generator (:func:`order_rng`) and cut into
  consecutive batches of ``batch_size`` (the last one smaller), as ``DataLoader(shuffle=True)`` does. A fold with
  fewer items has fewer batches. The windows move to the device once; each epoch's batches are gathered from them
  in one indexing op and the optimiser's fold groups are planned up front, so the step loop never syncs with the
  host (losses are summed on the device and read once per epoch).
* Validation is one no-grad pass per epoch. ``val_loss`` is the plain (unweighted) log loss over the fold's
  validation windows, so trials with and without class weighting compare on the same scale; early stopping watches
  it with ``patience`` epochs, keeps each fold's best weights and restores them when the fold stops. Predictions
  always use each fold's best-validation weights (the last weights for a fold without validation windows).
* ``epoch_limits`` gives each fold its own number of epochs: a refit (:func:`vixray.crossval.fit_prepared`)
  trains fold f on its whole training block, without a validation tail, for the epochs it early-stopped at.

:func:`fit_folds` runs to the end; :class:`FoldTrainer` runs epoch by epoch and checkpoints exactly
(:meth:`FoldTrainer.state_dict`), which is what a search trial needs. This module knows nothing of Ray.
"""

from vixray.device import resolve_device
from vixray.train.reports import EpochReport, FitResult
from vixray.train.trainer import FoldTrainer, fit_folds, order_rng

__all__ = ["EpochReport", "FitResult", "FoldTrainer", "fit_folds", "order_rng", "resolve_device"]
