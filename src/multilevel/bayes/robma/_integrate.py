r"""Marginal likelihood and posterior of one component model, without MCMC (NumPy / SciPy).

Two routes, chosen by the dimension d of the free parameters:

* ``"quadrature"`` (d <= 2 by default, up to 3 on request): the grid of
  :func:`multilevel.bayes._grid.build_grid` -- mode and curvature, a box reaching where the
  log density is 30 below its maximum, the midpoint rule on a fine grid of cells (its error
  estimated by the rule on every other cell) and independent draws from the grid.
* ``"importance"`` (d >= 3): adaptive importance sampling. The mode and the curvature there
  (BFGS, then central differences) define a multivariate t proposal (5 degrees of freedom,
  covariance inflated by 1.5); 4,000 draws from it re-estimate the posterior mean and
  covariance, which define the final t proposal. The proposal's draws are randomized
  quasi-Monte Carlo points: eight independently scrambled Sobol sets. With draws
  :math:`u_s` from the proposal :math:`q` and weights :math:`w_s = p(y, u_s) / q(u_s)`,
  :math:`\hat p(y) = \bar w`, and the standard error of :math:`\log \hat p(y)` is the
  standard deviation of the eight sets' means over :math:`\sqrt 8\, \bar w` (each set is
  an unbiased estimate; the spread between them measures the error). The normalized weights are
  the posterior: summaries are weighted means and weighted quantiles.

Both are deterministic for a given seed and compile nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._grid import _derivatives, build_grid
from ._posterior import ModelPosterior

__all__ = ["ModelIntegral", "integrate"]

_DF = 5.0


@dataclass(frozen=True)
class ModelIntegral:
    """log p(y | model) with its error, and a weighted sample of the posterior: unconstrained
    points ``U`` (n, d) and normalized weights ``weights`` (n,)."""

    log_ml: float
    error: float
    method: str
    U: np.ndarray
    weights: np.ndarray

    @property
    def ess(self) -> float:
        """Kish's effective sample size of the weighted sample."""
        return float(1.0 / np.sum(self.weights**2))


def _value_and_gradient(f, u, h=1e-5):
    """-f and its gradient by central differences, in one batched call."""
    E = np.eye(len(u)) * h
    v = f(np.vstack([u[None], u + E, u - E]))
    d = len(u)
    if not np.isfinite(v[0]):
        return np.inf, np.zeros(d)
    return -v[0], -(v[1:d + 1] - v[d + 1:]) / (2 * h)


def _mode(f: ModelPosterior):
    from scipy import optimize  # SciPy on first use: ``import multilevel.bayes`` stays light

    res = optimize.minimize(lambda u: _value_and_gradient(f, u), f.start(), jac=True, method="BFGS",
                            options={"gtol": 1e-6})
    u = res.x
    for _ in range(20):  # Newton polish: the proposal's centre and scale come from here
        val, g, H = _derivatives(f, u)
        try:
            np.linalg.cholesky(-H)
        except np.linalg.LinAlgError:
            break
        step = np.linalg.solve(-H, g)
        if not f((u + step)[None])[0] >= val:
            break
        u = u + step
        if np.max(np.abs(step)) < 1e-8:
            break
    _, _, H = _derivatives(f, u)
    return u, _covariance(-H, len(u))


def _covariance(precision, d):
    try:
        cov = np.linalg.inv(precision)
        np.linalg.cholesky(cov)
        return cov
    except np.linalg.LinAlgError:
        return np.eye(d)


def _t_draws(mean, cov, n, rng):
    """Draws from a multivariate t and their log density: randomized quasi-Monte Carlo
    (scrambled Sobol points, ``n`` rounded up to a power of 2, through the inverse normal and
    chi-square distribution functions), unbiased like plain Monte Carlo and more even."""
    from scipy import special, stats
    from scipy.stats import qmc

    L = np.linalg.cholesky(cov)
    d = len(mean)
    u = qmc.Sobol(d + 1, scramble=True, seed=rng).random_base2(max(1, math.ceil(math.log2(n))))
    u = np.clip(u, 1e-12, 1 - 1e-12)
    z = special.ndtri(u[:, :d])
    g = special.chdtri(_DF, 1 - u[:, d]) / _DF  # the chi-square quantile
    U = mean + (z / np.sqrt(g)[:, None]) @ L.T
    return U, stats.multivariate_t(mean, cov, df=_DF).logpdf(U).reshape(len(U))


def _weighted(f, mean, cov, n, rng):
    U, logq = _t_draws(mean, cov, n, rng)
    logw = f(U) - logq
    return U, logw


_REPLICATES = 8  # independent randomizations of the final quasi-random point set


def _importance(f: ModelPosterior, n: int, rng) -> ModelIntegral:
    u0, cov0 = _mode(f)
    U, logw = _weighted(f, u0, 1.5**2 * cov0, 4000, rng)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    mean = w @ U
    cov = (U - mean).T @ ((U - mean) * w[:, None])
    cov = _covariance(np.linalg.inv(cov), len(u0)) if np.all(np.isfinite(cov)) else cov0
    sets = [_weighted(f, mean, 1.2**2 * cov, max(2, n // _REPLICATES), rng) for _ in range(_REPLICATES)]
    U = np.concatenate([u for u, _ in sets])
    logw = np.concatenate([lw for _, lw in sets])
    top = logw.max()
    w = np.exp(logw - top)
    log_ml = float(top + np.log(w.mean()))
    means = np.array([np.exp(lw - top).mean() for _, lw in sets])
    error = float(means.std(ddof=1) / (means.mean() * math.sqrt(_REPLICATES)))
    return ModelIntegral(log_ml, error, "importance", U, w / w.sum())


def _quadrature(f: ModelPosterior, n: int, rng) -> ModelIntegral:
    grid = build_grid(f)
    U = grid.sample(n, rng)
    return ModelIntegral(grid.log_ml, grid.log_ml_error, "quadrature", U, np.full(n, 1.0 / n))


def integrate(f: ModelPosterior, *, method: str = "auto", draws: int = 10000, seed: int = 0) -> ModelIntegral:
    """log marginal likelihood and posterior sample of one component model.

    ``method``: ``"auto"`` (quadrature for at most 2 free parameters, importance sampling
    otherwise), ``"quadrature"`` (at most 3) or ``"importance"``.
    """
    rng = np.random.default_rng(seed)
    if f.dim == 0:
        n = draws if getattr(f, "collapsed", False) else 1  # a collapsed mu is drawn per point
        return ModelIntegral(float(f(np.zeros((1, 0)))[0]), 0.0, "exact", np.zeros((n, 0)), np.full(n, 1.0 / n))
    if method == "quadrature" or (method == "auto" and f.dim <= 2):
        return _quadrature(f, draws, rng)
    return _importance(f, draws, rng)
