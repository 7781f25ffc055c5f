"""BLAS threads during a fit.

A large fit spends most of its time in LAPACK's dense Cholesky factorization.
OpenBLAS runs it on all cores; when the machine is oversubscribed (more
runnable processes than cores) its threads wait on each other and a fit can
be 10-40 times slower than on one thread. :func:`blas_threads` limits the
BLAS thread pool for the duration of a ``with`` block and restores it after:
through threadpoolctl, which finds the BLAS libraries NumPy and SciPy loaded. :func:`default_threads` picks one thread when the load average says
the cores are busy, and leaves the library default otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import os

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads", "default_threads"]


def default_threads() -> int | None:
    """1 when the 1-minute load average exceeds the number of cores minus one half, else None."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return 1 if load > (os.cpu_count() or 1) - 0.5 else None


@functools.lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The thread pools of the loaded libraries, found once (finding them costs ~1 ms)."""
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(n: int | str | None):
    """Limit BLAS to ``n`` threads inside the block (``None``: leave as is; ``"auto"``:
    :func:`default_threads`)."""
    if n == "auto":
        n = default_threads()
    if n is None:
        yield
        return
    with _controller().limit(limits=n, user_api="blas"):
        yield
