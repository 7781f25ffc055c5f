"""Estimation of a linear mixed model on arrays: optimize theta, then solve the PLS problem.

Internal API (no pandas, no formulas): :func:`fit_problem` takes a
:class:`~multilevel.lmm._pls.PLSProblem` and returns an :class:`LmerEstimate`.
Refitting the same structure with a new response is
``fit_problem(problem.with_response(y), reml)``; switching between REML and
ML is ``fit_problem(problem, not reml, start=estimate.theta)``.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._blas import blas_threads
from ._optimize import (check_convergence, get_optimizer, is_singular_theta, newton_step, optimize_theta, polish,
                        rescaled_restart)
from .._exceptions import ModelSpecificationError
from ._formulation import EXACT_FINAL_RATIO, EXACT_FINAL_REST, pair_costs
from ._pls import PLSProblem, PLSSolution

__all__ = ["OptimizerSummary", "LmerEstimate", "fit_problem", "estimate_at", "moment_start", "theta_scale",
           "final_solve", "exact_final_affordable"]


@dataclass(frozen=True, eq=False)
class OptimizerSummary:
    """How the optimum was found.

    Attributes
    ----------
    optimizer : str
        ``"nloptwrap"`` (nlopt's BOBYQA, lme4's default) or the scipy method.
    feval : int
        Deviance evaluations by the optimizer (lme4's ``optinfo$feval``).
    code : int
        0 on success; lme4's convention otherwise (nlopt status < 0, or 5 for ``maxeval``).
    message : str
        The optimizer's own message.
    messages : tuple of str
        lme4's post-fit checks that failed (singular fit, gradient, Hessian).
    gradient, hessian : ndarray or None
        Finite-difference derivatives of the deviance where lme4's checks were run (not computed
        for singular fits): the optimizer's optimum, before a final Newton step (see ``notes``),
        unless the gradient check failed there: then the checks are run again after the step.
    notes : tuple of str
        What was done beyond lme4's single optimizer run, each with the criterion before and
        after and the evaluations it took: a restart from a start rescaled to unit-size design
        columns (when the fit ended singular or failed the gradient check), a polish by BOBYQA
        with tight tolerances (singular fits) or one Newton step from the finite-difference
        derivatives (other fits). Each is kept only when it lowers the criterion; ``feval``
        counts the first run only.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fit.optinfo.optimizer, fit.optinfo.code, fit.optinfo.messages
    ('nloptwrap', 0, ())
    """

    optimizer: str
    feval: int
    code: int
    message: str
    messages: tuple[str, ...] = ()
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def converged(self) -> bool:
        return self.code == 0 and not any(m.startswith(("Model failed", "unable", "Gradient"))
                                          for m in self.messages)


@dataclass(frozen=True, eq=False)
class LmerEstimate:
    """Result of :func:`fit_problem`: ``theta``, the PLS ``solution`` there, ``reml``, checks, and
    ``accuracy``: None for an exact formulation, else the problem's record of the final evaluation
    (:class:`~._matfree.LogdetAccuracy`: a stochastic log-determinant and its standard error, or
    ``exact`` when the final evaluation was done by the dense formulation, see :func:`final_solve`)."""

    theta: np.ndarray
    solution: PLSSolution
    reml: bool
    optinfo: OptimizerSummary
    is_singular: bool
    accuracy: object = None

    @property
    def deviance(self) -> float:
        return self.solution.deviance(self.reml)

    @property
    def sigma(self) -> float:
        return self.solution.sigma(self.reml)


def moment_start(problem: PLSProblem) -> np.ndarray:
    """Starting theta: lme4's moment-based start for models whose terms are all ``(1 | g)``.

    ``theta_i = sqrt(v_i / v_e)`` with ``v_i`` the variance of the group means of y
    over the rows (``var(ave(y, g))``) and ``v_e = var(y) - sum(v_i)``; otherwise (or if
    ``v_e <= 0``) 1 on the diagonals of the templates and 0 elsewhere.
    """
    terms, y = problem.terms, problem.y
    default = problem.theta_start
    if not all(t.k == 1 and np.all(t.Z == 1.0) for t in terms) or y.size < 2:
        return default
    for i in range(len(terms)):
        for j in range(i):
            if terms[i].num_levels == terms[j].num_levels and np.array_equal(terms[i].codes, terms[j].codes):
                return default  # the same factor twice
    v = []
    for t in terms:
        means = np.bincount(t.codes, weights=y, minlength=t.num_levels) / np.maximum(
            np.bincount(t.codes, minlength=t.num_levels), 1)
        v.append(np.var(means[t.codes], ddof=1))
    v_e = np.var(y, ddof=1) - sum(v)
    if not np.isfinite(v_e) or v_e <= 0:
        return default
    return np.sqrt(np.asarray(v) / v_e)


PARALLEL_MIN_R = 400  # Schur complements at least this large: derivative checks in threads
SMALL_NR = 20_000  # rows times columns of [X, y] (and later terms) up to which BLAS threads are left alone


def _parallel_map(fn, points, helper=None):
    """``map(fn, points)`` on two threads, the calling thread and ``helper`` (an executor with one
    idle worker; default: the shared one), each with single-threaded BLAS. The deviance of a
    large problem spends its time in LAPACK and sparse kernels, which release the GIL. The
    points are split in a fixed way and each value is computed exactly as on one thread, so
    the result does not depend on scheduling. Both threads are long-lived: their BLAS buffers
    and workspaces are already warm (fresh threads paid for them on the first evaluations)."""
    points = list(points)
    helper = helper or _helper()
    with blas_threads(1):
        job = helper.submit(lambda: [fn(p) for p in points[1::2]])
        try:
            mine = [fn(p) for p in points[0::2]]
        finally:
            theirs = job.result()
    out = [None] * len(points)
    out[0::2], out[1::2] = mine, theirs
    return out


_HELPER: dict = {}  # process id -> one idle worker thread, created on first use


def _helper() -> ThreadPoolExecutor:
    """The shared helper thread of this process (a forked child gets its own: threads do not
    survive a fork)."""
    pid = os.getpid()
    if pid not in _HELPER:
        _HELPER.clear()
        _HELPER[pid] = ThreadPoolExecutor(1, thread_name_prefix="multilevel-pls")
    return _HELPER[pid]


def _two_threads(problem: PLSProblem, threads) -> bool:
    """``threads="auto"``, a large problem and two or more cores.

    Not tied to the load average: the helper waits on a lock instead of spinning like
    OpenBLAS's threads, so a busy machine slows it down no more than one thread (InstEval
    with one or two busy-looping processes beside it: 0.85-1.4 s on two threads, 0.85-1.35 s
    on one; 0.55-0.6 s against ~0.9 s on an idle machine).
    """
    return (threads == "auto" and problem.r >= PARALLEL_MIN_R and (os.cpu_count() or 1) >= 2
            and not problem.dense)


@contextlib.contextmanager
def _fit_threads(problem: PLSProblem, threads):
    """BLAS threads for the fit, and the map for the convergence checks.

    Large problems on an idle machine run each evaluation on two threads of our own
    (:meth:`PLSProblem.helper_thread`, BLAS single-threaded: OpenBLAS's own threads scale
    poorly at this size and spin while we do the sparse update) and the independent
    convergence-check evaluations two at a time.
    """
    if problem.n * problem.r <= SMALL_NR and threads == "auto":  # BLAS runs no thread on arrays this small
        yield map
        return
    if not _two_threads(problem, threads):
        with blas_threads(threads):
            yield map
        return
    helper = _helper()

    def check_map(fn, points):  # whole evaluations on this thread and the helper
        with problem.helper_thread(None):
            return _parallel_map(fn, points, helper)

    with blas_threads(1), problem.helper_thread(helper):
        yield check_map


def fit_problem(problem: PLSProblem, reml: bool = True, *, optimizer="bobyqa", start=None,
                restart_edge: bool = True, boundary_tol: float = 1e-5, calc_derivs: bool = True,
                threads="auto", reach: bool = True) -> LmerEstimate:
    """Minimize the profiled deviance (or REML criterion) of ``problem`` over theta.

    Parameters
    ----------
    problem : PLSProblem
    reml : bool
    optimizer : str or object
        See :func:`~multilevel.lmm._optimize.get_optimizer`.
    start : array_like, optional
        Starting theta (default: :func:`moment_start`, as lme4).
    restart_edge, boundary_tol : lme4's boundary handling.
    calc_derivs : bool
        Compute the finite-difference gradient and Hessian for the convergence checks.
    threads : int, None or "auto"
        BLAS threads during the fit (see :mod:`multilevel.lmm._blas`): ``"auto"`` uses one
        thread when the machine is oversubscribed, ``None`` leaves BLAS as configured. For
        large problems ``"auto"`` runs BLAS on one thread and splits each evaluation with a
        helper thread of our own, and the convergence-check evaluations two at a time.
    reach : bool
        Go beyond lme4's stopping point where that is cheap or needed (see
        :attr:`OptimizerSummary.notes`): a singular fit, or one that fails the gradient check,
        is restarted from a rescaled start (:func:`theta_scale`; when a column's size is off 1
        by more than a factor ``RESCALE_RATIO``, or the first start was not lme4's default)
        and the better optimum kept;
        a singular fit is then polished by BOBYQA with tight tolerances, another fit takes one
        Newton step from the convergence check's derivatives (one evaluation). Nothing is kept
        that does not lower the criterion. False: lme4's procedure only.
    """
    opt = get_optimizer(optimizer)
    tuned = getattr(problem, "tuned_optimizer", None)  # a formulation's own tolerances for the default
    if tuned is not None:
        opt = tuned(opt)
    fn = problem.objective(reml)
    x0 = moment_start(problem) if start is None else np.asarray(start, dtype=float)
    if x0.shape != problem.theta_start.shape:
        raise ModelSpecificationError(
            f"start must have {problem.num_theta} theta values (got {x0.size})")
    x0 = np.maximum(x0, problem.lower)
    edge = dict(restart_edge=restart_edge, boundary_tol=boundary_tol)
    notes: list[str] = []
    with _fit_threads(problem, threads) as map_fn:
        def check(r):
            return check_convergence(fn, r.x, r.fun, problem.lower, calc_derivs=calc_derivs, map_fn=map_fn)

        res = first = optimize_theta(fn, x0, problem.lower, opt, **edge)
        if reach and is_singular_theta(res.x, problem.lower):
            res = _restart_rescaled(fn, res, problem, opt, x0, edge, notes)
        report = check(res)
        if reach and _gradient_failed(report):
            failed = res
            res = _restart_rescaled(fn, res, problem, opt, x0, edge, notes)
            report = check(res) if res is not failed else report
        if reach:
            res, report = _finish(fn, res, report, problem, boundary_tol, notes, check)
        ratio = _dense_ratio(problem)  # the dense problem is set up once for the Newton step and the final solve
        dense = problem.dense_problem() if ratio <= EXACT_FINAL_RATIO else None
        if reach and dense is not None:
            res = exact_newton(dense, ratio, reml, res, report, notes)
        solution = final_solve(problem, res.x, dense)
    accuracy = getattr(problem, "accuracy", None)  # a stochastic formulation reports its error
    if accuracy is not None:
        notes.append(accuracy.describe())
    messages = list(report.messages)
    if res.code != 0:
        messages.insert(0, f"convergence code {res.code} from {res.optimizer}: {res.message}")
    info = OptimizerSummary(res.optimizer, first.feval, res.code, res.message, tuple(messages),
                            report.gradient, report.hessian, tuple(notes))
    return LmerEstimate(res.x, solution, reml, info, report.is_singular, accuracy)


def exact_final_affordable(problem) -> bool:
    """Whether the final evaluation of a stochastic formulation is done exactly by the dense one:
    the problem can (``exact_solve``), its later terms have at most ``EXACT_FINAL_REST`` coefficients
    and one dense evaluation's estimated operations are at most ``EXACT_FINAL_RATIO`` times those of
    one of its own evaluations (:func:`~._formulation.pair_costs`; about the fit's own time, see
    :mod:`._formulation`)."""
    return _dense_ratio(problem) <= EXACT_FINAL_RATIO


def _dense_ratio(problem) -> float:
    """One dense evaluation's estimated operations over one of ``problem``'s own (inf where the
    problem has no exact step or its later terms exceed ``EXACT_FINAL_REST``)."""
    if getattr(problem, "exact_solve", None) is None or problem.q_rest > EXACT_FINAL_REST:
        return np.inf
    pairs, nnz = problem.pair_pattern()
    dense, own = pair_costs(pairs, nnz, problem.r, problem.p, problem.num_probes, problem.num_steps)
    return dense / own


def exact_newton(dense: PLSProblem, ratio: float, reml: bool, res, report, notes: list[str]):
    """One Newton step on the exact (dense) criterion from a stochastic formulation's optimum, where
    its ``2 k + 2`` dense evaluations (central-difference gradient, both ends of the step) still fit
    the budget of the exact final evaluation (``(2 k + 3)`` times the dense-to-own operations ratio
    at most ``EXACT_FINAL_RATIO``). The fixed probes bias theta by about their error (1e-5 relative
    on small problems); the step uses the convergence check's Hessian of the stochastic criterion
    and the exact gradient, and is kept only if it lowers the exact criterion. Singular optima and
    fits without derivatives are left as they are. ``dense``: the dense formulation of the problem;
    ``ratio``: its operations per evaluation over the stochastic formulation's (:func:`_dense_ratio`)."""
    k = res.x.size
    if report.hessian is None or report.is_singular or (2 * k + 3) * ratio > EXACT_FINAL_RATIO:
        return res
    fn = dense.objective(reml)
    x = np.asarray(res.x, dtype=float)
    f0 = float(fn(x))
    h = 1e-4 * np.maximum(np.abs(x), 1e-2)
    grad = np.empty(k)
    for i in range(k):  # central differences; forward next to a bound
        up, down = x.copy(), x.copy()
        up[i] += h[i]
        down[i] = down[i] - h[i] if down[i] - h[i] >= dense.lower[i] else down[i]
        grad[i] = (fn(up) - (f0 if down[i] == x[i] else fn(down))) / (up[i] - down[i])
    step = newton_step(fn, type(res)(x, f0, res.feval, res.code, res.message, res.optimizer), grad,
                       report.hessian, dense.lower, min_decrease=0.0)
    if step is None:
        return res
    notes.append(f"Newton step on the exact criterion ({_count(2 * k + 2)}): {f0:.10f} -> {step.fun:.10f}")
    return type(res)(step.x, step.fun, res.feval, res.code, res.message, res.optimizer)


def final_solve(problem, theta, dense: PLSProblem | None = None) -> PLSSolution:
    """The PLS solution at the optimum: ``problem.solve(theta)``, or for a stochastic formulation
    the exact one where :func:`exact_final_affordable`, so that logLik, the fixed effects, their
    covariance, sigma and the random effects all come from the exact solve. ``dense``: the dense
    formulation already set up (then the exact solve is taken)."""
    if dense is None and exact_final_affordable(problem):
        dense = problem.dense_problem()
    return problem.solve(theta) if dense is None else problem.exact_solve(theta, dense)


def _gradient_failed(report) -> bool:
    return any(m.startswith(("Model failed to converge with", "unable to evaluate")) for m in report.messages)


def theta_scale(problem: PLSProblem) -> np.ndarray:
    """The size of the design column that each theta multiplies: the root mean square of the
    term's column of ``Z`` for theta's row of the template (1 for an intercept).

    ``phi = theta * theta_scale`` is theta of the same model with unit-size columns, so a
    start in ``phi`` does not depend on the units of the predictors (days or hours).
    """
    out = []
    given = getattr(problem, "column_rms", None)  # a problem set up from cross-products (no rows)
    for i, (term, (rows, _)) in enumerate(zip(problem.terms, problem.theta_rc)):
        if given is not None:
            out.append(given[i][rows])
            continue
        rms = np.sqrt(np.mean(np.square(term.Z), axis=0))
        rms[~(rms > 0) | ~np.isfinite(rms)] = 1.0
        out.append(rms[rows])
    return np.concatenate(out) if out else np.ones(0)


RESCALE_RATIO = 3.0  # restart only if a design column's size is off 1 by more than this factor


def _restart_rescaled(fn, res, problem, opt, x0, edge, notes):
    """Restart from lme4's default start in unit-size columns; the better of the two optima."""
    scale = theta_scale(problem)
    if np.max(np.abs(np.log(scale)), initial=0.0) <= np.log(RESCALE_RATIO) and \
            np.array_equal(problem.theta_start, x0):
        return res  # nearly the same start in nearly the same units: nothing new to learn
    again = rescaled_restart(fn, scale, problem.theta_start, problem.lower, opt, **edge)
    kept = again.fun < res.fun
    why = "fit ended singular" if is_singular_theta(res.x, problem.lower) else "gradient check failed"
    notes.append(f"{why}: restarted from a start rescaled to unit-size design columns ({_count(again.feval)}): "
                 f"criterion {again.fun:.10f} against {res.fun:.10f}; kept the "
                 f"{'restarted' if kept else 'first'} optimum")
    return again if kept else res


def _count(n: int) -> str:
    return f"{n} evaluation" + ("" if n == 1 else "s")


def _finish(fn, res, report, problem, boundary_tol, notes, check):
    """Polish a singular optimum by tight BOBYQA, or take one Newton step at another; kept if lower."""
    if report.is_singular:
        better = polish(fn, res, problem.lower, boundary_tol=boundary_tol)
        label = "polished by BOBYQA with tight tolerances"
    else:
        better = newton_step(fn, res, report.gradient, report.hessian, problem.lower)
        label = "Newton step from the finite-difference derivatives"
    if better is None:
        return res, report
    notes.append(f"{label} ({_count(better.feval)}): criterion {res.fun:.10f} -> {better.fun:.10f} "
                 f"(lower by {res.fun - better.fun:.2g})")
    better = type(res)(better.x, better.fun, res.feval, res.code, res.message, res.optimizer)
    if is_singular_theta(better.x, problem.lower) != report.is_singular or _gradient_failed(report):
        report = check(better)  # the checks describe the optimum returned
    return better, report


def estimate_at(problem: PLSProblem, theta, reml: bool = True, *, check: bool = False) -> LmerEstimate:
    """The estimate at a given ``theta`` without optimizing (for fixed-parameter output and tests).

    With ``check``, lme4's convergence checks (gradient, Hessian) are run at ``theta``.
    """
    theta = np.asarray(theta, dtype=float)
    fn = problem.objective(reml)
    with blas_threads("auto"):
        report = check_convergence(fn, theta, fn(theta), problem.lower, calc_derivs=check)
        solution = final_solve(problem, theta)
    info = OptimizerSummary("none", 0, 0, "theta fixed", report.messages, report.gradient, report.hessian)
    return LmerEstimate(theta, solution, reml, info, report.is_singular, getattr(problem, "accuracy", None))
