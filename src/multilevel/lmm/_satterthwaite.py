"""Satterthwaite degrees of freedom for the fixed effects of a linear mixed model (lmerTest's method).

The variance parameters are ``varpar = (theta, sigma)``. Their asymptotic
covariance is ``A = 2 H^{-1}`` with ``H`` the Hessian of the deviance (REML
criterion for REML fits) in that parametrization, not profiled over sigma:

.. math::

    d(\\theta, \\sigma) = \\log|L_\\theta|^2 + \\frac{r^2(\\theta)}{\\sigma^2} + n\\log(2\\pi\\sigma^2)
        \\; [+\\; \\log|R_X|^2 - p\\log(2\\pi\\sigma^2) \\text{ for REML}].

For a contrast ``l``, with ``C(varpar) = sigma^2 (R_X'R_X)^{-1}`` the covariance of
the fixed effects and ``g_j = l' (dC/d varpar_j) l``,

.. math::

    \\nu = \\frac{2 (l' C l)^2}{g' A g}.

Derivatives are taken by Richardson extrapolation with the settings of R's
``numDeriv`` (``d = 0.1``, ``eps = 1e-4``, ``r = 4``, ``v = 2``), as lmerTest
does. Reference: Kuznetsova, Brockhoff and Christensen (2017), lmerTest package:
tests in linear mixed effects models, J. Stat. Softw. 82(13).

Arrays only: the functions take a :class:`~multilevel.lmm._pls.PLSProblem`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy

from .._display import FrameMapping, TextReport
from .._exceptions import ModelSpecificationError
from .._rformat import format_coefmat
from ._kenward_roger import kenward_roger
from ._profile import pls_pieces

__all__ = ["richardson_jacobian", "richardson_hessian", "varpar_deviance", "covbeta", "SatterthwaiteParts",
           "satterthwaite_parts", "satterthwaite_df", "coef_test"]

_D, _EPS, _R, _V = 0.1, 1e-4, 4, 2.0
_ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))


def _steps(x: np.ndarray) -> np.ndarray:
    return np.abs(_D * x) + _EPS * (np.abs(x) < _ZERO_TOL)


def _extrapolate(a: np.ndarray) -> np.ndarray:
    """Richardson extrapolation over the last axis (steps halving), as numDeriv."""
    for m in range(1, _R):
        a = (a[..., 1:] * 4.0**m - a[..., :-1]) / (4.0**m - 1.0)
    return a[..., 0]


def richardson_jacobian(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Jacobian of a vector function, shape ``(len(fn(x)), len(x))`` (numDeriv's ``jacobian``)."""
    x = np.asarray(x, dtype=float)
    h0 = _steps(x)
    cols = []
    for i in range(x.size):
        approx = []
        h = h0.copy()
        for _ in range(_R):
            dx = np.zeros_like(x)
            dx[i] = h[i]
            approx.append((np.ravel(fn(x + dx)) - np.ravel(fn(x - dx))) / (2.0 * h[i]))
            h = h / _V
        cols.append(_extrapolate(np.stack(approx, axis=-1)))
    return np.stack(cols, axis=-1)


def richardson_hessian(fn: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Hessian of a scalar function (numDeriv's ``hessian``, via ``genD``)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    f0 = float(fn(x))
    h0 = _steps(x)
    hdiag = np.empty(n)
    for i in range(n):
        h = h0.copy()
        approx = []
        for _ in range(_R):
            e = np.zeros(n)
            e[i] = h[i]
            approx.append((fn(x + e) - 2.0 * f0 + fn(x - e)) / h[i] ** 2)
            h = h / _V
        hdiag[i] = _extrapolate(np.asarray(approx))
    H = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            approx = []
            for _ in range(_R):
                e = np.zeros(n)
                e[i], e[j] = h[i], h[j]
                approx.append((fn(x + e) - 2.0 * f0 + fn(x - e) - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2)
                              / (2.0 * h[i] * h[j]))
                h = h / _V
            H[i, j] = H[j, i] = _extrapolate(np.asarray(approx))
    return H


def varpar_deviance(problem, varpar: np.ndarray, reml: bool) -> float:
    """Deviance (REML criterion) at ``varpar = (theta, sigma)``, not profiled over sigma (lmerTest's ``devfun_vp``)."""
    theta, sigma = varpar[:-1], varpar[-1]
    pieces = pls_pieces(problem, theta)
    if pieces is None:
        return np.inf
    logdet_L, logdet_RX, pwrss = pieces
    s2 = sigma**2
    dev = logdet_L + pwrss / s2 + problem.n * np.log(2.0 * np.pi * s2)
    if reml:
        dev += logdet_RX - problem.p * np.log(2.0 * np.pi * s2)
    return float(dev)


def covbeta(problem, varpar: np.ndarray) -> np.ndarray:
    """Covariance of the fixed effects ``sigma^2 (R_X'R_X)^{-1}`` at ``varpar``."""
    sol = problem.solve(varpar[:-1])
    rxi = np.linalg.inv(np.triu(sol.RX))  # only the upper triangle of RX is meaningful
    return varpar[-1] ** 2 * (rxi @ rxi.T)


@dataclass(frozen=True, eq=False)
class SatterthwaiteParts:
    """What every contrast needs: ``vcov_beta``, ``vcov_varpar = 2 H^-1`` and the Jacobian of vcov_beta."""

    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: np.ndarray  # (p, p, len(varpar))
    hessian: np.ndarray


def satterthwaite_parts(problem, theta: np.ndarray, sigma: float, reml: bool) -> SatterthwaiteParts:
    """Hessian of the deviance in (theta, sigma) and Jacobian of vcov(beta) at the estimates."""
    varpar = np.append(np.asarray(theta, dtype=float), sigma)
    H = richardson_hessian(lambda vp: varpar_deviance(problem, vp, reml), varpar)
    p = problem.p
    J = richardson_jacobian(lambda vp: covbeta(problem, vp), varpar).reshape(p, p, varpar.size)
    A = 2.0 * np.linalg.pinv(H)
    return SatterthwaiteParts(covbeta(problem, varpar), A, J, H)


def satterthwaite_df(parts: SatterthwaiteParts, L: np.ndarray) -> np.ndarray:
    """Denominator degrees of freedom of each row ``l`` of ``L`` (one-dimensional contrasts)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    var = np.einsum("ij,jk,ik->i", L, parts.vcov_beta, L)
    grad = np.einsum("ia,abv,ib->iv", L, parts.jacobian, L)
    denom = np.einsum("iv,vw,iw->i", grad, parts.vcov_varpar, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * var**2 / denom


def coef_test(beta: np.ndarray, se: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """t values and two-sided p-values with ``df`` degrees of freedom."""
    t = beta / se
    return t, 2.0 * scipy.stats.t.sf(np.abs(t), df)


# --------------------------------------------------------------------------- fit-level entry point
_DDF = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "kr": "Kenward-Roger",
        "kenward_roger": "Kenward-Roger"}


def coef_table(fit, ddf: str = "Satterthwaite"):
    """:meth:`LinearMixedModel.coef_table`: Estimate, Std. Error, df, t value, Pr(>|t|)."""
    import pandas as pd

    method = _DDF.get(str(ddf).lower())
    if method is None:
        raise ModelSpecificationError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger', not {ddf!r}")
    beta = fit.fixef.to_numpy()
    p = beta.size
    if method == "Satterthwaite":
        parts = satterthwaite_parts(fit._problem, fit.theta, fit.sigma, fit.REML)
        vcov = parts.vcov_beta
        df = satterthwaite_df(parts, np.eye(p))
    else:
        vcov, df = kenward_roger(fit)
    se = np.sqrt(np.diag(vcov))
    t, pv = coef_test(beta, se, df)
    table = pd.DataFrame({"Estimate": beta, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": pv},
                         index=list(fit.frame.fixed_names))
    table.attrs["ddf"] = method
    return table


# --------------------------------------------------------------------------- lmerTest's printed summary
_TITLE_WIDTH = 80


@dataclass(frozen=True, eq=False, repr=False)
class LmerTestSummary(TextReport, FrameMapping):
    """lmerTest's ``summary(m, ddf = ...)``: lme4's summary with df and p-values in the fixed effects.

    ``to_frame()`` is the coefficient table (Estimate, Std. Error, df, t value, Pr(>|t|)).
    """

    base: object
    table: object
    ddf: str

    @property
    def title(self) -> str:
        how = "REML" if self.base.REML else "maximum likelihood "
        return f"Linear mixed model fit by {how}. t-tests use {self.ddf}'s method"

    def _title_lines(self) -> list[str]:
        cls = "lmerModLmerTest"
        if len(self.title) + 5 + len(cls) > _TITLE_WIDTH:  # lme4's .prt.methTit: cat(fill = TRUE)
            head = self.title + " ["
            return [head, cls + "]"] if len(head) + len(cls) + 1 > _TITLE_WIDTH else [head + cls + "]"]
        return [f"{self.title} ['{cls}']"]

    def blocks(self) -> list[str]:
        blocks = list(self.base.blocks())
        blocks[0] = "\n".join(self._title_lines())
        if "Fixed effects:" in blocks:
            i = blocks.index("Fixed effects:")
            t = self.table
            blocks[i + 1] = format_coefmat(t.to_numpy(), list(t.index), list(t.columns), digits=4,
                                           cs_ind=(0, 1, 2), tst_ind=[3])
        return blocks

    def to_frame(self):
        return self.table.copy()

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for block in self.blocks() for line in block.split("\n"))


def lmertest_summary(fit, ddf: str = "Satterthwaite") -> LmerTestSummary:
    """:meth:`LinearMixedModel.lmertest_summary`."""
    table = coef_table(fit, ddf)
    return LmerTestSummary(fit.summary(), table, table.attrs["ddf"])
