"""Model comparison for brma fits: marginal likelihoods, Bayes factors, LOO, InferenceData.

Two independent routes to the log marginal likelihood log p(y):

* bridge sampling (Meng & Wong 1996, iterative scheme as in Gronau et al. 2017) on the NUTS
  draws of the sampled parameters, unconstrained scale, with a multivariate normal proposal
  fitted to the first half of each chain; its relative error follows Fruehwirth-Schnatter
  (2004), with the autocorrelation of the posterior half accounted for through its ESS;
* numerical integration of the full, uncollapsed posterior (:mod:`._quadrature`), for models
  with up to five free parameters.

A fit by the quadrature engine also carries the value from its own grid (``method="grid"``),
and its bridge sampling evaluates the NumPy log posterior of that engine (no JAX).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from .._display import TextReport
from .._exceptions import ModelSpecificationError

__all__ = ["MarginalLikelihood", "BayesFactor", "log_marginal_likelihood", "inference_data", "loo"]


@dataclass(frozen=True, repr=False)
class MarginalLikelihood(TextReport):
    """log p(y) with its Monte Carlo standard error (0 for quadrature) and the method."""

    log_ml: float
    mc_error: float
    method: str
    iterations: int = 0

    def __str__(self) -> str:
        return f"log marginal likelihood = {self.log_ml:.4f} (MC error {self.mc_error:.4f}; {self.method})"


@dataclass(frozen=True, repr=False)
class BayesFactor(TextReport):
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
    if getattr(fit._run, "engine", "nuts") == "quadrature":  # NumPy, no JAX
        f = fit._run.state[0]
        return f.sites, f
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
    ess_f2 = f2.size if getattr(fit._run, "engine", "nuts") == "quadrature" else ess(f2)
    re2 = f1.var() / (n2 * f1.mean() ** 2) + f2.var() / (ess_f2 * f2.mean() ** 2)
    return MarginalLikelihood(float(log_r + shift), float(math.sqrt(re2)), "bridge sampling", it)


def _mvn_logpdf(x, mean, chol):
    sol = np.linalg.solve(chol, (x - mean).T)
    return -0.5 * (np.sum(sol**2, 0) + len(mean) * math.log(2 * math.pi)) - np.sum(np.log(np.diag(chol)))


def log_marginal_likelihood(fit, method: str = "bridge", **kwargs) -> MarginalLikelihood:
    if method == "grid":
        if getattr(fit._run, "engine", "nuts") != "quadrature":
            raise ModelSpecificationError("method='grid' needs a fit by engine='quadrature'; use "
                                          "'bridge' or 'quadrature'")
        return MarginalLikelihood(fit._run.log_ml, fit._run.log_ml_error, "grid (quadrature engine)")
    if method == "bridge":
        return bridge_sampling(fit, **kwargs)
    if method == "quadrature":
        from ._quadrature import quadrature

        return quadrature(fit, **kwargs)[0]
    raise ModelSpecificationError(f"unknown method {method!r}; use 'bridge', 'quadrature' or 'grid'")


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
    nuts = getattr(fit._run, "engine", "nuts") != "quadrature"
    stats = {"sample_stats": {"diverging": fit._run.diverging, "n_steps": fit._run.num_steps}} if nuts else {}
    return az.from_dict(posterior=post, log_likelihood={"log_lik": fit._loglik},
                        observed_data={"yi": fit.data.y}, coords=coords, dims=dims, **stats)


def loo(fit, **kwargs):
    import arviz as az

    return az.loo(inference_data(fit), **kwargs)
