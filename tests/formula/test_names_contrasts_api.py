"""Quoted and dotted column names, expression responses and contrasts=: parsing, new data and errors.

The numbers are checked against R in test_formula_names.py; these tests cover
what R has no fixture for (how the formula is parsed, rebuilding designs for
new data, the messages of mistakes).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import ArgumentError, DataError, FormulaError, UnknownColumnError
from multilevel.formula import parse_formula
from multilevel.formula._quoting import expression_names, formula_columns, quote_dotted
from multilevel.formula._response import evaluate_response


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    n = 60
    return pd.DataFrame({
        "Solar.R": rng.uniform(50, 300, n), "Temp F": rng.uniform(55, 95, n), "y": rng.normal(20, 5, n),
        "size": rng.integers(5, 30, n).astype(float), "g": np.repeat([f"g{i}" for i in range(6)], 10),
        "f": pd.Categorical(np.tile(["lo", "mid", "hi"], 20), categories=["lo", "mid", "hi"]),
    })


@pytest.mark.parametrize(("code", "expected"), [
    ("Solar.R", "`Solar.R`"),
    ("log(Solar.R) + np.log(x)", "log(`Solar.R`) + np.log(x)"),
    ("C(f, contr.sum) + as.numeric(x)", "C(f, contr.sum) + as.numeric(x)"),
    ("`Temp F` + 'a.b' + 1.5e-3 + .x", "`Temp F` + 'a.b' + 1.5e-3 + `.x`"),
])
def test_quote_dotted(code, expected):
    assert quote_dotted(code) == expected


def test_expression_names_map_quotes_back():
    names, called = expression_names("log(`Solar.R`) + Q('Temp F') * np.sqrt(x)")
    assert names == {"Solar.R", "Temp F", "x"}
    assert called == {"log"}


def test_formula_columns_of_a_moderators_formula():
    assert formula_columns("~ abs.lat + log(`pub year`) + factor(alloc)") == ["abs.lat", "alloc", "pub year"]


@pytest.mark.parametrize(("formula", "code", "terms"), [
    ("incidence/size ~ period + (1 | herd)", "incidence/size", ["1 | herd"]),
    ("(a/b)^2 ~ x", "(a/b)**2", []),
    ("`Solar.R` ~ Solar.R.100 + (Solar.R.100 || Month.f)", "`Solar.R`",
     ["1 | Month.f", "0 + Solar.R.100 | Month.f"]),
    ("y - 1 ~ `Temp F` + (0 + `Temp F` | `my group`)", "y - 1", ["0 + `Temp F` | `my group`"]),
])
def test_parse_response_and_quoted_terms(formula, code, terms):
    parsed = parse_formula(formula)
    assert parsed.response_code == code
    assert [str(t) for t in parsed.terms] == terms


def test_names_follow_r_quoting(frame):
    mf = ml.model_frame("y ~ `Temp F` + log(`Solar.R`) + Q('Temp F'):f + (`Temp F` | g)", frame)
    assert mf.fixed_names == ("(Intercept)", "`Temp F`", "log(Solar.R)", "`Temp F`:fmid", "`Temp F`:fhi")
    assert mf.blocks[0].column_names == ("(Intercept)", "`Temp F`")
    np.testing.assert_array_equal(mf.X[:, 2], np.log(frame["Solar.R"]))


def test_response_name_is_the_column(frame):
    assert ml.model_frame("`Solar.R` ~ y", frame).response == "Solar.R"
    assert ml.model_frame("Q('Temp F') ~ y", frame).response == "Temp F"
    assert ml.model_frame("y/size ~ 1", frame).response == "y/size"


def test_response_arithmetic_is_r_arithmetic(frame):
    y = frame["y"].to_numpy()
    cases = {"y/size": y / frame["size"], "y - 1": y - 1, "I(y/size)": y / frame["size"],
             "(y/2)^2": (y / 2) ** 2, "log(y + 1)": np.log(y + 1), "-y": -y}
    for lhs, expected in cases.items():
        np.testing.assert_allclose(ml.model_frame(f"{lhs} ~ 1", frame).y, expected, err_msg=lhs)


def test_cbind_gives_columns_for_binomial_models(frame):
    values = evaluate_response("cbind(y, size - y)", frame, {}, "cbind(y, size - y) ~ 1")
    assert values.shape == (len(frame), 2)
    with pytest.raises(DataError, match="one numeric column, but it gives 2 columns"):
        ml.model_frame("cbind(y, size) ~ 1", frame)


@pytest.mark.parametrize(("formula", "error", "message"), [
    ("y + ~ x", FormulaError, "response 'y \\+' is not an expression"),
    ("log(g) ~ 1", DataError, "'g' must be numeric"),
    ("nosuch(y) ~ 1", FormulaError, "cannot evaluate the response"),
    ("y/Solar ~ 1", UnknownColumnError, "'Solar'"),
])
def test_response_mistakes(frame, formula, error, message):
    with pytest.raises(error, match=message):
        ml.model_frame(formula, frame)


def test_new_data_with_quoted_names_and_contrasts(frame):
    fit = ml.lm("log(y) ~ `Temp F` + log(Solar.R) + f", frame, contrasts={"f": "contr.sum"})
    assert fit.names == ("(Intercept)", "`Temp F`", "log(Solar.R)", "f1", "f2")
    np.testing.assert_allclose(fit.predict(frame.iloc[:7]).to_numpy(), fit.fitted.to_numpy()[:7], rtol=1e-12)
    with pytest.raises(UnknownColumnError, match="Solar.R"):
        fit.predict(frame.drop(columns="Solar.R"))


def test_contrasts_do_not_reach_random_terms(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = ml.model_frame("y ~ f + (f | g)", frame, contrasts={"f": "contr.helmert"})
    assert mf.fixed_names == ("(Intercept)", "f1", "f2")
    assert mf.blocks[0].column_names == ("(Intercept)", "fmid", "fhi")
    np.testing.assert_array_equal(np.unique(mf.X[:, 1]), [-1.0, 0.0, 1.0])


@pytest.mark.parametrize(("contrasts", "message"), [
    ({"f": "sum"}, "contrasts\\['f'\\] = 'sum' is not one of contr.treatment"),
    ({"h": "contr.sum"}, "'h', which is not a variable of the fixed part"),
    ({"y": "contr.sum"}, "'y', which is not a variable of the fixed part"),
    ({"size": "contr.sum"}, "'size', which is not a factor"),
    (["f", "contr.sum"], "must be a dict"),
])
def test_contrasts_mistakes(frame, contrasts, message):
    with pytest.raises(ArgumentError, match=message):
        ml.model_frame("y ~ f + size", frame, contrasts=contrasts)


def test_contrasts_on_a_string_column_and_lm_list(frame):
    fits = ml.lm_list("y ~ g | f", frame, contrasts={"g": "contr.sum"})
    assert list(fits.coef.columns) == ["(Intercept)", "g1", "g2", "g3", "g4", "g5"]


def test_lm_list_quoted_group_and_dotted_predictor(frame):
    data = frame.rename(columns={"g": "my group"})
    fits = ml.lm_list("y ~ Solar.R | `my group`", data)
    ref = ml.lm_list("y ~ Solar.R | g", frame)
    assert list(fits.coef.columns) == ["(Intercept)", "Solar.R"]
    np.testing.assert_allclose(fits.coef.to_numpy(), ref.coef.to_numpy(), rtol=1e-12)


def test_polars_table_with_quoted_names(frame):
    pl = pytest.importorskip("polars")
    data = frame.rename(columns={"y": "y a"})
    got = ml.lm("`y a`/size ~ log(Solar.R) + `Temp F`", pl.from_pandas(data[["y a", "size", "Solar.R", "Temp F"]]))
    ref = ml.lm("y/size ~ log(Solar.R) + `Temp F`", frame)
    assert got.names == ref.names == ("(Intercept)", "log(Solar.R)", "`Temp F`")
    np.testing.assert_allclose(got.fit.coef, ref.fit.coef, rtol=1e-12)
