"""Designs for new data: the fixed-effects columns and random-effects blocks of a fitted model frame.

Used by :meth:`ModelFrame.fixed_design` and :meth:`ModelFrame.random_design` (``predict(newdata)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._data import as_dataframe, check_columns, is_polars, polars_to_pandas
from ._bars import GroupExpr
from ._design import rematerialize
from ._factors import as_r_factors
from ._names import _level_label

if TYPE_CHECKING:  # pragma: no cover
    from ._frame import ModelFrame

__all__ = ["new_fixed_design", "new_random_design", "group_codes_for"]


def _labels_for(group: GroupExpr, data: pd.DataFrame) -> np.ndarray:
    """The grouping level label of each row of new data (R's text for interactions)."""
    if group.op is None:
        return data[group.name].to_numpy(dtype=object)
    left = _labels_for(group.left, data)
    right = _labels_for(group.right, data)
    return np.array([f"{_level_label(a)}:{_level_label(b)}" for a, b in zip(left, right)], dtype=object)


def group_codes_for(group: GroupExpr, levels: pd.Index, data: pd.DataFrame) -> np.ndarray:
    """0-based codes of new data's groups in the fitted ``levels``; -1 for levels not seen in fitting."""
    labels = _labels_for(group, data)
    levels = pd.Index(levels)
    codes = np.asarray(levels.get_indexer(labels), dtype=np.intp)
    unmatched = codes < 0
    if unmatched.any():  # 308, 308.0 and "308" are one level, as R's factor labels
        text = pd.Index([_level_label(v) for v in levels], dtype=object)
        if text.is_unique:
            again = text.get_indexer([_level_label(v) for v in labels[unmatched]])
            codes[unmatched] = again
    return codes


def new_fixed_design(frame: ModelFrame, newdata) -> np.ndarray:
    """Implementation of :meth:`ModelFrame.fixed_design`."""
    df = as_r_factors(polars_to_pandas(newdata) if is_polars(newdata) else as_dataframe(newdata, what="newdata"))
    X = rematerialize(frame.fixed_spec, df, "fixed-effects design")
    if frame.fixed_columns is not None:
        X = X[:, frame.fixed_columns]
    return X if frame.fixed_keep is None else X[:, frame.fixed_keep]


def new_random_design(frame: ModelFrame, newdata, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Implementation of :meth:`ModelFrame.random_design`."""
    block = frame.blocks[i]
    df = as_r_factors(polars_to_pandas(newdata) if is_polars(newdata) else as_dataframe(newdata, what="newdata"))
    check_columns(df, block.group_expr.variables(), context=f"grouping factor {block.group!r}")
    codes = group_codes_for(block.group_expr, block.levels, df)
    if block.lhs_spec is None:
        Z = np.ones((len(df), 1))
    else:
        Z = block.lhs_spec.rebuild(df, f"random-effects term ({block.term})")
    return codes, Z
