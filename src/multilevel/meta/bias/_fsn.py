"""Fail-safe N (file-drawer analysis) as metafor's ``fsn``: Rosenthal, Orwin and Rosenberg."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError
from ..._rformat import format_num
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval
from ..univariate._rma import RmaFit
from ._core import fsn_fisher, fsn_orwin, fsn_rosenberg, fsn_rosenthal, round_fsn
from ._input import check_choice, effects_from, optional_column

__all__ = ["fsn", "FsnResult"]

_TYPES = ("Rosenthal", "Orwin", "Rosenberg")


def _r_number(x: float) -> str:
    """A number as R's ``cat`` shows it (up to 7 significant digits)."""
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NA"
    return format_num([x], 7)[0].strip()


@dataclass(frozen=True, eq=False, repr=False)
class FsnResult(TextReport, FrameMapping):
    """Result of :func:`fsn` (frozen); fields use metafor's names.

    Attributes
    ----------
    type : str
        ``"Rosenthal"``, ``"Orwin"`` or ``"Rosenberg"``.
    fsnum : float
        The fail-safe N (a whole number, or infinity for Orwin's method with target 0).
    alpha : float
        Target significance level (Rosenthal, Rosenberg).
    pval : float
        Observed significance level: one-sided for Rosenthal, two-sided for Rosenberg; NaN for Orwin.
    meanes : float
        Average effect size (Orwin, Rosenberg); NaN for Rosenthal.
    target : float
        Target effect size (Orwin); NaN otherwise.
    test : str
        How Rosenthal's method combines the studies: ``"Stouffer"`` or ``"Fisher"``.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> result = ml.fsn("yi", "vi", data=dat)
    >>> result.type, int(result.fsnum)
    ('Rosenthal', 598)
    """

    type: str
    fsnum: float
    alpha: float
    pval: float
    meanes: float
    target: float
    test: str = "Stouffer"
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """One row: type, fsnum, alpha, pval, meanes, target.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.fsn("yi", "vi", data=ml.datasets.load("hackshaw1998"), type="Rosenberg").to_frame().round(4)
                type  fsnum  alpha  pval  meanes  target
        0  Rosenberg  202.0   0.05   0.0  0.1858     NaN
        """
        return pd.DataFrame({"type": [self.type], "fsnum": [self.fsnum], "alpha": [self.alpha],
                             "pval": [self.pval], "meanes": [self.meanes], "target": [self.target]})

    def lines(self) -> list[str]:
        """The printed lines (metafor's ``print.fsn``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.fsn("yi", "vi", data=dat).lines()[6]
        'Fail-safe N: 598'
        """
        d = self.digits
        out = ["", f"Fail-safe N Calculation Using the {self.type} Approach", ""]
        if self.type == "Rosenthal":
            out += [f"Observed Significance Level: {fmt_pval(self.pval, d)[0]}",
                    f"Target Significance Level:   {_r_number(self.alpha)}"]
        elif self.type == "Orwin":
            out += [f"Average Effect Size: {fcf(self.meanes, d)[0]}",
                    f"Target Effect Size:  {fcf(self.target, d)[0]}"]
        else:
            out += [f"Average Effect Size:         {fcf(self.meanes, d)[0]}",
                    f"Observed Significance Level: {fmt_pval(self.pval, d)[0]}",
                    f"Target Significance Level:   {_r_number(self.alpha)}"]
        return out + ["", f"Fail-safe N: {_r_number(self.fsnum)}", ""]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _check_number(value: Any, name: str, *, lower: float, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not lower < float(value) < upper:
        raise ArgumentError(f"{name} must be a number between {lower:g} and {upper:g}, not {value!r}")
    return float(value)


def _orwin_inputs(yi: Any, vi: Any, sei: Any, data: Any, weighted: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Orwin's unweighted method needs no variances: read the effects alone."""
    if weighted or vi is not None or sei is not None or isinstance(yi, RmaFit):
        eff = effects_from(yi, vi, sei, None, data, function="fsn")
        return eff.yi, (eff.vi if weighted else None)
    y = optional_column(yi, None if data is None else pd.DataFrame(data), "yi")
    return y[~np.isnan(y)], None


def fsn(yi: Any, vi: Any = None, *, sei: Any = None, data: Any = None, type: str = "Rosenthal",
        alpha: float = 0.05, target: float | None = None, weighted: bool = False,
        test: str = "Stouffer") -> FsnResult:
    r"""Fail-safe N: how many unpublished null studies would overturn the conclusion (metafor's ``fsn``).

    Parameters
    ----------
    yi : str, array_like or RmaFit
        Effect sizes (a column of ``data`` or an array), or a fit from :func:`~multilevel.rma`
        whose effects and variances are used.
    vi, sei : str or array_like, optional
        Sampling variances or standard errors (not needed for Orwin's unweighted method).
    data : DataFrame, optional
        Table holding the named columns.
    type : {"Rosenthal", "Orwin", "Rosenberg"}
        The method.
    alpha : float
        Target significance level (Rosenthal: one-sided; Rosenberg: two-sided).
    target : float, optional
        Orwin's target average effect (default: half the observed average).
    weighted : bool
        Orwin's method with the inverse-variance weighted average.
    test : {"Stouffer", "Fisher"}
        How Rosenthal's method combines the studies' one-sided p-values.

    Returns
    -------
    FsnResult

    Notes
    -----
    Rosenthal (1979): the number :math:`N` of studies with :math:`z = 0` for which Stouffer's
    combined test :math:`\sum z_i / \sqrt{k + N}` reaches :math:`z_{1-\alpha}`,

    .. math::

        N = \frac{(\sum_i z_i)^2}{z_{1-\alpha}^2} - k, \qquad z_i = y_i / \sqrt{v_i};

    with Fisher's method, the number of studies with :math:`p = 1/2` for which Fisher's
    combined p-value reaches :math:`\alpha`. Orwin (1983): the number of studies with effect
    0 that bring the average to the target, :math:`N = k(\bar y - \theta_t)/\theta_t`.
    Rosenberg (2005): the number of studies with effect 0 and average weight for which the
    fixed-effects test of the weighted mean is just non-significant at :math:`\alpha`.
    Fractional results are rounded up.

    References
    ----------
    Rosenthal, R. (1979). The "file drawer problem" and tolerance for null results.
    Psychological Bulletin, 86(3), 638-641.

    Orwin, R. G. (1983). A fail-safe N for effect size in meta-analysis. Journal of
    Educational Statistics, 8(2), 157-159.

    Rosenberg, M. S. (2005). The file-drawer problem revisited: A general weighted method for
    calculating fail-safe numbers in meta-analysis. Evolution, 59(2), 464-468.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> print(ml.fsn("yi", "vi", data=dat))
    <BLANKLINE>
    Fail-safe N Calculation Using the Rosenthal Approach
    <BLANKLINE>
    Observed Significance Level: <.0001
    Target Significance Level:   0.05
    <BLANKLINE>
    Fail-safe N: 598
    <BLANKLINE>
    >>> res = ml.fsn("yi", data=dat, type="Orwin")
    >>> res.fsnum, round(res.meanes, 4), round(res.target, 4)
    (13.0, -0.7407, -0.3703)
    """
    type = check_choice(type, "type", _TYPES)
    test = check_choice(test, "test", ("Stouffer", "Fisher"))
    nan = float("nan")
    if type == "Orwin":
        if target is not None:
            if isinstance(target, bool) or not isinstance(target, numbers.Real) or not math.isfinite(target):
                raise ArgumentError(f"target must be a finite number, not {target!r}")
            target = float(target)
        y, v = _orwin_inputs(yi, vi, sei, data, bool(weighted))
        num, meanes, tgt = fsn_orwin(y, v, target)
        return FsnResult("Orwin", round_fsn(num), nan, nan, meanes, tgt, test)
    alpha = _check_number(alpha, "alpha", lower=0.0, upper=1.0)
    eff = effects_from(yi, vi, sei, None, data, function="fsn")
    if type == "Rosenberg":
        num, meanes, pval = fsn_rosenberg(eff.yi, eff.vi, alpha)
        return FsnResult("Rosenberg", round_fsn(num), alpha, pval, meanes, nan, test)
    num, pval = (fsn_fisher if test == "Fisher" else fsn_rosenthal)(eff.yi, eff.vi, alpha)
    return FsnResult("Rosenthal", round_fsn(num), alpha, pval, nan, nan, test)
