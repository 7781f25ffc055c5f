"""Plot of an estimated selection function (metafor's ``plot.rma.uni.selmodel``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..._exceptions import ArgumentError
from ..._plots_common import new_axes

__all__ = ["selection_curve", "plot_selection"]

_SUMMARIES = {"min": np.min, "max": np.max, "mean": np.mean, "median": np.median}


def _precision(fit: Any, prec: Any) -> float:
    if isinstance(prec, str):
        if prec not in _SUMMARIES:
            raise ArgumentError(f"prec must be 'min', 'max', 'mean', 'median' or a number, not {prec!r}")
        return float(_SUMMARIES[prec](fit.preci))
    if isinstance(prec, bool) or not isinstance(prec, (int, float, np.number)):
        raise ArgumentError(f"prec must be 'min', 'max', 'mean', 'median' or a number, not {prec!r}")
    return float(prec) if fit.prec is not None else 1.0


def _grid(fit: Any, p: Any, n: int) -> np.ndarray:
    if p is not None:
        grid = np.atleast_1d(np.asarray(p, dtype=float))
        if np.any((grid < 0) | (grid > 1)) or np.any(np.isnan(grid)):
            raise ArgumentError("p-values for the selection function must lie between 0 and 1")
        return grid
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ArgumentError(f"n must be an integer of at least 2, not {n!r}")
    lo = fit.spec.pval_min
    grid = np.linspace(lo, 1 - lo, n)
    if fit.type == "stepfun":
        grid = np.unique(np.concatenate([grid, fit.steps]))
        grid = grid[(grid >= lo) & (grid <= 1 - lo)]
    return grid


def selection_curve(fit: Any, p: Any = None, prec: Any = "max", n: int = 1000) -> pd.DataFrame:
    """``w(p)`` at the p-values ``p`` (default: metafor's grid of ``n`` points), as a DataFrame."""
    grid = _grid(fit, p, n)
    w = np.maximum(fit.weights_at(grid, _precision(fit, prec)), 0.0)
    return pd.DataFrame({"p": grid, "w": w})


def plot_selection(fit: Any, *, ax: Any = None, n: int = 1000, prec: Any = "max", rug: bool = True,
                   **kwargs: Any) -> Any:
    """Draw ``w(p)`` against the p-value (a step plot for step functions), with a rug of the
    observed p-values; returns the matplotlib Figure."""
    curve = selection_curve(fit, None, prec, n)
    fig, axes = new_axes(ax)
    style = {"color": "black", "linewidth": 2, **kwargs}
    if fit.type == "stepfun":
        # a step function is right-continuous in metafor's drawing (type = "S")
        axes.step(curve["p"], curve["w"], where="post", **style)
    else:
        axes.plot(curve["p"], curve["w"], **style)
    finite = curve["w"][np.isfinite(curve["w"])]
    if fit.type in ("beta", "stepfun"):
        axes.set_ylim(float(finite.min()), float(finite.max()) if finite.max() > finite.min() else 1.0)
    else:
        axes.set_ylim(0.0, 1.0)
    if rug:
        low = axes.get_ylim()[0]
        span = axes.get_ylim()[1] - low
        axes.vlines(fit.pvals, low, low + 0.03 * span, color="black", linewidth=0.8, gid="rug")
    axes.set_xlabel("p-value")
    axes.set_ylabel("Relative Likelihood of Selection")
    return fig
