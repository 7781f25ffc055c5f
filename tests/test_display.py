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
