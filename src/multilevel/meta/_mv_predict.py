"""Predictions, BLUPs of the random effects and the multilevel I^2 of ``rma_mv`` fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._exceptions import ModelSpecificationError

__all__ = ["predict", "ranef", "i2", "dense_marginal", "crit_value"]


def crit_value(fit: Any, level: float) -> float:
    """Two-sided critical value of the fit's test (z, or t with k - p df)."""
    q = 1 - (1 - level / 100.0) / 2
    return float(stats.t.ppf(q, fit.k - fit.p)) if fit.test == "t" else float(stats.norm.ppf(q))


def dense_marginal(fit: Any) -> np.ndarray:
    """The ``k x k`` marginal variance ``M`` at the estimates (assembled from the cluster blocks)."""
    from ._mv_core import marginal
    s2, t2, rho = fit._layout.split(fit._comps.values)
    Mb, _, _ = marginal(fit._batch, s2, t2, rho, derivs=False)
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
    sd = np.sqrt(se**2 + het)
    out = pd.DataFrame({"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se,
                        "pi_lb": pred - crit * sd, "pi_ub": pred + crit * sd})
    if tau_levels is not None:
        out["tau2_level"] = [fit._g.inner_levels[i] for i in tau_levels]
    return out


def _blup_frame(G: np.ndarray, Z: np.ndarray | None, W: np.ndarray, IH: np.ndarray, ei: np.ndarray,
                crit: float, names: list[str]) -> pd.DataFrame:
    DZt = G @ Z.T if Z is not None else G
    DZtW = DZt @ W
    pred = DZtW @ ei
    pred[np.abs(pred) < 100 * np.finfo(float).eps] = 0.0
    vpred = G - DZtW @ IH @ (DZt.T)
    se = np.sqrt(np.maximum(np.diag(vpred), 0.0))
    return pd.DataFrame({"intrcpt": pred, "se": se, "pi_lb": pred - crit * se, "pi_ub": pred + crit * se},
                        index=names)


def ranef(fit: Any, level: float) -> dict[str, pd.DataFrame]:
    """BLUPs per ``~ 1 | f`` term (one row per level) and per ``inner | outer`` combination."""
    M = dense_marginal(fit)
    W = np.linalg.inv(M)
    X = fit._eff.design.X
    H = X @ fit.vb.to_numpy() @ X.T @ W
    IH = np.eye(fit.k) - H
    ei = fit._eff.yi - X @ fit.beta.to_numpy()
    crit = crit_value(fit, level)
    out: dict[str, pd.DataFrame] = {}
    for j, term in enumerate(fit._sigmas):
        Z = np.zeros((fit.k, term.nlevels))
        Z[np.arange(fit.k), term.codes] = 1.0
        known = fit._corr[j] if fit._corr else None
        D = fit.sigma2[j] * (np.eye(term.nlevels) if known is None else known)
        out[term.name] = _blup_frame(D, Z, W, IH, ei, crit, list(term.levels))
    g = fit._g
    if g is not None:
        lay = fit._layout
        s2, t2, rho = lay.split(fit._comps.values)
        sq = np.sqrt(t2[g.tau_map])
        R = np.eye(len(sq))
        off = g.rho_map >= 0
        R[off] = rho[g.rho_map[off]]
        Gl = sq[:, None] * R * sq[None, :]
        same = g.outer_codes[:, None] == g.outer_codes[None, :]
        Gk = Gl[g.inner_codes[:, None], g.inner_codes[None, :]] * same
        width = max(len(v) for v in g.inner_levels)
        labels = [f"{g.inner_levels[i].rjust(width)} | {g.outer_levels[o]}"
                  for i, o in zip(g.inner_codes, g.outer_codes)]
        frame = _blup_frame(Gk, None, W, IH, ei, crit, labels)
        keep = ~pd.Index(labels).duplicated()
        order = np.lexsort((g.inner_codes[keep], g.outer_codes[keep]))
        out[f"{g.inner_name} | {g.outer_name}"] = frame[keep].iloc[order]
    return out


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
    if len(fit.tau2):
        comps += list(fit.tau2)
        labels += ["tau2"] if len(fit.tau2) == 1 else [f"tau2.{j + 1}" for j in range(len(fit.tau2))]
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
