"""``glmer_nb``: a negative binomial GLMM with the dispersion estimated as lme4's ``glmer.nb``."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from .._exceptions import ArgumentError, ConvergenceWarning, SingularFitWarning
from ..lmm._optimize import SINGULAR_MESSAGE
from ._fit import GlmmEstimate, fit_glmm
from ._glmer import _check_nagq, _control, glmer_model
from ._nb import NegativeBinomialMixedModel, brent_fmin, negative_binomial, theta_ml
from ._pirls import GlmmProblem

__all__ = ["glmer_nb"]


def _with_theta(problem: GlmmProblem, theta: float) -> GlmmProblem:
    return GlmmProblem(problem.X, problem.y, problem.weights, problem.n_trials, problem.offset, problem.terms,
                       negative_binomial(theta))


def _refit(problem: GlmmProblem, mustart, nagq: int, ctrl) -> GlmmEstimate:
    """The GLMM at one theta, fitted afresh (both stages).

    lme4 refits from the previous evaluation's estimates; PIRLS's stopping rule makes
    the Laplace deviance depend on where each fit starts, so a fresh fit at every
    theta gives a deviance that is a function of theta alone, and it lands closer to
    lme4's optimum (glmer.nb's result is a fit at the final theta).
    """
    return fit_glmm(problem, mustart, nagq, control=ctrl)


def glmer_nb(formula: str, data, *, weights=None, offset=None, nAGQ: int = 1, control=None,
             init_theta: float | None = None, tol: float = 5e-5, data_name: str | None = None
             ) -> NegativeBinomialMixedModel:
    """Fit a negative binomial GLMM, estimating the dispersion theta as lme4's ``glmer.nb``.

    .. math::

        y_i \\mid b \\sim \\mathrm{NB}(\\mu_i, \\theta),\\quad \\operatorname{var}(y_i \\mid b) = \\mu_i + \\mu_i^2/\\theta,
        \\qquad \\log \\mu_i = o_i + x_i^\\top\\beta + z_i^\\top b, \\qquad b \\sim N(0, \\Sigma)

    theta is estimated by alternating as lme4 does: a Poisson GLMM gives the starting
    theta (MASS's ``theta.ml`` on its fitted means), then ``-2 logLik`` of the GLMM
    refitted at each theta is minimized over ``log theta`` (R's ``optimize`` on
    ``log theta0 -+ 3`` with tolerance ``tol``).

    Parameters
    ----------
    formula : str
        lme4 formula with a count response, e.g. ``"ticks ~ year + (1 | brood)"``;
        ``offset(expr)`` terms are added to the linear predictor.
    data : DataFrame
        pandas or polars DataFrame, or a dict of columns.
    weights, offset : str or array_like, optional
        Prior weights and an offset (a column name or expression, or one value per row).
    nAGQ : int
        1 (Laplace, default), 0, or quadrature points for one scalar random-effects term.
    control : dict, optional
        Options of the GLMM fits (see :func:`glmer`).
    init_theta : float, optional
        Starting theta (skips the Poisson fit), lme4's ``initCtrl$theta``.
    tol : float
        Tolerance of the search over ``log theta`` (lme4's default 5e-5).
    data_name : str, optional
        Name printed on the summary's ``Data:`` line.

    Returns
    -------
    NegativeBinomialMixedModel

    Raises
    ------
    DataError
        Negative or non-integer counts, negative weights, missing columns.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.glmer_nb("incidence ~ period + offset(log(size)) + (1 | herd)", ml.datasets.load("cbpp"),
    ...                   data_name="cbpp")
    >>> fit.family.name, round(fit.nb_theta, 3), round(fit.loglik, 2)
    ('Negative Binomial(2.282)', 2.282, -87.41)
    """
    ctrl = _control(control)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise ArgumentError(f"tol must be a positive number, not {tol!r}")
    pois = glmer_model(formula, data, "poisson", weights=weights, offset=offset, data_name=data_name)
    nagq = _check_nagq(nAGQ, pois.problem)
    base, y = pois.problem, pois.problem.y
    if init_theta is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, SingularFitWarning))
            est0 = fit_glmm(base, pois.response.mustart, nagq, control=ctrl)
        theta0 = theta_ml(y, est0.state.mu, base.weights, limit=20, eps=2.0 * tol)
    else:
        theta0 = float(init_theta)
        if not theta0 > 0:
            raise ArgumentError(f"init_theta must be positive, not {init_theta!r}")
    mustart = y + (y == 0) / 6.0
    first = _with_theta(base, theta0)
    last = {"problem": first, "est": _refit(first, mustart, nagq, ctrl), "count": 0}

    def nbfun(t: float) -> float:
        problem = _with_theta(base, math.exp(t))
        last.update(problem=problem, est=_refit(problem, mustart, nagq, ctrl), count=last["count"] + 1)
        return last["est"].deviance

    tmin = brent_fmin(nbfun, math.log(theta0) - 3.0, math.log(theta0) + 3.0, tol)
    nbfun(tmin)  # R's optimize ends with the objective at the minimum: lme4 keeps that refit
    return _result(pois, last["problem"], last["est"], math.exp(tmin), mustart, last["count"])


def _result(pois, problem: GlmmProblem, est: GlmmEstimate, theta: float, mustart, count: int):
    for msg in est.messages:
        warnings.warn(msg, SingularFitWarning if msg == SINGULAR_MESSAGE else ConvergenceWarning, stacklevel=3)
    response = dataclasses.replace(pois.response, mustart=np.asarray(mustart, dtype=float))
    return NegativeBinomialMixedModel(
        formula=pois.formula, family=problem.family, frame=pois.frame, response=response, row_labels=pois.rows,
        data_name=pois.data_name, weights_name=pois.weights_name, offset_name=pois.offset_name, _estimate=est,
        _problem=problem, nb_theta=float(theta), nb_evaluations=count)
