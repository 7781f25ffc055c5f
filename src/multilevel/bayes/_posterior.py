"""Completing the posterior draws after NUTS (imports JAX; load lazily).

For every draw of the sampled parameters this draws the collapsed coefficients and the
cluster effects from their exact Gaussian conditionals, and evaluates the pointwise
log-likelihood (per cluster, or per estimate without clusters) used by LOO.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._layout import Layout
from ._model import (
    cluster_effects_conditional,
    collapsed_conditional,
    pointwise_loglik,
    variance_parts,
)

__all__ = ["complete_draws"]

_CACHE: dict = {}


def _make(layout: Layout, num_clusters: int):
    idx = np.asarray(layout.collapsed, dtype=int)
    m0 = jnp.asarray(layout.collapsed_mean)
    sd0 = jnp.asarray(layout.collapsed_sd)

    def one(B, tau, rho, delta, key, y, v, cluster, X, Z):
        tau_w2, tau_b = variance_parts(tau, rho, delta, Z)
        k1, k2 = jax.random.split(key)
        if idx.size:
            r = y - X @ B - X[:, idx] @ m0
            mean, chol = collapsed_conditional(r, X[:, idx], sd0, v, tau_w2, tau_b, cluster, num_clusters)
            B = B.at[idx].set(m0 + mean + chol @ jax.random.normal(k1, (idx.size,)))
        resid = y - X @ B
        if num_clusters:
            zm, zsd = cluster_effects_conditional(resid, v, tau_w2, tau_b, cluster, num_clusters)
            z = zm + zsd * jax.random.normal(k2, (num_clusters,))
        else:
            z = jnp.zeros(0)
        return B, z, pointwise_loglik(resid, v, tau_w2, tau_b, cluster, num_clusters)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None, None, None, None, None)))


def _site(draws, name, prior, n):
    if prior.is_point:
        return np.full(n, prior.params[0])
    return draws[name].reshape(-1)


def complete_draws(layout: Layout, num_clusters: int, args, draws: dict[str, np.ndarray], seed: int):
    """Return (B, z, loglik) with shapes (chains, draws, p), (chains, draws, J), (chains, draws, n)."""
    chains, n_draws = next(iter(draws.values())).shape if draws else (1, 1)
    n = chains * n_draws
    B = np.column_stack([np.zeros(n) if j in layout.collapsed else _site(draws, name, p, n)
                         for j, (name, p) in enumerate(layout.fixed)])
    tau = _site(draws, "tau", layout.tau, n)
    rho = _site(draws, "rho", layout.rho, n) if layout.rho is not None else np.zeros(n)
    delta = (np.column_stack([_site(draws, name, p, n) for name, p in layout.scale])
             if layout.scale else np.zeros((n, 0)))
    key = (layout, num_clusters)
    if key not in _CACHE:
        _CACHE[key] = _make(layout, num_clusters)
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    out = _CACHE[key](B, tau, rho, delta, keys, *(jnp.asarray(a) for a in args))
    return tuple(np.asarray(o).reshape(chains, n_draws, -1) for o in out)
