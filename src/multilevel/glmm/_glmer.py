"""``glmer``: fit a generalized linear mixed model from a formula and a table."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._exceptions import (ArgumentError, ConvergenceWarning, ModelSpecificationError, SeparationWarning,
                           SingularFitWarning)
from ..lmm._blas import blas_threads
from ..lmm._lmer import terms_from_frame
from ..lmm._optimize import SINGULAR_MESSAGE
from ._family import make_family
from ._fit import GlmmControl, fit_glmm
from ._separation import find_separation
from ._pirls import GlmmProblem
from ._response import glmm_frame, split_formula
from ._results import GeneralizedLinearMixedModel

__all__ = ["glmer", "glmer_model", "GlmerModel"]


def _control(control) -> GlmmControl:
    if control is None:
        return GlmmControl()
    if isinstance(control, GlmmControl):
        return control
    if isinstance(control, dict):
        known = set(GlmmControl.__dataclass_fields__)
        unknown = sorted(set(control) - known)
        if unknown:
            raise ArgumentError(f"unknown control option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        return GlmmControl(**control)
    raise ArgumentError(f"control must be a dict of options or a GlmmControl, not {type(control).__name__}")


def _check_nagq(nAGQ, problem: GlmmProblem) -> int:
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= int(nAGQ) <= 100:
        raise ArgumentError(f"nAGQ must be an integer from 0 to 100, not {nAGQ!r}")
    if nAGQ > 1 and not problem.is_scalar_single:
        raise ModelSpecificationError("nAGQ > 1 is only available for models with a single, scalar "
                                      "random-effects term")
    return int(nAGQ)


def glmer(formula: str, data, family="binomial", *, weights=None, offset=None, nAGQ: int = 1, start=None,
          control=None, data_name: str | None = None) -> GeneralizedLinearMixedModel:
    """Fit a generalized linear mixed model by maximum likelihood, as lme4's ``glmer``.

    .. math::

        g(E[y \\mid b]) = \\eta = o + X\\beta + Z b, \\qquad b = \\Lambda_\\theta u, \\qquad u \\sim N(0, I)

    The likelihood integrates over ``u`` by the Laplace approximation
    (``nAGQ = 1``) or adaptive Gauss-Hermite quadrature (``nAGQ > 1``, one
    scalar random-effects term only); the conditional modes come from
    penalized iteratively reweighted least squares. As lme4, theta is first
    optimized with beta inside PIRLS (``nAGQ = 0``), then theta and beta jointly.

    Parameters
    ----------
    formula : str
        lme4 formula. The response may be ``cbind(successes, failures)`` (binomial),
        a 0/1 column or factor (binomial, first level = failure), proportions (with
        ``weights`` = number of trials), counts or positive values. ``offset(expr)``
        terms are added to the linear predictor.
    data : DataFrame
        pandas or polars DataFrame, or a dict of columns.
    family : str
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``, optionally with
        the link in R's syntax (``'Gamma(link = "log")'``, ``"binomial(probit)"``), or a
        ``(family, link)`` pair. Links: logit, probit, cloglog, log, identity, inverse, sqrt.
    weights : str or array_like, optional
        Prior weights (a column name or expression, or one value per row); for binomial
        proportions the number of trials.
    offset : str or array_like, optional
        Offset added to the linear predictor (besides ``offset()`` terms).
    nAGQ : int
        0 (lme4's fast approximation: beta from PIRLS), 1 (Laplace, default) or the
        number of quadrature points (> 1).
    start : array_like or dict, optional
        Starting theta, or ``{"theta": ..., "fixef": ...}``.
    control : dict, optional
        Options of :class:`~multilevel.glmm._fit.GlmmControl` (``tol_pwrss``,
        ``boundary_tol``, ``calc_derivs``, ``maxeval``, ``xtol_abs``, ``ftol_abs``, ``stage1``).
    data_name : str, optional
        Name printed on the summary's ``Data:`` line.

    Returns
    -------
    GeneralizedLinearMixedModel

    Raises
    ------
    DataError
        Response outside the family's support, negative weights, missing columns.
    ArgumentError
        Unknown family or link, bad ``nAGQ`` or ``control``.
    ModelSpecificationError
        ``nAGQ > 1`` with more than one scalar random-effects term; no random effects.

    Warns
    -----
    SingularFitWarning, ConvergenceWarning
    SeparationWarning
        A fixed-effects column separates successes from failures (binomial).

    Examples
    --------
    >>> import multilevel as ml
    >>> cbpp = ml.datasets.load("cbpp")
    >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, "binomial")
    >>> fit.fixef.round(3).to_dict()
    {'(Intercept)': -1.398, 'period2': -0.992, 'period3': -1.128, 'period4': -1.58}
    >>> round(fit.loglik, 3), round(float(fit.theta[0]), 4)
    (-92.027, 0.6421)
    """
    ctrl = _control(control)
    model = glmer_model(formula, data, family, weights=weights, offset=offset, data_name=data_name)
    nagq = _check_nagq(nAGQ, model.problem)
    if model.family.name == "binomial":
        for sep in find_separation(model.frame.X, model.frame.fixed_names, model.response.y,
                                   model.response.weights):
            warnings.warn(sep.message(), SeparationWarning, stacklevel=2)

    with blas_threads(1 if model.problem.q <= 2000 else "auto"):
        est = fit_glmm(model.problem, model.response.mustart, nagq, start=start, control=ctrl)
    for msg in est.messages:
        warnings.warn(msg, SingularFitWarning if msg == SINGULAR_MESSAGE else ConvergenceWarning, stacklevel=2)
    return model.result(est)


@dataclass(frozen=True, eq=False)
class GlmerModel:
    """A GLMM before fitting: the frame, response arrays and numerical problem (internal).

    ``result(estimate)`` makes the fitted-model object from an estimate (of a fit,
    or of :func:`~multilevel.glmm._fit.estimate_at` at given parameters).
    """

    formula: str
    family: object
    frame: object
    response: object
    rows: object
    problem: GlmmProblem
    data_name: str | None
    weights_name: str | None
    offset_name: str | None

    def result(self, est) -> GeneralizedLinearMixedModel:
        return GeneralizedLinearMixedModel(
            formula=self.formula, family=self.family, frame=self.frame, response=self.response,
            row_labels=self.rows, data_name=self.data_name, weights_name=self.weights_name,
            offset_name=self.offset_name, _estimate=est, _problem=self.problem)


def glmer_model(formula: str, data, family="binomial", *, weights=None, offset=None,
                data_name: str | None = None) -> GlmerModel:
    """Formula, data and family become a :class:`GlmerModel` (checks included, no fitting)."""
    fam = make_family(family)
    spec = split_formula(formula)
    frame, response, rows = glmm_frame(spec, data, fam, weights=weights, offset=offset)
    # glmerControl: check.nobs.vs.* = "ignore"
    problem = GlmmProblem(frame.X, response.y, response.weights, response.n_trials, response.offset,
                          tuple(terms_from_frame(frame, check_nobs=False)), fam)
    return GlmerModel(formula, fam, frame, response, rows, problem, data_name,
                      weights if isinstance(weights, str) else None, offset if isinstance(offset, str) else None)
