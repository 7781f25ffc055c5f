"""GLMM figures: caterpillar plot of the random effects (lme4's conditional variances) and
fitted curves per group on the response scale."""

from __future__ import annotations

import functools
import io
import json
import pathlib

import matplotlib
import numpy as np
import pytest
from scipy import stats

import multilevel as ml

matplotlib.use("Agg")
FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "glmm"


@functools.cache
def cbpp():
    df = ml.datasets.load("cbpp")
    df["time"] = df["period"].astype(int)
    return df


@functools.cache
def fit_period():
    return ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp(), "binomial")


@functools.cache
def fit_time():
    return ml.glmer("cbind(incidence, size - incidence) ~ time + (1 | herd)", cbpp(), "binomial")


def _not_empty(fig):
    from matplotlib.image import imread

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    buf.seek(0)
    img = imread(buf)
    assert np.unique(img.reshape(-1, img.shape[-1]), axis=0).shape[0] > 10


def test_caterpillar_uses_lme4_conditional_variances():
    ref = json.loads((FIXTURES / "glmer_cbpp_cbind.json").read_text())["ranef"]["herd"]
    fig = ml.plot_ranef(fit_period(), level=0.9)
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "herd: (Intercept)"
    table = fit_period().ranef_intervals(0.9)
    condsd = np.sqrt([c[0][0] for c in ref["condvar"]])
    np.testing.assert_allclose(table["condval"], ref["values"]["(Intercept)"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(table["condsd"], condsd, rtol=2e-4)
    np.testing.assert_allclose(table["upper"] - table["condval"], stats.norm.ppf(0.95) * table["condsd"],
                               rtol=1e-12)
    _not_empty(fig)


def test_fitted_curves_are_predictions_on_the_response_scale():
    fig = ml.plot_glmer(fit_time(), cbpp(), "time", title="cbpp")
    lines = fig.axes[0].lines
    assert len(lines) == 15 + 1
    herd1 = lines[0]
    x, y = herd1.get_data()
    b = fit_time().ranef["herd"].iloc[0, 0]
    beta = fit_time().fixef
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-(beta["(Intercept)"] + b + beta["time"] * x))), rtol=1e-10)
    xp, yp = lines[-1].get_data()
    np.testing.assert_allclose(yp, 1 / (1 + np.exp(-(beta["(Intercept)"] + beta["time"] * xp))), rtol=1e-10)
    assert fig.axes[0].get_ylim() == (-0.03, 1.03)
    assert fig.axes[0].get_title() == "cbpp"
    _not_empty(fig)


def test_plots_draw_on_a_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(1, 2)
    assert ml.plot_glmer(fit_time(), cbpp(), "time", ax=axes[0], population=False) is fig
    assert len(axes[0].lines) == 15
    assert ml.plot_ranef(fit_time(), ax=axes[1]) is fig


def test_plot_glmer_checks_its_arguments():
    with pytest.raises(ml.UnknownColumnError):
        ml.plot_glmer(fit_time(), cbpp(), "nothere")
    with pytest.raises(ml.ArgumentError, match="numeric"):
        ml.plot_glmer(fit_time(), cbpp(), "period")
    with pytest.raises(ml.ArgumentError, match="fitted to"):
        ml.plot_glmer(fit_time(), cbpp().reset_index(drop=True).iloc[:10], "time")
