"""Sparse Cholesky (LDL') formulation of the profiled deviance (arrays only).

As in :mod:`._pls`, the first random-effects term is eliminated level by level
(blocks ``M_j = T_1'A_jT_1 + I``, ``W_j = T_1 M_j^{-1} T_1'``). The Schur complement
of the later terms,

.. math::

    S = \\Lambda_r' (A_{rr} - A_{1r}' W A_{1r}) \\Lambda_r + I,

is kept as a sparse matrix: two later-term levels are coupled only when they share a
row (``A_rr``) or a first-term level (``A_1r'A_1r``). For designs whose later factor
crosses the first only locally (students and teachers within schools, pupils and
neighbourhoods within cities, raters and targets within panels) ``S`` has few nonzeros
per column and a sparse factor with a fill-reducing ordering is far cheaper than the
dense one, and it exists beyond the dense path's 10,000 later coefficients and for
later terms with several columns (``(x | teacher)``), where the matrix-free
formulation does not apply.

Set-up (once): the pattern of ``S`` by blocks of level pairs (a ``k_u x k_v`` block for
every coupled pair of levels ``u >= v``, all diagonal blocks), and a sparse map ``P``
from the first term's weights ``w`` (the upper triangles of the ``W_j``; for a scalar
first term one weight per group of levels with equal ``A_j``, as :mod:`._pls`) to the
blocks' values: ``C = A_rr - P w``. The factorization is QDLDL's (an up-looking
``LDL'`` with an approximate-minimum-degree ordering; Stellato et al. 2020): its
ordering and symbolic analysis are made with the first factor, each evaluation then
only refactors numerically (``update``). ``[X, y]`` is a dense border: ``S^{-1}``
applied to its ``p + 1`` columns gives the ``(p + 1) x (p + 1)`` Schur complement
whose Cholesky factor gives ``log |R_X|^2`` and the penalized RSS; ``log det S`` is
the sum of ``log D``. Everything is exact (as the dense formulation, to rounding).

Conditional variances (:meth:`SparseProblem.condvar`) need ``S^{-1}`` on the pattern of
``S``: it is formed by blocks of columns, ``q_rest`` solves in all (seconds for a few
thousand later levels, minutes beyond 20,000).

References
----------
Stellato, B., Banjac, G., Goulart, P., Bemporad, A. and Boyd, S. (2020). OSQP: an
operator splitting solver for quadratic programs. Math. Program. Comput. 12, 637-672
(QDLDL is its LDL' factorization).
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from ._pls import PLSProblem, PLSSolution, _LOG2PI
from ._schur import pair_products

__all__ = ["SparseProblem", "sparse_pattern"]


def _ldl_solver(A: sp.csc_matrix):
    """QDLDL's solver of the upper-triangular CSC matrix ``A`` (imported on first use)."""
    import qdldl

    return qdldl.Solver(A, upper=True)


def sparse_pattern(terms) -> tuple[np.ndarray, np.ndarray, int]:
    """The coupled pairs of later-term levels ``(u, v)``, ``u >= v`` (global level numbers of
    the later terms in order), the diagonal included, and the number of those levels.

    Two levels are coupled when some row has both (``Z_r'Z_r``) or some first-term level
    has rows with both (``Z_1'Z_r`` times its transpose).
    """
    first, rest = terms[0], terms[1:]
    offsets = np.cumsum([0] + [t.num_levels for t in rest])
    n, m = first.codes.size, int(offsets[-1])
    rows = np.concatenate([np.arange(n)] * len(rest))
    nodes = np.concatenate([t.codes + o for t, o in zip(rest, offsets[:-1])])
    R = sp.csr_matrix((np.ones(rows.size), (rows, nodes)), shape=(n, m))
    G1 = sp.csr_matrix((np.ones(n), (first.codes, np.arange(n))), shape=(first.num_levels, n)) @ R
    G1.data[:] = 1.0
    pattern = (G1.T @ G1 + R.T @ R + sp.eye(m)).tocoo()
    keep = pattern.row >= pattern.col
    return pattern.row[keep].astype(np.int64), pattern.col[keep].astype(np.int64), m


class SparseProblem(PLSProblem):
    """:class:`~._pls.PLSProblem` with a sparse factor of the later terms' Schur complement.

    Parameters
    ----------
    X, y, terms
        As :class:`~._pls.PLSProblem`; at least two terms (the first eliminated level by
        level, the later ones in the sparse factor).

    Notes
    -----
    Same internal API as :class:`~._pls.PLSProblem` (``deviance``, ``pieces``, ``solve``,
    ``objective``, ``condvar``, ``with_response``, pickling). There is no dense factor
    (``_factor``), so callers that read it take the pieces from :meth:`solve`. The QDLDL
    solver is kept per thread (its ordering and symbolic analysis are redone once per
    thread and after unpickling).
    """

    formulation = "sparse"

    def __init__(self, X: np.ndarray, y: np.ndarray, terms):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.terms = tuple(terms)
        if len(self.terms) < 2:
            raise ValueError("the sparse formulation needs random-effects terms after the first")
        self.n, self.p = self.X.shape
        self._local = threading.local()
        self._init_theta_layout()
        self._init_first_block()
        if self.terms[0].k == 1:
            self._group_levels()
        self._init_layout()
        self._init_blocks()
        self._init_map()
        self._init_factor_pattern()
        self._set_response(self.y)

    # ------------------------------------------------------------------ setup
    def _init_layout(self):
        rest = self.terms[1:]
        self.dense, self._level_blocks = False, False
        self.q_rest = sum(t.q for t in rest)
        self.r = self.q_rest + self.p + 1
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest])
        self.rest_scalar = all(t.k == 1 for t in rest)
        self.node_term = np.concatenate([np.full(t.num_levels, i) for i, t in enumerate(rest)])
        self.node_k = np.array([t.k for t in rest])[self.node_term]
        level_off = np.cumsum([0] + [t.num_levels for t in rest])
        local = np.arange(self.node_term.size) - level_off[self.node_term]
        self.node_start = self.rest_offsets[self.node_term] + local * self.node_k  # first coefficient
        self.coef_node = np.repeat(np.arange(self.node_term.size), self.node_k)
        t1 = self.terms[0]
        self.Z1T = t1.expanded().T.tocsr()
        Zr = sp.hstack([t.expanded() for t in rest], format="csr")
        self.ZrT = Zr.T.tocsr()
        B = (self.Z1T @ Zr).tocsr()
        B.sum_duplicates()
        B.sort_indices()
        self.B = B  # Z_1'Z_r
        self._Arr = (self.ZrT @ Zr).tocoo()

    def _init_blocks(self):
        """The blocks of ``S``: one per coupled pair of levels, stored by pairs of terms."""
        u, v, m = sparse_pattern(self.terms)
        tu, tv = self.node_term[u], self.node_term[v]
        order = np.lexsort((v, u, tv, tu))
        u, v, tu, tv = u[order], v[order], tu[order], tv[order]
        size = self.node_k[u] * self.node_k[v]
        self._block_base = np.cumsum(size) - size
        self._num_values = int(size.sum())
        self._block_u, self._block_v = u, v
        key = u * m + v
        self._key_order = np.argsort(key, kind="stable")
        self._keys = key[self._key_order]
        self._groups = []  # (term u, term v, first value, blocks)
        pair = tu * len(self.terms) + tv
        cuts = np.flatnonzero(np.diff(pair)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, u.size]):
            self._groups.append((int(tu[lo]), int(tv[lo]), int(self._block_base[lo]), int(hi - lo)))

    def _value_index(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Positions in the block values of coefficients ``(row, col)`` (levels ``u >= v``)."""
        u, v = self.coef_node[row], self.coef_node[col]
        m = self.node_term.size
        e = self._key_order[np.searchsorted(self._keys, u * m + v)]
        return self._block_base[e] + (row - self.node_start[u]) * self.node_k[v] + (col - self.node_start[v])

    def _init_map(self):
        """``A_rr`` on the blocks and the map ``P`` from the first term's weights to ``A_1r'WA_1r``."""
        Arr = self._Arr
        low = self.coef_node[Arr.row] >= self.coef_node[Arr.col]
        self._arr_values = np.zeros(self._num_values)
        np.add.at(self._arr_values, self._value_index(Arr.row[low], Arr.col[low]), Arr.data[low])
        del self._Arr
        t1 = self.terms[0]
        k1, nl, qr = t1.k, t1.num_levels, self.q_rest
        triangular = k1 == 1 and self.rest_scalar
        parts = []
        sym = np.zeros((k1, k1), dtype=np.int64)
        sym[self._sym_a, self._sym_b] = sym[self._sym_b, self._sym_a] = np.arange(self._sym_a.size)
        for a in range(k1):
            for b in range(k1):
                rows_a, rows_b = np.arange(nl) * k1 + a, np.arange(nl) * k1 + b
                target, counts, values = pair_products(self.B, self.B, rows_a, rows_b, qr, triangular)
                row, col = target // qr, target % qr
                level = np.repeat(np.arange(nl), counts)
                keep = self.coef_node[row] >= self.coef_node[col]
                column = self._k1_groups[level] if k1 == 1 else level * self._sym_a.size + sym[a, b]
                parts.append((self._value_index(row[keep], col[keep]), column[keep], values[keep]))
        pos, column, values = (np.concatenate(x) for x in zip(*parts))
        ncol = self._k1_values.size if k1 == 1 else nl * self._sym_a.size
        P = sp.csr_matrix((values, (pos, column)), shape=(self._num_values, ncol))
        P.sum_duplicates()
        self.P_sparse = P

    def _init_factor_pattern(self):
        """The upper triangle of ``S`` in CSC (QDLDL's input), where its values come from, and the
        coefficients ``(row, col)`` of every block value."""
        rows, cols, src = [], [], []
        self._value_rows = np.empty(self._num_values, dtype=np.int64)
        self._value_cols = np.empty(self._num_values, dtype=np.int64)
        for tu, tv, base, count in self._groups:
            ku, kv = self.terms[1 + tu].k, self.terms[1 + tv].k
            blk = np.arange(count) + int(np.searchsorted(self._block_base, base))
            a, c = np.divmod(np.arange(ku * kv), kv)
            u, v = self._block_u[blk], self._block_v[blk]
            R = self.node_start[u][:, None] + a[None, :]
            Cc = self.node_start[v][:, None] + c[None, :]
            pos = self._block_base[blk][:, None] + np.arange(ku * kv)[None, :]
            self._value_rows[pos], self._value_cols[pos] = R, Cc
            upper = (u == v)[:, None] & (R <= Cc)
            lower = np.broadcast_to((u != v)[:, None], R.shape)
            rows += [R[upper], Cc[lower]]
            cols += [Cc[upper], R[lower]]
            src += [pos[upper], pos[lower]]
        rows, cols, src = (np.concatenate(x) for x in (rows, cols, src))
        order = np.lexsort((rows, cols))
        self._src = src[order]
        rows, cols = rows[order], cols[order]
        self._indices = rows.astype(np.int64)
        self._indptr = np.searchsorted(cols, np.arange(self.q_rest + 1)).astype(np.int64)
        self._diag = np.flatnonzero(rows == cols)
        self.nnz_upper = int(rows.size)

    def _set_response(self, y):
        self.y = y
        XY = np.column_stack([self.X, y])
        self.A1xy = np.asarray(self.Z1T @ XY)
        self.Arxy = np.asarray(self.ZrT @ XY)
        self.Axyxy = XY.T @ XY

    def with_response(self, y: np.ndarray) -> "SparseProblem":
        """A copy of this problem with a new response vector (reuses all y-free structure)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._local = threading.local()
        new._set_response(np.ascontiguousarray(y, dtype=float))
        return new

    # ------------------------------------------------------------ theta -> S
    def _weights(self, templates):
        """``(log det of the first block, w for the map, W_j per level (levels, k1, k1))``."""
        logdet1, w = self._first_block(templates[0])
        k1 = self.terms[0].k
        if k1 == 1:
            return logdet1, w, w[self._k1_groups][:, None, None]
        ws = w.reshape(-1, self._sym_a.size)
        W = np.empty((ws.shape[0], k1, k1))
        W[:, self._sym_a, self._sym_b] = ws
        W[:, self._sym_b, self._sym_a] = ws
        return logdet1, w, W

    def _scaled_values(self, templates, w) -> np.ndarray:
        """The values of ``S``'s upper triangle (QDLDL's CSC order), identity included."""
        values = self._arr_values - self.P_sparse @ w
        for tu, tv, base, count in self._groups:
            Tu, Tv = templates[1 + tu], templates[1 + tv]
            ku, kv = Tu.shape[0], Tv.shape[0]
            sl = slice(base, base + count * ku * kv)
            if ku == kv == 1:
                values[sl] *= Tu[0, 0] * Tv[0, 0]
            else:
                blocks = values[sl].reshape(count, ku, kv)
                values[sl] = (Tu.T @ blocks @ Tv).reshape(-1)
        data = values[self._src]
        data[self._diag] += 1.0
        return data

    def _factorize(self, theta):
        """``(templates, log det of the first block, W, solver, log det S)``; solver None when
        ``S`` is not positive definite."""
        templates = self.templates(np.asarray(theta, dtype=float))
        logdet1, w, W = self._weights(templates)
        A = sp.csc_matrix((self._scaled_values(templates, w), self._indices, self._indptr),
                          shape=(self.q_rest, self.q_rest))
        solver = getattr(self._local, "solver", None)
        if solver is None:
            solver = self._local.solver = _ldl_solver(A)
        else:
            solver.update(A, upper=True)
        d = solver.factors()[1]
        if not np.all(d > 0):
            return templates, logdet1, W, None, np.nan
        return templates, logdet1, W, solver, float(np.log(d).sum())

    def _lambda_rest_t(self, templates, M: np.ndarray) -> np.ndarray:
        """``Lambda_r' M`` for a dense ``M`` with ``q_rest`` rows."""
        out = np.empty_like(M)
        for t, T, o0, o1 in zip(self.terms[1:], templates[1:], self.rest_offsets[:-1], self.rest_offsets[1:]):
            out[o0:o1] = (T.T @ M[o0:o1].reshape(t.num_levels, t.k, -1)).reshape(o1 - o0, -1)
        return out

    def _border(self, templates, W, solver):
        """``(T, V)``: the Schur complement of ``[X, y]`` and ``V = S^{-1} Lambda_r' C_r,xy``."""
        k1 = self.terms[0].k
        WA = (W @ self.A1xy.reshape(-1, k1, self.p + 1)).reshape(self.A1xy.shape)
        Cr = self._lambda_rest_t(templates, self.Arxy - self.B.T @ WA)
        V = np.column_stack([solver.solve(Cr[:, j]) for j in range(self.p + 1)])
        T = self.Axyxy - self.A1xy.T @ WA - Cr.T @ V
        return 0.5 * (T + T.T), V

    # --------------------------------------------------------------- objective
    def pieces(self, theta: np.ndarray) -> tuple[float, float, float] | None:
        """``(log|L|^2, log|R_X|^2, penalized RSS)`` at ``theta`` (see :meth:`PLSProblem.pieces`);
        None when the system is not positive definite."""
        templates, logdet1, W, solver, logdet_s = self._factorize(theta)
        if solver is None:
            return None
        T, _ = self._border(templates, W, solver)
        try:
            d = np.diagonal(np.linalg.cholesky(T))
        except np.linalg.LinAlgError:
            return None
        return logdet1 + logdet_s, 2.0 * float(np.log(d[:self.p]).sum()), float(d[-1]) ** 2

    def objective(self, reml: bool):
        return lambda theta: self.deviance(theta, reml)

    def _factor(self, theta):
        raise AttributeError("the sparse formulation has no dense factor: take the pieces from solve()")

    # ---------------------------------------------------------------- solution
    def solve(self, theta: np.ndarray) -> PLSSolution:
        """All pieces of the PLS solution at ``theta`` (for ML and REML alike)."""
        theta = np.asarray(theta, dtype=float)
        templates, logdet1, W, solver, logdet_s = self._factorize(theta)
        if solver is None:
            raise np.linalg.LinAlgError("the penalized system is not positive definite at theta")
        T, V = self._border(templates, W, solver)
        p, n, k1 = self.p, self.n, self.terms[0].k
        LT = np.linalg.cholesky(T)
        d = np.diagonal(LT)
        logdet, logdet_rx, pwrss = logdet1 + logdet_s, 2.0 * float(np.log(d[:p]).sum()), float(d[-1]) ** 2
        beta = np.linalg.solve(T[:p, :p], T[:p, p])
        coef = np.concatenate([-beta, [1.0]])
        u_rest = V @ coef
        b_rest = self._apply_lambda_rest(templates, u_rest)
        T1 = templates[0]
        rhs = (self.A1xy @ coef - self.B @ b_rest).reshape(-1, k1) @ T1  # rows: T1'(A_1y - A_1x beta - A_1r b)
        M = self.first_block_matrices(T1)
        u1 = np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
        blist = [u1 @ T1.T] + [b_rest[o0:o1].reshape(-1, t.k)
                               for t, o0, o1 in zip(self.terms[1:], self.rest_offsets[:-1], self.rest_offsets[1:])]
        fitted = self.X @ beta
        for t, bt in zip(self.terms, blist):
            fitted = fitted + np.einsum("nk,nk->n", t.Z, bt[t.codes])
        nmp = n - p
        dev_ml = logdet + n * (1.0 + _LOG2PI + np.log(pwrss / n))
        dev_reml = logdet + logdet_rx + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
        return PLSSolution(theta=theta, beta=beta, u=np.concatenate([u1.ravel(), u_rest]), b=blist,
                           sigma_ml=float(np.sqrt(pwrss / n)),
                           sigma_reml=float(np.sqrt(pwrss / nmp)) if nmp > 0 else np.nan,
                           logdet_L=logdet, logdet_RX=logdet_rx, pwrss=pwrss, RX=LT[:p, :p].T.copy(),
                           fitted=fitted, deviance_ml=float(dev_ml), deviance_reml=float(dev_reml))

    # --------------------------------------------------------- conditional variances
    def _inverse_on_pattern(self, solver, chunk: int = 256) -> np.ndarray:
        """``S^{-1}`` at the block values' coefficients (the pattern of ``S``), by blocks of columns."""
        out = np.empty(self._num_values)
        order = np.argsort(self._value_cols, kind="stable")
        bounds = np.searchsorted(self._value_cols[order], np.arange(0, self.q_rest + chunk, chunk))
        unit = np.zeros(self.q_rest)
        for i, c0 in enumerate(range(0, self.q_rest, chunk)):
            c1 = min(c0 + chunk, self.q_rest)
            block = np.empty((self.q_rest, c1 - c0))
            for c in range(c0, c1):
                unit[c] = 1.0
                block[:, c - c0] = solver.solve(unit)
                unit[c] = 0.0
            sel = order[bounds[i]:bounds[i + 1]]
            out[sel] = block[self._value_rows[sel], self._value_cols[sel] - c0]
        return out

    def condvar(self, theta: np.ndarray) -> list[np.ndarray]:
        """Diagonal blocks of ``Lambda (Lambda'Z'Z Lambda + I)^{-1} Lambda'`` per term, ``(levels, k, k)``
        (see :meth:`PLSProblem.condvar`); ``S^{-1}`` is formed on the pattern of ``S``."""
        theta = np.asarray(theta, dtype=float)
        templates, _, _, solver, _ = self._factorize(theta)
        if solver is None:
            raise np.linalg.LinAlgError("the penalized system is not positive definite at theta")
        Z = self._inverse_on_pattern(solver)
        T1 = templates[0]
        Minv = np.linalg.inv(self.first_block_matrices(T1))
        H = T1[None] @ Minv  # V1_j = Minv_j + H_j' Q_j H_j, Q_j = A_1r,j Lambda_r S^{-1} Lambda_r' A_1r,j'
        V1 = Minv + np.transpose(H, (0, 2, 1)) @ self._first_term_quadratic(templates, Z) @ H
        out = [T1 @ V1 @ T1.T]
        for i, (t, T) in enumerate(zip(self.terms[1:], templates[1:])):
            idx = np.flatnonzero((self._block_u == self._block_v) & (self.node_term[self._block_u] == i))
            idx = idx[np.argsort(self._block_u[idx])]
            Vb = Z[self._block_base[idx][:, None] + np.arange(t.k * t.k)[None, :]].reshape(-1, t.k, t.k)
            out.append(T @ Vb @ T.T)
        return out

    def _first_term_quadratic(self, templates, Z) -> np.ndarray:
        """``Q_j = A_1r,j Lambda_r S^{-1} Lambda_r' A_1r,j'`` (``k1 x k1``) for every first-term level,
        from ``S^{-1}`` on the pattern (``Z``): the pairs of later coefficients sharing level ``j``."""
        k1, nl, qr = self.terms[0].k, self.terms[0].num_levels, self.q_rest
        lam = sp.block_diag([sp.kron(sp.eye(t.num_levels), T) for t, T in zip(self.terms[1:], templates[1:])])
        Bs = (self.B @ lam).tocsr()
        Bs.sort_indices()
        out = np.zeros((nl, k1, k1))
        for a in range(k1):
            for b in range(k1):
                rows_a, rows_b = np.arange(nl) * k1 + a, np.arange(nl) * k1 + b
                target, counts, values = pair_products(Bs, Bs, rows_a, rows_b, qr, False)
                row, col = target // qr, target % qr
                swap = self.coef_node[row] < self.coef_node[col]
                row, col = np.where(swap, col, row), np.where(swap, row, col)
                level = np.repeat(np.arange(nl), counts)
                out[:, a, b] = np.bincount(level, weights=values * Z[self._value_index(row, col)], minlength=nl)
        return out
