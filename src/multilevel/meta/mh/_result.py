"""Results of :func:`~multilevel.rma_mh` and :func:`~multilevel.rma_peto` (frozen)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._display import TextReport
from ..shared._pooled import PooledEstimate
from ._core import TableTests
from ._print import RmaMhSummary

__all__ = ["TableFit", "RmaMhFit", "RmaPetoFit"]



@dataclass(frozen=True, eq=False, repr=False)
class TableFit(PooledEstimate, TextReport):
    """What a Mantel-Haenszel and a Peto fit share (an equal-effects model of 2x2 tables or rates).

    Attributes
    ----------
    measure : str
        ``"OR"``, ``"RR"``, ``"RD"``, ``"IRR"``, ``"IRD"`` or ``"PETO"``.
    estimate, se, zval, pval, ci_lb, ci_ub : float
        The pooled effect (log scale for OR, RR, IRR and PETO), its standard error, z
        statistic, p-value and confidence limits.
    QE, QEp, I2, H2 : float
        Test for heterogeneity, its p-value, I^2 (percent) and H^2.
    tests : TableTests
        Cochran-Mantel-Haenszel and Tarone's tests (OR), the Mantel-Haenszel test (IRR).
    k, k_yi : int
        Tables used, and those with a study-level outcome ``yi``.
    level : float
        Confidence level in percent.
    yi, vi : numpy.ndarray
        The study-level outcomes and variances used for the heterogeneity statistics.
    dropped_rows : tuple of str
        Labels of the tables dropped for missing values (or by ``drop00`` at the pooling), as
        every fit records them.
    counts : dict of str to numpy.ndarray
        The counts of every row as given (read-only): ``ai``, ``bi``, ``ci``, ``di`` (``bi`` and
        ``di`` derived from group sizes when those were given), or ``x1i``, ``x2i``, ``t1i``,
        ``t2i`` for incidence rates, before any continuity correction or dropping (metafor's
        ``outdat.f``). :func:`~multilevel.labbe` draws the arms from them.

    Notes
    -----
    ``fit_stats`` (``{"ML": {...}, "REML": {...}}``), ``add``, ``to``, ``drop00`` and
    ``correct`` are kept for the printed report; they are internal and may change.
    """

    measure: str
    estimate: float
    se: float
    QE: float
    QEp: float
    I2: float
    H2: float
    tests: TableTests
    k: int
    k_yi: int
    level: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    fit_stats: dict = field(repr=False)
    add: tuple = field(repr=False, default=(0.5, 0.0))
    to: tuple = field(repr=False, default=("only0", "none"))
    drop00: tuple = field(repr=False, default=(True, False))
    correct: bool = field(repr=False, default=True)
    dropped_rows: tuple[str, ...] = field(repr=False, default=())
    counts: dict = field(repr=False, default_factory=dict)

    method = "MH"

    # ------------------------------------------------------------------ estimates
    @property
    def q_df(self) -> int:
        """Degrees of freedom printed with the test for heterogeneity."""
        return max(self.k_yi - 1, 0)

    # ------------------------------------------------------------------ result protocol
    @property
    def loglik(self) -> float:
        """Log-likelihood of the equal-effects model of the outcomes ``yi`` (metafor's ``logLik``)."""
        return self.fit_stats["ML"]["ll"]

    @property
    def num_params(self) -> int:
        """Estimated parameters of the likelihood behind ``loglik`` (one: the pooled effect)."""
        return 1

    @property
    def aic(self) -> float:
        """AIC (one parameter)."""
        return self.fit_stats["ML"]["AIC"]

    @property
    def bic(self) -> float:
        """BIC (one parameter)."""
        return self.fit_stats["ML"]["BIC"]

    def predict(self, *, transf: Callable[[np.ndarray], np.ndarray] | None = None,
                level: float | None = None) -> pd.DataFrame:
        """The pooled effect with its confidence interval (``pred, se, ci_lb, ci_ub``).

        ``transf`` (e.g. ``np.exp``) is applied to the estimate and limits, and ``se`` is
        then missing, as in metafor.

        Examples
        --------
        >>> import numpy as np, multilevel as ml
        >>> fit = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit.predict(transf=np.exp).round(4)
             pred  se   ci_lb  ci_ub
        0  0.6229 NaN  0.5748  0.675
        """
        lo, hi = self._limits(self._level(level))
        values = np.array([self.estimate, lo, hi])
        se = self.se
        if transf is not None:
            values, se = np.asarray(transf(values), dtype=float), np.nan
        return pd.DataFrame({"pred": [values[0]], "se": [se], "ci_lb": [values[1]], "ci_ub": [values[2]]})

    def fitstats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC and AICc (metafor's ``fitstats``)."""
        st = self.fit_stats["ML"]
        return pd.Series([st["ll"], st["dev"], st["AIC"], st["BIC"], st["AICc"]],
                         index=["logLik", "deviance", "AIC", "BIC", "AICc"], name="ML")

    def summary(self) -> Any:
        """The printed report with the fit statistics (metafor's ``summary``)."""

        return RmaMhSummary(self, showfit=True)

    def _results_frame(self) -> pd.DataFrame:
        return RmaMhSummary(self).to_frame()

    def __str__(self) -> str:
        return str(RmaMhSummary(self))



@dataclass(frozen=True, eq=False, repr=False)
class RmaMhFit(TableFit):
    """Result of :func:`~multilevel.rma_mh` (frozen); see :class:`TableFit` for the fields.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> round(fit.estimate, 4), round(fit.tests.MH, 4)
    (-0.4734, 135.6889)
    """

    method = "MH"


@dataclass(frozen=True, eq=False, repr=False)
class RmaPetoFit(TableFit):
    """Result of :func:`~multilevel.rma_peto` (frozen); see :class:`TableFit` for the fields.

    ``k_pos`` counts the tables with a positive hypergeometric variance; the test for
    heterogeneity is printed with ``k_pos - 1`` df, as metafor prints it.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> round(fit.estimate, 4)
    -0.4744
    """

    method = "Peto"

    @property
    def q_df(self) -> int:
        """Degrees of freedom printed with the test for heterogeneity (``k_pos - 1``)."""
        return int(self.tests.k_pos) - 1
