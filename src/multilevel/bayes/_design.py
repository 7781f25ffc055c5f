"""Input handling for brma: effect sizes, variances, clusters and the two designs.

Continuous predictors are standardized (as RoBMA does before applying its default priors);
factors get treatment contrasts. The formulaic model specs are kept for ``predict(newdata)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._data import as_dataframe, check_columns, drop_missing, numeric_column
from .._exceptions import DataError, FormulaError, ModelSpecificationError

__all__ = ["BrmaData", "prepare"]


@dataclass(frozen=True)
class BrmaData:
    """The numbers a brma fit is computed from (fields are internal)."""

    y: np.ndarray
    v: np.ndarray
    cluster: np.ndarray | None  # integer codes 0..J-1
    cluster_labels: tuple | None
    cluster_name: str | None
    X: np.ndarray  # intercept first, standardized predictors
    X_names: tuple[str, ...]
    Z: np.ndarray  # scale predictors (no intercept), standardized
    Z_names: tuple[str, ...]
    mods_spec: Any
    scale_spec: Any
    centers: dict[str, tuple[float, float]]
    back_X: np.ndarray | None  # maps standardized coefficients to the original scale
    back_Z: np.ndarray | None  # the same for (log tau, delta)
    labels: tuple
    n_dropped: int

    @property
    def k(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_clusters(self) -> int:
        return 0 if self.cluster is None else len(self.cluster_labels)


def _column_or_array(value, data, role, needed):
    if isinstance(value, str):
        if data is None:
            raise DataError(f"{role}={value!r} names a column, but no data were given")
        needed.append(value)
        return value
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise DataError(f"{role} must be one-dimensional")
    return arr


def _formula_vars(formula: str) -> list[str]:
    from ..formula._quoting import formula_columns

    try:
        return formula_columns(formula)
    except Exception as err:  # formulaic raises several parser types
        raise FormulaError(f"cannot parse the formula: {err}", formula) from None


def _standardize(df: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, dict]:
    out, centers = df.copy(), {}
    for name in names:
        col = df[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            m, s = float(col.mean()), float(col.std(ddof=1))
            if not s > 0:
                raise ModelSpecificationError(f"the predictor {name!r} is constant")
            centers[name] = (m, s)
            out[name] = (col - m) / s
    return out, centers


def _design(formula, df, std_df, *, intercept: bool):
    from formulaic import model_matrix

    from ..formula._quoting import quote_dotted

    rhs = quote_dotted(formula.split("~", 1)[1] if "~" in formula else formula)
    try:
        mm = model_matrix(rhs, std_df, na_action="raise")
        raw = model_matrix(rhs, df, na_action="raise")
    except Exception as err:
        raise FormulaError(f"cannot build the design: {err}", formula) from None
    names = list(mm.columns)
    if "Intercept" not in names:
        raise FormulaError("a moderator formula without an intercept is not supported", formula)
    names = ["Intercept"] + [n for n in names if n != "Intercept"]
    X, Xr = mm[names].to_numpy(float), raw[names].to_numpy(float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelSpecificationError(f"the design of {formula!r} is rank deficient")
    back = np.linalg.lstsq(Xr, X, rcond=None)[0]
    ok = np.allclose(Xr @ back, X, atol=1e-8 * max(1.0, np.abs(X).max()))
    first = 0 if intercept else 1
    return X[:, first:], tuple(names[first:]), mm.model_spec, (back if ok else None)


def prepare(yi, vi, sei, *, cluster, mods, scale, data) -> BrmaData:
    """Check the inputs and build :class:`BrmaData` (drops rows with NaN, with a warning)."""
    df = None if data is None else as_dataframe(data)
    needed: list[str] = []
    y = _column_or_array(yi, df, "yi", needed)
    if (vi is None) == (sei is None):
        raise DataError("give exactly one of vi (sampling variances) and sei (standard errors)")
    var = _column_or_array(vi if vi is not None else sei, df, "vi" if vi is not None else "sei", needed)
    cl = _column_or_array(cluster, df, "cluster", needed)
    mod_vars = _formula_vars(mods) if mods is not None else []
    scale_vars = _formula_vars(scale) if scale is not None else []
    if (mods is not None or scale is not None) and df is None:
        raise DataError("mods and scale formulas need data")
    if df is None:
        df = pd.DataFrame({"yi": y, "vi": var, **({"cluster": cl} if cl is not None else {})})
        y, var, cl = "yi", "vi", ("cluster" if cl is not None else None)
    else:
        df = df.copy()
        names = {}
        for role, val in (("yi", y), ("vi", var), ("cluster", cl)):
            names[role] = val
            if isinstance(val, np.ndarray):
                if len(val) != len(df):
                    raise DataError(f"{role} has {len(val)} values but the data have {len(df)} rows")
                df[f".{role}"] = val
                names[role] = f".{role}"
        y, var, cl = names["yi"], names["vi"], names["cluster"]
    check_columns(df, needed + mod_vars + scale_vars, context="brma call")
    used = [c for c in dict.fromkeys([y, var, *([cl] if cl else []), *mod_vars, *scale_vars])]
    df, n_drop = drop_missing(df, used)
    return _build(df, y, var, sei is not None, cl, mods, scale, mod_vars, scale_vars, n_drop)


def _build(df, y, var, is_se, cl, mods, scale, mod_vars, scale_vars, n_drop) -> BrmaData:
    yv = numeric_column(df, y, role="effect size yi")
    vv = numeric_column(df, var, role="sampling variance" if not is_se else "standard error")
    if np.any(vv <= 0):
        what = "standard errors" if is_se else "sampling variances"
        raise DataError(f"{what} must be positive; {int(np.sum(vv <= 0))} are not")
    vv = vv**2 if is_se else vv
    codes = labels = None
    if cl is not None:
        cat = pd.Categorical(df[cl])
        labels = tuple(cat.categories)
        codes = np.asarray(cat.codes, dtype=np.int32)
        if len(labels) < 2:
            raise ModelSpecificationError(
                f"the cluster column {cl!r} has a single level; fit without cluster instead")
    std_df, centers = _standardize(df, sorted(set(mod_vars) | set(scale_vars)))
    if mods is not None:
        X, X_names, mods_spec, back_X = _design(mods, df, std_df, intercept=True)
    else:
        X, X_names, mods_spec, back_X = np.ones((len(df), 1)), ("Intercept",), None, np.eye(1)
    if scale is not None:
        Z, Z_names, scale_spec, back_Z = _design(scale, df, std_df, intercept=False)
    else:
        Z, Z_names, scale_spec, back_Z = np.zeros((len(df), 0)), (), None, None
    if len(yv) <= X.shape[1]:
        raise ModelSpecificationError(f"{len(yv)} estimates cannot inform {X.shape[1]} coefficients")
    return BrmaData(yv, vv, codes, labels, cl if cl and not cl.startswith(".") else
                    ("cluster" if cl else None), X, X_names, Z, Z_names, mods_spec, scale_spec,
                    centers, back_X, back_Z, tuple(df.index), n_drop)


def new_design(data: BrmaData, newdata, which: str) -> np.ndarray:
    """Design rows for ``newdata`` (standardized as the fit's data were)."""
    spec = data.mods_spec if which == "mods" else data.scale_spec
    df = as_dataframe(newdata, what="newdata").copy()
    for name, (m, s) in data.centers.items():
        if name in df.columns:
            df[name] = (df[name] - m) / s
    try:
        mm = spec.get_model_matrix(df, na_action="raise")
    except Exception as err:
        raise DataError(f"newdata cannot be used for prediction: {err}") from None
    names = data.X_names if which == "mods" else data.Z_names
    return mm.reindex(columns=list(names), fill_value=1.0).to_numpy(float)
