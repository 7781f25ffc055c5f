"""Input errors of escalc, rma and rma_mv name the argument or column, the rows and the values.

Missing values (NaN) drop rows as R's ``na.omit`` (tested in test_rma_input.py); infinite
values are refused, before any NumPy arithmetic can warn.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel._data import offending_rows, row_labels


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="module")
def konst():
    return ml.datasets.load("konstantopoulos2011")


def _set(frame: pd.DataFrame, column: str, row: int, value: float) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(float)
    out.loc[row, column] = value
    return out


def _refused(fn, match: str) -> None:
    """The call raises DataError matching ``match`` and issues no NumPy RuntimeWarning first."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ml.DataError, match=match):
            fn()


# ---------------------------------------------------------------------------------------------
# the shared phrase
# ---------------------------------------------------------------------------------------------

def test_offending_rows_lists_five_then_counts_the_rest():
    values = -np.arange(1.0, 9.0)
    assert offending_rows(values < 0, values=values) == \
        "offending rows: 1 (-1), 2 (-2), 3 (-3), 4 (-4), 5 (-5) ... and 3 more"
    assert offending_rows([2], ["a", "b", "c"]) == "offending rows: c"


def test_row_labels_are_one_based_or_the_index():
    assert row_labels(pd.DataFrame({"x": [1, 2]}), 2) == ["1", "2"]
    assert row_labels(pd.DataFrame({"x": [1, 2]}, index=[10, 20]), 2) == ["10", "20"]
    assert row_labels(None, 2) == ["1", "2"]


# ---------------------------------------------------------------------------------------------
# rma
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_rma_refuses_infinite_yi(bcg, bad):
    _refused(lambda: ml.rma("yi", "vi", data=_set(bcg, "yi", 2, bad)),
             rf"^yi has infinite values; offending rows: 3 \({bad}\)$")


def test_rma_refuses_infinite_yi_given_as_array(bcg):
    y = bcg["yi"].to_numpy().copy()
    y[[0, 12]] = np.inf
    _refused(lambda: ml.rma(y, bcg["vi"].to_numpy()), r"yi has infinite values; offending rows: 1 \(inf\), 13 \(inf\)")


def test_rma_refuses_infinite_vi(bcg):
    _refused(lambda: ml.rma("yi", "vi", data=_set(bcg, "vi", 0, np.inf)),
             r"^vi must be positive and finite; offending rows: 1 \(inf\)$")


@pytest.mark.parametrize("bad", [np.inf, -0.1, 0.0])
def test_rma_sei_message_shows_the_standard_error(bcg, bad):
    sei = np.sqrt(bcg["vi"].to_numpy())
    sei[4] = bad
    _refused(lambda: ml.rma("yi", sei=sei, data=bcg), rf"^sei must be positive and finite; offending rows: 5 \({bad:g}\)$")


def test_rma_refuses_infinite_moderator_column(bcg):
    _refused(lambda: ml.rma("yi", "vi", data=_set(bcg, "ablat", 4, np.inf), mods="~ ablat"),
             r"^the moderator column 'ablat' has infinite values; offending rows: 5 \(inf\)$")


def test_rma_refuses_infinite_moderator_array(bcg):
    mods = bcg[["ablat", "year"]].astype(float)
    mods.loc[7, "year"] = -np.inf
    _refused(lambda: ml.rma("yi", "vi", data=bcg, mods=mods),
             r"^the moderator 'year' has infinite values; offending rows: 8 \(-inf\)$")
    _refused(lambda: ml.rma("yi", "vi", data=bcg, mods=mods.to_numpy()),
             r"^mods has infinite values; offending rows: 8 \(-inf\)$")


def test_rma_refuses_a_moderator_transformation_that_is_infinite(bcg):
    dat = bcg.assign(z=np.arange(13.0))
    _refused(lambda: ml.rma("yi", "vi", data=dat, mods="~ np.log(z)"),
             r"moderators design column 'np.log\(z\)' has infinite values .*offending rows: 1 \(-inf\)$")


def test_rma_drops_rows_where_a_moderator_transformation_is_undefined(bcg):
    dat = bcg.assign(z=np.arange(13.0) - 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(ml.MissingDataWarning, match=r"2 rows where a transformation is undefined \(NaN\) dropped \(11 of 13 rows used\): rows 1, 2"):
            fit = ml.rma("yi", "vi", data=dat, mods="~ np.log(z)")
    ref = ml.rma("yi", "vi", data=dat.iloc[2:], mods="~ np.log(z)")
    assert fit.k == 11 and fit.num_dropped == 2
    np.testing.assert_allclose(fit.beta, ref.beta, rtol=1e-12)
    assert fit.slab[:2] == ("3", "4")


def test_rma_weights_name_rows(bcg):
    w = np.ones(13)
    w[[1, 6]] = [-1.0, np.inf]
    _refused(lambda: ml.rma("yi", "vi", data=bcg, weights=w),
             r"^weights must be non-negative and finite; offending rows: 2 \(-1\), 7 \(inf\)$")


def test_rma_rows_are_the_index_labels_of_a_relabelled_table(bcg):
    dat = _set(bcg, "yi", 3, np.inf).set_index("author")
    _refused(lambda: ml.rma("yi", "vi", data=dat), rf"offending rows: {re.escape(dat.index[3])} \(inf\)$")


def test_rma_nan_still_drops_while_inf_is_refused(bcg):
    dat = _set(_set(bcg, "yi", 0, np.nan), "yi", 5, np.inf)
    with pytest.warns(ml.MissingDataWarning, match="1 row"):
        _refused(lambda: ml.rma("yi", "vi", data=dat), r"yi has infinite values; offending rows: 6 \(inf\)$")


# ---------------------------------------------------------------------------------------------
# rma_mv
# ---------------------------------------------------------------------------------------------

def test_rma_mv_refuses_infinite_yi(konst):
    _refused(lambda: ml.rma_mv("yi", "vi", random="~ 1 | district", data=_set(konst, "yi", 2, np.inf)),
             r"^yi has infinite values; offending rows: 3 \(inf\)$")


def test_rma_mv_names_V(konst):
    _refused(lambda: ml.rma_mv("yi", "vi", random="~ 1 | district", data=_set(konst, "vi", 0, -np.inf)),
             r"^V must be positive and finite; offending rows: 1 \(-inf\)$")


def test_rma_mv_refuses_infinite_covariances(konst):
    V = np.diag(konst["vi"].to_numpy())
    V[3, 4] = V[4, 3] = np.inf
    _refused(lambda: ml.rma_mv(konst["yi"].to_numpy(), V, random="~ 1 | district", data=konst),
             r"^V has infinite or missing covariances; offending rows: 4 \(inf\), 5 \(inf\)$")


def test_rma_mv_asymmetric_V_names_the_entries(konst):
    V = np.diag(konst["vi"].to_numpy())
    V[3, 4] = 0.01
    with pytest.raises(ml.DataError, match=r"V must be a symmetric matrix; V\[4, 5\] = 0.01 but V\[5, 4\] = 0"):
        ml.rma_mv(konst["yi"].to_numpy(), V, random="~ 1 | district", data=konst)


def test_rma_mv_nan_on_the_diagonal_drops_the_estimate(konst):
    V = np.diag(konst["vi"].to_numpy())
    V[2, 2] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="1 row"):
        fit = ml.rma_mv(konst["yi"].to_numpy(), V, random="~ 1 | district", data=konst)
    ref = ml.rma_mv("yi", "vi", random="~ 1 | district", data=konst.drop(index=2))
    np.testing.assert_allclose(fit.sigma2, ref.sigma2, rtol=1e-6)


def test_rma_mv_refuses_infinite_moderators(konst):
    _refused(lambda: ml.rma_mv("yi", "vi", mods="~ year", random="~ 1 | district",
                               data=_set(konst, "year", 7, np.inf)),
             r"^the moderator column 'year' has infinite values; offending rows: 8 \(inf\)$")


# ---------------------------------------------------------------------------------------------
# escalc
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("measure, kwargs, match", [
    ("OR", dict(ai=[1, -2, 3], bi=[4, 5, 6], ci=[1, 1, 1], di=[2, 2, 2]),
     r"^ai has negative counts; offending rows: 2 \(-2\)$"),
    ("RR", dict(ai=[1, 2, 30], n1i=[4, 5, 6], ci=[1, 1, 1], n2i=[2, 2, 2]),
     r"^bi \(computed as n1i - ai\) has negative counts; offending rows: 3 \(-24\)$"),
    ("SMD", dict(m1i=[1, 2], m2i=[1, 1], sd1i=[1, 1], sd2i=[1, -0.5], n1i=[10, 10], n2i=[10, 10]),
     r"^sd2i has negative standard deviations; offending rows: 2 \(-0.5\)$"),
    ("MD", dict(m1i=[1, 2], m2i=[1, 1], sd1i=[1, 1], sd2i=[1, 1], n1i=[0, 10], n2i=[10, 10]),
     r"^n1i has group sizes <= 0; offending rows: 1 \(0\)$"),
    ("ZCOR", dict(ri=[0.1, 1.2, -3], ni=[10, 10, 10]),
     r"^ri has correlations > 1 or < -1; offending rows: 2 \(1.2\), 3 \(-3\)$"),
    ("COR", dict(ri=[0.1, 0.2], ni=[10, -1]), r"^ni has sample sizes <= 0; offending rows: 2 \(-1\)$"),
    ("PLO", dict(xi=[3, 12], ni=[10, 10]), r"^mi \(computed as ni - xi\) has negative counts; offending rows: 2 \(-2\)$"),
    ("IRR", dict(x1i=[3, -2], x2i=[1, 1], t1i=[1, 1], t2i=[1, 1]), r"^x1i has negative counts; offending rows: 2 \(-2\)$"),
    ("IRR", dict(x1i=[3, 2], x2i=[1, 1], t1i=[1, 0], t2i=[1, 1]), r"^t1i has person-times <= 0; offending rows: 2 \(0\)$"),
    ("MD", dict(m1i=[1, np.inf], m2i=[1, 1], sd1i=[1, 1], sd2i=[1, 1], n1i=[10, 10], n2i=[10, 10]),
     r"^m1i has infinite values; offending rows: 2 \(inf\)$"),
    ("OR", dict(ai=[1, 2], bi=[4, -np.inf], ci=[1, 1], di=[2, 2]), r"^bi has infinite values; offending rows: 2 \(-inf\)$"),
])
def test_escalc_messages_name_argument_rows_and_values(measure, kwargs, match):
    _refused(lambda: ml.escalc(measure, **kwargs), match)


def test_escalc_rows_of_a_table_and_truncation():
    bcg = ml.datasets.load("bcg")
    neg = bcg.assign(tpos=-bcg["tpos"])
    with pytest.raises(ml.DataError, match=r"^ai has negative counts; offending rows: 1 \(-4\), 2 \(-6\), 3 \(-3\), "
                                           r"4 \(-62\), 5 \(-33\) \.\.\. and 8 more$"):
        ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=neg)
    one = bcg.assign(cneg=bcg["cneg"].where(bcg.index != 6, -1)).set_index("author")
    with pytest.raises(ml.DataError, match=rf"^di has negative counts; offending rows: {re.escape(one.index[6])} \(-1\)$"):
        ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=one)


def test_escalc_nan_inputs_give_nan_outputs():
    out = ml.escalc("OR", ai=[1, np.nan], bi=[4, 5], ci=[1, 1], di=[2, 2])
    assert np.isfinite(out["yi"][0]) and np.isnan(out["yi"][1])


def test_rma_mv_fixed_components_name_the_entries(konst):
    with pytest.raises(ml.ModelSpecificationError, match=r"fixed values of sigma2 must be finite and non-negative; "
                                                         r"got sigma2\[2\] = -0.1"):
        ml.rma_mv("yi", "vi", random=["~ 1 | district", "~ 1 | school"], sigma2=[None, -0.1], data=konst)
    with pytest.raises(ml.ModelSpecificationError, match=r"fixed values of rho must be finite and lie in \[-1, 1\]; "
                                                         r"got rho\[1\] = 1.5"):
        ml.rma_mv("yi", "vi", random="~ school | district", rho=1.5, data=konst)


def test_robust_cluster_with_missing_values_names_the_rows(konst):
    fit = ml.rma_mv("yi", "vi", random="~ 1 | district", data=konst)
    cluster = konst["district"].to_numpy(dtype=float)
    cluster[[3, 40]] = np.nan
    with pytest.raises(ml.DataError, match=r"cluster variable has missing values; offending rows: 4, 41$"):
        fit.robust(cluster)
