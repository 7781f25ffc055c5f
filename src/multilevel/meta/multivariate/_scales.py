"""Unconstrained scales on which ``rma_mv`` optimises the variance components.

``ElementScale``: each free component on its own scale (log variances, atanh
correlations); any component can be held fixed (profile likelihoods).

``CholeskyScale``: an unstructured ``G`` (``struct = "UN"``, more than two
inner levels) through the entries of a lower-triangular ``A`` with
``G = A A'``, which keeps ``G`` positive semi-definite (metafor also uses a
Cholesky parametrisation for UN); the ``~ 1 | f`` variances stay on the log
scale. Both expose the same small interface to the optimiser in ``_fit``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._core import Batch, Evaluation, evaluate, evaluate_marginal, gather_g
from ._rank1 import evaluate_rank1

__all__ = ["ElementScale", "CholeskyScale", "THETA_MIN", "ATANH_MAX", "element_natural", "element_theta"]

THETA_MIN = -35.0
ATANH_MAX = 12.0
LOGIT_MAX = 30.0


def _kinds(mask: np.ndarray) -> np.ndarray:
    """Scale of each parameter: 0 log variance, 1 atanh, 2 logit, 3 log of a positive range."""
    mask = np.asarray(mask)
    return mask.astype(int) if mask.dtype == bool else mask


def element_natural(theta: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Natural values; at the clamps a variance is exactly 0 and a correlation exactly -1 or 1 (0 or 1).

    ``kinds`` gives the scale of each parameter (a boolean mask means
    correlation or variance). (Exact edges matter: ``sqrt(tau2_u * tau2_v)``
    of a variance of 1e-16 is a covariance of 1e-8.)
    """
    kinds = _kinds(kinds)
    nat = np.exp(theta)
    nat = np.where(kinds == 1, np.tanh(theta), nat)
    nat = np.where(kinds == 2, special.expit(theta), nat)
    nat[(kinds == 0) & (theta <= THETA_MIN)] = 0.0
    edge = (kinds == 1) & (np.abs(theta) >= ATANH_MAX)
    nat[edge] = np.sign(theta[edge])
    edge = (kinds == 2) & (np.abs(theta) >= LOGIT_MAX)
    nat[edge] = (theta[edge] > 0).astype(float)
    return nat


def element_theta(nat: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    kinds = _kinds(kinds)
    with np.errstate(divide="ignore", invalid="ignore"):
        th = np.log(np.maximum(nat, 1e-300))
        th = np.where(kinds == 1, np.arctanh(np.clip(nat, -1 + 1e-12, 1 - 1e-12)), th)
        th = np.where(kinds == 2, special.logit(np.clip(nat, 1e-12, 1 - 1e-12)), th)
    return np.where(kinds == 0, np.clip(th, THETA_MIN, None), np.clip(th, -LOGIT_MAX, LOGIT_MAX))


def _bounds_of(kind: int) -> tuple[float | None, float | None]:
    if kind == 0:
        return THETA_MIN, None
    if kind == 1:
        return -ATANH_MAX, ATANH_MAX
    return -LOGIT_MAX, LOGIT_MAX


class ElementScale:
    """Log variances and atanh correlations of the free components (see the module notes)."""

    def __init__(self, batch: Batch, layout: object, base: np.ndarray, free: np.ndarray, reml: bool):
        self.batch, self.layout, self.reml = batch, layout, reml
        self.base = base.astype(float).copy()
        self.fidx = np.flatnonzero(free)
        self.free = free
        self.kinds = layout.kinds()[self.fidx]
        bounds = [_bounds_of(int(k)) for k in self.kinds]
        self.lo = np.array([b[0] for b in bounds], dtype=float)
        self.hi = np.array([np.inf if b[1] is None else b[1] for b in bounds], dtype=float)

    def theta0(self) -> np.ndarray:
        return element_theta(self.base, self.layout.kinds())[self.fidx]

    def natural(self, theta: np.ndarray) -> np.ndarray:
        nat = self.base.copy()
        nat[self.fidx] = element_natural(theta, self.kinds)
        return nat

    def clip(self, theta: np.ndarray) -> np.ndarray:
        return np.clip(theta, self.lo, self.hi)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [_bounds_of(int(k)) for k in self.kinds]

    def pinned(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Parameters on the edge of their range with the score pushing outwards."""
        return ((theta <= self.lo + 1e-9) & (grad < 0)) | ((theta >= self.hi - 1e-9) & (grad > 0))

    def evaluate(self, theta: np.ndarray, derivs: bool = True, observed: bool = True) -> Evaluation | None:
        nat = self.natural(theta)
        if self.batch.rank1 is not None:
            return evaluate_rank1(self.batch.rank1, nat, self.free, reml=self.reml,
                                  derivs=derivs and self.fidx.size > 0, observed=observed)
        s2, t2, rho = self.layout.split(nat)
        g2, phi = self.layout.split_h(nat)
        return evaluate(self.batch, s2, t2, rho, reml=self.reml, free=self.free, gamma2=g2, phi=phi,
                        derivs=derivs and self.fidx.size > 0, observed=observed)


class CholeskyScale:
    """``G = A A'`` for an unstructured ``G``; sigma2 on the log scale (see the module notes)."""

    def __init__(self, batch: Batch, layout: object, base: np.ndarray, free: np.ndarray, reml: bool):
        self.batch, self.layout, self.reml = batch, layout, reml
        self.base = base.astype(float).copy()
        self.L = batch.tau_map.shape[0]
        self.sidx = np.flatnonzero(free[: layout.ns])
        self.rows, self.cols = _lower_entries(self.L)
        self.na = self.rows.size

    @staticmethod
    def applies(batch: Batch, layout: object, free: np.ndarray) -> bool:
        """UN with more than two inner levels, every component of ``G`` free, no second term."""
        return bool(batch.psd_check and batch.h is None and free[layout.ns:].all())

    def _A(self, theta: np.ndarray) -> np.ndarray:
        A = np.zeros((self.L, self.L))
        A[self.rows, self.cols] = theta[self.sidx.size:]
        return A

    def theta0(self) -> np.ndarray:
        s2, t2, rho = self.layout.split(self.base)
        G = _covariance(self.batch, t2, rho)
        try:
            A = np.linalg.cholesky(G)
        except np.linalg.LinAlgError:
            A = np.diag(np.sqrt(np.maximum(np.diag(G), 1e-8)))
        logs = np.log(np.maximum(s2[self.sidx], 1e-300)).clip(THETA_MIN)
        return np.concatenate([logs, A[self.rows, self.cols]])

    def natural(self, theta: np.ndarray) -> np.ndarray:
        nat = self.base.copy()
        ns = self.layout.ns
        lo = theta[: self.sidx.size]
        nat[self.sidx] = np.where(lo <= THETA_MIN, 0.0, np.exp(lo))
        A = self._A(theta)
        G = A @ A.T
        tau2 = np.diag(G).copy()
        sd = np.sqrt(tau2)
        with np.errstate(divide="ignore", invalid="ignore"):
            R = np.where(np.outer(sd, sd) > 0, G / np.outer(sd, sd), 0.0)
        rho_map = self.batch.rho_map
        rho = np.zeros(self.layout.nr)
        for r in range(self.layout.nr):
            i, j = np.argwhere(rho_map == r)[0]
            rho[r] = np.clip(R[i, j], -1.0, 1.0)
        nat[ns: ns + self.layout.nt] = tau2
        nat[ns + self.layout.nt:] = rho
        return nat

    def clip(self, theta: np.ndarray) -> np.ndarray:
        out = theta.copy()
        out[: self.sidx.size] = np.maximum(out[: self.sidx.size], THETA_MIN)
        return out

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(THETA_MIN, None)] * self.sidx.size + [(None, None)] * self.na

    def pinned(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        out = np.zeros(theta.size, dtype=bool)
        out[: self.sidx.size] = (theta[: self.sidx.size] <= THETA_MIN + 1e-9) & (grad[: self.sidx.size] < 0)
        return out

    def evaluate(self, theta: np.ndarray, derivs: bool = True, observed: bool = True) -> Evaluation | None:
        nat = self.natural(theta)
        s2, _, _ = self.layout.split(nat)
        A = self._A(theta)
        bt = self.batch
        M = bt.V + np.einsum("j,jbmn->bmn", s2, bt.S) + gather_g(bt, A @ A.T)
        if not derivs:
            return evaluate_marginal(bt, M, reml=self.reml)
        D = [s2[j] * bt.S[j] for j in self.sidx]
        D2: dict = {(a, a): (1.0, a) for a in range(self.sidx.size)}
        off = self.sidx.size
        for q, (k, lcol) in enumerate(zip(self.rows, self.cols)):
            E = np.zeros((self.L, self.L))
            E[k, :] += A[:, lcol]
            E[:, k] += A[:, lcol]
            D.append(gather_g(self.batch, E))
            for q2 in range(q, self.na):
                if self.cols[q2] == lcol:
                    F = np.zeros((self.L, self.L))
                    F[k, self.rows[q2]] += 1.0
                    F[self.rows[q2], k] += 1.0
                    D2[(off + q, off + q2)] = gather_g(self.batch, F)
        return evaluate_marginal(self.batch, M, D, D2, reml=self.reml, observed=observed)


def _lower_entries(L: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(L)
    return rows, cols


def _covariance(batch: Batch, tau2: np.ndarray, rho: np.ndarray) -> np.ndarray:
    sq = np.sqrt(tau2[batch.tau_map])
    R = np.eye(sq.size)
    off = batch.rho_map >= 0
    R[off] = rho[batch.rho_map[off]]
    return sq[:, None] * R * sq[None, :]
