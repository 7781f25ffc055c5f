"""Maximise the (restricted) likelihood of ``rma_mv`` over the variance components.

Fisher scoring on the unconstrained scale (log variances, atanh correlations)
with the fixed effects profiled out, a step-halving line search and the
Newton decrement as the convergence criterion; the score and the expected
information are exact (``_mv_core``). Any component can be held fixed, which
is what the profile-likelihood intervals need. Arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._mv_core import Batch, Evaluation, evaluate

__all__ = ["Layout", "FitState", "optimize", "initial_values", "fe_fit", "fe_fit_diag"]

_MAX_ITER = 200
_TOL = 1e-18
_THETA_MIN = -35.0
_ATANH_MAX = 12.0
_LAST_STEP = 1e-8
_FLAT = 1e-12  # relative change of ll that counts as no progress (two iterations in a row)
_NEWTON_ZONE = 0.5  # Newton decrement below which the observed information is used


@dataclass(frozen=True)
class Layout:
    """Position of each kind of component in the natural parameter vector."""

    ns: int
    nt: int
    nr: int

    @property
    def size(self) -> int:
        return self.ns + self.nt + self.nr

    def split(self, nat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return nat[: self.ns], nat[self.ns: self.ns + self.nt], nat[self.ns + self.nt:]

    def is_rho(self) -> np.ndarray:
        return np.arange(self.size) >= self.ns + self.nt


@dataclass(frozen=True, eq=False)
class FitState:
    """Optimum: natural parameters, evaluation there, iterations and convergence flag."""

    nat: np.ndarray
    ev: Evaluation
    iterations: int
    converged: bool

    def ll(self, reml: bool) -> float:
        return self.ev.ll_reml if reml else self.ev.ll_ml


def to_natural(theta: np.ndarray, rho_mask: np.ndarray) -> np.ndarray:
    """Natural values; at the clamps a variance is exactly 0 and a correlation exactly -1 or 1.

    (Exact edges matter: ``sqrt(tau2_u * tau2_v)`` of a variance of 1e-16 is a covariance of 1e-8.)
    """
    nat = np.where(rho_mask, np.tanh(theta), np.exp(theta))
    nat[~rho_mask & (theta <= _THETA_MIN)] = 0.0
    edge = rho_mask & (np.abs(theta) >= _ATANH_MAX)
    nat[edge] = np.sign(theta[edge])
    return nat


def to_theta(nat: np.ndarray, rho_mask: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        th = np.where(rho_mask, np.arctanh(np.clip(nat, -1 + 1e-12, 1 - 1e-12)),
                      np.log(np.maximum(nat, 1e-300)))
    return np.clip(th, _THETA_MIN, None)


def fe_fit(batch: Batch) -> tuple[np.ndarray, float]:
    """Fixed-effects GLS with ``V`` only: coefficients and the Q statistic (QE)."""
    Vinv = np.linalg.inv(batch.V)
    VX = Vinv @ batch.X
    C = np.einsum("bmp,bmq->pq", batch.X, VX)
    Vy = np.einsum("bij,bj->bi", Vinv, batch.y)
    beta = np.linalg.solve(C, np.einsum("bmp,bm->p", batch.X, Vy))
    r = batch.y - batch.X @ beta
    qe = float(np.einsum("bi,bij,bj->", r, Vinv, r))
    return beta, qe


def fe_fit_diag(y: np.ndarray, X: np.ndarray, vi: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`fe_fit` for independent estimates (weights ``1 / vi``)."""
    w = 1.0 / vi
    Xw = X * w[:, None]
    beta = np.linalg.solve(X.T @ Xw, Xw.T @ y)
    r = y - X @ beta
    return beta, float(r @ (w * r))


def initial_values(layout: Layout, beta: np.ndarray, y: np.ndarray, X: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """metafor's starting values: the residual variance of the FE fit shared out, rho = 0.5."""
    resid = y - X @ beta
    ns_or1 = max(layout.ns, 1)
    nt_or1 = max(layout.nt, 1)
    count = ns_or1 + nt_or1 + 1
    total = max(0.001 * count, float(np.var(resid, ddof=1)) - 1.0 / float(np.mean(1.0 / vi)))
    share = total / count
    return np.concatenate([np.full(layout.ns, share), np.full(layout.nt, share), np.full(layout.nr, 0.5)])


def _eval(batch: Batch, layout: Layout, nat: np.ndarray, reml: bool, free: np.ndarray,
          derivs: bool, observed: bool = True) -> Evaluation | None:
    s2, t2, rho = layout.split(nat)
    return evaluate(batch, s2, t2, rho, reml=reml, free=free, derivs=derivs, observed=observed)


def optimize(batch: Batch, layout: Layout, start: np.ndarray, free: np.ndarray, *, reml: bool) -> FitState | None:
    """Maximise over the ``free`` components starting from ``start`` (natural scale).

    Newton / average-information steps; should they stall away from the
    optimum, L-BFGS-B on the same scale takes over from the best point.
    Returns None when no positive-definite marginal variance is found.
    """
    state = _newton(batch, layout, start, free, reml=reml)
    if state is None or state.converged:
        return state
    return _lbfgs(batch, layout, state, free, reml=reml)


def _lbfgs(batch: Batch, layout: Layout, state: FitState, free: np.ndarray, *, reml: bool) -> FitState:
    from scipy.optimize import minimize

    rho_mask = layout.is_rho()
    fidx = np.flatnonzero(free)
    base = state.nat.copy()

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        nat = base.copy()
        full = to_theta(base, rho_mask)
        full[fidx] = th
        nat[fidx] = to_natural(full, rho_mask)[fidx]
        ev = _eval(batch, layout, nat, reml, free, derivs=True, observed=False)
        if ev is None:
            return 1e300, np.zeros_like(th)
        return -(ev.ll_reml if reml else ev.ll_ml), -ev.grad

    bounds = [(-_ATANH_MAX, _ATANH_MAX) if rho_mask[i] else (_THETA_MIN, None) for i in fidx]
    res = minimize(fun, to_theta(base, rho_mask)[fidx], jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
    nat = base.copy()
    full = to_theta(base, rho_mask)
    full[fidx] = res.x
    nat[fidx] = to_natural(full, rho_mask)[fidx]
    s2, t2, rho = layout.split(nat)
    ev = evaluate(batch, s2, t2, rho, reml=reml)
    if ev is None or (ev.ll_reml if reml else ev.ll_ml) < state.ll(reml):
        return state
    grad_ok = bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-5
    return FitState(nat, ev, state.iterations + int(res.nit), grad_ok)


def _newton(batch: Batch, layout: Layout, start: np.ndarray, free: np.ndarray, *, reml: bool) -> FitState | None:
    rho_mask = layout.is_rho()
    nat = start.astype(float).copy()
    theta = to_theta(nat, rho_mask)
    ev = _eval(batch, layout, nat, reml, free, derivs=bool(free.any()), observed=False)
    if ev is None:
        return None
    obj = ev.ll_reml if reml else ev.ll_ml
    fidx = np.flatnonzero(free)
    it = 0
    flat_before = False
    converged = fidx.size == 0
    while not converged and it < _MAX_ITER:
        it += 1
        step = _active_step(theta[fidx], ev.grad, ev.info, rho_mask[fidx])
        decrement = float(step @ ev.grad)
        if decrement < _TOL * (1.0 + abs(obj)) or not np.isfinite(decrement):
            converged = np.isfinite(decrement)
            break
        if ev.newton and decrement < _LAST_STEP * (1.0 + abs(obj)):
            # quadratic convergence: after this Newton step the error is ~decrement**2
            final = _final_step(batch, layout, theta, nat, step, fidx, rho_mask, reml, obj)
            if final is not None:
                nat, ev = final
            converged = True
            break
        t = 1.0
        while t > 1e-10:
            cand = theta.copy()
            cand[fidx] = theta[fidx] + t * step
            cand[fidx] = np.where(rho_mask[fidx], np.clip(cand[fidx], -_ATANH_MAX, _ATANH_MAX),
                                  np.maximum(cand[fidx], _THETA_MIN))
            cnat = nat.copy()
            cnat[fidx] = to_natural(cand, rho_mask)[fidx]
            cev = _eval(batch, layout, cnat, reml, free, derivs=True, observed=decrement < _NEWTON_ZONE)
            if cev is not None:
                cobj = cev.ll_reml if reml else cev.ll_ml
                if cobj >= obj - 1e-14 * (1.0 + abs(obj)):
                    break
            t *= 0.5
        else:
            # no ascent along the step: the optimum up to rounding, unless the score says otherwise
            converged = decrement < 1e-6 * (1.0 + abs(obj))
            break
        small = abs(cobj - obj) < _FLAT * (1.0 + abs(obj))
        done = (small and t < 1.0) or (small and flat_before)
        flat_before = small
        theta, nat, ev, obj = cand, cnat, cev, cobj
        if done:
            converged = True  # no progress left (typically components drifting to the boundary)
    return FitState(nat, ev, it, converged)


def _final_step(batch: Batch, layout: Layout, theta: np.ndarray, nat: np.ndarray, step: np.ndarray,
                fidx: np.ndarray, rho_mask: np.ndarray, reml: bool,
                obj: float) -> tuple[np.ndarray, Evaluation] | None:
    cand = theta.copy()
    cand[fidx] = theta[fidx] + step
    cnat = nat.copy()
    cnat[fidx] = to_natural(cand, rho_mask)[fidx]
    s2, t2, rho = layout.split(cnat)
    cev = evaluate(batch, s2, t2, rho, reml=reml)
    if cev is None or (cev.ll_reml if reml else cev.ll_ml) < obj - 1e-12 * (1.0 + abs(obj)):
        return None
    return cnat, cev


def _active_step(theta: np.ndarray, grad: np.ndarray, info: np.ndarray, is_rho: np.ndarray) -> np.ndarray:
    """Newton step with parameters pinned where they sit on the boundary and the score pushes out."""
    pinned = np.where(is_rho, (np.abs(theta) >= _ATANH_MAX - 1e-9) & (np.sign(theta) * grad > 0),
                      (theta <= _THETA_MIN + 1e-9) & (grad < 0))
    if not pinned.any():
        return _step(grad, info)
    step = np.zeros_like(grad)
    act = ~pinned
    if act.any():
        step[act] = _step(grad[act], info[np.ix_(act, act)])
    return step


def _step(grad: np.ndarray, info: np.ndarray) -> np.ndarray:
    q = grad.shape[0]
    scale = max(float(np.trace(info)) / max(q, 1), 1e-300)
    a = info + 1e-10 * scale * np.eye(q)
    if q == 1:
        step = grad / a[0, 0]
    elif q == 2 and (det := a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) > 0:
        step = np.array([a[1, 1] * grad[0] - a[0, 1] * grad[1], a[0, 0] * grad[1] - a[1, 0] * grad[0]]) / det
    else:
        try:
            step = np.linalg.solve(a, grad)
        except np.linalg.LinAlgError:
            step = grad / scale
    big = np.max(np.abs(step))
    if big > 5.0:
        step *= 5.0 / big
    return step
