"""brma against the published RoBMA fit, a long JAGS run and numerical integration.

Tolerances come from Monte Carlo error, never a fixed slack:

* published RoBMA numbers (3 chains x 5000 JAGS draws, printed to 3 decimals): 4 x the combined
  MCSE of our estimate and of theirs, plus 0.0005 for their rounding (0.005 for I2 and H2 printed
  with 3 decimals on a percent / ratio scale: the same 0.0005). Their MCSE is ours scaled to the
  ESS JAGS reaches at RoBMA's settings for this model (min over mu, tau, rho: 1007, measured with
  ``tools/fixtures/brma_jags.R bench 3 5000 2000 500``; we use 1000);
* JAGS fixture (4 x 500,000 draws): 4 x the combined MCSE (the fixture's MCSE by batch means);
* quadrature (exact to ~1e-8): 4 x our MCSE.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from multilevel.bayes._quadrature import quadrature
from multilevel.bayes._diagnostics import ess, mcse_quantile, mcse_sd

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "brma_jags.json").read_text())
ESS_PUBLISHED = 1000.0

PUBLISHED = {  # summary(fit1_brma) and summary_heterogeneity(fit1_brma) in the RoBMA vignette
    "mu": {"Mean": 0.183, "SD": 0.089, "0.025": 0.009, "0.5": 0.182, "0.975": 0.365},
    "tau": {"Mean": 0.323, "SD": 0.058, "0.025": 0.233, "0.5": 0.314, "0.975": 0.461},
    "rho": {"Mean": 0.634, "SD": 0.140, "0.025": 0.329, "0.5": 0.647, "0.975": 0.863},
    "tau [within]": {"Mean": 0.187, "0.5": 0.185, "0.025": 0.132, "0.975": 0.255},
    "tau [between]": {"Mean": 0.258, "0.5": 0.248, "0.025": 0.150, "0.975": 0.417},
    "tau2": {"Mean": 0.108, "0.5": 0.099, "0.025": 0.054, "0.975": 0.213},
    "tau2 [within]": {"Mean": 0.036, "0.5": 0.034, "0.025": 0.017, "0.975": 0.065},
    "tau2 [between]": {"Mean": 0.071, "0.5": 0.062, "0.025": 0.022, "0.975": 0.174},
    "I2": {"Mean": 95.094, "0.5": 95.238, "0.025": 91.673, "0.975": 97.727},
    "I2 [within]": {"Mean": 34.673, "0.5": 33.498, "0.025": 13.262, "0.975": 62.913},
    "I2 [between]": {"Mean": 60.421, "0.5": 61.434, "0.025": 30.803, "0.975": 83.757},
    "H2": {"Mean": 22.745, "0.5": 21.000, "0.025": 12.010, "0.975": 43.998},
}


def _quantity_draws(fit):
    """Draws (chains, draws) of every quantity of summary() and summary_heterogeneity()."""
    from multilevel.bayes._summary import heterogeneity_draws, typical_variance

    post = fit.posterior
    tw, tb = fit._tau_parts()
    hd = heterogeneity_draws(tw.mean(-1), tb.mean(-1), post["rho"], typical_variance(fit.data.v, fit.data.X))
    return {"mu": post["mu"], **hd}


def _estimate_and_mcse(x, stat):
    flat = x.reshape(-1)
    if stat == "Mean":
        return flat.mean(), flat.std(ddof=1) / np.sqrt(ess(x))
    if stat == "SD":
        return flat.std(ddof=1), mcse_sd(x)
    prob = {"0.025": 0.025, "0.5": 0.5, "0.975": 0.975}[stat]
    return np.quantile(flat, prob), mcse_quantile(x, prob)


CASES = [(q, s) for q, stats in PUBLISHED.items() for s in stats]


@pytest.mark.parametrize("quantity,stat", CASES, ids=[f"{q}-{s}" for q, s in CASES])
def test_published_robma_fit(fit_ml, quantity, stat):
    x = _quantity_draws(fit_ml)[quantity]
    est, mcse = _estimate_and_mcse(x, stat)
    mcse_pub = mcse * np.sqrt(ess(x) / ESS_PUBLISHED)
    tol = 4 * np.hypot(mcse, mcse_pub) + 0.0005
    assert abs(est - PUBLISHED[quantity][stat]) <= tol


JAGS_STATS = {"mean": "Mean", "sd": "SD", "median": "0.5", "q025": "0.025", "q975": "0.975"}
JAGS_CASES = [(q, s) for q in FIXTURE["estimates"] for s in JAGS_STATS]


@pytest.mark.parametrize("quantity,stat", JAGS_CASES, ids=[f"{q}-{s}" for q, s in JAGS_CASES])
def test_long_jags_run(fit_ml, quantity, stat):
    ref = FIXTURE["estimates"][quantity]
    est, mcse = _estimate_and_mcse(_quantity_draws(fit_ml)[quantity], JAGS_STATS[stat])
    ref_mcse = ref["mcse_mean" if stat == "mean" else f"mcse_{stat}"]
    assert abs(est - ref[stat]) <= 4 * np.hypot(mcse, ref_mcse)


def test_jags_fixture_converged():
    assert max(FIXTURE["gelman_psrf"]) < 1.001
    assert FIXTURE["draws"] * FIXTURE["chains"] == 2_000_000


@pytest.fixture(scope="module")
def exact(fit_ml):
    return quadrature(fit_ml, nodes=56)


@pytest.mark.parametrize("name", ["mu", "tau", "rho"])
def test_quadrature_moments(fit_ml, exact, name):
    mean, sd = exact[1][name]
    x = fit_ml.posterior[name]
    est, mcse = _estimate_and_mcse(x, "Mean")
    assert abs(est - mean) <= 4 * mcse
    est_sd, mcse_sd = _estimate_and_mcse(x, "SD")
    assert abs(est_sd - sd) <= 4 * mcse_sd


@pytest.mark.parametrize("name", ["mu", "tau", "rho"])
def test_quadrature_agrees_with_jags(exact, name):
    """Two independent references agree: exact integration vs 2 million JAGS draws."""
    ref = FIXTURE["estimates"][name]
    assert abs(exact[1][name][0] - ref["mean"]) <= 4 * ref["mcse_mean"]


def test_quadrature_converged(fit_ml, exact):
    coarse = quadrature(fit_ml, nodes=40)
    assert abs(coarse[0].log_ml - exact[0].log_ml) < 1e-6


GRID = json.loads((Path(__file__).parents[1] / "fixtures" / "bayes" / "brma_quadrature.json").read_text())
GRID_STATS = {"mean": "Mean", "sd": "SD", "q025": "0.025", "q5": "0.5", "q975": "0.975"}
GRID_CASES = [(q, s) for q in ("mu", "tau", "rho") for s in GRID_STATS]


@pytest.mark.parametrize("quantity,stat", GRID_CASES, ids=[f"{q}-{s}" for q, s in GRID_CASES])
def test_exact_posterior_fixture(fit_ml, quantity, stat):
    """The committed exact posterior (tests/fixtures/bayes/make_brma_quadrature.py)."""
    est, mcse = _estimate_and_mcse(fit_ml.posterior[quantity], GRID_STATS[stat])
    assert abs(est - GRID["estimates"][quantity][stat]) <= 4 * mcse


@pytest.mark.parametrize("quantity,stat", [(q, s) for q in ("mu", "tau", "rho")
                                           for s in ("mean", "sd", "q025", "q975")])
def test_exact_posterior_fixture_agrees_with_jags(quantity, stat):
    ref = FIXTURE["estimates"][quantity]
    assert abs(GRID["estimates"][quantity][stat] - ref[stat]) <= 4 * ref[f"mcse_{stat}" if stat != "mean" else "mcse_mean"]


def test_in_package_quadrature_matches_fixture(exact):
    """The in-package rule stops 9 SD out on posterior-aligned axes and so leaves out a few
    millionths of the mass in the slowly decaying logit(rho) tails: 2e-5 on log p(y), far
    below the bridge-sampling error (~3e-3) it is used to check."""
    assert exact[0].log_ml == pytest.approx(GRID["log_marginal_likelihood"], abs=2e-5)
    for name in ("mu", "tau", "rho"):
        assert exact[1][name][0] == pytest.approx(GRID["estimates"][name]["mean"], abs=1e-5)
