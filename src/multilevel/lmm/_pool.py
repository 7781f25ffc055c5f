"""Worker processes for the bootstrap and the profiles."""

from __future__ import annotations

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor

__all__ = ["process_pool"]


def process_pool(workers: int = 2) -> ProcessPoolExecutor:
    """A pool of worker processes: forked where that is safe (fast start), spawned otherwise.

    Forking a process that runs a multithreaded runtime (JAX, loaded by the Bayesian
    module) can deadlock, so then, and where fork does not exist, workers are spawned.
    """
    threaded = any(name in sys.modules for name in ("jax", "torch", "tensorflow"))
    method = "fork" if "fork" in mp.get_all_start_methods() and not threaded else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method))
