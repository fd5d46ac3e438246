"""Shared by the benchmark scripts: where the real data is, and how to time a call."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def default_source() -> str:
    """Real history from ../shared/data when it is there, else the offline sample that ships with arch."""
    return f"csv:{SHARED_DATA}" if SHARED_DATA.is_dir() else "sample"


def best_of(fn: Callable[[], object], *, repeats: int = 7) -> tuple[float, float]:
    """(best, median) wall seconds over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[0], times[len(times) // 2]
