"""OLS figures render (Agg) and are not empty."""

import io

import matplotlib
import numpy as np
import pytest

import multilevel as ml

matplotlib.use("Agg")


def _not_empty(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    from matplotlib.image import imread

    buf.seek(0)
    img = imread(buf)
    assert img.shape[0] > 50 and img.shape[1] > 50
    assert np.unique(img.reshape(-1, img.shape[-1]), axis=0).shape[0] > 10  # more than a blank canvas


@pytest.fixture(scope="module")
def students():
    return ml.datasets.load("students")


def test_plot_lm_single_line(students):
    fit = ml.lm("test_score ~ study_time", students)
    fig = ml.plot_lm(fit, students, "study_time", title="Constant intercept, constant slope")
    assert len(fig.axes[0].lines) == 1
    _not_empty(fig)


def test_plot_lm_parallel_lines(students):
    fit = ml.lm("test_score ~ study_time + school", students)
    fig = ml.plot_lm(fit, students, "study_time", group="school")
    slopes = [np.diff(line.get_ydata()[:2]) / np.diff(line.get_xdata()[:2]) for line in fig.axes[0].lines]
    np.testing.assert_allclose(np.ravel(slopes), fit.coef["study_time"], rtol=1e-8)
    _not_empty(fig)


def test_plot_lm_list_separate_lines(students):
    fits = ml.lm_list("test_score ~ study_time | school", students)
    fig = ml.plot_lm_list(fits, students, "study_time")
    assert len(fig.axes[0].lines) == 3
    _not_empty(fig)


def test_plot_residuals(students):
    fig = ml.plot_residuals(ml.lm("test_score ~ study_time + school", students))
    assert len(fig.axes) == 2
    _not_empty(fig)


def test_response_comes_from_the_model_frame():
    students = ml.datasets.load("students")
    assert ml.lm("log(test_score) ~ study_time", students).response == "log(test_score)"
    assert ml.lm_list("test_score ~ study_time | school", students).response == "test_score"
