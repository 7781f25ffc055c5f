"""RoBMA's component models: likelihoods, priors, the ensemble and the marginal likelihoods.

Every marginal likelihood is checked against an independent computation: a closed form
(Gaussian models), or brute-force tensor Gauss-Legendre quadrature of the same posterior.
"""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from multilevel.bayes import prior
from multilevel.bayes.robma._integrate import integrate as integrate_model
from multilevel.bayes.robma._likelihood import SelectionData, loglik, omega_from_eta
from multilevel.bayes.robma._posterior import ModelPosterior
from multilevel.bayes.robma._spec import (ComponentModel, default_bias_priors, make_ensemble, prior_peese,
                                          prior_pet, prior_weightfunction)

RNG = np.random.default_rng(20240101)
K = 12
SE = RNG.uniform(0.08, 0.35, K)
Y = 0.25 + RNG.normal(0, 0.1, K) + RNG.normal(0, SE)

MU, TAU = prior("normal", 0, 1), prior("invgamma", 1, 0.15)
NULL = prior("point", 0)


def _model(mu=MU, tau=TAU, bias=None):
    return ComponentModel(mu, tau, bias, not mu.is_point, not tau.is_point, 1.0)


# --------------------------------------------------------------------------- likelihood
@pytest.mark.parametrize("bias", [prior_weightfunction("one.sided", [0.025, 0.05, 0.5], [1, 2, 3, 4]),
                                  prior_weightfunction("two.sided", [0.05, 0.10]),
                                  prior_weightfunction("one.sided", [0.05])], ids=["1s3", "2s2", "1s1"])
@pytest.mark.parametrize(("mean", "sd"), [(0.0, 0.2), (0.4, 0.25), (-0.3, 0.5)])
def test_weighted_normal_density_integrates_to_one(bias, mean, sd):
    wf, se = bias.weightfunction, 0.2
    omega = omega_from_eta(np.array([[0.1, 0.2, 0.3, 0.4][:len(wf.alpha)]]) /
                           np.sum([0.1, 0.2, 0.3, 0.4][:len(wf.alpha)]))

    def density(y):
        sel = SelectionData(wf, np.array([y]), np.array([se]))
        return math.exp(loglik(np.array([y]), np.array([[mean]]), np.array([[sd]]), sel, omega)[0])

    crit = SelectionData(wf, np.zeros(1), np.array([se])).crit[0]
    breaks = sorted({*crit, *(-crit)})  # the density jumps at the cut-offs
    total = sum(integrate.quad(density, a, b, limit=200, epsabs=1e-13)[0]
                for a, b in zip([-12.0, *breaks], [*breaks, 12.0]))
    assert total == pytest.approx(1.0, abs=1e-9)


def test_weights_are_reversed_cumulative_dirichlet_sums():
    eta = np.array([[0.5, 0.3, 0.2]])
    np.testing.assert_allclose(omega_from_eta(eta), [[1.0, 0.5, 0.2]])


def test_interval_of_each_estimate_follows_its_p_value():
    wf = prior_weightfunction("one.sided", [0.025, 0.05, 0.5]).weightfunction
    y, se = np.array([2.0, 1.8, 0.5, -0.3]), np.ones(4)  # p = .023, .036, .31, .62
    assert list(SelectionData(wf, y, se).interval) == [0, 1, 2, 3]
    two = prior_weightfunction("two.sided", [0.05]).weightfunction
    assert list(SelectionData(two, np.array([-2.0, 1.0]), np.ones(2)).interval) == [0, 1]


def test_t_cutoffs_recover_the_two_group_t_test():
    """For d and its standard error from two groups of n/2, the cut-off is the critical d of
    the t test with n - 2 degrees of freedom."""
    n = 40
    d = 0.7
    se = math.sqrt(4 / n + d**2 / (2 * n))
    wf = prior_weightfunction("one.sided", [0.05]).weightfunction
    crit = SelectionData(wf, np.array([d]), np.array([se]), rule="t").crit[0, 0]
    assert crit == pytest.approx(2 * stats.t.ppf(0.95, n - 2) / math.sqrt(n), rel=1e-12)


def test_interval_weights_map_to_one_sided_intervals():
    wf = prior_weightfunction("two.sided", [0.05, 0.10]).weightfunction
    cuts = (0.025, 0.05, 0.5, 0.95, 0.975)
    out = wf.interval_weights(np.array([[1.0, 0.6, 0.3]]), cuts)
    np.testing.assert_allclose(out, [[1.0, 0.6, 0.3, 0.3, 0.6, 1.0]])
    one = prior_weightfunction("one.sided", [0.05]).weightfunction
    np.testing.assert_allclose(one.interval_weights(np.array([[1.0, 0.4]]), cuts), [[1, 1, .4, .4, .4, .4]])


# --------------------------------------------------------------------------- the ensemble
def test_psma_ensemble_and_prior_probabilities():
    ens = make_ensemble([MU], [NULL], [TAU], [NULL], default_bias_priors("PSMA"), True)
    assert len(ens) == 36
    probs = np.array([m.prior_prob for m in ens])
    assert probs.sum() == pytest.approx(1.0)
    none = [m for m in ens if m.bias is None]
    wfs = [m for m in ens if m.bias is not None and m.bias.kind == "weightfunction"]
    pp = [m for m in ens if m.bias is not None and m.bias.kind in ("PET", "PEESE")]
    assert (len(none), len(wfs), len(pp)) == (4, 24, 8)
    np.testing.assert_allclose([m.prior_prob for m in none], 1 / 8)
    np.testing.assert_allclose([m.prior_prob for m in wfs], 1 / 96)
    np.testing.assert_allclose([m.prior_prob for m in pp], 1 / 32)
    assert max(m.dim for m in ens) == 5
    steps = [m.bias.weightfunction.steps for m in wfs[:6]]
    assert steps == [(0.05,), (0.05, 0.10), (0.05,), (0.025, 0.05), (0.05, 0.5), (0.025, 0.05, 0.5)]


def test_pp_and_2w_ensembles():
    pp = make_ensemble([MU], [NULL], [TAU], [NULL], default_bias_priors("PP"), True)
    assert len(pp) == 12 and sum(m.prior_prob for m in pp if m.bias is None) == pytest.approx(0.5)
    w2 = make_ensemble([MU], [NULL], [TAU], [NULL], default_bias_priors("2w"), True)
    assert {m.bias.weightfunction.side for m in w2 if m.bias is not None} == {"two.sided"}


# --------------------------------------------------------------------------- marginal likelihoods
def _gauss_closed_form(tau: float, mu_sd: float) -> float:
    cov = np.diag(SE**2 + tau**2) + mu_sd**2 * np.ones((K, K))
    return float(stats.multivariate_normal(np.zeros(K), cov).logpdf(Y))


def test_fixed_effect_model_marginal_likelihood_is_gaussian():
    f = ModelPosterior(_model(tau=NULL), Y, SE, 1.0)
    assert f.collapsed and f.dim == 0
    assert integrate_model(f).log_ml == pytest.approx(_gauss_closed_form(0.0, 1.0), abs=1e-10)
    f.collapsed, f.sites = False, ("mu",)  # mu integrated numerically instead
    for method in ("quadrature", "importance"):
        res = integrate_model(f, method=method, seed=3)
        assert res.log_ml == pytest.approx(_gauss_closed_form(0.0, 1.0), abs=max(4 * res.error, 1e-7))


def test_measure_scale_rescales_the_priors():
    """Fisher's z data with c = 1/2: mu_z = mu_d / 2 ~ N(0, 1/4), the Gaussian closed form again."""
    f = ModelPosterior(_model(tau=NULL), Y, SE, 0.5)
    assert integrate_model(f).log_ml == pytest.approx(_gauss_closed_form(0.0, 0.5), abs=1e-10)


def _composite_rule(centre: int, tail: int):
    """Gauss-Legendre nodes and weights on [-40, 40] (in Laplace SDs), split at -8 and 8."""
    t, w = [], []
    for (a, b), n in zip([(-40, -8), (-8, 8), (8, 40)], [tail, centre, tail]):
        x, v = np.polynomial.legendre.leggauss(n)
        t.append((a + b) / 2 + (b - a) / 2 * x)
        w.append((b - a) / 2 * v)
    return np.concatenate(t), np.concatenate(w)


def _tensor_grid(f: ModelPosterior, centre: int, tail: int):
    """Tensor grid around the mode, axes scaled by the Laplace SDs; wide, because the
    posteriors of log PET, log PEESE and log tau have long exponential tails."""
    from multilevel.bayes._grid import _derivatives
    from scipy import optimize

    u0 = optimize.minimize(lambda u: -f(u[None])[0], f.start(), method="Nelder-Mead",
                           options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000}).x
    _, _, H = _derivatives(f, u0)
    sd = np.sqrt(np.diag(np.linalg.inv(-H)))
    t, w = _composite_rule(centre, tail)
    axes = [u0[i] + sd[i] * t for i in range(len(u0))]
    weights = [sd[i] * w for i in range(len(u0))]
    U = np.stack([m.reshape(-1) for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    W = np.prod(np.stack([m.reshape(-1) for m in np.meshgrid(*weights, indexing="ij")], axis=1), axis=1)
    return U, np.log(W)


def _brute_force(f: ModelPosterior, nodes: int) -> float:
    U, logw = _tensor_grid(f, nodes, nodes // 3)
    return float(special.logsumexp(f(U) + logw))


CASES = {
    "mu+tau": (_model(), 150),
    "tau+PET": (_model(mu=NULL, bias=prior_pet()), 150),
    "mu+PEESE": (_model(tau=NULL, bias=prior_peese()), 150),
    "mu+2s(.05)": (_model(tau=NULL, bias=prior_weightfunction("two.sided", [0.05])), 150),
    "mu+tau+1s(.05)": (_model(bias=prior_weightfunction("one.sided", [0.05])), 45),
    "tau+1s(.025,.05)": (_model(mu=NULL, bias=prior_weightfunction("one.sided", [0.025, 0.05])), 45),
    "mu+tau+PET": (_model(bias=prior_pet()), 45),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_marginal_likelihood_agrees_with_brute_force_quadrature(case):
    model, nodes = CASES[case]
    f = ModelPosterior(model, Y, SE, 1.0)
    exact = _brute_force(f, nodes)
    auto = integrate_model(f, seed=5)
    assert abs(auto.log_ml - exact) <= max(4 * auto.error, 2e-5), (auto.method, auto.error)
    if f.dim <= 3:
        grid = integrate_model(f, method="quadrature", seed=5)
        assert grid.log_ml == pytest.approx(exact, abs=2e-5)
    imp = integrate_model(f, method="importance", seed=5)
    assert abs(imp.log_ml - exact) <= 4 * imp.error and imp.error < 0.02
    if f.collapsed:  # mu integrated in closed form: the same as mu on the brute-force grid
        g = ModelPosterior(model, Y, SE, 1.0)
        g.collapsed, g.sites = False, model.free
        assert _brute_force(g, nodes if g.dim < 3 else 45) == pytest.approx(exact, abs=2e-5)


def test_importance_error_estimate_matches_the_spread_over_seeds():
    f = ModelPosterior(_model(bias=prior_weightfunction("one.sided", [0.025, 0.05, 0.5])), Y, SE, 1.0)
    runs = [integrate_model(f, method="importance", draws=5000, seed=s) for s in range(8)]
    spread = np.std([r.log_ml for r in runs], ddof=1)
    claimed = np.mean([r.error for r in runs])
    assert 0.4 < spread / claimed < 2.5


def test_posterior_sample_matches_brute_force_moments():
    """Posterior mean and SD of mu in the mu + tau + PET model: weighted sample vs quadrature."""
    f = ModelPosterior(_model(bias=prior_pet()), Y, SE, 1.0)
    res = integrate_model(f, method="importance", seed=2, draws=40000)
    vals, _ = f.constrain(res.U)
    vals["mu"] = f.draw_mu(vals, np.random.default_rng(1))  # mu is integrated out, then drawn
    m = res.weights @ vals["mu"]
    sd = math.sqrt(res.weights @ (vals["mu"] - m) ** 2)
    g = ModelPosterior(_model(bias=prior_pet()), Y, SE, 1.0)
    g.collapsed, g.sites = False, ("mu", "tau", "PET")  # the same posterior with mu on the grid
    U, logw = _tensor_grid(g, 45, 15)  # brute-force moments on the tensor grid
    lp = g(U) + logw
    p = np.exp(lp - lp.max())
    p /= p.sum()
    mu = g.constrain(U)[0]["mu"]
    m_exact = p @ mu
    sd_exact = math.sqrt(p @ (mu - m_exact) ** 2)
    ess = res.ess
    assert abs(m - m_exact) < 4 * sd_exact / math.sqrt(ess)
    assert sd == pytest.approx(sd_exact, rel=0.05)
