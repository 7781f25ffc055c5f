"""Likelihood-ratio comparison of two :func:`~multilevel.rma` fits (metafor's ``anova(m1, m2)``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from ..._exceptions import ModelSpecificationError, MultilevelWarning
from ..shared._format import _matrix_lines, fcf, fmt_pval
from ..shared._input import EffectData
from ..._display import FrameMapping, TextReport

if TYPE_CHECKING:  # pragma: no cover
    from ._rma import RmaFit

__all__ = ["RmaAnova", "anova_rma"]

_FIXED = ("EE", "FE", "CE")


@dataclass(frozen=True, eq=False, repr=False)
class RmaAnova(TextReport, FrameMapping):
    """Full versus reduced model: fit statistics, LRT, its p-value, QE, tau^2 and R^2.

    ``to_frame()`` gives the table; ``str()`` prints it as metafor does.
    """

    table: pd.DataFrame
    LRT: float
    pval: float
    df: int
    R2: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """The comparison table (rows Full and Reduced)."""
        return self.table.copy()

    def lines(self) -> list[str]:
        t = self.table
        cols = {"df": [str(int(v)) for v in t["df"]]}
        for name in ("AIC", "BIC", "AICc", "logLik"):
            cols[name] = fcf(t[name], 4)
        cols["LRT"] = ["", fcf(self.LRT, 4)[0]]
        cols["pval"] = ["", fmt_pval(self.pval, 4)[0]]
        cols["QE"] = fcf(t["QE"], 4)
        if self.method not in _FIXED:
            cols["tau^2"] = fcf(t["tau2"], 4)
        cols["R^2"] = ["", fcf(self.R2, 4)[0] + "%"]
        return ["", *_matrix_lines(cols, ["Full", "Reduced"], gap=1), ""]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _refit_ml(fit: RmaFit, estimate: Callable[..., RmaFit]) -> RmaFit:
    eff = EffectData(fit.yi, fit.vi, fit.design, np.arange(fit.k), None, fit.num_dropped, fit.slab, fit.weights)
    return estimate(eff, "ML", fit.test, fit.level, [b + 1 for b in fit.btt])


def _check_pair(full: RmaFit, red: RmaFit) -> None:
    if not (np.array_equal(full.yi, red.yi) and np.array_equal(full.vi, red.vi)):
        raise ModelSpecificationError("the two models were fitted to different estimates or sampling variances")
    if full.method in _FIXED and red.method not in _FIXED:
        raise ModelSpecificationError("the full model is a fixed-effects model but the reduced model is not")
    if {full.method, red.method} == {"ML", "REML"}:
        raise ModelSpecificationError(f"cannot compare a {full.method} fit with a {red.method} fit")
    if full.method not in (*_FIXED, "ML", "REML") or red.method not in (*_FIXED, "ML", "REML"):
        warnings.warn("likelihood-ratio tests should be based on ML or REML fits", MultilevelWarning, stacklevel=4)


def _r2(full: RmaFit, red: RmaFit) -> float:
    if full.method in _FIXED:
        def s2(fit: RmaFit) -> float:
            w = 1.0 / fit.vi if fit.weights is None else fit.weights
            r = fit.yi - fit.design.X @ fit.beta.to_numpy()
            return float(np.sum(w * r * r) / (fit.k - fit.p))
        s2f, s2r = s2(full), s2(red)
        return 100 * max(0.0, (s2r - s2f) / s2r)
    if red.tau2 == 0:
        return 0.0
    return 100 * max(0.0, (red.tau2 - full.tau2) / red.tau2)


def anova_rma(fits: tuple, refit: bool = False, *, estimate: Callable[..., RmaFit]) -> RmaAnova:
    """Compare two nested :func:`~multilevel.rma` fits by a likelihood-ratio test.

    The model with more parameters is the full model. REML fits with different
    moderators are not comparable: ``refit=True`` refits both by ML first (as
    metafor's ``refit``, with ``estimate``, the fitting step of :func:`~multilevel.rma`
    passed in by the caller), otherwise a warning is issued as metafor does.
    """
    if len(fits) != 2:
        raise ModelSpecificationError("anova() compares exactly two rma fits")
    a, b = fits
    if a.parms == b.parms:
        raise ModelSpecificationError("the models have the same number of parameters; an LRT is not meaningful")
    full, red = (a, b) if a.parms > b.parms else (b, a)
    _check_pair(full, red)
    same_x = full.design.X.shape == red.design.X.shape and np.array_equal(full.design.X, red.design.X)
    if full.method == "REML" and not same_x:
        if refit:
            full, red = _refit_ml(full, estimate), _refit_ml(red, estimate)
        else:
            warnings.warn("REML comparisons are not meaningful for models with different moderators; "
                          "use refit=True to compare ML fits", MultilevelWarning, stacklevel=4)
    kind = "REML" if full.method == "REML" else "ML"
    sf, sr = full.fit_stats[kind], red.fit_stats[kind]
    lrt = max(0.0, sr["dev"] - sf["dev"])
    df = full.parms - red.parms
    pval = float(special.chdtrc(df, lrt))
    r2 = _r2(full, red)
    table = pd.DataFrame({
        "df": [full.parms, red.parms], "AIC": [sf["AIC"], sr["AIC"]], "BIC": [sf["BIC"], sr["BIC"]],
        "AICc": [sf["AICc"], sr["AICc"]], "logLik": [sf["ll"], sr["ll"]], "LRT": [np.nan, lrt],
        "pval": [np.nan, pval], "QE": [full.QE, red.QE], "tau2": [full.tau2, red.tau2],
        "R2": [np.nan, r2]}, index=["Full", "Reduced"])
    return RmaAnova(table, lrt, pval, df, r2, full.method)

