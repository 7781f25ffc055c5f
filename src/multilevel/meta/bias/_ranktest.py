"""Begg and Mazumdar's rank correlation test for funnel-plot asymmetry (metafor's ``ranktest``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval
from ._core import kendall_test
from ._input import effects_from

__all__ = ["ranktest", "RanktestResult"]


@dataclass(frozen=True, eq=False, repr=False)
class RanktestResult(TextReport, FrameMapping):
    """Result of :func:`ranktest` (frozen).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b) between the standardized effects and the sampling variances.
    pval : float
        Two-sided p-value.
    exact : bool
        Whether the p-value is exact (no ties) or from the normal approximation (ties).
    k : int
        Number of studies.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> test = ml.ranktest(ml.rma("yi", "vi", data=dat))
    >>> round(test.tau, 4), round(test.pval, 4)
    (0.0256, 0.9524)
    """

    tau: float
    pval: float
    exact: bool
    k: int
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """One row: tau, pval, exact, k.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.ranktest(ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))).to_frame().round(4)
              tau    pval  exact   k
        0  0.1441  0.2157   True  37
        """
        return pd.DataFrame({"tau": [self.tau], "pval": [self.pval], "exact": [self.exact], "k": [self.k]})

    def lines(self) -> list[str]:
        """The printed lines (metafor's ``print.ranktest``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.ranktest(ml.rma("yi", "vi", data=dat)).lines()[3]
        "Kendall's tau = 0.0256, p = 0.9524"
        """
        p = fmt_pval(self.pval, self.digits, showeq=True, sep=" ")[0]
        return ["", "Rank Correlation Test for Funnel Plot Asymmetry", "",
                f"Kendall's tau = {fcf(self.tau, self.digits)[0]}, p {p}", ""]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def ranktest(x: Any, vi: Any = None, *, sei: Any = None, data: Any = None, exact: bool = True) -> RanktestResult:
    r"""Rank correlation test for funnel-plot asymmetry (Begg & Mazumdar, 1994; metafor's ``ranktest``).

    Parameters
    ----------
    x : RmaFit, str or array_like
        A fit from :func:`~multilevel.rma` (its effects and variances are used; moderators are
        ignored, as in metafor), or effect sizes (a column of ``data`` or an array).
    vi, sei : str or array_like, optional
        Sampling variances or standard errors when ``x`` holds effect sizes.
    data : DataFrame, optional
        Table holding the named columns.
    exact : bool
        Use the exact distribution of Kendall's statistic when there are no ties (default,
        as metafor); with ties, or ``exact=False``, the normal approximation with the
        ties-corrected variance.

    Returns
    -------
    RanktestResult

    Notes
    -----
    With the fixed-effects estimate :math:`\hat\theta = \sum w_i y_i / \sum w_i`,
    :math:`w_i = 1/v_i`, the standardized effects

    .. math::

        y_i^* = \frac{y_i - \hat\theta}{\sqrt{v_i^*}}, \qquad v_i^* = v_i - \Big(\sum_j w_j\Big)^{-1},

    are correlated with :math:`v_i` by Kendall's tau. Without ties the two-sided p-value is
    twice the smaller tail of the exact permutation distribution, computed directly (R's
    ``cor.test`` subtracts the other tail from 1, which loses digits only for p-values near
    machine precision).

    References
    ----------
    Begg, C. B., & Mazumdar, M. (1994). Operating characteristics of a rank correlation test
    for publication bias. Biometrics, 50(4), 1088-1101.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> print(ml.ranktest(ml.rma("yi", "vi", data=dat)))
    <BLANKLINE>
    Rank Correlation Test for Funnel Plot Asymmetry
    <BLANKLINE>
    Kendall's tau = 0.0256, p = 0.9524
    <BLANKLINE>
    """
    eff = effects_from(x, vi, sei, None, data, function="ranktest")
    y, v = eff.yi, eff.vi
    w = 1.0 / v
    theta = float(np.sum(w * y) / np.sum(w))
    v_star = v - 1.0 / float(np.sum(w))
    with np.errstate(invalid="ignore"):
        y_star = (y - theta) / np.sqrt(v_star)
    ok = np.isfinite(y_star)
    if ok.sum() < 2:
        tau = pval = math.nan
        is_exact = False
    else:
        tau, pval, is_exact = kendall_test(y_star[ok], v[ok], exact=bool(exact))
    return RanktestResult(float(tau), float(pval), bool(is_exact), int(y.shape[0]))
