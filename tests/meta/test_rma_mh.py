"""ml.rma_mh and ml.rma_peto against metafor 3.8-1 (estimates, tests, fit statistics, printed text).

Fixtures: tools/fixtures/meta_escalc_more.R -> tests/fixtures/meta/rma_mh_peto.json (data included).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "rma_mh_peto.json").read_text())
FITS = FIXTURE["fits"]
DATA = {name: pd.DataFrame({col: np.array([np.nan if v is None else v for v in vals], dtype=float)
                            for col, vals in cols.items()}) for name, cols in FIXTURE["data"].items()}


def _num(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def _fit(key):
    ref = FITS[key]
    extra = dict(ref["extra"] or {})
    fn = ml.rma_mh if ref["fun"] == "rma.mh" else ml.rma_peto
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        return fn(data=DATA[ref["data"]], **ref["args"], **extra)


@pytest.fixture(scope="module")
def fits():
    return {key: _fit(key) for key in FITS}


def _close(actual, expected, rtol):
    np.testing.assert_allclose(_num(actual), _num(expected), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("key", list(FITS))
def test_estimates_match_metafor(fits, key):
    fit, ref = fits[key], FITS[key]
    _close(fit.estimate, ref["beta"], 1e-4)
    _close(fit.se, ref["se"], 1e-4)
    _close([fit.zval, fit.pval], [ref["zval"], ref["pval"]], 1e-4)
    _close([fit.ci_lb, fit.ci_ub], [ref["ci_lb"], ref["ci_ub"]], 1e-3)
    assert (fit.k, fit.k_yi) == (ref["k"], ref["k_yi"])


@pytest.mark.parametrize("key", list(FITS))
def test_heterogeneity_and_table_tests_match_metafor(fits, key):
    fit, ref = fits[key], FITS[key]
    _close([fit.QE, fit.QEp, fit.I2, fit.H2], [ref["QE"], ref["QEp"], ref["I2"], ref["H2"]], 1e-4)
    t = fit.tests
    for name in ("CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp", "k_pos"):
        if ref[name] == []:  # rma.peto has no such element
            assert np.isnan(getattr(t, name))
        else:
            _close(getattr(t, name), ref[name], 1e-4)


@pytest.mark.parametrize("key", list(FITS))
def test_fit_statistics_and_protocol_match_metafor(fits, key):
    fit, ref = fits[key], FITS[key]
    ml_stats = fit.fit_stats["ML"]
    _close([ml_stats[s] for s in ("ll", "dev", "AIC", "BIC", "AICc")], ref["fit_ML"], 1e-4)
    _close([fit.fit_stats["REML"][s] for s in ("ll", "dev", "AIC", "BIC", "AICc")], ref["fit_REML"], 1e-4)
    _close([fit.loglik, fit.aic, fit.bic], [ref["logLik"], ref["AIC"], ref["BIC"]], 1e-4)
    assert fit.nobs == ref["nobs"]
    pred = fit.predict()
    _close(pred.loc[0, ["pred", "se", "ci_lb", "ci_ub"]].to_numpy(dtype=float),
           [ref["predict"][c] for c in ("pred", "se", "ci_lb", "ci_ub")], 1e-4)


@pytest.mark.parametrize("key", list(FITS))
def test_study_outcomes_are_escalc_values(fits, key):
    ref = FITS[key]
    yi = _num(ref["yi"])
    _close(fits[key].yi, yi[~np.isnan(yi)], 1e-10)


@pytest.mark.parametrize("key", list(FITS))
def test_print_matches_metafor(fits, key):
    assert str(fits[key]).split("\n") == [s.rstrip() for s in FITS[key]["print"]]


@pytest.mark.parametrize("key", list(FITS))
def test_summary_matches_metafor(fits, key):
    assert str(fits[key].summary()).split("\n") == [s.rstrip() for s in FITS[key]["summary"]]
