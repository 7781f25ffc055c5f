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


# --------------------------------------------------------------------------- protocol and options
def test_protocol_members(rma_mh_fit):
    fit = rma_mh_fit
    assert list(fit.params.index) == ["(Intercept)"] and fit.params.iloc[0] == fit.estimate
    vc = fit.vcov()
    assert vc.shape == (1, 1) and vc.iloc[0, 0] == pytest.approx(fit.se**2)
    assert list(fit.tidy().columns) == ["term", "kind", "estimate", "std_error", "statistic", "p_value",
                                        "conf_low", "conf_high"]
    assert list(fit.confint().columns) == ["kind", "estimate", "lower", "upper"]
    pd.testing.assert_frame_equal(fit.to_frame(), fit.tidy())
    with pytest.raises(AttributeError):
        fit.estimate = 0.0


def test_level_changes_limits_as_metafor(fits):
    ref = FITS["mh/OR/bcg/level90_nocorrect"]
    ci = fits["mh/OR/bcg"].confint(level=0.90)
    _close(ci.loc["(Intercept)", ["lower", "upper"]].to_numpy(dtype=float), [ref["ci_lb"], ref["ci_ub"]], 1e-6)
    pred = fits["mh/OR/bcg"].predict(transf=np.exp, level=90)
    _close(pred.loc[0, ["pred", "ci_lb", "ci_ub"]].to_numpy(dtype=float),
           np.exp(_num([ref["beta"], ref["ci_lb"], ref["ci_ub"]])), 1e-6)
    assert np.isnan(pred.loc[0, "se"])


def test_arrays_without_data_give_the_same_fit(fits):
    d = DATA["bcg"]
    fit = ml.rma_peto(ai=d["tpos"].to_numpy(), bi=d["tneg"].to_numpy(), ci=d["cpos"].to_numpy(),
                      di=d["cneg"].to_numpy())
    assert str(fit) == str(fits["peto/bcg"])


def test_tables_with_missing_values_are_dropped_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ml.rma_mh(data=DATA["collins"], ai="b.xti", n1i="nti", ci="b.xci", n2i="nci")
    messages = [str(w.message) for w in caught if issubclass(w.category, ml.MissingDataWarning)]
    assert "2 rows with missing values in b.xti, b.xci dropped (25 of 27 rows used): rows 6, 18" in messages
    assert any("study outcome(s) yi/vi missing" in m for m in messages)
    assert all(w.filename == __file__ for w in caught)


@pytest.mark.parametrize("call, error, match", [
    (lambda d: ml.rma_mh(data=d, ai="tpos", bi="tneg", ci="cpos", di="cneg", measure="SMD"), ml.ArgumentError,
     "measure OR, RR, RD, IRR, IRD"),
    (lambda d: ml.rma_mh(data=d, ai="tpos", bi="tneg", ci="cpos", di="cneg", measure="IRR"), ml.ArgumentError,
     "takes x1i, x2i, t1i, t2i; ai, bi, ci, di belong to another measure"),
    (lambda d: ml.rma_mh(ai=[3, -1], bi=[5, 5], ci=[2, 2], di=[6, 6]), ml.DataError,
     r"ai has negative counts; offending rows: 2 \(-1\)"),
    (lambda d: ml.rma_mh(ai=[3, 1], bi=[5, 5], ci=[2, 2]), ml.DataError, "missing: di"),
    (lambda d: ml.rma_mh(x1i=[3], x2i=[2], t1i=[0], t2i=[10], measure="IRR"), ml.DataError,
     "t1i has person-times <= 0"),
    (lambda d: ml.rma_mh(data=d, ai="tpos", bi="tneg", ci="cpos", di="cneg", add=(0.5, 0.5, 0.5)),
     ml.ArgumentError, "add takes one or two values"),
    (lambda d: ml.rma_mh(data=d, ai="tpos", bi="tneg", ci="cpos", di="cneg", to=("only0", "each")),
     ml.ArgumentError, "to must be one of"),
    (lambda d: ml.rma_peto(ai=[0, 0], bi=[5, 5], ci=[0, 0], di=[6, 6]), ml.DataError,
     "one of the two outcomes never occurs"),
    (lambda d: ml.rma_peto(data=d, ai="tpos", bi="tneg", ci="cpos", di="cneg", level=100), ml.ArgumentError,
     "level"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.MissingDataWarning)
            call(DATA["bcg"])


def test_no_events_anywhere_gives_missing_estimate_and_notes_in_print():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        fit = ml.rma_mh(ai=[0, 0], bi=[5, 5], ci=[0, 0], di=[6, 6])
    assert np.isnan(fit.estimate)
    assert "CMH = test value not computable" not in str(fit)
    assert "Cochran-Mantel-Haenszel Test:    test value not computable for these data" in str(fit)


def test_two_stage_options_as_arrays(fits):
    d = DATA["collins"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        fit = ml.rma_mh(data=d, ai="b.xti", n1i="nti", ci="b.xci", n2i="nci", add=np.array([0.5, 0.5]),
                        to=["only0", "all"])
    assert str(fit) == str(fits["mh/OR/collins/to_all"])
