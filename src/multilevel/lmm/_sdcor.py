"""lme4's two scales of the random-effects parameters: theta (relative Cholesky factors) and
standard deviations with correlations (``Cv_to_Sv`` and ``Sv_to_Cv``)."""

from __future__ import annotations

import numpy as np

from ._pls import theta_template_indices

__all__ = ["sdcor_from_theta", "theta_from_sdcor"]


def _psd_cholesky(C: np.ndarray, tol: float = 1e-12) -> np.ndarray | None:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots allowed, as at |cor| = 1)."""
    k = C.shape[0]
    L = np.zeros_like(C)
    for j in range(k):
        d = C[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol:
            return None
        if d <= tol:
            rest = C[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]
            if np.any(np.abs(rest) > 1e-8):
                return None
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (C[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def sdcor_from_theta(theta: np.ndarray, ks: list[int], sigma: float) -> np.ndarray:
    """Standard deviations (diagonal positions) and correlations (off-diagonal) per term, lme4's ``Cv_to_Sv``."""
    out, off = [], 0
    for k in ks:
        r, c = theta_template_indices(k)
        m = k * (k + 1) // 2
        T = np.zeros((k, k))
        T[r, c] = theta[off:off + m]
        S = T @ T.T
        sd = np.sqrt(np.diag(S))
        vals = np.empty(m)
        for i, (a, b) in enumerate(zip(r, c)):
            vals[i] = sigma * sd[a] if a == b else (S[a, b] / (sd[a] * sd[b]) if sd[a] * sd[b] > 0 else 0.0)
        out.append(vals)
        off += m
    return np.concatenate(out) if out else np.zeros(0)


def theta_from_sdcor(sdcor: np.ndarray, ks: list[int], sigma: float) -> np.ndarray | None:
    """Inverse of :func:`sdcor_from_theta` (lme4's ``Sv_to_Cv``); None if the correlations are not valid."""
    out, off = [], 0
    for k in ks:
        r, c = theta_template_indices(k)
        m = k * (k + 1) // 2
        vals = sdcor[off:off + m]
        off += m
        if k == 1:
            out.append(vals / sigma)
            continue
        sd = np.zeros(k)
        C = np.eye(k)
        for v, a, b in zip(vals, r, c):
            if a == b:
                sd[a] = v / sigma
            else:
                C[a, b] = C[b, a] = v
        L = _psd_cholesky(C)
        if L is None:
            return None
        T = sd[:, None] * L
        out.append(T[r, c])
    return np.concatenate(out) if out else np.zeros(0)
