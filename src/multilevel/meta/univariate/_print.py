"""Text presentation of :class:`~multilevel.meta._rma.RmaFit` in metafor's layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..shared._format import (DEFAULT_DIGITS, fcf, fitstats_lines, heterogeneity_lines, moderators_lines,
                             model_results_lines)
from ..._display import FrameMapping, TextReport

if TYPE_CHECKING:  # pragma: no cover
    from ._rma import RmaFit

__all__ = ["RmaSummary"]

_EPS10 = np.finfo(float).eps * 10
_FIXED_TITLES = {"FE": "Fixed-Effects Model", "EE": "Equal-Effects Model", "CE": "Common-Effects Model"}


def _title(fit: RmaFit) -> str:
    if fit.fixed_model:
        base = _FIXED_TITLES[fit.method] if fit.int_only else "Fixed-Effects with Moderators Model"
        return f"{base} (k = {fit.k})"
    base = "Random-Effects Model" if fit.int_only else "Mixed-Effects Model"
    return f"{base} (k = {fit.k}; tau^2 estimator: {fit.method})"


def _heterogeneity_stats(fit: RmaFit, digits: int) -> list[str]:
    lines = []
    if not fit.fixed_model:
        d = 0 if abs(fit.tau2) <= _EPS10 else digits
        se = "" if np.isnan(fit.se_tau2) else f" (SE = {fcf(fit.se_tau2, digits)[0]})"
        tau = fcf(np.sqrt(fit.tau2), 0 if fit.tau2 <= _EPS10 else digits)[0]
        if fit.int_only:
            lines += [f"tau^2 (estimated amount of total heterogeneity): {fcf(fit.tau2, d)[0]}{se}",
                      f"tau (square root of estimated tau^2 value):      {tau}"]
        else:
            lines += [f"tau^2 (estimated amount of residual heterogeneity):     {fcf(fit.tau2, d)[0]}{se}",
                      f"tau (square root of estimated tau^2 value):             {tau}"]
    if fit.int_only:
        lines += [f"I^2 (total heterogeneity / total variability):   {fcf(fit.I2, 2)[0]}%",
                  f"H^2 (total variability / sampling variability):  {fcf(fit.H2, 2)[0]}"]
    else:
        lines += [f"I^2 (residual heterogeneity / unaccounted variability): {fcf(fit.I2, 2)[0]}%",
                  f"H^2 (unaccounted variability / sampling variability):   {fcf(fit.H2, 2)[0]}"]
        if fit.R2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for):            {fcf(fit.R2, 2)[0]}%")
    return lines + [""]


@dataclass(frozen=True, eq=False, repr=False)
class RmaSummary(TextReport, FrameMapping):
    """metafor's printed layout of an :func:`~multilevel.rma` fit (``print`` or ``summary``).

    ``str()`` gives the text (line for line as metafor prints, trailing blanks
    removed; the notebook views show it), ``to_frame()`` the model-results table.
    """

    fit: RmaFit
    showfit: bool = True
    digits: int = DEFAULT_DIGITS

    def lines(self) -> list[str]:
        """The printed lines."""
        fit, d = self.fit, self.digits
        out = ["", _title(fit), ""]
        if self.showfit:
            st = fit.fit_stats["REML" if fit.method == "REML" else "ML"]
            out += fitstats_lines([st["ll"], st["dev"], st["AIC"], st["BIC"], st["AICc"]], d) + [""]
        out += _heterogeneity_stats(fit, d)
        out += heterogeneity_lines(fit.QE, fit.QEp, fit.k - fit.p, int_only=fit.int_only, digits=d) + [""]
        if fit.p > 1:
            df1, df2 = fit.QMdf
            out += moderators_lines(fit.QM, fit.QMp, [b + 1 for b in fit.btt], df1, df2, digits=d) + [""]
        out += model_results_lines(
            fit.design.names, fit.beta, fit.se, fit.zval, fit.pval, fit.ci_lb, fit.ci_ub,
            df=None if fit.ddf is None else np.full(fit.p, fit.ddf), int_only=fit.int_only, digits=d)
        return out + [""]

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines())

    def to_frame(self) -> pd.DataFrame:
        """Model results: estimate, se, zval (or tval and df), pval, ci_lb, ci_ub."""
        fit = self.fit
        cols = {"estimate": fit.beta, "se": fit.se}
        if fit.ddf is None:
            cols["zval"] = fit.zval
        else:
            cols["tval"] = fit.zval
            cols["df"] = pd.Series(float(fit.ddf), index=fit.beta.index)
        cols.update(pval=fit.pval, ci_lb=fit.ci_lb, ci_ub=fit.ci_ub)
        return pd.DataFrame(cols)
