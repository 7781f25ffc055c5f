"""ml.rma against metafor 3.8-1 on dat.bcg (log risk ratios): every tau^2 estimator, Knapp-Hartung,
moderators, Q-profile intervals, predictions, BLUPs, fit statistics and the printed output.

Fixtures: tools/fixtures/meta_rma.R -> tests/fixtures/meta/rma_bcg.json.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "rma_bcg.json").read_text())
FITS = FIXTURE["fits"]
EST_RTOL = 1e-8      # estimates, standard errors, tests: metafor's algorithms are reproduced step by step
INTERVAL_RTOL = 1e-8  # Q-profile limits use the same root finder and tolerance as metafor


@pytest.fixture(scope="module")
def bcg():
    dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    return dat.assign(n=dat["tpos"] + dat["tneg"] + dat["cpos"] + dat["cneg"])


@pytest.fixture(scope="module")
def fits(bcg):
    out = {}
    for key, ref in FITS.items():
        call = ref["call"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.MultilevelWarning)
            out[key] = ml.rma("yi", "vi", data=bcg, method=call["method"], test=call["test"],
                              mods=call["mods"] or None, weights=call.get("weights") or None)
    return out


def close(got, want, rtol, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


def test_escalc_input_matches_metafor(bcg):
    close(bcg["yi"], FIXTURE["yi"], 1e-13)
    close(bcg["vi"], FIXTURE["vi"], 1e-13)


@pytest.mark.parametrize("key", list(FITS))
def test_coefficients(fits, key):
    fit, ref = fits[key], FITS[key]
    assert list(fit.beta.index) == list(np.atleast_1d(ref["names"]))
    for ours, theirs in [("beta", "beta"), ("se", "se"), ("zval", "zval"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub")]:
        close(getattr(fit, ours), ref[theirs], EST_RTOL)
    close(fit.pval, ref["pval"], 1e-6, atol=1e-300)
    close(fit.vb, ref["vb"], EST_RTOL)


@pytest.mark.parametrize("key", list(FITS))
def test_heterogeneity(fits, key):
    fit, ref = fits[key], FITS[key]
    close(fit.tau2, ref["tau2"], EST_RTOL, atol=1e-14)
    if ref["se_tau2"] is not None:
        close(fit.se_tau2, ref["se_tau2"], EST_RTOL)
    else:
        assert np.isnan(fit.se_tau2)
    for name in ("QE", "I2", "H2", "vt", "QM"):
        close(getattr(fit, name), ref[name], EST_RTOL)
    close([fit.QEp, fit.QMp], [ref["QEp"], ref["QMp"]], 1e-6, atol=1e-300)
    assert fit.k == ref["k"] and fit.p == ref["p"]
    if ref.get("R2") not in (None, {}):
        close(fit.R2, ref["R2"], 1e-6, atol=1e-10)
    else:
        assert fit.R2 is None


@pytest.mark.parametrize("key", list(FITS))
def test_fit_statistics(fits, key):
    fit, ref = fits[key], FITS[key]
    ml_stats = fit.fit_stats["ML"]
    reml_stats = fit.fit_stats["REML"]
    order = ["ll", "dev", "AIC", "BIC", "AICc"]
    close([ml_stats[s] for s in order], ref["fit_ML"], 1e-10)
    close([reml_stats[s] for s in order], ref["fit_REML"], 1e-10)
    close(fit.fitstats(), ref["fitstats"], 1e-10)


@pytest.mark.parametrize("key", [k for k, v in FITS.items() if "confint" in v])
def test_qprofile_confint(fits, key):
    ci = fits[key].confint()
    assert list(ci.columns) == ["kind", "estimate", "lower", "upper"]
    ci = ci[ci["kind"] == "random"]
    assert list(ci.index) == ["tau2", "tau", "I2", "H2"]
    ref = FITS[key]["confint"]
    for col, ref_col in (("estimate", "estimate"), ("lower", "ci_lb"), ("upper", "ci_ub")):
        close(ci[col], ref[ref_col], INTERVAL_RTOL)


@pytest.mark.parametrize("key", list(FITS))
def test_predict(fits, key):
    fit, ref = fits[key], FITS[key]
    got = fit.predict()
    cols = ["pred", "se", "ci_lb", "ci_ub"] + ([] if fit.fixed_model else ["pi_lb", "pi_ub"])
    assert list(got.columns) == cols
    for col in cols:
        close(got[col], ref["predict"][col], EST_RTOL, atol=1e-10)
    if "predict_exp" in ref:
        got = fit.predict(transf=np.exp)
        assert got["se"].isna().all()
        for col in cols[:1] + cols[2:]:
            close(got[col], ref["predict_exp"][col], EST_RTOL)


def test_predict_newmods(fits):
    ref = FITS["REML_ablat"]
    got = fits["REML_ablat"].predict(np.asarray(ref["newmods"]), transf=np.exp)
    for col in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        close(got[col], ref["predict_new"][col], EST_RTOL)
    same = fits["REML_ablat"].predict(pd.DataFrame({"ablat": ref["newmods"]}), transf=np.exp)
    close(same["pred"], got["pred"], 1e-14)


@pytest.mark.parametrize("key, fixture", [("REML", "blup"), ("REML_ablat", "blup_ablat")])
def test_blup(fits, key, fixture):
    got = fits[key].blup()
    for col in ("pred", "se", "pi_lb", "pi_ub"):
        close(got[col], FIXTURE[fixture][col], EST_RTOL)


def test_level(bcg):
    fit = ml.rma("yi", "vi", data=bcg, level=90)
    ref = FIXTURE["level90"]
    close(fit.ci_lb, ref["ci_lb"], EST_RTOL)
    close(fit.ci_ub, ref["ci_ub"], EST_RTOL)
    ci = fit.confint().query("kind == 'random'")
    close(ci["lower"], ref["confint_lb"], INTERVAL_RTOL)
    close(ci["upper"], ref["confint_ub"], INTERVAL_RTOL)
    # the coefficient rows of confint() are the Wald limits of the fit (metafor's ci.lb, ci.ub)
    fixed = fit.confint().query("kind == 'fixed'")
    assert list(fixed.index) == ["(Intercept)"]
    close(fixed["lower"], ref["ci_lb"], EST_RTOL)
    close(fixed["upper"], ref["ci_ub"], EST_RTOL)
    assert str(fit).split("\n") == [s.rstrip() for s in ref["print"]]


@pytest.mark.parametrize("key", list(FITS))
def test_print_matches_metafor(fits, key):
    assert str(fits[key]).split("\n") == [s.rstrip() for s in FITS[key]["print"]]


@pytest.mark.parametrize("key", list(FITS))
def test_summary_matches_metafor(fits, key):
    assert str(fits[key].summary()).split("\n") == [s.rstrip() for s in FITS[key]["summary"]]


def test_sei_and_arrays_give_the_same_fit(bcg, fits):
    fit = ml.rma(bcg["yi"].to_numpy(), sei=np.sqrt(bcg["vi"].to_numpy()), mods=bcg[["ablat"]])
    close(fit.beta, fits["REML_ablat"].beta, 1e-12)
    assert list(fit.beta.index) == ["intrcpt", "ablat"]


def test_result_is_frozen(fits):
    with pytest.raises(AttributeError):
        fits["REML"].tau2 = 1.0


def test_to_frame_and_html(fits):
    fit = fits["REML_ablat_year_knha"]
    pd.testing.assert_frame_equal(fit.to_frame(), fit.tidy())
    assert list(fit.tidy()["term"]) == ["(Intercept)", "ablat", "year", "tau2"]
    close(fit.tidy()["statistic"].iloc[:3], fit.zval, 1e-12)
    frame = fit.summary().to_frame()
    assert list(frame.columns) == ["estimate", "se", "tval", "df", "pval", "ci_lb", "ci_ub"]
    assert list(frame.index) == ["intrcpt", "ablat", "year"]
    html = fits["REML_ablat_year_knha"]._repr_html_()
    assert "Mixed-Effects Model (k = 13; tau^2 estimator: REML)" in html and html.startswith("<pre>")
    assert fits["REML"].summary().to_frame().shape == (1, 6)


def test_confint_of_an_equal_effects_model_has_no_heterogeneity_rows(fits):
    ci = fits["FE"].confint()
    assert list(ci.index) == ["(Intercept)"] and list(ci["kind"]) == ["fixed"]
    close(ci[["lower", "upper"]].to_numpy().ravel(), [fits["FE"].ci_lb.iloc[0], fits["FE"].ci_ub.iloc[0]], 1e-12)


def test_summary_html_has_fit_statistics(fits):
    html = fits["REML"].summary()._repr_html_()
    assert "logLik" in html and "AICc" in html and "Test for Heterogeneity:" in html
