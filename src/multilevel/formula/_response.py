"""The left-hand side of a formula, evaluated as R evaluates it: arithmetic on columns.

In R the response is an ordinary expression: ``incidence/size ~ period``
divides (``/`` is not nesting there), ``y - 1`` subtracts, ``log(y)``,
``I(a/b)`` and ``(a/b)^2`` are what they say, and ``cbind(s, f)`` binds
columns (a two-column response, as binomial models take). This module
evaluates the Python code of the left-hand side (see
:attr:`ParsedFormula.response_code`) on the data columns with the formula
functions (``log``, ``sqrt``, ``exp``, ``np.*``, ``I``, ``cbind``).
"""

from __future__ import annotations

import ast
import functools

import numpy as np
import pandas as pd

from .._data import numeric_column
from .._exceptions import DataError, FormulaError
from ._quoting import expression_names, q_column, with_placeholders

__all__ = ["response_columns", "response_name", "evaluate_response", "LHS_FUNCTIONS"]


def _identity(x):
    return x


def _cbind(*columns):
    return np.column_stack([np.asarray(c, dtype=float) for c in columns])


#: Functions the left-hand side may call besides the formula functions (``log``, ``np.*``, ...).
LHS_FUNCTIONS = {"I": _identity, "cbind": _cbind}


@functools.lru_cache(maxsize=256)
def _tree(code: str) -> tuple[ast.Expression, dict[str, str]]:
    """The parsed left-hand side and its placeholders, once per text (neither is modified by callers)."""
    text, names = with_placeholders(code)
    return ast.parse(text.strip(), mode="eval"), names


@functools.lru_cache(maxsize=256)
def response_name(code: str) -> str | None:
    """The column when the left-hand side is one (possibly quoted) column name, else None."""
    tree, names = _tree(code)
    body = tree.body
    if isinstance(body, ast.Name):
        return names.get(body.id, body.id)
    return q_column(body)


def response_columns(code: str, context) -> set[str]:
    """Columns the left-hand side uses (names that are not functions nor in ``context``)."""
    variables, called = expression_names(code)
    return {v for v in variables - called if v not in context and v not in LHS_FUNCTIONS}


def evaluate_response(code: str, data: pd.DataFrame, context, formula: str) -> np.ndarray:
    """Values of the left-hand side on ``data``: shape (n,), or (n, k) for ``cbind`` of k columns.

    Parameters
    ----------
    code : str
        The left-hand side as Python code (:attr:`ParsedFormula.response_code`).
    data : pandas.DataFrame
        The rows used; every column named must be numeric (or logical).
    context : mapping
        Functions and constants available (the formula functions).
    formula : str
        The formula as written, for messages.

    Raises
    ------
    DataError
        A column is not numeric, or the result is not one value per row.
    FormulaError
        The expression calls an unknown function or cannot be evaluated.
    """
    name = response_name(code)
    if name is not None and name in data.columns:
        return numeric_column(data, name)
    tree, names = _tree(code)
    env = dict(context)
    env.update(LHS_FUNCTIONS)
    for column in response_columns(code, env):
        env[_key(column, names)] = numeric_column(data, column, role="column of the response")
    env["Q"] = lambda column: numeric_column(data, column, role="column of the response")
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = eval(compile(tree, "<response>", "eval"), {"__builtins__": {}}, env)  # noqa: S307
    except (NameError, TypeError, AttributeError, ValueError) as err:
        raise FormulaError(f"cannot evaluate the response {formula.split('~', 1)[0].strip()!r}: {err}",
                           formula, 0) from None
    return _as_rows(value, len(data), formula)


def _key(column: str, names: dict[str, str]) -> str:
    """The identifier of a column in the parsed code (its placeholder if it was quoted)."""
    return next((k for k, v in names.items() if v == column), column)


def _as_rows(value, n: int, formula: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0 or arr.shape[0] != n or arr.ndim > 2:
        lhs = formula.split("~", 1)[0].strip()
        raise DataError(f"the response {lhs!r} must give one value per row ({n} rows), "
                        f"but it has shape {arr.shape}")
    return arr
