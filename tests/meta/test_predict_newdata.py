"""``predict(newdata=)`` of rma and rma_mv: a table of moderator values built by the fit's formula
design gives the numbers of metafor's ``predict(newmods=)`` (fixtures of test_rma, test_rma_mv and
test_meta_btt_predict_robust), indexed like the table."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from test_meta_btt_predict_robust import PRED, pred_fit
from test_rma_mv import REF as MV_REF
from test_rma_mv import TOL_EST, fit_case  # rma_mv's tolerance against metafor (its optimizer stops there)

RMA = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "rma_bcg.json").read_text())["fits"]
COLUMNS = ["pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"]


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="module")
def rma_ablat(bcg):
    return ml.rma("yi", "vi", data=bcg, mods="~ ablat")


def test_rma_newdata_matches_metafor(rma_ablat):
    ref = RMA["REML_ablat"]
    new = pd.DataFrame({"ablat": ref["newmods"]}, index=[f"site{i}" for i in range(len(ref["newmods"]))])
    got = rma_ablat.predict(newdata=new, transf=np.exp)
    assert list(got.index) == list(new.index)
    for col in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        np.testing.assert_allclose(got[col], ref["predict_new"][col], rtol=1e-6)
    same = rma_ablat.predict(np.asarray(ref["newmods"]))
    np.testing.assert_allclose(rma_ablat.predict(newdata=new).to_numpy(), same.to_numpy(), rtol=1e-14)


@pytest.mark.parametrize("name", ["konst_nested_ml_year", "konst_nested_reml_year_t"])
def test_rma_mv_newdata_matches_metafor(name):
    fit, ref = fit_case(name), MV_REF[name]["predict_new"]
    got = fit.predict(newdata=pd.DataFrame({"year": [1970, 1990]}))
    for col in COLUMNS:
        np.testing.assert_allclose(got[col], ref[col], rtol=TOL_EST)
    np.testing.assert_allclose(got.to_numpy(), fit.predict([1970, 1990]).to_numpy(), rtol=1e-12)


def test_factor_moderators_take_the_fits_levels():
    """``mods = ~ factor(time) - 1``: newdata names the levels; metafor's newmods is the identity."""
    ref = PRED["ishak_har_newmods"]
    fit = pred_fit(ref["case"])
    new = pd.DataFrame({"time": [1, 2, 3, 4]}, index=list("abcd"))
    got = fit.predict(newdata=new, tau2_levels=ref["tau2_levels"])
    assert list(got.index) == list("abcd")
    for col in COLUMNS:
        np.testing.assert_allclose(got[col], ref[col], rtol=TOL_EST, atol=1e-8)
    same = fit.predict(np.eye(4), tau2_levels=ref["tau2_levels"])
    np.testing.assert_allclose(got[COLUMNS].to_numpy(), same[COLUMNS].to_numpy(), rtol=1e-12)
    # the levels in another order: the same rows
    again = fit.predict(newdata=new.iloc[[3, 0]], tau2_levels=[4, 1])
    np.testing.assert_allclose(again["pred"], got["pred"].to_numpy()[[3, 0]], rtol=1e-12)


def test_berkey_outcome_levels_as_strings():
    fit, ref = fit_case("berkey_un_reml"), MV_REF["berkey_un_reml"]["predict"]
    got = fit.predict(newdata=pd.DataFrame({"outcome": ["AL", "PD"]}))
    np.testing.assert_allclose(got["pred"], ref["pred"], rtol=TOL_EST)
    np.testing.assert_allclose(got["se"], ref["se"], rtol=TOL_EST)
    same = fit.predict(np.eye(2))
    np.testing.assert_allclose(got[["pred", "se"]].to_numpy(), same[["pred", "se"]].to_numpy(), rtol=1e-12)


def test_factor_levels_and_contrasts_are_the_fits(bcg):
    fit = ml.rma("yi", "vi", data=bcg, mods="~ alloc + ablat")
    new = pd.DataFrame({"alloc": ["systematic", "alternate"], "ablat": [30, 30]})
    X = np.array([[1, 0, 1, 30], [1, 0, 0, 30]], dtype=float)  # alternate is the reference level
    np.testing.assert_allclose(fit.predict(newdata=new)["pred"], X @ fit.beta.to_numpy(), rtol=1e-12)
    with pytest.raises(ml.DataError, match="not seen"):
        fit.predict(newdata=pd.DataFrame({"alloc": ["cluster"], "ablat": [30]}))


def test_newdata_errors(bcg, rma_ablat):
    with pytest.raises(ml.ArgumentError, match="newmods .* or newdata .*not both"):
        rma_ablat.predict([10], newdata=pd.DataFrame({"ablat": [10]}))
    with pytest.raises(ml.UnknownColumnError, match="'ablat' needed for the moderators not found in newdata"):
        rma_ablat.predict(newdata=pd.DataFrame({"latitude": [10]}))
    arrays = ml.rma(bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), mods=bcg[["ablat"]].to_numpy())
    with pytest.raises(ml.ArgumentError, match="newdata needs moderators given as a formula"):
        arrays.predict(newdata=pd.DataFrame({"ablat": [10]}))
    mv = fit_case("konst_nested_ml_year")
    with pytest.raises(ml.ArgumentError, match="not both"):
        mv.predict([1970], newdata=pd.DataFrame({"year": [1970]}))
    with pytest.raises(ml.UnknownColumnError, match="'year'"):
        mv.predict(newdata=pd.DataFrame({"yr": [1970]}))


def test_rank_deficient_moderators_keep_the_fits_columns(bcg):
    """A moderator dropped for collinearity is left out of the newdata design as well."""
    dat = bcg.assign(ablat2=2 * bcg["ablat"])
    with pytest.warns(ml.RankDeficiencyWarning):
        fit = ml.rma("yi", "vi", data=dat, mods="~ ablat + ablat2")
    got = fit.predict(newdata=pd.DataFrame({"ablat": [10.0], "ablat2": [20.0]}))
    assert got["pred"].iloc[0] == pytest.approx(fit.beta.iloc[0] + 10 * fit.beta.iloc[1], rel=1e-12)


def test_intercept_only_model_predicts_the_pooled_effect_per_row(bcg):
    fit = ml.rma("yi", "vi", data=bcg)
    got = fit.predict(newdata=pd.DataFrame({"anything": [1, 2]}, index=["x", "y"]))
    assert list(got.index) == ["x", "y"]
    np.testing.assert_allclose(got["pred"], fit.beta.iloc[0], rtol=1e-14)
