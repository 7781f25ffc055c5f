"""L'Abbe plot of a meta-analysis of 2x2 tables or incidence rates (metafor's ``labbe``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError, DataError, ModelSpecificationError
from ..._plots_common import new_axes
from ..shared._input import column_values
from ._kinds import RmaKind

__all__ = ["labbe", "labbe_points", "arm_outcomes", "rate_arm_outcomes"]

_ARM = {"RR": "log risk", "OR": "log odds", "RD": "proportion", "AS": "arcsine square root proportion",
        "IRR": "log incidence rate", "IRD": "incidence rate", "IRSD": "square root incidence rate"}
_RATES = ("IRR", "IRD", "IRSD")
_NO_ADD = ("AS", "IRSD")  # escalc adds nothing to these unless ``add`` is given
_TABLE_NAMES = ("ai", "bi", "ci", "di")
_RATE_NAMES = ("x1i", "x2i", "t1i", "t2i")


def _corrected(xi: np.ndarray, zero: np.ndarray, add: float, to: str) -> np.ndarray:
    """``xi`` with escalc's ``add``/``to`` rule applied for the rows flagged ``zero``."""
    if to == "all" or (to == "if0all" and zero.any()):
        return xi + add
    if to == "only0":
        return np.where(zero, xi + add, xi)
    return xi


def arm_outcomes(xi: np.ndarray, mi: np.ndarray, measure: str, add: float, to: str) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and sampling variance of one arm (metafor's ``escalc`` PLN, PLO, PR or PAS), with ``add``/``to``."""
    xi, mi = np.asarray(xi, dtype=float), np.asarray(mi, dtype=float)
    zero = (xi == 0) | (mi == 0)
    xi, mi = _corrected(xi, zero, add, to), _corrected(mi, zero, add, to)
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


def rate_arm_outcomes(xi: np.ndarray, ti: np.ndarray, measure: str, add: float,
                      to: str) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and sampling variance of one arm of incidence rates (metafor's ``escalc`` IRLN, IR or IRS)."""
    xi, ti = np.asarray(xi, dtype=float), np.asarray(ti, dtype=float)
    xi = _corrected(xi, xi == 0, add, to)
    rate = xi / ti
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "IRR":
            return np.log(rate), 1 / xi
        if measure == "IRD":
            return rate, xi / ti**2
        return np.sqrt(rate), 1 / (4 * ti)


def _point_sizes(vi: np.ndarray, plim: tuple[float, float]) -> np.ndarray:
    wi = np.sqrt(1 / vi)
    rng = wi.max() - wi.min()
    if rng <= np.sqrt(np.finfo(float).eps):
        return np.ones_like(wi)
    return (wi - wi.min()) / rng * (plim[1] - plim[0]) + plim[0]


def labbe_points(ai, bi, ci, di, measure: str, add: float = 0.5, to: str = "only0",
                 plim: tuple[float, float] = (0.5, 3.5)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Control-arm outcomes (x), treatment-arm outcomes (y) and metafor's relative point sizes.

    For the incidence-rate measures ("IRR", "IRD", "IRSD") the four arrays are ``x1i, x2i,
    t1i, t2i`` (events and person-times of the two groups).
    """
    if measure in _RATES:
        yt, vt = rate_arm_outcomes(ai, ci, measure, add, to)
        yc, vc = rate_arm_outcomes(bi, di, measure, add, to)
    else:
        yt, vt = arm_outcomes(ai, bi, measure, add, to)
        yc, vc = arm_outcomes(ci, di, measure, add, to)
    ok = np.isfinite(yt) & np.isfinite(yc) & np.isfinite(vt) & np.isfinite(vc)
    return yc[ok], yt[ok], _point_sizes((vt + vc)[ok], plim)


def _effect_line(beta: float, xs: np.ndarray, ys: np.ndarray, measure: str) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = min(xs.min(), ys.min()), max(xs.max(), ys.max())
    rng = hi - lo
    if measure in ("RD", "IRD", "IRSD"):
        c = np.linspace(-beta if beta <= 0 else 0.0, 1.0 if beta <= 0 else 1 - beta, 1000)
    elif measure in ("RR", "IRR"):
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
    add = (0.0 if measure in _NO_ADD else 0.5) if add is None else float(add)
    to = "only0" if to is None else to
    if to not in ("all", "only0", "if0all", "none"):
        raise ArgumentError(f"to must be 'all', 'only0', 'if0all' or 'none', not {to!r}")
    return measure, add, to, beta, drop00


def _table_cells(given: dict, data: Any) -> list[np.ndarray]:
    """The four cells, with ``bi = n1i - ai`` and ``di = n2i - ci`` when group sizes are given."""
    ai, bi, ci, di, n1i, n2i = (given[n] for n in ("ai", "bi", "ci", "di", "n1i", "n2i"))
    if (bi is None) == (n1i is None) or (di is None) == (n2i is None) or ai is None or ci is None:
        raise ArgumentError("labbe needs ai and ci with either bi and di (non-events) or n1i and n2i (group sizes)")
    a = column_values(ai, data, role="ai")
    c = column_values(ci, data, role="ci")
    b = column_values(bi, data, role="bi") if bi is not None else column_values(n1i, data, role="n1i") - a
    d = column_values(di, data, role="di") if di is not None else column_values(n2i, data, role="n2i") - c
    return [np.asarray(v, dtype=float) for v in (a, b, c, d)]


def _rate_cells(given: dict, data: Any, measure: str) -> list[np.ndarray]:
    """Events and person-times ``x1i, x2i, t1i, t2i`` of the two groups."""
    if any(given[n] is None for n in _RATE_NAMES):
        raise ArgumentError(f"labbe of measure {measure!r} needs x1i, x2i (events) and t1i, t2i (person-times)")
    return [np.asarray(column_values(given[n], data, role=n), dtype=float) for n in _RATE_NAMES]


def _study_cells(fit: Any, measure: str, given: dict, data: Any) -> list[np.ndarray]:
    """The counts given as arguments or, when none are, those an rma_mh fit keeps."""
    names = _RATE_NAMES if measure in _RATES else _TABLE_NAMES
    stored = getattr(fit, "counts", None)
    if stored and all(v is None for v in given.values()):
        return [np.asarray(stored[n], dtype=float) for n in names]
    cells = _rate_cells(given, data, measure) if measure in _RATES else _table_cells(given, data)
    n_rows = fit.k + fit.num_dropped if isinstance(fit, RmaKind) else stored[names[0]].shape[0]
    if any(c.ndim != 1 or c.shape != (n_rows,) for c in cells):
        raise DataError(f"{', '.join(names)} must have one value per study of the fit "
                        f"({n_rows} rows, k = {fit.k}); got lengths {', '.join(str(np.size(c)) for c in cells)}")
    return cells


def _drop_double_zero(cells: list[np.ndarray], measure: str) -> list[np.ndarray]:
    """Tables without events (or without non-events) in both groups set missing (``drop00``)."""
    a, b, c, d = cells
    both = (a == 0) & (b == 0) if measure in _RATES else ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    return [np.where(both, np.nan, v) for v in cells]


def labbe(fit: Any, *, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None,
          n2i: Any = None, x1i: Any = None, x2i: Any = None, t1i: Any = None, t2i: Any = None, data: Any = None,
          measure: str | None = None, add: float | None = None, to: str | None = None,
          transf: Callable[[np.ndarray], np.ndarray] | None = None, ax: Any = None) -> Any:
    r"""L'Abbe plot: group-1 against group-2 arm outcomes with the fitted effect (metafor's ``labbe``).

    Parameters
    ----------
    fit : RmaFit or RmaMhFit
        An intercept-only :func:`~multilevel.rma` fit of effect sizes computed from the same 2x2
        tables or incidence rates (e.g. by :func:`~multilevel.escalc`), or an
        :func:`~multilevel.rma_mh` fit, which keeps its tables: its measure, continuity
        correction and dropping of tables without events are used and no counts need be given.
        As metafor, :func:`~multilevel.rma_peto` fits are refused (their measure is "PETO").
    ai, bi, ci, di : str or array_like
        Events and non-events of the treatment (``ai``, ``bi``) and control (``ci``, ``di``) groups,
        as given to :func:`~multilevel.escalc` (for an rma_mh fit they replace its own tables).
    n1i, n2i : str or array_like
        Group sizes, instead of ``bi`` and ``di``.
    x1i, x2i, t1i, t2i : str or array_like
        Events and person-times of the two groups, for the measures "IRR", "IRD" and "IRSD".
    measure : {"RR", "OR", "RD", "AS", "IRR", "IRD", "IRSD"}
        The rma fit's measure (default "RR"); the arms are drawn as log risks, log odds,
        proportions, arcsine square-root proportions, log rates, rates or square-root rates.
        An rma_mh fit knows its measure.
    add, to
        Continuity correction of the arms, as :func:`~multilevel.escalc` (default: the rma_mh
        fit's, else 1/2 added to the arms with a zero count; none for "AS" and "IRSD").
    transf : callable, optional
        Applied to the arm outcomes and the lines (e.g. ``np.exp`` for risks).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ArgumentError
        Not an rma or rma_mh fit, a measure without arms (e.g. an rma_peto fit), missing counts.
    ModelSpecificationError
        An rma fit with moderators.
    DataError
        Counts not of one value per study of the fit.

    Notes
    -----
    Each study is a point :math:`(y_{2i}, y_{1i})` of its two arm outcomes (e.g. the log risks
    :math:`\log(c_i / n_{2i})` and :math:`\log(a_i / n_{1i})` for "RR"), sized by
    :math:`1/\sqrt{v_{1i} + v_{2i}}`; the dashed line :math:`y_1 = \hat\mu + y_2` is the
    fitted effect and the solid line :math:`y_1 = y_2` no effect.

    Examples
    --------
    >>> import multilevel as ml
    >>> bcg = ml.datasets.load("bcg")
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> fig = ml.labbe(ml.rma("yi", "vi", data=dat), ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> len(fig.axes[0].collections[0].get_offsets())
    13
    >>> fig = ml.labbe(ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, measure="OR"))
    >>> len(fig.axes[0].collections[0].get_offsets())
    13
    """
    measure, add, to, beta, drop00 = _fit_settings(fit, measure, add, to)
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i)
    cells = _study_cells(fit, measure, given, data)
    if drop00:
        cells = _drop_double_zero(cells, measure)
    x, y, size = labbe_points(*cells, measure, add, to)
    if x.size == 0:
        raise DataError("labbe: no study has finite arm outcomes to draw")
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
