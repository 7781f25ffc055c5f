"""rma_glmm(model="CM.EL") against metafor's rma.glmm (fixture tests/fixtures/meta/meta_rma_glmm_cmel.json,
written by tools/fixtures/meta_rma_glmm_cmel.R): the conditional model with the exact (noncentral
hypergeometric) likelihood, random-effects (ML) and equal-effects fits, to relative 1e-4, on dat.bcg,
dat.collins1985b and dat.nielweise2007 (zero cells, one table without events, which both drop), and
metafor's warning of an unusually small standard error on dat.hine1989 (tau^2 going to 0).

metafor's Hessians use numDeriv's Richardson extrapolation over 16 step halvings, which ends in
rounding noise (its Wald statistic of dat.bcg's saturated model is 268.6 where the Hessian at the
optimum gives 163.09); the quantities that come from a Hessian (standard errors, z, p, limits, the
SE of tau^2, the Wald-type test) are compared with the same fits at numDeriv's default of 4
halvings (cases *_r4), the others with metafor's defaults. For the random-effects fits the
Hessian is of an integrated likelihood whose noise (BiasedUrn's densities are accurate to 1e-10)
the extrapolation still amplifies: the standard error of tau^2 of dat.collins1985b moves by 4e-3.
Those are compared with metafor's fits with its exact density (dnoncenhypergeom) and integrals to
1e-10 (cases *_ML_r4_tight), which agree with ours to ~1e-5. The p-value of dat.bcg's pooled log
odds ratio (z = -4.19) is left out: p changes z^2 = 17.5 times as much as the standard error, so
the ~7e-6 left between two numerical Hessians becomes 1.2e-4.

dat.nielweise2007's random-effects fit at the default quadrature tolerance (eps^(1/4), metafor's)
has more quadrature noise in its Hessian than metafor's: its standard error of tau^2 is 3e-4 from
metafor's (whose default and tight fits agree to 4e-6) and its p-value (z = -3.85) 5e-4. Those two
are compared with a fit whose integrals are computed to 1e-8 (test_nielweise_hessian_with_tight_integrals),
which agrees with metafor's tight fit to ~3e-6; the default fit's other quantities are compared as for
the other data sets.
"""

import dataclasses
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

import multilevel as ml
from multilevel.meta.glmm_2x2 import _conditional

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


# Hessian quantities that the default quadrature's noise moves beyond 1e-4 (see the module docstring)
_NOISY = {("bcg_ML_r4_tight", "pval"), ("nielweise2007_ML_r4_tight", "pval"), ("nielweise2007_ML_r4_tight", "se_tau2")}


def _pairs():
    for name, case in CASES.items():
        call = case["call"]
        if call["hessian_r"] == 16:
            quantities = DEFAULT
        elif call["method"] == "EE" or call.get("quad_tol"):
            quantities = HESSIAN
        else:  # metafor's ML Hessian with BiasedUrn's densities: only the saturated model's test
            quantities = ("QE_Wld", "QEp_Wld")
        for q in quantities:
            if case.get(q) is not None and (name, q) not in _NOISY:
                yield name, q


def test_fixture_versions():
    assert FIXTURE["versions"]["metafor"] == "3.8.1"


@pytest.mark.parametrize(("name", "quantity"), list(_pairs()))
def test_matches_metafor(name, quantity):
    case = CASES[name]
    got = _ours(_fit(case["call"]["data"], case["call"]["method"]), quantity)
    np.testing.assert_allclose(got, case[quantity], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["call"]["hessian_r"] == 4
                                  and (c["call"]["method"] == "EE" or c["call"].get("quad_tol"))])
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
    # exact for a cubic but for rounding, which the extrapolation to h/8 amplifies to ~1e-6
    np.testing.assert_allclose(H, [[6 * 0.7, 4 * -1.3], [4 * -1.3, 4 * 0.7]], rtol=1e-5)


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


def test_peto_standard_error_ratio_matches_metafor():
    """The reference of metafor's check: Peto's REML model of the same tables (no correction)."""
    ratio = _conditional.peto_se_ratio(*(np.asarray(FIXTURE["data"]["hine1989"][c], dtype=float)
                                         for c in ("ai", "bi", "ci", "di")), HINE["vb"])
    np.testing.assert_allclose(ratio, np.sqrt(HINE["peto_vb"] / HINE["vb"]), rtol=RTOL)
    assert ratio >= 100


def test_unusually_small_standard_error_is_flagged_as_metafor_does():
    """dat.hine1989: tau^2 goes to 0, where the Hessian of the integrated likelihood is poorly
    determined; metafor and rma_glmm both warn that the standard error is unusually small (the
    estimates at that flat boundary are not compared: both stop where the quadrature gives out)."""
    assert "unusually small" in "".join(np.atleast_1d(HINE["warnings"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.rma_glmm(model="CM.EL", **FIXTURE["data"]["hine1989"])
    flagged = [w for w in caught if "unusually small" in str(w.message)]
    assert len(flagged) == 1 and issubclass(flagged[0].category, ml.ConvergenceWarning)
    assert fit.messages == (str(flagged[0].message),)
    assert fit.tau2 < 1e-3 and fit.se < 1e-3 * np.sqrt(HINE["peto_vb"])


def test_no_standard_error_warning_for_well_determined_fits():
    for name in ("bcg_ML", "collins1985b_ML", "nielweise2007_ML"):
        assert not any("unusually" in w or "Hessian" in w for w in np.atleast_1d(CASES[name]["warnings"]))
        assert _fit(name.split("_")[0], "ML").messages == ()


def test_nielweise_hessian_with_tight_integrals():
    """dat.nielweise2007 fitted with integrals to 1e-8: the standard errors and the p-value agree with
    metafor's fit with integrals to 1e-10 (the default tolerance's noise is what the fit above shows)."""
    ref = CASES["nielweise2007_ML_r4_tight"]
    cells = [np.asarray(FIXTURE["data"]["nielweise2007"][c], dtype=float) for c in ("ai", "bi", "ci", "di")]
    ai, bi, ci, di = cells
    keep = ~(((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0)))
    tables = _conditional.Tables.from_cells(*(c[keep] for c in cells))
    fit = _conditional.ml_fit(tables, _conditional.fe_fit(tables).beta, tol=1e-8)
    se = np.sqrt(fit.var)
    pval = 2 * norm.sf(abs(fit.beta / se))
    np.testing.assert_allclose([fit.beta, fit.tau2, se, fit.se_tau2, pval],
                               [ref["beta"], ref["tau2"], ref["se"], ref["se_tau2"], ref["pval"]], rtol=RTOL)
