"""Shared data handling: accept pandas / polars / mappings, check columns, drop NaN rows.

Every model entry point goes through these helpers so that users get the same
messages everywhere.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._exceptions import DataError, MissingDataWarning, UnknownColumnError

__all__ = ["as_dataframe", "check_columns", "drop_missing", "numeric_column", "is_polars", "polars_to_pandas"]


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


def drop_missing(data: pd.DataFrame, columns: Iterable[str], *, warn: bool = True) -> tuple[pd.DataFrame, int]:
    """Drop rows with a missing value in any of ``columns`` (R's ``na.omit``).

    Returns the reduced frame (index kept, so callers can map back) and the
    number of rows dropped. A :class:`MissingDataWarning` reports the count.
    """
    cols = list(dict.fromkeys(columns))
    if not cols:
        return data, 0
    mask = data[cols].isna().any(axis=1).to_numpy()
    n_drop = int(mask.sum())
    if n_drop == 0:
        return data, 0
    if n_drop == len(data):
        raise DataError(f"every row has a missing value in the columns used ({', '.join(cols)})")
    if warn:
        bad = [c for c in cols if data[c].isna().any()]
        warnings.warn(
            f"{n_drop} row{'s' if n_drop > 1 else ''} with missing values in "
            f"{', '.join(bad)} dropped ({len(data) - n_drop} of {len(data)} rows used)",
            MissingDataWarning,
            stacklevel=3,
        )
    return data.loc[~mask], n_drop


def numeric_column(data: pd.DataFrame, name: str, *, role: str = "response") -> np.ndarray:
    """Return column ``name`` as a float array, or raise :class:`DataError` if not numeric."""
    col = data[name]
    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
        raise DataError(f"the {role} {name!r} must be numeric, but it holds {col.dtype} values")
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    values = col.to_numpy(dtype=float, na_value=np.nan)
    if not np.all(np.isfinite(values[~np.isnan(values)])):
        raise DataError(f"the {role} {name!r} contains infinite values")
    return values
