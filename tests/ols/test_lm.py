"""lm against R's lm: coefficients, tests, fit statistics, prediction and the printed summary."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ols"
CASES = json.loads((FIXTURES / "lm_cases.json").read_text(encoding="utf-8"))["cases"]


def _data(name):
    if name == "students":
        return ml.datasets.load("students")
    if name == "students_rd":
        d = ml.datasets.load("students")
        d["minutes"] = 60 * d["study_time"]
        return d
    sleep = ml.datasets.load("sleepstudy")
    return {"sleep": sleep, "pastes": ml.datasets.load("Pastes"), "sleep6": sleep.iloc[:6],
            "sleep2": sleep.iloc[:2]}[name]


def _rows(x):
    return x if isinstance(x, list) else [x]


def _matrix(m):
    values = np.array(m["values"], dtype=float).reshape(len(_rows(m["rows"])), -1)
    return pd.DataFrame(values, index=_rows(m["rows"]), columns=_rows(m["cols"]))


@pytest.fixture(scope="module")
def fits():
    return {k: ml.lm(c["formula"], _data(c["data"]), data_name=c["data"]) for k, c in CASES.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_coefficients_and_tests(fits, case):
    fit, ref = fits[case], CASES[case]
    coef = pd.Series({k: np.nan if v is None else v for k, v in ref["coef"].items()})
    assert list(fit.coef.index) == list(coef.index)
    np.testing.assert_allclose(fit.coef.to_numpy(), coef.to_numpy(), rtol=1e-10)
    table = _matrix(ref["coefficients"])
    got = fit.summary().to_frame().loc[table.index]
    np.testing.assert_allclose(got.iloc[:, :3].to_numpy(), table.iloc[:, :3].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(got.iloc[:, 3].to_numpy(), table.iloc[:, 3].to_numpy(), rtol=1e-6, atol=1e-300)
    assert fit.aliased.to_dict() == ref["aliased"]


def _num(v):
    return np.nan if v is None else v  # jsonlite writes R's NA / NaN as null


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_statistics(fits, case):
    fit, ref = fits[case], {k: _num(v) if not isinstance(v, (dict, list)) else v for k, v in CASES[case].items()}
    assert fit.df_resid == ref["df_resid"]
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=1e-10)
    np.testing.assert_allclose([fit.r_squared, fit.adj_r_squared], [ref["r_squared"], ref["adj_r_squared"]],
                               rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(fit.residuals.to_numpy(), ref["residuals"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.fitted.to_numpy(), ref["fitted"], rtol=1e-10)
    if not ref["fstatistic"]:
        assert fit.fstatistic is None
    else:
        f = ref["fstatistic"]
        assert (fit.fstatistic.numdf, fit.fstatistic.dendf) == (f["numdf"], f["dendf"])
        np.testing.assert_allclose(fit.fstatistic.value, _num(f["value"]), rtol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_vcov_and_confint(fits, case):
    fit, ref = fits[case], CASES[case]
    vc = _matrix(ref["vcov"])
    np.testing.assert_allclose(fit.vcov().loc[vc.index, vc.columns].to_numpy(), vc.to_numpy(), rtol=1e-9)
    ci = _matrix(ref["confint"])
    np.testing.assert_allclose(fit.confint().loc[ci.index, ["lower", "upper"]].to_numpy(), ci.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("case", [k for k in sorted(CASES) if "predict" in CASES[k]])
def test_predict_newdata(fits, case):
    ref = CASES[case]
    newdata = pd.DataFrame(ref["newdata"])
    if "school" in newdata:
        newdata["school"] = pd.Categorical(newdata["school"], categories=["Hillcrest", "Oakwood", "St Mary\u2019s"])
    np.testing.assert_allclose(fits[case].predict(newdata).to_numpy(), ref["predict"], rtol=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_printed_summary_is_r_layout(fits, case):
    expected = [line.rstrip() for line in CASES[case]["printed"]]
    got = [line.rstrip() for line in str(fits[case].summary()).split("\n")]
    assert got == expected


def test_summary_objects_render():
    fit = ml.lm("test_score ~ study_time", ml.datasets.load("students"))
    s = fit.summary()
    assert "<pre>" in s._repr_html_() and s._repr_markdown_().startswith("```")
    assert "study_time" in repr(fit)


def test_random_effect_terms_are_refused():
    with pytest.raises(ml.ModelSpecificationError, match="lmer"):
        ml.lm("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))


def test_unknown_column_is_named():
    with pytest.raises(ml.UnknownColumnError, match="study_tme"):
        ml.lm("test_score ~ study_tme", ml.datasets.load("students"))
