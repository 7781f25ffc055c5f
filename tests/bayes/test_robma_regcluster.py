"""``ml.robma(..., mods=..., cluster=...)``: RoBMA meta-regression with a cluster level.

The clustered regression posterior is checked against dense multivariate normal densities
(the coefficients integrated out: covariance V + A S A'; with selection: the weighted normal
with the shared cluster normalizer), its coefficient draws against the dense normal
conditional, and the whole ensemble for its reports: the Hierarchical component and rho next to
the moderators' inclusion Bayes factors, the four printed blocks, interpret and ArviZ.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel._exceptions import MissingDataWarning, ModelSpecificationError
from multilevel.bayes import prior
from multilevel.bayes.robma._cluster import Clusters
from multilevel.bayes.robma._likelihood import SelectionData
from multilevel.bayes.robma._moderators import moderator_design
from multilevel.bayes.robma._regcluster import ClusteredRegressionPosterior, regression_posterior
from multilevel.bayes.robma._regfit import _fit_model
from multilevel.bayes.robma._regression import RegressionModel, RegressionPosterior
from multilevel.bayes.robma._result import RobmaData
from multilevel.bayes.robma._spec import prior_peese, prior_pet, prior_weightfunction

RNG = np.random.default_rng(11)
CODES = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 4])
K = CODES.size
SE = RNG.uniform(0.1, 0.3, K)
XRAW = RNG.normal(0, 1, K)
FAC = np.array(list("abcabcabcabc"))
Y = 0.2 + 0.1 * XRAW + RNG.normal(0, 0.15, 5)[CODES] + RNG.normal(0, SE)
DESIGN = moderator_design("~ x + f", pd.DataFrame({"x": XRAW, "f": FAC}))
MU, TAU, RHO = prior("normal", 0, 1), prior("invgamma", 1, 0.15), prior("beta", 1, 1)
B_SD = (0.25, 0.3)  # the priors of x and of f's coefficients


def _model(bias=None, mu=MU, included=(True, True), tau=TAU):
    return RegressionModel(mu, tau, bias, not mu.is_point, not tau.is_point, 1.0, DESIGN.names, included,
                           tuple(t.width for t in DESIGN.terms), tuple(prior("normal", 0, s) for s in B_SD),
                           rho=None if tau.is_point else RHO, hierarchical=not tau.is_point)


def _posterior(bias=None, mu=MU, included=(True, True), scale=1.0, direction=1.0):
    return ClusteredRegressionPosterior(_model(bias, mu, included), Y, SE, DESIGN.X, scale, "normal", direction,
                                        Clusters(CODES), RHO)


def _values(f, n=4, seed=0):
    U = np.random.default_rng(seed).normal(0, 0.6, (n, f.dim))
    return f.constrain(U)[0]


def _dense_cov(tau, rho, c=1.0):
    same = CODES[:, None] == CODES[None, :]
    return np.diag(SE**2 + (c * tau) ** 2 * (1 - rho)) + (c * tau) ** 2 * rho * same


def _prior_design(f, scale, direction):
    """A and the prior variances of the collapsed coefficients, as dense arrays."""
    cols, var = [], []
    if f.collapse_mu:
        cols.append(np.ones(K))
        var.append(1.0)
    for t, inc, s in zip(DESIGN.terms, f.model.included, B_SD):
        if inc:
            cols += [DESIGN.X[:, j] for j in t.columns]
            var += [s**2] * t.width
    return direction * scale * np.column_stack(cols), np.array(var)


@pytest.mark.parametrize("bias", [None, prior_pet(), prior_peese()], ids=["none", "PET", "PEESE"])
@pytest.mark.parametrize("included", [(True, True), (False, True), (False, False)], ids=["x+f", "f", "none"])
@pytest.mark.parametrize("mu", [MU, prior("point", 0)], ids=["mu", "mu0"])
def test_gaussian_likelihood_is_the_dense_multivariate_normal(bias, included, mu):
    scale, direction = 0.5, -1.0
    f = _posterior(bias, mu, included, scale, direction)
    assert f.collapsed == (mu is MU or any(included))
    vals = _values(f)
    got = f.loglik(vals)
    for g in range(len(got)):
        mean = np.zeros(K)
        if bias is not None:
            x = SE if bias.kind == "PET" else SE**2 / scale
            mean = mean + vals[bias.kind][g] * x
        cov = _dense_cov(vals["tau"][g], vals["rho"][g], scale)
        if f.collapsed:
            A, var = _prior_design(f, scale, direction)
            cov = cov + (A * var) @ A.T
        assert got[g] == pytest.approx(stats.multivariate_normal(mean, cov).logpdf(-Y), rel=1e-10)


def test_coefficient_draws_follow_the_dense_conditional():
    f = _posterior(prior_pet(), scale=0.5, direction=-1.0)
    vals = {k: v[:1] for k, v in _values(f, n=1, seed=4).items()}
    A, var = _prior_design(f, 0.5, -1.0)
    Vinv = np.linalg.inv(_dense_cov(vals["tau"][0], vals["rho"][0], 0.5))
    prec = np.diag(1 / var) + A.T @ Vinv @ A
    cov = np.linalg.inv(prec)
    centre = cov @ (A.T @ Vinv @ (-Y - vals["PET"][0] * SE))
    n = 100000
    rep = {k: np.repeat(v, n, axis=0) for k, v in vals.items()}
    drawn = f.draw_coefficients(rep, np.random.default_rng(2))
    theta = np.column_stack([drawn["mu"], drawn["beta"]])
    assert theta.shape == (n, 1 + DESIGN.X.shape[1])
    np.testing.assert_allclose(theta.mean(axis=0), centre, atol=5 * math.sqrt(np.max(np.diag(cov)) / n))
    np.testing.assert_allclose(np.cov(theta.T), cov, atol=0.02 * np.max(np.diag(cov)))


def test_selection_likelihood_is_the_weighted_multivariate_normal_with_free_coefficients():
    bias = prior_weightfunction("one.sided", [0.05, 0.5])
    f = _posterior(bias)
    assert not f.collapsed and {"mu", "tau", "rho"} <= set(f.sites) and f.dim == 1 + 3 + 1 + 2 + 1
    vals = _values(f, n=3, seed=5)
    got = f.loglik(vals)
    sel = SelectionData(bias.weightfunction, Y, SE)
    mean, d, a = f._parts(vals, slice(0, 3))
    norm = f._log_normalizers(mean, d, a, vals["omega"])
    for g in range(3):
        m = vals["mu"][g] + DESIGN.X @ vals["beta"][g]
        np.testing.assert_allclose(mean[g], m, rtol=1e-12)
        dens = stats.multivariate_normal(m, _dense_cov(vals["tau"][g], vals["rho"][g])).logpdf(Y)
        weights = np.sum(np.log(vals["omega"][g][sel.interval]))
        assert got[g] == pytest.approx(dens + weights - norm[g], rel=1e-10)


def test_models_without_heterogeneity_keep_independent_estimates():
    rd = RobmaData(Y, SE, tuple(map(str, range(K))), "SMD", 1, "normal", 0, CODES, tuple(range(5)), RHO)
    f = regression_posterior(_model(tau=prior("point", 0)), rd, DESIGN.X)
    assert type(f) is RegressionPosterior and "rho" not in f.sites
    assert isinstance(regression_posterior(_model(), rd, DESIGN.X), ClusteredRegressionPosterior)


# --------------------------------------------------------------------------- the ensemble
@pytest.fixture(scope="module")
def data():
    d = ml.datasets.load("konstantopoulos2011")
    return d[d.district.isin([11, 18, 58, 71])].reset_index(drop=True)


@pytest.fixture(scope="module")
def fit(data):
    return ml.robma("yi", "vi", measure="SMD", mods="~ year", cluster="district", data=data, cutoffs="normal",
                    prior_bias=[ml.prior_weightfunction("one.sided", (0.05,)), ml.prior_pet()], draws=1000, seed=3)


def test_the_ensemble_crosses_bias_moderators_and_has_rho(fit):
    assert isinstance(fit, ml.RobmaRegFit) and len(fit.models) == 2 * 2 * 3 * 2
    assert fit.data.cluster is not None and len(set(fit.data.cluster)) == 4
    for res in fit.models:
        assert ("rho" in res.samples) == res.model.heterogeneity
        assert np.all(res.samples["beta"] == 0) != res.model.included[0]
    assert np.isclose(fit.post_prob.sum(), 1) and np.all(np.isfinite([r.log_ml for r in fit.models]))


def test_components_and_moderator_components(fit):
    comp = fit.components()
    assert list(comp.index) == ["Effect", "Heterogeneity", "Bias", "Hierarchical"]
    assert comp.loc["Hierarchical", "Models"] == "12/24"
    mods = fit.moderator_components()
    assert list(mods.index) == ["year"] and mods.loc["year", "Models"] == "12/24"
    bf = fit.inclusion_bf("year")
    assert bf == pytest.approx(float(mods.loc["year", "Inclusion BF"])) and 0 < bf < math.inf


def test_the_four_printed_blocks_and_rho(fit):
    summary = fit.summary()
    assert "rho" in summary.to_frame().index and "omega[0.05,1]" in summary.to_frame().index
    assert list(summary.to_frame("moderator_estimates").index) == ["intercept", "year"]
    text = str(summary)
    for title in ("Components summary:", "Meta-regression components summary:", "Model-averaged estimates:",
                  "Model-averaged meta-regression estimates:"):
        assert text.count(title) == 1, title
    assert "Hierarchical" in text and "\nrho " in text
    conditional = str(fit.summary(conditional=True))
    assert "Conditional meta-regression estimates:" in conditional
    rho_x, rho_w = fit.mixture("rho", conditional=True)
    assert 0 < float(rho_w @ rho_x) < 1


def test_models_overview_names_the_prior_of_rho(fit):
    frame = fit.models_overview().to_frame()
    assert (frame["Prior Hierarchical"] != "").tolist() == [r.model.heterogeneity for r in fit.models]
    header = str(fit.models_overview()).splitlines()[2]
    # RoBMA.reg's order: intercept, moderators, heterogeneity, hierarchical, bias
    assert (header.index("Prior intercept") < header.index("Prior year") < header.index("Prior Heterogeneity")
            < header.index("Prior Hierarchical") < header.index("Prior Bias") < header.index("Prior prob."))


def test_interpret_and_inference_data(fit):
    text = fit.interpret()
    assert "the moderation by year, BFmod = " in text and "heterogeneity" in text
    i = next(j for j, r in enumerate(fit.models, 1) if r.model.effect and r.model.heterogeneity and r.model.included[0]
             and r.model.bias is not None and r.model.bias.kind == "weightfunction")
    post = fit.to_inference_data(i, draws=500).posterior
    assert {"mu", "tau", "rho", "omega", "year"} <= set(post.data_vars)
    assert np.all((post["rho"].values > 0) & (post["rho"].values < 1))


def test_models_without_heterogeneity_are_those_without_clusters(fit):
    rd = RobmaData(fit.data.y, fit.data.se, fit.data.labels, "SMD", 1, "normal")
    for seed, res in enumerate(fit.models):
        if not res.model.heterogeneity and res.model.bias is None:
            plain = _fit_model(res.model, rd, fit.design.X, "auto", 1000, seed)
            assert res.log_ml == pytest.approx(plain.log_ml, abs=1e-10)


# --------------------------------------------------------------------------- arguments
def _frame():
    return pd.DataFrame({"yi": Y, "vi": SE**2, "x": XRAW, "study": CODES})


def test_cluster_array_follows_the_rows_kept_after_missing_moderators():
    df = _frame()
    df.loc[4, "x"] = np.nan
    with pytest.warns(MissingDataWarning, match="1 of 12 rows|row 5"):
        fit = ml.robma("yi", "vi", measure="SMD", mods="~ x", cluster=CODES * 10, data=df, draws=500, seed=1,
                       prior_bias=prior_pet(), prior_bias_null=False)
    keep = np.arange(K) != 4
    assert fit.data.k == K - 1
    codes = np.asarray(fit.data.cluster)
    labels = np.asarray(fit.data.cluster_labels)
    np.testing.assert_array_equal(labels[codes].astype(float), (CODES * 10)[keep])


def test_prior_of_rho_with_moderators():
    p = prior("beta", 2, 2)
    with pytest.raises(ModelSpecificationError, match="needs a cluster"):
        ml.robma("yi", "vi", measure="SMD", mods="~ x", data=_frame(), prior_heterogeneity_allocation=p)
    fit = ml.robma("yi", "vi", measure="SMD", mods="~ x", cluster="study", data=_frame(), draws=500, seed=1,
                   prior_bias=prior_pet(), prior_bias_null=False, prior_heterogeneity_allocation=p)
    assert fit.data.prior_rho == p
    assert "Beta(2, 2)" in set(fit.models_overview().to_frame()["Prior Hierarchical"])
