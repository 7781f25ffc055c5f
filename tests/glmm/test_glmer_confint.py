"""glmer Wald intervals: lme4's confint(m, method = "Wald") is fixef -+ qnorm SE with the
variance parameters missing; checked against the lme4 fixture's estimates and standard errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import multilevel as ml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glmm"


@pytest.fixture(scope="module")
def cbpp_fit():
    return ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                    family="binomial")


@pytest.mark.parametrize("level", [0.95, 0.9, 80])
def test_wald_intervals_against_lme4_estimates(cbpp_fit, level):
    ref = json.loads((FIXTURES / "glmer_cbpp_cbind.json").read_text())
    p = level / 100 if level > 1 else level
    z = stats.norm.ppf(0.5 + p / 2)
    beta, se = np.array(list(ref["fixef"].values())), np.array(ref["se"])
    ci = cbpp_fit.confint(level=level)
    assert list(ci.index) == [".sig01", *ref["fixef"]]
    assert ci.loc[".sig01", ["lower", "upper"]].isna().all()
    assert list(ci.columns) == ["kind", "estimate", "lower", "upper"]
    assert list(ci["kind"]) == ["random"] + ["fixed"] * beta.size
    np.testing.assert_allclose(ci[["lower", "upper"]].iloc[1:].to_numpy(),
                               np.column_stack([beta - z * se, beta + z * se]), rtol=2e-5)
    np.testing.assert_allclose(ci["estimate"].to_numpy(), [ref["theta"][0], *beta], rtol=2e-4)
    assert ci.attrs == {"level": p, "method": "wald"}


def test_families_with_a_scale_have_a_sigma_row():
    """Gamma(log): lme4 lists .sigma among the (missing) variance parameters."""
    from test_glmer_fixtures import fitted, reference

    ref = reference("gamma_log")
    ci = fitted("gamma_log").confint()
    assert list(ci.index) == [".sig01", ".sigma", *ref["fixef"]]
    assert ci[["lower", "upper"]].iloc[:2].isna().all().all()
    beta, se, z = np.array(list(ref["fixef"].values())), np.array(ref["se"]), stats.norm.ppf(0.975)
    np.testing.assert_allclose(ci[["lower", "upper"]].iloc[2:].to_numpy(),
                               np.column_stack([beta - z * se, beta + z * se]), rtol=2e-5)
    np.testing.assert_allclose(ci.loc[".sigma", "estimate"], ref["sigma"], rtol=2e-4)
    # estimates: the standard deviation sigma * theta (lme4's VarCorr) and sigma
    np.testing.assert_allclose(ci["estimate"].iloc[:2], [ref["sigma"] * ref["theta"][0], ref["sigma"]], rtol=1e-4)


def test_unknown_methods_are_refused(cbpp_fit):
    with pytest.raises(ml.ArgumentError, match="'Wald', 'profile' or 'boot'"):
        cbpp_fit.confint(method="bca")


def test_boot_is_refused_for_families_with_a_scale():
    """Gamma(log): parametric bootstrap intervals of scale families are not offered (named error)."""
    from test_glmer_fixtures import fitted

    with pytest.raises(ml.ArgumentError, match="scale parameter"):
        fitted("gamma_log").confint("boot", nsim=10, seed=1)
