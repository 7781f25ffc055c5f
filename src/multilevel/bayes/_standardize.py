"""Standardized moderators of ``brma``: the model frame's continuous columns, centred and scaled.

RoBMA standardizes the continuous columns of the model frame, that is each variable *after* the
transformations the formula applies to it: with ``~ log(x)`` the column ``log(x)`` is centred
and scaled, and an interaction ``x:z`` is the product of the standardized ``x`` and ``z``. The
formula's factors are evaluated once on the data; every one that gives a single numeric column
is replaced in the formula by a placeholder column holding its standardized values (the mean and
the ``n - 1`` standard deviation of the rows used), and the design is built from the rewritten
formula. Factors (text, boolean, categorical, ``factor(...)``) keep their place in the formula.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._exceptions import ModelSpecificationError
from ..formula._quoting import quote_dotted

__all__ = ["StandardizedFormula", "standardize_formula"]

_PLACEHOLDER = "stdcol{}_"


@dataclass(frozen=True)
class _Continuous:
    """One standardized factor: its placeholder column, R's name for it, how to evaluate it on
    new data and its centre and scale."""

    column: str
    name: str
    design: object
    mean: float
    sd: float


@dataclass(frozen=True)
class StandardizedFormula:
    """A moderator formula rewritten on standardized columns (fields are internal)."""

    text: str
    continuous: tuple[_Continuous, ...]

    def frame(self, df: pd.DataFrame, *, new: bool = False, what: str = "moderators") -> pd.DataFrame:
        """``df`` with the placeholder columns; with ``new``, the factors are evaluated on new
        data and standardized with the centres and scales of the fitted data."""
        out = df.copy()
        for c in self.continuous:
            values = c.design.rebuild(df, what)[:, 0] if new else c.design.matrix[:, 0]
            out[c.column] = (values - c.mean) / c.sd
        return out

    def rename(self, names) -> list[str]:
        """R's names for the columns of the rewritten design."""
        lookup = {c.column: c.name for c in self.continuous}
        pattern = re.compile("|".join(re.escape(c) for c in lookup)) if lookup else None
        return [pattern.sub(lambda m: lookup[m.group(0)], n) if pattern else n for n in names]


def standardize_formula(formula: str, df: pd.DataFrame) -> StandardizedFormula:
    """Rewrite ``formula`` so that its continuous factors are standardized columns of ``df``."""
    import formulaic  # the formula layer's parser; loaded only for models with moderators

    from ..formula._design import rhs_design

    text = formula.strip()
    rhs = quote_dotted(text[1:] if text.startswith("~") else text)
    tokens: dict[str, str] = {}
    continuous: list[_Continuous] = []
    terms, intercept = [], False
    for term in formulaic.Formula(rhs):
        if all(f.eval_method.value == "literal" for f in term.factors):
            intercept = intercept or str(term) == "1"
            continue
        parts = []
        for f in term.factors:
            token = f"`{f.expr}`" if f.eval_method.value == "lookup" else f.expr
            if token not in tokens:
                tokens[token] = _factor_token(token, df, continuous, rhs_design)
            parts.append(tokens[token])
        terms.append(":".join(parts))
    body = " + ".join(terms) if terms else "1"
    return StandardizedFormula(body if intercept else f"{body} - 1", tuple(continuous))


def _factor_token(token: str, df: pd.DataFrame, continuous: list, rhs_design) -> str:
    """The token standing for one factor in the rewritten formula: a placeholder column for a
    single numeric column, the factor itself otherwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        design = rhs_design(f"~ 0 + {token}", df)
    if design.matrix.shape[1] != 1 or _is_factor(token, df):
        return token
    values = design.matrix[:, 0]
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    name = design.names[0]
    if not sd > 0:
        raise ModelSpecificationError(f"the predictor {name.strip('`')!r} is constant")
    column = _PLACEHOLDER.format(len(continuous))
    while column in df.columns:
        column += "_"
    continuous.append(_Continuous(column, name, design, mean, sd))
    return column


def _is_factor(token: str, df: pd.DataFrame) -> bool:
    """A looked-up column that R would treat as a factor (a one-level factor has one column)."""
    name = token.strip("`")
    if name not in df.columns:
        return False
    col = df[name]
    return not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
