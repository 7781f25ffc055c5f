"""lm_list against lme4's lmList: per-group coefficients, pooled standard error, groups with one row."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ols"
CASES = json.loads((FIXTURES / "lm_list.json").read_text(encoding="utf-8"))["cases"]
PER_SCHOOL = json.loads((FIXTURES / "lm_per_school.json").read_text(encoding="utf-8"))["printed"]


def _data(name):
    sleep = ml.datasets.load("sleepstudy")
    if name == "sleep_small":
        return sleep[~((sleep["Subject"] == "308") & (sleep["Days"] > 0))]
    return {"students": ml.datasets.load("students"), "sleep": sleep}[name]


@pytest.fixture(scope="module")
def fits():
    return {k: ml.lm_list(c["formula"], _data(c["data"]), data_name=c["data"]) for k, c in CASES.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_coefficients_per_group(fits, case):
    ref = CASES[case]
    fit = fits[case]
    assert len(fit) == len(ref["groups"])
    assert [str(g) for g in fit] == ref["groups"]
    expected = np.array(ref["coef"]["values"], dtype=float)
    assert list(fit.coef.columns) == ref["coef"]["cols"]
    np.testing.assert_allclose(fit.coef.to_numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_per_group_statistics(fits, case):
    for group, ref in CASES[case]["per_group"].items():
        fit = fits[case][group]
        assert fit.df_resid == ref["df_resid"]
        rows = ref["coefficients"]["rows"]
        values = np.array(ref["coefficients"]["values"], dtype=float).reshape(len(rows) if isinstance(rows, list) else 1, 4)
        got = fit.summary().to_frame().dropna(how="all").iloc[:, :4].to_numpy()
        np.testing.assert_allclose(got[: values.shape[0]], values, rtol=1e-8)


def test_pooled_summary_students(fits):
    fit = fits["students"]
    np.testing.assert_allclose(fit.pooled_sd, 2.650397, rtol=1e-6)
    table = fit.summary().to_frame()
    # lmList's summary: the standard errors use the pooled SD (R: 1.007713, 0.1027288 for Hillcrest)
    assert fit.df_resid == 177
    text = str(fit.summary())
    assert "Residual standard error: 2.650397 on 177 degrees of freedom" in text
    assert table.loc[("(Intercept)", "Hillcrest"), "Std. Error"] == pytest.approx(
        fit["Hillcrest"].se["(Intercept)"] * fit.pooled_sd / fit["Hillcrest"].sigma)
    assert "Degrees of freedom: 183 total; 177 residual" in str(fit)


def test_group_with_one_row_has_na_slope(fits):
    fit = fits["sleepstudy_one_row"]
    assert np.isnan(fit.coef.loc["308", "Days"])
    assert fit["308"].df_resid == 0


@pytest.mark.parametrize("school", ["Hillcrest", "Oakwood", "St Mary\u2019s"])
def test_per_school_summary_as_walkthrough_prints(fits, school):
    expected = [line.rstrip() for line in PER_SCHOOL[school]]
    got = [line.rstrip() for line in str(fits["students"][school].summary()).split("\n")]
    # the call differs (R shows the subsetting expression); everything after it is identical
    start = expected.index("Residuals:")
    assert got[got.index("Residuals:"):] == expected[start:]


def test_indexing_and_errors(fits):
    fit = fits["students"]
    assert fit[0] is fit["Hillcrest"]
    with pytest.raises(KeyError, match="Nowhere"):
        fit["Nowhere"]
    with pytest.raises(ml.FormulaError, match="grouping factor"):
        ml.lm_list("test_score ~ study_time", ml.datasets.load("students"))
