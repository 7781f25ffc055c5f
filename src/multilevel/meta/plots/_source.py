"""What the forest and funnel plots draw, read from a fit or from an effect-size table.

The plots accept three kinds of objects, as metafor's ``forest()`` and
``funnel()`` do:

* an :class:`~multilevel.RmaFit` (metafor's ``rma.uni``),
* an :class:`~multilevel.RmaMvFit` (``rma.mv``): the sampling variances are the
  diagonal of ``V`` and the weights the diagonal of ``M^{-1}``,
* a table with ``yi`` and ``vi`` columns, such as :func:`~multilevel.escalc`
  returns (metafor's ``forest.default(yi, vi)`` and ``funnel.default(yi, vi)``):
  no model, so no summary and a reference line at 0.

Everything else raises :class:`~multilevel._exceptions.UnsupportedObjectError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._exceptions import ArgumentError, UnsupportedObjectError
from ..._protocol import level_percent
from ..multivariate._predict import dense_marginal
from ..shared._input import prepare_effects

__all__ = ["ForestData", "FunnelData", "forest_data", "funnel_data"]

_FIXED_METHODS = ("FE", "EE", "CE")


@dataclass(frozen=True, eq=False)
class ForestData:
    """The rows of a forest plot (internal).

    ``summary`` holds ``pred, ci_lb, ci_ub, pi_lb, pi_ub`` of the pooled estimate
    (intercept-only models); ``fitted`` the columns ``pred, ci_lb, ci_ub`` of each
    estimate's fitted value (models with moderators). ``weights`` are the model
    weights (metafor's ``weights(x)``) that set the marker sizes.
    """

    yi: np.ndarray
    vi: np.ndarray
    labels: tuple[str, ...]
    weights: np.ndarray
    level: float
    summary: pd.Series | None = None
    fitted: pd.DataFrame | None = None
    model_label: str | None = None
    random: bool = False


@dataclass(frozen=True, eq=False)
class FunnelData:
    """The points of a funnel plot and its centre (internal)."""

    x: np.ndarray
    se: np.ndarray
    centre: float
    level: float
    xlabel: str


def _kind(obj: Any, plot: str) -> str:
    kind = getattr(type(obj), "_plot_kind", None)  # RmaFit: "rma", RmaMvFit: "rma_mv"
    if kind in ("rma", "rma_mv"):
        return kind
    if isinstance(obj, pd.DataFrame):
        missing = [c for c in ("yi", "vi") if c not in obj.columns]
        if not missing:
            return "table"
        raise UnsupportedObjectError(
            f"{plot}() needs a meta-analysis fit (rma, rma_mv) or a table with columns 'yi' and 'vi' "
            f"(as escalc returns); the DataFrame has no column {' or '.join(repr(c) for c in missing)}")
    what = "None" if obj is None else f"a {type(obj).__name__} object"
    raise UnsupportedObjectError(
        f"{plot}() draws rma and rma_mv fits and effect-size tables with columns 'yi' and 'vi'; got {what}")


def _level(level: Any, default: float) -> float:
    return default if level is None else level_percent(level)


# ----------------------------------------------------------------------------- model quantities
def _mv_blocks(fit: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The diagonal blocks of the marginal variance ``M`` of an rma_mv fit, with their rows."""
    M = dense_marginal(fit)
    blocks = []
    for rows in fit._batch.idx:
        r = rows[rows >= 0]
        blocks.append((r, M[np.ix_(r, r)]))
    return blocks


def _mv_weights(fit: Any) -> np.ndarray:
    """metafor's ``weights.rma.mv``: the diagonal of ``W = M^{-1}`` in percent."""
    w = np.empty(fit.k)
    for rows, block in _mv_blocks(fit):
        w[rows] = np.diag(np.linalg.inv(block))
    return 100 * w / w.sum()


def _rma_weights(fit: Any) -> np.ndarray:
    """metafor's ``weights.rma.uni``: user weights or ``1 / (v_i + tau^2)``, in percent."""
    w = fit.weights if fit.weights is not None else 1.0 / (fit.vi + fit.tau2)
    return 100 * w / w.sum()


def _rma_residuals(fit: Any) -> tuple[np.ndarray, np.ndarray]:
    """metafor's ``rstandard.rma.uni``: ``e = y - X b`` and ``sqrt(diag((I - H) M (I - H)'))``.

    ``H = X (X'AX)^{-1} X'A`` with the model weights ``A`` (user weights or
    ``M^{-1}``), ``M = diag(v_i + tau^2)``; ``vb`` is not used because
    Knapp-Hartung rescales it.
    """
    X = fit.design.X
    m = fit.vi + fit.tau2
    a = fit.weights if fit.weights is not None else 1.0 / m
    hat = X @ np.linalg.solve(X.T @ (a[:, None] * X), (X * a[:, None]).T)
    resid = fit.yi - X @ fit.beta.to_numpy()
    imh = np.eye(fit.k) - hat
    return resid, np.sqrt((imh**2) @ m)


def _mv_residuals(fit: Any) -> tuple[np.ndarray, np.ndarray]:
    """metafor's ``rstandard.rma.mv``: ``(I - H) M (I - H)' = M - X B X'`` with ``B = (X'WX)^{-1}``."""
    X = fit._eff.design.X
    mdiag = np.empty(fit.k)
    for rows, block in _mv_blocks(fit):
        mdiag[rows] = np.diag(block)
    B = fit.vb.to_numpy()
    resid = fit._eff.yi - X @ fit.beta.to_numpy()
    return resid, np.sqrt(np.maximum(mdiag - np.einsum("ij,jk,ik->i", X, B, X), 0.0))


# ----------------------------------------------------------------------------- forest
def _labels(slab: Any, default: tuple[str, ...], frame: pd.DataFrame | None) -> tuple[str, ...]:
    if slab is None:
        return default
    if isinstance(slab, str):
        if frame is None or slab not in frame.columns:
            where = "the data of the fit" if frame is not None else "the fit (it keeps no data)"
            raise ArgumentError(f"slab={slab!r} is not a column of {where}; give one label per estimate")
        return tuple(str(v) for v in frame[slab])
    values = tuple(str(v) for v in slab)
    if len(values) != len(default):
        raise ArgumentError(f"slab has {len(values)} labels but the plot has {len(default)} estimates")
    return values


def _model_rows(fit: Any, level: float) -> dict[str, Any]:
    """The summary (intercept-only model) or the fitted values (moderators) at ``level``."""
    pred = fit.predict(level=level)
    if fit.int_only:
        return {"summary": pred.iloc[0]}  # with several tau^2 levels: the first, as metafor
    return {"fitted": pred[["pred", "ci_lb", "ci_ub"]].reset_index(drop=True)}


def forest_data(obj: Any, *, level: Any = None, slab: Any = None) -> ForestData:
    """The rows of the forest plot of ``obj`` (see the module docstring for what is accepted)."""
    kind = _kind(obj, "forest")
    if kind == "table":
        eff = prepare_effects("yi", "vi", data=obj, slab=slab)
        return ForestData(eff.yi, eff.vi, eff.slab, 1.0 / eff.vi, _level(level, 95.0))
    lev = _level(level, obj.level)
    if kind == "rma":
        labels = _labels(slab, obj.slab, None)
        return ForestData(obj.yi, obj.vi, labels, _rma_weights(obj), lev, **_model_rows(obj, lev),
                          model_label=f"{obj.method} Model" if obj.method in _FIXED_METHODS else "RE Model",
                          random=obj.method not in _FIXED_METHODS)
    eff = obj._eff
    vi = np.diag(eff.vi) if eff.vi.ndim == 2 else eff.vi
    return ForestData(eff.yi, vi, _labels(slab, eff.slab, eff.frame), _mv_weights(obj), lev,
                      **_model_rows(obj, lev), model_label="RE Model", random=True)


# ----------------------------------------------------------------------------- funnel
def funnel_data(obj: Any, *, level: Any = None) -> FunnelData:
    """Effects and standard errors of the funnel plot, centred at the fixed estimate.

    Intercept-only models: the observed effects against ``sqrt(v_i)`` around
    the estimate. Models with moderators: the residuals against their standard
    errors (metafor's ``rstandard``) around 0. Tables: ``yi`` against
    ``sqrt(vi)`` around 0.
    """
    kind = _kind(obj, "funnel")
    if kind == "table":
        eff = prepare_effects("yi", "vi", data=obj)
        return FunnelData(eff.yi, np.sqrt(eff.vi), 0.0, _level(level, 95.0), "Observed Outcome")
    lev = _level(level, obj.level)
    if obj.int_only:
        yi, vi = (obj.yi, obj.vi) if kind == "rma" else (obj._eff.yi, obj._eff.vi)
        vi = np.diag(vi) if vi.ndim == 2 else vi
        return FunnelData(np.asarray(yi, float), np.sqrt(vi), float(obj.beta.iloc[0]), lev, "Observed Outcome")
    resid, se = _rma_residuals(obj) if kind == "rma" else _mv_residuals(obj)
    return FunnelData(resid, se, 0.0, lev, "Residual Value")
