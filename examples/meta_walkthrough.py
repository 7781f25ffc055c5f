"""Multilevel meta-analysis: the school-calendar data, frequentist and Bayesian.

Konstantopoulos (2011): 56 standardized mean differences (modified school calendars
vs traditional ones) from schools nested in 11 school districts. The same three-level
model is fitted twice: by REML as metafor's ``rma.mv`` does (``ml.rma_mv``), and with
RoBMA's default priors as its ``brma`` does (``ml.brma``). Then the profile-likelihood
intervals and the posterior of the heterogeneity, posterior plots with the prior
overlaid, and further helpers: MCMC diagnostics, pooled effect and prediction interval,
meta-regression on the year of the study, and the comparison of the model with a
district level against the one without (likelihood-ratio test; Bayes factor).

Run::

    python examples/meta_walkthrough.py [OUTPUT_DIR] [--markdown PAGE.md]

Figures are written to OUTPUT_DIR (a temporary directory if omitted); ``--markdown``
also writes the documentation page (prose, code, output, figures and what R printed).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import io
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import multilevel as ml


# ----------------------------------------------------------------------------- the steps
def load_data():
    """The data.

    `yi` is the standardized mean difference of one school and `vi` its sampling
    variance; `district` is the cluster, `school` numbers the schools within a district.
    The effect sizes are given, so no `escalc` step is needed.
    """
    dat = ml.datasets.load("konstantopoulos2011")
    print(dat.head(6))
    return dat


def frequentist_fit(dat):
    """The multilevel model by REML (metafor's `rma.mv`).

    `random="~ school | district"` gives schools in the same district a compound-symmetric
    correlation: a total heterogeneity `tau^2` shared by all schools and a correlation `rho`
    between two schools of one district (the share of `tau^2` that sits at the district level).
    """
    fit_mv = ml.rma_mv(yi="yi", V="vi", random="~ school | district", data=dat)
    print(fit_mv)
    return fit_mv


def bayesian_fit(dat):
    """The same model, Bayesian (RoBMA's `brma`).

    `cluster="district"` replaces the `random` formula. The parameters are the pooled effect
    `mu`, the total heterogeneity `tau` and the allocation `rho`, with
    `tau_between = tau * sqrt(rho)` and `tau_within = tau * sqrt(1 - rho)`.
    `measure="SMD"` picks RoBMA's default priors for standardized mean differences
    (`mu ~ Normal(0, 0.71)`, `tau ~ Normal+(0, 0.35)`, `rho ~ Beta(1, 1)`). With `mu` and the
    district effects integrated out analytically only `tau` and `rho` are left, so `brma`
    computes their posterior exactly on a grid (no MCMC, nothing to compile) and returns
    3 x 5000 independent draws, reproducibly for `seed=1`; `engine="nuts"` samples with NUTS
    instead (3 chains of 5000 draws after warm-up), as it does for larger models.
    """
    fit_bayes = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=1)
    print(fit_bayes.summary(include_mcmc_diagnostics=False))
    print(fit_bayes.priors)
    return fit_bayes


def profile_intervals(fit_mv):
    """Profile-likelihood intervals for the heterogeneity.

    Each bound is where the REML log-likelihood, maximized over the other parameters, has
    dropped by half the 95% chi-square(1) quantile. `confint()` returns a DataFrame;
    `confint_report()` prints it as metafor does.
    """
    print(fit_mv.confint_report())
    print(fit_mv.confint().round(4).reset_index())


def bayesian_heterogeneity(fit_mv, fit_bayes):
    """The posterior of the heterogeneity.

    `tau` and `rho`, the within- and between-district parts of `tau` and `tau^2`, and I2
    (total and per level) and H2, computed with the typical sampling variance of the data.
    For comparison, `i2()` gives the same I2 split at the REML estimates (metafor does not
    print it; computed in R from metafor's fit by the same formula it is 95.187316,
    63.324845 and 31.862471).
    """
    print(fit_bayes.summary_heterogeneity())
    print(fit_mv.i2().round(2))


def posterior_plots(fit_bayes):
    """Posteriors of tau and rho with their priors.

    The solid line is the posterior density and the dashed line the prior: the data move
    `tau` from a wide half-normal to a narrow peak near 0.3, and `rho` from flat towards
    values between 0.4 and 0.85.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax_tau, ax_rho = fig.subplots(1, 2)
    fit_bayes.plot("tau", prior=True, main="tau", xlim=(0, 1), ax=ax_tau)
    fit_bayes.plot("rho", prior=True, main="rho", xlim=(0, 1), ax=ax_rho)
    return fig


def mcmc_diagnostics(fit_bayes):
    """MCMC diagnostics.

    The summary with its diagnostic columns: Monte Carlo error of the mean, that error
    relative to the posterior SD, effective sample size and R-hat; and the trace and the
    density of each of the three chains. These draws are independent, so the ESS is their
    number and the error SD / sqrt(15000); for a NUTS fit these are the columns to check.
    """
    from matplotlib.figure import Figure

    print(fit_bayes.summary())
    print("convergence warnings:", list(fit_bayes.convergence) or "none")
    fig = Figure(figsize=(7, 5.6), layout="constrained")
    axes = fig.subplots(2, 2)
    for column, parameter in enumerate(["tau", "rho"]):
        fit_bayes.plot_diagnostics(parameter, kind="trace", ax=axes[0, column])
        fit_bayes.plot_diagnostics(parameter, kind="density", ax=axes[1, column])
    return fig


def pooled_effect(fit_mv, fit_bayes):
    """Pooled effect and prediction interval.

    The average effect with its confidence (credible) interval, and the interval in which
    the effect of a new school in a new district is expected to fall.
    """
    print(fit_mv.predict().round(4))
    print(fit_bayes.pooled_effect().round(4))


def district_effects(fit_bayes):
    """District effects.

    The posterior of each district's deviation from the pooled effect, and a forest plot
    of the observed effect sizes (ticks) with the shrunken district estimates.
    """
    from matplotlib.figure import Figure

    print(fit_bayes.ranef().round(3))
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    fit_bayes.forest(ax=ax)
    ax.set_ylabel("district")
    ax.set_title("Observed effect sizes (ticks) and district estimates (95% CrI)")
    return fig


def meta_regression(dat):
    """Meta-regression on the year of the study.

    The moderator formula `mods="~ year"` is the same for both fits; `brma` puts its
    default coefficient prior on the standardized predictor and reports the coefficient
    on the original scale. (A formula in `scale=` would also let log(tau) depend on
    predictors: a location-scale model.)
    """
    fit_year = ml.rma_mv(yi="yi", V="vi", random="~ school | district", mods="~ year", data=dat)
    print(fit_year)
    fit_year_bayes = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", mods="~ year",
                             data=dat, seed=1)
    print(fit_year_bayes.summary(include_mcmc_diagnostics=False))


def model_comparison(dat, fit_mv, fit_bayes):
    """Is the district level needed?

    Frequentist: fixing `rho = 0` removes the district level (the usual random-effects
    model), and `ml.anova` gives the likelihood-ratio test. Bayesian: the Bayes factor of
    the fit with `cluster` against the fit without it, from the marginal likelihoods by
    bridge sampling (with its Monte Carlo error) and, for these intercept-only models, by
    numerical integration.
    """
    fit_no_district = ml.rma_mv(yi="yi", V="vi", random="~ school | district", rho=0, data=dat)
    print(ml.anova(fit_mv, fit_no_district))
    fit_bayes_no_district = ml.brma(yi="yi", vi="vi", measure="SMD", data=dat, seed=1)
    print(fit_bayes_no_district.summary(include_mcmc_diagnostics=False))
    print(ml.bayes_factor(fit_bayes, fit_bayes_no_district))
    print(ml.bayes_factor(fit_bayes, fit_bayes_no_district, method="quadrature"))


# ----------------------------------------------------------------------------- running
class Recorder:
    """Runs steps in order: prints each step's output, saves its figure, keeps both for the page."""

    def __init__(self, out: Path):
        self.out = out
        self.steps: list[tuple] = []  # (function, output, figure path or None, seconds)
        self.fits: dict = {}  # the main fits, for the page's comparison table

    def __call__(self, step, *args):
        buffer = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(buffer):
            result = step(*args)
        seconds = time.perf_counter() - start
        path = None
        if _is_figure(result):
            path = self.out / f"meta_{step.__name__}.png"
            result.savefig(path, dpi=100)
            result = None
        title = step.__doc__.splitlines()[0]
        print(f"## {len(self.steps) + 1}. {title}\n\n{buffer.getvalue()}")
        self.steps.append((step, buffer.getvalue(), path, seconds))
        return result


def _is_figure(obj) -> bool:
    from matplotlib.figure import Figure

    return isinstance(obj, Figure)


def run(out: Path) -> Recorder:
    """The walkthrough in order, results passed from step to step."""
    out.mkdir(parents=True, exist_ok=True)
    record = Recorder(out)
    dat = record(load_data)
    fit_mv = record(frequentist_fit, dat)
    fit_bayes = record(bayesian_fit, dat)
    record(profile_intervals, fit_mv)
    record(bayesian_heterogeneity, fit_mv, fit_bayes)
    record(posterior_plots, fit_bayes)
    record(mcmc_diagnostics, fit_bayes)
    record(pooled_effect, fit_mv, fit_bayes)
    record(district_effects, fit_bayes)
    record(meta_regression, dat)
    record(model_comparison, dat, fit_mv, fit_bayes)
    record.fits.update(fit_mv=fit_mv, fit_bayes=fit_bayes)
    return record


def main(argv=None) -> Recorder:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", help="folder for the figures (default: a temporary folder)")
    parser.add_argument("--markdown", help="also write the documentation page here")
    args = parser.parse_args(argv)
    out = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="meta-walkthrough-"))
    record = run(out)
    if args.markdown:
        page_path = Path(args.markdown)
        page_path.write_text(page(record, page_path), encoding="utf-8")
    print(f"figures written to {out}")
    for step, _, _, seconds in record.steps:
        print(f"{step.__name__:24s} {seconds:7.2f} s", file=sys.stderr)
    return record


# ----------------------------------------------------------------------------- the page
# What the RoBMA vignette printed for the steps that it has (trailing spaces removed);
# for the other frequentist steps, what metafor 3.8-1 prints for the same calls.
R_CODE = {
    "load_data": 'dat <- dat.konstantopoulos2011\nhead(dat)',
    "frequentist_fit": "fit1_metafor <- metafor::rma.mv(yi, vi, random = ~ school | district, data = dat)\n"
                       "fit1_metafor",
    "bayesian_fit": "fit1_brma <- brma(yi = yi, vi = vi, measure = \"SMD\", cluster = district,\n"
                    "                  data = dat, seed = 1)\n"
                    "summary(fit1_brma, include_mcmc_diagnostics = FALSE)",
    "profile_intervals": "confint(fit1_metafor)",
    "bayesian_heterogeneity": "summary_heterogeneity(fit1_brma)",
    "pooled_effect": "predict(fit1_metafor)",
    "meta_regression": "rma.mv(yi, vi, mods = ~ year, random = ~ school | district, data = dat)",
    "model_comparison": "fit0_metafor <- rma.mv(yi, vi, random = ~ school | district, rho = 0, data = dat)\n"
                        "anova(fit1_metafor, fit0_metafor)",
}
R_SOURCE = {
    "load_data": "the vignette", "frequentist_fit": "the vignette", "bayesian_fit": "the vignette",
    "profile_intervals": "the vignette", "bayesian_heterogeneity": "the vignette",
    "pooled_effect": "metafor 3.8-1, run for this page", "meta_regression": "metafor 3.8-1, run for this page",
    "model_comparison": "metafor 3.8-1, run for this page",
}
R_OUTPUT = {
    "load_data": """\
  district school study year     yi    vi
1       11      1     1 1976 -0.180 0.118
2       11      2     2 1976 -0.220 0.118
3       11      3     3 1976  0.230 0.144
4       11      4     4 1976 -0.300 0.144
5       12      1     5 1989  0.130 0.014
6       12      2     6 1989 -0.260 0.014""",
    "frequentist_fit": """\
Multivariate Meta-Analysis Model (k = 56; method: REML)

Variance Components:

outer factor: district (nlvls = 11)
inner factor: school   (nlvls = 11)

            estim    sqrt  fixed
tau^2      0.0978  0.3127     no
rho        0.6653             no

Test for Heterogeneity:
Q(df = 55) = 578.8640, p-val < .0001

Model Results:

estimate      se    zval    pval   ci.lb   ci.ub
  0.1847  0.0846  2.1845  0.0289  0.0190  0.3504  *

---
Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1""",
    "bayesian_fit": """\
Bayesian Multilevel Random-Effects Model (k = 56, clusters = 11)

Estimates
     Mean    SD 0.025   0.5 0.975
mu  0.183 0.089 0.009 0.182 0.365
tau 0.323 0.058 0.233 0.314 0.461
rho 0.634 0.140 0.329 0.647 0.863""",
    "profile_intervals": """\
      estimate  ci.lb  ci.ub
tau^2   0.0978 0.0528 0.2398
tau     0.3127 0.2298 0.4897

    estimate  ci.lb  ci.ub
rho   0.6653 0.3282 0.8855""",
    "bayesian_heterogeneity": """\
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
H2             22.745 21.000 12.010 43.998""",
    "pooled_effect": """\
   pred     se  ci.lb  ci.ub   pi.lb  pi.ub
 0.1847 0.0846 0.0190 0.3504 -0.4502 0.8197""",
    "meta_regression": """\
Multivariate Meta-Analysis Model (k = 56; method: REML)

Variance Components:

outer factor: district (nlvls = 11)
inner factor: school   (nlvls = 11)

            estim    sqrt  fixed
tau^2      0.1049  0.3239     no
rho        0.6888             no

Test for Residual Heterogeneity:
QE(df = 54) = 550.2597, p-val < .0001

Test of Moderators (coefficient 2):
QM(df = 1) = 0.3169, p-val = 0.5735

Model Results:

         estimate       se     zval    pval     ci.lb    ci.ub
intrcpt  -10.3898  18.7848  -0.5531  0.5802  -47.2074  26.4278
year       0.0053   0.0094   0.5629  0.5735   -0.0132   0.0238

---
Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1""",
    "model_comparison": """\
        df     AIC     BIC    AICc   logLik     LRT   pval       QE
Full     3 21.9174 27.9394 22.3880  -7.9587                578.8640
Reduced  2 37.6910 41.7057 37.9218 -16.8455 17.7736 <.0001 578.8640""",
}
AGREEMENT = {
    "load_data": "Same rows; pandas numbers rows from 0 and drops trailing zeros (`-0.18` for R's `-0.180`).",
    "frequentist_fit": "Identical, line for line.",
    "bayesian_fit": "Within Monte Carlo error (see the table at the end): both are 3 chains x 5000 "
                    "draws, of different samplers and random numbers, so the third decimal can differ.",
    "profile_intervals": "Identical; the DataFrame holds the same numbers at full precision.",
    "bayesian_heterogeneity": "Within Monte Carlo error (see the table at the end). The REML I2 split "
                              "agrees with the one computed in R (95.19, 63.32, 31.86).",
    "pooled_effect": "The metafor numbers agree to the printed digits (pandas prints `0.019` for "
                     "`0.0190`). The Bayesian interval is the RoBMA-style posterior; metafor has no counterpart.",
    "meta_regression": "The `rma_mv` output is identical to metafor's. RoBMA is not installed here, so "
                       "the Bayesian meta-regression has no R counterpart on this page; its year slope "
                       "and interval are close to the REML estimate and confidence interval, as expected "
                       "with a weakly informative prior.",
    "model_comparison": "The likelihood-ratio table is identical to metafor's. The bridge-sampling "
                        "log Bayes factor and the exact (quadrature) one differ by the order of the reported "
                        "Monte Carlo error. Both favour the district level strongly (BF10 about 3000), "
                        "as the likelihood-ratio test does; the pooled effect of the fit without "
                        "districts is close to the `rho = 0` REML estimate (0.127 against 0.1279).",
}
INTRO = """\
# Multilevel meta-analysis: school calendars in 11 districts

This page follows the RoBMA vignette *Multilevel Meta-Analysis* (Bartoš) step by step in Python:
the three-level data of Konstantopoulos (2011), fitted by REML as metafor's `rma.mv` does and with
RoBMA's default priors as its `brma` does, then intervals, heterogeneity, plots and further helpers.
After each Python output comes what R printed for the same step and how the two agree.
metafor's numbers are deterministic, so ours must agree to every printed digit; Bayesian numbers are
Monte Carlo estimates and agree within Monte Carlo error.

Generated by `python examples/meta_walkthrough.py docs/figures --markdown docs/meta_walkthrough.md`.

```python
import multilevel as ml
```
"""


def _body(step) -> str:
    """The code of a step: its body without the docstring and the final return."""
    source = textwrap.dedent(inspect.getsource(step))
    func = ast.parse(source).body[0]
    lines = source.splitlines()[func.body[1].lineno - 1:]
    lines = [line for line in textwrap.dedent("\n".join(lines)).splitlines() if not line.startswith("return ")]
    return "\n".join(lines).strip()


def _prose(step) -> str:
    return textwrap.dedent("\n".join(step.__doc__.splitlines()[1:])).strip()


def page(record: Recorder, page_path: Path) -> str:
    """The documentation page: prose, code, output, figure, R's output and the agreement."""
    lines = [INTRO]
    for i, (step, output, path, _) in enumerate(record.steps, start=1):
        name = step.__name__
        lines += [f"## {i}. {step.__doc__.splitlines()[0].rstrip('.')}", "", _prose(step), "",
                  "```python", _body(step), "```", ""]
        if output.strip():
            lines += ["```text", output.rstrip(), "```", ""]
        if path is not None:
            rel = Path(os.path.relpath(Path(path).resolve(), page_path.resolve().parent))
            lines += [f"![{step.__doc__.splitlines()[0]}]({rel.as_posix()})", ""]
        if name in R_OUTPUT:
            lines += [f"R ({R_SOURCE[name]}):", "", "```r", R_CODE[name], "```", "", "```text",
                      R_OUTPUT[name], "```", "", f"**Agreement.** {AGREEMENT[name]}", ""]
    lines += _bayes_table(record.fits["fit_bayes"])
    return "\n".join(lines).rstrip() + "\n"


# the vignette's RoBMA numbers, by quantity and column
SEED_BAYES = {
    "mu": (0.183, 0.182, 0.009, 0.365), "tau": (0.323, 0.314, 0.233, 0.461),
    "rho": (0.634, 0.647, 0.329, 0.863), "tau [within]": (0.187, 0.185, 0.132, 0.255),
    "tau [between]": (0.258, 0.248, 0.150, 0.417), "tau2": (0.108, 0.099, 0.054, 0.213),
    "tau2 [within]": (0.036, 0.034, 0.017, 0.065), "tau2 [between]": (0.071, 0.062, 0.022, 0.174),
    "I2": (95.094, 95.238, 91.673, 97.727), "I2 [within]": (34.673, 33.498, 13.262, 62.913),
    "I2 [between]": (60.421, 61.434, 30.803, 83.757), "H2": (22.745, 21.000, 12.010, 43.998),
}


def _engine_words(fit_bayes) -> str:
    return ("independent draws from the exact posterior" if fit_bayes.engine == "quadrature"
            else "NumPyro NUTS")


def _bayes_table(fit_bayes) -> list[str]:
    """Posterior means, medians and 95% limits: the vignette, ours, and a 2-million-draw JAGS run."""
    est = fit_bayes.summary().to_frame()
    het = fit_bayes.summary_heterogeneity().to_frame()
    ours = {"mu": tuple(est.loc["mu", ["Mean", "0.5", "0.025", "0.975"]])}
    ours |= {q: tuple(het.loc[q, ["Mean", "Median", "0.025", "0.975"]]) for q in het.index}
    fixture = Path(__file__).parents[1] / "tests" / "fixtures" / "bayes" / "brma_jags.json"
    jags = json.loads(fixture.read_text())["estimates"]
    lines = ["## Agreement of the Bayesian numbers", "",
             "Posterior mean, median and 95% limits: the vignette (RoBMA, JAGS, 3 chains x 5000 draws),",
             f"this page ({_engine_words(fit_bayes)}, 3 x 5000 draws, `seed=1`) and a long JAGS run of the same",
             "model and priors (4 chains x 500,000 draws, `tests/fixtures/bayes/brma_jags.json`), which is",
             "exact to about the fourth decimal. Monte Carlo error of the mean at 5000 x 3 draws:",
             f"mu {est.loc['mu', 'MCMC error']:.4f}, tau {est.loc['tau', 'MCMC error']:.4f}, "
             f"rho {est.loc['rho', 'MCMC error']:.4f} (ours). RoBMA's JAGS chains mix more slowly (an",
             "effective sample size of about 1000 at its settings for this model, measured for the",
             "`brma` tests), so the vignette's error of the mean is about 0.003 for mu and 0.004 for rho:",
             "its 0.183 for the mean of mu against the long run's 0.181 is such an error. Differences of a",
             "few units in the third decimal (the first decimal of the I2 percentages) are Monte Carlo",
             "error on both sides; the 97.5% limits, set by few draws in the tail, vary most.", "",
             "| quantity | mean: vignette / ours / long run | median | 2.5% | 97.5% |",
             "|---|---|---|---|---|"]
    keys = ("mean", "median", "q025", "q975")
    for q, seed_values in SEED_BAYES.items():
        cells = [f"{s:.3f} / {o:.3f} / {jags[q][k]:.3f}"
                 for s, o, k in zip(seed_values, ours[q], keys)]
        lines.append(f"| {q} | " + " | ".join(cells) + " |")
    return lines + [""]


if __name__ == "__main__":
    main()
