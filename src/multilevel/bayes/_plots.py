"""Plots of brma fits (matplotlib; each function returns the Axes it drew on)."""

from __future__ import annotations

import numpy as np

from .._exceptions import ModelSpecificationError
from .._protocol import parse_level

__all__ = ["plot_parameter", "plot_diagnostics", "forest"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _draws(fit, parameter):
    post = fit.posterior
    if parameter not in post:
        raise ModelSpecificationError(f"no parameter {parameter!r}; the fit has {', '.join(post)}")
    return post[parameter]


def _kde(x, lower, upper, grid):
    """Gaussian KDE reflected at finite support bounds (no density leaks past a bound)."""
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(x)
    dens = kde(grid)
    if np.isfinite(lower):
        dens += kde(2 * lower - grid)
    if np.isfinite(upper):
        dens += kde(2 * upper - grid)
    return np.where((grid >= lower) & (grid <= upper), dens, 0.0)


def _prior_of(fit, parameter):
    """The prior of ``parameter`` where it applies on the reported scale: tau, rho, and mu
    without moderators (moderator priors apply to standardized predictors, so they are not
    overlaid on the coefficients reported on the original predictor scale)."""
    table = {"tau": fit.priors.tau, "rho": fit.priors.rho}
    if len(fit.data.X_names) == 1:
        table["mu"] = fit.priors.mu
    return table.get(parameter)


def plot_parameter(fit, parameter, *, prior=False, xlim=None, ax=None, title=None):
    """Posterior density (KDE of the draws) with the prior density dashed."""
    x = _draws(fit, parameter).reshape(-1)
    p = _prior_of(fit, parameter)
    lower, upper = (p.lower, p.upper) if p is not None and parameter in ("tau", "rho") else (-np.inf, np.inf)
    if xlim is None:
        lo, hi = np.quantile(x, [0.001, 0.999])
        pad = 0.2 * (hi - lo)
        xlim = (max(lo - pad, lower), min(hi + pad, upper))
    grid = np.linspace(xlim[0], xlim[1], 512)
    ax = _axes(ax)
    ax.plot(grid, _kde(x, lower, upper, grid), color="black", lw=1.5, label="posterior")
    if prior and p is not None and not p.is_point:
        ax.plot(grid, p.pdf(grid), color="grey", ls="--", lw=1.2, label="prior")
        ax.legend(frameon=False)
    ax.set_xlim(*xlim)
    ax.set_xlabel(parameter)
    ax.set_ylabel("Density")
    ax.set_title(title if title is not None else parameter)
    return ax


def _acf(x, max_lag):
    x = x - x.mean()
    full = np.correlate(x, x, mode="full")[len(x) - 1:]
    return full[: max_lag + 1] / full[0]


def plot_diagnostics(fit, parameter, kind="trace", *, ax=None, max_lag=40):
    """Per-chain trace, density or autocorrelation of ``parameter``."""
    x = _draws(fit, parameter)
    ax = _axes(ax)
    for c, chain in enumerate(x):
        label = f"chain {c + 1}"
        if kind == "trace":
            ax.plot(chain, lw=0.4, alpha=0.8, label=label)
            ax.set_xlabel("iteration")
            ax.set_ylabel(parameter)
        elif kind == "density":
            grid = np.linspace(x.min(), x.max(), 256)
            ax.plot(grid, _kde(chain, -np.inf, np.inf, grid), label=label)
            ax.set_xlabel(parameter)
            ax.set_ylabel("Density")
        elif kind == "autocorrelation":
            lags = np.arange(max_lag + 1)
            ax.vlines(lags + 0.2 * c, 0, _acf(chain, max_lag), label=label)
            ax.set_xlabel("lag")
            ax.set_ylabel("autocorrelation")
        else:
            raise ModelSpecificationError(f"unknown kind {kind!r}; use trace, density or autocorrelation")
    ax.set_title(f"{parameter}: {kind}")
    if kind == "trace":  # keep the legend off the draws
        ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.legend(frameon=False, fontsize="small")
    return ax


def _shrunken(fit):
    """Labels and draws of the shrunken effects: per cluster (mu + u_c) in a multilevel fit,
    per estimate (true effect theta_i from its Gaussian conditional) otherwise."""
    mu = fit.posterior["mu"].reshape(-1, 1)
    if fit.is_multilevel:
        return [str(c) for c in fit.data.cluster_labels], mu + fit.cluster_effects()
    tau2 = fit.posterior["tau"].reshape(-1, 1) ** 2
    v = fit.data.v[None, :]
    prec = 1 / v + 1 / np.maximum(tau2, 1e-300)
    mean = (fit.data.y[None, :] / v + mu / np.maximum(tau2, 1e-300)) / prec
    rng = np.random.default_rng(fit.seed + 7)
    return [str(i) for i in fit.data.labels], mean + rng.standard_normal(mean.shape) / np.sqrt(prec)


def forest(fit, ax=None, *, level=0.95):
    """Observed estimates (grey, CI), shrunken estimates (black, CrI) and the pooled effect
    (intervals at ``level``, a proportion or a percentage)."""
    level = parse_level(level)
    if len(fit.data.X_names) > 1:
        raise ModelSpecificationError("the forest plot is for models without moderators")
    a = round((1 - level) / 2, 12)
    labels, draws = _shrunken(fit)
    n = len(labels)
    ax = _axes(ax)
    lo, hi = np.quantile(draws, [a, 1 - a], axis=0)
    rows = np.arange(n, 0, -1) + 1
    if not fit.is_multilevel:
        from scipy.stats import norm  # on first use: scipy.stats is slow to import

        se = np.sqrt(fit.data.v)
        ax.errorbar(fit.data.y, rows + 0.2, xerr=norm.isf(a) * se, fmt="s", color="grey", ms=3, lw=0.8,
                    label="observed")
    else:
        for r, code in zip(rows, range(n)):
            sel = fit.data.cluster == code
            ax.plot(fit.data.y[sel], np.full(sel.sum(), r + 0.2), "|", color="grey", ms=6,
                    label="observed estimates" if code == 0 else None)
    ax.errorbar(draws.mean(0), rows, xerr=[draws.mean(0) - lo, hi - draws.mean(0)], fmt="o",
                color="black", ms=4, lw=1.0, label="shrunken")
    pooled = fit.posterior["mu"].reshape(-1)
    q = np.quantile(pooled, [a, 1 - a])
    m = pooled.mean()
    ax.fill([q[0], m, q[1], m], [0, 0.3, 0, -0.3], color="black")
    ax.axvline(m, color="grey", ls=":", lw=0.8)
    ax.set_yticks(list(rows) + [0], labels + ["pooled"])
    ax.set_xlabel("effect size")
    ax.legend(frameon=False, fontsize="small", loc="best")
    return ax
