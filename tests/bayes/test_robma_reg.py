"""``ml.robma(..., mods=...)``: the meta-regression ensemble (RoBMA.reg), its tables and errors.

The component models are checked against JAGS in test_robma_reg_jags.py; here: the coding of
the moderators, the ensemble (36 x 2^m models, prior probabilities, RoBMA.reg's order and
counts), the inclusion Bayes factors per moderator, the printed summary (exact, from fixed
numbers) and the errors for bad input.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel._exceptions import (ArgumentError, DataError, FormulaError, MissingDataWarning,
                                    ModelSpecificationError, UnknownColumnError)
from multilevel.bayes.robma._fit import _ensemble
from multilevel.bayes.robma._moderators import meandif_contrast, moderator_design
from multilevel.bayes.robma._regression import RegressionPosterior, regression_ensemble
from multilevel.bayes.robma._regtables import RobmaRegSummary


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


def _pp(dat, mods, **kw):
    return ml.robma("yi", "vi", measure="OR", mods=mods, data=dat, model_type="PP", effect_direction="negative",
                    draws=1000, seed=3, **kw)


# ----------------------------------------------------------------------------- coding
@pytest.mark.parametrize("levels", [2, 3, 5])
def test_meandif_contrast(levels):
    C = meandif_contrast(levels)
    assert C.shape == (levels, levels - 1)
    np.testing.assert_allclose(C.sum(axis=0), 0, atol=1e-12)
    J = np.full((levels, levels), 1 / levels)
    np.testing.assert_allclose(C @ C.T, (np.eye(levels) - J) / (1 - 1 / levels), atol=1e-12)


def test_design_standardizes_and_codes_factors(bcg):
    d = moderator_design("~ ablat + alloc + log(ablat)", bcg)
    ablat = bcg["ablat"].to_numpy(float)
    assert [t.kind for t in d.terms] == ["continuous", "factor", "continuous"]
    np.testing.assert_allclose(d.X[:, 0], (ablat - ablat.mean()) / ablat.std(ddof=1))
    np.testing.assert_allclose(d.X[:, 3], (np.log(ablat) - np.log(ablat).mean()) / np.log(ablat).std(ddof=1))
    fac = d.terms[1]
    assert fac.levels == ("alternate", "random", "systematic") and fac.columns == (1, 2)
    rows = [fac.levels.index(v) for v in bcg["alloc"]]
    np.testing.assert_allclose(d.X[:, 1:3], fac.contrast[rows])
    assert fac.effect_names() == ["alloc [dif: alternate]", "alloc [dif: random]", "alloc [dif: systematic]"]


# ----------------------------------------------------------------------------- ensemble
def test_default_ensemble_has_36_times_2_to_the_m_models():
    base = _ensemble("PSMA", None, None, None, None, None, True)
    models = regression_ensemble(base, ("a", "b"), (1, 2), (ml.prior("normal", 0, 0.25),) * 2)
    assert len(models) == 144
    assert math.isclose(sum(m.prior_prob for m in models), 1.0)
    # RoBMA.reg's order: the base models vary fastest, then a, then b
    assert [m.included for m in models[::36]] == [(False, False), (True, False), (False, True), (True, True)]
    assert all(m.mu == b.mu and m.bias == b.bias for m, b in zip(models[36:72], base))
    counts = {"Effect": sum(m.effect for m in models), "Bias": sum(m.has_bias for m in models),
              "a": sum(m.included[0] for m in models)}
    assert counts == {"Effect": 72, "Bias": 128, "a": 72}  # RoBMA.reg's check_setup: 72/144, 128/144
    assert math.isclose(sum(m.prior_prob for m in models if m.included[1]), 0.5)
    assert models[-1].free == ("mu", "a[0]", "b[0]", "b[1]", "tau", "PEESE")


def test_ensemble_tables_and_inclusion(robma_reg_fit):
    fit = robma_reg_fit
    assert len(fit.models) == 12 * 4
    table = fit.moderator_components()
    assert list(table.index) == ["ablat", "alloc"] and list(table["Models"]) == ["24/48", "24/48"]
    np.testing.assert_allclose(table["Prior prob."], 0.5)
    for i, name in enumerate(table.index):
        inc = np.array([r.model.included[i] for r in fit.models])
        p1 = fit.post_prob[inc].sum()
        assert math.isclose(table.loc[name, "Post. prob."], p1)
        assert math.isclose(fit.inclusion_bf(name), p1 / (1 - p1), rel_tol=1e-12)
    # the latitude moderates the effect of BCG strongly; the allocation does not
    assert fit.inclusion_bf("ablat") > 10 and fit.inclusion_bf("alloc") < 1


def test_moderator_estimates(robma_reg_fit):
    fit = robma_reg_fit
    est = fit.moderator_estimates()
    assert list(est.index) == ["intercept", "ablat", "alloc [dif: alternate]", "alloc [dif: random]",
                               "alloc [dif: systematic]"]
    np.testing.assert_allclose(est.loc["intercept"], fit.estimates().loc["mu"])
    # the levels' deviations from their mean sum to zero in every draw
    x = sum(fit.mixture(n)[0] for n in est.index[2:])
    np.testing.assert_allclose(x, 0, atol=1e-12)
    cond = fit.moderator_estimates(conditional=True)
    x, w = fit.mixture("ablat", conditional=True)
    assert math.isclose(cond.loc["ablat", "Mean"], float(w @ x))
    inc = np.array([r.model.included[0] for r in fit.models])
    num = sum(p * float(r.weights @ r.samples["beta"][:, 0]) for r, p in zip(fit.models, fit.post_prob) if
              r.model.included[0])
    assert math.isclose(cond.loc["ablat", "Mean"], num / fit.post_prob[inc].sum(), rel_tol=1e-10)
    assert fit.params.index.tolist() == fit.coef_names and fit.vcov().shape == (5, 5)


def test_mods_as_list_is_the_formula(bcg):
    a = _pp(bcg, "~ ablat")
    b = _pp(bcg, ["ablat"])
    np.testing.assert_allclose([r.log_ml for r in a.models], [r.log_ml for r in b.models])


def test_missing_moderator_rows_are_dropped(bcg):
    dat = bcg.copy()
    dat.loc[2, "ablat"] = np.nan
    with pytest.warns(MissingDataWarning, match="ablat"):
        fit = _pp(dat, "~ ablat")
    assert fit.data.k == 12 and "3" not in fit.data.labels
    ref = _pp(bcg.drop(index=2), "~ ablat")
    np.testing.assert_allclose([r.log_ml for r in fit.models], [r.log_ml for r in ref.models])


def test_summary_layout_from_fixed_numbers():
    comp = pd.DataFrame({"Models": ["72/144", "72/144", "128/144"], "Prior prob.": [0.5] * 3,
                         "Post. prob.": [0.337, 1.0, 0.965], "Inclusion BF": [0.508, math.inf, 27.967]},
                        index=["Effect", "Heterogeneity", "Bias"])
    mods = pd.DataFrame({"Models": ["72/144", "72/144"], "Prior prob.": [0.5, 0.5], "Post. prob.": [0.95, 0.154],
                         "Inclusion BF": [18.955, 0.181]}, index=["measure", "age"])
    cols = ["Mean", "Median", "0.025", "0.975"]
    est = pd.DataFrame([[0.064, 0.0, 0.0, 0.328], [0.212, 0.208, 0.149, 0.297]], index=["mu", "tau"], columns=cols)
    reg = pd.DataFrame([[0.064, 0.0, 0.0, 0.328], [-0.125, -0.129, -0.214, 0.0], [0.0, 0.0, -0.044, 0.044]],
                       index=["intercept", "measure [dif: direct]", "age"], columns=cols)
    note = "The estimates are summarized on the Cohen's d scale (priors were specified on the Cohen's d scale)."
    text = str(RobmaRegSummary(comp, mods, est, reg, False, note, False))
    assert text.splitlines() == [
        "Robust Bayesian meta-regression",
        "Components summary:",
        "               Models Prior prob. Post. prob. Inclusion BF",
        "Effect         72/144       0.500       0.337        0.508",
        "Heterogeneity  72/144       0.500       1.000          Inf",
        "Bias          128/144       0.500       0.965       27.967",
        "",
        "Meta-regression components summary:",
        "        Models Prior prob. Post. prob. Inclusion BF",
        "measure 72/144       0.500       0.950       18.955",
        "age     72/144       0.500       0.154        0.181",
        "",
        "Model-averaged estimates:",
        "     Mean Median 0.025 0.975",
        "mu  0.064  0.000 0.000 0.328",
        "tau 0.212  0.208 0.149 0.297",
        note,
        "",
        "Model-averaged meta-regression estimates:",
        "                        Mean Median  0.025 0.975",
        "intercept              0.064  0.000  0.000 0.328",
        "measure [dif: direct] -0.125 -0.129 -0.214 0.000",
        "age                    0.000  0.000 -0.044 0.044",
        note,
    ]


def test_summary_of_a_fit(robma_reg_fit):
    s = robma_reg_fit.summary()
    lines = str(s).splitlines()
    assert lines[:2] == ["Robust Bayesian meta-regression", "Components summary:"]
    assert "Meta-regression components summary:" in lines and "Model-averaged meta-regression estimates:" in lines
    assert list(s.to_frame("moderators").index) == ["ablat", "alloc"]
    assert "Conditional meta-regression estimates:" in str(robma_reg_fit.summary(conditional=True))
    overview = robma_reg_fit.models_overview().to_frame()
    assert list(overview["Prior ablat"][::12]) == ["Spike(0)", "Normal(0, 0.25)", "Spike(0)", "Normal(0, 0.25)"]
    meandif = "mean difference contrast: mNormal(0, 0.25)"
    assert list(overview["Prior alloc"][::12]) == ["Spike(0)", "Spike(0)", meandif, meandif]


# ----------------------------------------------------------------------------- the collapsed integral
def test_collapsed_coefficients_match_a_direct_integral(bcg):
    """The closed-form integral over mu and the coefficients (no selection) equals the
    Gaussian marginal likelihood written out with the full covariance."""
    base = _ensemble("PP", None, None, None, None, None, True)
    d = moderator_design("~ ablat + alloc", bcg)
    model = regression_ensemble(base, d.names, (1, 2), (ml.prior("normal", 0.1, 0.3),) * 2)[-3]  # mu, tau, both
    y, se = bcg["yi"].to_numpy(float), np.sqrt(bcg["vi"].to_numpy(float))
    f = RegressionPosterior(model, y, se, d.X, math.pi / math.sqrt(3), direction=-1)
    assert f.collapsed and f.sites == ("tau",)
    tau = 0.2
    c = math.pi / math.sqrt(3)
    A = -c * np.column_stack([np.ones(y.size), d.X])
    m0 = np.array([0.0, 0.1, 0.1, 0.1])
    S = np.diag([1.0, 0.09, 0.09, 0.09])
    cov = np.diag(se**2 + (c * tau) ** 2) + A @ S @ A.T
    from scipy.stats import multivariate_normal
    expected = multivariate_normal(A @ m0, cov).logpdf(-y)
    vals = {"mu": np.zeros(1), "tau": np.array([tau])}
    assert math.isclose(float(f.loglik(vals)[0]), expected, rel_tol=1e-10)


# ----------------------------------------------------------------------------- errors
def test_unknown_column(bcg):
    with pytest.raises(UnknownColumnError, match="ablatt"):
        _pp(bcg, "~ ablatt")


@pytest.mark.parametrize(("column", "value"), [("const", 1.0), ("label", "a")])
def test_constant_moderator(bcg, column, value):
    dat = bcg.assign(**{column: value})
    with pytest.raises(ModelSpecificationError, match=f"moderator '{column}' is constant"):
        _pp(dat, f"~ ablat + {column}")


def test_too_few_studies(bcg):
    with pytest.raises(DataError, match=r"at least 6 estimates .* got k = 3"):
        _pp(bcg.iloc[[0, 4, 9]], "~ ablat + alloc")  # the largest model: mu, 3 coefficients, tau, PEESE
    dat = bcg.iloc[[0, 4, 9, 1]]
    with pytest.raises(DataError, match="4 estimates cannot inform the intercept and 3 moderator"):
        ml.robma("yi", "vi", measure="OR", mods="~ ablat + alloc", data=dat, prior_bias=ml.prior_pet(),
                 prior_effect=ml.prior("point", 0.2), prior_heterogeneity=ml.prior("point", 0.1))


def test_other_bad_input(bcg):
    with pytest.raises(ModelSpecificationError, match="interactions"):
        _pp(bcg, "~ ablat * alloc")
    with pytest.raises(FormulaError, match="intercept"):
        _pp(bcg, "~ ablat - 1")
    with pytest.raises(ArgumentError, match="mods must be"):
        _pp(bcg, 3)
    with pytest.raises(DataError, match="needs data"):
        ml.robma(bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), measure="OR", mods="~ ablat")
    with pytest.raises(ModelSpecificationError, match="prior_covariates"):
        _pp(bcg, "~ ablat", prior_covariates=ml.prior("cauchy", 0, 1))
    with pytest.raises(ArgumentError, match="newdata must be a data frame"):
        _pp(bcg, "~ ablat").predict(newdata=bcg["ablat"].to_numpy())


def test_arrays_with_data(bcg):
    fit = ml.robma(bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), measure="OR", mods="~ ablat", data=bcg,
                   model_type="PP", effect_direction="negative", draws=1000, seed=3)
    ref = _pp(bcg, "~ ablat")
    np.testing.assert_allclose([r.log_ml for r in fit.models], [r.log_ml for r in ref.models])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit.data.k == 13


def test_interpret_and_inference_data(robma_reg_fit):
    text = robma_reg_fit.interpret()
    assert "evidence in favor of the moderation by ablat" in text
    assert "alloc [dif: random] =" in text
    idata = robma_reg_fit.to_inference_data(48, draws=500)  # the last model has both moderators
    post = idata.posterior
    assert {"mu", "tau", "ablat", "alloc [dif: alternate]"} <= set(post.data_vars)
    levels = sum(post[f"alloc [dif: {lev}]"].values for lev in ("alternate", "random", "systematic"))
    np.testing.assert_allclose(levels, 0, atol=1e-12)
    assert "ablat" not in robma_reg_fit.to_inference_data(2, draws=100).posterior  # no moderator in model 2


def test_smd_with_t_cutoffs_and_missing_effect_sizes():
    """Cohen's d input (t-test cut-offs), a text factor, a row without an effect size."""
    rng = np.random.default_rng(4)
    n = rng.integers(20, 120, 14)
    d = 0.3 + rng.normal(0, 0.2, 14)
    dat = pd.DataFrame({"d": d, "se": np.sqrt(4 / n + d**2 / (2 * n)), "g": list("ab") * 7,
                        "x": rng.normal(size=14)}, index=[f"s{i}" for i in range(14)])
    dat.loc["s5", "d"] = np.nan
    with pytest.warns(MissingDataWarning):
        fit = ml.robma("d", sei="se", measure="SMD", mods="~ g + x", data=dat, draws=500, seed=2,
                       prior_bias=[ml.prior_weightfunction("one.sided", [0.05]), ml.prior_pet()])
    assert fit.data.k == 13 and "s5" not in fit.data.labels
    assert fit.data.cutoff_rule == "t"
    assert list(fit.moderator_estimates().index) == ["intercept", "g [dif: a]", "g [dif: b]", "x"]


def test_point_prior_on_the_effect(bcg):
    """An effect fixed at a point (not 0) under the alternative: mu is not a free parameter."""
    fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=bcg, prior_bias=ml.prior_pet(),
                   prior_effect=ml.prior("point", -0.2), effect_direction="negative", draws=500, seed=1)
    last = fit.models[-1]
    assert last.model.free == ("ablat[0]", "tau", "PET")
    np.testing.assert_allclose(last.samples["mu"], -0.2)
    assert np.isfinite(last.log_ml)
