"""ml.rma against metafor 3.8-1 on three more effect-size sets (every estimator, z and Knapp-Hartung):
small tau^2 (Molloy 2014, Fisher z), large tau^2 (Normand 1999, SMD) and tau^2 on the boundary
(Nielweise 2007, log odds ratios: DL/HE/HS/ML/EB/PM give 0, the Q-profile interval is empty at 0).

Fixtures: tools/fixtures/meta_rma.R -> tests/fixtures/meta/rma_more.json.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

SETS = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "rma_more.json").read_text())["sets"]
CASES = [(s, f) for s, d in SETS.items() for f in d["fits"]]


def close(got, want, rtol, atol=1e-12):
    want = np.atleast_1d(np.asarray(want, dtype=float))
    np.testing.assert_allclose(np.atleast_1d(np.asarray(got, dtype=float)), want, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def fits():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MultilevelWarning)
        for s, key in CASES:
            d, ref = SETS[s], SETS[s]["fits"][key]
            out[s, key] = ml.rma(np.asarray(d["yi"]), np.asarray(d["vi"]), method=ref["method"], test=ref["test"])
    return out


@pytest.mark.parametrize("case", CASES, ids=["/".join(c) for c in CASES])
def test_estimates(fits, case):
    fit, ref = fits[case], SETS[case[0]]["fits"][case[1]]
    close(fit.tau2, ref["tau2"], 1e-7, atol=1e-12)
    for name in ("beta", "se", "zval", "ci_lb", "ci_ub"):
        close(getattr(fit, name), ref[name], 1e-7)
    for name in ("QE", "I2", "H2"):
        close(getattr(fit, name), ref[name], 1e-7, atol=1e-9)
    if ref["se_tau2"] is not None:
        close(fit.se_tau2, ref["se_tau2"], 1e-7)
    close(fit.fitstats(), ref["fitstats"], 1e-8)
    got = fit.predict()
    for col in got.columns:
        close(got[col], ref["predict"][col], 1e-7)


@pytest.mark.parametrize("case", [c for c in CASES if "confint" in SETS[c[0]]["fits"][c[1]]],
                         ids=["/".join(c) for c in CASES if "confint" in SETS[c[0]]["fits"][c[1]]])
def test_qprofile_confint(fits, case):
    ci = fits[case].confint().query("kind == 'random'")
    ref = SETS[case[0]]["fits"][case[1]]["confint"]
    for col, ref_col in (("estimate", "estimate"), ("lower", "ci_lb"), ("upper", "ci_ub")):
        close(ci[col], ref[ref_col], 1e-7, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=["/".join(c) for c in CASES])
def test_print(fits, case):
    ref = SETS[case[0]]["fits"][case[1]]
    assert str(fits[case]).split("\n") == [s.rstrip() for s in ref["print"]]
    assert str(fits[case].summary()).split("\n") == [s.rstrip() for s in ref["summary"]]
