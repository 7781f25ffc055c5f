"""Prior objects and RoBMA's default priors."""

import math

import numpy as np
import pytest
from scipy import integrate

import multilevel as ml
from multilevel.bayes._priors import default_priors, unit_information_sd


@pytest.mark.parametrize("measure,uisd", [("SMD", math.sqrt(2)), ("ZCOR", 1.0), ("OR", 2.0), ("RR", 2.0),
                                          ("HR", 2.0), ("IRR", 2.0)])
def test_known_unit_information_sd(measure, uisd):
    assert unit_information_sd(measure) == uisd


def test_estimated_unit_information_sd():
    se = np.array([0.2, 0.3, 0.25])
    n = np.array([100, 50, 70])
    assert unit_information_sd("GEN", se, n) == pytest.approx(math.sqrt(n.sum() / np.sum(1 / se**2)), rel=1e-14)
    with pytest.raises(ml.ModelSpecificationError, match="sample sizes"):
        unit_information_sd("GEN", se)


def test_default_priors_smd():
    p = default_priors(math.sqrt(2), multilevel=True, mods=["x"], scale=["s"])
    assert (p.mu.family, p.mu.params) == ("normal", (0.0, math.sqrt(2) / 2))
    assert (p.tau.family, p.tau.params, p.tau.lower) == ("normal", (0.0, math.sqrt(2) / 4), 0.0)
    assert (p.rho.family, p.rho.params) == ("beta", (1.0, 1.0))
    assert p.mods["x"].params == (0.0, math.sqrt(2) / 4)
    assert p.scale["s"].params == (0.0, 0.5)


def test_print_priors(fit_ml):
    assert str(fit_ml.priors).splitlines() == [
        "Priors:",
        "  mu  ~ Normal(0, 0.71)",
        "  tau ~ Normal(0, 0.35)[0, Inf]",
        "  rho ~ Beta(1, 1)",
        "(unit information SD = 1.414)",
    ]
    assert "mu" in fit_ml.priors._repr_html_() and fit_ml.priors._repr_html_().startswith("<pre>")


PRIORS = [ml.prior("normal", 0, 1), ml.prior("normal", 0.1, 0.3, lower=0), ml.prior("cauchy", 0, 0.5, lower=0),
          ml.prior("t", 0, 1, 3), ml.prior("invgamma", 1, 0.15), ml.prior("beta", 2, 3),
          ml.prior("uniform", 0, 2), ml.prior("normal", 0, 1, lower=-1, upper=2)]


@pytest.mark.parametrize("p", PRIORS, ids=str)
def test_density_integrates_to_one(p):
    lo, hi = max(p.lower, -np.inf), min(p.upper, np.inf)
    total = integrate.quad(lambda x: float(p.pdf(x)), lo, hi, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("p", PRIORS, ids=str)
def test_numpyro_density_matches(p):
    import jax.numpy as jnp

    x = np.linspace(max(p.lower, -3) + 0.05, min(p.upper, 3) - 0.05, 7)
    ours = p.logpdf(x)
    theirs = np.asarray(p.numpyro_distribution().log_prob(jnp.asarray(x)))
    np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-12)


def test_point_prior():
    p = ml.prior("point", 0)
    assert p.is_point and str(p) == "Spike(0)"
    with pytest.raises(ml.ModelSpecificationError):
        p.logpdf(0.0)


@pytest.mark.parametrize("args,kwargs,match", [
    (("gamma", 1, 1), {}, "unknown prior"),
    (("normal", 0), {}, "needs sd"),
    (("normal", 0, -1), {}, "must be positive"),
    (("normal", 0, 1), {"lower": 2, "upper": 1}, "empty"),
    (("beta", 1, 1), {"gamma": 2}, "unknown parameter"),
])
def test_bad_priors(args, kwargs, match):
    with pytest.raises(ml.ModelSpecificationError, match=match):
        ml.prior(*args, **kwargs)
