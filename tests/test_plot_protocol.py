"""Every public plot function returns a matplotlib Figure, draws into ``ax=`` when given (and
returns that Axes' figure), and finds its data in the fit when the fit holds it."""

import matplotlib
import pytest

import multilevel as ml

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

def _cbpp_time():
    """cbpp with the period as a number (glmer fits keep no data, so plot_glmer takes it)."""
    data = ml.datasets.load("cbpp")
    return data.assign(time=data["period"].astype(int))


def _glmer_time():
    return ml.glmer("cbind(incidence, size - incidence) ~ time + (1 | herd)", _cbpp_time(), family="binomial")


# how to call each public plot function on a session fit (fixture, call)
CALLS = {
    "plot_lm": ("lm_fit", lambda f, **kw: ml.plot_lm(f, **kw)),
    "plot_lm_list": ("lm_list_fit", lambda f, **kw: ml.plot_lm_list(f, **kw)),
    "plot_residuals": ("lm_fit", lambda f, **kw: ml.plot_residuals(f, **kw)),
    "plot_lmer": ("lmer_fit", lambda f, **kw: ml.plot_lmer(f, **kw)),
    "plot_ranef": ("lmer_fit", lambda f, **kw: ml.plot_ranef(f, **kw)),
    "plot_qq_ranef": ("lmer_fit", lambda f, **kw: ml.plot_qq_ranef(f, **kw)),
    "plot_lmer_residuals": ("lmer_fit", lambda f, **kw: ml.plot_lmer_residuals(f, **kw)),
    "plot_profile": ("lmer_fit", lambda f, **kw: ml.plot_profile(f, which=[".sigma"], num=5, parallel=False, **kw)),
    "plot_glmer": ("glmer_fit", lambda f, **kw: ml.plot_glmer(_glmer_time(), _cbpp_time(), "time", **kw)),
    "forest": ("rma_fit", lambda f, **kw: ml.forest(f, **kw)),
    "funnel": ("rma_fit", lambda f, **kw: ml.funnel(f, **kw)),
}
# plot methods of fits
METHODS = {
    "BrmaFit.plot": ("brma_fit", lambda f, **kw: f.plot("tau", **kw)),
    "BrmaFit.plot_diagnostics": ("brma_fit", lambda f, **kw: f.plot_diagnostics("tau", **kw)),
    "BrmaFit.forest": ("brma_fit", lambda f, **kw: f.forest(**kw)),
    "RmaMvFit.plot_profile": ("rma_mv_fit", lambda f, **kw: f.plot_profile(["sigma2.1"], steps=3, **kw)),
    "RmaFit.forest": ("rma_fit", lambda f, **kw: f.forest(**kw)),
    "RmaFit.funnel": ("rma_fit", lambda f, **kw: f.funnel(**kw)),
    "RobmaFit.plot": ("robma_fit", lambda f, **kw: f.plot("mu", prior=True, **kw)),
    "RobmaFit.plot_weightfunction": ("robma_fit", lambda f, **kw: f.plot_weightfunction(**kw)),
    "RobmaFit.plot_petpeese": ("robma_fit", lambda f, **kw: f.plot_petpeese(**kw)),
    "RobmaFit.plot_models": ("robma_fit", lambda f, **kw: f.plot_models(**kw)),
    "RobmaFit.forest": ("robma_fit", lambda f, **kw: f.forest(**kw)),
}


def test_every_public_plot_function_is_listed():
    public = {n for n in ml.__all__ if n.startswith("plot_") or n in ("forest", "funnel")}
    assert public == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS) + sorted(METHODS))
def test_returns_a_figure_and_draws_into_ax(request, name):
    fixture, call = {**CALLS, **METHODS}[name]
    fit = request.getfixturevalue(fixture)
    fig = call(fit)
    assert isinstance(fig, Figure) and fig.axes
    target = Figure()
    ax = target.subplots()
    assert call(fit, ax=ax) is target
    assert ax.has_data() or ax.lines or ax.collections or ax.patches


def test_plots_find_the_data_in_the_fit(lmer_fit, lm_fit, lm_list_fit, sleep):
    """``ml.plot_lmer(fit)`` needed ``data=`` and ``x=``; the fits keep the rows they used."""
    for fit, plot in ((lmer_fit, ml.plot_lmer), (lm_fit, ml.plot_lm), (lm_list_fit, ml.plot_lm_list)):
        without = plot(fit)
        with_data = plot(fit, sleep, "Days")
        assert without.axes[0].get_xlabel() == with_data.axes[0].get_xlabel() == "Days"
        assert len(without.axes[0].lines) == len(with_data.axes[0].lines)
    assert lmer_fit.model_data.shape == (180, 3)


def test_plot_without_kept_data_asks_for_it(lmer_fit):
    import dataclasses

    bare = dataclasses.replace(lmer_fit, _data=None)
    with pytest.raises(ml.ArgumentError, match="data="):
        ml.plot_lmer(bare)


@pytest.mark.parametrize("name", sorted(n for n in METHODS if n.startswith("RobmaFit.")))
def test_robma_plots_have_axis_labels_and_a_title(request, name):
    fixture, call = METHODS[name]
    ax = call(request.getfixturevalue(fixture)).axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
