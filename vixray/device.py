"""Which torch device a trainer runs on: ``train.device`` (or ``--device``) resolved against this machine."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``; ``cuda`` / ``cuda:N`` only where that GPU exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"train.device = {name!r}: CUDA is not available on this machine "
                f"(torch {torch.__version__}); use 'auto' or 'cpu'"
            )
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(
                f"train.device = {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1}); pick one of them or 'cuda'"
            )
        return torch.device(name)
    raise ValueError(f"train.device = {name!r}: unknown device; choose auto, cpu, cuda or cuda:N")
