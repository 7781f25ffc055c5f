"""The penalized least squares problem, model frame and fit of ``lmer`` from cross-products.

The formulation is chosen as for an in-memory fit (:func:`~._formulation.choose_formulation`,
with its cost estimate computed from the sparsity of ``Z_1'Z_r``):

* dense: :func:`problem_from_crossproducts` sets up a :class:`~._pls.PLSProblem` from the
  sums computed over partitions (:mod:`._dask_stats`) instead of from the rows: the same
  blocked structure (per-level blocks of the first term, the dense Schur complement of the
  rest, the precomputed update maps), so that every evaluation of the deviance is the
  in-memory one. Memory: ``A11`` holds ``levels_1 * k_1^2`` numbers, ``A1r`` at most
  ``q_1 * r`` (sparse) and the Schur complement ``r^2`` with ``r = q_rest + p + 1``;
* matrix-free (all terms scalar, large later terms): :class:`CrossProductMatrixFree`, the
  :class:`~._matfree.MatrixFreeProblem` whose sparse products ``Z_1'Z_r``, ``Z_r'Z_r``,
  ``Z'[X, y]`` are the summed ones. Memory: ``O(nnz(Z_1'Z_r) + q (m + p))`` (``m`` probes);
  nothing of size ``q_rest^2``.

None of it depends on the number of rows.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._exceptions import (ArgumentError, ConvergenceWarning, ModelSpecificationError, PredictorScaleWarning,
                           RankDeficiencyWarning, RowsUnavailableError, SingularFitWarning)
from ..formula._design import pivot_rank_columns
from ..formula._frame import ModelFrame, RandomEffectsBlock
from ..formula._groups import check_blocks
from . import _pls
from ._dask_stats import key_labels
from ._fit import fit_problem
from ._formulation import FORMULATIONS, choose_formulation, pair_costs
from ._matfree import MatrixFreeProblem
from ._optimize import SINGULAR_MESSAGE
from ._pls import PLSProblem, TermStructure
from ._results import LinearMixedModel
from ._summary import ScaledResiduals
from ._schur import (MAX_DENSE_REST, block_bounds, dense_map, general_map, grouped_map_y, grouped_maps, split_maps,
                     two_thread_map)
from ..formula._response import response_name

__all__ = ["lme4_order", "problem_from_crossproducts", "CrossProductMatrixFree", "choose_from_crossproducts",
           "CrossProductFrame", "DaskLinearMixedModel", "fit_from_statistics"]


def lme4_order(nls) -> list[int]:
    """lme4's order of the terms from their numbers of levels (see ``formula._groups._lme4_order``)."""
    idx = list(range(len(nls)))
    if any(b > a for a, b in zip(nls, nls[1:])):
        return list(reversed(sorted(idx, key=lambda i: nls[i])))
    return idx


def problem_from_crossproducts(n: int, p: int, terms, A11, A1r: sp.csr_matrix, Arr: sp.csr_matrix) -> PLSProblem:
    """A :class:`PLSProblem` from ``A11`` (levels, k, k), ``A1r = Z_1'[Z_rest, X, y]`` and
    ``Arr = [Z_rest, X, y]'[Z_rest, X, y]``; ``terms`` carry only ``k`` and the numbers of levels."""
    pr = object.__new__(PLSProblem)
    pr.X, pr.y, pr.terms, pr.n, pr.p = np.empty((0, p)), np.empty(0), tuple(terms), int(n), int(p)
    pr._local = threading.local()
    pr._init_theta_layout()
    _set_first_block(pr, A11)
    k1, nl = pr.terms[0].k, pr.terms[0].num_levels
    rest = pr.terms[1:]
    pr.q_rest = sum(t.q for t in rest)
    pr.r = r = pr.q_rest + p + 1
    pr.rest_offsets = np.cumsum([0] + [t.q for t in rest])
    pr.rest_scalar = all(t.k == 1 for t in rest)
    ks = k1 * (k1 + 1) // 2
    pr.dense = n * r <= _pls._DENSE_SETUP_MAX and r * r * nl * ks <= _pls._DENSE_P_MAX
    if pr.dense:
        pr.A1r = A1r.toarray()
        pr.A1r_noy = pr.A1r[:, :-1]
        pr.P = dense_map(pr.A1r, k1, nl, r)
        pr.Arr = Arr.toarray()
        return pr
    _sparse_rest(pr, A1r, Arr)
    return pr


def _set_first_block(pr: PLSProblem, A11: np.ndarray) -> None:
    """``PLSProblem._init_first_block`` from the summed blocks ``Z_1j'Z_1j``."""
    pr.A11 = A11
    pr._k1_values, pr._k1_groups, pr._k1_mult = A11[:, 0, 0], None, None
    pr._sym_a, pr._sym_b = np.triu_indices(A11.shape[1])
    pr._A11_sym = np.ascontiguousarray(A11[:, pr._sym_a, pr._sym_b])
    pr._eye_2x2 = np.array([1.0, 0.0, 1.0])


class CrossProductMatrixFree(MatrixFreeProblem):
    """:class:`~._matfree.MatrixFreeProblem` set up from cross-products instead of rows.

    ``A11`` (levels, 1, 1), ``A1r = Z_1'[Z_rest, X, y]`` and ``Arr = [Z_rest, X, y]'[Z_rest,
    X, y]`` (sparse) give the products the in-memory problem forms from ``Z``: ``Z_1'Z_r``,
    the diagonal and off-diagonal parts of ``Z_r'Z_r``, ``Z_1'[X, y]``, ``Z_r'[X, y]`` and
    ``[X, y]'[X, y]``. The probes, Lanczos steps and tolerances are the in-memory defaults,
    so that both fits evaluate the same criterion.
    """

    def __init__(self, n: int, p: int, terms, A11: np.ndarray, A1r: sp.csr_matrix, Arr: sp.csr_matrix):
        self._cross = (A11, A1r.tocsr(), Arr.tocsr())
        super().__init__(np.empty((0, p)), np.empty(0), terms)
        self.n = int(n)
        del self._cross

    def _init_first_block(self):
        _set_first_block(self, self._cross[0])

    def _init_sparse(self):
        _, A1r_all, Arr_all = self._cross
        self._init_rest_layout()
        qr = self.q_rest
        self.Z1T = sp.csr_matrix((self.terms[0].q, 0))  # no rows
        self.ZrT = sp.csr_matrix((qr, 0))
        self._init_products(A1r_all[self.order1][:, :qr].tocsr(), Arr_all[:qr, :qr].tocsr())

    def dense_problem(self) -> PLSProblem:
        """The dense formulation from the same cross-products (:func:`problem_from_crossproducts`),
        reassembled from the sparse products this problem keeps."""
        back = np.argsort(self.order1)
        A1r = sp.hstack([self.A1r, sp.csr_matrix(self.A1xy)], format="csr")[back]
        Arr_rest = sp.diags(self.Arr_diag) + (0 if self.Arr_off is None else self.Arr_off)
        Arxy = sp.csr_matrix(self.Arxy)
        Arr = sp.bmat([[Arr_rest, Arxy], [Arxy.T, sp.csr_matrix(self.Axyxy)]], format="csr")
        return problem_from_crossproducts(self.n, self.p, self.terms, self.A11, A1r, Arr)

    def _set_response(self, y):
        if y.size or not hasattr(self, "_cross"):
            raise RowsUnavailableError(_ROWS_MESSAGE.format(what="a new response"))
        _, A1r_all, Arr_all = self._cross
        qr = self.q_rest
        self.y = y
        self.A1xy = A1r_all[self.order1][:, qr:].toarray()
        self.Arxy = Arr_all[:qr, qr:].toarray()
        self.Axyxy = Arr_all[qr:, qr:].toarray()


def choose_from_crossproducts(terms, p: int, A1r: sp.csr_matrix, formulation: str = "auto") -> str:
    """The formulation of a fit from cross-products, by the in-memory rule (the cost estimate from the
    nonzeros of ``Z_1'Z_r``, the first ``q_rest`` columns of ``A1r``); raises the in-memory errors."""
    if formulation not in FORMULATIONS:
        raise ArgumentError(f"formulation must be one of {', '.join(map(repr, FORMULATIONS))} (got {formulation!r})")
    scalar = all(t.k == 1 for t in terms)
    q_rest = sum(t.q for t in terms[1:])
    if formulation == "matrix-free" and not scalar:
        raise ArgumentError("formulation='matrix-free' needs scalar random-effects terms such as (1 | g)")
    if formulation == "sparse":
        raise ArgumentError("formulation='sparse' is not available for Dask DataFrames or Parquet files (its "
                            "set-up reads the rows); use 'auto', 'dense' or 'matrix-free', or fit in memory")
    if q_rest > MAX_DENSE_REST and (formulation == "dense" or not scalar):
        raise ModelSpecificationError(
            f"the random-effects terms after the first have {q_rest} coefficients together; their Schur "
            f"complement is factored as a dense matrix, which supports up to {MAX_DENSE_REST} (here it would "
            f"need {8 * q_rest ** 2 / 2 ** 30:.1f} GiB); beyond, only models whose random-effects terms are all "
            "scalar, such as (1 | g), are fitted (matrix-free)")
    if formulation != "auto":
        return formulation

    def costs():
        pattern = A1r[:, :q_rest].tocsr()
        return pair_costs(np.diff(pattern.indptr), pattern.nnz, q_rest + p + 1, p)

    return choose_formulation(terms, p, MAX_DENSE_REST, costs=costs, sparse=False)


def _sparse_rest(pr: PLSProblem, A1r: sp.csr_matrix, Arr: sp.csr_matrix) -> None:
    """The sparse branch of ``PLSProblem._init_rest`` and ``_set_response`` from the cross-products."""
    r, qr, k1, nl = pr.r, pr.q_rest, pr.terms[0].k, pr.terms[0].num_levels
    A1r_noy = A1r[:, :-1].tocsr()
    A1r_noy.sum_duplicates()
    A1r_noy.eliminate_zeros()
    A1r_noy.sort_indices()
    pr.A1r_noy = A1r_noy
    if k1 == 1:
        pr._group_levels()
        bounds = block_bounds(qr, r - 1, pieces=4)
        with two_thread_map(r >= _pls._GIL_FREE_MIN_R * 4) as map_fn:
            pr._main_maps = grouped_maps(A1r_noy, pr._k1_groups, pr._k1_values.size, r, bounds, map_fn=map_fn)
        pr._map_rows = [c0 for c0, _ in bounds] + [r - 1]
    else:
        P = general_map(A1r_noy, A1r_noy, k1, nl, r, symmetric=True)
        pr._main_maps = [sp.csc_matrix((-P.data, P.indices, P.indptr), shape=P.shape)]
        pr._map_rows = None
    pr.Arr = Arr.toarray()
    zz = Arr[:qr, :qr].tocoo()
    low = zz.col <= zz.row
    tail = np.concatenate([np.arange(c * r, c * r + c + 1) for c in range(qr, r)])
    pr._arr_index = np.concatenate([np.sort(zz.row[low].astype(np.int64) * r + zz.col[low]), tail])
    A1y = A1r[:, -1].toarray().ravel()
    right = sp.hstack([A1r_noy, sp.csr_matrix(A1y[:, None])], format="csr")
    pr.A1r = right
    if k1 == 1:
        P_y = grouped_map_y(A1y, right, pr._k1_groups, pr._k1_values.size, r)
    else:
        y_left = sp.csr_matrix((A1y, (np.arange(A1y.size), np.full(A1y.size, r - 1))), shape=(A1y.size, r))
        P_y = general_map(y_left, right, k1, nl, r, symmetric=False)
        P_y = sp.csc_matrix((-P_y.data, P_y.indices, P_y.indptr), shape=P_y.shape)
    pr._neg_maps = [(P.shape[0], P.shape[1], P.indptr, P.indices, P.data) for P in pr._main_maps + [P_y]]
    pr._split = None if pr._map_rows is None else split_maps(pr._neg_maps, pr._map_rows)
    pr._arr_values = pr.Arr.reshape(-1)[pr._arr_index]


@dataclass(frozen=True, eq=False)
class CrossProductFrame(ModelFrame):
    """A :class:`ModelFrame` without rows (``y``, ``X``, codes and ``Z`` are empty): a fit from
    cross-products. ``n_rows`` is the number of observations used."""

    n_rows: int = 0

    @property
    def nobs(self) -> int:
        return self.n_rows


_ROWS_MESSAGE = ("{what} needs the rows of the data, which a fit to a Dask DataFrame does not keep (it holds "
                 "cross-products only); compute it per partition with predict(newdata=partition) instead")


@dataclass(frozen=True, eq=False, repr=False)
class DaskLinearMixedModel(LinearMixedModel):
    """A :class:`LinearMixedModel` fitted from cross-products of a Dask DataFrame.

    Estimates, theta, sigma, logLik, vcov, random effects and their conditional
    variances, summaries and ``predict(newdata)`` are those of the in-memory fit;
    what needs the rows (``fitted``, ``residuals``, ``scaled_residuals``, ``simulate``,
    ``refit(newresp)``, ``r2``, ``icc``, ``predict()`` without ``newdata``, profile and
    bootstrap ``confint``, Kenward-Roger degrees of freedom, and the residual quantiles of
    ``summary()``) raises :class:`RowsUnavailableError`.
    """

    def _unavailable(self, what: str):
        raise RowsUnavailableError(_ROWS_MESSAGE.format(what=what))

    @property
    def fitted(self) -> pd.Series:
        self._unavailable("fitted")

    @property
    def residuals(self) -> pd.Series:
        self._unavailable("residuals")

    def simulate(self, nsim: int = 1, seed=None) -> pd.DataFrame:
        self._unavailable("simulate")

    def r2(self):
        self._unavailable("r2 (the variance of the fitted values)")

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False) -> pd.Series:
        if newdata is None:
            self._unavailable("predict() without newdata")
        return super().predict(newdata, re_form, allow_new_levels)

    def icc(self):
        self._unavailable("icc (the variance of the random-effects design over the rows)")

    def coef_table(self, ddf: str = "Satterthwaite") -> pd.DataFrame:
        self._check_ddf(ddf)
        return super().coef_table(ddf)

    def lmertest_summary(self, ddf: str = "Satterthwaite"):
        self._check_ddf(ddf)
        return super().lmertest_summary(ddf)

    def _check_ddf(self, ddf):
        if str(ddf).lower().replace("_", "-") in ("kenward-roger", "kr"):
            self._unavailable("Kenward-Roger degrees of freedom (the design matrices)")

    def confint(self, method: str = "profile", level: float = 0.95, **kwargs) -> pd.DataFrame:
        if str(method).lower() != "wald":
            self._unavailable(f"confint(method={method!r}) (profiles and the bootstrap refit the rows); "
                              "method='Wald'")
        return super().confint(method, level, **kwargs)

    def refit(self, newresp=None, *, REML: bool | None = None) -> "DaskLinearMixedModel":
        if newresp is not None:
            self._unavailable("refit(newresp)")
        reml = self.REML if REML is None else bool(REML)
        est = fit_problem(self._problem, reml, start=self.theta)
        return DaskLinearMixedModel(self.formula, reml, self.frame, self.data_name, est, self._problem)

    @property
    def scaled_residuals(self) -> pd.Series:
        if getattr(_SUMMARY, "active", False):  # summary(): quantiles of no rows
            return pd.Series([np.nan])
        self._unavailable("scaled_residuals")

    def summary(self):
        """lme4's ``summary(m)`` without the residual quantiles (they need the rows)."""
        _SUMMARY.active = True
        try:
            out = super().summary()
        finally:
            _SUMMARY.active = False
        return replace(out, residuals=NoScaledResiduals(out.residuals.quantiles))


_SUMMARY = threading.local()


@dataclass(frozen=True, repr=False)
class NoScaledResiduals(ScaledResiduals):
    """The residual quantiles of a summary of a fit from cross-products: not available (NaN)."""

    def __str__(self) -> str:
        return "Scaled residuals: not available (fit from the cross-products of a Dask DataFrame)"


def _start_and_scale(stats, terms, n) -> tuple[np.ndarray | None, list]:
    """lme4's moment-based start (all terms ``(1 | g)``, distinct factors) and the design columns' RMS."""
    rms = []
    for t in stats["terms"]:
        v = np.sqrt(t["sumsq"] / n)
        v[~(v > 0) | ~np.isfinite(v)] = 1.0
        rms.append(v)
    names = [t["group"] for t in terms]
    if any(t["not_one"] or t["level_sums"] is None for t in stats["terms"]) or n < 2 or len(set(names)) < len(names):
        return None, rms
    yy, sy = stats["Arr"][-1, -1], stats["sum_y"]
    var_y = (yy - sy * sy / n) / (n - 1)
    v = []
    for t in stats["terms"]:
        s, c = t["level_sums"]
        means = s / np.maximum(c, 1)
        v.append((np.dot(c, means * means) - np.dot(c, means) ** 2 / n) / (n - 1))
    v_e = var_y - sum(v)
    if not np.isfinite(v_e) or v_e <= 0:
        return None, rms
    return np.sqrt(np.asarray(v) / v_e), rms


def _fixed_rank(stats, names, qr: int):
    """Columns of X kept by lme4's rank check (pivoted QR on a square root of ``X'X``), with its warning."""
    p = len(names)
    XtX = stats["Arr"][qr:qr + p, qr:qr + p].toarray()
    w, V = np.linalg.eigh(XtX)
    keep = pivot_rank_columns(np.sqrt(np.maximum(w, 0.0))[:, None] * V.T) if p else np.arange(0)
    if len(keep) == p:
        return keep, ()
    dropped = tuple(nm for j, nm in enumerate(names) if j not in set(keep.tolist()))
    k = len(dropped)
    warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {k} "
                  + ("column / coefficient" if k == 1 else "columns / coefficients") + f" ({', '.join(dropped)})",
                  RankDeficiencyWarning, stacklevel=4)
    return keep, dropped


def _scale_message(stats, XtX, keep, n, tol: float = 1e3) -> str | None:
    """``ModelFrame.scale_message`` from the column sums and ``X'X``."""
    continuous = ~stats["binary"][keep]
    if not continuous.any() or n < 2:
        return None
    sx = stats["sum_x"][keep]
    var = (np.diag(XtX) - sx * sx / n) / (n - 1)
    log_sd = 0.5 * np.log(np.maximum(var[continuous], 0.0))
    spread = np.abs(log_sd[:, None] - log_sd[None, :])
    if np.any(np.abs(log_sd) > np.log(tol)) or np.any(spread > np.log(tol)):
        return "Some predictor variables are on very different scales: consider rescaling"
    return None


def _blocks(parsed, spec, stats):
    levels = dict(spec.levels)
    lhs_designs = stats["specs"][2]
    blocks = []
    for i in spec.order:
        term = parsed.terms[i]
        labels = key_labels(term.group, levels[term.group_name], spec)
        if term.lhs.strip() == "1":
            cols, lhs_spec = ("(Intercept)",), None
        else:
            lhs_spec = lhs_designs[term.lhs]
            cols = tuple(lhs_spec.names)
        blocks.append(RandomEffectsBlock(group=term.group_name, levels=labels, codes=np.empty(0, np.intp),
                                         Z=np.empty((0, len(cols))), column_names=cols, lhs_spec=lhs_spec,
                                         term=str(term), group_expr=term.group))
    return tuple(blocks)


def fit_from_statistics(formula, parsed, spec, stats, REML=True, *, data_name=None, start=None,
                        formulation: str = "auto", **fit_args):
    """Fit the model from the merged cross-products of :func:`~._dask.dask_statistics`."""
    n, names = stats["n"], stats["names"]
    blocks = _blocks(parsed, spec, stats)
    check_blocks(blocks, n)
    q_rest = sum(b.num_levels * b.num_columns for b in blocks[1:])
    terms = [TermStructure(np.empty(0, np.intp), np.empty((0, b.num_columns)), b.num_levels) for b in blocks]
    keep, dropped = _fixed_rank(stats, names, q_rest)
    r_full = stats["Arr"].shape[0]
    cols = np.concatenate([np.arange(q_rest), q_rest + keep, [r_full - 1]])
    A1r, Arr = stats["A1r"][:, cols].tocsr(), stats["Arr"][cols][:, cols].tocsr()
    p = len(keep)
    formulation = choose_from_crossproducts(terms, p, A1r, formulation)
    msg = _scale_message(stats, Arr[q_rest:q_rest + p, q_rest:q_rest + p].toarray(), keep, n)
    if msg is not None:
        warnings.warn(msg, PredictorScaleWarning, stacklevel=3)
    if formulation == "matrix-free":
        problem = CrossProductMatrixFree(n, p, terms, stats["A11"], A1r, Arr)
    else:
        problem = problem_from_crossproducts(n, p, terms, stats["A11"], A1r, Arr)
    moment, problem.column_rms = _start_and_scale(stats, [{"group": b.group} for b in blocks], n)
    if start is None:
        start = problem.theta_start if moment is None else moment
    REML = bool(REML) and p > 0
    est = fit_problem(problem, REML, start=start, **fit_args)
    for message in est.optinfo.messages:
        category = SingularFitWarning if message == SINGULAR_MESSAGE else ConvergenceWarning
        warnings.warn(message, category, stacklevel=3)
    fixed_spec, fixed_columns, _ = stats["specs"]
    frame = CrossProductFrame(
        formula=formula, response=response_name(parsed.response_code) or parsed.response, y=np.empty(0),
        X=np.empty((0, p)), fixed_names=tuple(names[j] for j in keep), dropped_fixed=dropped, blocks=blocks,
        row_index=pd.RangeIndex(0), n_dropped_na=stats["n_na"] + stats["n_undefined"], fixed_spec=fixed_spec,
        fixed_keep=keep if dropped else None,
        fixed_columns=None if np.array_equal(fixed_columns, np.arange(len(fixed_columns))) else fixed_columns,
        n_rows=n, dropped_rows=tuple(stats.get("dropped_rows", ())))
    return DaskLinearMixedModel(formula, REML, frame, data_name, est, problem)
