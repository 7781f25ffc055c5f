"""The response side of a GLMM formula: ``cbind(successes, failures)``, ``offset(...)`` terms,
prior weights, and the checks of the response against the family's support.

The formula is split here; the right-hand side without its ``offset()`` terms
goes to :func:`multilevel.formula.model_frame` with a numeric response column
made here, so the formula layer needs to know nothing about GLMMs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._data import as_dataframe, check_columns, is_polars, numeric_column, polars_to_pandas, row_labels, warn_dropped
from .._exceptions import DataError, FormulaError, ModelSpecificationError
from ..formula import model_frame
from ..formula._design import formula_variables, materialize
from ..formula._factors import as_r_factors
from ..formula._frame import ModelFrame
from ._family import Family

__all__ = ["GlmmFormula", "split_formula", "GlmmResponse", "glmm_frame", "RESPONSE_COLUMN"]

RESPONSE_COLUMN = ".glmm.response"


@dataclass(frozen=True)
class GlmmFormula:
    """A GLMM formula taken apart: ``lhs`` (``cbind`` arguments or one expression),
    ``offsets`` (expressions inside ``offset()``) and ``rhs`` (the rest)."""

    formula: str
    lhs: tuple[str, ...]
    is_cbind: bool
    offsets: tuple[str, ...]
    rhs: str


def _top_level(text: str, chars: str) -> list[int]:
    depth, out = 0, []
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in chars:
            out.append(i)
    return out


def _pieces(text: str, positions: list[int]) -> list[str]:
    bounds = [-1] + positions + [len(text)]
    return [text[a + 1:b].strip() for a, b in zip(bounds[:-1], bounds[1:])]


def _call_args(text: str, name: str) -> list[str] | None:
    """Arguments of ``name(...)`` when ``text`` is exactly such a call, else None."""
    t = text.strip()
    if not (t.startswith(name) and t[len(name):].lstrip().startswith("(") and t.endswith(")")):
        return None
    inner = t[t.index("(") + 1:-1]
    if _top_level(inner, ")") or inner.count("(") != inner.count(")"):
        return None
    return _pieces(inner, _top_level(inner, ","))


def split_formula(formula: str) -> GlmmFormula:
    """Take ``cbind(...)`` from the left and ``offset(...)`` terms from the right of ``~``.

    Examples
    --------
    >>> f = split_formula("cbind(incidence, size - incidence) ~ period + offset(log(t)) + (1 | herd)")
    >>> f.lhs, f.is_cbind, f.offsets, f.rhs
    (('incidence', 'size - incidence'), True, ('log(t)',), 'period + (1 | herd)')
    """
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string such as 'y ~ x + (1 | g)', not {type(formula).__name__}",
                           str(formula))
    tildes = _top_level(formula, "~")
    if len(tildes) != 1:
        raise FormulaError("the formula needs exactly one '~' with the response on its left", formula,
                           tildes[1] if len(tildes) > 1 else len(formula))
    lhs_text, rhs_text = formula[:tildes[0]].strip(), formula[tildes[0] + 1:].strip()
    if not lhs_text:
        raise FormulaError("the formula has no response before '~'", formula, tildes[0])
    cb = _call_args(lhs_text, "cbind")
    if cb is not None and len(cb) != 2:
        raise FormulaError(f"cbind() in the response needs two columns (successes, failures), got {len(cb)}",
                           formula, formula.find("cbind"))
    kept, offsets = [], []
    for piece in _pieces(rhs_text, _top_level(rhs_text, "+")):
        args = _call_args(piece, "offset")
        if args is None:
            kept.append(piece)
        elif len(args) != 1 or not args[0]:
            raise FormulaError("offset() takes one expression", formula, formula.find(piece))
        else:
            offsets.append(args[0])
    rhs = " + ".join(kept) if kept else "1"
    return GlmmFormula(formula, tuple(cb) if cb is not None else (lhs_text,), cb is not None, tuple(offsets), rhs)


@dataclass(frozen=True, eq=False)
class GlmmResponse:
    """Arrays of the response side, row-aligned with the model frame.

    ``y`` (proportions for binomial), ``weights`` (prior weights times the number of
    trials, lme4's ``weights``), ``n_trials`` (lme4's ``n``: trials for ``cbind``,
    else 1), ``prior_weights`` (the ``weights=`` argument), ``offset``, ``mustart``.
    """

    y: np.ndarray
    weights: np.ndarray
    n_trials: np.ndarray
    prior_weights: np.ndarray
    offset: np.ndarray
    mustart: np.ndarray


def _evaluate(expr: str, df: pd.DataFrame, formula: str) -> np.ndarray:
    if expr in df.columns:
        return np.asarray(numeric_column(df, expr), dtype=float)
    check_columns(df, sorted(formula_variables(f"0 + I({expr})", formula)), context=f"expression {expr!r}")
    design = materialize(f"0 + I({expr.replace('^', '**')})", df, formula)
    if design.matrix.shape[1] != 1:
        raise DataError(f"{expr!r} must give one numeric column, but it gives {design.matrix.shape[1]}")
    return design.matrix[:, 0].astype(float)


def _plain_response(expr: str, df: pd.DataFrame, family: Family, formula: str) -> np.ndarray:
    """A response column; for binomial, factors/booleans/strings count the non-first level as success."""
    if expr in df.columns:
        col = df[expr]
        categorical = (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col.dtype)
                       or col.dtype == object or pd.api.types.is_string_dtype(col.dtype))
        if categorical:
            if family.name != "binomial":
                raise DataError(f"the response {expr!r} is not numeric (a {family.name} response must be numeric)")
            if pd.api.types.is_bool_dtype(col.dtype):
                return col.to_numpy(dtype=float)
            fac = as_r_factors(df[[expr]])[expr]
            codes = np.asarray(pd.Categorical(fac).codes, dtype=float)
            codes[codes < 0] = np.nan
            return np.where(np.isnan(codes), np.nan, (codes > 0).astype(float))
    return _evaluate(expr, df, formula)


def _vector_argument(value, name: str, df: pd.DataFrame, formula: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _evaluate(value, df, formula)
    arr = np.asarray(value, dtype=float).ravel()
    if arr.shape != (len(df),):
        raise DataError(f"{name} must have one value per row of data ({len(df)}), got {arr.size}")
    return arr


def glmm_frame(spec: GlmmFormula, data, family: Family, weights=None, offset=None):
    """The model frame of the right-hand side and the response arrays, both without rows with
    missing values; returns ``(frame, response, row_labels)``."""
    df = polars_to_pandas(data) if is_polars(data) else as_dataframe(data)
    labels, names = df.index, row_labels(df, len(df))
    df = df.reset_index(drop=True)
    cols = {RESPONSE_COLUMN: _plain_response(spec.lhs[0], df, family, spec.formula)}
    if spec.is_cbind:
        cols["failures"] = _evaluate(spec.lhs[1], df, spec.formula)
    off = [_evaluate(e, df, spec.formula) for e in spec.offsets]
    extra_off = _vector_argument(offset, "offset", df, spec.formula)
    cols["offset"] = (sum(off) if off else np.zeros(len(df))) + (0.0 if extra_off is None else extra_off)
    w = _vector_argument(weights, "weights", df, spec.formula)
    cols["weights"] = np.ones(len(df)) if w is None else w
    bad = np.zeros(len(df), dtype=bool)
    for v in cols.values():
        bad |= np.isnan(v)
    dropped = tuple(names[i] for i in np.flatnonzero(bad))
    if bad.any():
        warn_dropped(dropped, len(df), columns=["the response, weights or offset"])
        df, cols = df.loc[~bad], {k_: v[~bad] for k_, v in cols.items()}
    work = df.copy()
    work[RESPONSE_COLUMN] = cols[RESPONSE_COLUMN]
    if len(set(names)) == len(names):  # the formula layer then names dropped rows as the user's table does
        work.index = pd.Index([names[i] for i in df.index])
    frame = model_frame(f"{RESPONSE_COLUMN} ~ {spec.rhs}", work, check_nobs=False)
    pos = np.asarray(work.index.get_indexer(frame.row_index))
    rows = {k_: np.asarray(v)[pos] for k_, v in cols.items()}
    frame = _renamed(frame, spec, dropped)
    response = _response_arrays(spec, rows, family, labels[np.asarray(df.index)[pos]])
    return frame, response, labels[np.asarray(df.index)[pos]]


def _renamed(frame: ModelFrame, spec: GlmmFormula, dropped: tuple[str, ...]) -> ModelFrame:
    import dataclasses

    rows = dropped + tuple(frame.dropped_rows)
    return dataclasses.replace(frame, formula=spec.formula, response=spec.formula.split("~")[0].strip(),
                               dropped_rows=rows, n_dropped_na=len(rows))


def _rows(mask: np.ndarray, labels) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(labels[i]) for i in idx[:5])
    return f"row{'s' if idx.size > 1 else ''} {shown}{' ...' if idx.size > 5 else ''}"


def _response_arrays(spec: GlmmFormula, cols: dict, family: Family, labels) -> GlmmResponse:
    y, w, off = cols[RESPONSE_COLUMN], cols["weights"], cols["offset"]
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        bad = (w < 0) | ~np.isfinite(w)
        raise DataError(f"weights must be finite and non-negative; {_rows(bad, labels)} have {w[bad][:5].tolist()}")
    if not np.all(np.isfinite(off)):
        raise DataError(f"the offset has infinite values at {_rows(~np.isfinite(off), labels)}")
    if family.name == "binomial":
        return _binomial(spec, y, cols.get("failures"), w, off, labels)
    if spec.is_cbind:
        raise ModelSpecificationError(f"a two-column cbind() response needs the binomial family, not {family.name}")
    name = spec.lhs[0]
    if family.name == "poisson" or family.name.startswith("Negative Binomial"):
        _check(y < 0, f"negative values not allowed for the {family.name} family (response {name!r})", y, labels)
        _check(np.abs(y - np.rint(y)) > 1e-3, f"non-integer counts in the {family.name} response {name!r}", y,
               labels)
        mustart = y + 0.1 if family.name == "poisson" else y + (y == 0) / 6.0  # R's family initialize
    else:
        _check(y <= 0, f"non-positive values not allowed for the {family.name} family (response {name!r})", y,
               labels)
        mustart = y.copy()
    _check_not_constant(y, name)
    return GlmmResponse(y, w, np.ones_like(y), w, off, mustart)


def _check(mask: np.ndarray, message: str, values: np.ndarray, labels) -> None:
    if mask.any():
        raise DataError(f"{message}: {_rows(mask, labels)} with values {values[mask][:5].tolist()}")


def _check_not_constant(y: np.ndarray, name: str) -> None:
    if y.size and np.all(y == y[0]):
        raise ModelSpecificationError(f"the response {name!r} is constant")


def _binomial(spec: GlmmFormula, y, failures, prior, off, labels) -> GlmmResponse:
    if spec.is_cbind:
        s, f = y, failures
        _check(s < 0, f"negative successes in cbind() (column {spec.lhs[0]!r})", s, labels)
        _check(f < 0, f"negative failures in cbind() ({spec.lhs[1]!r})", f, labels)
        _check(np.abs(s - np.rint(s)) > 1e-3, f"non-integer successes in cbind() ({spec.lhs[0]!r})", s, labels)
        _check(np.abs(f - np.rint(f)) > 1e-3, f"non-integer failures in cbind() ({spec.lhs[1]!r})", f, labels)
        n = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(n == 0, 0.0, s / np.where(n == 0, 1.0, n))
        weights = prior * n
        n_trials = n
    else:
        name = spec.lhs[0]
        _check((y < 0) | (y > 1), f"binomial responses must be between 0 and 1 (response {name!r}; use cbind("
               "successes, failures) or proportions with weights = trials)", y, labels)
        m = prior * y
        _check(np.abs(m - np.rint(m)) > 1e-3, f"non-integer number of successes (response {name!r} times the "
               "weights); proportions need weights = number of trials", m, labels)
        weights = prior.copy()
        n_trials = np.ones_like(y)
    _check_not_constant(y, spec.formula.split("~")[0].strip())
    mustart = (weights * y + 0.5) / (weights + 1.0)
    return GlmmResponse(y, weights, n_trials, prior, off, mustart)
