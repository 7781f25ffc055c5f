"""``model_frame``: a formula and a table become a :class:`ModelFrame`."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

from .._data import (as_dataframe, check_columns, drop_missing, is_polars, offending_rows, polars_to_pandas,
                     warn_dropped)
from .._exceptions import ArgumentError, DataError, RankDeficiencyWarning
from ._bars import ParsedFormula, parse_formula
from ._contrasts import check_contrasts
from ._design import CONTEXT, formula_variables, looked_up_columns, materialize, pivot_rank_columns
from ._factors import as_r_factors
from ._frame import ModelFrame
from ._groups import build_blocks, check_blocks
from ._newdata import new_fixed_design, new_random_design
from ._quoting import name_positions
from ._response import evaluate_response, response_columns, response_name

__all__ = ["model_frame", "new_fixed_design", "new_random_design"]


def model_frame(formula: str, data, *, drop_na: bool = True, contrasts=None, check_nobs: bool = True) -> ModelFrame:
    r"""Evaluate an lme4 formula on a table.

    The fixed part is built by formulaic with R's conventions (treatment
    contrasts with the first level as reference, coefficient names as R prints
    them); each random-effects term ``(lhs | group)`` becomes a
    :class:`RandomEffectsBlock`, in lme4's order.

    .. math::

        y = X\beta + \sum_i Z_i b_i + \varepsilon

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``. Supported:
        ``(x | g)``, ``(0 + x | g)``, ``(x || g)`` (one uncorrelated term per
        column), ``(1 | a/b)`` (``(1 | b:a) + (1 | a)``), ``(1 | a:b)``,
        ``I(x^2)``, ``log(x)``, ``np.log(x)``, ``C(f, ...)`` for other contrasts.
        Column names with dots are names, as in R (``Solar.R``); other names
        are quoted with backticks (```Temp F```) or formulaic's ``Q("Temp F")``,
        in both the fixed and the random parts. The response is an expression
        evaluated as R does: ``incidence/size``, ``y - 1``, ``log(y)``,
        ``(a/b)^2`` are arithmetic.
    data : pandas.DataFrame, polars.DataFrame or dict of columns
        Factors should be pandas Categoricals (their first level is the
        reference). Strings become factors with sorted levels and booleans
        factors with levels FALSE, TRUE, as in R. Ordered Categoricals also get
        treatment contrasts (R would use polynomial contrasts; request them
        with ``C(x, Poly)``).
    drop_na : bool, default True
        Drop rows with a missing value in any column used (with a
        :class:`~multilevel.MissingDataWarning`, as R's ``na.omit``). If False,
        missing values raise :class:`~multilevel.DataError`.
    contrasts : dict, optional
        Coding of factors of the fixed part, as R's ``contrasts.arg``:
        ``{"tension": "contr.sum"}``; one of ``"contr.treatment"``,
        ``"contr.sum"``, ``"contr.helmert"``, ``"contr.poly"``, ``"contr.SAS"``.
        Columns are named as R names them (``tension1``, ``tension.L``,
        ``tensionL``). Random-effects terms keep treatment contrasts, as in lme4.

    check_nobs : bool
        Check that every grouping factor has fewer levels than there are observations and
        that each term has fewer coefficients than observations (lmer's defaults). glmer
        skips these checks, as lme4's ``glmerControl`` does, so that observation-level
        random effects are possible.

    Returns
    -------
    ModelFrame

    Raises
    ------
    FormulaError, UnknownColumnError, DataError, ModelSpecificationError
    ArgumentError
        ``contrasts`` names an unknown coding, or a column that is not a factor of the fixed part.

    Warns
    -----
    MissingDataWarning, RankDeficiencyWarning

    Notes
    -----
    The fixed-effects columns follow R's ``model.matrix``: factors of a term are
    coded by contrasts or by indicators with R's rule (so ``y ~ a:b`` gives
    every ``a:b`` combination, as in R), interactions are named and ordered by
    the variables' first appearance in the formula, and columns that make the
    design rank deficient are dropped with lme4's pivoted QR (tolerance 1e-7),
    keeping the earlier columns.

    Grouping factors keep the level order of a Categorical (unused levels
    dropped); numbers are sorted numerically and strings in R's (ICU) collation
    order, case-insensitively first (``"a10" < "a2" < "b" < "B"``); ``a:b`` has
    the observed combinations ordered by ``a``, then ``b``, as lme4's ``%i%``.
    Blocks are reordered by decreasing number of levels exactly as lme4's
    ``mkReTrms`` does (only if some term has more levels than the one before it;
    ties then end up in reverse formula order).

    Examples
    --------
    >>> import multilevel as ml
    >>> mf = ml.model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> mf.fixed_names
    ('(Intercept)', 'Days')
    >>> b = mf.blocks[0]
    >>> b.group, b.column_names, b.num_levels, mf.X.shape
    ('Subject', ('(Intercept)', 'Days'), 18, (180, 2))
    >>> [b.group for b in ml.model_frame("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("Pastes")).blocks]
    ['cask:batch', 'batch']
    """
    parsed = parse_formula(formula)
    coding = check_contrasts(contrasts)
    df, missing, r_numbers, series = _table(parsed, data, drop_na)
    df, y, fixed, blocks, undefined = _evaluate(parsed, df, drop_na, coding, r_numbers, series)
    dropped_rows = missing + undefined
    if blocks:
        check_blocks(blocks, len(df), check_nobs=check_nobs)
    keep = pivot_rank_columns(fixed.matrix)
    X, names, dropped = fixed.matrix, fixed.names, ()
    if len(keep) < X.shape[1]:
        X, names, dropped = _drop_columns(X, names, keep)
    identity = np.arange(len(fixed.names))
    return ModelFrame(
        formula=formula, response=response_name(parsed.response_code) or parsed.response, y=y, X=X,
        fixed_names=tuple(names),
        dropped_fixed=dropped, blocks=blocks, row_index=df.index, n_dropped_na=len(dropped_rows),
        fixed_spec=fixed.spec,
        fixed_keep=keep if dropped else None,
        fixed_columns=None if np.array_equal(fixed.columns, identity) else fixed.columns,
        dropped_rows=dropped_rows,
    )


def _table(parsed: ParsedFormula, data, drop_na: bool) -> tuple[pd.DataFrame, int, bool, dict]:
    """The columns used, as pandas, without rows with missing values; the number of rows dropped,
    whether messages number the rows as R does (see :class:`_RowLabels`), and the columns as
    Series when no row was dropped (empty otherwise; a look-up by name costs more than a small
    fit's formula, so the Series are looked up once)."""
    if is_polars(data):  # convert only the columns used
        columns = _used_columns(parsed, data.columns)
        check_columns(pd.DataFrame(columns=data.columns), columns)
        df = polars_to_pandas(data.select(columns))
    else:
        df = as_dataframe(data)
        columns = _used_columns(parsed, df.columns)
        check_columns(df, columns)
        df = _select(df, columns)
    # messages number rows as R does (1-based) when the table has pandas' default index, also
    # after rows with missing values are dropped; any other index is reported by its labels
    r_numbers = isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1
    series = {c: df[c] for c in columns}
    if not any(_has_missing(col) for col in series.values()):
        return df, (), r_numbers, series
    if not drop_na:
        _refuse_missing(df, columns)
    out, dropped = drop_missing(df, columns, labels=_RowLabels(df.index, r_numbers))
    return out, dropped, r_numbers, {}


def _select(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns used, as a new table (``df[columns]``, by position when the names are unique:
    pandas' label look-up costs more than the rest of a small fit's formula)."""
    if not df.columns.is_unique:
        return df[columns]
    if len(columns) == df.shape[1] and all(a == b for a, b in zip(df.columns, columns)):
        return df.copy(deep=False)
    return df.take(df.columns.get_indexer(columns), axis=1)


def _has_missing(col: pd.Series) -> bool:
    """``col.hasnans`` without pandas' overhead for floats and categoricals."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return bool((col.array.codes < 0).any())
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return bool(np.isnan(col.to_numpy()).any())
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return False
    return bool(col.hasnans)


def _evaluate(parsed: ParsedFormula, df: pd.DataFrame, drop_na: bool, coding: tuple = (), r_numbers: bool = False,
              series: dict | None = None):
    """Response, fixed design and blocks; rows where a transform is undefined (NaN, such as
    ``log`` of a negative number) are dropped as R's ``na.omit`` drops them. ``series``: columns
    of ``df`` already looked up."""
    y = _response(parsed, df)
    df = as_r_factors(df, series=series)
    _check_coded_factors(parsed, df, coding)
    fixed = materialize(parsed.fixed, df, parsed.formula, coding)
    known = {} if coding else {parsed.fixed: fixed}  # with contrasts the bars' designs differ
    blocks = build_blocks(parsed.terms, df, parsed.formula, known=known)
    undefined = _undefined_rows(y, fixed.matrix, *(block.Z for block in blocks))
    if undefined.any() and drop_na and not undefined.all():
        labels = _RowLabels(df.index, r_numbers)
        dropped = tuple(labels[i] for i in np.flatnonzero(undefined))
        warn_dropped(dropped, len(df), undefined=True)
        df, y, fixed, blocks, _ = _evaluate(parsed, df.loc[~undefined], drop_na, coding, r_numbers)
        return df, y, fixed, blocks, dropped
    labels = _RowLabels(df.index, r_numbers)
    _check_finite(fixed.matrix, fixed.names, "fixed-effects", labels)
    for block in blocks:
        _check_finite(block.Z, block.column_names, f"random-effects term ({block.term})", labels)
    if not np.isfinite(y).all():
        raise DataError(f"the response {parsed.response!r} has infinite or undefined values; "
                        f"{offending_rows(~np.isfinite(y), labels, y)}")
    return df, y, fixed, blocks, ()


def _undefined_rows(y: np.ndarray, *matrices: np.ndarray) -> np.ndarray:
    """Rows with a NaN in ``y`` or in any of the matrices (column by column: a reduction along
    the short axis of a tall array is many times slower than one down each column)."""
    undefined = np.isnan(y)
    for matrix in matrices:
        if not np.isnan(matrix.sum()):  # NaN (or inf - inf) anywhere makes the sum NaN
            continue
        for j in range(matrix.shape[1]):
            undefined |= np.isnan(matrix[:, j])
    return undefined


class _RowLabels:
    """Row names for messages, made when a message asks for one (a fit with no offending
    row names none): R's 1-based numbers of the user's rows, or the table's own labels."""

    def __init__(self, index: pd.Index, r_numbers: bool):
        self._index, self._shift = index, 1 if r_numbers else 0

    def __getitem__(self, i: int) -> str:
        label = self._index[i]
        return str(label + self._shift) if self._shift else str(label)

    def __len__(self) -> int:
        return len(self._index)


def _check_coded_factors(parsed: ParsedFormula, df: pd.DataFrame, coding: tuple) -> None:
    """Every column given contrasts is a factor named in the fixed part."""
    named = looked_up_columns(parsed.fixed)
    for name, _ in coding:
        if name not in named:
            raise ArgumentError(f"contrasts are given for {name!r}, which is not a variable of the fixed part "
                                f"of {parsed.formula!r} (variables: {', '.join(sorted(named)) or 'none'})")
        if not isinstance(df[name].dtype, pd.CategoricalDtype):
            raise ArgumentError(f"contrasts are given for {name!r}, which is not a factor "
                                f"(it holds {df[name].dtype} values)")


def _used_columns(parsed: ParsedFormula, available=None) -> list[str]:
    """Columns named anywhere in the formula, in order of first appearance (``available`` is
    not consulted: the caller checks the names against the table)."""
    return list(_named_columns(parsed))


@functools.lru_cache(maxsize=256)
def _named_columns(parsed: ParsedFormula) -> tuple[str, ...]:
    """:func:`_used_columns`, worked out once per parsed formula (repeated fits)."""
    found = response_columns(parsed.response_code, CONTEXT)
    found.update(formula_variables(parsed.fixed, parsed.formula))
    for term in parsed.terms:
        found.update(formula_variables(term.lhs, parsed.formula))
        found.update(term.group.variables())
    first = name_positions(parsed.formula)  # whole names: `g` is not found inside `log`
    return tuple(sorted(found, key=lambda c: (first.get(c, len(parsed.formula)), c)))


def _refuse_missing(df: pd.DataFrame, columns: list[str]) -> None:
    bad = [c for c in columns if df[c].isna().any()]
    if bad:
        raise DataError(f"missing values in {', '.join(bad)} (use drop_na=True to drop those rows)")


def _response(parsed: ParsedFormula, df: pd.DataFrame) -> np.ndarray:
    y = evaluate_response(parsed.response_code, df, CONTEXT, parsed.formula)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise DataError(f"the response {parsed.response!r} must be one numeric column, "
                            f"but it gives {y.shape[1]} columns")
        y = y[:, 0]
    return np.array(y, dtype=float)


def _check_finite(matrix: np.ndarray, names: tuple[str, ...], what: str, labels) -> None:
    if np.isfinite(matrix.sum()):  # a sum overflows only with values near the largest double: checked below
        return
    finite = np.isfinite(matrix)
    if finite.all():
        return
    j = int(np.flatnonzero(~finite.all(axis=0))[0])
    count = int((~finite[:, j]).sum())
    raise DataError(f"the {what} column {names[j]!r} has {count} infinite or undefined value"
                    f"{'s' if count > 1 else ''} (for example the log of 0); "
                    f"{offending_rows(~finite[:, j], labels, matrix[:, j])}")


def _drop_columns(X: np.ndarray, names: tuple[str, ...], keep: np.ndarray):
    dropped = tuple(n for j, n in enumerate(names) if j not in set(keep.tolist()))
    k = len(dropped)
    warnings.warn(
        f"fixed-effect model matrix is rank deficient so dropping {k} "
        + ("column / coefficient" if k == 1 else "columns / coefficients")
        + f" ({', '.join(dropped)})",
        RankDeficiencyWarning,
        stacklevel=3,
    )
    return np.ascontiguousarray(X[:, keep]), tuple(names[j] for j in keep), dropped
