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
    fig = ml.forest(fit, transf=np.exp, refline=1, xlabel="Risk Ratio", show_pi=True)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(bcg["author"]) + ["RE Model"]
    assert len(ax.collections) == 5 and len(ax.patches) == 1  # CIs and ends, squares, PI and ends; one diamond
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
    ax = fit.forest().axes[0]
    assert len(ax.patches) == fit.k
    assert len(ax.get_yticklabels()) == fit.k


def test_funnel_points_and_inverted_axis(fit):
    ax = ml.funnel(fit).axes[0]
    offsets = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(np.sqrt(fit.vi)))
    assert ax.yaxis_inverted()
    assert len(ax.lines) == 3  # two funnel sides and the centre line


def test_contour_enhanced_funnel_has_shaded_regions(fit):
    ax = fit.funnel(contours=(0.90, 0.95, 0.99)).axes[0]
    assert len(ax.collections) == 3 + 1  # three regions, points
    assert ax.get_facecolor() == matplotlib.colors.to_rgba("0.55")  # most significant: outside the 99% region
    centre = [a for a in ax.lines if a.get_gid() == "refline"][0].get_xdata()
    np.testing.assert_array_equal(centre, [0.0, 0.0])  # centred at zero (test of no effect)
    widest = ax.collections[0].get_paths()[0].vertices[:, 0]
    np.testing.assert_allclose([widest.min(), widest.max()], np.array([-1, 1]) * 2.5758293035489 * 1.1
                               * np.sqrt(fit.vi.max()), rtol=1e-10)


def test_funnel_of_meta_regression_uses_residuals(bcg):
    fit = ml.rma("yi", "vi", data=bcg, mods="~ ablat")
    ax = ml.funnel(fit).axes[0]
    x = ax.collections[-1].get_offsets()[:, 0]
    resid = fit.yi - fit.design.X @ fit.beta.to_numpy()
    np.testing.assert_allclose(x, resid)
    assert ax.get_xlabel() == "Residual Value"


def test_funnel_of_meta_regression_plots_residual_standard_errors(bcg):
    """Regression: the vertical axis is the SE of each residual (metafor's rstandard), not sqrt(vi)."""
    fit = ml.rma("yi", "vi", data=bcg, mods="~ ablat")
    se = ml.funnel(fit).axes[0].collections[-1].get_offsets()[:, 1]
    m = fit.vi + fit.tau2
    X = fit.design.X
    hat = X @ np.linalg.solve(X.T @ (X / m[:, None]), X.T / m)
    np.testing.assert_allclose(se, np.sqrt(m - np.diag(hat) * m), rtol=1e-10)
    assert np.all(se > np.sqrt(fit.vi))  # tau^2 enters the marginal variance


def test_contour_levels_and_shades_are_checked(fit):
    with pytest.raises(ml.ArgumentError, match="proportions"):
        ml.funnel(fit, contours=(90, 95))
    with pytest.raises(ml.ArgumentError, match="needs 4 colours"):
        ml.funnel(fit, contours=(0.9, 0.95, 0.99), shades=("white", "grey"))
