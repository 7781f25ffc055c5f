"""Forest plot of a meta-analysis fit or an effect-size table (matplotlib), as metafor's ``forest()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy

from ..._plots_common import new_axes
from ._source import ForestData, forest_data

__all__ = ["forest"]

_TICK = 0.15  # half-height of the ticks closing an interval (in rows)
_DIAMOND = 0.35  # half-height of the summary polygon (in rows)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _apply(tr: Callable[[np.ndarray], np.ndarray], *arrays: Any) -> list[np.ndarray]:
    return [np.asarray(tr(np.asarray(a, dtype=float)), dtype=float) for a in arrays]


def _point_sizes(weights: np.ndarray) -> np.ndarray:
    """metafor's point sizes: ``sqrt(weights)`` rescaled to 0.5 - 1.5 (all 1 when the weights are equal)."""
    wi = np.sqrt(weights)
    rng = wi.max() - wi.min()
    if rng <= np.sqrt(np.finfo(float).eps):
        return np.ones_like(wi)
    return (wi - wi.min()) / rng + 0.5


def _interval(ax: Any, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray, color: str, gid: str,
              linestyle: str = "-") -> None:
    """Horizontal intervals closed by short vertical ticks."""
    ax.hlines(rows, lo, hi, color=color, linewidth=1, linestyle=linestyle, gid=gid)
    ends = np.concatenate([lo, hi])
    at = np.concatenate([rows, rows])
    ax.vlines(ends, at - _TICK, at + _TICK, color=color, linewidth=1, gid=f"{gid}_ends")


def _diamond(ax: Any, est: float, lo: float, hi: float, row: float, color: str, gid: str,
             height: float = _DIAMOND, zorder: float = 3) -> None:
    ax.fill([lo, est, hi, est], [row, row + height, row, row - height], facecolor=color, edgecolor=color,
            zorder=zorder, gid=gid)


def _sorted_pair(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(lo, hi), np.maximum(lo, hi)


def _summary_row(ax: Any, data: ForestData, tr: Callable, color: str, show_pi: bool) -> tuple:
    """The pooled estimate at row -1: diamond over its CI, dotted prediction interval on request."""
    s = data.summary
    est, lo, hi = _apply(tr, [s["pred"]], [s["ci_lb"]], [s["ci_ub"]])
    lo, hi = _sorted_pair(lo, hi)
    if show_pi and data.random and np.isfinite(s["pi_lb"]):
        plo, phi = _sorted_pair(*_apply(tr, [s["pi_lb"]], [s["pi_ub"]]))
        _interval(ax, plo, phi, np.array([-1.0]), "0.5", "pi", linestyle=":")
    _diamond(ax, float(est[0]), float(lo[0]), float(hi[0]), -1.0, color, "summary")
    ax.axhline(0.0, color="black", linewidth=0.8)
    return float(est[0]), float(lo[0]), float(hi[0])


def _fitted_rows(ax: Any, data: ForestData, tr: Callable, rows: np.ndarray, color: str) -> None:
    """Fitted values of a meta-regression: a grey polygon over each fitted value's CI."""
    f = data.fitted
    pred, lo, hi = _apply(tr, f["pred"], f["ci_lb"], f["ci_ub"])
    lo, hi = _sorted_pair(lo, hi)
    for i, row in enumerate(rows):
        _diamond(ax, pred[i], lo[i], hi[i], float(row), color, "fitted", height=0.2, zorder=1.5)


def _annotate(ax: Any, texts: list[tuple[float, float, float, float]]) -> None:
    trans = ax.get_yaxis_transform()
    for est, a, b, row in texts:
        ax.text(1.02, row, f"{est:.2f} [{a:.2f}, {b:.2f}]", transform=trans, va="center", ha="left",
                fontsize="small", family="monospace")


def _finish(ax: Any, ticks: list[float], labels: list[str], k: int, refline: float | None, xlabel: str) -> None:
    if refline is not None:
        ax.axvline(refline, color="0.3", linestyle=":", linewidth=1, zorder=1)
    ax.set_yticks(ticks, labels)
    ax.set_ylim(min(ticks) - 1, k + 1)
    ax.set_xlabel(xlabel)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)


def forest(fit: Any, *, ax: Any = None, level: float | None = None, slab: Any = None,
           transf: Callable[[np.ndarray], np.ndarray] | None = None, xlabel: str = "Observed Outcome",
           refline: float | None = 0.0, annotate: bool = True, show_pi: bool = False, color: str = "black",
           pooled_color: str = "black", fitted_color: str = "0.5") -> Any:
    r"""Forest plot: each estimate with its confidence interval, and the model's summary.

    Drawn as metafor's ``forest()``: a square at each observed effect (size
    increasing with the model weight, :math:`1 / (v_i + \hat\tau^2)` for
    ``rma``, the diagonal of :math:`M^{-1}` for ``rma_mv``) with its Wald
    interval

    .. math::

        y_i \pm z_{1-\alpha/2} \sqrt{v_i}

    (normal quantile whatever the test of the model; :math:`v_i` the diagonal
    of ``V`` for ``rma_mv``). For a model without moderators a diamond at the
    bottom spans the confidence interval of the pooled estimate
    (:meth:`~multilevel.RmaFit.predict`, so a t quantile under Knapp-Hartung or
    ``test="t"``); with moderators each row shows its fitted value and
    confidence interval as a grey diamond. A table with columns ``yi`` and
    ``vi`` (from :func:`~multilevel.escalc`) is drawn without a model, as
    metafor's ``forest(yi, vi)``.

    Parameters
    ----------
    fit : RmaFit, RmaMvFit or DataFrame
        A fit from :func:`~multilevel.rma` or :func:`~multilevel.rma_mv`, or a
        table with ``yi`` and ``vi`` columns (rows with missing values are dropped).
    ax : matplotlib Axes, optional
        Axes to draw on (a new figure otherwise).
    level : float, optional
        Confidence level of all intervals, in percent or as a proportion
        (default: that of the fit; 95 for a table).
    slab : str or sequence of str, optional
        Row labels: one per estimate, or a column of the data (a table or the
        data of an ``rma_mv`` fit); default: the fit's study labels.
    transf : callable, optional
        Transformation of the horizontal axis values (e.g. ``np.exp`` for log ratios).
    xlabel : str
        Label of the horizontal axis.
    refline : float or None
        Position of the vertical reference line (on the transformed scale).
    annotate : bool
        Write "estimate [lower, upper]" at the right of each row.
    show_pi : bool
        Draw the prediction interval of the pooled estimate as a dotted line
        (metafor's ``addpred``; random-effects models without moderators).
    color, pooled_color, fitted_color : str
        Colours of the estimates, the summary diamond and the fitted values.

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
    >>> import numpy as np, multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fig = ml.forest(ml.rma("yi", "vi", data=dat), transf=np.exp, refline=1, xlabel="Risk Ratio")
    >>> len(fig.axes[0].get_yticklabels())
    14
    >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
    ...                 data=ml.datasets.load("konstantopoulos2011"))
    >>> [t.get_text() for t in ml.forest(fit).axes[0].get_yticklabels()][-1]
    'RE Model'
    """
    data = forest_data(fit, level=level, slab=slab)
    tr = transf or _identity
    k = len(data.yi)
    half = scipy.stats.norm.isf((1 - data.level / 100) / 2) * np.sqrt(data.vi)
    y, lo, hi = _apply(tr, data.yi, data.yi - half, data.yi + half)
    lo, hi = _sorted_pair(lo, hi)
    fig, ax = new_axes(ax, figsize=(8, 0.3 * (k + 4) + 1))
    rows = np.arange(k, 0, -1, dtype=float)
    if data.fitted is not None:
        _fitted_rows(ax, data, tr, rows, fitted_color)
    _interval(ax, lo, hi, rows, color, "ci")
    ax.scatter(y, rows, s=(6 * _point_sizes(data.weights)) ** 2, marker="s", color=color, zorder=4,
               gid="estimates")
    ticks, labels = list(rows), list(data.labels)
    texts = [(y[i], lo[i], hi[i], rows[i]) for i in range(k)]
    if data.summary is not None:
        texts.append((*_summary_row(ax, data, tr, pooled_color, show_pi), -1.0))
        ticks.append(-1.0)
        labels.append(data.model_label)
    _finish(ax, ticks, labels, k, refline, xlabel)
    if annotate:
        _annotate(ax, texts)
    return fig
