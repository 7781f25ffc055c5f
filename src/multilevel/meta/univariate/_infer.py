"""Inference after an :func:`~multilevel.rma` fit: Q-profile intervals, predictions, BLUPs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from ..._exceptions import ConvergenceWarning, ModelSpecificationError
from ..shared._input import new_rows
from ..shared._roots import r_uniroot
from ._core import qe_at

if TYPE_CHECKING:  # pragma: no cover
    from ._rma import RmaFit

__all__ = ["qprofile_confint", "qprofile_limits", "predict", "blup"]


def qprofile_limits(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, level: float
                    ) -> tuple[float, float]:
    r"""Q-profile confidence limits for tau^2 (Viechtbauer, 2007).

    The limits solve :math:`Q(\tau^2) = \chi^2_{k-p}` quantiles, where
    :math:`Q(\tau^2) = y^\top P(\tau^2) y` decreases in :math:`\tau^2`; they are
    truncated to ``[0, max(100, 10 tau2)]`` as in metafor and found with
    Brent's method at ``uniroot``'s tolerance.
    """
    k, p = X.shape
    alpha = 1 - level / 100
    crit_u = float(special.chdtri(k - p, alpha / 2))
    crit_l = float(special.chdtri(k - p, 1 - alpha / 2))
    lo_b, hi_b = min(0.0, tau2), max(100.0, tau2 * 10, min(0.0, tau2) * 10)
    q_hi, q_lo = qe_at(hi_b, y, v, X), qe_at(lo_b, y, v, X)
    fn = lambda target: (lambda t: qe_at(t, y, v, X) - target)  # noqa: E731
    if q_lo < crit_l:
        lb = ub = lo_b
    else:
        ub = hi_b if q_hi > crit_l else _root(fn(crit_l), lo_b, hi_b, "upper")
    if q_hi > crit_u:
        lb, ub = hi_b, max(tau2, ub)
    elif q_lo < crit_u:
        lb = lo_b
    else:
        lb = _root(fn(crit_u), lo_b, hi_b, "lower")
    return lb, ub


def _root(fn: Callable[[float], float], lo: float, hi: float, which: str) -> float:
    try:
        return r_uniroot(fn, lo, hi, maxiter=1000)
    except ValueError:
        warnings.warn(f"the {which} Q-profile limit for tau^2 could not be found", ConvergenceWarning,
                      stacklevel=4)
        return float("nan")


def qprofile_confint(fit: RmaFit, level: float) -> pd.DataFrame:
    """DataFrame indexed ``tau2, tau, I2, H2`` with ``estimate, ci_lb, ci_ub`` (metafor's ``confint.rma.uni``)."""
    if fit.fixed_model:
        raise ModelSpecificationError(f"a {fit.method} model has no heterogeneity variance to profile")
    lb, ub = qprofile_limits(fit.yi, fit.vi, fit.design.X, fit.tau2, level)
    t2 = np.array([fit.tau2, lb, ub])
    vt = fit.vt
    out = np.vstack([t2, np.sqrt(np.where(t2 >= 0, t2, np.nan)),
                     [fit.I2, 100 * lb / (vt + lb), 100 * ub / (vt + ub)],
                     [fit.H2, lb / vt + 1, ub / vt + 1]])
    return pd.DataFrame(out, index=["tau2", "tau", "I2", "H2"], columns=["estimate", "ci_lb", "ci_ub"])


def _crit(fit: RmaFit, level: float, df: float | None = None) -> float:
    alpha = 1 - level / 100
    if df is not None:
        return float(-special.stdtrit(df, alpha / 2))
    if fit.test == "knha":
        return float(-special.stdtrit(fit.k - fit.p, alpha / 2))
    return float(-special.ndtri(alpha / 2))


def _sorted(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(lo, hi), np.maximum(lo, hi)


def predict(fit: RmaFit, newmods: Any, *, transf: Callable[[np.ndarray], np.ndarray] | None,
            level: float, vb: np.ndarray | None = None, df: float | None = None, newdata: Any = None) -> pd.DataFrame:
    """Predicted values with CI and PI (metafor's ``predict.rma``, default prediction-interval type);
    ``vb`` and ``df`` replace the fit's covariance matrix and test (cluster-robust inference);
    ``newdata`` (a table of moderator values, indexing the result) is the alternative to ``newmods``."""
    given = new_rows(fit.design, newmods, newdata)
    if given is not None:
        Xn, index = given
    elif newmods is None:
        if fit.int_only:
            Xn, index = np.ones((1, 1)), pd.RangeIndex(1)
        else:
            Xn, index = fit.design.X, pd.Index(fit.slab)
    else:
        if fit.int_only:
            raise ModelSpecificationError("newmods given but the model has no moderators")
        Xn = fit.design.new_design(newmods)
        index = pd.RangeIndex(Xn.shape[0])
    vb = fit.vcov_array if vb is None else vb
    pred = Xn @ fit.coefficients[0]
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Xn, vb, Xn), 0.0))
    crit = _crit(fit, level, df)
    ci_lb, ci_ub = pred - crit * se, pred + crit * se
    half = crit * np.sqrt(se**2 + fit.tau2)
    pi_lb, pi_ub = pred - half, pred + half
    if transf is not None:
        pred, ci_lb, ci_ub, pi_lb, pi_ub = (np.asarray(transf(a), dtype=float)
                                            for a in (pred, ci_lb, ci_ub, pi_lb, pi_ub))
        se = np.full_like(pred, np.nan)
    ci_lb, ci_ub = _sorted(ci_lb, ci_ub)
    pi_lb, pi_ub = _sorted(pi_lb, pi_ub)
    cols = {"pred": pred, "se": se, "ci_lb": ci_lb, "ci_ub": ci_ub}
    if not fit.fixed_model:  # metafor gives no prediction interval for a model without tau^2
        cols.update(pi_lb=pi_lb, pi_ub=pi_ub)
    return pd.DataFrame(cols, index=index)


def blup(fit: RmaFit, level: float | None = None) -> pd.DataFrame:
    r"""Best linear unbiased predictions of the study-specific true effects.

    :math:`\hat\theta_i = \lambda_i y_i + (1 - \lambda_i) x_i^\top\hat\beta`, with
    :math:`\lambda_i = \hat\tau^2 / (\hat\tau^2 + v_i)` and variance
    :math:`\lambda_i v_i + (1 - \lambda_i)^2 x_i^\top V_\beta x_i`.
    """
    X, vb = fit.design.X, fit.vcov_array
    lam = fit.tau2 / (fit.tau2 + fit.vi)
    pred = lam * fit.yi + (1 - lam) * (X @ fit.coefficients[0])
    vpred = lam * fit.vi + (1 - lam) ** 2 * np.einsum("ij,jk,ik->i", X, vb, X)
    se = np.sqrt(vpred)
    crit = _crit(fit, fit.level if level is None else level)
    return pd.DataFrame({"pred": pred, "se": se, "pi_lb": pred - crit * se, "pi_ub": pred + crit * se},
                        index=pd.Index(fit.slab))
