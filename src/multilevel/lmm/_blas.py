"""BLAS threads during a fit.

A large fit spends most of its time in LAPACK's dense Cholesky factorization.
OpenBLAS runs it on all cores; when the machine is oversubscribed (more
runnable processes than cores) its threads wait on each other and a fit can
be 10-40 times slower than on one thread. :func:`blas_threads` limits the
BLAS thread pool for the duration of a ``with`` block and restores it after:
through threadpoolctl when it is installed, otherwise through the thread
control of the OpenBLAS that SciPy bundles; if neither is available it does
nothing. :func:`default_threads` picks one thread when the load average says
the cores are busy, and leaves the library default otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os

__all__ = ["blas_threads", "default_threads"]


def default_threads() -> int | None:
    """1 when the 1-minute load average exceeds the number of cores minus one half, else None."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return 1 if load > (os.cpu_count() or 1) - 0.5 else None


@functools.lru_cache(maxsize=1)
def _scipy_openblas():
    """(get, set) thread functions of SciPy's bundled OpenBLAS, or None."""
    try:
        import scipy

        libdir = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
        for path in glob.glob(os.path.join(libdir, "libscipy_openblas*.so*")):
            lib = ctypes.CDLL(path)
            for suffix in ("", "64_"):
                get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
                put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    return get, put
    except OSError:
        return None
    return None


@contextlib.contextmanager
def blas_threads(n: int | str | None):
    """Limit BLAS to ``n`` threads inside the block (``None``: leave as is; ``"auto"``:
    :func:`default_threads`)."""
    if n == "auto":
        n = default_threads()
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
        return
    funcs = _scipy_openblas()
    if funcs is None:
        yield
        return
    get, put = funcs
    before = get()
    put(n)
    try:
        yield
    finally:
        put(before)
