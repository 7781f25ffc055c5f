"""Plots of the diagnostic tables (matplotlib): ``plot(influence(fit))`` and the cumulative forest plot.

Each function returns the ``Figure`` it drew on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ..._plots_common import new_axes

__all__ = ["plot_influence", "cumul_forest"]

_PANELS = (("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook.d"), ("cov_r", "cov.r"),
           ("tau2_del", "tau2.del"), ("QE_del", "QE.del"), ("hat", "hat"), ("weight", "weight"))


def _reference_lines(infl: Any, name: str) -> list[tuple[float, str]]:
    k, p = infl.k, infl.p
    z = float(special.ndtri(0.975))
    crit = 3 * np.sqrt(p / (k - p)) if k > p else np.nan
    lines = {"rstudent": [(0.0, "--"), (-z, ":"), (z, ":")],
             "dffits": [(0.0, "--"), (crit, ":"), (-crit, ":")],
             "cook_d": [(float(special.chdtri(p, 0.5)), ":")],
             "cov_r": [(1.0, "--")],
             "tau2_del": [(infl.tau2, "--")],
             "QE_del": [(infl.QE, "--")],
             "hat": [(p / k, "--"), (3 * p / k, ":")],
             "weight": [(100 / k, "--")]}
    return lines[name]


def _index_panel(ax: Any, values: np.ndarray, flags: np.ndarray, labels: list[str], title: str,
                 refs: list[tuple[float, str]]) -> None:
    x = np.arange(1, values.shape[0] + 1)
    for h, style in refs:
        if np.isfinite(h):
            ax.axhline(h, color="black", linestyle=style, linewidth=0.8)
    ax.plot(x, values, color="black", linewidth=0.8)
    ax.scatter(x, values, s=18, color="black", zorder=3)
    if flags.any():
        ax.scatter(x[flags], values[flags], s=18, color="red", zorder=4, gid="influential")
    ax.set_title(title)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)


def plot_influence(infl: Any, *, dfbetas: bool = False) -> Any:
    """metafor's ``plot(influence(fit))``: the eight diagnostics (or the DFBETAS) against the study index.

    Influential studies (metafor's flag) are drawn in red; reference lines as metafor's
    (e.g. +-1.96 for the studentized residuals, ``3 sqrt(p/(k-p))`` for DFFITS).
    """
    from matplotlib.figure import Figure

    labels = [str(s) for s in infl.frame.index]
    flags = np.asarray(infl.is_infl, dtype=bool)
    if dfbetas:
        cols = list(infl.dfbetas_frame.columns)
        fig = Figure(figsize=(6.4, 2.2 * len(cols)), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(cols), 1))
        for ax, col in zip(axes, cols):
            _index_panel(ax, infl.dfbetas_frame[col].to_numpy(), flags, labels, col, [(0.0, "--"), (1.0, ":"),
                                                                                     (-1.0, ":")])
        return fig
    fig = Figure(figsize=(8, 9), layout="constrained")
    axes = fig.subplots(4, 2).ravel()
    for ax, (col, title) in zip(axes, _PANELS):
        _index_panel(ax, infl.frame[col].to_numpy(), flags, labels, title, _reference_lines(infl, col))
    return fig


def cumul_forest(res: Any, *, ax: Any = None) -> Any:
    """Forest plot of a cumulative meta-analysis (metafor's ``forest.cumul.rma``): one estimate and
    confidence interval per step, labelled by the study added."""
    frame = res.frame
    k = frame.shape[0]
    fig, ax = new_axes(ax, figsize=(6.4, 1.2 + 0.3 * k))
    rows = np.arange(k, 0, -1, dtype=float)
    est, lo, hi = (frame[c].to_numpy() for c in ("estimate", "ci_lb", "ci_ub"))
    ax.hlines(rows, lo, hi, color="black", linewidth=1, gid="ci")
    ax.scatter(est, rows, marker="s", s=20, color="black", zorder=3)
    ax.axvline(0.0 if not res.transformed else 1.0, color="black", linestyle=":", linewidth=1)
    ax.set_yticks(rows)
    ax.set_yticklabels([f"+ {s}" if i else str(s) for i, s in enumerate(frame.index)])
    ax.set_ylim(0.3, k + 0.7)
    ax.set_xlabel("Estimate" if not res.transformed else "Transformed Estimate")
    for spine in ("top", "right", "left"):
        ax.spines[spine].set_visible(False)
    return fig
