"""Funnel plot (optionally contour-enhanced) of a meta-analysis fit or an effect-size table, as metafor's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy

from ..._exceptions import ArgumentError
from ..._plots_common import new_axes
from ._source import funnel_data

__all__ = ["funnel"]

_REACH = 1.1  # the regions extend 10% below the largest standard error, as metafor's
_AXIS_PAD = 0.04  # R's axes extend 4% beyond the limits asked for


def _regions(ax: Any, centre: float, top: float, levels: list[float], shades: Sequence[str]) -> None:
    """Pseudo confidence regions ``centre -+ z se`` from the widest to the narrowest, with dotted edges."""
    se_grid = np.array([0.0, top])
    for i in range(len(levels) - 1, -1, -1):
        z = scipy.stats.norm.isf((1 - levels[i]) / 2)
        left, right = centre - z * se_grid, centre + z * se_grid
        ax.fill_betweenx(se_grid, left, right, color=shades[i], zorder=0, linewidth=0, gid="region")
        ax.plot(left, se_grid, color="black", linestyle=":", linewidth=1, gid="region_lower")
        ax.plot(right, se_grid, color="black", linestyle=":", linewidth=1, gid="region_upper")


def _limits(ax: Any, x: np.ndarray, se: np.ndarray, centre: float, widest: float) -> None:
    """metafor's window: the widest region at the largest SE and the points, plus 10% either side,
    and from the largest SE to 0; then 4% more on each side, as R's axes add (``xaxs = "r"``)."""
    half = scipy.stats.norm.isf((1 - widest) / 2) * se.max()
    lo, hi = min(centre - half, x.min()), max(centre + half, x.max())
    lo, hi = lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
    ax.set_xlim(lo - _AXIS_PAD * (hi - lo), hi + _AXIS_PAD * (hi - lo))
    ax.set_ylim(se.max() * (1 + _AXIS_PAD), -_AXIS_PAD * se.max())


def _shading(contours: Sequence[float] | None, level: float, shades: Sequence[str],
             back: str) -> tuple[list[float], list[str], str]:
    """Levels (proportions, ascending), the colour of each region and the background colour."""
    if not contours:
        return [level / 100], ["white"], back
    levels = sorted(float(c) for c in contours)
    if not all(0 < c < 1 for c in levels):
        raise ArgumentError(f"contours must be proportions between 0 and 1, e.g. (0.90, 0.95, 0.99); "
                            f"got {tuple(contours)}")
    if len(shades) < len(levels) + 1:
        raise ArgumentError(f"shades needs {len(levels) + 1} colours for {len(levels)} contour levels, "
                            f"got {len(shades)}")
    return levels, list(shades[: len(levels)]), shades[len(levels)]


def _filled_mask(fit: Any, n: int) -> np.ndarray:
    """Which points are studies filled in by :func:`~multilevel.trimfill` (none for other fits)."""
    filled = getattr(fit, "filled", None)
    if filled is None or np.shape(filled) != (n,):
        return np.zeros(n, dtype=bool)
    return np.asarray(filled, dtype=bool)


def funnel(fit: Any, *, ax: Any = None, contours: Sequence[float] | None = None, refline: float | None = None,
           level: float | None = None, xlabel: str | None = None, color: str = "black",
           shades: Sequence[str] = ("white", "0.85", "0.7", "0.55"), back: str = "0.85") -> Any:
    r"""Funnel plot: effects (or residuals) against their standard errors, smallest on top.

    Drawn as metafor's ``funnel()``. For a model without moderators the
    observed effects are plotted against :math:`\sqrt{v_i}` (the diagonal of
    ``V`` for ``rma_mv``) around the fixed estimate :math:`\hat\mu`, inside the
    pseudo confidence region :math:`\hat\mu \pm z_{1-\alpha/2}\,\mathrm{SE}`.
    With moderators the residuals :math:`e_i = y_i - x_i^\top\hat\beta` are
    plotted against their standard errors
    :math:`\sqrt{[(I - H) M (I - H)^\top]_{ii}}` (metafor's ``rstandard``)
    around 0. A table with columns ``yi`` and ``vi`` is drawn around 0, as
    metafor's ``funnel(yi, vi)``.

    Parameters
    ----------
    fit : RmaFit, RmaMvFit or DataFrame
        A fit from :func:`~multilevel.rma` or :func:`~multilevel.rma_mv`, or a
        table with ``yi`` and ``vi`` columns. The studies a
        :func:`~multilevel.trimfill` fit filled in are drawn as open circles.
    ax : matplotlib Axes, optional
        Axes to draw on (a new figure otherwise).
    contours : sequence of float, optional
        Contour-enhanced funnel: shade the regions where a two-sided test of
        :math:`H_0: \theta = 0` (or ``refline``) is significant at these levels,
        e.g. ``(0.90, 0.95, 0.99)``.
    refline : float, optional
        Centre of the funnel (default: the fixed estimate of a model without
        moderators, otherwise 0; 0 for contour-enhanced plots, whose regions are
        those of the test of no effect).
    level : float, optional
        Level of the pseudo confidence region, in percent or as a proportion
        (default: that of the fit; 95 for a table).
    xlabel : str, optional
        Label of the horizontal axis (default: "Observed Outcome", or
        "Residual Value" with moderators).
    color : str
        Colour of the points.
    shades : sequence of str
        Colours from the least to the most significant region (one more than ``contours``).
    back : str
        Background colour outside the pseudo confidence region.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (that of ``ax`` when given).

    Raises
    ------
    UnsupportedObjectError
        ``fit`` is neither an ``rma``/``rma_mv`` fit nor a table with ``yi`` and ``vi``
        (a ``TypeError``).

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fig = ml.funnel(ml.rma("yi", "vi", data=dat), contours=(0.90, 0.95, 0.99))
    >>> bool(fig.axes[0].yaxis_inverted())
    True
    >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
    ...                 data=ml.datasets.load("konstantopoulos2011"))
    >>> ml.funnel(fit).axes[0].get_ylabel()
    'Standard Error'
    """
    data = funnel_data(fit, level=level)
    centre = data.centre if refline is None else float(refline)
    if contours and refline is None:
        centre = 0.0
    levels, fills, background = _shading(contours, data.level, shades, back)
    fig, ax = new_axes(ax, figsize=(6, 5))
    ax.set_facecolor(background)
    top = _REACH * data.se.max()
    _regions(ax, centre, top, levels, fills)
    ax.plot([centre, centre], [0.0, top], color="black", linestyle=":", linewidth=1, gid="refline")
    filled = _filled_mask(fit, data.x.shape[0])
    ax.scatter(data.x[~filled], data.se[~filled], color=color, zorder=3, s=20, gid="points")
    if filled.any():  # studies imputed by trim and fill: open circles, as metafor
        ax.scatter(data.x[filled], data.se[filled], facecolors="white", edgecolors=color, zorder=3, s=20,
                   gid="filled")
    _limits(ax, data.x, data.se, centre, levels[-1])
    ax.set_ylabel("Standard Error")
    ax.set_xlabel(xlabel or data.xlabel)
    return fig
