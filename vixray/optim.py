"""Adam on the rows of an (F, P) parameter buffer: one row per walk-forward fold, each with its own moments and step.

The fold-batched trainer keeps every fold's parameters in one row of a buffer, and a step updates only the folds
that had a batch in it (an early-stopped fold, or one out of batches this epoch, must not move: Adam's momentum
would carry it on a zero gradient). The fast path calls the kernel ``torch.optim.Adam(fused=True)`` runs,
``torch._fused_adam_``, on those rows directly: one call per step, no per-parameter bookkeeping. That op is private
and has no stability promise, so :class:`FoldAdam` probes it once on a tiny known case and, when it is missing,
rejects its arguments or computes something else, falls back to the public ``torch.optim.Adam(foreach=True)``
over per-fold parameters that alias the same rows (so the buffers, and the trainer's checkpoints, are the same on
both paths). Both are ``torch.optim.Adam`` with L2 weight decay (``grad += weight_decay * param``).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

log = logging.getLogger(__name__)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def _fused_step(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avg: list[torch.Tensor],
    exp_avg_sq: list[torch.Tensor],
    steps: list[torch.Tensor],
    *,
    lr: float,
    weight_decay: float,
) -> None:
    torch._foreach_add_(steps, 1)  # the kernel reads the incremented count, as torch.optim.Adam passes it
    torch._fused_adam_(
        params,
        grads,
        exp_avg,
        exp_avg_sq,
        [],
        steps,
        lr=lr,
        beta1=ADAM_BETAS[0],
        beta2=ADAM_BETAS[1],
        weight_decay=weight_decay,
        eps=ADAM_EPS,
        amsgrad=False,
        maximize=False,
    )


def fused_adam_works(device: torch.device) -> bool:
    """Whether the private fused kernel exists here and computes Adam's first step on a known case."""
    if not (hasattr(torch, "_fused_adam_") and hasattr(torch, "_foreach_add_")):
        return False
    param = torch.ones(2, device=device)  # (2,)
    grad = torch.tensor([0.5, -2.0], device=device)  # (2,)
    moments = [torch.zeros(2, device=device), torch.zeros(2, device=device)]
    step = torch.zeros((), device=device)
    try:
        _fused_step([param], [grad], [moments[0]], [moments[1]], [step], lr=0.1, weight_decay=0.0)
    except (RuntimeError, TypeError, ValueError, NotImplementedError) as err:
        log.info("torch._fused_adam_ is unusable here (%s); using torch.optim.Adam(foreach=True)", err)
        return False
    # Adam's first step moves each weight by lr * g / (|g| + eps): by -0.1 and +0.1 here
    expected = torch.tensor([0.9, 1.1], device=device)
    ok = bool(torch.allclose(param, expected, atol=1e-6)) and math.isclose(float(step), 1.0)
    if not ok:
        log.info("torch._fused_adam_ gave %s for a known Adam step; using torch.optim.Adam", param.tolist())
    return ok


class FoldAdam:
    """Adam over the rows of ``params`` (F, P) with gradients in ``grads`` (F, P); :meth:`step` moves given folds.

    ``exp_avg``, ``exp_avg_sq`` (F, P) and ``steps`` (F,) are the per-fold state, updated in place on either path.
    ``fused=None`` picks the fused kernel when :func:`fused_adam_works`, else the public optimiser.
    """

    def __init__(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        *,
        lr: float,
        weight_decay: float,
        fused: bool | None = None,
    ) -> None:
        if params.dim() != 2 or grads.shape != params.shape:
            raise ValueError(
                f"params has shape {tuple(params.shape)} and grads {tuple(grads.shape)}: pass two (folds, "
                "parameters) buffers of the same shape"
            )
        self.params, self.grads = params, grads
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.exp_avg = torch.zeros_like(params)  # (F, P)
        self.exp_avg_sq = torch.zeros_like(params)  # (F, P)
        self.steps = torch.zeros(params.shape[0], dtype=torch.float32, device=params.device)  # (F,)
        self.fused = fused_adam_works(params.device) if fused is None else bool(fused)
        self._rows: dict[tuple[int, ...], tuple[list[torch.Tensor], ...]] = {}
        self._adam: torch.optim.Adam | None = None if self.fused else self._public_adam()

    def _public_adam(self) -> torch.optim.Adam:
        """torch.optim.Adam over one parameter per fold, each aliasing its row, its state aliasing ours."""
        rows = [nn.Parameter(self.params[f], requires_grad=False) for f in range(self.params.shape[0])]
        adam = torch.optim.Adam(
            rows, lr=self.lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=self.weight_decay, foreach=True
        )
        for f, row in enumerate(rows):
            adam.state[row] = {
                "step": self.steps[f],
                "exp_avg": self.exp_avg[f],
                "exp_avg_sq": self.exp_avg_sq[f],
            }
        return adam

    def _fold_rows(self, folds: tuple[int, ...]) -> tuple[list[torch.Tensor], ...]:
        """Row views (params, grads, moments, step counts) of the given folds, cached: rows never move."""
        rows = self._rows.get(folds)
        if rows is None:
            tensors = (self.params, self.grads, self.exp_avg, self.exp_avg_sq, self.steps)
            rows = tuple([t[f] for f in folds] for t in tensors)
            self._rows[folds] = rows
        return rows

    def step(self, folds: tuple[int, ...]) -> None:
        """One Adam step for the rows ``folds`` (ascending fold ids); the other rows and their state stay put."""
        if not folds:
            return
        if self._adam is None:
            params, grads, exp_avg, exp_avg_sq, steps = self._fold_rows(folds)
            _fused_step(params, grads, exp_avg, exp_avg_sq, steps, lr=self.lr, weight_decay=self.weight_decay)
            return
        chosen = set(folds)
        for f, row in enumerate(self._adam.param_groups[0]["params"]):
            # Adam skips a parameter without a gradient, leaving its row and moments as they are
            row.grad = self.grads[f] if f in chosen else None
        self._adam.step()
