"""The LSTM family: a stacked LSTM whose last time step feeds the shared MLP head (:mod:`vixray.models.recurrent`).

* :class:`LSTMClassifier`, the reference form from ``nn.LSTM``: what :meth:`FoldLSTMClassifier.to_single` exports a
  fold as.
* :class:`FoldLSTMClassifier`, F independent copies stacked on a leading fold dimension. ``nn.LSTM`` cannot be
  batched over independent weight sets, so the recurrence is written out (:class:`FoldLSTMLayer`): one batched
  matmul for every time step's input projection per layer, then one batched matmul per time step for the recurrent
  part, with the four gates fused (PyTorch's order i, f, g, o) and a hand-written backward.

Both initialise as PyTorch does (LSTM weights and biases uniform in ±1/sqrt(H)); each fold draws from its own stream.
Speed on the CPU comes from few, fused ops. ``torch.compile`` does not pay here: compiling even the cell takes ~20 s
on two cores for a cell call only ~25% faster, while a search trial trains in seconds.

Shapes: F folds, B windows, T time steps, C features, H hidden units, K classes.
"""

from __future__ import annotations

import torch
from torch import nn

from vixray.models.recurrent import FoldRecurrentClassifier, RecurrentClassifier

# ------------------------------------------------------------------------------------------------ reference model


class LSTMClassifier(RecurrentClassifier):
    """One model: ``nn.LSTM`` (batch first) -> last time step -> the head."""

    rnn_type = nn.LSTM
    rnn_name = "lstm"


# ------------------------------------------------------------------------------------------------ fold-stacked model


class FoldLSTMLayer(torch.autograd.Function):
    """One fold-stacked LSTM layer over time-major windows, with a hand-written backward.

    Autograd through the time loop costs ~20 small graph nodes per step; here the forward runs graph-free and
    the backward is one short loop over time (one matmul and four elementwise ops per step), with everything
    that does not recur (gate derivatives, weight and input gradients) computed once over all steps. On the CPU
    ``tanh`` is several times slower than ``sigmoid``, so both tanh's are taken as ``tanh(z) = 1 - 2 sigmoid(-2z)``:
    the g-gate columns are scaled by -2 up front and one sigmoid covers all four gates.

    ``x`` (F, T, B, C), ``w_ih`` (F, C, 4H), ``w_hh`` (F, H, 4H), ``b_ih`` / ``b_hh`` (F, 1, 4H) -> h (F, T, B, H).
    """

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh):
        F, T, B, C = x.shape
        H = w_hh.shape[1]
        scale = x.new_ones(4 * H)  # (4H,)
        scale[2 * H : 3 * H] = -2.0
        # every time step's input projection in one matmul, out of the recurrence
        xp = torch.baddbmm((b_ih + b_hh) * scale, x.reshape(F, T * B, C), w_ih * scale)  # (F, T*B, 4H)
        xp = xp.view(F, T, B, 4 * H)  # (F, T, B, 4H)
        w_hh_s = w_hh * scale  # (F, H, 4H)
        act = torch.empty_like(
            xp
        )  # (F, T, B, 4H): sigmoid of every gate; the g slot holds s = sigmoid(-2 z_g)
        c = x.new_empty(F, T, B, H)  # (F, T, B, H) cell states
        v = x.new_empty(F, T, B, H)  # (F, T, B, H) sigmoid(-2c), so tanh(c) = 1 - 2v
        h = x.new_empty(F, T, B, H)  # (F, T, B, H) outputs
        xs, acts, cs, vs, hs = xp.unbind(1), act.unbind(1), c.unbind(1), v.unbind(1), h.unbind(1)
        i, f, s, o = (gate.unbind(1) for gate in act.split(H, dim=-1))  # per step (F, B, H) views
        for t in range(T):
            gates = xs[t] if t == 0 else torch.baddbmm(xs[t], hs[t - 1], w_hh_s)  # (F, B, 4H)
            torch.sigmoid(gates, out=acts[t])
            # c = f * c_prev + i * g with g = tanh(z_g) = 1 - 2s, i.e. (i + f * c_prev) - 2 i s
            base = i[t] if t == 0 else torch.addcmul(i[t], f[t], cs[t - 1])  # (F, B, H)
            torch.addcmul(base, i[t], s[t], value=-2, out=cs[t])
            torch.mul(cs[t], -2, out=vs[t]).sigmoid_()
            torch.addcmul(o[t], o[t], vs[t], value=-2, out=hs[t])  # o * tanh(c) = o - 2 o v
        ctx.save_for_backward(x, w_ih, w_hh, act, c, v, h)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h):
        x, w_ih, w_hh, act, c, v, h = ctx.saved_tensors
        F, T, B, C = x.shape
        H = w_hh.shape[1]
        i, f, s, o = act.split(H, dim=-1)  # (F, T, B, H) each
        one, zero = act.new_ones(()), act.new_zeros(())
        g = torch.add(one, s, alpha=-2)  # (F, T, B, H) tanh of the g gate
        tanh_c = torch.add(one, v, alpha=-2)  # (F, T, B, H)
        dc_dh = torch.addcmul(zero, o, torch.addcmul(v, v, v, value=-1), value=4)  # (F, T, B, H): o tanh'(c)
        # d gates_t = [dc, dc, dc, dh]_t * scale_t, with everything but dc and dh known up front:
        # scale = [sigmoid'(i) g, sigmoid'(f) c_prev, tanh'(g) i, sigmoid'(o) tanh(c)], sigmoid' = s - s^2
        scale = torch.addcmul(act, act, act, value=-1)  # (F, T, B, 4H)
        sc_i, sc_f, sc_g, sc_o = scale.split(H, dim=-1)  # (F, T, B, H) views
        sc_i.mul_(g)
        sc_f[:, 0].zero_()  # c_prev = 0 at the first step
        sc_f[:, 1:].mul_(c[:, :-1])
        torch.addcmul(one, g, g, value=-1, out=sc_g).mul_(i)
        sc_o.mul_(tanh_c)
        d_gates = torch.empty_like(act)  # (F, T, B, 4H)
        d_gs, scales, grads, fs, dcs = (
            d_gates.unbind(1),
            scale.unbind(1),
            grad_h.unbind(1),
            f.unbind(1),
            dc_dh.unbind(1),
        )
        w_hh_t = w_hh.transpose(1, 2)  # (F, 4H, H)
        dh = grads[T - 1]  # (F, B, H)
        dc = dh * dcs[T - 1]  # (F, B, H)
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                dh = torch.baddbmm(grads[t], d_gs[t + 1], w_hh_t)  # (F, B, H)
                dc = torch.addcmul(dc * fs[t + 1], dh, dcs[t])  # (F, B, H)
            torch.mul(torch.cat([dc, dc, dc, dh], dim=-1), scales[t], out=d_gs[t])  # (F, B, 4H)
        d_flat = d_gates.view(F, T * B, 4 * H)  # (F, T*B, 4H)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(d_flat, w_ih.transpose(1, 2)).view(F, T, B, C)  # (F, T, B, C)
        grad_w_ih = torch.bmm(x.reshape(F, T * B, C).transpose(1, 2), d_flat)  # (F, C, 4H)
        if T > 1:
            h_prev = h[:, :-1].reshape(F, (T - 1) * B, H)  # (F, (T-1)*B, H)
            d_rec = d_gates[:, 1:].reshape(F, (T - 1) * B, 4 * H)  # (F, (T-1)*B, 4H)
            grad_w_hh = torch.bmm(h_prev.transpose(1, 2), d_rec)  # (F, H, 4H)
        else:
            grad_w_hh = torch.zeros_like(w_hh)  # (F, H, 4H)
        grad_b = d_flat.sum(dim=1, keepdim=True)  # (F, 1, 4H), the same for both biases
        return grad_x, grad_w_ih, grad_w_hh, grad_b, grad_b


class FoldLSTMClassifier(FoldRecurrentClassifier):
    """F independent LSTM classifiers (:class:`vixray.models.recurrent.FoldRecurrentClassifier`), 4 gates."""

    reference = LSTMClassifier
    gates = 4
    layer = FoldLSTMLayer
