"""Penalized iteratively reweighted least squares and the Laplace / adaptive Gauss-Hermite
deviance of a GLMM (arrays only).

The model is lme4's: ``eta = offset + X beta + Z Lambda_theta u``, ``u ~ N(0, I)``,
``mu = g^{-1}(eta)``. For given ``theta`` (and ``beta``, or with ``beta`` found
jointly) PIRLS finds the conditional modes ``u`` by Fisher scoring on the
penalized deviance ``sum d_i(y_i, mu_i) + ||u||^2`` with the factor

.. math::

    L L' = \\Lambda' Z' W Z \\Lambda + I,\\qquad W = \\mathrm{diag}(w_i\\, \\mu'(\\eta_i)^2 / V(\\mu_i)).

The iteration follows lme4's ``pwrssUpdate`` step for step (start from the same
linear predictor, stop when the penalized deviance changes by less than
``tol`` relative, halve steps that increase it) and the Laplace deviance is
lme4's ``ldL2 + ||u||^2 + aic`` with ``ldL2`` from the last factorization:
lme4's numbers depend on where its iteration stops, so the same stopping rule
gives the same numbers.

Nothing here imports pandas, formulas or result classes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from .._exceptions import MultilevelError
from ..lmm._pls import TermStructure, theta_template_indices
from ._blocked import BlockedOps, blocked_fits
from ._family import Family, Kernel, make_kernel
from ._zops import lambda_pattern, make_ops

__all__ = ["GlmmProblem", "PirlsState", "PirlsError", "gh_rule"]

_SQRT2PI = float(np.sqrt(2.0 * np.pi))
_DENSE_MAX = 4000


class PirlsError(MultilevelError, RuntimeError):
    """PIRLS failed (lme4's ``pwrssUpdate`` errors, with lme4's messages)."""


def gh_rule(k: int) -> np.ndarray:
    """Gauss-Hermite rule for the standard normal density: columns z, w (sum 1), log dnorm(z) (lme4's ``GHrule``)."""
    z, w = np.polynomial.hermite_e.hermegauss(k)
    w = w / _SQRT2PI
    return np.column_stack([z, w, -0.5 * z * z - 0.5 * np.log(2.0 * np.pi)])


@dataclass(frozen=True, eq=False)
class PirlsState:
    """Where one PIRLS run stopped.

    ``u`` spherical modes, ``beta`` (the fixed effects used), ``eta``, ``mu``,
    ``ldL2`` (log det of L L' from the last factorization), ``value`` (the deviance
    returned to the optimizer), ``factor`` (the last factor, to get conditional
    variances), ``RX`` (upper triangular, ``RX' RX`` the Schur complement of X in the
    last system), ``iterations``; ``dev_resid`` (per observation) is computed when
    first asked for.
    """

    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    ldL2: float
    value: float
    factor: object = field(repr=False)
    RX: np.ndarray = field(repr=False)
    iterations: int = 0
    kernel: Kernel | None = field(default=None, repr=False)

    @functools.cached_property
    def dev_resid(self) -> np.ndarray:
        """Deviance residuals (R's ``dev.resids``) at ``mu``."""
        return self.kernel.dev_resid(self.mu)


@dataclass(eq=False)
class _Factor:
    """Cholesky factor of ``A' W A + I`` (diagonal, dense, or sparse LU for large q)."""

    kind: str
    data: object
    ldL2: float
    RX: np.ndarray | None = None

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        if self.kind == "diag":
            return rhs / (self.data if rhs.ndim == 1 else self.data[:, None])
        if self.kind == "dense":
            x, info = lapack.dpotrs(self.data, rhs, lower=1)
            return x
        return self.data.solve(rhs)

    def diag_inverse_sqrt(self) -> np.ndarray:
        """1 / diag(L) of a diagonal factor (lme4's AGQ standard deviations)."""
        return 1.0 / np.sqrt(self.data)

    def inverse(self) -> np.ndarray:
        q = self.data.shape[0]
        if self.kind == "diag":
            return np.diag(1.0 / self.data)
        return self.solve(np.eye(q))


def _factor(M) -> _Factor:
    if isinstance(M, np.ndarray) and M.ndim == 1:
        return _Factor("diag", M, float(np.sum(np.log(M))))
    if M.shape[0] <= _DENSE_MAX:
        dense = M.toarray() if sp.issparse(M) else M
        L, info = lapack.dpotrf(dense, lower=1, clean=0)
        if info != 0:
            raise PirlsError(f"the penalized system is not positive definite (LAPACK dpotrf info {info})")
        return _Factor("dense", L, 2.0 * float(np.sum(np.log(np.diag(L)))))
    from scipy.sparse.linalg import splu

    lu = splu(sp.csc_matrix(M), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    return _Factor("lu", lu, float(np.sum(np.log(np.abs(lu.U.diagonal())))))


@dataclass(frozen=True, eq=False)
class GlmmProblem:
    """A GLMM as arrays: ``X`` (n, p), response ``y``, ``weights`` (prior times trials),
    ``n_trials``, ``offset``, random-effects ``terms`` and the ``family``."""

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    n_trials: np.ndarray
    offset: np.ndarray
    terms: tuple[TermStructure, ...]
    family: Family

    def __post_init__(self):
        blocked = BlockedOps(self.terms, self.X) if blocked_fits(self.terms, self.p) else None
        object.__setattr__(self, "_blocked", blocked)
        kernel = make_kernel(self.family, self.y, self.weights, self.n_trials)
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_aic", kernel._aic)

    @functools.cached_property
    def ops(self):
        """Products with ``Z Lambda`` for problems the blocked system does not suit (:mod:`._zops`)."""
        return make_ops(self.terms, self.n)

    # ------------------------------------------------------------------ structure
    @property
    def n(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def q(self) -> int:
        return sum(t.q for t in self.terms)

    @property
    def num_theta(self) -> int:
        return sum(t.num_theta for t in self.terms)

    @property
    def is_scalar_single(self) -> bool:
        """One random-effects term with one column (diagonal factor; AGQ possible)."""
        return len(self.terms) == 1 and self.terms[0].k == 1

    def theta_lower(self) -> np.ndarray:
        out = []
        for t in self.terms:
            rows, cols = theta_template_indices(t.k)
            out.extend(np.where(rows == cols, 0.0, -np.inf))
        return np.asarray(out, dtype=float)

    def theta_start(self) -> np.ndarray:
        return np.where(self.theta_lower() == 0.0, 1.0, 0.0)

    def templates(self, theta) -> list[np.ndarray]:
        """Lower-triangular ``k x k`` template of each term, filled column-wise from theta."""
        theta = np.asarray(theta, dtype=float)
        out = []
        for k, pos, rows, cols in self._template_layout:
            T = np.zeros((k, k))
            T[rows, cols] = theta[pos:pos + rows.size]
            out.append(T)
        return out

    @functools.cached_property
    def _template_layout(self):
        out, pos = [], 0
        for t in self.terms:
            rows, cols = theta_template_indices(t.k)
            out.append((t.k, pos, rows, cols))
            pos += t.num_theta
        return tuple(out)

    def lambda_matrix(self, theta) -> sp.csc_matrix:
        r, c, i = lambda_pattern(self.terms)
        return sp.csc_matrix((np.asarray(theta, dtype=float)[i], (r, c)), shape=(self.q, self.q))

    def b(self, theta, u) -> list[np.ndarray]:
        """Conditional modes ``Lambda u`` per term, each ``(levels, k)``."""
        bvec = self.lambda_matrix(theta) @ u
        out, pos = [], 0
        for t in self.terms:
            out.append(bvec[pos:pos + t.q].reshape(t.num_levels, t.k))
            pos += t.q
        return out

    # ------------------------------------------------------------------ family pieces
    def mu_of(self, eta):
        return self.family.link.linkinv(eta)

    def dev_resid(self, mu):
        return self.family.dev_resid(self.y, mu, self.weights)

    def aic(self, mu, dev: float) -> float:
        return self._aic(mu, dev)

    def initial_eta(self, mustart) -> np.ndarray:
        """lme4's initial linear predictor: the offset plus the link of mustart."""
        return self.offset + self.family.link.linkfun(mustart)

    # ------------------------------------------------------------------ PIRLS
    def pirls(self, theta, eta0, beta=None, *, tol: float = 1e-7, maxit: int = 100) -> PirlsState:
        """lme4's ``pwrssUpdate`` from the linear predictor ``eta0``.

        With ``beta`` given, only ``u`` is updated (``offset + X beta`` fixed, lme4's
        second stage); with ``beta=None`` ``u`` and ``beta`` are updated jointly
        (lme4's ``nAGQ = 0`` stage).
        """
        u_only = beta is not None
        theta = np.asarray(theta, dtype=float)
        engine = _BlockedEngine(self, theta) if self._blocked is not None else _GeneralEngine(self, theta)
        base = self.offset + self.X @ beta if u_only else self.offset
        eta = np.array(eta0, dtype=float)
        mu = self._kernel.mu(eta)
        u, b = np.zeros(self.q), (np.asarray(beta, dtype=float) if u_only else np.zeros(self.p))
        oldpdev = np.finfo(float).max
        for it in range(maxit):
            oldu, oldb = u, b
            fac, u, b = engine.step(eta, mu, base, u_only, b)
            eta, mu, dev, pdev = engine.update(base, u, b, u_only)
            if abs((oldpdev - pdev) / pdev) < tol:
                break
            if np.isnan(pdev) or pdev > oldpdev:
                u, b, eta, mu, dev, pdev = self._halve(engine, base, oldu, oldb, u, b, u_only, oldpdev)
                if np.isnan(pdev):
                    raise PirlsError("PIRLS loop resulted in NaN value")
                if pdev - oldpdev > tol:
                    raise PirlsError("(maxstephalfit) PIRLS step-halvings failed to reduce deviance in pwrssUpdate")
            oldpdev = pdev
        else:
            raise PirlsError("pwrssUpdate did not converge in (maxit) iterations")
        value = fac.ldL2 + float(u @ u) + self._kernel.aic(mu, *dev)
        return PirlsState(u, b, eta, mu, fac.ldL2, value, fac, fac.RX, it + 1, self._kernel)

    @staticmethod
    def _halve(engine, base, oldu, oldb, u, b, u_only, oldpdev):
        pdev = dev = np.nan
        for _ in range(20):
            u = (oldu + u) / 2.0
            if not u_only:
                b = (oldb + b) / 2.0
            eta, mu, dev, pdev = engine.update(base, u, b, u_only)
            if not (np.isnan(pdev) or pdev > oldpdev):
                break
        return u, b, eta, mu, dev, pdev

    # ------------------------------------------------------------------ adaptive Gauss-Hermite
    def agq_value(self, theta, state: PirlsState, rule: np.ndarray) -> float:
        """lme4's ``glmerAGQ`` deviance at the PIRLS modes of a single scalar term (all nodes at once)."""
        codes = self.terms[0].codes
        a = self.terms[0].Z[:, 0] * float(theta[0])
        offset = self.offset + self.X @ state.beta
        u0 = state.u
        devc0 = u0 * u0 + np.bincount(codes, weights=state.dev_resid, minlength=self.q)
        sd = state.factor.diag_inverse_sqrt()
        z, w, ldn = rule[:, 0], rule[:, 1], rule[:, 2]
        U = u0[:, None] + sd[:, None] * z[None, :]  # q x nodes
        mu = self.mu_of(offset[:, None] + a[:, None] * U[codes])
        dev = self.family.dev_resid(self.y[:, None], mu, self.weights[:, None])
        devc = U * U + self._level_sums(dev)
        mult = np.exp(-0.5 * (devc - devc0[:, None]) - ldn[None, :]) @ (w / _SQRT2PI)
        return float(np.sum(devc0) + state.ldL2 - 2.0 * np.sum(np.log(mult)))

    def _level_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums of the rows of ``values`` (n x m) within each level of the single term (q x m)."""
        G = self.__dict__.get("_indicator")
        if G is None:
            codes = self.terms[0].codes
            G = sp.csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))), shape=(self.q, codes.size))
            object.__setattr__(self, "_indicator", G)
        return G @ values


class _BlockedEngine:
    """One PIRLS step and update on the blocked system (:mod:`._blocked`)."""

    def __init__(self, problem: GlmmProblem, theta):
        self.problem, self.ops, self.kernel = problem, problem._blocked, problem._kernel
        self.templates = problem.templates(theta)
        self._last = (None, None)  # the last eta made by update and eta - base

    def step(self, eta, mu, base, u_only, beta):
        lin = self._last[1] if self._last[0] is eta else eta - base
        w, v = self.kernel.working(eta, mu, lin)
        try:
            fac = self.ops.factor(self.templates, w)
        except np.linalg.LinAlgError as err:
            raise PirlsError(str(err)) from None
        c = self.ops.rhs(self.templates, v)
        if u_only:
            return fac, fac.solve_u(c), beta
        u, b = fac.solve_joint(c)
        return fac, u, b

    def update(self, base, u, b, u_only):
        lin = self.ops.lin(self.templates, u)
        if not u_only:
            lin += self.problem.X @ b
        eta = base + lin
        mu = self.kernel.mu(eta)
        dev = self.kernel.deviance(mu, eta)
        self._last = (eta, lin)
        return eta, mu, dev, dev[0] + float(u @ u)


class _GeneralEngine:
    """One PIRLS step and update with the products of :mod:`._zops` (any size of problem)."""

    def __init__(self, problem: GlmmProblem, theta):
        self.problem, self.A = problem, problem.ops.at(theta)

    def step(self, eta, mu, base, u_only, beta):
        pr = self.problem
        mueta = pr.family.link.mu_eta(eta)
        sqrtw = mueta * np.sqrt(pr.weights / pr.family.variance(mu))
        wtres = sqrtw * ((eta - base) + (pr.y - mu) / mueta)
        M, Ut = self.A.system(sqrtw)
        fac = _factor(M)
        V = pr.X * sqrtw[:, None]
        UV = Ut(V) if pr.p else np.zeros((pr.q, 0))
        cu_rhs = Ut(wtres)
        MinvUV = fac.solve(UV) if pr.p else UV
        S = V.T @ V - UV.T @ MinvUV
        fac.RX = np.linalg.cholesky(S).T if pr.p else np.zeros((0, 0))
        if u_only:
            return fac, fac.solve(cu_rhs), beta
        delb = np.linalg.solve(S, V.T @ wtres - MinvUV.T @ cu_rhs)
        return fac, fac.solve(cu_rhs - UV @ delb), delb

    def update(self, base, u, b, u_only):
        pr = self.problem
        eta = base + self.A.lin(u) + (0.0 if u_only else pr.X @ b)
        mu = pr.mu_of(eta)
        dev = float(np.sum(pr.dev_resid(mu)))
        return eta, mu, (dev, None), dev + float(u @ u)
