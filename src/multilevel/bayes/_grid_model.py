"""The collapsed brma likelihood in NumPy, vectorized over many parameter values at once.

The same algebra as :mod:`._model` (which is written for JAX and one parameter value at a
time): the estimate and cluster levels and the coefficients with normal priors integrated out,
per cluster by the matrix determinant lemma and Sherman-Morrison, and the collapsed
coefficients through the Gram matrix [X r]' V^-1 [X r]. Every function takes arrays whose
first axis runs over G parameter values ("points"); ``seg`` sums the columns of a (G, k)
array within clusters (:class:`Segments`; None without clusters). Used by the quadrature
engine (:mod:`._grid`), which must not import JAX. No BLAS calls on (G, k) arrays: on a busy
machine multithreaded BLAS spends more CPU time waiting than computing for arrays this small.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Segments", "variance_parts", "collapsed_loglik", "collapsed_conditional",
           "cluster_effects_conditional", "pointwise_loglik"]

_LOG_2PI = math.log(2.0 * math.pi)


class Segments:
    """Sums of the columns of (G, k) arrays within each of ``num_clusters`` clusters."""

    def __init__(self, codes: np.ndarray, num_clusters: int):
        self.order = np.argsort(codes, kind="stable")
        ordered = codes[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.present = ordered[self.starts]
        self.num_clusters = num_clusters
        self.in_order = bool(np.all(np.diff(codes) >= 0))  # no reordering copy needed

    def __call__(self, x: np.ndarray) -> np.ndarray:
        sums = np.add.reduceat(x if self.in_order else x[:, self.order], self.starts, axis=1)
        if len(self.present) == self.num_clusters:
            return sums
        out = np.zeros((x.shape[0], self.num_clusters))
        out[:, self.present] = sums
        return out


def variance_parts(tau, rho, delta, Z):
    """Per-estimate (tau_w^2, tau_b), each (G, k), from tau (G,), rho (G,), delta (G, s)."""
    tau = np.asarray(tau, dtype=float)[:, None]
    if Z.shape[1]:
        tau = tau * np.exp(delta @ Z.T)
    else:
        tau = np.broadcast_to(tau, (tau.shape[0], Z.shape[0]))
    rho = np.asarray(rho, dtype=float)[:, None]
    return tau**2 * (1.0 - rho), tau * np.sqrt(rho)


def _gram(cols, v, tau_w2, tau_b, seg):
    """(G, m, m) Gram matrices M' V^-1 M and (G,) log|V| for the columns of M, each (k,) (the
    same at every point: a product with the weights is then one matrix-vector product) or
    (G, k)."""
    a = v[None, :] + tau_w2
    w = 1.0 / a
    m, n = len(cols), a.shape[0]
    G = np.empty((n, m, m))
    for i in range(m):
        for j in range(i, m):
            prod = cols[i] * cols[j]
            G[:, i, j] = G[:, j, i] = (np.einsum("gk,k->g", w, prod) if prod.ndim == 1
                                       else np.einsum("gk,gk->g", w, prod))
    logdet = np.sum(np.log(a), axis=1)
    if seg is not None:
        wt = tau_b * w
        inv = 1.0 / (1.0 + seg(tau_b * wt))
        S = [seg(wt * c) for c in cols]
        for i in range(m):
            for j in range(i, m):
                G[:, i, j] -= np.sum(S[i] * S[j] * inv, axis=1)
                G[:, j, i] = G[:, i, j]
        logdet = logdet - np.sum(np.log(inv), axis=1)
    return G, logdet


def _columns(Xc, r):
    return [Xc[:, j] for j in range(Xc.shape[1])] + [r]


def collapsed_loglik(r, Xc, prior_sd, v, tau_w2, tau_b, seg):
    """log p(r | variance parameters), (G,), the collapsed coefficients b_c ~ N(m0, diag(sd^2))
    integrated out; ``r`` ((G, k), or (k,) when the same at every point) is y minus X_c m0
    minus the sampled part of the mean."""
    m = Xc.shape[1]
    G, logdet = _gram(_columns(Xc, r), v, tau_w2, tau_b, seg)
    out = -0.5 * (v.shape[0] * _LOG_2PI + logdet + G[:, m, m])
    if m == 0:
        return out
    A = G[:, :m, :m] + np.diag(1.0 / np.asarray(prior_sd) ** 2)
    L = np.linalg.cholesky(A)
    h = np.linalg.solve(L, G[:, :m, m:])[..., 0]
    log_diag = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    return out + 0.5 * np.sum(h**2, axis=1) - log_diag - np.sum(np.log(prior_sd))


def collapsed_conditional(r, Xc, prior_sd, v, tau_w2, tau_b, seg):
    """Mean (G, m) and Cholesky factor (G, m, m) of the covariance of (b_c - m0) given the rest."""
    m = Xc.shape[1]
    G, _ = _gram(_columns(Xc, r), v, tau_w2, tau_b, seg)
    A = G[:, :m, :m] + np.diag(1.0 / np.asarray(prior_sd) ** 2)
    cov = np.linalg.inv(A)
    return np.einsum("gij,gj->gi", cov, G[:, :m, m]), np.linalg.cholesky(cov)


def cluster_effects_conditional(r, v, tau_w2, tau_b, seg):
    """Mean and SD (each (G, J)) of every z_c given the data and all parameters (r = y - X b)."""
    a = v[None, :] + tau_w2
    s_tt = seg(tau_b**2 / a)
    s_tr = seg(tau_b * r / a)
    return s_tr / (1.0 + s_tt), 1.0 / np.sqrt(1.0 + s_tt)


def pointwise_loglik(r, v, tau_w2, tau_b, seg):
    """Log density per cluster (per estimate without clusters) given all parameters."""
    a = v[None, :] + tau_w2
    per_obs = -0.5 * (_LOG_2PI + np.log(a) + r**2 / a)
    if seg is None:
        return per_obs
    s_tt = seg(tau_b**2 / a)
    s_tr = seg(tau_b * r / a)
    return seg(per_obs) - 0.5 * (np.log1p(s_tt) - s_tr**2 / (1.0 + s_tt))
