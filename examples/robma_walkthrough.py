"""Publication bias, end to end: robust Bayesian meta-analysis of red and attractiveness.

Lehmann, Elliot & Calin-Jageman (2018) meta-analysed 81 experiments on whether the colour red
makes a person look more attractive (``dat.lehmann2018`` in metadat; standardized mean
differences ``yi`` with sampling variances ``vi``). The walkthrough follows the RoBMA vignette
*Robust Bayesian Meta-Analysis* (Bartos) on these data: a random-effects model and the single
publication-bias adjustments of metafor (Egger's test, PET, PEESE, a step selection model),
then the RoBMA-PSMA ensemble of 36 models (``ml.robma``) with its summary, conditional
estimates, the models, inclusion Bayes factors, other output scales, the interpretation text
and the plots, and the same ensemble with RoBMA 2-3's default priors.

Run::

    python examples/robma_walkthrough.py [OUTPUT_DIR] [--markdown PAGE.md]

Figures are written to OUTPUT_DIR (a temporary directory if omitted); ``--markdown`` also
writes the documentation page (prose, code, output, figures and what R printed).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import io
import math
import os
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

import multilevel as ml

# RoBMA 4's default priors for standardized mean differences (unit-information SD sqrt(2)):
# mu ~ Normal(0, sqrt(2)/2), printed Normal(0, 0.71), and tau ~ Normal+(0, sqrt(2)/4), Normal(0, 0.35)[0, Inf]
PRIOR_EFFECT = ml.prior("normal", 0, math.sqrt(2) / 2)
PRIOR_HETEROGENEITY = ml.prior("normal", 0, math.sqrt(2) / 4, lower=0)


# ----------------------------------------------------------------------------- the steps
def load_data():
    """The data.

    81 standardized mean differences (red against a control colour) with their sampling
    variances, from 45 articles; the vignette shows the first six.
    """
    dat = ml.datasets.load("lehmann2018")
    print(dat[["Short_Title", "Year", "yi", "vi"]].head(6).to_string())
    print(f"k = {len(dat)}")
    return dat


def random_effects(dat):
    """A random-effects model and Egger's regression test.

    The usual analysis finds a small positive effect (d = 0.21). Egger's test regresses the
    estimates on their standard errors: the slope is clearly positive (small studies report
    larger effects), and the intercept, the effect of a study with standard error 0, is about 0.
    """
    fit_re = ml.rma("yi", "vi", data=dat)
    print(fit_re)
    print(ml.regtest(fit_re))
    return fit_re


def single_adjustments(dat, fit_re):
    """Single publication-bias adjustments: PET, PEESE and a selection model.

    PET and PEESE are the meta-regressions on the standard error and on the variance; their
    intercepts are the bias-adjusted effects (-0.036 and 0.090). The step selection model with a
    cut-off at one-sided p = .025 estimates that non-significant results were published about half
    as often (weight 0.55) and lowers the effect to 0.13. Three adjustments, three answers: RoBMA
    averages over them instead of picking one.
    """
    print(ml.rma("yi", "vi", data=dat, mods="~ sqrt(vi)"))
    print(ml.rma("yi", "vi", data=dat, mods="~ vi"))
    print(ml.selmodel(fit_re, "stepfun", steps=0.025))


def robma_fit(dat):
    """The RoBMA-PSMA ensemble.

    `ml.robma` fits the 36 models (effect absent or present x heterogeneity absent or present x
    no bias, six weight functions, PET or PEESE) and weighs them by their marginal likelihoods.
    The priors are the vignette's (RoBMA 4's defaults for `measure="SMD"`, defined at the top of
    the script). RoBMA 4 takes the weight functions' p-values from `yi / sqrt(vi)` when no sample
    sizes are given, hence `cutoffs="normal"`. No MCMC: every marginal likelihood and posterior
    comes from quadrature or importance sampling, in a few seconds. The Components table
    gives the prior and posterior probability of the models with each component and the
    inclusion Bayes factor; the estimates average over all 36 models.

    Against the frequentist analyses above: the unadjusted REML estimate 0.207 [0.119, 0.296]
    does not survive; the model-averaged mu, 0.014 [-0.060, 0.205], is close to PET's intercept
    (-0.036), since the PET models carry most of the posterior probability, and below PEESE's
    (0.090) and the selection model's (0.133). tau, 0.305, is near the REML 0.321 and the PET
    model's residual 0.307. Where Egger's test only says "asymmetry, p = .01", the Bayes factors
    weigh the evidence for bias against that for the effect.
    """
    fit = ml.robma("yi", "vi", measure="SMD", data=dat, prior_effect=PRIOR_EFFECT,
                   prior_heterogeneity=PRIOR_HETEROGENEITY, cutoffs="normal", seed=1)
    print(fit.summary())
    return fit


def models(fit):
    """The models.

    One row per model with its priors, prior probability, log marginal likelihood (with its
    numerical error and method), posterior probability and the Bayes factor of the model
    against all others (`summary("models")` prints the same). Summed per bias alternative, the
    posterior probabilities are RoBMA's `summary_models()` table: PET takes about three quarters,
    PEESE most of the rest.
    """
    overview = fit.models_overview().to_frame()
    cols = ["Prior Effect", "Prior Heterogeneity", "Prior Bias", "Prior prob.", "log(marglik)", "error",
            "method", "Post. prob."]
    print(overview[cols].round(4).tail(9).to_string())
    bias = overview.groupby("Prior Bias", sort=False)[["Prior prob.", "Post. prob."]].sum()
    bias.index = [b.split(" ~ ")[0] if b else "None" for b in bias.index]
    print(bias.round(3).to_string())


def conditional(fit):
    """Conditional estimates.

    `conditional=True` averages each parameter over the models that contain it only: the effect if
    there is one (mu = 0.07, its interval covering 0), the weights of the weight-function models,
    the PET and PEESE coefficients of their models.
    """
    print(fit.summary(conditional=True))


def inclusion_bayes_factors(fit):
    """Reading the inclusion Bayes factors.

    An inclusion Bayes factor is the factor by which the data change the odds of the models with
    a component against those without: posterior odds = prior odds x BF. BF10 = 0.22 for the
    effect is BF01 = 1 / 0.22 = 4.5 in favour of no effect (moderate evidence against it; RoBMA's
    wording: BF between 1 and 3 weak, 3 to 10 moderate, above 10 strong). BFpb = 23 is strong
    evidence for publication bias, and the heterogeneity Bayes factor is astronomically large.
    The posterior probability of an effect, 0.18, is what the mu plot shows as the height of the
    continuous part.
    """
    for component in ("effect", "heterogeneity", "bias"):
        bf = fit.inclusion_bf(component)
        print(f"{component:13s} BF = {bf:.4g}   1/BF = {1 / bf:.4g}")
    comp = fit.components()
    odds = comp["Post. prob."] / (1 - comp["Post. prob."])
    print(f"posterior odds of an effect: {odds['Effect']:.4f} = prior odds 1 x BF10")


def output_scales(fit):
    """Other output scales.

    The priors and the estimates are on the Cohen's d scale; `output_scale` converts mu exactly
    (d to r, z or log odds ratio) and tau and PEESE by RoBMA's linear factors. `predict()` adds
    the distribution of the effect in a new study (mu + tau z).
    """
    print(fit.summary(output_scale="r").to_frame().loc[["mu", "tau"]].round(3))
    print(fit.estimates(output_scale="logOR").loc[["mu", "tau"]].round(3))
    print(fit.predict().round(3))


def interpretation(fit):
    """The interpretation in words.

    `interpret()` puts the Components table and the model-averaged estimates into sentences.
    """
    print(fit.interpret())


def plot_effect(fit):
    """The model-averaged posterior of mu with its prior.

    Left, model-averaged: the arrow at 0 is the posterior probability of no effect (0.82, right
    axis; the prior's 0.5 dashed), the curve the density of mu under the models with an effect
    scaled by their probability. Right, conditional on an effect: its posterior against its prior.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    fit.plot("mu", prior=True, ax=left)
    fit.plot("mu", prior=True, conditional=True, ax=right)
    return fig


def plot_weightfunction(fit):
    """The estimated weight function.

    The relative publication probability of a result by its one-sided p-value, with the
    interval of significant results (p < .025) fixed at 1. Model-averaged (left) the weights stay
    near 1, because the models with weight functions have little posterior probability (PET
    explains the asymmetry better); conditional on a weight function (right), non-significant
    results were published about a third to half as often. `rescale_x=True` spaces the
    cut-offs evenly, as RoBMA's `rescale_x` does.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    fit.plot_weightfunction(rescale_x=True, ax=left)
    fit.plot_weightfunction(conditional=True, rescale_x=True, ax=right)
    return fig


def plot_petpeese(fit):
    """The PET-PEESE regression.

    The model-averaged expected effect size of a study as a function of its standard error,
    mu + PET se + PEESE se^2 (models without PET or PEESE contribute flat lines), with its 95%
    band and the observed estimates: at se = 0 the line is near 0, the adjusted effect.
    """
    return fit.plot_petpeese()


def plot_models(fit):
    """The estimates of mu in every model.

    Posterior mean and 95% interval of mu per model, markers sized by the posterior
    probability; the models without an effect sit at 0. The model-averaged estimate is at the
    bottom.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 7.5), layout="constrained")
    fit.plot_models("mu", ax=fig.subplots())
    return fig


def forest_plot(fit):
    """Forest plot.

    The 81 estimates with their 95% confidence intervals and the model-averaged mu.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 11), layout="constrained")
    fit.forest(ax=fig.subplots())
    return fig


def robma_defaults(dat):
    """RoBMA 2-3's default priors and cut-offs.

    `ml.robma`'s own defaults are those of RoBMA 2-3 (mu ~ Normal(0, 1), tau ~ InvGamma(1, 0.15))
    and, for Cohen's d, weight-function p-values from t tests with the sample size recovered from
    d and its standard error (`cutoffs="t"`). The conclusions do not change: moderate evidence
    against the effect, strong evidence for publication bias.
    """
    fit23 = ml.robma("yi", "vi", measure="SMD", data=dat, seed=1)
    print(fit23.components().round(3))
    print(fit23.estimates().loc[["mu", "tau", "PET", "PEESE"]].round(3))


STEPS = ["load_data", "random_effects", "single_adjustments", "robma_fit", "models", "conditional",
         "inclusion_bayes_factors", "output_scales", "interpretation", "plot_effect", "plot_weightfunction",
         "plot_petpeese", "plot_models", "forest_plot", "robma_defaults"]


# ----------------------------------------------------------------------------- running
class Recorder:
    """Runs steps in order: prints each step's output, saves its figure, keeps both for the page."""

    def __init__(self, out: Path):
        self.out = out
        self.steps: list[tuple] = []  # (function, output, figure path or None, seconds)

    def __call__(self, step, *args):
        buffer = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(buffer):
            result = step(*args)
        seconds = time.perf_counter() - start
        path = None
        if _is_figure(result):
            path = self.out / f"robma_{step.__name__}.png"
            result.savefig(path, dpi=100)
            result = None
        print(f"## {len(self.steps) + 1}. {step.__doc__.splitlines()[0]}\n\n{buffer.getvalue()}")
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
    fit_re = record(random_effects, dat)
    record(single_adjustments, dat, fit_re)
    fit = record(robma_fit, dat)
    for step in (models, conditional, inclusion_bayes_factors, output_scales, interpretation, plot_effect,
                 plot_weightfunction, plot_petpeese, plot_models, forest_plot):
        record(step, fit)
    record(robma_defaults, dat)
    record.fit = fit
    return record


def main(argv=None) -> Recorder:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", help="folder for the figures (default: a temporary folder)")
    parser.add_argument("--markdown", help="also write the documentation page here")
    args = parser.parse_args(argv)
    out = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="robma-walkthrough-"))
    record = run(out)
    if args.markdown:
        page_path = Path(args.markdown)
        page_path.write_text(page(record, page_path), encoding="utf-8")
    print(f"figures written to {out}")
    for step, _, _, seconds in record.steps:
        print(f"{step.__name__:24s} {seconds:7.2f} s")
    return record


# ----------------------------------------------------------------------------- the page
R_CODE = {
    "random_effects": "fit_re <- rma(yi, vi, data = dat)\nfit_re\nregtest(fit_re)",
    "single_adjustments": "rma(yi, vi, mods = ~ sqrt(vi), data = dat)\nrma(yi, vi, mods = ~ vi, data = dat)\n"
                          "selmodel(fit_re, type = \"stepfun\", steps = 0.025)",
    "robma_fit": "fit_RoBMA <- RoBMA(yi = yi, vi = vi, measure = \"SMD\", data = dat, seed = 1)\n"
                 "summary(fit_RoBMA, include_mcmc_diagnostics = FALSE)",
    "models": "summary_models(fit_RoBMA)",
    "interpretation": "interpret(fit_RoBMA, scope = \"all\")",
}
_METAFOR = "metafor 3.8-1, run for this page"
R_SOURCE = {"random_effects": _METAFOR, "single_adjustments": _METAFOR, "robma_fit": "the RoBMA vignette",
            "models": "the RoBMA vignette", "interpretation": "the RoBMA vignette"}
R_OUTPUT = {
    "random_effects": """\
Random-Effects Model (k = 81; tau^2 estimator: REML)

tau^2 (estimated amount of total heterogeneity): 0.1032 (SE = 0.0251)
tau (square root of estimated tau^2 value):      0.3213
I^2 (total heterogeneity / total variability):   81.88%
H^2 (total variability / sampling variability):  5.52

Test for Heterogeneity:
Q(df = 80) = 246.9683, p-val < .0001

Model Results:

estimate      se    zval    pval   ci.lb   ci.ub
  0.2073  0.0451  4.5923  <.0001  0.1188  0.2958  ***

---
Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1


Regression Test for Funnel Plot Asymmetry

Model:     mixed-effects meta-regression model
Predictor: standard error

Test for Funnel Plot Asymmetry: z = 2.5616, p = 0.0104
Limit Estimate (as sei -> 0):   b = -0.0359 (CI: -0.2394, 0.1676)""",
    "single_adjustments": """\
Mixed-Effects Model (k = 81; tau^2 estimator: REML)

tau^2 (estimated amount of residual heterogeneity):     0.0940 (SE = 0.0236)
tau (square root of estimated tau^2 value):             0.3065
I^2 (residual heterogeneity / unaccounted variability): 79.74%
H^2 (unaccounted variability / sampling variability):   4.94
R^2 (amount of heterogeneity accounted for):            8.96%

Test for Residual Heterogeneity:
QE(df = 79) = 234.7716, p-val < .0001

Test of Moderators (coefficient 2):
QM(df = 1) = 6.5617, p-val = 0.0104

Model Results:

          estimate      se     zval    pval    ci.lb   ci.ub
intrcpt    -0.0359  0.1038  -0.3455  0.7297  -0.2394  0.1676
sqrt(vi)    1.0765  0.4203   2.5616  0.0104   0.2528  1.9002  *

---
Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1


Mixed-Effects Model (k = 81; tau^2 estimator: REML)

tau^2 (estimated amount of residual heterogeneity):     0.0917 (SE = 0.0232)
tau (square root of estimated tau^2 value):             0.3028
I^2 (residual heterogeneity / unaccounted variability): 79.77%
H^2 (unaccounted variability / sampling variability):   4.94
R^2 (amount of heterogeneity accounted for):            11.18%

Test for Residual Heterogeneity:
QE(df = 79) = 231.8504, p-val < .0001

Test of Moderators (coefficient 2):
QM(df = 1) = 5.6925, p-val = 0.0170

Model Results:

         estimate      se    zval    pval    ci.lb   ci.ub
intrcpt    0.0903  0.0647  1.3959  0.1627  -0.0365  0.2171
vi         1.8824  0.7890  2.3859  0.0170   0.3360  3.4287  *

---
Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1


Random-Effects Model (k = 81; tau^2 estimator: ML)

tau^2 (estimated amount of total heterogeneity): 0.0811 (SE = 0.0261)
tau (square root of estimated tau^2 value):      0.2848

Test for Heterogeneity:
LRT(df = 1) = 37.3674, p-val < .0001

Model Results:

estimate      se    zval    pval   ci.lb   ci.ub
  0.1328  0.0655  2.0267  0.0427  0.0044  0.2612  *

Test for Selection Model Parameters:
LRT(df = 1) = 1.7646, p-val = 0.1840

Selection Model Results:

                     k  estimate      se     zval    pval   ci.lb   ci.ub
0     < p <= 0.025  25    1.0000     ---      ---     ---     ---     ---
0.025 < p <= 1      56    0.5485  0.2495  -1.8097  0.0703  0.0594  1.0375  .

---
Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1""",
    "robma_fit": """\
Robust Bayesian Model-Averaged Random-Effects Model (k = 81)

Component Inclusion
                 Prior prob. Post. prob. Inclusion BF
Effect                 0.500       0.175        0.212
Heterogeneity          0.500       1.000          Inf
Publication Bias       0.500       0.960       24.126

Estimates
     Mean    SD  0.025   0.5 0.975
mu  0.012 0.057 -0.064 0.000 0.203
tau 0.305 0.041  0.229 0.303 0.391

Publication Bias
                   Mean    SD 0.025   0.5 0.975
omega[0,0.025]    1.000 0.000 1.000 1.000 1.000
omega[0.025,0.05] 0.990 0.064 0.871 1.000 1.000
omega[0.05,0.5]   0.978 0.109 0.508 1.000 1.000
omega[0.5,0.95]   0.971 0.140 0.315 1.000 1.000
omega[0.95,0.975] 0.971 0.140 0.315 1.000 1.000
omega[0.975,1]    0.971 0.140 0.315 1.000 1.000
PET               0.703 0.431 0.000 0.844 1.305
PEESE             0.370 0.920 0.000 0.000 3.074
P-value intervals for publication bias weights omega correspond to one-sided p-values.""",
    "models": """\
Effect
                Hypothesis  Prior prob. Post. prob. Inclusion BF
Spike(0)        Null              0.500       0.825        4.712
Normal(0, 0.71) Alternative       0.500       0.175        0.212

Heterogeneity
                        Hypothesis  Prior prob. Post. prob. Inclusion BF
Spike(0)                Null              0.500       0.000        0.000
Normal(0, 0.35)[0, Inf] Alternative       0.500       1.000          Inf

Publication Bias
                                Hypothesis  Prior prob. Post. prob.
None                            Null              0.500       0.040
omega[two-sided: .05]           Alternative       0.042       0.001
omega[two-sided: .05, .1]       Alternative       0.042       0.000
omega[one-sided: .05]           Alternative       0.042       0.004
omega[one-sided: .025, .05]     Alternative       0.042       0.006
omega[one-sided: .05, .5]       Alternative       0.042       0.009
omega[one-sided: .025, .05, .5] Alternative       0.042       0.025
PET                             Alternative       0.125       0.766
PEESE                           Alternative       0.125       0.149
                                Inclusion BF
None                                   0.041
omega[two-sided: .05]                  0.026
omega[two-sided: .05, .1]              0.005
omega[one-sided: .05]                  0.095
omega[one-sided: .025, .05]            0.136
omega[one-sided: .05, .5]              0.220
omega[one-sided: .025, .05, .5]        0.578
PET                                   22.923
PEESE                                  1.224""",
    "interpretation": """\
Robust Bayesian Model-Averaged Random-Effects Model (k = 81).
Effect inclusion: moderate evidence against the effect (BF01 = 4.712).
Heterogeneity inclusion: strong evidence in favor of heterogeneity (BFrf = Inf).
Publication Bias inclusion: strong evidence in favor of publication bias (BFpb = 24.126).
Pooled effect: model-averaged mean standardized mean difference = 0.012, 95% CrI [-0.064, 0.203].
Pooled heterogeneity: model-averaged mean tau = 0.305, 95% CrI [0.229, 0.391].
Publication-bias estimate (omega[0,0.025]): model-averaged mean omega[0,0.025] = 1.000, 95% CrI [1.000, 1.000].
Publication-bias estimate (omega[0.025,0.05]): model-averaged mean omega[0.025,0.05] = 0.990, 95% CrI [0.871, 1.000].
Publication-bias estimate (omega[0.05,0.5]): model-averaged mean omega[0.05,0.5] = 0.978, 95% CrI [0.508, 1.000].
Publication-bias estimate (omega[0.5,0.95]): model-averaged mean omega[0.5,0.95] = 0.971, 95% CrI [0.315, 1.000].
Publication-bias estimate (omega[0.95,0.975]): model-averaged mean omega[0.95,0.975] = 0.971, 95% CrI [0.315, 1.000].
Publication-bias estimate (omega[0.975,1]): model-averaged mean omega[0.975,1] = 0.971, 95% CrI [0.315, 1.000].
Publication-bias estimate (PET): model-averaged mean PET = 0.703, 95% CrI [0.000, 1.305].
Publication-bias estimate (PEESE): model-averaged mean PEESE = 0.370, 95% CrI [0.000, 3.074].""",
}
AGREEMENT = {
    "random_effects": "Identical to metafor's output, line for line.",
    "single_adjustments": "Identical to metafor's output, line for line.",
    "robma_fit": "Within the vignette's Monte Carlo error (table at the end of the page). RoBMA 4 samples "
                 "all 36 models in one MCMC run (3 chains x 5000 draws) and counts how often each model "
                 "is visited; our numbers are deterministic up to importance-sampling errors of about "
                 "0.002 in the log marginal likelihoods. RoBMA prints the heterogeneity Bayes factor as "
                 "Inf (no draw without heterogeneity); ours is finite but of order 1e10. The omega rows "
                 "agree in the mean; the vignette's lower limits (0.871, 0.508, 0.315) come from the "
                 "few draws of the weight-function models.",
    "models": "Within Monte Carlo error: PET 0.73 (vignette 0.77), PEESE 0.18 (0.15), no bias 0.042 "
              "(0.040), the weight functions 0.001 to 0.026 (0.000 to 0.025).",
    "interpretation": "The same conclusions and the same numbers within Monte Carlo error; RoBMA states "
                      "evidence against the effect as BF01 = 1 / BF10.",
}


INTRO = """\
# Publication bias: robust Bayesian meta-analysis

This page follows the RoBMA vignette *Robust Bayesian Meta-Analysis* (Bartoš) in Python on the
same data, `dat.lehmann2018` from metadat (81 experiments on red and attractiveness): first the
frequentist analyses with metafor's functions (a random-effects model, Egger's test, PET, PEESE
and a step selection model), then the RoBMA-PSMA ensemble with `ml.robma`. After each Python
output comes what R printed for the same step and how the two agree: metafor's numbers are
deterministic and agree to every printed digit; RoBMA's are Monte Carlo estimates and agree within
Monte Carlo error.

Generated by `python examples/robma_walkthrough.py docs/figures --markdown docs/robma_walkthrough.md`.

```python
import math

import multilevel as ml

PRIOR_EFFECT = ml.prior("normal", 0, math.sqrt(2) / 2)  # RoBMA 4's defaults for measure="SMD"
PRIOR_HETEROGENEITY = ml.prior("normal", 0, math.sqrt(2) / 4, lower=0)
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
        if name in R_CODE:
            lines += [f"R ({R_SOURCE[name]}):", "", "```r", R_CODE[name], "```", "", "```text",
                      R_OUTPUT[name], "```", "", f"**Agreement.** {AGREEMENT[name]}", ""]
    lines += _vignette_table(record.fit)
    return "\n".join(lines).rstrip() + "\n"


# the vignette's numbers (summary(), summary_models()) and their Monte Carlo standard errors for an
# effective sample size of 1000 (see tests/bayes/test_robma_vignette.py)
VIGNETTE = {"P(effect)": 0.175, "P(bias)": 0.960, "P(PET)": 0.766, "P(PEESE)": 0.149, "P(no bias)": 0.040,
            "mean mu": 0.012, "mean tau": 0.305, "mean PET": 0.703, "mean PEESE": 0.370}


def _ours(fit) -> dict[str, float]:
    comp = fit.components()["Post. prob."]
    est = fit.estimates()["Mean"]
    by_bias = fit.models_overview().to_frame().groupby("Prior Bias")["Post. prob."].sum()
    pick = {k.split(" ~ ")[0] or "None": v for k, v in by_bias.items()}
    return {"P(effect)": comp["Effect"], "P(bias)": comp["Bias"], "P(PET)": pick["PET"],
            "P(PEESE)": pick["PEESE"], "P(no bias)": pick["None"], "mean mu": est["mu"],
            "mean tau": est["tau"], "mean PET": est["PET"], "mean PEESE": est["PEESE"]}


def _vignette_table(fit) -> list[str]:
    ours = _ours(fit)
    lines = ["## Agreement with the vignette", "",
             "The vignette's numbers come from one MCMC run over the whole ensemble (RoBMA 4: 3 chains x",
             "5000 draws), which estimates a posterior model probability by the share of draws in the",
             "model; it does not print its MCMC diagnostics. With an effective sample size of 1000 (a",
             "product-space sampler moves between PET and PEESE rarely) the Monte Carlo standard error of",
             "a probability p is sqrt(p (1 - p) / 1000), 0.012 to 0.013 for the effect, PET and PEESE, and",
             "of a mean the posterior SD / sqrt(1000). Every difference below is within 3 such errors;",
             "`tests/bayes/test_robma_vignette.py` checks them at 4.", "",
             "| quantity | vignette | `ml.robma` | difference |", "|---|---|---|---|"]
    for key, value in VIGNETTE.items():
        lines.append(f"| {key} | {value:.3f} | {ours[key]:.3f} | {ours[key] - value:+.3f} |")
    return lines + [""]


if __name__ == "__main__":
    main()
