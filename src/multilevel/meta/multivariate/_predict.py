"""Predictions, BLUPs of the random effects and the multilevel I^2 of ``rma_mv`` fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy

from ..._exceptions import ModelSpecificationError
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


def predict(fit: Any, newmods: Any, level: float) -> pd.DataFrame:
    """metafor's ``predict.rma`` for ``rma.mv``: CI from ``vb``, PI adding the heterogeneity."""
    design = fit._eff.design
    tau_levels = None
    if newmods is None:
        if fit.int_only:
            nt = len(fit.tau2)
            Xn = np.ones((max(nt, 1), 1))
            if nt > 1:
                tau_levels = np.arange(nt)
        else:
            Xn = design.X
    else:
        if fit.int_only:
            raise ModelSpecificationError("newmods cannot be given for a model without moderators")
        Xn = design.new_design(newmods)
    Xn = np.atleast_2d(Xn)
    if Xn.shape[1] != fit.p:
        raise ModelSpecificationError(f"newmods gives {Xn.shape[1]} columns but the model has {fit.p}")
    beta, vb = fit.beta.to_numpy(), fit.vb.to_numpy()
    pred = Xn @ beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Xn, vb, Xn), 0.0))
    crit = crit_value(fit, level)
    het = np.full(pred.size, float(np.sum(fit.sigma2)))
    if len(fit.tau2) == 1:
        het += fit.tau2[0]
    elif len(fit.tau2) > 1:
        het = het + fit.tau2[tau_levels] if tau_levels is not None else np.full(pred.size, np.nan)
    if len(fit.gamma2) == 1:
        het += fit.gamma2[0]
    elif len(fit.gamma2) > 1:  # metafor needs the gamma2 level of each prediction
        het = np.full(pred.size, np.nan)
    sd = np.sqrt(se**2 + het)
    out = pd.DataFrame({"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se,
                        "pi_lb": pred - crit * sd, "pi_ub": pred + crit * sd})
    if tau_levels is not None:
        out["tau2_level"] = [fit._g.inner_levels[i] for i in tau_levels]
    return out


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
    terms = [(fit._g, bt, t2, rho), (fit._h, bt.h, g2, phi)]
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
