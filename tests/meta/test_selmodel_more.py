"""selmodel with fixed selection parameters (``delta=``) for every selection function, and
``SelmodelFit.predict`` against metafor 3.8-1's ``selmodel(..., delta =)`` and ``predict(sel)`` on
dat.hackshaw1998, dat.molloy2014 and dat.bcg.

Fixtures: tools/fixtures/meta_selmodel_more.R -> tests/fixtures/meta/meta_selmodel_more.json.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_selmodel_more.json").read_text())
RTOL = 1e-6     # estimates, log-likelihoods and tests
RTOL_SE = 1e-4  # standard errors (numDeriv's Richardson Hessian, as in test_selmodel.py)


def close(got, want, rtol=RTOL):
    got = np.atleast_1d(np.asarray(got, dtype=float))
    want = np.atleast_1d(np.asarray([np.nan if w is None else w for w in np.atleast_1d(np.asarray(want, dtype=object))],
                                    dtype=float))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-10, equal_nan=True)


def data_of(name):
    return pd.DataFrame(FIXTURE["data"][name])


def fit_of(call, **extra):
    fit = ml.rma("yi", "vi", data=data_of(call["data"]), method=call["method"], mods=call["mods"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MultilevelWarning)
        return ml.selmodel(fit, call["type"], steps=call["steps"], **extra)


_FITS = {}


def delta_fit(name):
    if name not in _FITS:
        call = FIXTURE["delta"][name]["call"]
        _FITS[name] = fit_of(call, delta=call["delta"])
    return _FITS[name]


@pytest.mark.parametrize("name", sorted(FIXTURE["delta"]))
def test_selmodel_with_fixed_deltas_matches_metafor(name):
    ref, sel = FIXTURE["delta"][name], delta_fit(name)
    close(sel.coefficients[0], ref["beta"])
    close(sel.coefficients[1], ref["se"], rtol=RTOL_SE)
    close(sel.coefficients[4], ref["ci_lb"], rtol=RTOL_SE)
    close(sel.tau2, ref["tau2"])
    close(sel.se_tau2, ref["se_tau2"], rtol=RTOL_SE)
    close(sel.delta, ref["delta"])
    close(sel.se_delta, ref["se_delta"], rtol=RTOL_SE)
    close(sel.ci_ub_delta, ref["ci_ub_delta"], rtol=RTOL_SE)
    assert sel.delta_fixed.tolist() == np.atleast_1d(ref["delta_fix"]).tolist()
    close([sel.ll, sel.ll0, sel.LRT, sel.LRT_tau2, sel.LRTp_tau2],
          [ref["ll"], ref["ll0"], ref["LRT"], ref["LRT_tau2"], ref["LRTp_tau2"]])
    close(sel.LRTp, ref["LRTp"])
    assert sel.LRTdf == ref["LRTdf"] and sel.num_params == ref["parms"]
    close(sel.fitstats().to_numpy(), ref["fit_stats"])


# printed to the last digit, except molloy negexppow: with delta_2 = 1 it is the negative-exponential function with
# delta_1 = 0.0065 near its bound 0, where numDeriv's smallest steps amplify the last-bit differences between R's
# pnorm and SciPy's ndtr (an SE of 2.0180 vs 2.0179, 5e-5; the same as molloy negexp in test_selmodel.py)
PRINT_EXACT = [name for name in sorted(FIXTURE["delta"]) if name != "molloy_negexppow"]


@pytest.mark.parametrize("name", PRINT_EXACT)
def test_selmodel_with_fixed_deltas_prints_as_metafor(name):
    got = str(delta_fit(name)).split("\n")
    assert got == [s.rstrip() for s in FIXTURE["delta"][name]["print"]]


@pytest.mark.parametrize("name", sorted(FIXTURE["predict"]))
def test_predict_matches_metafor(name):
    ref = FIXTURE["predict"][name]
    call = ref["call"]
    key = (name, "predict")
    if key not in _FITS:
        _FITS[key] = fit_of(call, **({} if call["delta"] is None else {"delta": call["delta"]}))
    kwargs = {}
    if call["transf"] is not None:
        kwargs["transf"] = {"exp": np.exp}[call["transf"]]
    if call["level"] is not None:
        kwargs["level"] = call["level"]
    got = _FITS[key].predict(call["newmods"], **kwargs)
    columns = ["pred", "se", "ci_lb", "ci_ub"] + (["pi_lb", "pi_ub"] if ref["pi_lb"] is not None else [])
    assert list(got.columns) == columns
    for col in columns:
        close(got[col].to_numpy(), ref[col], rtol=RTOL if col == "pred" else RTOL_SE)


def test_predict_fitted_values_are_indexed_by_study():
    sel = _FITS.get(("molloy_stepfun_mods_fitted", "predict")) or fit_of(
        FIXTURE["predict"]["molloy_stepfun_mods_fitted"]["call"])
    assert len(sel.predict()) == sel.k
    with pytest.raises(ml.DataError, match="columns"):
        sel.predict(np.ones((2, 3)))


def test_fixing_delta_at_no_selection_gives_the_model_without_selection():
    # w(p) = 1 for the half-normal function with delta = 0 (metafor 3.8-1 stops with an optimisation
    # error here: the start value of delta on its logistic scale is -Inf)
    fit = ml.rma("yi", "vi", data=data_of("hackshaw1998"))
    with pytest.warns(ml.ConvergenceWarning, match="bound"):
        sel = ml.selmodel(fit, "halfnorm", delta=0)
    assert sel.LRTdf == 0 and np.isnan(sel.LRTp) and sel.delta.tolist() == [0.0]
    close(sel.ll, sel.ll0, rtol=1e-8)
    close(sel.coefficients[0], ml.rma("yi", "vi", data=data_of("hackshaw1998"), method="ML").coefficients[0],
          rtol=1e-4)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"type": "halfnorm", "delta": -1}, r"delta\[1\] must be >= 0"),
    ({"type": "beta", "delta": [0, None]}, r"delta\[1\] must be > 0"),
    ({"type": "beta", "delta": [1, 1, 1]}, "must have 2 value"),
    ({"type": "stepfun", "steps": [0.05, 1], "delta": [1, "a"]}, "must hold numbers"),
])
def test_delta_argument_errors(kwargs, match):
    fit = ml.rma("yi", "vi", data=data_of("hackshaw1998"))
    with pytest.raises(ml.ArgumentError, match=match):
        ml.selmodel(fit, **kwargs)


def test_step_without_observed_p_values_may_be_fixed():
    # no p-value of hackshaw1998 falls in (0.5, 0.50001]: estimating its step fails, fixing it works
    fit = ml.rma("yi", "vi", data=data_of("hackshaw1998"))
    with pytest.raises(ml.ModelSpecificationError, match="no observed p-value"):
        ml.selmodel(fit, "stepfun", steps=[0.5, 0.50001, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MultilevelWarning)
        sel = ml.selmodel(fit, "stepfun", steps=[0.5, 0.50001, 1], delta=[1, 0.5, None])
    assert sel.delta[1] == 0.5 and sel.LRTdf == 1
