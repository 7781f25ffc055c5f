"""Printed summary of a linear mixed model, block by block, in lme4's layout.

Each block is a small frozen type with ``__str__`` and ``to_frame()`` (its
notebook and Markdown views come from ``__str__``, see :mod:`multilevel._display`);
:class:`LmerSummary` stacks them as lme4's ``print(summary(m))`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._rformat import abbreviate, format_coefmat, format_named_vector, format_num, zapsmall
from ._deparse import deparse, formula_line
from ._varcorr import VarCorr
from .._display import FrameMapping, TextReport

__all__ = ["LmerSummary", "LmerPrint", "FitCriteria", "ScaledResiduals", "FixedEffectsTable", "FixefCorrelation",
           "abbreviate", "deparse_formula"]

COR_MAX = 12  # lme4.summary.cor.max


# --------------------------------------------------------------------------- R helpers
def deparse_formula(formula: str) -> str:
    """The formula as lme4 prints it: R's operator spacing, ``(x || g)`` expanded.

    Examples
    --------
    >>> deparse_formula("Reaction~Days+(Days||Subject)")
    'Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))'
    """
    return deparse(formula)


def model_title(reml: bool) -> str:
    """lme4's first line (``methTitle`` and the class)."""
    return ("Linear mixed model fit by REML ['lmerMod']" if reml
            else "Linear mixed model fit by maximum likelihood  ['lmerMod']")


def _groups_line(nobs: int, ngroups: dict) -> str:
    first = f"Number of obs: {nobs}, groups: "
    rest = "; ".join(f"{g}, {n}" for g, n in ngroups.items())
    if len(first) + 1 + len(rest) > 80:  # cat(fill = TRUE) breaks between its arguments
        return first.rstrip() + "\n" + rest
    return first + " " + rest


# --------------------------------------------------------------------------- blocks
@dataclass(frozen=True, repr=False)
class FitCriteria(TextReport, FrameMapping):
    """REML criterion (REML fits) or AIC, BIC, logLik, deviance, df.resid (ML fits).

    ``accuracy``: for a matrix-free fit, a line printed under the criteria saying whether
    logLik is exact or giving the standard error of its stochastic estimate; None (the
    default: exact formulations) prints lme4's layout.
    """

    REML: bool
    reml_criterion: float
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    digits: int = 1  # decimals printed (1 in summary(), 4 in print())
    accuracy: str | None = None

    def to_frame(self) -> pd.DataFrame:
        if self.REML:
            return pd.DataFrame({"REML": [self.reml_criterion]})
        return pd.DataFrame({"AIC": [self.aic], "BIC": [self.bic], "logLik": [self.loglik],
                             "deviance": [self.deviance], "df.resid": [self.df_resid]})

    def __str__(self) -> str:
        text = self._criteria_text()
        return text if self.accuracy is None else text + "\n" + self.accuracy

    def _criteria_text(self) -> str:
        if self.REML:
            return ("REML criterion at convergence: "
                    + format_num([round(self.reml_criterion, self.digits)], 7)[0].strip())
        vals = np.round([self.aic, self.bic, self.loglik, self.deviance, self.df_resid], self.digits)
        cells = format_num(vals, 7)
        cells[4] = format_num([vals[4]], 7)[0].strip()
        names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
        w = max(len(c) for c in cells + names)
        return " ".join(n.rjust(w) for n in names) + " \n" + " ".join(c.rjust(w) for c in cells) + " "


@dataclass(frozen=True, repr=False)
class ScaledResiduals(TextReport, FrameMapping):
    """Quantiles of the scaled (Pearson) residuals."""

    quantiles: np.ndarray
    digits: int = 4

    @classmethod
    def from_residuals(cls, scaled: np.ndarray, digits: int = 4) -> "ScaledResiduals":
        return cls(np.quantile(scaled, [0, 0.25, 0.5, 0.75, 1.0]), digits)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.quantiles], columns=["Min", "1Q", "Median", "3Q", "Max"])

    def __str__(self) -> str:
        q = zapsmall(self.quantiles, self.digits + 1)
        return "Scaled residuals: \n" + format_named_vector(q, ["Min", "1Q", "Median", "3Q", "Max"],
                                                            self.digits)


@dataclass(frozen=True, repr=False)
class FixedEffectsTable(TextReport, FrameMapping):
    """Estimates, standard errors and t values of the fixed effects."""

    names: tuple[str, ...]
    estimate: np.ndarray
    std_error: np.ndarray
    digits: int = 4

    @property
    def t_value(self) -> np.ndarray:
        return self.estimate / self.std_error

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"Estimate": self.estimate, "Std. Error": self.std_error, "t value": self.t_value},
                            index=list(self.names))

    def __str__(self) -> str:
        values = np.column_stack([self.estimate, self.std_error, self.t_value])
        return format_coefmat(values, list(self.names), ["Estimate", "Std. Error", "t value"],
                              digits=self.digits, has_pvalue=False)


@dataclass(frozen=True, repr=False)
class FixefCorrelation(TextReport, FrameMapping):
    """Correlation of the fixed-effects estimates, printed with abbreviated names."""

    names: tuple[str, ...]
    matrix: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.matrix, index=list(self.names), columns=list(self.names))

    def __str__(self) -> str:
        p = len(self.names)
        rows = abbreviate(self.names, 11)
        cols = abbreviate(self.names, 6)
        cells = np.array(format_num(np.round(self.matrix, 3).ravel(order="F"), 7, nsmall=3),
                         dtype=object).reshape((p, p), order="F")
        body = [[cells[i, j] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
        rn = rows[1:]
        wr = max(len(r) for r in rn)
        widths = [max([len(cols[j])] + [len(r[j]) for r in body]) for j in range(p - 1)]
        lines = [" " * wr + "".join(" " + c.ljust(w) for c, w in zip(cols[:-1], widths))]
        for name, r in zip(rn, body):
            lines.append(name.ljust(wr) + "".join(" " + c.ljust(w) for c, w in zip(r, widths)))
        return "Correlation of Fixed Effects:\n" + "\n".join(line.rstrip() for line in lines)


class MixedModelReport(TextReport, FrameMapping):
    """What the summaries of lmer and glmer fits share: the printed text from their
    ``blocks()``, the fixed-effects and correlation blocks and lme4's optimizer lines. Uses
    the fields ``fixed``, ``correlation``,
    ``optimizer``, ``convergence_code`` and ``messages``."""

    __slots__ = ()

    def _tail_blocks(self) -> list[str]:
        out: list[str] = []
        if len(self.fixed.names):
            out += ["", "Fixed effects:", str(self.fixed)]
            if self.correlation is not None:
                out += ["", str(self.correlation)]
        if self.convergence_code != 0 or self.messages:
            ok = "(OK)" if self.convergence_code == 0 else ""
            out += [f"optimizer ({self.optimizer}) convergence code: {self.convergence_code} {ok}".rstrip()]
            out += list(self.messages) + [""]
        return out

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for block in self.blocks() for line in block.split("\n"))


@dataclass(frozen=True, repr=False)
class LmerSummary(MixedModelReport):
    """``summary()`` of a linear mixed model; ``str()`` is lme4's printed layout.

    Examples
    --------
    >>> import multilevel as ml
    >>> summary = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy")).summary()
    >>> summary.ngroups, summary.nobs
    ({'Subject': 18}, 180)
    """

    REML: bool
    formula: str
    data_name: str | None
    criteria: FitCriteria
    residuals: ScaledResiduals
    varcorr: VarCorr
    nobs: int
    ngroups: dict
    fixed: FixedEffectsTable
    correlation: FixefCorrelation | None
    optimizer: str
    convergence_code: int
    messages: tuple[str, ...]
    weights_name: str | None = None
    offset_name: str | None = None

    @property
    def title(self) -> str:
        return model_title(self.REML)

    def groups_line(self) -> str:
        """lme4's line of the number of observations and of levels of each grouping factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.summary().groups_line()
        'Number of obs: 180, groups:  Subject, 18'
        """
        return _groups_line(self.nobs, self.ngroups)

    def blocks(self) -> list[str]:
        """The printed summary, block by block (title, formula, criteria, residuals, random and
        fixed effects ...), each a string.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.summary().blocks()[:2]
        ["Linear mixed model fit by REML ['lmerMod']", 'Formula: Reaction ~ Days + (Days | Subject)']
        """
        out = [self.title, formula_line(self.formula)]
        if self.data_name:
            out.append("   Data: " + self.data_name)
        if self.weights_name:
            out.append("Weights: " + self.weights_name)
        if self.offset_name:
            out.append(" Offset: " + self.offset_name)
        out += ["", str(self.criteria), "", str(self.residuals), "", "Random effects:",
                self.varcorr.format(4), self.groups_line()]
        return out + self._tail_blocks()

    def to_frame(self) -> pd.DataFrame:
        """The fixed-effects table (other blocks: ``.varcorr.to_frame()``, ``.criteria.to_frame()`` ...).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.summary().to_frame().round(4)
                     Estimate  Std. Error  t value
        (Intercept)  251.4051      6.8246  36.8381
        Days          10.4673      1.5458   6.7715
        """
        return self.fixed.to_frame()


def _named_values(names, values, digits: int = 4, gap: int = 2, width: int = 80) -> list[str]:
    """R's ``print(format(x, digits), print.gap = 2, quote = FALSE)`` of a named vector."""
    cells = format_num(values, digits)
    w = max(len(c) for c in list(cells) + list(names))
    per_line = max(1, width // (w + gap))
    lines = []
    for i in range(0, len(cells), per_line):
        lines.append("".join(n.rjust(w) + " " * gap for n in names[i:i + per_line]).rstrip())
        lines.append("".join(c.rjust(w) + " " * gap for c in cells[i:i + per_line]).rstrip())
    return lines


@dataclass(frozen=True)
class LmerPrint:
    """lme4's ``print(m)``: the fit in brief (standard deviations, fixed effects without tests)."""

    title: str
    formula: str
    data_name: str | None
    criteria: FitCriteria
    varcorr: VarCorr
    nobs: int
    ngroups: dict
    fixef_names: tuple[str, ...]
    fixef: np.ndarray
    optimizer: str
    convergence_code: int
    messages: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [self.title, formula_line(self.formula)]
        if self.data_name:
            out.append("   Data: " + self.data_name)
        out += [str(self.criteria), "Random effects:", self.varcorr.format(4, comp=("Std.Dev.",)),
                _groups_line(self.nobs, self.ngroups)]
        if len(self.fixef_names):
            out += ["Fixed Effects:"] + _named_values(list(self.fixef_names), self.fixef)
        else:
            out.append("No fixed effect coefficients")
        opt_warnings = sum(m.startswith("convergence code") for m in self.messages)
        if self.convergence_code != 0 or self.messages:
            ok = "(OK)" if self.convergence_code == 0 else ""
            out.append(f"optimizer ({self.optimizer}) convergence code: {self.convergence_code} {ok} ; "
                       f"{opt_warnings} optimizer warnings; {len(self.messages) - opt_warnings} lme4 warnings")
        return out

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for block in self.lines() for line in block.split("\n"))

    def __repr__(self) -> str:
        return str(self)
