"""Forest and funnel plots of rma fits render (Agg) with the expected content."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import multilevel as ml  # noqa: E402


@pytest.fixture(scope="module")
def bcg():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="module")
def fit(bcg):
    return ml.rma("yi", "vi", data=bcg, slab="author")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_forest_rows_diamond_and_prediction_interval(fit, bcg):
    ax = ml.forest(fit, transf=np.exp, refline=1, xlabel="Risk Ratio")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(bcg["author"]) + ["RE Model"]
    assert len(ax.collections) >= 3 and len(ax.patches) == 1  # CI lines, squares, PI line; one diamond
    diamond = ax.patches[0].get_xy()
    pred = fit.predict(transf=np.exp)
    np.testing.assert_allclose([diamond[:, 0].min(), diamond[:, 0].max()],
                               [pred["ci_lb"].iloc[0], pred["ci_ub"].iloc[0]])
    lo, hi = ax.get_xlim()
    assert lo <= pred["pi_lb"].iloc[0] and hi >= pred["pi_ub"].iloc[0]
    assert len(ax.texts) == fit.k + 1
    assert ax.get_xlabel() == "Risk Ratio"


def test_forest_with_moderators_shows_fitted_values(bcg):
    fit = ml.rma("yi", "vi", data=bcg, mods="~ ablat")
    ax = fit.forest()
    assert len(ax.patches) == fit.k
    assert len(ax.get_yticklabels()) == fit.k


def test_funnel_points_and_inverted_axis(fit):
    ax = ml.funnel(fit)
    offsets = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(np.sqrt(fit.vi)))
    assert ax.yaxis_inverted()
    assert len(ax.lines) == 3  # two funnel sides and the centre line


def test_contour_enhanced_funnel_has_shaded_regions(fit):
    ax = fit.funnel(contours=(0.90, 0.95, 0.99))
    assert len(ax.collections) == 1 + 3 + 1  # background, three regions, points
    lo, hi = ax.get_xlim()
    assert lo < 0 < hi and abs(lo + hi) < 1e-12  # centred at zero (test of no effect)


def test_funnel_of_meta_regression_uses_residuals(bcg):
    fit = ml.rma("yi", "vi", data=bcg, mods="~ ablat")
    ax = ml.funnel(fit)
    x = ax.collections[-1].get_offsets()[:, 0]
    resid = fit.yi - fit.design.X @ fit.beta.to_numpy()
    np.testing.assert_allclose(np.sort(x), np.sort(resid))
    assert ax.get_xlabel() == "Residual Value"
