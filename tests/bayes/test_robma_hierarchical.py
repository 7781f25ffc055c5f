"""The Hierarchical component of a clustered ``ml.robma`` (RoBMA's ``priors_hierarchical`` and
``priors_hierarchical_null`` for rho, the share of tau^2 between clusters), and the count of
rho among the free parameters when the ensemble is checked against the number of estimates."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

import multilevel as ml
from multilevel._exceptions import DataError, ModelSpecificationError
from multilevel.bayes import prior
from multilevel.bayes.robma._fit import _check_identifiable, _ensemble

RNG = np.random.default_rng(7)
CODES = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
SE = RNG.uniform(0.1, 0.3, CODES.size)
Y = 0.2 + RNG.normal(0, 0.15, 4)[CODES] + RNG.normal(0, SE)
KW = {"measure": "SMD", "cutoffs": "normal", "model_type": "PP", "draws": 1000, "seed": 3}


def _label(m):
    return (m.effect, m.heterogeneity, None if m.bias is None else m.bias.kind)


# --------------------------------------------------------------------------- item: identifiability
def test_rho_counts_among_the_free_parameters():
    clustered = _ensemble("PSMA", None, None, None, None, None, True, clustered=True)
    plain = _ensemble("PSMA", None, None, None, None, None, True)
    assert max(m.dim for m in clustered) == max(m.dim for m in plain) + 1 == 6
    _check_identifiable(plain, 5)
    with pytest.raises(DataError, match=r"at least 6 estimates .* 6 free parameters: mu, tau, eta0, eta1, eta2, "
                                         r"rho \(rho: the share of tau\^2 between clusters\)\); got k = 5"):
        _check_identifiable(clustered, 5)
    with pytest.raises(DataError, match="rho"):
        ml.robma(Y[:5], sei=SE[:5], measure="SMD", cutoffs="normal", cluster=CODES[:5])
    fixed = _ensemble("PSMA", None, None, None, None, None, True, clustered=True, p_rho=prior("point", 0.5))
    _check_identifiable(fixed, 5)  # a point prior fixes rho: nothing more to identify


# --------------------------------------------------------------------------- point priors of rho
@pytest.fixture(scope="module")
def plain():
    return ml.robma(Y, sei=SE, **KW)


def test_rho_fixed_at_zero_is_the_fit_without_clusters(plain):
    fixed = ml.robma(Y, sei=SE, cluster=CODES, prior_heterogeneity_allocation=prior("point", 0), **KW)
    assert "rho" in fixed.estimates().index
    for a, b in zip(plain.models, fixed.models):
        assert _label(a.model) == _label(b.model)
        assert b.log_ml == pytest.approx(a.log_ml, abs=1e-7)
        if b.model.heterogeneity:
            assert b.model.rho == prior("point", 0) and np.all(b.samples["rho"] == 0)


def test_rho_fixed_elsewhere_is_the_dense_normal():
    rho = 0.4
    fit = ml.robma(Y, sei=SE, cluster=CODES, prior_heterogeneity_allocation=prior("point", rho),
                   prior_effect_null=None, **KW)
    res = next(r for r in fit.models if not r.model.effect and r.model.heterogeneity and r.model.bias is None)
    same = CODES[:, None] == CODES[None, :]

    def integrand(tau):  # mu = 0, tau ~ InvGamma(1, 0.15), rho fixed
        cov = np.diag(SE**2) + tau**2 * np.where(same, rho, 0.0) + np.diag(np.full(SE.size, tau**2 * (1 - rho)))
        return stats.invgamma(1, scale=0.15).pdf(tau) * stats.multivariate_normal(np.zeros(SE.size), cov).pdf(Y)

    direct = math.log(integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=400)[0])
    assert res.log_ml == pytest.approx(direct, abs=4 * res.integral.error + 1e-7)
    assert np.all(res.samples["rho"] == rho)


# --------------------------------------------------------------------------- null prior of rho
@pytest.fixture(scope="module")
def tested():
    return ml.robma(Y, sei=SE, cluster=CODES, prior_heterogeneity_allocation_null=prior("point", 0), **KW)


def test_the_ensemble_crosses_rho_null_and_alternative(tested, plain):
    assert len(tested.models) == 2 * len(plain.models) == 24
    # RoBMA's order: effect, heterogeneity, bias, then rho (null first) varying fastest
    for i, (a, b) in enumerate(zip(tested.models[::2], tested.models[1::2])):
        assert _label(a.model) == _label(b.model) == _label(plain.models[i].model)
        assert a.model.prior_prob == b.model.prior_prob == pytest.approx(plain.prior_prob[i] / 2, rel=1e-14)
        if a.model.heterogeneity:
            assert (a.model.rho, b.model.rho) == (prior("point", 0), prior("beta", 1, 1))
            assert (a.model.hierarchical, b.model.hierarchical) == (False, True)
            assert a.log_ml == pytest.approx(plain.models[i].log_ml, abs=1e-7)  # rho = 0: independent
        else:  # no tau, no rho: the same model twice, fitted once
            assert a.model.rho is b.model.rho is None and not b.model.hierarchical
            assert a.log_ml == b.log_ml and a.samples is b.samples
    np.testing.assert_allclose(tested.prior_prob.sum(), 1.0, rtol=1e-14)


def test_component_probabilities_multiply(tested):
    comp = tested.components()
    assert list(comp.index) == ["Effect", "Heterogeneity", "Bias", "Hierarchical"]
    assert list(comp["Models"]) == ["12/24", "12/24", "16/24", "6/24"]
    np.testing.assert_allclose(comp["Prior prob."], [0.5, 0.5, 0.5, 0.25], rtol=1e-14)
    hier = np.array([r.model.hierarchical for r in tested.models])
    assert comp.loc["Hierarchical", "Post. prob."] == pytest.approx(tested.post_prob[hier].sum(), rel=1e-12)
    log_ml = np.array([r.log_ml for r in tested.models])
    alt = np.sum(np.exp(log_ml[hier] - log_ml.max()) * tested.prior_prob[hier])
    null = np.sum(np.exp(log_ml[~hier] - log_ml.max()) * tested.prior_prob[~hier])
    assert comp.loc["Hierarchical", "Inclusion BF"] == pytest.approx(alt / null / (0.25 / 0.75), rel=1e-10)
    assert tested.inclusion_bf("hierarchical") == comp.loc["Hierarchical", "Inclusion BF"]
    overview = tested.models_overview().to_frame()
    assert set(overview["Prior Hierarchical"]) == {"", "Spike(0)", "Beta(1, 1)"}
    x, _ = tested.mixture("rho", conditional=True)
    assert np.all((x > 0) & (x < 1))  # conditional on the Hierarchical component: rho's alternative only
    x, w = tested.mixture("rho")
    assert w[x == 0].sum() == pytest.approx(1 - comp.loc["Hierarchical", "Post. prob."], rel=1e-9)


def test_bad_priors_of_rho():
    with pytest.raises(ModelSpecificationError, match="prior_heterogeneity_allocation_null needs a cluster"):
        ml.robma(Y, sei=SE, measure="SMD", prior_heterogeneity_allocation_null=prior("point", 0))
    with pytest.raises(ModelSpecificationError, match=r"prior_heterogeneity_allocation_null must be a prior on \[0, 1\]"):
        ml.robma(Y, sei=SE, measure="SMD", cluster=CODES, prior_heterogeneity_allocation_null=prior("point", 2))
    with pytest.raises(ModelSpecificationError, match=r"prior_heterogeneity_allocation must be a prior on \[0, 1\]"):
        ml.robma(Y, sei=SE, measure="SMD", cluster=CODES, prior_heterogeneity_allocation=prior("normal", 0, 1))
