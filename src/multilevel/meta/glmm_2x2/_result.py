"""Result of :func:`~multilevel.rma_glmm` (frozen) and its printed report in metafor's layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ..._display import FrameMapping, TextReport
from ..shared._pooled import PRINTED_TERMS, PooledEstimate
from ..shared._format import DEFAULT_DIGITS, fcf, fitstats_lines, fmt_pval, model_results_lines

__all__ = ["RmaGlmmFit"]

_MODEL_TYPES = {"UM.FS": "Unconditional Model with Fixed Study Effects",
                "UM.RS": "Unconditional Model with Random Study Effects",
                "CM.EL": "Conditional Model with Exact Likelihood"}


@dataclass(frozen=True, eq=False, repr=False)
class RmaGlmmFit(PooledEstimate, TextReport):
    r"""Result of :func:`~multilevel.rma_glmm` (frozen).

    Attributes
    ----------
    model, method : str
        ``"UM.FS"`` or ``"UM.RS"``; ``"ML"`` (random log odds ratios) or ``"EE"``.
    estimate, se : float
        Pooled log odds ratio and its standard error.
    tau2, sigma2 : float
        Variance of the log odds ratios (0 for ``EE``) and of the study intercepts (``UM.RS``; NaN otherwise).
    QE_Wld, QE_LRT, QE_df : float, float, int
        Wald and likelihood-ratio tests of the saturated model against the equal-effects one.
    I2, H2, vt : float
        I^2 (percent), H^2 and the typical within-study variance of the outcomes ``yi``.
    k : int
        Tables used.
    level : float
        Confidence level in percent.
    ll, parms, k_eff : float, int, int
        Log-likelihood, number of parameters and of observations (``2 k``) of the fit statistics.
    ll_qe : float
        Log-likelihood of the saturated model (deviance reference).
    messages : tuple of str
        Warnings of the mixed-model fits.
    dropped_rows : tuple of str
        Labels of the tables dropped for missing values or for no events (or no non-events) in
        both groups, as every fit records them.
    se_tau2 : float
        Standard error of ``tau2`` (``CM.EL`` with ``ML``, by the delta rule from the Hessian in
        :math:`\log\tau^2`; NaN otherwise, and when ``tau2`` is estimated as 0).

    Examples
    --------
    >>> import numpy as np, multilevel as ml
    >>> fit = ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> round(fit.estimate, 3), round(fit.tau2, 3)
    (-0.745, 0.295)
    >>> fit.predict(transf=np.exp).round(3)
        pred  se  ci_lb  ci_ub  pi_lb  pi_ub
    0  0.475 NaN  0.337   0.67  0.155  1.453
    """

    model: str
    method: str
    estimate: float
    se: float
    tau2: float
    sigma2: float
    QE_Wld: float
    QE_LRT: float
    QE_df: int
    I2: float
    H2: float
    vt: float
    k: int
    level: float
    ll: float
    ll_qe: float
    parms: int
    k_eff: int
    messages: tuple = ()
    dropped_rows: tuple[str, ...] = ()
    se_tau2: float = float("nan")

    @property
    def QEp_Wld(self) -> float:
        """p-value of the Wald-type test for heterogeneity."""
        return _chisq_sf(self.QE_Wld, self.QE_df)

    @property
    def QEp_LRT(self) -> float:
        """p-value of the likelihood-ratio test for heterogeneity."""
        return _chisq_sf(self.QE_LRT, self.QE_df)

    # ------------------------------------------------------------------ result protocol
    @property
    def loglik(self) -> float:
        """Log-likelihood (metafor's ``logLik``)."""
        return self.ll

    @property
    def deviance(self) -> float:
        """Deviance against the saturated model."""
        return -2 * (self.ll - self.ll_qe)

    @property
    def num_params(self) -> int:
        """Estimated parameters (metafor's ``parms``)."""
        return int(self.parms)

    @property
    def aic(self) -> float:
        """AIC with ``parms`` parameters."""
        return -2 * self.ll + 2 * self.parms

    @property
    def bic(self) -> float:
        """BIC with ``parms`` parameters and ``2 k`` observations."""
        return -2 * self.ll + self.parms * np.log(self.k_eff)

    @property
    def aicc(self) -> float:
        """AICc as metafor computes it."""
        n = max(self.k_eff, self.parms + 2)
        return -2 * self.ll + 2 * self.parms * n / (n - self.parms - 1)

    def predict(self, *, transf: Callable[[np.ndarray], np.ndarray] | None = None,
                level: float | None = None) -> pd.DataFrame:
        """Pooled effect with confidence and prediction intervals (``pred, se, ci_lb, ci_ub, pi_lb, pi_ub``).

        The prediction interval (``ML`` fits) adds ``tau2`` to the variance; ``transf`` (e.g. ``np.exp``)
        is applied to the estimate and limits, and ``se`` is then missing, as in metafor.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"),
        ...                   method="EE")
        >>> list(fit.predict().columns)[:2]
        ['pred', 'se']
        """
        pct = self._level(level)
        lo, hi = self._limits(pct)
        z = -ndtri((1 - pct / 100) / 2)
        half = z * np.sqrt(self.se ** 2 + self.tau2)
        values = np.array([self.estimate, lo, hi, self.estimate - half, self.estimate + half])
        se = self.se
        if transf is not None:
            values, se = np.asarray(transf(values), dtype=float), np.nan
        names = ["pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"][:6 if self.method == "ML" else 4]
        return pd.DataFrame({n: [v] for n, v in zip(names, [values[0], se, *values[1:]])})

    def fitstats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC and AICc (metafor's ``fitstats``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"),
        ...                   method="EE")
        >>> list(fit.fitstats().index)[:3]
        ['logLik', 'deviance', 'AIC']
        """
        return pd.Series([self.ll, self.deviance, self.aic, self.bic, self.aicc],
                         index=["logLik", "deviance", "AIC", "BIC", "AICc"], name="ML")

    def _results_frame(self) -> pd.DataFrame:
        """metafor's model-results row (estimate, se, zval, pval, ci_lb, ci_ub)."""
        return pd.DataFrame({"estimate": [self.estimate], "se": [self.se], "zval": [self.zval],
                             "pval": [self.pval], "ci_lb": [self.ci_lb], "ci_ub": [self.ci_ub]},
                            index=pd.Index(PRINTED_TERMS))

    def summary(self) -> RmaGlmmSummary:
        """The printed report with the fit statistics (metafor's ``summary``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"),
        ...                   method="EE")
        >>> 'Model Results' in str(fit.summary())
        True
        """
        return RmaGlmmSummary(self, showfit=True)

    def __str__(self) -> str:
        return str(RmaGlmmSummary(self))


def _chisq_sf(stat: float, df: int) -> float:
    from scipy import stats

    return float(stats.chi2.sf(stat, df)) if df > 0 else 1.0


@dataclass(frozen=True, eq=False, repr=False)
class RmaGlmmSummary(TextReport, FrameMapping):
    """metafor's printed layout of an :class:`RmaGlmmFit` (``showfit`` adds the fit statistics).

    ``str()`` gives the text (also shown in notebooks and Markdown) and ``to_frame()`` the
    model-results table (one row, ``intrcpt``).
    """

    fit: RmaGlmmFit
    showfit: bool = False
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """The model results table."""
        return self.fit._results_frame()

    def _variances(self) -> list[str]:
        f, d = self.fit, self.digits
        out = []
        if f.method == "ML":
            se = f" (SE = {fcf(f.se_tau2, d)[0]})" if np.isfinite(f.se_tau2) else ""
            out += [f"tau^2 (estimated amount of total heterogeneity): {fcf(f.tau2, d)[0]}{se}",
                    f"tau (square root of estimated tau^2 value):      {fcf(np.sqrt(f.tau2), d)[0]}",
                    f"I^2 (total heterogeneity / total variability):   {fcf(f.I2, d)[0]}%",
                    f"H^2 (total variability / sampling variability):  {fcf(f.H2, d)[0]}", ""]
        if f.model == "UM.RS":
            out += [f"sigma^2 (estimated amount of study level variability): {fcf(f.sigma2, d)[0]}",
                    f"sigma (square root of estimated sigma^2 value):        {fcf(np.sqrt(f.sigma2), d)[0]}", ""]
        return out

    def __str__(self) -> str:
        f, d = self.fit, self.digits
        head = (f"Random-Effects Model (k = {f.k}; tau^2 estimator: ML)" if f.method == "ML"
                else f"Equal-Effects Model (k = {f.k})")
        lines = ["", head, f"Model Type: {_MODEL_TYPES[f.model]}", ""]
        if self.showfit:
            lines += fitstats_lines([f.ll, f.deviance, f.aic, f.bic, f.aicc], d) + [""]
        lines += self._variances()
        if f.k > 1:
            lines += ["Tests for Heterogeneity:",
                      f"Wld(df = {f.QE_df}) = {fcf(f.QE_Wld, d)[0]}, p-val {fmt_pval(f.QEp_Wld, d, showeq=True, sep=' ')[0]}",
                      f"LRT(df = {f.QE_df}) = {fcf(f.QE_LRT, d)[0]}, p-val {fmt_pval(f.QEp_LRT, d, showeq=True, sep=' ')[0]}",
                      ""]
        lines += model_results_lines(PRINTED_TERMS, [f.estimate], [f.se], [f.zval], [f.pval], [f.ci_lb], [f.ci_ub],
                                     int_only=True, digits=d)
        return "\n".join(line.rstrip() for line in lines) + "\n"
