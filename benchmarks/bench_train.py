"""The fold-batched trainer against a straightforward reference loop, for every network family; prints measured
figures, asserts nothing.

Same data, folds, configuration and epochs for both:

(a) reference: the original project's style. A per-item ``Dataset`` returning ``torch.tensor`` slices of the windows,
    ``DataLoader(batch_size, shuffle=True)``, the family's ``torch.nn`` reference model (``nn.LSTM``, ``nn.GRU`` or
    ``nn.TransformerEncoder``, + MLP head), ``torch.optim.Adam``, class-weighted cross-entropy, gradient clipping, a
    validation pass per epoch keeping the best weights; folds one after another.
(b) vixray: :func:`vixray.train.fit_folds`, every fold in one computation.

Each (case, trainer) runs in a fresh child process, so its peak RSS is its own and no thread pool or allocator state
leaks between them. Achieved GFLOP/s counts the useful LSTM + head matmul FLOPs (training = 3x forward, plus the
validation and test forward passes) over wall time, beside a large float32 matmul measured in the same child.

    python benchmarks/bench_train.py                 # each family: 5 folds x 30 epochs, seq_len 5 / batch 16, 20 / 16, 5 / 128
    python benchmarks/bench_train.py --kinds lstm    # one family
    python benchmarks/bench_train.py --quick         # a small smoke run
    python benchmarks/bench_train.py --device cuda   # on a GPU, plus 320 folds (64 configs' worth) in one process
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import default_source
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vixray.config import LabelConfig, ModelConfig, TrainConfig
from vixray.config.sections import MODEL_KINDS
from vixray.data import load_prices
from vixray.dataset import build_dataset
from vixray.device import resolve_device
from vixray.models import reference_model
from vixray.split import WalkForwardSplit
from vixray.train import fit_folds
from vixray.windows import FoldWindows, make_fold_windows

HERE = Path(__file__).resolve()
N_FOLDS, TRAIN_SIZE, TEST_SIZE = 5, 1000, 250
CASES = [(5, 16), (20, 16), (5, 128)]  # (seq_len, batch_size); the first is the headline case


# ------------------------------------------------------------------------------------------------ data


def make_windows(source: str, *, seq_len: int) -> FoldWindows:
    prices = load_prices(source)
    table = build_dataset(prices.frame, tickers=prices.tickers, feature_set="seed", labels=LabelConfig())
    X, y = table.X, table.y
    folds = list(WalkForwardSplit(N_FOLDS, train_size=TRAIN_SIZE, test_size=TEST_SIZE, gap=1).split(X))
    return make_fold_windows(X, y, folds, seq_len=seq_len, val_fraction=0.2, val_gap=1, class_weighting=True)


def tile_folds(w: FoldWindows, copies: int) -> FoldWindows:
    """``copies`` x the folds, as a search running many configurations' folds in one process would hold them."""
    arrays = {
        f.name: np.tile(getattr(w, f.name), (copies,) + (1,) * (getattr(w, f.name).ndim - 1))
        for f in dataclasses.fields(w)
    }
    return FoldWindows(**arrays)


def real(w: FoldWindows, split: str, f: int) -> tuple[np.ndarray, np.ndarray]:
    m = getattr(w, f"m_{split}")[f]
    return getattr(w, f"x_{split}")[f][m], getattr(w, f"y_{split}")[f][m]


# ------------------------------------------------------------------------------------------------ FLOPs


def forward_flops(model: ModelConfig, n_features: int, n_classes: int = 3) -> int:
    """Matmul FLOPs of one window's forward pass (2 per multiply-add; elementwise work not counted)."""
    H, T = model.hidden_size, model.seq_len
    if model.kind == "transformer":
        per_layer = (
            T * 2 * (3 * H * H + H * H + 2 * H * model.feed_forward) + 2 * 2 * T * T * H
        )  # + scores, mixing
        encoder = T * 2 * n_features * H + model.num_layers * per_layer
    else:
        gates = {"lstm": 4, "gru": 3}[model.kind]
        encoder = sum(
            T * 2 * gates * H * ((n_features if layer == 0 else H) + H) for layer in range(model.num_layers)
        )
    widths = [H, *model.head, n_classes]
    return encoder + sum(2 * a * b for a, b in zip(widths[:-1], widths[1:], strict=True))


def useful_flops(w: FoldWindows, model: ModelConfig, epochs: int) -> float:
    per_window = forward_flops(model, w.x_fit.shape[3])
    n_fit, n_val, n_test = (int(getattr(w, f"m_{s}").sum()) for s in ("fit", "val", "test"))
    return float(per_window * (epochs * (3 * n_fit + n_val) + n_test))


def matmul_gflops(device: torch.device, n: int = 2048) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(5):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------ (a) reference


class WindowDataset(Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(self.x[i]), torch.tensor(self.y[i])


def reference_fit(
    w: FoldWindows,
    model_cfg: ModelConfig,
    train: TrainConfig,
    device: torch.device,
    epoch_seconds: list[float],
) -> list[np.ndarray]:
    """Test predictions per fold, each fold trained alone in the original project's style; appends the seconds of
    every (fold, epoch) to ``epoch_seconds``."""
    torch.manual_seed(train.seed)
    preds = []
    for f in range(w.x_fit.shape[0]):
        loader = DataLoader(WindowDataset(*real(w, "fit", f)), batch_size=train.batch_size, shuffle=True)
        x_val, y_val = (torch.tensor(a).to(device) for a in real(w, "val", f))
        model = reference_model(model_cfg, n_features=w.x_fit.shape[3]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        criterion = nn.CrossEntropyLoss(weight=torch.tensor(w.class_weights[f]).to(device))
        best_loss, best_state = float("inf"), copy.deepcopy(model.state_dict())
        for _ in range(train.epochs):
            started = time.perf_counter()
            model.train()
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                opt.zero_grad()
                loss = criterion(model(xb), yb)
                loss.backward()
                if train.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
                opt.step()
            model.eval()
            with torch.no_grad():
                val_loss = nn.functional.cross_entropy(model(x_val), y_val).item()
            if val_loss < best_loss:
                best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
            epoch_seconds.append(time.perf_counter() - started)
        model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            x_test = torch.tensor(real(w, "test", f)[0]).to(device)
            preds.append(model(x_test).argmax(-1).cpu().numpy())
    return preds


# ------------------------------------------------------------------------------------------------ one child run


def run_part(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    w = make_windows(args.data, seq_len=args.seq_len)
    if args.copies > 1:
        w = tile_folds(w, args.copies)
    model_cfg = model_config(args.kind, args.seq_len)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch, patience=None, seed=0, device=str(device))
    peak_gflops = matmul_gflops(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    epoch_seconds: list[float] = []
    t0 = time.perf_counter()
    if args.part == "reference":
        preds = reference_fit(w, model_cfg, train, device, epoch_seconds)
        steady = float(np.median(epoch_seconds)) * len(epoch_seconds)
    else:
        fit = fit_folds(w, model=model_cfg, train=train, on_epoch=lambda r: epoch_seconds.append(r.seconds))
        preds = fit.test_pred
        steady = float(np.median(epoch_seconds)) * len(epoch_seconds)
    _sync(device)
    wall = time.perf_counter() - t0
    y_true = np.concatenate([real(w, "test", f)[1] for f in range(w.x_fit.shape[0])])
    return {
        "wall": wall,
        "steady": steady,
        "accuracy": float(np.mean(np.concatenate(preds) == y_true)),
        "n_test": int(y_true.size),
        "folds": int(w.x_fit.shape[0]),
        "n_fit": int(w.m_fit.sum()),
        "gflops": useful_flops(w, model_cfg, args.epochs) / wall / 1e9,
        "peak_gflops": peak_gflops,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "gpu_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "device": str(device),
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def model_config(kind: str, seq_len: int) -> ModelConfig:
    """Each family at its default size: 64 wide, 2 layers, dropout 0.2, the 32-16 head (4 heads for the Transformer)."""
    return ModelConfig(kind=kind, seq_len=seq_len, hidden_size=64, num_layers=2, dropout=0.2)


def child(
    args: argparse.Namespace, part: str, seq_len: int, batch: int, copies: int = 1, *, kind: str = "lstm"
) -> dict[str, Any]:
    cmd = [
        sys.executable, str(HERE), "--part", part, "--kind", kind, "--seq-len", str(seq_len), "--batch", str(batch),
        "--epochs", str(args.epochs), "--data", args.data, "--device", args.device,
        "--threads", str(args.threads), "--copies", str(copies),
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 epochs, headline case only")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data", default=default_source())
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--kinds", nargs="+", default=list(MODEL_KINDS), choices=MODEL_KINDS, help="families to time"
    )
    parser.add_argument("--part", choices=("reference", "batched"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="lstm", choices=MODEL_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--seq-len", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:  # a child: one measurement, one JSON line
        print(json.dumps(run_part(args)))
        return 0
    if args.quick:
        args.epochs = 2
    device = resolve_device(args.device)
    cases = CASES[:1] if args.quick else CASES
    print(
        f"data {args.data}; {N_FOLDS} walk-forward folds (train {TRAIN_SIZE} rows, 20% validation tail, test "
        f"{TEST_SIZE}); each family 64 wide x 2 layers (Transformer: 4 heads, feed-forward 256), head 32-16; "
        f"{args.epochs} epochs; device {device}, "
        f"{args.threads} threads; each figure from its own process"
    )
    print(
        "wall s: the whole run; steady s: median epoch time x epochs (robust to other load on the machine); "
        "GFLOP/s from wall"
    )
    header = (
        f"{'family':<11} {'seq_len':>7} {'batch':>5} | {'trainer':<10} {'wall s':>8} {'steady s':>8} "
        f"{'pooled acc':>10} "
    )
    print(header + f"{'GFLOP/s':>8} {'of matmul':>9} {'peak RSS MB':>11}")
    for kind in args.kinds:
        for seq_len, batch in cases:
            results = {
                part: child(args, part, seq_len, batch, kind=kind) for part in ("reference", "batched")
            }
            for part, r in results.items():
                print(
                    f"{kind:<11} {seq_len:>7} {batch:>5} | {part:<10} {r['wall']:8.2f} {r['steady']:8.2f} "
                    f"{r['accuracy']:10.3f} {r['gflops']:8.2f} {r['gflops'] / r['peak_gflops']:9.1%} "
                    f"{r['peak_rss_mb']:11.0f}"
                )
            ref, fast = results["reference"], results["batched"]
            print(
                f"{'':>25} | speed-up {ref['wall'] / fast['wall']:.2f}x wall, "
                f"{ref['steady'] / fast['steady']:.2f}x steady (target >= 3x); accuracy "
                f"{fast['accuracy']:.3f} vs {ref['accuracy']:.3f} on {fast['n_test']} test rows; "
                f"matmul {fast['peak_gflops']:.0f} GFLOP/s"
            )
    if device.type != "cuda":
        print("GPU case skipped: no CUDA device here (run with --device cuda on a GPU machine)")
        return 0
    copies = 64
    for kind in args.kinds:
        big = child(args, "batched", 5, 16, copies=copies, kind=kind)
        print(
            f"{kind}: {big['folds']} folds ({copies} configs' worth) in one process on {big['gpu_name']}: "
            f"{big['wall']:.2f} s, {big['wall'] / big['folds'] * 1e3:.1f} ms per fold, {big['gflops']:.1f} GFLOP/s "
            f"({big['gflops'] / big['peak_gflops']:.1%} of matmul), peak GPU memory {big['gpu_peak_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
