"""Marginal likelihoods and Bayes factors: bridge sampling vs exact numerical integration.

Tolerance: 4 x the bridge-sampling Monte Carlo error (the quadrature error is below 1e-6,
checked by halving the rule in test_reference.py).
"""

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes._quadrature import quadrature


@pytest.mark.parametrize("name", ["fit_ml", "fit_ml_mu0", "fit_re"])
def test_bridge_matches_quadrature(request, name):
    fit = request.getfixturevalue(name)
    bridge = fit.log_marginal_likelihood()
    exact = fit.log_marginal_likelihood(method="quadrature")
    assert bridge.mc_error > 0
    assert abs(bridge.log_ml - exact.log_ml) <= 4 * bridge.mc_error


def test_bayes_factor_effect(fit_ml, fit_ml_mu0):
    bf = ml.bayes_factor(fit_ml, fit_ml_mu0)
    exact = ml.bayes_factor(fit_ml, fit_ml_mu0, method="quadrature")
    assert exact.mc_error == 0
    assert abs(bf.log_bf - exact.log_bf) <= 4 * bf.mc_error
    assert "BF10" in str(bf)


def test_bayes_factor_cluster_level(fit_ml, fit_re):
    bf = ml.bayes_factor(fit_ml, fit_re)
    exact = ml.bayes_factor(fit_ml, fit_re, method="quadrature")
    assert abs(bf.log_bf - exact.log_bf) <= 4 * bf.mc_error
    assert exact.bf > 100  # strong evidence for the district level


def test_quadrature_on_the_reduced_model(fit_ml_mu0):
    """mu = 0: the quadrature integrates (tau, rho) only; the same value by a 2-D rule of
    a different size."""
    a = quadrature(fit_ml_mu0, nodes=60)[0].log_ml
    b = quadrature(fit_ml_mu0, nodes=90)[0].log_ml
    assert abs(a - b) < 1e-8


def test_bayes_factor_needs_same_data(fit_ml, fit_reg):
    with pytest.raises(ml.ModelSpecificationError):
        ml.bayes_factor(fit_ml, fit_reg)


@pytest.fixture(scope="module")
def exact_reg(fit_reg):
    """Location-scale meta-regression: 4 free parameters (intercept, ablat, tau, year).

    30 nodes per axis: against 24 nodes the log marginal likelihood moves by 1e-3 and the
    posterior means by < 1e-3, under a tenth of the Monte Carlo tolerances below.
    """
    return quadrature(fit_reg, nodes=30)


def test_bridge_on_location_scale_regression(fit_reg, exact_reg):
    m = fit_reg.log_marginal_likelihood()
    assert abs(m.log_ml - exact_reg[0].log_ml) <= 4 * m.mc_error


@pytest.mark.parametrize("name", ["mu", "ablat", "tau", "log(tau): intercept", "log(tau): year"])
def test_location_scale_posterior_matches_quadrature(fit_reg, exact_reg, name):
    """Standardization of predictors and the back-transformation to their original scale."""
    from multilevel.bayes._diagnostics import ess

    x = fit_reg.posterior[name]
    mean, sd = exact_reg[1][name]
    assert abs(x.mean() - mean) <= 4 * x.std() / np.sqrt(ess(x))


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")  # 11 clusters, one influential
def test_loo_per_cluster(fit_ml):
    res = fit_ml.loo(pointwise=True)
    assert res.n_data_points == 11
    assert np.isfinite(res.elpd_loo)


def test_inference_data(fit_ml):
    idata = fit_ml.to_inference_data()
    assert set(idata.groups()) >= {"posterior", "log_likelihood", "sample_stats", "observed_data"}
    assert idata.posterior["mu"].shape == (3, 5000)
    assert idata.posterior["u"].shape == (3, 5000, 11)


@pytest.fixture(scope="module")
def fit_cauchy():
    """A prior NUTS must sample (Cauchy on mu: not collapsed) and a non-default tau prior."""
    dat = ml.datasets.load("konstantopoulos2011")
    return ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=5, progress=False,
                   prior_effect=ml.prior("cauchy", 0, 0.5),
                   prior_heterogeneity=ml.prior("invgamma", 1, 0.15), engine="nuts")


def test_sampled_effect_matches_quadrature(fit_cauchy):
    from multilevel.bayes._diagnostics import ess

    assert "b0" in fit_cauchy._run.draws  # mu is sampled by NUTS here
    exact = quadrature(fit_cauchy, nodes=48)
    for name in ("mu", "tau", "rho"):
        x = fit_cauchy.posterior[name]
        assert abs(x.mean() - exact[1][name][0]) <= 4 * x.std() / np.sqrt(ess(x))
    bridge = fit_cauchy.log_marginal_likelihood()
    assert abs(bridge.log_ml - exact[0].log_ml) <= 4 * bridge.mc_error
