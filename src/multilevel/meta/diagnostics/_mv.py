r"""Diagnostics of :func:`~multilevel.rma_mv` fits: leverages, standardized residuals, Cook's distances
and DFBETAS, per estimate or per cluster (metafor's ``hatvalues``, ``rstandard``,
``cooks.distance`` and ``dfbetas`` for ``rma.mv``).

With :math:`M` the marginal covariance and :math:`H = X (X^\top M^{-1} X)^{-1} X^\top M^{-1}`,
the residuals :math:`e = y - X\hat\beta` have covariance :math:`(I - H) M (I - H)^\top`.
Deleting a cluster refits the model without its estimates, starting from the full-data
variance components (metafor's ``reestimate = TRUE``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..._exceptions import ArgumentError
from ..multivariate._clusters import cluster_values
from ..multivariate._core import make_batch
from ..multivariate._fit import evaluate_at, optimize
from ..multivariate._predict import dense_marginal
from ..multivariate._terms import g_arrays
from ._tables import ClusterResiduals, StandardizedResiduals, numeric_frame

__all__ = ["hatvalues_mv", "rstandard_mv", "cooks_distance_mv", "dfbetas_mv"]

_EPS = np.finfo(float).eps


def _hat(fit: Any) -> tuple[np.ndarray, np.ndarray]:
    M = dense_marginal(fit)
    X = fit._eff.design.X
    MiX = np.linalg.solve(M, X)
    H = X @ np.linalg.solve(X.T @ MiX, MiX.T)
    return H, M


def hatvalues_mv(fit: Any, type: str = "diagonal") -> pd.Series | pd.DataFrame:
    """Leverages of an rma_mv fit, indexed by the estimates' labels, or the whole hat matrix."""
    H, _ = _hat(fit)
    labels = pd.Index(list(fit._eff.slab))
    if type == "matrix":
        return pd.DataFrame(H, index=labels, columns=labels)
    h = np.diag(H).copy()
    h[h > 1 - 10 * _EPS] = 1.0
    return pd.Series(h, index=labels, name="hat")


def _sorted_ids(values: np.ndarray) -> list:
    return sorted(pd.unique(pd.Series(values)).tolist())


def rstandard_mv(fit: Any, cluster: Any = None) -> StandardizedResiduals | ClusterResiduals:
    """Standardized residuals of an rma_mv fit; with ``cluster``, also each cluster's X^2 statistic."""
    H, M = _hat(fit)
    X, y = fit._eff.design.X, fit._eff.yi
    ei = y - X @ np.asarray(fit.coef_table[:, 0])
    ei[np.abs(ei) < 100 * _EPS] = 0.0
    ImH = np.eye(fit.k) - H
    ve = ImH @ M @ ImH.T
    sei = np.sqrt(np.diag(ve))
    frame = numeric_frame({"resid": ei, "se": sei, "z": ei / sei}, list(fit._eff.slab))
    if cluster is None:
        return StandardizedResiduals(frame, ("resid", "se", "z"))
    values = cluster_values(fit, cluster)
    ids = _sorted_ids(values)
    X2, sizes = np.full(len(ids), np.nan), np.zeros(len(ids), dtype=int)
    for j, cid in enumerate(ids):
        incl = values == cid
        sizes[j] = int(incl.sum())
        vei = ve[np.ix_(incl, incl)]
        if np.any(np.linalg.eigvalsh(vei) <= _EPS):
            continue
        X2[j] = float(ei[incl] @ np.linalg.solve(vei, ei[incl]))
    frame = frame.assign(cluster=pd.Series(values, index=frame.index).astype(object))
    obs = StandardizedResiduals(frame, ("resid", "se", "z", "cluster"))
    clusters = pd.DataFrame({"X2": X2, "k": sizes}, index=pd.Index([str(i) for i in ids]))
    return ClusterResiduals(obs, clusters)


def _subset_fit(fit: Any, keep: np.ndarray):
    """Components and coefficients of the model refitted to the estimates ``keep`` (None if it fails)."""
    eff = fit._eff
    V = eff.vi[np.ix_(keep, keep)] if eff.vi.ndim == 2 else eff.vi[keep]
    X = eff.design.X[keep]
    if np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    codes = [s.codes[keep] if corr is not None else np.unique(s.codes[keep], return_inverse=True)[1].reshape(-1)
             for s, corr in zip(fit._sigmas, fit._corr)]
    g, h = (_sub_g(g_arrays(t), keep) for t in (fit._g, fit._h))
    batch = make_batch(eff.yi[keep], X, V, codes, g, fit._corr, h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state = optimize(batch, fit._layout, fit._comps.values, ~fit._comps.fixed, reml=fit.method == "REML")
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return None
    if state is None:
        return None
    return state.nat, np.asarray(state.ev.beta, dtype=float)


def _sub_g(g: tuple | None, keep: np.ndarray) -> tuple | None:
    if g is None:
        return None
    inner, outer, *rest = g
    return (inner[keep], np.unique(outer[keep], return_inverse=True)[1].reshape(-1), *rest)


def _groups(fit: Any, cluster: Any) -> tuple[list[np.ndarray], list[str]]:
    if cluster is None:
        return [np.arange(fit.k) == i for i in range(fit.k)], list(fit._eff.slab)
    values = cluster_values(fit, cluster)
    ids = _sorted_ids(values)
    return [values == cid for cid in ids], [str(i) for i in ids]


def cooks_distance_mv(fit: Any, cluster: Any = None) -> pd.Series:
    """Cook's distances of an rma_mv fit, per estimate or per cluster (sorted by cluster)."""
    groups, labels = _groups(fit, cluster)
    beta = np.asarray(fit.coef_table[:, 0])
    svb = np.linalg.inv(fit.vb_array)
    out = np.full(len(groups), np.nan)
    for j, incl in enumerate(groups):
        res = _subset_fit(fit, ~incl)
        if res is not None:
            dfb = beta - res[1]
            out[j] = float(dfb @ svb @ dfb)
    return pd.Series(out, index=pd.Index(labels), name="cook_d")


def dfbetas_mv(fit: Any, cluster: Any = None) -> pd.DataFrame:
    r"""DFBETAS of an rma_mv fit: :math:`(\hat\beta - \hat\beta_{(j)}) / \sqrt{\mathrm{diag}\,V}`, with
    :math:`V` the full-data covariance of the coefficients at the components fitted without cluster ``j``."""
    groups, labels = _groups(fit, cluster)
    beta = np.asarray(fit.coef_table[:, 0])
    out = np.full((len(groups), fit.p), np.nan)
    for j, incl in enumerate(groups):
        res = _subset_fit(fit, ~incl)
        if res is None:
            continue
        ev = evaluate_at(fit._batch, fit._layout, res[0], reml=fit.method == "REML")
        if ev is not None:
            out[j] = (beta - res[1]) / np.sqrt(np.diag(ev.vb))
    return pd.DataFrame(out, index=pd.Index(labels), columns=list(fit.names))


def check_mv_cluster(cluster: Any) -> None:
    """Refuse a cluster argument that cannot be a column name or a vector."""
    if cluster is not None and not isinstance(cluster, (str, list, tuple, np.ndarray, pd.Series, pd.Index)):
        raise ArgumentError(f"cluster must be a column name or one value per estimate, not {type(cluster).__name__}")
