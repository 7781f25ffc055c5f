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


def _address(module, name: str):
    """The C function pointer SciPy exports as ``module.__pyx_capi__[name]``."""
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_pointer(capsule, get_name(capsule))


_I, _D, _P, _C = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double), ctypes.c_void_p, ctypes.c_char_p
_SIGNATURES = {  # Fortran calling convention: every argument by reference
    "dpotrf": (_C, _I, _P, _I, _I),
    "dtrsm": (_C, _C, _C, _C, _I, _I, _D, _P, _I, _P, _I),
    "dsyrk": (_C, _C, _I, _I, _D, _P, _I, _D, _P, _I),
    "dgemm": (_C, _C, _I, _I, _I, _D, _P, _I, _P, _I, _D, _P, _I),
}


@functools.lru_cache(maxsize=1)
def _routines():
    """``dpotrf``, ``dtrsm``, ``dsyrk``, ``dgemm`` from SciPy's Cython LAPACK/BLAS as ctypes
    functions (which release the GIL), or None if unavailable."""
    try:
        from scipy.linalg import cython_blas, cython_lapack

        out = {}
        for name, args in _SIGNATURES.items():
            address = _address(cython_lapack if name == "dpotrf" else cython_blas, name)
            if not address:  # pragma: no cover
                return None
            out[name] = ctypes.CFUNCTYPE(None, *args)(address)
        return out
    except (ImportError, AttributeError, KeyError, ValueError):  # pragma: no cover - other SciPy builds
        return None


def dpotrf_upper(a: np.ndarray, helper=None, block: int = 192) -> tuple[np.ndarray, int]:
    """Cholesky factor ``U`` (``U'U = a``) of a Fortran-ordered float64 matrix, in place.

    Reads and writes only the upper triangle of ``a``; returns ``(U, info)`` with
    LAPACK's ``info`` (0 on success, ``k > 0`` when the leading minor ``k`` is not
    positive definite). The GIL is released during the factorization. With ``helper``
    (an executor with one idle worker) the factorization is blocked and split between
    the calling thread and the helper (see :func:`_blocked_upper`; BLAS should then run
    single-threaded).
    """
    fns = _routines()
    n = a.shape[0]
    if fns is None or not (a.flags.f_contiguous and a.flags.writeable and a.dtype == np.float64) or n == 0:
        U, info = lapack.dpotrf(a, lower=0, clean=0, overwrite_a=1)
        return U, int(info)
    if helper is not None and n > 2 * block:
        return a, _blocked_upper(fns, a, helper, block)
    size, info = ctypes.c_int(n), ctypes.c_int(0)
    fns["dpotrf"](b"U", ctypes.byref(size), a.ctypes.data, ctypes.byref(size), ctypes.byref(info))
    return a, int(info.value)


def _blocked_upper(fns, a: np.ndarray, helper, block: int) -> int:
    """Right-looking blocked Cholesky on two threads: for each diagonal block, ``dpotrf`` on it,
    then the triangular solve for the block row and the update of the trailing matrix, each
    split by columns between this thread and ``helper`` (fixed split: the result does not
    depend on scheduling). Used where a multi-threaded ``dpotrf`` scales poorly (n ~ 1,000)."""
    n = a.shape[0]
    base, lda, info = a.ctypes.data, ctypes.c_int(n), ctypes.c_int(0)
    one, minus_one = ctypes.c_double(1.0), ctypes.c_double(-1.0)
    ref = ctypes.byref

    def at(i, j):
        return base + 8 * (i + j * n)

    def solve(k0, k1, j0, j1):  # A[k0:k1, j0:j1] <- U_kk^-T A[k0:k1, j0:j1]
        if j1 > j0:
            fns["dtrsm"](b"L", b"U", b"T", b"N", ref(ctypes.c_int(k1 - k0)), ref(ctypes.c_int(j1 - j0)), ref(one),
                         at(k0, k0), ref(lda), at(k0, j0), ref(lda))

    def update(k0, k1, j0, j1):  # columns j0:j1 of the trailing upper triangle (rows k1..j1)
        kk = ctypes.c_int(k1 - k0)
        if j0 > k1:
            fns["dgemm"](b"T", b"N", ref(ctypes.c_int(j0 - k1)), ref(ctypes.c_int(j1 - j0)), ref(kk), ref(minus_one),
                         at(k0, k1), ref(lda), at(k0, j0), ref(lda), ref(one), at(k1, j0), ref(lda))
        fns["dsyrk"](b"U", b"T", ref(ctypes.c_int(j1 - j0)), ref(kk), ref(minus_one), at(k0, j0), ref(lda),
                     ref(one), at(j0, j0), ref(lda))

    for k0 in range(0, n, block):
        k1 = min(k0 + block, n)
        fns["dpotrf"](b"U", ref(ctypes.c_int(k1 - k0)), at(k0, k0), ref(lda), ref(info))
        if info.value:
            return k0 + info.value
        if k1 == n:
            break
        m = n - k1
        split = k1 + m // 2
        job = helper.submit(solve, k0, k1, split, n)
        solve(k0, k1, k1, split)
        job.result()
        split = k1 + int(m * 0.7071)  # equal work: the right part has the longer columns
        job = helper.submit(update, k0, k1, split, n)
        update(k0, k1, k1, split)
        job.result()
    return 0
