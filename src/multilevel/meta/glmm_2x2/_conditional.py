r"""The conditional model with the exact likelihood (``CM.EL``) of :func:`rma_glmm` (internal).

Given the total events :math:`m_i = a_i + c_i` of table :math:`i` (group sizes :math:`n_{1i}`,
:math:`n_{2i}`), the events of group 1 follow Fisher's noncentral hypergeometric distribution

.. math::

    P(a_i \mid \theta_i) = \binom{n_{1i}}{a_i}\binom{n_{2i}}{m_i - a_i} e^{a_i\theta_i}
        \Big/ \sum_y \binom{n_{1i}}{y}\binom{n_{2i}}{m_i - y} e^{y\theta_i},

with :math:`\theta_i` the log odds ratio of the table. The equal-effects model has
:math:`\theta_i = \mu`; it is fitted by Newton's method (the log-likelihood is concave, its
curvature :math:`-\sum_i \mathrm{Var}(a_i \mid \mu)`). The saturated model has one
:math:`\theta_i` per table. The random-effects model takes :math:`\theta_i \sim N(\mu, \tau^2)`;
each table's likelihood :math:`\int P(a_i \mid \theta) \phi(\theta; \mu, \tau^2)\, d\theta` is
computed as metafor does, with QUADPACK's adaptive quadrature over the real line (R's
``integrate``, here SciPy's ``quad``: relative and absolute tolerance :math:`\epsilon^{1/4}`, 100
subintervals), :math:`\theta` held within :math:`\pm\log 10^{12}` in both factors. The
log-likelihood is maximized over :math:`(\mu, \log\tau^2)` and the covariance of the estimates is
the inverse of its Hessian by Richardson extrapolation of central differences, the scheme metafor
uses (numDeriv's ``hessian``: first steps a tenth of each coordinate, four halvings). The steps
matter: at the default tolerance the quadrature's error in the log-likelihood (up to ~5e-6 near the
estimates, changing non-smoothly with :math:`(\mu, \tau^2)`) enters the second differences. With
metafor's steps the likelihood is evaluated at metafor's points by the same rule, and the standard
errors agree with metafor's to ~1e-7, quadrature error included (for dat.nielweise2007 that error
moves the p-value of :math:`\mu` by 7e-4 from the fit with integrals to 1e-10, in metafor as here).
As metafor, the Hessian is inverted by its Cholesky factor, or (with a warning) by a QR
decomposition when it is not positive definite, and the standard error of :math:`\mu` is checked
against that of Peto's random-effects (REML) model of the same tables (:func:`peto_se_ratio`): a
ratio of 100 or more either way is reported.

The estimate of :math:`\tau^2` is on the boundary, 0, when the optimum found inside is no better
than the equal-effects fit (whose likelihood needs no quadrature). That happens when the likelihood
decreases from :math:`\tau^2 = 0` on (its slope there, :func:`boundary_slope`, is negative): the
maximum over :math:`\log\tau^2` is then at :math:`-\infty`, and the optimizer stops where the
normal density, narrower than the quadrature's first subintervals, is missed at the neighbouring
points (the likelihood there jumps down). The fit is then the equal-effects one (metafor 3.8-1
reports the point where its optimizer stopped instead; later versions of metafor treat
:math:`\tau^2 < 10^{-4}` as 0 for the standard errors).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, linalg, optimize
from scipy.special import gammaln, logsumexp

from ..._exceptions import ConvergenceWarning, ModelSpecificationError, MultilevelError
from ..univariate._core import estimate_tau2

__all__ = ["Tables", "fe_fit", "saturated_fit", "ml_fit", "boundary_slope", "richardson_hessian",
           "ml_covariance", "peto_se_ratio"]

_CLAMP = math.log(1e12)
_QUAD_TOL = np.finfo(float).eps ** 0.25
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class Tables:
    """Support and log base measure of each table's conditional distribution (internal)."""

    a: list[int]
    support: list[np.ndarray]
    logbase: list[np.ndarray]

    @classmethod
    def from_cells(cls, ai: np.ndarray, bi: np.ndarray, ci: np.ndarray, di: np.ndarray) -> "Tables":
        a_list, sup, base = [], [], []
        for a, b, c, d in zip(ai, bi, ci, di):
            n1, n2, m = a + b, c + d, a + c
            y = np.arange(max(0.0, m - n2), min(n1, m) + 1)
            logc = (gammaln(n1 + 1) - gammaln(y + 1) - gammaln(n1 - y + 1)
                    + gammaln(n2 + 1) - gammaln(m - y + 1) - gammaln(n2 - m + y + 1))
            a_list.append(int(round(a)))
            sup.append(y)
            base.append(logc - logc.max())
        return cls(a_list, sup, base)

    def __len__(self) -> int:
        return len(self.a)

    def logp(self, i: int, theta: float) -> float:
        """log P(a_i | theta), theta held within +-log(1e12)."""
        t = min(max(theta, -_CLAMP), _CLAMP)
        y, lb = self.support[i], self.logbase[i]
        w = lb + y * t
        top = w.max()
        return float(w[self.a[i] - int(y[0])] - top - math.log(np.exp(w - top).sum()))

    def moments(self, i: int, theta: float) -> tuple[float, float]:
        """Mean and variance of a_i given theta."""
        y, lb = self.support[i], self.logbase[i]
        w = lb + y * theta
        p = np.exp(w - logsumexp(w))
        mean = float(p @ y)
        return mean, float(p @ (y - mean) ** 2)

    def on_boundary(self, i: int) -> bool:
        """Whether the observed count is an end of the support (the table's own MLE is infinite)."""
        return self.a[i] in (int(self.support[i][0]), int(self.support[i][-1]))


@dataclass(frozen=True)
class CondFit:
    """Estimates of one conditional fit (internal)."""

    beta: float
    var: float
    tau2: float
    se_tau2: float
    ll: float
    messages: tuple[tuple[type, str], ...] = ()


def fe_fit(tables: Tables, start: float = 0.0, tol: float = 1e-12, maxit: int = 100) -> CondFit:
    """Equal-effects fit: Newton's method on the concave conditional log-likelihood."""
    mu = start
    for _ in range(maxit):
        score, info = 0.0, 0.0
        for i in range(len(tables)):
            mean, var = tables.moments(i, mu)
            score += tables.a[i] - mean
            info += var
        step = score / info
        mu += step
        if abs(step) < tol * (1 + abs(mu)):
            break
    info = sum(tables.moments(i, mu)[1] for i in range(len(tables)))
    ll = sum(tables.logp(i, mu) for i in range(len(tables)))
    return CondFit(mu, 1.0 / info, 0.0, float("nan"), ll)


def saturated_fit(tables: Tables) -> tuple[float, float]:
    """Log-likelihood of the saturated model (a log odds ratio per table) and the Wald statistic of
    the equality of the log odds ratios (inverse-variance weighted squared deviations).

    Tables whose count is at an end of its support have an infinite estimate: they contribute the
    likelihood at the bound of theta and nothing to the Wald statistic (metafor's Hessian column of
    such a table is zero and is dropped).
    """
    ll, thetas, infos = 0.0, [], []
    for i in range(len(tables)):
        if tables.on_boundary(i):
            lo = tables.a[i] == int(tables.support[i][0])
            ll += tables.logp(i, -_CLAMP if lo else _CLAMP)
            continue
        theta = fe_fit(Tables([tables.a[i]], [tables.support[i]], [tables.logbase[i]])).beta
        ll += tables.logp(i, theta)
        thetas.append(theta)
        infos.append(tables.moments(i, theta)[1])
    t, w = np.asarray(thetas), np.asarray(infos)
    wald = float(w @ (t - (w @ t) / w.sum()) ** 2) if t.size else 0.0
    return ll, wald


def _table_integral(tables: Tables, i: int, mu: float, tau: float, tol: float, memo: dict[float, float]) -> float:
    def integrand(theta: float) -> float:
        t = min(max(theta, -_CLAMP), _CLAMP)
        logp = memo.get(t)
        if logp is None:
            logp = memo[t] = tables.logp(i, t)
        z = (t - mu) / tau
        return math.exp(logp - 0.5 * z * z - _LOG_SQRT_2PI) / tau

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=tol, epsrel=tol, limit=100)
    return value


def ml_deviance(tables: Tables, par: np.ndarray, tol: float = _QUAD_TOL,
                memo: list[dict[float, float]] | None = None) -> float:
    """Minus the integrated log-likelihood at ``(mu, log tau2)`` (quadrature tolerance ``tol``).

    ``memo`` (one dict per table) keeps the tables' log densities at the quadrature's nodes between
    calls: the nodes of QUADPACK's rule on the transformed infinite range do not depend on
    ``(mu, tau2)``, so that successive calls mostly evaluate the same ones.
    """
    mu, tau = float(par[0]), math.exp(0.5 * float(par[1]))
    memo = [{} for _ in range(len(tables))] if memo is None else memo
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for i in range(len(tables)):
            value = _table_integral(tables, i, mu, tau, tol, memo[i])
            if value <= 0:
                return math.inf
            total += math.log(value)
    return -total


def richardson_hessian(f, x: np.ndarray, d: float = 0.1, eps: float = 1e-4, r: int = 4, v: float = 2.0) -> np.ndarray:
    """Hessian of ``f`` at ``x`` by Richardson extrapolation of central differences (numDeriv's
    ``hessian`` with its default settings: first step ``d`` times each coordinate, ``eps`` for
    near-zero coordinates, ``r`` steps each ``v`` times smaller)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    f0 = f(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < math.sqrt(np.finfo(float).eps / 7e-7))
    H = np.zeros((n, n))

    def extrapolate(values: list[float]) -> float:
        vals = list(values)
        for m in range(1, r):
            vals = [(vals[k + 1] * 4**m - vals[k]) / (4**m - 1) for k in range(r - m)]
        return vals[0]

    for i in range(n):
        e = np.eye(n)[i]
        seq = []
        for k in range(r):
            h = h0 / v**k
            seq.append((f(x + e * h) - 2 * f0 + f(x - e * h)) / h[i] ** 2)
        H[i, i] = extrapolate(seq)
    for i in range(n):
        for j in range(i):
            ei, ej = np.eye(n)[i], np.eye(n)[j]
            seq = []
            for k in range(r):
                h = h0 / v**k
                num = f(x + ei * h + ej * h) - 2 * f0 + f(x - ei * h - ej * h)
                seq.append((num - H[i, i] * h[i] ** 2 - H[j, j] * h[j] ** 2) / (2 * h[i] * h[j]))
            H[i, j] = H[j, i] = extrapolate(seq)
    return H


def ml_covariance(H: np.ndarray) -> tuple[np.ndarray, tuple[tuple[type, str], ...]]:
    """Inverse of the Hessian of the random-effects fit, as metafor's ``rma.glmm``: by its Cholesky
    factor; when it is not positive definite, with a warning, by a QR decomposition.

    Raises :class:`~multilevel.ModelSpecificationError` when it cannot be inverted, or when the
    variance of the pooled log odds ratio comes out non-positive.
    """
    if not np.all(np.isfinite(H)):
        raise ModelSpecificationError("cannot invert the Hessian of the ML model (CM.EL): it has non-finite "
                                      "entries; the likelihood cannot be evaluated near the estimates")
    messages: tuple[tuple[type, str], ...] = ()
    try:
        vb = linalg.cho_solve(linalg.cho_factor(H, lower=True), np.eye(H.shape[0]))
    except linalg.LinAlgError:
        messages = ((ConvergenceWarning, "the Hessian of the ML model (CM.EL) is not positive definite (its Cholesky "
                     "factorization failed): it is inverted by a QR decomposition; treat the standard errors "
                     "with caution"),)
        q, r = np.linalg.qr(H)
        d = np.abs(np.diag(r))
        if d.min() <= 1e-7 * max(d.max(), np.finfo(float).tiny):
            raise ModelSpecificationError("cannot invert the Hessian of the ML model (CM.EL): it is singular") from None
        vb = linalg.solve_triangular(r, q.T)
    if vb[0, 0] <= 0:
        raise ModelSpecificationError("cannot compute the variance of the pooled log odds ratio of the ML model "
                                      f"(CM.EL): the inverse Hessian gives {vb[0, 0]:.4g}")
    return vb, messages


def peto_se_ratio(ai: np.ndarray, bi: np.ndarray, ci: np.ndarray, di: np.ndarray, var: float) -> float:
    """Standard error of Peto's random-effects (REML) pooled log odds ratio of the tables (nothing
    added to zero cells) over ``sqrt(var)``; NaN when that model cannot be fitted.

    metafor's ``rma.glmm`` compares the two (for one coefficient) to flag standard errors that a
    poorly determined Hessian made unusually small (ratio >= 100) or large (ratio <= 1/100).
    """
    n1, n2 = ai + bi, ci + di
    n, events = n1 + n2, ai + ci
    with np.errstate(divide="ignore", invalid="ignore"):
        hyper_var = events * (n - events) * n1 * n2 / (n**2 * (n - 1))
        ok = np.isfinite(hyper_var) & (hyper_var > 0)
        yi, vi = (ai - events * n1 / n)[ok] / hyper_var[ok], 1 / hyper_var[ok]
    if yi.size == 0 or not var > 0:
        return float("nan")
    tau2 = 0.0
    if yi.size > 1:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                tau2 = estimate_tau2(yi, vi, np.ones((yi.size, 1)), "REML").tau2
        except MultilevelError:
            return float("nan")
    return math.sqrt(1.0 / np.sum(1.0 / (vi + tau2)) / var)


def boundary_slope(tables: Tables, mu: float) -> float:
    r"""Derivative of the integrated log-likelihood in :math:`\tau^2` at :math:`\tau^2 = 0`:
    :math:`\tfrac12 \sum_i [(a_i - E(a_i \mid \mu))^2 - \mathrm{Var}(a_i \mid \mu)]` (the second
    order term of the expansion of each table's likelihood in the random effect)."""
    total = 0.0
    for i in range(len(tables)):
        mean, var = tables.moments(i, mu)
        total += 0.5 * ((tables.a[i] - mean) ** 2 - var)
    return total


def ml_fit(tables: Tables, fe: CondFit, tol: float = _QUAD_TOL) -> CondFit:
    r"""Random-effects fit: the integrated likelihood maximized over ``(mu, log tau2)`` (quadrature
    tolerance ``tol``; metafor's default :math:`\epsilon^{1/4}`) from the equal-effects fit ``fe``,
    which is the result (with :math:`\tau^2 = 0`) when the optimum found is no better."""
    memo: list[dict[float, float]] = [{} for _ in range(len(tables))]

    def fun(par: np.ndarray) -> float:
        return ml_deviance(tables, par, tol, memo)

    best = optimize.minimize(fun, np.array([fe.beta, math.log(0.01 + 0.1)]), method="Nelder-Mead",
                             options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000, "maxfev": 8000})
    if not -best.fun > fe.ll:
        return CondFit(fe.beta, fe.var, 0.0, float("nan"), fe.ll)
    par = best.x
    vb, messages = ml_covariance(richardson_hessian(fun, par))
    tau2 = math.exp(par[1])
    se_tau2 = math.sqrt(vb[1, 1]) * tau2 if vb[1, 1] >= 0 else float("nan")
    return CondFit(float(par[0]), float(vb[0, 0]), tau2, se_tau2, -float(best.fun), messages)
