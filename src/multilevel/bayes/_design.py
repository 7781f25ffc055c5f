"""Input handling for brma: effect sizes, variances, clusters and the two designs.

Continuous columns of the model frame are standardized after the formula's transformations, as
RoBMA does before applying its default priors (:mod:`._standardize`);
factors get treatment contrasts. The designs are built as every fixed-effects design of the
package (:func:`multilevel.formula._design.rhs_design`: R's coding and column names) and kept
for ``predict(newdata)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._data import (as_dataframe, check_columns, drop_missing, numeric_column,
                     refuse_infinite, row_labels, warn_dropped)
from .._effects import check_lengths, check_variances
from .._exceptions import DataError, FormulaError, ModelSpecificationError
from ..formula._quoting import formula_columns
from ._standardize import StandardizedFormula, standardize_formula

__all__ = ["BrmaData", "prepare", "model_args", "new_design"]


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
    back_X: np.ndarray | None  # maps standardized coefficients to the original scale
    back_Z: np.ndarray | None  # the same for (log tau, delta)
    labels: tuple
    n_dropped: int
    row_names: tuple[str, ...] = ()  # how messages name the kept rows (1..n or the data's index labels)
    dropped_rows: tuple[str, ...] = ()  # the same names of the rows dropped (missing or undefined values)

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
        raise DataError(f"{role} must be one-dimensional, but it has shape {arr.shape}")
    return arr


def _formula_vars(formula: str) -> list[str]:
    try:
        return formula_columns(formula)
    except Exception as err:  # formulaic raises several parser types
        raise FormulaError(f"cannot parse the formula: {err}", formula) from None


def _design(formula, df, *, intercept: bool):
    """Design of ``formula`` on the standardized model frame (what is sampled), its names as R's
    ``model.matrix`` gives them (the intercept named ``Intercept``), what rebuilds it for new data
    and the matrix mapping standardized coefficients back to the original scale."""
    from ..formula._design import rhs_design  # formulaic: loaded only for models with moderators

    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            standard = standardize_formula(formula, df)
            design = rhs_design(standard.text, standard.frame(df))
            raw = rhs_design(formula, df)
    except (FormulaError, ModelSpecificationError):
        raise
    except Exception as err:
        raise FormulaError(f"cannot build the design: {err}", formula) from None
    names = standard.rename(design.names)
    if "(Intercept)" not in names:
        raise FormulaError("a moderator formula without an intercept is not supported", formula)
    aligned = sorted(names) == sorted(raw.names)
    order = [names.index(n) for n in raw.names] if aligned else list(range(len(names)))  # R's order
    order.sort(key=lambda j: names[j] != "(Intercept)")
    X, names = design.matrix[:, order], [names[j] for j in order]
    Xr = raw.matrix[:, [raw.names.index(n) for n in names]] if aligned else None
    names[0] = "Intercept"
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelSpecificationError(f"the design of {formula!r} is rank deficient: "
                                      f"{', '.join(map(repr, _redundant(X, names)))} duplicate earlier columns")
    back = np.linalg.lstsq(Xr, X, rcond=None)[0] if Xr is not None else None
    ok = back is not None and np.allclose(Xr @ back, X, atol=1e-8 * max(1.0, np.abs(X).max()))
    first = 0 if intercept else 1
    return X[:, first:], tuple(names[first:]), _Rebuild(design, standard, tuple(order)), (back if ok else None)


@dataclass(frozen=True)
class _Rebuild:
    """What builds a design's columns for new data: the rewritten formula's design, the
    standardization of its continuous factors and the column order."""

    design: Any
    standard: StandardizedFormula
    order: tuple[int, ...]

    def matrix(self, newdata: pd.DataFrame, what: str) -> np.ndarray:
        frame = self.standard.frame(newdata, new=True, what=what)
        return self.design.rebuild(frame, what)[:, list(self.order)]


def _redundant(X: np.ndarray, names: list[str]) -> list[str]:
    """Columns that add nothing to the rank of the ones before them (left to right)."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, keep + [j]]) == len(keep) + 1:
            keep.append(j)
    return [names[j] for j in range(X.shape[1]) if j not in keep]


def prepare(yi, vi, sei, *, cluster, mods, scale, data) -> BrmaData:
    """Check the inputs and build :class:`BrmaData` (drops rows with NaN, with a warning)."""
    df = None if data is None else as_dataframe(data)
    needed: list[str] = []
    y = _column_or_array(yi, df, "yi", needed)
    if (vi is None) == (sei is None):
        raise DataError("give exactly one of vi (sampling variances) or sei (standard errors)")
    var = _column_or_array(vi if vi is not None else sei, df, "vi" if vi is not None else "sei", needed)
    cl = _column_or_array(cluster, df, "cluster", needed)
    mod_vars = _formula_vars(mods) if mods is not None else []
    scale_vars = _formula_vars(scale) if scale is not None else []
    if (mods is not None or scale is not None) and df is None:
        raise DataError("mods and scale formulas need data")
    if df is None:
        vname = "vi" if vi is not None else "sei"
        df = _arrays_frame({"yi": y, vname: var, "cluster": cl})
        y, var, cl = "yi", vname, ("cluster" if cl is not None else None)
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
    df[_ROW] = row_labels(df, len(df))  # named before rows are dropped, so messages use the user's rows
    n_rows, missing = len(df), [c.lstrip(".") for c in used if df[c].isna().any()]  # arrays are named by role
    df, dropped = drop_missing(df, used, labels=df[_ROW].tolist(), warn=False)
    warn_dropped(dropped, n_rows, columns=missing)
    return _build(df, y, var, sei is not None, cl, mods, scale, mod_vars, scale_vars, dropped)


_ROW = ".row"


def _arrays_frame(arrays: dict) -> pd.DataFrame:
    arrays = {k: v for k, v in arrays.items() if v is not None}
    check_lengths({k: np.asarray(v) for k, v in arrays.items()})
    return pd.DataFrame(arrays)


def _drop_undefined(df: pd.DataFrame, formulas: list[str | None], rows: list[str]) -> tuple[pd.DataFrame, tuple]:
    """Drop rows where a transformation in a formula is undefined (NaN, as R's ``na.omit``);
    refuse infinite values (``log(0)``), naming the column and rows."""
    undefined = np.zeros(len(df), dtype=bool)
    for formula in (f for f in formulas if f is not None):
        from ..formula._design import rhs_design  # formulaic: loaded only for models with moderators

        with np.errstate(divide="ignore", invalid="ignore"):
            design = rhs_design(formula, df)
        for j, name in enumerate(design.names):
            refuse_infinite(design.matrix[:, j], f"the design column {name!r} of {formula!r}", rows)
        undefined |= np.isnan(design.matrix).any(axis=1)
    if not undefined.any():
        return df, ()
    if undefined.all():
        raise DataError("the moderators are undefined (NaN) in every row; check the transformations")
    dropped = tuple(rows[i] for i in np.flatnonzero(undefined))
    warn_dropped(dropped, len(df), undefined=True)
    return df.loc[~undefined], dropped


def _argument(role: str, column: str) -> str:
    """How messages name an input: the argument, and the column when the data hold it."""
    return role if column.startswith(".") or column == role else f"{role} (column {column!r})"


def _outcomes(df, y, var, is_se, rows) -> tuple[np.ndarray, np.ndarray]:
    """Effects and sampling variances of the kept rows; refuses infinite and non-positive values."""
    yv = numeric_column(df, y, what=_argument("yi", y), labels=rows)
    vname = _argument("sei" if is_se else "vi", var)
    vv = numeric_column(df, var, what=vname, labels=rows, finite=False)
    check_variances(vv, rows, vname)
    return yv, (vv**2 if is_se else vv)


def _finite_predictors(df, names, rows) -> None:
    for name in names:
        col = df[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            refuse_infinite(col.to_numpy(dtype=float), f"the moderator column {name!r}", rows)


def _build(df, y, var, is_se, cl, mods, scale, mod_vars, scale_vars, dropped) -> BrmaData:
    _finite_predictors(df, sorted(set(mod_vars) | set(scale_vars)), df[_ROW].tolist())
    df, undefined = _drop_undefined(df, [mods, scale], df[_ROW].tolist())
    dropped += undefined
    rows = df[_ROW].tolist()
    yv, vv = _outcomes(df, y, var, is_se, rows)
    codes = labels = None
    if cl is not None:
        cat = pd.Categorical(df[cl])
        labels = tuple(cat.categories)
        codes = np.asarray(cat.codes, dtype=np.int32)
        if len(labels) < 2:
            raise ModelSpecificationError(
                f"the cluster column {cl!r} has a single level; fit without cluster instead")
    if mods is not None:
        X, X_names, mods_spec, back_X = _design(mods, df, intercept=True)
    else:
        X, X_names, mods_spec, back_X = np.ones((len(df), 1)), ("Intercept",), None, np.eye(1)
    if scale is not None:
        Z, Z_names, scale_spec, back_Z = _design(scale, df, intercept=False)
    else:
        Z, Z_names, scale_spec, back_Z = np.zeros((len(df), 0)), (), None, None
    if len(yv) <= X.shape[1]:
        raise ModelSpecificationError(f"{len(yv)} estimates cannot inform {X.shape[1]} coefficients")
    return BrmaData(yv, vv, codes, labels, cl if cl and not cl.startswith(".") else
                    ("cluster" if cl else None), X, X_names, Z, Z_names, mods_spec, scale_spec,
                    back_X, back_Z, tuple(df.index), len(dropped), tuple(rows), dropped)


def model_args(bd: BrmaData) -> tuple:
    """The arrays the likelihood of every engine takes: ``(y, v, cluster codes, X, Z)``."""
    cl = bd.cluster if bd.cluster is not None else np.zeros(bd.k, dtype=np.int32)
    return (bd.y, bd.v, cl, bd.X, bd.Z)


def new_design(data: BrmaData, newdata, which: str) -> np.ndarray:
    """Design rows for ``newdata`` (standardized as the fit's data were)."""
    rebuild = data.mods_spec if which == "mods" else data.scale_spec
    df = as_dataframe(newdata, what="newdata")
    M = rebuild.matrix(df, "moderators" if which == "mods" else "scale design")
    return M if which == "mods" else M[:, 1:]
