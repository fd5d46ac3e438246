"""The GRU family: a stacked GRU whose last time step feeds the shared MLP head (:mod:`vixray.models.recurrent`).

* :class:`GRUClassifier`, the reference form from ``nn.GRU``.
* :class:`FoldGRUClassifier`, F independent copies stacked on a leading fold dimension, the recurrence written out
  (:class:`FoldGRULayer`) as the LSTM's is: every step's input projection in one matmul per layer, one batched
  matmul per step for the recurrent part, and a hand-written backward whose elementwise derivatives are computed
  once over all steps, leaving one multiply, one matmul and one fused add per step in the backward loop.

PyTorch's GRU, gates in its order (r, z, n)::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     h' = (1 - z) * n + z * h

Weights and biases initialise uniform in ±1/sqrt(H), as ``nn.GRU``'s. Shapes: F folds, B windows, T time steps,
C features, H hidden units.
"""

from __future__ import annotations

import torch
from torch import nn

from vixray.models.recurrent import FoldRecurrentClassifier, RecurrentClassifier

# ------------------------------------------------------------------------------------------------ reference model


class GRUClassifier(RecurrentClassifier):
    """One model: ``nn.GRU`` (batch first) -> last time step -> the head."""

    rnn_type = nn.GRU
    rnn_name = "gru"


# ------------------------------------------------------------------------------------------------ fold-stacked model


class FoldGRULayer(torch.autograd.Function):
    """One fold-stacked GRU layer over time-major windows, with a hand-written backward.

    ``x`` (F, T, B, C), ``w_ih`` (F, C, 3H), ``w_hh`` (F, H, 3H), ``b_ih`` / ``b_hh`` (F, 1, 3H) -> h (F, T, B, H).
    """

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh):
        F, T, B, C = x.shape
        H = w_hh.shape[1]
        gi = torch.baddbmm(b_ih, x.reshape(F, T * B, C), w_ih).view(F, T, B, 3 * H)  # (F, T, B, 3H)
        rz = x.new_empty(F, T, B, 2 * H)  # (F, T, B, 2H) the r and z gates
        n = x.new_empty(F, T, B, H)  # (F, T, B, H)
        ghn = x.new_empty(F, T, B, H)  # (F, T, B, H) W_hn h + b_hn, which r scales
        h = x.new_empty(F, T, B, H)  # (F, T, B, H)
        b_h = b_hh.expand(F, B, 3 * H)  # (F, B, 3H): the recurrent part at t = 0, where h = 0
        for t in range(T):
            gh = b_h if t == 0 else torch.baddbmm(b_hh, h[:, t - 1], w_hh)  # (F, B, 3H)
            torch.sigmoid(gi[:, t, :, : 2 * H] + gh[..., : 2 * H], out=rz[:, t])
            r, z = rz[:, t, :, :H], rz[:, t, :, H:]  # (F, B, H) each
            ghn[:, t] = gh[..., 2 * H :]
            torch.tanh(torch.addcmul(gi[:, t, :, 2 * H :], r, ghn[:, t]), out=n[:, t])
            if t == 0:
                torch.addcmul(n[:, 0], z, n[:, 0], value=-1, out=h[:, 0])  # (1 - z) n
            else:
                torch.addcmul(n[:, t], z, h[:, t - 1] - n[:, t], out=h[:, t])  # n + z (h_prev - n)
        ctx.save_for_backward(x, w_ih, w_hh, rz, n, ghn, h)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h):
        x, w_ih, w_hh, rz, n, ghn, h = ctx.saved_tensors
        F, T, B, C = x.shape
        H = w_hh.shape[1]
        r, z = rz[..., :H], rz[..., H:]  # (F, T, B, H) each
        h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)  # (F, T, B, H)
        # everything but dh is known up front: d pre-activation = dh * coefficient
        a_n = (1 - z) * (1 - n * n)  # (F, T, B, H) through n
        a_r = a_n * ghn * r * (1 - r)  # (F, T, B, H) through r
        a_z = (h_prev - n) * z * (1 - z)  # (F, T, B, H) through z
        coef_i = torch.cat([a_r, a_z, a_n], dim=-1)  # (F, T, B, 3H) for the input projection
        coef_h = torch.cat([a_r, a_z, a_n * r], dim=-1)  # (F, T, B, 3H) for the recurrent projection
        w_hh_t = w_hh.transpose(1, 2)  # (F, 3H, H)
        dh_all = torch.empty_like(h)  # (F, T, B, H)
        dh = grad_h[:, T - 1]  # (F, B, H)
        for t in range(T - 1, -1, -1):
            dh_all[:, t] = dh
            if t == 0:
                break
            d_gh = dh.repeat(1, 1, 3) * coef_h[:, t]  # (F, B, 3H)
            dh = torch.baddbmm(torch.addcmul(grad_h[:, t - 1], dh, z[:, t]), d_gh, w_hh_t)  # (F, B, H)
        dh3 = dh_all.repeat(1, 1, 1, 3)  # (F, T, B, 3H)
        d_gi = (dh3 * coef_i).view(F, T * B, 3 * H)  # (F, T*B, 3H)
        d_gh_all = dh3 * coef_h  # (F, T, B, 3H)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(d_gi, w_ih.transpose(1, 2)).view(F, T, B, C)  # (F, T, B, C)
        grad_w_ih = torch.bmm(x.reshape(F, T * B, C).transpose(1, 2), d_gi)  # (F, C, 3H)
        grad_b_ih = d_gi.sum(dim=1, keepdim=True)  # (F, 1, 3H)
        if T > 1:
            hp = h[:, :-1].reshape(F, (T - 1) * B, H)  # (F, (T-1)*B, H)
            grad_w_hh = torch.bmm(
                hp.transpose(1, 2), d_gh_all[:, 1:].reshape(F, (T - 1) * B, 3 * H)
            )  # (F, H, 3H)
        else:
            grad_w_hh = torch.zeros_like(w_hh)  # (F, H, 3H)
        grad_b_hh = d_gh_all.reshape(F, T * B, 3 * H).sum(dim=1, keepdim=True)  # (F, 1, 3H)
        return grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


class FoldGRUClassifier(FoldRecurrentClassifier):
    """F independent GRU classifiers (:class:`vixray.models.recurrent.FoldRecurrentClassifier`), 3 gates."""

    reference = GRUClassifier
    gates = 3
    layer = FoldGRULayer
