"""Schur-update maps of the penalized least squares problem (arrays only).

The first random-effects term has a block-diagonal ``Lambda_1'Z_1'Z_1 Lambda_1 + I``
with blocks ``M_j``; eliminating it updates the rest of the system (later terms,
``X``, ``y``) by ``-A_r' W A_r`` with ``W`` block diagonal (``W_j = T M_j^{-1} T'``) and
``A_r = Z_1'[Z_rest, X, y]``. That update is linear in ``W``: a map ``P`` with
``vec(update) = -P w``, ``w`` stacking the upper triangles of the ``W_j``. The maps
here are precomputed once from the sparsity pattern of ``A_r``; an evaluation is
then one sparse matrix-vector product. Only the lower triangle (flattened
row-major ``r x r``, entry ``c * r + d`` with ``d <= c``) is produced, which is
what the Cholesky factorization reads.

For a scalar first term, ``W_j`` depends on theta only through ``A_j = Z_j'Z_j``:
levels with equal ``A_j`` (for ``(1 | g)``, equal numbers of rows) share one
weight, and the map has one column per such group (:func:`grouped_maps`).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

__all__ = ["MAX_DENSE_REST", "pair_products", "general_map", "dense_map", "grouped_maps", "grouped_map_y",
           "block_bounds", "split_maps", "two_thread_map"]

MAX_DENSE_REST = 10_000  # coefficients of the later random-effects terms (dense Schur complement)


def pair_products(left: sp.csr_matrix, right: sp.csr_matrix, rows_left: np.ndarray,
                   rows_right: np.ndarray, r: int, triangular: bool):
    """Products ``left[i, c] * right[j, d]`` for the row pairs ``(rows_left[t], rows_right[t])``.

    Returns ``(target, counts, values)``, ``target = c * r + d``, ordered by pair ``t``
    (``counts[t]`` entries each: the columns of a CSC matrix). With ``triangular`` (same
    matrix and rows on both sides, sorted indices) only ``c >= d`` is generated. Rows are
    grouped by their numbers of entries so that each group is one broadcast gather.
    """
    lp, li, lv = left.indptr, left.indices, left.data
    rp, ri, rv = right.indptr, right.indices, right.data
    la, lb = lp[rows_left], rp[rows_right]
    na, nb = lp[rows_left + 1] - la, rp[rows_right + 1] - lb
    counts = na * (na + 1) // 2 if triangular else na * nb
    offset = np.cumsum(counts) - counts
    total = int(counts.sum())
    target = np.empty(total, dtype=np.int64)
    values = np.empty(total)
    key = na.astype(np.int64) * (int(nb.max(initial=0)) + 1) + nb
    order = np.argsort(key, kind="stable")
    for grp in np.split(order, np.flatnonzero(np.diff(key[order])) + 1):
        m, k = int(na[grp[0]]), int(nb[grp[0]])
        if m == 0 or k == 0:
            continue
        if triangular:
            u, v = np.tril_indices(m)
        else:
            u, v = np.repeat(np.arange(m), k), np.tile(np.arange(k), m)
        ia = la[grp][:, None] + u[None, :]
        ib = lb[grp][:, None] + v[None, :]
        pos = offset[grp][:, None] + np.arange(u.size)[None, :]
        target[pos] = li[ia].astype(np.int64) * r + ri[ib]
        values[pos] = lv[ia] * rv[ib]
    return target, counts, values



def general_map(left, right, k1: int, nl: int, r: int, symmetric: bool) -> sp.csc_matrix:
    """Map from the upper triangles of the ``W_j`` to ``left' W right`` (flattened ``r x r``).

    ``left`` and ``right`` are ``(nl * k1) x r`` CSR; with ``symmetric`` (``left is right``)
    only the lower triangle is generated.
    """
    sym_a, sym_b = np.triu_indices(k1)
    ks = sym_a.size
    sym = np.zeros((k1, k1), dtype=np.int64)
    sym[sym_a, sym_b] = np.arange(ks)
    sym[sym_b, sym_a] = np.arange(ks)
    shape = (r * r, nl * ks)
    P = None
    for a in range(k1):
        for b in range(k1):
            ra, rb = np.arange(nl) * k1 + a, np.arange(nl) * k1 + b
            t, c, v = pair_products(left, right, ra, rb, r, symmetric and a == b)
            counts = np.zeros((nl, ks), dtype=np.int64)
            counts[:, sym[a, b]] = c
            indptr = np.concatenate([[0], np.cumsum(counts.ravel())])
            part = sp.csc_matrix((v, t, indptr), shape=shape)
            P = part if P is None else P + part
    return P


def dense_map(A1r: np.ndarray, k1: int, nl: int, r: int) -> np.ndarray:
    """Dense map for small problems, ``(r * r) x (nl * k1 (k1 + 1) / 2)``, columns as :func:`general_map`."""
    sym_a, sym_b = np.triu_indices(k1)
    A = A1r.reshape(nl, k1, r)
    P4 = np.einsum("jac,jbd->cdjab", A, A)
    sym = P4[..., sym_a, sym_b]
    off = sym_a != sym_b
    sym[..., off] += P4[..., sym_b[off], sym_a[off]]
    return sym.reshape(r * r, -1)


def block_bounds(q_rest: int, ncols: int, pieces: int = 4) -> list[tuple[int, int]]:
    """Row blocks of the lower triangle: ``pieces`` equal parts of the random-effects rows, then the rest."""
    edges = sorted({round(q_rest * i / pieces) for i in range(pieces + 1)} | {ncols})
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def grouped_maps(A1r: sp.csr_matrix, groups: np.ndarray, num_groups: int, r: int,
                 bounds, map_fn=map) -> list[sp.csc_matrix]:
    """Negated maps from group weights to the lower triangle of ``sum_g w_g sum_{j in g} a_j a_j'``.

    ``a_j`` is row ``j`` of ``A1r`` (``nl x (r - 1)``, the columns of the rest without y),
    ``groups`` the group of each level. One map per row block ``(c0, c1)`` of ``bounds``,
    each one sparse product: row ``g * h + (c - c0)`` of ``B`` (``h = c1 - c0``) holds column
    ``c`` of ``A1r`` on the levels of group ``g``, so ``B @ A1r[:, :c1]`` has
    ``sum_{j in g} a_jc a_jd`` at ``(g * h + c - c0, d)``. Splitting the rows skips most of
    the upper triangle that one product over all columns would compute. The blocks are
    independent: ``map_fn`` (e.g. a thread pool's map) builds them.
    """
    itype = np.int32 if r * r < 2 ** 31 else np.int64
    coo = A1r.tocoo()

    def block(bound):
        c0, c1 = bound
        h = c1 - c0
        sel = (coo.col >= c0) & (coo.col < c1)
        rows = coo.row[sel]
        B = sp.csr_matrix((coo.data[sel], (groups[rows] * h + (coo.col[sel] - c0), rows)),
                          shape=(num_groups * h, A1r.shape[0]))
        M = B @ A1r[:, :c1]
        d = M.indices.astype(itype, copy=False)
        target = np.repeat(np.tile(np.arange(c0, c1, dtype=itype) * r, num_groups), np.diff(M.indptr))
        target += d  # c * r + d
        keep = np.flatnonzero(d * (r + 1) <= target)  # d <= c: the lower triangle
        data = M.data[keep]
        np.negative(data, out=data)
        indptr = np.searchsorted(keep, M.indptr[::h])  # rows come ordered by group
        return sp.csc_matrix((data, target[keep], indptr), shape=(r * r, num_groups))

    return list(map_fn(block, bounds))


def grouped_map_y(A1y: np.ndarray, right: sp.csr_matrix, groups: np.ndarray, num_groups: int,
                  r: int) -> sp.csc_matrix:
    """As :func:`grouped_maps` for the last row (``y``): ``right`` is ``A1r`` with ``A1y`` appended."""
    D = sp.csr_matrix((A1y, (groups, np.arange(A1y.size))), shape=(num_groups, A1y.size))
    Y = (D @ right).tocsr()
    return sp.csc_matrix((-Y.data, (r - 1) * r + Y.indices, Y.indptr), shape=(r * r, num_groups))


def split_maps(maps, first_rows):
    """``(row, maps above, maps below)``: maps (csc_matvec argument tuples, ``first_rows`` the
    first row each writes, in order) in two groups writing rows ``< row`` and ``>= row`` of
    the Schur complement, about equal in entries (one group per thread)."""
    sizes = np.cumsum([m[4].size for m in maps])
    cut = int(np.argmin(np.abs(sizes[:-1] - sizes[-1] / 2))) + 1
    return first_rows[cut], maps[:cut], maps[cut:]


@contextlib.contextmanager
def two_thread_map(large: bool):
    """A two-thread map for building the maps of large problems (sparse products release the
    GIL), the builtin map otherwise."""
    if not large or (os.cpu_count() or 1) < 2:
        yield map
        return
    with ThreadPoolExecutor(2) as pool:
        yield pool.map
