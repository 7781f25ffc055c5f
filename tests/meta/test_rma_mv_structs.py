"""rma_mv with serial (AR, HAR, CAR) and spatial (SP*) structures against metafor 3.8-1.

Fixtures from tools/fixtures/meta_structs.R.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import block_diag

import multilevel as ml
from multilevel._exceptions import ModelSpecificationError, MultilevelWarning

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "meta_structs.json"
DOC = json.loads(FIXTURE.read_text())
REF = DOC["cases"]

TOL_EST = 1e-4
TOL_INTERVAL = 1e-3


def ishak_long() -> tuple[pd.DataFrame, np.ndarray]:
    """dat.ishak2007 in long format with metafor's ``vcalc(..., phi = 0.97)`` matrix."""
    wide = ml.datasets.load("ishak2007")
    parts = [pd.DataFrame({"study": wide["study"], "time": t, "yi": wide[f"y{t}i"], "vi": wide[f"v{t}i"],
                           "mdur": wide["mdur"], "mbase": wide["mbase"]}) for t in range(1, 5)]
    dat = pd.concat(parts).dropna(subset=["yi"]).sort_values(["study", "time"], kind="stable")
    dat = dat.reset_index(drop=True)
    dat["months"] = np.array([3, 6, 12, 24])[dat["time"] - 1]
    sd = np.sqrt(dat["vi"].to_numpy())
    t = dat["time"].to_numpy()
    same = dat["study"].to_numpy()[:, None] == dat["study"].to_numpy()[None, :]
    V = np.outer(sd, sd) * 0.97 ** np.abs(t[:, None] - t[None, :]) * same
    return dat, V


def fine_long() -> pd.DataFrame:
    return pd.DataFrame(DOC["data"]["fine1993_long"])


def berkey() -> tuple[pd.DataFrame, np.ndarray]:
    dat = ml.datasets.load("berkey1998")
    return dat, block_diag(*[g[["v1i", "v2i"]].to_numpy() for _, g in dat.groupby("trial", sort=True)])


_FITS: dict[str, ml.RmaMvFit] = {}


def fit_case(name: str) -> ml.RmaMvFit:
    if name not in _FITS:
        call = dict(REF[name]["call"])
        if isinstance(call.get("random"), list):
            call["random"] = list(call["random"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultilevelWarning)
            if name.startswith("ishak"):
                dat, V = ishak_long()
                _FITS[name] = ml.rma_mv("yi", V, data=dat, **call)
            elif name.startswith("fine"):
                dat = fine_long()
                if "drop_time" in call:
                    dat.loc[dat["time"] == call.pop("drop_time"), "yi"] = np.nan
                _FITS[name] = ml.rma_mv("yi", "vi", data=dat, **call)
            elif name.startswith("berkey"):
                dat, V = berkey()
                _FITS[name] = ml.rma_mv("yi", V, data=dat, **call)
            else:
                _FITS[name] = ml.rma_mv("yi", "vi", data=ml.datasets.load("konstantopoulos2011"), **call)
    return _FITS[name]


def close(actual, expected, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def text_lines(lines):
    out = [line.rstrip() for line in lines]
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


@pytest.mark.parametrize("name", list(REF))
def test_estimates_match_metafor(name):
    fit, ref = fit_case(name), REF[name]
    close(fit.beta, ref["beta"], TOL_EST, 1e-8)
    close(fit.se, ref["se"], TOL_EST)
    close(fit.ci_lb, ref["ci_lb"], TOL_EST)
    close(fit.ci_ub, ref["ci_ub"], TOL_EST)
    close(fit.sigma2, ref["sigma2"] or [], TOL_EST, 1e-9)
    close(fit.tau2, ref["tau2"], TOL_EST, 1e-9)
    close(fit.rho, ref["rho"], TOL_EST, 1e-6)
    close(fit.loglik, ref["loglik"], 1e-7)
    close(fit.QE, ref["QE"], 1e-10)
    close(fit.QM, ref["QM"], TOL_EST)
    assert fit.k == ref["k"] and fit.p == ref["p"] and fit.parms == ref["parms"]
    assert fit._g.nlevels[0] == ref["g_nlevels"][0]


@pytest.mark.parametrize("name", list(REF))
def test_printed_output_matches_metafor(name):
    """Printed at metafor's estimates (its optimizer stops a few 1e-6 short of the optimum)."""
    fit, ref = fit_case(name), REF[name]
    nat = np.concatenate([np.atleast_1d(ref[k]) for k in ("sigma2", "tau2", "rho") if ref[k] is not None])
    assert str(fit._at(nat)).split("\n") == text_lines(ref["print"])


CONFINT = [n for n in REF if "confint" in REF[n]]


@pytest.mark.parametrize("name", CONFINT)
def test_profile_confint(name):
    fit, ref = fit_case(name), REF[name]["confint"]
    ci = fit.confint()
    assert list(ci.query("kind == 'fixed'").index) == fit.coef_names
    ci = ci.query("kind == 'random'").rename(columns={"lower": "ci_lb", "upper": "ci_ub"})
    rows = [r.replace("^2", "2") for r in ref["rows"]]
    assert list(ci.index) == rows
    close(ci["estimate"], ref["estimate"], TOL_EST, 1e-6)
    close(ci["ci_lb"], ref["ci_lb"], TOL_INTERVAL, 2e-4)
    close(ci["ci_ub"], ref["ci_ub"], TOL_INTERVAL, 2e-4)


@pytest.mark.parametrize("name", ["konst_car", "ishak_spexp"])
def test_confint_printed_output(name):
    assert str(fit_case(name).confint_report()).split("\n") == text_lines(REF[name]["confint"]["print"])


def test_car_equals_spexp_when_the_second_coordinate_is_constant_within_studies():
    # rho^|dt| = exp(-|dt| / range) with rho = exp(-1 / range)
    car, sp = fit_case("ishak_car"), fit_case("ishak_spexp")
    close(car.tau2, sp.tau2, 1e-6)
    close(car.rho, np.exp(-1.0 / sp.rho), 1e-6)


@pytest.mark.parametrize("struct", ["AR", "CAR", "SPGAU", "SPRAT", "SPSPH"])
def test_score_and_information_match_finite_differences(struct):
    from multilevel.meta.multivariate._fit import evaluate_at, to_natural, to_theta
    dat, V = ishak_long()
    random = "~ months + mbase | study" if struct.startswith("SP") else "~ months | study"
    fit = ml.rma_mv("yi", V, data=dat, random=random, struct=struct)
    lay, kinds = fit._layout, fit._layout.kinds()
    theta = to_theta(fit._comps.values, kinds) + np.array([0.2, -0.15])

    def ll(th):
        return evaluate_at(fit._batch, lay, to_natural(th, kinds), reml=True).ll_reml

    ev = evaluate_at(fit._batch, lay, to_natural(theta, kinds), reml=True, derivs=True)
    h = 1e-5
    eye = np.eye(2) * h
    grad = np.array([(ll(theta + e) - ll(theta - e)) / (2 * h) for e in eye])
    hess = np.array([[(ll(theta + a + b) - ll(theta + a - b) - ll(theta - a + b) + ll(theta - a - b)) / (4 * h * h)
                      for b in eye] for a in eye])
    close(ev.grad, grad, 1e-5, 1e-6)
    if ev.newton:
        close(ev.info, -hess, 1e-4, 1e-5)


def test_ranef_of_an_ar_term_runs_through_the_correlation_function():
    fit = fit_case("berkey_ar")
    blups = fit.ranef()["outcome | trial"]
    assert blups.shape == (10, 4) and np.isfinite(blups.to_numpy()).all()


def test_bad_inputs_are_named():
    dat, V = ishak_long()
    with pytest.raises(ModelSpecificationError, match="numeric"):
        ml.rma_mv("yi", V, data=dat, random="~ factor(months) | study", struct="CAR")
    with pytest.raises(ModelSpecificationError, match="single inner variable"):
        ml.rma_mv("yi", V, data=dat, random="~ months + mbase | study", struct="AR")
    with pytest.raises(ModelSpecificationError, match="dist must be one of"):
        ml.rma_mv("yi", V, data=dat, random="~ months | study", struct="SPEXP", dist="gcd")
    with pytest.raises(ModelSpecificationError, match="lie in \\[0, 1\\]"):
        ml.rma_mv("yi", V, data=dat, random="~ months | study", struct="CAR", rho=1.5)
    one = dat.drop_duplicates("study")
    with pytest.raises(ModelSpecificationError, match="single estimate"):
        ml.rma_mv("yi", "vi", data=one, random="~ months + mbase | study", struct="SPEXP")


def test_distance_matrix_equals_the_coordinates():
    dat = fine_long()
    weeks = np.unique(dat["weeks"])
    D = pd.DataFrame(np.abs(weeks[:, None] - weeks[None, :]), index=[f"{w:g}" for w in weeks],
                     columns=[f"{w:g}" for w in weeks])
    a = ml.rma_mv("yi", "vi", data=dat, random="~ weeks | study", struct="SPEXP")
    b = ml.rma_mv("yi", "vi", data=dat, random="~ weeks | study", struct="SPEXP", dist=D)
    close(b.rho, a.rho, 1e-8)
    close(b.tau2, a.tau2, 1e-8)


def test_fixed_range_is_respected():
    dat = fine_long()
    fit = ml.rma_mv("yi", "vi", data=dat, random="~ weeks | study", struct="SPEXP", rho=2.5)
    assert fit.rho[0] == 2.5 and fit.fixed[-1]


def test_har_level_without_estimates_keeps_its_place_with_tau2_fixed_to_zero():
    dat = fine_long()
    dat.loc[dat["time"] == 2, "yi"] = np.nan
    with pytest.warns(MultilevelWarning) as caught:
        fit = ml.rma_mv("yi", "vi", data=dat, random="~ time | study", struct="HAR")
    assert any("lost all their estimates" in str(w.message) for w in caught)
    assert any("17 rows with missing values in yi dropped" in str(w.message) for w in caught)
    assert fit._g.inner_levels == ("1", "2", "3", "4") and fit.tau2[1] == 0 and fit.fixed[1]
    # the AR lags count the empty visit: levels 1 and 3 are two steps apart
    with pytest.warns(MultilevelWarning, match="17 rows with missing values in yi dropped"):
        ar = ml.rma_mv("yi", "vi", data=dat, random="~ time | study", struct="AR")
    assert ar._g.lag[0, 2] == 2
