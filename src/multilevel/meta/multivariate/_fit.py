"""Maximise the (restricted) likelihood of ``rma_mv`` over the variance components.

Newton steps on an unconstrained scale (``_scales``) with the fixed effects
profiled out: the average information far from the optimum, the exact
observed information near it, a step-halving line search and the Newton
decrement as the convergence criterion (score and information are exact,
``_core``). Parameters on the edge of their range with the score pushing
outwards are held still. Any component can be held fixed, which is what the
profile-likelihood intervals need. Arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._core import Batch, Evaluation, evaluate
from ._scales import CholeskyScale, ElementScale, element_natural, element_theta

__all__ = ["Layout", "FitState", "optimize", "initial_values", "fe_fit", "fe_fit_diag", "evaluate_at"]

_MAX_ITER = 200
_TOL = 1e-18
_LAST_STEP = 1e-8
_FLAT = 1e-12  # relative change of ll that counts as no progress (two iterations in a row)
_NEWTON_ZONE = 0.5  # Newton decrement below which the observed information is used


@dataclass(frozen=True)
class Layout:
    """Position of each kind of component in the natural parameter vector.

    The order is metafor's: sigma2, tau2, rho, then gamma2, phi of a second
    ``~ inner | outer`` term.
    """

    ns: int
    nt: int
    nr: int
    ng: int = 0
    nphi: int = 0
    rho_kind: int = 1
    phi_kind: int = 1

    @property
    def size(self) -> int:
        return self.ns + self.nt + self.nr + self.ng + self.nphi

    def split(self, nat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sigma2, tau2, rho)."""
        a, b = self.ns, self.ns + self.nt
        return nat[:a], nat[a:b], nat[b: b + self.nr]

    def split_h(self, nat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(gamma2, phi) of the second ``~ inner | outer`` term."""
        c = self.ns + self.nt + self.nr
        return nat[c: c + self.ng], nat[c + self.ng: c + self.ng + self.nphi]

    def is_rho(self) -> np.ndarray:
        """Correlations (rho and phi)."""
        pos = np.arange(self.size)
        a = self.ns + self.nt
        c = a + self.nr + self.ng
        return ((pos >= a) & (pos < a + self.nr)) | (pos >= c)

    def kinds(self) -> np.ndarray:
        """Scale of each parameter (``_scales``): 0 variances, else the kind of rho / phi (``_serial.KIND``)."""
        out = np.zeros(self.size, dtype=int)
        a = self.ns + self.nt
        out[a: a + self.nr] = self.rho_kind
        out[a + self.nr + self.ng:] = self.phi_kind
        return out


def evaluate_at(batch: Batch, layout: Layout, nat: np.ndarray, **kwargs: object) -> Evaluation | None:
    """:func:`~multilevel.meta.multivariate._core.evaluate` at a natural parameter vector."""
    s2, t2, rho = layout.split(nat)
    g2, phi = layout.split_h(nat)
    return evaluate(batch, s2, t2, rho, gamma2=g2, phi=phi, **kwargs)


@dataclass(frozen=True, eq=False)
class FitState:
    """Optimum: natural parameters, evaluation there, iterations and convergence flag."""

    nat: np.ndarray
    ev: Evaluation
    iterations: int
    converged: bool
    theta: np.ndarray | None = None

    def ll(self, reml: bool) -> float:
        return self.ev.ll_reml if reml else self.ev.ll_ml


def to_natural(theta: np.ndarray, rho_mask: np.ndarray) -> np.ndarray:
    """Natural values of element-wise unconstrained parameters (see ``_scales``)."""
    return element_natural(theta, rho_mask)


def to_theta(nat: np.ndarray, rho_mask: np.ndarray) -> np.ndarray:
    return element_theta(nat, rho_mask)


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
    count = max(layout.ns, 1) + max(layout.nt, 1) + max(layout.ng, 1)
    total = max(0.001 * count, float(np.var(resid, ddof=1)) - 1.0 / float(np.mean(1.0 / vi)))
    share = total / count
    return np.concatenate([np.full(layout.ns, share), np.full(layout.nt, share), np.full(layout.nr, 0.5),
                           np.full(layout.ng, share), np.full(layout.nphi, 0.5)])


def _eval(batch: Batch, layout: Layout, nat: np.ndarray, reml: bool, free: np.ndarray,
          derivs: bool, observed: bool = True) -> Evaluation | None:
    return evaluate_at(batch, layout, nat, reml=reml, free=free, derivs=derivs, observed=observed)


def optimize(batch: Batch, layout: Layout, start: np.ndarray, free: np.ndarray, *, reml: bool) -> FitState | None:
    """Maximise over the ``free`` components starting from ``start`` (natural scale).

    Newton / average-information steps on an unconstrained scale
    (``_scales``); should they stall away from the optimum, L-BFGS-B on the
    same scale takes over from the best point. Returns None when no
    positive-definite marginal variance is found.
    """
    kind = CholeskyScale if CholeskyScale.applies(batch, layout, free) else ElementScale
    scale = kind(batch, layout, start, free, reml)
    if kind is CholeskyScale:
        # unstructured G fits often end on the boundary (a singular G), where the
        # information is near singular: quasi-Newton with the exact score copes better
        theta = scale.theta0()
        ev = scale.evaluate(theta, derivs=False)
        if ev is None:
            return None
        return _lbfgs(scale, FitState(scale.natural(theta), ev, 0, False, theta))
    state = _newton(scale)
    if state is None or state.converged:
        return state
    return _lbfgs(scale, state)


def _lbfgs(scale: ElementScale | CholeskyScale, state: FitState) -> FitState:
    from scipy.optimize import minimize

    reml = scale.reml

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        ev = scale.evaluate(th, derivs=True, observed=False)
        if ev is None:
            return 1e300, np.zeros_like(th)
        return -(ev.ll_reml if reml else ev.ll_ml), -ev.grad

    theta0 = state.theta if state.theta is not None else scale.theta0()
    res = minimize(fun, theta0, jac=True, method="L-BFGS-B", bounds=scale.bounds(),
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10})
    ev = scale.evaluate(res.x, derivs=False)
    if ev is None or (ev.ll_reml if reml else ev.ll_ml) < state.ll(reml) - 1e-12:
        return state
    grad_ok = bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-5
    return FitState(scale.natural(res.x), ev, state.iterations + int(res.nit), grad_ok, res.x)


def _newton(scale: ElementScale | CholeskyScale, max_iter: int = _MAX_ITER) -> FitState | None:
    reml = scale.reml
    theta = scale.theta0()
    ev = scale.evaluate(theta, derivs=True, observed=False)
    if ev is None:
        return None
    obj = ev.ll_reml if reml else ev.ll_ml
    it = 0
    flat_before = False
    converged = theta.size == 0
    while not converged and it < max_iter:
        it += 1
        step = _active_step(scale.pinned(theta, ev.grad), ev.grad, ev.info)
        decrement = float(step @ ev.grad)
        if decrement < _TOL * (1.0 + abs(obj)) or not np.isfinite(decrement):
            converged = np.isfinite(decrement)
            break
        if ev.newton and decrement < _LAST_STEP * (1.0 + abs(obj)):
            # quadratic convergence: after this Newton step the error is ~decrement**2
            cand = scale.clip(theta + step)
            cev = scale.evaluate(cand, derivs=False)
            if cev is not None and (cev.ll_reml if reml else cev.ll_ml) >= obj - 1e-12 * (1.0 + abs(obj)):
                theta, ev = cand, cev
            converged = True
            break
        t = 1.0
        while t > 1e-10:
            cand = scale.clip(theta + t * step)
            cev = scale.evaluate(cand, derivs=True, observed=decrement < _NEWTON_ZONE)
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
        theta, ev, obj = cand, cev, cobj
        if done:
            converged = True  # no progress left (typically components drifting to the boundary)
    return FitState(scale.natural(theta), ev, it, converged, theta)


def _active_step(pinned: np.ndarray, grad: np.ndarray, info: np.ndarray) -> np.ndarray:
    """Newton step with the pinned parameters (on an edge, score pushing out) held still."""
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
