"""A Cholesky factorization that releases the GIL while LAPACK runs.

SciPy's ``scipy.linalg.lapack.dpotrf`` (an f2py wrapper) holds the GIL during the
call, so two threads factoring two matrices take turns. SciPy also exports its
LAPACK routines to Cython (``scipy.linalg.cython_lapack``, a public API) as
function pointers; calling that ``dpotrf`` through ``ctypes`` releases the GIL,
and two single-threaded factorizations then run side by side (on this project's
benchmark machine two concurrent single-threaded factors of InstEval's
1,157 x 1,157 matrix take 17 ms, one two-threaded factor 11 ms each).
It is the same LAPACK library, so the factor is the same as SciPy's.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np
from scipy.linalg import lapack

__all__ = ["dpotrf_upper"]


@functools.lru_cache(maxsize=1)
def _cython_dpotrf():
    """``dpotrf`` from SciPy's Cython LAPACK as a ctypes function, or None if unavailable."""
    try:
        from scipy.linalg import cython_lapack

        capsule = cython_lapack.__pyx_capi__["dpotrf"]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        address = get_pointer(capsule, get_name(capsule))
    except (ImportError, AttributeError, KeyError, ValueError):  # pragma: no cover - other SciPy builds
        return None
    if not address:  # pragma: no cover
        return None
    int_p = ctypes.POINTER(ctypes.c_int)
    return ctypes.CFUNCTYPE(None, ctypes.c_char_p, int_p, ctypes.c_void_p, int_p, int_p)(address)


def dpotrf_upper(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Cholesky factor ``U`` (``U'U = a``) of a Fortran-ordered float64 matrix, in place.

    Reads and writes only the upper triangle of ``a``; returns ``(U, info)`` with
    LAPACK's ``info`` (0 on success, ``k > 0`` when the leading minor ``k`` is not
    positive definite). The GIL is released during the factorization.
    """
    fn = _cython_dpotrf()
    n = a.shape[0]
    if fn is None or not (a.flags.f_contiguous and a.flags.writeable and a.dtype == np.float64) or n == 0:
        U, info = lapack.dpotrf(a, lower=0, clean=0, overwrite_a=1)
        return U, int(info)
    size, info = ctypes.c_int(n), ctypes.c_int(0)
    fn(b"U", ctypes.byref(size), a.ctypes.data, ctypes.byref(size), ctypes.byref(info))
    return a, int(info.value)
