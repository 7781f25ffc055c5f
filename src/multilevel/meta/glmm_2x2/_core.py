"""Array core of :func:`rma_glmm`: the long (two rows per study) layout, R's ``glm.fit`` for
logistic regression with counts, and the heterogeneity statistics. Arrays in, arrays out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

_EPS = np.finfo(float).eps
_THRESH = 30.0


@dataclass(frozen=True)
class GlmFit:
    """A logistic regression of counts fitted as R's ``glm.fit`` (internal)."""

    beta: np.ndarray
    cov: np.ndarray
    eta: np.ndarray
    loglik: float
    iterations: int


def _linkinv(eta: np.ndarray) -> np.ndarray:
    mu = 1.0 / (1.0 + np.exp(-np.clip(eta, -_THRESH, _THRESH)))
    return np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1 - _EPS, mu))


def _mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(np.clip(eta, -_THRESH, _THRESH)))
    return np.where(np.abs(eta) > _THRESH, _EPS, e / (1 + e) ** 2)


def binomial_loglik(x: np.ndarray, n: np.ndarray, mu: np.ndarray) -> float:
    """Sum of binomial log densities (R's ``dbinom(..., log = TRUE)``)."""
    comb = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(x > 0, x * np.log(mu), 0.0) + np.where(n - x > 0, (n - x) * np.log1p(-mu), 0.0)
    return float(np.sum(comb + terms))


def _deviance(y: np.ndarray, n: np.ndarray, mu: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(y > 0, y * np.log(y / mu), 0.0)
        b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
    return float(np.sum(2 * n * (a + b)))


def logistic_glm(x: np.ndarray, m: np.ndarray, X: np.ndarray, *, maxit: int = 25, epsilon: float = 1e-8) -> GlmFit:
    """Iteratively reweighted least squares from R's start ``(n y + 1/2)/(n + 1)`` and with its
    stopping rule (relative change of the deviance below ``epsilon``); ``X`` of full column rank."""
    n = x + m
    y = np.where(n > 0, x / np.where(n > 0, n, 1), 0.0)
    mu = (n * y + 0.5) / (n + 1)
    eta = np.log(mu / (1 - mu))
    dev_old = _deviance(y, n, mu)
    for it in range(1, maxit + 1):
        d = _mu_eta(eta)
        z = eta + (y - mu) / d
        w = np.sqrt(n * d ** 2 / (mu * (1 - mu)))
        q, r = np.linalg.qr(X * w[:, None])
        beta = np.linalg.solve(r, q.T @ (z * w))
        eta = X @ beta
        mu = _linkinv(eta)
        dev = _deviance(y, n, mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            break
        dev_old = dev
    rinv = np.linalg.inv(r)
    return GlmFit(beta=beta, cov=rinv @ rinv.T, eta=eta, loglik=binomial_loglik(x, n, mu), iterations=it)


def long_layout(ai, bi, ci, di) -> dict[str, np.ndarray]:
    """Two rows per study (group 1, then group 2): events, non-events, study, group codes."""
    k = ai.size
    return {"xi": np.ravel(np.c_[ai, ci]), "mi": np.ravel(np.c_[bi, di]),
            "study": np.repeat(np.arange(k), 2), "group1": np.tile([1.0, 0.0], k),
            "group12": np.tile([0.5, -0.5], k)}


def study_dummies(study: np.ndarray, k: int) -> np.ndarray:
    return (study[:, None] == np.arange(k)[None, :]).astype(float)


def wald_quadratic(b: np.ndarray, v: np.ndarray) -> float:
    """``b' V^{-1} b`` by the Cholesky factor of ``V`` (NaN when ``V`` is not positive definite)."""
    if b.size == 0:
        return 0.0
    try:
        c = np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        return float("nan")
    s = np.linalg.solve(c, b)
    return float(s @ s)


def typical_variance(vi: np.ndarray) -> float:
    """metafor's typical within-study variance ``(k - 1) / tr(P)`` for an intercept-only model."""
    w = 1.0 / vi
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((vi.size - 1) / (w.sum() - (w ** 2).sum() / w.sum()))
