"""Simulation from a fitted GLMM and the parametric bootstrap (lme4's ``simulate`` and
``confint(method = "boot")``), arrays only.

A simulated response draws new spherical random effects ``u ~ N(0, I)``, forms
``mu = g^{-1}(offset + X beta + Z Lambda_theta u)`` and draws each observation
from the family: binomial successes out of the trials (returned as
proportions, as the fit's response), Poisson counts, negative binomial counts
(``size = theta``), Gamma (shape ``1 / sigma^2``) and inverse Gaussian
(dispersion ``sigma^2``) values, with the prior weights dividing the
dispersion as in R's ``simulate`` for GLMs.

The bootstrap refits each simulated response with the same structure
(starting from the estimates, lme4's second stage only) and records lme4's
parameters: the standard deviations and correlations of the random effects,
then the fixed effects. For negative binomial fits the refits keep the
dispersion theta at its estimate (lme4's ``bootMer`` refits with the fitted
family too).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._exceptions import ConvergenceWarning, MultilevelError, SingularFitWarning
from ..lmm._sdcor import sdcor_from_theta
from ._fit import GlmmControl, fit_glmm
from ._pirls import GlmmProblem

__all__ = ["simulate_responses", "bootstrap_replicates"]


def _draw(family, mu, problem, sigma, nb_theta, rng) -> np.ndarray:
    name = family.name
    if name == "binomial":
        trials = np.rint(problem.weights).astype(np.int64)
        trials_pos = np.maximum(trials, 1)
        return np.where(trials > 0, rng.binomial(trials_pos, mu) / trials_pos, 0.0)
    if nb_theta is not None:
        return rng.negative_binomial(nb_theta, nb_theta / (nb_theta + mu)).astype(float)
    if name == "poisson":
        return rng.poisson(mu).astype(float)
    disp = sigma ** 2 / problem.weights
    if name == "Gamma":
        shape = 1.0 / disp
        return rng.gamma(shape, mu / shape)
    if name == "inverse.gaussian":
        return rng.wald(mu, 1.0 / disp)
    raise MultilevelError(f"simulation is not available for the {name} family")


def simulate_responses(problem, theta, beta, sigma: float, nsim: int, rng, nb_theta: float | None = None
                       ) -> np.ndarray:
    """``(n, nsim)`` responses simulated at ``(theta, beta)`` (proportions for binomial)."""
    lam = problem.lambda_matrix(theta)
    fixed = problem.offset + problem.X @ beta
    Z = _z_matrix(problem)
    out = np.empty((problem.n, nsim))
    for s in range(nsim):
        u = rng.standard_normal(problem.q)
        mu = problem.family.link.linkinv(fixed + Z @ (lam @ u))
        out[:, s] = _draw(problem.family, mu, problem, sigma, nb_theta, rng)
    return out


def _z_matrix(problem):
    """The random-effects design ``Z`` (sparse, n x q) of the problem's terms."""
    import scipy.sparse as sp

    return sp.hstack([t.expanded() for t in problem.terms]).tocsr()


def _sdcor(problem, theta, scale: float = 1.0) -> np.ndarray:
    """lme4's variance parameters in lme4's order (per term, template positions column-wise):
    standard deviations ``scale * theta``-based and correlations."""
    return sdcor_from_theta(np.asarray(theta, dtype=float), [t.k for t in problem.terms], scale)


def _scale(problem, y, est) -> float:
    """The residual scale of a refit (1 for families without one), as ``GeneralizedLinearMixedModel.sigma``."""
    if not problem.family.has_scale:
        return 1.0
    mu, u = est.state.mu, est.state.u
    wrss = float(np.sum(problem.weights * np.square(y - mu) / problem.family.variance(mu)))
    return math.sqrt((wrss + float(u @ u)) / y.size)


def bootstrap_replicates(problem, mustart, nAGQ: int, theta, beta, sigma: float, *, nsim: int, seed,
                         nb_theta: float | None = None) -> np.ndarray:
    """``(nsim, num_params)`` replicates of (sd/cor ..., sigma for families with a scale, fixed effects);
    failed refits are NaN rows."""

    rng = np.random.default_rng(seed)
    ys = simulate_responses(problem, theta, beta, sigma, nsim, rng, nb_theta)
    ctrl = GlmmControl(calc_derivs=False, stage1=False)
    extra = 1 if problem.family.has_scale else 0
    out = np.full((nsim, _sdcor(problem, theta).size + extra + beta.size), np.nan)
    for s in range(nsim):
        y = ys[:, s]
        sim = GlmmProblem(problem.X, y, problem.weights, problem.n_trials, problem.offset, problem.terms,
                          problem.family)
        start_mu = (problem.weights * y + 0.5) / (problem.weights + 1.0) if problem.family.name == "binomial" \
            else (y + 0.1 if problem.family.name == "poisson" or nb_theta is not None else y)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (ConvergenceWarning, SingularFitWarning))
                est = fit_glmm(sim, start_mu, nAGQ, start={"theta": theta, "fixef": beta}, control=ctrl)
        except (MultilevelError, np.linalg.LinAlgError):
            continue
        scale = _scale(problem, y, est)
        out[s] = np.concatenate([_sdcor(problem, est.theta, scale), [scale] * extra, est.beta])
    return out
