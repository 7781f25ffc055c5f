"""Numerical core of ``rma_mv``: the (restricted) log-likelihood of a multivariate model.

The marginal variance of the estimates is

.. math::

    M = V + \\sum_j \\sigma^2_j Z_j Z_j' + (Z_1 G Z_1') \\circ (Z_2 Z_2'),

block-diagonal over the clusters that no random effect or sampling covariance
links. The rows of each cluster are gathered into a padded batch of small
matrices (padding rows have unit variance and zero data), so one likelihood
evaluation is a handful of batched NumPy operations and no dense ``k x k``
solve is needed when the clusters are small.

Only arrays go in and out: the caller (``_fit``) builds the batch from the
data. Parameters are the *natural* values (sigma2, tau2, rho); the optimiser
works on ``log`` variances and ``atanh`` correlations, and every derivative
here is taken with respect to those unconstrained values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._evaluation import LOG_2PI, Evaluation, _positive_definite
from ._rank1 import rank1_plan
from ._serial import corr_derivs, valid_rho

__all__ = ["Batch", "Evaluation", "evaluate", "make_batch", "connected_blocks"]



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
    h : GBlock or None
        The arrays of a second ``~ inner | outer`` term (gamma2, phi).
    g : GBlock
        The arrays of the first term (also spread over the fields above).
    rank1 : Rank1Plan or None
        Set when every cluster block is a diagonal plus a constant (``_rank1``).
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
    num_tau2: int
    num_rho: int
    si: np.ndarray | None = None
    r_of: np.ndarray | None = None
    t_ind: np.ndarray | None = None
    r_ind: np.ndarray | None = None
    psd_check: bool = False
    h: "GBlock | None" = None
    rank1: Any = None
    g: "GBlock | None" = None

    @property
    def num_sigma2(self) -> int:
        return self.S.shape[0]


@dataclass(frozen=True, eq=False)
class GBlock:
    """The arrays of a second ``~ inner | outer`` term (metafor's ``H``: gamma2, phi); see :class:`Batch`."""

    so: np.ndarray
    inner: np.ndarray
    tau_map: np.ndarray
    rho_map: np.ndarray
    num_tau2: int
    num_rho: int
    si: np.ndarray
    r_of: np.ndarray
    t_ind: np.ndarray | None
    r_ind: np.ndarray | None
    psd_check: bool
    lag: np.ndarray | None = None
    corr: str | None = None


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


def _linked_levels(R: np.ndarray) -> np.ndarray:
    """Component label of each level in the graph of non-zero correlations."""
    from scipy.sparse.csgraph import connected_components
    return connected_components(R != 0, directed=False)[1]


def _level_matrix(codes: np.ndarray, R: np.ndarray | None, pair: np.ndarray) -> np.ndarray:
    """Per block: 1 for rows sharing a level (or the known correlation of their levels)."""
    a, b = codes[:, :, None], codes[:, None, :]
    if R is None:
        return (pair & (a == b)).astype(float)
    return np.where(pair, R[a, b], 0.0)


def _coarsest(groupings: list[np.ndarray]) -> list[np.ndarray]:
    """Drop groupings nested in another one (they add no links between rows)."""
    keep: list[np.ndarray] = []
    for i, g in enumerate(groupings):
        nested = False
        for j, h in enumerate(groupings):
            if i == j or (j < i and np.array_equal(g, h)):
                continue
            pairs = np.unique(np.stack([g, h]), axis=1)
            if np.unique(pairs[0]).size == pairs.shape[1] and (np.unique(h).size < np.unique(g).size or j < i):
                nested = True
                break
        if not nested:
            keep.append(g)
    return keep


def make_batch(y: np.ndarray, X: np.ndarray, V: np.ndarray, s_codes: list[np.ndarray],
               g: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int] | None,
               s_corr: list[np.ndarray | None] | None = None,
               h: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int] | None = None) -> Batch:
    """Gather the data into padded cluster blocks (or one dense block when cheaper).

    ``g`` is ``(inner_codes, outer_codes, tau_map, rho_map, num_tau2, num_rho)``
    for an ``~ inner | outer`` term, or None; ``h`` the same for a second one.
    Serial and spatial structures (``_serial``) append ``(lag, struct)``: the
    lags between the inner levels and the name of the correlation function.
    ``s_corr`` gives, per ``~ 1 | f`` term, a known correlation matrix of its
    levels (metafor's ``R``) or None.
    """
    s_corr = list(s_corr) if s_corr is not None else [None] * len(s_codes)
    links = [c if R is None else _linked_levels(R)[c] for c, R in zip(s_codes, s_corr)]
    k, p = X.shape
    groupings = _coarsest(links + [t[1] for t in (g, h) if t is not None])
    if len(groupings) == 1 and V.ndim == 1:
        order = np.argsort(groupings[0], kind="stable")
        blocks = np.split(order, np.flatnonzero(np.diff(groupings[0][order])) + 1)
    else:
        blocks = connected_blocks(k, groupings, V if V.ndim == 2 else None)
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
    if V.ndim == 1:
        Vb = np.eye(m)[None] * np.where(mask, V[safe], 0.0)[:, :, None]
    else:
        Vb = np.where(pair, V[safe[:, :, None], safe[:, None, :]], 0.0)
    Vb = Vb + np.eye(m)[None] * (~mask)[:, :, None]
    S = np.stack([_level_matrix(c[safe], R, pair) for c, R in zip(s_codes, s_corr)]) \
        if s_codes else np.zeros((0, nb, m, m))
    sign, logdet = np.linalg.slogdet(X.T @ X)
    if g is not None:
        gb = _g_block(g, safe, mask, pair)
    else:
        gb = _g_block((np.zeros(k, dtype=int), np.arange(k), np.zeros(1, dtype=int), -np.ones((1, 1), dtype=int),
                       0, 0), safe, mask, pair)
        gb = GBlock(None, gb.inner, gb.tau_map, gb.rho_map, 0, 0, gb.si, gb.r_of, None, None, False)
    hb = _g_block(h, safe, mask, pair) if h is not None else None
    plan = rank1_plan(y, X, V, list(s_codes), g, any(R is not None for R in s_corr), h, float(logdet))
    return Batch(idx, yb, Xb, Vb, S, gb.so, gb.inner, gb.tau_map, gb.rho_map, k, p, float(logdet), gb.num_tau2,
                 gb.num_rho, gb.si, gb.r_of, gb.t_ind, gb.r_ind, gb.psd_check, hb, plan, gb)


def _g_block(g: tuple, safe: np.ndarray, mask: np.ndarray, pair: np.ndarray) -> GBlock:
    inner_codes, outer_codes, tau_map, rho_map, ntau, nrho = g[:6]
    lag, corr = g[6:8] if len(g) > 6 else (None, None)
    so = (pair & (outer_codes[safe][:, :, None] == outer_codes[safe][:, None, :])).astype(float)
    inner = np.where(mask, inner_codes[safe], 0)
    tau_map, rho_map = np.asarray(tau_map), np.asarray(rho_map)
    ia, ib = inner[:, :, None], inner[:, None, :]
    r_of = np.where(rho_map[ia, ib] >= 0, rho_map[ia, ib], nrho)
    si = (ia == ib).astype(float)
    t_of = tau_map[inner]
    t_ind = np.stack([(t_of == i)[:, :, None].astype(float) + (t_of == i)[:, None, :] for i in range(ntau)]) \
        if ntau else None
    r_ind = np.stack([(r_of == r).astype(float) for r in range(nrho)]) if nrho else None
    return GBlock(so, inner, tau_map, rho_map, ntau, nrho, si, r_of, t_ind, r_ind,
                  bool(nrho > 1 and tau_map.size > 2 and lag is None), lag, corr)


def marginal(batch: Batch, sigma2: np.ndarray, tau2: np.ndarray, rho: np.ndarray, derivs: bool,
             gamma2: np.ndarray | None = None,
             phi: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray], dict[tuple[int, int], Any]]:
    """``M`` by cluster, its first and (non-zero) second derivatives.

    Derivatives are with respect to (log sigma2, log tau2, atanh rho, log
    gamma2, atanh phi), in that order; second derivatives are keyed by index
    pairs ``(i, j)``, ``i <= j``, and are either a matrix or ``(c, l)`` meaning
    ``c`` times first derivative ``l``.
    """
    M = batch.V.copy()
    D: list[np.ndarray] = []
    D2: dict[tuple[int, int], Any] = {}
    for j in range(batch.num_sigma2):
        term = sigma2[j] * batch.S[j]
        M += term
        if derivs:
            D.append(term)
            D2[(j, j)] = (1.0, j)
    if batch.so is not None:
        M += _g_part(batch.g, tau2, rho, derivs, D, D2)
    if batch.h is not None:
        M += _g_part(batch.h, gamma2, phi, derivs, D, D2)
    return M, D, D2


def _g_part(gb: Any, tau2: np.ndarray, rho: np.ndarray, derivs: bool, D: list[np.ndarray],
            D2: dict[tuple[int, int], Any]) -> np.ndarray:
    """One ``~ inner | outer`` term of ``M``; appends its derivatives to ``D`` and ``D2``."""
    sq = np.sqrt(tau2[gb.tau_map])[gb.inner]
    sqtt = gb.so * (sq[:, :, None] * sq[:, None, :])
    if gb.lag is not None:
        R, dR, d2R = corr_derivs(gb.corr, gb.lag, float(rho[0]), derivs)
        ia, ib = gb.inner[:, :, None], gb.inner[:, None, :]
        MG = sqtt * R[ia, ib]
    else:
        MG = sqtt * (gb.si + np.append(rho, 0.0)[gb.r_of])
    if not derivs:
        return MG
    ns, nt = len(D), gb.num_tau2
    half = [np.ones(1) if nt == 1 else 0.5 * gb.t_ind[i] for i in range(nt)]
    for i in range(nt):
        D.append(MG if nt == 1 else half[i] * MG)
        for j in range(i, nt):
            D2[(ns + i, ns + j)] = (1.0, ns + i) if nt == 1 else half[i] * half[j] * MG
    if gb.lag is not None:
        Dr = sqtt * dR[ia, ib]
        D.append(Dr)
        pos = ns + nt
        D2[(pos, pos)] = sqtt * d2R[ia, ib]
        for i in range(nt):
            D2[(ns + i, pos)] = (1.0, pos) if nt == 1 else half[i] * Dr
        return MG
    for r in range(gb.num_rho):
        Dr = sqtt * ((1.0 - rho[r] ** 2) * gb.r_ind[r])
        D.append(Dr)
        pos = ns + nt + r
        D2[(pos, pos)] = (-2.0 * rho[r], pos)
        for i in range(nt):
            D2[(ns + i, pos)] = (1.0, pos) if nt == 1 else half[i] * Dr
    return MG


def _valid_corr(gb: Any, rho: np.ndarray | None) -> bool:
    """A serial or spatial correlation parameter must lie in its space (``_serial.valid_rho``)."""
    if gb is None or gb.lag is None or rho is None or not len(rho):
        return True
    return valid_rho(gb.corr, float(rho[0]))


def _correlation_psd(rho_map: np.ndarray, rho: np.ndarray) -> bool:
    """Whether the correlation matrix of an unstructured ``G`` is positive semi-definite.

    metafor keeps ``G`` positive semi-definite for ``struct = "UN"`` through a
    Cholesky parametrisation; here infeasible values are rejected instead.
    """
    R = np.eye(rho_map.shape[0])
    off = rho_map >= 0
    R[off] = rho[rho_map[off]]
    return bool(np.linalg.eigvalsh(R)[0] >= -1e-10)


def evaluate(batch: Batch, sigma2: np.ndarray, tau2: np.ndarray, rho: np.ndarray, *, reml: bool,
             free: np.ndarray | None = None, derivs: bool = False, observed: bool = True,
             gamma2: np.ndarray | None = None, phi: np.ndarray | None = None) -> Evaluation | None:
    """Log-likelihoods (ML and REML), GLS estimates and, optionally, score and information.

    ``free`` selects the parameters (in the order sigma2, tau2, rho, gamma2, phi) for which
    the gradient and the information of the objective ``ll`` are returned:
    the observed information when ``observed`` and positive definite,
    otherwise the average information. Returns None when ``M`` is not
    positive definite.
    """
    if batch.psd_check and not _correlation_psd(batch.rho_map, rho):
        return None
    if batch.h is not None and batch.h.psd_check and not _correlation_psd(batch.h.rho_map, phi):
        return None
    if not (_valid_corr(batch.g, rho) and _valid_corr(batch.h, phi)):
        return None
    M, D, D2 = marginal(batch, sigma2, tau2, rho, derivs, gamma2, phi)
    if not derivs:
        return evaluate_marginal(batch, M, reml=reml)
    sel = np.arange(len(D)) if free is None else np.flatnonzero(free)
    return evaluate_marginal(batch, M, [D[i] for i in sel], _second(D2, sel), reml=reml, observed=observed)


def evaluate_marginal(batch: Batch, M: np.ndarray, D: list[np.ndarray] | None = None,
                      D2: dict[tuple[int, int], Any] | None = None, *, reml: bool,
                      observed: bool = True) -> Evaluation | None:
    """:func:`evaluate` for a given ``M`` by cluster and derivative matrices ``D`` (``D2`` second ones)."""
    try:
        chol = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None
    logdet_m = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    Minv = np.linalg.inv(M)
    nb, m, p = batch.X.shape
    MinvX = Minv @ batch.X
    Py = (Minv @ batch.y[:, :, None])[:, :, 0]
    Xf, MXf = batch.X.reshape(nb * m, p), MinvX.reshape(nb * m, p)
    C = Xf.T @ MXf
    k = batch.k
    if p == 1:
        c = float(C[0, 0])
        if not c > 0:
            return None
        Cinv, logdet_c = np.array([[1.0 / c]]), float(np.log(c))
    else:
        try:
            Cinv = np.linalg.inv(C)
        except np.linalg.LinAlgError:
            return None
        logdet_c = float(np.linalg.slogdet(C)[1])
    beta = Cinv @ (Xf.T @ Py.reshape(-1))
    Py -= MinvX @ beta
    rss = float(batch.y.reshape(-1) @ Py.reshape(-1))
    ll_ml = -0.5 * (k * LOG_2PI + logdet_m + rss)
    ll_reml = -0.5 * ((k - p) * LOG_2PI - batch.logdet_xtx + logdet_m + logdet_c + rss)
    if D is None:
        return Evaluation(ll_ml, ll_reml, beta, Cinv, None, None, Minv, Py)
    lin = _Linear(Minv, MinvX, Cinv, Py, reml)
    grad, info, newton = lin.score_info(D, D2 or {}, observed)
    return Evaluation(ll_ml, ll_reml, beta, Cinv, grad, info, Minv, Py, newton)


def gather_g(batch: Batch, E: np.ndarray) -> np.ndarray:
    """A ``G``-shaped (inner levels) matrix spread over the cluster blocks (``Z1 E Z1' * Z2 Z2'``)."""
    return batch.so * E[batch.inner[:, :, None], batch.inner[:, None, :]]


def _second(D2: dict[tuple[int, int], Any], sel: np.ndarray) -> dict[tuple[int, int], Any]:
    pos = {int(i): a for a, i in enumerate(sel)}
    out = {}
    for (i, j), E in D2.items():
        if i in pos and j in pos:
            if isinstance(E, tuple):
                if E[1] not in pos:
                    continue
                E = (E[0], pos[E[1]])
            out[(pos[i], pos[j])] = E
    return out


class _Linear:
    """Traces and quadratic forms with ``P`` (REML) or ``M^{-1}`` (ML) at one evaluation.

    Stacks of cluster matrices are flattened so that every trace or quadratic
    form is one matrix product.
    """

    def __init__(self, Minv: np.ndarray, MinvX: np.ndarray, Cinv: np.ndarray, Py: np.ndarray, reml: bool):
        self.Minv, self.MinvX, self.Cinv, self.Py, self.reml = Minv, MinvX, Cinv, Py, reml
        nb, m, p = MinvX.shape
        self.n, self.p = nb * m, p
        self.MXf = MinvX.reshape(self.n, p)

    def _xex(self, EX: np.ndarray) -> np.ndarray:
        """``(M^-1 X)' E (M^-1 X)`` for a stack ``EX = E M^-1 X`` (q, nb, m, p) -> (q, p, p)."""
        return np.swapaxes(EX.reshape(EX.shape[0], self.n, self.p), 1, 2) @ self.MXf

    def s(self, E: np.ndarray, u: np.ndarray, EX: np.ndarray | None) -> np.ndarray:
        """``tr(Pi E) - y'P E P y`` for a stack ``E`` (q, nb, m, m) with ``u = E P y``, ``EX = E M^-1 X``."""
        q = E.shape[0]
        tr = E.reshape(q, -1) @ self.Minv.reshape(-1)
        if self.reml:
            tr = tr - self._xex(EX).reshape(q, -1) @ self.Cinv.reshape(-1)
        return tr - u.reshape(q, -1) @ self.Py.reshape(-1)

    def score_info(self, D: list[np.ndarray], D2: dict[tuple[int, int], Any],
                   observed: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        q = len(D)
        if q == 0:
            return np.zeros(0), np.zeros((0, 0)), False
        keys = [key for key, E in D2.items() if not isinstance(E, tuple)] if observed else []
        Es = np.stack(D + [D2[key] for key in keys])
        u_all = (Es @ self.Py[None, :, :, None])[..., 0]
        EX = Es @ self.MinvX[None] if self.reml or observed else None
        s_all = self.s(Es, u_all, EX)
        grad = -0.5 * s_all[:q]
        uf = u_all[:q].reshape(q, self.n)
        Pu = (self.Minv[None] @ u_all[:q, :, :, None]).reshape(q, self.n)
        Pu = Pu - ((uf @ self.MXf) @ self.Cinv) @ self.MXf.T
        ai = 0.5 * (uf @ Pu.T)
        if not observed:
            return grad, ai, False
        obs = 2.0 * ai - 0.5 * self._trace_pair(Es[:q], EX[:q])
        second = list(zip(keys, s_all[q:])) + [(key, E[0] * s_all[E[1]]) for key, E in D2.items()
                                               if isinstance(E, tuple)]
        for (i, j), v in second:
            obs[i, j] += 0.5 * v
            if i != j:
                obs[j, i] += 0.5 * v
        if _positive_definite(obs):
            return grad, obs, True
        return grad, ai, False

    def _trace_pair(self, Ds: np.ndarray, U: np.ndarray) -> np.ndarray:
        """``tr(Pi D_i Pi D_j)`` for all pairs (``U = D M^-1 X``)."""
        q = Ds.shape[0]
        A = self.Minv[None] @ Ds
        out = A.reshape(q, -1) @ np.swapaxes(A, 2, 3).reshape(q, -1).T
        if self.reml:
            Uf = U.reshape(q, self.n, self.p)
            WU = (self.Minv[None] @ U).reshape(q, self.n, self.p)
            S = np.swapaxes(Uf, 1, 2).reshape(q * self.p, self.n) @ WU.transpose(1, 0, 2).reshape(self.n, q * self.p)
            S = S.reshape(q, self.p, q, self.p)
            t2 = np.einsum("qprk,kp->qr", S, self.Cinv)
            CR = self.Cinv[None] @ self._xex(U)
            out = out - 2.0 * t2 + np.einsum("qab,rba->qr", CR, CR)
        return out
