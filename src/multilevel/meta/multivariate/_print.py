"""Text output of ``rma_mv`` fits in metafor's layout, and the LRT table of ``anova``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy

from ..._exceptions import ModelSpecificationError
from ..._rformat import render_table
from ..shared._format import (_matrix_lines, fcf, fmt_pval, heterogeneity_lines, model_results_lines,
                             moderators_lines)
from ._components import component_names
from ._serial import SPATIAL
from ..._display import FrameMapping, TextReport

__all__ = ["fit_text", "RmaMvSummary", "AnovaRmaMv", "anova_fits", "abbreviate"]

DIGITS = 4


def abbreviate(name: str, minlength: int = 4) -> str:
    """R's ``abbreviate(name, minlength)``: drop lower-case vowels, then lower-case letters, from the end.

    Examples
    --------
    >>> abbreviate("AL"), abbreviate("general"), abbreviate("overt")
    ('AL', 'gnrl', 'ovrt')
    """
    chars = list(name)
    for pool in ("aeiou", "abcdefghijklmnopqrstuvwxyz"):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if chars[i] in pool:
                del chars[i]
            i -= 1
    return "".join(chars[:max(minlength, 1)]) if len(chars) > minlength else "".join(chars)


def _sigma_block(fit: Any) -> list[str]:
    s2 = fit.sigma2
    names = [t.name for t in fit._sigmas]
    fixed = fit.fixed[: len(s2)]
    rows = ["sigma^2  "] if len(s2) == 1 else [f"sigma^2.{j + 1}" for j in range(len(s2))]
    cols = {"estim": fcf(s2, DIGITS), "sqrt": fcf(np.sqrt(s2), DIGITS),
            "nlvls": [str(t.nlevels) for t in fit._sigmas], "fixed": ["yes" if f else "no" for f in fixed],
            "factor": names}
    if any(r is not None for r in fit._corr):
        cols["R"] = ["no" if r is None else "yes" for r in fit._corr]
    return _matrix_lines(cols, rows) + [""]


def _g_header(g: Any) -> list[str]:
    spatial = g.struct in SPATIAL
    inner = g.inner_name
    if spatial:  # metafor prints the inner formula of spatial terms, cut at 15 characters
        inner = "~" + inner
        inner = inner[:15] + "[...]" if len(inner) > 15 else inner
    width = max(len(inner), len(g.outer_name))
    what = "inner term:  " if spatial else "inner factor:"
    return [f"outer factor: {g.outer_name.ljust(width)} (nlvls = {g.nlevels[1]})",
            f"{what} {inner.ljust(width)} (nlvls = {g.nlevels[0]})", ""]


def _g_block(g: Any, var: np.ndarray, cor: np.ndarray, vfix: np.ndarray, cfix: np.ndarray,
             second: bool = False) -> list[str]:
    """One ``~ inner | outer`` block: tau^2 / rho, or gamma^2 / phi for a second term."""
    vname, cname = ("gamma^2", "phi") if second else ("tau^2", "rho")
    yn = lambda f: "yes" if f else "no"  # noqa: E731
    vs, sd = fcf(var, DIGITS), fcf(np.sqrt(var), DIGITS)
    cs = fcf(cor, DIGITS) if len(cor) else ["0.0000"]
    cfix0 = yn(cfix[0]) if len(cfix) else "yes"
    lines = _g_header(g)
    if g.struct in ("CS", "ID", "AR", "CAR") + SPATIAL:
        cols = {"estim": [vs[0], cs[0]], "sqrt": [sd[0], ""], "fixed": [yn(vfix[0]), cfix0]}
        rows = [vname.ljust(9), cname]
        if g.struct == "ID":
            cols, rows = {c: v[:1] for c, v in cols.items()}, rows[:1]
        lines += _matrix_lines(cols, rows)
    elif g.struct in ("HCS", "DIAG", "HAR"):
        nt = len(var)
        cols = {"estim": vs + [cs[0]], "sqrt": sd + [""], "k.lvl": [str(c) for c in g.levels_k] + [""],
                "fixed": [yn(f) for f in vfix] + [cfix0], "level": list(g.inner_levels) + [""]}
        rows = ([vname.ljust(8)] if nt == 1 else [f"{vname}.{j + 1}  " for j in range(nt)]) + [cname]
        if g.struct == "DIAG":
            cols, rows = {c: v[:nt] for c, v in cols.items()}, rows[:nt]
        lines += _matrix_lines(cols, rows)
    else:
        lines += _un_block(g, vs, sd, cor, vfix, cfix, vname, cname)
    return lines + [""]


def _un_block(g: Any, vs: list[str], sd: list[str], cor: np.ndarray, vfix: np.ndarray, cfix: np.ndarray,
              vname: str, cname: str) -> list[str]:
    L = len(g.inner_levels)
    yn = lambda f: "yes" if f else "no"  # noqa: E731
    cols = {"estim": vs, "sqrt": sd, "k.lvl": [str(c) for c in g.levels_k],
            "fixed": [yn(f) for f in vfix], "level": list(g.inner_levels)}
    rows = [vname] if L == 1 else [f"{vname}.{j + 1}  " for j in range(L)]
    lines = _matrix_lines(cols, rows) + [""]
    n = max(L, 2)
    cor_cells = [["" for _ in range(n)] for _ in range(n)]
    info = [["" for _ in range(n)] for _ in range(n)]
    cstr = fcf(cor, DIGITS)
    for i in range(n):
        cor_cells[i][i], info[i][i] = "1", "-"
        for j in range(i):
            r = g.rho_map[i, j] if L > 1 else 0
            cor_cells[i][j] = cstr[r] if L > 1 else "NA"
            info[i][j] = yn(cfix[r]) if len(cfix) else "yes"
            info[j][i] = str(g.pair_k[i, j]) if L > 1 else "NA"
    labels = list(g.inner_levels) if L > 1 else list(g.inner_levels) + ["NA"]
    abbr = [abbreviate(v) for v in labels]
    mcols: dict[str, list[str]] = {f"{cname}.{a}": [cor_cells[i][j] for i in range(n)] for j, a in enumerate(abbr)}
    mcols[""] = [""] * n
    for j, a in enumerate(abbr):
        mcols[a] = [info[i][j] for i in range(n)]
    return lines + _matrix_lines(mcols, labels)


def _g_blocks(fit: Any) -> list[str]:
    lay, fixed = fit._layout, fit.fixed
    a = lay.ns
    lines = _g_block(fit._g, fit.tau2, fit.rho, fixed[a: a + lay.nt], fixed[a + lay.nt: a + lay.nt + lay.nr])
    if fit._h is not None:
        c = a + lay.nt + lay.nr
        lines += _g_block(fit._h, fit.gamma2, fit.phi, fixed[c: c + lay.ng], fixed[c + lay.ng:], second=True)
    return lines


def fit_lines(fit: Any, *, showfit: bool = False) -> list[str]:
    """The lines of ``print(rma.mv)`` (``summary`` when ``showfit``), without the outer blank lines."""
    lines = [f"Multivariate Meta-Analysis Model (k = {fit.k}; method: {fit.method})", ""]
    if showfit:
        lines += fitstats_lines(fit.fit_stats[fit.method]) + [""]
    if not len(fit.sigma2) and fit._g is None:
        lines += ["Variance Components: none", ""]
    else:
        lines += ["Variance Components:", ""]
        if len(fit.sigma2):
            lines += _sigma_block(fit)
        if fit._g is not None:
            lines += _g_blocks(fit)
    lines += heterogeneity_lines(fit.QE, fit.QEp, fit.k - fit.p, int_only=fit.int_only, digits=DIGITS) + [""]
    if fit.p > 1 and np.isfinite(fit.QM):
        df2 = fit.QMdf[1] if fit.test == "t" else None
        lines += moderators_lines(fit.QM, fit.QMp, fit._btt + 1, fit.QMdf[0], df2, digits=DIGITS) + [""]
    df = np.full(fit.p, fit.k - fit.p) if fit.test == "t" else None
    lines += model_results_lines(list(fit.beta.index), fit.beta, fit.se, fit.zval, fit.pval, fit.ci_lb,
                                 fit.ci_ub, df=df, int_only=fit.int_only, digits=DIGITS)
    return lines


def fitstats_lines(values: np.ndarray) -> list[str]:
    """The logLik / Deviance / AIC / BIC / AICc pair of lines (R's named-vector print, gap 2)."""
    labels = ["logLik", "Deviance", "AIC", "BIC", "AICc"]
    vals = fcf(values, DIGITS)
    w = max(len(s) for s in labels + vals)
    return ["  ".join(s.rjust(w) for s in labels), "  ".join(s.rjust(w) for s in vals)]


def fit_text(fit: Any) -> str:
    return "\n".join(line.rstrip() for line in fit_lines(fit))


def _components_frame(fit: Any) -> pd.DataFrame:
    names = component_names(fit)
    vals = fit._comps.values
    keep = [i for i, n in enumerate(names) if n is not None]
    return pd.DataFrame({"estimate": vals[keep], "fixed": fit.fixed[keep]}, index=[names[i] for i in keep])


@dataclass(frozen=True, eq=False, repr=False)
class RmaMvSummary(TextReport, FrameMapping):
    """``summary()`` of an ``rma_mv`` fit: the printed model with its fit statistics."""

    fit: Any

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for line in fit_lines(self.fit, showfit=True))

    def to_frame(self) -> pd.DataFrame:
        """The model-results table as metafor prints it: estimate, se, zval (tval), pval, ci_lb, ci_ub."""
        fit = self.fit
        stat = "tval" if fit.test == "t" else "zval"
        return pd.DataFrame({"estimate": fit.beta, "se": fit.se, stat: fit.zval, "pval": fit.pval,
                             "ci_lb": fit.ci_lb, "ci_ub": fit.ci_ub})


@dataclass(frozen=True, eq=False, repr=False)
class AnovaRmaMv(TextReport, FrameMapping):
    """Likelihood-ratio test of two nested ``rma_mv`` fits (metafor's ``anova(full, reduced)``)."""

    table: pd.DataFrame
    LRT: float
    pval: float
    df: int

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def __str__(self) -> str:
        t = self.table
        cols = {"df": [str(int(v)) for v in t["df"]]}
        for c in ("AIC", "BIC", "AICc", "logLik"):
            cols[c] = fcf(t[c], DIGITS)
        cols["LRT"] = ["", fcf(self.LRT, DIGITS)[0]]
        cols["pval"] = ["", fmt_pval(self.pval, DIGITS)[0]]
        cols["QE"] = fcf(t["QE"], DIGITS)
        return render_table(cols, list(t.index))


def anova_fits(fits: tuple, **options: Any) -> AnovaRmaMv:
    """LRT between a full and a reduced fit (the one with more parameters is the full model)."""
    if len(fits) != 2:
        raise ModelSpecificationError("anova() compares exactly two rma_mv fits")
    if options:
        raise ModelSpecificationError(f"unknown anova() options for rma_mv fits: {', '.join(options)}")
    a, b = fits
    if a.parms == b.parms:
        raise ModelSpecificationError("the models have the same number of parameters; an LRT is not meaningful")
    full, red = (a, b) if a.parms > b.parms else (b, a)
    if full.method != red.method:
        raise ModelSpecificationError(f"cannot compare a {full.method} fit with a {red.method} fit")
    same_y = full.k == red.k and np.array_equal(full._eff.yi, red._eff.yi)
    if not same_y or not np.array_equal(full._eff.vi, red._eff.vi):
        raise ModelSpecificationError("the two models were fitted to different estimates or variances")
    if full.method == "REML" and not (full.p == red.p and np.allclose(full._eff.design.X, red._eff.design.X)):
        raise ModelSpecificationError("REML fits with different moderators cannot be compared; "
                                      "refit both with method='ML'")
    f, r = full.fit_stats[full.method], red.fit_stats[red.method]
    lrt = max(0.0, float(r[1] - f[1]))
    df = full.parms - red.parms
    pval = float(scipy.stats.chi2.sf(lrt, df))
    table = pd.DataFrame({"df": [full.parms, red.parms], "AIC": [f[2], r[2]], "BIC": [f[3], r[3]],
                          "AICc": [f[4], r[4]], "logLik": [f[0], r[0]], "LRT": [np.nan, lrt],
                          "pval": [np.nan, pval], "QE": [full.QE, red.QE]}, index=["Full", "Reduced"])
    return AnovaRmaMv(table, lrt, pval, df)
