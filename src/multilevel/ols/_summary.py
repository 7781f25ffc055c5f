"""Printed summary of :func:`multilevel.lm` in the layout of R's ``print(summary(lm(...)))``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._display import FrameMapping, TextReport
from .._rformat import format_coefmat, format_g, format_named_vector, format_num, format_pval, zapsmall
from ..formula._quoting import r_name

__all__ = ["LinearModelSummary", "deparse_formula", "deparse_call"]

_COLUMNS = ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]
_QUANTILE_NAMES = ["Min", "1Q", "Median", "3Q", "Max"]


def deparse_formula(formula: str) -> str:
    """A formula with R's spacing: blanks around ``~ + - * |``, none around ``: / ^``.

    Examples
    --------
    >>> deparse_formula("y~x*g + x:z")
    'y ~ x * g + x:z'
    """
    out, prev = [], ""
    for ch in re.findall(r"`[^`]*`|\s+|.", formula.strip()):
        if ch.isspace():
            continue
        if ch in "~+*|" or (ch == "-" and prev not in ("", "~", "+", "*", "/", "(", "|", ",")):
            out.append(f" {ch} ")
        elif ch == ",":
            out.append(", ")
        else:
            out.append(ch)
        prev = ch
    return "".join(out).replace("  ", " ")


def deparse_call(function: str, args: list[tuple[str, object]], cutoff: int = 60) -> list[str]:
    """A call printed as R's ``deparse``.

    After each ``", "`` between arguments, at any depth, the line is ended once
    it is longer than ``cutoff``; the first break inside an argument list
    indents the following lines by four more spaces. An argument value is text
    or a nested call ``(function, args)``, such as ``("list", [("f", '"contr.sum"')])``.

    >>> deparse_call("lm", [("formula", "y ~ x"), ("contrasts", ("list", [("f", '"contr.sum"')]))])
    ['lm(formula = y ~ x, contrasts = list(f = "contr.sum"))']
    """
    state = {"lines": [], "line": "", "indent": 0, "cutoff": cutoff}
    _deparse_args(state, function, args)
    return state["lines"] + [state["line"]]


def _deparse_args(state: dict, function: str, args: list[tuple[str, object]]) -> None:
    state["line"] += f"{function}("
    broke = False
    for i, (name, value) in enumerate(args):
        if i:
            state["line"] += ", "
            if len(state["line"].encode("utf-8")) > state["cutoff"]:
                if not broke:
                    broke = True
                    state["indent"] += 1
                state["lines"].append(state["line"])  # R's lines keep the blank after the comma
                state["line"] = "    " * state["indent"]
        if name:
            state["line"] += f"{name} = "
        if isinstance(value, tuple):
            _deparse_args(state, *value)
        else:
            state["line"] += str(value)
    state["line"] += ")"
    if broke:
        state["indent"] -= 1


@dataclass(frozen=True, eq=False, repr=False)
class LinearModelSummary(TextReport, FrameMapping):
    """R's ``summary.lm``: every printed block, as numbers.

    ``to_frame()`` is the coefficient table (NaN rows for aliased coefficients);
    ``str()`` prints R's layout.

    Examples
    --------
    >>> import multilevel as ml
    >>> summary = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).summary()
    >>> summary.to_frame().round(3)
                 Estimate  Std. Error  t value  Pr(>|t|)
    (Intercept)   251.405       6.610   38.033       0.0
    Days           10.467       1.238    8.454       0.0
    """

    call: tuple[str, ...]
    residuals: np.ndarray
    df_resid: int
    coefficients: pd.DataFrame
    num_aliased: int
    sigma: float
    r_squared: float
    adj_r_squared: float
    fstatistic: object
    digits: int = 4
    num_dropped_na: int = 0

    @classmethod
    def from_model(cls, model) -> LinearModelSummary:
        """The summary of a :class:`~multilevel.LinearModel` (what ``model.summary()`` returns).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
        >>> ml.LinearModelSummary.from_model(fit).df_resid
        178
        """
        table = pd.DataFrame({"Estimate": model.coef, "Std. Error": model.se, "t value": model.tvalue,
                              "Pr(>|t|)": model.pvalue})
        args: list[tuple[str, object]] = [("formula", deparse_formula(model.formula)), ("data", model.data_name)]
        if model.contrasts:
            args.append(("contrasts", ("list", [(r_name(k), f'"{v}"') for k, v in model.contrasts])))
        call = deparse_call("lm", args)
        dropped = getattr(getattr(model.design, "frame", None), "n_dropped_na", 0)
        return cls(tuple(call), model.fit.residuals, model.df_resid, table, int(model.fit.aliased.sum()),
                   model.sigma, model.r_squared, model.adj_r_squared, model.fstatistic,
                   num_dropped_na=int(dropped))

    def to_frame(self) -> pd.DataFrame:
        """The coefficients table (``Estimate``, ``Std. Error``, ``t value``, ``Pr(>|t|)``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
        >>> fit.summary().to_frame().round(4)
                     Estimate  Std. Error  t value  Pr(>|t|)
        (Intercept)  251.4051      6.6102  38.0332       0.0
        Days          10.4673      1.2382   8.4537       0.0
        """
        return self.coefficients.copy()

    def residual_quantiles(self) -> pd.Series:
        """Minimum, quartiles and maximum of the residuals (R's ``Residuals:`` line).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
        >>> fit.summary().residual_quantiles().round(3).tolist()
        [-110.848, -27.483, 1.546, 26.142, 139.953]
        """
        q = np.quantile(self.residuals, [0, 0.25, 0.5, 0.75, 1.0])
        return pd.Series(zapsmall(q, self.digits + 1), index=_QUANTILE_NAMES)

    def _residual_lines(self) -> list[str]:
        if self.df_resid > 5:
            q = self.residual_quantiles()
            return format_named_vector(q.to_numpy(), _QUANTILE_NAMES, self.digits).split("\n")
        if self.df_resid > 0:
            names = [str(i + 1) for i in range(self.residuals.size)]
            return format_named_vector(self.residuals, names, self.digits).split("\n")
        return [f"ALL {self.residuals.size} residuals are 0: no residual degrees of freedom!"]

    def _coef_lines(self) -> list[str]:
        if self.coefficients.shape[0] == 0:
            return ["", "No Coefficients"]
        head = (f"Coefficients: ({self.num_aliased} not defined because of singularities)"
                if self.num_aliased else "Coefficients:")
        values = self.coefficients.to_numpy()
        aliased = np.isnan(values[:, 0])  # R's NA rows; other missing cells are NaN (no residual df)
        body = format_coefmat(values, list(self.coefficients.index), _COLUMNS, digits=self.digits,
                              nan_cells=~aliased[:, None] & np.isnan(values))
        return ["", head, *body.split("\n")]

    def _fit_lines(self) -> list[str]:
        d = self.digits
        sigma = format_num([float(f"{self.sigma:.{d}g}")], 7)[0] if np.isfinite(self.sigma) else "NaN"
        lines = [f"Residual standard error: {sigma} on {self.df_resid} degrees of freedom"]
        if self.num_dropped_na:  # R's naprint(na.action)
            k = self.num_dropped_na
            lines.append(f"  ({k} observation{'s' if k > 1 else ''} deleted due to missingness)")
        f = self.fstatistic
        if f is not None:
            lines.append(f"Multiple R-squared:  {format_g(self.r_squared, d)},\t"
                         f"Adjusted R-squared:  {format_g(self.adj_r_squared, d)} ")
            lines.append(f"F-statistic: {format_g(f.value, d)} on {f.numdf} and {f.dendf} DF,  "
                         f"p-value: {format_pval([f.pvalue], d)[0]}")
        return lines

    def lines(self) -> list[str]:
        """The printed lines (as R's ``capture.output(print(summary(fit)))``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
        >>> fit.summary().lines()[1:3]
        ['Call:', 'lm(formula = Reaction ~ Days, data = data)']
        """
        return ["", "Call:", *self.call, "", "Residuals:", *self._residual_lines(), *self._coef_lines(), "",
                *self._fit_lines(), ""]

    def __str__(self) -> str:
        return "\n".join(self.lines())

