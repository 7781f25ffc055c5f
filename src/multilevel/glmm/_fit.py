"""lme4's two-stage optimization of a GLMM deviance (arrays only).

Stage 1 (lme4's ``nAGQ = 0`` step) minimizes the Laplace deviance over theta
with beta found inside PIRLS; stage 2 minimizes the Laplace (``nAGQ = 1``) or
adaptive Gauss-Hermite (``nAGQ > 1``) deviance over theta and beta jointly,
starting from stage 1. Both stages use nlopt's BOBYQA. Every evaluation starts
PIRLS from the linear predictor lme4 starts from (the end of the previous
stage), so the deviance function is lme4's.

At the optimum come lme4's boundary check, the finite-difference gradient and
Hessian (``deriv12``) with lme4's convergence checks, and the Hessian-based
covariance matrix of the fixed effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lmm._optimize import SINGULAR_MESSAGE, check_convergence
from ._batch import pirls_many
from ._pirls import GlmmProblem, PirlsState, gh_rule

__all__ = ["GlmmEstimate", "GlmmControl", "fit_glmm", "estimate_at"]


@dataclass(frozen=True)
class GlmmControl:
    """Options of the fit, lme4's ``glmerControl`` names: ``tol_pwrss`` (PIRLS), ``boundary_tol``,
    ``calc_derivs`` (gradient and Hessian checks, and the Hessian-based vcov), ``maxeval``,
    ``xtol_abs`` and ``ftol_abs`` of the second-stage BOBYQA, ``stage1`` (lme4's ``nAGQ0initStep``)."""

    tol_pwrss: float = 1e-7
    boundary_tol: float = 1e-5
    calc_derivs: bool = True
    maxeval: int = 100_000
    xtol_abs: float = 1e-8
    ftol_abs: float = 1e-10
    stage1: bool = True


@dataclass(frozen=True, eq=False)
class GlmmEstimate:
    """What the fit found: ``theta``, ``beta``, the final PIRLS ``state``, ``deviance``
    (the minimized criterion, ``-2 logLik``), ``vcov`` of beta, optimizer info and
    convergence ``messages``."""

    theta: np.ndarray
    beta: np.ndarray
    state: PirlsState
    deviance: float
    vcov: np.ndarray
    vcov_from_hessian: bool
    nAGQ: int
    feval: int
    optimizer: str
    code: int
    messages: tuple[str, ...]
    is_singular: bool
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None


class _Counter:
    def __init__(self, fn):
        self.fn, self.count = fn, 0

    def __call__(self, x):
        self.count += 1
        return self.fn(np.asarray(x, dtype=float))


def _bobyqa(fn, x0, lower, step, *, xtol_abs, ftol_abs, maxeval):
    """nlopt's BOBYQA from ``x0`` with initial steps ``step``; returns (x, f, code, message)."""
    import nlopt

    n = x0.size
    opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(np.full(n, np.inf))
    best = {"x": x0.copy(), "f": np.inf}

    def objective(x, grad):
        f = float(fn(x))
        if f < best["f"]:
            best["x"], best["f"] = np.array(x), f
        return f

    opt.set_min_objective(objective)
    opt.set_initial_step(step)
    opt.set_xtol_abs(xtol_abs)
    opt.set_ftol_abs(ftol_abs)
    opt.set_maxeval(maxeval)
    try:
        x = opt.optimize(x0)
        status = opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        x, status = best["x"], nlopt.ROUNDOFF_LIMITED
    x = np.asarray(x, dtype=float)
    if not np.array_equal(x, best["x"]):  # nlopt returns the best point it evaluated: no new evaluation
        fx = float(fn(x))
        x, f = (best["x"], best["f"]) if best["f"] <= fx else (x, fx)
    else:
        f = best["f"]
    code = 0 if status > 0 and status != nlopt.MAXEVAL_REACHED else int(status)
    return np.asarray(x, dtype=float), float(f), code


def _snap(fn, x, f, lower, tol):
    """lme4's ``check.boundary``: parameters within ``tol`` of their bound move onto it when no worse."""
    diff = x - lower
    edge = np.flatnonzero(np.isfinite(lower) & (diff > 0) & (diff < tol))
    if not edge.size:
        return x, f
    x = x.copy()
    for i in edge:
        trial = x.copy()
        trial[i] = lower[i]
        if fn(trial) < f:
            x[i] = lower[i]
    return x, float(fn(x))


def _stage1(problem: GlmmProblem, eta0, start, ctrl: GlmmControl, counter_box):
    def dev(theta):
        return problem.pirls(theta, eta0, None, tol=ctrl.tol_pwrss).value

    fn = _Counter(dev)
    counter_box.append(fn)
    x0 = np.asarray(start, dtype=float)
    if np.all(x0 == 0):
        x0 = np.full_like(x0, 0.001)
    rhobeg = 0.2 * max(float(np.max(np.abs(x0))), 1e-3)
    x, f, code = _bobyqa(fn, x0, problem.theta_lower(), np.full(x0.size, rhobeg),
                         xtol_abs=1e-6 * rhobeg, ftol_abs=0.0, maxeval=ctrl.maxeval)
    return x, f, code


def fit_glmm(problem: GlmmProblem, mustart, nAGQ: int = 1, *, start=None, control: GlmmControl | None = None
             ) -> GlmmEstimate:
    """Fit by lme4's two stages; ``start`` is theta, or ``(theta, beta)`` to start stage 2 there."""
    ctrl = control or GlmmControl()
    counters: list = []
    init = problem.pirls(problem.theta_start(), problem.initial_eta(mustart), None, tol=ctrl.tol_pwrss)
    theta_start, beta_start = _split_start(start, problem)
    if ctrl.stage1 or nAGQ == 0 or beta_start is None:
        theta1, f1, code1 = _stage1(problem, init.eta, theta_start, ctrl, counters)
        s1 = problem.pirls(theta1, init.eta, None, tol=ctrl.tol_pwrss)
        if nAGQ == 0:
            return _finish_stage1(problem, theta1, f1, s1, code1, counters, ctrl)
        beta1 = s1.beta if beta_start is None else beta_start
    else:
        theta1, s1, beta1 = theta_start, init, beta_start
    return _stage2(problem, nAGQ, s1, theta1, beta1, ctrl, counters)


def _split_start(start, problem: GlmmProblem):
    if start is None:
        return problem.theta_start(), None
    if isinstance(start, dict):
        theta = start.get("theta")
        beta = start.get("fixef", start.get("beta"))
        return (problem.theta_start() if theta is None else np.asarray(theta, dtype=float),
                None if beta is None else np.asarray(beta, dtype=float))
    return np.asarray(start, dtype=float), None


def _deviance_function(problem: GlmmProblem, nAGQ: int, eta0, ctrl: GlmmControl):
    """lme4's stage-2 deviance of ``(theta, beta)`` and the PIRLS state behind it."""
    nth = problem.num_theta
    rule = gh_rule(nAGQ) if nAGQ > 1 else None

    best = {"x": None, "f": np.inf, "state": None}  # the lowest point evaluated, kept for the final state

    def evaluate(pars) -> PirlsState:
        pars = np.asarray(pars, dtype=float)
        if best["x"] is not None and np.array_equal(pars, best["x"]):
            return best["state"]
        return problem.pirls(pars[:nth], eta0, pars[nth:], tol=ctrl.tol_pwrss)

    def dev(pars):
        state = problem.pirls(pars[:nth], eta0, pars[nth:], tol=ctrl.tol_pwrss)
        f = state.value if rule is None else problem.agq_value(pars[:nth], state, rule)
        if f < best["f"]:
            best.update(x=np.array(pars, dtype=float), f=f, state=state)
        return f

    counter = _Counter(dev)

    def many(_, points):
        """The deviance at many points (the derivative checks), evaluated together."""
        pars = np.asarray(list(points), dtype=float)
        states = pirls_many(problem, pars[:, :nth], eta0, pars[:, nth:], tol=ctrl.tol_pwrss)
        counter.count += len(states)
        return [s.value if rule is None else problem.agq_value(x[:nth], s, rule) for x, s in zip(pars, states)]

    counter.many = many
    return evaluate, counter


def _stage2(problem, nAGQ, s1: PirlsState, theta1, beta1, ctrl, counters) -> GlmmEstimate:
    nth = problem.num_theta
    evaluate, fn = _deviance_function(problem, nAGQ, s1.eta, ctrl)
    counters.append(fn)
    lower = np.concatenate([problem.theta_lower(), np.full(problem.p, -np.inf)])
    x0 = np.concatenate([theta1, beta1])
    unsc = np.linalg.inv(s1.RX.T @ s1.RX) if problem.p else np.zeros((0, 0))
    step = 0.2 * np.concatenate([np.full(nth, 0.1), np.minimum(np.sqrt(np.diag(unsc)), 10.0)])
    x, f, code = _bobyqa(fn, x0, lower, step, xtol_abs=ctrl.xtol_abs, ftol_abs=ctrl.ftol_abs,
                         maxeval=ctrl.maxeval)
    if ctrl.boundary_tol > 0:
        x, f = _snap(fn, x, f, lower, ctrl.boundary_tol)
    return _at_optimum(problem, nAGQ, evaluate, fn, x, f, code, ctrl)


def _at_optimum(problem, nAGQ, evaluate, fn, x, f, code, ctrl, optimizer: str = "bobyqa") -> GlmmEstimate:
    """Convergence checks, Hessian-based vcov and the final PIRLS state at ``x``."""
    nth = problem.num_theta
    lower = np.concatenate([problem.theta_lower(), np.full(problem.p, -np.inf)])
    singular = bool(np.min(x - lower) < 1e-4)
    report = None
    if ctrl.calc_derivs and not singular:
        report = check_convergence(fn, x, f, lower, map_fn=getattr(fn, "many", map))
        messages = report.messages
    else:
        messages = (SINGULAR_MESSAGE,) if _theta_singular(x[:nth], lower[:nth]) else ()
    state = evaluate(x)
    vcov, from_hessian = _vcov(problem, state, report, nth)
    return GlmmEstimate(x[:nth].copy(), x[nth:].copy(), state, f, vcov, from_hessian, nAGQ, fn.count, optimizer,
                        code, _with_code(messages, code), _theta_singular(x[:nth], lower[:nth]),
                        None if report is None else report.gradient, None if report is None else report.hessian)


def estimate_at(problem: GlmmProblem, mustart, nAGQ: int, theta, beta, control: GlmmControl | None = None,
                optimizer: str = "bobyqa") -> GlmmEstimate:
    """The estimate at given ``(theta, beta)`` (e.g. lme4's): stage 1 as in a fit (it fixes where PIRLS
    starts), then the deviance, checks and vcov at that point instead of optimizing. ``optimizer``
    names what found the point (printed in the summary's convergence line)."""
    ctrl = control or GlmmControl()
    init = problem.pirls(problem.theta_start(), problem.initial_eta(mustart), None, tol=ctrl.tol_pwrss)
    if nAGQ == 0:
        theta = np.asarray(theta, dtype=float)
        state = problem.pirls(theta, init.eta, None, tol=ctrl.tol_pwrss)
        return _finish_stage1(problem, theta, state.value, state, 0, [_Counter(None)], ctrl, optimizer)
    theta1, _, _ = _stage1(problem, init.eta, problem.theta_start(), ctrl, [])
    s1 = problem.pirls(theta1, init.eta, None, tol=ctrl.tol_pwrss)
    evaluate, fn = _deviance_function(problem, nAGQ, s1.eta, ctrl)
    x = np.concatenate([np.asarray(theta, dtype=float), np.asarray(beta, dtype=float)])
    return _at_optimum(problem, nAGQ, evaluate, fn, x, float(fn(x)), 0, ctrl, optimizer)


def _theta_singular(theta, lower, tol: float = 1e-4) -> bool:
    return bool(np.any(theta[lower == 0] < tol))


def _with_code(messages, code):
    if code != 0:
        return (f"convergence code {code} from bobyqa",) + tuple(messages)
    return tuple(messages)


def _vcov(problem: GlmmProblem, state: PirlsState, report, nth: int):
    """lme4's ``vcov.merMod``: ``2 H^{-1}`` (beta block) from the finite-difference Hessian when it
    is available and positive definite, else ``sigma^2 (RX' RX)^{-1}``."""
    p = problem.p
    if report is not None and report.hessian is not None and report.hessian.shape[0] > nth:
        try:
            h = np.linalg.solve(report.hessian, np.eye(report.hessian.shape[0]))[nth:, nth:]
            V = h + h.T
            if np.all(np.isfinite(V)) and np.min(np.linalg.eigvalsh(V)) > 0:
                return V, True
        except np.linalg.LinAlgError:
            pass
    R = state.RX
    Rinv = np.linalg.solve(R, np.eye(p)) if p else R
    return Rinv @ Rinv.T, False


def _finish_stage1(problem, theta, f, state: PirlsState, code, counters, ctrl, optimizer: str = "bobyqa"
                   ) -> GlmmEstimate:
    lower = problem.theta_lower()
    singular = _theta_singular(theta, lower)
    messages = _with_code((SINGULAR_MESSAGE,) if singular else (), code)
    R = state.RX
    Rinv = np.linalg.solve(R, np.eye(problem.p)) if problem.p else R
    return GlmmEstimate(theta.copy(), state.beta.copy(), state, f, Rinv @ Rinv.T, False, 0,
                        counters[-1].count, optimizer, code, messages, singular)
