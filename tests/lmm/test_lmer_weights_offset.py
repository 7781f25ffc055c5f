"""lmer with prior weights and offsets against lme4 (fixtures: tools/fixtures/glmer_more.R ->
tests/fixtures/glmm/more_lmer_*.json, lme4 1.1-31).

Fitted: estimates to 2e-4 (the weighted ML fit's likelihood is flat along theta: our deviance is
1.7e-7 below lme4's there); at lme4's theta everything derived (fixed effects, sigma, fitted
values, residuals, the printed summary) is lme4's.
"""

from __future__ import annotations

import functools
import json
import pathlib

import numpy as np
import pytest

import multilevel as ml
from multilevel.lmm._fit import estimate_at

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "glmm"
CASES = {"weights_reml": {"weights": "w"}, "weights_ml": {"weights": "w"}, "offset_formula": {},
         "offset_argument": {"offset": "2 * Days"}}


@functools.cache
def reference(case: str) -> dict:
    return json.loads((FIXTURES / f"more_lmer_{case}.json").read_text())


def data(case: str):
    sleep = ml.datasets.load("sleepstudy")
    if "data_w" in reference(case):
        sleep["w"] = reference(case)["data_w"]
    return sleep


@functools.cache
def fitted(case: str):
    ref = reference(case)
    return ml.lmer(ref["formula"], data(case), REML=ref["REML"], data_name="sleep", **CASES[case])


def at_lme4(case: str):
    fit = fitted(case)
    est = estimate_at(fit._problem, np.asarray(reference(case)["theta"]), fit.REML)
    return ml.LinearMixedModel(fit.formula, fit.REML, fit.frame, fit.data_name, est, fit._problem, fit._weights)


@pytest.mark.parametrize("case", CASES)
def test_estimates_match_lme4(case):
    ref, fit = reference(case), fitted(case)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=2e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(np.asarray(fit.vcov()))), ref["se"], rtol=1e-4)
    vc, sd = fit.varcorr, np.array(ref["varcorr"]["sdcor"])
    variances = vc["var2"].isna().to_numpy()
    np.testing.assert_allclose(vc["vcov"].to_numpy()[variances], np.array(ref["varcorr"]["vcov"])[variances], rtol=2e-4)
    # covariances on the correlation scale (a correlation of 0.09: relative error is not meaningful)
    np.testing.assert_allclose(vc["sdcor"].to_numpy()[~variances], sd[~variances], atol=2e-4)
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=2e-5)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], atol=1e-6)
    if ref["REML"]:
        np.testing.assert_allclose(fit.deviance, ref["REMLcrit"], atol=2e-6)
    np.testing.assert_allclose([fit.aic, fit.bic], [ref["AIC"], ref["BIC"]], atol=2e-6)


@pytest.mark.parametrize("case", CASES)
def test_at_lme4_theta_everything_is_lme4s(case):
    ref, fit = reference(case), at_lme4(case)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-7)
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=1e-7)
    np.testing.assert_allclose(fit.fitted.to_numpy(), ref["fitted"], rtol=1e-7)
    np.testing.assert_allclose(fit.residuals.to_numpy(), ref["residuals"]["response"], atol=1e-5)
    np.testing.assert_allclose(fit.pearson_residuals.to_numpy(), ref["residuals"]["pearson"], atol=1e-5)
    np.testing.assert_allclose(fit.scaled_residuals.to_numpy(), ref["scaled_residuals"], atol=1e-7)
    np.testing.assert_allclose(fit.ranef["Subject"].to_numpy().T, list(ref["ranef"]["Subject"].values()),
                               atol=1e-5)
    text = [line.rstrip() for line in str(fit.summary()).splitlines()]
    assert text == [line.rstrip() for line in ref["summary_text"]]


def test_offset_argument_equals_offset_term():
    a = fitted("offset_argument")
    b = ml.lmer("Reaction ~ Days + offset(2 * Days) + (1 | Subject)", data("offset_argument"), REML=False)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-10)
    np.testing.assert_allclose(a.predict(data("offset_argument").head(5)), b.predict(data("offset_argument").head(5)),
                               rtol=1e-10)


def test_predictions_and_simulations_include_offset_and_weights():
    fit = fitted("offset_formula")
    sleep = data("offset_formula")
    np.testing.assert_allclose(fit.predict(sleep), fit.fitted.to_numpy(), rtol=1e-10)
    pop = fit.predict(sleep, re_form="~0").to_numpy()
    beta = fit.fixef.to_numpy()
    np.testing.assert_allclose(pop, beta[0] + beta[1] * sleep["Days"] + 2 * sleep["Days"], rtol=1e-12)
    sims = fit.simulate(2000, seed=3).to_numpy()
    # the offset is in the simulated means: mean over simulations and subjects per day
    by_day = [sims[sleep["Days"].to_numpy() == d].mean() for d in range(10)]
    np.testing.assert_allclose(by_day, beta[0] + (beta[1] + 2) * np.arange(10), atol=2.5)
    # variance of a simulated response: z' Sigma z + sigma^2 / w
    w = fitted("weights_reml")
    sims = w.simulate(4000, seed=4).to_numpy()
    T = w._problem.templates(w.theta)[0]
    Sigma = w.sigma ** 2 * T @ T.T
    Z = np.column_stack([np.ones(len(sleep)), sleep["Days"].to_numpy()])
    expected = np.einsum("ni,ij,nj->n", Z, Sigma, Z) + w.sigma ** 2 / w.prior_weights.to_numpy()
    np.testing.assert_allclose(sims.var(axis=1), expected, rtol=0.12)


def test_refits_keep_weights_and_offset():
    fit = fitted("weights_reml")
    ml_fit = fit.refit(REML=False)
    np.testing.assert_allclose(ml_fit.loglik, reference("weights_ml")["loglik"], atol=1e-6)
    same = fit.refit(newresp=data("weights_reml")["Reaction"].to_numpy())
    np.testing.assert_allclose(same.deviance, fit.deviance, atol=1e-6)
    np.testing.assert_allclose(same.fitted, fit.fitted, rtol=1e-6)


def test_offset_values_cannot_be_evaluated_on_newdata():
    sleep = data("offset_argument")
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, offset=2 * sleep["Days"].to_numpy())
    with pytest.raises(ml.DataError, match="offset was given as values"):
        fit.predict(sleep.head(2))
    np.testing.assert_allclose(fit.fixef, fitted("offset_argument").fixef, rtol=1e-6)


def test_bad_weights_and_offsets_name_rows():
    sleep = data("weights_reml")
    sleep.loc[4, "w"] = -1.0
    with pytest.raises(ml.DataError, match="weights must be non-negative; row 4"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights="w")
    with pytest.raises(ml.DataError, match="one value per row"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, offset=[1.0, 2.0])
    sleep.loc[4, "w"] = np.inf
    with pytest.raises(ml.DataError, match="finite"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights="w")
