"""Plot helpers shared by the OLS and mixed-model figures (matplotlib).

Every public plot function returns the matplotlib ``Figure`` it drew on; the
drawing functions here take an ``Axes`` and return it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from ._exceptions import ArgumentError
from ._data import as_dataframe

__all__ = ["grid_frame", "new_axes", "group_colors", "draw_group_lines", "draw_residuals", "draw_qq", "POPULATION_COLOR"]

POPULATION_COLOR = "#345"
_PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#999999"]


def new_axes(ax: Any = None, *, ncols: int = 1, figsize: tuple[float, float] | None = None):
    """Return ``(figure, axes)``: the given Axes and its figure, or a new figure."""
    from matplotlib.figure import Figure

    if ax is not None:
        return ax.figure, ax
    # a bare Figure (not registered with pyplot): nothing accumulates when many are drawn
    fig = Figure(figsize=figsize or (6.4 * ncols if ncols > 1 else 6.4, 4.4), layout="constrained")
    return fig, fig.subplots(1, ncols)


def axes_for(ax: Any, num: int, *, figsize: tuple[float, float] | None = None):
    """``(figure, list of num Axes)``: a new row of panels, or the given Axes (one Axes is
    accepted for one panel; a sequence must hold ``num``)."""

    if ax is None:
        fig, axes = new_axes(None, ncols=num, figsize=figsize)
        return fig, list(np.atleast_1d(axes))
    axes = list(np.atleast_1d(np.asarray(ax, dtype=object)).ravel())
    if len(axes) != num:
        raise ArgumentError(f"ax must hold {num} Axes (one per panel), not {len(axes)}")
    return axes[0].figure, axes


def residual_axes(ax: Any):
    """Panels of the residual plots: two new ones, the two given, or one given Axes (residuals
    against fitted values only)."""

    if ax is None:
        fig, axes = new_axes(None, ncols=2)
        return fig, list(axes)
    axes = list(np.atleast_1d(np.asarray(ax, dtype=object)).ravel())
    if len(axes) not in (1, 2):
        raise ArgumentError(f"ax must be one Axes (residuals against fitted values) or two, not {len(axes)}")
    return axes[0].figure, axes


def group_colors(levels: Sequence[Any]) -> dict[Any, str]:
    """One colour per group level (colour-blind friendly palette, repeated if needed)."""
    return {level: _PALETTE[i % len(_PALETTE)] for i, level in enumerate(levels)}


def _levels(values: pd.Series) -> list[Any]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [v for v in values.cat.categories if (values == v).any()]
    return sorted(values.unique())


def draw_group_lines(ax, data: pd.DataFrame, x: str, y: str, group: str | None,
                     line_fn: Callable[[Any, np.ndarray], np.ndarray] | None,
                     population_fn: Callable[[np.ndarray], np.ndarray] | None = None, *,
                     title: str | None = None, alpha_points: float = 0.5):
    """Scatter ``y`` against ``x`` coloured by ``group``, a line per group and the population line.

    ``line_fn(level, grid)`` gives a group's fitted values on an x grid (None: no group lines);
    ``population_fn(grid)`` the line for all groups (dashed, dark).
    """
    grid = np.linspace(float(data[x].min()), float(data[x].max()), 50)
    if group is None:
        ax.scatter(data[x], data[y], s=14, alpha=alpha_points, color="#678", edgecolors="none")
    else:
        colors = group_colors(_levels(data[group]))
        for level, color in colors.items():
            rows = data[group] == level
            ax.scatter(data.loc[rows, x], data.loc[rows, y], s=14, alpha=alpha_points, color=color,
                       edgecolors="none", label=str(level))
            if line_fn is not None:
                ax.plot(grid, line_fn(level, grid), color=color, linestyle="--", linewidth=1.6)
    if population_fn is not None:
        ax.plot(grid, population_fn(grid), color=POPULATION_COLOR, linestyle=(0, (8, 3)), linewidth=2.0,
                label="All" if group is not None else None)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if group is not None:
        ax.legend(title=group, frameon=False, fontsize="small")
    if title:
        ax.set_title(title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def draw_residuals(ax, fitted: np.ndarray, residuals: np.ndarray, *, title: str = "Residuals vs fitted",
                   ylabel: str = "Residuals"):
    """Residuals against fitted values with a zero line and a lowess-like running mean."""
    ax.scatter(fitted, residuals, s=12, alpha=0.6, color="#678", edgecolors="none")
    ax.axhline(0.0, color="#999", linewidth=1.0, linestyle=":")
    order = np.argsort(fitted)
    k = max(5, len(fitted) // 10)
    if len(fitted) > k:
        smooth = np.convolve(np.asarray(residuals)[order], np.ones(k) / k, mode="valid")
        ax.plot(np.asarray(fitted)[order][k // 2: k // 2 + smooth.size], smooth, color="#C33", linewidth=1.4)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def draw_qq(ax, values: np.ndarray, *, title: str = "Normal Q-Q", label: str | None = None, color: str = "#678"):
    """Normal quantile-quantile plot with the line through the quartiles (R's ``qqline``)."""
    from scipy import stats

    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    a = 3.0 / 8.0 if n <= 10 else 0.5
    theo = stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))
    ax.scatter(theo, v, s=12, alpha=0.7, color=color, edgecolors="none", label=label)
    q_data = np.quantile(v, [0.25, 0.75])
    q_norm = stats.norm.ppf([0.25, 0.75])
    slope = (q_data[1] - q_data[0]) / (q_norm[1] - q_norm[0])
    ax.axline((q_norm[0], q_data[0]), slope=slope if np.isfinite(slope) else 0.0, color="#999", linewidth=1.0)
    ax.set_xlabel("Theoretical quantiles")
    ax.set_ylabel("Sample quantiles")
    ax.set_title(title)
    return ax


def grid_frame(data: pd.DataFrame, x: str, grid: np.ndarray, group: str | None, level: Any) -> pd.DataFrame:
    """A grid over ``x``; other columns take the typical value of the group (first row / mean)."""
    rows = data if group is None or level is None else data[data[group] == level]
    out = {}
    for col in data.columns:
        if col == x:
            out[col] = grid
        elif col == group and level is not None:
            out[col] = pd.Categorical([level] * grid.size, categories=data[col].cat.categories) \
                if isinstance(data[col].dtype, pd.CategoricalDtype) else [level] * grid.size
        elif pd.api.types.is_numeric_dtype(data[col]) and not isinstance(data[col].dtype, pd.CategoricalDtype):
            out[col] = np.full(grid.size, float(rows[col].mean()))
        else:
            first = rows[col].iloc[0]
            out[col] = pd.Categorical([first] * grid.size, categories=data[col].cat.categories) \
                if isinstance(data[col].dtype, pd.CategoricalDtype) else [first] * grid.size
    return pd.DataFrame(out)


def plot_data(fit: Any, data: Any, x: str | None, *, exclude: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
    """The data of a plot (``data``, or the rows the fit kept) and its horizontal variable
    (``x``, or the first numeric column the formula names, response and ``exclude`` aside)."""
    import re


    if data is None:
        data = getattr(fit, "model_data", None)
        if data is None:
            raise ArgumentError("this fit does not hold its data; pass data= (the data it was fitted to)")
    df = as_dataframe(data)
    if x is not None:
        return df, x
    formula = str(fit.formula)
    rhs = formula.split("~", 1)[-1]
    response = fit.frame.response if hasattr(fit, "frame") else fit.response
    skip = {response, *exclude}
    found = []
    for column in df.columns:
        match = re.search(rf"(?<![\w.]){re.escape(str(column))}(?![\w.])", rhs)
        if match and column not in skip and pd.api.types.is_numeric_dtype(df[column]):
            found.append((match.start(), column))
    if not found:
        raise ArgumentError(f"no numeric predictor in {formula!r} to put on the horizontal axis; pass x=")
    return df, min(found)[1]
