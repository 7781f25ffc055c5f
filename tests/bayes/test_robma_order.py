"""The rows and columns of RoBMA's tables in RoBMA's order (``summary.RoBMA``: the Components
table Effect, Heterogeneity, Bias, Hierarchical; the estimates mu, tau, rho, omega (p-value
intervals ascending), PET, PEESE; the models overview's priors Effect, Heterogeneity,
Hierarchical, Bias, and for RoBMA.reg intercept, each moderator, Heterogeneity, Bias)."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

OMEGA = ["omega[0,0.025]", "omega[0.025,0.05]", "omega[0.05,0.5]", "omega[0.5,0.95]", "omega[0.95,0.975]",
         "omega[0.975,1]"]


def _priors(frame):
    return [c for c in frame.columns if c.startswith("Prior ") and c != "Prior prob."]


def _order_in_text(text, names):
    positions = [text.index(n) for n in names]
    return positions == sorted(positions)


def test_ensemble_tables(robma_fit):
    s = robma_fit.summary()
    assert list(s.to_frame("components").index) == ["Effect", "Heterogeneity", "Bias"]
    assert list(s.to_frame().index) == ["mu", "tau", *OMEGA, "PET", "PEESE"]
    assert list(robma_fit.summary(conditional=True).to_frame().index) == ["mu", "tau", *OMEGA, "PET", "PEESE"]
    overview = robma_fit.models_overview()
    assert _priors(overview.to_frame()) == ["Prior Effect", "Prior Heterogeneity", "Prior Bias"]
    header = str(overview).splitlines()[2]
    assert _order_in_text(header, ["Prior Effect", "Prior Heterogeneity", "Prior Bias", "Prior prob.",
                                   "log(marglik)", "Post. prob.", "Inclusion BF"])


@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(11)
    codes = np.repeat(np.arange(5), 3)
    se = rng.uniform(0.1, 0.3, codes.size)
    y = 0.3 + rng.normal(0, 0.2, 5)[codes] + rng.normal(0, se)
    bias = [ml.prior_weightfunction("one.sided", [0.05]), ml.prior_pet(), ml.prior_peese()]
    return ml.robma(y, sei=se, measure="SMD", cluster=codes, prior_bias=bias, cutoffs="normal", draws=500, seed=2)


def test_clustered_tables(clustered):
    s = clustered.summary()
    assert list(s.to_frame("components").index) == ["Effect", "Heterogeneity", "Bias", "Hierarchical"]
    rows = ["mu", "tau", "rho", "omega[0,0.05]", "omega[0.05,1]", "PET", "PEESE"]
    assert list(s.to_frame().index) == rows
    text = str(s)
    assert _order_in_text(text, ["\nEffect ", "\nHeterogeneity ", "\nBias ", "\nHierarchical "])
    assert _order_in_text(text, [f"\n{r} " for r in rows])
    overview = clustered.models_overview()
    expect = ["Prior Effect", "Prior Heterogeneity", "Prior Hierarchical", "Prior Bias"]
    assert _priors(overview.to_frame()) == expect
    assert _order_in_text(str(overview).splitlines()[2], expect)


def test_regression_overview(robma_reg_fit):
    overview = robma_reg_fit.models_overview()
    expect = ["Prior intercept", "Prior ablat", "Prior alloc", "Prior Heterogeneity", "Prior Bias"]
    assert _priors(overview.to_frame()) == expect
    lines = str(overview).splitlines()
    assert lines[0] == "Robust Bayesian meta-regression" and _order_in_text(lines[2], expect)
    assert list(robma_reg_fit.components().index) == ["Effect", "Heterogeneity", "Bias"]
