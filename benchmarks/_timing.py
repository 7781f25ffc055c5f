"""Timing shared by the benchmark scripts: the best of several repeats (the machine is noisy)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
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


R_BEST = r"""
best <- function(f, n, inner = 1) {
  f()
  min(replicate(n, { t0 <- proc.time()[["elapsed"]]; for (i in seq_len(inner)) f()
                     (proc.time()[["elapsed"]] - t0) / inner }))
}
"""
"""R's counterpart of :func:`best_of` (``best(f, n, inner)``), for scripts timed inside one Rscript run."""


def rscript_json(script: str, data, repeats: int) -> dict:
    """Run ``script`` with Rscript on ``data`` (written to a temporary CSV) and parse the JSON it prints.

    The script sees the CSV path as ``commandArgs(TRUE)[1]`` and ``repeats`` as the second argument; it
    starts with :data:`R_BEST` so that ``best()`` is defined.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        data.to_csv(path, index=False, float_format="%.17g")
        proc = subprocess.run(["Rscript", "-e", R_BEST + script, str(path), str(repeats)], capture_output=True,
                              text=True, check=True)
    return json.loads(proc.stdout)
