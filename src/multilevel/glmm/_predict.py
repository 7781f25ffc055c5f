"""Predictions of a fitted GLMM on the link or response scale, for the data or new data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._data import as_dataframe, is_polars, polars_to_pandas
from .._exceptions import ArgumentError, DataError
from ._response import _evaluate, split_formula

__all__ = ["predict"]

_NO_RANEF = {"~0", "~ 0", "NA", "0"}


def _use_ranef(re_form) -> bool:
    if re_form is None:
        return True
    if isinstance(re_form, str) and re_form.strip() in _NO_RANEF:
        return False
    raise ArgumentError(f"re_form must be None (all random effects) or '~0' / 'NA' (none), not {re_form!r}")


def _scale(fit, eta: np.ndarray, type: str) -> np.ndarray:
    if type == "link":
        return eta
    if type == "response":
        return fit.family.link.linkinv(eta)
    raise ArgumentError(f"type must be 'link' or 'response', not {type!r}")


def predict(fit, newdata, type: str, re_form, allow_new_levels: bool) -> pd.Series:
    """Implementation of :meth:`GeneralizedLinearMixedModel.predict`."""
    with_re = _use_ranef(re_form)
    if newdata is None:
        state = fit._estimate.state
        eta = state.eta if with_re else fit.response.offset + fit.frame.X @ fit._estimate.beta
        return pd.Series(_scale(fit, eta, type), index=fit.row_labels, name=f"predict_{type}")
    df = polars_to_pandas(newdata) if is_polars(newdata) else as_dataframe(newdata, what="newdata")
    X = fit.frame.fixed_design(df)
    eta = X @ fit._estimate.beta + _offset(fit, df)
    if with_re:
        eta = eta + _random_part(fit, df, allow_new_levels)
    return pd.Series(_scale(fit, eta, type), index=df.index, name=f"predict_{type}")


def _offset(fit, df: pd.DataFrame) -> np.ndarray:
    spec = split_formula(fit.formula)
    off = np.zeros(len(df))
    for expr in spec.offsets:
        off = off + _evaluate(expr, df.reset_index(drop=True), fit.formula)
    if fit.offset_name is not None:
        off = off + _evaluate(fit.offset_name, df.reset_index(drop=True), fit.formula)
    return off


def _random_part(fit, df: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    b = fit._b()
    out = np.zeros(len(df))
    for i, blk in enumerate(fit.frame.blocks):
        codes, Z = fit.frame.random_design(df, i)
        new = codes < 0
        if new.any() and not allow_new_levels:
            rows = ", ".join(str(r) for r in df.index[new][:5])
            raise DataError(f"newdata has levels of {blk.group!r} not seen in fitting (rows {rows}); "
                            "use allow_new_levels=True to predict them with random effects 0")
        contrib = np.einsum("ij,ij->i", Z, b[i][np.where(new, 0, codes)])
        out += np.where(new, 0.0, contrib)
    return out
