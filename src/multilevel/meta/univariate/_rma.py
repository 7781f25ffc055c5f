"""Univariate meta-analysis (metafor's ``rma`` / ``rma.uni``): entry point and result object."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..._exceptions import ModelSpecificationError, MultilevelWarning
from ..._display import TextViews
from ..._protocol import (FITSTATS_INDEX, FitProtocol, confint_frame, level_percent, r_coef_names,
                          stack_frames, tidy_frame, wald_tidy)
from ..diagnostics._methods import RmaDiagnostics
from ..plots._forest import forest
from ..plots._funnel import funnel
from ..shared._contrasts import wald_test
from ..shared._sizes import EstimateCounts
from ..shared._input import EffectData, ModeratorsDesign, prepare_effects
from ._anova import anova_rma
from ._robust import robust_rma
from ._core import TAU2_METHODS
from ._estimate import _btt, _r2, _wald, fit_fields  # noqa: F401  (re-exported: importable from here as before)
from ._infer import blup, predict, qprofile_confint, qprofile_limits
from ._print import RmaSummary

__all__ = ["rma", "RmaFit"]


@dataclass(frozen=True, eq=False, repr=False)
class RmaFit(RmaDiagnostics, EstimateCounts, FitProtocol, TextViews):
    """Result of :func:`rma` (frozen).

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Coefficients, standard errors, test statistics (z, or t under
        ``test="knha"``), p-values and confidence limits, indexed by metafor's
        coefficient names.
    vb : pandas.DataFrame
        Covariance matrix of the coefficients (metafor's names; :meth:`vcov` has R's names).
    tau2, se_tau2 : float
        (Residual) heterogeneity variance and its standard error (NaN for EE/FE).
    QE, QEp : float
        Test for (residual) heterogeneity and its p-value.
    QM, QMp : float
        Omnibus test of the moderators (coefficients ``btt``); an F statistic under Knapp-Hartung.
    QMdf : tuple
        ``(m, None)`` for the chi-square test, ``(m, k - p)`` for the F-test.
    I2, H2 : float
        I^2 (percent) and H^2 with metafor's typical within-study variance ``vt``.
    R2 : float or None
        Proportion of heterogeneity accounted for by the moderators (percent).
    k, p : int
        Number of estimates and of coefficients.
    method, test : str
        tau^2 estimator and test of the coefficients.
    level : float
        Confidence level in percent.
    num_dropped : int
        Rows dropped for missing values.
    dropped_rows : tuple of str
        Labels of those rows (``slab``, or 1-based positions), as every fit records them.
    weights : numpy.ndarray or None
        User weights of the fixed effects, if given.

    Notes
    -----
    The fields named as in metafor (``beta``, ``se``, ``vb``, ...) use metafor's coefficient
    names (``intrcpt``); the protocol's verbs (:attr:`params`, :meth:`vcov`, :meth:`confint`,
    :meth:`tidy`) use R's (``(Intercept)``). ``coefficients`` (rows: beta, se, zval, pval,
    ci_lb, ci_ub) and ``vcov_array`` are the read-only arrays behind them. ``yi``, ``vi``, ``design``, ``slab``, ``fit_stats``, ``vt``, ``ddf``,
    ``s2w`` and ``btt`` are kept for :meth:`predict`, :meth:`confint` and the
    plots; they are internal and may change.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat)
    >>> fit.k, round(fit.tau2, 4), round(float(fit.beta["intrcpt"]), 4)
    (13, 0.3132, -0.7145)
    """

    coefficients: np.ndarray = field(repr=False)
    vcov_array: np.ndarray = field(repr=False)
    tau2: float
    se_tau2: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple
    I2: float
    H2: float
    R2: float | None
    vt: float
    k: int
    p: int
    method: str
    test: str
    level: float
    ddf: float | None
    s2w: float
    btt: tuple[int, ...]
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    design: ModeratorsDesign = field(repr=False)
    slab: tuple[str, ...] = field(repr=False)
    fit_stats: dict = field(repr=False)
    num_dropped: int = 0
    weights: np.ndarray | None = field(default=None, repr=False)
    dropped_rows: tuple[str, ...] = ()
    _plot_kind: ClassVar[str] = "rma"  # what the forest and funnel plots read (meta.plots._source)

    # ------------------------------------------------------------------ properties
    def _row(self, i: int) -> pd.Series:
        return pd.Series(self.coefficients[i], index=pd.Index(self.design.names), copy=True)

    @property
    def beta(self) -> pd.Series:
        """Estimated coefficients."""
        return self._row(0)

    @property
    def se(self) -> pd.Series:
        """Standard errors of the coefficients."""
        return self._row(1)

    @property
    def zval(self) -> pd.Series:
        """Test statistics (t statistics under Knapp-Hartung)."""
        return self._row(2)

    @property
    def pval(self) -> pd.Series:
        """Two-sided p-values of the coefficients."""
        return self._row(3)

    @property
    def ci_lb(self) -> pd.Series:
        """Lower confidence limits of the coefficients."""
        return self._row(4)

    @property
    def ci_ub(self) -> pd.Series:
        """Upper confidence limits of the coefficients."""
        return self._row(5)

    @property
    def vb(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients."""
        names = list(self.design.names)
        return pd.DataFrame(self.vcov_array.copy(), index=names, columns=names)

    # ------------------------------------------------------------------ the protocol verbs
    @property
    def coef_names(self) -> list[str]:
        """Coefficient names as R's ``model.matrix`` gives them (``(Intercept)``, ``ablat``)."""
        return r_coef_names(self.design.names, intercept=self.design.intercept)

    @property
    def params(self) -> pd.Series:
        """The coefficients with R's names (:attr:`beta` has metafor's)."""
        return pd.Series(self.coefficients[0], index=pd.Index(self.coef_names), copy=True)

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of :attr:`params` (R's names; :attr:`vb` has metafor's).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat, mods="~ ablat").vcov().round(6)
                     (Intercept)     ablat
        (Intercept)     0.062053 -0.001620
        ablat          -0.001620  0.000052
        """
        names = self.coef_names
        return pd.DataFrame(self.vcov_array.copy(), index=names, columns=names)

    @property
    def aic(self) -> float:
        """AIC as metafor's ``fitstats`` (restricted for REML fits)."""
        return float(self.fitstats()["AIC"])

    @property
    def bic(self) -> float:
        """BIC as metafor's ``fitstats`` (restricted for REML fits: ``k - p`` observations)."""
        return float(self.fitstats()["BIC"])

    @property
    def int_only(self) -> bool:
        """True for the model without moderators."""
        return self.design.int_only

    @property
    def fixed_model(self) -> bool:
        """True for the equal-/fixed-/common-effects model (tau^2 = 0 by assumption)."""
        return self.method in ("EE", "FE", "CE")

    @property
    def parms(self) -> int:
        """Number of estimated parameters (coefficients plus tau^2)."""
        return self.p + (0 if self.fixed_model else 1)

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted for REML fits)."""
        return self.fit_stats["REML" if self.method == "REML" else "ML"]["ll"]

    # ------------------------------------------------------------------ inference
    def _level(self, level: Any) -> float:
        """``level`` in percent (a proportion or a percentage); the fit's level when None."""
        return self.level if level is None else level_percent(level)

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals of the coefficients (Wald: z, or t under Knapp-Hartung) and of
        tau^2, tau, I^2 and H^2 (Q-profile, metafor's ``confint``; ``kind`` "random", not for
        equal-effects models).

        ``level`` is a proportion (0.95) or a percentage (95); default: that of the fit.
        Returns the protocol's table (columns ``kind, estimate, lower, upper``, coefficients
        with R's names).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat).confint().round(4).reset_index()
                  term    kind  estimate    lower    upper
        0  (Intercept)   fixed   -0.7145  -1.0669  -0.3622
        1         tau2  random    0.3132   0.1197   1.1115
        2          tau  random    0.5597   0.3460   1.0543
        3           I2  random   92.2214  81.9177  97.6781
        4           H2  random   12.8558   5.5303  43.0680
        """
        level = self._level(level)
        fixed = self.tidy(level).query("kind == 'fixed'")
        rows = [(fixed["term"], fixed["kind"], fixed["estimate"], fixed["conf_low"], fixed["conf_high"])]
        if not self.fixed_model:
            het = qprofile_confint(self, level)
            rows.append((het.index, ["random"] * len(het), het["estimate"], het["ci_lb"], het["ci_ub"]))
        return confint_frame(*(np.concatenate([np.asarray(r[i], dtype=object if i < 2 else float) for r in rows])
                               for i in range(5)), level=level / 100, method="Wald and Q-profile")

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per parameter (columns :data:`~multilevel._protocol.TIDY_COLUMNS`): the
        coefficients (R's names) with their z (or Knapp-Hartung t) tests and intervals at
        ``level`` (default: that of the fit), then tau^2 with its standard error and
        Q-profile interval (models with a heterogeneity variance).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat, mods="~ ablat").tidy().round(4)[["term", "estimate", "std_error"]]
                  term  estimate  std_error
        0  (Intercept)    0.2515     0.2491
        1        ablat   -0.0291     0.0072
        2         tau2    0.0764     0.0591
        """
        level = self._level(level)
        fixed = wald_tidy(self.coef_names, self.coefficients[0], self.coefficients[1], level=level / 100,
                          df=None if self.test != "knha" else self.k - self.p)
        if self.fixed_model:
            return fixed
        lb, ub = qprofile_limits(self.yi, self.vi, self.design.X, self.tau2, level)
        tau2 = tidy_frame(["tau2"], ["random"], [self.tau2], [self.se_tau2], conf_low=[lb], conf_high=[ub],
                          level=level / 100)
        return stack_frames([fixed, tau2], level=level / 100)

    def predict(self, newmods: Any = None, *, newdata: Any = None,
                transf: Callable[[np.ndarray], np.ndarray] | None = None, level: float | None = None) -> pd.DataFrame:
        """Predicted (average) effects with confidence and prediction intervals.

        Parameters
        ----------
        newmods : array_like or DataFrame, optional
            Moderator values (without the intercept) or a table evaluated with the
            moderators formula; default: the fitted values (the pooled estimate for
            the intercept-only model).
        newdata : DataFrame, optional
            A table with the columns of the moderators formula, evaluated as the fit's data
            were (its factor levels and contrasts); the result is indexed like it. Give
            ``newmods`` or ``newdata``, not both.
        transf : callable, optional
            Back-transformation applied to the estimates and limits (e.g. ``np.exp``);
            the ``se`` column is then NaN, as in metafor.
        level : float, optional
            Confidence level as a proportion (0.95) or a percentage (95); default: that of the fit.

        Returns
        -------
        pandas.DataFrame
            Columns ``pred, se, ci_lb, ci_ub, pi_lb, pi_ub``.

        Examples
        --------
        >>> import numpy as np, multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat).predict(transf=np.exp).round(4)
             pred  se   ci_lb   ci_ub   pi_lb  pi_ub
        0  0.4894 NaN  0.3441  0.6962  0.1546  1.549
        >>> import pandas as pd
        >>> new = pd.DataFrame({"ablat": [10, 50]}, index=["equator", "north"])
        >>> ml.rma("yi", "vi", data=dat, mods="~ ablat").predict(newdata=new).round(4)
                   pred      se   ci_lb   ci_ub   pi_lb  pi_ub
        equator -0.0396  0.1866 -0.4053  0.3262 -0.6931  0.614
        north   -1.2036  0.1716 -1.5400 -0.8672 -1.8412 -0.566
        """
        return predict(self, newmods, transf=transf, level=self._level(level), newdata=newdata)

    def robust(self, cluster: Any, *, adjust: bool = True, data: Any = None) -> Any:
        """Cluster-robust tests and intervals (metafor's ``robust()``: CR1, or CR0 without ``adjust``).

        ``cluster`` gives one value per estimate used in the fit, or names a
        column of ``data``; see :mod:`multilevel.meta.univariate._robust`. Returns a
        :class:`~multilevel.RobustRmaFit`, a fit with the robust covariance matrix that
        answers ``params``, ``vcov()``, ``confint()``, ``tidy()``, ``predict()`` and ``summary()``.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.rma("yi", "vi", data=dat, mods="~ ablat")
        >>> rob = fit.robust("alloc", data=dat)
        >>> rob.summary().to_frame()["se"].round(4).tolist()
        [0.1284, 0.0059]
        >>> rob.confint().round(4)
                      kind  estimate   lower   upper
        term
        (Intercept)  fixed    0.2515 -1.3798  1.8827
        ablat        fixed   -0.0291 -0.1045  0.0463
        """
        return robust_rma(self, cluster, adjust=adjust, data=data)

    def blup(self, level: float | None = None) -> pd.DataFrame:
        """Best linear unbiased predictions of the true effects (``pred, se, pi_lb, pi_ub``).

        ``level`` (proportion or percentage) sets the prediction intervals; default: that of the fit.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat).blup().round(4).head(2)
             pred      se   pi_lb   pi_ub
        1 -0.8002  0.4099 -1.6037  0.0032
        2 -1.2517  0.3532 -1.9440 -0.5594
        """
        return blup(self, self._level(level))

    def fitstats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC and AICc (restricted for REML fits), as metafor's ``fitstats``.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat).fitstats().round(4)
        logLik     -12.2024
        deviance    24.4047
        AIC         28.4047
        BIC         29.3746
        AICc        29.7381
        Name: REML, dtype: float64
        """
        kind = "REML" if self.method == "REML" else "ML"
        st = self.fit_stats[kind]
        return pd.Series([st["ll"], st["dev"], st["AIC"], st["BIC"], st["AICc"]], index=list(FITSTATS_INDEX),
                         name=kind)

    # ------------------------------------------------------------------ presentation
    def summary(self) -> Any:
        """Summary with the fit statistics (metafor's ``summary``): ``str()``, HTML and ``to_frame()``.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> print(ml.rma("yi", "vi", data=dat).summary())
        <BLANKLINE>
        Random-Effects Model (k = 13; tau^2 estimator: REML)
        <BLANKLINE>
          logLik  deviance       AIC       BIC      AICc
        -12.2024   24.4047   28.4047   29.3746   29.7381
        <BLANKLINE>
        tau^2 (estimated amount of total heterogeneity): 0.3132 (SE = 0.1664)
        tau (square root of estimated tau^2 value):      0.5597
        I^2 (total heterogeneity / total variability):   92.22%
        H^2 (total variability / sampling variability):  12.86
        <BLANKLINE>
        Test for Heterogeneity:
        Q(df = 12) = 152.2330, p-val < .0001
        <BLANKLINE>
        Model Results:
        <BLANKLINE>
        estimate      se     zval    pval    ci.lb    ci.ub
         -0.7145  0.1798  -3.9744  <.0001  -1.0669  -0.3622  ***
        <BLANKLINE>
        ---
        Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
        <BLANKLINE>
        """
        return RmaSummary(self, showfit=True)

    def __str__(self) -> str:
        return str(RmaSummary(self, showfit=False))

    def __repr__(self) -> str:
        mods = self.design.formula or ("none" if self.int_only else f"{self.p - int(self.design.intercept)} columns")
        return (f"<{type(self).__name__} {self.method}: k={self.k}, p={self.p}, mods={mods}; "
                f"tau2={self.tau2:.4g}, logLik={self.loglik:.4f}>")

    @classmethod
    def _anova(cls, fits: tuple, **options: Any) -> Any:
        """Likelihood-ratio test of two nested fits; used by :func:`multilevel.anova`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> m0 = ml.rma("yi", "vi", data=dat, method="ML")
        >>> m1 = ml.rma("yi", "vi", data=dat, mods="~ ablat", method="ML")
        >>> round(ml.anova(m1, m0).LRT, 4)
        9.9588
        """
        return anova_rma(tuple(fits), estimate=_fit, **options)

    @classmethod
    def _wald(cls, fit: Any, *, X: Any = None, btt: Any = None, rhs: Any = None) -> Any:
        """Wald tests of ``X beta = rhs`` or of the coefficients ``btt`` (``multilevel.anova(fit, X=...)``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.rma("yi", "vi", data=dat, mods="~ ablat + year")
        >>> print(ml.anova(fit, X=[[0, 1, -1]]))
        Hypothesis:
        1: ablat - year = 0
        <BLANKLINE>
        Results:
           estimate     se    zval   pval
        1:  -0.0299 0.0119 -2.5066 0.0122
        <BLANKLINE>
        Test of Hypothesis:
        QM(df = 1) = 6.2830, p-val = 0.0122
        """
        return wald_test(fit.beta.to_numpy(), fit.vb.to_numpy(), list(fit.design.names), fit.design.intercept,
                         fit.ddf, X=X, btt=btt, rhs=rhs)

    def forest(self, **options: Any) -> Any:
        """Forest plot of this fit (see :func:`multilevel.forest`); returns the matplotlib Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fig = ml.rma("yi", "vi", data=dat).forest()
        >>> len(fig.axes)
        1
        """
        return forest(self, **options)

    def funnel(self, **options: Any) -> Any:
        """Funnel plot of this fit (see :func:`multilevel.funnel`); returns the matplotlib Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fig = ml.rma("yi", "vi", data=dat).funnel()
        >>> len(fig.axes)
        1
        """
        return funnel(self, **options)


def rma(yi: Any, vi: Any = None, *, sei: Any = None, data: Any = None, method: str = "REML",
        test: str = "z", mods: Any = None, level: float = 95, intercept: bool = True,
        slab: Any = None, weights: Any = None, btt: Any = None) -> RmaFit:
    r"""Fit a fixed-, random- or mixed-effects meta-analysis model (metafor's ``rma``).

    Parameters
    ----------
    yi : str or array_like
        Observed effect sizes (a column of ``data`` or an array).
    vi, sei : str or array_like
        Sampling variances, or their square roots; give one.
    data : DataFrame, optional
        Table holding the named columns.
    method : str
        tau^2 estimator: ``"REML"`` (default), ``"ML"``, ``"DL"``, ``"HE"``, ``"HS"``,
        ``"SJ"``, ``"EB"``, ``"PM"``, or ``"EE"`` / ``"FE"`` / ``"CE"`` for the
        equal-effects model.
    test : str
        ``"z"`` (default) or ``"knha"`` (Knapp-Hartung: t- and F-tests with the
        rescaled covariance matrix).
    mods : str or array_like, optional
        Moderators: a formula such as ``"~ ablat + year"`` or ``"~ factor(alloc)"``,
        or an array of moderator values.
    level : float
        Confidence level in percent (a proportion such as 0.95 is also accepted; anything
        else raises :class:`~multilevel.ArgumentError`).
    intercept : bool
        Add an intercept to the moderators.
    slab : str or sequence, optional
        Study labels (a column of ``data`` or one label per estimate), used by
        :meth:`RmaFit.blup`, :meth:`RmaFit.predict` and the plots.
    weights : str or array_like, optional
        Weights for estimating the coefficients (default: inverse variances
        :math:`1/(v_i + \hat\tau^2)`); tau^2 is estimated as without them.
    btt : int, sequence of int or str, optional
        Coefficients of the omnibus test ``QM`` (metafor's ``btt``): 1-based
        positions, or a regular expression matched against the coefficient
        names; default all but the intercept.

    Returns
    -------
    RmaFit

    Notes
    -----
    The model is

    .. math::

        y_i = x_i^\top \beta + u_i + \varepsilon_i, \quad
        u_i \sim N(0, \tau^2), \quad \varepsilon_i \sim N(0, v_i),

    with :math:`\beta` estimated by weighted least squares with weights
    :math:`1/(v_i + \hat\tau^2)`. ML, REML and EB use metafor's Fisher scoring
    (started at the HE estimate, step halving at the boundary, stop when tau^2
    changes by less than 1e-5), PM solves :math:`Q(\tau^2) = k - p` by Brent's method.
    :math:`I^2 = 100\,\hat\tau^2 / (\hat\tau^2 + \tilde v)` with the typical
    within-study variance :math:`\tilde v = (k - p) / \operatorname{tr}(P)`.

    References
    ----------
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package.
    Journal of Statistical Software, 36(3), 1-48.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat)
    >>> round(fit.tau2, 4), round(float(fit.beta["intrcpt"]), 4), round(fit.I2, 2)
    (0.3132, -0.7145, 92.22)
    >>> fit2 = ml.rma("yi", "vi", data=dat, mods="~ ablat + year", test="knha")
    >>> fit2.beta.round(4)
    intrcpt   -3.5455
    ablat     -0.0280
    year       0.0019
    dtype: float64
    """
    method = str(method).upper()
    if method not in TAU2_METHODS:
        raise ModelSpecificationError(f"unknown method {method!r}; choose one of {', '.join(TAU2_METHODS)}")
    test = str(test).lower()
    if test not in ("z", "knha"):
        raise ModelSpecificationError(f"test must be 'z' or 'knha', not {test!r}")
    level = level_percent(level)
    eff = prepare_effects(yi, vi, sei=sei, data=data, mods=mods, intercept=intercept, slab=slab,
                          weights=weights)
    return _fit(eff, method, test, level, btt)


def _fit(eff: EffectData, method: str, test: str, level: float, btt: Any = None) -> RmaFit:
    if method in ("EE", "FE", "CE") and test == "knha":
        warnings.warn(f"Knapp-Hartung adjustment is not meant for {method} models", MultilevelWarning,
                      stacklevel=3)
    return RmaFit(**fit_fields(eff, method, test, level, btt))
