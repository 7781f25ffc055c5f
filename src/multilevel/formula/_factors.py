"""Columns become R factors where R's model frame makes them factors (strings, booleans)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._collate import r_sorted

__all__ = ["as_r_factors", "string_factor"]


def as_r_factors(df: pd.DataFrame) -> pd.DataFrame:
    """Columns become R factors where R would make them factors.

    Booleans become factors FALSE/TRUE, strings factors with R's sorted levels;
    unused levels of categoricals are dropped (as lme4's model frame).
    """
    changed = {}
    for name in df.columns:
        col = df[name]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            changed[name] = string_factor(col)
        elif pd.api.types.is_bool_dtype(col.dtype):
            values = np.where(col.to_numpy(dtype=bool), "TRUE", "FALSE")
            changed[name] = pd.Categorical(values, categories=["FALSE", "TRUE"])
        elif isinstance(col.dtype, pd.CategoricalDtype):
            counts = np.bincount(col.cat.codes.to_numpy() + 1, minlength=len(col.cat.categories) + 1)
            if (counts[1:] == 0).any():
                changed[name] = col.cat.remove_unused_categories()
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
