"""Ordinary least squares on arrays: the numerical core of :func:`multilevel.lm`.

Takes a model matrix and a response, returns arrays. Columns that are linear
combinations of earlier columns are aliased (their coefficient is NaN), as R's
``lm`` does with its pivoting QR decomposition (tolerance 1e-7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy

__all__ = ["OLSArrays", "ols_fit", "kept_columns"]


@dataclass(frozen=True, eq=False)
class OLSArrays:
    """Least-squares fit of ``y = X beta + e``.

    Attributes
    ----------
    coef : ndarray, shape (p,)
        Coefficients; NaN for aliased columns.
    aliased : ndarray of bool, shape (p,)
    vcov : ndarray, shape (rank, rank)
        ``sigma^2 (X'X)^-1`` over the columns that are not aliased.
    fitted, residuals : ndarray, shape (n,)
    sigma : float
        Residual standard error (NaN when there are no residual degrees of freedom).
    df_resid : int
    """

    coef: np.ndarray
    aliased: np.ndarray
    vcov: np.ndarray
    fitted: np.ndarray
    residuals: np.ndarray
    sigma: float
    df_resid: int

    @property
    def rank(self) -> int:
        return int((~self.aliased).sum())

    @property
    def se(self) -> np.ndarray:
        """Standard errors, NaN for aliased columns."""
        out = np.full(self.coef.shape, np.nan)
        out[~self.aliased] = np.sqrt(np.diag(self.vcov))
        return out

    @property
    def tvalue(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def pvalue(self) -> np.ndarray:
        """Two-sided p-values of the t tests (``df_resid`` degrees of freedom)."""
        with np.errstate(invalid="ignore"):
            return 2.0 * scipy.stats.t.sf(np.abs(self.tvalue), self.df_resid)


def kept_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of the columns kept by R's pivoting QR (a column goes if it adds < ``tol`` of its norm)."""
    n, p = X.shape
    norms = np.linalg.norm(X, axis=0)
    keep: list[int] = []
    Q = np.zeros((n, 0))
    for j in range(p):
        resid = X[:, j] - Q @ (Q.T @ X[:, j])
        resid -= Q @ (Q.T @ resid)
        r = float(np.linalg.norm(resid))
        if norms[j] > 0 and r >= tol * norms[j]:
            keep.append(j)
            Q = np.column_stack([Q, resid / r])
    return np.asarray(keep, dtype=int)


def ols_fit(X: np.ndarray, y: np.ndarray) -> OLSArrays:
    """Fit ordinary least squares by a QR decomposition of the non-aliased columns.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]])
    >>> fit = ols_fit(X, np.array([1.0, 3.0, 2.0, 6.0]))
    >>> fit.coef.round(3).tolist(), fit.aliased.tolist()
    ([-0.5, 1.4, nan], [False, False, True])
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = X.shape
    keep = kept_columns(X)
    aliased = np.ones(p, dtype=bool)
    aliased[keep] = False
    Xk = X[:, keep]
    coef = np.full(p, np.nan)
    if keep.size:
        Q, R = np.linalg.qr(Xk)
        beta = np.linalg.solve(R, Q.T @ y)
        coef[keep] = beta
        fitted = Xk @ beta
        Rinv = np.linalg.solve(R, np.eye(keep.size))
        xtx_inv = Rinv @ Rinv.T
    else:
        fitted = np.zeros(n)
        xtx_inv = np.zeros((0, 0))
    residuals = y - fitted
    df_resid = n - keep.size
    sigma = float(np.sqrt(residuals @ residuals / df_resid)) if df_resid > 0 else float("nan")
    return OLSArrays(coef, aliased, sigma**2 * xtx_inv, fitted, residuals, sigma, int(df_resid))
