"""L'Abbe plot of a meta-analysis of 2x2 tables (metafor's ``labbe``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError, DataError, ModelSpecificationError
from ..._plots_common import new_axes
from ..shared._input import column_values
from ._kinds import RmaKind

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


def _fit_settings(fit: Any, measure: str | None, add: float | None,
                  to: str | None) -> tuple[str, float, str, float, bool]:
    """Measure, continuity correction, the pooled estimate and ``drop00`` of an rma or rma_mh fit."""
    if isinstance(fit, RmaKind):
        if not fit.int_only:
            raise ModelSpecificationError("labbe applies to models without moderators")
        beta, drop00 = float(fit.coefficients[0][0]), False
        measure = "RR" if measure is None else measure
    elif hasattr(fit, "measure") and hasattr(fit, "estimate") and hasattr(fit, "add"):
        if measure is not None and measure != fit.measure:
            raise ArgumentError(f"labbe: the fit's measure is {fit.measure!r}; measure={measure!r} contradicts it")
        measure, beta = fit.measure, float(fit.estimate)
        add = fit.add[0] if add is None else add
        to = fit.to[0] if to is None else to
        drop00 = bool(fit.drop00[0]) if isinstance(fit.drop00, tuple) else bool(fit.drop00)
    else:
        raise ArgumentError(f"labbe applies to fits from ml.rma or ml.rma_mh, not to a {type(fit).__name__}")
    if measure not in _ARM:
        raise ArgumentError(f"measure must be one of {', '.join(_ARM)} for a L'Abbe plot, not {measure!r}")
    add = (0.0 if measure == "AS" else 0.5) if add is None else float(add)  # escalc's default for "AS" is 0
    to = "only0" if to is None else to
    if to not in ("all", "only0", "if0all", "none"):
        raise ArgumentError(f"to must be 'all', 'only0', 'if0all' or 'none', not {to!r}")
    return measure, add, to, beta, drop00


def _cells(ai: Any, bi: Any, ci: Any, di: Any, n1i: Any, n2i: Any, data: Any) -> list[np.ndarray]:
    """The four cells, with ``bi = n1i - ai`` and ``di = n2i - ci`` when group sizes are given."""
    if (bi is None) == (n1i is None) or (di is None) == (n2i is None) or ai is None or ci is None:
        raise ArgumentError("labbe needs ai and ci with either bi and di (non-events) or n1i and n2i (group sizes)")
    a = column_values(ai, data, role="ai")
    c = column_values(ci, data, role="ci")
    b = column_values(bi, data, role="bi") if bi is not None else column_values(n1i, data, role="n1i") - a
    d = column_values(di, data, role="di") if di is not None else column_values(n2i, data, role="n2i") - c
    return [np.asarray(v, dtype=float) for v in (a, b, c, d)]


def labbe(fit: Any, *, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None,
          n2i: Any = None, data: Any = None, measure: str | None = None, add: float | None = None,
          to: str | None = None, transf: Callable[[np.ndarray], np.ndarray] | None = None, ax: Any = None) -> Any:
    """L'Abbe plot: treatment-arm against control-arm outcomes with the fitted effect (metafor's ``labbe``).

    Parameters
    ----------
    fit : RmaFit or RmaMhFit
        An intercept-only :func:`~multilevel.rma` fit of effect sizes computed from the same 2x2
        tables (e.g. by :func:`~multilevel.escalc`), or an :func:`~multilevel.rma_mh` fit (whose
        measure, continuity correction and dropping of tables without events are used).
        As metafor, :func:`~multilevel.rma_peto` fits are refused (their measure is "PETO").
    ai, bi, ci, di : str or array_like
        Events and non-events of the treatment (``ai``, ``bi``) and control (``ci``, ``di``) groups,
        as given to :func:`~multilevel.escalc`.
    n1i, n2i : str or array_like
        Group sizes, instead of ``bi`` and ``di``.
    measure : {"RR", "OR", "RD", "AS"}
        The rma fit's measure (default "RR"); the arms are drawn as log risks, log odds,
        proportions or arcsine square-root proportions. An rma_mh fit knows its measure.
    add, to
        Continuity correction of the arms, as :func:`~multilevel.escalc` (default: the rma_mh
        fit's, else 1/2 added to the arms of tables with a zero cell; none for "AS").
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
    >>> mh = ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, measure="OR")
    >>> fig = ml.labbe(mh, ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    """
    measure, add, to, beta, drop00 = _fit_settings(fit, measure, add, to)
    cells = _cells(ai, bi, ci, di, n1i, n2i, data)
    n_rows = fit.k + fit.num_dropped if isinstance(fit, RmaKind) else None
    bad_rows = n_rows is not None and cells[0].shape[0] != n_rows
    if any(c.ndim != 1 or c.shape != cells[0].shape for c in cells) or bad_rows:
        raise DataError(f"ai, bi, ci and di must have one value per study of the fit (k = {fit.k})")
    if drop00:
        a, b, c, d = cells
        both = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        cells = [np.where(both, np.nan, v) for v in cells]
    x, y, size = labbe_points(*cells, measure, add, to)
    cx, cy = _effect_line(beta, x, y, measure)
    if transf is not None:
        x, y, cx, cy = (np.asarray(transf(a), dtype=float) for a in (x, y, cx, cy))
    return _draw(x, y, size, cx, cy, measure, transf is not None, ax)


def _draw(x, y, size, cx, cy, measure: str, transformed: bool, ax: Any) -> Any:
    fig, ax = new_axes(ax)
    order = np.argsort(-size, kind="stable")
    ax.scatter(x[order], y[order], s=30 * size[order] ** 2, facecolor="gray", edgecolor="black", zorder=3)
    lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax.plot(cx, cy, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    label = _ARM[measure] if not transformed else f"transformed {_ARM[measure]}"
    ax.set_xlabel(f"{label.capitalize()} (Control Group)")
    ax.set_ylabel(f"{label.capitalize()} (Treatment Group)")
    return fig
