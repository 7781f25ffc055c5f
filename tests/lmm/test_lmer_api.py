"""lmer's interface: bad input, options, refits, printing helpers against R."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.lmm._deparse import deparse, formula_line
from multilevel.lmm._summary import abbreviate
from multilevel.lmm._varcorr import VarCorr, make_unique

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return ml.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep):
    return ml.lmer(FORMULA, sleep)


# --------------------------------------------------------------------------- bad input
def test_single_level_grouping_factor(sleep):
    df = sleep.assign(one="a")
    with pytest.raises(ml.ModelSpecificationError, match="> 1 sampled level"):
        ml.lmer("Reaction ~ Days + (1 | one)", df)


def test_as_many_levels_as_observations(sleep):
    df = sleep.assign(row=np.arange(len(sleep)).astype(str))
    with pytest.raises(ml.ModelSpecificationError, match="must be < number of observations"):
        ml.lmer("Reaction ~ Days + (1 | row)", df)


def test_more_random_effects_than_observations(sleep):
    df = sleep.iloc[::2].assign(g=lambda d: (np.arange(len(d)) // 2).astype(str))
    with pytest.raises(ml.ModelSpecificationError, match="number of random effects"):
        ml.lmer("Reaction ~ Days + (Days | g)", df)


def test_unknown_optimizer(sleep):
    with pytest.raises(ml.ModelSpecificationError, match="unknown optimizer 'newton'"):
        ml.lmer(FORMULA, sleep, optimizer="newton")


def test_start_of_wrong_length(sleep):
    with pytest.raises(ml.ModelSpecificationError, match="start must have 3 theta values"):
        ml.lmer(FORMULA, sleep, start=[1.0])


def test_refit_with_wrong_length(fit):
    with pytest.raises(ml.DataError, match="newresp must have 180 values"):
        fit.refit(np.zeros(3))


# --------------------------------------------------------------------------- options and warnings
@pytest.mark.parametrize("optimizer", ["L-BFGS-B", "Nelder-Mead", "Powell"])
def test_other_optimizers_reach_the_same_optimum(sleep, fit, optimizer):
    other = ml.lmer(FORMULA, sleep, optimizer=optimizer)
    assert other.optinfo.optimizer == optimizer
    assert other.deviance == pytest.approx(fit.deviance, abs=1e-4)
    np.testing.assert_allclose(other.fixef, fit.fixef, rtol=1e-5)


def test_singular_fit_warns_and_is_reported():
    with pytest.warns(ml.SingularFitWarning, match=r"boundary \(singular\) fit"):
        fit = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.datasets.load("Dyestuff2"))
    assert fit.is_singular
    assert fit.theta[0] == 0.0


def test_regular_fit_does_not_warn(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = ml.lmer(FORMULA, sleep)
    assert fit.optinfo.converged and fit.optinfo.messages == ()
    assert fit.optinfo.gradient.shape == (3,) and fit.optinfo.hessian.shape == (3, 3)


def test_refit_new_response_and_ml(sleep, fit):
    y = sleep["Reaction"].to_numpy() * 2.0
    doubled = fit.refit(y)
    np.testing.assert_allclose(doubled.fixef, 2 * fit.fixef, rtol=1e-6)
    assert doubled.sigma == pytest.approx(2 * fit.sigma, rel=1e-6)
    ml_fit = fit.refit(REML=False)
    direct = ml.lmer(FORMULA, sleep, REML=False)
    assert not ml_fit.REML
    assert ml_fit.deviance == pytest.approx(direct.deviance, abs=1e-6)


def test_result_is_frozen(fit):
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.REML = False


def test_frames_and_names(fit, sleep):
    assert fit.fixef.index.tolist() == ["(Intercept)", "Days"]
    assert fit.vcov().shape == (2, 2)
    assert fit.fitted.index.equals(sleep.index)
    assert fit.ranef["Subject"].shape == (18, 2)
    assert fit.coef["Subject"].columns.tolist() == ["(Intercept)", "Days"]
    assert fit.ngroups == {"Subject": 18}
    assert fit.df_resid == 174
    long = fit.ranef_frame()
    assert long.columns.tolist() == ["grpvar", "term", "grp", "condval", "condsd"]
    assert len(long) == 36


def test_summary_blocks(fit):
    s = fit.summary()
    assert s.to_frame().columns.tolist() == ["Estimate", "Std. Error", "t value"]
    assert s.varcorr.to_frame().shape == (4, 5)
    html = s._repr_html_()
    assert "Random effects" in html and html.startswith("<pre>")
    assert str(fit).startswith("Linear mixed model fit by REML ['lmerMod']")
    assert "Data:" not in str(s)  # no data_name given


# --------------------------------------------------------------------------- printing helpers against R
def test_abbreviate_matches_r():
    names = ["(Intercept)", "recipeB:temperature185", "recipeC:temperature185", "service1:dept10",
             "service1:dept11", "Days", "study_time", "I(Days^2)", "log(x) a b"]
    assert abbreviate(names, 6) == ["(Intr)", "rB:185", "rC:185", "sr1:10", "sr1:11", "Days", "stdy_t",
                                    "I(D^2)", "lg()ab"]
    assert abbreviate(names, 11) == ["(Intercept)", "rcpB:tmp185", "rcpC:tmp185", "srvc1:dpt10", "srvc1:dpt11",
                                     "Days", "study_time", "I(Days^2)", "log(x) a b"]


@pytest.mark.parametrize("text, expected", [
    ("Reaction~Days+(Days||Subject)", "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"),
    ("y ~ x + (0 + a + b || g)", "y ~ x + ((0 + a | g) + (0 + b | g))"),
    ("y ~ log(x) * f + I(x^2) + (1|a/b)", "y ~ log(x) * f + I(x^2) + (1 | a/b)"),
    ("y ~ 1 + (-1 + x | g:h)", "y ~ 1 + (-1 + x | g:h)"),
])
def test_deparse(text, expected):
    assert deparse(text) == expected


def test_make_unique():
    assert make_unique(["a", "a", "b", "a"]) == ["a", "a.1", "b", "a.2"]


def test_varcorr_print_with_negative_correlations():
    cov = np.array([[4.0, -1.2, 0.3], [-1.2, 1.0, 0.1], [0.3, 0.1, 0.25]])
    T = np.linalg.cholesky(cov)
    vc = VarCorr.from_theta(["g"], [("(Intercept)", "x", "z")], [T], 2.0)
    frame = vc.to_frame()
    assert frame["grp"].tolist() == ["g"] * 6 + ["Residual"]
    np.testing.assert_allclose(frame["vcov"], [16.0, 4.0, 1.0, -4.8, 1.2, 0.4, 4.0])
    assert isinstance(frame, pd.DataFrame)
    assert vc.format(4).split("\n") == [
        " Groups   Name        Variance Std.Dev. Corr",
        " g        (Intercept) 16       4",
        "          x            4       2        -0.60",
        "          z            1       1         0.30  0.20",
        " Residual              4       2",
    ]


def test_no_fixed_effects_is_an_ml_fit_as_in_lme4(sleep):
    fit = ml.lmer("Reaction ~ 0 + (1 | Subject)", sleep, data_name="sleepstudy")
    lines = str(fit.summary()).split("\n")
    assert not fit.REML
    assert lines[0] == "Linear mixed model fit by maximum likelihood  ['lmerMod']"
    assert lines[4:6] == ["     AIC      BIC   logLik deviance df.resid",
                          "  1989.7   1996.1   -992.8   1985.7      178"]  # lme4 1.1-31
    assert fit.sigma == pytest.approx(44.25907, rel=1e-6)


# R 4.2.2: cat("Formula:", deparse(lme4:::expandDoubleVerts(f)), fill = TRUE)
LONG_FORMULAS = [
    ('angle ~ recipe + temperature + temp + t2 + recipe:temp + (1 | recipe:replicate) + (1|replicate)',
     ['Formula: angle ~ recipe + temperature + temp + t2 + recipe:temp + (1 |', '    recipe:replicate) + (1 | replicate)']),
    ('Reaction ~ Days + I(Days^2) + log(Days + 1) + (Days + I(Days^2) || Subject) + (1 | Subject:Days)',
     ['Formula: Reaction ~ Days + I(Days^2) + log(Days + 1) + ((1 | Subject) +', '    (0 + Days | Subject) + (0 + I(Days^2) | Subject)) + (1 |      Subject:Days)']),
    ('y ~ 1 + service * dept + studage + lectage + service:studage + (1 + service | s) + (1 | d) + (1 | dept:service)',
     ['Formula: y ~ 1 + service * dept + studage + lectage + service:studage +', '    (1 + service | s) + (1 | d) + (1 | dept:service)']),
    ('yyyyyyyyyyyyyyyyyyyyyyyyyyy ~ xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx + zzzzzzzzzzzzzzzzzzzzzzz + wwwwwwwwwwwwwwwwwwwwwwwwww + vvvvvvvvvvvvvvvvvvvvvvvvvv + (1 | g)',
     ['Formula: yyyyyyyyyyyyyyyyyyyyyyyyyyy ~ xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx +', '    zzzzzzzzzzzzzzzzzzzzzzz + wwwwwwwwwwwwwwwwwwwwwwwwww + vvvvvvvvvvvvvvvvvvvvvvvvvv +', '    (1 | g)']),
]


@pytest.mark.parametrize("formula, expected", LONG_FORMULAS)
def test_formula_line_wraps_as_r(formula, expected):
    assert formula_line(formula).split("\n") == expected


def test_too_many_later_random_effects_is_a_clear_error(sleep, monkeypatch):
    from multilevel.lmm import _lmer

    monkeypatch.setattr(_lmer, "MAX_DENSE_REST", 5)
    with pytest.raises(ml.ModelSpecificationError, match="factored as a dense matrix"):
        ml.lmer("Reaction ~ Days + (Days | Subject) + (1 | Days)", sleep)


# R 4.2.2 / lme4 1.1-31: print(VarCorr(m))
@pytest.mark.parametrize("formula, expected", [
    ("Reaction ~ Days + (Days | Subject)", [
        " Groups   Name        Std.Dev. Corr",
        " Subject  (Intercept) 24.7407",
        "          Days         5.9221  0.066",
        " Residual             25.5918"]),
    ("Reaction ~ Days + (Days || Subject)", [
        " Groups    Name        Std.Dev.",
        " Subject   (Intercept) 25.0513",
        " Subject.1 Days         5.9882",
        " Residual              25.5653"]),
])
def test_varcorr_prints_as_r(sleep, formula, expected):
    assert str(ml.lmer(formula, sleep).varcorr_table).split("\n") == expected


def test_predictors_on_very_different_scales_warn_as_lme4():
    sleep = ml.datasets.load("sleepstudy")
    sleep["ms"] = sleep["Days"] * 86_400_000.0  # days in milliseconds
    with pytest.warns(ml.PredictorScaleWarning, match="very different scales: consider rescaling"):
        fit = ml.lmer("Reaction ~ ms + (1 | Subject)", sleep)
    # the fit itself is still right: the slope is the per-day slope rescaled
    ref = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    assert fit.fixef["ms"] * 86_400_000.0 == pytest.approx(ref.fixef["Days"], rel=1e-6)


def test_well_scaled_predictors_do_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.PredictorScaleWarning)
        ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
