"""``RmaFit.robust()`` returns a fit (metafor's ``robust.rma`` object): coef, vcov, confint and predict
against metafor 3.8-1 (fixtures from tools/fixtures/meta_robust_fit.R), and the result protocol."""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel._protocol import TIDY_COLUMNS

DOC = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "meta" / "robust_fit.json").read_text())
CASES = [name for name in DOC if isinstance(DOC[name], dict)]


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


def _robust(ref, bcg):
    fit = ml.rma("yi", "vi", data=bcg, **(ref["call"] or {}))
    return fit, fit.robust(ref["cluster"], adjust=ref["adjust"], data=bcg)


@pytest.mark.parametrize("name", CASES)
def test_coef_vcov_confint_match_metafor(name, bcg):
    ref = {key: value if key in ("call", "cluster", "adjust", "newmods") else np.atleast_1d(value)
           for key, value in DOC[name].items()}  # one-element vectors come as numbers
    fit, rob = _robust(ref, bcg)
    p = len(ref["coef"])
    np.testing.assert_allclose(rob.params.to_numpy(), ref["coef"], rtol=1e-8)
    np.testing.assert_allclose(rob.vcov().to_numpy(), np.asarray(ref["vcov"]).reshape(p, p), rtol=1e-6)
    ci90 = rob.confint(level=0.9)
    np.testing.assert_allclose(ci90["lower"], ref["ci90_lb"], rtol=1e-6)
    np.testing.assert_allclose(ci90["upper"], ref["ci90_ub"], rtol=1e-6)
    ci = rob.confint()  # the fit's level (95)
    np.testing.assert_allclose(ci["lower"], ref["ci95_lb"], rtol=1e-6)
    np.testing.assert_allclose(ci["upper"], ref["ci95_ub"], rtol=1e-6)
    np.testing.assert_allclose(rob.tidy()["df"], np.broadcast_to(ref["dfs"], (p,)))
    assert rob.loglik == pytest.approx(ref["logLik"][0], rel=1e-8) and rob.loglik == fit.loglik
    assert rob.aic == pytest.approx(ref["AIC"][0], rel=1e-8) and rob.bic == pytest.approx(ref["BIC"][0], rel=1e-8)


@pytest.mark.parametrize("name", CASES)
def test_predict_matches_metafor(name, bcg):
    ref = DOC[name]
    _, rob = _robust(ref, bcg)
    pred = rob.predict(ref["newmods"])
    ref = {key: np.atleast_1d(value) for key, value in ref.items() if isinstance(value, (int, float, list))}
    for col, key in (("pred", "pred"), ("se", "pred_se"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"),
                     ("pi_lb", "pi_lb"), ("pi_ub", "pi_ub")):
        np.testing.assert_allclose(pred[col].to_numpy(), ref[key], rtol=1e-6, err_msg=col)


def test_robust_fit_is_frozen_and_answers_the_protocol(bcg):
    fit = ml.rma("yi", "vi", data=bcg, mods="~ ablat")
    rob = fit.robust("alloc", data=bcg)
    assert isinstance(rob, ml.RobustRmaFit)
    with pytest.raises(AttributeError):
        rob.fit = fit
    assert list(rob.params.index) == ["(Intercept)", "ablat"] and list(rob.vcov().index) == ["(Intercept)", "ablat"]
    tidy = rob.tidy()
    assert tuple(tidy.columns[:len(TIDY_COLUMNS)]) == TIDY_COLUMNS
    pd.testing.assert_frame_equal(rob.to_frame(), tidy)
    np.testing.assert_allclose(tidy["std_error"], np.sqrt(np.diag(rob.vcov())), rtol=1e-12)
    assert rob.nobs == fit.nobs and rob.fitstats().equals(fit.fitstats())
    # the printed report is metafor's, and its table keeps metafor's names and columns
    assert str(rob) == str(rob.summary())
    table = rob.summary().to_frame()
    assert list(table.index) == ["intrcpt", "ablat"] and list(table.columns)[:3] == ["estimate", "se", "tval"]
    # metafor's fields of the robust object and of the underlying fit stay readable
    np.testing.assert_allclose(rob.se.to_numpy(), tidy["std_error"], rtol=1e-12)
    assert rob.tau2 == fit.tau2 and rob.num_clusters == 3
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        rob.nonsense
