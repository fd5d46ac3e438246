"""The fold-batched trainer (:class:`FoldTrainer`) and the one-call fit (:func:`fit_folds`); see :mod:`vixray.train`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F_

from vixray.config import ModelConfig, TrainConfig
from vixray.device import resolve_device
from vixray.models import fold_model
from vixray.optim import FoldAdam
from vixray.train.reports import EpochReport, FitResult, nanmean
from vixray.windows import FoldWindows, check_windows

log = logging.getLogger(__name__)

CLIP_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_
STATE_FORMAT = 1
_EVAL_ELEMENTS = 1 << 25  # cap on F * chunk * T * 4H floats in one evaluation forward pass


# ------------------------------------------------------------------------------------------------ helpers


def order_rng(seed: int, fold: int) -> np.random.Generator:
    """The generator that shuffles fold ``fold``'s training items, one permutation per epoch."""
    return np.random.default_rng([seed, fold])


def _device_split(w: FoldWindows, split: str, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(x, y, m) of one split on the device; padding windows zeroed so they can never carry a NaN."""
    m = np.asarray(getattr(w, f"m_{split}"), dtype=bool)  # (F, N)
    x = np.where(m[:, :, None, None], getattr(w, f"x_{split}"), 0).astype(np.float32)  # (F, N, T, C)
    y = np.where(m, getattr(w, f"y_{split}"), 0).astype(np.int64)  # (F, N)
    return (torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), torch.from_numpy(m).to(device))


def _nan_fill(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, values, np.nan)


def _epoch_limits(limits: np.ndarray | None, *, n_folds: int, epochs: int) -> np.ndarray:
    """Each fold's number of epochs: ``train.epochs`` for all, or one count per fold (a refit's early-stopped
    epochs), each in 1..epochs."""
    if limits is None:
        return np.full(n_folds, epochs, dtype=np.int64)
    out = np.asarray(limits)
    if (
        out.shape != (n_folds,)
        or not np.issubdtype(out.dtype, np.integer)
        or (out < 1).any()
        or (out > epochs).any()
    ):
        raise ValueError(
            f"epoch_limits = {np.asarray(limits).tolist()}: pass one integer per fold ({n_folds}), each in "
            f"1..train.epochs = {epochs}"
        )
    return out.astype(np.int64)


# ------------------------------------------------------------------------------------------------ the trainer


class FoldTrainer:
    """Trains the F folds of ``windows`` together, one :meth:`run_epoch` at a time."""

    def __init__(
        self,
        windows: FoldWindows,
        *,
        model: ModelConfig,
        train: TrainConfig,
        epoch_limits: np.ndarray | None = None,
    ) -> None:
        check_windows(windows)
        if train.threads is not None:
            torch.set_num_threads(train.threads)
        self.model_config = model
        self.train_config = train
        self.device = resolve_device(train.device)
        F, _, _, C = windows.x_fit.shape
        self.n_folds = F
        self.n_classes = windows.n_classes
        self.epoch = 0
        self.history: list[EpochReport] = []

        self.model = fold_model(model, n_folds=F, n_features=C, n_classes=self.n_classes, seed=train.seed)
        self.model.to(self.device)
        self._params = list(self.model.parameters())
        sizes = [p[0].numel() for p in self._params]
        # one (F, P) buffer behind every parameter: per-fold clip and Adam are single row-wise ops
        self._flat = torch.cat([p.detach().reshape(F, -1) for p in self._params], dim=1)  # (F, P)
        offset = 0
        for p, n in zip(self._params, sizes, strict=True):
            p.data = self._flat[:, offset : offset + n].view(p.shape)
            offset += n
        self._grad = torch.zeros_like(self._flat)  # (F, P)
        self._optim = FoldAdam(self._flat, self._grad, lr=train.lr, weight_decay=train.weight_decay)
        self._best = self._flat.clone()  # (F, P) each fold's best-validation weights

        self._data = {s: _device_split(windows, s, self.device) for s in ("fit", "val", "test")}
        self._masks = {s: np.asarray(getattr(windows, f"m_{s}"), dtype=bool) for s in ("fit", "val", "test")}
        self._row_ids = {s: np.asarray(getattr(windows, f"rows_{s}")) for s in ("fit", "val", "test")}
        self._items = [np.flatnonzero(m) for m in self._masks["fit"]]  # per fold: its real training windows
        self._has_val = self._masks["val"].any(axis=1)  # (F,)
        self._class_weights = torch.as_tensor(
            np.asarray(windows.class_weights, dtype=np.float32), device=self.device
        )  # (F, K)
        self._fold_index = torch.arange(F, device=self.device)  # (F,)

        self._order_rngs = [order_rng(train.seed, f) for f in range(F)]
        self._dropout_rng = torch.Generator(device=self.device).manual_seed(train.seed)
        self._best_loss = np.full(F, np.inf)
        self._best_epoch = np.zeros(F, dtype=np.int64)
        self._bad_epochs = np.zeros(F, dtype=np.int64)
        self._stopped = np.zeros(F, dtype=bool)
        self._last_train_loss = np.full(F, np.nan)
        self._limits = _epoch_limits(epoch_limits, n_folds=F, epochs=train.epochs)  # (F,)

    # -------------------------------------------------------------------------------------------- one epoch

    def done(self) -> bool:
        """True once every fold has stopped early or ``train.epochs`` epochs have run."""
        return self.epoch >= self.train_config.epochs or bool(self._stopped.all())

    def _plan_epoch(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch item indices (S, F, B) and their mask, from a fresh permutation per active fold."""
        B = self.train_config.batch_size
        counts = np.array([len(items) for items in self._items])
        n_batches = np.where(self._stopped, 0, -(-counts // B))  # (F,)
        S = int(n_batches.max())
        index = np.zeros((self.n_folds, S * B), dtype=np.int64)  # (F, S*B)
        valid = np.zeros((self.n_folds, S * B), dtype=bool)  # (F, S*B)
        for f in np.flatnonzero(~self._stopped):
            order = self._order_rngs[f].permutation(self._items[f])
            index[f] = order[0]  # filler for the unused slots: a real window, so it can hold no NaN
            index[f, : order.size] = order
            valid[f, : order.size] = True
        shape = (self.n_folds, S, B)
        return index.reshape(shape).transpose(1, 0, 2).copy(), valid.reshape(shape).transpose(1, 0, 2).copy()

    def _train_epoch(self) -> np.ndarray:
        """One pass over every active fold's batches; the mean batch loss per fold (NaN where none ran)."""
        cfg = self.train_config
        F, K = self.n_folds, self.n_classes
        index, valid = self._plan_epoch()  # (S, F, B)
        S, _, B = index.shape
        x, y, _ = self._data["fit"]
        idx = torch.from_numpy(index).to(self.device)  # (S, F, B)
        xb = x[self._fold_index[None, :, None], idx]  # (S, F, B, T, C)
        yb = y[self._fold_index[None, :, None], idx]  # (S, F, B)
        w = self._class_weights[self._fold_index[None, :, None], yb]  # (S, F, B)
        w = w * torch.from_numpy(valid).to(self.device)  # (S, F, B) padding slots weigh 0
        w = w / w.sum(dim=2, keepdim=True).clamp_min(1e-30)  # (S, F, B) weights of each fold's batch mean
        active_steps = np.asarray(valid.any(axis=2))  # (S, F)
        groups = [tuple(np.flatnonzero(active_steps[s]).tolist()) for s in range(S)]
        loss_sum = torch.zeros(F, device=self.device)  # (F,)

        self.model.train()
        for s in range(S):
            logits = self.model(xb[s], generator=self._dropout_rng)  # (F, B, K)
            nll = F_.cross_entropy(logits.reshape(F * B, K), yb[s].reshape(F * B), reduction="none")  # (F*B,)
            loss = (w[s] * nll.view(F, B)).sum(dim=1)  # (F,)
            grads = torch.autograd.grad(loss.sum(), self._params)
            torch.cat([g.reshape(F, -1) for g in grads], dim=1, out=self._grad)  # (F, P)
            if cfg.grad_clip is not None:
                norm = torch.linalg.vector_norm(self._grad, dim=1, keepdim=True)  # (F, 1)
                self._grad.mul_((cfg.grad_clip / (norm + CLIP_EPS)).clamp_(max=1.0))
            self._optim.step(groups[s])
            loss_sum += loss.detach()
        n_steps = active_steps.sum(axis=0)  # (F,)
        return _nan_fill(loss_sum.cpu().numpy() / np.maximum(n_steps, 1), n_steps > 0)

    # -------------------------------------------------------------------------------------------- evaluation

    @torch.no_grad()
    def _logits(self, split: str, x: torch.Tensor | None = None) -> torch.Tensor:
        """Eval-mode logits (F, N, K) of a split (or of inputs ``x`` shaped like it), in chunks of windows to bound
        memory."""
        x = self._data[split][0] if x is None else x
        F, N, T, _ = x.shape
        self.model.eval()
        if N == 0:
            return torch.zeros(F, 0, self.n_classes, device=self.device)
        chunk = max(1, _EVAL_ELEMENTS // (F * T * 4 * self.model_config.hidden_size))
        return torch.cat([self.model(x[:, i : i + chunk]) for i in range(0, N, chunk)], dim=1)  # (F, N, K)

    @torch.no_grad()
    def _evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Unweighted log loss and accuracy per fold over the split's real windows (NaN for a fold with none)."""
        _, y, m = self._data[split]
        logits = self._logits(split)  # (F, N, K)
        nll = -logits.log_softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (F, N)
        hit = (logits.argmax(-1) == y).float()  # (F, N)
        count = m.sum(dim=1)  # (F,)
        zero = torch.zeros((), device=self.device)
        stats = torch.stack(
            [torch.where(m, nll, zero).sum(dim=1), torch.where(m, hit, zero).sum(dim=1), count.float()]
        )  # (3, F)
        loss_sum, hits, n = stats.cpu().double().numpy()
        has = n > 0
        return _nan_fill(loss_sum / np.maximum(n, 1), has), _nan_fill(hits / np.maximum(n, 1), has)

    # -------------------------------------------------------------------------------------------- early stopping

    def _select(self, trained: np.ndarray, val_loss: np.ndarray) -> None:
        """Keep each fold's best weights; stop (and restore) folds out of patience."""
        improved = trained & self._has_val & (val_loss < self._best_loss)  # (F,)
        worse = trained & self._has_val & ~improved
        self._best_loss[improved] = val_loss[improved]
        self._bad_epochs[improved] = 0
        self._bad_epochs[worse] += 1
        take = improved | (trained & ~self._has_val)  # without validation, the latest weights are the best
        self._best_epoch[take] = self.epoch
        if take.any():
            rows = torch.from_numpy(np.flatnonzero(take)).to(self.device)
            self._best.index_copy_(0, rows, self._flat.index_select(0, rows))
        patience = self.train_config.patience
        if patience is not None:
            stop = trained & self._has_val & (self._bad_epochs >= patience)
            if stop.any():
                rows = torch.from_numpy(np.flatnonzero(stop)).to(self.device)
                self._flat.index_copy_(0, rows, self._best.index_select(0, rows))
                self._stopped |= stop
                log.debug("epoch %d: folds %s stopped early", self.epoch, np.flatnonzero(stop).tolist())

    def _check_finite(self, name: str, values: np.ndarray, relevant: np.ndarray) -> None:
        bad = relevant & ~np.isfinite(values)
        if bad.any():
            folds = np.flatnonzero(bad).tolist()
            raise FloatingPointError(
                f"epoch {self.epoch}: the {name} is {values[bad][0]} in fold(s) {folds}: training diverged; "
                f"lower train.lr (now {self.train_config.lr}) or set train.grad_clip "
                f"(now {self.train_config.grad_clip})"
            )

    def run_epoch(self) -> EpochReport:
        """Train every active fold for one epoch, validate, update early stopping; the epoch's report."""
        if self.done():
            raise ValueError(
                f"run_epoch after training finished (epoch {self.epoch} of train.epochs = "
                f"{self.train_config.epochs}, {int(self._stopped.sum())}/{self.n_folds} folds stopped): "
                "check done() first"
            )
        started = time.perf_counter()
        trained = ~self._stopped
        self.epoch += 1
        train_loss = self._train_epoch()
        self._check_finite("training loss", train_loss, trained)
        self._last_train_loss = np.where(trained, train_loss, self._last_train_loss)
        val_loss, val_accuracy = self._evaluate("val")
        self._check_finite("validation loss", val_loss, trained & self._has_val)
        stopped_before = self._stopped.copy()
        self._select(trained, val_loss)
        self._stopped |= (
            self.epoch >= self._limits
        )  # a fold given fewer epochs (a refit's) stops at its count
        if (self._stopped & ~stopped_before).any():  # those folds now hold their restored best weights
            val_loss, val_accuracy = self._evaluate("val")
        report = EpochReport(
            epoch=self.epoch,
            train_loss=self._last_train_loss.copy(),
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            active=trained,
            seconds=time.perf_counter() - started,
        )
        self.history.append(report)
        log.debug(
            "epoch %d: train %.4f val %.4f acc %.3f (%d folds active, %.2fs)",
            report.epoch,
            nanmean(report.train_loss),
            report.mean_val_loss,
            report.mean_val_accuracy,
            int(trained.sum()),
            report.seconds,
        )
        return report

    # -------------------------------------------------------------------------------------------- predictions

    @property
    def best_epoch(self) -> np.ndarray:
        """(F,) the 1-based epoch of each fold's best validation loss (its last epoch without validation)."""
        return self._best_epoch.copy()

    @property
    def active(self) -> np.ndarray:
        """(F,) bool: the folds that have not stopped early."""
        return ~self._stopped

    @torch.no_grad()
    def predict(
        self, split: str = "test", *, inputs: Sequence[np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per fold, class probabilities (n_f, K) and predicted classes (n_f,) for a split's real windows, with
        each fold's best weights (the initial ones before any epoch). ``inputs`` replaces the split's windows: per
        fold (n_f, T, C), the real windows in order (a permutation importance shuffles them)."""
        if split not in self._data:
            raise ValueError(f"split = {split!r}: choose one of {sorted(self._data)}")
        masks = self._masks[split]
        x = None if inputs is None else self._stack_inputs(split, inputs)
        live = self._flat.clone()
        self._flat.copy_(self._best)
        try:
            proba = self._logits(split, x).double().softmax(-1).cpu().numpy()  # (F, N, K)
        finally:
            self._flat.copy_(live)
        probas = [proba[f][masks[f]] for f in range(self.n_folds)]
        return probas, [p.argmax(axis=1) for p in probas]

    def _stack_inputs(self, split: str, inputs: Sequence[np.ndarray]) -> torch.Tensor:
        """Per-fold windows put back into the split's padded (F, N, T, C) layout on the device."""
        x = self._data[split][0]  # (F, N, T, C)
        masks = self._masks[split]
        expected = [(int(m.sum()), *x.shape[2:]) for m in masks]
        got = [tuple(np.shape(a)) for a in inputs]
        if got != expected:
            raise ValueError(
                f"inputs have shapes {got}: pass one array per fold shaped like the {split} windows, {expected}"
            )
        out = np.zeros(tuple(x.shape), dtype=np.float32)  # (F, N, T, C)
        for f, (m, a) in enumerate(zip(masks, inputs, strict=True)):
            out[f][m] = a
        return torch.from_numpy(out).to(self.device)

    def rows(self, split: str = "test") -> list[np.ndarray]:
        """Per fold, the table row ids of a split's real windows (the order :meth:`predict` returns)."""
        return [r[m] for r, m in zip(self._row_ids[split], self._masks[split], strict=True)]

    # -------------------------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly (loads with ``torch.load(weights_only=True)``)."""
        return {
            "format": STATE_FORMAT,
            "model_config": asdict(self.model_config),
            "shape": list(self._flat.shape),
            "epoch": self.epoch,
            "params": self._flat.cpu().clone(),
            "exp_avg": self._optim.exp_avg.cpu().clone(),
            "exp_avg_sq": self._optim.exp_avg_sq.cpu().clone(),
            "steps": self._optim.steps.cpu().clone(),
            "best": self._best.cpu().clone(),
            "best_loss": self._best_loss.tolist(),
            "best_epoch": self._best_epoch.tolist(),
            "bad_epochs": self._bad_epochs.tolist(),
            "stopped": self._stopped.tolist(),
            "last_train_loss": self._last_train_loss.tolist(),
            "history": [r.to_dict() for r in self.history],
            "order_rngs": [rng.bit_generator.state for rng in self._order_rngs],
            "dropout_rng": self._dropout_rng.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` of a trainer built with the same windows and configs."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(
                f"checkpoint format = {state.get('format')!r}: this trainer reads format {STATE_FORMAT}; "
                "start the trial afresh"
            )
        if list(state["shape"]) != list(self._flat.shape):
            raise ValueError(
                f"checkpoint has (folds, parameters) = {tuple(state['shape'])} but this trainer has "
                f"{tuple(self._flat.shape)}: load it into a trainer with the same folds and model"
            )
        if state["model_config"] != asdict(self.model_config):
            raise ValueError(
                f"checkpoint model config {state['model_config']} differs from model = "
                f"{asdict(self.model_config)}: load it with the model config it was saved with"
            )
        with torch.no_grad():  # in place: parameter views and the optimiser's rows point into these buffers
            self._flat.copy_(state["params"])
            self._optim.exp_avg.copy_(state["exp_avg"])
            self._optim.exp_avg_sq.copy_(state["exp_avg_sq"])
            self._optim.steps.copy_(state["steps"])
            self._best.copy_(state["best"])
        self.epoch = int(state["epoch"])
        self._best_loss = np.asarray(state["best_loss"], dtype=np.float64)
        self._best_epoch = np.asarray(state["best_epoch"], dtype=np.int64)
        self._bad_epochs = np.asarray(state["bad_epochs"], dtype=np.int64)
        self._stopped = np.asarray(state["stopped"], dtype=bool)
        self._last_train_loss = np.asarray(state["last_train_loss"], dtype=np.float64)
        self.history = [EpochReport.from_dict(d) for d in state["history"]]
        for rng, rng_state in zip(self._order_rngs, state["order_rngs"], strict=True):
            rng.bit_generator.state = rng_state
        self._dropout_rng.set_state(state["dropout_rng"])


# ------------------------------------------------------------------------------------------------ one call


def fit_folds(
    windows: FoldWindows,
    *,
    model: ModelConfig,
    train: TrainConfig,
    on_epoch: Callable[[EpochReport], None] | None = None,
    epoch_limits: np.ndarray | None = None,
) -> FitResult:
    """Train every fold to the end (epochs, early stopping, or fold f's ``epoch_limits[f]``); test predictions with
    each fold's best weights.

    ``on_epoch`` is called once per epoch with that epoch's :class:`EpochReport` (how a search reports).
    """
    started = time.perf_counter()
    trainer = FoldTrainer(windows, model=model, train=train, epoch_limits=epoch_limits)
    while not trainer.done():
        report = trainer.run_epoch()
        if on_epoch is not None:
            on_epoch(report)
    proba, pred = trainer.predict("test")
    seconds = time.perf_counter() - started
    log.info(
        "trained %d folds for %d epochs on %s in %.1fs",
        trainer.n_folds,
        trainer.epoch,
        trainer.device,
        seconds,
    )
    return FitResult(
        test_proba=proba,
        test_pred=pred,
        test_rows=trainer.rows("test"),
        history=list(trainer.history),
        best_epoch=trainer.best_epoch,
        epochs_run=trainer.epoch,
        seconds=seconds,
        device=str(trainer.device),
    )
