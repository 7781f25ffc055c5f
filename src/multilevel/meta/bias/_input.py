"""Reading the input of the publication-bias tools: an :func:`~multilevel.rma` fit or effect vectors."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._exceptions import ArgumentError, DataError, MissingDataWarning
from ..shared._input import column_values
from ..univariate._rma import RmaFit

__all__ = ["Effects", "effects_from", "optional_column", "check_choice"]


@dataclass(frozen=True)
class Effects:
    """Complete cases: effects, sampling variances, optional sample sizes, and the fit they came from."""

    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray | None
    fit: RmaFit | None


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else an :class:`~multilevel.ArgumentError` naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
    return value


def optional_column(value: Any, data: pd.DataFrame | None, role: str) -> np.ndarray | None:
    """A column of ``data`` or an array as floats (None stays None)."""
    if value is None:
        return None
    out = column_values(value, data, role=role)
    if out.ndim != 1:
        raise DataError(f"{role} must be one-dimensional, not of shape {out.shape}")
    return out


def _fit_ni(fit: RmaFit, ni: Any, data: Any) -> np.ndarray | None:
    values = optional_column(ni, data, "ni")
    if values is None:
        return None
    if values.shape[0] != fit.k:
        dropped = f" ({fit.num_dropped} rows with missing values were dropped from the fit)" if fit.num_dropped else ""
        raise DataError(f"ni has {values.shape[0]} values but the fit has k = {fit.k} estimates{dropped}; "
                        "give one sample size per estimate used in the fit")
    return values


def effects_from(x: Any, vi: Any, sei: Any, ni: Any, data: Any, *, function: str) -> Effects:
    """The effects of an rma fit, or of vectors ``x`` with ``vi``/``sei`` (and ``ni``), complete cases only."""
    if isinstance(x, RmaFit):
        if vi is not None or sei is not None:
            raise ArgumentError(f"{function}: vi and sei are taken from the fit; do not give them with a fit")
        return Effects(np.asarray(x.yi, dtype=float), np.asarray(x.vi, dtype=float), _fit_ni(x, ni, data), x)
    if not isinstance(x, (str, list, tuple, np.ndarray, pd.Series, pd.Index)):
        raise ArgumentError(f"{function} applies to fits from ml.rma (or to effect sizes with their variances), "
                            f"not to a {type(x).__name__}")
    frame = None if data is None else pd.DataFrame(data)
    if (vi is None) == (sei is None):
        raise ArgumentError(f"{function}: give exactly one of vi (sampling variances) or sei (standard errors)")
    y = optional_column(x, frame, "yi")
    v = optional_column(vi, frame, "vi") if vi is not None else optional_column(sei, frame, "sei") ** 2
    n = optional_column(ni, frame, "ni")
    lengths = {"yi": y.shape[0], "vi" if vi is not None else "sei": v.shape[0]}
    if n is not None:
        lengths["ni"] = n.shape[0]
    if len(set(lengths.values())) > 1:
        raise DataError(f"{function}: the inputs have different lengths: "
                        + ", ".join(f"{k} has {m}" for k, m in lengths.items()))
    miss = np.isnan(y) | np.isnan(v) | (np.zeros_like(y, dtype=bool) if n is None else np.isnan(n))
    if miss.all():
        raise DataError(f"{function}: every study has a missing effect size, variance or sample size")
    if miss.any():
        warnings.warn(f"{int(miss.sum())} studies with missing values omitted from the test", MissingDataWarning,
                      stacklevel=3)
    y, v = y[~miss], v[~miss]
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        show = ", ".join(f"{i + 1} ({v[i]:g})" for i in bad[:10])
        raise DataError(f"{function}: sampling variances must be positive and finite; offending studies: {show}")
    return Effects(y, v, None if n is None else n[~miss], None)
