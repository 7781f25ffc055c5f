"""Intraclass correlation and Nakagawa's R-squared of a linear mixed model (as R's ``performance``).

The variance decomposition is Nakagawa, Johnson and Schielzeth (2017):

.. math::

    \\sigma^2_f = \\operatorname{var}(X\\hat\\beta), \\qquad
    \\sigma^2_r = \\sum_{\\text{terms}} \\frac{1}{n}\\sum_i z_i^\\top \\Sigma z_i, \\qquad
    \\sigma^2_\\varepsilon = \\sigma^2,

where, for each random-effects term with covariance ``Sigma``, ``z_i`` holds the
row's values of the term's columns (Johnson 2014's mean random-effect
variance; a random intercept contributes its variance). As performance
(0.10), the columns are taken from the fixed-effects design, so a random slope
whose variable is not also a fixed effect contributes nothing.

* adjusted ICC ``= s2_r / (s2_r + s2_e)``; unadjusted ``= s2_r / (s2_f + s2_r + s2_e)``;
* marginal R2 ``= s2_f / (s2_f + s2_r + s2_e)``; conditional ``= (s2_f + s2_r) / (...)``.

Arrays only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._display import TextReport, TextViews

__all__ = ["VarianceDecomposition", "variance_decomposition", "ICC", "R2"]


@dataclass(frozen=True)
class VarianceDecomposition:
    """Fixed-effects, random-effects and residual variance (Nakagawa et al. 2017)."""

    fixed: float
    random: float
    residual: float

    @property
    def total(self) -> float:
        return self.fixed + self.random + self.residual


class ICC(TextViews, float):
    """Intraclass correlation: a float equal to the ``adjusted`` ICC, which also carries the ``unadjusted`` one.

    ``adjusted`` is random / (random + residual) variance, ``unadjusted`` is random / (fixed + random +
    residual), as performance::icc. Being a float, ``fit.icc()`` can be used directly as the adjusted
    value (``round(fit.icc(), 3)``); printing it shows both, as performance prints them.

    Examples
    --------
    >>> icc = ICC(0.359, 0.25)
    >>> round(icc, 3), icc.adjusted, icc.unadjusted
    (0.359, 0.359, 0.25)
    >>> print(icc)
    # Intraclass Correlation Coefficient
    <BLANKLINE>
        Adjusted ICC: 0.359
      Unadjusted ICC: 0.250
    """

    __slots__ = ("_unadjusted",)

    def __new__(cls, adjusted: float, unadjusted: float) -> "ICC":
        obj = super().__new__(cls, adjusted)
        object.__setattr__(obj, "_unadjusted", float(unadjusted))
        return obj

    def __setattr__(self, name, value):
        raise AttributeError("ICC is immutable")

    @property
    def adjusted(self) -> float:
        return float(self)

    @property
    def unadjusted(self) -> float:
        return self._unadjusted

    def __str__(self) -> str:
        return "\n".join(["# Intraclass Correlation Coefficient", "",
                          f"    Adjusted ICC: {self.adjusted:.3f}", f"  Unadjusted ICC: {self.unadjusted:.3f}"])

    def __repr__(self) -> str:
        return f"ICC(adjusted={self.adjusted!r}, unadjusted={self.unadjusted!r})"

    def __reduce__(self):
        return (ICC, (self.adjusted, self.unadjusted))


@dataclass(frozen=True, repr=False)
class R2(TextReport):
    """Nakagawa's R-squared: ``marginal`` (fixed effects) and ``conditional`` (fixed and random)."""

    conditional: float
    marginal: float

    def __str__(self) -> str:
        return "\n".join(["# R2 for Mixed Models", "", f"  Conditional R2: {self.conditional:.3f}",
                          f"     Marginal R2: {self.marginal:.3f}"])


def variance_decomposition(X: np.ndarray, beta: np.ndarray, fixed_names: Sequence[str],
                           terms: Sequence[tuple[Sequence[str], np.ndarray]], sigma: float) -> VarianceDecomposition:
    """Variance components from the fixed design and each term's ``(column names, covariance)``."""
    eta = X @ beta
    fixed = float(np.var(eta, ddof=1)) if eta.size > 1 else 0.0
    index = {n: j for j, n in enumerate(fixed_names)}
    random = 0.0
    for names, cov in terms:
        keep = [i for i, n in enumerate(names) if n in index]
        if not keep:
            continue
        Z = X[:, [index[names[i]] for i in keep]]
        S = np.asarray(cov)[np.ix_(keep, keep)]
        random += float(np.mean(np.einsum("ni,ij,nj->n", Z, S, Z)))
    return VarianceDecomposition(fixed, random, float(sigma) ** 2)


def icc_from(v: VarianceDecomposition) -> ICC:
    return ICC(v.random / (v.random + v.residual), v.random / v.total)


def r2_from(v: VarianceDecomposition) -> R2:
    return R2((v.fixed + v.random) / v.total, v.fixed / v.total)


def model_icc(fit) -> ICC:
    """:meth:`LinearMixedModel.icc` (reads the fit's design, estimates and variance components)."""
    return icc_from(_decomposition(fit))


def model_r2(fit) -> R2:
    """:meth:`LinearMixedModel.r2`."""
    return r2_from(_decomposition(fit))


def _decomposition(fit) -> VarianceDecomposition:
    templates = fit._problem.templates(fit.theta)
    terms = [(blk.column_names, fit.sigma**2 * (T @ T.T)) for blk, T in zip(fit.frame.blocks, templates)]
    return variance_decomposition(fit.frame.X, fit.fixef.to_numpy(), list(fit.frame.fixed_names), terms,
                                  fit.sigma)
