"""Text and table views of :class:`~multilevel.RmaMhFit` and :class:`~multilevel.RmaPetoFit` in metafor's layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..shared._format import DEFAULT_DIGITS, fcf, fitstats_lines, fmt_pval, print_vector_lines

if TYPE_CHECKING:  # pragma: no cover
    from ._result import TableFit

__all__ = ["RmaMhSummary"]


def _pval_add0(p: float, digits: int) -> str:
    """metafor's p-value with ``add0``: ``"< 0.0001"`` below the cutoff."""
    text = fmt_pval(p, digits, showeq=True, sep=" ")[0]
    return text.replace("< .", "< 0.")


def _heterogeneity(fit: TableFit, digits: int) -> list[str]:
    out = []
    if not np.isnan(fit.I2):
        out.append(f"I^2 (total heterogeneity / total variability):  {fcf(fit.I2, 2)[0]}%")
    if not np.isnan(fit.H2):
        out.append(f"H^2 (total variability / sampling variability): {fcf(fit.H2, 2)[0]}")
    if not np.isnan(fit.QE):
        q = fmt_pval(fit.QEp, digits, showeq=True, sep=" ")[0]
        out += ["", "Test for Heterogeneity:", f"Q(df = {fit.q_df}) = {fcf(fit.QE, digits)[0]}, p-val {q}"]
    if out:
        out.append("")
    return out


def _results(fit: TableFit, digits: int) -> list[str]:
    names = ["estimate", "se", "zval", "pval", "ci.lb", "ci.ub"]
    values = [fcf(fit.estimate, digits)[0], fcf(fit.se, digits)[0], fcf(fit.zval, digits)[0],
              fmt_pval(fit.pval, digits)[0], fcf(fit.ci_lb, digits)[0], fcf(fit.ci_ub, digits)[0]]
    if fit.measure not in ("OR", "RR", "IRR", "PETO"):
        return ["Model Results:", "", *print_vector_lines(names, values)]
    scale = "OR" if fit.measure == "PETO" else fit.measure
    exp_values = fcf(np.exp([fit.estimate, fit.ci_lb, fit.ci_ub]), digits)
    return ["Model Results (log scale):", "", *print_vector_lines(names, values), "",
            f"Model Results ({scale} scale):", "", *print_vector_lines(["estimate", "ci.lb", "ci.ub"], exp_values)]


def _tests(fit: TableFit, digits: int) -> list[str]:
    t = fit.tests
    if fit.measure == "IRR":
        if np.isnan(t.MH):
            return ["", "Mantel-Haenszel Test: test value not computable for these data"]
        p = fmt_pval(t.MHp, digits, showeq=True, sep=" ")[0]
        return ["", f"Mantel-Haenszel Test: MH = {fcf(t.MH, digits)[0]}, df = 1, p-val {p}"]
    if fit.measure != "OR" or fit.method != "MH":
        return []
    mh = None if np.isnan(t.MH) else fcf(t.MH, digits)[0]
    ta = None if np.isnan(t.TA) else fcf(t.TA, digits)[0]
    width = max([len(s) for s in (mh, ta) if s is not None], default=1)
    head = "Cochran-Mantel-Haenszel Test:    "
    if mh is None:
        first = head + "test value not computable for these data"
    else:
        pad = " " * (len(str(int(t.k_pos))) - 1)
        first = f"{head}CMH = {mh.rjust(width)}, df = 1,{pad} p-val {_pval_add0(t.MHp, digits)}"
    head = "Tarone's Test for Heterogeneity: "
    if ta is None:
        second = head + "test value not computable for these data"
    else:
        second = f"{head}X^2 = {ta.rjust(width)}, df = {int(t.k_pos) - 1}, p-val {_pval_add0(t.TAp, digits)}"
    return ["", first, second]


@dataclass(frozen=True, eq=False, repr=False)
class RmaMhSummary(TextReport, FrameMapping):
    """metafor's printed layout of a Mantel-Haenszel or Peto fit (``print`` or ``summary``).

    ``str()`` gives the text (also shown in notebooks and Markdown) and ``to_frame()`` the
    model-results table (one row, ``intrcpt``).
    """

    fit: TableFit
    showfit: bool = False
    digits: int = DEFAULT_DIGITS

    def lines(self) -> list[str]:
        """The printed lines."""
        fit, d = self.fit, self.digits
        out = ["", f"Equal-Effects Model (k = {fit.k})"]
        if self.showfit:
            st = fit.fit_stats["ML"]
            out += ["", *fitstats_lines([st["ll"], st["dev"], st["AIC"], st["BIC"], st["AICc"]], d)]
        out += ["", *_heterogeneity(fit, d), *_results(fit, d), *_tests(fit, d), ""]
        return out

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines())

    def to_frame(self) -> pd.DataFrame:
        """Model results: estimate, se, zval, pval, ci_lb, ci_ub (log scale for ratios)."""
        fit = self.fit
        return pd.DataFrame({"estimate": [fit.estimate], "se": [fit.se], "zval": [fit.zval], "pval": [fit.pval],
                             "ci_lb": [fit.ci_lb], "ci_ub": [fit.ci_ub]}, index=pd.Index(["intrcpt"]))
