"""Optimizers for the profiled deviance, behind one small seam.

An optimizer is any object with a ``name`` and a method
``minimize(fn, x0, lower, upper) -> OptimizerResult``. :func:`get_optimizer`
turns the user's ``optimizer=`` argument (a name or such an object) into one.
The default is nlopt's BOBYQA with the tolerances of lme4's ``nloptwrap``
(``xtol_abs = ftol_abs = 1e-8``, ``maxeval = 1e5``).

:func:`optimize_theta` adds lme4's boundary handling (restart from an edge
when the deviance decreases off the boundary, snap to the boundary when it is
within ``boundary_tol`` and no worse) and :func:`check_convergence` lme4's
checks at the optimum: singular fit (a diagonal theta below ``1e-4``), the
scaled gradient (``|H^{-1} g|`` and ``|g|`` against ``2e-3``) and the Hessian
(positive definite), with finite differences as lme4's ``deriv12``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
from .._exceptions import ModelSpecificationError

__all__ = ["OptimizerResult", "Optimizer", "NloptBobyqa", "ScipyOptimizer", "get_optimizer",
           "optimize_theta", "check_convergence", "ConvergenceReport", "finite_derivatives",
           "newton_step", "polish", "rescaled_restart"]


@dataclass(frozen=True)
class OptimizerResult:
    """Outcome of one optimizer run: ``x``, ``fun``, ``feval``, ``code`` (0 = success, lme4's codes)."""

    x: np.ndarray
    fun: float
    feval: int
    code: int
    message: str
    optimizer: str


class Optimizer(Protocol):
    name: str

    def minimize(self, fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray) -> OptimizerResult: ...


class _Counted:
    """Wraps ``fn``: counts evaluations and remembers the best point (for optimizers that raise)."""

    def __init__(self, fn):
        self.fn, self.count, self.best_x, self.best_f = fn, 0, None, np.inf

    def __call__(self, x, *args):
        f = float(self.fn(np.asarray(x, dtype=float)))
        self.count += 1
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=float)
        return f


@dataclass(frozen=True)
class NloptBobyqa:
    """nlopt's ``LN_BOBYQA`` with lme4's ``nloptwrap`` defaults."""

    xtol_abs: float = 1e-8
    ftol_abs: float = 1e-8
    maxeval: int = 100_000
    name: str = "nloptwrap"
    initial_step: float | None = None  # nlopt's default (a fraction of the start) when None

    def minimize(self, fn, x0, lower, upper) -> OptimizerResult:
        import nlopt

        counted = _Counted(fn)
        opt = nlopt.opt(nlopt.LN_BOBYQA, x0.size)
        opt.set_lower_bounds(np.asarray(lower, dtype=float))
        opt.set_upper_bounds(np.asarray(upper, dtype=float))
        opt.set_min_objective(lambda x, grad: counted(x))
        opt.set_xtol_abs(self.xtol_abs)
        opt.set_ftol_abs(self.ftol_abs)
        opt.set_maxeval(self.maxeval)
        if self.initial_step is not None:
            opt.set_initial_step(self.initial_step)
        try:
            x = opt.optimize(np.asarray(x0, dtype=float))
            status = opt.last_optimize_result()
            fval = opt.last_optimum_value()
        except nlopt.RoundoffLimited:
            x, fval, status = counted.best_x, counted.best_f, nlopt.ROUNDOFF_LIMITED
        code = status if (status < 0 or status == nlopt.MAXEVAL_REACHED) else 0
        return OptimizerResult(np.asarray(x, dtype=float), float(fval), counted.count, int(code),
                               _NLOPT_MESSAGES.get(status, str(status)), self.name)


_NLOPT_MESSAGES = {
    1: "NLOPT_SUCCESS: Generic success return value.",
    2: "NLOPT_STOPVAL_REACHED: Optimization stopped because stopval (above) was reached.",
    3: "NLOPT_FTOL_REACHED: Optimization stopped because ftol_rel or ftol_abs (above) was reached.",
    4: "NLOPT_XTOL_REACHED: Optimization stopped because xtol_rel or xtol_abs (above) was reached.",
    5: "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval (above) was reached.",
    -1: "NLOPT_FAILURE: Generic failure code.",
    -3: "NLOPT_OUT_OF_MEMORY: Ran out of memory.",
    -4: "NLOPT_ROUNDOFF_LIMITED: Roundoff errors led to a breakdown of the optimization algorithm.",
}


@dataclass(frozen=True)
class ScipyOptimizer:
    """A ``scipy.optimize.minimize`` method with bounds (``"L-BFGS-B"``, ``"Nelder-Mead"``, ``"Powell"``)."""

    method: str = "L-BFGS-B"
    options: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.method

    def minimize(self, fn, x0, lower, upper) -> OptimizerResult:
        from scipy.optimize import Bounds, minimize

        counted = _Counted(fn)
        res = minimize(counted, np.asarray(x0, dtype=float), method=self.method,
                       bounds=Bounds(lower, upper), options=dict(self.options))
        x, f = (res.x, res.fun) if res.fun <= counted.best_f else (counted.best_x, counted.best_f)
        return OptimizerResult(np.asarray(x, dtype=float), float(f), counted.count,
                               0 if res.success else 1, str(res.message), self.method)


_NAMES = {
    "nloptwrap": NloptBobyqa, "bobyqa": NloptBobyqa,
    "l-bfgs-b": lambda: ScipyOptimizer("L-BFGS-B"), "lbfgsb": lambda: ScipyOptimizer("L-BFGS-B"),
    "nelder-mead": lambda: ScipyOptimizer("Nelder-Mead", {"xatol": 1e-8, "fatol": 1e-10, "maxfev": 100_000}),
    "nelder_mead": lambda: ScipyOptimizer("Nelder-Mead", {"xatol": 1e-8, "fatol": 1e-10, "maxfev": 100_000}),
    "powell": lambda: ScipyOptimizer("Powell"),
}


def get_optimizer(spec) -> Optimizer:
    """An optimizer from a name (``"bobyqa"``/``"nloptwrap"``, ``"L-BFGS-B"``, ``"Nelder-Mead"``,
    ``"Powell"``) or an object with ``name`` and ``minimize``."""
    if isinstance(spec, str):
        key = spec.lower()
        if key not in _NAMES:
            raise ModelSpecificationError(
                f"unknown optimizer {spec!r}; use one of 'bobyqa', 'L-BFGS-B', 'Nelder-Mead', 'Powell' "
                "or an object with a minimize(fn, x0, lower, upper) method")
        return _NAMES[key]()
    if not hasattr(spec, "minimize"):
        raise ModelSpecificationError("optimizer must be a name or an object with a minimize() method")
    return spec


def optimize_theta(fn, x0, lower, optimizer: Optimizer, *, restart_edge: bool = True,
                   boundary_tol: float = 1e-5) -> OptimizerResult:
    """Minimize ``fn`` over theta >= lower with lme4's boundary handling (``optimizeLmer``)."""
    lower = np.asarray(lower, dtype=float)
    upper = np.full_like(lower, np.inf)
    res = optimizer.minimize(fn, np.asarray(x0, dtype=float), lower, upper)
    if restart_edge:
        on_bound = np.flatnonzero(res.x == lower)
        if on_bound.size:
            d0 = fn(res.x)
            grads = []
            for i in on_bound:
                th = res.x.copy()
                th[i] = lower[i] + 1e-5
                grads.append((fn(th) - d0) / 1e-5)
            if np.any(np.asarray(grads) < 0):
                again = optimizer.minimize(fn, res.x, lower, upper)
                res = OptimizerResult(again.x, again.fun, again.feval + res.feval, again.code,
                                      again.message, again.optimizer)
    if boundary_tol > 0:
        res = _snap_to_boundary(fn, res, lower, boundary_tol)
    return res


def _snap_to_boundary(fn, res, lower, tol):
    """lme4's ``check.boundary``: put theta on the bound when it is within ``tol`` and no worse."""
    diff = res.x - lower
    edge = np.flatnonzero((diff > 0) & (diff < tol))
    if not edge.size:
        return res
    x = res.x.copy()
    for i in edge:
        trial = x.copy()
        trial[i] = lower[i]
        if fn(trial) < res.fun:
            x[i] = lower[i]
    fval = fn(x)
    return OptimizerResult(x, float(fval), res.feval, res.code, res.message, res.optimizer)


# ------------------------------------------------------------------ beyond lme4's stopping point
# BOBYQA stops when a step changes the criterion by less than ftol_abs = 1e-8. On flat surfaces
# (singular fits, nearly unidentified components) that leaves theta 1e-5..1e-4 from the optimum,
# and lme4's own stopping point is as far. The steps below start from that point and are kept
# only when they lower the criterion, so the fit never ends worse than the optimizer's own result.

POLISH = NloptBobyqa(xtol_abs=1e-10, ftol_abs=1e-12, initial_step=1e-3, name="bobyqa polish")


def newton_step(fn, res: OptimizerResult, gradient, hessian, lower, *,
                min_decrease: float = 1e-8) -> OptimizerResult | None:
    """``x - H^{-1} g`` from the convergence check's finite differences, clipped to the bounds.

    Taken only where the surface is flat enough that the optimizer stopped short: the
    decrease the quadratic model predicts, ``g'H^{-1}g / 2``, is above ``min_decrease``
    (BOBYQA's ``ftol_abs``). Elsewhere the optimizer's point is kept as it is, so that fits
    that reach lme4's optimum print lme4's numbers. Costs one evaluation (the result's
    ``feval``). Returned only if it lowers ``fn`` (None otherwise, or when ``H`` is not
    positive definite).
    """
    if gradient is None or hessian is None or not np.all(np.isfinite(gradient)):
        return None
    try:
        R = np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    half = np.linalg.solve(R, np.asarray(gradient, dtype=float))
    if not 0.5 * half @ half > min_decrease:
        return None
    step = np.linalg.solve(R.T, half)
    x = np.maximum(res.x - step, lower)
    f = float(fn(x))
    if not f < res.fun:
        return None
    return OptimizerResult(x, f, 1, res.code, res.message, res.optimizer)


def polish(fn, res: OptimizerResult, lower, *, boundary_tol: float = 1e-5) -> OptimizerResult | None:
    """BOBYQA restarted at ``res.x`` with a small trust region and tight tolerances
    (:data:`POLISH`), then lme4's boundary snap. Returned only if it lowers ``fn``; ``feval``
    counts the polish's evaluations."""
    lower = np.asarray(lower, dtype=float)
    again = POLISH.minimize(fn, res.x, lower, np.full_like(lower, np.inf))
    if boundary_tol > 0:
        again = _snap_to_boundary(fn, again, lower, boundary_tol)
    if not again.fun < res.fun:
        return None
    return OptimizerResult(again.x, again.fun, again.feval, res.code, res.message, res.optimizer)


def rescaled_restart(fn, scale, start, lower, optimizer: Optimizer, **kwargs) -> OptimizerResult:
    """:func:`optimize_theta` over ``phi = theta * scale`` from ``phi = start``; ``x`` is returned as theta.

    With ``scale`` the size of each theta's design column, the problem in ``phi`` is the one
    of the design with unit-size columns: a start that does not depend on the units of the
    predictors, and BOBYQA's absolute tolerances on comparable parameters. The bounds (0 and
    -inf) are the same in both scales.
    """
    scale = np.asarray(scale, dtype=float)
    res = optimize_theta(lambda phi: fn(phi / scale), np.asarray(start, dtype=float), lower, optimizer,
                         **kwargs)
    return OptimizerResult(res.x / scale, res.fun, res.feval, res.code, res.message, res.optimizer)


def finite_derivatives(fn, x, fx, lower, delta: float = 1e-4, map_fn=map):
    """Gradient and Hessian of ``fn`` at ``x`` by central differences (lme4's ``deriv12``),
    one-sided steps shortened at the lower bounds.

    The ``2 n + 2 n (n - 1)`` evaluations are independent: ``map_fn(fn, points)`` (in order,
    e.g. a thread pool's ``map``) evaluates them, or ``fn.many(points)`` when ``fn`` has it
    (and ``map_fn`` is the builtin ``map``).
    """
    x = np.asarray(x, dtype=float)
    nx = x.size
    xadd = x + delta
    xsub = x - delta
    ld = np.full(nx, delta)
    low = np.isfinite(lower) & (xsub < lower)
    ld[low] = x[low] - lower[low]
    xsub[low] = lower[low]
    ud = np.full(nx, delta)

    def at(idx, src):
        out = x.copy()
        for i, s in zip(idx, src):
            out[i] = s[i]
        return out

    points = []
    for j in range(nx):
        points += [at([j], [xadd]), at([j], [xsub])]
        for i in range(j):
            points += [at([i, j], [a, b]) for a in (xadd, xsub) for b in (xadd, xsub)]
    many = getattr(fn, "many", None)  # an objective that evaluates many points at once
    values = iter(list(many(points) if many is not None and map_fn is map else map_fn(fn, points)))
    g = np.empty(nx)
    H = np.empty((nx, nx))
    for j in range(nx):
        fadd, fsub = next(values), next(values)
        H[j, j] = fadd / ud[j] ** 2 - 2 * fx / (ud[j] * ld[j]) + fsub / ld[j] ** 2
        g[j] = (fadd - fsub) / (ud[j] + ld[j])
        for i in range(j):
            f_aa, f_as, f_sa, f_ss = (next(values) for _ in range(4))
            H[i, j] = H[j, i] = (f_aa / (ud[i] + ud[j]) ** 2 - f_as / (ud[i] + ld[j]) ** 2
                                 - f_sa / (ld[i] + ud[j]) ** 2 + f_ss / (ld[i] + ld[j]) ** 2)
    return g, H


@dataclass(frozen=True)
class ConvergenceReport:
    """lme4's convergence checks at the optimum: ``messages`` (empty when all is well)."""

    is_singular: bool
    messages: tuple[str, ...]
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    code: int = 0


SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


def is_singular_theta(theta, lower, tol: float = 1e-4) -> bool:
    """lme4's ``isSingular``: a theta with lower bound 0 is below ``tol``."""
    theta, lower = np.asarray(theta), np.asarray(lower)
    return bool(np.any(theta[lower == 0] < tol))


def check_convergence(fn, x, fx, lower, *, singular_tol: float = 1e-4, grad_tol: float = 2e-3,
                      hess_tol: float = 1e-6, calc_derivs: bool = True, map_fn=map) -> ConvergenceReport:
    """Singular-fit, scaled-gradient and Hessian checks as lme4's ``checkConv``
    (``map_fn``: see :func:`finite_derivatives`)."""
    if is_singular_theta(x, lower, singular_tol):
        return ConvergenceReport(True, (SINGULAR_MESSAGE,))
    if not calc_derivs:
        return ConvergenceReport(False, ())
    g, H = finite_derivatives(fn, x, fx, np.asarray(lower, dtype=float), map_fn=map_fn)
    msgs, code = [], 0
    if not np.all(np.isfinite(g)):
        return ConvergenceReport(False, ("Gradient contains NAs",), g, H, -5)
    try:
        R = np.linalg.cholesky(H).T
        scgrad = np.linalg.solve(R, g)
    except np.linalg.LinAlgError:
        scgrad = None
    if scgrad is None or not np.all(np.isfinite(scgrad)):
        msgs.append("unable to evaluate scaled gradient")
        code = -1
    else:
        mingrad = np.minimum(np.abs(scgrad), np.abs(g))
        if mingrad.max() > grad_tol:
            code = -1
            msgs.append(f"Model failed to converge with max|grad| = {_fmt_g(mingrad.max())} "
                        f"(tol = {_fmt_g(grad_tol)}, component {int(np.argmax(mingrad)) + 1})")
    hmsg, hcode = _check_hessian(H, hess_tol)
    msgs.extend(hmsg)
    return ConvergenceReport(False, tuple(msgs), g, H, hcode or code)


def _check_hessian(H, tol):
    try:
        ev = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return ["Problem with Hessian check (infinite or missing values?)"], -6
    neg = int(np.sum(ev < -tol))
    if neg:
        return [f"Model failed to converge: degenerate  Hessian with {neg} negative eigenvalues"], -3
    if np.any(np.abs(ev) < tol):
        return [" Hessian is numerically singular: parameters are not uniquely determined"], -4
    msgs = []
    if ev.max() * tol > 1:
        msgs.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
    if ev.min() / ev.max() < tol:
        msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return msgs, (3 if msgs else 0)


def _fmt_g(x: float) -> str:
    """C's ``%g`` as R's ``gettextf("%g")``."""
    return f"{x:g}"
