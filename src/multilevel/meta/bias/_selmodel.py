"""Selection models for :func:`~multilevel.rma` fits, as metafor 3.8-1's ``selmodel``."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError, ModelSpecificationError
from ..shared._input import EffectData
from ..univariate._rma import RmaFit, _fit
from ._selcore import SELECTION_TYPES, SelectionData, SelectionSpec, pvalues, selection_spec, stepfun_mass_check
from ._selfit import fit_selection, scaling
from ._selresult import SelmodelFit

__all__ = ["selmodel"]

_PREC = ("sei", "vi", "ninv", "sqrtninv")
_ALTERNATIVES = ("greater", "less", "two.sided")
_FIXED = ("FE", "EE", "CE")


def _check_fit(fit: Any) -> None:
    if not isinstance(fit, RmaFit):
        raise ArgumentError(f"selmodel needs a fit from ml.rma, not a {type(fit).__name__}")
    if fit.weights is not None:
        raise ModelSpecificationError("a selection model cannot be fitted to a model with custom weights; "
                                      "refit without weights")
    bad = np.flatnonzero(~(fit.vi > 0))
    if bad.size:
        rows = ", ".join(f"{fit.slab[i]} (vi = {fit.vi[i]:g})" for i in bad[:5])
        raise ModelSpecificationError(f"a selection model needs positive sampling variances; not so in {rows}")


def _check_type(type: Any, steps: Any) -> tuple[str, np.ndarray | None]:
    if not isinstance(type, str) or type not in SELECTION_TYPES:
        raise ArgumentError(f"type must be one of {', '.join(SELECTION_TYPES)}, not {type!r}")
    if steps is None:
        if type == "stepfun":
            raise ArgumentError("type='stepfun' needs steps, the p-value cut points (such as [0.025, 1])")
        return type, None
    arr = np.atleast_1d(np.asarray(steps, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or np.any(np.isnan(arr)):
        raise ArgumentError(f"steps must be p-values between 0 and 1 without missing values, not {steps!r}")
    if np.any((arr < 0) | (arr > 1)):
        raise ArgumentError(f"steps must lie between 0 and 1; got {arr[(arr < 0) | (arr > 1)].tolist()}")
    arr = np.unique(arr)
    if arr[-1] != 1:
        arr = np.append(arr, 1.0)
    if type == "beta":
        raise ArgumentError("steps do not apply to type='beta'")
    if type != "stepfun" and arr.size != 2:
        raise ArgumentError(f"type={type!r} takes a single step (the p-value up to which w(p) = 1), "
                            f"not {arr.size - 1}")
    if type == "stepfun" and arr.size < 2:
        raise ArgumentError("steps for type='stepfun' need at least one cut point below 1")
    return type, arr


def _precision(fit: RmaFit, prec: Any, kind: str, ni: Any) -> tuple[np.ndarray, str | None]:
    if prec is None:
        return np.ones(fit.k), None
    if prec not in _PREC:
        raise ArgumentError(f"prec must be one of {', '.join(_PREC)} or None, not {prec!r}")
    if kind == "beta":
        raise ArgumentError("prec does not apply to type='beta'")
    if prec in ("ninv", "sqrtninv"):
        if ni is None:
            raise ArgumentError(f"prec={prec!r} needs the sample sizes: pass ni=")
        n = np.asarray(ni, dtype=float)
        if n.shape != (fit.k,) or np.any(~np.isfinite(n)) or np.any(n <= 0):
            raise ArgumentError(f"ni must hold {fit.k} positive sample sizes, one per study")
        values = 1 / n if prec == "ninv" else 1 / np.sqrt(n)
    else:
        values = np.sqrt(fit.vi) if prec == "sei" else fit.vi.copy()
    return values / values.max(), prec


def _ml_refit(fit: RmaFit) -> RmaFit:
    if fit.method in _FIXED or fit.method == "ML":
        return fit
    eff = EffectData(fit.yi, fit.vi, fit.design, np.arange(fit.k), None, 0, fit.slab, None)
    return _fit(eff, "ML", fit.test, fit.level)


def _ptable(steps: np.ndarray, pvals: np.ndarray) -> tuple[list[str], np.ndarray]:
    left = [_r_num(s) for s in np.concatenate([[0.0], steps[:-1]])]
    width = max(len(s) for s in left)
    labels = [f"{lo.ljust(width)} < p <= {_r_num(hi)}" for lo, hi in zip(left, steps)]
    return labels, stepfun_mass_check(steps, pvals)


def _r_num(x: float) -> str:
    """``as.character(x)`` for a p-value step (15 significant digits, no trailing zeros)."""
    return f"{x:.15g}"


def _fixed_deltas(delta: Any, spec: SelectionSpec) -> np.ndarray:
    """metafor's ``delta=``: one value per selection parameter (a single value is recycled), NaN
    (or None) for the parameters to estimate; the first step of a step function defaults to 1."""
    n = spec.deltas
    if delta is None:
        out = np.full(n, np.nan)
    else:
        raw = [np.nan if d is None else d for d in np.atleast_1d(np.asarray(delta, dtype=object)).tolist()]
        try:
            out = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise ArgumentError(f"delta must hold numbers (or None/NaN to estimate), not {delta!r}") from None
        if out.size == 1:
            out = np.full(n, out[0])
        if out.size != n:
            raise ArgumentError(f"delta must have {n} value(s) for type={spec.type!r}, not {out.size}")
        for j, value in enumerate(out):
            low, excl = spec.lower[j], bool(spec.lower_excl[j])
            if (excl and value <= low) or (not excl and value < low) or value > spec.upper[j]:
                bound = f"> {low:g}" if excl else f">= {low:g}"
                raise ArgumentError(f"delta[{j + 1}] must be {bound} for type={spec.type!r}; got {value:g}")
    if spec.type == "stepfun" and np.isnan(out[0]):
        out[0] = 1.0
    return out


def _spec_for(spec: SelectionSpec, fixed: np.ndarray) -> SelectionSpec:
    """Widen the optimisation bounds around fixed values outside them, as metafor does."""
    given = ~np.isnan(fixed)
    tol = np.finfo(float).eps ** 0.2
    dmin = np.where(given & (spec.dmin > fixed), fixed - tol, spec.dmin)
    dmax = np.where(given & (spec.dmax < fixed), fixed + tol, spec.dmax)
    return dataclasses.replace(spec, dmin=dmin, dmax=dmax)


def selmodel(fit: RmaFit, type: str, *, alternative: str = "greater", steps: Any = None, prec: str | None = None,
             ni: Any = None, delta: Any = None) -> SelmodelFit:
    r"""Selection model for publication bias (metafor's ``selmodel``).

    Parameters
    ----------
    fit : RmaFit
        A fit from :func:`~multilevel.rma` (with or without moderators, without custom
        weights). Random- and mixed-effects models are refitted by maximum likelihood.
    type : str
        The selection function :math:`w(p)`: ``"beta"`` (Citkowicz & Vevea, 2017),
        ``"halfnorm"``, ``"negexp"``, ``"logistic"``, ``"power"``, ``"negexppow"``
        (Preston et al., 2004) or ``"stepfun"`` (Vevea & Hedges, 1995).
    alternative : {"greater", "less", "two.sided"}
        Which p-values drive the selection: one-sided for positive or negative effects, or two-sided.
    steps : sequence of float, optional
        For ``"stepfun"`` (required), the p-value cut points (1 is added when missing); for the
        one-parameter functions, one p-value :math:`\alpha` below which :math:`w(p) = 1`.
    prec : {"sei", "vi", "ninv", "sqrtninv"}, optional
        A measure of precision (scaled to a maximum of 1) that multiplies the rate of the
        one-parameter functions (and divides the step heights), so that selection may depend on
        study size.
    ni : array_like, optional
        Sample sizes, needed for ``prec="ninv"`` or ``"sqrtninv"``.
    delta : float or sequence of float, optional
        Fix selection parameters at these values (one per parameter, or one value for all;
        NaN or None marks a parameter to estimate), as metafor's ``delta``. Fixed parameters
        have no standard errors and leave the likelihood-ratio test of no selection (its
        degrees of freedom count the estimated ones). For ``"stepfun"`` the first value
        defaults to 1.

    Returns
    -------
    SelmodelFit

    Notes
    -----
    The effects follow :math:`y_i \sim N(x_i^\top\beta, v_i + \tau^2)` and a study with
    p-value :math:`p_i` is observed with relative probability :math:`w(p_i; \delta)`, so that
    the log-likelihood is

    .. math::

        \ell = \sum_i \log w(p_i; \delta) + \log \phi(y_i; x_i^\top\beta, v_i + \tau^2) - \log A_i,
        \qquad A_i = \int w(p(y); \delta)\, \phi(y; x_i^\top\beta, v_i + \tau^2)\, dy.

    With :math:`w(p) = p^{\delta_1 - 1}(1 - p)^{\delta_2 - 1}` (beta),
    :math:`e^{-\delta p^2}` (halfnorm), :math:`e^{-\delta p}` (negexp),
    :math:`2 e^{-\delta p} / (1 + e^{-\delta p})` (logistic), :math:`(1 - p)^\delta` (power),
    :math:`e^{-\delta_1 p^{1/\delta_2}}` (negexppow) and :math:`\delta_j` on
    :math:`(s_{j-1}, s_j]` with :math:`\delta_1 = 1` (stepfun). The estimates, their
    standard errors (inverse Hessian) and the likelihood-ratio tests of no selection
    (against the ML fit without selection) and of :math:`\tau^2 = 0` are computed as
    metafor 3.8-1 computes them, with R's optimizer and quadrature, so that they agree with
    metafor's to rounding; see :mod:`multilevel.meta.bias._selfit`.

    References
    ----------
    Vevea, J. L., & Hedges, L. V. (1995). A general linear model for estimating effect size in the
    presence of publication bias. Psychometrika, 60(3), 419-435.

    Citkowicz, M., & Vevea, J. L. (2017). A parsimonious weight function for modeling publication
    bias. Psychological Methods, 22(1), 28-41.

    Preston, C., Ashby, D., & Smyth, R. (2004). Adjusting for publication bias: Modelling the
    selection process. Journal of Evaluation in Clinical Practice, 10(2), 313-322.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
    >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
    >>> sel.delta.round(4).tolist()
    [1.0, 0.4946, 0.2136, 0.0618]
    >>> round(sel.LRT, 4), sel.LRTdf
    (6.402, 3)
    """
    _check_fit(fit)
    if alternative not in _ALTERNATIVES:
        raise ArgumentError(f"alternative must be one of {', '.join(_ALTERNATIVES)}, not {alternative!r}")
    kind, step_arr = _check_type(type, steps)
    preci, prec_name = _precision(fit, prec, kind, ni)
    base = _ml_refit(fit)
    spec = selection_spec(kind, 0 if step_arr is None else step_arr.size)
    delta_fixed = _fixed_deltas(delta, spec)
    spec = _spec_for(spec, delta_fixed)
    pv = pvalues(base.yi, base.vi, alternative)
    clamped = np.minimum(np.maximum(pv, spec.pval_min), 1 - spec.pval_min)
    ptable = None
    if step_arr is not None:
        ptable = _ptable(step_arr, clamped)
        _check_intervals(ptable, kind, delta_fixed)
    fixed_model = base.method in _FIXED
    n_free = int(np.sum(np.isnan(delta_fixed)))
    if base.k < base.p + (0 if fixed_model else 1) + n_free:
        raise ModelSpecificationError(f"the number of studies (k = {base.k}) is too small to fit this selection model")
    sc = scaling(base.design.X, base.int_only, base.design.intercept)
    steps_used = np.array([0.0]) if step_arr is None else step_arr
    data = SelectionData(kind, base.yi, base.vi, sc.X, preci, steps_used, alternative, spec.pval_min, clamped)
    beta0 = sc.scaled(base.coefficients[0].copy())
    est = fit_selection(data, spec, beta0, 0.0 if fixed_model else base.tau2,
                        tau2_fixed=0.0 if fixed_model else None, delta_fixed=delta_fixed,
                        raw_X=base.design.X)
    return SelmodelFit._build(base, est, spec, sc.mX, type=kind, alternative=alternative, steps=step_arr,
                             prec=prec_name, preci=preci, pvals=clamped, ptable=ptable)


def _check_intervals(ptable: tuple[list[str], np.ndarray], kind: str, delta_fixed: np.ndarray) -> None:
    """An interval without observed p-values cannot carry an estimated step (any interval, for the
    one-parameter functions with a step)."""
    labels, counts = ptable
    empty = [lab for lab, c, d in zip(labels, counts, delta_fixed if kind == "stepfun" else [np.nan] * len(labels))
             if c == 0 and np.isnan(d)]
    if empty:
        raise ModelSpecificationError("no observed p-value falls in the interval(s) " + "; ".join(empty)
                                      + "; choose other steps")
