"""Printed summary of a generalized linear mixed model in lme4's layout (``summary(<glmerMod>)``).

The blocks shared with ``lmer`` (fit criteria, scaled residuals, variance
components, correlation of the fixed effects) are the lmer summary's types;
this module adds the title and family lines, the ``z`` tests of the fixed
effects, and variance components without a residual row for families
without a scale parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .._rformat import format_coefmat
from ..lmm._summary import (COR_MAX, FitCriteria, FixefCorrelation, MixedModelReport, ScaledResiduals,
                            _groups_line)
from ..lmm._deparse import formula_line
from ..lmm._varcorr import VarCorr
from .._display import FrameMapping, TextReport

__all__ = ["GlmerSummary", "GlmmVarCorr", "glmer_title", "strwrap"]


class GlmmVarCorr(VarCorr):
    """Variance components of a GLMM: a residual row only for families with a scale (Gamma ...)."""

    use_scale: bool = True

    @classmethod
    def from_theta(cls, group_names, column_names, templates, sigma: float, *, use_scale: bool = True):
        out = super().from_theta(group_names, column_names, templates, sigma)
        object.__setattr__(out, "use_scale", bool(use_scale))
        return out

    def to_frame(self) -> pd.DataFrame:
        df = super().to_frame()
        return df if self.use_scale else df.iloc[:-1].reset_index(drop=True)

    def table(self, digits: int = 4, comp=("Variance", "Std.Dev.")):
        header, rows = super().table(digits, comp)
        return (header, rows) if self.use_scale else (header, rows[:-1])


def strwrap(text: str, width: int, exdent: int = 0) -> list[str]:
    """R's ``strwrap``: greedy word wrap to lines shorter than ``width``, later lines indented by ``exdent``."""
    lines, line = [], ""
    for word in text.split():
        cand = word if not line else line + " " + word
        indent = exdent if lines else 0
        if line and indent + len(cand) >= width:
            lines.append(line)
            line = word
        else:
            line = cand
    lines.append(line)
    return [(" " * exdent if i else "") + s for i, s in enumerate(lines)]


def glmer_title(nAGQ: int, width: int = 80) -> str:
    """lme4's first line(s), wrapped as ``.prt.methTit`` wraps them."""
    how = "(Laplace Approximation)" if nAGQ == 1 else f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {nAGQ})"
    title = "Generalized linear mixed model fit by maximum likelihood " + how  # nAGQ = 0 too, as lme4
    if len(title) + 5 + len("glmerMod") <= width:
        return f"{title} ['glmerMod']"
    pieces = strwrap(title, width - 2, exdent=2) + [" [", "glmerMod", "]"]
    out, line = [], ""
    for piece in pieces:  # cat(..., sep = "", fill = TRUE)
        if line and len(line) + len(piece) > width:
            out.append(line)
            line = piece
        else:
            line += piece
    out.append(line)
    return "\n".join(out)


@dataclass(frozen=True, repr=False)
class FixedEffectsZTable(TextReport, FrameMapping):
    """Estimates, standard errors, z (or t, for families with a scale) values and normal p-values."""

    names: tuple[str, ...]
    estimate: np.ndarray
    std_error: np.ndarray
    stat_name: str = "z value"
    digits: int = 4

    @property
    def statistic(self) -> np.ndarray:
        return self.estimate / self.std_error

    @property
    def p_value(self) -> np.ndarray:
        return 2.0 * special.ndtr(-np.abs(self.statistic))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"Estimate": self.estimate, "Std. Error": self.std_error, self.stat_name: self.statistic,
                             "Pr(>|z|)": self.p_value}, index=list(self.names))

    def __str__(self) -> str:
        values = np.column_stack([self.estimate, self.std_error, self.statistic, self.p_value])
        return format_coefmat(values, list(self.names), ["Estimate", "Std. Error", self.stat_name, "Pr(>|z|)"],
                              digits=self.digits, has_pvalue=True)


@dataclass(frozen=True, repr=False)
class GlmerSummary(MixedModelReport):
    """``summary()`` of a GLMM; ``str()`` is lme4's printed layout."""

    title: str
    family: str
    link: str
    formula: str
    data_name: str | None
    weights_name: str | None
    offset_name: str | None
    criteria: FitCriteria
    residuals: ScaledResiduals
    varcorr: GlmmVarCorr
    nobs: int
    ngroups: dict
    fixed: FixedEffectsZTable
    correlation: FixefCorrelation | None
    messages: tuple[str, ...]
    optimizer: str = "bobyqa"
    convergence_code: int = 0

    @classmethod
    def from_fit(cls, fit) -> "GlmerSummary":
        V = fit.vcov().to_numpy()
        se = np.sqrt(np.diag(V))
        names = tuple(fit.frame.fixed_names)
        corr = FixefCorrelation(names, V / np.outer(se, se)) if 1 < len(names) <= COR_MAX else None
        criteria = FitCriteria(False, math.nan, fit.aic, fit.bic, fit.loglik, -2.0 * fit.loglik, fit.df_resid)
        scaled = fit.residuals("pearson").to_numpy() / fit.sigma
        stat = "t value" if fit.family.has_scale else "z value"
        return cls(glmer_title(fit.nAGQ), fit.family.name, fit.family.link.name, fit.formula, fit.data_name,
                   fit.weights_name, fit.offset_name, criteria, ScaledResiduals.from_residuals(scaled),
                   fit.varcorr_table, fit.nobs, fit.ngroups,
                   FixedEffectsZTable(names, fit.fixef.to_numpy(), se, stat), corr, fit.messages,
                   fit._estimate.optimizer, fit._estimate.code)

    def blocks(self) -> list[str]:
        out = [self.title, f" Family: {self.family}  ( {self.link} )", formula_line(self.formula)]
        if self.data_name:
            out.append("   Data: " + self.data_name)
        if self.weights_name:
            out.append("Weights: " + self.weights_name)
        if self.offset_name:
            out.append(" Offset: " + self.offset_name)
        out += ["", str(self.criteria), "", str(self.residuals), "", "Random effects:", self.varcorr.format(4),
                _groups_line(self.nobs, self.ngroups)]
        return out + self._tail_blocks()

    def to_frame(self) -> pd.DataFrame:
        """The fixed-effects table (other blocks: ``.varcorr.to_frame()``, ``.criteria.to_frame()`` ...)."""
        return self.fixed.to_frame()
