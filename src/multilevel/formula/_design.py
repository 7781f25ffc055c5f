"""Thin adapter over formulaic: model matrices with R's column names, and R's rank check.

formulaic evaluates the fixed part (and the left-hand sides of the bars);
this module only chooses its options (treatment contrasts, no NA handling
since rows were already dropped, NumPy output), supplies R's common
functions (``log``, ``sqrt``, ...) and names the columns as R does.
"""

from __future__ import annotations

import builtins
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import formulaic
from formulaic.errors import FormulaicError
from formulaic.transforms import TRANSFORMS

from .._exceptions import DataError, FormulaError, UnknownColumnError
from ._factors import as_r_factors, r_factor
from ._names import r_columns, variable_order
from . import _recipes
from ._quoting import factor_names, quote_dotted
from ._rcoding import MATERIALIZER

__all__ = ["Design", "materialize", "rematerialize", "formula_variables", "looked_up_columns", "pivot_rank_columns",
           "CONTEXT", "rhs_design"]

#: Names available in formulas besides the data columns (R's usual transforms).
CONTEXT = {
    "np": np, "numpy": np, "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
    "exp": np.exp, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "floor": np.floor, "ceiling": np.ceil, "round": np.round, "pi": np.pi, "factor": r_factor,
}


_NOT_COLUMNS = frozenset(CONTEXT) | frozenset(TRANSFORMS) | frozenset(dir(builtins))


@dataclass(frozen=True, eq=False)
class Design:
    """A materialized model matrix with R's column names and what is needed to rebuild it.

    ``columns`` are the indices of the formulaic matrix's columns in R's order
    (``matrix`` is already in that order).
    """

    matrix: np.ndarray
    names: tuple[str, ...]
    spec: object
    columns: np.ndarray

    def rebuild(self, data: pd.DataFrame, what: str) -> np.ndarray:
        """The same columns for new data (see :func:`rematerialize`)."""
        return rematerialize(self.spec, data, what)[:, self.columns]


@lru_cache(maxsize=256)
def _formula(text: str) -> formulaic.Formula:
    return formulaic.Formula(text)


@lru_cache(maxsize=256)
def _variable_order(text: str) -> dict:
    return variable_order(formulaic.Formula(text, _ordering="none"))


@lru_cache(maxsize=256)
def formula_variables(text: str, formula: str) -> frozenset[str]:
    """Data columns a formulaic formula text needs (functions and transforms excluded).

    Taken from each factor: a looked-up column (dotted and quoted names whole),
    or the names in a Python expression (``poly(x, 2)``, ``log(`Solar.R`)``,
    ``Q("Temp F")``). Unknown functions raise :class:`~multilevel.FormulaError`.
    """
    try:
        parsed = _formula(text)
    except FormulaicError as err:
        raise FormulaError(f"cannot parse {text!r}: {err}", formula) from None
    variables, called = factor_names(parsed)
    unknown = sorted(called - _NOT_COLUMNS)
    if unknown:
        where = formula.find(unknown[0] + "(")
        known = sorted(k for k, v in CONTEXT.items() if callable(v) and k not in ("np", "numpy"))
        raise FormulaError(f"unknown function {unknown[0]!r} (known: {', '.join(known)}, np.<function>, "
                           "I, C, Q, poly, scale, center)", formula, where if where >= 0 else None)
    return frozenset(v for v in variables - called if v not in _NOT_COLUMNS)


@lru_cache(maxsize=256)
def looked_up_columns(text: str) -> frozenset[str]:
    """Columns a formula text names directly (not inside an expression): the variables
    R's ``contrasts.arg`` can refer to."""
    return frozenset(factor.expr for term in _formula(text) for factor in term.factors
                     if factor.eval_method.value == "lookup")


def materialize(text: str, data: pd.DataFrame, formula: str, contrasts: tuple = ()) -> Design:
    """Evaluate formula text (a right-hand side) on ``data``.

    ``contrasts``: ``(column, R contrast name)`` pairs coding those factors (see
    :func:`~._contrasts.check_contrasts`). Designs of numeric columns are built from a
    recipe kept per formula text and column types (:mod:`._recipes`) after the first table.
    """
    try:
        key = _recipes.recipe_key(text, contrasts, data, formula_variables(text, formula))
    except FormulaError:  # formulaic reports it below
        key = None
    recipe = _recipes.lookup(key)
    if recipe is not None:
        return Design(recipe.matrix(data), recipe.names, recipe.spec, recipe.columns)
    design = _materialize(text, data, formula, contrasts)
    _recipes.remember(key, design, data)
    return design


def _materialize(text: str, data: pd.DataFrame, formula: str, contrasts: tuple) -> Design:
    order = _variable_order(text)
    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", FutureWarning)  # non-finite values are reported by the caller
            mm = formulaic.model_matrix(_formula(text), data, output="numpy", na_action="ignore",
                                        context=CONTEXT, materializer=MATERIALIZER,
                                        materializer_params={"variable_order": tuple(order), "contrasts": contrasts})
    except FormulaicError as err:
        raise FormulaError(f"cannot evaluate {text!r}: {err}", formula) from None
    spec = mm.model_spec
    matrix = np.asarray(mm, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    names, columns = r_columns(spec, order)
    if not np.array_equal(columns, np.arange(matrix.shape[1])):
        matrix = matrix[:, columns]
    return Design(np.ascontiguousarray(matrix), tuple(names), spec, columns)


def rhs_design(formula: str, data: pd.DataFrame, *, intercept: bool = True,
               drop_unused_levels: bool = False) -> Design:
    """The fixed-effects design of a one-sided formula, as R's ``model.matrix(~ x + f, data)``.

    The builder of the meta-analysis moderators (``rma``, ``rma_mv``) and of ``brma``'s
    ``mods``/``scale``: the same evaluation, coding and column names as the fixed part of an
    ``lmer`` formula (:func:`materialize`). ``formula`` is ``"~ x + f"`` (the ``~`` is
    optional); dotted and backtick-quoted column names work as in R. Character and boolean
    columns become factors as in R; unused levels of categoricals are kept unless
    ``drop_unused_levels`` (metafor keeps them, and then drops the empty columns as redundant).
    Rows are not dropped: undefined values (``log(-1)``) are NaN, for the caller to drop.

    Examples
    --------
    >>> import multilevel as ml
    >>> bcg = ml.datasets.load("bcg")
    >>> d = rhs_design("~ ablat + alloc", bcg)
    >>> d.names
    ('(Intercept)', 'ablat', 'allocrandom', 'allocsystematic')
    >>> d.matrix.shape
    (13, 4)
    """
    text = formula.strip()
    rhs = quote_dotted(text[1:] if text.startswith("~") else text)
    if not intercept:
        rhs += " - 1"
    used = sorted(c for c in formula_variables(rhs, formula) if c in data.columns)
    frame = as_r_factors(data[used], drop_unused_levels=drop_unused_levels)
    return materialize(rhs, frame, formula)


def rematerialize(spec, data: pd.DataFrame, what: str) -> np.ndarray:
    """Rebuild a model matrix from a saved spec on new data; unseen factor levels raise DataError."""
    variables, called = factor_names(spec.formula)
    missing = [v for v in variables - called if v not in _NOT_COLUMNS and v not in data.columns]
    if missing:
        raise UnknownColumnError(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, sorted(missing)))} needed for the "
            f"{what} not found in newdata")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mm = spec.get_model_matrix(data, context=CONTEXT)
        except FormulaicError as err:
            raise DataError(f"cannot build the {what} for newdata: {err}") from None
    for w in caught:
        if "categories outside of the nominated levels" in str(w.message) or "not seen" in str(w.message):
            raise DataError(f"newdata has factor levels not seen when fitting ({what}): {w.message}")
    matrix = np.asarray(mm, dtype=float)
    return matrix[:, None] if matrix.ndim == 1 else matrix


def pivot_rank_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of the columns R's ``qr(X, tol, LAPACK = FALSE)`` keeps (LINPACK dqrdc2 pivoting).

    A column is dropped when the norm of what is left of it after projecting
    out the columns kept before it falls below ``tol`` times its original norm;
    earlier columns are kept first, as lme4's ``chkRank.drop.cols``.
    """
    n, p = X.shape
    if p == 0:
        return np.arange(0)
    gram = X.T @ X
    norms = np.sqrt(np.diag(gram))
    norms[norms == 0.0] = 1.0
    if n >= p and _clearly_full_rank(gram, norms):
        return np.arange(p)
    keep: list[int] = []
    Q = np.zeros((n, 0))
    for j in range(p):
        resid = X[:, j] - Q @ (Q.T @ X[:, j])
        resid -= Q @ (Q.T @ resid)  # re-orthogonalize
        r = np.linalg.norm(resid)
        if r >= tol * norms[j] and r > 0:
            keep.append(j)
            Q = np.column_stack([Q, resid / r])
    return np.asarray(keep, dtype=int)


def _clearly_full_rank(gram: np.ndarray, norms: np.ndarray) -> bool:
    """Cheap test on X'X: every column keeps more than 1e-4 of its norm after projection.

    The Cholesky factor of X'X is R of the QR of X; its diagonal relative to the
    column norms is accurate to ~1e-8 here, far from the 1e-7 threshold, so the
    exact column-by-column check is needed only when this test fails.
    """
    scaled = gram / np.outer(norms, norms)
    try:
        L = np.linalg.cholesky(scaled)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.abs(np.diag(L)) > 1e-4))
