"""Number formatting that reproduces R's printed output.

Users compare our printed summaries to lme4 / metafor / RoBMA side by side,
so numbers are formatted with R's rules:

* :func:`format_num` is R's ``format(x, digits = d)`` for a numeric vector:
  the smallest number of significant digits (at most ``d``) that shows every
  element to ``d`` significant digits, one common number of decimals, fixed
  notation unless scientific is narrower.
* :func:`format_pval` is R's ``format.pval``.
* :func:`signif_stars` gives the significance codes of ``printCoefmat``.
* :func:`render_table` right-justifies a table of strings the way R prints a
  matrix or data frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["format_num", "format_pval", "signif_stars", "render_table", "SIGNIF_LEGEND"]

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def _sci_parts(x: float, digits: int) -> tuple[int, int, bool]:
    """Return (kpower, nsig, roundingwidens) for |x| as R's ``scientific()``."""
    alpha = abs(x)
    kp = int(math.floor(math.log10(alpha)))
    # round the mantissa to `digits` significant digits
    mant = round(alpha / 10.0**kp, digits - 1)
    if mant >= 10.0:
        kp += 1
        mant = round(alpha / 10.0**kp, digits - 1)
    # R works on the digits of the rounded mantissa to count significant digits
    s = f"{mant:.{digits - 1}f}".replace(".", "")
    nsig = len(s.rstrip("0")) or 1
    return kp, nsig, False


def _layout(values: np.ndarray, digits: int, nsmall: int = 0) -> tuple[bool, int, int]:
    """Common layout of a vector: (fixed?, decimals or mantissa digits, width)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return True, 0, 0
    mxsl = 1
    rgt = 0
    mxns = 1
    mxe = 1
    any_neg = bool(np.any(finite < 0))
    for v in finite:
        neg = 1 if v < 0 else 0
        if v == 0:
            kp, nsig = 0, 1
        else:
            kp, nsig, _ = _sci_parts(float(v), digits)
        sleft = neg + (kp + 1 if kp >= 0 else 1)
        mxsl = max(mxsl, sleft)
        rgt = max(rgt, nsig - kp - 1)
        mxns = max(mxns, nsig)
        mxe = max(mxe, abs(kp))
    rgt = max(rgt, 0)
    fixed_width = mxsl + (rgt + 1 if rgt > 0 else 0)
    sci_width = int(any_neg) + (mxns + 1 if mxns > 1 else mxns) + 4 + (1 if mxe >= 100 else 0)
    if fixed_width <= sci_width:
        rgt = max(rgt, nsmall)
        return True, rgt, mxsl + (rgt + 1 if rgt > 0 else 0)
    return False, mxns - 1, sci_width


def _fmt_one(v: float, fixed: bool, decimals: int) -> str:
    if math.isnan(v):
        return "NA"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if fixed:
        out = f"{v:.{decimals}f}"
        if out.startswith("-") and float(out) == 0.0:
            out = out[1:] if v > -0.0 and v != 0 else out
        return out
    return f"{v:.{decimals}e}"


def format_num(x: Sequence[float] | np.ndarray | float, digits: int = 7, *, nsmall: int = 0,
               width: int | None = None, justify: bool = True) -> list[str]:
    """Format numbers as R's ``format(x, digits = digits, nsmall = nsmall)``.

    Parameters
    ----------
    x : array_like
        Numbers formatted together (one common number of decimals).
    digits : int
        Significant digits that every element shows at least.
    nsmall : int
        Minimum number of decimals in fixed notation.
    width : int, optional
        Minimum width of each string.
    justify : bool
        Pad to a common width (right-justified), as R does.

    Returns
    -------
    list of str

    Examples
    --------
    >>> format_num([26.799339, 2.019198], digits=4)
    ['26.799', ' 2.019']
    >>> format_num([0.0978], digits=4)
    ['0.0978']
    >>> format_num([3.395e-13], digits=3)
    ['3.4e-13']
    """
    arr = np.atleast_1d(np.asarray(x, dtype=float))
    fixed, dec, _ = _layout(arr, digits, nsmall)
    out = [_fmt_one(float(v), fixed, dec) for v in arr]
    if justify:
        w = max([len(s) for s in out] + [width or 0])
        out = [s.rjust(w) for s in out]
    return out


def format_pval(p: Sequence[float] | np.ndarray, digits: int = 5, eps: float = np.finfo(float).eps) -> list[str]:
    """Format p-values as R's ``format.pval(pv, digits, eps)``.

    Values below ``eps`` print as ``"<eps"``; values at or above 1e-3 are
    formatted together in fixed notation, smaller ones together in
    scientific notation.

    Examples
    --------
    >>> format_pval([1e-20, 3.395e-13], digits=3)
    ['< 2e-16', '3.4e-13']
    >>> format_pval([0.2634, 1e-30], digits=3)
    ['0.263', '<2e-16']
    """
    pv = np.asarray(p, dtype=float)
    out = ["NA"] * pv.size
    is0 = pv < eps
    rest = np.flatnonzero(~is0 & ~np.isnan(pv))
    formatted: list[str] = []
    if rest.size:
        vals = pv[rest]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1)) | (vals == 0)  # R >= 4.2
        for group in (fixp, ~fixp):
            if group.any():
                strs = format_num(vals[group], digits)
                for i, s in zip(rest[group], strs):
                    out[i] = s
                    formatted.append(s)
    if is0.any():
        d = max(1, digits - 2)
        if formatted:
            nc = max(len(s) for s in formatted)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if (d == 1 and nc <= 6) else " "
        else:
            sep = "" if d == 1 else " "
        eps_str = format_num([eps], d)[0]
        for i in np.flatnonzero(is0):
            out[i] = "<" + sep + eps_str
    return out


def signif_stars(p: Sequence[float] | np.ndarray) -> list[str]:
    """Significance codes as R's ``printCoefmat`` (``***``, ``**``, ``*``, ``.``, blank).

    Examples
    --------
    >>> signif_stars([0.0001, 0.004, 0.03, 0.07, 0.5])
    ['***', '**', '*', '.', '']
    """
    out = []
    for v in np.asarray(p, dtype=float):
        if np.isnan(v):
            out.append("")
        elif v < 0.001:
            out.append("***")
        elif v < 0.01:
            out.append("**")
        elif v < 0.05:
            out.append("*")
        elif v < 0.1:
            out.append(".")
        else:
            out.append("")
    return out


def render_table(columns: dict[str, list[str]], row_names: Sequence[str] | None = None,
                 *, left_align: Sequence[str] = (), row_names_left: bool = True, sep: str = " ") -> str:
    """Lay out string columns as R prints a matrix: each column right-justified.

    Parameters
    ----------
    columns : dict of str to list of str
        Column header to already formatted cells.
    row_names : sequence of str, optional
        Row labels, left-justified (as R's matrix print) unless ``row_names_left`` is False.
    left_align : sequence of str
        Columns whose cells (and header) are left-justified.

    Examples
    --------
    >>> print(render_table({"Estimate": ["1.0", "22.5"]}, ["a", "bb"]))
       Estimate
    a       1.0
    bb     22.5
    """
    lines: list[list[str]] = []
    n = len(next(iter(columns.values()))) if columns else len(row_names or [])
    blocks = []
    if row_names is not None:
        w = max([len(r) for r in row_names] + [0])
        cells = [r.ljust(w) if row_names_left else r.rjust(w) for r in row_names]
        blocks.append([" " * w] + cells)
    for name, cells in columns.items():
        w = max([len(c) for c in cells] + [len(name)])
        if name in left_align:
            blocks.append([name.ljust(w)] + [c.ljust(w) for c in cells])
        else:
            blocks.append([name.rjust(w)] + [c.rjust(w) for c in cells])
    for i in range(n + 1):
        lines.append([b[i] for b in blocks])
    return "\n".join(sep.join(parts).rstrip() for parts in lines)


# --------------------------------------------------------------------------- additions for lm / printCoefmat

__all__ += ["zapsmall", "format_g", "format_named_vector", "format_coefmat"]


def zapsmall(x: Sequence[float] | np.ndarray, digits: int) -> np.ndarray:
    """R's ``zapsmall(x, digits)``: round so that values tiny relative to the largest become 0.

    Examples
    --------
    >>> zapsmall([1e-20, 1.5], 5).tolist()
    [0.0, 1.5]
    """
    arr = np.asarray(x, dtype=float)
    finite = arr[np.isfinite(arr)]
    mx = float(np.max(np.abs(finite))) if finite.size else 0.0
    dec = max(0, int(math.floor(digits - math.log10(mx) + 0.5))) if mx > 0 else digits
    return np.round(arr, dec)


def format_g(x: float, digits: int = 4) -> str:
    """R's ``formatC(x, digits = digits)`` (C's ``%.*g``).

    Examples
    --------
    >>> format_g(0.81815, 4), format_g(268.63, 4), format_g(3288.4, 4)
    ('0.8182', '268.6', ' 3288')
    """
    if math.isnan(x):
        return "NaN".rjust(digits + 1)
    if math.isinf(x):
        return ("Inf" if x > 0 else "-Inf").rjust(digits + 1)
    return f"{x:{digits + 1}.{digits}g}"  # R pads to digits + 1 characters


def format_named_vector(values: Sequence[float] | np.ndarray, names: Sequence[str], digits: int = 7,
                        *, width: int = 80) -> str:
    """R's ``print()`` of a named numeric vector: names above values, common width, wrapped at ``width``.

    Examples
    --------
    >>> print(format_named_vector([-1.25, 0.5], ["Min", "Max"], 4))
      Min   Max
    -1.25  0.50
    """
    cells = format_num(values, digits)
    w = max([len(c) for c in cells] + [len(n) for n in names])
    per_line = max(1, width // (w + 1))
    lines = []
    for start in range(0, len(cells), per_line):
        chunk = slice(start, start + per_line)
        lines.append(" ".join(n.rjust(w) for n in names[chunk]).rstrip())
        lines.append(" ".join(c.rjust(w) for c in cells[chunk]).rstrip())
    return "\n".join(lines)


def format_coefmat(values: np.ndarray, row_names: Sequence[str], col_names: Sequence[str], *,
                   digits: int = 4, cs_ind: Sequence[int] = (0, 1), tst_ind: Sequence[int] | None = None,
                   has_pvalue: bool = True, signif_legend: bool = True, na_print: str = "NA",
                   zap_ind: Sequence[int] = (), nan_cells: np.ndarray | None = None) -> str:
    """R's ``printCoefmat``: a coefficient table with estimates, test statistics, p-values and stars.

    Estimates and standard errors (columns ``cs_ind``) share one number of
    decimals; test statistics (``tst_ind``, default the column after them) are
    rounded to ``max(1, min(5, digits - 1))`` decimals; other columns are
    formatted alone; the last column is a p-value when ``has_pvalue``.
    Columns ``zap_ind`` are passed through :func:`zapsmall` first (as ``print.anova``).
    Missing cells print as ``na_print`` (R's NA), except those flagged in ``nan_cells``,
    which print as ``NaN`` (R's NaN, e.g. standard errors without residual df).

    Examples
    --------
    >>> table = np.array([[26.799339, 1.2427, 21.57, 1e-50], [2.019198, 0.1326, 15.23, 1e-35]])
    >>> print(format_coefmat(table, ["(Intercept)", "study_time"],
    ...                      ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]))
                Estimate Std. Error t value Pr(>|t|)
    (Intercept)  26.7993     1.2427   21.57   <2e-16 ***
    study_time    2.0192     0.1326   15.23   <2e-16 ***
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    """
    xm = np.array(values, dtype=float, ndmin=2)
    n, nc = xm.shape
    dig_tst = max(1, min(5, digits - 1))
    cs = list(cs_ind)
    k = nc - int(has_pvalue) - 1
    tst = list(tst_ind) if tst_ind is not None else ([k] if 0 <= k < nc else [])
    cf = np.full((n, nc), "", dtype=object)
    ina = np.isnan(xm)
    for j in zap_ind:
        xm[:, j] = zapsmall(xm[:, j], digits)
    if cs:
        acs = np.abs(xm[:, cs])
        pos = acs[np.isfinite(acs) & (acs != 0)]
        if np.isfinite(acs).any():
            digmin = 1 + (math.floor(math.log10(pos.min())) if pos.size else 0)
            block = np.round(xm[:, cs], max(1, digits - digmin))
            cells = format_num(block.ravel(), digits)
            cf[:, cs] = np.array(cells, dtype=object).reshape(block.shape)
    if tst:
        block = np.round(xm[:, tst], dig_tst)
        cf[:, tst] = np.array(format_num(block.ravel(), digits), dtype=object).reshape(block.shape)
    p_col = nc - 1 if has_pvalue else None
    for j in range(nc):
        if j not in cs and j not in tst and j != p_col:
            cf[:, j] = format_num(xm[:, j], digits)
    _fix_false_zeros(xm, cf, ina, [j for j in range(nc) if j not in tst and j != p_col], digits)
    cf[ina] = na_print
    if nan_cells is not None:
        cf[ina & np.asarray(nan_cells, dtype=bool)] = "NaN"
    columns = {name: [c for c in cf[:, j]] for j, name in enumerate(col_names)}
    stars = False
    if has_pvalue:
        ok = ~ina[:, nc - 1]
        if ok.any():
            pv = xm[:, nc - 1]
            formatted = format_pval(pv[ok], digits=dig_tst)
            col = columns[col_names[nc - 1]]
            for i, s in zip(np.flatnonzero(ok), formatted):
                col[i] = s
            stars = bool(np.any(pv[ok] < 0.1))
            if stars:
                codes = signif_stars(pv)
                w = max(len(c) for c in codes)
                columns[""] = [c.ljust(w) for c in codes]
    text = render_table(columns, list(row_names))
    if stars and signif_legend:
        text += "\n---\n" + SIGNIF_LEGEND
    return text


def _fix_false_zeros(xm: np.ndarray, cf: np.ndarray, ina: np.ndarray, cols: list[int], digits: int) -> None:
    """Cells printed as 0 that are not 0 are reformatted with one digit less (as printCoefmat)."""
    idx = [(i, j) for j in cols for i in range(xm.shape[0]) if not ina[i, j]
           and (xm[i, j] == 0) != (_as_float(cf[i, j]) == 0)]
    if idx:
        redo = format_num([xm[i, j] for i, j in idx], max(1, digits - 1))
        for (i, j), s in zip(idx, redo):
            cf[i, j] = s


def _as_float(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return math.nan


# --------------------------------------------------------------------------- additions for lmer's summary

__all__ += ["abbreviate"]

_VOWELS = set("aeiou")


def _abbreviate_one(s: str, minlength: int) -> str:
    """The C routine behind R's ``abbreviate`` (method ``left.kept``, ``use.classes = TRUE``)."""
    b = list(s)
    if len(b) <= minlength:
        return s
    nspace = 0
    for i in range(len(b) - 1, 0, -1):  # trailing spaces go, inner ones are word breaks
        if b[i].isspace():
            nspace += 1

    def first(i):
        return b[i - 1].isspace()

    def last(i):
        return not b[i - 1].isspace() and (i + 1 == len(b) or b[i + 1].isspace())

    passes = [lambda i: b[i] in _VOWELS and last(i), lambda i: b[i] in _VOWELS and not first(i),
              lambda i: b[i].islower() and last(i), lambda i: b[i].islower() and not first(i),
              lambda i: not first(i) and not b[i].isspace()]
    done = False
    for test in passes:
        for i in range(len(b) - 1, 0, -1):
            if i < len(b) and test(i):
                del b[i]
            if len(b) - nspace <= minlength:
                done = True
                break
        if done:
            break
    if len(b) > minlength:
        b = [b[0]] + [c for c in b[1:] if not c.isspace()]
    return "".join(b)


def abbreviate(names, minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (not strict: lengthened until unique).

    Examples
    --------
    >>> abbreviate(["(Intercept)", "recipeB:temperature185", "Days"], 6)
    ['(Intr)', 'rB:185', 'Days']
    """
    names = [str(n).strip(" ") for n in names]
    uniq = list(dict.fromkeys(names))
    x = list(uniq)
    dup2 = [True] * len(uniq)
    ml = minlength
    while True:
        for i, d in enumerate(dup2):
            if d:
                x[i] = _abbreviate_one(uniq[i], ml)
        seen, dups = set(), []
        for v in x:
            dups.append(v in seen)
            seen.add(v)
        if not any(dups):
            break
        ml += 1
        dupvals = {v for v, d in zip(x, dups) if d}
        dup2 = [v in dupvals for v in x]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in names]
