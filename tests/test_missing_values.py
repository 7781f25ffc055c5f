"""One missing-value rule for every fit (R's and metafor's ``na.action = na.omit``).

Each fit type drops the rows with a missing value in any input it uses (yi, vi or sei,
moderators, cluster; the response and predictors; the cells of a 2x2 table), warns with one
:class:`~multilevel.MissingDataWarning` worded the same everywhere (the inputs, the count and the
rows), points the warning at the user's call, and records the labels of the dropped rows in
``dropped_rows``.
"""

import re
import warnings

import numpy as np
import pytest

import multilevel as ml

WORDING = re.compile(r"^(\d+) rows? with missing values in (.+) dropped \((\d+) of (\d+) rows used\): rows? (.+)$")


def _bcg():
    dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg")).copy()
    return dat


def _rma(dat):
    dat.loc[[2, 6], "yi"] = np.nan
    return ml.rma("yi", "vi", data=dat), ("3", "7"), "yi", 13


def _rma_mods(dat):
    dat.loc[4, "ablat"] = np.nan
    dat.loc[8, "vi"] = np.nan
    return ml.rma("yi", "vi", mods="~ ablat", data=dat), ("5", "9"), "vi, ablat", 13


def _rma_arrays(dat):
    yi = dat["yi"].to_numpy().copy()
    yi[0] = np.nan
    return ml.rma(yi, sei=np.sqrt(dat["vi"].to_numpy())), ("1",), "yi", 13


def _rma_mv(dat):
    dat.loc[3, "alloc"] = None
    return ml.rma_mv("yi", "vi", random="~ 1 | alloc", data=dat), ("4",), "alloc", 13


def _rma_mh(dat):
    dat.loc[[0, 12], "tpos"] = np.nan
    return ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat), ("1", "13"), "tpos", 13


def _rma_peto(dat):
    dat.loc[5, "cneg"] = np.nan
    return ml.rma_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat), ("6",), "cneg", 13


def _rma_glmm(dat):
    dat.loc[5, "cneg"] = np.nan
    return ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat, method="EE"), ("6",), "cneg", 13


def _brma(dat):
    dat.loc[1, "yi"] = np.nan
    return (ml.brma("yi", "vi", data=dat, measure="RR", seed=1, chains=1, draws=100, warmup=100, progress=False),
            ("2",), "yi", 13)


def _lmer(_):
    sleep = ml.datasets.load("sleepstudy").copy()
    sleep.loc[[3, 7], "Reaction"] = np.nan
    return ml.lmer("Reaction ~ Days + (1 | Subject)", sleep), ("4", "8"), "Reaction", 180


def _lm(_):
    sleep = ml.datasets.load("sleepstudy").copy()
    sleep.loc[9, "Days"] = np.nan
    return ml.lm("Reaction ~ Days", sleep), ("10",), "Days", 180


def _glmer(_):
    cbpp = ml.datasets.load("cbpp").copy()
    cbpp.loc[4, "period"] = None
    return (ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"),
            ("5",), "period", 56)


FITS = {"rma": _rma, "rma_mods": _rma_mods, "rma_arrays": _rma_arrays, "rma_mv": _rma_mv, "rma_mh": _rma_mh,
        "rma_peto": _rma_peto, "rma_glmm": _rma_glmm, "brma": _brma, "lmer": _lmer, "lm": _lm, "glmer": _glmer}


@pytest.mark.parametrize("kind", list(FITS))
def test_rows_with_missing_values_are_dropped_with_one_warning(kind):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit, rows, columns, n = FITS[kind](_bcg())
    missing = [w for w in caught if issubclass(w.category, ml.MissingDataWarning)
               and "with missing values in" in str(w.message)]
    assert len(missing) == 1, [str(w.message) for w in caught]
    match = WORDING.match(str(missing[0].message))
    assert match, str(missing[0].message)
    count, named, used, total, listed = match.groups()
    assert int(count) == len(rows) and named == columns
    assert int(used) == n - len(rows) and int(total) == n
    assert tuple(listed.split(", ")) == rows
    assert missing[0].filename == __file__  # the warning points at the user's call
    assert fit.dropped_rows == rows
    assert fit.nobs == n - len(rows)


def test_fits_without_missing_values_drop_nothing(rma_fit, rma_mv_fit, lmer_fit, lm_fit, rma_mh_fit, brma_fit):
    for fit in (rma_fit, rma_mv_fit, lmer_fit, lm_fit, rma_mh_fit, brma_fit):
        assert fit.dropped_rows == ()


def test_dropped_rows_use_the_data_index_labels():
    dat = _bcg()
    dat.index = [f"study{i}" for i in range(1, 14)]
    dat.loc["study4", "yi"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match=r"1 row with missing values in yi dropped \(12 of 13 rows "
                                                   r"used\): row study4$"):
        fit = ml.rma("yi", "vi", data=dat)
    assert fit.dropped_rows == ("study4",) and fit.num_dropped == 1


def test_undefined_transformations_are_dropped_and_recorded():
    dat = _bcg().assign(z=np.arange(13.0) - 1.5)
    with pytest.warns(ml.MissingDataWarning, match=r"^2 rows where a transformation is undefined \(NaN\) "
                                                   r"dropped \(11 of 13 rows used\): rows 1, 2$"):
        fit = ml.rma("yi", "vi", data=dat, mods="~ np.log(z)")
    assert fit.dropped_rows == ("1", "2")


def test_many_dropped_rows_are_listed_up_to_ten():
    sleep = ml.datasets.load("sleepstudy").copy()
    sleep.loc[:11, "Reaction"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match=r"12 rows .* rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 \.\.\. and 2 more$"):
        fit = ml.lm("Reaction ~ Days", sleep)
    assert len(fit.dropped_rows) == 12
