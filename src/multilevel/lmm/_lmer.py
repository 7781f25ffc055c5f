"""``lmer``: fit a linear mixed model from a formula and a table."""

from __future__ import annotations

import warnings

import numpy as np

from .._exceptions import (ArgumentError, ConvergenceWarning, ModelSpecificationError, PredictorScaleWarning,
                           SingularFitWarning)
from .._data import rows_used
from ..formula._frame import ModelFrame
from ._dask import is_dask_input, lmer_dask
from ._fit import fit_problem
from ._formulation import FORMULATIONS, make_problem
from ._optimize import SINGULAR_MESSAGE
from ._pls import PLSProblem, TermStructure
from ._results import LinearMixedModel
from ._schur import MAX_DENSE_REST
from ._weights import weighted_frame, weighted_problem

__all__ = ["lmer", "problem_from_frame", "terms_from_frame", "MAX_DENSE_REST"]


def problem_from_frame(frame: ModelFrame, *, check_nobs: bool = True, formulation: str = "auto") -> PLSProblem:
    """The numerical problem (arrays only) of a model frame; checks lme4's identifiability rules
    (``check_nobs=False``: not the number of levels or coefficients against the observations, as glmer).
    ``formulation``: ``"auto"`` (chosen from the structure), ``"dense"``, ``"matrix-free"`` or
    ``"sparse"`` (see :mod:`._formulation`)."""
    if formulation not in FORMULATIONS:
        raise ArgumentError(f"formulation must be one of {', '.join(map(repr, FORMULATIONS))} "
                            f"(got {formulation!r})")
    terms = terms_from_frame(frame, check_nobs=check_nobs, dense_only=formulation == "dense",
                             sparse=formulation in ("auto", "sparse"))
    if formulation == "matrix-free" and any(t.k != 1 for t in terms):
        raise ArgumentError("formulation='matrix-free' needs scalar random-effects terms such as (1 | g); "
                            f"{frame.formula!r} has a term with several columns")
    if formulation == "sparse" and len(terms) < 2:
        raise ArgumentError("formulation='sparse' factors the random-effects terms after the first; "
                            f"{frame.formula!r} has one term (use 'auto' or 'dense')")
    try:
        return make_problem(frame.X, frame.y, terms, formulation, max_dense=MAX_DENSE_REST)
    except ValueError:
        if formulation != "auto":
            raise
        raise _too_large(terms) from None


def _too_large(terms, dense_only: bool = False) -> ModelSpecificationError:
    q_rest = sum(t.q for t in terms[1:])
    why = ("; formulation='sparse' factors it as a sparse matrix when few of its levels share a level of the "
           "first term" if dense_only else
           ", or as a sparse matrix when few of its levels share a level of the first term (not so here)")
    return ModelSpecificationError(
        f"the random-effects terms after the first have {q_rest} coefficients together; their Schur "
        f"complement is factored as a dense matrix, which supports up to {MAX_DENSE_REST} (here it would "
        f"need {8 * q_rest ** 2 / 2 ** 30:.1f} GiB){why}; beyond, only models whose random-effects terms are "
        "all scalar, such as (1 | g), are fitted (matrix-free)")


def terms_from_frame(frame: ModelFrame, *, check_nobs: bool = True, dense_only: bool = True,
                     sparse: bool = False) -> list[TermStructure]:
    """The random-effects terms (arrays only) of a model frame; checks lme4's identifiability rules
    (``check_nobs=False``: not the number of levels or coefficients against the observations, as glmer).
    With ``dense_only=False`` later terms beyond ``MAX_DENSE_REST`` coefficients are accepted when all
    terms are scalar (the matrix-free formulation), and with ``sparse`` whatever their columns (the
    sparse formulation decides)."""
    n = frame.nobs
    if not frame.blocks:
        raise ModelSpecificationError(
            f"no random effects terms specified in formula {frame.formula!r}; use ml.lm for a linear model")
    terms = []
    for blk in frame.blocks:
        if blk.num_levels < 2:
            raise ModelSpecificationError(
                f"grouping factor {blk.group!r} has {blk.num_levels} level; grouping factors must have > 1 "
                "sampled level")
        if check_nobs and blk.num_levels >= n:
            raise ModelSpecificationError(
                f"number of levels of grouping factor {blk.group!r} ({blk.num_levels}) must be < number of "
                f"observations ({n})")
        q = blk.num_levels * blk.num_columns
        if check_nobs and q >= n:
            raise ModelSpecificationError(
                f"number of observations (={n}) <= number of random effects (={q}) for term "
                f"({' + '.join(blk.column_names)} | {blk.group}); the random-effects parameters and the "
                "residual variance are probably unidentifiable")
        terms.append(TermStructure(np.asarray(blk.codes, dtype=np.intp), np.asarray(blk.Z, dtype=float),
                                   blk.num_levels))
    q_rest = sum(t.q for t in terms[1:])
    if q_rest > MAX_DENSE_REST and (dense_only or (any(t.k != 1 for t in terms) and not sparse)):
        raise _too_large(terms, dense_only)
    return terms


def lmer(formula: str, data, REML: bool = True, *, optimizer="bobyqa", start=None,
         calc_derivs: bool = True, restart_edge: bool = True, boundary_tol: float = 1e-5,
         data_name: str | None = None, blas_threads="auto", contrasts=None, weights=None,
         offset=None, formulation: str = "auto") -> LinearMixedModel:
    """Fit a linear mixed-effects model by REML or maximum likelihood, as lme4's ``lmer``.

    .. math::

        y = X\\beta + Zb + \\varepsilon, \\qquad
        b \\sim N(0, \\Sigma_\\theta), \\qquad \\varepsilon \\sim N(0, \\sigma^2 I)

    with ``Sigma_theta = sigma^2 Lambda_theta Lambda_theta'``; beta and sigma are
    profiled out and the deviance (or REML criterion) is minimized over theta.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``; ``(x || g)``
        for uncorrelated terms, ``(1 | a/b)`` for nesting; ``offset(expr)`` terms are
        added to the linear predictor with coefficient 1.
    data : DataFrame, Dask DataFrame or path
        pandas or polars DataFrame, or a dict of columns. A Dask DataFrame, or the
        path (or glob, or list of paths) of Parquet files, is fitted from
        cross-products computed partition by partition (see Notes).
    REML : bool
        REML (default) or maximum likelihood.
    optimizer : str or object
        ``"bobyqa"`` (nlopt's BOBYQA with lme4's ``nloptwrap`` settings, the default),
        ``"L-BFGS-B"``, ``"Nelder-Mead"``, ``"Powell"``, or an object with
        ``name`` and ``minimize(fn, x0, lower, upper)``.
    start : array_like, optional
        Starting values of theta.
    calc_derivs : bool
        Check the gradient and Hessian at the optimum (lme4's convergence checks).
    restart_edge, boundary_tol
        lme4's boundary handling (``lmerControl``).
    data_name : str, optional
        Name shown on the summary's ``Data:`` line (as lme4 prints the data argument).
    blas_threads : int, None or "auto"
        Threads of the BLAS library during the fit. ``"auto"`` (default): for large
        problems (a dense Schur complement of size 400 or more, e.g. crossed factors
        with thousands of levels) BLAS runs on one thread and each evaluation is split
        over two threads of ``multilevel``'s own, with the convergence-check evaluations
        run two at a time; for smaller problems one BLAS thread when the load average
        shows the cores are busy (multi-threaded BLAS then stalls, 10-40 times slower)
        and the library's default otherwise. ``None`` never changes it.

    contrasts : dict, optional
        Coding of factors of the fixed effects, as lme4's ``contrasts`` argument:
        ``{"recipe": "contr.sum"}``, with ``"contr.treatment"`` (the default
        coding), ``"contr.sum"``, ``"contr.helmert"``, ``"contr.poly"`` or
        ``"contr.SAS"``. Coefficients are named as R names them (``recipe1``,
        ``temperature.L``). Random-effects terms are not affected (as in lme4).
    weights : str or array_like, optional
        Prior weights (a column name or expression, or one value per row): the residual
        variance of row ``i`` is ``sigma^2 / w_i``, as lme4's ``weights``.
    offset : str or array_like, optional
        A known term added to the linear predictor (besides ``offset(expr)`` terms of
        the formula), as lme4's ``offset``.
    formulation : {"auto", "dense", "matrix-free", "sparse"}
        How the profiled criterion is evaluated. ``"dense"``: the exact dense Schur
        complement of the later terms (up to 10,000 coefficients). ``"sparse"``: the
        same Schur complement kept sparse and factored by a sparse ``LDL'`` with a
        fill-reducing ordering; exact, for any terms and any number of later levels, and
        fast when the later factor crosses the first only locally (students and
        teachers within schools: 20,000 teachers in about 0.1 s per evaluation), slow
        when a few first-term levels connect most later levels. ``"matrix-free"``
        (models whose random-effects terms are all scalar, such as
        ``(1 | user) + (1 | item)``): conjugate-gradient solves and a stochastic
        Lanczos log-determinant with fixed probes, for later terms with tens of
        thousands of levels. Its fit evaluates the optimum exactly by the dense
        formulation when that costs about no more than the fit itself (later terms
        up to 10,000 coefficients and a dense evaluation at most 100 times the
        operations of a matrix-free one: on ratings-like data with 300,000 to
        1,000,000 rows, up to about 6,000 items); logLik, the estimates and the
        random effects are then those of the dense path at that theta (the summary
        says ``logLik exact``). Beyond, logLik is the stochastic estimate and the
        summary prints its standard error (about 5e-4; also in ``optinfo.notes``).
        ``"auto"`` (default) chooses from the sizes and the sparsity of the design:
        sparse when the envelope of the Schur complement predicts a factor at least
        twice as cheap as the dense one, dense otherwise whenever it is not much
        slower than matrix-free. Not available from Dask or Parquet data, whose
        fits are dense or matrix-free.

    Returns
    -------
    LinearMixedModel

    Warns
    -----
    SingularFitWarning
        A variance component is estimated as zero or a correlation as +-1.
    ConvergenceWarning
        The optimizer or the gradient/Hessian checks report a problem.

    Notes
    -----
    **Data beyond one machine.** With a Dask DataFrame or Parquet files (the optional
    extra ``multilevel[dask]``) the rows never reach the calling process. Three Dask
    map-reduce passes find the levels of the factors (strings, booleans and
    categoricals, whose levels are then fixed for every partition), the grouping levels
    that occur, and the sums over partitions of what the penalized least squares core
    consumes: the ``k x k`` blocks ``Z_1j'Z_1j`` of the first term per level,
    ``Z_1'[Z_rest, X, y]`` (sparse) and ``[Z_rest, X, y]'[Z_rest, X, y]`` (sparse), whose
    size depends on the levels and the distinct level pairs, not on the number of rows.
    The formulation is chosen as in memory: the dense one also holds an ``r x r`` matrix
    (``r = q_rest + p + 1``, ``q_rest`` the random-effects coefficients of the later
    terms); the matrix-free one only the sparse sums and a few vectors per probe, so
    later terms with tens of thousands of levels fit (see the ``dask`` page of the
    documentation). The fit is then the in-memory one: at the same theta the criterion, estimates
    and random effects agree with an in-memory fit to rounding; after optimization
    they agree to the optimizer's tolerance (about 1e-8 on small problems: the sums
    are added in another order, which moves the optimizer's path in the last digits).
    Rows with missing values are dropped and counted as in memory. The
    same formulas are supported (numeric columns, factors, transformations, ``(x | g)``,
    ``(x || g)``, crossed and nested ``a/b`` terms); partitions are scheduled by the
    active Dask scheduler (threads by default, or a ``distributed`` client).

    The result keeps no rows: ``fitted``, ``residuals``, ``scaled_residuals``,
    ``simulate``, ``r2``, ``icc``, ``refit(newresp)``, ``predict()`` without ``newdata``,
    profile and bootstrap intervals and Kenward-Roger degrees of freedom raise
    :class:`~multilevel.RowsUnavailableError`, and the summary omits the residual
    quantiles. ``predict(newdata)`` (for instance per partition with ``map_partitions``),
    ``refit(REML=...)``, Wald intervals, Satterthwaite tests, ``anova`` and the random
    effects with their conditional variances work.

    Examples
    --------
    >>> import multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> fit.fixef.round(3).to_dict()
    {'(Intercept)': 251.405, 'Days': 10.467}
    >>> round(fit.sigma, 4), round(fit.deviance, 2)
    (25.5918, 1743.63)
    >>> sleep["w"] = 1.0 + sleep["Days"] / 10
    >>> round(ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights="w").sigma, 3)
    37.721
    >>> cake = ml.datasets.load("cake")
    >>> ml.lmer("angle ~ recipe + temp + (1 | replicate)", cake, contrasts={"recipe": "contr.sum"}).fixef.round(3)
    (Intercept)    0.516
    recipe1        1.000
    recipe2       -0.478
    temp           0.158
    Name: fixef, dtype: float64
    """
    if is_dask_input(data):  # cross-products by Dask map-reduce (Dask imported only then)
        if weights is not None or offset is not None:
            raise ArgumentError("weights= and offset= are not supported when data is a Dask DataFrame or "
                                "Parquet files; fit in memory, or fold them into the response")
        return lmer_dask(formula, data, REML, contrasts=contrasts, data_name=data_name, start=start,
                         optimizer=optimizer, calc_derivs=calc_derivs, restart_edge=restart_edge,
                         boundary_tol=boundary_tol, threads=blas_threads, formulation=formulation)

    frame, wo = weighted_frame(formula, data, weights=weights, offset=offset, contrasts=contrasts)
    scale_msg = frame.scale_message()
    if scale_msg is not None:  # lme4's check.scaleX = "warning"
        warnings.warn(scale_msg, PredictorScaleWarning, stacklevel=2)
    problem = problem_from_frame(frame, formulation=formulation)
    if wo is not None:
        problem = weighted_problem(problem, wo)
    REML = bool(REML) and problem.p > 0  # without fixed effects REML is ML (as lme4)
    est = fit_problem(problem, REML, optimizer=optimizer, start=start, restart_edge=restart_edge,
                      boundary_tol=boundary_tol, calc_derivs=calc_derivs, threads=blas_threads)
    for msg in est.optinfo.messages:
        category = SingularFitWarning if msg == SINGULAR_MESSAGE else ConvergenceWarning
        warnings.warn(msg, category, stacklevel=2)
    return LinearMixedModel(formula, REML, frame, data_name, est, problem, wo, rows_used(data, frame.row_index))
