r"""Many refits of the univariate model at once (arrays in, arrays out).

Leave-one-out, case deletion, cumulative analyses and GOSH refit the model to many subsets of
the same studies. :func:`batch_refit` fits them together: subset :math:`s` is a 0/1 mask
:math:`m_s`, and every weighted sum runs over the weights :math:`m_{si} w_{si}`, so that the
estimators of :mod:`multilevel.meta.univariate._core` (same starting values, Fisher-scoring
steps with step halving, stopping rule 1e-5, the check against tau^2 = 0) run on stacked
arrays; a subset stops iterating when it has converged. Estimators without a batched form
(SJ, PM) and user weights fall back to one :func:`~._refit.refit` per subset.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ._refit import Refit, Spec, refit

__all__ = ["batch_refit"]

_BATCHED = ("REML", "ML", "EB", "DL", "HE", "HS")
_THRESHOLD = 1e-5
_MAXITER = 100
_TOL = np.finfo(float).eps ** 0.25
_LOG2PI = math.log(2 * math.pi)


class _Stack:
    """``P = W - W X C X'W`` per subset (``W = diag(m w)``), as ``_core._Projection`` on stacked arrays."""

    def __init__(self, X: np.ndarray, w: np.ndarray, y: np.ndarray):
        X = np.broadcast_to(X, w.shape + X.shape[-1:])
        self.X, self.w = X, w
        self.Xw = w[:, :, None] * X
        self.C = np.linalg.inv(np.einsum("skp,skq->spq", self.Xw, X))
        self.beta = np.einsum("spq,sq->sp", self.C, np.einsum("skp,sk->sp", self.Xw, y))
        self.r = y - np.einsum("skp,sp->sk", X, self.beta)
        self.G = np.einsum("spq,sqr->spr", self.C, np.einsum("skp,skq->spq", self.Xw, self.Xw))

    def quad(self) -> np.ndarray:
        return np.einsum("sk,sk->s", self.w, self.r * self.r)

    def _g(self, d: np.ndarray) -> np.ndarray:
        return np.einsum("spq,sqr->spr", self.C, np.einsum("skp,skq->spq", self.Xw, self.Xw * d[:, :, None]))

    def trace(self) -> np.ndarray:
        return self.w.sum(axis=1) - np.trace(self.G, axis1=1, axis2=2)

    def trace_sq(self) -> np.ndarray:
        G = self.G
        return (np.sum(self.w**2, axis=1) - 2 * np.trace(self._g(self.w), axis1=1, axis2=2)
                + np.einsum("spq,sqp->s", G, G))

    def trace_pv(self, v: np.ndarray) -> np.ndarray:
        return np.sum(self.w * v, axis=1) - np.trace(self._g(np.broadcast_to(v, self.w.shape)), axis1=1, axis2=2)


def _he(ymc, v, X, M, kp):
    st = _Stack(X, M, ymc)
    return (st.quad() - st.trace_pv(v)) / kp


def _step(method, ymc, v, X, M, tau2, ks, kp):
    st = _Stack(X, M / (v + tau2[:, None]), ymc)
    w = st.w
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "EB":
            adj = (st.quad() * ks / kp - ks) / w.sum(axis=1)
        elif method == "ML":
            Py = w * st.r
            adj = (np.sum(Py * Py, axis=1) - w.sum(axis=1)) / np.sum(w**2, axis=1)
        else:
            Py = w * st.r
            adj = (np.sum(Py * Py, axis=1) - st.trace()) / st.trace_sq()
    return np.where(np.isfinite(adj), adj, 0.0)


def _loglik(method, ymc, v, X, M, tau2, ks, p):
    st = _Stack(X, M / (v + tau2[:, None]), ymc)
    logv = np.sum(M * np.log(v + tau2[:, None]), axis=1)
    if method == "ML":
        return -0.5 * ks * _LOG2PI - 0.5 * logv - 0.5 * st.quad()
    logdet = np.linalg.slogdet(np.linalg.inv(st.C))[1]
    return -0.5 * (ks - p) * _LOG2PI - 0.5 * logv - 0.5 * logdet - 0.5 * st.quad()


def _fisher(method, ymc, v, X, M, ks, kp):
    tau2 = np.maximum(0.0, _he(ymc, v, X, M, kp))
    active = np.ones(tau2.shape[0], dtype=bool)
    failed = np.zeros_like(active)
    it = 0
    while active.any():
        it += 1
        idx = np.flatnonzero(active)
        adj = _step(method, ymc[idx], v, X[idx], M[idx], tau2[idx], ks[idx], kp[idx])
        while np.any(neg := tau2[idx] + adj < 0):
            adj = np.where(neg, adj / 2, adj)
        old = tau2[idx]
        tau2[idx] = old + adj
        done = np.abs(old - tau2[idx]) <= _THRESHOLD
        if it > _MAXITER:
            failed[idx[~done]] = True
            done[:] = True
        active[idx[done]] = False
    if method in ("ML", "REML"):
        drop = (_loglik(method, ymc, v, X, M, np.zeros_like(tau2), ks, X.shape[-1])
                - _loglik(method, ymc, v, X, M, tau2, ks, X.shape[-1]) > _TOL) & (tau2 > _THRESHOLD)
        tau2 = np.where(drop, 0.0, tau2)
    return tau2, failed


def _tau2(method, ymc, v, X, M, ks, kp):
    if method in _BATCHED[:3]:
        return _fisher(method, ymc, v, X, M, ks, kp)
    if method == "HE":
        tau2 = _he(ymc, v, X, M, kp)
    else:
        st = _Stack(X, M / v, ymc)
        tau2 = (st.quad() - (kp if method == "DL" else ks)) / (st.trace() if method == "DL" else st.w.sum(axis=1))
    return tau2, np.zeros(tau2.shape[0], dtype=bool)


def _estimates(spec: Spec, X: np.ndarray, M: np.ndarray, tau2: np.ndarray, Y: np.ndarray, ymc: np.ndarray,
               ks: np.ndarray):
    v = spec.vi
    p = X.shape[-1]
    st = _Stack(X, M / (v + tau2[:, None]), Y)
    rss = st.quad()
    knha = (spec.test == "knha") & (ks > 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2w = np.where(knha, np.where(rss <= np.finfo(float).eps, 0.0, rss / (ks - p)), 1.0)
    vb = st.C * s2w[:, None, None]
    fe = _Stack(X, M / v, ymc)
    with np.errstate(divide="ignore", invalid="ignore"):
        QE = np.where(ks > p, np.maximum(0.0, fe.quad()), 0.0)
        vt = (ks - p) / fe.trace()
        if spec.fixed_model:
            I2 = np.where(ks > p, np.maximum(0.0, 100 * (QE - (ks - p)) / QE), 0.0)
            H2 = np.where(ks > p, QE / (ks - p), 1.0)
        else:
            I2 = np.where(ks > p, 100 * tau2 / (vt + tau2), 0.0)
            H2 = np.where(ks > p, tau2 / vt + 1, 1.0)
    return st.beta, vb, s2w, knha, QE, I2, H2


def _tests(beta, vb, btt, knha, ks, p, level):
    se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    zval = beta / se
    idx = np.asarray(btt)
    sub = vb[:, idx][:, :, idx]
    b = beta[:, idx]
    QM = np.einsum("sp,sp->s", b, np.linalg.solve(sub, b[:, :, None])[:, :, 0])
    alpha = 1 - level / 100
    ddf = np.maximum(ks - p, 1)
    QM = np.where(knha, QM / len(idx), QM)
    pval = np.where(knha[:, None], 2 * special.stdtr(ddf[:, None], -np.abs(zval)), 2 * special.ndtr(-np.abs(zval)))
    crit = np.where(knha, -special.stdtrit(ddf, alpha / 2), -special.ndtri(alpha / 2))
    return se, zval, pval, crit, QM


def batch_refit(spec: Spec, masks: np.ndarray, *, Y: np.ndarray | None = None, Xs: np.ndarray | None = None,
                chunk: int = 1024) -> list[Refit | None]:
    """The model of ``spec`` refitted to each subset ``masks[s]`` (boolean, one row per subset).

    ``Y`` (one row per subset) replaces the effect sizes of ``spec`` (e.g. with flipped signs) and
    ``Xs`` (one design per subset) its moderators (e.g. with permuted rows).
    """
    masks = np.asarray(masks, dtype=bool)
    Y = np.broadcast_to(spec.yi, masks.shape) if Y is None else np.asarray(Y, dtype=float)
    Xs = np.broadcast_to(spec.X, masks.shape + spec.X.shape[1:]) if Xs is None else np.asarray(Xs, dtype=float)
    if masks.shape[0] > chunk:
        return [r for start in range(0, masks.shape[0], chunk)
                for r in batch_refit(spec, masks[start:start + chunk], Y=Y[start:start + chunk],
                                     Xs=Xs[start:start + chunk], chunk=chunk)]
    if spec.weights is not None or not (spec.fixed_model or spec.method in _BATCHED):
        return [refit(Spec(y, spec.vi, x, spec.weights, spec.method, spec.test, spec.level, spec.btt).subset(m))
                for y, x, m in zip(Y, Xs, masks)]
    v = spec.vi
    p = Xs.shape[-1]
    ks = masks.sum(axis=1)
    estimable = (ks >= p) & (np.linalg.matrix_rank(masks[:, :, None] * Xs) == p)
    if not spec.fixed_model:
        estimable &= (ks >= p + 1) | (ks == 1)
    out: list[Refit | None] = [None] * masks.shape[0]
    rows = np.flatnonzero(estimable)
    if rows.size == 0:
        return out
    M, ks, Y, X = masks[rows].astype(float), ks[rows].astype(float), Y[rows], Xs[rows]
    ymc = Y - (np.sum(M * Y, axis=1) / ks)[:, None]
    if spec.fixed_model:
        tau2, failed = np.zeros(rows.size), np.zeros(rows.size, dtype=bool)
    else:
        multi = ks > 1
        tau2, failed = np.zeros(rows.size), np.zeros(rows.size, dtype=bool)
        if multi.any():
            t, f = _tau2(spec.method, ymc[multi], v, X[multi], M[multi], ks[multi], ks[multi] - p)
            tau2[multi], failed[multi] = np.maximum(0.0, t), f
    beta, vb, s2w, knha, QE, I2, H2 = _estimates(spec, X, M, tau2, Y, ymc, ks)
    se, zval, pval, crit, QM = _tests(beta, vb, spec.btt, knha, ks, p, spec.level)
    QEp = np.where(ks > p, special.chdtrc(np.maximum(ks - p, 1), QE), 1.0)
    for j, s in enumerate(rows):
        if not failed[j]:
            out[s] = Refit(beta[j], vb[j], se[j], zval[j], pval[j], beta[j] - crit[j] * se[j], beta[j] + crit[j] * se[j],
                           float(tau2[j]), float(QE[j]), float(QEp[j]), float(I2[j]), float(H2[j]), float(QM[j]),
                           float(s2w[j]))
    return out
