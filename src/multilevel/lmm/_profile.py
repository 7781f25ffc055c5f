"""Profile-likelihood confidence intervals for linear mixed models (lme4's ``confint(method = "profile")``).

As lme4, the profile is built on the maximum-likelihood deviance (REML fits
are refitted by ML first) in the standard-deviation / correlation scale:
the parameters are, per random-effects term, the standard deviations and
correlations of the random effects, then the residual standard deviation
``sigma``, then the fixed effects. For a parameter ``psi`` fixed at ``x`` the
deviance is minimized over all the others and

.. math::

    \\zeta(x) = \\operatorname{sign}(x - \\hat\\psi)\\sqrt{\\tilde d(x) - \\hat d}

is the signed square root of the increase. The interval at level ``1 - a``
is where ``zeta`` crosses the normal quantiles ``-/+ z_{1 - a/2}``: here the
crossings are found by root finding on ``zeta`` itself (lme4 interpolates a
spline through a grid of ``zeta`` values; both target the same points).
Where ``zeta`` never reaches the quantile before a bound (a standard
deviation of 0, a correlation of -1 or 1) the bound is the limit, as lme4.

A fixed effect ``beta_j`` is profiled by moving its column to the offset
and optimizing the ML deviance over theta (sigma and the other fixed effects
profiled out).

Arrays only: functions take a :class:`~multilevel.lmm._pls.PLSProblem`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy  # scipy.optimize and scipy.stats load on first use (they are slow to import)

from .._exceptions import ModelSpecificationError
from .._protocol import confint_frame, parse_level
from ._bootstrap import bootstrap_parameters, percentile_intervals
from ._optimize import NloptBobyqa, optimize_theta
from ._pls import PLSProblem, theta_template_indices
from ._pool import process_pool
from ._sdcor import sdcor_from_theta, theta_from_sdcor

__all__ = ["pls_pieces", "sdcor_from_theta", "theta_from_sdcor", "ProfileSetup", "profile_setup", "zeta_function",
           "profile_interval", "profile_grid", "parameter_names"]

_LOG2PI = float(np.log(2.0 * np.pi))


def parameter_names(ks: list[int], fixed_names: list[str]) -> list[str]:
    """lme4's ``oldNames``: ``.sig01``, ``.sig02``, ..., ``.sigma``, then the fixed effects."""
    m = sum(k * (k + 1) // 2 for k in ks)
    return [f".sig{i + 1:02d}" for i in range(m)] + [".sigma"] + list(fixed_names)


@dataclass(frozen=True, eq=False)
class ProfileSetup:
    """ML optimum of a model, the starting point of every profile."""

    problem: PLSProblem
    ks: tuple[int, ...]
    theta: np.ndarray
    sigma: float
    beta: np.ndarray
    base: float
    stderr: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def num_varpar(self) -> int:
        return self.lower.size

    @property
    def optimum(self) -> np.ndarray:
        return np.concatenate([sdcor_from_theta(self.theta, list(self.ks), self.sigma), [self.sigma], self.beta])


def profile_setup(problem: PLSProblem, ks: list[int], theta_start: np.ndarray, optimizer=None) -> ProfileSetup:
    """Refit by maximum likelihood (starting at ``theta_start``) and record what profiling needs."""
    opt = optimizer or NloptBobyqa()
    res = optimize_theta(problem.objective(False), theta_start, problem.lower, opt)
    sol = problem.solve(res.x)
    rxi = np.linalg.inv(np.triu(sol.RX))
    stderr = sol.sigma_ml * np.sqrt(np.sum(rxi**2, axis=1))
    lower, upper = [], []
    for k in ks:
        r, c = theta_template_indices(k)
        lower += [0.0 if a == b else -1.0 for a, b in zip(r, c)]
        upper += [np.inf if a == b else 1.0 for a, b in zip(r, c)]
    return ProfileSetup(problem, tuple(ks), res.x, sol.sigma_ml, sol.beta, float(res.fun), stderr,
                        np.array(lower + [0.0]), np.array(upper + [np.inf]))


def pls_pieces(problem: PLSProblem, theta: np.ndarray) -> tuple[float, float, float] | None:
    """``(log|L|^2, log|R_X|^2, penalized RSS)`` at ``theta`` from the Cholesky factor alone (no solve).

    Uses the problem's factorization (its internal ``_factor``, the same one ``deviance`` uses);
    None when the system is not positive definite.
    """
    theta = np.asarray(theta, dtype=float)
    try:
        _, logdet1, *_, U, info = problem._factor(theta)
        U = np.asarray(U)
        if U.shape != (problem.r, problem.r):
            raise ValueError("unexpected factor layout")
    except (AttributeError, TypeError, ValueError):  # no usable factor: take the pieces from the solution
        try:
            sol = problem.solve(theta)
        except np.linalg.LinAlgError:
            return None
        return sol.logdet_L, sol.logdet_RX, sol.pwrss
    if info != 0:
        return None
    diag = np.diagonal(U)
    qr, p = problem.q_rest, problem.p
    return (logdet1 + 2.0 * float(np.log(diag[:qr]).sum()), 2.0 * float(np.log(diag[qr:qr + p]).sum()),
            float(diag[-1]) ** 2)


def _varpar_deviance(setup: ProfileSetup, pars: np.ndarray) -> float:
    """ML deviance at (sd/cor..., sigma), beta profiled (lme4's ``devfun2``)."""
    sigma = pars[-1]
    if sigma <= 0:
        return np.inf
    theta = theta_from_sdcor(pars[:-1], list(setup.ks), sigma)
    if theta is None:
        return np.inf
    pieces = pls_pieces(setup.problem, theta)
    if pieces is None:
        return np.inf
    logdet, _, pwrss = pieces
    s2 = sigma * sigma
    return float(logdet + pwrss / s2 + setup.problem.n * (_LOG2PI + np.log(s2)))


def _minimize(fn, x0, lower, upper) -> tuple[float, np.ndarray]:
    if x0.size == 0:
        return float(fn(x0)), x0
    x0 = np.clip(x0, lower, upper)
    res = NloptBobyqa(xtol_abs=1e-10, ftol_abs=1e-12).minimize(fn, x0, lower, upper)
    return res.fun, res.x


def zeta_function(setup: ProfileSetup, which: int):
    """``x -> zeta(x)`` for parameter ``which`` (index into :attr:`ProfileSetup.optimum`)."""
    nvp = setup.num_varpar
    opt = setup.optimum
    if which < nvp:
        others = np.delete(np.arange(nvp), which)
        start = {"x": opt[others]}

        def zeta(x: float) -> float:
            def fn(rest):
                pars = np.empty(nvp)
                pars[which] = x
                pars[others] = rest
                return _varpar_deviance(setup, pars)

            fval, xbest = _minimize(fn, start["x"], setup.lower[others], setup.upper[others])
            if np.isfinite(fval):
                start["x"] = xbest
            return float(np.sign(x - opt[which]) * np.sqrt(max(0.0, fval - setup.base)))

        return zeta
    j = which - nvp
    X = setup.problem.X
    dropped = PLSProblem(np.delete(X, j, axis=1), setup.problem.y, setup.problem.terms)
    est = opt[which]

    def zeta_fixed(x: float) -> float:
        prob = dropped.with_response(setup.problem.y - x * X[:, j])
        res = optimize_theta(prob.objective(False), setup.theta, prob.lower, NloptBobyqa(), boundary_tol=0)
        return float(np.sign(x - est) * np.sqrt(max(0.0, res.fun - setup.base)))

    return zeta_fixed


def _initial_step(setup: ProfileSetup, which: int) -> float:
    opt = setup.optimum
    if which >= setup.num_varpar:
        return float(setup.stderr[which - setup.num_varpar])
    v = abs(opt[which])
    is_cor = setup.upper[which] == 1.0
    return 0.1 if is_cor else max(0.2 * v, 1e-3 * max(setup.sigma, 1e-8))


def profile_interval(setup: ProfileSetup, which: int, level: float = 0.95, zeta=None) -> tuple[float, float]:
    """Lower and upper limits where ``zeta`` crosses the normal quantiles of ``level``."""
    z = float(scipy.stats.norm.ppf(0.5 + level / 2))
    zeta = zeta or zeta_function(setup, which)
    return (_crossing(setup, which, zeta, -1, z), _crossing(setup, which, zeta, +1, z))


def _crossing(setup: ProfileSetup, which: int, zeta, direction: int, z: float) -> float:
    est = setup.optimum[which]
    if which >= setup.num_varpar:
        bound = direction * np.inf
    else:
        bound = setup.upper[which] if direction > 0 else setup.lower[which]
    step = _initial_step(setup, which)
    inner, outer = est, est
    target = direction * z
    for _ in range(60):
        outer = inner + direction * step
        if (direction > 0 and outer >= bound) or (direction < 0 and outer <= bound):
            outer = bound
            if abs(zeta(outer)) < z:
                return float(bound)
        if abs(zeta(outer)) >= z:
            break
        inner, step = outer, step * 1.6
    else:
        return float("nan")
    return float(scipy.optimize.brentq(lambda x: zeta(x) - target, inner, outer, xtol=1e-10, rtol=1e-10))


def profile_grid(setup: ProfileSetup, which: int, *, num: int = 15, zmax: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """``(values, zeta)`` on a grid spanning the interval where ``|zeta| <= zmax`` (for profile plots)."""
    zeta = zeta_function(setup, which)
    level = 2 * scipy.stats.norm.cdf(zmax) - 1
    lo, hi = profile_interval(setup, which, level, zeta)
    est = setup.optimum[which]
    lo = lo if np.isfinite(lo) else est - 3 * abs(est - hi)
    hi = hi if np.isfinite(hi) else est + 3 * abs(est - lo)
    xs = np.unique(np.concatenate([np.linspace(lo, est, num // 2 + 1), np.linspace(est, hi, num // 2 + 1)]))
    return xs, np.array([zeta(x) if x != est else 0.0 for x in xs])


# --------------------------------------------------------------------------- fit-level entry point
def _profile_one(setup: ProfileSetup, which: int, level: float) -> tuple[float, float]:
    return profile_interval(setup, which, level)


def fit_setup(fit) -> ProfileSetup:
    """ML optimum of a fit (REML fits are refitted by ML, as lme4's ``profile``)."""
    return profile_setup(fit._problem, [b.num_columns for b in fit.frame.blocks], fit.theta)


def fit_confint(fit, method: str = "profile", level: float = 0.95, *, nsim: int = 500, seed=None,
                parallel: bool = True, progress: bool = True):
    """:meth:`LinearMixedModel.confint`."""

    level = parse_level(level)
    ks = [b.num_columns for b in fit.frame.blocks]
    names = parameter_names(ks, list(fit.frame.fixed_names))
    kind = str(method).lower()
    if kind == "wald":
        z = scipy.stats.norm.ppf(0.5 + level / 2)
        beta, se = fit.fixef.to_numpy(), np.sqrt(np.diag(fit.vcov().to_numpy()))
        nvp = len(names) - beta.size
        values = np.vstack([np.full((nvp, 2), np.nan), np.column_stack([beta - z * se, beta + z * se])])
    elif kind == "profile":
        setup = fit_setup(fit)
        values = _map_parameters(setup, len(names), level, parallel, progress)
    elif kind in ("boot", "bootstrap"):
        reps = bootstrap_parameters(fit._problem, ks, fit.theta, fit.fixef.to_numpy(), fit.sigma, fit.REML,
                                    nsim=int(nsim), seed=seed, parallel=parallel, progress=progress)
        values = percentile_intervals(reps, level)
    else:
        raise ModelSpecificationError(f"method must be 'profile', 'Wald' or 'boot', not {method!r}")
    vp_names, vp_values = fit._varpar()
    estimates = np.concatenate([vp_values, fit.fixef.to_numpy()])
    kinds = ["random"] * len(vp_names) + ["fixed"] * (len(names) - len(vp_names))
    return confint_frame(names, kinds, estimates, values[:, 0], values[:, 1], level=level, method=kind)


def _map_parameters(setup: ProfileSetup, num: int, level: float, parallel: bool, progress: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    bar = tqdm(total=num, desc="profile", unit="parameter", disable=not progress, leave=False)
    results: list = [None] * num
    try:
        if parallel and num > 1:
            from concurrent.futures import as_completed

            with process_pool(2) as pool:
                futures = {pool.submit(_profile_one, setup, i, level): i for i in range(num)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)
        else:
            for i in range(num):
                results[i] = _profile_one(setup, i, level)
                bar.update(1)
    finally:
        bar.close()
    return np.array(results, dtype=float)
