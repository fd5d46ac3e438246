"""The LSTM classifier: a stacked LSTM whose last time step feeds a small MLP head, one logit per class out.

Two forms of the same network live here:

* :class:`LSTMClassifier`, one model built from ``nn.LSTM`` and ``nn.Linear``: the plain reference form, and what
  :meth:`FoldLSTMClassifier.to_single` exports a fold as.
* :class:`FoldLSTMClassifier`, F independent copies of it stacked on a leading fold dimension, so the models of all
  walk-forward folds run as one computation. ``nn.LSTM`` cannot be batched over independent weight sets, so the
  recurrence is written out: one batched matmul for every time step's input projection per layer, then one
  batched matmul per time step for the recurrent part, with the four gates fused (PyTorch's order i, f, g, o).

Both initialise as PyTorch does (LSTM weights and biases uniform in ±1/sqrt(H); ``nn.Linear`` weights
kaiming-uniform, i.e. uniform in ±1/sqrt(fan_in), and biases the same); each fold draws from its own stream seeded
by (seed, fold). :meth:`FoldLSTMClassifier.from_single` copies weights over so the two forms compute the same
function.

Speed on the CPU comes from few, fused ops (:class:`FoldLSTMLayer`). ``torch.compile`` does not pay here: compiling
even the cell takes ~20 s on two cores for a cell call only ~25% faster, while a search trial trains in seconds.

Shapes: F folds, B windows, T time steps, C features, H hidden units, K classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vixray.config import ModelConfig
from vixray.labels import N_CLASSES

# ------------------------------------------------------------------------------------------------ reference model


class LSTMClassifier(nn.Module):
    """One model: ``nn.LSTM`` (batch first) -> last time step -> Linear/ReLU/Dropout blocks -> K logits."""

    def __init__(self, n_features: int, config: ModelConfig, *, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            n_features,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        layers: list[nn.Module] = []
        width = config.hidden_size
        for size, rate in zip(config.head, config.head_dropout, strict=True):
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(rate)]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return self.head(out[:, -1])  # (B, K)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self.head if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------------------------------------ fold-stacked model


def _fold_init(
    specs: Sequence[tuple[str, tuple[int, ...], float]], *, seed: int, fold: int
) -> list[torch.Tensor]:
    """One fold's initial tensors, uniform in (-bound, bound), from a stream seeded by (seed, fold)."""
    stream = int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])
    gen = torch.Generator().manual_seed(stream)
    return [torch.empty(*shape).uniform_(-bound, bound, generator=gen) for _, shape, bound in specs]


def dropout(x: torch.Tensor, rate: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout drawn from ``generator``, so a trainer owns (and can checkpoint) the random stream."""
    keep = 1.0 - rate
    # rand + compare is about twice as fast as bernoulli_ on the CPU
    mask = torch.rand(x.shape, generator=generator, device=x.device).lt_(keep).div_(keep)  # same shape as x
    return x * mask


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


class FoldLSTMClassifier(nn.Module):
    """F independent LSTM classifiers; every parameter has a leading fold dimension.

    Weights are stored input-major (``x @ W``) so no transpose sits in the hot loop:

    * ``weight_ih[l]`` (F, C_l, 4H), ``weight_hh[l]`` (F, H, 4H), ``bias_ih[l]`` / ``bias_hh[l]`` (F, 1, 4H);
      both LSTM biases are kept, as ``nn.LSTM`` has them, so an optimiser treats them identically.
    * ``head_weight[j]`` (F, in_j, out_j), ``head_bias[j]`` (F, 1, out_j).
    """

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
        H = config.hidden_size
        lstm_bound = 1.0 / math.sqrt(H)
        specs: list[tuple[str, tuple[int, ...], float]] = []  # (parameter list, shape per fold, init bound)
        for layer in range(config.num_layers):
            width = n_features if layer == 0 else H
            specs += [
                ("weight_ih", (width, 4 * H), lstm_bound),
                ("weight_hh", (H, 4 * H), lstm_bound),
                ("bias_ih", (1, 4 * H), lstm_bound),
                ("bias_hh", (1, 4 * H), lstm_bound),
            ]
        widths = [H, *config.head, n_classes]
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            # nn.Linear's kaiming_uniform_(a=sqrt(5)) reduces to this bound; its bias uses the same one
            specs += [("head_weight", (fan_in, fan_out), 1 / math.sqrt(fan_in))]
            specs += [("head_bias", (1, fan_out), 1 / math.sqrt(fan_in))]
        # each fold draws from its own seeded stream, so a fold starts the same whichever folds share its stack
        draws = [_fold_init(specs, seed=seed, fold=f) for f in range(n_folds)]
        # registered in this order, which is the order of parameters() and of the trainer's flat buffer
        self.weight_ih = nn.ParameterList()
        self.weight_hh = nn.ParameterList()
        self.bias_ih = nn.ParameterList()
        self.bias_hh = nn.ParameterList()
        self.head_weight = nn.ParameterList()
        self.head_bias = nn.ParameterList()
        for k, (name, _, _) in enumerate(specs):
            getattr(self, name).append(nn.Parameter(torch.stack([d[k] for d in draws])))

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (F, B, K) for windows ``x`` (F, B, T, C); dropout (train mode only) draws from ``generator``."""
        if x.dim() != 4 or x.shape[0] != self.n_folds or x.shape[-1] != self.n_features:
            raise ValueError(
                f"x has shape {tuple(x.shape)}: expected (folds={self.n_folds}, batch, time, "
                f"features={self.n_features})"
            )
        layers = self.config.num_layers
        x = x.transpose(1, 2)  # (F, T, B, C): time-major, so each step's slice is one block per fold
        for layer in range(layers):
            last = layer == layers - 1
            x = FoldLSTMLayer.apply(
                x, self.weight_ih[layer], self.weight_hh[layer], self.bias_ih[layer], self.bias_hh[layer]
            )  # (F, T, B, H)
            if not last and self.training and self.config.dropout > 0:
                x = dropout(x, self.config.dropout, generator)
        z = x[:, -1]  # (F, B, H): the last time step feeds the head
        rates = self.config.head_dropout
        for j, (w, b) in enumerate(zip(self.head_weight, self.head_bias, strict=True)):
            z = torch.baddbmm(b, z, w)  # (F, B, out_j)
            if j < len(rates):
                z = z.relu()
                if self.training and rates[j] > 0:
                    z = dropout(z, rates[j], generator)
        return z  # (F, B, K)

    # -------------------------------------------------------------------------------------- single-model bridge

    @torch.no_grad()
    def load_fold(self, fold: int, model: LSTMClassifier) -> None:
        """Copy one :class:`LSTMClassifier`'s weights into fold ``fold``."""
        self._check_compatible(model, fold)
        lstm = model.lstm
        for layer in range(self.config.num_layers):
            self.weight_ih[layer][fold].copy_(getattr(lstm, f"weight_ih_l{layer}").T)
            self.weight_hh[layer][fold].copy_(getattr(lstm, f"weight_hh_l{layer}").T)
            self.bias_ih[layer][fold, 0].copy_(getattr(lstm, f"bias_ih_l{layer}"))
            self.bias_hh[layer][fold, 0].copy_(getattr(lstm, f"bias_hh_l{layer}"))
        for j, linear in enumerate(model.linears()):
            self.head_weight[j][fold].copy_(linear.weight.T)
            self.head_bias[j][fold, 0].copy_(linear.bias)

    @torch.no_grad()
    def to_single(self, fold: int) -> LSTMClassifier:
        """Fold ``fold`` as a standalone :class:`LSTMClassifier` (on the CPU, in this model's train/eval mode)."""
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold = {fold}: the model has folds 0..{self.n_folds - 1}")
        model = LSTMClassifier(self.n_features, self.config, n_classes=self.n_classes)
        lstm = model.lstm
        for layer in range(self.config.num_layers):
            getattr(lstm, f"weight_ih_l{layer}").copy_(self.weight_ih[layer][fold].T)
            getattr(lstm, f"weight_hh_l{layer}").copy_(self.weight_hh[layer][fold].T)
            getattr(lstm, f"bias_ih_l{layer}").copy_(self.bias_ih[layer][fold, 0])
            getattr(lstm, f"bias_hh_l{layer}").copy_(self.bias_hh[layer][fold, 0])
        for j, linear in enumerate(model.linears()):
            linear.weight.copy_(self.head_weight[j][fold].T)
            linear.bias.copy_(self.head_bias[j][fold, 0])
        return model.train(self.training)

    @classmethod
    def from_single(cls, models: Sequence[LSTMClassifier]) -> FoldLSTMClassifier:
        """Stack standalone models (one per fold, same architecture) into one fold-stacked model."""
        if not models:
            raise ValueError("models is empty: pass one LSTMClassifier per fold")
        first = models[0]
        stacked = cls(
            len(models), first.lstm.input_size, first.config, n_classes=first.linears()[-1].out_features
        )
        for fold, model in enumerate(models):
            stacked.load_fold(fold, model)
        return stacked

    def _check_compatible(self, model: LSTMClassifier, fold: int) -> None:
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold = {fold}: the model has folds 0..{self.n_folds - 1}")
        theirs = (model.lstm.input_size, model.config, model.linears()[-1].out_features)
        ours = (self.n_features, self.config, self.n_classes)
        if theirs != ours:
            raise ValueError(
                f"model for fold {fold} has (features, config, classes) = {theirs}; this stack is built for "
                f"{ours}: build the stack with the same ModelConfig and feature count"
            )
