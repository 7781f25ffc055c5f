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
from ._tables import SCALE_NAMES

_PARAMETER_NAMES = {"mu": "Effect size (mu)", "tau": "Heterogeneity (tau)", "PET": "PET coefficient",
                    "PEESE": "PEESE coefficient"}

__all__ = ["plot_parameter", "plot_weightfunction", "plot_petpeese", "plot_models", "forest"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _scale_label(fit, parameter, output_scale=None) -> str:
    """Axis label of ``parameter`` with its scale (PET has none: it multiplies a standard error)."""
    name = _PARAMETER_NAMES.get(parameter, parameter)
    if parameter == "PET":
        return name
    scale = SCALE_NAMES[fit._output_scale(output_scale)]
    return f"{name}, {scale} scale" if fit._output_scale(output_scale) is not None else name


def _kind(conditional: bool) -> str:
    return "Conditional" if conditional else "Model-averaged"


def _p_label(p: float) -> str:
    """A p-value cut-off as RoBMA prints it (no leading zero: .025, .5; 0 and 1 as they are)."""
    text = f"{p:g}"
    return text[1:] if text.startswith("0.") else text


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
    ax.set_xlabel(_scale_label(fit, parameter, output_scale))
    ax.set_ylabel("Density")
    ax.set_title(f"{_kind(conditional)} posterior of {parameter}" + (" and prior" if prior else ""))
    if prior and cont.any():
        ax.legend(*_unique_legend(ax), frameon=False, fontsize=8, loc="upper left")
    if spike > 0 and not conditional:
        right = ax.twinx()
        right.annotate("", xy=(null, spike), xytext=(null, 0), arrowprops={"arrowstyle": "-|>", "lw": 2})
        if prior:
            p0 = sum(p for r, p in zip(fit.models, fit.prior_prob) if not _has(r.model, parameter))
            right.annotate("", xy=(null, p0), xytext=(null, 0),
                           arrowprops={"arrowstyle": "-|>", "lw": 1, "color": "grey", "linestyle": "--"})
        right.set_ylim(0, 1)
        right.set_ylabel(f"Probability of {parameter} = {null:g}")
    return ax


def _unique_legend(ax):
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    return list(seen.values()), list(seen)


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


def plot_weightfunction(fit, *, conditional=False, level=0.95, rescale_x=False, ax=None):
    """Model-averaged (or conditional) weights of the one-sided p-value intervals: the mean as
    a step function with the central ``level`` interval shaded, the cut-offs on the x axis
    labelled as RoBMA prints them (.025, .05, ...); ``rescale_x`` spaces the cut-offs evenly
    (RoBMA's ``rescale_x``)."""
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
    at = np.linspace(0.0, 1.0, edges.size) if rescale_x else edges
    xs = np.column_stack([at[:-1], at[1:]]).reshape(-1)
    ax.fill_between(xs, steps(lo), steps(hi), color="lightgrey", step=None)
    ax.plot(xs, steps(mean), color="black")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xticks(at)
    ax.set_xticklabels([_p_label(e) for e in edges], rotation=0 if rescale_x else 90, fontsize=8)
    ax.set_xlabel("p-value (one-sided)")
    ax.set_ylabel("Selection weight (omega)")
    ax.set_title(f"{_kind(conditional)} weight function")
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
    scale = SCALE_NAMES["d" if fit.measure != "GEN" else None]
    ax.set_xlabel(f"Standard error ({scale} scale)" if fit.measure != "GEN" else "Standard error")
    ax.set_ylabel(f"Effect size ({scale} scale)" if fit.measure != "GEN" else "Effect size")
    ax.set_title("Model-averaged PET-PEESE regression")
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
    ax.set_xlabel(_scale_label(fit, parameter) if parameter in _PARAMETER_NAMES else parameter)
    ax.set_ylabel("Model (marker size: posterior probability)")
    ax.set_title(f"{parameter} in each model and model-averaged" + (" (conditional)" if conditional else ""))
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
    ax.set_xlabel("Effect size" + (f" ({SCALE_NAMES['d']} scale)" if fit.measure != "GEN" else ""))
    ax.set_ylabel("Study")
    ax.set_title(f"Observed estimates ({parse_level(level):.0%} CI) and model-averaged mu")
    return ax
