"""Model comparison for brma fits: marginal likelihoods, Bayes factors, LOO, InferenceData.

Two independent routes to the log marginal likelihood log p(y):

* bridge sampling (Meng & Wong 1996, iterative scheme as in Gronau et al. 2017) on the NUTS
  draws of the sampled parameters, unconstrained scale, with a multivariate normal proposal
  fitted to the first half of each chain; its relative error follows Fruehwirth-Schnatter
  (2004), with the autocorrelation of the posterior half accounted for through its ESS;
* numerical integration (tensor Gauss-Legendre rule) of the full, uncollapsed posterior of
  (mu, tau, rho) written separately in NumPy, for intercept-only models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp

from .._exceptions import ModelSpecificationError

__all__ = ["MarginalLikelihood", "BayesFactor", "log_marginal_likelihood", "inference_data", "loo",
           "quadrature"]


@dataclass(frozen=True)
class MarginalLikelihood:
    """log p(y) with its Monte Carlo standard error (0 for quadrature) and the method."""

    log_ml: float
    mc_error: float
    method: str
    iterations: int = 0

    def __str__(self) -> str:
        return f"log marginal likelihood = {self.log_ml:.4f} (MC error {self.mc_error:.4f}; {self.method})"


@dataclass(frozen=True)
class BayesFactor:
    """BF10 = p(y | model 1) / p(y | model 0), with the Monte Carlo error of log BF10."""

    log_bf: float
    mc_error: float
    method: str

    @property
    def bf(self) -> float:
        return math.exp(self.log_bf)

    @classmethod
    def from_marginals(cls, m1: MarginalLikelihood, m0: MarginalLikelihood) -> "BayesFactor":
        return cls(m1.log_ml - m0.log_ml, math.hypot(m1.mc_error, m0.mc_error), m1.method)

    def __str__(self) -> str:
        return (f"BF10 = {self.bf:.4g} (log BF10 = {self.log_bf:.4f}, MC error {self.mc_error:.4f}; "
                f"{self.method})")


# ----------------------------------------------------------------------------- bridge sampling
def _potential(fit):
    from ._engine import compiled
    from ._fit import _args

    import jax.numpy as jnp

    args = tuple(jnp.asarray(a) for a in _args(fit.data))
    comp = compiled(fit._layout, fit.data.num_clusters, args)
    sites = comp.sites

    def log_q(theta: np.ndarray) -> np.ndarray:
        z = {s: jnp.asarray(theta[:, i]) for i, s in enumerate(sites)}
        return -np.asarray(comp.potential(z, args))

    return sites, log_q


def bridge_sampling(fit, *, max_iter: int = 1000, tol: float = 1e-10, seed: int | None = None) -> MarginalLikelihood:
    """Log marginal likelihood of ``fit`` by iterative bridge sampling."""
    from ._diagnostics import ess

    sites, log_q = _potential(fit)
    if not sites:
        return MarginalLikelihood(float(log_q(np.zeros((1, 0)))[0]), 0.0, "exact (no free parameters)")
    U = np.stack([fit._run.unconstrained[s] for s in sites], axis=-1)  # chains, draws, d
    half = U.shape[1] // 2
    fit_part, post = U[:, :half].reshape(-1, U.shape[-1]), U[:, half:]
    mean, cov = fit_part.mean(0), np.atleast_2d(np.cov(fit_part, rowvar=False))
    chol = np.linalg.cholesky(cov)
    n1 = post.shape[0] * post.shape[1]
    n2 = n1
    rng = np.random.default_rng(fit.seed + 31337 if seed is None else seed)
    prop = mean + rng.standard_normal((n2, len(sites))) @ chol.T
    log_g = lambda x: _mvn_logpdf(x, mean, chol)  # noqa: E731
    post_flat = post.reshape(-1, len(sites))
    l1 = log_q(post_flat) - log_g(post_flat)
    l2 = log_q(prop) - log_g(prop)
    shift = np.median(l1)
    l1, l2 = l1 - shift, l2 - shift
    s1, s2 = n1 / (n1 + n2), n2 / (n1 + n2)
    log_r = 0.0
    for it in range(1, max_iter + 1):
        num = logsumexp(l2 - np.logaddexp(np.log(s1) + l2, np.log(s2) + log_r)) - np.log(n2)
        den = logsumexp(-np.logaddexp(np.log(s1) + l1, np.log(s2) + log_r)) - np.log(n1)
        new = num - den
        if abs(new - log_r) < tol:
            log_r = new
            break
        log_r = new
    f1 = np.exp(l2 - np.logaddexp(np.log(s1) + l2, np.log(s2) + log_r))
    f2 = np.exp(-np.logaddexp(np.log(s1) + l1, np.log(s2) + log_r)).reshape(post.shape[:2])
    ess_f2 = ess(f2)
    re2 = f1.var() / (n2 * f1.mean() ** 2) + f2.var() / (ess_f2 * f2.mean() ** 2)
    return MarginalLikelihood(float(log_r + shift), float(math.sqrt(re2)), "bridge sampling", it)


def _mvn_logpdf(x, mean, chol):
    sol = np.linalg.solve(chol, (x - mean).T)
    return -0.5 * (np.sum(sol**2, 0) + len(mean) * math.log(2 * math.pi)) - np.sum(np.log(np.diag(chol)))


# ----------------------------------------------------------------------------- quadrature
def _loglik_numpy(y, v, onehot, mu, tau, rho):
    """log p(y | mu, tau, rho) for arrays of parameter values (shape (G,)); NumPy only."""
    tw2 = (tau**2 * (1 - rho))[:, None]
    tb = (tau * np.sqrt(rho))[:, None]
    a = v[None, :] + tw2
    r = y[None, :] - mu[:, None]
    out = -0.5 * np.sum(np.log(2 * np.pi * a) + r**2 / a, axis=1)
    if onehot is None:
        return out
    s_tt = (tb**2 / a) @ onehot
    s_tr = (tb * r / a) @ onehot
    return out - 0.5 * np.sum(np.log1p(s_tt) - s_tr**2 / (1 + s_tt), axis=1)


def _axes(fit, nodes):
    """Unconstrained integration axes (name, nodes, weights) from posterior draws +- 9 SD."""
    post = fit.posterior
    specs = []
    for name, transform in (("mu", None), ("tau", "log"), ("rho", "logit")):
        if name not in post or fit.priors.__getattribute__(name).is_point:
            continue
        x = post[name].reshape(-1)
        if transform == "logit":
            x = np.clip(x, 1e-12, 1 - 1e-12)
            u = np.log(x / (1 - x))
        else:
            u = np.log(x) if transform == "log" else x
        lo, hi = u.mean() - 9 * u.std(), u.mean() + 9 * u.std()
        t, w = np.polynomial.legendre.leggauss(nodes)
        specs.append((name, transform, (hi - lo) / 2 * t + (hi + lo) / 2, w * (hi - lo) / 2))
    return specs


def quadrature(fit, nodes: int | None = None) -> tuple[MarginalLikelihood, dict[str, tuple[float, float]]]:
    """Log marginal likelihood and posterior (mean, SD) of mu, tau, rho by a tensor
    Gauss-Legendre rule on the unconstrained scale (intercept-only models)."""
    if len(fit.data.X_names) > 1 or fit.data.Z_names:
        raise ModelSpecificationError("quadrature is available for models without mods and scale")
    specs = _axes(fit, nodes or (48 if fit.is_multilevel else 200))
    grids = np.meshgrid(*[s[2] for s in specs], indexing="ij")
    weights = np.ones(grids[0].shape) if specs else np.ones(())
    for i, s in enumerate(specs):
        weights = weights * np.expand_dims(s[3], [j for j in range(len(specs)) if j != i])
    values, logjac, log_prior = {}, 0.0, 0.0
    for (name, transform, _, _), g in zip(specs, grids):
        u = g.reshape(-1)
        if transform is None:
            values[name] = u
        elif transform == "log":
            values[name] = np.exp(u)
            logjac = logjac + u
        else:
            values[name] = expit(u)
            logjac = logjac + np.log(values[name]) + np.log1p(-values[name])
        log_prior = log_prior + fit.priors.__getattribute__(name).logpdf(values[name])
    n = weights.size
    par = {nm: values.get(nm, np.full(n, getattr(fit.priors, nm).params[0]) if getattr(fit.priors, nm)
                          is not None else np.zeros(n)) for nm in ("mu", "tau", "rho")}
    bd = fit.data
    onehot = np.eye(bd.num_clusters)[bd.cluster] if bd.cluster is not None else None
    logl = np.concatenate([_loglik_numpy(bd.y, bd.v, onehot, *(par[nm][i:i + 20000] for nm in ("mu", "tau", "rho")))
                           for i in range(0, n, 20000)])
    log_f = logl + log_prior + logjac + np.log(weights.reshape(-1))
    log_ml = float(logsumexp(log_f))
    p = np.exp(log_f - log_ml)
    moments = {nm: (float(p @ values[nm]), float(np.sqrt(p @ (values[nm] - p @ values[nm]) ** 2)))
               for nm in values}
    return MarginalLikelihood(log_ml, 0.0, "quadrature"), moments


def log_marginal_likelihood(fit, method: str = "bridge", **kwargs) -> MarginalLikelihood:
    if method == "bridge":
        return bridge_sampling(fit, **kwargs)
    if method == "quadrature":
        return quadrature(fit, **kwargs)[0]
    raise ModelSpecificationError(f"unknown method {method!r}; use 'bridge' or 'quadrature'")


# ----------------------------------------------------------------------------- ArviZ
def inference_data(fit):
    import arviz as az

    post = {k: v for k, v in fit.posterior.items()}
    dims = {}
    if fit.is_multilevel:
        post["u"] = fit._z * (fit.posterior["tau"] * np.sqrt(fit.posterior["rho"]))[..., None]
        dims["u"] = ["cluster"]
    dims["log_lik"] = ["cluster" if fit.is_multilevel else "estimate"]
    dims["yi"] = ["estimate"]
    coords = {"cluster": list(map(str, fit.data.cluster_labels))} if fit.is_multilevel else {}
    coords["estimate"] = list(range(fit.data.k))
    return az.from_dict(
        posterior=post, log_likelihood={"log_lik": fit._loglik},
        sample_stats={"diverging": fit._run.diverging, "n_steps": fit._run.num_steps},
        observed_data={"yi": fit.data.y}, coords=coords, dims=dims)


def loo(fit, **kwargs):
    import arviz as az

    return az.loo(inference_data(fit), **kwargs)
