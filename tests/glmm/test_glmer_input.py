"""glmer: bad input raises named errors that say what and where; formula handling of cbind/offset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.glmm._family import make_family
from multilevel.glmm._response import split_formula

CBIND = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture
def cbpp():
    return ml.datasets.load("cbpp")


@pytest.fixture
def counts():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(12), 8)
    return pd.DataFrame({"y": rng.poisson(3.0, g.size).astype(float), "x": rng.normal(size=g.size),
                         "t": rng.uniform(1, 3, g.size), "g": pd.Categorical([f"g{i:02d}" for i in g])})


def test_split_formula_finds_cbind_and_offsets():
    f = split_formula("cbind(a, n - a) ~ x + offset(log(t)) + offset(z) + (1 | g)")
    assert f.lhs == ("a", "n - a") and f.is_cbind
    assert f.offsets == ("log(t)", "z")
    assert f.rhs == "x + (1 | g)"
    assert split_formula("y ~ offset(log(t)) + (1 | g)").rhs == "(1 | g)"


def test_unknown_family_and_link():
    with pytest.raises(ml.ArgumentError, match="unknown family 'binomal'"):
        make_family("binomal")
    with pytest.raises(ml.ArgumentError, match="link 'sqrt' is not available for the binomial family"):
        make_family("binomial", "sqrt")
    with pytest.raises(ml.ArgumentError, match="link 'logit' is not available for the poisson family"):
        make_family("poisson(link = 'logit')")
    assert str(make_family(("binomial", "cloglog"))) == "binomial(cloglog)"
    assert str(make_family("inverse.gaussian(log)")) == "inverse.gaussian(log)"


def test_unknown_family_in_glmer(cbpp):
    with pytest.raises(ml.ArgumentError, match="unknown family"):
        ml.glmer(CBIND, cbpp, "negbin")


def test_negative_counts(counts):
    counts.loc[[3, 5], "y"] = [-1.0, -2.0]
    with pytest.raises(ml.DataError, match=r"negative values not allowed for the poisson family.*rows 3, 5"):
        ml.glmer("y ~ x + (1 | g)", counts, "poisson")


def test_non_integer_counts(counts):
    counts.loc[7, "y"] = 2.5
    with pytest.raises(ml.DataError, match=r"non-integer counts.*row 7 with values \[2.5\]"):
        ml.glmer("y ~ x + (1 | g)", counts, "poisson")


def test_proportions_outside_unit_interval(cbpp):
    cbpp["p"] = cbpp["incidence"] / cbpp["size"]
    cbpp.loc[2, "p"] = 1.5
    with pytest.raises(ml.DataError, match=r"between 0 and 1.*row 2 with values \[1.5\]"):
        ml.glmer("p ~ period + (1 | herd)", cbpp, "binomial", weights="size")


def test_proportions_without_trials_are_non_integer_successes(cbpp):
    cbpp["p"] = cbpp["incidence"] / cbpp["size"]
    with pytest.raises(ml.DataError, match="non-integer number of successes.*weights = number of trials"):
        ml.glmer("p ~ period + (1 | herd)", cbpp, "binomial")


def test_cbind_negative_and_non_integer(cbpp):
    bad = cbpp.copy()
    bad.loc[4, "incidence"] = -1
    with pytest.raises(ml.DataError, match=r"negative successes.*row 4"):
        ml.glmer(CBIND, bad, "binomial")
    bad = cbpp.copy()
    bad["incidence"] = bad["incidence"].astype(float)
    bad.loc[0, "incidence"] = 1.5
    with pytest.raises(ml.DataError, match=r"non-integer successes.*row 0"):
        ml.glmer(CBIND, bad, "binomial")


def test_cbind_needs_binomial(cbpp):
    with pytest.raises(ml.ModelSpecificationError, match="cbind\\(\\) response needs the binomial family"):
        ml.glmer(CBIND, cbpp, "poisson")


def test_gamma_needs_positive_response(counts):
    with pytest.raises(ml.DataError, match="non-positive values not allowed for the Gamma family"):
        ml.glmer("y ~ x + (1 | g)", counts.assign(y=counts["y"] - 1.0), 'Gamma(link = "log")')


def test_negative_weights(cbpp):
    w = np.ones(len(cbpp))
    w[10] = -1
    with pytest.raises(ml.DataError, match=r"weights must be finite and non-negative; row 10"):
        ml.glmer(CBIND, cbpp, "binomial", weights=w)
    with pytest.raises(ml.DataError, match="weights must have one value per row"):
        ml.glmer(CBIND, cbpp, "binomial", weights=np.ones(3))


def test_unknown_columns(cbpp):
    with pytest.raises(ml.UnknownColumnError):
        ml.glmer("cbind(incidence, sizes - incidence) ~ period + (1 | herd)", cbpp, "binomial")
    with pytest.raises(ml.UnknownColumnError):
        ml.glmer("incidence / size ~ period + (1 | herd)", cbpp, "binomial", weights="n_trials")


def test_nagq_rules(cbpp, counts):
    with pytest.raises(ml.ArgumentError, match="nAGQ must be an integer from 0 to 100"):
        ml.glmer(CBIND, cbpp, "binomial", nAGQ=-1)
    counts["h"] = pd.Categorical(np.arange(len(counts)) % 5)
    with pytest.raises(ml.ModelSpecificationError, match="single, scalar random-effects term"):
        ml.glmer("y ~ x + (1 | g) + (1 | h)", counts, "poisson", nAGQ=3)


def test_constant_response(counts):
    with pytest.raises(ml.ModelSpecificationError, match="constant"):
        ml.glmer("y ~ x + (1 | g)", counts.assign(y=1.0), "poisson")


def test_no_random_effects(counts):
    with pytest.raises(ml.ModelSpecificationError, match="no random effects terms"):
        ml.glmer("y ~ x", counts, "poisson")


def test_bad_control_and_residual_type(cbpp):
    with pytest.raises(ml.ArgumentError, match="unknown control option tolPwrss"):
        ml.glmer(CBIND, cbpp, "binomial", control={"tolPwrss": 1e-8})
    fit = ml.glmer(CBIND, cbpp, "binomial")
    with pytest.raises(ml.ArgumentError, match="unknown residual type 'raw'"):
        fit.residuals("raw")
    with pytest.raises(ml.ArgumentError, match="type must be 'link' or 'response'"):
        fit.predict(type="mu")


def test_factor_response_counts_non_first_level_as_success(cbpp):
    rows = cbpp.loc[cbpp.index.repeat(cbpp["size"])].reset_index(drop=True)
    # expand to one row per animal: the first `incidence` animals of each herd-period are cases
    pos = rows.groupby(["herd", "period"], observed=True).cumcount()
    rows["sick"] = pd.Categorical(np.where(pos < rows["incidence"], "yes", "no"), categories=["no", "yes"])
    rows["sick01"] = (rows["sick"] == "yes").astype(float)
    a = ml.glmer("sick ~ period + (1 | herd)", rows, "binomial")
    b = ml.glmer("sick01 ~ period + (1 | herd)", rows, "binomial")
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-12)


def test_offset_argument_equals_offset_term(counts):
    a = ml.glmer("y ~ x + offset(log(t)) + (1 | g)", counts, "poisson")
    b = ml.glmer("y ~ x + (1 | g)", counts, "poisson", offset=np.log(counts["t"].to_numpy()))
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)


def test_family_forms_give_the_same_fit(cbpp):
    a = ml.glmer(CBIND, cbpp, "binomial")
    b = ml.glmer(CBIND, cbpp, ("binomial", "logit"))
    c = ml.glmer(CBIND, cbpp, make_family("binomial(link = 'logit')"))
    for other in (b, c):
        np.testing.assert_allclose(other.fixef.to_numpy(), a.fixef.to_numpy(), rtol=1e-12)


def test_start_at_the_optimum_stays_there(cbpp):
    fit = ml.glmer(CBIND, cbpp, "binomial")
    again = ml.glmer(CBIND, cbpp, "binomial", start={"theta": fit.theta, "fixef": fit.fixef.to_numpy()})
    np.testing.assert_allclose(again.fixef.to_numpy(), fit.fixef.to_numpy(), rtol=2e-5)
    np.testing.assert_allclose(again.loglik, fit.loglik, atol=1e-7)


def test_without_the_first_stage_pirls_starts_elsewhere(cbpp):
    """lme4's deviance depends on where PIRLS starts (its stopping rule): skipping stage 1 moves the
    estimates by ~4e-4 here, towards the fully converged optimum."""
    fit = ml.glmer(CBIND, cbpp, "binomial")
    direct = ml.glmer(CBIND, cbpp, "binomial", start={"theta": fit.theta, "fixef": fit.fixef.to_numpy()},
                      control={"stage1": False})
    tight = ml.glmer(CBIND, cbpp, "binomial", control={"tol_pwrss": 1e-10})
    assert np.max(np.abs(direct.fixef.to_numpy() / fit.fixef.to_numpy() - 1)) > 1e-4
    np.testing.assert_allclose(direct.fixef.to_numpy(), tight.fixef.to_numpy(), rtol=5e-5)


def test_result_is_frozen_and_labelled(cbpp):
    fit = ml.glmer(CBIND, cbpp.set_index(cbpp.index + 100), "binomial")
    with pytest.raises(AttributeError):
        fit.formula = "y ~ 1"
    assert fit.fitted.index[0] == 100 and fit.residuals().index[-1] == 155
    assert repr(fit).startswith("<GeneralizedLinearMixedModel binomial(logit)")
    assert str(fit).startswith("Generalized linear mixed model fit by maximum likelihood (Laplace")
    assert fit.params.equals(fit.fixef)
    assert list(fit.summary().to_frame().columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]


def test_missing_values_are_dropped_with_a_warning(cbpp):
    cbpp = cbpp.astype({"incidence": float})
    cbpp.loc[[0, 1], "incidence"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="2 rows with missing values"):
        fit = ml.glmer(CBIND, cbpp, "binomial")
    assert fit.nobs == 54 and 0 not in fit.fitted.index


def test_pirls_failure_is_a_named_error(cbpp):
    from multilevel.glmm._glmer import glmer_model
    from multilevel.glmm._pirls import PirlsError

    model = glmer_model(CBIND, cbpp, "binomial")
    p = model.problem
    with pytest.raises(PirlsError, match="pwrssUpdate did not converge in \\(maxit\\) iterations") as info:
        p.pirls(p.theta_start(), p.initial_eta(model.response.mustart), None, maxit=1)
    assert isinstance(info.value, ml.MultilevelError)
