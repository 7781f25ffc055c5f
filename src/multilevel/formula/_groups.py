"""Grouping factors and random-effects blocks, in lme4's order and with lme4's checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._exceptions import ModelSpecificationError
from ._bars import GroupExpr, RandomTerm
from ._design import materialize
from ._frame import RandomEffectsBlock
from ._names import _level_label

__all__ = ["grouping_factor", "build_blocks", "check_blocks"]


def _factor(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """R's ``factor(x)`` with unused levels dropped: (0-based codes, levels)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.array.codes)
        categories = values.dtype.categories
        used = np.bincount(codes, minlength=len(categories)) > 0
        if used.all():
            return codes.astype(np.intp, copy=False), categories
        remap = np.cumsum(used) - 1
        return remap[codes].astype(np.intp), categories[used]
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types cannot be sorted: compare as text
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.intp, copy=False), pd.Index(uniques)


def grouping_factor(group: GroupExpr, data: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Codes and levels of a grouping expression, in R's level order.

    For ``a:b`` the levels are the observed combinations ordered by the level
    of ``a``, then of ``b`` (lme4's ``%i%``), labelled ``"a1:b1"``.
    """
    if group.op is None:
        return _factor(data[group.name])
    codes1, levels1 = grouping_factor(group.left, data)
    codes2, levels2 = grouping_factor(group.right, data)
    n2 = len(levels2)
    combined = codes1.astype(np.int64) * n2 + codes2
    used, codes = np.unique(combined, return_inverse=True)
    labels1 = [_level_label(v) for v in levels1]
    labels2 = [_level_label(v) for v in levels2]
    levels = pd.Index([f"{labels1[u // n2]}:{labels2[u % n2]}" for u in used.tolist()], dtype=object)
    return codes.astype(np.intp).ravel(), levels


def build_blocks(terms: tuple[RandomTerm, ...], data: pd.DataFrame, formula: str,
                 known: dict | None = None) -> tuple[RandomEffectsBlock, ...]:
    """One block per expanded term, ordered as lme4's ``mkReTrms``.

    ``known`` maps formula text to designs already built on the same rows
    (the fixed part is often the same as a term's left-hand side).
    """
    n = len(data)
    factors: dict[str, tuple[np.ndarray, pd.Index]] = {}
    designs: dict[str, object] = dict(known or {})
    blocks = []
    for term in terms:
        name = term.group_name
        if name not in factors:
            factors[name] = grouping_factor(term.group, data)
        codes, levels = factors[name]
        if term.lhs.strip() == "1":
            Z, cols, spec = np.ones((n, 1)), ("(Intercept)",), None
        else:
            if term.lhs not in designs:
                designs[term.lhs] = materialize(term.lhs, data, formula)
            design = designs[term.lhs]
            Z, cols, spec = design.matrix.copy(), design.names, design
        blocks.append(RandomEffectsBlock(group=name, levels=levels, codes=codes, Z=Z, column_names=cols,
                                         lhs_spec=spec, term=str(term), group_expr=term.group))
    return _lme4_order(blocks)


def _lme4_order(blocks: list[RandomEffectsBlock]) -> tuple[RandomEffectsBlock, ...]:
    """lme4 reorders only if some term has more levels than the one before it, then by
    decreasing number of levels with ties in reverse formula order (``rev(order(nl))``)."""
    nl = [b.num_levels for b in blocks]
    if any(b > a for a, b in zip(nl, nl[1:])):
        ascending = sorted(range(len(blocks)), key=lambda i: nl[i])  # stable, like R's order()
        return tuple(blocks[i] for i in reversed(ascending))
    return tuple(blocks)


def check_blocks(blocks: tuple[RandomEffectsBlock, ...], n: int, *, check_nobs: bool = True) -> None:
    """lme4's checkNlevels and checkZdims with lmerControl's defaults (both "stop"); with
    ``check_nobs=False`` only the "> 1 level" check, as glmerControl's defaults."""
    nlevels: dict[str, int] = {}
    for b in blocks:
        nlevels.setdefault(b.group, b.num_levels)
    single = [g for g, k in nlevels.items() if k < 2]
    if single:
        raise ModelSpecificationError(
            "grouping factors must have > 1 sampled level (problems: "
            + ", ".join(f"{g} has {nlevels[g]} level" for g in single) + ")")
    if not check_nobs:
        return
    too_many = [g for g, k in nlevels.items() if k >= n]
    if too_many:
        raise ModelSpecificationError(
            "number of levels of each grouping factor must be < number of observations (problems: "
            + ", ".join(f"{g} has {nlevels[g]} levels" for g in too_many) + f"; {n} observations)")
    for b in blocks:
        q = b.num_levels * b.num_columns
        if n <= q:
            raise ModelSpecificationError(
                f"number of observations (={n}) <= number of random effects (={q}) for term ({b.term}); "
                "the random-effects parameters and the residual variance (or scale parameter) are "
                "probably unidentifiable")
