"""The walkthrough's lmer models on the students data against lme4, and lme4's singular-fit message."""

import warnings

import numpy as np
import pytest

import multilevel as ml
from workflow_common import SCHOOLS, fit, fixture

REF = fixture("students")
FORMULAS = {
    "students_null": "test_score ~ 1 + (1 | school)",
    "students_intercept": "test_score ~ 1 + study_time + (1 | school)",
    "students_slope": "test_score ~ 1 + (0 + study_time | school)",
    "students_both": "test_score ~ 1 + study_time + (1 + study_time | school)",
}
# students_both: flat REML surface (3 schools), lme4 and multilevel agree on theta to ~1e-4
RTOL = {"students_both": 1e-3}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_fixef_ranef_reml(name):
    m = fit(FORMULAS[name], "students")
    rtol = RTOL.get(name, 1e-6)
    fe = REF["students_fixef"][name]
    np.testing.assert_allclose(m.fixef[list(fe)].to_numpy(), list(fe.values()), rtol=rtol)
    re = np.array(REF["students_ranef"][name]["values"], dtype=float).reshape(3, -1)
    assert list(m.ranef["school"].index) == SCHOOLS
    np.testing.assert_allclose(m.ranef["school"].to_numpy(), re, rtol=max(rtol, 1e-5), atol=1e-7)
    np.testing.assert_allclose(m.deviance, REF["students_reml"][name], rtol=1e-9)


@pytest.mark.parametrize("name", sorted(set(FORMULAS) - set(RTOL)))
def test_printed_summary_as_walkthrough(name):
    m = ml.lmer(FORMULAS[name], ml.datasets.load("students"), data_name="students")
    assert str(m.summary()).split("\n") == [line.rstrip() for line in REF["students_summaries"][name]]


def test_singular_fit_message_as_lme4():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.datasets.load("Dyestuff2"))
    assert m.is_singular == REF["singular_is_singular"]
    messages = [str(w.message) for w in caught if issubclass(w.category, ml.SingularFitWarning)]
    assert messages == [REF["singular_message"].strip()]  # a single message: jsonlite unboxed it
