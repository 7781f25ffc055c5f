"""Internal consistency of the RoBMA-PSMA reference fixture (tests/fixtures/bayes/robma_jags.json).

The fixture is produced by tools/fixtures/robma_jags.R (JAGS + bridgesampling) and specified in
tools/fixtures/robma_models.md. These tests hold the fixture to that specification with
independent numpy/scipy computations, so that a later ``robma`` implementation is compared with
numbers that are known to mean what the specification says:

* the stored effect sizes are metafor's SMD (reproduced by ``ml.escalc``);
* the stored cutoffs and study intervals follow the documented p-value rules;
* deterministic marginal likelihoods (closed form / one-dimensional quadrature) equal the
  fixture's quadrature values, and the bridge-sampling estimates agree with them within
  4 x their reported error;
* prior and posterior model probabilities and inclusion Bayes factors follow from the stored
  marginal likelihoods and the documented prior weights;
* MCMC summaries are internally coherent (MCSE = sd / sqrt(ESS), converged chains, monotone
  weight functions).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "robma_jags.json").read_text())
DATASETS = sorted(FIXTURE["datasets"])
WEIGHTFUNCTIONS = {wf["name"]: wf for wf in FIXTURE["weightfunctions"]}
MODELS = [(name, m) for name in DATASETS for m in FIXTURE["fits"][name]["models"]]
PRIOR_TAU_SHAPE, PRIOR_TAU_SCALE = 1.0, 0.15


def _data(name):
    d = FIXTURE["datasets"][name]
    return np.asarray(d["yi"], float), np.asarray(d["sei"], float)


def _model(name, model_id):
    return next(m for m in FIXTURE["fits"][name]["models"] if m["id"] == model_id)


# ---------------------------------------------------------------------------------------------
# data


def test_michael2013_is_escalc_smd():
    d = FIXTURE["datasets"]["michael2013"]
    out = ml.escalc("SMD", **{k: np.asarray(v, float) for k, v in d["raw"].items()})
    np.testing.assert_allclose(d["yi"], out["yi"], rtol=1e-12)
    np.testing.assert_allclose(d["vi"], out["vi"], rtol=1e-12)


@pytest.mark.parametrize("name", DATASETS)
def test_standard_errors_are_root_variances(name):
    d = FIXTURE["datasets"][name]
    np.testing.assert_allclose(np.square(d["sei"]), d["vi"], rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# cutoffs and intervals (robma_models.md, sections 3 and 4)


def _tail(wf):
    steps = np.asarray(wf["steps"], float)[::-1]
    return steps / 2 if wf["type"] == "two.sided" else steps


def _expected_crit(name, wf):
    y, se = _data(name)
    tail = _tail(wf)
    if FIXTURE["datasets"][name]["cutoff_rule"] == "normal":
        return np.outer(se, stats.norm.isf(tail))
    n = (y**2 + 8) / (2 * se**2)
    return 2 * stats.t.isf(tail[None, :], (n - 2)[:, None]) / np.sqrt(n)[:, None]


def _p_values(name, wf):
    y, se = _data(name)
    if FIXTURE["datasets"][name]["cutoff_rule"] == "normal":
        z = y / se
        return stats.norm.sf(z) if wf["type"] == "one.sided" else 2 * stats.norm.sf(np.abs(z))
    n = (y**2 + 8) / (2 * se**2)
    t = y * np.sqrt(n) / 2
    return stats.t.sf(t, n - 2) if wf["type"] == "one.sided" else 2 * stats.t.sf(np.abs(t), n - 2)


CUTOFF_CASES = [(name, c["name"]) for name in DATASETS for c in FIXTURE["datasets"][name]["cutoffs"]]


@pytest.mark.parametrize("name, wf_name", CUTOFF_CASES)
def test_cutoffs_follow_the_documented_rule(name, wf_name):
    stored = next(c for c in FIXTURE["datasets"][name]["cutoffs"] if c["name"] == wf_name)
    crit = np.asarray(stored["crit"], float)
    np.testing.assert_allclose(crit, _expected_crit(name, WEIGHTFUNCTIONS[wf_name]), rtol=1e-10, atol=1e-14)
    assert np.all(np.diff(crit, axis=1) >= 0)


@pytest.mark.parametrize("name, wf_name", CUTOFF_CASES)
def test_intervals_are_the_p_value_intervals(name, wf_name):
    """Interval 1 holds p <= first step; a p-value equal to a step counts as the smaller interval."""
    wf = WEIGHTFUNCTIONS[wf_name]
    stored = next(c for c in FIXTURE["datasets"][name]["cutoffs"] if c["name"] == wf_name)
    p = _p_values(name, wf)
    expected = 1 + np.searchsorted(np.asarray(wf["steps"], float), p, side="left")
    np.testing.assert_array_equal(stored["interval"], expected)


# ---------------------------------------------------------------------------------------------
# marginal likelihoods


def _log_normal_marginal(y, se, tau, shift, with_mu):
    """log N(y; shift, D + c 11'), D = diag(se^2 + tau^2), c = 1 when mu ~ Normal(0, 1) (Sherman-Morrison)."""
    c = 1.0 if with_mu else 0.0
    d = se**2 + tau**2
    r = y - shift
    w = 1 / d
    quad = np.sum(w * r**2) - c * np.sum(w * r) ** 2 / (1 + c * np.sum(w))
    logdet = np.sum(np.log(d)) + np.log1p(c * np.sum(w))
    return -0.5 * (y.size * np.log(2 * np.pi) + logdet + quad)


def test_sherman_morrison_density_is_the_multivariate_normal():
    y, se = _data("michael2013")
    cov = np.diag(se**2 + 0.04) + 1.0
    expected = stats.multivariate_normal(mean=0.1 * se, cov=cov).logpdf(y)
    assert _log_normal_marginal(y, se, 0.2, 0.1 * se, True) == pytest.approx(expected, rel=1e-12)


def _log_invgamma(tau):
    return stats.invgamma(PRIOR_TAU_SHAPE, scale=PRIOR_TAU_SCALE).logpdf(tau)


def _log_quad(logf, lo, hi, at):
    """log of the integral of exp(logf) over [lo, hi], split at the mode estimate ``at``."""
    top = logf(at)
    pieces = [(lo, at), (at, hi)]
    total = sum(integrate.quad(lambda u: np.exp(logf(u) - top), a, b, epsabs=0, epsrel=1e-11, limit=500)[0]
                for a, b in pieces)
    return top + np.log(total)


def _deterministic_logml(name, m):
    """Closed form (no heterogeneity, no bias) or one-dimensional quadrature (one of tau, PET, PEESE)."""
    y, se = _data(name)
    with_mu = m["effect"] == "alt"
    if m["bias"] == "none" and m["heterogeneity"] == "null":
        return _log_normal_marginal(y, se, 0.0, np.zeros_like(y), with_mu)
    if m["bias"] == "none":
        def logf(u):
            return _log_normal_marginal(y, se, np.exp(u), np.zeros_like(y), with_mu) + _log_invgamma(np.exp(u)) + u
        grid = np.linspace(np.log(1e-3), np.log(20), 201)
        return _log_quad(logf, grid[0], grid[-1], grid[np.argmax([logf(u) for u in grid])])
    x, scale = (se, 1.0) if m["bias"] == "PET" else (se**2, 5.0)

    # the likelihood is Gaussian in b: read its centre and variance off three evaluations
    l0, l1, l2 = (_log_normal_marginal(y, se, 0.0, b * x, with_mu) for b in (0.0, 1.0, 2.0))
    a2 = (l2 - 2 * l1 + l0) / 2
    centre, sd = -(l1 - l0 - a2) / (2 * a2), np.sqrt(-1 / (2 * a2))

    def logf(b):
        return _log_normal_marginal(y, se, 0.0, b * x, with_mu) + np.log(2) + stats.cauchy(0, scale).logpdf(b)
    lo, hi = max(0.0, centre - 12 * sd), max(centre + 12 * sd, 12 * sd)
    return _log_quad(logf, lo, hi, min(max(centre, lo), hi))


ONE_DIMENSIONAL = [
    (name, m["id"]) for name, m in MODELS
    if m["bias"] == "none" or (m["bias"] in ("PET", "PEESE") and m["heterogeneity"] == "null")
]
QUADRATURE = [(name, m["id"]) for name, m in MODELS if "logml_quadrature" in m]
BRIDGED = [(name, m["id"]) for name, m in MODELS if m["logml_method"] == "bridge_sampler"]


@pytest.mark.parametrize("name, model_id", ONE_DIMENSIONAL)
def test_quadrature_logml_is_reproduced(name, model_id):
    m = _model(name, model_id)
    assert m["logml_quadrature"] == pytest.approx(_deterministic_logml(name, m), abs=1e-7)


@pytest.mark.parametrize("name", DATASETS)
def test_constant_model_is_exact(name):
    y, se = _data(name)
    m = _model(name, "effect=null|heterogeneity=null|bias=none")
    assert m["logml_method"] == "exact"
    assert m["logml"] == pytest.approx(stats.norm.logpdf(y, 0, se).sum(), rel=1e-13)


@pytest.mark.parametrize("name, model_id", [c for c in QUADRATURE if c in BRIDGED])
def test_bridge_sampling_agrees_with_quadrature(name, model_id):
    """logml_cv is bridgesampling's approximate relative error of the marginal likelihood (~ sd of
    logml); it understates the error of these MCMC draws (observed differences reach ~3 x cv)."""
    m = _model(name, model_id)
    assert abs(m["logml"] - m["logml_quadrature"]) <= 4 * m["logml_cv"]


@pytest.mark.parametrize("name, model_id", BRIDGED)
def test_bridge_sampling_error_is_small(name, model_id):
    m = _model(name, model_id)
    assert 0 < m["logml_cv"] < 0.05


# ---------------------------------------------------------------------------------------------
# model probabilities


def _expected_prior_prob(m):
    bias = {"none": 1.0, "PET": 0.25, "PEESE": 0.25}.get(m["bias"], 1 / 12)
    return bias / 8.0


@pytest.mark.parametrize("name", DATASETS)
def test_prior_model_probabilities(name):
    models = FIXTURE["fits"][name]["models"]
    assert len(models) == 36 and len({m["id"] for m in models}) == 36
    prior = np.array([m["prior_prob"] for m in models])
    np.testing.assert_allclose(prior, [_expected_prior_prob(m) for m in models], rtol=1e-14)
    assert prior.sum() == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("name", DATASETS)
def test_posterior_model_probabilities(name):
    models = FIXTURE["fits"][name]["models"]
    logml = np.array([m["logml"] for m in models])
    prior = np.array([m["prior_prob"] for m in models])
    w = np.log(prior) + logml
    post = np.exp(w - w.max())
    post /= post.sum()
    stored = np.array([m["posterior_prob"] for m in models])
    np.testing.assert_allclose(stored, post, rtol=1e-10, atol=1e-300)
    assert stored.sum() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("component, null", [("effect", "null"), ("heterogeneity", "null"), ("bias", "none")])
def test_inclusion_bayes_factors(name, component, null):
    models = FIXTURE["fits"][name]["models"]
    alt = np.array([m[component] != null for m in models])
    prior = np.array([m["prior_prob"] for m in models])
    post = np.array([m["posterior_prob"] for m in models])
    stored = FIXTURE["fits"][name]["inclusion"][component]
    assert stored["prior_prob"] == pytest.approx(prior[alt].sum(), rel=1e-14)
    assert stored["prior_prob"] == pytest.approx(0.5, rel=1e-14)
    assert stored["posterior_prob"] == pytest.approx(post[alt].sum(), rel=1e-10)
    odds = post[alt].sum() / post[~alt].sum()
    assert stored["BF10"] == pytest.approx(odds, rel=1e-8)


# ---------------------------------------------------------------------------------------------
# posterior summaries

SAMPLED = [(name, m["id"]) for name, m in MODELS if "summary" in m]


@pytest.mark.parametrize("name, model_id", SAMPLED)
def test_posterior_summaries_are_coherent(name, model_id):
    m = _model(name, model_id)
    assert m["rhat"] < (1.02 if m["long_run"] else 1.1)   # RoBMA's own default check is 1.05
    expected = {"mu"} if m["effect"] == "alt" else set()
    expected |= {"tau"} if m["heterogeneity"] == "alt" else set()
    expected |= {m["bias"]} if m["bias"] in ("PET", "PEESE") else set()
    wf = WEIGHTFUNCTIONS.get(m["bias"])
    if wf is not None:
        bounds = [0.0, *wf["steps"], 1.0]
        expected |= {f"omega[{bounds[i]:g},{bounds[i + 1]:g}]" for i in range(1, len(bounds) - 1)}
    assert set(m["summary"]) == expected
    for s in m["summary"].values():
        assert s["mcse"] == pytest.approx(s["sd"] / np.sqrt(s["ess"]), rel=1e-12)
        assert s["mcse"] < (0.025 if m["long_run"] else 0.05) * s["sd"]


@pytest.mark.parametrize("name, model_id", [c for c in SAMPLED if _model(*c)["bias"] in WEIGHTFUNCTIONS])
def test_weight_functions_decrease_with_p(name, model_id):
    """Every draw is non-increasing in p (cumulative Dirichlet), hence so are the posterior means."""
    m = _model(name, model_id)
    wf = WEIGHTFUNCTIONS[m["bias"]]
    bounds = [0.0, *wf["steps"], 1.0]
    means = [1.0] + [m["summary"][f"omega[{bounds[i]:g},{bounds[i + 1]:g}]"]["mean"] for i in range(1, len(bounds) - 1)]
    assert np.all(np.diff(means) <= 0) and means[-1] > 0


def test_fixture_records_versions():
    for key in ("R_version", "rjags_version", "JAGS_version", "bridgesampling_version", "coda_version"):
        assert FIXTURE[key]
