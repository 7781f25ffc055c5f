"""One grouping factor with a random slope: the Schur update as one matrix product (arrays only).

For a model with a single random-effects term of ``k >= 2`` columns, such as
``y ~ x + (x | g)``, the rest of the penalized system is ``[X, y]`` alone
(``r = p + 1`` columns). Eliminating the block-diagonal first block updates it by

.. math::

    \\sum_j A_j' W_j A_j = B' (W B), \\qquad A_j = Z_j'[X, y] \\; (k \\times r),

with ``B`` the ``A_j`` stacked (``levels * k`` rows) and ``W`` block diagonal.
``W B`` is a few vectorized operations over the levels (closed form for
``k = 2``), and ``B'(W B)`` one BLAS product of inner dimension ``levels * k``:
no precomputed map of size ``levels * k (k + 1) / 2 * r^2`` (see :mod:`._schur`)
and memory ``levels * k * r`` numbers, read twice per evaluation.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lapack

__all__ = ["level_products", "schur_update", "augmented_2x2", "first_block_2x2", "small_slope_objective"]


def level_products(codes: np.ndarray, Z: np.ndarray, R: np.ndarray, num_levels: int) -> np.ndarray:
    """``Z_j'R_j`` for every level ``j`` (rows with ``codes == j``), stacked: ``(levels * k, c)``.

    Row ``j * k + a`` holds ``sum_{i in j} Z[i, a] R[i, :]``, the layout of ``Z_1'R`` for
    level-major columns of ``Z_1``. Columns of ones in ``Z`` are not multiplied.
    """
    k, c = Z.shape[1], R.shape[1]
    out = np.empty((num_levels, k, c))
    for a in range(k):
        za = Z[:, a]
        ones = bool(np.all(za == 1.0))
        for d in range(c):
            weights = R[:, d] if ones else za * R[:, d]
            out[:, a, d] = np.bincount(codes, weights=weights, minlength=num_levels)
    return out.reshape(num_levels * k, c)


def schur_update(A: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """``sum_j A_j' W_j A_j`` (``r x r``) for ``A`` from :func:`level_products` (``(levels * k, r)``)
    and ``w`` the upper triangles of the symmetric ``W_j`` stacked row-wise (``levels * k (k + 1) / 2``)."""
    nl = A.shape[0] // k
    B = A.reshape(nl, k, -1)
    if k == 2:
        w = w.reshape(nl, 3)
        WB = B * w[:, (0, 2), None]  # diagonal of W_j, then the off-diagonal on the swapped rows
        WB += B[:, ::-1] * w[:, 1:2, None]
    else:
        a, b = np.triu_indices(k)
        W = np.empty((nl, k, k))
        ws = w.reshape(nl, a.size)
        W[:, a, b] = ws
        W[:, b, a] = ws
        WB = W @ B
    return A.T @ WB.reshape(A.shape)


def augmented_2x2(A_sym: np.ndarray) -> np.ndarray:
    """``[a00, a01, a11, det A_j, 1]`` per level from the upper triangles ``[a00, a01, a11]`` of
    the ``2 x 2`` blocks ``A_j = Z_j'Z_j``: what :func:`first_block_2x2` is linear in."""
    a00, a01, a11 = A_sym[:, 0], A_sym[:, 1], A_sym[:, 2]
    return np.column_stack([a00, a01, a11, a00 * a11 - a01 * a01, np.ones(A_sym.shape[0])])


def first_block_2x2(aug: np.ndarray, t00: float, t10: float, t11: float) -> tuple[float, np.ndarray]:
    """``(log det of the M_j summed, upper triangles of the W_j)`` for 2 x 2 blocks.

    With ``T = [[t00, 0], [t10, t11]]``, ``M_j = T'A_jT + I`` and ``W_j = T M_j^{-1} T'``:
    ``det M_j = 1 + tr(T'A_jT) + det(T)^2 det(A_j)`` and
    ``W_j det M_j = T adj(M_j) T' = det(T)^2 adj(A_j) + T T'``, both linear in
    ``aug = [a00, a01, a11, det A_j, 1]`` (:func:`augmented_2x2`): one product with a
    ``5 x 4`` matrix gives ``det M_j`` and ``W_j det M_j`` for every level.
    """
    d2 = (t00 * t11) ** 2
    s00, s01, s11 = t00 * t00, t00 * t10, t10 * t10 + t11 * t11  # T T'
    G = np.array((s00, 0.0, 0.0, d2, 2.0 * s01, 0.0, -d2, 0.0, s11, d2, 0.0, 0.0, d2, 0.0, 0.0, 0.0,
                  1.0, s00, s01, s11)).reshape(5, 4)
    out = aug @ G
    W = out[:, 1:] / out[:, :1]  # contiguous: its rows stacked are the map's argument
    return float(np.add.reduce(np.log(out[:, 0]))), W.reshape(-1)


_LOG2PI = float(np.log(2.0 * np.pi))


def small_slope_objective(problem, reml: bool):
    """``theta -> deviance`` of a small problem with one 2 x 2 term and a dense map ``problem.P``.

    The operations of :meth:`PLSProblem.deviance` in the same order, so the same numbers,
    without the general path's bookkeeping: on a problem of sleepstudy's size an evaluation
    is a few array calls, and their overhead is most of its cost.
    """
    aug = getattr(problem, "_A11_aug", None)
    if aug is None:
        aug = augmented_2x2(problem._A11_sym)
    P, Arr, r, p = problem.P, problem.Arr, problem.r, problem.p
    m = problem.n - p if reml else problem.n
    potrf = lapack.dpotrf

    def deviance(theta) -> float:
        t00, t10, t11 = np.asarray(theta, dtype=float).tolist()
        logdet, w = first_block_2x2(aug, t00, t10, t11)
        C = Arr - (P @ w).reshape(r, r)
        U, info = potrf(C.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            return np.inf
        diag = U.diagonal().tolist()
        pwrss = diag[-1] ** 2
        if reml:
            return logdet + 2.0 * sum(map(math.log, diag[:p])) + m * (1.0 + _LOG2PI + np.log(pwrss / m))
        return logdet + m * (1.0 + _LOG2PI + np.log(pwrss / m))

    def many(thetas) -> list[float]:
        """The deviance at several points at once (the convergence check's finite differences)."""
        th = np.asarray(thetas, dtype=float)
        t00, t10, t11 = th[:, 0], th[:, 1], th[:, 2]
        d2 = (t00 * t11) ** 2
        G = np.zeros((th.shape[0], 5, 4))  # first_block_2x2's matrix, one per point
        G[:, 0, 0], G[:, 1, 0], G[:, 2, 0], G[:, 3, 0], G[:, 4, 0] = t00 * t00, 2.0 * t00 * t10, \
            t10 * t10 + t11 * t11, d2, 1.0
        G[:, 0, 3], G[:, 1, 2], G[:, 2, 1] = d2, -d2, d2
        G[:, 4, 1:] = G[:, :3, 0] * (1.0, 0.5, 1.0)
        out = aug @ G
        det = out[:, :, 0]
        W = out[:, :, 1:] / det[:, :, None]
        C = Arr - (W.reshape(th.shape[0], -1) @ P.T).reshape(-1, r, r)
        try:
            diag = np.diagonal(np.linalg.cholesky(C), axis1=1, axis2=2)
        except np.linalg.LinAlgError:
            return [deviance(t) for t in th]
        dev = np.log(det).sum(axis=1) + m * (1.0 + _LOG2PI + np.log(diag[:, -1] ** 2 / m))
        if reml:
            dev += 2.0 * np.log(diag[:, :p]).sum(axis=1)
        return dev.tolist()

    deviance.many = many
    return deviance
