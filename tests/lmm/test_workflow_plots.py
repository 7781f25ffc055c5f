"""Every lmer figure renders with Agg and is not empty."""

import io

import matplotlib
import numpy as np
import pytest

import multilevel as ml
from workflow_common import data, fit

matplotlib.use("Agg")


def _not_empty(fig):
    from matplotlib.image import imread

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    buf.seek(0)
    img = imread(buf)
    assert img.shape[0] > 50 and img.shape[1] > 50
    assert np.unique(img.reshape(-1, img.shape[-1]), axis=0).shape[0] > 10


@pytest.mark.parametrize("formula,lines", [
    ("test_score ~ 1 + (1 | school)", 4),
    ("test_score ~ 1 + study_time + (1 | school)", 4),
    ("test_score ~ 1 + (0 + study_time | school)", 4),
    ("test_score ~ 1 + study_time + (1 + study_time | school)", 4),
])
def test_plot_lmer_group_and_population_lines(formula, lines):
    m = fit(formula, "students")
    fig = ml.plot_lmer(m, data("students"), "study_time", title=formula)
    assert len(fig.axes[0].lines) == lines
    _not_empty(fig)


def test_plot_lmer_lines_follow_fixed_plus_random():
    m = fit("test_score ~ 1 + study_time + (1 + study_time | school)", "students")
    fig = ml.plot_lmer(m, data("students"), "study_time")
    coef = m.coef["school"]
    for line, (_, row) in zip(fig.axes[0].lines[:3], coef.iterrows()):
        x, y = line.get_xdata(), line.get_ydata()
        np.testing.assert_allclose(y, row["(Intercept)"] + row["study_time"] * x, rtol=1e-10)


def test_caterpillar_plot():
    fig = ml.plot_ranef(fit("Reaction ~ Days + (Days | Subject)", "sleep"))
    assert len(fig.axes) == 2
    _not_empty(fig)


def test_qq_plots():
    m = fit("Reaction ~ Days + (Days | Subject)", "sleep")
    _not_empty(ml.plot_qq_ranef(m))
    _not_empty(ml.plot_lmer_residuals(m))
    _not_empty(ml.plot_residuals(m))


def test_profile_plot():
    fig = ml.plot_profile(fit("Reaction ~ Days + (1 | Subject)", "sleep"), which=[".sig01", "Days"], num=7,
                          parallel=False)
    assert len(fig.axes) == 2
    _not_empty(fig)
    with pytest.raises(ml.DataError, match="unknown parameter"):
        ml.plot_profile(fit("Reaction ~ Days + (1 | Subject)", "sleep"), which=["sigma"])
