"""The hierarchical-modeling walkthrough, end to end: students within three schools.

From ordinary regression (one line; school dummies; one regression per school)
to mixed models (the null model and its ICC; random intercepts; random slopes;
both), compared by likelihood-ratio tests, with a figure at every step.

The ``students`` dataset is simulated (``tools/make_students.py``): it has the
structure of the teaching example this walkthrough follows, not real schools.

Run::

    python examples/walkthrough.py [FIGURE_DIR] [--markdown PAGE.md]

Figures are written to FIGURE_DIR (a temporary directory if omitted);
``--markdown`` also writes the documentation page (code, output, figures).
"""

from __future__ import annotations

import argparse
import inspect
import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np

import multilevel as ml

students = ml.datasets.load("students")


# ----------------------------------------------------------------------------- the steps
def data_overview():
    """The data: 183 students in 3 schools; study time (hours) and test score (%)."""
    print(students.head())
    print(students.groupby("school", observed=True)["test_score"].agg(["count", "mean", "std"]).round(3))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    for ax, (school, part) in zip(axes, students.groupby("school", observed=True)):
        ax.hist(part["test_score"], bins=np.arange(20, 75, 5), color="#678", edgecolor="white")
        ax.set_title(school)
        ax.set_xlabel("Score")
    axes[0].set_ylabel("Count")
    return fig


def simple_regression():
    """Constant intercept, constant slope: ordinary least squares, schools ignored."""
    fit = ml.lm("test_score ~ study_time", students, data_name="students")
    print(fit.summary())
    print(fit.coef)
    return ml.plot_lm(fit, students, "study_time", title="Constant intercept, constant slope")


def dummy_regression():
    """Varying intercepts, constant slope: school dummies (Hillcrest is the reference)."""
    fit = ml.lm("test_score ~ study_time + school", students, data_name="students")
    print(fit.summary())
    print(fit.coef)
    return ml.plot_lm(fit, students, "study_time", group="school",
                      title="School dummies: parallel lines")


def separate_regressions():
    """Varying intercepts, varying slopes: one regression per school (lme4's lmList)."""
    fits = ml.lm_list("test_score ~ study_time | school", students, data_name="students")
    for school in fits:
        print(f"--- {school}")
        print(fits[school].summary())
    print(fits.coef)
    return ml.plot_lm_list(fits, students, "study_time", title="Independent regressions by school")


def null_model():
    """The null model: a grand mean plus a random intercept per school, and the ICC."""
    fit = ml.lmer("test_score ~ 1 + (1 | school)", students, data_name="students")
    print(fit.summary())
    print(fit.fixef)
    print(fit.ranef["school"])
    print(fit.icc())
    return ml.plot_lmer(fit, students, "study_time", title="The null model")


def random_intercept():
    """Random intercept, fixed slope, with Satterthwaite t-tests and profile confidence intervals."""
    fit = ml.lmer("test_score ~ 1 + study_time + (1 | school)", students, data_name="students")
    print(fit.lmertest_summary())
    print(fit.ranef["school"])
    print(fit.icc())
    print(fit.confint(method="profile", parallel=False, progress=False).round(3))
    return ml.plot_lmer(fit, students, "study_time", title="Random intercept, fixed slope")


def random_slope():
    """Fixed intercept, random slope: every school starts at the same baseline."""
    fit = ml.lmer("test_score ~ 1 + (0 + study_time | school)", students, data_name="students")
    print(fit.summary())
    print(fit.ranef["school"])
    return ml.plot_lmer(fit, students, "study_time", title="Fixed intercept, random slope")


def random_intercept_and_slope():
    """Random intercept and random slope, correlated."""
    fit = ml.lmer("test_score ~ 1 + study_time + (1 + study_time | school)", students, data_name="students")
    print(fit.summary())
    print(fit.coef["school"])
    print(fit.r2())
    return ml.plot_lmer(fit, students, "study_time", title="Random intercept, random slope")


def model_comparison():
    """Likelihood-ratio tests: REML fits are refitted by maximum likelihood, as lme4 does."""
    null = ml.lmer("test_score ~ 1 + (1 | school)", students, data_name="students")
    intercept = ml.lmer("test_score ~ 1 + study_time + (1 | school)", students, data_name="students")
    both = ml.lmer("test_score ~ 1 + study_time + (1 + study_time | school)", students, data_name="students")
    print(ml.anova(null, intercept, both, names=["null", "intercept", "both"]))
    return ml.plot_ranef(both)


def diagnostics():
    """Residual diagnostics of the final model: residuals against fitted values, normal QQ plot."""
    both = ml.lmer("test_score ~ 1 + study_time + (1 + study_time | school)", students, data_name="students")
    print(both.residuals.describe().round(3))
    return ml.plot_lmer_residuals(both)


def likelihood_profiles():
    """Likelihood profiles of the random-intercept model: where zeta crosses +-1.96 are the 95% limits."""
    fit = ml.lmer("test_score ~ 1 + study_time + (1 | school)", students, data_name="students")
    print(fit.confint(method="profile", progress=False).round(3))
    return ml.plot_profile(fit, num=9)


STEPS = [data_overview, simple_regression, dummy_regression, separate_regressions, null_model,
         random_intercept, random_slope, random_intercept_and_slope, model_comparison, diagnostics,
         likelihood_profiles]


# ----------------------------------------------------------------------------- running and the page
def run(figure_dir: Path, steps=STEPS) -> list[tuple]:
    """Run every step: print its output, save its figure; return (step, output, figure path)."""
    import contextlib
    import io
    import warnings

    figure_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, step in enumerate(steps, start=1):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a singular fit: the printed summary says so
            fig = step()
        path = None
        if fig is not None:
            path = figure_dir / f"walkthrough_{i:02d}_{step.__name__}.png"
            fig.savefig(path, dpi=90)
        print(f"## {i}. {step.__doc__}\n{buffer.getvalue()}")
        results.append((step, buffer.getvalue(), path))
    return results


def write_markdown(results, page: Path) -> None:
    """The documentation page: for every step its code, printed output and figure."""
    lines = ["# Walkthrough: from regression to mixed models", "",
             "Students within three schools: ordinary regression, school dummies, one regression per",
             "school, then the null model, random intercepts, random slopes and both, compared by",
             "likelihood-ratio tests. The `students` data are simulated (`tools/make_students.py`)",
             "with the structure of a teaching example; they describe no real schools.", "",
             "Generated by `python examples/walkthrough.py docs/figures --markdown docs/walkthrough.md`.", "",
             "```python", "import multilevel as ml", "", 'students = ml.datasets.load("students")', "```", ""]
    for i, (step, output, path) in enumerate(results, start=1):
        body = textwrap.dedent("\n".join(inspect.getsource(step).splitlines()[2:]))
        body = "\n".join(line for line in body.splitlines() if not line.startswith("return "))
        lines += [f"## {i}. {step.__doc__}", "", "```python", body.rstrip(), "```", "", "```text",
                  output.rstrip(), "```", ""]
        if path is not None:
            rel = Path(os.path.relpath(Path(path).resolve(), page.resolve().parent))
            lines += [f"![{step.__doc__}]({rel.as_posix()})", ""]
    lines += _R_TO_PYTHON
    page.write_text("\n".join(lines), encoding="utf-8")


_R_TO_PYTHON = [
    "## The walkthrough's R calls in multilevel", "",
    "| R | multilevel |", "|---|---|",
    "| `lm(test_score ~ study_time, data = df)` | `ml.lm(\"test_score ~ study_time\", df)` |",
    "| `summary(model)`, `coef(model)` | `fit.summary()`, `fit.coef` |",
    "| `lapply(schools, function(x) lm(..., df[df$school == x, ]))` | "
    "`ml.lm_list(\"test_score ~ study_time \\| school\", df)` |",
    "| `sapply(model, coef)` | `fits.coef` (one row per school) |",
    "| `lmer(test_score ~ 1 + (1 \\| school), data = df)` | `ml.lmer(\"test_score ~ 1 + (1 \\| school)\", df)` |",
    "| `fixef(model)`, `ranef(model)` | `fit.fixef`, `fit.ranef[\"school\"]` |",
    "| `ranef(model, condVar = TRUE)` | `fit.ranef_condvar`, `fit.ranef_intervals()` |",
    "| `performance::icc(model)` | `fit.icc()` |",
    "| `performance::r2_nakagawa(model)` | `fit.r2()` |",
    "| `summary(model)$AICtab[\"REML\"]` | `fit.deviance` (REML criterion of a REML fit) |",
    "| `resid(model) / sigma(model)` | `fit.scaled_residuals` |",
    "| `as.data.frame(VarCorr(model))` | `fit.varcorr` |",
    "| `summary(model)$coefficients` | `fit.summary().to_frame()` |",
    "| `cov2cor(vcov(model))` | `fit.summary().correlation.to_frame()` |",
    "| `formula(model)` | `fit.formula` |",
    "| `summary(lmerTest::lmer(...))` | `fit.lmertest_summary()`, `fit.coef_table()` |",
    "| `summary(m, ddf = \"Kenward-Roger\")` | `fit.coef_table(ddf=\"Kenward-Roger\")` |",
    "| `confint(model)` (profile), `method = \"Wald\"`, `\"boot\"` | `fit.confint()`, "
    "`fit.confint(\"Wald\")`, `fit.confint(\"boot\", nsim=500, seed=1)` |",
    "| `anova(m1, m2)` | `ml.anova(m1, m2)` |",
    "| `predict(model, newdata, allow.new.levels = TRUE)`, `re.form = NA` | "
    "`fit.predict(newdata, allow_new_levels=True)`, `re_form=\"~0\"` |",
    "| `simulate(model, nsim, seed)` | `fit.simulate(nsim, seed=seed)` |",
    "| the ggplot figures | `ml.plot_lm`, `ml.plot_lm_list`, `ml.plot_lmer`, `ml.plot_ranef`, "
    "`ml.plot_qq_ranef`, `ml.plot_residuals`, `ml.plot_lmer_residuals`, `ml.plot_profile` |",
    "",
]


def main(argv=None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure_dir", nargs="?", help="folder for the figures (default: a temporary folder)")
    parser.add_argument("--markdown", help="also write the documentation page here")
    args = parser.parse_args(argv)
    figure_dir = Path(args.figure_dir) if args.figure_dir else Path(tempfile.mkdtemp(prefix="walkthrough-"))
    results = run(figure_dir)
    if args.markdown:
        write_markdown(results, Path(args.markdown))
    print(f"figures written to {figure_dir}")
    return results


if __name__ == "__main__":
    main()
