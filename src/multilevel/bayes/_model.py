"""The brma likelihood and NumPyro model (imports JAX: load lazily, never from ``__init__``).

Model, for estimate i in cluster c(i):

    y_i = x_i' b + tau_b,i z_c + e_i,     z_c ~ N(0, 1),   e_i ~ N(0, v_i + tau_w,i^2),
    tau_i = tau exp(s_i' delta),  tau_w,i = tau_i sqrt(1 - rho),  tau_b,i = tau_i sqrt(rho),

where b = (mu, beta). Three levels are integrated out analytically:

* the estimate level (true effects) and the cluster level z: per cluster the estimates are
  jointly normal with covariance V_c = D + t t', D = diag(v_i + tau_w,i^2), t = (tau_b,i);
  the matrix determinant lemma and Sherman-Morrison give its log density in O(n_c);
* the fixed effects with normal priors ("collapsed" coefficients): given the variance
  parameters, y is normal with mean X m0 and covariance V + X S0 X', evaluated through the
  Gram matrix [X r]' V^-1 [X r] (again O(k)).

NUTS then sees only tau, rho, the scale coefficients delta and any fixed effect whose prior is
not normal. Collapsed coefficients are drawn afterwards from their Gaussian conditional
(:func:`collapsed_conditional`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro

__all__ = ["gram", "collapsed_loglik", "make_model"]

numpyro.enable_x64()

_LOG_2PI = math.log(2.0 * math.pi)


def gram(M, v, tau_w2, tau_b, cluster, num_clusters):
    """``M' V^-1 M`` and ``log|V|`` for the marginal covariance V (``M`` is k x m).

    Written with elementwise products and sums: for the handful of columns of a
    meta-regression this compiles to far cheaper code than small matrix products.
    """
    a = v + tau_w2
    w = 1.0 / a
    if M.shape[1] > 9:
        return _gram_matrix(M, a, tau_b, cluster, num_clusters)
    cols = [M[:, j] for j in range(M.shape[1])]
    wc = [w * c for c in cols]
    G = [[jnp.sum(wc[i] * cols[j]) for j in range(len(cols))] for i in range(len(cols))]
    logdet = jnp.sum(jnp.log(a))
    if num_clusters:
        seg = lambda x: jax.ops.segment_sum(x, cluster, num_segments=num_clusters)  # noqa: E731
        s_tt = seg(tau_b * tau_b * w)
        inv = 1.0 / (1.0 + s_tt)
        S = [seg(tau_b * x) for x in wc]
        G = [[G[i][j] - jnp.sum(S[i] * S[j] * inv) for j in range(len(cols))] for i in range(len(cols))]
        logdet = logdet + jnp.sum(jnp.log1p(s_tt))
    return jnp.stack([jnp.stack(row) for row in G]), logdet


def _gram_matrix(M, a, tau_b, cluster, num_clusters):
    G = (M / a[:, None]).T @ M
    logdet = jnp.sum(jnp.log(a))
    if num_clusters == 0:
        return G, logdet
    seg = lambda x: jax.ops.segment_sum(x, cluster, num_segments=num_clusters)  # noqa: E731
    w = tau_b / a
    s_tt = seg(w * tau_b)
    S = seg(w[:, None] * M)
    G = G - (S / (1.0 + s_tt)[:, None]).T @ S
    return G, logdet + jnp.sum(jnp.log1p(s_tt))


def collapsed_loglik(r, Xc, prior_sd, v, tau_w2, tau_b, cluster, num_clusters):
    """log p(r | variance parameters) with ``r = y - X_c m0 - (sampled part)`` and the
    collapsed coefficients b_c ~ N(m0, diag(prior_sd^2)) integrated out."""
    m = Xc.shape[1]
    M = jnp.concatenate([Xc, r[:, None]], axis=1)
    G, logdet = gram(M, v, tau_w2, tau_b, cluster, num_clusters)
    out = -0.5 * (r.shape[0] * _LOG_2PI + logdet + G[m, m])
    if m == 0:
        return out
    A = G[:m, :m] + jnp.diag(1.0 / prior_sd**2)
    h, log_diag = _chol_forward(A, G[:m, m])
    return out + 0.5 * jnp.sum(h**2) - log_diag - jnp.sum(jnp.log(prior_sd))


def _chol_forward(A, b):
    """(L^-1 b, sum(log diag L)) for A = L L'. Unrolled for the few coefficients of a
    meta-regression: on CPU this is several times faster than a LAPACK call inside NUTS."""
    m = A.shape[0]
    if m > 8:
        L = jnp.linalg.cholesky(A)
        h = jax.scipy.linalg.solve_triangular(L, b, lower=True)
        return h, jnp.sum(jnp.log(jnp.diag(L)))
    L = [[None] * m for _ in range(m)]
    h = []
    for i in range(m):
        for j in range(i + 1):
            s = A[i, j] - sum((L[i][q] * L[j][q] for q in range(j)), start=0.0)
            L[i][j] = jnp.sqrt(s) if i == j else s / L[j][j]
        h.append((b[i] - sum((L[i][q] * h[q] for q in range(i)), start=0.0)) / L[i][i])
    return jnp.stack(h), sum(jnp.log(L[i][i]) for i in range(m))


def collapsed_conditional(r, Xc, prior_sd, v, tau_w2, tau_b, cluster, num_clusters):
    """Mean and Cholesky factor of the covariance of (b_c - m0) given the rest."""
    m = Xc.shape[1]
    M = jnp.concatenate([Xc, r[:, None]], axis=1)
    G, _ = gram(M, v, tau_w2, tau_b, cluster, num_clusters)
    A = G[:m, :m] + jnp.diag(1.0 / prior_sd**2)
    cov = jnp.linalg.inv(A)
    return cov @ G[:m, m], jnp.linalg.cholesky(cov)


def cluster_effects_conditional(r, v, tau_w2, tau_b, cluster, num_clusters):
    """Mean and SD of each z_c given the data and all parameters (``r`` = y - X b)."""
    a = v + tau_w2
    seg = lambda x: jax.ops.segment_sum(x, cluster, num_segments=num_clusters)  # noqa: E731
    s_tt = seg(tau_b**2 / a)
    s_tr = seg(tau_b * r / a)
    return s_tr / (1.0 + s_tt), 1.0 / jnp.sqrt(1.0 + s_tt)


def pointwise_loglik(r, v, tau_w2, tau_b, cluster, num_clusters):
    """Log density per cluster (per estimate without clusters) given all parameters."""
    a = v + tau_w2
    per_obs = -0.5 * (_LOG_2PI + jnp.log(a) + r**2 / a)
    if num_clusters == 0:
        return per_obs
    seg = lambda x: jax.ops.segment_sum(x, cluster, num_segments=num_clusters)  # noqa: E731
    s_tt = seg(tau_b**2 / a)
    s_tr = seg(tau_b * r / a)
    return seg(per_obs) - 0.5 * (jnp.log1p(s_tt) - s_tr**2 / (1.0 + s_tt))


def variance_parts(tau, rho, delta, Z):
    """Per-estimate (tau_w^2, tau_b) from tau, rho and the scale coefficients."""
    log_scale = Z @ delta if Z.shape[1] else jnp.zeros(Z.shape[0])
    tau_i = tau * jnp.exp(log_scale)
    return tau_i**2 * (1.0 - rho), tau_i * jnp.sqrt(rho)


def _draw(name, p):
    if p.is_point:
        return jnp.asarray(p.params[0])
    return numpyro.sample(name, p.numpyro_distribution())


def make_model(layout, num_clusters: int):
    """NumPyro model ``model(y, v, cluster, X, Z)`` for a :class:`~._layout.Layout`.

    Data are arguments, so a compiled kernel is reused for new data of the same shape.
    """

    def model(y, v, cluster, X, Z):
        fixed = jnp.zeros(y.shape[0])
        for j, (name, p) in enumerate(layout.fixed):
            if j not in layout.collapsed:
                fixed = fixed + X[:, j] * _draw(name, p)
        tau = _draw("tau", layout.tau)
        rho = _draw("rho", layout.rho) if layout.rho is not None else jnp.asarray(0.0)
        delta = jnp.stack([_draw(n, p) for n, p in layout.scale]) if layout.scale else jnp.zeros(0)
        tau_w2, tau_b = variance_parts(tau, rho, delta, Z)
        idx = jnp.asarray(layout.collapsed, dtype=int)
        Xc = X[:, idx]
        r = y - fixed - Xc @ jnp.asarray(layout.collapsed_mean)
        sd = jnp.asarray(layout.collapsed_sd)
        numpyro.factor("loglik", collapsed_loglik(r, Xc, sd, v, tau_w2, tau_b, cluster, num_clusters))

    return model
