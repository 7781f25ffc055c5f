r"""Case-deletion diagnostics of a univariate meta-analysis (arrays in, arrays out).

For each study :math:`i` the model is refitted without it (giving
:math:`\hat\beta_{(i)}`, :math:`V_{(i)}`, :math:`\hat\tau^2_{(i)}`, :math:`s^2_{w(i)}`), and, as
metafor's ``influence.rma.uni`` (Viechtbauer & Cheung, 2010):

* externally studentized residual :math:`(y_i - x_i^\top\hat\beta_{(i)}) /
  \sqrt{s^2_{w(i)}(v_i + \hat\tau^2_{(i)}) + x_i^\top V_{(i)} x_i}`;
* DFFITS :math:`(x_i^\top\hat\beta - x_i^\top\hat\beta_{(i)}) / \sqrt{s^2_{w(i)} h_i (\hat\tau^2_{(i)} + v_i)}`;
* Cook's distance :math:`(\hat\beta - \hat\beta_{(i)})^\top V^{-1} (\hat\beta - \hat\beta_{(i)})`;
* covariance ratio :math:`\det V_{(i)} / \det V`;
* DFBETAS :math:`(\hat\beta - \hat\beta_{(i)}) / \sqrt{s^2_{w(i)}\,\mathrm{diag}\,
  (X^\top W_{(i)} X)^{-1}}` with :math:`W_{(i)}` the full-data weights at :math:`\hat\tau^2_{(i)}`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ._batch import batch_refit
from ._refit import Refit, Spec

__all__ = ["CaseDeletion", "case_deletion", "leave_one_out_fits", "hat_matrix", "weights_percent", "standardized", "flag_influential"]

_EPS = np.finfo(float).eps


def hat_matrix(X: np.ndarray, vi: np.ndarray, tau2: float, weights: np.ndarray | None) -> np.ndarray:
    """``H = X (X'WX)^{-1} X'W`` with ``W = diag(1/(v + tau2))`` or the user weights."""
    w = 1.0 / (vi + tau2) if weights is None else weights
    Xw = X * w[:, None]
    return X @ np.linalg.solve(X.T @ Xw, Xw.T)


def hat_diagonal(X: np.ndarray, vi: np.ndarray, tau2: float, weights: np.ndarray | None) -> np.ndarray:
    """Leverages ``diag(H)``, set to 1 within 10 eps of 1 (as R's ``lm.influence``)."""
    w = 1.0 / (vi + tau2) if weights is None else weights
    Xw = X * w[:, None]
    C = np.linalg.inv(X.T @ Xw)
    h = np.einsum("ij,jk,ik->i", X, C, Xw)
    h[h > 1 - 10 * _EPS] = 1.0
    return h


def weights_percent(vi: np.ndarray, tau2: float, weights: np.ndarray | None) -> np.ndarray:
    """Weights of the studies in percent (metafor's ``weights.rma.uni``)."""
    w = 1.0 / (vi + tau2) if weights is None else np.asarray(weights, dtype=float)
    return 100 * w / w.sum()


def standardized(yi, vi, X, beta, tau2, weights, *, conditional: bool = False):
    """Internally standardized residuals: (resid, se, z), marginal or conditional on the BLUPs."""
    H = hat_matrix(X, vi, tau2, weights)
    fitted = X @ beta
    if conditional:
        lam = tau2 / (tau2 + vi)
        ei = yi - (lam * yi + (1 - lam) * fitted)
        sei = np.sqrt(vi**2 / (vi + tau2) * (1 - np.diag(H)))
    else:
        ei = yi - fitted
        ei[np.abs(ei) < 100 * _EPS] = 0.0
        ImH = np.eye(len(yi)) - H
        sei = np.sqrt(np.einsum("ij,j,ij->i", ImH, vi + tau2, ImH))
    return ei, sei, ei / sei


@dataclass(frozen=True)
class CaseDeletion:
    """Arrays of the case-deletion diagnostics, one entry per study (NaN where a refit failed)."""

    rstudent: np.ndarray
    resid: np.ndarray
    se_resid: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    delpred: np.ndarray
    vdelpred: np.ndarray


def leave_one_out_fits(spec: Spec) -> list[Refit | None]:
    """The model refitted without each study in turn."""
    k = spec.yi.shape[0]
    return batch_refit(spec, ~np.eye(k, dtype=bool))


def _stacked(fits: list[Refit | None], p: int) -> tuple[np.ndarray, ...]:
    """Arrays of the leave-one-out fits (NaN rows where a refit failed): beta, vb, tau2, QE, s2w."""
    k = len(fits)
    beta, vb = np.full((k, p), np.nan), np.full((k, p, p), np.nan)
    tau2, QE, s2w = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    for i, res in enumerate(fits):
        if res is not None:
            beta[i], vb[i], tau2[i], QE[i], s2w[i] = res.beta, res.vb, res.tau2, res.QE, res.s2w
    return beta, vb, tau2, QE, s2w


def _full_vb_at(X: np.ndarray, v: np.ndarray, t2: np.ndarray, A: np.ndarray | None) -> np.ndarray:
    """Covariance of the full-data coefficients at each deleted tau^2 (metafor's ``vb.del``)."""
    ok = np.isfinite(t2)
    out = np.full((t2.shape[0], X.shape[1], X.shape[1]), np.nan)
    if A is None:
        Xw = X[None] / (v[None] + t2[ok, None])[:, :, None]
        out[ok] = np.linalg.inv(np.einsum("skp,kq->spq", Xw, X))
    else:
        Xa = X * A[:, None]
        stXAX = np.linalg.inv(X.T @ Xa)
        meat = np.einsum("kp,sk,kq->spq", Xa, v[None] + t2[ok, None], Xa)
        out[ok] = stXAX @ meat @ stXAX
    return out


def case_deletion(spec: Spec, beta: np.ndarray, vb: np.ndarray, tau2: float) -> CaseDeletion:
    """All of metafor's ``influence.rma.uni`` diagnostics for the model ``spec`` fitted at (beta, vb, tau2)."""
    y, v, X, A = spec.yi, spec.vi, spec.X, spec.weights
    k, p = X.shape
    b_del, vb_d, t2, QE, s2w = _stacked(leave_one_out_fits(spec), p)
    hat = hat_diagonal(X, v, tau2, A)
    delpred = np.einsum("kp,kp->k", X, b_del)
    vdelpred = np.einsum("kp,kpq,kq->k", X, vb_d, X)
    if A is None:
        denom = hat * (t2 + v)
    else:
        Xa = X * A[:, None]
        H = X @ np.linalg.solve(X.T @ Xa, Xa.T)
        denom = np.einsum("ik,ik,ik->i", H, H, t2[:, None] + v[None])
    dffits = (X @ beta - delpred) / np.sqrt(s2w * denom)
    dfb = beta[None] - b_del
    dfbs = dfb / np.sqrt(s2w[:, None] * np.diagonal(_full_vb_at(X, v, t2, A), axis1=1, axis2=2))
    cook_d = np.einsum("kp,pq,kq->k", dfb, np.linalg.inv(vb), dfb)
    cov_r = np.full(k, np.nan)
    ok = np.isfinite(t2)
    cov_r[ok] = np.linalg.det(vb_d[ok]) / np.linalg.det(vb)
    resid = y - delpred
    resid[np.abs(resid) < 100 * _EPS] = 0.0
    se_resid = np.sqrt(v * s2w + vdelpred + t2 * s2w)
    return CaseDeletion(resid / se_resid, resid, se_resid, dffits, cook_d, cov_r, t2, QE, hat,
                        weights_percent(v, tau2, A), dfbs, delpred, vdelpred)


def flag_influential(cd: CaseDeletion, k: int, p: int) -> np.ndarray:
    """metafor's rule: |DFFITS| > 3 sqrt(p/(k-p)), P(chi2_p <= Cook's D) > 0.5, hat > 3p/k or any |DFBETAS| > 1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        crit_dffits = 3 * np.sqrt(p / (k - p)) if k > p else np.inf
        flags = (np.abs(cd.dffits) > crit_dffits) | (special.chdtr(p, cd.cook_d) > 0.5) \
            | (cd.hat > 3 * p / k) | np.any(np.abs(cd.dfbetas) > 1, axis=1)
    return flags
