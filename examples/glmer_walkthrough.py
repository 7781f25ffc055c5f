"""Multilevel logistic regression, end to end: contagious bovine pleuropneumonia in 15 herds.

The ``cbpp`` data (lme4) count new cases of CBPP (``incidence``) among the cattle of a
herd (``size``) in four periods. The walkthrough fits binomial GLMMs with a random
intercept per herd, reads the summary, turns coefficients into odds ratios with
Wald, profile and bootstrap intervals, compares models by likelihood-ratio tests,
quantifies the herd variation (ICC, R2), predicts on the probability scale and
checks the fit by simulation, with a figure at most steps.

Run::

    python examples/glmer_walkthrough.py [FIGURE_DIR] [--markdown PAGE.md]

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
import pandas as pd

import multilevel as ml

cbpp = ml.datasets.load("cbpp")
cbpp["time"] = cbpp["period"].astype(int)  # the period as a number, for a trend model
cbpp["obs"] = [f"o{i}" for i in range(len(cbpp))]  # one level per row: observation-level effects
RESPONSE = "cbind(incidence, size - incidence)"
_FITS: dict = {}


def fit(name: str):
    """The walkthrough's models, fitted once."""
    formulas = {"null": f"{RESPONSE} ~ 1 + (1 | herd)", "period": f"{RESPONSE} ~ period + (1 | herd)",
                "trend": f"{RESPONSE} ~ time + (1 | herd)", "olre": f"{RESPONSE} ~ period + (1 | herd) + (1 | obs)"}
    if name not in _FITS:
        _FITS[name] = ml.glmer(formulas[name], cbpp, "binomial", data_name="cbpp")
    return _FITS[name]


def _new_figure(ncols: int = 1, size=(6.4, 3.6)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(1, ncols)


# ----------------------------------------------------------------------------- the steps
def data_overview():
    """The data: 56 herd-periods, cases out of herd size; the proportion falls over the periods."""
    print(cbpp.head())
    by_period = cbpp.groupby("period", observed=True)[["incidence", "size"]].sum()
    by_period["proportion"] = (by_period["incidence"] / by_period["size"]).round(3)
    print(by_period)
    fig, ax = _new_figure()
    for herd, part in cbpp.groupby("herd", observed=True):
        ax.plot(part["time"], part["incidence"] / part["size"], color="#89a", alpha=0.7, marker="o", markersize=3)
    ax.plot(np.arange(1, 5), by_period["proportion"], color="#C33", linewidth=2.5, label="all herds")
    ax.set_xticks([1, 2, 3, 4])
    ax.set_xlabel("Period")
    ax.set_ylabel("Proportion of new cases")
    ax.legend(frameon=False)
    return fig


def period_model():
    """A random intercept per herd and a fixed effect per period: lme4's summary."""
    m = fit("period")
    print(m.summary())
    return ml.plot_ranef(m)


def odds_ratios():
    """Odds ratios of the periods against period 1, with Wald, profile and bootstrap intervals."""
    m = fit("period")
    wald, prof = m.confint("Wald"), m.confint("profile")
    boot = m.confint("boot", nsim=200, seed=2024)
    table = pd.DataFrame({"OR": np.exp(m.fixef), "Wald 2.5%": np.exp(wald["lower"]),
                          "Wald 97.5%": np.exp(wald["upper"]), "profile 2.5%": np.exp(prof["lower"]),
                          "profile 97.5%": np.exp(prof["upper"]), "boot 2.5%": np.exp(boot["lower"]),
                          "boot 97.5%": np.exp(boot["upper"])}).dropna()
    print(table.round(3).to_string())
    print("herd SD, profile interval:", prof.loc[".sig01", ["estimate", "lower", "upper"]].round(3).tolist())
    fig, ax = _new_figure(size=(6.4, 2.8))
    rows = table.drop(index="(Intercept)")
    pos = np.arange(len(rows))
    for shift, (lo, hi, colour) in zip((-0.15, 0.0, 0.15), [("Wald 2.5%", "Wald 97.5%", "#89a"),
                                                           ("profile 2.5%", "profile 97.5%", "#345"),
                                                           ("boot 2.5%", "boot 97.5%", "#E69F00")]):
        ax.errorbar(rows["OR"], pos + shift, xerr=[rows["OR"] - rows[lo], rows[hi] - rows["OR"]], fmt="o",
                    color=colour, markersize=3.5, label=lo.split()[0])
    ax.axvline(1.0, color="#999", linestyle=":")
    ax.set_xscale("log")
    ax.set_yticks(pos, rows.index)
    ax.set_xlabel("Odds ratio against period 1 (log scale)")
    ax.legend(frameon=False, fontsize="small", loc="upper right")
    return fig


def model_comparison():
    """Likelihood-ratio tests: do the periods matter? Is there overdispersion beyond the herds?"""
    print(ml.anova(fit("null"), fit("period"), names=["null", "period"]))
    print()
    print(ml.anova(fit("period"), fit("olre"), names=["period", "period_obs"]))
    print()
    print(ml.anova(fit("trend"), fit("period"), names=["trend", "period"]))


def variance_explained():
    """How much of the latent variation lies between herds (ICC), and what the model explains (R2)."""
    m = fit("period")
    print(m.icc())
    print()
    print(m.r2())
    print()
    print(m.varcorr.round(4))


def predictions():
    """Predicted probabilities: a typical herd (random effect 0), herd 1, and a new herd."""
    m = fit("period")
    new = pd.DataFrame({"period": pd.Categorical(["1", "2", "3", "4"], categories=["1", "2", "3", "4"]),
                        "herd": "1", "size": 1})
    out = pd.DataFrame({"period": new["period"],
                        "typical herd": m.predict(new, type="response", re_form="~0").round(4),
                        "herd 1": m.predict(new, type="response").round(4),
                        "new herd": m.predict(new.assign(herd="99"), type="response",
                                              allow_new_levels=True).round(4)})
    print(out.to_string(index=False))
    print("\nA linear trend over the periods instead of one effect per period:")
    print(fit("trend").fixef.round(4))
    return ml.plot_glmer(fit("trend"), cbpp, "time", title="Fitted probability per herd (trend model)")


def diagnostics():
    """Checks: Pearson residuals against fitted values, and zero-case herd-periods in simulations."""
    m = fit("period")
    res = m.residuals("pearson")
    print("sum of squared Pearson residuals / residual df:", round(float(res @ res) / m.df_resid, 3))
    sims = m.simulate(500, seed=7)
    zeros = (sims.to_numpy() == 0).sum(axis=0)
    observed = int((cbpp["incidence"] == 0).sum())
    print(f"herd-periods without cases: observed {observed}, simulated mean {zeros.mean():.1f} "
          f"(95% of simulations between {np.quantile(zeros, 0.025):.0f} and {np.quantile(zeros, 0.975):.0f})")
    fig, axes = _new_figure(2, size=(8.4, 3.4))
    axes[0].scatter(m.fitted, res, s=14, color="#678")
    axes[0].axhline(0, color="#999", linestyle=":")
    axes[0].set_xlabel("Fitted probability")
    axes[0].set_ylabel("Pearson residual")
    axes[1].hist(zeros, bins=np.arange(zeros.min(), zeros.max() + 2) - 0.5, color="#89a", edgecolor="white")
    axes[1].axvline(observed, color="#C33", linewidth=2, label="observed")
    axes[1].set_xlabel("Herd-periods without cases")
    axes[1].legend(frameon=False)
    return fig


STEPS = [data_overview, period_model, odds_ratios, model_comparison, variance_explained, predictions,
         diagnostics]


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
            path = figure_dir / f"glmer_{i:02d}_{step.__name__}.png"
            fig.savefig(path, dpi=90)
        print(f"## {i}. {step.__doc__}\n{buffer.getvalue()}")
        results.append((step, buffer.getvalue(), path))
    return results


def write_markdown(results, page: Path) -> None:
    """The documentation page: for every step its code, printed output and figure."""
    lines = ["# Walkthrough: multilevel logistic regression", "",
             "New cases of contagious bovine pleuropneumonia among the cattle of 15 herds in four periods",
             "(lme4's `cbpp` data): binomial GLMMs with a random intercept per herd, odds ratios with",
             "Wald, profile and bootstrap intervals, likelihood-ratio tests, ICC and R2, predictions on",
             "the probability scale and simulation checks. The numbers are lme4's (1.1-31) and",
             "performance's (0.10).", "",
             "Generated by `python examples/glmer_walkthrough.py docs/figures --markdown docs/glmer_walkthrough.md`.",
             "", "```python", "import multilevel as ml", "", 'cbpp = ml.datasets.load("cbpp")',
             'cbpp["time"] = cbpp["period"].astype(int)',
             'cbpp["obs"] = [f"o{i}" for i in range(len(cbpp))]',
             'RESPONSE = "cbind(incidence, size - incidence)"',
             "# fit(name) fits and keeps the models: null, period, trend (time) and olre (+ (1 | obs))",
             "```", ""]
    for i, (step, output, path) in enumerate(results, start=1):
        body = textwrap.dedent("\n".join(inspect.getsource(step).splitlines()[2:]))
        lines += [f"## {i}. {step.__doc__}", "", "```python", body.rstrip(), "```", "", "```text",
                  output.rstrip(), "```", ""]
        if path is not None:
            rel = Path(os.path.relpath(Path(path).resolve(), page.resolve().parent))
            lines += [f"![{step.__doc__}]({rel.as_posix()})", ""]
    lines += _R_TO_PYTHON
    page.write_text("\n".join(lines), encoding="utf-8")


_R_TO_PYTHON = [
    "## The R calls in multilevel", "",
    "| R | multilevel |", "|---|---|",
    "| `glmer(cbind(s, f) ~ x + (1 \\| g), data, family = binomial)` | "
    "`ml.glmer(\"cbind(s, f) ~ x + (1 \\| g)\", data, \"binomial\")` |",
    "| `glmer.nb(y ~ x + (1 \\| g), data)` | `ml.glmer_nb(\"y ~ x + (1 \\| g)\", data)` |",
    "| `summary(m)`, `fixef(m)`, `ranef(m, condVar = TRUE)` | `m.summary()`, `m.fixef`, `m.ranef_intervals()` |",
    "| `exp(fixef(m))`, `exp(confint(m))` | `np.exp(m.fixef)`, `np.exp(m.confint(\"profile\")[[\"lower\", \"upper\"]])` |",
    "| `confint(m, method = \"boot\", nsim = 200)` | `m.confint(\"boot\", nsim=200, seed=1)` |",
    "| `anova(m0, m1)` | `ml.anova(m0, m1)` |",
    "| `performance::icc(m)`, `performance::r2(m)` | `m.icc()`, `m.r2()` |",
    "| `predict(m, newdata, type = \"response\", re.form = NA)` | "
    "`m.predict(newdata, type=\"response\", re_form=\"~0\")` |",
    "| `residuals(m, type = \"pearson\")`, `fitted(m)` | `m.residuals(\"pearson\")`, `m.fitted` |",
    "| `simulate(m, nsim = 500, seed = 7)` | `m.simulate(500, seed=7)` |",
    "| `lattice::dotplot(ranef(m, condVar = TRUE))` | `ml.plot_ranef(m)` |",
    "",
]


def main(argv=None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure_dir", nargs="?", help="folder for the figures (default: a temporary folder)")
    parser.add_argument("--markdown", help="also write the documentation page here")
    args = parser.parse_args(argv)
    figure_dir = Path(args.figure_dir) if args.figure_dir else Path(tempfile.mkdtemp(prefix="glmer-walkthrough-"))
    results = run(figure_dir)
    if args.markdown:
        write_markdown(results, Path(args.markdown))
    print(f"figures written to {figure_dir}")
    return results


if __name__ == "__main__":
    main()
