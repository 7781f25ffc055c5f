"""Per-partition designs and their cross-products, for fitting ``lmer`` to a Dask DataFrame.

Every function here works on one pandas partition (or on two partial results) and is
run by Dask's workers; nothing here imports Dask. A partition is turned into the
model's columns exactly as :func:`~multilevel.model_frame` would turn the whole table,
except that the factor levels are the global ones (found by an earlier pass over all
partitions), so that every partition gives the same design columns and the same
grouping-level numbering. The sufficient statistics of the penalized least squares
problem are then sums over partitions:

* ``A11``: the ``k x k`` blocks ``Z_1j'Z_1j`` of the first random-effects term, per level;
* ``A1r = Z_1'[Z_rest, X, y]`` (sparse, ``q_1 x r``);
* ``Arr = [Z_rest, X, y]'[Z_rest, X, y]`` (sparse, ``r x r``);

plus small vectors for lme4's starting values and checks. Their size depends on the
numbers of levels and columns, never on the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._exceptions import DataError
from ..formula._bars import parse_formula
from ..formula._build import _response
from ..formula._design import materialize
from ..formula._names import _level_label

__all__ = ["PartitionSpec", "DroppedRows", "row_names", "partition_keys", "merge_keys", "partition_stats",
           "merge_stats", "key_labels"]


@dataclass(frozen=True)
class PartitionSpec:
    """What every partition needs to build the same design (picklable, small).

    ``categories`` maps a column to its global levels (the column becomes a Categorical
    with them); ``group_values`` maps a grouping column to its global sorted values (for
    numeric grouping columns, which stay numeric); ``order`` lists the random-effects terms
    (indices into the formula's terms) in lme4's block order and ``levels`` the used keys
    of every grouping factor, both known only after the key pass.
    """

    formula: str
    columns: tuple
    coding: tuple = ()
    categories: tuple = ()  # ((column, pandas.Index), ...)
    group_values: tuple = ()  # ((column, numpy array), ...)
    order: tuple = ()
    levels: tuple = ()  # ((group name, sorted used keys), ...)


def _prepare(pdf: pd.DataFrame, spec: PartitionSpec):
    """``(parsed formula, frame with global factors, y, X design, {lhs: Z}, dropped rows)``; the dropped
    rows are :class:`DroppedRows` of the partition."""
    parsed = parse_formula(spec.formula)
    df = pdf[list(spec.columns)]
    na = df.isna()
    missing = na.any(axis=1).to_numpy()
    position = np.arange(len(df))
    if missing.any():
        df, position = df.loc[~missing], position[~missing]
    undefined_at = []
    while True:
        y = _response(parsed, df)
        fdf = _global_factors(df, spec)
        fixed = materialize(parsed.fixed, fdf, parsed.formula, spec.coding)
        lhs = {}
        for term in parsed.terms:
            if term.lhs.strip() != "1" and term.lhs not in lhs:
                lhs[term.lhs] = materialize(term.lhs, fdf, parsed.formula)
        undefined = np.isnan(y) | np.isnan(fixed.matrix).any(axis=1)
        for design in lhs.values():
            undefined |= np.isnan(design.matrix).any(axis=1)
        if not undefined.any():
            break
        undefined_at.append(position[undefined])
        df, position = df.loc[~undefined], position[~undefined]
    _check_finite(y, fixed, lhs, parsed)
    dropped = DroppedRows.of(pdf.index, na.any(axis=0).to_numpy(), np.flatnonzero(missing),
                             np.sort(np.concatenate(undefined_at)) if undefined_at else np.empty(0, np.int64))
    return parsed, fdf, y, fixed, lhs, dropped


@dataclass(frozen=True)
class DroppedRows:
    """The rows of one partition dropped for missing values (``missing``) and for undefined
    transformations (``undefined``), as 0-based positions in the partition, with their index labels
    and what is needed to tell whether the labels name rows across partitions."""

    part: int
    num_rows: int
    na_columns: np.ndarray  # per column used: any missing value in the partition
    missing: np.ndarray
    undefined: np.ndarray
    missing_labels: np.ndarray
    undefined_labels: np.ndarray
    index_unique: bool
    range_start: int | None  # a RangeIndex with step 1: its start

    @classmethod
    def of(cls, index: pd.Index, na_columns, missing, undefined, part: int = 0) -> "DroppedRows":
        ranged = isinstance(index, pd.RangeIndex) and index.step == 1
        return cls(part, len(index), na_columns, missing, undefined, np.asarray(index[missing], dtype=object),
                   np.asarray(index[undefined], dtype=object), bool(index.is_unique),
                   int(index.start) if ranged else None)


def row_names(parts: list, labelled: bool) -> tuple[tuple, tuple]:
    """``(missing, undefined)`` names of the dropped rows of all partitions (ordered by partition).

    ``labelled`` (the index is known to be unique across partitions): the index labels, as in
    memory, with R's 1-based numbers when the whole index is ``0 .. n - 1``; otherwise 1-based
    positions in the order of the partitions."""
    parts = sorted(parts, key=lambda d: d.part)
    offsets = np.cumsum([0] + [d.num_rows for d in parts])
    default = labelled and all(d.range_start == int(o) for d, o in zip(parts, offsets))
    out = []
    for which in ("missing", "undefined"):
        names = []
        for d, offset in zip(parts, offsets):
            if labelled and not default:
                names.extend(str(label) for label in getattr(d, which + "_labels"))
            else:
                names.extend(str(int(offset) + int(i) + 1) for i in getattr(d, which))
        out.append(tuple(names))
    return out[0], out[1]


def _check_finite(y, fixed, lhs, parsed):
    if not np.isfinite(y).all():
        raise DataError(f"the response {parsed.response!r} has infinite values in {int((~np.isfinite(y)).sum())} "
                        "rows")
    for what, design in [("fixed-effects", fixed)] + [(f"random-effects ({t})", d) for t, d in lhs.items()]:
        bad = ~np.isfinite(design.matrix).all(axis=0)
        if bad.any():
            cols = [n for n, b in zip(design.names, bad) if b]
            raise DataError(f"the {what} design has infinite values in column(s) {', '.join(cols)}")


def _global_factors(df: pd.DataFrame, spec: PartitionSpec) -> pd.DataFrame:
    """Factor columns as Categoricals with the global levels (unused levels kept)."""
    if not spec.categories:
        return df
    df = df.copy()
    for name, cats in spec.categories:
        col = df[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            col = pd.Series(np.where(col.to_numpy(dtype=bool), "TRUE", "FALSE"), index=col.index)
        elif isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        df[name] = pd.Categorical(col, categories=cats)
    return df


def _group_keys(expr, fdf: pd.DataFrame, spec: PartitionSpec) -> tuple[np.ndarray, int]:
    """``(keys, size of the key space)``: every row's level in the product space of the global levels."""
    if expr.op is None:
        col = fdf[expr.name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            return col.cat.codes.to_numpy().astype(np.int64), len(col.cat.categories)
        values = dict(spec.group_values)[expr.name]
        return np.searchsorted(values, col.to_numpy()).astype(np.int64), len(values)
    left, nl = _group_keys(expr.left, fdf, spec)
    right, nr = _group_keys(expr.right, fdf, spec)
    return left * nr + right, nl * nr


def key_labels(expr, keys: np.ndarray, spec: PartitionSpec) -> pd.Index:
    """The level labels of ``keys`` as :func:`~multilevel.model_frame` names them."""
    if expr.op is None:
        cats = dict(spec.categories)
        values = cats[expr.name] if expr.name in cats else pd.Index(dict(spec.group_values)[expr.name])
        return pd.Index(values[keys])
    nr = _space(expr.right, spec)
    left = key_labels(expr.left, keys // nr, spec)
    right = key_labels(expr.right, keys % nr, spec)
    return pd.Index([f"{_level_label(a)}:{_level_label(b)}" for a, b in zip(left, right)], dtype=object)


def _space(expr, spec: PartitionSpec) -> int:
    if expr.op is None:
        cats = dict(spec.categories)
        return len(cats[expr.name]) if expr.name in cats else len(dict(spec.group_values)[expr.name])
    return _space(expr.left, spec) * _space(expr.right, spec)


# ------------------------------------------------------------------ pass 2: levels used
def partition_keys(pdf: pd.DataFrame, spec: PartitionSpec) -> dict:
    """The grouping levels (keys) that occur in a partition, per grouping factor."""
    parsed, fdf, *_ = _prepare(pdf, spec)
    out = {}
    for term in parsed.terms:
        if term.group_name not in out:
            out[term.group_name] = np.unique(_group_keys(term.group, fdf, spec)[0])
    return out


def merge_keys(a: dict, b: dict) -> dict:
    return {g: np.union1d(a[g], b[g]) for g in a}


# ------------------------------------------------------------------ pass 3: cross-products
def _expanded(codes: np.ndarray, Z: np.ndarray, num_levels: int) -> sp.csr_matrix:
    n, k = Z.shape
    cols = (codes[:, None] * k + np.arange(k)[None, :]).ravel()
    return sp.csr_matrix((Z.ravel(), (np.repeat(np.arange(n), k), cols)), shape=(n, num_levels * k))


def partition_stats(pdf: pd.DataFrame, spec: PartitionSpec, part: int = 0) -> dict:
    """Sums of squares and cross-products of one partition (number ``part``; see the module docstring)."""
    parsed, fdf, y, fixed, lhs, dropped = _prepare(pdf, spec)
    dropped = replace(dropped, part=int(part))
    n = y.size
    levels = dict(spec.levels)
    codes, Zs = [], []
    for i in spec.order:
        term = parsed.terms[i]
        keys = _group_keys(term.group, fdf, spec)[0]
        used = levels[term.group_name]
        codes.append(np.searchsorted(used, keys).astype(np.intp))
        Zs.append(np.ones((n, 1)) if term.lhs.strip() == "1" else np.asarray(lhs[term.lhs].matrix, dtype=float))
    nls = [len(levels[parsed.terms[i].group_name]) for i in spec.order]
    X = np.asarray(fixed.matrix, dtype=float)
    k1, nl1 = Zs[0].shape[1], nls[0]
    A11 = np.zeros((nl1, k1, k1))
    for a in range(k1):
        for b in range(a, k1):
            A11[:, a, b] = A11[:, b, a] = np.bincount(codes[0], weights=Zs[0][:, a] * Zs[0][:, b], minlength=nl1)
    rest = [_expanded(c, Z, nl) for c, Z, nl in zip(codes[1:], Zs[1:], nls[1:])]
    R = sp.hstack(rest + [sp.csr_matrix(X), sp.csr_matrix(y[:, None])], format="csr")
    Z1T = _expanded(codes[0], Zs[0], nl1).T.tocsr()
    per_term = []
    for c, Z, nl in zip(codes, Zs, nls):
        level_sums = (np.bincount(c, weights=y, minlength=nl), np.bincount(c, minlength=nl).astype(float)) \
            if Z.shape[1] == 1 else None
        per_term.append({"sumsq": np.square(Z).sum(axis=0), "not_one": bool((Z != 1.0).any()),
                         "level_sums": level_sums})
    return {"n": n, "n_na": dropped.missing.size, "n_undefined": dropped.undefined.size, "rows": [dropped],
            "names": tuple(fixed.names),
            "A11": A11, "A1r": (Z1T @ R).tocsr(), "Arr": (R.T @ R).tocsr(), "sum_y": float(y.sum()),
            "sum_x": X.sum(axis=0), "binary": np.all((X == 0.0) | (X == 1.0), axis=0), "terms": per_term,
            "specs": (fixed.spec, fixed.columns, {t: replace(d, matrix=d.matrix[:0]) for t, d in lhs.items()})}


def merge_stats(a: dict, b: dict) -> dict:
    """The statistics of two sets of rows together."""
    if a["names"] != b["names"]:
        raise DataError(f"partitions give different fixed-effects columns: {list(a['names'])} and "
                        f"{list(b['names'])}; give factors their levels up front (a Categorical column)")
    terms = []
    for ta, tb in zip(a["terms"], b["terms"]):
        sums = None if ta["level_sums"] is None else tuple(u + v for u, v in zip(ta["level_sums"], tb["level_sums"]))
        terms.append({"sumsq": ta["sumsq"] + tb["sumsq"], "not_one": ta["not_one"] or tb["not_one"],
                      "level_sums": sums})
    out = {key: a[key] + b[key] for key in ("n", "n_na", "n_undefined", "A11", "A1r", "Arr", "sum_y", "sum_x")}
    out.update(names=a["names"], binary=a["binary"] & b["binary"], terms=terms, specs=a["specs"],
               rows=a["rows"] + b["rows"])
    return out
