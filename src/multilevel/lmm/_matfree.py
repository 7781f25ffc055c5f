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
  part) and the smallest eigenvalue's Ritz vector handled without probes (:mod:`._slq`).
  The optimizer sees the estimate from a few fixed Rademacher probes (the same at every
  theta, so that the criterion is a smooth function of theta); the final evaluation adds
  blocks of probes until the standard error reaches ``target_se`` (or ``max_probes``). The
  standard error over the probes and the change of the quadrature over its last step are
  reported (:attr:`MatrixFreeProblem.accuracy`). Where the dense Schur complement is affordable a
  fit's final evaluation is instead exact (:meth:`MatrixFreeProblem.exact_solve`, the dense
  formulation at the fitted theta; the limit is measured in :mod:`._formulation`).

Cost per evaluation: ``O((k m + (p + 1) i) nnz(A_1r))`` operations (``k`` Lanczos steps, ``m``
probes and deflation vectors, ``i`` CG iterations) and ``O(q (m + p))`` memory; the two sparse
products of each block product are split by rows over two threads during a fit.

Measured on ratings-like data (``benchmarks/_ratings.py``, REML): 4M rows / 150k users / 40k
items, 3.6M user-item pairs: 6 to 7 CG iterations, quadrature change 2e-7 after 5 steps, 26 to 30
evaluations (BOBYQA with :attr:`MatrixFreeProblem.FIT_OPTIMIZER`, the convergence checks and
their Newton step), standard error of the final log-determinant 0.002 with 256 probes (0.001 in
logLik). Theta from 2, 4 or 32 probes agrees to 1e-7 (1M rows).

References
----------
Ubaru, S., Chen, J. and Saad, Y. (2017). Fast estimation of tr(f(A)) via stochastic
Lanczos quadrature. SIAM J. Matrix Anal. Appl. 38(4), 1075-1099.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .._exceptions import ModelSpecificationError
from ._optimize import NloptBobyqa
from ._pls import PLSProblem, PLSSolution, _LOG2PI
from ._slq import block_pcg, rademacher_block, slq_logdet, slq_samples, smallest_ritz_vectors

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
    exact : bool
        The evaluation was exact (:meth:`MatrixFreeProblem.exact_solve`: the dense Cholesky
        factor of the Schur complement); then ``standard_error``, ``quadrature_change``,
        ``probes``, ``steps``, ``cg_residual`` and ``cg_iterations`` are 0.
    """

    estimate: float
    standard_error: float
    quadrature_change: float
    probes: int
    steps: int
    cg_residual: float
    cg_iterations: int
    exact: bool = False

    @classmethod
    def exact_value(cls, estimate: float) -> "LogdetAccuracy":
        """The record of an exact evaluation with log-determinant ``estimate``."""
        return cls(float(estimate), 0.0, 0.0, 0, 0, 0.0, 0, exact=True)

    @property
    def loglik_standard_error(self) -> float:
        """Standard error of logLik (and of half the deviance): half that of the log-determinant."""
        return 0.5 * self.standard_error

    def describe(self) -> str:
        """One line for the fit's notes."""
        if self.exact:
            return (f"log-determinant of the later terms exact at the optimum (the optimization used the stochastic "
                    f"Lanczos estimate; the final evaluation factored the dense Schur complement): "
                    f"{self.estimate:.6f}; logLik, the estimates and the random effects are the dense solution's")
        return (f"log-determinant of the later terms by stochastic Lanczos quadrature ({self.probes} probes, "
                f"{self.steps} steps): {self.estimate:.6f}, standard error {self.standard_error:.3g}, last-step "
                f"change {self.quadrature_change:.2g}; conjugate gradients for [X, y] converged to relative "
                f"residual {self.cg_residual:.1e} in {self.cg_iterations} iterations")

    def summary_line(self) -> str:
        """The line under the criterion in the printed fit."""
        if self.exact:
            return "logLik exact (matrix-free fit; final evaluation by the dense Schur complement)"
        return (f"logLik approximate (matrix-free fit; stochastic log-determinant): standard error "
                f"{self.loglik_standard_error:.2g}")


class MatrixFreeProblem(PLSProblem):
    """:class:`~._pls.PLSProblem` for all-scalar terms without a dense Schur complement.

    Parameters
    ----------
    X, y, terms
        As :class:`~._pls.PLSProblem` (every term with one column).
    probes : int
        Rademacher probes of the stochastic log-determinant during the optimization (fixed for
        the problem, so that the criterion is a smooth function of theta); 0: ``PROBE_BLOCK``
        when ``Z_1'Z_r`` has at most ``CHEAP_NNZ`` entries, ``DEFAULT_PROBES`` otherwise.
    max_probes, target_se : int, float
        The final evaluation (:meth:`solve`) adds blocks of ``PROBE_BLOCK`` probes (the first
        holds the optimization's) until the standard error of the log-determinant is at most
        ``target_se`` or ``max_probes`` are used. ``max_probes=0``: ``PROBE_VISITS / nnz(Z_1'Z_r)``
        within ``MAX_PROBES_RANGE`` (more where products are cheap: the error per probe is larger
        on small problems).
    steps : int
        Lanczos steps per probe.
    cg_tol, fit_cg_tol : float
        Relative residual of the conjugate-gradient solves at the final evaluation and during
        the optimization (the criterion's error is of the order of the squared residual).
    seed : int
        Seed of the probes.
    deflate : int
        Ritz vectors whose part of the log-determinant is computed without probes.

    Notes
    -----
    Same internal API as :class:`~._pls.PLSProblem` (``deviance``, ``pieces``, ``solve``,
    ``objective``, ``with_response``); :meth:`condvar` is not available (it needs the
    diagonal of ``S^{-1}``). ``accuracy`` describes the log-determinant and the solves of
    the last evaluation.

    Theta is estimated with few probes: the estimator's error at fixed probes is a smooth
    function of theta whose gradient moves the optimum by far less than the criterion's
    curvature resolves, so only the final value needs the full set (its standard error is the
    one reported).
    """

    formulation = "matrix-free"
    DEFAULT_PROBES = 4  # during the optimization; PROBE_BLOCK where Z_1'Z_r has at most CHEAP_NNZ entries
    PROBE_BLOCK = 32
    CHEAP_NNZ = 500_000
    PROBE_VISITS = 1e9  # nonzeros of Z_1'Z_r times probes of the final evaluation (max_probes=0)
    MAX_PROBES_RANGE = (256, 4096)
    DEFAULT_TARGET_SE = 1e-3  # of log det, i.e. 5e-4 in logLik
    DEFAULT_STEPS = 5  # quadrature change about 1e-11 on ratings-like data (8 steps: 4e-14)
    DEFAULT_DEFLATE = 1  # the smallest eigenvalue's Ritz vector (2 to 24 vectors: the same error)
    ritz_steps = 24

    def __init__(self, X, y, terms, *, probes: int = 0, max_probes: int = 0,
                 target_se: float = DEFAULT_TARGET_SE, steps: int = DEFAULT_STEPS, cg_tol: float = 1e-10,
                 fit_cg_tol: float = 1e-8, seed: int = 20240611, deflate: int = DEFAULT_DEFLATE):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.terms = tuple(terms)
        if not self.terms or any(t.k != 1 for t in self.terms):
            raise ValueError("the matrix-free formulation needs scalar random-effects terms")
        self.n, self.p = self.X.shape
        self._local = threading.local()
        self.num_probes, self.num_steps, self.cg_tol = int(probes), int(steps), float(cg_tol)
        self.max_probes, self.target_se, self.fit_cg_tol = int(max_probes), float(target_se), float(fit_cg_tol)
        self.seed, self.num_deflate = int(seed), int(deflate)
        self._init_theta_layout()
        self._init_first_block()
        self._init_sparse()
        self._set_response(self.y)
        self.accuracy = None

    # ------------------------------------------------------------------ setup
    def _init_sparse(self):
        self._init_rest_layout()
        rest = self.terms[1:]
        self.Z1T = self.terms[0].expanded().T.tocsr()[self.order1]
        Zr = sp.hstack([t.expanded() for t in rest], format="csr")
        self.ZrT = Zr.T.tocsr()
        self._init_products((self.Z1T @ Zr).tocsr(), (self.ZrT @ Zr).tocsr())

    def _init_rest_layout(self):
        """Sizes of the later terms and the internal order of the first term's levels."""
        rest = self.terms[1:]
        self.dense = False
        self.q_rest = sum(t.q for t in rest)
        self.r = self.q_rest + self.p + 1
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest])
        self.rest_scalar = True
        # the first term's levels in decreasing order of their counts (internally): the rows of
        # A_1r read most often are then contiguous, which saves a quarter of the sparse products' time
        self.order1 = np.argsort(-self.A11[:, 0, 0], kind="stable")
        self.a11 = self.A11[self.order1, 0, 0]

    def _init_products(self, A1r: sp.csr_matrix, Arr: sp.csr_matrix):
        """The operators of ``S`` from ``A_1r = Z_1'Z_r`` (rows in the internal order) and
        ``A_rr = Z_r'Z_r``, and the probes."""
        A1r.sum_duplicates()
        self.A1r = A1r
        self.A1rT = A1r.T.tocsr()
        self._halves = tuple(_row_halves(M) for M in (A1r, self.A1rT))
        self.A1r_sq_T = A1r.multiply(A1r).T.tocsr()  # for the diagonal of S
        self.Arr_diag = Arr.diagonal()
        self.Arr_off = None if len(self.terms) == 2 else (Arr - sp.diags(self.Arr_diag)).tocsr()
        if self.num_probes <= 0:  # default: more probes where products are cheap
            self.num_probes = self.PROBE_BLOCK if A1r.nnz <= self.CHEAP_NNZ else self.DEFAULT_PROBES
        if self.max_probes <= 0:
            lo, hi = self.MAX_PROBES_RANGE
            cap = int(np.clip(self.PROBE_VISITS // max(A1r.nnz, 1), lo, hi))
            self.max_probes = cap // self.PROBE_BLOCK * self.PROBE_BLOCK
        self.max_probes = max(self.max_probes, self.num_probes)
        self.probes = self._probe_columns(0, self.num_probes)
        self._deflate_vectors, self._lock = None, threading.Lock()

    # BOBYQA for this formulation: lme4's tolerances (1e-8) spend about half of the evaluations
    # moving theta by less than 1e-5; the Newton step of the convergence check then finishes.
    FIT_OPTIMIZER = dict(xtol_abs=1e-5, ftol_abs=1e-5, initial_step=0.05)

    def tuned_optimizer(self, optimizer):
        """The optimizer for this formulation: the default BOBYQA (lme4's ``nloptwrap`` settings)
        with :attr:`FIT_OPTIMIZER`'s tolerances and initial trust region (the start is the
        moment estimate, near the optimum on large data); any other optimizer as given."""
        if optimizer == NloptBobyqa():
            return replace(optimizer, **self.FIT_OPTIMIZER)
        return optimizer

    def _probe_columns(self, lo: int, hi: int) -> np.ndarray:
        """Probes ``lo .. hi - 1`` of the problem's fixed sequence (made by blocks of ``PROBE_BLOCK``)."""
        size = self.PROBE_BLOCK
        blocks = [rademacher_block(self.q_rest, size, self.seed, b) for b in range(lo // size, (hi - 1) // size + 1)]
        first = (lo // size) * size
        return np.hstack(blocks)[:, lo - first:hi - first]

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
        off, arr = self.Arr_off, self.Arr_diag
        product = _Product(self._halves, getattr(self._local, "helper", None))

        def matvec(V):
            U = lam[:, None] * V
            T = product.first(U)
            T *= w[:, None]
            inner = arr[:, None] * U - product.second(T)
            if off is not None:
                inner += off @ U
            return V + lam[:, None] * inner

        diag = 1.0 + lam * lam * (arr - self.A1r_sq_T @ w)
        return templates, float(np.log(m1).sum()), w, lam, matvec, diag

    def _xy_schur(self, w, lam, matvec, diag, tol):
        """The Schur complement of ``[X, y]`` (``(p + 1) x (p + 1)``), the solves ``S^{-1} S_r,xy``
        and the CG report."""
        Sr = lam[:, None] * (self.Arxy - self.A1rT @ (w[:, None] * self.A1xy))
        Sxx = self.Axyxy - self.A1xy.T @ (w[:, None] * self.A1xy)
        V, res, it = block_pcg(matvec, Sr, 1.0 / diag, tol, maxiter=20 * int(np.sqrt(self.q_rest)) + 200)
        T = Sxx - Sr.T @ V
        return 0.5 * (T + T.T), V, res, it

    def _logdet_rest(self, matvec, diag, final: bool):
        """``log det S``: the optimization's probes, or (``final``) blocks of probes until the
        standard error is at most ``target_se`` or ``max_probes`` are used. Returns
        ``(estimate, standard error, last-step change, probes used)``."""
        dis = 1.0 / np.sqrt(diag)

        def scaled(V):
            return dis[:, None] * matvec(dis[:, None] * V)

        V = self._deflation(scaled, diag)
        trace, steps = float(self.q_rest), self.num_steps
        first = self._probe_columns(0, self.PROBE_BLOCK) if final else self.probes
        samples = slq_samples(scaled, first, steps, trace=trace, deflate=V)
        used = first.shape[1]
        while final and used < self.max_probes and samples.estimate()[1] > self.target_se:
            more = self._probe_columns(used, min(used + self.PROBE_BLOCK, self.max_probes))
            samples = samples.combine(slq_samples(scaled, more, steps, trace=trace, deflate=V, vav=samples.vav))
            used += more.shape[1]
        est, se, change = samples.estimate()
        return float(np.log(diag).sum()) + est, se, change, used

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
        the log-determinant is a stochastic estimate from the optimization's probes (its
        accuracy in :attr:`accuracy`)."""
        _, logdet1, w, lam, matvec, diag = self._operators(theta)
        T, _, res, it = self._xy_schur(w, lam, matvec, diag, self.fit_cg_tol)
        try:
            LT = np.linalg.cholesky(T)
        except np.linalg.LinAlgError:
            return None
        d = np.diagonal(LT)
        logdet_rest, se, change, used = self._logdet_rest(matvec, diag, final=False)
        self.accuracy = LogdetAccuracy(logdet_rest, se, change, used, self.num_steps, res, it)
        return logdet1 + logdet_rest, 2.0 * float(np.log(d[:self.p]).sum()), float(d[-1]) ** 2

    def solve(self, theta) -> PLSSolution:
        """All pieces of the PLS solution at ``theta`` (random effects from the CG solves; the
        log-determinant from the final set of probes, see the class notes)."""
        theta = np.asarray(theta, dtype=float)
        templates, logdet1, w, lam, matvec, diag = self._operators(theta)
        T, V, res, it = self._xy_schur(w, lam, matvec, diag, self.cg_tol)
        d = np.diagonal(np.linalg.cholesky(T))
        p, n = self.p, self.n
        logdet_rest, se, change, used = self._logdet_rest(matvec, diag, final=True)
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
        u1 = np.empty(self.a11.size)
        u1[self.order1] = lam1 * rhs / (lam1 * lam1 * self.a11 + 1.0)
        blist = [(lam1 * u1)[:, None]] + [b_rest[o0:o1, None]
                                          for o0, o1 in zip(self.rest_offsets[:-1], self.rest_offsets[1:])]
        fitted = self.X @ beta
        for t, bt in zip(self.terms, blist):
            fitted = fitted + t.Z[:, 0] * bt[t.codes, 0]
        nmp = n - p
        dev_ml = logdet + n * (1.0 + _LOG2PI + np.log(pwrss / n))
        dev_reml = logdet + logdet_rx + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
        RX = np.linalg.cholesky(T[:p, :p]).T
        self.accuracy = LogdetAccuracy(logdet_rest, se, change, used, self.num_steps, res, it)
        return PLSSolution(theta=theta, beta=beta, u=np.concatenate([u1, u_rest]), b=blist,
                           sigma_ml=float(np.sqrt(pwrss / n)),
                           sigma_reml=float(np.sqrt(pwrss / nmp)) if nmp > 0 else np.nan,
                           logdet_L=logdet, logdet_RX=logdet_rx, pwrss=pwrss, RX=RX, fitted=fitted,
                           deviance_ml=float(dev_ml), deviance_reml=float(dev_reml))

    # ------------------------------------------------------ exact final evaluation
    def pair_pattern(self) -> tuple[np.ndarray, int]:
        """``(d_j, nnz)``: the later-term coefficients sharing each first-term level and the nonzeros
        of ``Z_1'Z_r`` (the arguments of :func:`~._formulation.pair_costs`)."""
        return np.diff(self.A1r.indptr), int(self.A1r.nnz)

    def dense_problem(self) -> PLSProblem:
        """The dense formulation of the same problem (:class:`~._pls.PLSProblem`; set up anew, not kept)."""
        return PLSProblem(self.X, self.y, self.terms)

    def exact_solve(self, theta, dense: PLSProblem | None = None) -> PLSSolution:
        """The PLS solution at ``theta`` from the dense formulation (exact log-determinant, fixed effects,
        ``R_X``, random effects): :meth:`solve` without the stochastic error, at the cost of one dense
        set-up and evaluation (``8 r^2`` bytes; see :mod:`._formulation`). Within
        :meth:`helper_thread` the dense evaluation shares its work with the same helper.
        :attr:`accuracy` then records an exact evaluation. ``dense``: that formulation already set up
        (:meth:`dense_problem`)."""
        theta = np.asarray(theta, dtype=float)
        dense = self.dense_problem() if dense is None else dense
        with dense.helper_thread(getattr(self._local, "helper", None)):
            solution = dense.solve(theta)
        lam1 = self.templates(theta)[0][0, 0]
        logdet1 = float(np.log(lam1 * lam1 * self.a11 + 1.0).sum())
        self.accuracy = LogdetAccuracy.exact_value(solution.logdet_L - logdet1)
        return solution

    def condvar(self, theta):
        raise ModelSpecificationError(
            "conditional variances of the random effects need the diagonal of S^-1, which the matrix-free "
            "formulation does not form; refit with formulation='dense' (later terms up to 10,000 levels)")

    def _factor(self, theta):
        raise ModelSpecificationError(
            "profiling needs the Cholesky factor, which the matrix-free formulation does not form; refit with "
            "formulation='dense' (later terms up to 10,000 levels)")


def _row_halves(M: sp.csr_matrix):
    """``M`` and its two row blocks of about equal numbers of nonzeros: ``(M, split row, top, bottom)``."""
    h = int(np.searchsorted(M.indptr, M.indptr[-1] / 2))
    return M, h, M[:h], M[h:]


class _Product:
    """The two sparse products of ``S``'s matvec (``A_1r U`` and ``A_1r' T``), each split by rows
    over the calling thread and ``helper`` (an executor with one idle worker) when there is one:
    SciPy's sparse kernels release the GIL, and each half is computed exactly as on one thread."""

    def __init__(self, halves, helper):
        self.halves, self.helper = halves, helper

    def _apply(self, which, V):
        full, h, top, bottom = self.halves[which]
        if self.helper is None:
            return full @ V
        out = np.empty((full.shape[0], V.shape[1]))
        job = self.helper.submit(_into, bottom, V, out[h:])
        out[:h] = top @ V
        job.result()
        return out

    def first(self, U):
        return self._apply(0, U)

    def second(self, T):
        return self._apply(1, T)


def _into(M, V, out):
    out[...] = M @ V
