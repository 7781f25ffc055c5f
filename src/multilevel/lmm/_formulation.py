"""Which numerical formulation evaluates the profiled deviance, chosen from the model's structure.

Two formulations (arrays only):

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

A sparse Cholesky factor of the Schur complement (SuperLU through ``scipy.sparse.linalg.splu``
with a minimum-degree ordering) was measured and not kept: with Zipf-like activity a few
heavy first-term levels connect most later levels, the Schur complement of 12,000 items
is 31% nonzero (median item degree 3,083) and SuperLU did not factor the whole 59,000-level
system of 1M rows, 50,000 users and 9,000 items within 300 s.
"""

from __future__ import annotations

import numpy as np

from ._matfree import MatrixFreeProblem
from ._pls import PLSProblem

__all__ = ["FORMULATIONS", "choose_formulation", "make_problem", "cost_estimates", "pair_costs",
           "DENSE_ALWAYS", "DENSE_PREFERENCE"]

FORMULATIONS = ("auto", "dense", "matrix-free")
DENSE_ALWAYS = 2_000  # later-term coefficients below which the dense Schur complement is always used
DENSE_PREFERENCE = 20.0  # dense kept while its estimated operations are at most this many times larger
_DENSE_LIMIT = 10_000  # as _schur.MAX_DENSE_REST (the caller passes its own)
CG_ITERATIONS = 7  # per column of [X, y] to a relative residual of 1e-8 (ratings-like data: 6 to 8)
FIT_EVALUATIONS = 30  # evaluations of a matrix-free fit (BOBYQA and the convergence checks: 26 to 30)
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


def choose_formulation(terms, p: int, max_dense: int = _DENSE_LIMIT, *, costs=None) -> str | None:
    """``"dense"`` or ``"matrix-free"`` for these terms (see the module notes); None when neither
    applies (later terms beyond ``max_dense`` that are not all scalar). ``costs``: a callable
    giving ``(dense, matrix-free)`` estimates (:func:`pair_costs`) when the terms carry no rows;
    by default :func:`cost_estimates`."""
    q_rest = sum(t.q for t in terms[1:])
    scalar = _all_scalar(terms)
    if q_rest <= DENSE_ALWAYS or (not scalar and q_rest <= max_dense):
        return "dense"
    if not scalar:
        return None
    if q_rest > max_dense:
        return "matrix-free"
    dense, free = cost_estimates(terms, p) if costs is None else costs()
    return "dense" if dense <= DENSE_PREFERENCE * free else "matrix-free"


def make_problem(X, y, terms, formulation: str = "auto", max_dense: int = _DENSE_LIMIT):
    """The numerical problem of ``(X, y, terms)`` in the given or chosen formulation.

    Raises ``ValueError`` for an unknown formulation, ``"matrix-free"`` with a term of
    several columns, or ``"auto"`` when neither formulation applies (the caller words the
    user's error).
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation {formulation!r}")
    if formulation == "auto":
        formulation = choose_formulation(terms, np.shape(X)[1], max_dense)
        if formulation is None:
            raise ValueError("no formulation applies")
    if formulation == "matrix-free":
        return MatrixFreeProblem(X, y, terms)
    return PLSProblem(X, y, terms)
