"""Wald tests of linear combinations of meta-analytic coefficients (metafor's ``anova(fit, X=)``).

For hypotheses ``X beta = rhs`` (one row of ``X`` each) the estimates
``X beta - rhs`` have covariance ``X V X'`` with ``V`` the fit's covariance of
the coefficients; each is tested by a z test (a t test on the fit's df under
Knapp-Hartung or ``test="t"``), and jointly, when ``X`` has full row rank, by
``QM = b' (X V X')^{-1} b`` (divided by the number of rows and referred to an
F distribution under t tests). ``btt`` alone gives the omnibus test of those
coefficients (as the fit's ``QM``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError
from ..._rformat import render_table
from ._btt import resolve_btt
from ._format import DEFAULT_DIGITS, _r_round_str, fcf, fmt_pval, moderators_lines

__all__ = ["LinearHypotheses", "OmnibusTest", "wald_test"]


def _r_number(x: float) -> str:
    """R's ``as.character`` of a double: 15 significant digits, fixed or scientific, the shorter."""
    if x == 0:
        return "0"
    sci = f"{x:.14e}"
    mant, exp = sci.split("e")
    mant = mant.rstrip("0").rstrip(".")
    e = int(exp)
    sci_s = f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    digits = max(0, 14 - e)
    fixed = f"{x:.{digits}f}"
    if "." in fixed:
        fixed = fixed.rstrip("0").rstrip(".")
    return fixed if len(fixed) <= len(sci_s) else sci_s


def _hypothesis(row: np.ndarray, names: list[str]) -> str:
    """metafor's text of one hypothesis (including its literal removal of ``"1*"``)."""
    coef = np.round(row, DEFAULT_DIGITS)
    parts = [f"{_r_number(float(c))}*{n}" for c, n in zip(coef, names) if c != 0]
    return " + ".join(parts).replace("1*", "").replace("+ -", "- ")


@dataclass(frozen=True, eq=False, repr=False)
class LinearHypotheses(TextReport, FrameMapping):
    """Tests of ``X beta = rhs`` printed as metafor's ``anova(fit, X = ...)``."""

    hypotheses: tuple[str, ...]
    estimate: np.ndarray = field(repr=False)
    se: np.ndarray = field(repr=False)
    stat: np.ndarray = field(repr=False)
    pval: np.ndarray = field(repr=False)
    df: np.ndarray | None
    QM: float
    QMdf: tuple[int, float | None]
    QMp: float

    def to_frame(self) -> pd.DataFrame:
        cols = {"hypothesis": list(self.hypotheses), "estimate": self.estimate, "se": self.se}
        if self.df is None:
            cols["zval"] = self.stat
        else:
            cols.update(tval=self.stat, df=self.df)
        cols["pval"] = self.pval
        return pd.DataFrame(cols, index=pd.RangeIndex(1, len(self.hypotheses) + 1))

    def __str__(self) -> str:
        m = len(self.hypotheses)
        width = max(len(h) for h in self.hypotheses)
        rows = [f"{j + 1}:" for j in range(m)]
        rw = max(len(r) for r in rows)
        hyp = ["Hypothesis:" if m == 1 else "Hypotheses:"]
        hyp += [f"{r.ljust(rw)} {h.rjust(width)}" for r, h in zip(rows, self.hypotheses)]
        cols = {"estimate": fcf(self.estimate, 4), "se": fcf(self.se, 4)}
        if self.df is None:
            cols["zval"] = fcf(self.stat, 4)
        else:
            cols.update(tval=fcf(self.stat, 4), df=[_r_round_str(v) for v in self.df])
        cols["pval"] = fmt_pval(self.pval, 4)
        lines = hyp + ["", "Results:"] + render_table(cols, rows).split("\n")
        if np.isfinite(self.QM):
            lines += ["", "Test of Hypothesis:" if m == 1 else "Omnibus Test of Hypotheses:",
                      _omnibus_line(self.QM, self.QMp, self.QMdf)]
        return "\n".join(line.rstrip() for line in lines)



def _omnibus_line(QM: float, QMp: float, QMdf: tuple[int, float | None]) -> str:
    return moderators_lines(QM, QMp, [1], QMdf[0], QMdf[1])[1]


@dataclass(frozen=True, eq=False, repr=False)
class OmnibusTest(TextReport, FrameMapping):
    """The omnibus test of the coefficients ``btt`` (metafor's ``anova(fit, btt = ...)``)."""

    btt: np.ndarray
    QM: float
    QMdf: tuple[int, float | None]
    QMp: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"QM": [self.QM], "df1": [self.QMdf[0]], "df2": [self.QMdf[1]], "pval": [self.QMp]})

    def __str__(self) -> str:
        return "\n".join(moderators_lines(self.QM, self.QMp, self.btt + 1, self.QMdf[0], self.QMdf[1]))



def wald_test(beta: np.ndarray, vb: np.ndarray, names: list[str], intercept: bool, ddf: float | None, *,
              X: Any = None, btt: Any = None, rhs: Any = None) -> LinearHypotheses | OmnibusTest:
    """Wald tests of linear combinations (``X``, optional ``rhs``) or of coefficients ``btt``.

    ``ddf`` is the df of t / F tests (None for z / chi-square tests).
    """
    if X is None:
        idx = resolve_btt(btt, names, intercept)
        sub = vb[np.ix_(idx, idx)]
        QM = float(beta[idx] @ np.linalg.solve(sub, beta[idx]))
        m = idx.size
        if ddf is None:
            return OmnibusTest(idx, QM, (m, None), float(special.chdtrc(m, QM)))
        return OmnibusTest(idx, QM / m, (m, ddf), float(special.fdtrc(m, ddf, QM / m)))
    if btt is not None:
        raise ArgumentError("give either X or btt, not both")
    Xm = np.atleast_2d(np.asarray(X, dtype=float))
    p = beta.size
    if Xm.shape[1] != p:
        raise ArgumentError(f"X has {Xm.shape[1]} columns but the model has {p} coefficients")
    m = Xm.shape[0]
    r = np.zeros(m) if rhs is None else np.broadcast_to(np.asarray(rhs, dtype=float), (m,)).copy()
    est = Xm @ beta - r
    V = Xm @ vb @ Xm.T
    se = np.sqrt(np.diag(V))
    stat = est / se
    pval = 2 * (special.ndtr(-np.abs(stat)) if ddf is None else special.stdtr(ddf, -np.abs(stat)))
    QM, QMp, QMdf = np.nan, np.nan, (m, ddf)
    if np.linalg.matrix_rank(Xm) == m:
        QM = float(est @ np.linalg.solve(V, est))
        if ddf is None:
            QMp = float(special.chdtrc(m, QM))
        else:
            QM /= m
            QMp = float(special.fdtrc(m, ddf, QM))
    hyp = [_hypothesis(row, names) for row in Xm]
    if rhs is None or np.all(r == 0):
        hyp = [h + " = 0" for h in hyp]
    elif np.unique(r).size == 1:
        hyp = [h + f" = {_r_number(float(np.round(v, 4)))}" for h, v in zip(hyp, r)]
    else:
        hyp = [h + f" = {s}" for h, s in zip(hyp, fcf(r, 4))]
    df = None if ddf is None else np.full(m, float(ddf))
    return LinearHypotheses(tuple(hyp), est, se, stat, pval, df, QM, QMdf, QMp)
