"""predict / simulate, confint (profile, Wald, boot) and ranef intervals against lme4."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from workflow_common import fit, fixture, matrix

PRED = fixture("predict")
CI = fixture("confint")
RANEF = fixture("ranef")
SLOPE = "Reaction ~ Days + (Days | Subject)"
INTERCEPT = "Reaction ~ Days + (1 | Subject)"


@pytest.fixture(scope="module")
def newdata():
    return pd.DataFrame(PRED["newdata"])


@pytest.mark.parametrize("key,formula,kwargs", [
    ("slope_allow_new", SLOPE, {"allow_new_levels": True}),
    ("slope_re_na", SLOPE, {"re_form": "NA"}),
    ("slope_re_0", SLOPE, {"re_form": "~0"}),
    ("intercept_allow_new", INTERCEPT, {"allow_new_levels": True}),
])
def test_predict_newdata(newdata, key, formula, kwargs):
    got = fit(formula, "sleep").predict(newdata, **kwargs)
    np.testing.assert_allclose(got.to_numpy(), PRED[key], rtol=1e-8)


def test_predict_fitted_and_population():
    m = fit(SLOPE, "sleep")
    np.testing.assert_allclose(m.predict().to_numpy(), PRED["slope_fitted"], rtol=1e-8)
    np.testing.assert_allclose(m.predict(re_form="~0").to_numpy(), PRED["slope_population"], rtol=1e-10)


def test_predict_nested_new_levels():
    ref = PRED["pastes_new"]
    m = fit("strength ~ 1 + (1 | batch/cask)", "pastes")
    np.testing.assert_allclose(m.predict().to_numpy(), PRED["pastes_fitted"], rtol=1e-7)
    got = m.predict(pd.DataFrame({"batch": ref["batch"], "cask": ref["cask"]}), allow_new_levels=True)
    np.testing.assert_allclose(got.to_numpy(), ref["predict"], rtol=1e-7)


def test_new_levels_refused_by_default(newdata):
    with pytest.raises(ml.DataError, match="new levels detected in newdata for Subject: 999"):
        fit(SLOPE, "sleep").predict(newdata)


def test_simulate_is_reproducible_and_centred():
    m = fit(INTERCEPT, "sleep")
    a, b = m.simulate(200, seed=7), m.simulate(200, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert a.shape == (180, 200)
    # the mean of the simulated responses is X beta; its sd over rows is sqrt(sd_subject^2 + sigma^2)
    pop = m.predict(re_form="~0").to_numpy()
    se = np.sqrt(m.varcorr["vcov"].sum() / 200)
    assert np.max(np.abs(a.mean(axis=1).to_numpy() - pop)) < 5 * se


@pytest.mark.parametrize("key,formula,data", [
    ("sleepstudy_profile", SLOPE, "sleep"),
    ("sleepstudy_intercept_profile", INTERCEPT, "sleep"),
    ("pastes_profile", "strength ~ 1 + (1 | batch/cask)", "pastes"),
    ("students_intercept_profile", "test_score ~ 1 + study_time + (1 | school)", "students"),
    ("dyestuff_profile", "Yield ~ 1 + (1 | Batch)", "Dyestuff"),
    ("dyestuff2_profile", "Yield ~ 1 + (1 | Batch)", "Dyestuff2"),
    ("penicillin_profile", "diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    ("sleepstudy_uncorrelated_profile", "Reaction ~ Days + (Days || Subject)", "sleep"),
])
def test_profile_confint(key, formula, data):
    ref = matrix(CI[key])
    got = fit(formula, data).confint(method="profile", parallel=False, progress=False)
    assert list(got.index) == list(ref.index)
    assert list(got.columns) == ["kind", "estimate", "lower", "upper"]
    # lme4 interpolates a spline through its profile grid; we solve for the crossing exactly
    np.testing.assert_allclose(got[["lower", "upper"]].to_numpy(), ref.to_numpy(), rtol=2e-4, atol=1e-8)


def test_acceptance_profile_sleepstudy_six_rows():
    ref = matrix(CI["sleepstudy_profile"])
    got = fit(SLOPE, "sleep").confint(method="profile", progress=False)  # two processes
    assert list(got.index) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
    np.testing.assert_allclose(got[["lower", "upper"]].to_numpy(), ref.to_numpy(), rtol=5e-4)


def test_profile_confint_level():
    ref = matrix(CI["sleepstudy_profile_90"])
    got = fit(INTERCEPT, "sleep").confint(level=0.9, parallel=False, progress=False)
    assert got.loc["Days", "lower"] < got.loc["Days", "upper"]
    full = fit(SLOPE, "sleep").confint(level=0.9, parallel=False, progress=False)
    np.testing.assert_allclose(full[["lower", "upper"]].to_numpy(), ref.to_numpy(), rtol=2e-4)


def test_wald_confint():
    ref = matrix(CI["sleepstudy_wald"])
    got = fit(SLOPE, "sleep").confint(method="Wald")
    np.testing.assert_allclose(got[["lower", "upper"]].to_numpy(dtype=float), ref.to_numpy(), rtol=1e-7)


def test_bootstrap_confint_is_seeded_and_sensible():
    m = fit(INTERCEPT, "sleep")
    a = m.confint(method="boot", nsim=40, seed=11, progress=False)
    b = m.confint(method="boot", nsim=40, seed=11, parallel=False, progress=False)
    pd.testing.assert_frame_equal(a, b)
    profile = matrix(CI["sleepstudy_intercept_profile"])
    # 40 replicates: the percentile interval of Days sits around the profile interval
    assert a.loc["Days", "lower"] < m.fixef["Days"] < a.loc["Days", "upper"]
    assert abs(a.loc["Days", "lower"] - profile.loc["Days"].iloc[0]) < 1.0


def test_bad_method():
    with pytest.raises(ml.ModelSpecificationError, match="method"):
        fit(INTERCEPT, "sleep").confint(method="exact")


@pytest.mark.parametrize("key,formula,data", [
    ("sleepstudy_slope", SLOPE, "sleep"),
    ("students_intercept", "test_score ~ 1 + study_time + (1 | school)", "students"),
])
def test_ranef_intervals_use_lme4_condvar(key, formula, data):
    ref = RANEF[key]
    m = fit(formula, data)
    table = m.ranef_intervals()
    for group, r in ref.items():
        if group == "versions":
            continue
        k = len(r["names"]) if isinstance(r["names"], list) else 1
        post = np.array(r["postVar"]).reshape(r["postVar_dim"][::-1])  # R's column-major (k, k, levels)
        part = table[table.grpvar == group]
        for j, term in enumerate(r["names"] if k > 1 else [r["names"]]):
            sd = part[part.term == term]["condsd"].to_numpy()
            np.testing.assert_allclose(sd, np.sqrt(post[:, j, j]), rtol=1e-6)
        z = 1.959963984540054
        np.testing.assert_allclose(table["upper"] - table["condval"], z * table["condsd"], rtol=1e-12)


def test_worker_processes_are_spawned_when_a_threaded_runtime_is_loaded(monkeypatch):
    import sys
    import types

    from multilevel.lmm._bootstrap import process_pool

    monkeypatch.setitem(sys.modules, "jax", types.ModuleType("jax"))
    with process_pool(1) as pool:
        assert pool._mp_context.get_start_method() == "spawn"


def test_profile_students_both_where_lme4_interpolates_coarsely():
    """Three schools: the profile of the correlation (.sig02) is steep near -1.

    lme4 interpolates a spline through a coarse grid there; its limits are off the
    crossings (zeta at lme4's lower limit is -1.60, not -1.96). multilevel solves for
    the crossings, so zeta is +-1.96 at its limits; the other rows agree with lme4.
    """
    from multilevel.lmm._profile import fit_setup, zeta_function

    ref = matrix(CI["students_both_profile"])
    m = fit("test_score ~ 1 + study_time + (1 + study_time | school)", "students")
    got = m.confint(parallel=False, progress=False)
    others = [r for r in ref.index if r != ".sig02"]
    np.testing.assert_allclose(got.loc[others, ["lower", "upper"]].to_numpy(), ref.loc[others].to_numpy(),
                               rtol=5e-4)
    zeta = zeta_function(fit_setup(m), 1)
    np.testing.assert_allclose([zeta(v) for v in got.loc[".sig02", ["lower", "upper"]]], [-1.959964, 1.959964],
                               atol=1e-5)
    assert abs(zeta(ref.loc[".sig02"].iloc[0])) < 1.7
