"""ml.anova on two rma fits against metafor's anova(m1, m2) (LRT, fit statistics, R^2, printed table)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "rma_bcg.json").read_text())
CASES = FIXTURE["anova"]


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


def _fit(bcg, spec):
    return ml.rma("yi", "vi", data=bcg, method=spec["method"], mods=spec["mods"] or None)


@pytest.mark.parametrize("key", list(CASES))
def test_anova_matches_metafor(bcg, key):
    case = CASES[key]
    res = ml.anova(_fit(bcg, case["full"]), _fit(bcg, case["reduced"]), refit=case["refit"])
    ref = case["res"]
    np.testing.assert_allclose(res.LRT, ref["LRT"], rtol=1e-8)
    np.testing.assert_allclose(res.pval, ref["pval"], rtol=1e-6)
    np.testing.assert_allclose(res.R2, ref["R2"], rtol=1e-8, atol=1e-12)
    table = res.to_frame()
    assert list(table["df"]) == ref["parms"]
    order = ["logLik", None, "AIC", "BIC", "AICc"]
    for j, col in enumerate(order):
        if col:
            np.testing.assert_allclose(table[col], [ref["fit_f"][j], ref["fit_r"][j]], rtol=1e-9)
    assert str(res).split("\n") == [s.rstrip() for s in ref["print"]]


def test_reml_with_different_moderators_warns(bcg):
    full = ml.rma("yi", "vi", data=bcg, mods="~ ablat")
    with pytest.warns(ml.MultilevelWarning, match="refit=True"):
        ml.anova(full, ml.rma("yi", "vi", data=bcg))


def test_same_number_of_parameters(bcg):
    a = ml.rma("yi", "vi", data=bcg, mods="~ ablat", method="ML")
    b = ml.rma("yi", "vi", data=bcg, mods="~ year", method="ML")
    with pytest.raises(ml.ModelSpecificationError, match="same number"):
        ml.anova(a, b)


def test_different_data(bcg):
    a = ml.rma("yi", "vi", data=bcg, method="ML")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        b = ml.rma("yi", "vi", data=bcg.assign(ablat=bcg["ablat"].where(bcg.index != 0)), mods="~ ablat",
                   method="ML")
    with pytest.raises(ml.ModelSpecificationError, match="different estimates"):
        ml.anova(a, b)


def test_ml_against_reml(bcg):
    with pytest.raises(ml.ModelSpecificationError, match="cannot compare"):
        ml.anova(ml.rma("yi", "vi", data=bcg, mods="~ ablat", method="ML"), ml.rma("yi", "vi", data=bcg))
