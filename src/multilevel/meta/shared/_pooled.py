"""The result protocol of a fit with one pooled estimate (``rma_mh``, ``rma_peto``, ``rma_glmm``).

A class using :class:`PooledEstimate` provides ``estimate``, ``se``, ``level`` (percent) and
``k`` (tables used); the mixin derives the Wald statistics, the confidence limits and the
protocol verbs that depend on them alone (``to_frame()`` from the result protocol).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy.special import ndtr, ndtri

from ..._protocol import FitProtocol, confint_frame, level_percent, tidy_frame

__all__ = ["PooledEstimate", "POOLED_TERMS", "PRINTED_TERMS"]

# the protocol names the pooled coefficient as R names an intercept; printed reports keep metafor's name
POOLED_TERMS = ["(Intercept)"]
PRINTED_TERMS = ["intrcpt"]


class PooledEstimate(FitProtocol):
    """Mixin: z test, Wald limits, ``params``, ``vcov()``, ``nobs``, ``confint()`` and ``tidy()``;
    :class:`~multilevel._protocol.FitProtocol` adds ``to_frame()`` (the tidy table; metafor's
    model-results row is ``summary().to_frame()``)."""

    __slots__ = ()

    @property
    def zval(self) -> float:
        """z statistic of the pooled effect."""
        return self.estimate / self.se

    @property
    def pval(self) -> float:
        """Two-sided p-value of the pooled effect."""
        return float(2 * ndtr(-abs(self.zval)))

    def _level(self, level: Any) -> float:
        return self.level if level is None else level_percent(level)

    def _limits(self, level_pct: float) -> tuple[float, float]:
        z = -ndtri((1 - level_pct / 100) / 2)
        return self.estimate - z * self.se, self.estimate + z * self.se

    @property
    def ci_lb(self) -> float:
        """Lower confidence limit (at the fit's level)."""
        return self._limits(self.level)[0]

    @property
    def ci_ub(self) -> float:
        """Upper confidence limit (at the fit's level)."""
        return self._limits(self.level)[1]

    @property
    def params(self) -> pd.Series:
        """The pooled effect as a one-element Series (index ``(Intercept)``; printed reports say ``intrcpt``)."""
        return pd.Series([self.estimate], index=pd.Index(POOLED_TERMS))

    def vcov(self) -> pd.DataFrame:
        """Variance of the pooled effect (1 x 1 DataFrame).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit.vcov().shape
        (1, 1)
        """
        return pd.DataFrame([[self.se ** 2]], index=POOLED_TERMS, columns=POOLED_TERMS)

    @property
    def nobs(self) -> int:
        """Number of tables used."""
        return self.k

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Wald confidence interval of the pooled effect (``level`` a proportion or a percentage).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit.confint().round(4)
                      kind  estimate   lower  upper
        term
        (Intercept)  fixed   -0.4734 -0.5538 -0.393
        """
        pct = self._level(level)
        lo, hi = self._limits(pct)
        return confint_frame(POOLED_TERMS, ["fixed"], [self.estimate], [lo], [hi], level=pct / 100,
                             method="wald")

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per parameter with the protocol's columns (the pooled effect, ``kind="fixed"``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit.tidy().loc[0, "kind"]
        'fixed'
        """
        pct = self._level(level)
        lo, hi = self._limits(pct)
        return tidy_frame(POOLED_TERMS, ["fixed"], [self.estimate], [self.se], [self.zval], [self.pval], [lo], [hi],
                          level=pct / 100)
