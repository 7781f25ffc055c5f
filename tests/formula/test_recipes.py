"""Designs of repeated fits (formula._recipes): the same matrices as formulaic, never a stale design."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.formula import _recipes


@pytest.fixture(autouse=True)
def fresh_recipes():
    _recipes.clear()
    yield
    _recipes.clear()


def _table(levels, seed=0, n=60):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.integers(0, 5, size=n),
        "f": pd.Categorical(rng.choice(levels, size=n), categories=levels),
        "g": pd.Categorical(np.repeat(np.arange(n // 6), 6)),
    })


def test_numeric_design_is_built_from_a_recipe_equal_to_formulaic():
    df = _table(["a", "b"])
    formula = "y ~ x * z + (x | g)"
    first = ml.model_frame(formula, df)  # formulaic, then the recipe is kept
    kept = list(_recipes._RECIPES.values())  # the fixed part "x * z" and the term's "x"
    assert len(kept) == 2 and all(isinstance(r, _recipes.NumericRecipe) for r in kept)
    again = ml.model_frame(formula, df)
    assert again.fixed_names == first.fixed_names == ("(Intercept)", "x", "z", "x:z")
    np.testing.assert_array_equal(again.X, first.X)
    np.testing.assert_array_equal(again.blocks[0].Z, first.blocks[0].Z)
    other = _table(["a", "b"], seed=1)
    _recipes.clear()
    expected = ml.model_frame(formula, other)  # formulaic on the new table
    ml.model_frame(formula, df)
    np.testing.assert_array_equal(ml.model_frame(formula, other).X, expected.X)


def test_factor_levels_of_another_table_are_not_taken_from_an_earlier_fit():
    """A later table with other factor levels gets its own coding and grouping levels."""
    formula = "y ~ x + f + (1 | g)"
    two = _table(["a", "b"])
    three = _table(["a", "b", "c"], seed=2)
    first = ml.model_frame(formula, two)
    assert first.fixed_names == ("(Intercept)", "x", "fb")
    second = ml.model_frame(formula, three)
    assert second.fixed_names == ("(Intercept)", "x", "fb", "fc")
    np.testing.assert_array_equal(second.X[:, 3], (three["f"] == "c").to_numpy(float))
    fewer_groups = three.iloc[:30]
    assert ml.model_frame(formula, fewer_groups).blocks[0].num_levels == 5
    assert ml.model_frame(formula, two).fixed_names == ("(Intercept)", "x", "fb")


def test_a_column_that_changes_type_misses_the_recipe():
    """The same name as a number, then as a factor: coded as a factor the second time."""
    formula = "y ~ z + (1 | g)"
    df = _table(["a", "b"])
    assert ml.model_frame(formula, df).fixed_names == ("(Intercept)", "z")
    as_factor = df.assign(z=pd.Categorical(df["z"]))
    names = ml.model_frame(formula, as_factor).fixed_names
    assert names == ("(Intercept)",) + tuple(f"z{v}" for v in sorted(df["z"].unique())[1:])
    as_float = df.assign(z=df["z"].astype(float) + 0.5)
    np.testing.assert_array_equal(ml.model_frame(formula, as_float).X[:, 1], as_float["z"].to_numpy())


def test_refits_on_new_tables_match_fits_without_recipes():
    """lmer on a sequence of tables (as a bootstrap would) equals lmer with no recipe kept."""
    sleep = ml.datasets.load("sleepstudy")
    rng = np.random.default_rng(3)
    tables = [sleep.assign(Reaction=sleep["Reaction"] + rng.normal(scale=10, size=len(sleep)))
              for _ in range(3)]
    cached = [ml.lmer("Reaction ~ Days + (Days | Subject)", t) for t in tables]
    for t, fit in zip(tables, cached):
        _recipes.clear()
        fresh = ml.lmer("Reaction ~ Days + (Days | Subject)", t)
        np.testing.assert_array_equal(fit.theta, fresh.theta)
        np.testing.assert_array_equal(fit.fixef.to_numpy(), fresh.fixef.to_numpy())
