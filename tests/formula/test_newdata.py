"""ModelFrame.fixed_design / random_design: the same columns for new data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import DataError, RankDeficiencyWarning, UnknownColumnError


def _cake():
    cake = ml.datasets.load("cake")
    cake["temperature"] = cake["temperature"].cat.as_unordered()
    return cake


CASES = [
    ("sleepstudy", "Reaction ~ Days + I(Days^2) + (Days || Subject)"),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
    ("cake", "angle ~ recipe * temperature + (1 | recipe:replicate)"),
    ("cake", "angle ~ recipe + temp + temperature + (0 + recipe | replicate)"),  # drops a column
    ("cake", "angle ~ 0 + recipe + temp:recipe + poly(temp, 2) + (1 | replicate)"),  # R reorders temp:recipe
]


@pytest.mark.parametrize("dataset, formula", CASES)
def test_rebuild_on_fitting_data(dataset, formula):
    data = _cake() if dataset == "cake" else ml.datasets.load(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        mf = ml.model_frame(formula, data)
    np.testing.assert_allclose(mf.fixed_design(data), mf.X, rtol=1e-14)
    for i, block in enumerate(mf.blocks):
        codes, Z = mf.random_design(data, i)
        np.testing.assert_array_equal(codes, block.codes)
        np.testing.assert_allclose(Z, block.Z, rtol=1e-14)


def test_rebuild_keeps_dropped_and_reordered_columns():
    cake = _cake()
    with pytest.warns(RankDeficiencyWarning):
        mf = ml.model_frame("angle ~ recipe + temp + temperature + (1 | replicate)", cake)
    assert mf.dropped_fixed == ("temperature225",)
    mf2 = ml.model_frame("angle ~ 0 + recipe + temp:recipe + (1 | replicate)", cake)
    assert mf2.fixed_names[3:] == ("recipeA:temp", "recipeB:temp", "recipeC:temp")
    new = cake.iloc[[5, 100, 200]]
    np.testing.assert_allclose(mf.fixed_design(new), mf.X[[5, 100, 200]])
    np.testing.assert_allclose(mf2.fixed_design(new), mf2.X[[5, 100, 200]])


def test_subset_of_levels_and_string_input():
    mf = ml.model_frame("angle ~ recipe + (1 | recipe:replicate)", _cake())
    new = pd.DataFrame({"recipe": ["C", "A"], "replicate": ["2", "15"]})
    np.testing.assert_array_equal(mf.fixed_design(new), [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    codes, Z = mf.random_design(new, 0)
    levels = list(mf.blocks[0].levels)
    assert codes.tolist() == [levels.index("C:2"), levels.index("A:15")]
    np.testing.assert_array_equal(Z, [[1.0], [1.0]])


def test_unseen_groups_get_code_minus_one():
    mf = ml.model_frame("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("Pastes"))
    new = pd.DataFrame({"batch": ["A", "Z", "B"], "cask": ["a", "a", "q"]})
    codes, _ = mf.random_design(new, 0)  # cask:batch
    assert codes.tolist() == [0, -1, -1]
    codes, _ = mf.random_design(new, 1)  # batch
    assert codes.tolist() == [0, -1, 1]


def test_unseen_fixed_level_is_an_error():
    mf = ml.model_frame("angle ~ recipe + (1 | replicate)", _cake())
    with pytest.raises(DataError, match="not seen when fitting"):
        mf.fixed_design(pd.DataFrame({"recipe": ["A", "D"]}))


def test_missing_newdata_columns():
    mf = ml.model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    with pytest.raises(UnknownColumnError, match="'Days'"):
        mf.fixed_design(pd.DataFrame({"Day": [1.0]}))
    with pytest.raises(UnknownColumnError, match="'Subject'"):
        mf.random_design(pd.DataFrame({"Days": [1.0]}), 0)


def test_positions_of_kept_columns_in_the_full_design():
    # R (lme4 1.1-31) names and drops exactly these columns for this formula
    cake = _cake()
    with pytest.warns(RankDeficiencyWarning, match="dropping 1 column / coefficient"):
        mf = ml.model_frame("angle ~ temp + temperature + recipe:temperature + (1 | replicate)", cake)
    assert mf.dropped_fixed == ("temperature225",)
    temps = ["175", "185", "195", "205", "215", "225"]
    full = (["(Intercept)", "temp"] + [f"temperature{t}" for t in temps[1:]]
            + [f"temperature{t}:recipe{r}" for r in "BC" for t in temps])
    assert len(mf.fixed_names) == len(full) - 1
    assert [full[j] for j in mf.fixed_keep] == list(mf.fixed_names)
    assert mf.fixed_columns is not None  # formulaic builds recipe:temperature, R temperature:recipe
    np.testing.assert_allclose(mf.fixed_design(cake), mf.X, rtol=1e-14)
    np.testing.assert_allclose(mf.fixed_design(cake.iloc[[7, 99]]), mf.X[[7, 99]], rtol=1e-14)
