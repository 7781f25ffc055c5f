"""Designs of repeated fits: products of numeric columns, worked out once per formula and column types.

Bootstrap refits, simulation studies and ``lm_list`` evaluate the same formula
on many tables. When every column of a design is an intercept or a product of
numeric data columns looked up by name (``1 + x + x:z``), formulaic's work
(parsing, encoding, naming, ordering the columns as R does) gives the same answer
for every table with those columns and types: a :class:`NumericRecipe` keeps
the result (the product each column is, R's names and the model spec) and
later tables only multiply their columns.

A recipe is keyed on the formula text, the contrasts, and the name and dtype
of every column the text uses: a table whose columns differ in type (a factor,
strings, booleans) misses it, and is materialized by formulaic. Factors are
never in a recipe, so no factor levels are remembered (their coding is
recomputed from each table). A recipe is kept only if it reproduces
formulaic's matrix exactly on the table that created it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["NumericRecipe", "recipe_key", "lookup", "remember", "clear"]

_MAX_RECIPES = 256
_RECIPES: OrderedDict = OrderedDict()
_LOCK = threading.Lock()
_NONE = object()  # the key was seen and has no recipe


@dataclass(frozen=True, eq=False)
class NumericRecipe:
    """How to build a design from numeric columns: ``products[i]`` are the data columns
    multiplied for column ``i`` (empty for the intercept), in R's column order."""

    products: tuple[tuple[str, ...], ...]
    names: tuple[str, ...]
    spec: object
    columns: np.ndarray

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The design on ``data`` (C-contiguous floats, one column per product)."""
        n = len(data)
        out = np.empty((n, len(self.products)))
        cache: dict[str, np.ndarray] = {}
        for j, names in enumerate(self.products):
            if not names:
                out[:, j] = 1.0
                continue
            col = out[:, j]
            for i, name in enumerate(names):
                if name not in cache:
                    cache[name] = data[name].to_numpy(dtype=float, na_value=np.nan)
                if i == 0:
                    col[:] = cache[name]
                else:
                    col *= cache[name]
        return out


def recipe_key(text: str, contrasts: tuple, data: pd.DataFrame, variables) -> tuple | None:
    """The cache key of ``text`` on ``data``; None when a variable is not a column."""
    cols = data.columns
    if any(v not in cols for v in variables):
        return None
    return (text, contrasts, tuple(sorted((v, str(data[v].dtype)) for v in variables)))


def lookup(key) -> NumericRecipe | None:
    """The recipe for ``key`` (None when there is none, or the key is new)."""
    if key is None:
        return None
    with _LOCK:
        found = _RECIPES.get(key)
        if found is not None:
            _RECIPES.move_to_end(key)
    return None if found is None or found is _NONE else found


def remember(key, design, data: pd.DataFrame) -> None:
    """Store the recipe of a design formulaic built on ``data`` (or that it has none)."""
    if key is None:
        return
    recipe = _recipe(design, data)
    with _LOCK:
        _RECIPES[key] = _NONE if recipe is None else recipe
        while len(_RECIPES) > _MAX_RECIPES:
            _RECIPES.popitem(last=False)


def clear() -> None:
    """Forget every recipe."""
    with _LOCK:
        _RECIPES.clear()


def _recipe(design, data: pd.DataFrame) -> NumericRecipe | None:
    spec = design.spec
    encoders = spec.encoder_state
    products = []
    for term in spec.structure:
        if len(term.columns) != 1:
            return None
        names = []
        for factor in term.term.factors:
            method = factor.eval_method.value
            if method == "literal" and factor.expr == "1":
                continue
            kind = encoders.get(factor.expr, (None,))[0]
            if method != "lookup" or getattr(kind, "value", None) != "numerical" \
                    or not pd.api.types.is_numeric_dtype(data[factor.expr].dtype) \
                    or pd.api.types.is_bool_dtype(data[factor.expr].dtype):
                return None
            names.append(factor.expr)
        products.append(tuple(names))
    if len(products) != design.matrix.shape[1] or spec.transform_state:
        return None
    ordered = tuple(products[int(c)] for c in design.columns)
    recipe = NumericRecipe(ordered, design.names, spec, design.columns)
    same = np.array_equal(recipe.matrix(data), design.matrix, equal_nan=True)
    return recipe if same else None
