"""glmer_nb against lme4's glmer.nb (fixture: tools/fixtures/glmer_more.R -> more_nb_ticks.json).

The search over theta ends at lme4's theta to 1e-5; the fit at that theta agrees with lme4's to
the tolerance of the fitted glmer cases (2e-4), and at lme4's parameters the printed summary is
lme4's.
"""

from __future__ import annotations

import functools
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.glmm._fit import estimate_at
from multilevel.glmm._glmer import glmer_model
from multilevel.glmm._glmer_nb import _with_theta
from multilevel.glmm._inference import vcov_matrix
from multilevel.glmm._nb import brent_fmin, negative_binomial, nb_family_name, theta_ml

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "glmm"
FORMULA = "ticks ~ height + year + (1 | brood)"


@functools.cache
def reference() -> dict:
    return json.loads((FIXTURES / "more_nb_ticks.json").read_text())


@functools.cache
def ticks() -> pd.DataFrame:
    t = reference()["data_table"]
    df = pd.DataFrame({k: t["columns"][k] for k in t["names"]})
    for k, levels in t["levels"].items():
        df[k] = pd.Categorical(df[k], categories=levels)
    return df


@functools.cache
def nb_fit():
    return ml.glmer_nb(FORMULA, ticks(), data_name="ticks")


def at_lme4():
    """The model evaluated at lme4's theta, random-effects theta and fixed effects."""
    ref = reference()
    pois = glmer_model(FORMULA, ticks(), "poisson", data_name="ticks")
    problem = _with_theta(pois.problem, ref["nb_theta"])
    y = problem.y
    est = estimate_at(problem, y + (y == 0) / 6.0, 1, ref["theta"], list(ref["fixef"].values()),
                      optimizer="Nelder_Mead")
    return ml.NegativeBinomialMixedModel(
        formula=pois.formula, family=problem.family, frame=pois.frame, response=pois.response,
        row_labels=pois.rows, data_name="ticks", weights_name=None, offset_name=None, _estimate=est,
        _problem=problem, nb_theta=ref["nb_theta"])


def test_theta_and_estimates_match_lme4():
    ref, fit = reference(), nb_fit()
    np.testing.assert_allclose(fit.nb_theta, ref["nb_theta"], rtol=2e-5)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=2e-4)
    se = np.sqrt(np.diag(vcov_matrix(fit)))
    np.testing.assert_allclose(se, ref["se"], rtol=2e-4)
    # fixed effects: relative 2e-4, or 5e-4 of a standard error for the coefficient near zero (year97 = 1e-4)
    diff = np.abs(fit.fixef.to_numpy() - np.array(list(ref["fixef"].values())))
    assert np.all(diff <= np.maximum(2e-4 * np.abs(fit.fixef.to_numpy()), 5e-4 * se))
    np.testing.assert_allclose(fit.varcorr["vcov"].to_numpy(), ref["varcorr"]["vcov"], rtol=4e-4)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], atol=1e-3)
    assert fit.num_params == ref["df"] and fit.df_resid == ref["df_resid"]
    np.testing.assert_allclose([fit.aic, fit.bic], [ref["AIC"], ref["BIC"]], atol=2e-3)


def _tokens_match(ours: str, theirs: str) -> bool:
    a, b = ours.split(), theirs.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            if x != y:
                return False
            continue
        decimals = len(y.split(".")[1]) if "." in y and "e" not in y else 0
        if not abs(fx - fy) <= max(2e-4 * abs(fy), 1.01 * 10.0 ** -decimals):
            return False
    return True


def test_summary_at_lme4_parameters_is_lme4s():
    """Layout, labels and every number of lme4's summary. lme4's conditional modes at its reported
    parameters differ from the converged PIRLS modes by ~7e-5 relative in mu (the state its last
    refit left; not reproduced here), which moves last printed digits of the scaled residuals and
    standard errors: numbers are compared to 2e-4 relative or a unit of their last printed digit."""
    text = [line.rstrip() for line in str(at_lme4().summary()).splitlines()]
    expected = [line.rstrip() for line in reference()["summary_text"]]
    assert len(text) == len(expected)
    assert text[:5] == expected[:5]
    bad = [(a, b) for a, b in zip(text, expected) if a != b and not _tokens_match(a, b)]
    assert not bad


def test_residuals_and_fitted_at_lme4_parameters():
    ref, fit = reference(), at_lme4()
    np.testing.assert_allclose(fit.fitted.to_numpy(), ref["fitted"], rtol=2e-4)
    for kind, values in ref["residuals"].items():
        np.testing.assert_allclose(fit.residuals(kind).to_numpy(), values, rtol=2e-4, atol=2e-4)


def test_family_name_is_rs():
    assert nb_family_name(1.76873123554214) == "Negative Binomial(1.7687)"
    assert nb_family_name(2.5) == "Negative Binomial(2.5)"
    assert nb_family_name(12.345678) == "Negative Binomial(12.3457)"


def test_theta_ml_solves_the_score_equation():
    from scipy import special

    rng = np.random.default_rng(5)
    mu = rng.uniform(1, 6, 4000)
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    th = theta_ml(y, mu, np.ones_like(y), limit=50, eps=1e-10)
    score = np.sum(special.digamma(th + y) - special.digamma(th) + np.log(th) + 1 - np.log(th + mu)
                   - (y + th) / (mu + th))
    assert abs(score) < 1e-6 and 1.7 < th < 2.3


def test_brent_fmin_finds_the_minimum_within_tol():
    x = brent_fmin(lambda t: (t - 0.3) ** 2 + 1.0, -2.0, 3.0, 1e-6)
    assert abs(x - 0.3) < 1e-6


def test_negative_binomial_deviance_is_zero_at_the_data():
    fam = negative_binomial(3.0)
    y = np.array([0.0, 1.0, 5.0])
    np.testing.assert_allclose(fam.dev_resid(y, np.maximum(y, 1e-300), np.ones(3))[1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(fam.variance(np.array([2.0])), [2.0 + 4.0 / 3.0])


def test_counts_are_checked():
    bad = ticks().assign(ticks=ticks()["ticks"].astype(float))
    bad.loc[3, "ticks"] = -1.0
    with pytest.raises(ml.DataError, match="negative values"):
        ml.glmer_nb(FORMULA, bad)
    bad.loc[3, "ticks"] = 1.5
    with pytest.raises(ml.DataError, match="non-integer counts"):
        ml.glmer_nb(FORMULA, bad)


def test_icc_of_negative_binomial_uses_theta():
    fit = nb_fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SingularFitWarning)
        icc = fit.icc()
    assert 0 < icc.unadjusted < icc.adjusted < 1


def test_anova_of_poisson_against_negative_binomial():
    """The likelihood-ratio test for overdispersion: a Poisson GLMM nested in the negative binomial one."""
    pois = ml.glmer(FORMULA, ticks(), "poisson", data_name="ticks")
    nb = nb_fit()
    frame = ml.anova(pois, nb, names=["pois", "nb"]).to_frame()
    assert list(frame.index) == ["pois", "nb"] and list(frame["npar"]) == [5, 6]
    np.testing.assert_allclose(frame["Chisq"].iloc[1], 2 * (nb.loglik - pois.loglik), rtol=1e-12)
    assert frame["Df"].iloc[1] == 1


def test_anova_refuses_fits_of_different_kinds():
    with pytest.raises(ml.ModelSpecificationError, match="one kind; got LinearMixedModel and "
                                                         "NegativeBinomialMixedModel"):
        ml.anova(ml.lmer("ticks ~ height + (1 | brood)", ticks()), nb_fit())
