"""Plots of RoBMA fits (matplotlib; each function returns the Axes it drew on).

The model-averaged posterior of mu or tau is a mixture of a point mass at the null value
(the models without the component) and a continuous part: the continuous part is drawn as a
weighted kernel density scaled by its probability, the point mass as a vertical arrow whose
height is its probability (right axis), as RoBMA draws them.
"""

from __future__ import annotations

import numpy as np

from ..._exceptions import ArgumentError
from ..._protocol import parse_level
from ._averaging import weighted_moments, weighted_quantile

__all__ = ["plot_parameter", "plot_weightfunction", "plot_petpeese", "plot_models", "forest"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _weighted_kde(x, w, grid, lower):
    """Gaussian KDE of a weighted sample (Scott's bandwidth with Kish's ESS), reflected at
    ``lower`` when finite."""
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(x, weights=w)
    dens = kde(grid)
    if np.isfinite(lower):
        dens = np.where(grid >= lower, dens + kde(2 * lower - grid), 0.0)
    return dens


def _spike_and_slab(fit, parameter, conditional, output_scale):
    x, w = fit.mixture(parameter, conditional=conditional, output_scale=output_scale)
    null = fit._transform(parameter, np.zeros(1), fit._output_scale(output_scale))[0]
    at_null = np.isclose(x, null, rtol=0, atol=1e-300)
    return x, w, null, float(w[at_null].sum()), ~at_null


def plot_parameter(fit, parameter="mu", *, prior=False, conditional=False, output_scale=None, ax=None):
    """Model-averaged (or conditional) posterior of mu, tau, PET or PEESE, with the prior dashed."""
    if parameter not in ("mu", "tau", "PET", "PEESE"):
        raise ArgumentError(f"parameter must be 'mu', 'tau', 'PET' or 'PEESE', got {parameter!r}")
    ax = _axes(ax)
    x, w, null, spike, cont = _spike_and_slab(fit, parameter, conditional, output_scale)
    lower = 0.0 if parameter != "mu" else -np.inf
    if cont.any():
        xc, wc = x[cont], w[cont] / w[cont].sum()
        lo, hi = weighted_quantile(xc, wc, [0.001, 0.999])
        pad = 0.25 * (hi - lo) + 1e-3
        grid = np.linspace(max(lo - pad, lower) if np.isfinite(lower) else lo - pad, hi + pad, 400)
        ax.plot(grid, (1 - spike) * _weighted_kde(xc, wc, grid, lower), color="black", label="Posterior")
        if prior:
            _prior_curve(fit, parameter, grid, conditional, output_scale, ax)
    ax.set_xlabel(parameter)
    ax.set_ylabel("Density")
    if spike > 0 and not conditional:
        right = ax.twinx()
        right.annotate("", xy=(null, spike), xytext=(null, 0), arrowprops={"arrowstyle": "-|>", "lw": 2})
        if prior:
            p0 = sum(p for r, p in zip(fit.models, fit.prior_prob) if not _has(r.model, parameter))
            right.annotate("", xy=(null, p0), xytext=(null, 0),
                           arrowprops={"arrowstyle": "-|>", "lw": 1, "color": "grey", "linestyle": "--"})
        right.set_ylim(0, 1)
        right.set_ylabel("Probability")
    return ax


def _has(model, parameter) -> bool:
    if parameter == "mu":
        return model.effect
    if parameter == "tau":
        return model.heterogeneity
    return model.bias is not None and model.bias.kind == parameter


def _prior_curve(fit, parameter, grid, conditional, output_scale, ax):
    """The alternative prior's density times its prior probability (1 if conditional); mu and
    tau priors are shown on the Cohen's d scale only."""
    if fit._output_scale(output_scale) not in ("d", None) and parameter in ("mu", "tau", "PEESE"):
        return
    priors = {}
    for r, p in zip(fit.models, fit.prior_prob):
        m = r.model
        pr = {"mu": m.mu if m.effect else None, "tau": m.tau if m.heterogeneity else None}.get(parameter)
        if parameter in ("PET", "PEESE") and m.bias is not None and m.bias.kind == parameter:
            pr = m.bias.coefficient
        if pr is not None:
            priors[str(pr)] = (pr, priors.get(str(pr), (pr, 0.0))[1] + p)
    for pr, mass in priors.values():
        scale = 1.0 if conditional else mass
        ax.plot(grid, scale * pr.pdf(grid), color="grey", linestyle="--", label="Prior")


def plot_weightfunction(fit, *, conditional=False, level=0.95, ax=None):
    """Model-averaged (or conditional) weights of the one-sided p-value intervals: the mean as
    a step function with the central ``level`` interval shaded."""
    a = (1 - parse_level(level)) / 2
    ax = _axes(ax)
    names = fit._omega_names()
    edges = np.array([0.0, *fit.cuts, 1.0])
    mean, lo, hi = [], [], []
    for n in names:
        x, w = fit.mixture(n, conditional=conditional)
        mean.append(weighted_moments(x, w)[0])
        q = weighted_quantile(x, w, [a, 1 - a])
        lo.append(q[0])
        hi.append(q[1])
    steps = lambda v: np.repeat(v, 2)  # noqa: E731
    xs = np.column_stack([edges[:-1], edges[1:]]).reshape(-1)
    ax.fill_between(xs, steps(lo), steps(hi), color="lightgrey", step=None)
    ax.plot(xs, steps(mean), color="black")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xticks(edges)
    ax.set_xticklabels([f"{e:g}" for e in edges], rotation=45)
    ax.set_xlabel("p-value (one-sided)")
    ax.set_ylabel("Selection probability")
    return ax


def plot_petpeese(fit, *, level=0.95, ax=None, draws=4000):
    """Model-averaged PET-PEESE regression: the expected estimate mu + PET se + PEESE se^2
    (Cohen's d scale) against the standard error, with the central ``level`` band and the
    estimates."""
    a = (1 - parse_level(level)) / 2
    ax = _axes(ax)
    mu, w = fit.mixture("mu")  # the three mixtures list the same draws in the same order
    pet, _ = fit.mixture("PET")
    peese, _ = fit.mixture("PEESE")
    rng = np.random.default_rng(fit.seed + 5)
    pick = rng.choice(mu.size, size=draws, p=w)
    c = fit._measure_factor
    se_d = np.linspace(0, 1.05 * fit.data.se.max() / c, 60)
    curves = mu[pick, None] + pet[pick, None] * se_d + peese[pick, None] * se_d**2
    band = np.quantile(curves, [a, 0.5, 1 - a], axis=0)
    ax.fill_between(se_d, band[0], band[2], color="lightgrey")
    ax.plot(se_d, curves.mean(0), color="black")
    ax.scatter(fit.data.se / c, fit.data.direction * fit.data.y / c, s=12, color="black", alpha=0.6)
    ax.set_xlabel("Standard error")
    ax.set_ylabel("Effect size")
    return ax


def plot_models(fit, parameter="mu", *, conditional=False, level=0.95, ax=None):
    """Posterior mean and central ``level`` interval of ``parameter`` in each model (markers
    sized by the posterior probability), with the model-averaged estimate at the bottom."""
    a = (1 - parse_level(level)) / 2
    ax = _axes(ax)
    rows = []
    for i, (r, p) in enumerate(zip(fit.models, fit.post_prob), start=1):
        x = fit._values(r, parameter)
        m = weighted_moments(x, r.weights)[0]
        q = weighted_quantile(x, r.weights, [a, 1 - a])
        rows.append((f"Model {i}", m, q[0], q[1], p))
    x, w = fit.mixture(parameter, conditional=conditional)
    q = weighted_quantile(x, w, [a, 1 - a])
    rows.append(("Model-averaged", weighted_moments(x, w)[0], q[0], q[1], 1.0))
    ypos = np.arange(len(rows))[::-1]
    for y, (_, m, lo, hi, p) in zip(ypos, rows):
        ax.plot([lo, hi], [y, y], color="black", lw=1)
        ax.plot([m], [y], marker="s" if p == 1.0 and y == 0 else "o", color="black",
                markersize=3 + 9 * np.sqrt(p))
    ax.set_yticks(ypos)
    ax.set_yticklabels([r[0] for r in rows], fontsize=6)
    ax.set_xlabel(parameter)
    return ax


def forest(fit, *, level=0.95, ax=None):
    """Observed estimates with central ``level`` confidence intervals (Cohen's d scale for the
    standardized measures) and the model-averaged mu with its credible interval."""
    from scipy.stats import norm

    lev = parse_level(level)
    z = norm.ppf(0.5 + lev / 2)
    ax = _axes(ax)
    c = fit._measure_factor
    y, se = fit.data.y / c, fit.data.se / c
    k = y.size
    ypos = np.arange(k, 0, -1) + 1
    ax.errorbar(y, ypos, xerr=z * se, fmt="s", color="black", markersize=3, lw=1)
    x, w = fit.mixture("mu")
    q = weighted_quantile(x, w, [(1 - lev) / 2, 0.5 + lev / 2])
    m = weighted_moments(x, w)[0]
    ax.fill([q[0], m, q[1], m], [1, 1.3, 1, 0.7], color="black")
    ax.set_yticks([*ypos, 1])
    ax.set_yticklabels([*fit.data.labels, "RoBMA"], fontsize=7)
    ax.axvline(0, color="grey", lw=0.5, linestyle="--")
    ax.set_xlabel("Effect size")
    return ax
