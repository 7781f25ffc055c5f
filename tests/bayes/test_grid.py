"""The quadrature engine (engine="quadrature", the default for models of dimension <= 3).

Its draws are independent, so the Monte Carlo error of a mean is SD / sqrt(n), of an SD
(delta method) sd((x - mean)^2) / (2 SD sqrt(n)), and a quantile q_p is checked through the
fraction of draws below the reference value, whose error is sqrt(p (1 - p) / n). Every
tolerance is 4 such errors (combined with the reference's own error where it has one).
"""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes._quadrature import quadrature

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bayes"
GRID = json.loads((FIXTURES / "brma_quadrature.json").read_text())
JAGS = json.loads((FIXTURES / "brma_jags.json").read_text())
PROBS = {"q025": 0.025, "q5": 0.5, "median": 0.5, "q975": 0.975}


def _k2011(**kwargs):
    dat = ml.datasets.load("konstantopoulos2011")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return ml.brma(yi="yi", vi="vi", measure="SMD", data=dat, seed=1, progress=False, **kwargs)


@pytest.fixture(scope="module")
def fit_q():
    """The seed's call with the default engine."""
    return _k2011(cluster="district")


@pytest.fixture(scope="module")
def fit_q_re():
    return _k2011()


def _quantities(fit):
    """Draws of mu and of every heterogeneity quantity, flattened."""
    out = {"mu": fit.posterior["mu"].reshape(-1)}
    tw, tb = fit._tau_parts()
    from multilevel.bayes._summary import heterogeneity_draws, typical_variance

    hd = heterogeneity_draws(tw.mean(-1), tb.mean(-1) if fit.is_multilevel else None,
                             fit.posterior.get("rho"), typical_variance(fit.data.v, fit.data.X))
    return out | {k: v.reshape(-1) for k, v in hd.items()}


def _check(x, stat, ref, ref_error=0.0):
    """|estimate - reference| within 4 combined Monte Carlo errors (iid draws)."""
    n = x.size
    if stat == "mean":
        assert abs(x.mean() - ref) <= 4 * np.hypot(x.std(ddof=1) / np.sqrt(n), ref_error)
    elif stat == "sd":
        sd = x.std(ddof=1)
        mcse = np.std((x - x.mean()) ** 2) / (2 * sd * np.sqrt(n))
        assert abs(sd - ref) <= 4 * np.hypot(mcse, ref_error)
    else:
        p = PROBS[stat]
        # the reference's own error moves the fraction below it by about density * error
        slack = 4 * np.sqrt(p * (1 - p) / n)
        lo, hi = np.mean(x <= ref - 4 * ref_error), np.mean(x <= ref + 4 * ref_error)
        assert lo - slack <= p <= hi + slack


def test_default_engine_is_quadrature(fit_q, fit_q_re):
    assert fit_q.engine == "quadrature" and fit_q_re.engine == "quadrature"
    assert fit_q.posterior["tau"].shape == (3, 5000) and fit_q.convergence == ()
    assert fit_q.warmup == 0


GRID_CASES = [(q, s) for q in ("mu", "tau", "rho") for s in ("mean", "sd", "q025", "q5", "q975")]


@pytest.mark.parametrize("quantity,stat", GRID_CASES, ids=[f"{q}-{s}" for q, s in GRID_CASES])
def test_exact_posterior_fixture(fit_q, quantity, stat):
    """Against the committed exact posterior (make_brma_quadrature.py, 96^3 Gauss-Legendre)."""
    _check(_quantities(fit_q)[quantity], stat, GRID["estimates"][quantity][stat])


JAGS_CASES = [(q, s) for q in JAGS["estimates"] for s in ("mean", "sd", "median", "q025", "q975")]


@pytest.mark.parametrize("quantity,stat", JAGS_CASES, ids=[f"{q}-{s}" for q, s in JAGS_CASES])
def test_long_jags_run(fit_q, quantity, stat):
    """Against 4 x 500,000 JAGS draws: mu, tau, rho and the heterogeneity quantities (I2, H2)."""
    ref = JAGS["estimates"][quantity]
    err = ref["mcse_mean"] if stat == "mean" else ref[f"mcse_{stat}"]
    _check(_quantities(fit_q)[quantity], stat, ref[stat], err)


# summary(fit1_brma) in the RoBMA vignette: 3 chains x 5000 JAGS draws (ESS about 1000),
# printed to 3 decimals
PUBLISHED = {"mu": {"mean": 0.183, "q025": 0.009, "q975": 0.365}, "tau": {"mean": 0.323},
             "rho": {"mean": 0.634}}
PUB_CASES = [(q, s) for q, stats in PUBLISHED.items() for s in stats]


@pytest.mark.parametrize("quantity,stat", PUB_CASES, ids=[f"{q}-{s}" for q, s in PUB_CASES])
def test_published_robma_numbers(fit_q, quantity, stat):
    x = _quantities(fit_q)[quantity]
    if stat == "mean":
        err_pub = x.std(ddof=1) / np.sqrt(1000.0)
    else:  # quantile MCSE at ESS 1000, from the density of our draws at the quantile
        q = np.quantile(x, PROBS[stat])
        dens = np.mean(np.abs(x - q) < 0.01) / 0.02
        err_pub = np.sqrt(PROBS[stat] * (1 - PROBS[stat]) / 1000.0) / dens
    _check(x, stat, PUBLISHED[quantity][stat], err_pub + 0.0005 / 4)


def test_log_marginal_likelihood(fit_q):
    grid = fit_q.log_marginal_likelihood(method="grid")
    assert grid.log_ml == pytest.approx(GRID["log_marginal_likelihood"], abs=1e-6)
    assert grid.mc_error < 1e-6
    # the in-package integration of the uncollapsed posterior leaves out ~2e-5 (test_reference)
    assert grid.log_ml == pytest.approx(quadrature(fit_q, nodes=56)[0].log_ml, abs=2e-5)
    bridge = fit_q.log_marginal_likelihood(method="bridge")
    assert abs(bridge.log_ml - grid.log_ml) <= 4 * bridge.mc_error


def test_log_marginal_likelihood_error_from_two_resolutions(fit_q):
    from multilevel.bayes._grid import LogPosterior, build_grid

    f = LogPosterior(fit_q._layout, fit_q.data)
    grid = build_grid(f)
    assert grid.log_ml == fit_q._run.log_ml and 0 < grid.log_ml_error < 1e-8


def test_random_effects_model(fit_q_re):
    """One parameter (tau): moments against the in-package quadrature of the full posterior."""
    ml_q, moments = quadrature(fit_q_re)
    assert fit_q_re.log_marginal_likelihood(method="grid").log_ml == pytest.approx(ml_q.log_ml, abs=1e-6)
    for name in ("mu", "tau"):
        mean, sd = moments[name]
        _check(fit_q_re.posterior[name].reshape(-1), "mean", mean)
        _check(fit_q_re.posterior[name].reshape(-1), "sd", sd)


def _bcg():
    bcg = ml.datasets.load("bcg").copy()
    bcg["yi"] = np.log((bcg.tpos / (bcg.tpos + bcg.tneg)) / (bcg.cpos / (bcg.cpos + bcg.cneg)))
    bcg["vi"] = 1 / bcg.tpos - 1 / (bcg.tpos + bcg.tneg) + 1 / bcg.cpos - 1 / (bcg.cpos + bcg.cneg)
    return bcg


def test_location_scale_regression():
    """tau and a scale coefficient on the grid; the meta-regression coefficients collapsed.
    (The in-package integration of the full 4-parameter posterior is not converged to 1e-3 on
    log p(y) at its default 22 nodes per axis, so the marginal likelihood is checked against
    bridge sampling.)"""
    fit = ml.brma("yi", "vi", measure="RR", mods="~ ablat", scale="~ year", data=_bcg(), seed=3,
                  progress=False)
    assert fit.engine == "quadrature"
    grid, bridge = (fit.log_marginal_likelihood(method=m) for m in ("grid", "bridge"))
    assert grid.mc_error < 1e-6 and abs(grid.log_ml - bridge.log_ml) <= 4 * bridge.mc_error
    _, moments = quadrature(fit, nodes=28)
    for name in ("mu", "ablat", "tau", "log(tau): year"):
        _check(fit.posterior[name].reshape(-1), "mean", moments[name][0])
        _check(fit.posterior[name].reshape(-1), "sd", moments[name][1])


def test_three_dimensions_with_a_sampled_effect():
    """A Cauchy prior on mu (not collapsible) makes (mu, tau, rho) a 3-dimensional grid."""
    fit = _k2011(cluster="district", prior_effect=ml.prior("cauchy", 0, 0.5),
                 prior_heterogeneity=ml.prior("invgamma", 1, 0.15))
    assert fit.engine == "quadrature"
    ml_q, moments = quadrature(fit)
    assert fit.log_marginal_likelihood(method="grid").log_ml == pytest.approx(ml_q.log_ml, abs=1e-4)
    for name in ("mu", "tau", "rho"):
        _check(fit.posterior[name].reshape(-1), "mean", moments[name][0])
        _check(fit.posterior[name].reshape(-1), "sd", moments[name][1])


def test_no_free_parameters():
    """Point priors on mu and tau: nothing to integrate, the marginal likelihood is exact."""
    fit = _k2011(prior_effect=ml.prior("point", 0), prior_heterogeneity=ml.prior("point", 0.3))
    assert fit.engine == "quadrature" and np.all(fit.posterior["tau"] == 0.3)
    expected = quadrature(fit)[0].log_ml
    assert fit.log_marginal_likelihood(method="grid").log_ml == pytest.approx(expected, abs=1e-10)


def test_bayes_factor_of_the_cluster_level(fit_q, fit_q_re):
    bf = ml.bayes_factor(fit_q, fit_q_re, method="grid")
    exact = ml.bayes_factor(fit_q, fit_q_re, method="quadrature")
    assert bf.log_bf == pytest.approx(exact.log_bf, abs=1e-4) and bf.bf > 1e3


def test_summary_reports_independent_draws(fit_q):
    frame = fit_q.summary().to_frame()
    assert (frame["ESS"] == 15000).all()
    np.testing.assert_allclose(frame["MCMC error"], frame["SD"] / np.sqrt(15000))
    assert (abs(frame["R-hat"] - 1) < 0.01).all()


def test_rhat_without_numpyro_matches_numpyro():
    from numpyro.diagnostics import split_gelman_rubin

    from multilevel.bayes._diagnostics import rhat_numpy

    x = np.random.default_rng(0).normal(size=(3, 101)) + np.array([[0.0], [0.1], [0.3]])
    assert rhat_numpy(x) == pytest.approx(float(split_gelman_rubin(x)), rel=1e-12)


def test_reproducible_and_extend(fit_q):
    again = _k2011(cluster="district")
    np.testing.assert_array_equal(again.posterior["rho"], fit_q.posterior["rho"])
    np.testing.assert_array_equal(again.cluster_effects(), fit_q.cluster_effects())
    longer = fit_q.extend(draws=1000, progress=False)
    assert longer.draws == 6000 and longer.engine == "quadrature"
    np.testing.assert_array_equal(longer.posterior["tau"][:, :5000], fit_q.posterior["tau"])
    assert not np.isin(longer.posterior["tau"][:, 5000:], fit_q.posterior["tau"]).any()


def test_ranef_and_inference_data(fit_q):
    assert fit_q.ranef().shape == (11, 4)
    idata = fit_q.to_inference_data()
    assert "sample_stats" not in idata.groups()
    assert idata.posterior["u"].shape == (3, 5000, 11)


def test_numpy_likelihood_equals_the_jax_model(fit_q):
    """The grid's NumPy log posterior is NUTS's potential energy, negated."""
    import jax.numpy as jnp

    from multilevel.bayes._engine import compiled
    from multilevel.bayes._design import model_args as _args
    from multilevel.bayes._grid import LogPosterior

    f = LogPosterior(fit_q._layout, fit_q.data)
    U = np.array([[-1.2, 0.5], [-0.5, -2.0], [0.3, 3.0]])
    args = tuple(jnp.asarray(a) for a in _args(fit_q.data))
    comp = compiled(fit_q._layout, fit_q.data.num_clusters, args)
    z = {s: jnp.asarray(U[:, i]) for i, s in enumerate(comp.sites)}
    np.testing.assert_allclose(f(U), -np.asarray(comp.potential(z, args)), rtol=1e-12)


def test_engine_argument_errors():
    with pytest.raises(ml.ArgumentError, match="engine must be one of"):
        _k2011(engine="gibbs")
    bcg = _bcg()
    with pytest.raises(ml.ModelSpecificationError, match=r"at most 3 parameters.*\(tau, rho, d1, d2\)"):
        ml.brma("yi", "vi", measure="RR", scale="~ year + ablat", cluster="author", data=bcg,
                engine="quadrature")


def test_auto_falls_back_to_nuts_on_larger_models():
    from multilevel.bayes._engines import choose
    from multilevel.bayes._layout import make_layout
    from multilevel.bayes._priors import default_priors

    big = make_layout(default_priors(2.0, multilevel=True, mods=[], scale=["a", "b"]))
    small = make_layout(default_priors(2.0, multilevel=True, mods=["x", "y"], scale=["a"]))
    assert choose("auto", big) == "nuts" and choose("auto", small) == "quadrature"
    assert choose("NUTS", small) == "nuts"


def test_default_fit_needs_no_jax():
    """The default engine imports neither JAX, NumPyro, ArviZ nor scipy.stats."""
    code = ("import sys\n"
            "import multilevel as ml\n"
            "d = ml.datasets.load('konstantopoulos2011')\n"
            "fit = ml.brma(d.yi, d.vi, measure='SMD', cluster=d.district, seed=1, progress=False)\n"
            "fit.summary(); fit.summary_heterogeneity(); fit.log_marginal_likelihood()\n"
            "print(fit.engine, sorted(m for m in ('jax', 'numpyro', 'arviz', 'scipy.stats') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "quadrature []"


def test_cluster_sums_in_any_order_and_with_empty_clusters():
    from multilevel.bayes._grid_model import Segments

    rng = np.random.default_rng(2)
    codes = rng.permutation(np.repeat([0, 1, 3, 4], [3, 1, 5, 2]))  # cluster 2 empty, unsorted
    x = rng.normal(size=(7, codes.size))
    expected = x @ np.eye(5)[codes]
    np.testing.assert_allclose(Segments(codes, 5)(x), expected, rtol=1e-14, atol=1e-14)
    ordered = np.sort(codes)
    np.testing.assert_allclose(Segments(ordered, 5)(x), x @ np.eye(5)[ordered], rtol=1e-14, atol=1e-14)


def test_unsorted_clusters_give_the_same_fit(fit_q):
    """Rows in another order: the same exact posterior and log marginal likelihood."""
    dat = ml.datasets.load("konstantopoulos2011").sample(frac=1.0, random_state=4)
    fit = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=1, progress=False)
    assert fit._run.log_ml == pytest.approx(fit_q._run.log_ml, abs=1e-10)
    np.testing.assert_allclose(fit._run.state[1].log_mass, fit_q._run.state[1].log_mass, atol=1e-9)
