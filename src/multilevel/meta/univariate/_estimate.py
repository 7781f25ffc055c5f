"""The model-fitting core of :func:`~._rma.rma`: everything a fit holds, computed from the effects.

:func:`fit_fields` returns the fields of :class:`~._rma.RmaFit` (arrays and numbers only; the
result class is made in :mod:`._rma`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ..._exceptions import ModelSpecificationError
from ..shared._btt import resolve_btt
from ..shared._input import EffectData, ModeratorsDesign
from ._core import estimate_tau2, fit_statistics, fixed_effects, heterogeneity

__all__ = ["fit_fields"]


def _btt(design: ModeratorsDesign) -> tuple[int, ...]:
    p = design.X.shape[1]
    if design.intercept and p > 1:
        return tuple(range(1, p))
    return tuple(range(p))


def _wald(beta, vb, btt, test, k, p, level):
    """z- or t-tests, confidence limits and the omnibus test of coefficients ``btt``."""
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    idx = np.asarray(btt)
    sub = vb[np.ix_(idx, idx)]
    QM = float(beta[idx] @ np.linalg.solve(sub, beta[idx]))
    alpha = 1 - level / 100
    if test == "knha":
        ddf = k - p
        QM /= len(idx)
        QMp = float(special.fdtrc(len(idx), ddf, QM)) if ddf > 0 else float("nan")
        pval = 2 * special.stdtr(ddf, -np.abs(zval))
        crit = float(-special.stdtrit(ddf, alpha / 2))
        return se, zval, pval, crit, QM, QMp, (len(idx), ddf), ddf
    QMp = float(special.chdtrc(len(idx), QM))
    pval = 2 * special.ndtr(-np.abs(zval))
    crit = float(-special.ndtri(alpha / 2))
    return se, zval, pval, crit, QM, QMp, (len(idx), None), None


def _r2(eff: EffectData, method: str, tau2: float, beta: np.ndarray) -> float | None:
    """metafor's R^2: relative reduction of tau^2 against the intercept-only model (FE: weighted adj. R^2)."""
    design = eff.design
    if design.int_only or not design.intercept:
        return None
    y, v, X = eff.yi, eff.vi, design.X
    if method in ("EE", "FE", "CE"):
        if np.var(y) == 0:
            return 0.0
        w = 1.0 / v if eff.weights is None else eff.weights
        fitted = X @ beta
        ybar = np.sum(w * y) / w.sum()
        r2 = 1 - np.sum(w * (y - fitted) ** 2) / np.sum(w * (y - ybar) ** 2)
        k, p = X.shape
        adj = 1 - (1 - r2) * (k - 1) / (k - p)
        return max(0.0, 100 * adj)
    try:
        tau2_re = estimate_tau2(y, v, np.ones((len(y), 1)), method).tau2
    except ModelSpecificationError:
        return float("nan")
    if tau2_re == 0:
        return 0.0
    return max(0.0, 100 * (tau2_re - tau2) / tau2_re)


def fit_fields(eff: EffectData, method: str, test: str, level: float, btt: Any = None) -> dict[str, Any]:
    """The fields of :class:`~._rma.RmaFit` for the effects ``eff`` (``method``, ``test`` checked)."""
    y, v, X = eff.yi, eff.vi, eff.design.X
    k, p = X.shape
    est = estimate_tau2(y, v, X, method)
    fe = fixed_effects(y, v, X, est.tau2, knha=test == "knha", weights=eff.weights)
    btt = _btt(eff.design) if btt is None else tuple(int(b) for b in resolve_btt(btt, eff.design.names,
                                                                                   eff.design.intercept))
    se, zval, pval, crit, QM, QMp, QMdf, ddf = _wald(fe.beta, fe.vb, btt, test, k, p, level)
    QE, vt, I2, H2 = heterogeneity(y, v, X, est.tau2, method in ("EE", "FE", "CE"))
    QEp = float(special.chdtrc(k - p, QE)) if k > p else 1.0
    parms = p + (0 if method in ("EE", "FE", "CE") else 1)
    fstats = fit_statistics(y, v, X, est.tau2, fe.rss, parms)
    coefs = np.vstack([fe.beta, se, zval, pval, fe.beta - crit * se, fe.beta + crit * se])
    coefs.flags.writeable = False
    vcov = np.array(fe.vb)
    vcov.flags.writeable = False
    return dict(
        coefficients=coefs, vcov_array=vcov, tau2=est.tau2, se_tau2=est.se, QE=QE, QEp=QEp, QM=QM, QMp=QMp,
        QMdf=QMdf, I2=float(I2), H2=float(H2), R2=_r2(eff, method, est.tau2, fe.beta), vt=float(vt), k=k, p=p,
        method=method, test=test, level=level, ddf=ddf, s2w=fe.s2w, btt=btt, yi=y, vi=v, design=eff.design,
        slab=eff.slab, fit_stats=fstats, num_dropped=eff.num_dropped, weights=eff.weights,
        dropped_rows=eff.dropped_rows)
