"""Marginal likelihoods and Bayes factors: bridge sampling vs exact numerical integration.

Tolerance: 4 x the bridge-sampling Monte Carlo error (the quadrature error is below 1e-6,
checked by halving the rule in test_reference.py).
"""

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes._compare import quadrature


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


def test_quadrature_needs_intercept_only(fit_reg):
    with pytest.raises(ml.ModelSpecificationError):
        fit_reg.log_marginal_likelihood(method="quadrature")


def test_bridge_on_meta_regression(fit_reg):
    m = fit_reg.log_marginal_likelihood()
    assert np.isfinite(m.log_ml) and m.mc_error < 0.05


def test_loo_per_cluster(fit_ml):
    res = fit_ml.loo(pointwise=True)
    assert res.n_data_points == 11
    assert np.isfinite(res.elpd_loo)


def test_inference_data(fit_ml):
    idata = fit_ml.to_inference_data()
    assert set(idata.groups()) >= {"posterior", "log_likelihood", "sample_stats", "observed_data"}
    assert idata.posterior["mu"].shape == (3, 5000)
    assert idata.posterior["u"].shape == (3, 5000, 11)
