"""Shared meta-analysis input handling and metafor-style printing blocks."""

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.meta.shared._format import (fcf, fitstats_lines, fmt_pval, format_btt, heterogeneity_lines,
                                           moderators_lines, model_results_lines)
from multilevel.meta.shared._input import moderators_design, prepare_effects


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.mark.parametrize("formula, names", [
    ("~ ablat + year", ("intrcpt", "ablat", "year")),
    ("~ alloc", ("intrcpt", "allocrandom", "allocsystematic")),
    ("~ factor(alloc)", ("intrcpt", "factor(alloc)random", "factor(alloc)systematic")),
    ("~ ablat:alloc", ("intrcpt", "ablat:allocalternate", "ablat:allocrandom", "ablat:allocsystematic")),
    ("~ 0 + alloc", ("allocalternate", "allocrandom", "allocsystematic")),
])
def test_moderator_names_follow_metafor(bcg, formula, names):
    assert moderators_design(formula, bcg, len(bcg)).names == names


def test_columns_or_arrays_give_the_same_input(bcg):
    a = prepare_effects("yi", "vi", data=bcg, mods="~ ablat")
    b = prepare_effects(bcg["yi"].to_numpy(), sei=np.sqrt(bcg["vi"].to_numpy()), mods=bcg["ablat"].to_numpy())
    np.testing.assert_allclose(a.yi, b.yi)
    np.testing.assert_allclose(a.vi, b.vi)
    np.testing.assert_allclose(a.design.X, b.design.X)


def test_missing_rows_dropped_with_count(bcg):
    dat = bcg.copy()
    dat.loc[[2, 5], "yi"] = np.nan
    dat.loc[7, "ablat"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="3 rows"):
        eff = prepare_effects("yi", "vi", data=dat, mods="~ ablat")
    assert eff.k == 10 and eff.num_dropped == 3
    assert "3" not in eff.slab


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_bad_variances_name_the_rows(bcg, bad):
    dat = bcg.copy()
    dat.loc[4, "vi"] = bad
    with pytest.raises(ml.DataError, match=r"5 \("):
        prepare_effects("yi", "vi", data=dat)


def test_mismatched_lengths():
    with pytest.raises(ml.DataError, match="different lengths"):
        prepare_effects([0.1, 0.2, 0.3], [0.1, 0.2])


def test_unknown_column_named(bcg):
    with pytest.raises(ml.UnknownColumnError, match="ablat"):
        prepare_effects("yi", "vi", data=bcg, mods="~ ablatt")


def test_redundant_moderator_dropped(bcg):
    dat = bcg.assign(ablat2=2 * bcg["ablat"])
    with pytest.warns(ml.RankDeficiencyWarning, match="ablat2"):
        eff = prepare_effects("yi", "vi", data=dat, mods="~ ablat + ablat2")
    assert eff.design.names == ("intrcpt", "ablat")


def test_number_formats():
    assert fcf([0.31322, -0.00001], 4) == ["0.3132", "-0.0000"]
    assert fmt_pval([0.00009, 0.0001, 0.5], 4) == ["<.0001", "0.0001", "0.5000"]
    assert format_btt([2, 3, 5, 7, 8]) == "2:3,5,7:8"


def test_blocks():
    assert heterogeneity_lines(28.3251, 0.0016, 10, int_only=False) == [
        "Test for Residual Heterogeneity:", "QE(df = 10) = 28.3251, p-val = 0.0016"]
    assert moderators_lines(19.8654, 4e-5, [2, 3], 2) == [
        "Test of Moderators (coefficients 2:3):", "QM(df = 2) = 19.8654, p-val < .0001"]
    assert moderators_lines(5.0, 0.03, [2], 1) [0] == "Test of Moderators (coefficient 2):"
    assert fitstats_lines([-12.20237, 24.40474, 28.40474, 29.37456, 29.73808]) == [
        "  logLik  deviance       AIC       BIC      AICc", "-12.2024   24.4047   28.4047   29.3746   29.7381"]


def test_wide_model_results_wrap_like_r():
    lines = model_results_lines(
        ["intrcpt", "factor(alloc)random", "factor(alloc)systematic"], [-0.7186, 0.4240, 0.3052],
        [0.0780, 0.0952, 0.1231], [-9.2114, 4.4527, 2.4786], [1e-9, 1e-5, 0.0132],
        [-0.8714, 0.2374, 0.0639], [-0.5657, 0.6107, 0.5466])
    assert lines[2] == "                         estimate      se     zval    pval    ci.lb    ci.ub"
    assert lines[6:10] == ["", "intrcpt                  ***", "factor(alloc)random      ***",
                           "factor(alloc)systematic    *"]


def test_knha_table_has_df_column():
    lines = model_results_lines(["intrcpt", "ablat"], [0.1, -0.03], [0.2, 0.01], [0.5, -3.0], [0.6, 0.01],
                                [-0.3, -0.05], [0.5, -0.01], df=[11, 11])
    assert lines[2].split() == ["estimate", "se", "tval", "df", "pval", "ci.lb", "ci.ub"]
    assert lines[4].split()[-1] == "*"


def test_character_levels_follow_r_collation():
    data = pd.DataFrame({"g": ["b", "B", "a", "A", "b", "a"], "x": [1.0, 2, 3, 4, 5, 6]})
    assert moderators_design("~ g", data, 6).names == ("intrcpt", "gA", "gb", "gB")
    assert moderators_design("~ factor(g)", data, 6).names == ("intrcpt", "factor(g)A", "factor(g)b",
                                                                "factor(g)B")
