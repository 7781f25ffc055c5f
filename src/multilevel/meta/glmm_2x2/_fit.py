"""Entry point :func:`rma_glmm`: read the 2x2 tables, fit metafor's unconditional models and
build the result."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError, DataError, MissingDataWarning, ModelSpecificationError
from ..._protocol import level_percent
from ..effects._common import EscalcArgs, EscalcOptions, incomplete_tables, warn_double_zero
from ..effects._escalc import compute_measure, read_arguments
from ..effects._tables import table_cells_raw
from . import _core, _models
from ._result import RmaGlmmFit

__all__ = ["rma_glmm"]

_TABLE_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")
_MODELS = {"UM.FS": _models.fixed_study, "UM.RS": _models.random_study, "CM.EL": _models.conditional_exact}
_METHODS = {"ML": "ML", "EE": "EE", "FE": "EE", "CE": "EE"}


def _tables(args: EscalcArgs, given: dict) -> tuple[list[np.ndarray], np.ndarray, tuple[str, ...]]:
    """Complete tables without double-zero studies (metafor's ``drop00`` for the fit), the
    outcomes ``vi`` (1/2 added to tables with a zero cell) for I^2, and the labels of the tables dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        _, vi = compute_measure("OR", EscalcArgs(dict(args), args.labels),
                                EscalcOptions(add=0.5, to="only0", drop00=True, vtype="LS", measure="OR"))
    cells = table_cells_raw(args, "OR")
    ai, bi, ci, di = cells
    missing = incomplete_tables(cells, args, given)
    double0 = ~missing & (((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0)))
    warn_double_zero(double0, args.labels, "the fit")
    keep = ~(missing | double0)
    if keep.sum() < 1:
        raise DataError("no table is left to fit (k = 0)")
    return [c[keep] for c in cells], vi[~np.isnan(vi)], tuple(args.labels[i] for i in np.flatnonzero(~keep))


def rma_glmm(*, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None,
             n2i: Any = None, measure: str = "OR", data: Any = None, model: str = "UM.FS",
             method: str = "ML", nAGQ: int = 7, level: float = 95) -> RmaGlmmFit:
    r"""Meta-analysis of odds ratios by logistic mixed models of 2x2 tables (metafor's ``rma.glmm``).

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : str or array_like
        Events ``ai`` and non-events ``bi`` (or group size ``n1i``) in the treatment group,
        ``ci`` and ``di`` (or ``n2i``) in the control group: column names of ``data`` or arrays.
    measure : {"OR"}
        Effect measure (log odds ratio).
    data : DataFrame, optional
        Table holding the columns.
    model : {"UM.FS", "UM.RS", "CM.EL"}
        Unconditional model with fixed study intercepts or with random (normal) study intercepts,
        or the conditional model with the exact likelihood (the events of the treatment group given
        each table's total events).
    method : {"ML", "EE"}
        ``"ML"``: the log odds ratios vary between studies (variance ``tau2``, estimated by
        maximum likelihood); ``"EE"`` (or ``"FE"``, ``"CE"``): one common log odds ratio.
    nAGQ : int
        Quadrature points for the fits with one scalar random effect (``UM.FS`` with ``ML``,
        ``UM.RS`` with ``EE``); ``UM.RS`` with ``ML`` always uses the Laplace approximation.
        ``CM.EL`` integrates adaptively (QUADPACK) and ignores it.
    level : float
        Confidence level, a proportion (0.95) or a percentage (95).

    Returns
    -------
    RmaGlmmFit

    Raises
    ------
    DataError
        Invalid counts (naming the argument, rows and values) or no table left.
    ArgumentError
        Unknown ``measure``, ``model``, ``method`` or invalid ``level``.
    ModelSpecificationError
        A single table with random effects (``method="ML"`` or ``model="UM.RS"``), or (``CM.EL``
        with ``ML``) a Hessian that cannot be inverted or gives no positive variance.

    Warns
    -----
    MissingDataWarning
        Tables with missing values, or with no events (or no non-events) in both groups, are omitted.
    ConvergenceWarning, SingularFitWarning, SeparationWarning
        Passed on from the mixed-model fits (:func:`~multilevel.glmer`). For ``CM.EL`` with
        ``ML``, a ConvergenceWarning (as metafor warns) when the Hessian is not positive definite
        (it is then inverted by a QR decomposition), or when the standard error of the pooled log
        odds ratio is 100 times smaller or larger than that of Peto's random-effects model of the
        same tables (a poorly determined Hessian, e.g. with tau^2 near 0).

    Notes
    -----
    With :math:`x_{ij}` events among :math:`n_{ij}` subjects of group :math:`j` (1 treatment,
    2 control) in study :math:`i`, :math:`x_{ij} \sim \mathrm{Bin}(n_{ij}, \pi_{ij})` and

    .. math::

        \operatorname{logit}\pi_{ij} = \alpha_i + (\mu + u_i)\, t_{ij} + c_{ij} u_i^{*}, \qquad
        u_i \sim N(0, \tau^2),

    with :math:`t_{ij}` = 1 for the treatment group and 0 otherwise, and :math:`c_{ij}` = +1/2,
    -1/2 the group coding of the random log odds ratio (:math:`u_i` enters through
    :math:`c_{ij}`, not :math:`t_{ij}`). ``UM.FS`` has fixed study intercepts :math:`\alpha_i`;
    ``UM.RS`` a common intercept plus a normal study effect of variance :math:`\sigma^2`. The
    likelihood integrates the random effects by adaptive Gauss-Hermite quadrature or the Laplace
    approximation (:func:`~multilevel.glmer`).

    ``CM.EL`` conditions on the total events :math:`m_i` of each table: the events
    :math:`a_i` of the treatment group follow Fisher's noncentral hypergeometric distribution
    with log odds ratio :math:`\theta_i` (:math:`\theta_i = \mu` for ``EE``,
    :math:`\theta_i \sim N(\mu, \tau^2)` for ``ML``, integrated out by adaptive quadrature as
    metafor does); the standard errors come from the Hessian of the log-likelihood in
    :math:`(\mu, \log\tau^2)`, computed exactly for ``EE`` and by Richardson extrapolation for
    ``ML`` (metafor's default extrapolation over 16 step halvings ends in rounding noise; the
    results agree with metafor's at numDeriv's usual 4). With ``ML``, :math:`\tau^2` is
    estimated as 0 (the rest is then the ``EE`` fit) when the optimum of the integrated likelihood
    found over :math:`\tau^2 > 0` is no better than the equal-effects fit (metafor 3.8-1 reports
    instead the point, at a very small :math:`\tau^2`, where its optimizer stopped). The Wald-type
    and likelihood-ratio tests for heterogeneity compare the equal-effects fit with the saturated
    one (a log odds ratio per study); I^2 and H^2 use the typical variance of the study outcomes
    of :func:`~multilevel.escalc` (1/2 added to tables with a zero cell).

    References
    ----------
    Turner, R. M., Omar, R. Z., Yang, M., Goldstein, H., & Thompson, S. G. (2000). A multilevel
    model framework for meta-analysis of clinical trials with binary outcomes. *Statistics in
    Medicine*, 19, 3417-3432.

    Jackson, D., Law, M., Stijnen, T., Viechtbauer, W., & White, I. R. (2018). A comparison of
    seven random-effects models for meta-analyses that estimate the summary odds ratio.
    *Statistics in Medicine*, 37, 1059-1085.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"), method="EE")
    >>> print(fit)
    <BLANKLINE>
    Equal-Effects Model (k = 13)
    Model Type: Unconditional Model with Fixed Study Effects
    <BLANKLINE>
    Tests for Heterogeneity:
    Wld(df = 12) = 163.1649, p-val < .0001
    LRT(df = 12) = 176.9544, p-val < .0001
    <BLANKLINE>
    Model Results:
    <BLANKLINE>
    estimate      se      zval    pval    ci.lb    ci.ub
     -0.4773  0.0412  -11.5749  <.0001  -0.5581  -0.3964  ***
    <BLANKLINE>
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    <BLANKLINE>
    """
    if str(measure).upper() != "OR":
        raise ArgumentError(f"rma_glmm fits measure 'OR' (2x2 tables), not {measure!r}")
    if model == "CM.AL":
        raise ArgumentError("the conditional model with the approximate likelihood 'CM.AL' is not available; "
                            "use 'CM.EL' (exact likelihood), 'UM.FS' or 'UM.RS'")
    if model not in _MODELS:
        raise ArgumentError(f"model must be one of {', '.join(map(repr, _MODELS))}, not {model!r}")
    if method not in _METHODS:
        raise ArgumentError(f"method must be one of {', '.join(map(repr, _METHODS))}, not {method!r}")
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 1 <= nAGQ <= 100:
        raise ArgumentError(f"nAGQ must be an integer from 1 to 100, not {nAGQ!r}")
    pct = level_percent(level)
    meth = _METHODS[method]
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i)
    _, args = read_arguments(given, data, allowed=_TABLE_ARGS, what="rma_glmm")
    cells, vi, dropped = _tables(args, given)
    k = cells[0].size
    if k < 2 and (meth == "ML" or model == "UM.RS"):
        raise ModelSpecificationError(f"model {model!r} with method {meth!r} needs at least 2 tables, not k = {k}; "
                                      "use model='UM.FS' with method='EE'")
    if model == "CM.EL":
        fit = _models.conditional_exact(cells, k, meth)
    else:
        nagq = 1 if (model == "UM.RS" and meth == "ML") else int(nAGQ)
        fit = _MODELS[model](_core.long_layout(*cells), k, meth, nagq)
    for category, msg in fit.messages:
        warnings.warn(msg, category, stacklevel=2)
    vt = _core.typical_variance(vi)
    wald = max(fit.qe_wald, 0.0) if k > 1 else float("nan")
    lrt = max(-2 * (fit.ll_fe - fit.ll_qe), 0.0) if k > 1 else float("nan")
    return RmaGlmmFit(model=model, method=meth, estimate=fit.beta, se=float(np.sqrt(fit.var)), tau2=fit.tau2,
                      sigma2=fit.sigma2, QE_Wld=wald, QE_LRT=lrt, QE_df=k - 1,
                      I2=100 * fit.tau2 / (vt + fit.tau2), H2=fit.tau2 / vt + 1, vt=vt, k=k, level=pct,
                      ll=fit.ll, ll_qe=fit.ll_qe, parms=fit.parms, k_eff=k if model == "CM.EL" else 2 * k,
                      messages=tuple(msg for _, msg in fit.messages), se_tau2=fit.se_tau2, dropped_rows=dropped)
