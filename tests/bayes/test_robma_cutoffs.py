"""The weight functions' p-value cut-offs from t tests for Cohen's d, Fisher's z and correlations.

RoBMA 2-3 (``.get_cutoffs`` with ``n_d``, ``n_z``, ``n_r`` and ``.c_d``, ``.c_z``, ``.c_r``) computes
the one-sided p-value of a study from a t test on n - 2 degrees of freedom, n recovered from the
estimate and its standard error by the formulas of the measure the data were entered in; log odds
ratios (infinite degrees of freedom) and unstandardized estimates use the normal. Each test inverts
a cut-off with the forward t statistic of the measure (a different formula from the one that
produced the cut-off) and recovers the step.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import multilevel as ml
from multilevel.bayes.robma._likelihood import SelectionData, cutoff_rule, t_rule_sample_size
from multilevel.bayes.robma._measures import fitting_scale
from multilevel.bayes.robma._spec import WeightFunction

ONE = WeightFunction("one.sided", (0.025, 0.05, 0.5), (1, 1, 1, 1))
TWO = WeightFunction("two.sided", (0.05, 0.10), (1, 1, 1))


def _robma_se_r(r, n):
    """RoBMA's standard error of a correlation from its sample size (through Cohen's d)."""
    d = 2 * r / np.sqrt(1 - r**2)
    se_d = np.sqrt(4 / n + d**2 / (2 * n))
    return np.sqrt(16 * se_d**2 / (d**2 + 4) ** 3)


def test_cutoff_rules_per_measure():
    assert [cutoff_rule("t", m) for m in ("SMD", "ZCOR", "COR")] == ["t", "t_z", "t_r"]
    assert cutoff_rule("normal", "ZCOR") == "normal"


@pytest.mark.parametrize("wf", [ONE, TWO], ids=["one-sided", "two-sided"])
def test_fishers_z_cutoffs_are_t_quantiles_on_n_minus_2_df(wf):
    n = np.array([12.0, 25.0, 80.0, 400.0])
    se = 1 / np.sqrt(n - 3)  # Fisher's z of a correlation from n pairs
    y = np.array([0.1, -0.3, 0.5, 0.05])
    np.testing.assert_allclose(t_rule_sample_size("t_z", y, se), n, rtol=1e-12)
    crit = SelectionData(wf, y, se, "t_z").crit
    tail = np.asarray(wf.steps) / (2 if wf.side == "two.sided" else 1)
    p = stats.t.sf(crit / se[:, None], n[:, None] - 2)
    np.testing.assert_allclose(p, np.broadcast_to(tail, p.shape), rtol=1e-10)
    # beyond the normal cut-offs (equal at a one-sided .5, which is 0 for both)
    inner = tail < 0.5
    assert np.all(crit[:, inner] > SelectionData(wf, y, se, "normal").crit[:, inner])


@pytest.mark.parametrize("wf", [ONE, TWO], ids=["one-sided", "two-sided"])
def test_correlation_cutoffs_invert_the_t_test_of_r(wf):
    n = np.array([15.0, 40.0, 120.0])
    r = np.array([0.45, -0.2, 0.1])
    se_r = _robma_se_r(r, n)
    y, se = fitting_scale("COR", r, se_r)  # as ml.robma(measure="COR") fits them
    np.testing.assert_allclose(t_rule_sample_size("t_r", y, se), n, rtol=1e-10)
    r_crit = np.tanh(SelectionData(wf, y, se, "t_r").crit)
    t = r_crit * np.sqrt((n[:, None] - 2) / (1 - r_crit**2))
    tail = np.asarray(wf.steps) / (2 if wf.side == "two.sided" else 1)
    np.testing.assert_allclose(stats.t.sf(t, n[:, None] - 2), np.broadcast_to(tail, t.shape), rtol=1e-10)


def test_an_estimate_between_the_normal_and_the_t_cutoff():
    # z = 1.98 (one-sided p = .024 by the normal) on 10 df (p = .038 by the t test)
    se = np.array([1 / np.sqrt(11.0)])
    y = 1.98 * se
    wf = WeightFunction("one.sided", (0.025, 0.05), (1, 1, 1))
    assert SelectionData(wf, y, se, "normal").interval[0] == 0
    assert SelectionData(wf, y, se, "t_z").interval[0] == 1


def test_default_cutoffs_follow_the_measure():
    dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
    kw = {"model_type": "2w", "draws": 500, "seed": 1}
    assert ml.robma("yi", "vi", measure="ZCOR", data=dat, **kw).data.cutoff_rule == "t"
    assert ml.robma("yi", "vi", measure="OR", data=dat, **kw).data.cutoff_rule == "normal"
    assert ml.robma("yi", "vi", measure="GEN", data=dat, **kw).data.cutoff_rule == "normal"


def test_the_t_rule_changes_the_fit_of_fishers_z():
    dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
    kw = {"prior_bias": [ml.prior_weightfunction("one.sided", [0.025])], "prior_bias_null": False,
          "draws": 1000, "seed": 3}
    t = ml.robma("yi", "vi", measure="ZCOR", data=dat, cutoffs="t", **kw)
    z = ml.robma("yi", "vi", measure="ZCOR", data=dat, cutoffs="normal", **kw)
    assert t.models_overview().to_frame()["log(marglik)"].iloc[-1] != \
        z.models_overview().to_frame()["log(marglik)"].iloc[-1]


def test_correlations_too_imprecise_for_a_t_test():
    r = [0.2, 0.3, 0.1, 0.25, 0.15, 0.3]
    vi = [0.01, 0.01, 0.9, 0.01, 0.01, 0.01]  # n recovered from r = .1, se = .95: about 1.1
    for cutoffs in ("t", "normal"):  # no standard error of Fisher's z, 1 / sqrt(n - 3), either way
        with pytest.raises(ml.DataError, match=r"must exceed 3 .* offending rows: 3"):
            ml.robma(r, vi, measure="COR", model_type="2w", cutoffs=cutoffs)


def test_cohens_d_too_imprecise_for_a_t_test():
    # n = (d^2 + 8) / (2 se^2) = (1 + 8) / (2 * 5) = 0.9 for the second estimate
    with pytest.raises(ml.DataError, match=r"cutoffs='t'.* n <= 2 .* offending rows: 2 \(2.23607\)"):
        ml.robma([0.2, 1.0, 0.1, 0.3, 0.2, 0.4], [0.01, 5.0, 0.01, 0.01, 0.01, 0.01], measure="SMD")


def test_t_cutoffs_need_a_measure_with_a_sample_size():
    with pytest.raises(ml.ModelSpecificationError, match="'SMD', 'ZCOR' and 'COR'.*measure 'OR'"):
        ml.robma([0.2, 1.0, 0.1, 0.3, 0.2, 0.4], [0.01] * 6, measure="OR", cutoffs="t")
