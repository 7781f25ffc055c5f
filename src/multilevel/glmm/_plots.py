"""Figures for GLMM fits: the data with fitted curves per group on the response scale.

The caterpillar plot of the random effects with their conditional variances is
:func:`multilevel.plot_ranef`, which takes glmer fits too. Every function returns
the matplotlib ``Figure``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._data import as_dataframe, check_columns, is_polars, polars_to_pandas
from .._exceptions import ArgumentError
from .._plots_common import draw_group_lines, grid_frame, new_axes

__all__ = ["plot_glmer"]

_OBSERVED = ".observed"


def _response_label(fit) -> str:
    lhs = fit.formula.split("~")[0].strip()
    if fit.family.name == "binomial":
        return f"P({lhs})" if not lhs.startswith("cbind(") else f"proportion: {lhs}"
    return lhs


def plot_glmer(fit, data: Any, x: str, *, group: str | None = None, ax: Any = None, title: str | None = None,
               population: bool = True):
    """The observed responses with one fitted curve per group on the response scale, and the
    population curve (random effects at zero).

    Curves are ``g^{-1}(x'beta + z'b_j)`` over a grid of ``x``, other predictors held at the
    group's mean (numeric) or first value; points are the responses as fitted (proportions of
    successes for binomial responses).

    Parameters
    ----------
    fit : GeneralizedLinearMixedModel
    data : DataFrame
        The data the model was fitted to.
    x : str
        Numeric column on the horizontal axis.
    group : str, optional
        Grouping factor of the curves (default: the model's first grouping factor).
    ax : matplotlib Axes, optional
        Draw on this Axes instead of a new figure.
    title : str, optional
    population : bool
        Draw the population curve (dashed, dark).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> cbpp = ml.datasets.load("cbpp")
    >>> cbpp["time"] = cbpp["period"].astype(int)
    >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ time + (1 | herd)", cbpp, "binomial")
    >>> fig = ml.plot_glmer(fit, cbpp, "time")
    >>> len(fig.axes[0].lines)  # 15 herds and the population curve
    16
    """
    df = polars_to_pandas(data) if is_polars(data) else as_dataframe(data)
    group = group or fit.frame.blocks[0].group
    check_columns(df, [x, group], context="plot")
    if not np.issubdtype(np.asarray(df[x]).dtype, np.number):
        raise ArgumentError(f"x must be a numeric column of data; {x!r} is {df[x].dtype}")
    try:
        used = df.loc[fit.row_labels].copy()
    except KeyError as err:
        raise ArgumentError("data must be the table the model was fitted to (its row labels were not "
                            "found)") from err
    used[_OBSERVED] = fit.response.y
    base = df.drop(columns=[c for c in df.columns if c == _OBSERVED])

    def line(level, grid):
        return fit.predict(grid_frame(base, x, grid, group, level), type="response").to_numpy()

    def pop(grid):
        return fit.predict(grid_frame(base, x, grid, None, None), type="response", re_form="~0").to_numpy()

    fig, axes = new_axes(ax)
    draw_group_lines(axes, used, x, _OBSERVED, group, line, pop if population else None, title=title)
    axes.set_ylabel(_response_label(fit))
    if fit.family.name == "binomial":
        axes.set_ylim(-0.03, 1.03)
    return fig
