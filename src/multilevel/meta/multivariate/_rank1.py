r"""A fast likelihood for the common three-level models: blocks ``M_b = diag(d) + c 1 1'``.

With independent sampling errors, ``~ 1 | a/b`` (``b`` unique per estimate),
``~ 1 | a`` and ``~ inner | outer`` with ``struct = "CS"`` (each inner level
at most once per outer level) all give a marginal variance that is, within
each cluster, a diagonal plus a constant:

.. math:: M_b = \operatorname{diag}(d) + c\,1 1', \qquad
          M_b^{-1} = W - g\, w w', \quad w = 1/d, \; g = c / (1 + c \textstyle\sum w).

Every quantity of the likelihood, its score and its (observed, average)
information then reduces to sums over the estimates and over the clusters,
``O(k)`` work with no matrix factorisation. ``_core`` is the general path
and the reference these formulas are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._evaluation import LOG_2PI, Evaluation, _positive_definite

__all__ = ["Rank1Plan", "rank1_plan", "evaluate_rank1"]


@dataclass(frozen=True, eq=False)
class Rank1Plan:
    """Data and structure of a rank-one-per-cluster model (internal).

    ``kind`` is ``"cs"`` (natural parameters tau2, rho), or ``"sigma"`` with
    ``group`` the index of the clustering ``~ 1 | f`` term and ``row`` the
    index of a term with one level per estimate (or -1).
    """

    kind: str
    blk: np.ndarray
    nb: int
    v: np.ndarray
    y: np.ndarray
    X: np.ndarray
    group: int
    row: int
    logdet_xtx: float
    Z: np.ndarray | None = None


def rank1_plan(y: np.ndarray, X: np.ndarray, V: np.ndarray, s_codes: list[np.ndarray], g: Any,
               corr_given: bool, h: Any, logdet_xtx: float) -> Rank1Plan | None:
    """The plan when the model has the rank-one structure, else None."""
    if V.ndim != 1 or h is not None or corr_given:
        return None
    k = y.shape[0]
    if g is not None:
        if len(g) > 6:  # serial or spatial correlation structure
            return None
        inner, outer, tau_map, rho_map, ntau, nrho = g
        cs = ntau == 1 and nrho == 1 and bool(np.all(rho_map[~np.eye(rho_map.shape[0], dtype=bool)] == 0))
        L = int(inner.max()) + 1
        if s_codes or not cs or np.unique(outer.astype(np.int64) * L + inner).size != k:
            return None
        return Rank1Plan("cs", outer, int(outer.max()) + 1, V, y, X, -1, -1, logdet_xtx, _indicator(outer))
    if not s_codes or len(s_codes) > 2:
        return None
    sizes = [int(c.max()) + 1 for c in s_codes]
    rows = [j for j, n in enumerate(sizes) if n == k]
    groups = [j for j, n in enumerate(sizes) if n < k]
    if len(groups) != 1 or len(rows) != len(s_codes) - 1:
        return None
    blk = s_codes[groups[0]]
    return Rank1Plan("sigma", blk, sizes[groups[0]], V, y, X, groups[0], rows[0] if rows else -1, logdet_xtx,
                     _indicator(blk))


def _indicator(blk: np.ndarray) -> np.ndarray | None:
    """Estimates-by-clusters indicator when small enough to use in matrix products."""
    nb = int(blk.max()) + 1
    if blk.size * nb > 2_000_000:
        return None
    Z = np.zeros((blk.size, nb))
    Z[np.arange(blk.size), blk] = 1.0
    return Z


class _Blocks:
    """Sherman-Morrison algebra for ``M_b = diag(d) + c 1 1'`` (arrays carry the estimates on the last axis)."""

    def __init__(self, plan: Rank1Plan, d: np.ndarray, c: float):
        self.blk, self.nb, self.Z = plan.blk, plan.nb, plan.Z
        self.w = 1.0 / d
        self.s = self.bsum(self.w)
        self.den = 1.0 + c * self.s
        self.g = c / self.den
        self.gk = self.g[self.blk]

    def bsum(self, x: np.ndarray) -> np.ndarray:
        """Sums over the estimates of each cluster (last axis)."""
        if self.Z is not None:
            return x @ self.Z
        flat = x.reshape(-1, x.shape[-1])
        out = np.stack([np.bincount(self.blk, row, self.nb) for row in flat])
        return out.reshape(x.shape[:-1] + (self.nb,))

    def solve(self, u: np.ndarray) -> np.ndarray:
        """``M^{-1} u`` along the last axis."""
        wu = self.w * u
        return wu - self.gk * self.w * self.bsum(wu)[..., self.blk]

    def logdet(self, d: np.ndarray) -> float:
        return float(np.sum(np.log(d)) + np.sum(np.log(self.den)))


def _parameters(plan: Rank1Plan, nat: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float, list, dict]:
    """``d``, ``c`` and, per free parameter, the derivative ``(delta, gamma)`` of ``M = diag(delta) + gamma J``."""
    v = plan.v
    if plan.kind == "cs":
        t2, rho = nat[0], nat[1]
        d, c = v + t2 * (1.0 - rho), t2 * rho
        full = [(np.full(v.size, t2 * (1.0 - rho)), t2 * rho),
                (np.full(v.size, -t2 * (1.0 - rho**2)), t2 * (1.0 - rho**2))]
        second = {(0, 0): (1.0, 0), (0, 1): (1.0, 1), (1, 1): (-2.0 * rho, 1)}
    else:
        s_group = nat[plan.group]
        s_row = nat[plan.row] if plan.row >= 0 else 0.0
        d, c = v + s_row, s_group
        full = [None] * nat.size
        full[plan.group] = (np.zeros(v.size), s_group)
        if plan.row >= 0:
            full[plan.row] = (np.full(v.size, s_row), 0.0)
        second = {(j, j): (1.0, j) for j in range(nat.size)}
    sel = np.flatnonzero(free)
    pos = {int(j): a for a, j in enumerate(sel)}
    derivs = [full[j] for j in sel]
    d2 = {(pos[i], pos[j]): (cf, pos[m]) for (i, j), (cf, m) in second.items()
          if i in pos and j in pos and m in pos}
    return d, c, derivs, d2


def evaluate_rank1(plan: Rank1Plan, nat: np.ndarray, free: np.ndarray, *, reml: bool, derivs: bool = False,
                   observed: bool = True) -> Evaluation | None:
    """:func:`~multilevel.meta.multivariate._core.evaluate` for a rank-one plan (``Minv`` is not returned)."""
    d, c, ders, d2 = _parameters(plan, nat, free)
    if np.any(d <= 0):
        return None
    bl = _Blocks(plan, d, c)
    if np.any(bl.den <= 0):
        return None
    X, y = plan.X, plan.y
    MXt = bl.solve(X.T)  # (p, k)
    C = MXt @ X
    try:
        Cinv = np.linalg.inv(C) if C.shape[0] > 1 else np.array([[1.0 / C[0, 0]]])
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(Cinv)):
        return None
    My = bl.solve(y)
    beta = Cinv @ (X.T @ My)
    Py = My - beta @ MXt
    k, p = X.shape
    logdet_m = bl.logdet(d)
    logdet_c = float(np.log(C[0, 0])) if p == 1 else float(np.linalg.slogdet(C)[1])
    rss = float(y @ Py)
    ll_ml = -0.5 * (k * LOG_2PI + logdet_m + rss)
    ll_reml = -0.5 * ((k - p) * LOG_2PI - plan.logdet_xtx + logdet_m + logdet_c + rss)
    if not derivs or not ders:
        return Evaluation(ll_ml, ll_reml, beta, Cinv, None, None, None, None)
    Dl = np.stack([dl for dl, _ in ders])
    Gm = np.array([gm for _, gm in ders], dtype=float)
    grad, info, newton = _score_info(bl, Dl, Gm, d2, MXt, Cinv, Py, reml, observed)
    return Evaluation(ll_ml, ll_reml, beta, Cinv, grad, info, None, None, newton)


def _score_info(bl: _Blocks, Dl: np.ndarray, Gm: np.ndarray, d2: dict, MXt: np.ndarray, Cinv: np.ndarray,
                Py: np.ndarray, reml: bool, observed: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """Score and information for ``D_j = diag(Dl[j]) + Gm[j] J`` (q parameters)."""
    w = bl.w
    bMX = bl.bsum(MXt)  # (p, nb)
    bPy = bl.bsum(Py)
    BB = bMX @ bMX.T
    R = np.einsum("qk,ak,bk->qab", Dl, MXt, MXt) + Gm[:, None, None] * BB[None]
    trs = Dl @ (w - bl.gk * w * w) + Gm * float(np.sum(bl.s / bl.den))
    if reml:
        trs = trs - np.einsum("qab,ba->q", R, Cinv)
    sc = trs - (Dl @ (Py * Py) + Gm * float(bPy @ bPy))
    grad = -0.5 * sc
    U = Dl * Py + Gm[:, None] * bPy[bl.blk]
    PU = bl.solve(U) - ((U @ MXt.T) @ Cinv) @ MXt
    ai = 0.5 * U @ PU.T
    if not observed:
        return grad, ai, False
    obs = 2.0 * ai - 0.5 * _trace_pair(bl, Dl, Gm, MXt, bMX, Cinv, R, reml)
    for (i, j), (cf, m) in d2.items():
        obs[i, j] += 0.5 * cf * sc[m]
        if i != j:
            obs[j, i] += 0.5 * cf * sc[m]
    if _positive_definite(obs):
        return grad, obs, True
    return grad, ai, False


def _trace_pair(bl: _Blocks, Dl: np.ndarray, Gm: np.ndarray, MXt: np.ndarray, bMX: np.ndarray, Cinv: np.ndarray,
                R: np.ndarray, reml: bool) -> np.ndarray:
    """``tr(Pi D_i Pi D_j)`` for ``D = diag(delta) + gamma J`` (``Pi = P`` for REML, ``M^{-1}`` for ML)."""
    w, den, g = bl.w, bl.den, bl.g
    a1 = w * w - 2.0 * bl.gk * w**3
    w2d = bl.bsum(Dl * (w * w))  # (q, nb)
    v = w2d @ (1.0 / den**2)
    out = (Dl * a1) @ Dl.T + (w2d * (g * g)) @ w2d.T
    out += np.outer(v, Gm) + np.outer(Gm, v) + np.outer(Gm, Gm) * float(np.sum((bl.s / den) ** 2))
    if not reml:
        return out
    F = Dl[:, None, :] * MXt[None] + Gm[:, None, None] * bMX[:, bl.blk][None]  # (q, p, k)
    AF = bl.solve(F)
    t2 = np.einsum("qak,rbk,ba->qr", F, AF, Cinv)
    CR = Cinv[None] @ R
    return out - 2.0 * t2 + np.einsum("qab,rba->qr", CR, CR)
