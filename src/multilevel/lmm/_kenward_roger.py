"""Kenward-Roger adjusted covariance of the fixed effects and denominator degrees of freedom.

As pbkrtest (used by lmerTest's ``ddf = "Kenward-Roger"``): the marginal
covariance is linear in the variance parameters ``gamma`` (each variance and
covariance of the random effects, and ``sigma^2``),

.. math::

    \\Sigma = \\sum_r \\gamma_r G_r, \\qquad \\Phi = (X^\\top \\Sigma^{-1} X)^{-1},

and the small-sample adjusted covariance is ``Phi_A = Phi + 2 Phi U Phi`` with
``W = 2 I_E^{-1}`` the inverse expected information of ``gamma`` (Kenward and
Roger 1997). For a one-dimensional contrast ``l`` the degrees of freedom come
from the moments ``A1``, ``A2`` of the approximate F statistic.

Dense ``n x n`` algebra: meant for the moderate ``n`` where small-sample
corrections matter (refused above 5000 observations).
"""

from __future__ import annotations

import numpy as np

from .._exceptions import ModelSpecificationError

__all__ = ["kenward_roger", "kr_parts", "kr_df"]

_MAX_N = 5000


def _derivative_matrices(problem, theta) -> list[np.ndarray]:
    """``G_r = d Sigma / d gamma_r`` for every variance/covariance of every term, then the residual."""
    out = []
    for term in problem.terms:
        same = term.codes[:, None] == term.codes[None, :]
        for b in range(term.k):
            for a in range(b, term.k):
                za, zb = term.Z[:, a], term.Z[:, b]
                G = np.outer(za, zb)
                if a != b:
                    G = G + G.T
                out.append(np.where(same, G, 0.0))
    out.append(np.eye(problem.n))
    return out


def _sigma(problem, theta, sigma2) -> np.ndarray:
    S = sigma2 * np.eye(problem.n)
    for term, T in zip(problem.terms, problem.templates(theta)):
        cov = sigma2 * (T @ T.T)
        same = term.codes[:, None] == term.codes[None, :]
        S += np.where(same, term.Z @ cov @ term.Z.T, 0.0)
    return S


def kr_parts(problem, theta: np.ndarray, sigma: float):
    """``(Phi, Phi_A, P, W)`` of pbkrtest's ``vcovAdj``."""
    if problem.n > _MAX_N:
        raise ModelSpecificationError(
            f"Kenward-Roger needs dense n x n matrices; {problem.n} observations is too many (limit {_MAX_N}); "
            "use ddf='Satterthwaite'")
    X = problem.X
    Sinv = np.linalg.inv(_sigma(problem, theta, sigma**2))
    Sinv = (Sinv + Sinv.T) / 2
    Phi = np.linalg.inv(X.T @ Sinv @ X)
    G = _derivative_matrices(problem, theta)
    TT = Sinv @ X
    H = [g @ Sinv for g in G]
    O = [h @ X for h in H]
    m = len(G)
    P = [-(o.T @ TT) for o in O]
    P = [(p + p.T) / 2 for p in P]
    Q = {(r, s): O[r].T @ Sinv @ O[s] for r in range(m) for s in range(r, m)}
    K = np.array([[np.sum(H[r].T * H[s]) for s in range(m)] for r in range(m)])
    IE2 = np.empty((m, m))
    for i in range(m):
        for j in range(i, m):
            IE2[i, j] = IE2[j, i] = (K[i, j] - 2 * np.sum(Phi * Q[(i, j)])
                                     + np.sum((Phi @ P[i]) * (P[j] @ Phi)))
    eig = np.linalg.eigvalsh(IE2)
    W = 2 * (np.linalg.inv(IE2) if np.min(np.abs(eig)) > 1e-10 else np.linalg.pinv(IE2))
    U = np.zeros_like(Phi)
    for i in range(m):
        for j in range(i + 1, m):
            U += W[i, j] * (Q[(i, j)] - P[i] @ Phi @ P[j])
    U = U + U.T
    for i in range(m):
        U += W[i, i] * (Q[(i, i)] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2 * Phi @ U @ Phi
    return Phi, PhiA, P, W


def kr_df(L: np.ndarray, Phi: np.ndarray, P, W) -> float:
    """Denominator df of the contrast(s) ``L`` (pbkrtest's ``Lb_ddf``)."""
    L = np.atleast_2d(L)
    q = L.shape[0]
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TV = Theta @ Phi
    A1 = A2 = 0.0
    m = len(P)
    for i in range(m):
        ui = TV @ P[i] @ Phi
        for j in range(i, m):
            e = 1.0 if i == j else 2.0
            uj = TV @ P[j] @ Phi
            A1 += e * W[i, j] * np.trace(ui) * np.trace(uj)
            A2 += e * W[i, j] * np.sum(ui * uj.T)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    v0 = 1 + c1 * B
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    v1, v2 = 1 - c2 * B, 1 - c3 * B
    ratio = 0.0 if v1 == 0 else (1 - A2 / q) / v1
    rho = ratio**2 * v0 / v2 / q
    return float(4 + (q + 2) / (q * rho - 1))


def kenward_roger(fit) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted covariance of the fixed effects and the df of each coefficient."""
    if not fit.REML:
        raise ModelSpecificationError("Kenward-Roger degrees of freedom need a REML fit")
    Phi, PhiA, P, W = kr_parts(fit._problem, fit.theta, fit.sigma)
    p = Phi.shape[0]
    df = np.array([kr_df(np.eye(p)[[i]], Phi, P, W) for i in range(p)])
    return PhiA, df
