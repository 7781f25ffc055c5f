"""Timing shared by the benchmark scripts: the best of several repeats (the machine is noisy)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeats: int, *, inner: int = 1, warmup: bool = False) -> float:
    """Smallest mean time per call (seconds) over ``repeats`` runs of ``inner`` calls each."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return min(times)
