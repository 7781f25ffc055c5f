"""GLMM workflow against lme4 and performance: anova between glmer fits, profile and bootstrap
intervals, icc / r2, simulate, prior weights with an offset argument.

Fixtures: ``tools/fixtures/glmer_more.R`` -> ``tests/fixtures/glmm/more_<id>.json`` (lme4 1.1-31,
performance 0.10.2, insight 0.19.0).
"""

from __future__ import annotations

import functools
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.glmm._inference import vcov_matrix

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "glmm"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@functools.cache
def reference(name: str) -> dict:
    return json.loads((FIXTURES / f"more_{name}.json").read_text())


def table(ref: dict) -> pd.DataFrame:
    t = ref["data_table"]
    df = pd.DataFrame({k: t["columns"][k] for k in t["names"]})
    for k, levels in t["levels"].items():
        df[k] = pd.Categorical(df[k], categories=levels)
    return df


@functools.cache
def counts() -> pd.DataFrame:
    return table(reference("poisson_weights_offset"))


@functools.cache
def fitted(name: str):
    cbpp = ml.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        if name == "c0":
            return ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, "binomial", data_name="cbpp")
        if name == "c1":
            return ml.glmer(CBPP, cbpp, "binomial", data_name="cbpp")
        if name == "cbpp_probit":
            return ml.glmer(CBPP, cbpp, "binomial(probit)")
        if name == "p0":
            return ml.glmer("count ~ 1 + offset(log(hours)) + (1 | site)", counts(), "poisson", data_name="counts")
        if name == "p1":
            return ml.glmer("count ~ temp + offset(log(hours)) + (1 | site)", counts(), "poisson", data_name="counts")
        if name == "bernoulli_logit":
            slopes = json.loads((FIXTURES / "glmer_logistic_slope.json").read_text())
            return ml.glmer("pass ~ hours + (1 | class)", table(slopes), "binomial")
        if name == "poisson_log":
            return ml.glmer("count ~ temp + (1 | site)", counts(), "poisson")
        if name == "weights_offset":
            return ml.glmer("count ~ temp + (1 | site)", counts(), "poisson", offset="log(hours)", weights="wt",
                            data_name="counts")
    raise KeyError(name)


# ------------------------------------------------------------------ anova
@pytest.mark.parametrize("case, models", [("anova_cbpp", ("c0", "c1")), ("anova_counts", ("p0", "p1"))])
def test_anova_between_glmer_fits(case, models):
    ref = reference(case)
    tab = ml.anova(*(fitted(m) for m in models), names=list(models))
    frame = tab.to_frame()
    for col, key in [("npar", "npar"), ("AIC", "AIC"), ("BIC", "BIC"), ("logLik", "logLik"),
                     ("deviance", "deviance")]:
        np.testing.assert_allclose(frame[col].to_numpy(), ref[key], rtol=2e-6, atol=1e-3)
    np.testing.assert_allclose(frame["Chisq"].iloc[1], ref["Chisq"][1], atol=2e-3)
    assert frame["Df"].iloc[1] == ref["Df"][1]
    np.testing.assert_allclose(frame["Pr(>Chisq)"].iloc[1], ref["p"][1], rtol=1e-3)
    assert [line.rstrip() for line in str(tab).splitlines()] == [line.rstrip() for line in ref["printed"]]


# ------------------------------------------------------------------ profile intervals
@pytest.mark.parametrize("case, model, key, level", [("profile_cbpp", "c1", "ci95", 0.95),
                                                     ("profile_cbpp", "c1", "ci90", 0.90),
                                                     ("profile_counts", "p1", "ci95", 0.95)])
def test_profile_intervals_match_lme4(case, model, key, level):
    ref = reference(case)[key]
    ci = fitted(model).confint("profile", level=level)
    assert list(ci.index) == ref["rows"]
    assert list(ci.columns) == ["kind", "estimate", "lower", "upper"]
    assert ci.attrs == {"level": level, "method": "profile"}
    np.testing.assert_allclose(ci["lower"].to_numpy(), ref["lower"], atol=1e-3)
    np.testing.assert_allclose(ci["upper"].to_numpy(), ref["upper"], atol=1e-3)


def test_profile_is_not_available_for_families_with_a_scale():
    runs = json.loads((FIXTURES / "glmer_gamma_log.json").read_text())
    fit = ml.glmer("time ~ load + (1 | machine)", table(runs), 'Gamma(link = "log")')
    with pytest.raises(ml.ModelSpecificationError, match="families without a scale"):
        fit.confint("profile")


# ------------------------------------------------------------------ bootstrap and simulate
@functools.cache
def boot_cbpp(seed: int):
    return fitted("c1").confint("boot", nsim=60, seed=seed)


def test_bootstrap_intervals_are_reproducible_and_cover_the_estimates():
    a, b = boot_cbpp(3), boot_cbpp(3)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == {"level": 0.95, "method": "boot"}
    assert ((a["lower"] <= a["estimate"]) & (a["estimate"] <= a["upper"])).all()
    # percentile intervals of 60 replicates are near the profile intervals (bootstrap error ~ 0.15 SE)
    prof = fitted("c1").confint("profile")
    se = np.sqrt(np.diag(vcov_matrix(fitted("c1"))))
    fixed = a["kind"] == "fixed"
    assert np.all(np.abs(a.loc[fixed, "upper"] - prof.loc[fixed, "upper"]) < 1.0 * se)


def test_bootstrap_rejects_bad_nsim():
    with pytest.raises(ml.ArgumentError, match="nsim"):
        fitted("c1").confint("boot", nsim=1)


def test_simulate_reproduces_the_fitted_distribution():
    fit = fitted("p1")
    sims = fit.simulate(400, seed=11)
    assert sims.shape == (fit.nobs, 400) and list(sims.index) == list(fit.row_labels)
    pd.testing.assert_frame_equal(sims, fit.simulate(400, seed=11))
    values = sims.to_numpy()
    assert np.all(values >= 0) and np.all(values == np.rint(values))
    # the marginal mean of a Poisson GLMM with a random intercept: exp(eta_fixed + sigma^2 / 2)
    eta = fit.predict(re_form="~0").to_numpy()
    expected = np.exp(eta + fit.theta[0] ** 2 / 2)
    ratio = values.mean() / expected.mean()
    assert abs(ratio - 1) < 0.08


def test_binomial_simulations_are_proportions_of_the_trials():
    fit = fitted("c1")
    sims = fit.simulate(5, seed=2).to_numpy()
    trials = ml.datasets.load("cbpp")["size"].to_numpy()[:, None]
    assert np.all((sims >= 0) & (sims <= 1))
    np.testing.assert_allclose(sims * trials, np.rint(sims * trials), atol=1e-9)


# ------------------------------------------------------------------ icc and r2 (performance)
@pytest.mark.parametrize("case", ["c1", "cbpp_probit", "bernoulli_logit", "poisson_log"])
def test_icc_and_r2_match_performance(case):
    key = {"c1": "cbpp_logit"}.get(case, case)
    ref = reference("performance")[key]
    fit = fitted(case)
    icc, r2 = fit.icc(), fit.r2()
    np.testing.assert_allclose([icc.adjusted, icc.unadjusted], [ref["icc_adjusted"], ref["icc_unadjusted"]],
                               rtol=2e-4)
    np.testing.assert_allclose([r2.conditional, r2.marginal], [ref["r2_conditional"], ref["r2_marginal"]],
                               rtol=2e-4)


def test_icc_needs_a_known_distribution_variance():
    runs = json.loads((FIXTURES / "glmer_gamma_log.json").read_text())
    fit = ml.glmer("time ~ load + (1 | machine)", table(runs), 'Gamma(link = "log")')
    with pytest.raises(ml.ModelSpecificationError, match="Gamma"):
        fit.icc()


# ------------------------------------------------------------------ prior weights and an offset argument
def test_prior_weights_and_offset_argument_match_lme4():
    ref = reference("poisson_weights_offset")
    fit = fitted("weights_offset")
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=2e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(vcov_matrix(fit))), ref["se"], rtol=2e-5)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=2e-5)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], atol=1e-6)
    np.testing.assert_allclose(fit.fitted.to_numpy(), ref["fitted"], rtol=1e-5)
    for kind, values in ref["residuals"].items():
        np.testing.assert_allclose(fit.residuals(kind).to_numpy(), values, atol=2e-5)
    text = str(fit.summary())
    assert "Weights: wt" in text and " Offset: log(hours)" in text


# ------------------------------------------------------------------ observation-level random effects
@functools.cache
def olre_fit():
    cbpp = ml.datasets.load("cbpp")
    cbpp["obs"] = [f"o{i + 1:02d}" for i in range(len(cbpp))]
    return ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", cbpp, "binomial",
                    data_name="cbpp")


def test_observation_level_random_effects_as_lme4():
    """glmerControl ignores the number of levels against the number of observations (lmer stops)."""
    ref = reference("cbpp_olre")
    fit = olre_fit()
    assert fit.theta_names == ref["theta_names"]
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=2e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(vcov_matrix(fit))), ref["se"], rtol=2e-5)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], atol=1e-6)
    tab = ml.anova(fitted("c1"), fit, names=["c1", "m_olre"])
    expected = reference("anova_olre")
    np.testing.assert_allclose(tab.to_frame()["Chisq"].iloc[1], expected["Chisq"][1], atol=1e-4)
    assert [line.rstrip() for line in str(tab).splitlines()] == [line.rstrip() for line in expected["printed"]]


def test_lmer_still_refuses_as_many_levels_as_observations():
    cbpp = ml.datasets.load("cbpp")
    cbpp["obs"] = [f"o{i}" for i in range(len(cbpp))]
    with pytest.raises(ml.ModelSpecificationError, match="obs has 56 levels"):
        ml.lmer("incidence ~ period + (1 | obs)", cbpp)
