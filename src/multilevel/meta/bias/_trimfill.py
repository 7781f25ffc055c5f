"""Trim and fill (Duval & Tweedie, 2000) for :func:`~multilevel.rma` fits, as metafor's ``trimfill``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError, ModelSpecificationError
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval
from ..shared._input import EffectData, moderators_design
from ..univariate._core import estimate_tau2, fixed_effects
from ..univariate._print import RmaSummary
from ..univariate._rma import RmaFit, _fit
from ._core import trimfill_step

__all__ = ["trimfill", "RmaTrimfillFit"]

_ESTIMATORS = ("L0", "R0", "Q0")


@dataclass(frozen=True, eq=False, repr=False)
class RmaTrimfillFit(RmaFit):
    """Result of :func:`trimfill`: the :class:`~multilevel.RmaFit` on the data augmented by the
    filled studies (frozen), with the trim-and-fill estimates.

    Attributes
    ----------
    k0 : int
        Estimated number of missing studies (the number of studies filled in).
    se_k0 : float
        Standard error of ``k0`` (at its unrounded value; NaN when not defined).
    side : str
        ``"left"`` or ``"right"``: the side of the funnel plot where studies were missing.
    k0_est : str
        The estimator, ``"L0"``, ``"R0"`` or ``"Q0"``.
    p_k0 : float
        For ``R0``, the p-value of the test of no missing studies, :math:`2^{-(k_0 + 1)}`; NaN otherwise.
    filled : numpy.ndarray of bool
        True for the filled (imputed) studies, which come after the observed ones in
        ``yi``, ``vi`` and ``slab`` (labelled ``"Filled 1"``, ``"Filled 2"``, ...).

    Every field of :class:`~multilevel.RmaFit` describes the fit to the augmented data
    (``k`` counts the filled studies). When no study is missing (``k0 = 0``) the fit is the
    original one.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> filled = ml.trimfill(ml.rma("yi", "vi", data=dat))
    >>> filled.k0, round(float(filled.beta.iloc[0]), 4)
    (1, -0.6571)
    """

    k0: int = 0
    se_k0: float = float("nan")
    side: str = "left"
    k0_est: str = "L0"
    p_k0: float = float("nan")
    filled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    @property
    def fill(self) -> np.ndarray:
        """metafor's name of :attr:`filled`."""
        return self.filled

    def _header(self, digits: int = DEFAULT_DIGITS) -> list[str]:
        se = "NA" if np.isnan(self.se_k0) else fcf(self.se_k0, digits)[0]
        lines = ["", f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {se})"]
        if self.k0_est == "R0":
            pad = " " * len(str(self.k0))
            p = fmt_pval(self.p_k0, digits, showeq=True, sep=" ")[0]
            lines.append(f"Test of H0: no missing studies on the {self.side} side:     {pad}p-val {p}")
        return lines

    def summary(self) -> Any:
        """The trim-and-fill estimate and the summary of the augmented fit (with fit statistics).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> tf = ml.trimfill(ml.rma("yi", "vi", data=dat))
        >>> print(str(tf.summary()).splitlines()[1])
        Estimated number of missing studies on the right side: 1 (SE = 2.4528)
        """
        return _TrimfillReport(self._header(), RmaSummary(self, showfit=True))

    def __str__(self) -> str:
        return str(_TrimfillReport(self._header(), RmaSummary(self, showfit=False)))


@dataclass(frozen=True, eq=False, repr=False)
class _TrimfillReport(TextReport, FrameMapping):
    """metafor's print of a trim-and-fill fit: the estimate of k0, then the rma report."""

    header: list[str]
    body: Any

    def __str__(self) -> str:
        return "\n".join([*self.header, str(self.body)])

    def to_frame(self) -> Any:
        """The model results of the augmented fit."""
        return self.body.to_frame()


def _pooled(y: np.ndarray, v: np.ndarray, w: np.ndarray | None, X: np.ndarray, method: str) -> np.ndarray:
    """Coefficients of the (meta-)regression of ``y`` on ``X`` with tau^2 estimated by ``method``."""
    tau2 = estimate_tau2(y, v, X, method).tau2
    return fixed_effects(y, v, X, tau2, knha=False, weights=w).beta


def _side(fit: RmaFit) -> str:
    """Side of the missing studies: opposite to the sign of the slope of the effects on sqrt(vi)."""
    X = np.column_stack([np.ones(fit.k), np.sqrt(fit.vi)])
    slope = _pooled(fit.yi, fit.vi, fit.weights, X, fit.method)[1]
    return "right" if slope < 0 else "left"


def _iterate(y, v, w, method, estimator, maxiter):
    """Trim the k0 most extreme studies, re-estimate, re-count, until k0 no longer changes."""
    k = y.shape[0]
    ones = np.ones((k, 1))
    k0, k0_prev, it = 0, -1, 0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise ModelSpecificationError(f"the trim-and-fill algorithm did not converge in maxiter = {maxiter} "
                                          "iterations; increase maxiter")
        keep = k - k0
        beta = float(_pooled(y[:keep], v[:keep], None if w is None else w[:keep], ones[:keep], method)[0])
        centred = y - beta
        k0, se_k0 = trimfill_step(centred, estimator)
        if k0 >= k:
            raise ModelSpecificationError(f"the {estimator} estimator puts every study on one side; "
                                          "trim and fill is not defined for these data")
    return k0, se_k0, beta


def _check(fit: Any, side: str | None, estimator: str, maxiter: int, ilim: Any) -> tuple:
    if not isinstance(fit, RmaFit):
        raise ArgumentError(f"trimfill needs a fit from ml.rma, not a {type(fit).__name__}")
    if not fit.int_only:
        raise ModelSpecificationError("trim and fill applies to models without moderators; refit without mods")
    if fit.k < 2:
        raise ModelSpecificationError(f"trim and fill needs at least 2 studies (k = {fit.k})")
    if estimator not in _ESTIMATORS:
        raise ArgumentError(f"estimator must be one of {', '.join(_ESTIMATORS)}, not {estimator!r}")
    if side is not None and side not in ("left", "right"):
        raise ArgumentError(f"side must be 'left', 'right' or None, not {side!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ArgumentError(f"maxiter must be a positive integer, not {maxiter!r}")
    if ilim is not None:
        ilim = np.sort(np.asarray(ilim, dtype=float))
        if ilim.shape != (2,):
            raise ArgumentError(f"ilim must hold two limits, not {ilim.size}")
    return ilim


def trimfill(fit: RmaFit, side: str | None = None, estimator: str = "L0", maxiter: int = 100,
             *, ilim: Any = None) -> RmaTrimfillFit:
    r"""Trim-and-fill analysis of funnel-plot asymmetry (metafor's ``trimfill``).

    Parameters
    ----------
    fit : RmaFit
        A fit from :func:`~multilevel.rma` without moderators.
    side : {"left", "right"}, optional
        Side of the funnel plot where studies are suspected to be missing. By default it is
        estimated: ``"right"`` when the slope of Egger's regression of the effects on their
        standard errors (fitted with the method of ``fit``) is negative, ``"left"`` otherwise.
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies.
    maxiter : int
        Maximum number of trim-and-re-estimate iterations.
    ilim : sequence of two floats, optional
        Limits within which the imputed effects are truncated.

    Returns
    -------
    RmaTrimfillFit
        The fit to the observed and filled studies (an :class:`~multilevel.RmaFit`), with
        ``k0``, ``se_k0``, ``side``, ``k0_est``, ``p_k0`` and the ``filled`` mask.

    Notes
    -----
    With the effects mirrored when ``side="right"`` and sorted increasingly, each iteration
    estimates the pooled effect :math:`\hat\theta` from the :math:`k - k_0` smallest effects,
    ranks :math:`|y_i - \hat\theta|` over all :math:`k` studies and estimates :math:`k_0` from
    the signed ranks (see :func:`multilevel.meta.bias._core.trimfill_step`), until :math:`k_0`
    no longer changes. The :math:`k_0` largest effects are then mirrored about
    :math:`\hat\theta`, :math:`y_i^* = 2\hat\theta - y_i`, with their sampling variances, and
    the model is refitted to the :math:`k + k_0` studies with the same tau^2 estimator and
    weights. As metafor 3.8-1, the refit uses z-tests at the 95% level whatever the original
    fit's ``test`` and ``level``; when :math:`k_0 = 0` the original fit is returned.

    References
    ----------
    Duval, S. J., & Tweedie, R. L. (2000). Trim and fill: A simple funnel-plot-based method of
    testing and adjusting for publication bias in meta-analysis. Biometrics, 56(2), 455-463.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> tf = ml.trimfill(ml.rma("yi", "vi", data=dat, method="FE"))
    >>> tf.k0, round(tf.se_k0, 4), tf.side, tf.k
    (4, 2.3853, 'right', 17)
    >>> print(str(tf).splitlines()[1])
    Estimated number of missing studies on the right side: 4 (SE = 2.3853)
    >>> int(tf.filled.sum()), tf.slab[-1]
    (4, 'Filled 4')
    """
    ilim = _check(fit, side, estimator, maxiter, ilim)
    if side is None:
        side = _side(fit)
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * fit.yi, kind="stable")
    y, v = sign * fit.yi[order], fit.vi[order]
    w = None if fit.weights is None else fit.weights[order]
    k = fit.k
    k0, se_k0, beta = _iterate(y, v, w, fit.method, estimator, maxiter)
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else float("nan")
    extra = dict(k0=k0, se_k0=float(se_k0), side=side, k0_est=estimator, p_k0=p_k0)
    if k0 == 0:
        base = {f.name: getattr(fit, f.name) for f in dataclasses.fields(RmaFit)}
        none = np.zeros(k, dtype=bool)
        none.flags.writeable = False
        return RmaTrimfillFit(**base, **extra, filled=none)
    mirrored = sign * (2 * beta - y[k - k0:])
    if ilim is not None:
        mirrored = np.clip(mirrored, ilim[0], ilim[1])
    y_all = np.concatenate([fit.yi, mirrored])
    v_all = np.concatenate([fit.vi, v[k - k0:]])
    w_all = None if w is None else np.concatenate([fit.weights, w[k - k0:]])
    slab = (*fit.slab, *(f"Filled {i}" for i in range(1, k0 + 1)))
    eff = EffectData(y_all, v_all, moderators_design(None, None, k + k0), np.arange(k + k0), None, 0, slab, w_all)
    refit = _fit(eff, fit.method, "z", 95.0)
    base = {f.name: getattr(refit, f.name) for f in dataclasses.fields(RmaFit)}
    filled = np.concatenate([np.zeros(k, dtype=bool), np.ones(k0, dtype=bool)])
    filled.flags.writeable = False
    return RmaTrimfillFit(**base, **extra, filled=filled)
