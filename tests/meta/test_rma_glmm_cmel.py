"""rma_glmm(model="CM.EL") against metafor's rma.glmm (fixture tests/fixtures/meta/meta_rma_glmm_cmel.json,
written by tools/fixtures/meta_rma_glmm_cmel.R): the conditional model with the exact (noncentral
hypergeometric) likelihood, random-effects (ML) and equal-effects fits, to relative 1e-4, on dat.bcg,
dat.collins1985b and dat.nielweise2007 (zero cells, one table without events, which both drop), and
dat.hine1989, where the likelihood decreases from tau^2 = 0 on.

What is compared (test_matches_metafor, one row per case and quantity):

* metafor's defaults (cases without suffix; Hessians by numDeriv's Richardson extrapolation over 16
  step halvings, which ends in rounding noise: its Wald statistic of dat.bcg's saturated model is
  268.6 where the Hessian at the optimum gives 163.09): the quantities that do not come from a
  Hessian (beta, tau2, I2, H2, vt, the likelihood-ratio test, logLik, AIC, BIC, QE_df, k, parms).
* the same fits with numDeriv's default of 4 halvings (cases *_r4; for ML metafor's default
  quadrature, R's integrate to eps^(1/4) of BiasedUrn's densities): the quantities from a Hessian
  (se, zval, pval, ci_lb, ci_ub, se_tau2, the Wald-type test), every one of them, against our
  default fit. With numDeriv's steps (the first a tenth of each coordinate) the likelihood is
  evaluated at metafor's points by the same quadrature rule and the ML standard errors and p-values
  agree to ~1e-7, the quadrature's error included.
* metafor's ML fits with its exact density (dnoncenhypergeom) and integrals to 1e-10 (cases
  *_ML_r4_tight, all three data sets; the default tolerance's error moves metafor's se_tau2 of
  dat.collins1985b by 4e-3 and its p-value of dat.nielweise2007 by 7e-4 from these, and ours alike):
  every quantity against our fit with integrals to 1e-10 (test_matches_metafor_with_tight_integrals;
  ~1e-7).
* the fit statistics and (at metafor's estimates) the printed output of every *_r4 case
  (test_fit_statistics_and_print).
* dat.hine1989 (test_hine_*): metafor 3.8-1 stops at tau^2 = 7.0e-5 (beta 0.578366) where the
  quadrature, at neighbouring points, misses the normal density narrower than its first subintervals
  and the likelihood jumps down (by ~8); the maximum is at tau^2 = 0, where the likelihood's slope is
  -4.556. Ours is the equal-effects fit with tau^2 = 0. Compared: beta, se, zval, pval, the limits and
  logLik with metafor's equal-effects fit (case hine1989_EE_r4), the likelihood-ratio test with
  metafor's ML fit, logLik >= metafor's ML logLik (by 3.2e-4), the slope at tau^2 = 0 with a
  difference quotient of the likelihood (integrals to 1e-10) to 1e-3; metafor's point is on the
  likelihood (its logLik recomputed with integrals to 1e-10, to 1e-4) and its beta is the maximum
  over beta at its tau^2 (integrals to 1e-10; 1.5e-5 apart, compared to 1e-4); metafor's warning of an
  unusually small standard error (from its Hessian at that point, 6.3e-7) is not given.
"""

import dataclasses
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import norm

import multilevel as ml
from multilevel.meta.glmm_2x2 import _conditional, _models

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_rma_glmm_cmel.json").read_text())
CASES = FIXTURE["cases"]
RTOL = 1e-4
HESSIAN = ("se", "zval", "pval", "ci_lb", "ci_ub", "se_tau2", "QE_Wld", "QEp_Wld")
DEFAULT = ("beta", "tau2", "I2", "H2", "vt", "QE_LRT", "QEp_LRT", "logLik", "AIC", "BIC", "QE_df", "k", "parms")


@lru_cache(maxsize=None)
def _fit(data: str, method: str) -> ml.RmaGlmmFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)  # dat.nielweise2007's table without events
        return ml.rma_glmm(model="CM.EL", method=method, **FIXTURE["data"][data])


def _ours(fit: ml.RmaGlmmFit, quantity: str) -> float:
    values = {"beta": fit.estimate, "se": fit.se, "zval": fit.zval, "pval": fit.pval, "ci_lb": fit.ci_lb,
              "ci_ub": fit.ci_ub, "tau2": fit.tau2, "se_tau2": fit.se_tau2, "I2": fit.I2, "H2": fit.H2,
              "vt": fit.vt, "QE_Wld": fit.QE_Wld, "QEp_Wld": fit.QEp_Wld, "QE_LRT": fit.QE_LRT,
              "QEp_LRT": fit.QEp_LRT, "logLik": fit.loglik, "AIC": fit.aic, "BIC": fit.bic, "QE_df": fit.QE_df,
              "k": fit.k, "parms": fit.parms}
    return values[quantity]


def _pairs():
    for name, case in CASES.items():
        call = case["call"]
        if call.get("quad_tol"):
            continue  # test_matches_metafor_with_tight_integrals
        quantities = DEFAULT if call["hessian_r"] == 16 else HESSIAN
        for q in quantities:
            if case.get(q) is not None:
                yield name, q


def _tables(data: str) -> _conditional.Tables:
    cells = [np.asarray(FIXTURE["data"][data][c], dtype=float) for c in ("ai", "bi", "ci", "di")]
    ai, bi, ci, di = cells
    keep = ~(((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0)))
    return _conditional.Tables.from_cells(*(c[keep] for c in cells))


@lru_cache(maxsize=None)
def _tight_fit(data: str) -> dict[str, float]:
    tables = _tables(data)
    fit = _conditional.ml_fit(tables, _conditional.fe_fit(tables), tol=1e-10)
    se = np.sqrt(fit.var)
    half = norm.ppf(0.975) * se
    return {"beta": fit.beta, "se": se, "zval": fit.beta / se, "pval": 2 * norm.sf(abs(fit.beta / se)),
            "ci_lb": fit.beta - half, "ci_ub": fit.beta + half, "tau2": fit.tau2, "se_tau2": fit.se_tau2,
            "logLik": fit.ll}


def test_fixture_versions():
    assert FIXTURE["versions"]["metafor"] == "3.8.1"


@pytest.mark.parametrize(("name", "quantity"), list(_pairs()))
def test_matches_metafor(name, quantity):
    case = CASES[name]
    got = _ours(_fit(case["call"]["data"], case["call"]["method"]), quantity)
    np.testing.assert_allclose(got, case[quantity], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(("name", "quantity"), [(n, q) for n, c in CASES.items() if c["call"].get("quad_tol")
                                                for q in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2",
                                                          "se_tau2", "logLik")])
def test_matches_metafor_with_tight_integrals(name, quantity):
    """metafor's exact densities and integrals to 1e-10 against ours to 1e-10."""
    case = CASES[name]
    np.testing.assert_allclose(_tight_fit(case["call"]["data"])[quantity], case[quantity], rtol=RTOL)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["call"]["hessian_r"] == 4])
def test_fit_statistics_and_print(name):
    case = CASES[name]
    fit = _fit(case["call"]["data"], case["call"]["method"])
    np.testing.assert_allclose(fit.fitstats().to_numpy(), case["fit_stats"], rtol=RTOL)
    at_r = dataclasses.replace(fit, estimate=case["beta"], se=case["se"], tau2=case["tau2"],
                               se_tau2=case["se_tau2"] if case["se_tau2"] is not None else float("nan"),
                               QE_Wld=case["QE_Wld"], QE_LRT=case["QE_LRT"], I2=case["I2"], H2=case["H2"])
    assert str(at_r).rstrip("\n").split("\n") == [s.rstrip() for s in case["printed"].rstrip("\n").split("\n")]


def test_wald_statistic_of_the_saturated_model_is_exact():
    """The inverse-variance weighted spread of the tables' own estimates (metafor's Schur complement
    of the saturated Hessian), 163.09 for dat.bcg, not the noise-driven 268.6 of 16 halvings."""
    assert CASES["bcg_EE"]["QE_Wld"] > 268
    np.testing.assert_allclose(_fit("bcg", "EE").QE_Wld, CASES["bcg_EE_r4"]["QE_Wld"], rtol=RTOL)


def test_richardson_hessian_of_a_polynomial():
    f = lambda x: x[0] ** 3 + 2 * x[0] * x[1] ** 2 - x[1]  # noqa: E731
    H = _conditional.richardson_hessian(f, np.array([0.7, -1.3]))
    # second differences of a cubic are exact but for rounding
    np.testing.assert_allclose(H, [[6 * 0.7, 4 * -1.3], [4 * -1.3, 4 * 0.7]], rtol=1e-8)


def test_richardson_hessian_steps_are_numderivs():
    """numDeriv's hessian (metafor's): first steps a tenth of each coordinate (1e-4 for a zero one),
    then halved three times; with steps 1e-4 |x| the Hessian of dat.nielweise2007's integrated
    likelihood picked up different quadrature error from metafor's (SE of tau^2 3e-4 apart)."""
    x = np.array([0.7, 0.0, -2.0])
    points = []
    _conditional.richardson_hessian(lambda p: points.append(p.copy()) or float(p @ p), x)
    steps = {float(np.max(np.abs(p - x))) for p in points[1:] if np.count_nonzero(p - x) == 1 and (p - x)[0]}
    np.testing.assert_allclose(sorted(steps), [0.07 / 8, 0.07 / 4, 0.07 / 2, 0.07], rtol=1e-12)
    steps = {float(np.max(np.abs(p - x))) for p in points[1:] if np.count_nonzero(p - x) == 1 and (p - x)[1]}
    np.testing.assert_allclose(sorted(steps), [1e-4 / 8, 1e-4 / 4, 1e-4 / 2, 1e-4], rtol=1e-12)


def test_density_is_fishers_noncentral_hypergeometric():
    from scipy.stats import nchypergeom_fisher

    tables = _conditional.Tables.from_cells(np.array([3.0]), np.array([7.0]), np.array([5.0]), np.array([4.0]))
    # 3 of the 8 events in group 1 (10 subjects; group 2 has 9), odds ratio e^0.4
    want = nchypergeom_fisher.logpmf(3, 19, 10, 8, np.exp(0.4))
    np.testing.assert_allclose(tables.logp(0, 0.4), want, rtol=1e-12)
    mean, var = tables.moments(0, 0.4)
    np.testing.assert_allclose([mean, var], nchypergeom_fisher.stats(19, 10, 8, np.exp(0.4), moments="mv"),
                               rtol=1e-10)


def test_single_table_equal_effects_and_errors():
    fit = ml.rma_glmm(model="CM.EL", method="EE", ai=[4], bi=[119], ci=[11], di=[128])
    assert fit.k == 1 and np.isnan(fit.QE_Wld)
    with pytest.raises(ml.ModelSpecificationError, match="at least 2"):
        ml.rma_glmm(model="CM.EL", ai=[4], bi=[119], ci=[11], di=[128])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        with_zero = ml.rma_glmm(model="CM.EL", method="EE", ai=[0, 5, 2], bi=[10, 5, 8], ci=[3, 4, 2], di=[7, 6, 8])
    assert np.isfinite(with_zero.estimate) and np.isfinite(with_zero.QE_LRT)


# ------------------------------------------------------------------ metafor's checks of the ML Hessian
def test_hessian_not_positive_definite_is_inverted_by_qr_with_a_warning():
    H = np.array([[2.0, 0.3], [0.3, -1.0]])
    vb, messages = _conditional.ml_covariance(H)
    np.testing.assert_allclose(vb, np.linalg.inv(H), rtol=1e-12)
    assert [category for category, _ in messages] == [ml.ConvergenceWarning]
    assert "not positive definite" in messages[0][1]
    vb, messages = _conditional.ml_covariance(np.array([[2.0, 0.3], [0.3, 1.0]]))
    assert messages == ()


@pytest.mark.parametrize("H", [[[1.0, 1.0], [1.0, 1.0]], [[np.nan, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, 2.0]]],
                         ids=["singular", "not finite", "negative variance"])
def test_hessian_that_gives_no_variance_raises(H):
    with pytest.raises(ml.ModelSpecificationError, match="Hessian|variance"):
        _conditional.ml_covariance(np.array(H))


HINE = FIXTURE["warning_cases"]["hine1989_ML"]
HINE_EE = FIXTURE["warning_cases"]["hine1989_EE_r4"]


def test_peto_standard_error_ratio_matches_metafor():
    """The reference of metafor's check: Peto's REML model of the same tables (no correction)."""
    ratio = _conditional.peto_se_ratio(*(np.asarray(FIXTURE["data"]["hine1989"][c], dtype=float)
                                         for c in ("ai", "bi", "ci", "di")), HINE["vb"])
    np.testing.assert_allclose(ratio, np.sqrt(HINE["peto_vb"] / HINE["vb"]), rtol=RTOL)
    assert ratio >= 100


def test_hine_tau2_is_on_the_boundary():
    """dat.hine1989: the likelihood decreases from tau^2 = 0 on; the fit is the equal-effects one with
    tau^2 = 0 (metafor's equal-effects fit), whose log-likelihood is above that of metafor 3.8-1's
    stopping point, without metafor's warning of an unusually small standard error (its Hessian there
    gave 6.3e-7)."""
    tables = _tables("hine1989")
    fe = _conditional.fe_fit(tables)
    slope = _conditional.boundary_slope(tables, fe.beta)
    assert slope == pytest.approx(-4.556, abs=1e-3)
    ll = -_conditional.ml_deviance(tables, np.array([fe.beta, np.log(1e-4)]), tol=1e-10)
    np.testing.assert_allclose((ll - fe.ll) / 1e-4, slope, rtol=1e-3)  # the likelihood's own slope
    assert "unusually small" in "".join(np.atleast_1d(HINE["warnings"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = ml.rma_glmm(model="CM.EL", **FIXTURE["data"]["hine1989"])
    ee = ml.rma_glmm(model="CM.EL", method="EE", **FIXTURE["data"]["hine1989"])
    assert fit.tau2 == 0 and fit.I2 == 0 and fit.H2 == 1 and np.isnan(fit.se_tau2) and fit.messages == ()
    assert (fit.estimate, fit.se, fit.loglik) == (ee.estimate, ee.se, ee.loglik)
    assert fit.parms == HINE["parms"] == 2
    assert fit.loglik >= HINE["logLik"] and fit.loglik - HINE["logLik"] == pytest.approx(3.18e-4, abs=1e-6)
    for q in ("QE_LRT", "QEp_LRT", "QE_df", "k", "vt"):  # QE_Wld: metafor's 16-halving Hessian
        np.testing.assert_allclose(_ours(fit, q), HINE[q], rtol=RTOL)
    for q in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "logLik"):  # metafor's equal-effects fit
        np.testing.assert_allclose(_ours(fit, q), HINE_EE[q], rtol=RTOL)


def test_hine_metafor_stops_on_the_likelihood_below_its_maximum():
    """metafor's point (tau^2 = 7.0e-5) is on the likelihood: its logLik recomputed with integrals to
    1e-10 agrees, and its beta is the maximum over beta at that tau^2 to 1.5e-5. At the default
    tolerance, a step away in beta the quadrature misses the normal density (sd 0.008) and the
    likelihood drops by 8: the optimizer stops there."""
    tables = _tables("hine1989")
    log_tau2 = np.log(HINE["tau2"])
    ll = -_conditional.ml_deviance(tables, np.array([HINE["beta"], log_tau2]), tol=1e-10)
    np.testing.assert_allclose(ll, HINE["logLik"], rtol=RTOL)
    best = optimize.minimize_scalar(lambda b: _conditional.ml_deviance(tables, np.array([b, log_tau2]), tol=1e-10),
                                    bracket=(0.5, 0.6), tol=1e-10)
    np.testing.assert_allclose(best.x, HINE["beta"], rtol=RTOL)
    beside = np.array([_conditional.fe_fit(tables).beta, log_tau2])
    assert _conditional.ml_deviance(tables, beside) > _conditional.ml_deviance(tables, beside, tol=1e-10) + 7


@pytest.mark.parametrize(("ratio", "word"), [(150.0, "small"), (1 / 150, "large"), (99.0, None), (np.nan, None)])
def test_standard_error_check_against_peto(ratio, word):
    messages = _models._se_plausibility(ratio)
    if word is None:
        assert messages == ()
    else:
        assert [c for c, _ in messages] == [ml.ConvergenceWarning] and f"unusually {word}" in messages[0][1]


def test_no_standard_error_warning_for_well_determined_fits():
    for name in ("bcg_ML", "collins1985b_ML", "nielweise2007_ML"):
        assert not any("unusually" in w or "Hessian" in w for w in np.atleast_1d(CASES[name]["warnings"]))
        assert _fit(name.split("_")[0], "ML").messages == ()
