"""Fitting a selection model by maximum likelihood, as metafor 3.8-1's ``selmodel`` does.

The parameters are optimised on metafor's scales (``log tau^2`` and each delta mapped onto
``(delta.min, delta.max)`` by a scaled logistic) with R's BFGS from metafor's start (the ML
estimates of the model without selection, ``log(tau^2 + 0.001)`` and the type's initial
deltas); moderators other than 0/1 dummies are standardised during the optimisation. The
covariance matrix is the inverse of the Richardson Hessian of the negative log-likelihood on
the natural scale of (beta, tau^2, delta). See :mod:`._roptim` for why R's algorithms are
followed step by step.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ..._exceptions import ConvergenceWarning, ModelSpecificationError
from ._roptim import bfgs_steps, hessian_points, r_bfgs, richardson_hessian
from ._selcore import (SelectionData, SelectionSpec, clip_tau2, fitted, loglik, loglik_many, loglik_trial,
                       map_delta, unmap_delta)

__all__ = ["SelectionEstimate", "fit_selection", "Scaling", "scaling"]


@dataclass(frozen=True)
class Scaling:
    """metafor's standardisation of the non-dummy moderators (``mX`` maps scaled to raw coefficients)."""

    X: np.ndarray
    mX: np.ndarray | None

    def scaled(self, beta: np.ndarray) -> np.ndarray:
        """Raw coefficients on the scale of the standardised design, as metafor maps its start
        (``solve(mX) %*% beta``: the triangular solve's inverse, then the product column by column)."""
        if self.mX is None:
            return beta
        inverse = np.eye(self.mX.shape[0])
        for j in range(1, inverse.shape[0]):
            inverse[j, j] = 1.0 / self.mX[j, j]
            inverse[0, j] = 0.0 - inverse[j, j] * self.mX[0, j]
        return fitted(inverse, beta)


_LD = np.longdouble  # R sums in long double (80-bit on x86-64)


def _r_mean(x: np.ndarray) -> float:
    """R's ``mean``/``colMeans``: the sum in long double, in order, divided in long double."""
    return float(np.cumsum(x.astype(_LD))[-1] / _LD(x.size))


def _r_sd(x: np.ndarray) -> float:
    """R's ``sd``: the mean with one correction pass, then the squares summed in long double."""
    n = _LD(x.size)
    mean = np.cumsum(x.astype(_LD))[-1] / n
    mean = float(mean + np.cumsum(x.astype(_LD) - mean)[-1] / n)
    d = x - mean
    return math.sqrt(float(np.cumsum((d * d).astype(_LD))[-1] / (n - 1)))


def _r_scale(x: np.ndarray) -> np.ndarray:
    """R's ``scale``: centred at :func:`_r_mean`, divided by the root of the summed squares over n - 1."""
    d = x - _r_mean(x)
    return d / math.sqrt(float(np.cumsum((d * d).astype(_LD))[-1]) / max(1, x.size - 1))


def scaling(X: np.ndarray, int_only: bool, has_intercept: bool) -> Scaling:
    """Standardise the columns of ``X`` that are not 0/1 dummies (models with an intercept only),
    with R's ``colMeans``, ``sd`` and ``scale`` to the last bit: the likelihood's Hessian is
    taken with steps small enough to show last-bit differences of the design."""
    if int_only or not has_intercept:
        return Scaling(X, None)
    p = X.shape[1]
    is_dummy = np.array([np.all((X[:, j] == 0) | (X[:, j] == 1)) for j in range(p)])
    mean = np.array([_r_mean(X[:, j]) for j in range(1, p)])
    sd = np.array([_r_sd(X[:, j]) for j in range(1, p)])
    mX = np.zeros((p, p))
    mX[0, 0] = 1.0
    mX[0, 1:] = -np.where(is_dummy[1:], 0.0, mean / sd)
    mX[1:, 1:] = np.diag(np.where(is_dummy[1:], 1.0, 1.0 / sd))
    Xs = X.copy()
    for j in np.flatnonzero(~is_dummy):
        Xs[:, j] = _r_scale(X[:, j])
    return Scaling(Xs, mX)


@dataclass(frozen=True)
class SelectionEstimate:
    """Estimates on the scale of the (possibly standardised) design, and the Hessian."""

    beta: np.ndarray
    tau2: float
    delta: np.ndarray
    ll: float
    hessian: np.ndarray | None
    cov: np.ndarray | None     # inverse Hessian over the estimated parameters (hest), or None
    hest: np.ndarray
    ll_tau2_zero: float        # maximum with tau^2 = 0 (NaN when tau^2 is not estimated)


class _Objective:
    """Negative log-likelihood on metafor's optimisation scale, with parts held fixed."""

    def __init__(self, data: SelectionData, spec: SelectionSpec, p: int, tau2_fixed: float | None,
                 delta_fixed: np.ndarray):
        self.data, self.spec, self.p = data, spec, p
        self.tau2_fixed, self.delta_fixed = tau2_fixed, delta_fixed
        self.memo: dict[bytes, float] = {}  # minus the log-likelihood of each parameter set computed

    def parts(self, par: np.ndarray, transformed: bool = True) -> tuple[np.ndarray, float, np.ndarray]:
        p = self.p
        beta = par[:p]
        tau2 = math.exp(par[p]) if transformed else float(par[p])
        if self.tau2_fixed is not None:
            tau2 = self.tau2_fixed
        tau2 = clip_tau2(tau2)
        delta = par[p + 1:]
        if transformed:
            delta = map_delta(delta, self.spec.dmin, self.spec.dmax)
        delta = np.where(np.isnan(self.delta_fixed), delta, self.delta_fixed)
        return beta, tau2, delta

    def _key(self, parts: tuple[np.ndarray, float, np.ndarray]) -> bytes:
        beta, tau2, delta = parts
        return np.concatenate([beta, [tau2], delta]).tobytes()

    def _value(self, parts: tuple[np.ndarray, float, np.ndarray]) -> float:
        key = self._key(parts)
        if key not in self.memo:
            self.memo[key] = -loglik(self.data, *parts)
        return self.memo[key]

    def __call__(self, par: np.ndarray) -> float:
        return self._value(self.parts(par))

    def many(self, pars: np.ndarray, transformed: bool = True) -> np.ndarray:
        """Values at the rows of ``pars``. A parameter set met before (the tau^2 steps of a
        gradient with tau^2 fixed, the optimum again for the Hessian) is looked up, not
        recomputed: every path computes a set's likelihood to the same bits."""
        rows = [self.parts(par, transformed) for par in pars]
        keys = [self._key(row) for row in rows]
        todo = list({key: j for j, key in enumerate(keys) if key not in self.memo}.values())
        if todo:
            betas = np.vstack([rows[j][0] for j in todo])
            values = -loglik_many(self.data, betas, np.array([rows[j][1] for j in todo]),
                                  np.vstack([rows[j][2] for j in todo]))
            self.memo.update(zip((keys[j] for j in todo), values.tolist()))
        return np.array([self.memo[key] for key in keys])

    def trial(self, pars: np.ndarray, transformed: bool = True) -> list[float | FloatingPointError]:
        """Values at the rows of ``pars``, or for a row whose integrals fail the error that
        ``self(row)`` would raise."""
        return _evaluate_together([(self, pars, transformed)])[0]

    def pending(self, pars: np.ndarray, transformed: bool) -> tuple[list[bytes], list[tuple]]:
        """The keys of the rows of ``pars`` and the parameter sets among them not computed yet."""
        rows = [self.parts(par, transformed) for par in pars]
        keys = [self._key(row) for row in rows]
        todo = {key: row for key, row in zip(keys, rows) if key not in self.memo}
        return keys, list(todo.items())

    def natural_many(self, thetas: np.ndarray) -> np.ndarray:
        return self.many(thetas, transformed=False)

    def natural(self, theta: np.ndarray) -> float:
        return self._value(self.parts(theta, transformed=False))


def _evaluate_together(requests: list[tuple[_Objective, np.ndarray, bool]]) -> list[list]:
    """Values (or the errors of failed integrals) of several objectives' rows, all the parameter
    sets not computed yet in one batch of integrals. The objectives share their data but for the
    design, whose fitted values are computed per objective."""
    todo, blocks = [], []
    for objective, pars, transformed in requests:
        keys, sets = objective.pending(pars, transformed)
        todo.append(keys)
        blocks.append((objective, sets))
    sets = [(objective, key, parts) for objective, block in blocks for key, parts in block]
    errors = {}
    if sets:
        data = requests[0][0].data
        betas = np.vstack([parts[0] for _, _, parts in sets])
        yhat = np.vstack([fitted(objective.data.X, np.vstack([parts[0] for _, parts in block]))
                          for objective, block in blocks if block])
        outcomes = loglik_trial(data, betas, np.array([parts[1] for _, _, parts in sets]),
                                np.vstack([parts[2] for _, _, parts in sets]), yhat=yhat)
        for (objective, key, _), outcome in zip(sets, outcomes):
            if isinstance(outcome, Exception):
                errors[id(objective), key] = outcome
            else:
                objective.memo[key] = -outcome
    return [[errors.get((id(objective), key)) or objective.memo[key] for key in keys]
            for (objective, _, _), keys in zip(requests, todo)]


def _side_by_side(jobs: list[tuple[Generator, _Objective]]) -> list:
    """Run the minimisations of :func:`._roptim.bfgs_steps` (or jobs that yield as they do)
    together: each round, what all of them ask for is evaluated in one batch. Returns each
    job's result, or the FloatingPointError it raised."""
    results: list = [None] * len(jobs)
    requests: dict[int, tuple[str, np.ndarray]] = {}

    def advance(j: int, answer=None, error: Exception | None = None) -> None:
        gen = jobs[j][0]
        try:
            requests[j] = gen.throw(error) if error is not None else gen.send(answer)
        except StopIteration as stop:
            results[j] = stop.value
            requests.pop(j, None)
        except FloatingPointError as exc:
            results[j] = exc
            requests.pop(j, None)

    for j in range(len(jobs)):
        advance(j)
    while requests:
        order = list(requests)
        asked = [(jobs[j][1], np.atleast_2d(requests[j][1]), requests[j][0] != "prefetch") for j in order]
        outcomes = _evaluate_together(asked)
        for j, out in zip(order, outcomes):
            kind = requests[j][0]
            error = next((o for o in out if isinstance(o, Exception)), None)
            if kind == "trial":
                advance(j, out)
            elif kind == "prefetch":
                advance(j)
            elif error is not None:
                advance(j, error=error)
            else:
                advance(j, out[0] if kind == "one" else np.array(out))
    return results


def _fit_job(objective: _Objective, start: np.ndarray, hessian: bool) -> Generator:
    """BFGS from ``start``; then, with ``hessian``, the points of the Hessian at the optimum
    (natural scale) are asked for, so that they are computed with the other job's last steps."""
    res = yield from bfgs_steps(start, batched=True, trials=True)
    if hessian and res.converged:
        beta, tau2, delta = objective.parts(res.par)
        yield "prefetch", hessian_points(np.concatenate([beta, [tau2], delta]), r=6)
    return res


def _start(spec: SelectionSpec, beta0: np.ndarray, tau2_0: float, delta_fixed: np.ndarray) -> np.ndarray:
    init = np.where(np.isnan(delta_fixed), spec.init, delta_fixed)
    return np.concatenate([beta0, [math.log(tau2_0 + 0.001)], unmap_delta(init, spec.dmin, spec.dmax)])


def _optimise(objective: _Objective, start: np.ndarray, zero: _Objective | None) -> tuple[np.ndarray, object]:
    """BFGS for the model and, alongside (``zero``, the fit with tau^2 = 0, from the same start),
    each round's points evaluated together. Returns the estimates and the other fit's result
    (or its FloatingPointError, or None)."""
    jobs = [(_fit_job(objective, start, hessian=True), objective)]
    if zero is not None:
        jobs.append((_fit_job(zero, start, hessian=False), zero))
    res, *other = _side_by_side(jobs)
    if isinstance(res, FloatingPointError):
        raise ModelSpecificationError(f"the selection model could not be fitted: {res}") from None
    if not res.converged:
        raise ModelSpecificationError("the optimizer (BFGS) did not converge in 100 iterations; the selection "
                                      "model may not be identified by these data")
    return res.par, other[0] if other else None


def _inverse(H: np.ndarray, hest: np.ndarray) -> np.ndarray | None:
    sub = H[np.ix_(hest, hest)]
    try:
        L = np.linalg.cholesky(sub)
    except np.linalg.LinAlgError:
        return None
    inv = np.linalg.inv(L)
    cov = inv.T @ inv
    return cov if np.all(np.isfinite(cov)) else None


def fit_selection(data: SelectionData, spec: SelectionSpec, beta0: np.ndarray, tau2_0: float, *,
                  tau2_fixed: float | None, delta_fixed: np.ndarray, raw_X: np.ndarray | None = None
                  ) -> SelectionEstimate:
    """Maximum-likelihood fit, Hessian, and the fit with tau^2 = 0 for the heterogeneity LRT.

    As in metafor, the fit with tau^2 = 0 starts from the same values but uses the moderators
    as given (``raw_X``), not standardised. The two fits do not depend on each other, so they
    run side by side, their likelihoods computed in shared batches (each step as R's BFGS takes
    it), and the Hessian's points are computed with the last steps of the second fit.
    """
    p = beta0.size
    start = _start(spec, beta0, tau2_0, delta_fixed)
    objective = _Objective(data, spec, p, tau2_fixed, delta_fixed)
    zero = None
    if tau2_fixed is None:
        zero_data = data if raw_X is None else dataclasses.replace(data, X=raw_X)
        zero = _Objective(zero_data, spec, p, 0.0, delta_fixed)
    par, res0 = _optimise(objective, start, zero)
    beta, tau2, delta = objective.parts(par)
    ll = -objective.natural(np.concatenate([beta, [tau2], delta]))
    _warn_bounds(delta, spec)
    hest = np.concatenate([np.ones(p, bool), [tau2_fixed is None], np.isnan(delta_fixed)])
    theta = np.concatenate([beta, [tau2], delta])
    try:
        H = richardson_hessian(objective.natural, theta, r=6, fn_many=objective.natural_many)
    except FloatingPointError:
        H = None
    cov = None if H is None else _inverse(H, hest)
    if cov is None:
        warnings.warn("the Hessian could not be inverted; standard errors are missing", ConvergenceWarning,
                      stacklevel=4)
    ll0 = float("nan")
    if zero is not None and not isinstance(res0, FloatingPointError):
        try:
            ll0 = -zero(res0.par)
        except FloatingPointError:
            pass
    return SelectionEstimate(beta, tau2, delta, ll, H, cov, hest, ll0)


def _warn_bounds(delta: np.ndarray, spec: SelectionSpec) -> None:
    tol = np.finfo(float).eps ** 0.25
    if np.any(delta <= spec.dmin + tol) or np.any(delta >= spec.dmax - 100 * tol):
        warnings.warn("one or more delta estimates are (almost) equal to their lower or upper bound; "
                      "treat the results with caution", ConvergenceWarning, stacklevel=4)
