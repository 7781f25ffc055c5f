"""Numerical core of ``rma_mv``: the (restricted) log-likelihood of a multivariate model.

The marginal variance of the estimates is

.. math::

    M = V + \\sum_j \\sigma^2_j Z_j Z_j' + (Z_1 G Z_1') \\circ (Z_2 Z_2'),

block-diagonal over the clusters that no random effect or sampling covariance
links. The rows of each cluster are gathered into a padded batch of small
matrices (padding rows have unit variance and zero data), so one likelihood
evaluation is a handful of batched NumPy operations and no dense ``k x k``
solve is needed when the clusters are small.

Only arrays go in and out: the caller (``_mv_fit``) builds the batch from the
data. Parameters are the *natural* values (sigma2, tau2, rho); the optimiser
works on ``log`` variances and ``atanh`` correlations, and every derivative
here is taken with respect to those unconstrained values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Batch", "Evaluation", "evaluate", "make_batch", "connected_blocks"]

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True, eq=False)
class Batch:
    """Padded per-cluster arrays describing ``M`` (internal).

    Attributes
    ----------
    idx : (nb, m) int
        Row of the data in each slot, -1 for padding.
    y, X, V : arrays (nb, m), (nb, m, p), (nb, m, m)
        Data gathered by cluster; padding has y = 0, X = 0, V = identity.
    S : (ns, nb, m, m)
        Same-level indicators of the ``~ 1 | f`` terms.
    so : (nb, m, m) or None
        Same-outer-level indicator of the ``~ inner | outer`` term.
    inner : (nb, m) int
        Inner level of each slot (0 for padding).
    tau_map : (L,) int
        tau2 parameter of each inner level.
    rho_map : (L, L) int
        rho parameter of each pair of inner levels (-1 on the diagonal or when fixed to 0).
    """

    idx: np.ndarray
    y: np.ndarray
    X: np.ndarray
    V: np.ndarray
    S: np.ndarray
    so: np.ndarray | None
    inner: np.ndarray
    tau_map: np.ndarray
    rho_map: np.ndarray
    k: int
    p: int
    logdet_xtx: float

    @property
    def num_sigma2(self) -> int:
        return self.S.shape[0]

    @property
    def num_tau2(self) -> int:
        return 0 if self.so is None else int(self.tau_map.max()) + 1

    @property
    def num_rho(self) -> int:
        return 0 if self.so is None else int(max(self.rho_map.max() + 1, 0))


def connected_blocks(k: int, groupings: list[np.ndarray], V: np.ndarray | None) -> list[np.ndarray]:
    """Rows linked by a shared level of any grouping or a non-zero covariance in ``V``."""
    parent = np.arange(k)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union_codes(codes: np.ndarray) -> None:
        first: dict[int, int] = {}
        for i, c in enumerate(codes):
            j = first.setdefault(int(c), i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[a] = b

    for g in groupings:
        union_codes(g)
    if V is not None and V.ndim == 2:
        rows, cols = np.nonzero(np.triu(V, 1))
        for i, j in zip(rows, cols):
            a, b = find(int(i)), find(int(j))
            if a != b:
                parent[a] = b
    roots = np.array([find(i) for i in range(k)])
    _, labels = np.unique(roots, return_inverse=True)
    order = np.argsort(labels, kind="stable")
    splits = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, splits)


def make_batch(y: np.ndarray, X: np.ndarray, V: np.ndarray, s_codes: list[np.ndarray],
               g: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None) -> Batch:
    """Gather the data into padded cluster blocks (or one dense block when cheaper).

    ``g`` is ``(inner_codes, outer_codes, tau_map, rho_map)`` for an
    ``~ inner | outer`` term, or None.
    """
    k, p = X.shape
    Vm = np.diag(V) if V.ndim == 1 else V
    groupings = list(s_codes) + ([g[1]] if g is not None else [])
    blocks = connected_blocks(k, groupings, Vm)
    m = max(len(b) for b in blocks)
    if len(blocks) * m * m >= k * k:
        blocks = [np.arange(k)]
        m = k
    nb = len(blocks)
    idx = np.full((nb, m), -1, dtype=int)
    for b, rows in enumerate(blocks):
        idx[b, :len(rows)] = rows
    mask = idx >= 0
    safe = np.where(mask, idx, 0)
    pair = mask[:, :, None] & mask[:, None, :]
    yb = np.where(mask, y[safe], 0.0)
    Xb = np.where(mask[:, :, None], X[safe], 0.0)
    Vb = np.where(pair, Vm[safe[:, :, None], safe[:, None, :]], 0.0)
    Vb = Vb + np.eye(m)[None] * (~mask)[:, :, None]
    S = np.stack([(pair & (c[safe][:, :, None] == c[safe][:, None, :])).astype(float) for c in s_codes]) \
        if s_codes else np.zeros((0, nb, m, m))
    if g is not None:
        inner_codes, outer_codes, tau_map, rho_map = g
        so = (pair & (outer_codes[safe][:, :, None] == outer_codes[safe][:, None, :])).astype(float)
        inner = np.where(mask, inner_codes[safe], 0)
    else:
        so, inner = None, np.zeros((nb, m), dtype=int)
        tau_map, rho_map = np.zeros(1, dtype=int), -np.ones((1, 1), dtype=int)
    sign, logdet = np.linalg.slogdet(X.T @ X)
    return Batch(idx, yb, Xb, Vb, S, so, inner, np.asarray(tau_map), np.asarray(rho_map), k, p,
                 float(logdet))


def marginal(batch: Batch, sigma2: np.ndarray, tau2: np.ndarray, rho: np.ndarray,
             derivs: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """``M`` by cluster and its derivatives with respect to (log sigma2, log tau2, atanh rho)."""
    M = batch.V.copy()
    D: list[np.ndarray] = []
    for j in range(batch.num_sigma2):
        term = sigma2[j] * batch.S[j]
        M += term
        if derivs:
            D.append(term)
    if batch.so is None:
        return M, D
    L = batch.tau_map.shape[0]
    R = np.eye(L)
    off = batch.rho_map >= 0
    R[off] = rho[batch.rho_map[off]]
    sq = np.sqrt(tau2[batch.tau_map])[batch.inner]
    sqtt = batch.so * sq[:, :, None] * sq[:, None, :]
    MG = sqtt * R[batch.inner[:, :, None], batch.inner[:, None, :]]
    M += MG
    if derivs:
        t_of = batch.tau_map[batch.inner]
        for i in range(batch.num_tau2):
            ind = (t_of == i).astype(float)
            D.append(0.5 * MG * (ind[:, :, None] + ind[:, None, :]))
        r_of = batch.rho_map[batch.inner[:, :, None], batch.inner[:, None, :]]
        for r in range(batch.num_rho):
            D.append(sqtt * (1.0 - rho[r] ** 2) * (r_of == r))
    return M, D


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One evaluation of the likelihood at given variance components (internal)."""

    ll_ml: float
    ll_reml: float
    beta: np.ndarray
    vb: np.ndarray
    grad: np.ndarray | None
    info: np.ndarray | None
    Minv: np.ndarray | None
    Py: np.ndarray | None


def evaluate(batch: Batch, sigma2: np.ndarray, tau2: np.ndarray, rho: np.ndarray, *, reml: bool,
             free: np.ndarray | None = None, derivs: bool = False) -> Evaluation | None:
    """Log-likelihoods (ML and REML), GLS estimates and, optionally, score and information.

    ``free`` selects the parameters (in the order sigma2, tau2, rho) for which
    the gradient and the expected information of the objective ``ll`` are
    returned. Returns None when ``M`` is not positive definite.
    """
    M, D = marginal(batch, sigma2, tau2, rho, derivs)
    try:
        chol = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None
    logdet_m = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    Minv = np.linalg.inv(M)
    MinvX = Minv @ batch.X
    Minvy = np.einsum("bij,bj->bi", Minv, batch.y)
    C = np.einsum("bmp,bmq->pq", batch.X, MinvX)
    try:
        Cinv = np.linalg.inv(C)
    except np.linalg.LinAlgError:
        return None
    beta = Cinv @ np.einsum("bmp,bm->p", batch.X, Minvy)
    Py = Minvy - MinvX @ beta
    rss = float(np.sum(batch.y * Py))
    k, p = batch.k, batch.p
    sign, logdet_c = np.linalg.slogdet(C)
    ll_ml = -0.5 * (k * LOG_2PI + logdet_m + rss)
    ll_reml = -0.5 * ((k - p) * LOG_2PI - batch.logdet_xtx + logdet_m + logdet_c + rss)
    grad = info = None
    if derivs:
        sel = np.arange(len(D)) if free is None else np.flatnonzero(free)
        grad, info = _score_info(Minv, MinvX, Cinv, Py, np.stack([D[i] for i in sel]) if len(sel) else
                                 np.zeros((0,) + M.shape), reml)
    return Evaluation(ll_ml, ll_reml, beta, Cinv, grad, info, Minv, Py)


def _score_info(Minv: np.ndarray, MinvX: np.ndarray, Cinv: np.ndarray, Py: np.ndarray, D: np.ndarray,
                reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """Score and expected information of ``ll`` for the derivative matrices ``D`` (q, nb, m, m)."""
    q = D.shape[0]
    if q == 0:
        return np.zeros(0), np.zeros((0, 0))
    A = Minv[None] @ D
    quad = np.einsum("bm,qbmn,bn->q", Py, D, Py)
    tr = np.einsum("qbii->q", A)
    info = np.einsum("qbxy,rbyx->qr", A, A)
    if reml:
        U = D @ MinvX[None]
        Rq = np.einsum("bmp,qbmr->qpr", MinvX, U)
        tr = tr - np.einsum("pk,qkp->q", Cinv, Rq)
        W = Minv[None] @ U
        S = np.einsum("qbmp,rbmk->qrpk", U, W)
        CR = Cinv[None] @ Rq
        info = info - 2.0 * np.einsum("pk,qrkp->qr", Cinv, S) + np.einsum("qab,rba->qr", CR, CR)
    return -0.5 * (tr - quad), 0.5 * info
