"""Result of :func:`~multilevel.selmodel`: estimates, tests, metafor's printed layout and the plot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..._display import FrameMapping, TextReport, TextViews
from ..._protocol import confint_frame, parse_level, tidy_frame
from ..._rformat import signif_stars
from ..univariate._infer import predict as rma_predict
from ..shared._format import (DEFAULT_DIGITS, fcf, fmt_pval, moderators_lines, model_results_lines, print_vector_lines,
                              signif_legend_lines, _matrix_lines)
from ._selcore import SelectionSpec, weights
from ._selfit import SelectionEstimate
from ._selplot import plot_selection, selection_curve

__all__ = ["SelmodelFit", "SelmodelSummary"]

_EPS10 = np.finfo(float).eps * 10
_FIXED = ("FE", "EE", "CE")


def _wald(est: np.ndarray, se: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, float]:
    crit = float(-special.ndtri((1 - level / 100) / 2))
    return est - crit * se, est + crit * se, crit


@dataclass(frozen=True, eq=False, repr=False)
class SelmodelFit(TextViews):
    """Result of :func:`~multilevel.selmodel` (frozen).

    Attributes
    ----------
    type, alternative : str
        The selection function and the p-values it acts on.
    steps : numpy.ndarray or None
        The p-value cut points (ending in 1), when given.
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Coefficients of the selection-adjusted model with Wald tests and intervals.
    tau2, se_tau2, ci_lb_tau2, ci_ub_tau2 : float
        Heterogeneity variance (0 for fixed-effects models), its standard error and Wald interval
        (truncated at 0).
    delta, se_delta, zval_delta, pval_delta, ci_lb_delta, ci_ub_delta : numpy.ndarray
        Selection-function parameters; the z-tests are against no selection (1 for the beta and
        step functions, 0 otherwise). Fixed parameters (the first step) have NaN standard errors.
    LRT, LRTdf, LRTp : float, int, float
        Likelihood-ratio test of the selection parameters against the model without selection.
    LRT_tau2, LRTp_tau2 : float
        Likelihood-ratio test of tau^2 = 0 within the selection model (NaN for fixed-effects models).
    ll, ll0 : float
        Log-likelihood of the selection model and of the ML model without selection.
    QM, QMp : float
        Wald test of the moderators.
    k, p : int
        Number of studies and of coefficients.

    Notes
    -----
    ``yi``, ``vi``, ``pvals``, ``preci``, ``hessian`` and ``vd`` (covariance of the deltas) are
    kept for the plot and for checks; they are internal and may change.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
    >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
    >>> sel.to_frame().round(4)
                     term       kind  estimate  ...  p_value  conf_low  conf_high
    0             intrcpt      fixed    0.0020  ...   0.9821   -0.1723     0.1763
    1                tau2     random    0.0096  ...      NaN    0.0000     0.0347
    2  0     < p <= 0.025  selection    1.0000  ...      NaN       NaN        NaN
    3    0.025 < p <= 0.1  selection    0.4946  ...   0.1089    0.0000     1.1125
    4    0.1   < p <= 0.5  selection    0.2136  ...   0.0000    0.0000     0.5443
    5      0.5   < p <= 1  selection    0.0618  ...   0.0000    0.0000     0.1969
    <BLANKLINE>
    [6 rows x 8 columns]
    """

    type: str
    alternative: str
    steps: np.ndarray | None
    prec: str | None
    names: tuple[str, ...]
    coefficients: np.ndarray = field(repr=False)   # rows beta, se, zval, pval, ci_lb, ci_ub
    vb: np.ndarray = field(repr=False)
    tau2: float
    se_tau2: float
    ci_lb_tau2: float
    ci_ub_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    zval_delta: np.ndarray
    pval_delta: np.ndarray
    ci_lb_delta: np.ndarray
    ci_ub_delta: np.ndarray
    delta_fixed: np.ndarray = field(repr=False)
    vd: np.ndarray = field(repr=False)
    ll: float
    ll0: float
    LRT: float
    LRTdf: int
    LRTp: float
    LRT_tau2: float
    LRTp_tau2: float
    QM: float
    QMp: float
    btt: tuple[int, ...]
    k: int
    p: int
    method: str
    level: float
    parms: int
    int_only: bool
    ptable: tuple[list[str], np.ndarray] | None = field(repr=False)
    spec: SelectionSpec = field(repr=False)
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    pvals: np.ndarray = field(repr=False)
    preci: np.ndarray = field(repr=False)
    hessian: np.ndarray | None = field(repr=False)
    design: Any = field(repr=False)      # the moderators design of the rma fit (for predict)
    slab: Any = field(repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def _build(cls, base: Any, est: SelectionEstimate, spec: SelectionSpec, mX: np.ndarray | None, **kw: Any
              ) -> SelmodelFit:
        """Assemble the result from the ML fit without selection and the selection estimates."""
        p = base.p
        npar = est.hest.size
        iH = np.full((npar, npar), np.nan)
        if est.cov is not None:
            iH[np.ix_(est.hest, est.hest)] = est.cov
        beta, vb = est.beta, iH[:p, :p]
        if mX is not None:
            beta, vb = mX @ beta, mX @ vb @ mX.T
        se = np.sqrt(np.diag(vb))
        lb, ub, _ = _wald(beta, se, base.level)
        coefs = np.vstack([beta, se, beta / se, 2 * special.ndtr(-np.abs(beta / se)), lb, ub])
        vd = iH[p + 1:, p + 1:]
        se_d = np.sqrt(np.diag(vd))
        dlb, dub, _ = _wald(est.delta, se_d, base.level)
        se_t2 = float(np.sqrt(iH[p, p]))
        tlb, tub, _ = _wald(np.array([est.tau2]), np.array([se_t2]), base.level)
        fixed = ~est.hest[p + 1:]
        lrt = max(0.0, -2 * (base.loglik - est.ll))
        lrtdf = int(np.sum(est.hest[p + 1:]))
        lrt_t2 = max(0.0, -2 * (est.ll_tau2_zero - est.ll)) if not np.isnan(est.ll_tau2_zero) else np.nan
        QM = _qm(beta, vb, base.btt)
        fixed_model = base.method in _FIXED
        for arr in (coefs, vb, vd, se_d, dlb, dub):
            arr.flags.writeable = False
        return cls(
            names=tuple(base.design.names), coefficients=coefs, vb=vb, tau2=est.tau2, se_tau2=se_t2,
            ci_lb_tau2=max(0.0, float(tlb[0])) if np.isfinite(tlb[0]) else np.nan, ci_ub_tau2=float(tub[0]),
            delta=est.delta, se_delta=se_d, zval_delta=(est.delta - spec.h0) / se_d,
            pval_delta=2 * special.ndtr(-np.abs((est.delta - spec.h0) / se_d)),
            ci_lb_delta=np.where(dlb < spec.lower, spec.lower, dlb), ci_ub_delta=np.minimum(dub, spec.upper),
            delta_fixed=fixed, vd=vd, ll=est.ll, ll0=base.loglik, LRT=lrt, LRTdf=lrtdf,
            LRTp=float(special.chdtrc(lrtdf, lrt)) if lrtdf > 0 else np.nan,
            LRT_tau2=lrt_t2, LRTp_tau2=float(special.chdtrc(1, lrt_t2)), QM=QM,
            QMp=float(special.chdtrc(len(base.btt), QM)), btt=tuple(base.btt), k=base.k, p=p,
            method=base.method, level=base.level, parms=p + (0 if fixed_model else 1) + lrtdf,
            int_only=base.int_only, spec=spec, yi=base.yi, vi=base.vi, hessian=est.hessian, design=base.design,
            slab=base.slab, **kw)

    # ------------------------------------------------------------------ coefficient views
    def _row(self, i: int) -> pd.Series:
        return pd.Series(self.coefficients[i], index=pd.Index(self.names))

    @property
    def beta(self) -> pd.Series:
        """Coefficients (metafor's names)."""
        return self._row(0)

    params = beta

    @property
    def se(self) -> pd.Series:
        return self._row(1)

    @property
    def zval(self) -> pd.Series:
        return self._row(2)

    @property
    def pval(self) -> pd.Series:
        return self._row(3)

    @property
    def ci_lb(self) -> pd.Series:
        return self._row(4)

    @property
    def ci_ub(self) -> pd.Series:
        return self._row(5)

    @property
    def delta_names(self) -> list[str]:
        """Row names of the selection parameters (the p-value intervals for step functions)."""
        if self.ptable is not None and self.type == "stepfun":
            return list(self.ptable[0])
        return [f"delta.{j + 1}" for j in range(self.delta.size)] if self.delta.size > 1 else ["delta"]

    # ------------------------------------------------------------------ protocol
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients (inverse Hessian).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> sel.vcov().shape
        (1, 1)
        """
        return pd.DataFrame(self.vb, index=list(self.names), columns=list(self.names))

    @property
    def loglik(self) -> float:
        """Maximised log-likelihood (ML)."""
        return float(self.ll)

    @property
    def nobs(self) -> int:
        return int(self.k)

    @property
    def aic(self) -> float:
        return -2 * self.ll + 2 * self.parms

    @property
    def bic(self) -> float:
        return -2 * self.ll + self.parms * np.log(self.k)

    @property
    def aicc(self) -> float:
        n = max(self.k, self.parms + 2)
        return -2 * self.ll + 2 * self.parms * n / (n - self.parms - 1)

    def fitstats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC and AICc (ML).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> sel.fitstats().round(2)
        logLik      -6.95
        deviance    13.90
        AIC         23.90
        BIC         31.95
        AICc        25.83
        dtype: float64
        """
        return pd.Series({"logLik": self.ll, "deviance": -2 * self.ll, "AIC": self.aic, "BIC": self.bic,
                          "AICc": self.aicc})

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Wald intervals of the coefficients, tau^2 (truncated at 0) and the selection parameters.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 1])
        >>> sel.confint().loc["intrcpt", ["lower", "upper"]].round(4).tolist()
        [0.038, 0.3508]
        """
        lvl = self.level if level is None else 100 * parse_level(level)
        b_lb, b_ub, _ = _wald(self.coefficients[0], self.coefficients[1], lvl)
        t_lb, t_ub, _ = _wald(np.array([self.tau2]), np.array([self.se_tau2]), lvl)
        d_lb, d_ub, _ = _wald(self.delta, self.se_delta, lvl)
        d_lb = np.where(d_lb < self.spec.lower, self.spec.lower, d_lb)
        terms = [*self.names, "tau2", *self.delta_names]
        kinds = ["fixed"] * self.p + ["random"] + ["selection"] * self.delta.size
        est = [*self.coefficients[0], self.tau2, *self.delta]
        lower = [*b_lb, max(0.0, float(t_lb[0])) if np.isfinite(t_lb[0]) else np.nan, *d_lb]
        upper = [*b_ub, float(t_ub[0]), *np.minimum(d_ub, self.spec.upper)]
        return confint_frame(terms, kinds, est, lower, upper, level=lvl / 100, method="wald")

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: estimate, std_error, statistic, p_value and the Wald interval.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> list(sel.to_frame().index)
        [0, 1, 2, 3, 4, 5]
        """
        ci = self.confint()
        terms = list(ci.index)
        est = [*self.coefficients[0], self.tau2, *self.delta]
        se = [*self.coefficients[1], self.se_tau2, *self.se_delta]
        stat = [*self.coefficients[2], np.nan, *self.zval_delta]
        pv = [*self.coefficients[3], np.nan, *self.pval_delta]
        return tidy_frame(terms, list(ci["kind"]), est, se, stat, pv, ci["lower"], ci["upper"],
                          level=self.level / 100)

    tidy = to_frame

    @property
    def num_params(self) -> int:
        """Estimated parameters (coefficients, tau2 unless fixed, free deltas), as metafor's ``parms``."""
        return int(self.parms)

    def predict(self, newmods: Any = None, *, transf: Callable[[np.ndarray], np.ndarray] | None = None,
                level: float | None = None) -> pd.DataFrame:
        r"""Predicted average effect under the selection model, as metafor's ``predict(sel)``.

        Parameters
        ----------
        newmods : array_like or DataFrame, optional
            Moderator values (without the intercept) or a table evaluated with the moderators
            formula; default: the fitted values of the studies (the pooled estimate for the
            intercept-only model).
        transf : callable, optional
            Back-transformation applied to the estimates and limits (e.g. ``np.exp``); the
            ``se`` column is then NaN, as in metafor.
        level : float, optional
            Confidence level as a proportion (0.95) or a percentage (95); default: that of the fit.

        Returns
        -------
        pandas.DataFrame
            Columns ``pred, se, ci_lb, ci_ub`` and, unless the model has no :math:`\tau^2`
            (fixed effects), the prediction interval ``pi_lb, pi_ub``
            (:math:`\hat\mu \pm z_{1-\alpha/2} \sqrt{SE^2 + \hat\tau^2}`).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 1])
        >>> list(sel.predict().columns)
        ['pred', 'se', 'ci_lb', 'ci_ub', 'pi_lb', 'pi_ub']
        """
        lvl = self.level if level is None else parse_level(level) * 100
        view = SimpleNamespace(int_only=self.int_only, design=self.design, slab=self.slab, vcov_array=self.vb,
                               coefficients=self.coefficients, test="z", k=self.k, p=self.p, tau2=self.tau2,
                               fixed_model=self.method in _FIXED)
        return rma_predict(view, newmods, transf=transf, level=lvl)

    def selection_function(self, p: Any = None, *, prec: Any = "max") -> pd.DataFrame:
        """The estimated selection function :math:`w(p)` on a grid of p-values (metafor's plot data).

        ``prec`` is the precision at which a precision-dependent function is drawn: ``"min"``,
        ``"max"`` (default), ``"mean"``, ``"median"`` of the studies' scaled precisions, or a number.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> sel.selection_function([0.01, 0.2, 0.7]).round(4)
              p       w
        0  0.01  1.0000
        1  0.20  0.2136
        2  0.70  0.0618
        """

        return selection_curve(self, p, prec)

    def plot(self, *, ax: Any = None, n: int = 1000, prec: Any = "max", rug: bool = True, **kwargs: Any) -> Any:
        """Plot the estimated selection function against the p-value; returns the Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> type(sel.plot()).__name__
        'Figure'
        """

        return plot_selection(self, ax=ax, n=n, prec=prec, rug=rug, **kwargs)

    def weights_at(self, p: np.ndarray, prec: float = 1.0) -> np.ndarray:
        """:math:`w(p; \\hat\\delta)` at p-values ``p`` for precision ``prec``.

        Examples
        --------
        >>> import numpy as np
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> sel.weights_at(np.array([0.01, 0.2, 0.7])).round(4)
        array([1.    , 0.2136, 0.0618])
        """
        steps = np.array([0.0]) if self.steps is None else self.steps
        return weights(self.type, np.asarray(p, dtype=float), self.delta, np.asarray(prec, dtype=float), steps)

    # ------------------------------------------------------------------ printing
    def summary(self, digits: int = DEFAULT_DIGITS) -> SelmodelSummary:
        """metafor's printed layout (``print(sel)``), with the fit statistics.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> sel = ml.selmodel(fit, type="stepfun", steps=[0.025, 0.10, 0.50, 1])
        >>> print(str(sel.summary()).splitlines()[1])
        Random-Effects Model (k = 37; tau^2 estimator: ML)
        """
        return SelmodelSummary(self, digits)

    def __str__(self) -> str:
        return str(SelmodelSummary(self, DEFAULT_DIGITS))

    def __repr__(self) -> str:
        return (f"<SelmodelFit {self.type}: k={self.k}, tau2={self.tau2:.4g}, "
                f"delta={np.array2string(np.asarray(self.delta), precision=4)}, logLik={self.loglik:.4f}>")


def _qm(beta: np.ndarray, vb: np.ndarray, btt: Any) -> float:
    idx = list(btt)
    sub = vb[np.ix_(idx, idx)]
    try:
        L = np.linalg.cholesky(sub)
    except np.linalg.LinAlgError:
        return float("nan")
    z = np.linalg.solve(L, beta[idx])
    return float(z @ z)


@dataclass(frozen=True, eq=False, repr=False)
class SelmodelSummary(TextReport, FrameMapping):
    """The printed selection model (metafor's ``print.rma.uni`` for ``selmodel`` fits)."""

    fit: SelmodelFit
    digits: int = DEFAULT_DIGITS

    def lines(self) -> list[str]:
        f, d = self.fit, self.digits
        out = ["", _title(f), ""]
        out += _tau_lines(f, d)
        if f.p > 1 and np.isfinite(f.QM):
            out += moderators_lines(f.QM, f.QMp, [b + 1 for b in f.btt], len(f.btt), digits=d) + [""]
        out += model_results_lines(f.names, f.coefficients[0], f.coefficients[1], f.coefficients[2],
                                   f.coefficients[3], f.coefficients[4], f.coefficients[5],
                                   int_only=f.int_only, digits=d)[:-3]
        out += ["", "Test for Selection Model Parameters:",
                f"LRT(df = {f.LRTdf}) = {fcf(f.LRT, d)[0]}, p-val {fmt_pval(f.LRTp, d, showeq=True, sep=' ')[0]}"]
        out += ["", "Selection Model Results:", "", *_delta_table(f, d)]
        return out + signif_legend_lines() + [""]

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines())

    def to_frame(self) -> pd.DataFrame:
        """The selection-parameter table (estimate, se, zval, pval, ci_lb, ci_ub; k for step functions)."""
        f = self.fit
        cols: dict[str, Any] = {}
        if f.type == "stepfun" and f.ptable is not None:
            cols["k"] = f.ptable[1]
        cols.update(estimate=f.delta, se=f.se_delta, zval=f.zval_delta, pval=f.pval_delta,
                    ci_lb=f.ci_lb_delta, ci_ub=f.ci_ub_delta)
        return pd.DataFrame(cols, index=f.delta_names)


def _title(f: SelmodelFit) -> str:
    if f.method in _FIXED:
        names = {"FE": "Fixed-Effects Model", "EE": "Equal-Effects Model", "CE": "Common-Effects Model"}
        return f"{names[f.method] if f.int_only else 'Fixed-Effects with Moderators Model'} (k = {f.k})"
    return f"{'Random-Effects Model' if f.int_only else 'Mixed-Effects Model'} (k = {f.k}; tau^2 estimator: ML)"


def _tau_lines(f: SelmodelFit, d: int) -> list[str]:
    if f.method in _FIXED:
        return []
    dig = 0 if abs(f.tau2) <= _EPS10 else d
    se = "" if np.isnan(f.se_tau2) else f" (SE = {fcf(f.se_tau2, d)[0]})"
    tau = fcf(np.sqrt(f.tau2), 0 if f.tau2 <= _EPS10 else d)[0]
    if f.int_only:
        out = [f"tau^2 (estimated amount of total heterogeneity): {fcf(f.tau2, dig)[0]}{se}",
               f"tau (square root of estimated tau^2 value):      {tau}", ""]
    else:
        out = [f"tau^2 (estimated amount of residual heterogeneity):     {fcf(f.tau2, dig)[0]}{se}",
               f"tau (square root of estimated tau^2 value):             {tau}", ""]
    if not np.isnan(f.LRT_tau2):
        head = "Test for Heterogeneity:" if f.int_only else "Test for Residual Heterogeneity:"
        out += [head, f"LRT(df = 1) = {fcf(f.LRT_tau2, d)[0]}, p-val "
                      f"{fmt_pval(f.LRTp_tau2, d, showeq=True, sep=' ')[0]}", ""]
    return out


def _delta_table(f: SelmodelFit, d: int) -> list[str]:
    cols: dict[str, list[str]] = {"estimate": fcf(f.delta, d), "se": fcf(f.se_delta, d),
                                  "zval": fcf(f.zval_delta, d), "pval": fmt_pval(f.pval_delta, d),
                                  "ci.lb": fcf(f.ci_lb_delta, d), "ci.ub": fcf(f.ci_ub_delta, d)}
    stars = [s or "" for s in signif_stars(np.where(np.isnan(f.pval_delta), 1.0, f.pval_delta))]
    stars = [s if not np.isnan(pv) else "" for s, pv in zip(stars, f.pval_delta)]
    cols[""] = [s if s.strip() else " " for s in stars]
    for name in list(cols)[1:-1]:
        cols[name] = [("---" if f.delta_fixed[j] else "NA") if v == "NA" else v for j, v in enumerate(cols[name])]
    if f.type == "stepfun" and f.ptable is not None:
        cols = {"k": [str(int(c)) for c in f.ptable[1]], **cols}
        return _matrix_lines(cols, list(f.ptable[0]))
    if f.delta.size == 1:
        return print_vector_lines(list(cols), [c[0] for c in cols.values()])
    return _matrix_lines(cols, [f"delta.{j + 1}" for j in range(f.delta.size)])
