"""Confidence intervals (Wald, profile, parametric bootstrap) and simulation of a fitted GLMM:
the result-level glue between a :class:`GeneralizedLinearMixedModel` and the array modules
:mod:`._profile` and :mod:`._simulate`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .._exceptions import ArgumentError, ModelSpecificationError
from .._protocol import confint_frame
from ._simulate import bootstrap_replicates, simulate_responses
from ..lmm._sdcor import sdcor_from_theta
from ._profile import GlmmProfile, profile_intervals

__all__ = ["glmm_confint", "glmm_simulate", "variance_parameter_names", "vcov_matrix"]

_METHODS = ("wald", "profile", "boot")


def vcov_matrix(fit) -> np.ndarray:
    """The fixed effects' covariance matrix (``vcov`` as a property or a method)."""
    v = fit.vcov
    return np.asarray((v() if callable(v) else v), dtype=float)


def variance_parameter_names(fit) -> list[str]:
    """lme4's ``.sig01`` ... (and ``.sigma`` for families with a scale)."""
    m = len(fit.theta_names)
    return [f".sig{i + 1:02d}" for i in range(m)] + ([".sigma"] if fit.family.has_scale else [])


def _sdcor(fit) -> np.ndarray:
    """Standard deviations (sigma * theta scale, as lme4's VarCorr) and correlations."""
    return sdcor_from_theta(fit.theta, [t.k for t in fit._problem.terms], fit.sigma)


def _estimates(fit) -> np.ndarray:
    extra = [fit.sigma] if fit.family.has_scale else []
    return np.concatenate([_sdcor(fit), extra, fit.fixef.to_numpy()])


def glmm_confint(fit, method: str, level: float, *, nsim: int, seed) -> pd.DataFrame:
    """:meth:`GeneralizedLinearMixedModel.confint` (``level`` already a proportion)."""
    key = str(method).lower()
    if key not in _METHODS:
        raise ArgumentError(f"method must be 'Wald', 'profile' or 'boot', not {method!r}")
    names = variance_parameter_names(fit)
    beta = fit.fixef.to_numpy()
    if key == "wald":
        z = float(special.ndtri(0.5 + level / 2))
        se = np.sqrt(np.diag(vcov_matrix(fit)))
        bounds = np.vstack([np.full((len(names), 2), np.nan), np.column_stack([beta - z * se, beta + z * se])])
    elif key == "profile":
        bounds = _profile_bounds(fit, level)
    else:
        bounds = _boot_bounds(fit, level, nsim, seed)
    kinds = ["random"] * len(names) + ["fixed"] * beta.size
    return confint_frame(names + list(fit.fixef.index), kinds, _estimates(fit), bounds[:, 0], bounds[:, 1],
                         level=level, method=key)


def _profile_bounds(fit, level: float) -> np.ndarray:
    if fit.family.has_scale:
        raise ModelSpecificationError(f"profile intervals are available for families without a scale parameter "
                                      f"(binomial, Poisson, negative binomial), not {fit.family.name}; use "
                                      "method='Wald' or 'boot'")
    if fit.nAGQ == 0:
        raise ModelSpecificationError("profile intervals need a fit with nAGQ >= 1 (the deviance of nAGQ = 0 "
                                      "does not depend on the fixed effects)")
    est = fit._estimate
    se = np.sqrt(np.diag(vcov_matrix(fit)))
    prof = GlmmProfile(fit._problem, fit.nAGQ, est.state.eta, est.theta, est.beta, est.deviance, se)
    return profile_intervals(prof, level)


def _boot_bounds(fit, level: float, nsim: int, seed) -> np.ndarray:
    from ..lmm._bootstrap import percentile_intervals

    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 2:
        raise ArgumentError(f"nsim must be an integer >= 2, not {nsim!r}")
    if fit.family.has_scale:
        raise ArgumentError(f"bootstrap intervals are available for families without a scale parameter "
                            f"(binomial, Poisson, negative binomial), not {fit.family.name}: use method='Wald'")
    est = fit._estimate
    reps = bootstrap_replicates(fit._problem, fit.response.mustart, max(fit.nAGQ, 1), est.theta, est.beta,
                                fit.sigma, nsim=int(nsim), seed=seed, nb_theta=getattr(fit, "nb_theta", None))
    return percentile_intervals(reps, level)


def glmm_simulate(fit, nsim: int, seed) -> pd.DataFrame:
    """:meth:`GeneralizedLinearMixedModel.simulate`."""

    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ArgumentError(f"nsim must be a positive integer, not {nsim!r}")
    rng = np.random.default_rng(seed)
    est = fit._estimate
    ys = simulate_responses(fit._problem, est.theta, est.beta, fit.sigma, int(nsim), rng,
                            getattr(fit, "nb_theta", None))
    return pd.DataFrame(ys, index=fit.row_labels, columns=[f"sim_{i + 1}" for i in range(int(nsim))])
