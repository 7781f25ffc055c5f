"""Krylov kernels of the matrix-free formulation (arrays only): block conjugate gradients and
stochastic Lanczos quadrature of ``tr log A`` with deflation and a control variate.

All functions take the operator as ``matvec(V)`` on a block of columns (``q x m``), so that one
call does the work of ``m`` products (the sparse kernels stream the matrix once per call).

References
----------
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4), 1075-1099.

Meyer, R. A., Musco, C., Musco, C. and Woodruff, D. P. (2021). Hutch++: optimal stochastic
trace estimation. Symposium on Simplicity in Algorithms, 142-155 (the split of the trace into an
exact part on a few vectors and a stochastic part on their complement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal

__all__ = ["block_pcg", "smallest_ritz_vectors", "slq_logdet", "SLQSamples", "slq_samples", "rademacher_block"]


def block_pcg(matvec, B: np.ndarray, dinv: np.ndarray, tol: float, maxiter: int, X0: np.ndarray | None = None):
    """Solve ``S V = B`` column by column (all columns at once) by Jacobi-preconditioned CG.

    ``X0`` (optional) is a starting guess (e.g. the solution at a nearby theta). Returns
    ``(V, largest relative residual, iterations)``. Columns that have converged keep their
    iterate (their step lengths are set to 0).
    """
    if X0 is None:
        V, R = np.zeros_like(B), B.copy()
    else:
        V = X0.copy()
        R = B - matvec(V)
    bnorm = np.linalg.norm(B, axis=0)
    bnorm[bnorm == 0] = 1.0
    Zp = dinv[:, None] * R
    P = Zp.copy()
    rz = np.einsum("ij,ij->j", R, Zp)
    res = np.linalg.norm(R, axis=0) / bnorm
    it = 0
    while it < maxiter and res.max() > tol:
        SP = matvec(P)
        pSp = np.einsum("ij,ij->j", P, SP)
        alpha = np.where((res > tol) & (pSp > 0), rz / np.where(pSp > 0, pSp, 1.0), 0.0)
        V += alpha * P
        R -= alpha * SP
        Zp = dinv[:, None] * R
        rz_new = np.einsum("ij,ij->j", R, Zp)
        beta = np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        P = Zp + beta * P
        rz = rz_new
        res = np.linalg.norm(R, axis=0) / bnorm
        it += 1
    return V, float(res.max()), it


def smallest_ritz_vectors(matvec, start: np.ndarray, steps: int, k: int) -> np.ndarray:
    """``k`` orthonormal Ritz vectors of the smallest Ritz values after ``steps`` Lanczos steps
    (full reorthogonalization) from ``start``: a deterministic, smooth function of the operator."""
    q = start.size
    steps = min(steps, q)
    Q = np.zeros((q, steps))
    a, b = np.zeros(steps), np.zeros(steps)
    v = start / np.linalg.norm(start)
    for j in range(steps):
        Q[:, j] = v
        w = matvec(v[:, None])[:, 0]
        a[j] = v @ w
        w -= Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
        w -= Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
        b[j] = np.linalg.norm(w)
        if b[j] <= 1e-12 * max(abs(a[j]), 1.0):
            steps = j + 1
            break
        v = w / b[j]
    _, vecs = eigh_tridiagonal(a[:steps], b[:steps - 1])
    V = Q[:, :steps] @ vecs[:, :min(k, steps)]
    return np.linalg.qr(V)[0]


def rademacher_block(q: int, m: int, seed: int, block: int) -> np.ndarray:
    """Block ``block`` of ``m`` Rademacher probes of length ``q``: a fixed function of
    ``(seed, block)``, so that probe sets grow by blocks without storing the earlier ones."""
    return np.random.default_rng([seed, block]).choice([-1.0, 1.0], size=(q, m))


@dataclass(frozen=True)
class SLQSamples:
    """Per-probe terms of a stochastic Lanczos estimate of ``tr log A``.

    ``exact_full`` / ``exact_short``: the deterministic part on the deflation vectors with all
    and with one step fewer; ``full`` / ``short``: each probe's control-variate-corrected value
    on their complement (the estimate is ``exact_full + mean(full)``); ``vav``: ``sum_k v_k'Av_k``
    (reused by later blocks of probes, which skip the deflation vectors).
    """

    exact_full: float
    exact_short: float
    full: np.ndarray
    short: np.ndarray
    vav: float

    def combine(self, more: "SLQSamples") -> "SLQSamples":
        """These samples and those of another block of probes (same deflation)."""
        return SLQSamples(self.exact_full, self.exact_short, np.concatenate([self.full, more.full]),
                          np.concatenate([self.short, more.short]), self.vav)

    def estimate(self) -> tuple[float, float, float]:
        """``(estimate, standard error, change over the last step)``."""
        m = self.full.size
        est = float(self.exact_full + self.full.mean())
        se = float(self.full.std(ddof=1) / np.sqrt(m)) if m > 1 else np.inf
        return est, se, float(abs(est - self.exact_short - self.short.mean()))


def slq_samples(matvec, probes: np.ndarray, steps: int, trace: float | None = None,
                deflate: np.ndarray | None = None, vav: float | None = None) -> SLQSamples:
    """Per-probe terms of ``tr log A`` (``A`` symmetric positive definite) by stochastic Lanczos quadrature.

    ``probes`` (``q x m``, Rademacher) are run through ``steps`` Lanczos steps at once
    (one block product per step). Variance reduction:

    * ``deflate`` (``q x k`` orthonormal, e.g. :func:`smallest_ritz_vectors`): since
      ``tr f(A) = tr(V'f(A)V) + tr(P f(A) P)`` with ``P = I - VV'`` for any orthonormal ``V``,
      the first part is computed by Lanczos quadrature from each column of ``V`` (no
      randomness) and only the second from the projected probes ``Pz``. With ``V`` near the
      eigenvectors of outlying eigenvalues (where ``log`` is large) most variance goes.
    * ``trace`` (the exact ``tr A``): each probe's ``z'P(A - I)Pz`` minus its mean (``z'APz``
      is the first Lanczos coefficient times ``|Pz|^2``) is subtracted as a control variate,
      which removes the first-order term of the off-diagonal part of ``log A`` near ``I``.

    ``vav``: ``sum_k v_k'Av_k`` from an earlier block (then the deflation vectors are not run
    again and the exact part is left 0; :meth:`SLQSamples.combine` keeps the first block's).
    """
    q, m = probes.shape
    k = 0 if deflate is None else deflate.shape[1]
    Z = probes if deflate is None else probes - deflate @ (deflate.T @ probes)
    norms2 = np.einsum("ij,ij->j", Z, Z)
    run_v = k > 0 and vav is None
    start = Z / np.sqrt(norms2)
    if run_v:
        start = np.hstack([deflate, start])
    alphas, betas = _lanczos(matvec, start, steps)
    full, short = (_quadrature(alphas, betas, s) for s in (steps, max(steps - 1, 1)))
    kk = k if run_v else 0
    exact_full, exact_short = float(full[:kk].sum()), float(short[:kk].sum())
    if run_v:
        vav = float(alphas[0, :k].sum())
    vav = 0.0 if vav is None else vav
    full, short = full[kk:] * norms2, short[kk:] * norms2
    if trace is not None:  # z'P(A - I)Pz has mean tr(PAP) - tr P = tr A - sum_k v_k'A v_k - (q - k)
        control = (alphas[0, kk:] - 1.0) * norms2 - (trace - vav - (q - k))
        full, short = full - control, short - control
    return SLQSamples(exact_full, exact_short, full, short, vav)


def slq_logdet(matvec, probes: np.ndarray, steps: int, trace: float | None = None,
               deflate: np.ndarray | None = None):
    """``tr log A`` by stochastic Lanczos quadrature (see :func:`slq_samples`).

    Returns ``(estimate, standard error, last-step change)``.
    """
    return slq_samples(matvec, probes, steps, trace, deflate).estimate()


def _lanczos(matvec, start: np.ndarray, steps: int):
    """``steps`` Lanczos steps from each (unit) column of ``start`` at once: ``(alphas, betas)``,
    each ``steps x columns``; a column that reaches an invariant subspace stops (zeros)."""
    Q = start.copy()
    m = Q.shape[1]
    Q_prev = np.zeros_like(Q)
    alphas, betas = np.zeros((steps, m)), np.zeros((steps, m))
    beta = np.zeros(m)
    alive = np.ones(m, dtype=bool)
    for j in range(steps):
        W = matvec(Q)
        W -= beta * Q_prev
        a = np.einsum("ij,ij->j", Q, W)
        W -= a * Q
        alphas[j] = np.where(alive, a, 0.0)
        beta = np.linalg.norm(W, axis=0)
        alive &= beta > 1e-10 * np.maximum(np.abs(a), 1.0)  # an invariant subspace: exact from here
        beta = np.where(alive, beta, 0.0)
        betas[j] = beta
        Q_prev, Q = Q, W / np.where(alive, beta, 1.0)
        Q[:, ~alive] = 0.0
    return alphas, betas


def _quadrature(alphas, betas, k):
    """Gauss quadrature ``e_1' log(T_k) e_1`` of each probe's Lanczos tridiagonal ``T_k``."""
    out = np.empty(alphas.shape[1])
    for i in range(alphas.shape[1]):
        a, b = alphas[:k, i], betas[:k - 1, i]
        stop = np.flatnonzero(b == 0)  # a breakdown: the leading block is exact
        size = int(stop[0]) + 1 if stop.size else k
        nodes, vecs = eigh_tridiagonal(a[:size], b[:size - 1])
        out[i] = float(vecs[0] ** 2 @ np.log(np.maximum(nodes, 1e-300)))
    return out
