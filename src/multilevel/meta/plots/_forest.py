"""Forest plot of a meta-analysis fit (matplotlib)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy

__all__ = ["forest"]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _study_rows(ax: Any, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, weights: np.ndarray,
                rows: np.ndarray, color: str) -> None:
    ax.hlines(rows, lo, hi, color=color, linewidth=1)
    size = 20 + 180 * weights / weights.max()
    ax.scatter(y, rows, s=size, marker="s", color=color, zorder=3)


def _diamond(ax: Any, est: float, lo: float, hi: float, row: float, color: str, height: float = 0.35) -> None:
    xs = [lo, est, hi, est]
    ys = [row, row + height, row, row - height]
    ax.fill(xs, ys, color=color, zorder=3)


def forest(fit: Any, *, ax: Any = None, transf: Callable[[np.ndarray], np.ndarray] | None = None,
           xlabel: str = "Observed Outcome", refline: float | None = 0.0, annotate: bool = True,
           show_pi: bool = True, color: str = "black", pooled_color: str = "black") -> Any:
    r"""Forest plot: each study's estimate and confidence interval, with the pooled estimate.

    Squares are drawn at the observed effects (area proportional to the model
    weight :math:`1 / (v_i + \hat\tau^2)`) with their Wald intervals
    :math:`y_i \pm z_{1-\alpha/2} \sqrt{v_i}`. For a model without moderators a
    diamond shows the pooled estimate and its confidence interval, and a line
    through it the prediction interval; with moderators the fitted value of each
    study is drawn as a grey diamond on its row.

    Parameters
    ----------
    fit : RmaFit
        A fit from :func:`~multilevel.rma`.
    ax : matplotlib Axes, optional
        Axes to draw on (a new figure otherwise).
    transf : callable, optional
        Transformation of the horizontal axis values (e.g. ``np.exp`` for log ratios).
    xlabel : str
        Label of the horizontal axis.
    refline : float or None
        Position of the vertical reference line (on the transformed scale).
    annotate : bool
        Write "estimate [lower, upper]" at the right of each row.
    show_pi : bool
        Draw the prediction interval of the pooled estimate.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ax = ml.forest(ml.rma("yi", "vi", data=dat), transf=np.exp, refline=1, xlabel="Risk Ratio")
    >>> len(ax.get_yticklabels())
    14
    """
    import matplotlib.pyplot as plt

    tr = transf or _identity
    k = len(fit.yi)
    crit = scipy.stats.norm.isf((1 - fit.level / 100) / 2)
    half = crit * np.sqrt(fit.vi)
    y, lo, hi = (np.asarray(tr(a), dtype=float) for a in (fit.yi, fit.yi - half, fit.yi + half))
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.3 * (k + 4) + 1))
    rows = np.arange(k, 0, -1, dtype=float)
    _study_rows(ax, y, lo, hi, 1.0 / (fit.vi + fit.tau2), rows, color)
    labels = list(fit.slab)
    ticks = list(rows)
    texts = [(y[i], lo[i], hi[i], rows[i]) for i in range(k)]
    pred = fit.predict()
    if fit.int_only:
        est, clo, chi = (float(tr(pred[c].to_numpy())[0]) for c in ("pred", "ci_lb", "ci_ub"))
        _diamond(ax, est, min(clo, chi), max(clo, chi), -1.0, pooled_color)
        if show_pi and "pi_lb" in pred:
            plo, phi = (float(tr(pred[c].to_numpy())[0]) for c in ("pi_lb", "pi_ub"))
            ax.hlines(-1.0, min(plo, phi), max(plo, phi), color=pooled_color, linestyle=":", linewidth=1.5)
        ticks.append(-1.0)
        labels.append("RE Model" if not fit.fixed_model else f"{fit.method} Model")
        texts.append((est, min(clo, chi), max(clo, chi), -1.0))
    else:
        for i, row in enumerate(rows):
            fv = pred.iloc[i]
            _diamond(ax, float(tr(fv["pred"])), *sorted([float(tr(fv["ci_lb"])), float(tr(fv["ci_ub"]))]), row,
                     "0.6", height=0.25)
    if refline is not None:
        ax.axvline(refline, color="0.4", linestyle="--", linewidth=1, zorder=1)
    ax.set_yticks(ticks, labels)
    ax.set_ylim(min(ticks) - 1, k + 1)
    ax.set_xlabel(xlabel)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if annotate:
        trans = ax.get_yaxis_transform()
        for est, a, b, row in texts:
            ax.text(1.02, row, f"{est:.2f} [{a:.2f}, {b:.2f}]", transform=trans, va="center", ha="left",
                    fontsize="small", family="monospace")
    return ax
