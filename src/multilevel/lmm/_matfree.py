"""Matrix-free profiled deviance for large crossed scalar random effects (arrays only).

For models whose terms are all scalar (``(1 | g)`` or ``(0 + x | g)``), with later terms
too large for the dense Schur complement of :mod:`._pls` (``y ~ x + (1 | user) +
(1 | item)`` with tens of thousands of items), nothing of size ``q_rest x q_rest`` is
formed. As in :mod:`._pls` the first term is eliminated exactly (its block of
``Lambda'Z'Z Lambda + I`` is diagonal, ``m_j = lambda_1^2 a_j + 1``); the Schur complement
of the later terms,

.. math::

    S = \\Lambda_r (A_{rr} - A_{1r}' W A_{1r}) \\Lambda_r + I, \\qquad
    W = \\mathrm{diag}(\\lambda_1^2 / m_j),

is only applied to vectors (two sparse products with ``A_1r = Z_1'Z_r``, whose entries
are the distinct pairs of levels: at most one per row). Then

* the ``(p + 1) x (p + 1)`` Schur complement of ``[X, y]`` (giving ``log |R_X|^2`` and the
  penalized RSS) is formed from ``p + 1`` solves with ``S`` by block preconditioned conjugate
  gradients (Jacobi preconditioner) to a relative residual of ``cg_tol``; its error is of
  the order of the squared residual;
* ``log det S`` is estimated by stochastic Lanczos quadrature (Ubaru, Chen and Saad
  2017) on the Jacobi-scaled ``A = D^{-1/2} S D^{-1/2}``, whose diagonal is 1, with
  ``z'Az - tr A`` as a control variate (it removes the first-order term of the off-diagonal
  part, which dominates the variance): ``m`` fixed Rademacher probes (the same at every theta, so that the optimizer sees a smooth
  function) and ``k`` Lanczos steps each. The standard error over the probes and the
  change of the quadrature over its last step are reported (:attr:`MatrixFreeProblem.accuracy`).

Cost per evaluation: ``O((k m + p + 1) nnz(A_1r))`` operations and ``O(q (m + p))`` memory.

References
----------
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4), 1075-1099.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import eigh_tridiagonal

from .._exceptions import ModelSpecificationError
from ._pls import PLSProblem, PLSSolution, _LOG2PI

__all__ = ["MatrixFreeProblem", "LogdetAccuracy", "slq_logdet", "block_pcg", "smallest_ritz_vectors"]


@dataclass(frozen=True)
class LogdetAccuracy:
    """Achieved accuracy of the stochastic log-determinant at one theta.

    Attributes
    ----------
    estimate : float
        ``log det S`` (the later terms' part of ``log |L|^2``).
    standard_error : float
        Standard error over the probes (the Monte Carlo error of the estimate).
    quadrature_change : float
        Change of the estimate over the last Lanczos step (the quadrature's convergence).
    probes, steps : int
    cg_residual : float
        Largest relative residual of the conjugate-gradient solves for ``[X, y]``.
    cg_iterations : int
    """

    estimate: float
    standard_error: float
    quadrature_change: float
    probes: int
    steps: int
    cg_residual: float
    cg_iterations: int

    def describe(self) -> str:
        """One line for the fit's notes."""
        return (f"log-determinant of the later terms by stochastic Lanczos quadrature ({self.probes} probes, "
                f"{self.steps} steps): {self.estimate:.6f}, standard error {self.standard_error:.3g}, last-step "
                f"change {self.quadrature_change:.2g}; conjugate gradients for [X, y] converged to relative "
                f"residual {self.cg_residual:.1e} in {self.cg_iterations} iterations")


def block_pcg(matvec, B: np.ndarray, dinv: np.ndarray, tol: float, maxiter: int):
    """Solve ``S V = B`` column by column (all columns at once) by Jacobi-preconditioned CG.

    Returns ``(V, largest relative residual, iterations)``. Columns that have converged
    keep their iterate (their step lengths are set to 0).
    """
    V = np.zeros_like(B)
    R = B.copy()
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


def slq_logdet(matvec, probes: np.ndarray, steps: int, trace: float | None = None,
               deflate: np.ndarray | None = None):
    """``tr log A`` by stochastic Lanczos quadrature, ``A`` symmetric positive definite.

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

    Returns ``(estimate, standard error, last-step change)``.
    """
    q, m = probes.shape
    k = 0 if deflate is None else deflate.shape[1]
    Z = probes if deflate is None else probes - deflate @ (deflate.T @ probes)
    norms2 = np.einsum("ij,ij->j", Z, Z)
    start = Z / np.sqrt(norms2) if deflate is None else np.hstack([deflate, Z / np.sqrt(norms2)])
    alphas, betas = _lanczos(matvec, start, steps)
    full, short = (_quadrature(alphas, betas, s) for s in (steps, max(steps - 1, 1)))
    exact_full, exact_short = full[:k].sum(), short[:k].sum()
    full, short = full[k:] * norms2, short[k:] * norms2
    if trace is not None:  # z'P(A - I)Pz has mean tr(PAP) - tr P = tr A - sum_k v_k'A v_k - (q - k)
        control = (alphas[0, k:] - 1.0) * norms2 - (trace - alphas[0, :k].sum() - (q - k))
        full, short = full - control, short - control
    est = float(exact_full + full.mean())
    se = float(full.std(ddof=1) / np.sqrt(m)) if m > 1 else np.inf
    return est, se, float(abs(est - exact_short - short.mean()))


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


class MatrixFreeProblem(PLSProblem):
    """:class:`~._pls.PLSProblem` for all-scalar terms without a dense Schur complement.

    Parameters
    ----------
    X, y, terms
        As :class:`~._pls.PLSProblem` (every term with one column).
    probes : int
        Rademacher probes of the stochastic log-determinant (fixed for the problem); 0: 64 when
        ``Z_1'Z_r`` has at most ``CHEAP_NNZ`` entries, 16 otherwise.
    steps : int
        Lanczos steps per probe.
    cg_tol : float
        Relative residual of the conjugate-gradient solves.
    seed : int
        Seed of the probes.

    Notes
    -----
    Same internal API as :class:`~._pls.PLSProblem` (``deviance``, ``pieces``, ``solve``,
    ``objective``, ``with_response``); :meth:`condvar` is not available (it needs the
    diagonal of ``S^{-1}``). ``accuracy`` describes the log-determinant and the solves of
    the last evaluation.
    """

    formulation = "matrix-free"
    DEFAULT_PROBES = 16  # 64 where Z_1'Z_r has at most CHEAP_NNZ entries
    CHEAP_NNZ = 500_000
    DEFAULT_STEPS = 8
    DEFAULT_DEFLATE = 2
    ritz_steps = 24

    def __init__(self, X, y, terms, *, probes: int = 0, steps: int = DEFAULT_STEPS,
                 cg_tol: float = 1e-10, seed: int = 20240611, deflate: int = DEFAULT_DEFLATE):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.terms = tuple(terms)
        if not self.terms or any(t.k != 1 for t in self.terms):
            raise ValueError("the matrix-free formulation needs scalar random-effects terms")
        self.n, self.p = self.X.shape
        self._local = threading.local()
        self.num_probes, self.num_steps, self.cg_tol = int(probes), int(steps), float(cg_tol)
        self.seed, self.num_deflate = int(seed), int(deflate)
        self._init_theta_layout()
        self._init_first_block()
        self._init_sparse()
        self._set_response(self.y)
        self.accuracy = None

    # ------------------------------------------------------------------ setup
    def _init_sparse(self):
        rest = self.terms[1:]
        self.dense = False
        self.q_rest = sum(t.q for t in rest)
        self.r = self.q_rest + self.p + 1
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest])
        self.rest_scalar = True
        self.a11 = self.A11[:, 0, 0]
        self.Z1T = self.terms[0].expanded().T.tocsr()
        Zr = sp.hstack([t.expanded() for t in rest], format="csr")
        self.ZrT = Zr.T.tocsr()
        A1r = (self.Z1T @ Zr).tocsr()
        A1r.sum_duplicates()
        self.A1r = A1r
        self.A1rT = A1r.T.tocsr()
        self.A1r_sq_T = A1r.multiply(A1r).T.tocsr()  # for the diagonal of S
        Arr = (self.ZrT @ Zr).tocsr()
        self.Arr_diag = Arr.diagonal()
        self.Arr_off = None if len(rest) == 1 else (Arr - sp.diags(self.Arr_diag)).tocsr()
        if self.num_probes <= 0:  # default: more probes where products are cheap
            self.num_probes = 64 if A1r.nnz <= self.CHEAP_NNZ else 16
        self.probes = np.random.default_rng(self.seed).choice([-1.0, 1.0], size=(self.q_rest, self.num_probes))
        self._deflate_vectors, self._lock = None, threading.Lock()

    def _set_response(self, y):
        self.y = y
        XY = np.column_stack([self.X, y])
        self.A1xy = self.Z1T @ XY
        self.Arxy = self.ZrT @ XY
        self.Axyxy = XY.T @ XY

    def with_response(self, y):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._local, new._lock = threading.local(), threading.Lock()
        new._set_response(np.ascontiguousarray(y, dtype=float))
        return new

    def __getstate__(self):
        state = super().__getstate__()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def helper_thread(self, helper):
        """Within the block, products with many columns on the calling thread are split by columns
        with ``helper`` (an executor with one idle worker; SciPy's sparse kernels release the GIL).
        The results do not depend on scheduling."""
        before = getattr(self._local, "helper", None)
        self._local.helper = helper
        try:
            yield self
        finally:
            self._local.helper = before

    # ------------------------------------------------------------ theta -> S
    def _operators(self, theta):
        """``(templates, log det of the first block, w, lambda_rest, matvec of S, diag of S)``."""
        templates = self.templates(np.asarray(theta, dtype=float))
        lam1 = templates[0][0, 0]
        m1 = lam1 * lam1 * self.a11 + 1.0
        w = lam1 * lam1 / m1
        lam = self._rest_scale(templates)[:self.q_rest]
        A1r, A1rT, off = self.A1r, self.A1rT, self.Arr_off
        arr = self.Arr_diag

        helper = getattr(self._local, "helper", None)

        def matvec(V):
            if helper is not None and V.shape[1] >= 8:  # two halves of the columns on two threads
                h = V.shape[1] // 2
                job = helper.submit(one, V[:, h:])
                return np.hstack([one(V[:, :h]), job.result()])
            return one(V)

        def one(V):
            U = lam[:, None] * V
            G = A1rT @ (w[:, None] * (A1r @ U))
            inner = arr[:, None] * U - G
            if off is not None:
                inner += off @ U
            return V + lam[:, None] * inner

        diag = 1.0 + lam * lam * (arr - self.A1r_sq_T @ w)
        return templates, float(np.log(m1).sum()), w, lam, matvec, diag

    def _xy_schur(self, w, lam, matvec, diag):
        """The Schur complement of ``[X, y]`` (``(p + 1) x (p + 1)``), the solves ``S^{-1} S_r,xy``
        and the CG report."""
        Sr = lam[:, None] * (self.Arxy - self.A1rT @ (w[:, None] * self.A1xy))
        Sxx = self.Axyxy - self.A1xy.T @ (w[:, None] * self.A1xy)
        V, res, it = block_pcg(matvec, Sr, 1.0 / diag, self.cg_tol, maxiter=20 * int(np.sqrt(self.q_rest)) + 200)
        T = Sxx - Sr.T @ V
        return 0.5 * (T + T.T), V, res, it

    def _logdet_rest(self, matvec, diag):
        dis = 1.0 / np.sqrt(diag)

        def scaled(V):
            return dis[:, None] * matvec(dis[:, None] * V)

        V = self._deflation(scaled, diag)
        est, se, change = slq_logdet(scaled, self.probes, self.num_steps, trace=float(self.q_rest), deflate=V)
        return float(np.log(diag).sum()) + est, se, change

    def _deflation(self, scaled, diag):
        """The deflation vectors: Ritz vectors of the smallest eigenvalues of the scaled ``S`` at the
        first theta evaluated, then fixed for the problem (like the probes, so that the estimate is
        a smooth function of theta; any orthonormal vectors leave it unbiased)."""
        if not self.num_deflate:
            return None
        with self._lock:
            if self._deflate_vectors is None:
                self._deflate_vectors = smallest_ritz_vectors(scaled, np.sqrt(diag), self.ritz_steps,
                                                              self.num_deflate)
        return self._deflate_vectors

    # --------------------------------------------------------------- objective
    def pieces(self, theta):
        """``(log|L|^2, log|R_X|^2, penalized RSS)`` at ``theta`` (see :meth:`PLSProblem.pieces`);
        the log-determinant is a stochastic estimate (its accuracy in :attr:`accuracy`)."""
        _, logdet1, w, lam, matvec, diag = self._operators(theta)
        T, _, res, it = self._xy_schur(w, lam, matvec, diag)
        try:
            LT = np.linalg.cholesky(T)
        except np.linalg.LinAlgError:
            return None
        d = np.diagonal(LT)
        logdet_rest, se, change = self._logdet_rest(matvec, diag)
        self.accuracy = LogdetAccuracy(logdet_rest, se, change, self.num_probes, self.num_steps, res, it)
        return logdet1 + logdet_rest, 2.0 * float(np.log(d[:self.p]).sum()), float(d[-1]) ** 2

    def solve(self, theta) -> PLSSolution:
        """All pieces of the PLS solution at ``theta`` (random effects from the CG solves)."""
        theta = np.asarray(theta, dtype=float)
        templates, logdet1, w, lam, matvec, diag = self._operators(theta)
        T, V, res, it = self._xy_schur(w, lam, matvec, diag)
        LT = np.linalg.cholesky(T)
        d = np.diagonal(LT)
        p, n = self.p, self.n
        logdet_rest, se, change = self._logdet_rest(matvec, diag)
        logdet = logdet1 + logdet_rest
        logdet_rx = 2.0 * float(np.log(d[:p]).sum())
        pwrss = float(d[-1]) ** 2
        beta = np.linalg.solve(T[:p, :p], T[:p, p])
        coef = np.concatenate([-beta, [1.0]])
        u_rest = V @ coef  # S u = S_r,y - S_r,x beta
        b_rest = lam * u_rest
        lam1 = templates[0][0, 0]
        # first term: m_j u_j = lam1 (A_1y - A_1x beta - A_1r b_rest)_j
        rhs = self.A1xy @ coef - self.A1r @ b_rest
        u1 = lam1 * rhs / (lam1 * lam1 * self.a11 + 1.0)
        b1 = lam1 * u1
        blist = [b1[:, None]] + [b_rest[o0:o1, None] for o0, o1 in zip(self.rest_offsets[:-1], self.rest_offsets[1:])]
        fitted = self.X @ beta
        for t, bt in zip(self.terms, blist):
            fitted = fitted + t.Z[:, 0] * bt[t.codes, 0]
        nmp = n - p
        dev_ml = logdet + n * (1.0 + _LOG2PI + np.log(pwrss / n))
        dev_reml = logdet + logdet_rx + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
        RX = np.linalg.cholesky(T[:p, :p]).T
        self.accuracy = LogdetAccuracy(logdet_rest, se, change, self.num_probes, self.num_steps, res, it)
        return PLSSolution(theta=theta, beta=beta, u=np.concatenate([u1, u_rest]), b=blist,
                           sigma_ml=float(np.sqrt(pwrss / n)),
                           sigma_reml=float(np.sqrt(pwrss / nmp)) if nmp > 0 else np.nan,
                           logdet_L=logdet, logdet_RX=logdet_rx, pwrss=pwrss, RX=RX, fitted=fitted,
                           deviance_ml=float(dev_ml), deviance_reml=float(dev_reml))

    def condvar(self, theta):
        raise ModelSpecificationError(
            "conditional variances of the random effects need the diagonal of S^-1, which the matrix-free "
            "formulation does not form; refit with formulation='dense' (later terms up to 10,000 levels)")

    def _factor(self, theta):
        raise ModelSpecificationError(
            "profiling needs the Cholesky factor, which the matrix-free formulation does not form; refit with "
            "formulation='dense' (later terms up to 10,000 levels)")
