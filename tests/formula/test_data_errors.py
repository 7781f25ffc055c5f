"""Bad input: unknown columns, missing values, non-numeric responses, grouping factors lme4 rejects,
rank-deficient designs; and the accepted table types."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

import multilevel as ml
from multilevel import (
    DataError,
    MissingDataWarning,
    ModelSpecificationError,
    RankDeficiencyWarning,
    UnknownColumnError,
)

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture
def sleep():
    return ml.datasets.load("sleepstudy")


@pytest.mark.parametrize(
    "formula, names",
    [
        ("Reaction ~ Dayz + (Days | Subject)", ["'Dayz' (did you mean 'Days'?)"]),
        ("Reaction ~ Days + (Days | Subjct)", ["'Subjct' (did you mean 'Subject'?)"]),
        ("Reactio ~ Days + (1 | Subject)", ["'Reactio'"]),
        ("Reaction ~ log(Dayz) + (1 | Subject) + (1 | other)", ["'Dayz'", "'other'"]),
        ("Reaction ~ poly(Dayz, 2) + (1 | Subject)", ["'Dayz'"]),
        ("Reaction ~ 1 + (1 | Subject:unit)", ["'unit'"]),
    ],
)
def test_unknown_columns(sleep, formula, names):
    with pytest.raises(UnknownColumnError) as info:
        ml.model_frame(formula, sleep)
    for name in names:
        assert name in str(info.value)
    assert "available columns: Reaction, Days, Subject" in str(info.value)


def test_missing_rows_dropped_and_counted(sleep):
    sleep.loc[[3, 50, 51], "Reaction"] = np.nan
    sleep.loc[[50, 120], "Days"] = np.nan
    sleep["unused"] = np.nan
    with pytest.warns(MissingDataWarning, match="4 rows with missing values in Reaction, Days dropped"):
        mf = ml.model_frame(SLEEP, sleep)
    assert mf.n_dropped_na == 4
    assert mf.nobs == 176
    assert not {3, 50, 51, 120} & set(mf.row_index)
    assert len(mf.row_index) == 176 and mf.row_index[3] == 4
    assert mf.blocks[0].codes.shape == (176,)


def test_missing_group_dropped(sleep):
    sleep["Subject"] = sleep["Subject"].astype(object)
    sleep.loc[0, "Subject"] = None
    with pytest.warns(MissingDataWarning, match="1 row with missing values in Subject"):
        mf = ml.model_frame(SLEEP, sleep)
    assert mf.nobs == 179 and mf.n_dropped_na == 1


def test_missing_refused_without_drop(sleep):
    sleep.loc[3, "Days"] = np.nan
    with pytest.raises(DataError, match="missing values in Days"):
        ml.model_frame(SLEEP, sleep, drop_na=False)


@pytest.mark.parametrize("column", ["Subject", "label"])
def test_non_numeric_response(sleep, column):
    sleep["label"] = sleep["Subject"].astype(str)
    with pytest.raises(DataError, match=f"the response '{column}' must be numeric"):
        ml.model_frame(f"{column} ~ Days + (1 | Subject)", sleep)


def test_categorical_response_expression(sleep):
    with pytest.raises(DataError, match="must be numeric"):
        ml.model_frame("C(Subject) ~ Days + (1 | Subject)", sleep)


def test_single_level_grouping_factor(sleep):
    sleep["one"] = "a"
    with pytest.raises(ModelSpecificationError, match=r"grouping factors must have > 1 sampled level \(problems: one"):
        ml.model_frame("Reaction ~ Days + (1 | one)", sleep)


def test_single_level_after_dropping_rows(sleep):
    sleep["g"] = np.where(np.arange(180) == 0, "b", "a")
    sleep.loc[0, "Reaction"] = np.nan
    with pytest.warns(MissingDataWarning), pytest.raises(ModelSpecificationError, match="> 1 sampled level"):
        ml.model_frame("Reaction ~ Days + (1 | g)", sleep)


def test_as_many_levels_as_observations(sleep):
    sleep["id"] = np.arange(180)
    with pytest.raises(ModelSpecificationError) as info:
        ml.model_frame("Reaction ~ Days + (1 | Subject) + (1 | id)", sleep)
    assert str(info.value).startswith(
        "number of levels of each grouping factor must be < number of observations (problems: id")


def test_more_random_effects_than_observations(sleep):
    sleep["half"] = np.repeat(np.arange(90), 2)
    with pytest.raises(ModelSpecificationError) as info:
        ml.model_frame("Reaction ~ Days + (Days | half)", sleep)
    assert str(info.value) == (
        "number of observations (=180) <= number of random effects (=180) for term (Days | half); "
        "the random-effects parameters and the residual variance (or scale parameter) are probably "
        "unidentifiable")


def test_rank_deficient_fixed_effects(sleep):
    sleep["Days2"] = 2 * sleep["Days"]
    sleep["hours"] = 24 * sleep["Days"] + 1
    with pytest.warns(RankDeficiencyWarning) as record:
        mf = ml.model_frame("Reaction ~ Days + Days2 + hours + (1 | Subject)", sleep)
    message = str(record[0].message)
    assert message.startswith("fixed-effect model matrix is rank deficient so dropping 2 columns / coefficients")
    assert mf.fixed_names == ("(Intercept)", "Days")
    assert mf.dropped_fixed == ("Days2", "hours")
    np.testing.assert_array_equal(mf.X, np.column_stack([np.ones(180), sleep["Days"]]))


def test_rank_deficient_one_column(sleep):
    sleep["zero"] = 0.0
    with pytest.warns(RankDeficiencyWarning, match="dropping 1 column / coefficient"):
        mf = ml.model_frame("Reaction ~ zero + Days + (1 | Subject)", sleep)
    assert mf.dropped_fixed == ("zero",)


def test_bad_table_type():
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        ml.model_frame("y ~ x", [1, 2, 3])


def test_polars_and_dict_give_the_same_frame(sleep):
    reference = ml.model_frame(SLEEP, sleep)
    as_polars = pl.DataFrame({"Reaction": sleep["Reaction"].to_numpy(), "Days": sleep["Days"].to_numpy(),
                              "Subject": sleep["Subject"].astype(str).to_list()})
    as_dict = {c: sleep[c].to_numpy() for c in ["Reaction", "Days"]} | {"Subject": sleep["Subject"].astype(str)}
    for data in (as_polars, as_dict):
        mf = ml.model_frame(SLEEP, data)
        np.testing.assert_array_equal(mf.X, reference.X)
        np.testing.assert_array_equal(mf.y, reference.y)
        np.testing.assert_array_equal(mf.blocks[0].codes, reference.blocks[0].codes)
        assert [str(v) for v in mf.blocks[0].levels] == [str(v) for v in reference.blocks[0].levels]


def test_polars_categorical():
    df = pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0], "g": ["b", "a", "b", "a", "c", "c"]})
    df = df.with_columns(pl.col("g").cast(pl.Categorical))
    mf = ml.model_frame("y ~ g + (1 | g)", df)
    assert mf.fixed_names == ("(Intercept)", "gb", "gc")
    assert [str(v) for v in mf.blocks[0].levels] == ["a", "b", "c"]


def test_no_random_effects_for_lm(sleep):
    mf = ml.model_frame("Reaction ~ Days * Subject", sleep)
    assert mf.blocks == ()
    assert mf.X.shape == (180, 36)
    assert mf.fixed_names[:3] == ("(Intercept)", "Days", "Subject309")
    assert mf.fixed_names[-1] == "Days:Subject372"


def test_ordered_factor_gets_treatment_contrasts():
    cake = ml.datasets.load("cake")
    cake["temperature"] = cake["temperature"].cat.as_ordered()
    mf = ml.model_frame("angle ~ temperature + (1 | replicate)", cake)
    assert mf.fixed_names[1:3] == ("temperature185", "temperature195")


def test_unused_levels_dropped():
    cake = ml.datasets.load("cake")
    cake = cake[cake["recipe"] != "B"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mf = ml.model_frame("angle ~ recipe + (1 | recipe:replicate)", cake)
    assert mf.fixed_names == ("(Intercept)", "recipeC")
    assert mf.blocks[0].num_levels == 30


def test_integer_and_string_grouping_levels():
    df = pd.DataFrame({"y": np.arange(12.0), "g": [10, 2, 1, 2, 1, 10] * 2, "s": ["b", "B", "a2", "a10"] * 3})
    mf = ml.model_frame("y ~ 1 + (1 | g) + (1 | s)", df)
    assert list(mf.blocks[0].levels) == ["a10", "a2", "b", "B"]  # R's (ICU) order, not code points
    assert list(mf.blocks[1].levels) == [1, 2, 10]


def test_polars_enum_keeps_level_order_and_nulls_are_dropped():
    df = pl.DataFrame({"y": [1.0, 2.0, None, 4.0, 5.0, 7.0], "g": ["b", "a", "b", "a", "c", "c"]})
    df = df.with_columns(pl.col("g").cast(pl.Enum(["c", "b", "a"])))
    with pytest.warns(MissingDataWarning, match="1 row"):
        mf = ml.model_frame("y ~ g + (1 | g)", df)
    assert mf.fixed_names == ("(Intercept)", "gb", "ga")
    assert list(mf.blocks[0].levels) == ["c", "b", "a"]
    assert list(mf.row_index) == [0, 1, 3, 4, 5]


@pytest.mark.parametrize(
    "column, factor, warns",  # checked against lme4 1.1-31's lFormula warnings
    [("ms", 86400000.0, True), ("big", 2000.0, True), ("sm", 1 / 200, False), ("same", 1.0, False)],
)
def test_scale_message_as_lme4(sleep, column, factor, warns):
    sleep[column] = sleep["Days"] * factor
    mf = ml.model_frame(f"Reaction ~ {column} + (1 | Subject)", sleep)
    expected = "Some predictor variables are on very different scales: consider rescaling" if warns else None
    assert mf.scale_message() == expected


def test_scale_message_after_dropping_columns(sleep):
    sleep["small"] = sleep["Days"] / 2000
    with pytest.warns(RankDeficiencyWarning):
        mf = ml.model_frame("Reaction ~ small + Days + (1 | Subject)", sleep)
    assert mf.scale_message() is None  # lme4 checks the scale after dropping 'Days'


def test_infinite_predictor_values(sleep):
    with pytest.raises(DataError, match=r"fixed-effects column 'log\(Days\)' has 18 infinite"):
        ml.model_frame("Reaction ~ log(Days) + (1 | Subject)", sleep)
    with pytest.raises(DataError, match=r"random-effects term \(0 \+ log\(Days\) | Subject\) column"):
        ml.model_frame("Reaction ~ Days + (0 + log(Days) | Subject)", sleep)


def test_undefined_transform_rows_dropped_as_na_omit(sleep):
    with pytest.warns(MissingDataWarning, match="18 rows where a transformation is undefined"):
        mf = ml.model_frame("Reaction ~ sqrt(Days - 1) + (1 | Subject)", sleep)
    assert mf.nobs == 162 and mf.n_dropped_na == 18
    assert not (sleep.loc[mf.row_index, "Days"] == 0).any()
    with pytest.raises(DataError, match="infinite or undefined"):
        ml.model_frame("Reaction ~ sqrt(Days - 1) + (1 | Subject)", sleep, drop_na=False)
    shifted = sleep.assign(Reaction=np.where(sleep["Days"] == 0, 230.0, sleep["Reaction"] + 500))
    with pytest.warns(MissingDataWarning, match="18 rows"):  # log of a negative response
        mf = ml.model_frame("log(Reaction - 240) ~ Days + (1 | Subject)", shifted)
    assert mf.nobs == 162


def test_undefined_transform_in_a_random_effects_term_only_drops_those_rows(sleep):
    """The rows are found column by column in each design (the fixed part has no NaN here)."""
    with pytest.warns(MissingDataWarning, match="18 rows where a transformation is undefined"):
        mf = ml.model_frame("Reaction ~ Days + (sqrt(Days - 1) | Subject)", sleep)
    assert mf.nobs == 162 and not np.isnan(mf.blocks[0].Z).any()


def test_finite_values_whose_sum_overflows_are_accepted(sleep):
    """The finiteness check first looks at the sum; values near the largest double overflow it."""
    big = sleep.assign(h=np.where(sleep["Days"] > 4, 1e308, -1e308))
    mf = ml.model_frame("Reaction ~ h + (1 | Subject)", big)
    assert np.isfinite(mf.X).all() and mf.X.shape == (180, 2)


def test_infinite_values_name_rows_as_r_numbers_them_after_missing_rows_are_dropped():
    sleep = ml.datasets.load("sleepstudy")
    sleep.loc[4, "Days"] = np.inf
    sleep.loc[1, "Reaction"] = np.nan  # dropped first; the row numbers stay the user's
    with pytest.warns(ml.MissingDataWarning), pytest.raises(ml.DataError, match=r"'Days' .*offending rows: 5 \(inf\)"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    sleep = ml.datasets.load("sleepstudy")
    sleep.loc[7, "Reaction"] = -np.inf
    with pytest.raises(ml.DataError, match=r"response 'Reaction' .*offending rows: 8 \(-inf\)"):
        ml.lm("Reaction ~ Days", sleep)
    labelled = ml.datasets.load("sleepstudy").set_index(pd.Index([f"obs{i}" for i in range(180)]))
    labelled.loc["obs3", "Days"] = np.inf
    with pytest.raises(ml.DataError, match=r"offending rows: obs3 \(inf\)"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", labelled)
