"""Effect-size input shared by the meta-analysis models: outcomes, moderators, rank checks.

Both :func:`~multilevel.rma` and :func:`~multilevel.rma_mv` read their inputs through
these helpers, so that users get the same messages everywhere (the printed layout is
in :mod:`._format`).

:func:`prepare_effects` reads ``yi`` and ``vi`` (or ``sei``) as column names
of ``data`` or as arrays, drops incomplete rows (R's ``na.omit``, with a
:class:`~multilevel.MissingDataWarning`), rejects non-positive variances and
builds the moderators design (:func:`moderators_design`) with metafor's
coefficient names (``intrcpt``, ``ablat``, ``allocrandom``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._data import as_dataframe, check_columns, offending_rows, refuse_infinite, row_labels, warn_dropped
from ..._effects import check_lengths, check_variances, column_values, complete_rows, read_outcomes
from ...formula._quoting import formula_columns
from ..._exceptions import ArgumentError, DataError, FormulaError, ModelSpecificationError, RankDeficiencyWarning

__all__ = [
    "EffectData", "ModeratorsDesign", "prepare_effects", "column_values", "moderators_design", "new_rows",
    "check_rank", "formula_variables",
]

# ----------------------------------------------------------------------------------------------
# input
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ModeratorsDesign:
    """Fixed-effects design of a meta-regression.

    Attributes
    ----------
    X : numpy.ndarray, shape (k, p)
        Model matrix (first column the intercept when there is one).
    names : tuple of str
        Coefficient names as metafor prints them (``intrcpt``, ``ablat``, ``allocrandom``).
    spec : Design or None
        The formula's design (:class:`multilevel.formula._design.Design`), which rebuilds the
        columns for new data (None for array input).
    intercept : bool
        Whether the design has an intercept column.
    formula : str or None
        The moderators formula as given.
    """

    X: np.ndarray
    names: tuple[str, ...]
    spec: Any = None
    intercept: bool = True
    formula: str | None = None

    @property
    def int_only(self) -> bool:
        """True for the intercept-only (random-effects) model."""
        return self.intercept and self.X.shape[1] == 1

    def new_design(self, newmods: Any, *, intercept: bool = True) -> np.ndarray:
        """Model matrix for new moderator values (metafor's ``predict(newmods=)``).

        ``newmods`` is a DataFrame (evaluated with the formula) or numbers for the
        non-intercept columns: a scalar or 1-D array for one moderator, a 2-D
        array with ``p - 1`` columns otherwise.
        """
        p = self.X.shape[1]
        if isinstance(newmods, (pd.DataFrame, dict)) and self.spec is not None:
            return self.newdata_design(newmods)
        arr = np.asarray(newmods, dtype=float)
        nmods = p - int(self.intercept)
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            arr = arr.reshape(-1, 1) if nmods == 1 else arr.reshape(1, -1)
        if arr.shape[1] != nmods:
            raise DataError(f"newmods has {arr.shape[1]} columns but the model has {nmods} moderators")
        if self.intercept:
            icol = np.full((arr.shape[0], 1), 1.0 if intercept else 0.0)
            arr = np.hstack([icol, arr])
        return arr


    def newdata_design(self, newdata: Any) -> np.ndarray:
        """Model matrix of a table of moderator values, built by the fit's formula design (the
        fit's factor levels and contrasts; the columns the fit kept).

        Raises :class:`~multilevel.UnknownColumnError` naming the columns ``newdata`` lacks, and
        :class:`~multilevel.ArgumentError` when the moderators were not given as a formula.

        Examples
        --------
        >>> import pandas as pd, multilevel as ml
        >>> bcg = ml.datasets.load("bcg")
        >>> design = moderators_design("~ ablat + alloc", bcg, len(bcg))
        >>> design.newdata_design(pd.DataFrame({"ablat": [20, 40], "alloc": ["random", "systematic"]}))
        array([[ 1., 20.,  1.,  0.],
               [ 1., 40.,  0.,  1.]])
        """
        df = as_dataframe(newdata, what="newdata")
        if self.spec is None:
            if self.int_only:
                return np.ones((len(df), 1))
            raise ArgumentError("newdata needs moderators given as a formula (mods='~ ...'); for moderators "
                                "given as numbers, give newmods")
        full = self.spec.rebuild(df, "moderators")
        names = ["intrcpt" if n == "(Intercept)" else n for n in self.spec.names]
        return full[:, [names.index(n) for n in self.names]]


def new_rows(design: ModeratorsDesign, newmods: Any, newdata: Any) -> tuple[np.ndarray, pd.Index] | None:
    """Design rows and index of the predictions for ``newmods`` (metafor's) or ``newdata`` (a
    table with the moderator columns); None when neither is given (the fitted values).

    Giving both raises :class:`~multilevel.ArgumentError`.
    """
    if newmods is not None and newdata is not None:
        raise ArgumentError("give newmods (moderator values, as metafor) or newdata (a table with the "
                            "moderator columns), not both")
    if newdata is not None:
        df = as_dataframe(newdata, what="newdata")
        return design.newdata_design(df), df.index
    return None


def moderators_design(mods: Any, data: pd.DataFrame | None, k: int, *, intercept: bool = True) -> ModeratorsDesign:
    """Build the moderators design from a formula string, an array, or None.

    Parameters
    ----------
    mods : str, array_like or None
        ``"~ ablat + year"``, ``"~ factor(alloc)"`` (evaluated on ``data`` by the
        package's fixed-effects design builder, as R's ``model.matrix``; character
        columns become factors with sorted levels, as R),
        a (k, m) array of moderator values (an intercept is added when
        ``intercept``), or None for the intercept-only model.
    data : DataFrame or None
        Rows already reduced to the complete cases.
    k : int
        Number of estimates.

    Examples
    --------
    >>> import multilevel as ml
    >>> bcg = ml.datasets.load("bcg")
    >>> moderators_design("~ ablat + alloc", bcg, len(bcg)).names
    ('intrcpt', 'ablat', 'allocrandom', 'allocsystematic')
    """
    if mods is None:
        return ModeratorsDesign(np.ones((k, 1)), ("intrcpt",), None, True, None)
    if isinstance(mods, str):
        return _formula_design(mods, data, intercept)
    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    names = [str(c) for c in mods.columns] if isinstance(mods, pd.DataFrame) else None
    arr = np.asarray(mods, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape[0] != k:
        raise DataError(f"mods has {arr.shape[0]} rows but there are {k} estimates")
    if names is None:
        names = ["mods"] if arr.shape[1] == 1 else [f"mods{j + 1}" for j in range(arr.shape[1])]
    if intercept:
        arr = np.hstack([np.ones((k, 1)), arr])
        names = ["intrcpt", *names]
    return ModeratorsDesign(arr, tuple(names), None, intercept, None)


def _formula_design(mods: str, data: pd.DataFrame | None, intercept: bool) -> ModeratorsDesign:
    """The design of a moderators formula, built as every fixed-effects design of the package
    (:func:`multilevel.formula._design.rhs_design`), with metafor's ``intrcpt``."""
    from ...formula._design import rhs_design  # formulaic: loaded only for moderator formulas

    if not mods.strip().startswith("~"):
        raise FormulaError("a moderators formula must start with '~' (for example '~ ablat + year')", mods, 0)
    if data is None:
        raise DataError("a moderators formula needs data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log(0), log(-1): reported by row later
        design = rhs_design(mods, data, intercept=intercept)
    names = tuple("intrcpt" if n == "(Intercept)" else n for n in design.names)
    has_int = "intrcpt" in names
    if has_int and names[0] != "intrcpt":
        raise FormulaError("the intercept must come first in the moderators formula", mods)
    return ModeratorsDesign(design.matrix, names, design, has_int, mods)


def formula_variables(mods: Any, data: pd.DataFrame | None) -> list[str]:
    """Columns of ``data`` a moderators formula uses (for the missing-data check)."""
    if not isinstance(mods, str) or data is None:
        return []
    try:
        required = formula_columns(mods)
    except Exception as err:
        raise FormulaError(f"the moderators formula could not be parsed: {err}", mods) from None
    unknown = sorted(v for v in required if v not in data.columns and v not in ("factor", "I", "C"))
    if unknown:
        check_columns(data, unknown, context="moderators formula")
    return sorted(v for v in required if v in data.columns)


def check_rank(X: np.ndarray, names: tuple[str, ...], *, tol: float = 1e-7) -> np.ndarray:
    """Indices of the columns to keep; redundant columns are dropped with a warning.

    Columns are kept left to right when they add to the rank (as R's pivoted
    QR), so the earlier of two collinear moderators stays.
    """
    keep: list[int] = []
    for j in range(X.shape[1]):
        trial = X[:, keep + [j]]
        if np.linalg.matrix_rank(trial, tol=tol * max(1.0, np.abs(trial).max())) == len(keep) + 1:
            keep.append(j)
    if len(keep) < X.shape[1]:
        dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
        warnings.warn(f"redundant predictors dropped from the model: {', '.join(dropped)}",
                      RankDeficiencyWarning, stacklevel=3)
    return np.asarray(keep, dtype=int)


@dataclass(frozen=True, eq=False)
class EffectData:
    """Complete cases of a meta-analysis input.

    Attributes
    ----------
    yi : ndarray (k,)
        Observed effect sizes.
    vi : ndarray (k,) or (k, k)
        Sampling variances (or a variance-covariance matrix when given as a matrix).
    design : ModeratorsDesign
        Moderators design (rank-deficient columns already removed).
    rows : ndarray of int
        Positions of the kept rows in the input.
    frame : DataFrame or None
        Kept rows of ``data`` (for grouping variables and labels).
    num_dropped : int
        Rows dropped for missing values.
    slab : tuple of str
        Study labels (the data index, or 1..n).
    weights : ndarray (k,) or None
        User-specified weights for the fixed effects (metafor's ``weights``).
    dropped_rows : tuple of str
        Labels of the rows dropped for missing values or undefined moderator transformations.
    """

    yi: np.ndarray
    vi: np.ndarray
    design: ModeratorsDesign
    rows: np.ndarray
    frame: pd.DataFrame | None
    num_dropped: int
    slab: tuple[str, ...]
    weights: np.ndarray | None = None
    dropped_rows: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return self.yi.shape[0]


def _check_matrix(V: np.ndarray, slab: list[str], name: str) -> None:
    """Covariances of a variance-covariance matrix must be finite (its diagonal is checked as variances)."""
    bad = ~np.isfinite(V)
    if bad.any():
        rows = bad.any(axis=1)
        first = np.take_along_axis(V, bad.argmax(axis=1)[:, None], axis=1)[:, 0]
        raise DataError(f"{name} has infinite or missing covariances; {offending_rows(rows, slab, first)}")


def _check_weights(values: np.ndarray, slab: list[str]) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise DataError(f"weights must be non-negative and finite; {offending_rows(bad, slab, values)}")


def _check_inputs(eff: dict[str, np.ndarray], frame: pd.DataFrame | None, mods: Any, slab: list[str]) -> None:
    """Refuse infinite values (NaN rows were dropped before) in the kept rows, naming the rows."""
    for name, values in eff.items():
        if name == "mods" and isinstance(mods, (pd.DataFrame, pd.Series)):
            columns = [str(c) for c in (mods.columns if isinstance(mods, pd.DataFrame) else [mods.name])]
            for j, col in enumerate(columns):
                refuse_infinite(values.reshape(len(slab), -1)[:, j], f"the moderator {col!r}", slab)
        else:
            refuse_infinite(values, name, slab)
    if frame is not None:
        for col in formula_variables(mods, frame):
            values = frame[col]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                refuse_infinite(values.to_numpy(dtype=float, na_value=np.nan),
                                f"the moderator column {col!r}", slab)


def _check_design(design: ModeratorsDesign, slab: list[str]) -> None:
    """Moderator transformations must be finite (``log(0)`` is not); NaN rows are dropped later."""
    bad = np.isinf(design.X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise DataError(f"the moderators design column {design.names[j]!r} has infinite values "
                        f"(for example the log of 0); {offending_rows(bad[:, j], slab, design.X[:, j])}")


def _labels(slab: Any, frame: pd.DataFrame | None, n: int) -> list[str]:
    if isinstance(slab, str):
        if frame is None:
            raise DataError(f"slab is given as the column name {slab!r} but no data were given")
        check_columns(frame, [slab], context="slab argument")
        values = frame[slab].tolist()
    else:
        values = list(slab)
    if len(values) != n:
        raise DataError(f"slab has {len(values)} labels but there are {n} estimates")
    return [str(v) for v in values]


def prepare_effects(yi: Any, vi: Any = None, *, sei: Any = None, data: Any = None, mods: Any = None,
                    required: tuple[str, ...] = (), intercept: bool = True,
                    allow_matrix: bool = False, slab: Any = None, weights: Any = None,
                    v_name: str = "vi") -> EffectData:
    """Read effect sizes, sampling variances and moderators; drop incomplete rows.

    Parameters
    ----------
    yi, vi, sei : str or array_like
        Column names of ``data`` or arrays; give ``vi`` or ``sei`` (``vi = sei**2``).
        With ``allow_matrix``, ``vi`` may be a (n, n) variance-covariance matrix
        (rows and columns of dropped estimates are removed; its diagonal is checked).
    data : DataFrame, optional
    mods : str, array_like or None
        Moderators (see :func:`moderators_design`).
    required : tuple of str
        Further columns of ``data`` that must be complete (grouping variables).
    slab : str or sequence, optional
        Study labels: a column of ``data`` or one label per row (default: the
        data index, or 1..n when the index is the default range).
    weights : str or array_like, optional
        Non-negative weights (a column of ``data`` or an array); rows with a
        missing weight are dropped with the others.
    v_name : str
        Name of the variances argument in messages (``"vi"``; ``"V"`` for :func:`~multilevel.rma_mv`).

    Returns
    -------
    EffectData

    Raises
    ------
    DataError
        Mismatched lengths; infinite effects, moderators or weights; non-positive or
        non-finite variances (each naming the argument or column, the rows and values).
    MissingDataWarning
        When rows with missing values (or undefined moderator transformations) are
        dropped (with the count).

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> eff = prepare_effects("yi", "vi", data=dat, mods="~ ablat")
    >>> eff.k, eff.design.names
    (13, ('intrcpt', 'ablat'))
    """
    frame = as_dataframe(data) if data is not None else None
    y, v, vname, vraw = read_outcomes(yi, vi, sei, frame, allow_matrix, v_name)
    vdiag = np.diag(v) if v.ndim == 2 else v
    mods_arr = _mods_array(mods)
    named = {"yi": y, vname: vraw}
    if frame is not None:
        named["data"] = np.empty(len(frame))
    if mods_arr is not None:
        named["mods"] = mods_arr
    wts = None if weights is None else column_values(weights, frame, role="weights")
    if wts is not None:
        named["weights"] = wts
    n = check_lengths(named)
    labels = _labels(slab, frame, n) if slab is not None else row_labels(frame, n)
    if required and frame is not None:
        check_columns(frame, required, context="random-effects specification")
    used = {_name(yi, "yi"): y, _name(vi if sei is None else sei, vname): vdiag}
    if wts is not None:
        used[_name(weights, "weights")] = wts
    if mods_arr is not None:
        used["mods"] = mods_arr.reshape(n, -1)
    keep = complete_rows(used, labels, frame, formula_variables(mods, frame) + list(required))
    slab_kept = [labels[i] for i in keep]
    check_variances(vraw[keep], slab_kept, vname)
    if v.ndim == 2:
        _check_matrix(v[np.ix_(keep, keep)], slab_kept, vname)
    if wts is not None:
        _check_weights(wts[keep], slab_kept)
    sub = frame.iloc[keep] if frame is not None and keep.size < n else frame
    kept = {"yi": y[keep]} if mods_arr is None else {"yi": y[keep], "mods": mods_arr.reshape(n, -1)[keep]}
    _check_inputs(kept, sub, mods, slab_kept)
    mods_kept = mods if mods_arr is None else _mods_subset(mods, kept["mods"])
    design = moderators_design(mods_kept, sub, keep.size, intercept=intercept)
    _check_design(design, slab_kept)
    defined = _defined_rows(design.X, slab_kept, n)
    if defined is not None:
        keep, slab_kept, sub = keep[defined], [slab_kept[i] for i in defined], sub.iloc[defined]
        design = _subset_design(design, defined)
    design = _full_rank(design)
    if design.X.shape[1] > keep.size:
        raise ModelSpecificationError(
            f"the model has {design.X.shape[1]} coefficients but only {keep.size} estimates")
    v_kept = v[np.ix_(keep, keep)] if v.ndim == 2 else v[keep]
    dropped = np.setdiff1d(np.arange(n), keep)
    return EffectData(y[keep], v_kept, design, keep, sub, n - keep.size, tuple(slab_kept),
                      None if wts is None else wts[keep], tuple(labels[i] for i in dropped))


def _mods_array(mods: Any) -> np.ndarray | None:
    if mods is None or isinstance(mods, str):
        return None
    try:
        return np.asarray(mods, dtype=float)
    except (TypeError, ValueError):
        raise DataError("mods must be a formula string such as '~ ablat' or an array of numbers") from None


def _mods_subset(mods: Any, values: np.ndarray) -> Any:
    """Kept rows of array moderators, keeping the column names of a DataFrame or Series."""
    if isinstance(mods, pd.DataFrame):
        return pd.DataFrame(values, columns=[str(c) for c in mods.columns])
    if isinstance(mods, pd.Series):
        return pd.DataFrame(values, columns=[str(mods.name)])
    return values


def _name(value: Any, role: str) -> str:
    """How the missing-value warning names an input: its column, or the argument for arrays."""
    return value if isinstance(value, str) else role


def _defined_rows(X: np.ndarray, labels: list[str], n: int) -> np.ndarray | None:
    """Rows where the moderators are defined, or None if all are; warns as R's ``na.omit``.

    A transformation can be undefined where its input is not missing (``log`` of a
    negative number); R's model frame gives NaN and ``na.omit`` drops the row.
    """
    undefined = np.isnan(X).any(axis=1)
    if not undefined.any():
        return None
    if undefined.all():
        raise DataError("the moderators are undefined (NaN) in every row; check the transformations")
    warn_dropped([labels[i] for i in np.flatnonzero(undefined)], X.shape[0], undefined=True)
    return np.flatnonzero(~undefined)


def _subset_design(design: ModeratorsDesign, rows: np.ndarray) -> ModeratorsDesign:
    return ModeratorsDesign(design.X[rows], design.names, design.spec, design.intercept, design.formula)


def _full_rank(design: ModeratorsDesign) -> ModeratorsDesign:
    cols = check_rank(design.X, design.names)
    if cols.size == design.X.shape[1]:
        return design
    return ModeratorsDesign(design.X[:, cols], tuple(design.names[j] for j in cols), design.spec,
                            design.intercept and 0 in cols, design.formula)
