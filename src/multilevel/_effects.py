"""Reading effect sizes: the one reader of ``yi`` and ``vi`` (or ``sei``) shared by the
meta-analysis models (``rma``, ``rma_mv``, the bias tests, ``escalc``) and ``brma``.

Rows with a missing value in any input a model uses are dropped by :func:`complete_rows`
(metafor's ``na.action = na.omit``), with the one :class:`~multilevel.MissingDataWarning` of the
package naming the inputs, the count and the rows (:func:`multilevel._data.warn_dropped`).

Inputs are column names of ``data`` or arrays; the checks raise :class:`~multilevel.DataError`
(or :class:`~multilevel.UnknownColumnError`) with the same messages everywhere: which argument,
which rows, which values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._data import check_columns, offending_rows, warn_dropped
from ._exceptions import DataError

__all__ = ["column_values", "read_outcomes", "check_lengths", "check_variances", "complete_rows"]


def column_values(value: Any, data: pd.DataFrame | None, *, role: str) -> np.ndarray:
    """Return ``value`` as a float array: a column name of ``data`` or an array-like.

    Raises :class:`~multilevel.DataError` for non-numeric input and
    :class:`~multilevel.UnknownColumnError` for an unknown column name.

    Examples
    --------
    >>> import multilevel as ml
    >>> column_values("ablat", ml.datasets.load("bcg"), role="moderator")[:3]
    array([44., 55., 42.])
    """
    if isinstance(value, str):
        if data is None:
            raise DataError(f"{role} is given as the column name {value!r} but no data were given")
        check_columns(data, [value], context=f"{role} argument")
        col = data[value]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiu":
            return col.to_numpy(dtype=float)
        if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col) \
                or col.dtype == object:
            raise DataError(f"the {role} column {value!r} must be numeric, but it holds {col.dtype} values")
        return col.to_numpy(dtype=float, na_value=np.nan)
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{role} must be a column name or an array of numbers, "
                        f"not {type(value).__name__}") from None
    return arr


def read_outcomes(yi: Any, vi: Any, sei: Any, frame: pd.DataFrame | None, allow_matrix: bool,
                   v_name: str) -> tuple[np.ndarray, np.ndarray, str, np.ndarray]:
    """Effects, variances, the variances' argument name and the values as given (sei or the diagonal)."""
    if (vi is None) == (sei is None):
        raise DataError(f"give exactly one of {v_name} (sampling variances) or sei (standard errors)")
    y = column_values(yi, frame, role="yi")
    if sei is not None:
        raw = column_values(sei, frame, role="sei")
        v, vname = raw**2, "sei"
    else:
        v, vname = column_values(vi, frame, role=v_name), v_name
        raw = np.diag(v) if v.ndim == 2 else v
    if y.ndim != 1:
        raise DataError(f"yi must be one-dimensional, but it has shape {y.shape}")
    if v.ndim == 2 and not allow_matrix:
        raise DataError(f"{vname} must be a vector of sampling variances, not a {v.shape[0]} x {v.shape[1]} matrix")
    if raw.ndim != 1:
        raise DataError(f"{vname} must be one-dimensional, but it has shape {raw.shape}")
    return y, v, vname, raw


def check_lengths(named: dict[str, np.ndarray]) -> int:
    """The common length of the inputs; :class:`~multilevel.DataError` naming each length otherwise."""
    lengths = {name: (a.shape[0] if a.ndim else 1) for name, a in named.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{n} has {m}" for n, m in lengths.items())
        raise DataError(f"the inputs have different lengths: {desc}")
    return next(iter(lengths.values()))


def check_variances(values: np.ndarray, slab: list[str], name: str) -> None:
    """Sampling variances (or standard errors) must be positive and finite; the message names the rows."""
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DataError(f"{name} must be positive and finite; {offending_rows(bad, slab, values)}")


def complete_rows(values: dict[str, np.ndarray], labels: list[str], frame: pd.DataFrame | None = None,
                  columns: list[str] | tuple[str, ...] = ()) -> np.ndarray:
    """Positions of the rows without a missing value in any input (metafor's ``na.omit``).

    Parameters
    ----------
    values : dict of str to ndarray
        The inputs by the names messages use (a column name, or the argument for arrays);
        2-D arrays (moderators) are missing in a row when any entry is.
    labels : list of str
        Row labels (:func:`multilevel._data.row_labels`).
    frame : DataFrame, optional
        The data, holding ``columns`` (moderator and grouping variables).
    columns : sequence of str
        Further columns of ``frame`` that must be complete.

    Warns
    -----
    MissingDataWarning
        Naming the inputs with missing values, the count and the rows dropped.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     keep = complete_rows({"yi": np.array([0.1, np.nan, 0.3]), "vi": np.array([0.1, 0.2, 0.1])},
    ...                          ["1", "2", "3"])
    >>> keep.tolist(), str(caught[0].message)
    ([0, 2], '1 row with missing values in yi dropped (2 of 3 rows used): row 2')
    """
    n = len(labels)
    miss = np.zeros(n, dtype=bool)
    named: list[str] = []
    for name, vec in values.items():
        bad = np.isnan(vec.reshape(n, -1)).any(axis=1)
        named += [name] if bad.any() else []
        miss |= bad
    for col in dict.fromkeys(columns):
        bad = frame[col].isna().to_numpy()
        named += [col] if bad.any() else []
        miss |= bad
    if miss.all():
        raise DataError(f"every row has a missing value in {', '.join(named)}")
    warn_dropped([labels[i] for i in np.flatnonzero(miss)], n, columns=named)
    return np.flatnonzero(~miss)
