"""RoBMA's published vignette numbers on a metadat dataset, reproduced within Monte Carlo error.

The RoBMA vignette *Robust Bayesian Meta-Analysis* (RoBMA 4, ``vignettes/v21-robust-bayesian-
meta-analysis``, rendered 4 May 2026) fits ``RoBMA(yi = yi, vi = vi, measure = "SMD", data =
dat.lehmann2018, seed = 1)``: the RoBMA-PSMA ensemble with RoBMA 4's default priors for
standardized mean differences, mu ~ Normal(0, sqrt(2)/2) and tau ~ Normal+(0, sqrt(2)/4) (printed
``Normal(0, 0.71)`` and ``Normal(0, 0.35)[0, Inf]``), the RoBMA-PSMA bias priors and prior weights,
and, without sample sizes, weight-function p-values from ``yi / sqrt(vi)`` (``cutoffs="normal"``).
It fits the data on the scale of the measure (no Fisher's z transformation), as ``ml.robma`` does.

RoBMA 4 samples the whole ensemble in one MCMC run (3 chains x 5000 draws) and estimates a model's
posterior probability by the share of draws in it; the vignette does not print its MCMC
diagnostics. The tolerances assume an effective sample size of 1000 for those draws: a probability
p is checked to 4 sqrt(p (1 - p) / 1000), a mean to 4 SD / sqrt(1000), plus half a unit of the
third printed decimal. (With the 15,000 draws as independent the PET / PEESE split would be off by
10 standard errors; the sampler visits PET and PEESE in long runs, so an effective sample size of
about 1000 is what such a run gives.) ``ml.robma``'s own error is far smaller: quadrature for the
models without weight functions, importance sampling with log marginal likelihood errors of about
0.002 for the others.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import multilevel as ml

ESS = 1000
ROUNDING = 0.0005
PRIORS = {"prior_effect": ml.prior("normal", 0, math.sqrt(2) / 2),
          "prior_heterogeneity": ml.prior("normal", 0, math.sqrt(2) / 4, lower=0), "cutoffs": "normal"}

# summary(fit_RoBMA): posterior probabilities of the components, mean and SD of the estimates
COMPONENTS = {"Effect": 0.175, "Bias": 0.960}
ESTIMATES = {"mu": (0.012, 0.057), "tau": (0.305, 0.041), "omega[0.025,0.05]": (0.990, 0.064),
             "omega[0.05,0.5]": (0.978, 0.109), "omega[0.5,0.95]": (0.971, 0.140),
             "omega[0.975,1]": (0.971, 0.140), "PET": (0.703, 0.431), "PEESE": (0.370, 0.920)}
# summary_models(fit_RoBMA): posterior probability of each bias alternative
BIAS_MODELS = {"": 0.040, "omega[two-sided: 0.05]": 0.001, "omega[two-sided: 0.05, 0.1]": 0.000,
               "omega[one-sided: 0.05]": 0.004, "omega[one-sided: 0.025, 0.05]": 0.006,
               "omega[one-sided: 0.05, 0.5]": 0.009, "omega[one-sided: 0.025, 0.05, 0.5]": 0.025,
               "PET": 0.766, "PEESE": 0.149}
# interpret(fit_RoBMA_custom): PET, PEESE and a one-sided .025 weight function, prior weights 1 each
CUSTOM_BF = {"Effect": 1 / 4.894, "Bias": 22.189}
CUSTOM_ESTIMATES = {"mu": (0.009, -0.076, 0.171), "tau": (0.304, 0.229, 0.392)}


def _prob_tolerance(p: float) -> float:
    return 4 * math.sqrt(p * (1 - p) / ESS) + ROUNDING


def _mean_tolerance(sd: float) -> float:
    return 4 * sd / math.sqrt(ESS) + ROUNDING


@pytest.fixture(scope="module")
def lehmann():
    return ml.datasets.load("lehmann2018")


@pytest.fixture(scope="module")
def psma(lehmann):
    return ml.robma("yi", "vi", measure="SMD", data=lehmann, seed=1, **PRIORS)


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_component_probabilities(psma, component):
    p = COMPONENTS[component]
    assert abs(psma.components().loc[component, "Post. prob."] - p) <= _prob_tolerance(p)


def test_heterogeneity_is_certain(psma):
    # RoBMA prints Inf: no draw without heterogeneity
    assert psma.components().loc["Heterogeneity", "Post. prob."] > 1 - 1e-6


@pytest.mark.parametrize("parameter", sorted(ESTIMATES))
def test_model_averaged_means(psma, parameter):
    mean, sd = ESTIMATES[parameter]
    ours = psma.estimates().loc[parameter, "Mean"]
    assert abs(ours - mean) <= _mean_tolerance(sd)


@pytest.mark.parametrize("bias", sorted(BIAS_MODELS))
def test_bias_model_probabilities(psma, bias):
    overview = psma.models_overview().to_frame()
    labels = overview["Prior Bias"].str.split(" ~ ").str[0]
    ours = overview.loc[labels == bias, "Post. prob."].sum()
    p = BIAS_MODELS[bias]
    assert abs(ours - p) <= _prob_tolerance(max(p, ours))


def test_custom_bias_ensemble(lehmann):
    fit = ml.robma("yi", "vi", measure="SMD", data=lehmann, seed=1,
                   prior_bias=[ml.prior_pet(), ml.prior_peese(), ml.prior_weightfunction("one.sided", [0.025])],
                   **PRIORS)
    comp = fit.components()
    for component, bf in CUSTOM_BF.items():
        prior_odds = comp.loc[component, "Prior prob."] / (1 - comp.loc[component, "Prior prob."])
        p = bf * prior_odds / (1 + bf * prior_odds)
        assert abs(comp.loc[component, "Post. prob."] - p) <= _prob_tolerance(p), component
    est = fit.estimates()
    for parameter, (mean, lower, upper) in CUSTOM_ESTIMATES.items():
        sd = (upper - lower) / (2 * 1.959964)  # the SD is not printed: from the 95% interval
        assert abs(est.loc[parameter, "Mean"] - mean) <= _mean_tolerance(sd), parameter
    assert np.isclose(comp.loc["Bias", "Prior prob."], 0.75)
