"""Which numerical formulation evaluates the profiled deviance, chosen from the model's structure.

Three formulations (arrays only):

``"dense"`` (:class:`~._pls.PLSProblem`)
    The first term eliminated level by level, the later terms, ``X`` and ``y`` in a
    dense Schur complement of size ``r = q_rest + p + 1`` factored by LAPACK. Exact;
    ``O(r^3 / 3)`` operations and ``8 r^2`` bytes per evaluation plus a precomputed map
    with one entry per pair of later-term levels sharing a first-term level (up to
    ``sum_j d_j^2 / 2``, ``d_j`` the later-term levels of first-term level ``j``).
``"matrix-free"`` (:class:`~._matfree.MatrixFreeProblem`, all terms scalar)
    Conjugate-gradient solves and a stochastic Lanczos log-determinant: ``O(nnz(Z_1'Z_r))``
    per product, ``((probes + 1) * steps + (p + 1) * iterations)`` products per evaluation
    (about 43 with the defaults) and a final evaluation with up to ``max_probes`` probes;
    the log-determinant carries a reported standard error.
``"sparse"`` (:class:`~._sparse.SparseProblem`)
    The first term eliminated level by level, the later terms' Schur complement ``S``
    kept sparse and factored by QDLDL (``LDL'``, approximate-minimum-degree ordering and
    symbolic analysis once), ``[X, y]`` a dense border. Exact; for any later terms
    (several columns too) and beyond ``MAX_DENSE_REST``. Its cost follows the fill of the
    factor: small when the later factor crosses the first only locally (students and
    teachers within schools), prohibitive when a few first-term levels connect most
    later levels (ratings-like data).

:func:`choose_formulation` takes ``"dense"`` while it is cheap (``q_rest <=
DENSE_ALWAYS``) or, up to ``MAX_DENSE_REST``, while its estimated operations are at most
``DENSE_PREFERENCE`` times those of the matrix-free evaluation (the dense result is exact,
so it is kept when it is not much slower); beyond, ``"matrix-free"`` for all-scalar terms.
On ratings-like data with ``rows = 100 x items`` and ``users = 5 x items``
(``benchmarks/_ratings.py``) the estimates put the switch between 3,000 items (dense, 12.6 times
the matrix-free operations) and 4,000 items (29 times: matrix-free); at 1M rows and 50,000 users,
from 4,000 items on (26 times).

**Exact final evaluation.** A matrix-free fit finds theta with the stochastic criterion; its final
evaluation at the optimum (logLik, the criteria, the fixed effects and ``R_X``, sigma, the random
effects) is then done by the dense formulation (:meth:`~._matfree.MatrixFreeProblem.exact_solve`,
chosen by :func:`~._fit.exact_final_affordable`) when it is affordable: ``q_rest <=
EXACT_FINAL_REST`` (the dense formulation's own limit, ``MAX_DENSE_REST``; the evaluation holds
about ``4 x 8 r^2`` bytes besides the fit's, 2.7 GiB at 9,000 items) and one dense evaluation's
estimated operations at most ``EXACT_FINAL_RATIO`` (100) times one matrix-free evaluation's, which
puts the exact step at about the fit's own time. Measured on ratings-like data (CPU seconds, REML;
the dense step is the set-up of the dense problem plus one evaluation on two threads):

=====================  ==========  ==========  ===========  =============
rows / users / items   operations  fit (s)     exact (s)    exact / fit
=====================  ==========  ==========  ===========  =============
300k / 20k / 3,000          10  6.8         1.8          0.27
300k / 20k / 4,000          25  5.8         2.9          0.49
300k / 20k / 6,000          83  8.9         6.8          0.76
1M / 50k / 6,000            87  7.7         10.0         1.30
1M / 50k / 9,000           292  9.9         22.6         2.29
1M / 50k / 12,000          690  12.8        43.2         3.38
=====================  ==========  ==========  ===========  =============

(operations: dense over matrix-free per evaluation by :func:`pair_costs` with the problem's own
probes, 32 below ``CHEAP_NNZ`` user-item pairs as at 300k rows, else 4; measured at a load
average of 12 to 17 on two cores, hence CPU seconds; the exact step's share of the set-up is 15-20%
at 300k rows and about half at 1M, and its evaluation grows as ``r^3``: 2.7 GiB more peak memory at
9,000 items, 4.1 GiB at 12,000). The limit of 100 keeps the exact step at about the fit's own time
or less. Within it the fit reports an exact logLik (its ``accuracy`` records ``exact``); beyond
it, the stochastic logLik with its standard error. Under ``"auto"`` the exact step applies
where the chooser has taken ``"matrix-free"`` and the dense operations are at most
``EXACT_FINAL_RATIO`` times: with these shapes from 4,000 items (the switch) to about 6,300 items
at 300k rows (83 at 6,000, 196 at 8,000) and at 1M rows (87 at 6,000, 138 at 7,000).

Where ``2 k + 2`` further dense evaluations also fit that budget (``(2 k + 3)`` times the ratio at
most ``EXACT_FINAL_RATIO``, ``k`` thetas; forced matrix-free fits of small problems), theta itself is
corrected by one Newton step on the exact criterion (:func:`~._fit.exact_newton`: its central-difference
gradient with the convergence check's Hessian), kept only if it lowers the exact criterion: the
fixed probes bias theta by about 1e-5 on such problems, the step brings it within 5e-7 of the dense
optimum. Under ``"auto"`` the matrix-free fits start where the ratio exceeds ``DENSE_PREFERENCE``
(20), so the step does not apply to two-theta models there.

On ratings-like data a sparse factor of the Schur complement does not pay (measured with SuperLU
through ``scipy.sparse.linalg.splu`` and a minimum-degree ordering): with Zipf-like activity a few
heavy first-term levels connect most later levels, the Schur complement of 12,000 items
is 31% nonzero (median item degree 3,083) and SuperLU did not factor the whole 59,000-level
system of 1M rows, 50,000 users and 9,000 items within 300 s.

The sparse formulation is considered first (from ``SPARSE_MIN`` later coefficients, in memory):
when the first term's level pairs are few (at most ``SPARSE_PAIRS_PER_COEF`` per later
coefficient) the pattern of ``S`` is formed and :func:`sparse_cost` bounds its factor by the
envelope in reverse Cuthill-McKee order. ``"sparse"`` is taken when that estimate is at least
``SPARSE_MARGIN`` times below the dense one (within ``MAX_DENSE_REST``) or, beyond it, no larger
than the dense evaluation at ``MAX_DENSE_REST``; against matrix-free (all-scalar terms) with the
same ``DENSE_PREFERENCE`` as dense. Ratings-like data never pass the pair test (3,000 to 12,000
items: 2,400 to 5,500 pairs per item), so their choice is unchanged.

Students x teachers within schools (``benchmarks/_nested_crossed.py``: 5 students per teacher, 4
rows each, schools of 20 teachers, 10% of rows in another school of the district;
``benchmarks/bench_sparse.py``, CPU time per REML evaluation on a loaded machine):

=========  =========  =========  =========  ===========  ==========  ===========  =========  =========
teachers   rows       dense      sparse     matrix-free  sparse fit  matrix-free  dense fit  lme4 fit
                      eval (ms)  eval (ms)  eval (ms)    (ms)        fit (ms)     (ms)       (ms)
=========  =========  =========  =========  ===========  ==========  ===========  =========  =========
600        12,000     6.3        3.3        18.4         317         2,958        432        734
1,000      20,000     24.5       5.6
1,500      30,000     75.1       7.8
2,000      40,000     170        9.8        44.5         613         8,925        7,230      2,089
5,000      100,000    2,400      26.5       83.6         1,155       13,961                  6,641
10,000     200,000               52.5       202          3,487       33,370
20,000     400,000               97.7       497          6,027       53,178
50,000     1,000,000             249        449          17,648
=========  =========  =========  =========  ===========  ==========  ===========  =========  =========

(600 teachers: one run; 600 to 1,500 teachers: one-thread evaluations measured apart; dense fits
beyond 2,000 and lme4 beyond 5,000 teachers were not run.) The dense/sparse crossover is below
1,000 teachers: at 600 the dense evaluation takes 6.3 ms against 3.3 ms, and the chooser's
estimates (dense 1.5 times the sparse one at 600 teachers, 2.7 times at 800) switch to sparse
between 600 and 800. Sparse is 3-6 times cheaper per evaluation than matrix-free up to 20,000 teachers and 1.8 times
at 50,000 (where matrix-free drops to 4 probes), and exact; whole fits 9-15 times (the
matrix-free final evaluation adds probes), so matrix-free is not chosen for such designs. With ``(x | teacher)`` (no matrix-free): sparse
evaluations of 61 ms (2,000 teachers) and 185 ms (5,000), fits of 7.2 s and 15.2 s against
lme4's 11.4 s and 28.2 s. The chooser's pattern analysis takes about 1 s of CPU at 20,000
teachers and 2.3 s at 50,000; the sparse set-up 0.6 s and 2.0 s (the first factorization's
ordering included).
"""

from __future__ import annotations

import numpy as np

import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from ._matfree import MatrixFreeProblem
from ._pls import PLSProblem
from ._sparse import SparseProblem, sparse_pattern

__all__ = ["FORMULATIONS", "choose_formulation", "make_problem", "cost_estimates", "pair_costs", "sparse_cost",
           "DENSE_ALWAYS", "DENSE_PREFERENCE", "SPARSE_MIN", "SPARSE_MARGIN"]

FORMULATIONS = ("auto", "dense", "matrix-free", "sparse")
DENSE_ALWAYS = 2_000  # later-term coefficients below which the dense Schur complement is always used
DENSE_PREFERENCE = 20.0  # dense kept while its estimated operations are at most this many times larger
_DENSE_LIMIT = 10_000  # as _schur.MAX_DENSE_REST (the caller passes its own)
CG_ITERATIONS = 7  # per column of [X, y] to a relative residual of 1e-8 (ratings-like data: 6 to 8)
FIT_EVALUATIONS = 30  # evaluations of a matrix-free fit (BOBYQA and the convergence checks: 26 to 30)
SPARSE_MIN = 500  # later-term coefficients from which the sparse factor is considered
SPARSE_MARGIN = 2.0  # sparse taken over dense when its estimated cost is at least this many times lower
SPARSE_PAIRS_PER_COEF = 1_000  # pattern of S analysed only with at most this many level pairs per coefficient
SPARSE_FLOP_COST = 10.0  # time of one operation of the sparse factor in dense (LAPACK) operations
EXACT_FINAL_REST = _DENSE_LIMIT  # later-term coefficients up to which a matrix-free fit's optimum may be evaluated
EXACT_FINAL_RATIO = 100.0  # exactly, while one dense evaluation's estimated operations are at most this many times
# one matrix-free evaluation's (measured: the exact step then takes about the fit's own time; see the module notes)


def _all_scalar(terms) -> bool:
    return all(t.k == 1 for t in terms)


def cost_estimates(terms, p: int, probes: int = MatrixFreeProblem.DEFAULT_PROBES,
                   steps: int = MatrixFreeProblem.DEFAULT_STEPS) -> tuple[float, float]:
    """Estimated floating-point operations of one evaluation: ``(dense, matrix-free)``.

    Dense: ``r^3 / 3`` (the Cholesky factor) plus two per entry of the Schur-update map
    (bounded by ``sum_j d_j (d_j + 1) / 2`` pairs). Matrix-free: four per nonzero of
    ``Z_1'Z_r`` per product, ``(probes + deflation vectors) * steps`` products for the
    log-determinant, about ``CG_ITERATIONS`` per column of ``[X, y]`` for the solves, and the
    final evaluation (up to ``max_probes * steps`` products and the Ritz vectors)
    spread over ``FIT_EVALUATIONS`` evaluations.
    """
    first, rest = terms[0], terms[1:]
    q_rest = sum(t.q for t in rest)
    r = q_rest + p + 1
    if not rest:
        return r ** 3 / 3.0, np.inf
    pairs = np.zeros(first.num_levels)
    nnz = 0
    for t in rest:
        key = np.unique(first.codes.astype(np.int64) * t.num_levels + t.codes)
        d = np.bincount(key // t.num_levels, minlength=first.num_levels).astype(float) * t.k
        pairs += d
        nnz += key.size
    return pair_costs(pairs, nnz, r, p, probes, steps)


def pair_costs(pairs, nnz: int, r: int, p: int, probes: int = MatrixFreeProblem.DEFAULT_PROBES,
               steps: int = MatrixFreeProblem.DEFAULT_STEPS) -> tuple[float, float]:
    """:func:`cost_estimates` from ``pairs`` (the later-term coefficients that share each
    first-term level, ``d_j``) and ``nnz`` (the distinct pairs of levels, the nonzeros of
    ``Z_1'Z_r``): for a problem known by its cross-products rather than its rows."""
    pairs = np.asarray(pairs, dtype=float)
    dense = r ** 3 / 3.0 + float((pairs * (pairs + 1)).sum())
    mf = MatrixFreeProblem
    max_probes = float(np.clip(mf.PROBE_VISITS / max(nnz, 1), *mf.MAX_PROBES_RANGE))
    final = (max_probes * steps + mf.ritz_steps) / FIT_EVALUATIONS
    products = (probes + mf.DEFAULT_DEFLATE) * steps + CG_ITERATIONS * (p + 1) + final
    return dense, 4.0 * nnz * products


def sparse_cost(terms) -> float:
    """Estimated cost of one sparse evaluation in dense operations (:data:`SPARSE_FLOP_COST` per
    operation of the factor), ``inf`` when the structure is not sparse.

    The pattern of ``S`` is formed only when the first term's level pairs (an upper bound on its
    nonzeros) number at most ``SPARSE_PAIRS_PER_COEF`` per later coefficient. The factor's
    operations are bounded by ``sum_i e_i^2`` for the envelope widths ``e_i`` of ``S`` in
    reverse Cuthill-McKee order (the factor's rows lie within the envelope; QDLDL's
    minimum-degree ordering measured about half of it on students x teachers).
    """
    first, rest = terms[0], terms[1:]
    q_rest = sum(t.q for t in rest)
    pairs = np.zeros(first.num_levels)
    for t in rest:
        key = np.unique(first.codes.astype(np.int64) * t.num_levels + t.codes)
        pairs += np.bincount(key // t.num_levels, minlength=first.num_levels) * t.k * first.k
    if float((pairs * (pairs + 1)).sum()) / 2.0 > SPARSE_PAIRS_PER_COEF * q_rest:
        return np.inf
    u, v, m = sparse_pattern(terms)
    A = sp.csr_matrix((np.ones(u.size), (u, v)), shape=(m, m))
    perm = reverse_cuthill_mckee((A + A.T).tocsr(), symmetric_mode=True)
    where = np.empty_like(perm)
    where[perm] = np.arange(m)
    lo, hi = np.minimum(where[u], where[v]), np.maximum(where[u], where[v])
    first_col = np.arange(m)
    np.minimum.at(first_col, hi, lo)
    k = np.array([t.k for t in rest])[np.concatenate([np.full(t.num_levels, i) for i, t in enumerate(rest)])]
    width = np.cumsum(k[perm]) - np.cumsum(k[perm])[first_col] + k[perm][first_col]  # coefficients per row
    return SPARSE_FLOP_COST * float((width.astype(float) ** 2 * k[perm]).sum())


def choose_formulation(terms, p: int, max_dense: int = _DENSE_LIMIT, *, costs=None,
                       sparse: bool = True) -> str | None:
    """``"dense"``, ``"sparse"`` or ``"matrix-free"`` for these terms (see the module notes); None when
    none applies (later terms beyond ``max_dense`` that are not all scalar and not sparse). ``costs``:
    a callable giving ``(dense, matrix-free)`` estimates (:func:`pair_costs`) when the terms carry no
    rows; by default :func:`cost_estimates`. ``sparse=False``: not the sparse formulation (the terms
    carry no rows)."""
    q_rest = sum(t.q for t in terms[1:])
    scalar = _all_scalar(terms)
    estimates = []

    def dense_free():
        if not estimates:
            estimates.extend(cost_estimates(terms, p) if costs is None else costs())
        return estimates

    if sparse and q_rest > SPARSE_MIN:
        sparse_ops = sparse_cost(terms)
        largest_dense = max_dense ** 3 / 3.0  # beyond the dense limit: no costlier than the largest dense problem
        if sparse_ops <= largest_dense and (q_rest > max_dense or SPARSE_MARGIN * sparse_ops <= dense_free()[0]):
            if q_rest <= DENSE_ALWAYS or not scalar:
                return "sparse"
            return "sparse" if sparse_ops <= DENSE_PREFERENCE * dense_free()[1] else "matrix-free"
    if q_rest <= max_dense and (q_rest <= DENSE_ALWAYS or not scalar):
        return "dense"
    if not scalar:
        return None
    if q_rest > max_dense:
        return "matrix-free"
    dense, free = dense_free()
    return "dense" if dense <= DENSE_PREFERENCE * free else "matrix-free"


def make_problem(X, y, terms, formulation: str = "auto", max_dense: int = _DENSE_LIMIT):
    """The numerical problem of ``(X, y, terms)`` in the given or chosen formulation.

    Raises ``ValueError`` for an unknown formulation, ``"matrix-free"`` with a term of
    several columns, ``"sparse"`` with one term, or ``"auto"`` when no formulation applies
    (the caller words the user's error).
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation {formulation!r}")
    if formulation == "auto":
        formulation = choose_formulation(terms, np.shape(X)[1], max_dense)
        if formulation is None:
            raise ValueError("no formulation applies")
    if formulation == "matrix-free":
        return MatrixFreeProblem(X, y, terms)
    if formulation == "sparse":
        return SparseProblem(X, y, terms)
    return PLSProblem(X, y, terms)
