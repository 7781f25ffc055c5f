"""Numerical core of the univariate meta-analysis model (arrays in, arrays out).

Model: :math:`y_i = x_i^\\top \\beta + u_i + e_i`, :math:`u_i \\sim N(0, \\tau^2)`,
:math:`e_i \\sim N(0, v_i)` with known :math:`v_i`.

The tau^2 estimators follow metafor's ``rma.uni`` step by step (same starting
values, Fisher-scoring steps with step halving at the boundary, same stopping
threshold 1e-5, Brent root finding with ``uniroot``'s tolerance for PM), so
estimates agree with metafor to many more digits than its stopping rule suggests.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..._exceptions import ConvergenceWarning, ModelSpecificationError
from ..shared._roots import r_uniroot

__all__ = ["TAU2_METHODS", "Tau2Estimate", "estimate_tau2", "FixedEffects", "fixed_effects",
           "heterogeneity", "fit_statistics", "qe_at", "residual_projection"]

TAU2_METHODS = ("EE", "FE", "CE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
_THRESHOLD = 1e-5
_MAXITER = 100
_TOL = np.finfo(float).eps ** 0.25


def residual_projection(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P = W - W X (X'WX)^{-1} X'W`` and ``(X'WX)^{-1}`` for weights ``w`` (dense; for small k).

    The estimators below never form ``P``; they use :class:`_Projection`, whose
    cost is O(k p^2), so that large meta-analyses need no k-by-k matrices.
    """
    Xw = X * w[:, None]
    inv = np.linalg.inv(X.T @ Xw)
    P = np.diag(w) - Xw @ inv @ Xw.T
    return P, inv


class _Projection:
    """Quantities of ``P = W - W X C X'W`` (``C = (X'WX)^{-1}``) without forming ``P``.

    With ``Xw = W X``: ``P y = w * r`` (r the weighted least-squares residuals),
    ``tr P = sum(w) - tr(C Xw'Xw)`` and
    ``tr P^2 = sum(w^2) - 2 tr(C Xw' W Xw) + tr((C Xw'Xw)^2)``.
    """

    def __init__(self, X: np.ndarray, w: np.ndarray, y: np.ndarray):
        self.X, self.w = X, w
        self.Xw = X * w[:, None]
        self.C = np.linalg.inv(X.T @ self.Xw)
        self.r = y - X @ (self.C @ (self.Xw.T @ y))
        self._G: np.ndarray | None = None

    @property
    def Py(self) -> np.ndarray:
        return self.w * self.r

    def quad(self) -> float:
        """``y' P y``."""
        return float(self.w @ (self.r * self.r))

    def _g(self, d: np.ndarray) -> np.ndarray:
        """``C Xw' diag(d) Xw``."""
        return self.C @ (self.Xw.T @ (self.Xw * d[:, None]))

    @property
    def G(self) -> np.ndarray:
        """``C Xw'Xw`` (cached)."""
        if self._G is None:
            self._G = self.C @ (self.Xw.T @ self.Xw)
        return self._G

    def trace(self) -> float:
        return float(self.w.sum() - np.trace(self.G))

    def trace_sq(self) -> float:
        G = self.G
        return float(np.sum(self.w**2) - 2 * np.trace(self._g(self.w)) + np.sum(G * G.T))

    def trace_pv(self, v: np.ndarray) -> float:
        """``tr(P V)``."""
        return float(np.sum(self.w * v) - np.trace(self._g(v)))

    def trace_pvpv(self, v: np.ndarray) -> float:
        """``tr(P V P V)`` (metafor's ``sum(PV * t(PV))``)."""
        M = self._g(v)
        return float(np.sum((self.w * v) ** 2) - 2 * np.trace(self._g(self.w * v**2)) + np.sum(M * M.T))

    def trace_ppv(self, v: np.ndarray) -> float:
        """``tr(P P V)`` (metafor's ``sum(PV * P)``)."""
        G = self.G
        M = self._g(v)
        return float(np.sum(self.w**2 * v) - 2 * np.trace(self._g(self.w * v)) + np.sum(G * M.T))


def qe_at(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Generalized Q statistic ``y' P(tau2) y`` (metafor's ``.QE.func`` without the objective).

    Computed as the weighted residual sum of squares, without forming ``P``.
    """
    w = 1.0 / (v + tau2)
    if X.shape[1] == 1 and X[0, 0] == 1.0 and np.all(X == 1.0):  # intercept only: weighted mean
        r = y - (w @ y) / w.sum()
        return float(w @ (r * r))
    Xw = X * w[:, None]
    beta = np.linalg.solve(X.T @ Xw, Xw.T @ y)
    r = y - X @ beta
    return float(w @ (r * r))


@dataclass(frozen=True)
class Tau2Estimate:
    """tau^2, its standard error and the number of Fisher-scoring iterations."""

    tau2: float
    se: float
    iterations: int = 0


def _hs(y, v, X):
    k, p = X.shape
    pr = _Projection(X, 1.0 / v, y)
    sw = pr.w.sum()
    tau2 = (pr.quad() - k) / sw
    t = max(tau2, 0.0)
    se = math.sqrt((2 * (k - p) + 4 * t * pr.trace() + 2 * t**2 * pr.trace_sq()) / sw**2)
    return Tau2Estimate(tau2, se)


def _he_raw(y, v, X):
    k, p = X.shape
    pr = _Projection(X, np.ones(k), y)
    return (pr.quad() - pr.trace_pv(v)) / (k - p), pr


def _he(y, v, X):
    k, p = X.shape
    tau2, pr = _he_raw(y, v, X)
    t = max(tau2, 0.0)
    se = math.sqrt((2 * pr.trace_pvpv(v) + 4 * t * pr.trace_pv(v) + 2 * t**2 * (k - p)) / (k - p) ** 2)
    return Tau2Estimate(tau2, se)


def _dl(y, v, X):
    k, p = X.shape
    pr = _Projection(X, 1.0 / v, y)
    trP = pr.trace()
    tau2 = (pr.quad() - (k - p)) / trP
    t = max(tau2, 0.0)
    se = math.sqrt((2 * (k - p) + 4 * t * trP + 2 * t**2 * pr.trace_sq()) / trP**2)
    return Tau2Estimate(tau2, se)


def _sj(y, v, X):
    k, p = X.shape
    tau0 = float(np.var(y, ddof=1) * (k - 1) / k)
    pr = _Projection(X, 1.0 / (v + tau0), y)
    tau2 = tau0 * pr.quad() / (k - p)
    t = max(tau2, 0.0)
    se = math.sqrt(tau0**2 / (k - p) ** 2 * (2 * pr.trace_pvpv(v) + 4 * t * pr.trace_ppv(v)
                                              + 2 * t**2 * pr.trace_sq()))
    return Tau2Estimate(tau2, se)


def _loglik0_check(y, v, X, tau2, method):
    """metafor's check that the fit beats tau^2 = 0; returns the tau^2 to use."""
    def ll(t):
        w = 1.0 / (v + t)
        rss = _Projection(X, w, y).quad()
        k, p = X.shape
        if method == "ML":
            return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.log(v + t).sum() - 0.5 * rss
        logdet = np.linalg.slogdet(X.T @ (X * w[:, None]))[1]
        return -0.5 * (k - p) * math.log(2 * math.pi) - 0.5 * np.log(v + t).sum() - 0.5 * logdet - 0.5 * rss
    if ll(0.0) - ll(tau2) > _TOL and tau2 > _THRESHOLD:
        warnings.warn("Fisher scoring may have stopped at a local maximum; setting tau^2 = 0",
                      ConvergenceWarning, stacklevel=4)
        return 0.0
    return tau2


def _fisher_scoring(y, v, X, method):
    k, p = X.shape
    tau2 = max(0.0, _he_raw(y, v, X)[0])
    change, it = _THRESHOLD + 1, 0
    while change > _THRESHOLD:
        it += 1
        old = tau2
        pr = _Projection(X, 1.0 / (v + tau2), y)
        w = pr.w
        if method == "EB":
            adj = (pr.quad() * k / (k - p) - k) / w.sum()
        elif method == "ML":
            Py = pr.Py
            adj = (Py @ Py - w.sum()) / np.sum(w**2)
        else:
            Py = pr.Py
            adj = (Py @ Py - pr.trace()) / pr.trace_sq()
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if it > _MAXITER:
            raise ModelSpecificationError(
                "Fisher scoring did not converge for tau^2; try method='DL' or 'PM'")
    if method in ("ML", "REML"):
        tau2 = _loglik0_check(y, v, X, tau2, method)
    w = 1.0 / (v + tau2)
    if method == "ML":
        se = math.sqrt(2 / np.sum(w**2))
    elif method == "REML":
        se = math.sqrt(2 / _Projection(X, w, y).trace_sq())
    else:
        se = _eb_se(w, k, p)
    return Tau2Estimate(tau2, se, it)


def _eb_se(w, k, p):
    return math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)


def _pm(y, v, X, y_raw):
    k, p = X.shape
    target = k - p
    mad = 1.4826 * float(np.median(np.abs(y_raw - np.median(y_raw))))
    upper = max(100.0, 10 * mad**2)
    f0 = qe_at(0.0, y, v, X) - target
    if f0 < 0:
        tau2 = 0.0
    else:
        f1 = qe_at(upper, y, v, X) - target
        if f1 > 0:
            raise ModelSpecificationError("the PM estimator needs tau^2 above 100; use another method")
        tau2 = r_uniroot(lambda t: qe_at(t, y, v, X) - target, 0.0, upper, tol=_TOL, maxiter=_MAXITER,
                         f_lower=f0, f_upper=f1)
    return Tau2Estimate(tau2, _eb_se(1.0 / (v + tau2), k, p))


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Estimate:
    """Estimate tau^2 by ``method`` (one of :data:`TAU2_METHODS`).

    ``y`` is used centered (as metafor does) for every estimator; the EE/FE/CE
    models return tau^2 = 0 with an undefined standard error.
    """
    if method in ("EE", "FE", "CE"):
        return Tau2Estimate(0.0, float("nan"))
    k, p = X.shape
    if p + 1 > k:
        raise ModelSpecificationError(
            f"a random-effects model with {p} coefficients needs more than {p} estimates (k = {k})")
    ymc = y - y.mean()
    if method == "HS":
        est = _hs(ymc, v, X)
    elif method == "HE":
        est = _he(ymc, v, X)
    elif method == "DL":
        est = _dl(ymc, v, X)
    elif method == "SJ":
        est = _sj(ymc, v, X)
    elif method == "PM":
        est = _pm(ymc, v, X, y)
    else:
        est = _fisher_scoring(ymc, v, X, method)
    return Tau2Estimate(max(0.0, float(est.tau2)), float(est.se), est.iterations)


@dataclass(frozen=True)
class FixedEffects:
    """Weighted least squares solution at a given tau^2."""

    beta: np.ndarray
    vb: np.ndarray
    rss: float
    s2w: float


def fixed_effects(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, *, knha: bool,
                  weights: np.ndarray | None = None) -> FixedEffects:
    r"""Coefficients and their covariance at ``tau2``; Knapp-Hartung scaling when ``knha``.

    With user ``weights`` A, :math:`\hat\beta = (X'AX)^{-1}X'Ay` with the sandwich
    covariance :math:`(X'AX)^{-1}X'AMAX(X'AX)^{-1}`, :math:`M = \mathrm{diag}(v_i + \tau^2)`;
    the Knapp-Hartung factor still comes from the inverse-variance fit (as metafor).
    """
    k, p = X.shape
    w = 1.0 / (v + tau2)
    Xw = X * w[:, None]
    inv = np.linalg.inv(X.T @ Xw)
    beta = inv @ (Xw.T @ y)
    rss = float(np.sum(w * (y - X @ beta) ** 2))
    s2w = 1.0
    if knha:
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
    if weights is not None:
        Xa = X * weights[:, None]
        inv_a = np.linalg.inv(X.T @ Xa)
        beta = inv_a @ (Xa.T @ y)
        inv = inv_a @ (Xa.T @ (Xa * (v + tau2)[:, None])) @ inv_a
        rss = float(np.sum(w * (y - X @ beta) ** 2))
    return FixedEffects(beta, s2w * inv, rss, s2w)


def heterogeneity(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, fixed_model: bool
                  ) -> tuple[float, float, float, float]:
    """(QE, vt, I2, H2): Cochran's Q, the typical sampling variance (k - p)/tr(P), I^2 (%), H^2."""
    k, p = X.shape
    if k <= p:
        return 0.0, 0.0, 0.0, 1.0
    pr = _Projection(X, 1.0 / v, y - y.mean())
    QE = max(0.0, pr.quad())
    vt = (k - p) / pr.trace()
    if fixed_model:
        return QE, vt, max(0.0, 100 * (QE - (k - p)) / QE), QE / (k - p)
    return QE, vt, 100 * tau2 / (vt + tau2), tau2 / vt + 1


def fit_statistics(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, rss: float, parms: int
                   ) -> dict[str, dict[str, float]]:
    """metafor's fit statistics: ``{"ML": {...}, "REML": {...}}`` with ll, dev, AIC, BIC, AICc."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    log2pi = math.log(2 * math.pi)
    ll_ml = -0.5 * k * log2pi - 0.5 * np.log(v + tau2).sum() - 0.5 * rss
    ll_reml = (-0.5 * (k - p) * log2pi + 0.5 * np.linalg.slogdet(X.T @ X)[1]
               - 0.5 * np.log(v + tau2).sum() - 0.5 * np.linalg.slogdet(X.T @ (X * w[:, None]))[1] - 0.5 * rss)
    sat = float(np.sum(-0.5 * np.log(2 * math.pi * v)))
    dev_ml = -2 * (ll_ml - sat) if k > p else 0.0

    def block(ll, dev, n):
        m = max(n, parms + 2)
        return {"ll": float(ll), "dev": float(dev), "AIC": float(-2 * ll + 2 * parms),
                "BIC": float(-2 * ll + parms * math.log(n)),
                "AICc": float(-2 * ll + 2 * parms * m / (m - parms - 1))}

    return {"ML": block(ll_ml, dev_ml, k), "REML": block(ll_reml, -2 * ll_reml, k - p)}
