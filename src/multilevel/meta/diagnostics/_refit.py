"""Refitting the univariate model on subsets of the studies (arrays in, arrays out).

The case-deletion diagnostics, the cumulative and leave-one-out analyses, GOSH and the
permutation tests all refit :func:`~multilevel.rma` many times. They do so through
:func:`refit`, which runs the same estimator steps as the fit (``estimate_tau2``,
``fixed_effects``, ``heterogeneity``) on arrays without building a result object, and
returns None when the refit fails (metafor then reports ``NA``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..._exceptions import ModelSpecificationError
from ..univariate._core import estimate_tau2, fixed_effects, heterogeneity

__all__ = ["Spec", "Refit", "refit", "spec_of"]

FIXED = ("EE", "FE", "CE")


@dataclass(frozen=True)
class Spec:
    """What is needed to refit a univariate model: data arrays and the fitting options."""

    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    weights: np.ndarray | None
    method: str
    test: str
    level: float
    btt: tuple[int, ...]

    @property
    def fixed_model(self) -> bool:
        return self.method in FIXED

    def subset(self, keep: np.ndarray) -> "Spec":
        """The same model on the studies ``keep`` (a boolean mask or positions)."""
        w = None if self.weights is None else self.weights[keep]
        return Spec(self.yi[keep], self.vi[keep], self.X[keep], w, self.method, self.test, self.level, self.btt)


def spec_of(fit) -> Spec:
    """The refitting spec of an :class:`~multilevel.RmaFit`."""
    return Spec(np.asarray(fit.yi, dtype=float), np.asarray(fit.vi, dtype=float), np.asarray(fit.design.X),
                fit.weights, fit.method, fit.test, float(fit.level), tuple(fit.btt))


@dataclass(frozen=True)
class Refit:
    """Estimates of one refit (coefficients with Wald tests, tau^2 and heterogeneity)."""

    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    tau2: float
    QE: float
    QEp: float
    I2: float
    H2: float
    QM: float
    s2w: float


def _tests(beta, vb, btt, knha, k, p, level):
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    idx = np.asarray(btt)
    QM = float(beta[idx] @ np.linalg.solve(vb[np.ix_(idx, idx)], beta[idx]))
    alpha = 1 - level / 100
    if knha:
        ddf = k - p
        QM /= len(idx)
        pval = 2 * special.stdtr(ddf, -np.abs(zval))
        crit = float(-special.stdtrit(ddf, alpha / 2))
    else:
        pval = 2 * special.ndtr(-np.abs(zval))
        crit = float(-special.ndtri(alpha / 2))
    return se, zval, pval, crit, QM


def refit(spec: Spec, *, tau2: float | None = None) -> Refit | None:
    """Fit the model of ``spec``; None when it cannot be fitted or a coefficient is not estimable.

    With ``tau2`` the heterogeneity variance is held at that value. A single study is fitted
    with tau^2 = 0 and z-tests, as metafor does.
    """
    y, v, X = spec.yi, spec.vi, spec.X
    k, p = X.shape
    if k < p or np.linalg.matrix_rank(X) < p:
        return None
    knha = spec.test == "knha" and k > 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if tau2 is None:
                tau2 = 0.0 if (spec.fixed_model or k == 1) else estimate_tau2(y, v, X, spec.method).tau2
            fe = fixed_effects(y, v, X, tau2, knha=knha, weights=spec.weights)
            se, zval, pval, crit, QM = _tests(fe.beta, fe.vb, spec.btt, knha, k, p, spec.level)
            QE, _, I2, H2 = heterogeneity(y, v, X, tau2, spec.fixed_model)
    except (ModelSpecificationError, np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        return None
    QEp = float(special.chdtrc(k - p, QE)) if k > p else 1.0
    return Refit(fe.beta, fe.vb, se, zval, pval, fe.beta - crit * se, fe.beta + crit * se, float(tau2), float(QE),
                 QEp, float(I2), float(H2), QM, fe.s2w)
