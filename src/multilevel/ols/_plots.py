"""Figures for OLS fits: data with fitted lines (one line, parallel lines, separate fits) and residuals."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._data import check_columns
from .._plots_common import draw_group_lines, draw_qq, draw_residuals, grid_frame, new_axes, plot_data, residual_axes
from ._lm import LinearModel
from ._lmlist import LmList

__all__ = ["plot_lm", "plot_lm_list", "plot_residuals"]


def plot_lm(fit: LinearModel, data: Any = None, x: str | None = None, *, group: str | None = None,
            ax: Any = None, title: str | None = None):
    """The data and the fitted lines of an :func:`~multilevel.lm` fit.

    Without ``group``: one regression line ("constant intercept, constant slope").
    With ``group`` (a factor in the model, e.g. ``y ~ x + school``): one line per
    group, parallel when the model has dummies only ("varying intercepts").
    ``data`` defaults to the rows the fit used, ``x`` to the first numeric predictor of the
    formula; with ``ax`` the plot is drawn into that Axes (and its figure returned).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> students = ml.datasets.load("students")
    >>> fit = ml.lm("test_score ~ study_time + school", students)
    >>> fig = ml.plot_lm(fit, students, "study_time", group="school")
    >>> len(fig.axes[0].lines)
    3
    >>> len(ml.plot_lm(ml.lm("test_score ~ study_time", students)).axes[0].lines)
    1
    """
    df, x = plot_data(fit, data, x, exclude=[group] if group else [])
    y = fit.response
    check_columns(df, [x, y] + ([group] if group else []), context="plot")
    fig, axes = new_axes(ax)
    if group is None:
        population = lambda grid: fit.predict(grid_frame(df, x, grid, None, None)).to_numpy()  # noqa: E731
        draw_group_lines(axes, df, x, y, None, None, population, title=title)
    else:
        line = lambda level, grid: fit.predict(grid_frame(df, x, grid, group, level)).to_numpy()  # noqa: E731
        draw_group_lines(axes, df, x, y, group, line, None, title=title)
    return fig


def plot_lm_list(fits: LmList, data: Any = None, x: str | None = None, *, ax: Any = None,
                 title: str | None = None):
    """The data and one separately fitted line per group of an :func:`~multilevel.lm_list` fit.

    ``data`` defaults to the rows the groups' fits used, ``x`` to the first numeric predictor;
    with ``ax`` the plot is drawn into that Axes (and its figure returned).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> students = ml.datasets.load("students")
    >>> fits = ml.lm_list("test_score ~ study_time | school", students)
    >>> fig = ml.plot_lm_list(fits, students, "study_time")
    >>> len(fig.axes[0].lines)
    3
    >>> len(ml.plot_lm_list(fits).axes[0].lines)
    3
    """
    df, x = plot_data(fits, data, x, exclude=[fits.group])
    y = fits.response
    check_columns(df, [x, y, fits.group], context="plot")
    fig, axes = new_axes(ax)

    def line(level, grid):
        fit = fits[level]
        if fit is None:
            return np.full(grid.size, np.nan)
        return fit.predict(grid_frame(df[df[fits.group] == level], x, grid, None, None)).to_numpy()

    draw_group_lines(axes, df, x, y, fits.group, line, None, title=title)
    return fig


def plot_residuals(fit: Any, *, ax: Any = None):
    """Residual diagnostics: residuals against fitted values, and a normal QQ plot of the residuals.

    Works for any fit with ``fitted`` and ``residuals`` (``lm`` and ``lmer`` fits).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lm("test_score ~ study_time + school", ml.datasets.load("students"))
    >>> fig = ml.plot_residuals(fit)
    >>> len(fig.axes)
    2
    """
    fitted, resid = _values(fit, "fitted"), _values(fit, "residuals")
    fig, axes = residual_axes(ax)
    draw_residuals(axes[0], fitted, resid)
    if len(axes) > 1:
        draw_qq(axes[1], resid, title="Normal Q-Q of residuals")
    return fig


def _values(fit: Any, name: str) -> np.ndarray:
    value = getattr(fit, name)
    value = value() if callable(value) else value
    return np.asarray(value, dtype=float)
