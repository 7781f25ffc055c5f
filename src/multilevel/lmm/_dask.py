"""``lmer`` on data beyond one machine: a Dask DataFrame or Parquet files.

Three passes over the partitions, each a Dask map-reduce whose partial results are
summed in a tree (no rows ever reach the calling process):

1. the levels of every factor and grouping column (on the rows without missing values);
2. the grouping levels that occur (for ``a:b`` the observed combinations), which fixes
   the number of levels of every term and so lme4's order of the terms;
3. the cross-products that the penalized least squares core consumes
   (:mod:`._dask_stats`).

The core (:class:`~._pls.PLSProblem`) is then set up from the cross-products
(:mod:`._dask_problem`) and fitted exactly as an in-memory fit. Dask is imported only
here, and only when such a fit is requested.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .._data import warn_dropped
from .._exceptions import ArgumentError, DataError, ModelSpecificationError, UnknownColumnError
from ..formula._bars import parse_formula
from ..formula._build import _used_columns
from ..formula._factors import string_factor
from ._dask_problem import fit_from_statistics, lme4_order
from ..formula._contrasts import check_contrasts
from ._dask_stats import PartitionSpec, merge_keys, merge_stats, partition_keys, partition_stats, row_names

__all__ = ["is_dask_input", "dask_statistics", "lmer_dask"]


def is_dask_input(data) -> bool:
    """A Dask DataFrame, or a path (or glob, or list of paths) of Parquet files; Dask is not imported."""
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, (str, os.PathLike)) for d in data):
        return True
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def _as_dask(data):
    try:
        import dask.dataframe as dd
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ArgumentError("fitting from a Dask DataFrame or Parquet files needs the optional dependencies "
                            "dask[dataframe], distributed and pyarrow: pip install 'multilevel[dask]'") from err
    if isinstance(data, dd.DataFrame):
        return data
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):
        raise ArgumentError(f"data must be a Dask DataFrame (got a {type(data).__name__}); use .to_frame() "
                            "for a Series")
    paths = [os.fspath(p) for p in data] if isinstance(data, (list, tuple)) else os.fspath(data)
    try:
        return dd.read_parquet(paths)
    except (FileNotFoundError, OSError, ValueError) as err:
        raise DataError(f"data: cannot read Parquet files from {paths!r}: {err}") from err


def _tree_reduce(delayed_parts, combine):
    """Sum partial results pairwise (a tree of ``combine`` tasks); the root is computed."""
    from dask import delayed

    parts = list(delayed_parts)
    if not parts:
        raise DataError("data has no partitions")
    while len(parts) > 1:
        nxt = [delayed(combine)(a, b) for a, b in zip(parts[0::2], parts[1::2])]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0].compute()


def _map_reduce(ddf, fn, combine, spec, numbered: bool = False):
    """``fn(partition, spec)`` (with ``numbered``: ``fn(partition, spec, i)``) on every partition, reduced."""
    from dask import delayed

    parts = ddf.to_delayed()
    if numbered:
        return _tree_reduce([delayed(fn)(part, spec, i) for i, part in enumerate(parts)], combine)
    return _tree_reduce([delayed(fn)(part, spec) for part in parts], combine)


def _factor_columns(ddf, columns, group_cols) -> tuple[list, list]:
    """Columns that become factors (strings, booleans, categoricals), and numeric grouping columns."""
    factors, numeric_groups = [], []
    for name in columns:
        dtype = ddf.dtypes[name]
        if isinstance(dtype, pd.CategoricalDtype) or dtype == object or pd.api.types.is_string_dtype(dtype) \
                or pd.api.types.is_bool_dtype(dtype):
            factors.append(name)
        elif name in group_cols:
            numeric_groups.append(name)
    return factors, numeric_groups


def _global_levels(ddf, columns, parsed) -> tuple[tuple, tuple]:
    """Pass 1: the levels of the factor columns and the values of numeric grouping columns."""
    import dask

    group_cols = {v for term in parsed.terms for v in term.group.variables()}
    factors, numeric_groups = _factor_columns(ddf, columns, group_cols)
    wanted = factors + numeric_groups
    if not wanted:
        return (), ()
    complete = ddf.dropna()
    uniques = dask.compute(*[complete[c].unique() for c in wanted])
    categories, values = [], []
    for name, u in zip(wanted, uniques):
        u = pd.Series(np.asarray(u))
        if name in numeric_groups:
            values.append((name, np.sort(u.to_numpy())))
            continue
        dtype = ddf.dtypes[name]
        if pd.api.types.is_bool_dtype(dtype):
            categories.append((name, pd.Index(["FALSE", "TRUE"])))
        elif isinstance(dtype, pd.CategoricalDtype) and ddf[name].cat.known:
            cats = dtype.categories
            categories.append((name, cats[cats.isin(u)]))
        else:  # strings (and categoricals of unknown levels): R's sorted levels
            categories.append((name, pd.Index(string_factor(u).categories)))
    return tuple(categories), tuple(values)


def _check_columns(ddf, columns):
    missing = [c for c in columns if c not in ddf.columns]
    if missing:
        raise UnknownColumnError(f"column(s) {', '.join(map(repr, missing))} not found in data (columns: "
                                 f"{', '.join(map(str, ddf.columns))})")


def dask_statistics(formula: str, data, contrasts=None):
    """``(parsed formula, spec, merged statistics)`` of a Dask or Parquet input (three passes)."""
    ddf = _as_dask(data)
    parsed = parse_formula(formula)
    coding = check_contrasts(contrasts)
    columns = _used_columns(parsed, ddf.columns)
    _check_columns(ddf, columns)
    ddf = ddf[columns]
    categories, values = _global_levels(ddf, columns, parsed)
    coded = {name for name, _ in coding}
    factor_names = {name for name, _ in categories}
    for name in coded - factor_names:
        if name in columns:
            raise ArgumentError(f"contrasts are given for {name!r}, which is not a factor "
                                f"(it holds {ddf.dtypes[name]} values)")
    spec = PartitionSpec(formula, tuple(columns), coding, categories, values)
    if not parsed.terms:

        raise ModelSpecificationError(
            f"no random effects terms specified in formula {formula!r}; use ml.lm for a linear model")
    keys = _map_reduce(ddf, partition_keys, merge_keys, spec)
    nls = [len(keys[t.group_name]) for t in parsed.terms]
    spec = PartitionSpec(formula, tuple(columns), coding, categories, values, tuple(lme4_order(nls)),
                         tuple(keys.items()))
    stats = _map_reduce(ddf, partition_stats, merge_stats, spec, numbered=True)
    _drop_rows(stats, columns, bool(ddf.known_divisions))
    return parsed, spec, stats


def _drop_rows(stats: dict, columns: list, known_divisions: bool) -> None:
    """The library's missing-value rule (:func:`~multilevel._data.warn_dropped`) over all partitions:
    the counts summed, the columns with a missing value, and the names of the dropped rows (index
    labels when the index is known to be unique across partitions, else 1-based positions in
    partition order; see :func:`~._dask_stats.row_names`), recorded in ``stats["dropped_rows"]``."""
    parts = stats.pop("rows")
    total = sum(d.num_rows for d in parts)
    if stats["n"] == 0 and stats["n_undefined"] == 0 and total:
        raise DataError(f"every row has a missing value in the columns used ({', '.join(columns)})")
    labelled = known_divisions and all(d.index_unique for d in parts)
    missing, undefined = row_names(parts, labelled)
    na_columns = np.any([d.na_columns for d in parts], axis=0) if parts else np.zeros(len(columns), bool)
    warn_dropped(missing, total, columns=[c for c, bad in zip(columns, na_columns) if bad])
    warn_dropped(undefined, total - len(missing), undefined=True)
    if stats["n"] == 0:
        raise DataError("every row has a missing value or an undefined transformation in the columns used "
                        f"({', '.join(columns)})")
    stats["dropped_rows"] = missing + undefined


def lmer_dask(formula: str, data, REML: bool = True, *, contrasts=None, data_name=None, start=None,
              formulation: str = "auto", **fit_args):
    """:func:`~multilevel.lmer` on a Dask DataFrame or Parquet files (see its docstring, "Data beyond
    one machine")."""
    parsed, spec, stats = dask_statistics(formula, data, contrasts)
    return fit_from_statistics(formula, parsed, spec, stats, REML, data_name=data_name, start=start,
                               formulation=formulation, **fit_args)
