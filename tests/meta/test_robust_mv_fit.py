"""``RmaMvFit.robust()`` returns a fit (metafor's ``robust.rma`` object of an ``rma.mv`` model): coef, vcov,
confint and predict against metafor 3.8-1 (fixtures from tools/fixtures/meta_robust_fit.R), the result
protocol, and CR2's per-prediction Satterthwaite df."""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel._protocol import TIDY_COLUMNS

DOC = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "meta" / "robust_mv_fit.json").read_text())
CASES = [name for name in DOC if isinstance(DOC[name], dict)]
KW = {"random": "~ 1 | district/school"}


@pytest.fixture(scope="module")
def konst():
    return ml.datasets.load("konstantopoulos2011")


def _robust(ref, konst):
    fit = ml.rma_mv("yi", "vi", data=konst, **{**KW, **(ref["call"] or {})})
    return fit, fit.robust(ref["cluster"], adjust=ref["adjust"])


def _vec(value):
    return np.atleast_1d(np.asarray(value, dtype=float))


@pytest.mark.parametrize("name", CASES)
def test_coef_vcov_confint_match_metafor(name, konst):
    ref = DOC[name]
    fit, rob = _robust(ref, konst)
    p = len(_vec(ref["coef"]))
    np.testing.assert_allclose(rob.params.to_numpy(), _vec(ref["coef"]), rtol=1e-5)
    np.testing.assert_allclose(rob.vcov().to_numpy(), _vec(ref["vcov"]).reshape(p, p), rtol=1e-4)
    for level, key in ((0.9, "ci90"), (None, "ci95")):
        ci = rob.confint(level=level)
        np.testing.assert_allclose(ci["lower"], _vec(ref[key + "_lb"]), rtol=1e-4)
        np.testing.assert_allclose(ci["upper"], _vec(ref[key + "_ub"]), rtol=1e-4)
    np.testing.assert_allclose(rob.tidy()["df"], np.broadcast_to(_vec(ref["dfs"]), (p,)))
    assert rob.loglik == pytest.approx(ref["logLik"], rel=1e-8) and rob.loglik == fit.loglik
    assert rob.aic == pytest.approx(ref["AIC"], rel=1e-8) and rob.bic == pytest.approx(ref["BIC"], rel=1e-8)


@pytest.mark.parametrize("name", CASES)
def test_predict_matches_metafor(name, konst):
    ref = DOC[name]
    _, rob = _robust(ref, konst)
    pred = rob.predict(ref["newmods"])
    for col, key in (("pred", "pred"), ("se", "pred_se"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"),
                     ("pi_lb", "pi_lb"), ("pi_ub", "pi_ub")):
        np.testing.assert_allclose(pred[col].to_numpy(), _vec(ref[key]), rtol=1e-4, err_msg=col)
    # the df of each prediction is the robust one (metafor's ddf), not the model's k - p
    df = rob.report.contrast_df(np.ones((len(pred), rob.fit.p)))
    np.testing.assert_allclose(df, _vec(ref["pred_ddf"]))


def test_robust_mv_fit_is_frozen_and_answers_the_protocol(konst):
    fit = ml.rma_mv("yi", "vi", data=konst, mods="~ year", **KW)
    rob = fit.robust("district")
    assert isinstance(rob, ml.RobustRmaMvFit)
    with pytest.raises(AttributeError):
        rob.fit = fit
    assert list(rob.params.index) == ["(Intercept)", "year"] and list(rob.vcov().index) == ["(Intercept)", "year"]
    tidy = rob.tidy()
    assert tuple(tidy.columns[:len(TIDY_COLUMNS)]) == TIDY_COLUMNS
    pd.testing.assert_frame_equal(rob.to_frame(), tidy)
    np.testing.assert_allclose(tidy["std_error"], np.sqrt(np.diag(rob.vcov())), rtol=1e-12)
    assert rob.nobs == fit.nobs and rob.fitstats().equals(fit.fitstats())
    assert str(rob) == str(rob.summary())
    table = rob.summary().to_frame()
    assert list(table.index) == ["intrcpt", "year"] and list(table.columns)[:3] == ["estimate", "se", "tval"]
    np.testing.assert_allclose(rob.se.to_numpy(), tidy["std_error"], rtol=1e-12)
    assert rob.sigma2 is fit.sigma2 and rob.num_clusters == 11
    # the predictions differ from the model's only through the robust covariance matrix and df
    ours, model = rob.predict(newdata=pd.DataFrame({"year": [1980.0]})), fit.predict(newdata=pd.DataFrame({"year": [1980.0]}))
    assert ours["pred"].iloc[0] == pytest.approx(model["pred"].iloc[0], rel=1e-12)
    X = np.array([1.0, 1980.0])
    assert ours["se"].iloc[0] == pytest.approx(np.sqrt(X @ rob.vcov().to_numpy() @ X), rel=1e-12)


def test_cr2_prediction_df_are_the_contrasts_satterthwaite_df(konst):
    """CR2 (clubSandwich's estimator): each prediction's t df is the Satterthwaite df of its linear
    combination; for a unit vector that is the coefficient's own df, and a prediction at the mean
    of the moderator has more df than the slope."""
    fit = ml.rma_mv("yi", "vi", data=konst, mods="~ year", **KW)
    rob = fit.robust("district", clubsandwich=True)
    np.testing.assert_allclose(rob.report.contrast_df(np.eye(2)), rob.df.to_numpy(), rtol=1e-12)
    pred = rob.predict([float(konst["year"].mean())])
    df = rob.report.contrast_df([[1.0, float(konst["year"].mean())]])[0]
    assert df > rob.df.iloc[1] and 1 <= df <= rob.num_clusters
    from scipy.stats import t
    crit = t.ppf(0.975, df)
    assert pred["ci_ub"].iloc[0] == pytest.approx(pred["pred"].iloc[0] + crit * pred["se"].iloc[0], rel=1e-12)
