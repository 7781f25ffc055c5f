"""Columns become R factors where R's model frame makes them factors (strings, booleans)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._collate import r_sorted

__all__ = ["as_r_factors", "string_factor", "r_factor"]


def as_r_factors(df: pd.DataFrame, *, drop_unused_levels: bool = True, series: dict | None = None) -> pd.DataFrame:
    """Columns become R factors where R would make them factors.

    Booleans become factors FALSE/TRUE, strings factors with R's sorted levels;
    unused levels of categoricals are dropped (as lme4's model frame) unless
    ``drop_unused_levels`` is False (as ``model.frame``'s default, which metafor uses).
    ``series`` may hold columns of ``df`` already looked up (by name).

    Examples
    --------
    >>> import pandas as pd
    >>> out = as_r_factors(pd.DataFrame({"g": ["b", "a", "B"], "ok": [True, False, True]}))
    >>> list(out["g"].cat.categories), list(out["ok"].cat.categories)
    (['a', 'b', 'B'], ['FALSE', 'TRUE'])
    """
    changed = {}
    for name in df.columns:
        col = series[name] if series and name in series else df[name]
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iuf":  # numbers stay numbers
            continue
        if isinstance(dtype, pd.CategoricalDtype):  # first: pandas' dtype predicates below cost more
            if drop_unused_levels:
                codes = col.array.codes
                if np.bincount(codes[codes >= 0], minlength=len(dtype.categories)).min(initial=1) == 0:
                    changed[name] = col.cat.remove_unused_categories()
        elif dtype == object or pd.api.types.is_string_dtype(dtype):
            changed[name] = string_factor(col)
        elif pd.api.types.is_bool_dtype(dtype):
            values = np.where(col.to_numpy(dtype=bool), "TRUE", "FALSE")
            changed[name] = pd.Categorical(values, categories=["FALSE", "TRUE"])
    if not changed:
        return df
    df = df.copy()
    for name, values in changed.items():
        df[name] = values
    return df


def string_factor(col: pd.Series) -> pd.Categorical:
    uniques = pd.unique(col.dropna())
    if all(isinstance(u, str) for u in uniques):
        levels = r_sorted(uniques)
    else:
        try:
            levels = sorted(uniques)
        except TypeError:
            return string_factor(col.astype(str).where(col.notna()))
    return pd.Categorical(col, categories=levels)


def r_factor(x) -> pd.Series:
    """R's ``factor(x)`` inside a formula: a categorical with sorted levels (strings in R's
    collation, other values numerically); a categorical is kept as it is.

    Examples
    --------
    >>> list(r_factor([3, 1, 2, 1]).cat.categories)
    [1, 2, 3]
    """
    s = pd.Series(x)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s
    uniq = list(pd.unique(s.dropna()))
    levels = r_sorted(uniq) if uniq and all(isinstance(u, str) for u in uniq) else sorted(uniq)
    return s.astype(pd.CategoricalDtype(levels))
