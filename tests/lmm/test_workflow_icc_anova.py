"""icc / r2 against performance, anova against lme4's likelihood-ratio table."""

import numpy as np
import pytest

import multilevel as ml
from workflow_common import fit, fixture

ICC = fixture("icc")["models"]
ANOVA = fixture("anova")["cases"]
# students_both: flat REML surface, theta agrees with lme4 to ~1e-4 (see test_workflow_inference)
RTOL = {"students_both": 2e-3}


@pytest.mark.parametrize("name", sorted(ICC))
def test_icc_and_r2_match_performance(name):
    ref = ICC[name]
    m = fit(ref["formula"], ref["data"])
    rtol = RTOL.get(name, 2e-6)
    icc, r2 = m.icc(), m.r2()
    np.testing.assert_allclose([icc.adjusted, icc.unadjusted], [ref["icc_adjusted"], ref["icc_unadjusted"]],
                               rtol=rtol, atol=1e-12)
    np.testing.assert_allclose([r2.conditional, r2.marginal], [ref["r2_conditional"], ref["r2_marginal"]],
                               rtol=rtol, atol=1e-12)


def test_acceptance_icc_null_sleepstudy():
    ref = ICC["sleepstudy_null"]
    icc = fit("Reaction ~ 1 + (1 | Subject)", "sleep").icc()
    assert icc.adjusted == pytest.approx(ref["icc_adjusted"], rel=1e-6)
    assert [line.rstrip() for line in str(icc).split("\n")] == [line.rstrip() for line in ref["printed_icc"]]


def _table(ref):
    cols = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
    return np.array([[np.nan if v is None else v for v in ref["table"][c]] for c in cols], dtype=float).T


@pytest.mark.parametrize("case,formulas,data", [
    ("sleepstudy", ["Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"], "sleep"),
    ("students", ["test_score ~ 1 + (1 | school)", "test_score ~ 1 + study_time + (1 | school)",
                  "test_score ~ 1 + study_time + (1 + study_time | school)"], "students"),
])
def test_anova_refits_with_ml(case, formulas, data):
    ref = ANOVA[case]
    table = ml.anova(*[fit(f, data) for f in formulas], names=ref["rows"])
    frame = table.to_frame()
    assert list(frame.index) == ref["rows"]
    assert "Chisq" in frame.columns
    np.testing.assert_allclose(frame.to_numpy(), _table(ref), rtol=1e-6)


def test_anova_without_refit():
    ref = ANOVA["sleepstudy_norefit"]
    table = ml.anova(fit("Reaction ~ Days + (1 | Subject)", "sleep"), fit("Reaction ~ Days + (Days | Subject)", "sleep"),
                     refit=False, names=ref["rows"])
    np.testing.assert_allclose(table.to_frame().to_numpy(), _table(ref), rtol=1e-6)


def test_anova_printed_like_lme4():
    ref = ANOVA["sleepstudy"]
    table = ml.anova(fit("Reaction ~ Days + (1 | Subject)", "sleep"), fit("Reaction ~ Days + (Days | Subject)", "sleep"),
                     names=ref["rows"])
    expected = [line.rstrip() for line in ref["printed"]]
    assert [line.rstrip() for line in str(table).split("\n")] == expected


def test_anova_checks_models():
    with pytest.raises(ml.ModelSpecificationError, match="same size"):
        ml.anova(fit("Reaction ~ Days + (1 | Subject)", "sleep"), fit("test_score ~ 1 + (1 | school)", "students"))


def test_icc_is_the_adjusted_value():
    import pytest as _pytest

    fit = ml.lmer("Reaction ~ 1 + (1 | Subject)", ml.datasets.load("sleepstudy"))
    icc = fit.icc()
    assert isinstance(icc, float)
    assert icc == _pytest.approx(icc.adjusted, rel=0) and round(icc, 3) == round(icc.adjusted, 3)
    assert "Adjusted ICC" in str(icc) and "Unadjusted ICC" in str(icc)
