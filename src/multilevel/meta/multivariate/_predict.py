"""Predictions, BLUPs of the random effects and the multilevel I^2 of ``rma_mv`` fits."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy

from ..._exceptions import ModelSpecificationError, MultilevelWarning
from ..shared._input import new_rows
from ._core import marginal, _g_part
from ._fit import evaluate_at

__all__ = ["predict", "ranef", "i2", "dense_marginal", "crit_value"]


def crit_value(fit: Any, level: float) -> float:
    """Two-sided critical value of the fit's test (z, or t with k - p df)."""
    q = 1 - (1 - level / 100.0) / 2
    return float(scipy.stats.t.ppf(q, fit.k - fit.p)) if fit.test == "t" else float(scipy.stats.norm.ppf(q))


def dense_marginal(fit: Any) -> np.ndarray:
    """The ``k x k`` marginal variance ``M`` at the estimates (assembled from the cluster blocks)."""
    s2, t2, rho = fit._layout.split(fit._comps.values)
    g2, phi = fit._layout.split_h(fit._comps.values)
    Mb, _, _ = marginal(fit._batch, s2, t2, rho, False, g2, phi)
    M = np.zeros((fit.k, fit.k))
    for b, rows in enumerate(fit._batch.idx):
        r = rows[rows >= 0]
        M[np.ix_(r, r)] = Mb[b, : r.size, : r.size]
    return M


def predict(fit: Any, newmods: Any, level: float, tau2_levels: Any = None,
            gamma2_levels: Any = None, newdata: Any = None, *, vb: np.ndarray | None = None,
            row_df: Any = None) -> pd.DataFrame:
    """metafor's ``predict.rma`` for ``rma.mv``: CI from ``vb``, PI adding the heterogeneity.

    With several ``tau2`` (``gamma2``) values (HCS, HAR, DIAG, UN) the
    prediction interval needs the level of the inner factor whose variance it
    adds: ``tau2_levels`` / ``gamma2_levels`` give it by label or by 1-based
    position, one for all predictions or one each. Without ``newmods`` an
    intercept-only model predicts at every level (every combination with two
    terms), and a model with moderators gives the fitted values, each with the
    level of its own estimate (as metafor).

    ``vb`` replaces the fit's covariance matrix of the coefficients and ``row_df`` (a callable
    from the new design rows to one t df per row) its critical value: a cluster-robust fit's
    predictions (metafor's ``predict`` of a ``robust.rma`` object).
    """
    given = new_rows(fit._eff.design, newmods, newdata)  # newdata: a table of moderator values
    if given is not None:
        Xn, tl, gl = given[0], tau2_levels, gamma2_levels
    else:
        Xn, tl, gl = _new_design(fit, newmods, tau2_levels, gamma2_levels)
    if Xn.shape[1] != fit.p:
        raise ModelSpecificationError(f"newmods gives {Xn.shape[1]} columns but the model has {fit.p}")
    n = Xn.shape[0]
    tl = _levels(fit._g, len(fit.tau2), tl, n, "tau2_levels")
    gl = _levels(fit._h, len(fit.gamma2), gl, n, "gamma2_levels")
    beta = fit.beta.to_numpy()
    vb = fit.vb.to_numpy() if vb is None else vb
    pred = Xn @ beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Xn, vb, Xn), 0.0))
    if row_df is None:
        crit = crit_value(fit, level)
    else:
        crit = scipy.stats.t.ppf(1 - (1 - level / 100.0) / 2, row_df(Xn))
    het = np.full(n, float(np.sum(fit.sigma2)))
    for values, idx in ((fit.tau2, tl), (fit.gamma2, gl)):
        if len(values) == 1:
            het = het + values[0]
        elif len(values) > 1:
            het = het + (values[idx] if idx is not None else np.nan)
    sd = np.sqrt(se**2 + het)
    out = pd.DataFrame({"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se,
                        "pi_lb": pred - crit * sd, "pi_ub": pred + crit * sd})
    if len(fit.tau2) > 1:
        out["tau2_level"] = [fit._g.inner_levels[i] for i in tl] if tl is not None else None
    if len(fit.gamma2) > 1:
        out["gamma2_level"] = [fit._h.inner_levels[i] for i in gl] if gl is not None else None
    if given is not None:
        out.index = given[1]
    return out


def _new_design(fit: Any, newmods: Any, tau2_levels: Any, gamma2_levels: Any) -> tuple[np.ndarray, Any, Any]:
    """Design rows of the predictions and the (possibly default) levels of tau2 and gamma2 (1-based)."""
    nt, ng = len(fit.tau2), len(fit.gamma2)
    if newmods is not None:
        if fit.int_only:
            raise ModelSpecificationError("newmods cannot be given for a model without moderators")
        return np.atleast_2d(fit._eff.design.new_design(newmods)), tau2_levels, gamma2_levels
    if not fit.int_only:
        if tau2_levels is not None or gamma2_levels is not None:
            warnings.warn("tau2_levels and gamma2_levels are ignored for the fitted values (each estimate "
                          "uses the level of its own inner factor)", MultilevelWarning, stacklevel=4)
        rows = lambda term, m: None if term is None or m <= 1 else term.inner_codes + 1  # noqa: E731
        return fit._eff.design.X, rows(fit._g, nt), rows(fit._h, ng)
    if fit._h is not None and (tau2_levels is None) != (gamma2_levels is None):
        raise ModelSpecificationError("give both tau2_levels and gamma2_levels, or neither")
    if tau2_levels is None and gamma2_levels is None:
        if fit._h is not None:
            tl = np.repeat(np.arange(1, nt + 1), max(ng, 1)) if nt > 1 else None
            gl = np.tile(np.arange(1, ng + 1), max(nt, 1)) if ng > 1 else None
            return np.ones((max(nt, 1) * max(ng, 1), 1)), tl, gl
        return np.ones((max(nt, 1), 1)), (np.arange(1, nt + 1) if nt > 1 else None), None
    given = tau2_levels if tau2_levels is not None else gamma2_levels
    return np.ones((np.atleast_1d(np.asarray(given, dtype=object)).size, 1)), tau2_levels, gamma2_levels


def _levels(term: Any, num: int, given: Any, n: int, name: str) -> np.ndarray | None:
    """0-based level of each prediction: labels (unique prefixes, as R's pmatch) or 1-based positions."""
    if given is None or num <= 1:
        return None
    values = np.atleast_1d(np.asarray(given, dtype=object))
    if values.size == 1:
        values = np.repeat(values, n)
    if values.size != n:
        raise ModelSpecificationError(f"{name} has {values.size} values but there are {n} predictions")
    labels = list(term.inner_levels)
    out = np.empty(n, dtype=int)
    for j, v in enumerate(values):
        if isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool):
            pos = int(round(float(v)))
            if not 1 <= pos <= len(labels):
                raise ModelSpecificationError(f"{name}[{j + 1}] = {v} is not a level position (1 to {len(labels)})")
            out[j] = pos - 1
            continue
        out[j] = _pmatch(str(v), labels, name, j)
    return out


def _pmatch(value: str, labels: list[str], name: str, j: int) -> int:
    if value in labels:
        return labels.index(value)
    hits = [i for i, lab in enumerate(labels) if lab.startswith(value)]
    if len(hits) != 1:
        raise ModelSpecificationError(f"{name}[{j + 1}] = {value!r} is not a level of the inner factor "
                                      f"({', '.join(labels)})")
    return hits[0]


def _frame(pred: np.ndarray, var: np.ndarray, crit: float, names: list[str]) -> pd.DataFrame:
    pred = np.where(np.abs(pred) < 100 * np.finfo(float).eps, 0.0, pred)
    se = np.sqrt(np.maximum(var, 0.0))
    return pd.DataFrame({"intrcpt": pred, "se": se, "pi_lb": pred - crit * se, "pi_ub": pred + crit * se},
                        index=names)


def ranef(fit: Any, level: float) -> dict[str, pd.DataFrame]:
    """BLUPs per ``~ 1 | f`` term (one row per level) and per ``inner | outer`` combination.

    With ``P = W - W X B X' W`` (``W = M^{-1}``, ``B = (X'WX)^{-1}``) the BLUP of
    the effects ``u = D Z' W e`` has prediction variance ``D - D Z' P Z D``
    (metafor's ``ranef.rma.mv``); everything is accumulated over the blocks
    of ``M``, so no ``k x k`` matrix is formed.
    """
    bt = fit._batch
    s2, t2, rho = fit._layout.split(fit._comps.values)
    g2, phi = fit._layout.split_h(fit._comps.values)
    Minv = evaluate_at(bt, fit._layout, fit._comps.values, reml=fit.method == "REML").Minv
    mask = bt.idx >= 0
    rows = bt.idx[mask]
    safe = np.where(mask, bt.idx, 0)
    e = fit._eff.yi - fit._eff.design.X @ fit.beta.to_numpy()
    We = np.einsum("bij,bj->bi", Minv, np.where(mask, e[safe], 0.0))
    WX = Minv @ bt.X
    B = fit.vb.to_numpy()
    crit = crit_value(fit, level)
    out: dict[str, pd.DataFrame] = {}
    for j, term in enumerate(fit._sigmas):
        out[term.name] = _sigma_blups(fit, j, term, Minv, We, WX, B, mask, rows, safe, crit)
    terms = [(fit._g, bt.g, t2, rho), (fit._h, bt.h, g2, phi)]
    for term, block, var_, cor_ in terms:
        if term is None:
            continue
        MG = _g_part(block, var_, cor_, False, [], {})
        var = np.einsum("bii->bi", MG) - np.einsum("bij,bjk,bki->bi", MG, Minv, MG)
        GWX = MG @ WX
        var = var + np.einsum("bip,pq,biq->bi", GWX, B, GWX)
        pred = np.einsum("bij,bj->bi", MG, We)
        out.update(_g_blups(term, _scatter(pred, mask, rows, fit.k), _scatter(var, mask, rows, fit.k), crit))
    return out


def _scatter(values: np.ndarray, mask: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    out = np.empty(k)
    out[rows] = values[mask]
    return out


def _sigma_blups(fit: Any, j: int, term: Any, Minv: np.ndarray, We: np.ndarray, WX: np.ndarray, B: np.ndarray,
                 mask: np.ndarray, rows: np.ndarray, safe: np.ndarray, crit: float) -> pd.DataFrame:
    L, k = term.nlevels, fit.k
    codes = term.codes
    ZWe = np.bincount(codes, _scatter(We, mask, rows, k), minlength=L)
    ZWX = np.zeros((L, fit.p))
    np.add.at(ZWX, codes, _rows(WX, mask, rows, k))
    s2 = fit.sigma2[j]
    known = fit._corr[j] if fit._corr else None
    lev = np.where(mask, codes[safe], -1)
    if known is None:
        same = (lev[:, :, None] == lev[:, None, :]) & mask[:, :, None] & mask[:, None, :]
        zwz = np.bincount(codes, _scatter((Minv * same).sum(axis=2), mask, rows, k), minlength=L)
        var = s2 - s2**2 * (zwz - np.einsum("lp,pq,lq->l", ZWX, B, ZWX))
        return _frame(s2 * ZWe, var, crit, list(term.levels))
    zwz = np.zeros((L, L))
    pair = mask[:, :, None] & mask[:, None, :]
    la = np.broadcast_to(lev[:, :, None], Minv.shape)[pair]
    lb = np.broadcast_to(lev[:, None, :], Minv.shape)[pair]
    np.add.at(zwz, (la, lb), Minv[pair])
    D = s2 * known
    zpz = zwz - ZWX @ B @ ZWX.T
    return _frame(D @ ZWe, np.diag(D - D @ zpz @ D), crit, list(term.levels))


def _rows(values: np.ndarray, mask: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((k,) + values.shape[2:])
    out[rows] = values[mask]
    return out


def _g_blups(g: Any, pred: np.ndarray, var: np.ndarray, crit: float) -> dict[str, pd.DataFrame]:
    width = max(len(v) for v in g.inner_levels)
    labels = [f"{g.inner_levels[i].rjust(width)} | {g.outer_levels[o]}" for i, o in zip(g.inner_codes, g.outer_codes)]
    frame = _frame(pred, var, crit, labels)
    keep = ~pd.Index(labels).duplicated()
    order = np.lexsort((g.inner_codes[keep], g.outer_codes[keep]))
    return {f"{g.inner_name} | {g.outer_name}": frame[keep].iloc[order]}


def i2(fit: Any) -> pd.Series:
    """Multilevel I^2 with the typical sampling variance ``(k - p) / tr(P)``, ``W = diag(1 / v_i)``."""
    vi = np.diag(fit._eff.vi) if fit._eff.vi.ndim == 2 else fit._eff.vi
    X = fit._eff.design.X
    w = 1.0 / vi
    XtWX = X.T @ (X * w[:, None])
    trP = float(np.sum(w) - np.trace(np.linalg.solve(XtWX, (X * w[:, None] ** 2).T @ X)))
    vt = (fit.k - fit.p) / trP
    names = [t.name for t in fit._sigmas]
    comps = list(fit.sigma2)
    labels = [f"sigma2.{j + 1}" if len(names) > 1 else "sigma2" for j in range(len(names))]
    for kind, values in (("tau2", fit.tau2), ("gamma2", fit.gamma2)):
        comps += list(values)
        labels += [kind] if len(values) == 1 else [f"{kind}.{j + 1}" for j in range(len(values))]
    total = float(np.sum(comps))
    values = [100 * total / (total + vt)] + [100 * c / (total + vt) for c in comps]
    index = ["total"] + labels
    if fit._g is not None and fit._g.struct == "CS" and len(fit.rho):
        t2, r = fit.tau2[0], fit.rho[0]
        values += [100 * r * t2 / (total + vt), 100 * (1 - r) * t2 / (total + vt)]
        index += ["tau2.between", "tau2.within"]
    out = pd.Series(values, index=index, name="I2")
    out.attrs["typical_v"] = vt
    return out
