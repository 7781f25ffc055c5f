"""Funnel plot (optionally contour-enhanced) of a meta-analysis fit (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy

from ..._protocol import level_percent

__all__ = ["funnel"]


def funnel(fit: Any, *, ax: Any = None, contours: Sequence[float] | None = None, refline: float | None = None,
           level: float | None = None, xlabel: str | None = None, color: str = "black",
           shades: Sequence[str] = ("white", "0.85", "0.7", "0.55")) -> Any:
    r"""Funnel plot: effects (or residuals) against their standard errors, smallest on top.

    For a model without moderators the observed effects are plotted around the
    pooled estimate, with the pseudo confidence region
    :math:`\hat\mu \pm z_{1-\alpha/2}\,\mathrm{SE}`. With moderators the
    residuals :math:`y_i - x_i^\top\hat\beta` are plotted around 0, as metafor does.

    Parameters
    ----------
    fit : RmaFit
        A fit from :func:`~multilevel.rma`.
    ax : matplotlib Axes, optional
    contours : sequence of float, optional
        Contour-enhanced funnel: shade the regions where a two-sided test of
        :math:`H_0: \theta = 0` (or ``refline``) is significant at these levels,
        e.g. ``(0.90, 0.95, 0.99)``.
    shades : sequence of str
        Colours from the least to the most significant region (one more than ``contours``).
    refline : float, optional
        Centre of the funnel (default: the pooled estimate; 0 for contour-enhanced
        plots, whose regions are those of the test of no effect).
    level : float, optional
        Level of the pseudo confidence region, a proportion or a percentage (default: that of the fit).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ax = ml.funnel(ml.rma("yi", "vi", data=dat), contours=(0.90, 0.95, 0.99))
    >>> bool(ax.yaxis_inverted())
    True
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    sei = np.sqrt(fit.vi)
    if fit.int_only:
        x = np.asarray(fit.yi, dtype=float)
        centre = float(fit.beta.iloc[0]) if refline is None else refline
        if contours and refline is None:
            centre = 0.0
        xlabel = xlabel or "Observed Outcome"
    else:
        x = fit.yi - fit.design.X @ fit.beta.to_numpy()
        centre = 0.0 if refline is None else refline
        xlabel = xlabel or "Residual Value"
    top = sei.max() * 1.05
    se_grid = np.array([0.0, top])
    if contours:
        _shade_contours(ax, contours, top, centre, shades)
    z = scipy.stats.norm.isf((1 - (fit.level if level is None else level_percent(level)) / 100) / 2)
    if not contours:
        ax.plot(centre - z * se_grid, se_grid, color="0.3", linewidth=1)
        ax.plot(centre + z * se_grid, se_grid, color="0.3", linewidth=1)
    ax.axvline(centre, color="0.3", linewidth=1)
    ax.scatter(x, sei, color=color, zorder=3, s=20)
    ax.set_ylim(top, 0.0)
    ax.set_ylabel("Standard Error")
    ax.set_xlabel(xlabel)
    return ax


def _shade_contours(ax: Any, contours: Sequence[float], top: float, centre: float, shades: Sequence[str]) -> None:
    """Shade the two-sided significance regions around ``centre``: darker for smaller p-values."""
    levels = sorted(contours)
    if len(shades) < len(levels) + 1:
        raise ValueError(f"need {len(levels) + 1} shades for {len(levels)} contour levels")
    se_grid = np.array([0.0, top])
    width = scipy.stats.norm.isf((1 - levels[-1]) / 2) * top * 1.4
    ax.fill_betweenx(se_grid, centre - width, centre + width, color=shades[len(levels)], zorder=0, linewidth=0)
    for i in range(len(levels) - 1, -1, -1):
        z = scipy.stats.norm.isf((1 - levels[i]) / 2)
        ax.fill_betweenx(se_grid, centre - z * se_grid, centre + z * se_grid, color=shades[i], zorder=0,
                         linewidth=0)
    ax.set_xlim(centre - width, centre + width)
