"""Penalized least squares for linear mixed models (arrays only).

The model is lme4's

.. math::

    y = X\\beta + Z b + \\varepsilon,\\quad b = \\Lambda_\\theta u,\\quad
    u \\sim N(0, \\sigma^2 I_q),\\quad \\varepsilon \\sim N(0, \\sigma^2 I_n),

with the relative covariance factor :math:`\\Lambda_\\theta` block diagonal,
``I_l (x) T_b`` for random-effects term ``b`` with ``l`` levels and a lower
triangular ``k x k`` template ``T_b`` filled column-wise from ``theta``.

For given ``theta``, beta and sigma are profiled out through the Cholesky
factor of the augmented system

.. math::

    \\begin{bmatrix} \\Lambda'Z'Z\\Lambda + I & \\Lambda'Z'X & \\Lambda'Z'y \\\\
    X'Z\\Lambda & X'X & X'y \\\\ y'Z\\Lambda & y'X & y'y \\end{bmatrix} = L L'.

The factor is blocked as in MixedModels.jl: the first term (the one with the
most levels) has a block-diagonal ``Lambda'Z'Z Lambda + I`` with one ``k x k``
block per level (batched small Cholesky factors); the Schur complement of
everything else ("the rest": the later terms, X and y) is a small dense matrix
factored by LAPACK. The Schur complement update is a sparse matrix-vector
product with a matrix ``P`` precomputed from the sparsity pattern of
``Z_1'[Z_rest, X, y]`` (:mod:`._schur`), so that an evaluation does only
theta-dependent work and never forms an ``n x n`` or ``q x q`` matrix.

Nothing here imports pandas, formulas or result classes.
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import Future

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack, solve_triangular

from ._lapack import dpotrf_upper
from ._onefactor import (SLOPE_PRODUCTS_PER_ROW, augmented_2x2, first_block_2x2, level_products,
                         level_slope_objective, level_slope_solve, schur_update)
from ._pls_types import PLSSolution, TermStructure, _triu_indices, theta_template_indices  # re-exported
from ._schur import block_bounds, dense_map, general_map, grouped_map_y, grouped_maps, split_maps, two_thread_map

try:  # y += A x for a CSC matrix, in place (no temporary of size r * r)
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
except ImportError:  # pragma: no cover - private scipy API
    def _csc_matvec(n_row, n_col, indptr, indices, data, x, y):
        y += sp.csc_matrix((data, indices, indptr), shape=(n_row, n_col)) @ x

__all__ = ["PLSProblem", "PLSSolution", "TermStructure", "theta_template_indices"]

_LOG2PI = float(np.log(2.0 * np.pi))
_DENSE_P_MAX = 200_000  # entries of the Schur-update map stored dense below this size
_DENSE_SETUP_MAX = 2_000_000  # n * r below which the designs are kept dense
_GIL_FREE_MIN_R = 64  # rest matrices at least this large are factored with the GIL released
# Rest matrices at least this large split each evaluation with a helper thread. Below, a factor
# takes a few milliseconds and the hand-offs (about five per evaluation, each waiting for the
# other thread to be scheduled) cost more CPU than they save, and on a busy machine more time:
# the same split pieces then run one after the other on the calling thread (the same numbers).
HELPER_MIN_R = 1_000


class _InlineHelper:
    """An executor that runs each job at once on the calling thread (see ``HELPER_MIN_R``)."""

    @staticmethod
    def submit(fn, *args):
        done = Future()
        done.set_result(fn(*args))
        return done


class PLSProblem:
    """Precomputed structure of a linear mixed model; evaluates the profiled deviance.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    terms : sequence of TermStructure
        In lme4's order; the first term should have the most levels (it gets the
        block-diagonal treatment).

    Notes
    -----
    Internal API (used by the result object and by inference code):
    :meth:`deviance` (theta -> ML deviance or REML criterion), :meth:`pieces`
    (theta -> log-determinants and penalized RSS, no solve), :meth:`solve`
    (theta -> :class:`PLSSolution`), :meth:`condvar`, :meth:`with_response`
    (same structure, new response, cheap), ``lower`` and ``theta_start``.
    """

    formulation = "dense"  # see ._formulation
    _level_blocks = False  # one term with k >= 2 columns, large: the update of :mod:`._onefactor`

    def __init__(self, X: np.ndarray, y: np.ndarray, terms):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.terms = tuple(terms)
        if not self.terms:
            raise ValueError("a mixed model needs at least one random-effects term")
        self.n, self.p = self.X.shape
        self._local = threading.local()  # per-thread workspace
        self._init_theta_layout()
        self._init_first_block()
        self._init_rest()
        self._set_response(self.y)

    # ------------------------------------------------------------------ setup
    def _init_theta_layout(self):
        self.theta_slices, self.theta_rc = [], []
        lower, start, off = [], [], 0
        for t in self.terms:
            r, c = theta_template_indices(t.k)
            self.theta_slices.append(slice(off, off + t.num_theta))
            self.theta_rc.append((r, c))
            diag = r == c
            lower.append(np.where(diag, 0.0, -np.inf))
            start.append(np.where(diag, 1.0, 0.0))
            off += t.num_theta
        self.num_theta = off
        offs = np.cumsum([0] + [t.k * t.k for t in self.terms])
        self._template_offsets = [(int(o), t.k) for o, t in zip(offs[:-1], self.terms)]
        self._template_size = int(offs[-1])
        self._template_index = np.concatenate([o + r * t.k + c for o, t, (r, c)
                                               in zip(offs[:-1], self.terms, self.theta_rc)])
        self.lower = np.concatenate(lower)
        self.theta_start = np.concatenate(start)
        self.q = sum(t.q for t in self.terms)

    def _init_first_block(self):
        t1 = self.terms[0]
        k, nl = t1.k, t1.num_levels
        A = np.empty((nl, k, k))
        for a in range(k):
            for b in range(a, k):
                v = np.bincount(t1.codes, weights=t1.Z[:, a] * t1.Z[:, b], minlength=nl)
                A[:, a, b] = v
                A[:, b, a] = v
        self.A11 = A
        self._k1_values, self._k1_groups, self._k1_mult = A[:, 0, 0], None, None  # see _group_levels
        self._sym_a, self._sym_b = _triu_indices(k)
        self._A11_sym = np.ascontiguousarray(A[:, self._sym_a, self._sym_b])
        self._eye_2x2 = np.array([1.0, 0.0, 1.0])

    def _init_rest(self):
        rest = self.terms[1:]
        self.q_rest = sum(t.q for t in rest)
        self.r = self.q_rest + self.p + 1
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest])
        self.rest_scalar = all(t.k == 1 for t in rest)
        k1 = self.terms[0].k
        ks = k1 * (k1 + 1) // 2
        self.dense = (self.n * self.r <= _DENSE_SETUP_MAX
                      and self.r * self.r * self.terms[0].num_levels * ks <= _DENSE_P_MAX)
        t1 = self.terms[0]
        if self.dense:
            cols = [t.expanded().toarray() for t in rest] + [self.X]
            self.R_noy = np.hstack(cols) if cols else np.zeros((self.n, 0))
            self.RT_noy = self.R_noy.T
            self.Z1T = t1.expanded().T.tocsr() if rest else None  # one term: sums per level
            self.A1r_noy = (np.asarray(self.Z1T @ self.R_noy) if rest
                            else level_products(t1.codes, t1.Z, self.R_noy, t1.num_levels))
            Arr = self.RT_noy @ self.R_noy
        elif not rest and k1 > 1:
            self._level_blocks = True
            self.A1r_noy = level_products(t1.codes, t1.Z, self.X, t1.num_levels)
            Arr = self.X.T @ self.X
        else:  # Z sparse, X dense: [Z_rest, X]'[Z_rest, X] and Z_1'[Z_rest, X] by blocks
            self.Z1T = self.terms[0].expanded().T.tocsr()
            Zr = sp.hstack([t.expanded() for t in rest], format="csr") if rest else sp.csr_matrix((self.n, 0))
            self.ZrT = Zr.T.tocsr()
            A1r = sp.hstack([self.Z1T @ Zr, sp.csr_matrix(self.Z1T @ self.X)], format="csr")
            A1r.sum_duplicates()
            A1r.eliminate_zeros()
            A1r.sort_indices()
            self.A1r_noy = A1r
            Arr = (self.ZrT @ Zr).tocoo()
            if k1 == 1:
                self._group_levels()
                bounds = block_bounds(self.q_rest, self.r - 1, pieces=4)
                with two_thread_map(self.r >= _GIL_FREE_MIN_R * 4) as map_fn:
                    self._main_maps = grouped_maps(A1r, self._k1_groups, self._k1_values.size, self.r, bounds,
                                                   map_fn=map_fn)
                self._map_rows = [c0 for c0, _ in bounds] + [self.r - 1]  # first row of each map
            else:
                P = general_map(A1r, A1r, k1, self.terms[0].num_levels, self.r, symmetric=True)
                self._main_maps = [sp.csc_matrix((-P.data, P.indices, P.indptr), shape=P.shape)]
                self._map_rows = None
        self.Arr = np.zeros((self.r, self.r))
        if self.dense or self._level_blocks:
            self.Arr[:-1, :-1] = Arr
        else:  # scatter the sparse product straight into place (no second dense copy)
            qr = self.q_rest
            self.Arr[Arr.row, Arr.col] = Arr.data
            ZrX = self.ZrT @ self.X
            self.Arr[qr:-1, :qr] = ZrX.T
            self.Arr[:qr, qr:-1] = ZrX
            self.Arr[qr:-1, qr:-1] = self.X.T @ self.X
            low = Arr.col <= Arr.row  # Z_rest'Z_rest is sparse (diagonal for one term)
            tail = np.concatenate([np.arange(c * self.r, c * self.r + c + 1) for c in range(qr, self.r)])
            self._arr_index = np.concatenate([np.sort(Arr.row[low].astype(np.int64) * self.r + Arr.col[low]),
                                              tail])  # the lower triangle's possibly nonzero entries, sorted

    def _group_levels(self):
        """Scalar first term, sparse map: ``W_j`` depends on theta only through ``A_j``, so the
        levels with equal ``A_j`` (equal counts for ``(1 | g)``) share one weight and one map column."""
        self._k1_values, self._k1_groups = np.unique(self.A11[:, 0, 0], return_inverse=True)
        self._k1_mult = np.bincount(self._k1_groups, minlength=self._k1_values.size).astype(float)

    def _set_response(self, y):
        self.y = y
        t1 = self.terms[0]
        k1 = t1.k
        if self._level_blocks:
            self.A1r = np.hstack([self.A1r_noy, level_products(t1.codes, t1.Z, y[:, None], t1.num_levels)])
            self.Arr[-1, :-1] = self.X.T @ y
            self.Arr[-1, -1] = y @ y
            return
        if self.Z1T is None:
            A1y = level_products(t1.codes, t1.Z, y[:, None], t1.num_levels)[:, 0]
        else:
            A1y = self.Z1T @ y
        if self.dense:
            self.A1r = np.hstack([self.A1r_noy, A1y[:, None]])
            self.__dict__.pop("P", None)  # the dense map of this response, made when first used
        else:
            right = sp.hstack([self.A1r_noy, sp.csr_matrix(A1y[:, None])], format="csr")
            self.A1r = right
            if k1 == 1:
                P_y = grouped_map_y(A1y, right, self._k1_groups, self._k1_values.size, self.r)
            else:
                y_left = sp.csr_matrix((A1y, (np.arange(A1y.size), np.full(A1y.size, self.r - 1))),
                                       shape=(A1y.size, self.r))
                P_y = general_map(y_left, right, k1, self.terms[0].num_levels, self.r, symmetric=False)
                P_y = sp.csc_matrix((-P_y.data, P_y.indices, P_y.indptr), shape=P_y.shape)
            self._neg_maps = [(P.shape[0], P.shape[1], P.indptr, P.indices, P.data)
                              for P in self._main_maps + [P_y]]  # C -= P w: the maps are negated
            self._split = None if self._map_rows is None else split_maps(self._neg_maps, self._map_rows)
        if self.dense:
            self.Arr[-1, :-1] = self.RT_noy @ y
        else:
            self.Arr[-1, :self.q_rest] = self.ZrT @ y
            self.Arr[-1, self.q_rest:-1] = self.X.T @ y
        self.Arr[-1, -1] = y @ y
        if not self.dense:  # the entries of Arr's lower triangle that can be nonzero, and their values
            self._arr_values = self.Arr.reshape(-1)[self._arr_index]

    def __getattr__(self, name):
        """``P``, the dense Schur-update map (dense problems), made on first use: the one-slope
        objective and solution (:mod:`._onefactor`) do not read it."""
        if name == "P" and self.__dict__.get("dense"):
            t1 = self.terms[0]
            P = self.P = dense_map(self.A1r, t1.k, t1.num_levels, self.r)
            return P
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @contextlib.contextmanager
    def helper_thread(self, helper):
        """Within the block, evaluations on the calling thread share their work with ``helper``
        (an executor with one idle worker): the Schur update by rows, the Cholesky factor by
        columns. For large problems with single-threaded BLAS; below ``HELPER_MIN_R`` the
        calling thread does the helper's share itself. The results do not depend on scheduling.
        Other threads are not affected."""
        before = getattr(self._local, "helper", None)
        if helper is not None and self.r < HELPER_MIN_R:
            helper = _InlineHelper()
        self._local.helper = helper if not self.dense else None
        try:
            yield self
        finally:
            self._local.helper = before

    def with_response(self, y: np.ndarray) -> "PLSProblem":
        """A copy of this problem with a new response vector (reuses all y-free structure)."""
        new = object.__new__(PLSProblem)
        new.__dict__.update(self.__dict__)
        new._local = threading.local()
        new.Arr = self.Arr.copy()
        new._set_response(np.ascontiguousarray(y, dtype=float))
        return new

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_local"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    # ------------------------------------------------------------ theta -> Lambda
    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The lower-triangular template ``T_b`` of every term, filled column-wise from ``theta``."""
        flat = np.zeros(self._template_size)
        flat[self._template_index] = theta
        return [flat[o:o + k * k].reshape(k, k) for o, k in self._template_offsets]

    def _first_block(self, T1):
        """(log-determinant, W) of the first block: ``M_j = T'A_jT + I``, ``W_j = T M_j^{-1} T'``.

        ``W`` is returned as the upper triangles of the ``W_j`` (the columns of ``self.P``); for a
        scalar first term, one ``W`` per group of levels with equal ``A_j``.
        """
        k = T1.shape[0]
        if k == 1:  # per level, or per group of levels with equal A_j (see _group_levels)
            lam2 = T1[0, 0] * T1[0, 0]
            m = lam2 * self._k1_values + 1.0
            logm = np.log(m)
            return float(logm.sum() if self._k1_mult is None else self._k1_mult @ logm), lam2 / m
        if k == 2:
            return self._first_block_2x2(T1)
        M = self.first_block_matrices(T1)
        L = np.linalg.cholesky(M)
        logdet = 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        W = T1 @ np.linalg.inv(M) @ T1.T
        return logdet, W[:, self._sym_a, self._sym_b].reshape(-1)

    def first_block_matrices(self, T1) -> np.ndarray:
        """``M_j = T'A_jT + I`` for every level of the first term, ``(levels, k, k)``."""
        k = T1.shape[0]
        M = T1.T @ self.A11 @ T1
        M[:, np.arange(k), np.arange(k)] += 1.0
        return M

    def _first_block_2x2(self, T1):
        """Closed form of :meth:`_first_block` for 2 x 2 blocks (the common random slope; see
        :func:`~._onefactor.first_block_2x2`)."""
        aug = getattr(self, "_A11_aug", None)
        if aug is None:
            aug = self._A11_aug = augmented_2x2(self._A11_sym)
        return first_block_2x2(aug, float(T1[0, 0]), float(T1[1, 0]), float(T1[1, 1]))

    def _rest_scale(self, templates) -> np.ndarray:
        d = np.ones(self.r)
        for T, o0, o1 in zip(templates[1:], self.rest_offsets[:-1], self.rest_offsets[1:]):
            d[o0:o1] = T[0, 0]
        return d

    def _rest_matrix(self, theta, templates, w):
        """Schur complement of the rest (lower triangle valid), scaled by Lambda_rest, plus I.

        Returns ``(C, scale)``. With ``scale`` (large problems whose later terms are scalar with
        ``lambda_b > 0``) ``C`` is the unscaled ``N = S + Lambda^-2`` (``S`` the Schur complement):
        ``Lambda N Lambda = Lambda S Lambda + I`` with ``Lambda = diag(scale)``, so its factor is
        ``chol(N) Lambda`` without a pass over ``C`` to scale it. Otherwise ``scale`` is None.
        """
        r, qr = self.r, self.q_rest
        if self.dense:
            C = self.Arr - (self.P @ w).reshape(r, r)
        elif self._level_blocks:
            C = self.Arr - schur_update(self.A1r, w, self.terms[0].k)
        else:
            C = self._workspace()
            helper = getattr(self._local, "helper", None)
            if helper is not None and self._split is not None:
                row, above, below = self._split
                job = helper.submit(self._update_rows, C, w, row, r, below)
                self._update_rows(C, w, 0, row, above)
                job.result()
            else:
                self._update_rows(C, w, 0, r, self._neg_maps)
        if not qr:
            return C, None
        diag = C.reshape(-1)[:qr * (r + 1):r + 1]
        if self.rest_scalar and not self.dense:
            scale = self._rest_scale(templates)
            if scale[:qr].min() > 1e-100:
                diag += scale[:qr] ** -2.0
                return C, scale
        if self.rest_scalar:
            self._scale_lower_blocks(C, templates)
        else:
            C = np.tril(C) + np.tril(C, -1).T
            D = np.eye(r)
            for t, T, o0 in zip(self.terms[1:], templates[1:], self.rest_offsets[:-1]):
                D[o0:o0 + t.q, o0:o0 + t.q] = np.kron(np.eye(t.num_levels), T)
            C = D.T @ C @ D
            diag = C.reshape(-1)[:qr * (r + 1):r + 1]
        diag += 1.0
        return C, None

    def _update_rows(self, C, w, lo, hi, maps):
        """``C[lo:hi] = Arr[lo:hi] - (P w)[lo:hi]`` (lower triangle) for the maps that write only
        those rows. ``Arr`` is written from its possibly nonzero entries: no pass reading all of it."""
        C[lo:hi] = 0.0
        flat = C.reshape(-1)
        a, b = np.searchsorted(self._arr_index, (lo * self.r, hi * self.r))
        flat[self._arr_index[a:b]] = self._arr_values[a:b]
        for nrow, ncol, indptr, indices, negdata in maps:  # the maps are negated
            _csc_matvec(nrow, ncol, indptr, indices, negdata, w, flat)

    def _workspace(self) -> np.ndarray:
        """An ``r x r`` buffer for the Schur complement, one per thread, reused by every evaluation
        (a fresh 10 MB array costs page faults each time)."""
        C = getattr(self._local, "C", None)
        if C is None:
            C = self._local.C = np.empty((self.r, self.r))
        return C

    def _scale_lower_blocks(self, C, templates):
        """``C <- Lambda' C Lambda`` on the lower triangle when every later term is scalar."""
        lam = [T[0, 0] for T in templates[1:]] + [1.0]
        offs = list(self.rest_offsets) + [self.r]
        for i in range(len(lam)):
            for j in range(min(i + 1, len(lam) - 1)):
                f = lam[i] * lam[j]
                if f != 1.0:
                    C[offs[i]:offs[i + 1], offs[j]:offs[j + 1]] *= f

    def _factor(self, theta):
        """``(templates, log-determinant of the first block, U, info)``: ``U`` (upper triangle valid)
        is the Cholesky factor of the scaled rest, ``U'U``; ``info`` is LAPACK's (0: positive definite).
        ``U`` may be a per-thread workspace that the next evaluation overwrites."""
        templates, logdet1, U, info, scale = self._factor_unscaled(theta)
        if scale is not None and info == 0:
            U *= scale[None, :]
        return templates, logdet1, U, info

    def _factor_unscaled(self, theta):
        """:meth:`_factor` with the column scale of ``U`` (see :meth:`_rest_matrix`) not yet applied."""
        templates = self.templates(theta)
        logdet1, w = self._first_block(templates[0])
        C, scale = self._rest_matrix(theta, templates, w)
        # lower triangle of C (row-major) is the upper triangle of C.T (column-major)
        if self.r >= _GIL_FREE_MIN_R:  # large: the GIL is released (evaluations in threads)
            U, info = dpotrf_upper(C.T, getattr(self._local, "helper", None))
        else:
            U, info = lapack.dpotrf(C.T, lower=0, clean=0, overwrite_a=1)
        return templates, logdet1, U, info, scale

    # --------------------------------------------------------------- objective
    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        """Profiled ML deviance (``reml=False``) or REML criterion at ``theta``."""
        pieces = self.pieces(theta)
        if pieces is None:
            return np.inf
        logdet, ldrx, pwrss = pieces
        if reml:
            nmp = self.n - self.p
            return logdet + ldrx + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
        return logdet + self.n * (1.0 + _LOG2PI + np.log(pwrss / self.n))

    def pieces(self, theta: np.ndarray) -> tuple[float, float, float] | None:
        """``(log|L|^2, log|R_X|^2, penalized RSS)`` at ``theta`` from the factor alone (no solve).

        The deviances follow as ``log|L|^2 + n (1 + log(2 pi pwrss / n))`` (ML) and
        ``log|L|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi pwrss / (n - p)))`` (REML).
        None when the system is not positive definite.
        """
        _, logdet1, U, info, scale = self._factor_unscaled(np.asarray(theta, dtype=float))
        if info != 0:
            return None
        qr, p = self.q_rest, self.p
        if scale is not None:  # the diagonal of chol(N) Lambda
            logdet1 += 2.0 * float(np.log(scale[:qr]).sum())
        if self.r <= 16:  # few numbers: plain floats are cheaper than array calls
            diag = U.diagonal().tolist()
            return (logdet1 + 2.0 * sum(map(math.log, diag[:qr])), 2.0 * sum(map(math.log, diag[qr:qr + p])),
                    diag[-1] ** 2)
        diag = np.diagonal(U)
        return (logdet1 + 2.0 * float(np.log(diag[:qr]).sum()), 2.0 * float(np.log(diag[qr:qr + p]).sum()),
                float(diag[-1]) ** 2)

    def _one_slope(self) -> bool:
        """One random-effects term of two columns, such as ``(x | g)``: see :mod:`._onefactor`."""
        return (len(self.terms) == 1 and self.terms[0].k == 2 and (self.dense or self._level_blocks)
                and 2 * self.r * (self.r + 1) * self.terms[0].num_levels <= SLOPE_PRODUCTS_PER_ROW * self.n)

    def objective(self, reml: bool):
        """``theta -> deviance`` as a plain function (for optimizers)."""
        if self._one_slope():
            return level_slope_objective(self, reml)
        return lambda theta: self.deviance(theta, reml)

    # ---------------------------------------------------------------- solution
    def solve(self, theta: np.ndarray) -> PLSSolution:
        """All pieces of the PLS solution at ``theta`` (for ML and REML alike)."""
        theta = np.asarray(theta, dtype=float)
        if self._one_slope():
            return level_slope_solve(self, theta)
        templates, logdet1, U, info = self._factor(theta)
        M = self.first_block_matrices(templates[0])
        if info != 0:
            raise np.linalg.LinAlgError("the penalized system is not positive definite at theta")
        L = U.T
        qr, p, n = self.q_rest, self.p, self.n
        diag = np.diagonal(L)
        logdet = logdet1 + 2.0 * float(np.log(diag[:qr]).sum())
        logdet_rx = 2.0 * float(np.log(diag[qr:qr + p]).sum())
        pwrss = float(diag[-1]) ** 2
        z = solve_triangular(L[:-1, :-1], L[-1, :-1], lower=True, trans="T", check_finite=False)
        beta = z[qr:]
        b_rest = self._apply_lambda_rest(templates, z[:qr])
        e = np.concatenate([b_rest, beta, [-1.0]])
        v = (self.A1r @ e).reshape(-1, self.terms[0].k)
        T1 = templates[0]
        rhs = -(v @ T1)  # rows: T1' v_j
        u1 = np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
        b1 = u1 @ T1.T
        u = np.concatenate([u1.ravel(), z[:qr]])
        blist = [b1] + [b_rest[o0:o1].reshape(-1, t.k)
                        for t, o0, o1 in zip(self.terms[1:], self.rest_offsets[:-1], self.rest_offsets[1:])]
        fitted = self.X @ beta
        for t, bt in zip(self.terms, blist):
            fitted = fitted + np.einsum("nk,nk->n", t.Z, bt[t.codes])
        dev_ml = logdet + n * (1.0 + _LOG2PI + np.log(pwrss / n))
        nmp = n - p
        dev_reml = logdet + logdet_rx + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
        RX = np.zeros((p, p))
        iu = _triu_indices(p)
        RX[iu] = L[qr:qr + p, qr:qr + p].T[iu]
        return PLSSolution(theta=theta, beta=beta, u=u, b=blist, sigma_ml=float(np.sqrt(pwrss / n)),
                           sigma_reml=float(np.sqrt(pwrss / nmp)) if nmp > 0 else np.nan,
                           logdet_L=logdet, logdet_RX=logdet_rx, pwrss=pwrss, RX=RX, fitted=fitted,
                           deviance_ml=float(dev_ml), deviance_reml=float(dev_reml))

    def _apply_lambda_rest(self, templates, u_rest):
        out = np.empty_like(u_rest)
        for t, T, o0, o1 in zip(self.terms[1:], templates[1:], self.rest_offsets[:-1], self.rest_offsets[1:]):
            out[o0:o1] = (u_rest[o0:o1].reshape(-1, t.k) @ T.T).ravel()
        return out

    def condvar(self, theta: np.ndarray) -> list[np.ndarray]:
        """Diagonal blocks of ``Lambda (Lambda'Z'Z Lambda + I)^{-1} Lambda'`` per term, ``(levels, k, k)``.

        Multiplied by ``sigma^2`` these are lme4's conditional variances of the random
        effects (``ranef(condVar = TRUE)``).
        """
        theta = np.asarray(theta, dtype=float)
        templates, _, U, info = self._factor(theta)
        M = self.first_block_matrices(templates[0])
        L = U.T
        qr = self.q_rest
        t1, T1 = self.terms[0], templates[0]
        Minv = np.linalg.inv(M)
        out_rest = []
        V1 = Minv
        if qr:
            Linv = solve_triangular(L[:qr, :qr], np.eye(qr), lower=True)
            # B = Lambda_rest' Z_rest' Z_1 Lambda_1 ; G_j = B_j M_j^{-1}
            B = self.A1r_noy[:, :qr]
            B = (B if isinstance(B, np.ndarray) else B.toarray()).T.copy()  # (qr, q1)
            if self.rest_scalar:
                B *= self._rest_scale(templates)[:qr, None]
            else:
                B = self._rest_lambda_dense(templates).T @ B
            B = (B.reshape(qr, -1, t1.k) @ T1).reshape(qr, -1)
            G = np.einsum("rjk,jkl->rjl", B.reshape(qr, -1, t1.k), Minv)
            Y = (Linv @ G.reshape(qr, -1)).reshape(qr, -1, t1.k)
            V1 = Minv + np.einsum("rja,rjb->jab", Y, Y)
            for t, T, o0, o1 in zip(self.terms[1:], templates[1:], self.rest_offsets[:-1], self.rest_offsets[1:]):
                Lc = Linv[:, o0:o1].reshape(qr, t.num_levels, t.k)
                Vb = np.einsum("rja,rjb->jab", Lc, Lc)
                out_rest.append(T @ Vb @ T.T)
        return [T1 @ V1 @ T1.T] + out_rest

    def _rest_lambda_dense(self, templates):
        D = np.eye(self.q_rest)
        for t, T, o0 in zip(self.terms[1:], templates[1:], self.rest_offsets[:-1]):
            D[o0:o0 + t.q, o0:o0 + t.q] = np.kron(np.eye(t.num_levels), T)
        return D
