"""Bad input to ml.rma: clear errors and warnings, never a NumPy traceback."""

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.mark.parametrize("bad", [0.0, -0.2, np.inf])
def test_non_positive_variance_names_the_study(bcg, bad):
    dat = bcg.copy()
    dat.loc[3, "vi"] = bad
    with pytest.raises(ml.DataError, match=r"vi must be positive.*4 \("):
        ml.rma("yi", "vi", data=dat)


def test_nan_rows_dropped_with_a_count(bcg):
    dat = bcg.copy()
    dat.loc[[0, 5], "yi"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="2 rows"):
        fit = ml.rma("yi", "vi", data=dat)
    assert fit.k == 11 and fit.num_dropped == 2
    ref = ml.rma("yi", "vi", data=dat.dropna(subset=["yi"]))
    assert fit.tau2 == pytest.approx(ref.tau2, rel=1e-12)


def test_nan_in_moderator_drops_the_row(bcg):
    dat = bcg.copy()
    dat["ablat"] = dat["ablat"].astype(float)
    dat.loc[2, "ablat"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="1 row"):
        fit = ml.rma("yi", "vi", data=dat, mods="~ ablat")
    assert fit.k == 12


def test_mismatched_lengths():
    with pytest.raises(ml.DataError, match="different lengths"):
        ml.rma([0.1, 0.2, 0.3, 0.4], [0.01, 0.02, 0.03])


def test_vi_and_sei_both_or_neither(bcg):
    with pytest.raises(ml.DataError, match="exactly one"):
        ml.rma("yi", data=bcg)
    with pytest.raises(ml.DataError, match="exactly one"):
        ml.rma("yi", "vi", sei="vi", data=bcg)


def test_unknown_method_and_test(bcg):
    with pytest.raises(ml.ModelSpecificationError, match="unknown method"):
        ml.rma("yi", "vi", data=bcg, method="XYZ")
    with pytest.raises(ml.ModelSpecificationError, match="test must be"):
        ml.rma("yi", "vi", data=bcg, test="t2")


def test_too_many_coefficients():
    with pytest.raises(ml.ModelSpecificationError, match="needs more than"):
        ml.rma([0.1, 0.3], [0.01, 0.02], mods=[1.0, 2.0])


def test_formula_errors(bcg):
    with pytest.raises(ml.FormulaError, match="start with"):
        ml.rma("yi", "vi", data=bcg, mods="ablat")
    with pytest.raises(ml.UnknownColumnError, match="latitude"):
        ml.rma("yi", "vi", data=bcg, mods="~ latitude")


def test_non_numeric_effect_column(bcg):
    with pytest.raises(ml.DataError, match="numeric"):
        ml.rma("author", "vi", data=bcg)


def test_bad_slab_length(bcg):
    with pytest.raises(ml.DataError, match="slab has 2 labels"):
        ml.rma("yi", "vi", data=bcg, slab=["a", "b"])


def test_knha_with_fixed_model_warns(bcg):
    with pytest.warns(ml.MultilevelWarning, match="Knapp-Hartung"):
        ml.rma("yi", "vi", data=bcg, method="FE", test="knha")


def test_newmods_shape_checked(bcg):
    fit = ml.rma("yi", "vi", data=bcg, mods="~ ablat + year")
    with pytest.raises(ml.DataError, match="columns"):
        fit.predict(np.ones((2, 3)))
    with pytest.raises(ml.ModelSpecificationError, match="no moderators"):
        ml.rma("yi", "vi", data=bcg).predict([1.0])


def test_polars_and_dict_input(bcg):
    fit = ml.rma("yi", "vi", data={"yi": bcg["yi"].to_numpy(), "vi": bcg["vi"].to_numpy()})
    assert fit.k == 13


def test_level_as_proportion(bcg):
    a = ml.rma("yi", "vi", data=bcg, level=0.9)
    b = ml.rma("yi", "vi", data=bcg, level=90)
    assert a.level == 90 and a.ci_lb.equals(b.ci_lb)
    with pytest.raises(ml.ArgumentError, match="level"):
        ml.rma("yi", "vi", data=bcg, level=150)


def test_negative_or_missing_weights(bcg):
    with pytest.raises(ml.DataError, match="weights must be non-negative"):
        ml.rma("yi", "vi", data=bcg, weights=-np.ones(13))
    w = np.ones(13)
    w[3] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="1 row"):
        assert ml.rma("yi", "vi", data=bcg, weights=w).k == 12
