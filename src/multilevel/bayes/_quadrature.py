"""Exact numerical integration of a brma posterior (NumPy / SciPy only, no JAX).

An independent route to the marginal likelihood and the posterior moments: the full,
uncollapsed posterior of every free parameter (all fixed coefficients, tau, rho and the scale
coefficients) is integrated with a tensor Gauss-Legendre rule on the unconstrained scale
(log for tau, logit for rho), on axes aligned with the posterior covariance of the MCMC draws
and reaching 9 SD from their mean. The likelihood
is written here again, separately from the JAX model, per cluster by the matrix determinant
lemma (checked against dense multivariate normal densities in the tests). Feasible for up to
about five free parameters.
"""

from __future__ import annotations

import math

import numpy as np

from .._exceptions import ModelSpecificationError
from ._marginal import MarginalLikelihood

__all__ = ["loglik_numpy", "quadrature"]

_NODES = {1: 400, 2: 160, 3: 48, 4: 22, 5: 12}


def loglik_numpy(y, v, onehot, mean, tau_i, rho):
    """log p(y | parameters) per grid point: ``mean`` and ``tau_i`` are (G, k), ``rho`` (G,)."""
    rho = np.asarray(rho, dtype=float)[:, None]
    tw2 = tau_i**2 * (1 - rho)
    tb = tau_i * np.sqrt(rho)
    a = v[None, :] + tw2
    r = y[None, :] - mean
    out = -0.5 * np.sum(np.log(2 * np.pi * a) + r**2 / a, axis=1)
    if onehot is None:
        return out
    s_tt = (tb**2 / a) @ onehot
    s_tr = (tb * r / a) @ onehot
    return out - 0.5 * np.sum(np.log1p(s_tt) - s_tr**2 / (1 + s_tt), axis=1)


def _free_parameters(fit):
    """(name, prior, draws) of every free parameter, on the internal (standardized) scale."""
    out = []
    for j, (_, p) in enumerate(fit._layout.fixed):
        if not p.is_point:
            out.append((f"b{j}", p, fit._B[..., j].reshape(-1)))
    run = fit._run.draws
    for site, p in [("tau", fit._layout.tau), ("rho", fit._layout.rho), *fit._layout.scale]:
        if p is not None and not p.is_point:
            out.append((site, p, run[site].reshape(-1)))
    return out


def _transform(p):
    if math.isinf(p.lower) and math.isinf(p.upper):
        return "identity"
    if p.lower == 0 and math.isinf(p.upper):
        return "log"
    if p.lower == 0 and p.upper == 1:
        return "logit"
    raise ModelSpecificationError(f"quadrature does not handle a prior truncated to [{p.lower}, {p.upper}]")


def _to_unconstrained(x, kind):
    if kind == "log":
        return np.log(x)
    if kind == "logit":
        x = np.clip(x, 1e-12, 1 - 1e-12)
        return np.log(x / (1 - x))
    return x


def _from_unconstrained(u, kind):
    """(value, log Jacobian)."""
    if kind == "log":
        return np.exp(u), u
    if kind == "logit":
        from scipy.special import expit  # on first use: keeps the first brma fit fast

        x = expit(u)
        return x, np.log(x) + np.log1p(-x)
    return u, np.zeros_like(u)


def _grid(params, nodes, half_width=9.0):
    """Gauss-Legendre tensor grid on whitened coordinates: u = m + L s, s in [-9, 9]^d, with
    m and L L' the mean and covariance of the draws on the unconstrained scale (aligning the
    grid with the posterior's correlations makes the rule converge with few nodes)."""
    U = np.column_stack([_to_unconstrained(d, _transform(p)) for _, p, d in params])
    m = U.mean(0)
    L = np.linalg.cholesky(np.atleast_2d(np.cov(U, rowvar=False)))
    t, w = np.polynomial.legendre.leggauss(nodes)
    t, w = half_width * t, half_width * w
    mesh = np.meshgrid(*([t] * len(params)), indexing="ij")
    wmesh = np.meshgrid(*([w] * len(params)), indexing="ij")
    S = np.column_stack([x.reshape(-1) for x in mesh])
    points = m + S @ L.T
    weights = np.prod([x.reshape(-1) for x in wmesh], axis=0) * abs(np.prod(np.diag(L)))
    return list(points.T), weights


def _values(fit, params, points):
    """Parameter values at the grid points, the log Jacobian and the log prior."""
    vals, logjac, logprior = {}, 0.0, 0.0
    for (name, p, _), u in zip(params, points):
        x, lj = _from_unconstrained(u, _transform(p))
        vals[name] = x
        logjac = logjac + lj
        logprior = logprior + p.logpdf(x)
    n = len(points[0]) if points else 1
    fixed = lambda site, p: vals.get(site, np.full(n, p.params[0]))  # noqa: E731
    B = np.column_stack([fixed(f"b{j}", p) for j, (_, p) in enumerate(fit._layout.fixed)])
    tau = fixed("tau", fit._layout.tau)
    rho = fixed("rho", fit._layout.rho) if fit._layout.rho is not None else np.zeros(n)
    D = (np.column_stack([fixed(s, p) for s, p in fit._layout.scale]) if fit._layout.scale
         else np.zeros((n, 0)))
    return B, tau, rho, D, logjac, logprior


def _named(fit, B, tau, rho, D):
    """The quantities of ``fit.posterior`` at the grid points."""
    bd = fit.data
    Bo = B @ bd.back_X.T if bd.back_X is not None else B
    out = {name: Bo[:, j] for j, name in enumerate(["mu", *bd.X_names[1:]])}
    out["tau"] = tau
    if fit.is_multilevel:
        out["rho"] = rho
    if bd.Z_names:
        Do = np.column_stack([np.log(tau), D])
        Do = Do @ bd.back_Z.T if bd.back_Z is not None else Do
        out["log(tau): intercept"] = Do[:, 0]
        out |= {f"log(tau): {n}": Do[:, j + 1] for j, n in enumerate(bd.Z_names)}
    return out


def quadrature(fit, nodes: int | None = None, chunk: int = 20000):
    """Log marginal likelihood and posterior (mean, SD) of every quantity of ``fit.posterior``.

    Returns
    -------
    (MarginalLikelihood, dict of name -> (mean, sd))
    """
    from scipy.special import logsumexp  # on first use: keeps the first brma fit fast

    params = _free_parameters(fit)
    if len(params) > 5:
        raise ModelSpecificationError(f"quadrature needs at most 5 free parameters, the model has {len(params)}")
    points, weights = _grid(params, nodes or _NODES.get(len(params), 12)) if params else ([], np.ones(1))
    B, tau, rho, D, logjac, logprior = _values(fit, params, points)
    bd = fit.data
    onehot = np.eye(bd.num_clusters)[bd.cluster] if bd.cluster is not None else None
    logl = np.empty(len(weights))
    for i in range(0, len(weights), chunk):
        s = slice(i, i + chunk)
        mean = B[s] @ bd.X.T
        tau_i = tau[s, None] * np.exp(D[s] @ bd.Z.T) if bd.Z.shape[1] else np.repeat(tau[s, None], bd.k, 1)
        logl[s] = loglik_numpy(bd.y, bd.v, onehot, mean, tau_i, rho[s])
    log_f = logl + logprior + logjac + np.log(weights)
    log_ml = float(logsumexp(log_f))
    w = np.exp(log_f - log_ml)
    moments = {}
    for name, x in _named(fit, B, tau, rho, D).items():
        m = float(w @ x)
        moments[name] = (m, float(np.sqrt(max(w @ (x - m) ** 2, 0.0))))
    return MarginalLikelihood(log_ml, 0.0, "quadrature"), moments
