"""The cluster level of ``ml.robma`` (RoBMA 3's ``study_ids`` models).

The closed-form per-cluster algebra is checked against dense multivariate normal densities,
and the selection normalizer (a one-dimensional integral over the cluster effect here) against
RoBMA's own construction: the sum over all boxes of the cut-offs of the weights times the
multivariate normal probability of the box.
"""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel._exceptions import DataError, ModelSpecificationError
from multilevel.bayes import prior
from multilevel.bayes.robma._cluster import ClusteredPosterior, Clusters
from multilevel.bayes.robma._likelihood import SelectionData
from multilevel.bayes.robma._spec import ComponentModel, prior_peese, prior_pet, prior_weightfunction

RNG = np.random.default_rng(7)
CODES = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
K = CODES.size
SE = RNG.uniform(0.1, 0.3, K)
Y = 0.2 + RNG.normal(0, 0.15, 4)[CODES] + RNG.normal(0, SE)

MU, TAU, RHO = prior("normal", 0, 1), prior("invgamma", 1, 0.15), prior("beta", 1, 1)


def _posterior(bias=None, mu=MU, scale=1.0, direction=1.0):
    model = ComponentModel(mu, TAU, bias, not mu.is_point, True, 1.0)
    return ClusteredPosterior(model, Y, SE, scale, "normal", direction, Clusters(CODES), RHO)


def _values(f, n=5, seed=0):
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 0.6, (n, f.dim))
    return f.constrain(U)[0]


def _dense_cov(tau, rho, c=1.0):
    same = CODES[:, None] == CODES[None, :]
    return np.diag(SE**2) + (c * tau) ** 2 * np.where(same, rho, 0.0) + (c * tau) ** 2 * (1 - rho) * np.eye(K)


@pytest.mark.parametrize("bias", [None, prior_pet(), prior_peese()], ids=["none", "PET", "PEESE"])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_gaussian_likelihood_is_the_dense_multivariate_normal(bias, scale):
    f = _posterior(bias, scale=scale, direction=-1.0)
    vals = _values(f)
    got = f.loglik(vals)
    for g in range(len(got)):
        mean = np.zeros(K) if f.collapsed else -scale * vals["mu"][g] * np.ones(K)
        if bias is not None:
            x = SE if bias.kind == "PET" else SE**2 / scale
            mean = mean + vals[bias.kind][g] * x
        cov = _dense_cov(vals["tau"][g], vals["rho"][g], scale)
        if f.collapsed:  # mu ~ N(0, 1) integrated out
            cov = cov + scale**2 * np.ones((K, K))
        want = stats.multivariate_normal(mean, cov).logpdf(-Y)
        assert got[g] == pytest.approx(want, rel=1e-10)


def test_collapsed_mu_draws_follow_the_dense_conditional():
    f = _posterior(prior_pet())
    vals = _values(f, n=1)
    g = 0
    cov = _dense_cov(vals["tau"][g], vals["rho"][g])
    P = np.linalg.inv(cov)
    r = Y - vals["PET"][g] * SE
    prec = 1 + P.sum()
    centre = (P @ r).sum() / prec
    rep = {k: np.repeat(v, 200000, axis=0) for k, v in vals.items()}
    draws = f.draw_mu(rep, np.random.default_rng(1))
    assert draws.mean() == pytest.approx(centre, abs=5 * math.sqrt(1 / prec / draws.size))
    assert draws.var() == pytest.approx(1 / prec, rel=0.02)


def _rectangle_normalizer(wf_sel, rows, mean, cov, omega):
    """RoBMA's multivariate weighted-normal normalizer: the sum over all boxes of the one-sided
    cut-offs of the product of the boxes' weights times their normal probability."""
    crit = wf_sel.crit[rows]  # decreasing in j; interval j+1 lies below crit[:, j]
    n, J = len(rows), omega.size
    edges = []
    for i in range(n):
        if wf_sel.two_sided:
            c = crit[i]
            pts = np.concatenate([-c, c[::-1]])  # ascending
            w = np.concatenate([omega, omega[-2::-1]])  # weights of the 2J - 1 boxes, |y| large first
        else:
            pts = crit[i][::-1]
            w = omega[::-1]
        edges.append((np.concatenate([[-np.inf], pts, [np.inf]]), w))
    total = 0.0
    mvn = stats.multivariate_normal(mean, cov, seed=1, maxpts=500_000, abseps=1e-9, releps=1e-9)
    for box in itertools.product(*[range(len(w)) for _, w in edges]):
        lo = np.array([edges[i][0][b] for i, b in enumerate(box)])
        hi = np.array([edges[i][0][b + 1] for i, b in enumerate(box)])
        weight = np.prod([edges[i][1][b] for i, b in enumerate(box)])
        lo_f, hi_f = np.maximum(lo, mean - 12), np.minimum(hi, mean + 12)  # finite bounds for SciPy
        total += weight * mvn.cdf(hi_f, lower_limit=lo_f)
    assert J >= 2
    return math.log(total)


@pytest.mark.parametrize("bias", [prior_weightfunction("one.sided", [0.025, 0.05]),
                                  prior_weightfunction("two.sided", [0.05])], ids=["1s", "2s"])
def test_selection_normalizer_is_robmas_sum_over_boxes(bias):
    f = _posterior(bias)
    vals = _values(f, n=2, seed=3)
    mean, d, a = f._parts(vals, slice(None))
    got = f._log_normalizers(mean, d, a, vals["omega"])
    cl = Clusters(CODES)
    for g in range(2):
        want = 0.0
        for c in range(cl.num):
            rows = np.flatnonzero(CODES == c)
            cov = np.diag(d[g, rows]) + a[g, 0]
            want += _rectangle_normalizer(f.sel, rows, mean[g, rows], cov, vals["omega"][g])
        assert got[g] == pytest.approx(want, abs=2e-6)


def test_selection_likelihood_is_the_weighted_multivariate_normal():
    bias = prior_weightfunction("one.sided", [0.05, 0.5])
    f = _posterior(bias)
    vals = _values(f, n=3, seed=5)
    got = f.loglik(vals)
    sel = SelectionData(bias.weightfunction, Y, SE)
    mean, d, a = f._parts(vals, slice(None))
    norm = f._log_normalizers(mean, d, a, vals["omega"])
    for g in range(3):
        cov = _dense_cov(vals["tau"][g], vals["rho"][g])
        dens = stats.multivariate_normal(mean[g], cov).logpdf(Y)
        weights = np.sum(np.log(vals["omega"][g][sel.interval]))
        assert got[g] == pytest.approx(dens + weights - norm[g], rel=1e-10)


def test_normalizer_step_is_fine_enough_where_the_cluster_effect_dominates():
    """rho near 1 and large tau make the integrand in z sharp: the adaptive step keeps the
    error tiny (against a very fine rule)."""
    f = _posterior(prior_weightfunction("two.sided", [0.05, 0.10]))
    vals = _values(f, n=4, seed=9)
    vals["tau"] = np.array([0.5, 1.0, 2.0, 4.0])
    vals["rho"] = np.array([0.9, 0.99, 0.999, 0.9999])
    mean, d, a = f._parts(vals, slice(None))
    got = f._log_normalizers(mean, d, a, vals["omega"])
    fine = f._trapezoid(mean, d, a, vals["omega"], 1 / 2048)
    np.testing.assert_allclose(got, fine, atol=1e-7)


# --------------------------------------------------------------------------- marginal likelihood
def test_quadrature_and_importance_sampling_agree():
    from multilevel.bayes.robma._integrate import integrate

    f = _posterior()  # mu collapsed: tau and rho
    q = integrate(f, method="quadrature", draws=4000, seed=1)
    s = integrate(f, method="importance", draws=4000, seed=1)
    assert q.log_ml == pytest.approx(s.log_ml, abs=4 * math.hypot(q.error, s.error) + 1e-9)
    f = _posterior(prior_pet())  # tau, rho, PET
    q = integrate(f, method="quadrature", draws=4000, seed=1)
    s = integrate(f, method="importance", draws=4000, seed=1)
    assert q.log_ml == pytest.approx(s.log_ml, abs=4 * math.hypot(q.error, s.error) + 1e-6)


# --------------------------------------------------------------------------- the fit
@pytest.fixture(scope="module")
def fit():
    data = pd.DataFrame({"yi": Y, "vi": SE**2, "study": np.array(list("abcd"))[CODES]})
    return ml.robma("yi", "vi", measure="SMD", cutoffs="normal", cluster="study", data=data,
                    model_type="PP", draws=2000, seed=3)


def test_summary_has_the_hierarchical_component_and_rho(fit):
    comp = fit.components()
    assert list(comp.index) == ["Effect", "Heterogeneity", "Bias", "Hierarchical"]
    np.testing.assert_allclose(comp.loc["Hierarchical", ["Prior prob.", "Post. prob."]].to_numpy(float),
                               comp.loc["Heterogeneity", ["Prior prob.", "Post. prob."]].to_numpy(float))
    text = str(fit.summary())
    assert "Hierarchical" in text and "\nrho " in text
    assert list(fit.estimates(conditional=True).index) == ["mu", "tau", "rho", "PET", "PEESE"]
    ci = fit.confint()
    assert ci.loc["rho", "kind"] == "random"
    assert "Prior Hierarchical" in str(fit.models_overview())


def test_rho_is_in_the_models_with_heterogeneity_only(fit):
    for res in fit.models:
        assert ("rho" in res.samples) == res.model.heterogeneity
    x, w = fit.mixture("rho", conditional=True)
    assert np.all((x > 0) & (x < 1)) and w.sum() == pytest.approx(1.0)
    idata = fit.to_inference_data(len(fit.models), draws=200)
    assert "rho" in idata.posterior


def test_without_clusters_nothing_changes(fit):
    plain = ml.robma(Y, sei=SE, measure="SMD", cutoffs="normal", model_type="PP", draws=2000, seed=3)
    assert "Hierarchical" not in plain.components().index
    assert "rho" not in plain.estimates().index
    for a, b in zip(plain.models, fit.models):
        if not a.model.heterogeneity:  # independent estimates: the same model
            assert a.log_ml == pytest.approx(b.log_ml, abs=1e-12)


# --------------------------------------------------------------------------- bad input
def test_missing_cluster_ids_are_refused_with_their_rows():
    ids = np.array(["a", "a", None, "b", "b", "c", np.nan, "d", "d", "d"], dtype=object)
    with pytest.raises(DataError, match=r"cluster has missing ids.*3.*7"):
        ml.robma(Y, sei=SE, measure="SMD", cluster=ids)
    data = pd.DataFrame({"yi": Y, "vi": SE**2, "study": ids}, index=[f"s{i}" for i in range(K)])
    with pytest.raises(DataError, match=r"column 'study'.*s2.*s6"):
        ml.robma("yi", "vi", measure="SMD", cluster="study", data=data)


def test_one_cluster_is_refused():
    with pytest.raises(ModelSpecificationError, match="single level"):
        ml.robma(Y, sei=SE, measure="SMD", cluster=np.zeros(K))


def test_prior_of_rho_needs_clusters_and_the_unit_interval():
    with pytest.raises(ModelSpecificationError, match="needs a cluster"):
        ml.robma(Y, sei=SE, measure="SMD", prior_heterogeneity_allocation=prior("beta", 2, 2))
    with pytest.raises(ModelSpecificationError, match=r"prior on \[0, 1\]"):
        ml.robma(Y, sei=SE, measure="SMD", cluster=CODES, prior_heterogeneity_allocation=prior("normal", 0, 1))


def test_moderators_with_clusters_fit_the_clustered_regression():
    """mods and cluster combine (tests/bayes/test_robma_regcluster.py checks the models)."""
    data = pd.DataFrame({"yi": Y, "vi": SE**2, "study": CODES, "x": np.arange(K, dtype=float)})
    fit = ml.robma("yi", "vi", measure="SMD", cluster="study", mods="~ x", data=data, prior_bias=prior_pet(),
                   prior_bias_null=False, draws=500, seed=1)
    assert isinstance(fit, ml.RobmaRegFit) and len(fit.models) == 8
    assert "Hierarchical" in fit.components().index and "rho" in fit.estimates().index
    assert list(fit.moderator_components().index) == ["x"]
    assert [("rho" in r.samples) for r in fit.models] == [r.model.heterogeneity for r in fit.models]
