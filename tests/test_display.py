"""TextReport: one printed text behind repr, notebook HTML and Markdown."""

import multilevel as ml


def test_views_show_the_same_text():
    sleep = ml.datasets.load("sleepstudy")
    m1 = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    m2 = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    for report in (ml.anova(m1, m2), ml.lm("Reaction ~ Days", sleep).summary(),
                   ml.lm_list("Reaction ~ Days | Subject", sleep)):
        text = str(report)
        assert text and repr(report) == text
        assert report._repr_markdown_() == f"```\n{text}\n```"
        html = report._repr_html_()
        assert html.startswith("<pre>") and html.endswith("</pre>")
        assert "&lt;" in html or "<" not in text  # escaped


# --------------------------------------------------------------------------- every table and fit type
import pytest  # noqa: E402

from fit_kinds import FIT_FIXTURES  # noqa: E402
from multilevel._display import render_html, render_markdown  # noqa: E402
from test_tables import PRODUCERS, _produce  # noqa: E402


def _check_views(obj):
    text = str(obj)
    assert text.strip()
    assert obj._repr_html_() == render_html(text)
    assert obj._repr_markdown_() == render_markdown(text)
    shown = repr(obj)
    assert not shown.startswith(f"{type(obj).__name__}("), f"raw dataclass repr: {shown[:80]}"
    return shown, text


@pytest.mark.parametrize("name", sorted(PRODUCERS))
def test_every_table_shows_its_text(request, name):
    shown, text = _check_views(_produce(request, name))
    assert shown == text


@pytest.mark.parametrize("fixture", sorted(FIT_FIXTURES.values()))
def test_every_fit_has_a_useful_repr(request, fixture):
    fit = request.getfixturevalue(fixture)
    shown, text = _check_views(fit)
    assert shown == text or (shown.startswith(f"<{type(fit).__name__}") and "\n" not in shown)


def test_no_type_writes_its_own_notebook_view():
    """One renderer: no class of the package defines ``_repr_html_`` or ``_repr_markdown_`` but the mixins."""
    import importlib
    import inspect
    import pkgutil

    from multilevel._display import TextViews

    found = []
    for info in pkgutil.walk_packages(ml.__path__, "multilevel."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and obj is not TextViews:
                found += [f"{name}.{m}" for m in ("_repr_html_", "_repr_markdown_") if m in vars(obj)]
    assert found == []


def test_bayes_factor_results_show_their_text():
    """The marginal likelihood and Bayes factor results printed as raw dataclass reprs."""
    from multilevel.bayes._compare import BayesFactor, MarginalLikelihood

    m1, m0 = MarginalLikelihood(-3.2, 0.01, "bridge sampling"), MarginalLikelihood(-4.0, 0.02, "bridge sampling")
    for result in (m1, BayesFactor.from_marginals(m1, m0)):
        _check_views(result)
        assert repr(result) == str(result)
    assert str(BayesFactor.from_marginals(m1, m0)).startswith("BF10 = 2.226")
