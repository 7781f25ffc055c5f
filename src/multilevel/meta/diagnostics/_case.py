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


def case_deletion(spec: Spec, beta: np.ndarray, vb: np.ndarray, tau2: float) -> CaseDeletion:
    """All of metafor's ``influence.rma.uni`` diagnostics for the model ``spec`` fitted at (beta, vb, tau2)."""
    y, v, X, A = spec.yi, spec.vi, spec.X, spec.weights
    k, p = X.shape
    out = {name: np.full(k, np.nan) for name in ("tau2_del", "QE_del", "delpred", "vdelpred", "s2w", "dffits",
                                                  "cook_d", "cov_r")}
    dfbs = np.full((k, p), np.nan)
    svb = np.linalg.inv(vb)
    det_full = np.linalg.det(vb)
    hat = hat_diagonal(X, v, tau2, A)
    if A is not None:
        Xa = X * A[:, None]
        stXAX = np.linalg.inv(X.T @ Xa)
        H = X @ stXAX @ Xa.T
    pred_full = X @ beta
    for i, res in enumerate(leave_one_out_fits(spec)):
        if res is None:
            continue
        t2 = res.tau2
        xi = X[i]
        out["tau2_del"][i], out["QE_del"][i], out["s2w"][i] = t2, res.QE, res.s2w
        out["delpred"][i] = xi @ res.beta
        out["vdelpred"][i] = xi @ res.vb @ xi
        if A is None:
            denom = hat[i] * (t2 + v[i])
            Xw = X / (v + t2)[:, None]
            vb_del = np.linalg.inv(X.T @ Xw)
        else:
            denom = float(np.sum(H[i] ** 2 * (t2 + v)))
            vb_del = stXAX @ (Xa.T @ (Xa * (v + t2)[:, None])) @ stXAX
        out["dffits"][i] = (pred_full[i] - out["delpred"][i]) / np.sqrt(res.s2w * denom)
        dfb = beta - res.beta
        dfbs[i] = dfb / np.sqrt(res.s2w * np.diag(vb_del))
        out["cook_d"][i] = dfb @ svb @ dfb
        out["cov_r"][i] = np.linalg.det(res.vb) / det_full
    resid = y - out["delpred"]
    resid[np.abs(resid) < 100 * _EPS] = 0.0
    se_resid = np.sqrt(v * out["s2w"] + out["vdelpred"] + out["tau2_del"] * out["s2w"])
    return CaseDeletion(resid / se_resid, resid, se_resid, out["dffits"], out["cook_d"], out["cov_r"],
                        out["tau2_del"], out["QE_del"], hat, weights_percent(v, tau2, A), dfbs, out["delpred"],
                        out["vdelpred"])


def flag_influential(cd: CaseDeletion, k: int, p: int) -> np.ndarray:
    """metafor's rule: |DFFITS| > 3 sqrt(p/(k-p)), P(chi2_p <= Cook's D) > 0.5, hat > 3p/k or any |DFBETAS| > 1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        crit_dffits = 3 * np.sqrt(p / (k - p)) if k > p else np.inf
        flags = (np.abs(cd.dffits) > crit_dffits) | (special.chdtr(p, cd.cook_d) > 0.5) \
            | (cd.hat > 3 * p / k) | np.any(np.abs(cd.dfbetas) > 1, axis=1)
    return flags
