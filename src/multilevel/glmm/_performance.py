"""Intraclass correlation and Nakagawa's R-squared of a GLMM, as R's ``performance`` computes them.

The decomposition is Nakagawa, Johnson and Schielzeth (2017) on the latent
(link) scale:

.. math::

    \\sigma^2_f = \\operatorname{var}(X\\hat\\beta), \\qquad
    \\sigma^2_r = \\sum_{\\text{terms}} \\frac{1}{n}\\sum_i z_i^\\top \\Sigma z_i, \\qquad
    \\sigma^2_\\varepsilon = \\text{distribution-specific variance},

with the distribution-specific variance of ``performance`` 0.10 / ``insight`` 0.19:

* binomial: ``pi^2 / 3`` (logit), ``1`` (probit), ``pi^2 / 6`` (cloglog);
* Poisson with a log link: ``log(1 + 1 / mu)`` where ``mu = exp(beta_0)`` is the
  intercept of the *null model* (the same random effects, offset, weights and
  ``nAGQ``, no fixed effects but the intercept), refitted here;
  ``0.25`` with a square-root link;
* negative binomial with a log link: ``log(1 + (1/mu + 1/theta))``, ``mu`` as for Poisson.

ICC and R2 then follow :mod:`multilevel.lmm._icc`.
"""

from __future__ import annotations

import math

import numpy as np

from .._exceptions import ModelSpecificationError
from ..lmm._icc import ICC, R2, VarianceDecomposition, icc_from, r2_from, variance_decomposition
from ._fit import fit_glmm
from ._pirls import GlmmProblem

__all__ = ["glmm_icc", "glmm_r2", "glmm_variance_decomposition", "distribution_variance"]

_BINOMIAL = {"logit": math.pi ** 2 / 3.0, "probit": 1.0, "cloglog": math.pi ** 2 / 6.0}


def _null_intercept(fit) -> float:
    """Intercept of the null model (intercept, the fit's random effects, offset and weights)."""

    prob = fit._problem
    null = GlmmProblem(np.ones((prob.n, 1)), prob.y, prob.weights, prob.n_trials, prob.offset, prob.terms,
                       prob.family)
    est = fit_glmm(null, fit.response.mustart, max(fit.nAGQ, 1) if fit.nAGQ else 0)
    return float(est.beta[0])


def distribution_variance(fit) -> float:
    """The distribution-specific (residual) variance of ``performance`` for this fit's family."""
    fam, link = fit.family, fit.family.link.name
    nb_theta = getattr(fit, "nb_theta", None)
    if fam.name == "binomial" and link in _BINOMIAL:
        return _BINOMIAL[link]
    if (fam.name == "poisson" or nb_theta is not None) and link == "log":
        mu = math.exp(_null_intercept(fit))
        variance = mu if nb_theta is None else mu * (1.0 + mu / nb_theta)
        return math.log1p(variance / mu ** 2)
    if fam.name == "poisson" and link == "sqrt":
        return 0.25
    raise ModelSpecificationError(f"icc() and r2() are available for binomial (logit, probit, cloglog), Poisson "
                                  f"(log, sqrt) and negative binomial (log) GLMMs, not {fam.name}({link})")


def glmm_variance_decomposition(fit) -> VarianceDecomposition:
    """Fixed, random and distribution-specific variance of a GLMM fit."""
    templates = fit._problem.templates(fit.theta)
    terms = [(blk.column_names, T @ T.T) for blk, T in zip(fit.frame.blocks, templates)]
    v = variance_decomposition(fit.frame.X, fit.fixef.to_numpy(), list(fit.frame.fixed_names), terms, 0.0)
    return VarianceDecomposition(v.fixed, v.random, distribution_variance(fit))


def glmm_icc(fit) -> ICC:
    """:meth:`GeneralizedLinearMixedModel.icc`."""
    return icc_from(glmm_variance_decomposition(fit))


def glmm_r2(fit) -> R2:
    """:meth:`GeneralizedLinearMixedModel.r2`."""
    return r2_from(glmm_variance_decomposition(fit))
