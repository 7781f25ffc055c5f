"""Figures for ``lmer`` fits: data with group and population lines, caterpillar plot of the random
effects, residual and random-effect QQ plots, likelihood profiles.

Every function returns the matplotlib ``Figure``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy

from .._data import check_columns
from .._exceptions import DataError
from .._plots_common import (axes_for, draw_group_lines, draw_qq, draw_residuals, grid_frame, new_axes, plot_data,
                             residual_axes)
from .._protocol import parse_level
from ._pool import process_pool
from ._profile import fit_setup, parameter_names, profile_grid

__all__ = ["plot_lmer", "plot_ranef", "plot_qq_ranef", "plot_profile", "plot_lmer_residuals", "ranef_intervals"]


def ranef_intervals(fit, level: float = 0.95) -> pd.DataFrame:
    """Long table: grpvar, term, grp, condval, condsd, lower, upper (normal intervals on the conditional SD)."""
    z = scipy.stats.norm.ppf(0.5 + parse_level(level) / 2)
    df = fit.ranef_frame()
    df["lower"] = df["condval"] - z * df["condsd"]
    df["upper"] = df["condval"] + z * df["condsd"]
    return df


def plot_lmer(fit, data: Any = None, x: str | None = None, *, group: str | None = None, ax: Any = None,
              title: str | None = None, population: bool = True):
    """The data with one fitted line per group (fixed plus random effects) and the population line.

    The seed's figures for the null model, random intercepts, random slopes and both.

    Parameters
    ----------
    fit : LinearMixedModel
    data : DataFrame, optional
        The data the model was fitted to (default: the rows the fit kept).
    x : str, optional
        Column on the horizontal axis (default: the first numeric predictor of the formula).
    group : str, optional
        Grouping factor of the lines (default: the first grouping factor of the model).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes (its figure is returned).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> students = ml.datasets.load("students")
    >>> fit = ml.lmer("test_score ~ study_time + (study_time | school)", students)
    >>> fig = ml.plot_lmer(fit, students, "study_time")
    >>> len(fig.axes[0].lines)
    4
    >>> len(ml.plot_lmer(fit).axes[0].lines)
    4
    """
    group = group or fit.frame.blocks[0].group
    df, x = plot_data(fit, data, x, exclude=[group])
    check_columns(df, [x, fit.frame.response, group], context="plot")
    fig, axes = new_axes(ax)
    line = lambda level, grid: fit.predict(grid_frame(df, x, grid, group, level)).to_numpy()  # noqa: E731
    pop = (lambda grid: fit.predict(grid_frame(df, x, grid, None, None), re_form="~0").to_numpy()) \
        if population else None  # noqa: E731
    draw_group_lines(axes, df, x, fit.frame.response, group, line, pop, title=title)
    return fig


def plot_ranef(fit, *, level: float = 0.95, ax: Any = None):
    """Caterpillar plot: conditional modes of the random effects with their intervals, one panel per term.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> len(ml.plot_ranef(fit).axes)
    2
    """
    table = ranef_intervals(fit, level)
    panels = list(table.groupby(["grpvar", "term"], sort=False))
    if ax is None:
        fig, axes = new_axes(None, ncols=len(panels), figsize=(3.6 * len(panels) + 1, max(2.6, 0.9 + 0.22 * table.grp.nunique())))
        axes = np.atleast_1d(axes)
    else:
        axes = np.atleast_1d(ax)
        fig = axes[0].figure
    for a, ((grpvar, term), part) in zip(axes, panels):
        part = part.sort_values("condval")
        pos = np.arange(len(part))
        a.errorbar(part["condval"], pos, xerr=[part["condval"] - part["lower"], part["upper"] - part["condval"]],
                   fmt="o", color="#345", ecolor="#89a", markersize=3.5, capsize=0)
        a.axvline(0.0, color="#999", linewidth=1.0, linestyle=":")
        a.set_yticks(pos, part["grp"].astype(str), fontsize="small")
        a.set_title(f"{grpvar}: {term}")
        a.set_xlabel("Conditional mode")
    return fig


def plot_qq_ranef(fit, *, ax: Any = None):
    """Normal QQ plots of the conditional modes of the random effects, one panel per term.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> len(ml.plot_qq_ranef(fit).axes)
    2
    """
    terms = [(g, c, re[c].to_numpy()) for g, re in fit.ranef.items() for c in re.columns]
    if ax is None:
        fig, axes = new_axes(None, ncols=len(terms), figsize=(3.8 * len(terms) + 0.6, 3.6))
        axes = np.atleast_1d(axes)
    else:
        axes = np.atleast_1d(ax)
        fig = axes[0].figure
    for a, (g, c, values) in zip(axes, terms):
        draw_qq(a, values, title=f"{g}: {c}")
    return fig


def plot_lmer_residuals(fit, *, ax: Any = None):
    """Residual diagnostics of an ``lmer`` fit: scaled residuals against fitted values, QQ of residuals.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> len(ml.plot_lmer_residuals(fit).axes)
    2
    """
    fig, axes = residual_axes(ax)
    draw_residuals(axes[0], fit.fitted.to_numpy(), fit.scaled_residuals.to_numpy(), ylabel="Scaled residuals")
    if len(axes) > 1:
        draw_qq(axes[1], fit.scaled_residuals.to_numpy(), title="Normal Q-Q of scaled residuals")
    return fig


def plot_profile(fit, *, which: Any = None, num: int = 11, level: float = 0.95, parallel: bool = True,
                 ax: Any = None):
    """Likelihood profiles: ``zeta`` (signed square root of the deviance increase) against each parameter.

    The dotted lines mark the normal quantiles of ``level``; where they meet the
    profile are the limits of ``confint(method="profile")``.

    Parameters
    ----------
    which : list of str, optional
        Parameter names (``".sig01"``, ``".sigma"``, ``"Days"`` ...); default all.
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw into these Axes (one, or one per parameter); their figure is returned.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> len(ml.plot_profile(fit, which=[".sigma", "Days"], parallel=False).axes)
    2
    """
    z = scipy.stats.norm.ppf(0.5 + parse_level(level) / 2)
    setup = fit_setup(fit)
    names = parameter_names(list(setup.ks), list(fit.frame.fixed_names))
    chosen = names if which is None else list(which)
    unknown = [w for w in chosen if w not in names]
    if unknown:
        raise DataError(f"unknown parameter(s) {', '.join(unknown)}; available: {', '.join(names)}")
    idx = [names.index(w) for w in chosen]
    grids = _grids(setup, idx, num, parallel)
    fig, axes = axes_for(ax, len(idx), figsize=(3.0 * len(idx) + 0.6, 3.2))
    for a, name, (xs, zeta) in zip(axes, chosen, grids):
        a.plot(xs, zeta, color="#345", marker="o", markersize=2.5)
        for v in (-z, z):
            a.axhline(v, color="#999", linestyle=":", linewidth=1.0)
        a.set_xlabel(name)
        a.set_ylabel("zeta")
    return fig


def _grids(setup, idx: list[int], num: int, parallel: bool):
    if parallel and len(idx) > 1:
        from functools import partial

        with process_pool(2) as pool:
            return list(pool.map(partial(profile_grid, setup, num=num), idx))
    return [profile_grid(setup, i, num=num) for i in idx]
