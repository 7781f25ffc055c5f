"""``ml.robma``: inputs, errors, the ensemble's results and the printed reports."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.bayes.robma._averaging import exact_transform, weighted_quantile
from multilevel.bayes.robma._tables import RobmaSummary, components_frame


@pytest.fixture(scope="module")
def zdat():
    return ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))


def test_components_are_sums_over_the_models(robma_fit):
    comp = robma_fit.components()
    models = robma_fit.models_overview().to_frame()
    assert list(comp["Models"]) == ["18/36", "18/36", "32/36"]
    np.testing.assert_allclose(comp["Prior prob."], 0.5)
    effect = models["Prior Effect"] != "Spike(0)"
    assert comp.loc["Effect", "Post. prob."] == pytest.approx(models.loc[effect, "Post. prob."].sum())
    p = comp.loc["Effect", "Post. prob."]
    assert comp.loc["Effect", "Inclusion BF"] == pytest.approx(p / (1 - p))
    assert models["Post. prob."].sum() == pytest.approx(1.0)
    assert set(models["method"]) == {"exact", "quadrature", "importance"}


def test_posterior_probabilities_follow_the_marginal_likelihoods(robma_fit):
    lml = np.array([m.log_ml for m in robma_fit.models])
    lw = lml + np.log(robma_fit.prior_prob)
    np.testing.assert_allclose(robma_fit.post_prob, np.exp(lw - lw.max()) / np.exp(lw - lw.max()).sum())


def test_model_averaged_mu_mixes_the_conditional_posterior_with_zeros(robma_fit):
    avg = robma_fit.estimates().loc["mu", "Mean"]
    cond = robma_fit.estimates(conditional=True).loc["mu", "Mean"]
    p_effect = robma_fit.components().loc["Effect", "Post. prob."]
    assert avg == pytest.approx(p_effect * cond, rel=1e-10)


def test_conditional_omega_uses_only_weight_function_models(robma_fit):
    x, w = robma_fit.mixture("omega[0.05,0.5]", conditional=True)
    assert x.max() <= 1.0 and np.any(x < 1)
    wf = [r for r in robma_fit.models if r.model.bias is not None and r.model.bias.kind == "weightfunction"]
    assert x.size == sum(len(r.weights) for r in wf)


def test_output_scale_transforms_mu_exactly_and_tau_linearly(robma_fit):
    d = robma_fit.estimates(conditional=True)
    r = robma_fit.estimates(conditional=True, output_scale="r")
    z = robma_fit.estimates(conditional=True, output_scale="z")
    lor = robma_fit.estimates(conditional=True, output_scale="logOR")
    # quantiles commute with the monotone transformation of mu
    assert r.loc["mu", "Median"] == pytest.approx(float(exact_transform(np.array(d.loc["mu", "Median"]), "r")))
    assert z.loc["mu", "0.975"] == pytest.approx(math.atanh(r.loc["mu", "0.975"]))
    assert lor.loc["mu", "Mean"] == pytest.approx(d.loc["mu", "Mean"] * math.pi / math.sqrt(3))
    assert z.loc["tau", "Mean"] == pytest.approx(d.loc["tau", "Mean"] / 2)
    assert z.loc["PEESE", "Mean"] == pytest.approx(d.loc["PEESE", "Mean"] * 2)
    assert z.loc["PET", "Mean"] == pytest.approx(d.loc["PET", "Mean"])


def test_effect_direction_negative_mirrors_the_fit(zdat):
    flipped = zdat.assign(yi=-zdat["yi"])
    pos = ml.robma("yi", "vi", measure="ZCOR", data=zdat, seed=3, draws=2000, prior_bias=[ml.prior_pet()])
    neg = ml.robma("yi", "vi", measure="ZCOR", data=flipped, seed=3, draws=2000, prior_bias=[ml.prior_pet()],
                   effect_direction="negative")
    for a, b in zip(neg.models, pos.models):  # importance sampling draws differ with the mirrored proposal
        tol = 1e-10 if a.integral.method != "importance" else 4 * math.hypot(a.integral.error, b.integral.error)
        assert a.log_ml == pytest.approx(b.log_ml, abs=tol)
    sd = math.sqrt(pos.vcov().iloc[0, 0])
    assert neg.params.iloc[0] == pytest.approx(-pos.params.iloc[0], abs=0.05 * sd)


def test_cor_is_fitted_as_fishers_z(zdat):
    dat = ml.datasets.load("molloy2014")
    vi = (1 - dat["ri"] ** 2) ** 2 / (dat["ni"] - 1)
    fit_r = ml.robma(dat["ri"], vi, measure="COR", seed=2, draws=1000, model_type="PP")
    y = np.arctanh(dat["ri"].to_numpy())
    np.testing.assert_allclose(fit_r.data.y, y)
    r = dat["ri"].to_numpy()
    n = (1 - r**2 / 2) * (1 - r**2) ** 2 / vi.to_numpy()  # RoBMA's n of r and se_r; z's se 1 / sqrt(n - 3)
    np.testing.assert_allclose(fit_r.data.se, 1 / np.sqrt(n - 3), rtol=1e-12)


def test_custom_ensemble_and_prior_weights(zdat):
    fit = ml.robma("yi", "vi", measure="ZCOR", data=zdat, seed=1, draws=1000,
                   prior_bias=[ml.prior_weightfunction("one.sided", [0.05], prior_weights=1),
                               ml.prior_pet(prior_weights=1)])
    assert len(fit.models) == 12
    probs = fit.models_overview().to_frame()["Prior prob."]
    np.testing.assert_allclose(sorted(set(np.round(probs, 12))), [1 / 12])  # null, wf and PET: 1 each
    assert "PEESE" not in fit.estimates().index


def test_predict_and_protocol(robma_fit):
    pred = robma_fit.predict(level=0.9)
    assert list(pred.columns) == ["Mean", "Median", "0.05", "0.95"]
    assert pred.loc["prediction", "0.05"] < pred.loc["mu", "0.05"]
    assert math.isnan(robma_fit.loglik) and math.isnan(robma_fit.aic)
    assert robma_fit.nobs == 16
    with pytest.raises(ml.ArgumentError, match="newdata"):
        robma_fit.predict(pd.DataFrame({"x": [1]}))


def test_weighted_quantile_inverts_the_weighted_distribution():
    x, w = np.array([3.0, 1.0, 2.0]), np.array([0.2, 0.5, 0.3])
    assert list(weighted_quantile(x, w, [0.1, 0.5, 0.79, 0.81])) == [1.0, 1.0, 2.0, 3.0]


def test_inference_data_per_component_model(robma_fit):
    idata = robma_fit.to_inference_data(32)  # mu + tau + the one-sided (.025, .05) weight function
    assert sorted(idata.posterior.data_vars) == ["mu", "omega", "tau"]
    assert idata.posterior["omega"].shape == (1, 10000, 3)
    with pytest.raises(ml.ArgumentError, match="model"):
        robma_fit.to_inference_data(37)


def test_interpret_reports_each_component(robma_fit):
    text = robma_fit.interpret()
    assert "the effect, BF10 =" in text and "the heterogeneity, BFrf =" in text
    assert "publication bias, BFpb =" in text


def test_summary_text_in_robmas_layout():
    comp = components_frame([("Effect", 18, 36, 0.5, 0.627, 1.68), ("Heterogeneity", 18, 36, 0.5, 0.967, 29.136),
                             ("Bias", 32, 36, 0.5, 0.74, 2.842)])
    est = pd.DataFrame({"Mean": [0.15, 0.178], "Median": [0.17, 0.171], "0.025": [0.0, 0.0],
                        "0.975": [0.385, 0.352]}, index=["mu", "tau"])
    text = str(RobmaSummary(comp, est, False, "The estimates are summarized on the Cohen's d scale.", False))
    assert text == (
        "Robust Bayesian meta-analysis\n"
        "Components summary:\n"
        "              Models Prior prob. Post. prob. Inclusion BF\n"
        "Effect         18/36       0.500       0.627        1.680\n"
        "Heterogeneity  18/36       0.500       0.967       29.136\n"
        "Bias           32/36       0.500       0.740        2.842\n"
        "\n"
        "Model-averaged estimates:\n"
        "     Mean Median 0.025 0.975\n"
        "mu  0.150  0.170 0.000 0.385\n"
        "tau 0.178  0.171 0.000 0.352\n"
        "The estimates are summarized on the Cohen's d scale.")


def test_fit_is_reproducible(zdat):
    a = ml.robma("yi", "vi", measure="ZCOR", data=zdat, seed=9, draws=1000, model_type="PP")
    b = ml.robma("yi", "vi", measure="ZCOR", data=zdat, seed=9, draws=1000, model_type="PP")
    pd.testing.assert_frame_equal(a.estimates(), b.estimates())


def test_robma_compiles_nothing():
    code = ("import sys, multilevel as ml\n"
            "d = ml.escalc('ZCOR', ri='ri', ni='ni', data=ml.datasets.load('molloy2014'))\n"
            "fit = ml.robma('yi', 'vi', measure='ZCOR', data=d, seed=1, draws=500)\n"
            "print(sorted(m for m in ('jax', 'numpyro') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"measure": "XYZ"}, ml.ModelSpecificationError, "unknown measure 'XYZ'"),
    ({"measure": "OR", "cutoffs": "t"}, ml.ModelSpecificationError, "cutoffs"),
    ({"measure": "GEN", "cutoffs": "t"}, ml.ModelSpecificationError, "a t test needs a sample size"),
    ({"measure": "ZCOR", "cutoffs": "z"}, ml.ModelSpecificationError, "cutoffs"),
    ({"measure": "ZCOR", "effect_direction": "up"}, ml.ArgumentError, "effect_direction"),
    ({"measure": "ZCOR", "draws": 10}, ml.ArgumentError, "draws"),
    ({"measure": "ZCOR", "method": "nuts"}, ml.ArgumentError, "method"),
    ({"measure": "ZCOR", "model_type": "XX"}, ml.ModelSpecificationError, "model_type"),
    ({"measure": "ZCOR", "prior_bias": ["PET"]}, ml.ModelSpecificationError, "prior_bias"),
    ({"measure": "ZCOR", "prior_effect": 0.5}, ml.ModelSpecificationError, "prior_effect"),
    ({"measure": "ZCOR", "prior_heterogeneity": ml.prior("normal", 0, 1)}, ml.ModelSpecificationError,
     "prior_heterogeneity"),
])
def test_bad_arguments(zdat, kwargs, error, match):
    with pytest.raises(error, match=match):
        ml.robma("yi", "vi", data=zdat, **kwargs)


def test_too_few_estimates_for_the_ensemble(zdat):
    with pytest.raises(ml.DataError, match=r"at least 5 estimates .* got k = 4"):
        ml.robma("yi", "vi", measure="ZCOR", data=zdat.iloc[:4])
    # the PET-PEESE ensemble has at most 3 free parameters
    fit = ml.robma("yi", "vi", measure="ZCOR", data=zdat.iloc[:4], model_type="PP", draws=500, seed=1)
    assert len(fit.models) == 12


def test_correlations_outside_minus_one_one():
    with pytest.raises(ml.DataError, match=r"measure 'COR' needs correlations in \(-1, 1\); offending rows: 2"):
        ml.robma([0.2, 1.3, 0.1, 0.3, 0.2, 0.4], [0.01] * 6, measure="COR")


def test_fishers_z_that_look_like_other_data():
    with pytest.raises(ml.DataError, match="Fisher's z"):
        ml.robma([0.2, 7.5, 0.1, 0.3, 0.2, 0.4], [0.01] * 6, measure="ZCOR")


def test_p_values_need_positive_standard_errors():
    with pytest.raises(ml.DataError, match="sei must be positive"):
        ml.robma([0.2, 0.5, 0.1, 0.3, 0.2, 0.4], sei=[0.1, 0.0, 0.1, 0.1, 0.1, 0.1], measure="SMD")


def test_output_scale_errors(robma_fit):
    with pytest.raises(ml.ArgumentError, match="output_scale"):
        robma_fit.summary(output_scale="OR2")
    gen = ml.robma([0.2, 0.5, 0.1, 0.3, 0.2, 0.4], [0.01] * 6, measure="GEN", model_type="PP", draws=500, seed=1)
    with pytest.raises(ml.ArgumentError, match="GEN"):
        gen.summary(output_scale="r")
    assert "scale of the data" in str(gen.summary())


# --------------------------------------------------------------------------- plots
@pytest.mark.parametrize("call", [
    lambda f: f.plot("mu", prior=True), lambda f: f.plot("tau", prior=True), lambda f: f.plot("PET"),
    lambda f: f.plot("mu", conditional=True, output_scale="r"), lambda f: f.plot_weightfunction(),
    lambda f: f.plot_petpeese(), lambda f: f.plot_models("tau"), lambda f: f.forest(level=0.9)],
    ids=["mu", "tau", "PET", "mu-r", "weightfunction", "petpeese", "models", "forest"])
def test_plots_return_figures(robma_fit, call):
    import matplotlib.figure
    import matplotlib.pyplot as plt

    fig = call(robma_fit)
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
    plt.close("all")


def test_plot_rejects_unknown_parameter(robma_fit):
    with pytest.raises(ml.ArgumentError, match="parameter"):
        robma_fit.plot("rho")


def test_summary_of_the_models(robma_fit):
    assert str(robma_fit.summary("models")) == str(robma_fit.models_overview())
    with pytest.raises(ml.ArgumentError, match="type"):
        robma_fit.summary("diagnostics")


def test_weight_function_plot_labels_the_cutoffs_as_robma_prints_them(robma_fit):
    import matplotlib.pyplot as plt

    ax = robma_fit.plot_weightfunction().axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["0", ".025", ".05", ".5", ".95", ".975", "1"]
    assert ax.get_xlabel() == "p-value (one-sided)" and ax.get_ylabel() == "Selection weight (omega)"
    assert ax.get_title() == "Model-averaged weight function"
    assert robma_fit.plot_weightfunction(conditional=True).axes[0].get_title() == "Conditional weight function"
    plt.close("all")


def test_posterior_plot_names_the_scale_and_the_point_mass(robma_fit):
    import matplotlib.pyplot as plt

    fig = robma_fit.plot("mu", prior=True, output_scale="r")
    assert fig.axes[0].get_xlabel() == "Effect size (mu), correlation scale"
    assert fig.axes[1].get_ylabel() == "Probability of mu = 0"
    assert robma_fit.plot("PET").axes[0].get_xlabel() == "PET coefficient"
    plt.close("all")


def test_weight_function_plot_can_space_the_cutoffs_evenly(robma_fit):
    import matplotlib.pyplot as plt

    ax = robma_fit.plot_weightfunction(rescale_x=True).axes[0]
    np.testing.assert_allclose(ax.get_xticks(), np.linspace(0, 1, 7))
    assert [t.get_text() for t in ax.get_xticklabels()][1:3] == [".025", ".05"]
    plt.close("all")
