"""metafor's printed layout: number formats and the blocks shared by ``rma`` and ``rma_mv``.

Each function returns lines (no trailing blanks) that reproduce ``print.rma``:
:func:`fcf` and :func:`fmt_pval` are metafor's number and p-value formats,
:func:`heterogeneity_lines`, :func:`moderators_lines`, :func:`model_results_lines`
and :func:`fitstats_lines` its blocks. Used by every meta-analysis report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._rformat import SIGNIF_LEGEND, format_num, signif_stars

__all__ = ["DEFAULT_DIGITS", "fcf", "fmt_pval", "format_btt", "heterogeneity_lines", "moderators_lines",
           "model_results_lines", "fitstats_lines", "signif_legend_lines", "print_vector_lines"]

#: metafor's default number of decimals in printed output.
DEFAULT_DIGITS = 4



def fcf(x: Any, digits: int) -> list[str]:
    """metafor's ``.fcf``: ``formatC(x, format = "f", digits)`` with blanks trimmed.

    Examples
    --------
    >>> fcf([0.31322, -12.20237], 4)
    ['0.3132', '-12.2024']
    """
    arr = np.atleast_1d(np.asarray(x, dtype=float))
    out = []
    for v in arr:
        if np.isnan(v):
            out.append("NA")
        elif np.isinf(v):
            out.append("Inf" if v > 0 else "-Inf")
        else:
            s = f"{v:.{digits}f}"
            out.append(s)
    return out


def fmt_pval(p: Any, digits: int = DEFAULT_DIGITS, *, showeq: bool = False, sep: str = "") -> list[str]:
    """metafor's p-value format: ``"<.0001"`` below 10^-digits, fixed decimals otherwise.

    Examples
    --------
    >>> fmt_pval([0.0016, 1e-9], showeq=True, sep=" ")
    ['= 0.0016', '< .0001']
    >>> fmt_pval([0.91468, 1e-9])
    ['0.9147', '<.0001']
    """
    digits = max(int(digits), 1)
    cutoff = "." + "0" * (digits - 1) + "1"
    out = []
    for v in np.atleast_1d(np.asarray(p, dtype=float)):
        eq = "=" if showeq else ""
        if np.isnan(v):
            out.append(f"{eq}{sep}NA")
        elif v >= float(cutoff):
            out.append(f"{eq}{sep}{v:.{digits}f}")
        else:
            out.append(f"<{sep}{cutoff}")
    return out


def format_btt(btt: Any) -> str:
    """metafor's coefficient-set label: 1-based indices with runs as ``a:b`` (``"2:3"``, ``"2,4"``).

    Examples
    --------
    >>> format_btt([2, 3, 4]), format_btt([2, 4, 5]), format_btt([2])
    ('2:4', '2,4:5', '2')
    """
    idx = sorted(int(b) for b in btt)
    parts = []
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        parts.append(str(idx[i]) if j == i else f"{idx[i]}:{idx[j]}")
        i = j + 1
    return ",".join(parts)


def heterogeneity_lines(QE: float, QEp: float, df: int, *, int_only: bool,
                        digits: int = DEFAULT_DIGITS) -> list[str]:
    """The "Test for (Residual) Heterogeneity:" block (two lines).

    Examples
    --------
    >>> heterogeneity_lines(578.864, 1e-20, 55, int_only=True)
    ['Test for Heterogeneity:', 'Q(df = 55) = 578.8640, p-val < .0001']
    """
    q = fcf(QE, digits)[0]
    p = fmt_pval(QEp, digits, showeq=True, sep=" ")[0]
    if int_only:
        return ["Test for Heterogeneity:", f"Q(df = {df}) = {q}, p-val {p}"]
    return ["Test for Residual Heterogeneity:", f"QE(df = {df}) = {q}, p-val {p}"]


def moderators_lines(QM: float, QMp: float, btt: Any, df1: int, df2: float | None = None,
                     *, digits: int = DEFAULT_DIGITS) -> list[str]:
    """The "Test of Moderators (coefficients 2:3):" block; ``df2`` given for the F-test.

    Examples
    --------
    >>> moderators_lines(4.96489, 0.0318, [2, 3], 2, 10)
    ['Test of Moderators (coefficients 2:3):', 'F(df1 = 2, df2 = 10) = 4.9649, p-val = 0.0318']
    """
    btt = list(btt)
    head = f"Test of Moderators (coefficient{' ' if len(btt) == 1 else 's '}{format_btt(btt)}):"
    q = fcf(QM, digits)[0]
    p = fmt_pval(QMp, digits, showeq=True, sep=" ")[0]
    if df2 is not None:
        return [head, f"F(df1 = {df1}, df2 = {_r_round_str(df2)}) = {q}, p-val {p}"]
    return [head, f"QM(df = {df1}) = {q}, p-val {p}"]


def _r_round_str(x: float) -> str:
    """``as.character(round(x, 2))`` (up to 15 significant digits, no trailing zeros)."""
    r = round(float(x), 2)
    return format_num([r], 15)[0].strip()


def print_vector_lines(names: list[str], values: list[str], gap: int = 2) -> list[str]:
    """metafor's ``.print.vector``: one header line and one value line, per-column widths."""
    widths = [max(len(n), len(v)) for n, v in zip(names, values)]
    sp = " " * gap
    head = sp.join(n.rjust(w) for n, w in zip(names, widths))
    row = sp.join(v.rjust(w) for v, w in zip(values, widths))
    return [head.rstrip(), row.rstrip()]


def _matrix_lines(columns: dict[str, list[str]], row_names: list[str], *, gap: int = 2,
                  width: int = 80) -> list[str]:
    """R's print of a character matrix (right = TRUE, print.gap): wrapped at ``width``."""
    rlabw = max(len(r) for r in row_names)
    names = list(columns)
    widths = [max([len(h)] + [len(c) for c in columns[h]]) for h in names]
    lines: list[str] = []
    j = 0
    while j < len(names):
        total = rlabw + widths[j] + gap
        end = j + 1
        while end < len(names) and total + widths[end] + gap < width:
            total += widths[end] + gap
            end += 1
        chunk = range(j, end)
        head = " " * rlabw + "".join(" " * gap + names[c].rjust(widths[c]) for c in chunk)
        lines.append(head.rstrip())
        for i, r in enumerate(row_names):
            row = r.ljust(rlabw) + "".join(" " * gap + columns[names[c]][i].rjust(widths[c]) for c in chunk)
            lines.append(row.rstrip())
        j = end
    return lines


def model_results_lines(names: tuple[str, ...] | list[str], beta: Any, se: Any, stat: Any, pval: Any,
                        ci_lb: Any, ci_ub: Any, *, df: Any = None, int_only: bool = False,
                        digits: int = DEFAULT_DIGITS, stars: bool = True) -> list[str]:
    """The "Model Results:" table of ``print.rma`` (zval, or tval and df when ``df`` is given).

    Returns the heading, a blank line, the table, then the ``---`` line and
    the significance legend when ``stars``.

    Examples
    --------
    >>> print("\\n".join(model_results_lines(["intrcpt"], [-0.7145], [0.1798], [-3.9744], [7e-5],
    ...                                      [-1.0669], [-0.3622], int_only=True)))
    Model Results:
    <BLANKLINE>
    estimate      se     zval    pval    ci.lb    ci.ub
     -0.7145  0.1798  -3.9744  <.0001  -1.0669  -0.3622  ***
    <BLANKLINE>
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    """
    cols: dict[str, list[str]] = {"estimate": fcf(beta, digits), "se": fcf(se, digits)}
    if df is None:
        cols["zval"] = fcf(stat, digits)
    else:
        cols["tval"] = fcf(stat, digits)
        cols["df"] = format_num(np.round(np.atleast_1d(np.asarray(df, dtype=float)), 2), 7)
    cols["pval"] = fmt_pval(pval, digits)
    cols["ci.lb"] = fcf(ci_lb, digits)
    cols["ci.ub"] = fcf(ci_ub, digits)
    if stars:
        cols[""] = [s or " " for s in signif_stars(pval)]
    if int_only:
        table = print_vector_lines(list(cols), [c[0] for c in cols.values()])
    else:
        table = _matrix_lines(cols, list(names))
    out = ["Model Results:", "", *table]
    if stars:
        out += signif_legend_lines()
    return out


def signif_legend_lines() -> list[str]:
    """The blank line, ``---`` and the significance legend closing the model results."""
    return ["", "---", SIGNIF_LEGEND]


def fitstats_lines(values: Any, digits: int = DEFAULT_DIGITS) -> list[str]:
    """The logLik / deviance / AIC / BIC / AICc line pair of ``summary()`` (R named-vector print)."""
    labels = ["logLik", "deviance", "AIC", "BIC", "AICc"]
    vals = fcf(values, digits)
    w = max(len(s) for s in labels + vals)
    head = "  ".join(s.rjust(w) for s in labels)
    row = "  ".join(s.rjust(w) for s in vals)
    return [head.rstrip(), row.rstrip()]
