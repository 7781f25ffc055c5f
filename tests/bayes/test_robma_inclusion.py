"""Inclusion Bayes factors by RoBMA's rule (BayesTools' ``inclusion_BF`` from the log marginal
likelihoods): exact for large odds and infinite only when the other models' marginal
likelihoods underflow."""

import math

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes.robma._averaging import inclusion_bf, posterior_probabilities


def test_large_odds_are_exact_not_rounded_posterior_probabilities():
    prior = np.array([0.125, 0.125, 0.25, 0.5])
    included = np.array([False, False, True, True])
    log_ml = np.array([-38.0, -40.0, 0.0, 0.5])
    expect = (0.25 + 0.5 * math.exp(0.5)) / (0.125 * math.exp(-38) + 0.125 * math.exp(-40)) / (0.75 / 0.25)
    assert inclusion_bf(included, prior, log_ml) == pytest.approx(expect, rel=1e-12)
    # the posterior probabilities of the null models are ~1e-17: their odds are not representable
    post = posterior_probabilities(log_ml, prior)
    assert post[included].sum() == 1.0 or post[included].sum() > 1 - 1e-15


def test_infinite_when_the_null_marginal_likelihoods_underflow():
    prior = np.full(4, 0.25)
    included = np.array([False, False, True, True])
    assert inclusion_bf(included, prior, np.array([-800.0, -760.0, 0.0, 1.0])) == math.inf
    assert inclusion_bf(~included, prior, np.array([-800.0, -760.0, 0.0, 1.0])) == 0.0
    # one null model not underflowing keeps the BF finite (about e^700)
    assert math.isfinite(inclusion_bf(included, prior, np.array([-800.0, -700.0, 0.0, 0.0])))


def test_every_or_no_model_included():
    prior = np.full(3, 1 / 3)
    assert inclusion_bf(np.ones(3, bool), prior, np.zeros(3)) == math.inf
    assert inclusion_bf(np.zeros(3, bool), prior, np.zeros(3)) == 0.0


def test_summary_and_interpret_print_inf():
    rng = np.random.default_rng(1)
    se = np.linspace(0.02, 0.05, 300)
    y = 3.0 + rng.standard_normal(300) * se  # mu = 0 is off by hundreds of log units
    fit = ml.robma(y, sei=se, measure="GEN", prior_bias=[ml.prior_pet()], draws=300, seed=1)
    comp = fit.components()
    assert comp.loc["Effect", "Inclusion BF"] == math.inf and fit.inclusion_bf("effect") == math.inf
    assert "Effect           4/8       0.500       1.000          Inf" in str(fit.summary())
    text = fit.interpret()
    assert "strong evidence in favor of the effect, BF10 = Inf," in text
    assert "(Estimates on the data's scale.)" in text
    overview = fit.models_overview().to_frame()
    log_ml = overview["log(marglik)"].to_numpy()
    for i, bf in enumerate(overview["Inclusion BF"]):  # each model against the others, same rule
        assert bf == inclusion_bf(np.arange(8) == i, fit.prior_prob, log_ml)
    assert overview["Inclusion BF"].iloc[0] == 0.0
