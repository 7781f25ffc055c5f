"""Shared data handling: accept pandas / polars / mappings, check columns, drop NaN rows.

Every model entry point goes through these helpers so that users get the same
messages everywhere.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._exceptions import DataError, MissingDataWarning, UnknownColumnError

__all__ = ["as_dataframe", "check_columns", "drop_missing", "warn_dropped", "outside_stacklevel", "numeric_column", "is_polars", "polars_to_pandas",
           "row_labels", "offending_rows", "refuse_infinite"]

_SHOWN_ROWS = 5


def as_dataframe(data: Any, *, what: str = "data") -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame.

    Accepts a pandas DataFrame (returned as is), a polars DataFrame (converted
    with ``to_pandas``), or a mapping of column name to array.
    """
    if isinstance(data, pd.DataFrame):
        return data
    if is_polars(data):
        return polars_to_pandas(data)
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(dict(data))
        except ValueError as err:
            raise DataError(f"{what} could not be turned into a table: {err}") from None
    raise DataError(
        f"{what} must be a pandas DataFrame, a polars DataFrame or a dict of columns, "
        f"not {type(data).__name__}"
    )


def is_polars(data: Any) -> bool:
    """True for a polars DataFrame (checked without importing polars)."""
    return type(data).__module__.startswith("polars") and hasattr(data, "get_columns")


def polars_to_pandas(data: Any) -> pd.DataFrame:
    """A polars DataFrame as pandas without needing pyarrow.

    Enum columns keep their category order; polars Categorical columns are
    treated as strings (their category order is an encoding detail), so they
    get R's sorted levels like any string column.
    """
    import polars as pl

    columns = {}
    for series in data.get_columns():
        if isinstance(series.dtype, pl.Enum):
            categories = series.dtype.categories.to_list()
            columns[series.name] = pd.Categorical(series.cast(pl.String).to_list(), categories=categories)
        elif isinstance(series.dtype, (pl.Categorical, pl.String)):
            columns[series.name] = pd.Series(series.cast(pl.String).to_list(), dtype=object)
        else:
            columns[series.name] = series.to_numpy()
    return pd.DataFrame(columns)


def check_columns(data: pd.DataFrame, columns: Iterable[str], *, context: str = "formula") -> None:
    """Raise :class:`UnknownColumnError` naming every column of ``columns`` not in ``data``."""
    available = [str(c) for c in data.columns]
    missing = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if not missing:
        return
    parts = []
    for name in missing:
        close = difflib.get_close_matches(str(name), available, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    plural = "s" if len(missing) > 1 else ""
    raise UnknownColumnError(
        f"column{plural} {', '.join(parts)} named in the {context} not found in the data; "
        f"available columns: {', '.join(available)}"
    )


def drop_missing(data: pd.DataFrame, columns: Iterable[str], *, warn: bool = True,
                 labels: list[str] | None = None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Drop rows with a missing value in any of ``columns`` (R's ``na.omit``).

    Returns the reduced frame (index kept, so callers can map back) and the labels
    of the dropped rows (``labels``, by default :func:`row_labels` of ``data``).
    A :class:`MissingDataWarning` (:func:`warn_dropped`) names the columns, the count and the rows.

    Examples
    --------
    >>> import warnings
    >>> df = pd.DataFrame({"y": [1.0, np.nan, 3.0], "x": [1.0, 2.0, np.nan]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     kept, dropped = drop_missing(df, ["y", "x"])
    >>> dropped, str(caught[0].message)
    (('2', '3'), '2 rows with missing values in y, x dropped (1 of 3 rows used): rows 2, 3')
    """
    cols = list(dict.fromkeys(columns))
    if not cols:
        return data, ()
    mask = data[cols].isna().any(axis=1).to_numpy()
    n_drop = int(mask.sum())
    if n_drop == 0:
        return data, ()
    if n_drop == len(data):
        raise DataError(f"every row has a missing value in the columns used ({', '.join(cols)})")
    labels = row_labels(data, len(data)) if labels is None else labels
    dropped = tuple(labels[i] for i in np.flatnonzero(mask))
    if warn:
        warn_dropped(dropped, len(data), columns=[c for c in cols if data[c].isna().any()])
    return data.loc[~mask], dropped


def warn_dropped(dropped: Iterable[str], n_rows: int, *, columns: Iterable[str] = (), undefined: bool = False,
                 limit: int = 10) -> None:
    """The one :class:`MissingDataWarning` of every fit that drops rows (R's ``na.omit``).

    Parameters
    ----------
    dropped : iterable of str
        Labels of the dropped rows (:func:`row_labels`).
    n_rows : int
        Rows before dropping.
    columns : iterable of str
        Columns (or arguments) with a missing value in the dropped rows.
    undefined : bool
        The rows were dropped because a transformation in a formula is undefined there
        (``log`` of a negative number gives NaN), not because a value is missing.
    limit : int
        At most this many rows are listed.

    The warning points at the user's call (the first frame outside the package).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_dropped(["3"], 13, columns=["yi"])
    >>> print(caught[0].message)
    1 row with missing values in yi dropped (12 of 13 rows used): row 3
    """
    dropped = list(dropped)
    m = len(dropped)
    if m == 0:
        return
    cols = list(dict.fromkeys(columns))
    if undefined:
        why = "where a transformation is undefined (NaN)"
    else:
        why = "with missing values" + (f" in {', '.join(cols)}" if cols else "")
    more = f" ... and {m - limit} more" if m > limit else ""
    listed = f"row{'s' if m > 1 else ''} {', '.join(dropped[:limit])}{more}"
    warnings.warn(f"{m} row{'s' if m > 1 else ''} {why} dropped ({n_rows - m} of {n_rows} rows used): {listed}",
                  MissingDataWarning, stacklevel=outside_stacklevel())


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def outside_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warnings.warn` (called by this function's caller) that points at
    the first frame outside the package: the user's call, however deep the package's calls go."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def numeric_column(data: pd.DataFrame, name: str, *, role: str = "response", what: str | None = None,
                   labels: list[str] | None = None, finite: bool = True) -> np.ndarray:
    """Return column ``name`` as a float array, or raise :class:`DataError` if not numeric.

    Messages call the column ``what`` (default ``"the {role} '{name}'"``). Infinite
    values raise :class:`DataError` naming the rows (``labels``, by default
    :func:`row_labels` of ``data``) and values unless ``finite`` is False (for callers
    that report them with other invalid values); missing values are returned as NaN.
    """
    what = what or f"the {role} {name!r}"
    col = data[name]
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiu":  # numbers: pandas' predicates cost more
        values = col.to_numpy(dtype=float)
        if finite and np.isinf(values).any():
            refuse_infinite(values, what, labels if labels is not None else row_labels(data, len(values)))
        return values
    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
        raise DataError(f"{what} must be numeric, but it holds {col.dtype} values")
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    values = col.to_numpy(dtype=float, na_value=np.nan)
    if finite and np.isinf(values).any():  # labels only for the message
        refuse_infinite(values, what, labels if labels is not None else row_labels(data, len(values)))
    return values


def row_labels(data: pd.DataFrame | None, n: int) -> list[str]:
    """How messages name the rows: ``1..n`` (as R numbers them) or the data's index labels.

    Arrays and tables with pandas' default index (a ``RangeIndex``) give
    1-based positions; any other index gives its labels, so that a filtered or
    relabelled table is reported in its own terms.

    Examples
    --------
    >>> row_labels(None, 3)
    ['1', '2', '3']
    >>> row_labels(pd.DataFrame({"x": [1, 2]}, index=["a", "b"]), 2)
    ['a', 'b']
    """
    if data is None or isinstance(data.index, pd.RangeIndex) or len(data.index) != n:
        return [str(i + 1) for i in range(n)]
    return [str(label) for label in data.index]


def _show_value(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def offending_rows(bad: Any, labels: list[str] | None = None, values: Any = None, *,
                   limit: int = _SHOWN_ROWS) -> str:
    """The phrase every message uses to point at rows: ``"offending rows: 3 (-0.01), 7 (inf)"``.

    Parameters
    ----------
    bad : array_like of bool or int
        A mask over the rows, or the 0-based positions of the offending rows.
    labels : list of str, optional
        Row labels (see :func:`row_labels`); 1-based positions by default.
    values : array_like, optional
        Values over all rows; the offending ones are shown in parentheses.
    limit : int
        At most this many rows are listed, then ``"... and N more"``.

    Examples
    --------
    >>> offending_rows([False, True, False], values=[0.1, -0.01, 0.2])
    'offending rows: 2 (-0.01)'
    >>> offending_rows(np.arange(8), values=np.arange(8) - 9.0, limit=2)
    'offending rows: 1 (-9), 2 (-8) ... and 6 more'
    """
    bad = np.asarray(bad)
    where = np.flatnonzero(bad) if bad.dtype == bool else bad.astype(int).ravel()
    vals = None if values is None else np.asarray(values).ravel()
    shown = []
    for i in where[:limit]:
        name = labels[i] if labels is not None else str(i + 1)
        shown.append(name if vals is None else f"{name} ({_show_value(vals[i])})")
    more = f" ... and {where.size - limit} more" if where.size > limit else ""
    return f"offending rows: {', '.join(shown)}{more}"


def refuse_infinite(values: np.ndarray, what: str, labels: list[str] | None = None) -> None:
    """Raise :class:`DataError` naming the rows where ``values`` is ``inf`` or ``-inf``.

    Missing values (NaN) are left alone: callers drop them as R's ``na.omit``.
    A 2-D array is checked row by row (a row is offending if any entry is infinite).

    Examples
    --------
    >>> refuse_infinite(np.array([1.0, np.inf]), "yi")
    Traceback (most recent call last):
    ...
    multilevel._exceptions.DataError: yi has infinite values; offending rows: 2 (inf)
    """
    values = np.asarray(values, dtype=float)
    inf = np.isinf(values)
    if not inf.any():
        return
    if values.ndim == 2:
        rows = inf.any(axis=1)
        first = np.take_along_axis(values, inf.argmax(axis=1)[:, None], axis=1)[:, 0]
        raise DataError(f"{what} has infinite values; {offending_rows(rows, labels, first)}")
    raise DataError(f"{what} has infinite values; {offending_rows(inf, labels, values)}")


def rows_used(data: Any, row_index: pd.Index) -> pd.DataFrame | None:
    """A copy of the rows of ``data`` a model used (labels ``row_index``), kept by fits so that
    plots find their data; None when the rows cannot be told apart by their labels."""
    try:
        df = as_dataframe(data)
    except Exception:  # noqa: BLE001 - the fit stands without a copy of its data
        return None
    if row_index.equals(df.index) and df.index.is_unique:  # every row used: no look-up by label
        return df.copy()
    if not df.index.is_unique or not row_index.isin(df.index).all():
        return None
    return df.loc[row_index].copy()
