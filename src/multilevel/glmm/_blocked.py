"""The weighted penalized system of a PIRLS iteration, blocked by the first random-effects term
(arrays only).

With IRLS weights ``w`` the system of one iteration is

.. math::

    \\begin{bmatrix} \\Lambda'Z'WZ\\Lambda + I & \\Lambda'Z'WX \\\\ X'WZ\\Lambda & X'WX \\end{bmatrix}
    \\begin{bmatrix} u \\\\ \\beta \\end{bmatrix} =
    \\begin{bmatrix} \\Lambda'Z'Wz \\\\ X'Wz \\end{bmatrix}.

Every entry of the cross-products is a sum over rows of ``w_i`` times a product of two
design columns, within a level of a grouping factor, a cell of two crossed factors, or
over all rows. The products are fixed, so all entries come from one sparse
matrix-vector product ``P w`` with ``P`` precomputed; ``P`` has one row per distinct
(grouping, product) cell: duplicate columns (the intercept of ``X`` and of each term,
``x`` in ``X`` and in ``(x | g)``) are stored once, and a sum over a coarser grouping
(a level of one of two crossed factors, all rows) is added up from a finer one that is
already there. The right-hand side is ``Q (w z)`` likewise.

The first term (the one with the most levels) has a block-diagonal
``M_11 = Lambda_1'Z_1'WZ_1 Lambda_1 + I`` (one ``k x k`` block per level). Eliminating it
leaves the Schur complement of the rest (later terms and ``X``), a small dense matrix
``S`` factored by LAPACK; ``R_X`` and the log-determinant of ``L L'`` come from the
same factors (lme4's ``RX`` and ``ldL2``).

Nothing here imports pandas, formulas or result classes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

try:  # y += A x without scipy.sparse's per-call checks (a PIRLS iteration makes several such products)
    from scipy.sparse._sparsetools import (csc_matvec as _csc_matvec, csc_matvecs as _csc_matvecs,
                                           csr_matvec as _csr_matvec, csr_matvecs as _csr_matvecs)
except ImportError:  # pragma: no cover - private scipy API
    def _csc_matvec(n_row, n_col, indptr, indices, data, x, y):
        y += sp.csc_matrix((data, indices, indptr), shape=(n_row, n_col)) @ x

    def _csr_matvec(n_row, n_col, indptr, indices, data, x, y):
        y += sp.csr_matrix((data, indices, indptr), shape=(n_row, n_col)) @ x

    def _csc_matvecs(n_row, n_col, n_vecs, indptr, indices, data, x, y):
        y += (sp.csc_matrix((data, indices, indptr), shape=(n_row, n_col)) @ x.reshape(n_col, n_vecs)).ravel()

    def _csr_matvecs(n_row, n_col, n_vecs, indptr, indices, data, x, y):
        y += (sp.csr_matrix((data, indices, indptr), shape=(n_row, n_col)) @ x.reshape(n_col, n_vecs)).ravel()

__all__ = ["BlockedOps", "BlockFactor", "blocked_fits", "MatVec"]

_MAX_Q1R = 4_000_000  # entries of the dense first-term / rest block
_MAX_R = 2500  # order of the dense Schur complement


def blocked_fits(terms, p: int) -> bool:
    """Whether the blocked system suits these terms (dense rest of moderate size)."""
    q1 = terms[0].q
    r = sum(t.q for t in terms[1:]) + p
    return r <= _MAX_R and q1 * r <= _MAX_Q1R


class MatVec:
    """``x -> A x`` for a fixed CSR or CSC matrix ``A``, one call into scipy's compiled loop;
    ``x`` a vector or a matrix (``A x`` for several columns at once)."""

    def __init__(self, A):
        A = A.tocsr() if A.format not in ("csr", "csc") else A
        A.sum_duplicates()
        csr = A.format == "csr"
        self._fn, self._fns = (_csr_matvec, _csr_matvecs) if csr else (_csc_matvec, _csc_matvecs)
        self.shape = A.shape
        self._parts = (A.indptr, A.indices, np.ascontiguousarray(A.data, dtype=float))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=float)
        if x.ndim == 1:
            y = np.zeros(self.shape[0])
            self._fn(self.shape[0], self.shape[1], *self._parts, x, y)
        else:
            y = np.zeros((self.shape[0], x.shape[1]))
            self._fns(self.shape[0], self.shape[1], x.shape[1], *self._parts, x.ravel(), y.ravel())
        return y


class _Columns:
    """Distinct design columns: equal columns (the intercept of X and of each term) share an id."""

    def __init__(self):
        self.values, self._ids = [], {}

    def id(self, col: np.ndarray) -> int:
        col = np.ascontiguousarray(col, dtype=float)
        key = col.tobytes()
        if key not in self._ids:
            self._ids[key] = len(self.values)
            self.values.append(col)
        return self._ids[key]


class _SumMap:
    """Sums of ``weight_i * column_i`` within the cells of groupings, as one sparse product.

    ``need(grouping, column_key, cells, targets)`` asks for the sum in ``cells`` of
    ``grouping`` to be written at ``targets``; ``build`` decides which sums are computed
    from the rows (``P``) and which are added up from finer ones (``E``): the result is
    ``E @ (P @ weights)``.
    """

    def __init__(self, groupings: dict, n: int):
        self.groupings, self.n = groupings, n  # key -> (cell of each row, number of cells, coarser-of)
        self.needs = []

    def need(self, gkey, ckey, cells, targets):
        self.needs.append((gkey, ckey, np.atleast_1d(np.asarray(cells, dtype=np.int64)),
                           np.atleast_1d(np.asarray(targets, dtype=np.int64))))

    def build(self, column_fn, num_targets: int):
        wanted = {}
        for gkey, ckey, *_ in self.needs:
            wanted.setdefault(ckey, set()).add(gkey)
        primary, derive = [], {}
        for ckey, gkeys in wanted.items():
            for gkey in sorted(gkeys, key=lambda g: -self.groupings[g][1]):  # finest first
                src = next((g for g, c in primary if c == ckey and self._coarsens(gkey, g)), None)
                if src is None:
                    primary.append((gkey, ckey))
                else:
                    derive[(gkey, ckey)] = src
        offsets, pos = {}, 0
        rows, cols, vals = [], [], []
        for gkey, ckey in primary:
            offsets[(gkey, ckey)] = pos
            cell, ncell, _ = self.groupings[gkey]
            col = column_fn(ckey)
            keep = col != 0.0
            rows.append(pos + (cell[keep] if cell.ndim else np.zeros(int(keep.sum()), dtype=np.int64)))
            cols.append(np.flatnonzero(keep))
            vals.append(col[keep])
            pos += ncell
        self.P = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(pos, self.n))
        e_rows, e_cols = [], []
        for gkey, ckey, cells, targets in self.needs:
            if (gkey, ckey) in offsets:
                e_rows.append(targets)
                e_cols.append(offsets[(gkey, ckey)] + cells)
                continue
            fine = derive[(gkey, ckey)]
            member = self._members(gkey, fine)  # fine cell -> coarse cell
            order = np.argsort(member, kind="stable")
            starts = np.searchsorted(member[order], cells)
            ends = np.searchsorted(member[order], cells, side="right")
            counts = ends - starts
            e_rows.append(np.repeat(targets, counts))
            e_cols.append(offsets[(fine, ckey)] + np.concatenate([order[a:b] for a, b in zip(starts, ends)]))
        rows, cols = np.concatenate(e_rows), np.concatenate(e_cols)
        E = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(num_targets, pos))
        identity = bool(E.nnz == pos == num_targets and np.array_equal(E.indices, np.arange(pos)))
        self._P, self._E = MatVec(self.P), None if identity else MatVec(E)
        return self

    def _coarsens(self, coarse, fine) -> bool:
        return coarse != fine and coarse in self.groupings[fine][2]

    def _members(self, coarse, fine) -> np.ndarray:
        """The coarse cell of every cell of the finer grouping."""
        ncell = self.groupings[fine][1]
        if coarse == "all":
            return np.zeros(ncell, dtype=np.int64)
        _, i, j = fine  # ("cross", i, j): cell = level_i * L_j + level_j
        lj = self.groupings[("term", j)][1]
        cells = np.arange(ncell)
        return cells // lj if coarse == ("term", i) else cells % lj

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        s = self._P(weights)
        return s if self._E is None else self._E(s)


class BlockedOps:
    """Precomputed maps of a GLMM's weighted system (see the module docstring).

    ``at(theta)`` gives the templates; ``factor(templates, w)`` a :class:`BlockFactor`,
    ``rhs(templates, v)`` the scaled right-hand side ``[Lambda'Z'v, X'v]``, ``lin(templates, u)``
    ``Z Lambda u``.
    """

    def __init__(self, terms, X: np.ndarray):
        self.terms, self.X = tuple(terms), X
        self.n, self.p = X.shape
        t1 = self.terms[0]
        self.k1, self.L1, self.q1 = t1.k, t1.num_levels, t1.q
        self.rest_offsets = np.cumsum([0] + [t.q for t in self.terms[1:]])
        self.qr = int(self.rest_offsets[-1])
        self.r = self.qr + self.p
        self.q = self.q1 + self.qr
        self.rest_scalar = all(t.k == 1 for t in self.terms[1:])
        columns = _Columns()
        self._zid = [[columns.id(t.Z[:, a]) for a in range(t.k)] for t in self.terms]
        self._xid = [columns.id(X[:, c]) for c in range(self.p)]
        groupings = self._groupings()
        self._cross_map = self._build_cross(groupings, columns)
        self._rhs_map = self._build_rhs(groupings, columns)
        self._zl = MatVec(sp.hstack([t.expanded() for t in self.terms], format="csr"))
        self._n11, self._n1r = self.L1 * self.k1 * self.k1, self.q1 * self.r
        self._ones_r = np.ones(self.r)
        self._rest_counts = [t.q for t in self.terms[1:]] + [self.p]

    # ------------------------------------------------------------------ setup
    def _groupings(self) -> dict:
        g = {"all": (np.array(0), 1, ())}
        for i, t in enumerate(self.terms):
            g[("term", i)] = (t.codes.astype(np.int64), t.num_levels, ("all",))
        for i in range(len(self.terms)):
            for j in range(i + 1, len(self.terms)):
                ti, tj = self.terms[i], self.terms[j]
                cell = ti.codes.astype(np.int64) * tj.num_levels + tj.codes
                g[("cross", i, j)] = (cell, ti.num_levels * tj.num_levels, ("all", ("term", i), ("term", j)))
        return g

    def _rest_pos(self, i):
        """Offset of term ``i`` (>= 1) in the rest block."""
        return int(self.rest_offsets[i - 1])

    def _build_cross(self, groupings, columns) -> _SumMap:
        """Needs for ``H11`` (levels x k1 x k1), ``H1r`` (q1 x r) and ``Hrr`` (r x r), flattened in that order."""
        m = _SumMap(groupings, self.n)
        k1, L1, r, qr = self.k1, self.L1, self.r, self.qr
        o1r, orr = self._n11_size(), self._n11_size() + self.q1 * r
        lev1 = np.arange(L1)
        pair = _pair_key
        for a in range(k1):
            for b in range(k1):
                m.need(("term", 0), pair(self._zid[0][a], self._zid[0][b]), lev1, (lev1 * k1 + a) * k1 + b)
            for c in range(self.p):
                m.need(("term", 0), pair(self._zid[0][a], self._xid[c]), lev1, o1r + (lev1 * k1 + a) * r + qr + c)
        for s in range(1, len(self.terms)):
            ts, os_ = self.terms[s], self._rest_pos(s)
            ks, Ls = ts.k, ts.num_levels
            cells = np.arange(L1 * Ls)
            j, lvl = cells // Ls, cells % Ls
            levs = np.arange(Ls)
            for a in range(k1):
                for b in range(ks):
                    m.need(("cross", 0, s), pair(self._zid[0][a], self._zid[s][b]), cells,
                           o1r + (j * k1 + a) * r + os_ + lvl * ks + b)
            for a in range(ks):
                for b in range(ks):
                    m.need(("term", s), pair(self._zid[s][a], self._zid[s][b]), levs,
                           orr + (os_ + levs * ks + a) * r + os_ + levs * ks + b)
                for c in range(self.p):
                    key = pair(self._zid[s][a], self._xid[c])
                    m.need(("term", s), key, levs, orr + (os_ + levs * ks + a) * r + qr + c)
                    m.need(("term", s), key, levs, orr + (qr + c) * r + os_ + levs * ks + a)
            for s2 in range(s + 1, len(self.terms)):
                t2, o2 = self.terms[s2], self._rest_pos(s2)
                cells2 = np.arange(Ls * t2.num_levels)
                l1, l2 = cells2 // t2.num_levels, cells2 % t2.num_levels
                for a in range(ks):
                    for b in range(t2.k):
                        key = pair(self._zid[s][a], self._zid[s2][b])
                        i1, i2 = os_ + l1 * ks + a, o2 + l2 * t2.k + b
                        m.need(("cross", s, s2), key, cells2, orr + i1 * r + i2)
                        m.need(("cross", s, s2), key, cells2, orr + i2 * r + i1)
        for c in range(self.p):
            for d in range(self.p):
                m.need("all", pair(self._xid[c], self._xid[d]), [0], orr + (qr + c) * r + qr + d)

        def column(key):
            a, b = key
            return columns.values[a] * columns.values[b]

        return m.build(column, orr + r * r)

    def _n11_size(self):
        return self.L1 * self.k1 * self.k1

    def _build_rhs(self, groupings, columns) -> _SumMap:
        m = _SumMap(groupings, self.n)
        off = 0
        for i, t in enumerate(self.terms):
            lev = np.arange(t.num_levels)
            for a in range(t.k):
                m.need(("term", i), self._zid[i][a], lev, off + lev * t.k + a)
            off += t.q
        for c in range(self.p):
            m.need("all", self._xid[c], [0], self.q + c)
        return m.build(lambda key: columns.values[key], self.q + self.p)

    # ------------------------------------------------------------------ evaluation
    def lam_full(self, templates) -> np.ndarray | None:
        """``Lambda`` as a vector (every term scalar), else None."""
        if any(T.shape[0] > 1 for T in templates):
            return None
        return np.repeat([T[0, 0] for T in templates], [t.q for t in self.terms])

    def lin(self, templates, u) -> np.ndarray:
        """``Z Lambda u``."""
        return self._zl(self.apply_lambda(templates, u))

    def apply_lambda(self, templates, u) -> np.ndarray:
        out, pos = np.empty_like(u), 0
        for t, T in zip(self.terms, templates):
            if t.k == 1:
                out[pos:pos + t.q] = T[0, 0] * u[pos:pos + t.q]
            else:
                out[pos:pos + t.q] = (u[pos:pos + t.q].reshape(-1, t.k) @ T.T).ravel()
            pos += t.q
        return out

    def apply_lambda_t(self, templates, c) -> np.ndarray:
        """``Lambda' c`` on the first ``q`` entries (the rest, X's, unchanged)."""
        out, pos = c.copy(), 0
        for t, T in zip(self.terms, templates):
            if t.k == 1:
                out[pos:pos + t.q] *= T[0, 0]
            else:
                out[pos:pos + t.q] = (c[pos:pos + t.q].reshape(-1, t.k) @ T).ravel()
            pos += t.q
        return out

    def rhs(self, templates, v) -> np.ndarray:
        return self.apply_lambda_t(templates, self._rhs_map(v))

    def rhs_many(self, v) -> np.ndarray:
        """``[Z'v, X'v]`` (not scaled by Lambda) for the rows of ``v``, one column per row."""
        return self._rhs_map(v.T)

    def cross_many(self, w) -> np.ndarray:
        """The cross-products for the rows of ``w``, one column per row (see :meth:`assemble`)."""
        return self._cross_map(w.T)

    def lin_many(self, b) -> np.ndarray:
        """``Z b`` for the rows of ``b`` (``b = Lambda u`` of each point), one row per point."""
        return self._zl(b.T).T

    def factor(self, templates, w) -> "BlockFactor":
        return self.assemble(templates, self._cross_map(w))

    def assemble(self, templates, h) -> "BlockFactor":
        """The factors at ``templates`` from the flattened cross-products ``h`` of one point."""
        n11, n1r = self._n11, self._n1r
        k1, r = self.k1, self.r
        T1 = templates[0]
        H11 = h[:n11].reshape(self.L1, k1, k1)
        M1r = h[n11:n11 + n1r].reshape(self.q1, r)
        Mrr = h[n11 + n1r:].reshape(r, r)
        if k1 == 1 and self.rest_scalar:  # every scaling is one product with a vector
            lam = T1[0, 0]
            m11 = H11[:, 0, 0] * (lam * lam)
            m11 += 1.0
            d = self._rest_scale(templates)
            M1r = M1r * (lam * d)
            if self.qr:
                Mrr = Mrr * np.outer(d, d)
                Mrr.reshape(-1)[:self.qr * (r + 1):r + 1] += 1.0
            return BlockFactor(self, m11, M1r, Mrr)
        if k1 == 1:
            lam = T1[0, 0]
            m11 = H11[:, 0, 0] * (lam * lam) + 1.0
            M1r = M1r * lam
        elif k1 == 2:  # T'HT + I in closed form: columns m00, m01, m11
            (t00, _), (t10, t11) = T1.tolist()
            h00, h01, h11 = H11[:, 0, 0], H11[:, 0, 1], H11[:, 1, 1]
            m11 = np.empty((self.L1, 3))
            m11[:, 0] = t00 * t00 * h00 + 2.0 * t00 * t10 * h01 + t10 * t10 * h11 + 1.0
            m11[:, 1] = t00 * t11 * h01 + t10 * t11 * h11
            m11[:, 2] = t11 * t11 * h11 + 1.0
            R = M1r.reshape(self.L1, 2, r)
            M1r = np.empty_like(R)
            np.multiply(R[:, 0], t00, out=M1r[:, 0])
            M1r[:, 0] += t10 * R[:, 1]
            np.multiply(R[:, 1], t11, out=M1r[:, 1])
            M1r = M1r.reshape(self.q1, r)
        else:
            m11 = np.matmul(np.matmul(T1.T, H11), T1)
            m11[:, range(k1), range(k1)] += 1.0
            M1r = np.matmul(T1.T, M1r.reshape(self.L1, k1, r)).reshape(self.q1, r)
        if self.qr:
            M1r, Mrr = self._scale_rest(templates, M1r, Mrr)
        return BlockFactor(self, m11, M1r, Mrr)

    def assemble_many(self, templates, H) -> list:
        """:meth:`assemble` for several points (``H`` one row per point); for a scalar first term
        and scalar later terms the scalings and ``B'B`` are computed for all points together."""
        if not (self.k1 == 1 and self.rest_scalar and self.r):
            return [self.assemble(T, h) for T, h in zip(templates, H)]
        a, n11, n1r, r, q1 = H.shape[0], self._n11, self._n1r, self.r, self.q1
        lam = np.array([T[0][0, 0] for T in templates])
        d = np.stack([self._rest_scale(T) for T in templates])
        m11 = H[:, :n11] * (lam * lam)[:, None]
        m11 += 1.0
        isqrt = 1.0 / np.sqrt(m11)
        B = H[:, n11:n11 + n1r].reshape(a, q1, r) * (lam[:, None] * d)[:, None, :]
        B *= isqrt[:, :, None]
        S = H[:, n11 + n1r:].reshape(a, r, r) * (d[:, :, None] * d[:, None, :])
        S.reshape(a, -1)[:, :self.qr * (r + 1):r + 1] += 1.0
        S -= np.matmul(B.transpose(0, 2, 1), B)
        return [BlockFactor(self, m11[j], None, None, parts=(isqrt[j], B[j], S[j].T)) for j in range(a)]

    def _scale_rest(self, templates, M1r, Mrr):
        """Right-multiply ``M1r`` and both sides of ``Mrr`` by ``blockdiag(Lambda_rest, I_p)``; add I."""
        qr = self.qr
        if self.rest_scalar:
            d = self._rest_scale(templates)
            M1r = M1r * d
            Mrr = Mrr * np.outer(d, d)
        else:
            D = np.eye(self.r)
            for t, T, o0 in zip(self.terms[1:], templates[1:], self.rest_offsets[:-1]):
                D[o0:o0 + t.q, o0:o0 + t.q] = np.kron(np.eye(t.num_levels), T)
            M1r = M1r @ D
            Mrr = D.T @ Mrr @ D
        Mrr.reshape(-1)[:qr * (self.r + 1):self.r + 1] += 1.0
        return M1r, Mrr


    def _rest_scale(self, templates) -> np.ndarray:
        """The diagonal of ``blockdiag(Lambda_rest, I_p)`` when every later term is scalar."""
        if len(templates) == 1:
            return self._ones_r
        return np.repeat([T[0, 0] for T in templates[1:]] + [1.0], self._rest_counts)


def _pair_key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


class BlockFactor:
    """Factors of the blocked system at one ``(theta, w)``.

    ``ldL2`` is ``log det(Lambda'Z'WZ Lambda + I)``, ``RX`` (upper triangular) the factor of
    the Schur complement of ``X``. ``solve_joint(c)`` solves the whole system for ``(u, beta)``,
    ``solve(c)`` the random-effects block alone (``c`` of length q, or q x m), ``inverse()``
    its inverse, ``diag_inverse_sqrt()`` the AGQ scales of a single scalar term.
    """

    kind = "blocked"

    def __init__(self, ops: BlockedOps, m11, M1r, Mrr, parts=None):
        self.ops, self.qr, self.m11 = ops, ops.qr, m11
        k1 = ops.k1
        if parts is not None:  # scalar first term, computed for many points (BlockedOps.assemble_many)
            logdet1 = float(np.log(m11).sum())
            self._isqrt, self._B, S = parts
        elif k1 == 1:  # B = M11^-1/2 M1r, S = Mrr - B'B; Y = M11^-1 M1r is kept as (B, M11^-1/2)
            logdet1 = float(np.log(m11).sum())
            self._isqrt = 1.0 / np.sqrt(m11)
            B = M1r * self._isqrt[:, None]
            self._B = B
            # S = Mrr - B'B, lower triangle, in Fortran order for LAPACK (Mrr is symmetric)
            S = blas.dsyrk(-1.0, B.T, beta=1.0, c=np.array(Mrr.T, order="F"), trans=0, lower=1,
                           overwrite_c=1) if ops.r else Mrr
        else:
            if k1 == 2:  # inverse of each 2 x 2 block in closed form
                det = m11[:, 0] * m11[:, 2] - m11[:, 1] * m11[:, 1]
                if not np.all(det > 0):
                    raise np.linalg.LinAlgError("the penalized system is not positive definite")
                logdet1 = float(np.log(det).sum())
                self._inv2 = np.column_stack([m11[:, 2], -m11[:, 1], m11[:, 0]]) / det[:, None]
            else:
                L = np.linalg.cholesky(m11)
                logdet1 = 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
                self._m11_inv = np.linalg.inv(m11)
            self._Y = self._solve11(M1r)
            S = Mrr - M1r.T @ self._Y if ops.r else Mrr
        self.L, info = lapack.dpotrf(S, lower=1, clean=1, overwrite_a=1) if ops.r else (S, 0)
        if info != 0:
            raise np.linalg.LinAlgError(f"the penalized system is not positive definite (LAPACK dpotrf info {info})")
        self.ldL2 = logdet1 + 2.0 * float(np.log(np.diagonal(self.L)[:self.qr]).sum())

    @property
    def RX(self) -> np.ndarray:
        return np.ascontiguousarray(self.L[self.qr:, self.qr:].T)

    def _y_t(self, c1, m: int):
        """``Y[:, :m]' c1``."""
        if self.ops.k1 == 1:
            return self._B[:, :m].T @ (self._isqrt * c1 if c1.ndim == 1 else self._isqrt[:, None] * c1)
        return self._Y[:, :m].T @ c1

    def _y(self, x, m: int):
        """``Y[:, :m] x``."""
        if self.ops.k1 == 1:
            out = self._B[:, :m] @ x
            return out * (self._isqrt if out.ndim == 1 else self._isqrt[:, None])
        return self._Y[:, :m] @ x

    def _solve11(self, c1):
        """``M11^-1 c1`` (``c1`` of length q1, or q1 x m)."""
        if self.ops.k1 == 1:
            return c1 / (self.m11 if c1.ndim == 1 else self.m11[:, None])
        if self.ops.k1 == 2:
            inv = self._inv2 if c1.ndim == 1 else self._inv2[:, :, None]
            c = c1.reshape((self.ops.L1, 2) + c1.shape[1:])
            out = np.empty_like(c)
            out[:, 0] = inv[:, 0] * c[:, 0] + inv[:, 1] * c[:, 1]
            out[:, 1] = inv[:, 1] * c[:, 0] + inv[:, 2] * c[:, 1]
            return out.reshape(c1.shape)
        k1, L1 = self.ops.k1, self.ops.L1
        shape = c1.shape
        return np.matmul(self._m11_inv, c1.reshape(L1, k1, -1)).reshape(shape)

    def _solve(self, c, m: int):
        """Solve with the leading ``q1 + m`` rows and columns (``m`` unknowns of the rest):
        ``y1 = M11^-1 c1``, ``S x_r = c_r - Y' c1``, ``x1 = y1 - Y x_r`` (``Y = M11^-1 M1r``)."""
        q1 = self.ops.q1
        c1 = c[:q1]
        y1 = self._solve11(c1)
        if not m:
            return y1, c[q1:q1]
        xr, info = lapack.dpotrs(self.L[:m, :m], c[q1:q1 + m] - self._y_t(c1, m), lower=1)
        return y1 - self._y(xr, m), xr

    def solve_joint(self, c):
        """``(u, beta)`` solving the whole system with right-hand side ``c`` (length q + p)."""
        x1, xr = self._solve(c, self.ops.r)
        return np.concatenate([x1, xr[:self.qr]]), xr[self.qr:]

    def solve_u(self, c):
        """``u`` solving the random-effects block (beta fixed) with right-hand side ``c[:q]``."""
        x1, xr = self._solve(c, self.qr)
        return np.concatenate([x1, xr])

    def solve(self, rhs):
        x1, xr = self._solve(rhs, self.qr)
        return np.concatenate([x1, xr]) if rhs.ndim == 1 else np.vstack([x1, xr])

    def inverse(self) -> np.ndarray:
        return self.solve(np.eye(self.ops.q))

    def diag_inverse_sqrt(self) -> np.ndarray:
        return 1.0 / np.sqrt(self.m11)
