"""Products with ``Z Lambda_theta`` for PIRLS, chosen by the size of the problem (arrays only).

* :class:`ScalarTerm`: one scalar random-effects term. ``Lambda' Z' W Z Lambda + I``
  is diagonal and every product is a ``bincount`` over the grouping codes.
* :class:`DenseTerms`: any terms with up to a few thousand random effects.
  ``Z' W Z`` is accumulated entry by entry from the rows (``k_i k_j`` entries per
  row and pair of terms) and the system is a small dense matrix.
* :class:`SparseTerms`: larger problems; ``Z Lambda`` as a sparse matrix.

Each has ``at(theta)`` returning an object with ``system(sqrtw) -> (M, Ut)`` (``M``
a vector for a diagonal system, else a matrix; ``Ut(v) = Lambda' Z' diag(sqrtw) v``)
and ``lin(u) = Z Lambda u``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..lmm._pls import TermStructure, theta_template_indices

__all__ = ["make_ops", "lambda_pattern", "DENSE_MAX_Q"]

DENSE_MAX_Q = 3000


def lambda_pattern(terms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and theta indices of the nonzeros of Lambda (level-major within each term)."""
    rows, cols, idx = [], [], []
    off_q, off_t = 0, 0
    for t in terms:
        r, c = theta_template_indices(t.k)
        lev = np.arange(t.num_levels)[:, None] * t.k + off_q
        rows.append((lev + r[None, :]).ravel())
        cols.append((lev + c[None, :]).ravel())
        idx.append(np.tile(np.arange(t.num_theta) + off_t, t.num_levels))
        off_q += t.q
        off_t += t.num_theta
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(idx)


def _apply_cols(fn, v):
    if v.ndim == 1:
        return fn(v)
    return np.stack([fn(v[:, j]) for j in range(v.shape[1])], axis=1)


class ScalarTerm:
    def __init__(self, term: TermStructure):
        self.codes, self.z, self.q = term.codes, term.Z[:, 0], term.num_levels

    def at(self, theta):
        return _ScalarAt(self, self.z * float(theta[0]))


class _ScalarAt:
    def __init__(self, ops: ScalarTerm, a: np.ndarray):
        self.ops, self.a = ops, a

    def system(self, sqrtw):
        codes, q = self.ops.codes, self.ops.q
        aw = self.a * sqrtw
        M = 1.0 + np.bincount(codes, weights=aw * aw, minlength=q)
        return M, lambda v: _apply_cols(lambda x: np.bincount(codes, weights=aw * x, minlength=q), v)

    def lin(self, u):
        return self.a * u[self.ops.codes]


class DenseTerms:
    """``Z`` stored as (row, column, value) triples; ``Z' W Z`` by ``bincount`` into a dense q x q."""

    def __init__(self, terms, n: int):
        self.n = n
        self.q = sum(t.q for t in terms)
        rows, cols, vals = [], [], []
        off = 0
        for t in terms:
            for j in range(t.k):
                rows.append(np.arange(n))
                cols.append(off + t.codes * t.k + j)
                vals.append(t.Z[:, j])
            off += t.q
        self.rows, self.cols, self.vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        K = len(rows)  # entries per observation
        r = self.rows.reshape(K, n)
        c = self.cols.reshape(K, n)
        v = self.vals.reshape(K, n)
        self.pair_flat = (c[:, None, :] * self.q + c[None, :, :]).ravel()
        self.pair_vals = (v[:, None, :] * v[None, :, :]).ravel()
        self.pair_rows = np.broadcast_to(r[:, None, :], (K, K, n)).ravel()
        self.pattern = lambda_pattern(terms)
        self.diagonal = all(t.k == 1 for t in terms)

    def at(self, theta):
        if self.diagonal:
            r, c, i = self.pattern
            return _DenseAt(self, np.asarray(theta, dtype=float)[i])
        lam = np.zeros((self.q, self.q))
        r, c, i = self.pattern
        lam[r, c] = np.asarray(theta, dtype=float)[i]
        return _DenseAt(self, lam)

    def ztv(self, v):
        return np.bincount(self.cols, weights=self.vals * v[self.rows], minlength=self.q)

    def zb(self, b):
        return np.bincount(self.rows, weights=self.vals * b[self.cols], minlength=self.n)


class _DenseAt:
    """``lam`` is Lambda as a dense matrix, or its diagonal when every term is scalar."""

    def __init__(self, ops: DenseTerms, lam: np.ndarray):
        self.ops, self.lam = ops, lam

    def _lt(self, x):
        if self.lam.ndim == 1:
            return self.lam[:, None] * x if x.ndim == 2 else self.lam * x
        return self.lam.T @ x

    def system(self, sqrtw):
        ops, lam = self.ops, self.lam
        w = sqrtw * sqrtw
        ztwz = np.bincount(ops.pair_flat, weights=ops.pair_vals * w[ops.pair_rows],
                           minlength=ops.q * ops.q).reshape(ops.q, ops.q)
        M = ztwz * np.outer(lam, lam) if lam.ndim == 1 else lam.T @ ztwz @ lam
        M[np.diag_indices_from(M)] += 1.0
        return M, lambda v: self._lt(_apply_cols(lambda x: ops.ztv(sqrtw * x), v))

    def lin(self, u):
        return self.ops.zb(self.lam * u if self.lam.ndim == 1 else self.lam @ u)


class SparseTerms:
    def __init__(self, terms):
        self.Z = sp.hstack([t.expanded() for t in terms], format="csr")
        self.q = self.Z.shape[1]
        self.pattern = lambda_pattern(terms)

    def at(self, theta):
        r, c, i = self.pattern
        lam = sp.csc_matrix((np.asarray(theta, dtype=float)[i], (r, c)), shape=(self.q, self.q))
        return _SparseAt((self.Z @ lam).tocsr())


class _SparseAt:
    def __init__(self, A):
        self.A = A

    def system(self, sqrtw):
        Aw = sp.diags(sqrtw) @ self.A
        M = (Aw.T @ Aw + sp.identity(self.A.shape[1], format="csr")).tocsc()
        AwT = Aw.T.tocsr()
        return M, lambda v: AwT @ v

    def lin(self, u):
        return self.A @ u


def make_ops(terms, n: int):
    """The product implementation for these terms (see the module docstring)."""
    if len(terms) == 1 and terms[0].k == 1:
        return ScalarTerm(terms[0])
    q = sum(t.q for t in terms)
    K = sum(t.k for t in terms)
    if q <= DENSE_MAX_Q and n * K * K <= 50_000_000:
        return DenseTerms(terms, n)
    return SparseTerms(terms)
