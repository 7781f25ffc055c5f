"""Printed output (tested exactly on fixed numbers), tables, predictions, plots, the engine."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel._display import render_html
from multilevel.bayes._summary import BrmaSummary, HeterogeneitySummary

SEED_SUMMARY = """\
Bayesian Multilevel Random-Effects Model (k = 56, clusters = 11)

Estimates
     Mean    SD 0.025   0.5 0.975
mu  0.183 0.089 0.009 0.182 0.365
tau 0.323 0.058 0.233 0.314 0.461
rho 0.634 0.140 0.329 0.647 0.863"""

SEED_HETEROGENEITY = """\
Heterogeneity Estimates:
                 Mean Median  0.025  0.975
tau             0.323  0.314  0.233  0.461
rho             0.634  0.647  0.329  0.863
tau [within]    0.187  0.185  0.132  0.255
tau [between]   0.258  0.248  0.150  0.417
tau2            0.108  0.099  0.054  0.213
tau2 [within]   0.036  0.034  0.017  0.065
tau2 [between]  0.071  0.062  0.022  0.174
I2             95.094 95.238 91.673 97.727
I2 [within]    34.673 33.498 13.262 62.913
I2 [between]   60.421 61.434 30.803 83.757
H2             22.745 21.000 12.010 43.998"""


def test_summary_prints_like_robma():
    rows = [line.split() for line in SEED_SUMMARY.splitlines()[3:]]
    frame = pd.DataFrame([[float(x) for x in r[1:]] for r in rows[1:]], index=[r[0] for r in rows[1:]],
                         columns=rows[0])
    for c in ["MCMC error", "error/SD", "ESS", "R-hat"]:
        frame[c] = 1.0
    s = BrmaSummary("Bayesian Multilevel Random-Effects Model (k = 56, clusters = 11)",
                    (("Estimates", frame),), include_mcmc_diagnostics=False)
    assert str(s).splitlines() == SEED_SUMMARY.splitlines()
    assert s._repr_html_() == render_html(str(s))


def test_heterogeneity_prints_like_robma():
    rows = [line.rsplit(maxsplit=4) for line in SEED_HETEROGENEITY.splitlines()[2:]]
    frame = pd.DataFrame([[float(x) for x in r[1:]] for r in rows], index=[r[0].strip() for r in rows],
                         columns=["Mean", "Median", "0.025", "0.975"])
    assert str(HeterogeneitySummary(frame)).splitlines() == SEED_HETEROGENEITY.splitlines()


def test_summary_frame(fit_ml):
    s = fit_ml.summary()
    frame = s.to_frame()
    assert list(frame.index) == ["mu", "tau", "rho"]
    assert list(frame.columns) == ["Mean", "SD", "0.025", "0.5", "0.975", "MCMC error", "error/SD", "ESS", "R-hat"]
    assert (frame["R-hat"] < 1.01).all() and (frame["ESS"] > 5000).all()
    lines = str(s).splitlines()
    assert lines[0] == "Bayesian Multilevel Random-Effects Model (k = 56, clusters = 11)"
    assert lines[3].split() == ["Mean", "SD", "0.025", "0.5", "0.975", "MCMC", "error", "error/SD", "ESS", "R-hat"]
    assert str(fit_ml) == str(fit_ml.summary(include_mcmc_diagnostics=False))


def test_heterogeneity_frame(fit_ml, fit_re):
    frame = fit_ml.summary_heterogeneity().to_frame()
    assert list(frame.index) == ["tau", "rho", "tau [within]", "tau [between]", "tau2", "tau2 [within]",
                                 "tau2 [between]", "I2", "I2 [within]", "I2 [between]", "H2"]
    assert list(frame.columns) == ["Mean", "Median", "0.025", "0.975"]
    np.testing.assert_allclose(frame.loc["I2", "Mean"], frame.loc["I2 [within]", "Mean"] +
                               frame.loc["I2 [between]", "Mean"], rtol=1e-12)
    assert list(fit_re.summary_heterogeneity().to_frame().index) == ["tau", "tau2", "I2", "H2"]
    assert fit_re.summary().title == "Bayesian Random-Effects Model (k = 56)"


def test_typical_variance_matches_higgins_thompson(fit_ml):
    from multilevel.bayes._summary import typical_variance

    w = 1 / fit_ml.data.v
    k = len(w)
    expected = (k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert typical_variance(fit_ml.data.v, np.ones((k, 1))) == pytest.approx(expected, rel=1e-12)


def test_reproducible(fit_ml):
    dat = ml.datasets.load("konstantopoulos2011")
    again = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=1, progress=False,
                    engine="nuts")
    for k, v in fit_ml.posterior.items():
        np.testing.assert_array_equal(v, again.posterior[k])
    np.testing.assert_array_equal(fit_ml.cluster_effects(), again.cluster_effects())


def test_extend(fit_ml):
    longer = fit_ml.extend(draws=1000, progress=False)
    assert longer.draws == 6000 and fit_ml.draws == 5000
    np.testing.assert_array_equal(longer.posterior["tau"][:, :5000], fit_ml.posterior["tau"])


def test_pooled_effect_and_prediction(fit_ml):
    pe = fit_ml.pooled_effect()
    assert list(pe.index) == ["mu", "prediction"]
    assert pe.loc["mu", "Mean"] == pytest.approx(fit_ml.posterior["mu"].mean())
    tau = fit_ml.posterior["tau"].mean()
    width = pe.loc["prediction", "0.975"] - pe.loc["prediction", "0.025"]
    assert 2 * 1.96 * tau < width < 2 * 2.2 * np.sqrt(tau**2 + 0.09**2)


def test_ranef(fit_ml):
    re = fit_ml.ranef()
    assert re.shape == (11, 4) and re.index.name == "district"
    # cluster 71 has the largest observed effects
    assert re["Mean"].idxmax() == 71
    u = fit_ml.cluster_effects()
    assert abs(u.mean()) < 0.1


def test_meta_regression_and_scale(fit_reg):
    s = fit_reg.summary()
    assert [b[0] for b in s.blocks] == ["Estimates", "Meta-regression", "Scale regression (log tau)"]
    assert list(s.to_frame("Meta-regression").index) == ["intercept", "ablat"]
    assert list(s.to_frame("Scale regression (log tau)").index) == ["intercept", "year"]
    assert s.title == "Bayesian Location-Scale Meta-Regression Model (k = 13)"
    assert fit_reg.posterior["ablat"].mean() < 0  # BCG works better far from the equator
    new = pd.DataFrame({"ablat": [10, 50], "year": [1960, 1960]})
    pr = fit_reg.predict(new)
    assert pr.shape[0] == 2 and pr["Mean"].iloc[0] > pr["Mean"].iloc[1]
    assert (pr["pi 0.025"] < pr["0.025"]).all()
    assert fit_reg.predict().shape[0] == 13
    assert fit_reg.summary_heterogeneity().to_frame().shape == (4, 4)
    assert "ablat" in str(fit_reg.priors)


@pytest.mark.parametrize("parameter", ["mu", "tau", "rho"])
def test_posterior_plot(fit_ml, parameter):
    ax = fit_ml.plot(parameter, prior=True, xlim=(0, 1) if parameter != "mu" else None).axes[0]
    assert len(ax.lines) == 2 and ax.get_title() == parameter
    assert np.all(np.asarray(ax.lines[0].get_ydata()) >= 0)


@pytest.mark.parametrize("kind", ["trace", "density", "autocorrelation"])
def test_diagnostic_plots(fit_ml, kind):
    ax = fit_ml.plot_diagnostics("tau", kind).axes[0]
    assert ax.has_data()


def test_forest(fit_ml, fit_re):
    ax = fit_ml.forest().axes[0]
    assert ax.has_data() and len(ax.get_yticklabels()) == 12
    assert fit_re.forest().axes[0].has_data()


def test_unknown_plot_parameter(fit_ml):
    with pytest.raises(ml.ModelSpecificationError, match="no parameter 'sigma'"):
        fit_ml.plot("sigma")


def test_convergence_warning():
    dat = ml.datasets.load("konstantopoulos2011")
    with pytest.warns(ml.ConvergenceWarning, match="effective sample size"):
        ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=1, progress=False,
                draws=100, warmup=1000, engine="nuts")
