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

For ``k = 2`` the objective goes further (:func:`level_slope_objective`). With
``T`` the template, ``W_j = (det(T)^2 adj(Z_j'Z_j) + T T') / det M_j`` and
``det M_j = 1 + tr(Z_j'Z_j T T') + det(T)^2 det(Z_j'Z_j)``, so the whole update is

.. math::

    \\sum_j A_j' W_j A_j = \\det(T)^2 \\sum_j h_j A_j' \\operatorname{adj}(Z_j'Z_j) A_j
    + \\sum_{(a, b)} (T T')_{ab} \\sum_j h_j A_j' E_{ab} A_j, \\qquad h_j = 1 / \\det M_j,

(pairs ``a <= b``; ``E_aa = e_a e_a'``, ``E_01 = e_0 e_1' + e_1 e_0'``): four sums over the
levels, weighted by ``h``, of products fixed before the optimization
(:func:`slope_products`, ``4 r (r + 1) / 2`` numbers per level): one evaluation is a
product of the ``(5, levels)`` rows ``[Z_j'Z_j, det, 1]`` with five numbers (``det M_j``),
the sum of ``log det M_j``, and one matrix-vector product with ``h``; then the
``r x r`` Cholesky factor. The solution at the optimum is closed form per level
(:func:`level_slope_solve`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg import lapack

from ._pls_types import PLSSolution

__all__ = ["level_products", "schur_update", "augmented_2x2", "first_block_2x2",
           "slope_products", "level_slope_objective", "level_slope_solve", "SLOPE_PRODUCTS_PER_ROW"]


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
SLOPE_PRODUCTS_PER_ROW = 16  # products of :func:`slope_products` kept while at most this many per row


def slope_products(A_sym: np.ndarray, A: np.ndarray) -> np.ndarray:
    """The four per-level products whose ``h``-weighted sums give the Schur update of 2 x 2 blocks.

    With ``b0, b1`` the rows of ``A_j = Z_j'[X, y]`` (``A`` from :func:`level_products`,
    ``(levels * 2, r)``) and ``adj(A_j)`` the adjugate of ``Z_j'Z_j`` (upper triangles in
    ``A_sym``), the rows of the result, ``(4 m, levels)`` with ``m = r (r + 1) / 2``, hold the
    lower triangles (row-major) of ``B_j' adj(A_j) B_j``, ``b0 b0'``, ``b0 b1' + b1 b0'`` and
    ``b1 b1'``: with ``W_j = (det(T)^2 adj(A_j) + T T') / det M_j`` (see :func:`first_block_2x2`),
    ``sum_j B_j' W_j B_j`` is one product of this matrix with ``1 / det M_j``.
    """
    nl, r = A_sym.shape[0], A.shape[1]
    B = np.ascontiguousarray(A.reshape(nl, 2 * r).T)  # rows: b0 of every column, then b1
    b0, b1 = B[:r], B[r:]
    a00, a01, a11 = A_sym.T
    g0, g1 = a11 * b0 - a01 * b1, a00 * b1 - a01 * b0  # adj(A_j) B_j
    out = np.empty((4, r * (r + 1) // 2, nl))
    i = 0
    for c in range(r):
        for d in range(c + 1):
            out[0, i] = b0[c] * g0[d] + b1[c] * g1[d]
            out[1, i] = b0[c] * b0[d]
            out[2, i] = b0[c] * b1[d] + b1[c] * b0[d]
            out[3, i] = b1[c] * b1[d]
            i += 1
    return out.reshape(-1, nl)


def level_slope_objective(problem, reml: bool):
    """``theta -> deviance`` of a problem with one 2 x 2 term and nothing else random.

    Per evaluation: ``det M_j`` for every level (one product with the rows ``a00, a01, a11,
    det A_j, 1``), the sum of their logarithms, one matrix-vector product of
    :func:`slope_products` with ``1 / det M_j`` and the ``r x r`` Cholesky factor: a fixed
    handful of array calls whatever the number of levels. The same quantity as
    :meth:`PLSProblem.deviance` (sums in another order). ``.many`` evaluates several points
    with matrix-matrix products (the convergence check's finite differences).
    """
    K, aug, full, Arr = _slope_cache(problem)
    r, p = problem.r, problem.p
    m = problem.n - p if reml else problem.n
    nm = K.shape[0] // 4
    potrf, dot, log, reduce, array, recip = lapack.dpotrf, np.dot, np.log, np.add.reduce, np.array, np.reciprocal
    arr = Arr[_tril(r)].tolist()  # the lower triangle, row by row (as the products' rows)

    def rest_diagonal(v, t00, t10, t11):
        """The diagonal of the Cholesky factor of the rest ``C = Arr - U`` (None: not positive definite)."""
        d2, s00, s01, s11 = (t00 * t11) ** 2, t00 * t00, t00 * t10, t10 * t10 + t11 * t11
        if r == 3:  # y ~ x + (x | g): six numbers, cheaper as floats than as arrays
            v = v.tolist()
            return _cholesky3_diagonal([a - (d2 * v[i] + s00 * v[i + 6] + s01 * v[i + 12] + s11 * v[i + 18])
                                        for i, a in enumerate(arr)])
        C = Arr - dot(array((d2, s00, s01, s11)), v.reshape(4, nm)).take(full)
        U, info = potrf(C.T, lower=0, clean=0, overwrite_a=1)
        return U.diagonal().tolist() if info == 0 else None

    def criterion(logdet, v, t00, t10, t11) -> float:
        diag = rest_diagonal(v, t00, t10, t11)
        if diag is None:
            return np.inf
        dev = logdet + m * (1.0 + _LOG2PI + math.log(diag[-1] ** 2 / m))
        return dev + 2.0 * sum(map(math.log, diag[:p])) if reml else dev

    def deviance(theta) -> float:
        t00, t10, t11 = theta.tolist() if isinstance(theta, np.ndarray) else map(float, theta)
        det = array((t00 * t00, 2.0 * t00 * t10, t10 * t10 + t11 * t11, (t00 * t11) ** 2, 1.0)) @ aug
        logdet = float(reduce(log(det)))
        return criterion(logdet, dot(K, recip(det, out=det)), t00, t10, t11)

    def many(thetas) -> list[float]:
        th = np.asarray(thetas, dtype=float)
        t00, t10, t11 = th[:, 0], th[:, 1], th[:, 2]
        d2, s00, s01, s11 = (t00 * t11) ** 2, t00 * t00, t00 * t10, t10 * t10 + t11 * t11
        det = np.stack([s00, 2.0 * s01, s11, d2, np.ones(len(th))]).T @ aug
        logdet = log(det).sum(axis=1)
        V = (np.reciprocal(det, out=det) @ K.T).reshape(len(th), 4, nm)
        U = np.einsum("pe,pem->pm", np.stack([d2, s00, s01, s11], axis=1), V)
        try:
            diag = np.diagonal(np.linalg.cholesky(Arr - U[:, full]), axis1=1, axis2=2)
        except np.linalg.LinAlgError:  # a point is not positive definite: one by one
            return [criterion(ld, v.reshape(-1), *t) for ld, v, t in zip(logdet.tolist(), V, th.tolist())]
        dev = logdet + m * (1.0 + _LOG2PI + np.log(diag[:, -1] ** 2 / m))
        if reml:
            dev += 2.0 * np.log(diag[:, :p]).sum(axis=1)
        return dev.tolist()

    deviance.many = many
    return deviance


@functools.lru_cache(maxsize=16)
def _tril(r: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.tril_indices(r)``, made once per size."""
    return np.tril_indices(r)


def _cholesky3_diagonal(c):
    """The diagonal of the Cholesky factor of a 3 x 3 matrix given by its lower triangle
    ``[c00, c10, c11, c20, c21, c22]`` (floats); None when it is not positive definite."""
    c00, c10, c11, c20, c21, c22 = c
    if not c00 > 0.0:
        return None
    l00 = math.sqrt(c00)
    l10, l20 = c10 / l00, c20 / l00
    s = c11 - l10 * l10
    if not s > 0.0:
        return None
    l11 = math.sqrt(s)
    l21 = (c21 - l20 * l10) / l11
    s = c22 - l20 * l20 - l21 * l21
    return [l00, l11, math.sqrt(s)] if s > 0.0 else None


def _slope_cache(problem):
    """What :func:`level_slope_objective` reads, kept on ``problem`` for its current response:
    :func:`slope_products`, the rows ``a00, a01, a11, det A_j, 1``, the position in the packed
    lower triangle of every entry of an ``r x r`` matrix, and ``[X, y]'[X, y]`` (both triangles)."""
    cached = getattr(problem, "_slope_products", None)
    if cached is not None and cached[0] is problem.A1r:
        return cached[1:]
    S = problem._A11_sym
    aug = np.empty((5, S.shape[0]))
    aug[:3] = S.T
    aug[3] = S[:, 0] * S[:, 2] - S[:, 1] * S[:, 1]
    aug[4] = 1.0
    K = slope_products(S, problem.A1r)
    r = problem.r
    full = np.empty((r, r), dtype=np.intp)
    full[_tril(r)] = np.arange(r * (r + 1) // 2)
    full.T[_tril(r)] = full[_tril(r)]
    Arr = problem.Arr.copy()
    Arr.T[_tril(r)] = Arr[_tril(r)]  # the lower triangle mirrored
    problem._slope_products = (problem.A1r, K, aug, full, Arr)
    return K, aug, full, Arr


def level_slope_solve(problem, theta: np.ndarray) -> PLSSolution:
    """:meth:`PLSProblem.solve` for one 2 x 2 term and nothing else random, in closed form per level.

    The factor of the ``r x r`` rest comes from :func:`slope_products` (as the objective);
    the conditional modes solve ``M_j u_j = -T'(A_j [beta; -1])`` with the adjugate of each
    ``2 x 2`` matrix ``M_j = T'A_jT + I`` (no batched LAPACK call over the levels).
    """
    K, aug, full, Arr = _slope_cache(problem)
    t00, t10, t11 = (float(v) for v in theta)
    d2, s00, s01, s11 = (t00 * t11) ** 2, t00 * t00, t00 * t10, t10 * t10 + t11 * t11
    det = np.dot((s00, 2.0 * s01, s11, d2, 1.0), aug)
    logdet = float(np.add.reduce(np.log(det)))
    U = np.dot((d2, s00, s01, s11), (K @ (1.0 / det)).reshape(4, -1))
    C = Arr - U.take(full)
    L, info = lapack.dpotrf(C, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError("the penalized system is not positive definite at theta")
    p, n = problem.p, problem.n
    diag = np.diagonal(L)
    logdet_rx = 2.0 * float(np.log(diag[:p]).sum())
    pwrss = float(diag[-1]) ** 2
    beta, _ = lapack.dtrtrs(L[:-1, :-1], L[-1, :-1], lower=1, trans=1)  # L_X' beta = L_yX
    b, u = _slope_modes(problem, beta, aug, det, t00, t10, t11)
    Z = problem.terms[0].Z
    codes = problem.terms[0].codes
    fitted = problem.X @ beta
    fitted += Z[:, 0] * b[codes, 0]
    fitted += Z[:, 1] * b[codes, 1]
    dev_ml = logdet + n * (1.0 + _LOG2PI + np.log(pwrss / n))
    nmp = n - p
    dev_reml = logdet + logdet_rx + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
    RX = np.triu(L[:p, :p].T)
    sigma_reml = float(np.sqrt(pwrss / nmp)) if nmp > 0 else np.nan
    return PLSSolution(theta=np.asarray(theta, dtype=float), beta=beta, u=u, b=[b],
                       sigma_ml=float(np.sqrt(pwrss / n)), sigma_reml=sigma_reml,
                       logdet_L=logdet, logdet_RX=logdet_rx, pwrss=pwrss, RX=RX, fitted=fitted,
                       deviance_ml=float(dev_ml), deviance_reml=float(dev_reml))


def _slope_modes(problem, beta, aug, det, t00, t10, t11):
    """``(b, u)`` per level: ``u_j = -M_j^{-1} T'A_j e`` with ``e = [beta; -1]``, ``b_j = T u_j``."""
    e = np.append(beta, -1.0)
    v = (problem.A1r @ e).reshape(-1, 2)  # A_j e, one row per level
    r0 = -(t00 * v[:, 0] + t10 * v[:, 1])  # -T'A_j e
    r1 = -t11 * v[:, 1]
    a00, a01, a11 = aug[0], aug[1], aug[2]
    m00 = t00 * t00 * a00 + 2.0 * t00 * t10 * a01 + t10 * t10 * a11 + 1.0
    m01 = t11 * (t00 * a01 + t10 * a11)
    m11 = t11 * t11 * a11 + 1.0
    u = np.empty((det.size, 2))
    u[:, 0] = (m11 * r0 - m01 * r1) / det
    u[:, 1] = (m00 * r1 - m01 * r0) / det
    b = np.empty_like(u)
    b[:, 0] = t00 * u[:, 0]
    b[:, 1] = t10 * u[:, 0] + t11 * u[:, 1]
    return b, u.reshape(-1)
