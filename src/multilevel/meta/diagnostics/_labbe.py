"""L'Abbe plot of a meta-analysis of 2x2 tables (metafor's ``labbe``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError, DataError, ModelSpecificationError
from ..._plots_common import new_axes
from ..shared._input import column_values
from ._kinds import check_rma

__all__ = ["labbe", "labbe_points", "arm_outcomes"]

_ARM = {"RR": "log risk", "OR": "log odds", "RD": "proportion", "AS": "arcsine square root proportion"}


def arm_outcomes(xi: np.ndarray, mi: np.ndarray, measure: str, add: float, to: str) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and sampling variance of one arm (metafor's ``escalc`` PLN, PLO, PR or PAS), with ``add``/``to``."""
    xi, mi = np.asarray(xi, dtype=float).copy(), np.asarray(mi, dtype=float).copy()
    zero = (xi == 0) | (mi == 0)
    if to == "all" or (to == "if0all" and zero.any()):
        xi, mi = xi + add, mi + add
    elif to == "only0":
        xi[zero], mi[zero] = xi[zero] + add, mi[zero] + add
    ni = xi + mi
    p = xi / ni
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            return np.log(p), 1 / xi - 1 / ni
        if measure == "OR":
            return np.log(xi / mi), 1 / xi + 1 / mi
        if measure == "RD":
            return p, p * (1 - p) / ni
        return np.arcsin(np.sqrt(p)), 1 / (4 * ni)


def _point_sizes(vi: np.ndarray, plim: tuple[float, float]) -> np.ndarray:
    wi = np.sqrt(1 / vi)
    rng = wi.max() - wi.min()
    if rng <= np.sqrt(np.finfo(float).eps):
        return np.ones_like(wi)
    return (wi - wi.min()) / rng * (plim[1] - plim[0]) + plim[0]


def labbe_points(ai, bi, ci, di, measure: str, add: float = 0.5, to: str = "only0",
                 plim: tuple[float, float] = (0.5, 3.5)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Control-arm outcomes (x), treatment-arm outcomes (y) and metafor's relative point sizes."""
    yt, vt = arm_outcomes(ai, bi, measure, add, to)
    yc, vc = arm_outcomes(ci, di, measure, add, to)
    ok = np.isfinite(yt) & np.isfinite(yc) & np.isfinite(vt) & np.isfinite(vc)
    return yc[ok], yt[ok], _point_sizes((vt + vc)[ok], plim)


def _effect_line(beta: float, xs: np.ndarray, ys: np.ndarray, measure: str) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = min(xs.min(), ys.min()), max(xs.max(), ys.max())
    rng = hi - lo
    if measure == "RD":
        c = np.linspace(-beta if beta <= 0 else 0.0, 1.0 if beta <= 0 else 1 - beta, 1000)
    elif measure == "RR":
        c = np.linspace(lo - rng, -beta if beta > 0 else 0.0, 1000)
    elif measure == "OR":
        c = np.linspace(lo - rng, hi + rng, 1000)
    else:
        top = np.arcsin(1.0)
        c = np.linspace(-beta if beta <= 0 else 0.0, top if beta <= 0 else top - beta, 1000)
    return c, beta + c


def labbe(fit: Any, *, ai: Any, bi: Any, ci: Any, di: Any, data: Any = None, measure: str = "RR", add: float = 0.5,
          to: str = "only0", transf: Callable[[np.ndarray], np.ndarray] | None = None, ax: Any = None) -> Any:
    """L'Abbe plot: treatment-arm against control-arm outcomes with the fitted effect (metafor's ``labbe``).

    Parameters
    ----------
    fit : RmaFit
        An intercept-only fit of the effect sizes computed from the same 2x2 tables.
    ai, bi, ci, di : str or array_like
        Events and non-events of the treatment (``ai``, ``bi``) and control (``ci``, ``di``) groups,
        as given to :func:`~multilevel.escalc`.
    measure : {"RR", "OR", "RD", "AS"}
        The fit's measure; the arms are drawn as log risks, log odds, proportions or arcsine
        square-root proportions.
    add, to
        Continuity correction of the arms, as :func:`~multilevel.escalc`.
    transf : callable, optional
        Applied to the arm outcomes and the lines (e.g. ``np.exp`` for risks).

    Examples
    --------
    >>> import multilevel as ml
    >>> bcg = ml.datasets.load("bcg")
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> fig = ml.labbe(ml.rma("yi", "vi", data=dat), ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> len(fig.axes[0].collections[0].get_offsets())
    13
    """
    check_rma(fit, "labbe")
    if not fit.int_only:
        raise ModelSpecificationError("labbe applies to models without moderators")
    if measure not in _ARM:
        raise ArgumentError(f"measure must be one of {', '.join(_ARM)} for a L'Abbe plot, not {measure!r}")
    if to not in ("all", "only0", "if0all", "none"):
        raise ArgumentError(f"to must be 'all', 'only0', 'if0all' or 'none', not {to!r}")
    cells = [column_values(v, data, role=name) for v, name in ((ai, "ai"), (bi, "bi"), (ci, "ci"), (di, "di"))]
    if any(c.shape != (fit.k + fit.num_dropped,) for c in cells):
        raise DataError(f"ai, bi, ci and di must have one value per study of the fit (k = {fit.k})")
    x, y, size = labbe_points(*cells, measure, add, to)
    beta = float(fit.coefficients[0][0])
    cx, cy = _effect_line(beta, x, y, measure)
    if transf is not None:
        x, y, cx, cy = (np.asarray(transf(a), dtype=float) for a in (x, y, cx, cy))
    fig, ax = new_axes(ax)
    order = np.argsort(-size, kind="stable")
    ax.scatter(x[order], y[order], s=30 * size[order] ** 2, facecolor="gray", edgecolor="black", zorder=3)
    lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax.plot(cx, cy, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    label = _ARM[measure] if transf is None else f"transformed {_ARM[measure]}"
    ax.set_xlabel(f"{label.capitalize()} (Control Group)")
    ax.set_ylabel(f"{label.capitalize()} (Treatment Group)")
    return fig
