"""The frozen result of :func:`~multilevel.rma_mv` and its methods.

Everything a method needs (the cluster batch, the design, the estimates) is
kept on the result, so ``confint()``, ``profile()``, ``predict()``,
``ranef()`` and ``robust()`` never refit from fresh arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import special

from ..._display import TextViews
from ..._protocol import (FITSTATS_INDEX, FitProtocol, confint_frame, level_percent, r_coef_names,
                          stack_frames, tidy_frame)
from ..diagnostics._methods import RmaMvDiagnostics
from ..plots._profile_plot import plot_profiles
from ._fit import FitState, evaluate_at
from ._predict import predict, ranef, i2
from ._print import fit_text, RmaMvSummary, anova_fits
from ._profile import ConfintReport, component_names, confint_frame as profile_frame, profile
from ._robust import robust
from ._robust_fit import RobustRmaMvFit
from ..shared._contrasts import wald_test
from ..shared._sizes import EstimateCounts

__all__ = ["Components", "RmaMvFit"]


@dataclass(frozen=True, eq=False)
class Components:
    """Variance components on the natural scale and which of them are held fixed (internal)."""

    values: np.ndarray
    fixed: np.ndarray


def _wald(beta: np.ndarray, vb: np.ndarray, test: str, df: int, level: float) -> tuple[np.ndarray, ...]:
    se = np.sqrt(np.diag(vb))
    z = beta / se
    q = 1 - (1 - level / 100) / 2
    if test == "t":
        pval = 2.0 * special.stdtr(df, -np.abs(z))
        crit = special.stdtrit(df, q)
    else:
        pval = 2.0 * special.ndtr(-np.abs(z))
        crit = special.ndtri(q)
    return se, z, pval, beta - crit * se, beta + crit * se


def _fit_stats(ll_ml: float, ll_reml: float, ll_qe: float, parms: int, k: int, p: int) -> dict[str, np.ndarray]:
    """metafor's fit statistics (logLik, deviance, AIC, BIC, AICc) for ML and REML."""
    def block(ll: float, dev: float, n: int) -> np.ndarray:
        m = max(n, parms + 2)
        return np.array([ll, dev, -2 * ll + 2 * parms, -2 * ll + parms * np.log(n),
                         -2 * ll + 2 * parms * m / (m - parms - 1)])
    return {"ML": block(ll_ml, -2 * (ll_ml - ll_qe), k), "REML": block(ll_reml, -2 * ll_reml, k - p)}


@dataclass(frozen=True, eq=False, repr=False)
class RmaMvFit(RmaMvDiagnostics, EstimateCounts, FitProtocol, TextViews):
    """A fitted multivariate / multilevel meta-analytic model (metafor's ``rma.mv``).

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Fixed effects with metafor's names (``intrcpt``, ``year``) and their Wald
        inference (properties over ``coef_table``; ``vb`` is their covariance).
    names : tuple of str
        Coefficient names.
    sigma2 : ndarray
        One variance per ``~ 1 | f`` term (in the order metafor prints them).
    tau2, rho : ndarray
        Variances and correlations of the ``~ inner | outer`` term (empty without one).
    gamma2, phi : ndarray
        The same for a second ``~ inner | outer`` term (metafor's names; usually empty).
    QE, QEp : float
        Test for (residual) heterogeneity.
    QM, QMp : float
        Omnibus test of the moderators (all coefficients but the intercept, or ``btt``).
    loglik : float
        Log-likelihood of the fitting method (restricted for REML).
    k, p, parms : int
        Estimates, coefficients, and estimated parameters (coefficients plus free components).

    Fields whose names start with an underscore are internal. The fields named as in
    metafor (``names``, ``beta``, ``vb``, ...) use metafor's coefficient names; the
    protocol's verbs (:attr:`params`, :meth:`vcov`, :meth:`confint`, :meth:`tidy`) use R's
    (``(Intercept)``).

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat)
    >>> fit.sigma2.round(4).tolist()
    [0.0651, 0.0327]
    """

    names: tuple[str, ...]
    coef_table: np.ndarray = field(repr=False)
    vb_array: np.ndarray = field(repr=False)
    sigma2: np.ndarray
    tau2: np.ndarray
    rho: np.ndarray
    gamma2: np.ndarray
    phi: np.ndarray
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple[int, float]
    loglik: float
    k: int
    p: int
    parms: int
    method: str
    test: str
    level: float
    fit_stats: dict[str, np.ndarray] = field(repr=False)
    _eff: Any = field(repr=False)
    _batch: Any = field(repr=False)
    _layout: Any = field(repr=False)
    _comps: Components = field(repr=False)
    _sigmas: list = field(repr=False)
    _g: Any = field(repr=False)
    _btt: np.ndarray = field(repr=False)
    _random: Any = field(repr=False)
    _iterations: int = field(repr=False)
    _corr: list = field(repr=False, default_factory=list)
    _h: Any = field(repr=False, default=None)
    _plot_kind: ClassVar[str] = "rma_mv"  # what the forest and funnel plots read (meta.plots._source)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_state(cls, *, eff: Any, batch: Any, layout: Any, state: Any, sigmas: list, g: Any,
                   comps: Components, method: str, test: str, level: float, QE: float,
                   random: Any, corr: list | None = None, h: Any = None,
                   btt: np.ndarray | None = None) -> "RmaMvFit":
        names = list(eff.design.names)
        k, p = eff.k, len(names)
        ev = state.ev
        beta = np.asarray(ev.beta, dtype=float)
        vb = np.asarray(ev.vb, dtype=float)
        se, z, pval, lb, ub = _wald(beta, vb, test, k - p, level)
        if btt is None:
            btt = np.arange(1, p) if (eff.design.intercept and p > 1) else np.arange(p)
        sub = vb[np.ix_(btt, btt)]
        QM = float(beta[btt[0]] ** 2 / sub[0, 0]) if btt.size == 1 else \
            float(beta[btt] @ np.linalg.solve(sub, beta[btt]))
        m = btt.size
        if test == "t":
            QM, QMdf = QM / m, (m, float(k - p))
            QMp = float(special.fdtrc(m, k - p, QM))
        else:
            QMdf = (m, float("nan"))
            QMp = float(special.chdtrc(m, QM))
        vmat = eff.vi
        logdet_v = float(np.sum(np.log(eff.vi))) if eff.vi.ndim == 1 else float(np.linalg.slogdet(vmat)[1])
        ll_qe = -0.5 * k * np.log(2 * np.pi) - 0.5 * logdet_v
        nat = np.where(state.nat <= 10 * np.finfo(float).eps, np.where(layout.is_rho(), state.nat, 0.0),
                       state.nat)
        s2, t2, rho = layout.split(nat)
        g2, phi = layout.split_h(nat)
        parms = p + int((~comps.fixed).sum())
        fs = _fit_stats(ev.ll_ml, ev.ll_reml, ll_qe, parms, k, p)
        QEp = float(special.chdtrc(k - p, QE)) if k > p else 1.0
        table = np.column_stack([beta, se, z, pval, lb, ub])
        return cls(tuple(names), table, vb, s2.copy(), t2.copy(),
                   rho.copy(), g2.copy(), phi.copy(), float(QE), QEp, QM, QMp, QMdf,
                   float(ev.ll_reml if method == "REML" else ev.ll_ml), k, p, parms, method, test, level, fs,
                   eff, batch, layout, Components(nat, comps.fixed), sigmas, g, btt, random, state.iterations,
                   list(corr) if corr is not None else [None] * len(sigmas), h)

    def _at(self, values: Any) -> "RmaMvFit":
        """The same model evaluated at given component values (internal: printing tests, profiles)."""
        nat = np.asarray(values, dtype=float)
        ev = evaluate_at(self._batch, self._layout, nat, reml=self.method == "REML")
        state = FitState(nat, ev, 0, True)
        return RmaMvFit.from_state(eff=self._eff, batch=self._batch, layout=self._layout, state=state,
                                   sigmas=self._sigmas, g=self._g, comps=self._comps, method=self.method,
                                   test=self.test, level=self.level, QE=self.QE, random=self._random,
                                   corr=self._corr, h=self._h, btt=self._btt)

    # ------------------------------------------------------------------ coefficients (pandas views)
    def _column(self, j: int) -> pd.Series:
        return pd.Series(self.coef_table[:, j], index=pd.Index(self.names))

    @property
    def beta(self) -> pd.Series:
        """Estimated coefficients (metafor's names)."""
        return self._column(0)

    @property
    def se(self) -> pd.Series:
        return self._column(1)

    @property
    def zval(self) -> pd.Series:
        return self._column(2)

    @property
    def pval(self) -> pd.Series:
        return self._column(3)

    @property
    def ci_lb(self) -> pd.Series:
        return self._column(4)

    @property
    def ci_ub(self) -> pd.Series:
        return self._column(5)

    @property
    def vb(self) -> pd.DataFrame:
        """Variance-covariance matrix of the coefficients."""
        idx = pd.Index(self.names)
        return pd.DataFrame(self.vb_array, index=idx, columns=idx)

    # ------------------------------------------------------------------ basic accessors
    @property
    def int_only(self) -> bool:
        """True for a model without moderators."""
        return self._eff.design.int_only

    @property
    def num_dropped(self) -> int:
        """Rows dropped for missing values."""
        return self._eff.num_dropped

    @property
    def dropped_rows(self) -> tuple[str, ...]:
        """Labels of the rows dropped for missing values (``slab``, or 1-based positions), as every
        fit records them."""
        return tuple(self._eff.dropped_rows)

    @property
    def fixed(self) -> np.ndarray:
        """Which components (sigma2, tau2, rho in order) were held fixed."""
        return self._comps.fixed

    @property
    def struct(self) -> str | None:
        """Structure of the ``~ inner | outer`` term (None without one)."""
        return None if self._g is None else self._g.struct

    # ------------------------------------------------------------------ the protocol verbs
    @property
    def coef_names(self) -> list[str]:
        """Coefficient names as R's ``model.matrix`` gives them (``(Intercept)``, ``year``)."""
        return r_coef_names(self.names, intercept=self._eff.design.intercept)

    @property
    def params(self) -> pd.Series:
        """The coefficients with R's names (:attr:`beta` has metafor's)."""
        return pd.Series(self.coef_table[:, 0], index=pd.Index(self.coef_names))

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of :attr:`params` (R's names; :attr:`vb` has metafor's).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", mods="~ year", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.vcov().round(6)
                     (Intercept)      year
        (Intercept)   352.870078 -0.177248
        year           -0.177248  0.000089
        """
        idx = pd.Index(self.coef_names)
        return pd.DataFrame(self.vb_array, index=idx, columns=idx)

    @property
    def aic(self) -> float:
        """AIC as metafor's ``fitstats`` (restricted for REML fits)."""
        return float(self.fit_stats[self.method][2])

    @property
    def bic(self) -> float:
        """BIC as metafor's ``fitstats`` (restricted for REML fits: ``k - p`` observations)."""
        return float(self.fit_stats[self.method][3])

    def fitstats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC and AICc as metafor computes them for the fitting method.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.fitstats().round(4).tolist()
        [-7.9587, 15.9174, 21.9174, 27.9394, 22.388]
        """
        return pd.Series(self.fit_stats[self.method], index=list(FITSTATS_INDEX), name=self.method, dtype=float)

    def _wald_at(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Wald limits of the coefficients at ``level`` (percent)."""
        _, _, _, lb, ub = _wald(self.coef_table[:, 0], self.vb_array, self.test, self.k - self.p, level)
        return lb, ub

    def _components(self) -> tuple[list[str], np.ndarray]:
        """Names (``sigma2.1``, ``tau2``, ``rho`` ...) and values of the estimated components."""

        free = ~np.asarray(self._comps.fixed, dtype=bool)
        names = [n for n, f in zip(component_names(self), free) if f]
        return names, np.asarray(self._comps.values, dtype=float)[free]

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per parameter (columns :data:`~multilevel._protocol.TIDY_COLUMNS`): the
        coefficients (R's names) with their Wald tests and intervals at ``level`` (default:
        that of the fit), then the estimated variance components (estimates; their
        profile-likelihood intervals are in :meth:`confint`).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.tidy().round(4)[["term", "kind", "estimate", "std_error"]]
                  term    kind  estimate  std_error
        0  (Intercept)   fixed    0.1847     0.0846
        1     sigma2.1  random    0.0651        NaN
        2     sigma2.2  random    0.0327        NaN
        """
        level = self.level if level is None else level_percent(level)
        lb, ub = self._wald_at(level)
        t = self.coef_table
        fixed = tidy_frame(self.coef_names, ["fixed"] * self.p, t[:, 0], t[:, 1], t[:, 2], t[:, 3], lb, ub,
                           level=level / 100)
        names, values = self._components()
        return stack_frames([fixed, tidy_frame(names, ["random"] * len(names), values, level=level / 100)],
                            level=level / 100)

    # ------------------------------------------------------------------ presentation

    def __str__(self) -> str:
        return fit_text(self)

    def __repr__(self) -> str:
        random = "; ".join(self._random.formulas) if self._random is not None else "none"
        struct = f" ({self.struct})" if self.struct else ""
        return (f"<RmaMvFit {self.method}: k={self.k}, p={self.p}, random={random}{struct}; "
                f"logLik={self.loglik:.4f}>")

    def summary(self) -> "Any":
        """Printed output with the fit statistics (metafor's ``summary()``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> print(str(fit.summary()).split("\\n")[2:4])
        ['  logLik  Deviance       AIC       BIC      AICc', ' -7.9587   15.9174   21.9174   27.9394   22.3880']
        """
        return RmaMvSummary(self)

    # ------------------------------------------------------------------ inference
    def confint(self, level: float | None = None, *, tol: float | None = None) -> pd.DataFrame:
        """Wald intervals of the coefficients and profile-likelihood intervals of every estimated
        variance component (the protocol's table: columns ``kind, estimate, lower, upper``).

        Rows: the coefficients (R's names, ``kind`` "fixed"), then ``sigma2.1``, ``sigma.1``,
        ... (or ``sigma2``, ``sigma`` for one component), ``tau2``, ``tau``, ``rho``
        (``kind`` "random"). Each component bound solves ``-2 (ll(value) - ll) =
        qchisq(level, 1)`` with the other components re-estimated (as metafor's ``confint``);
        bounds at the edge of the searched interval are reported as the edge. ``tol`` is the
        absolute tolerance of the root finding; the default is metafor's
        (``.Machine$double.eps^0.25``), so the printed bounds agree with metafor's to the last
        digit. :meth:`confint_report` prints them as metafor does.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ school | district",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.confint().round(4).reset_index()
                  term    kind  estimate   lower   upper
        0  (Intercept)   fixed    0.1847  0.0189  0.3504
        1         tau2  random    0.0978  0.0528  0.2398
        2          tau  random    0.3127  0.2298  0.4897
        3          rho  random    0.6653  0.3282  0.8855
        """
        level = self.level if level is None else level_percent(level)
        random = self._profile_frame(level, tol)
        lb, ub = self._wald_at(level)
        kinds = ["fixed"] * self.p + ["random"] * len(random)
        return confint_frame(self.coef_names + list(random.index), kinds,
                             np.concatenate([self.coef_table[:, 0], random["estimate"]]),
                             np.concatenate([lb, random["ci_lb"]]), np.concatenate([ub, random["ci_ub"]]),
                             level=level / 100, method="Wald and profile likelihood")

    def _profile_frame(self, level: float, tol: float | None = None) -> pd.DataFrame:
        return profile_frame(self, level, tol)

    def confint_report(self, level: float | None = None) -> Any:
        """The profile-likelihood intervals as metafor prints them (``print(confint(res))``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> print(fit.confint_report())
                  estimate  ci.lb  ci.ub
        sigma^2.1   0.0651 0.0222 0.2072
        sigma.1     0.2551 0.1491 0.4552
        <BLANKLINE>
                  estimate  ci.lb  ci.ub
        sigma^2.2   0.0327 0.0163 0.0628
        sigma.2     0.1809 0.1276 0.2507
        """
        return ConfintReport(self._profile_frame(self.level if level is None else level_percent(level)))

    def profile(self, component: str = "tau2", *, values: Any = None, steps: int = 20) -> Any:
        """Profile log-likelihood of one component (``"sigma2.1"``, ``"tau2"``, ``"rho"`` ...).

        Returns a :class:`~multilevel.meta.multivariate._profile.ProfileLikelihood` with
        ``to_frame()`` and ``plot()``. ``values`` defaults to ``steps`` points
        over metafor's default range: ``[estimate / 4, max(0.1, 4 estimate)]``
        for variances, ``estimate -+ 0.5`` (within ``(-1, 1)``) for correlations.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ school | district",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> prof = fit.profile("rho", values=[0.5, 0.6653, 0.8])
        >>> prof.to_frame().round(3)
             rho  loglik
        0  0.500  -8.460
        1  0.665  -7.959
        2  0.800  -8.489
        """
        return profile(self, component, values=values, steps=steps)

    def plot_profile(self, components: list[str] | None = None, *, steps: int = 20, ax: Any = None) -> Any:
        """Profile-likelihood plots of the variance components (one panel each, into ``ax``: one
        Axes or one per component, when given); returns the Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ school | district",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fig = fit.plot_profile(steps=5)
        >>> len(fig.axes)
        2
        """
        return plot_profiles(self, components, steps=steps, ax=ax)

    def predict(self, newmods: Any = None, *, newdata: Any = None, level: float | None = None,
                tau2_levels: Any = None, gamma2_levels: Any = None) -> pd.DataFrame:
        """Predicted average effects with confidence and prediction intervals.

        ``newmods`` are moderator values as metafor takes them; ``newdata`` is a table with the
        columns of the moderators formula, evaluated as the fit's data were (its factor levels
        and contrasts), which indexes the result. Give one of them, or neither for the fitted
        values.

        With several ``tau2`` (``gamma2``) values (structures HCS, HAR, DIAG,
        UN), ``tau2_levels`` (``gamma2_levels``) names the level of the inner
        factor, by label or 1-based position, whose variance the prediction
        interval adds (one for all predictions or one each), as metafor's
        ``tau2.levels``; an intercept-only model without them predicts at
        every level.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ school | district",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.predict().round(4)
             pred      se  ci_lb   ci_ub   pi_lb   pi_ub
        0  0.1847  0.0846  0.019  0.3504 -0.4502  0.8197
        >>> import pandas as pd
        >>> by_year = ml.rma_mv("yi", "vi", mods="~ year", random="~ 1 | district/school",
        ...                     data=ml.datasets.load("konstantopoulos2011"))
        >>> by_year.predict(newdata=pd.DataFrame({"year": [1970, 1990]}, index=["1970", "1990"])).round(4)
                pred      se   ci_lb   ci_ub   pi_lb   pi_ub
        1970  0.0745  0.2151 -0.3471  0.4961 -0.6876  0.8366
        1990  0.1807  0.0887  0.0069  0.3545 -0.4775  0.8389
        """
        return predict(self, newmods, self.level if level is None else level_percent(level), tau2_levels,
                       gamma2_levels, newdata=newdata)

    def ranef(self, *, level: float | None = None) -> dict[str, pd.DataFrame]:
        """Best linear unbiased predictions of the random effects, with se and intervals.

        One DataFrame per term (metafor's ``ranef.rma.mv``): per level for
        ``~ 1 | f`` terms, per ``inner | outer`` combination otherwise.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.ranef()["district"].round(4).head(3)
            intrcpt      se   pi_lb   pi_ub
        11  -0.1900  0.1665 -0.5164  0.1364
        12  -0.0847  0.1241 -0.3279  0.1585
        18   0.1407  0.1372 -0.1283  0.4097
        """
        return ranef(self, self.level if level is None else level_percent(level))

    def i2(self) -> pd.Series:
        """Multilevel I^2 (percent): total and per component, with the typical sampling variance.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.i2().round(2).tolist()
        [95.19, 63.32, 31.86]
        """
        return i2(self)

    def robust(self, cluster: Any, *, clubsandwich: bool = False, adjust: bool = True,
               clubSandwich: bool | None = None) -> Any:  # noqa: N803 (metafor's spelling)
        """Cluster-robust tests and intervals (CR1 as metafor's ``robust()``; CR2 with ``clubsandwich``):
        a :class:`~multilevel.RobustRmaMvFit`.

        ``cluster`` is a column of the data or one value per estimate
        (``clubSandwich=`` is accepted as metafor spells it). CR2 uses
        the fitted marginal variance as working model and Satterthwaite df
        (Pustejovsky & Tipton, 2018); see :mod:`multilevel.meta.multivariate._robust`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school",
        ...                 data=ml.datasets.load("konstantopoulos2011"))
        >>> fit.robust("district").summary().to_frame().round(4)
                 estimate      se    tval    df    pval   ci_lb  ci_ub
        intrcpt    0.1847  0.0845  2.1859  10.0  0.0537 -0.0036  0.373
        """
        if clubSandwich is not None:
            clubsandwich = clubSandwich
        return RobustRmaMvFit(self, robust(self, cluster, clubsandwich=clubsandwich, adjust=adjust))

    @classmethod
    def _wald(cls, fit: Any, *, X: Any = None, btt: Any = None, rhs: Any = None) -> Any:
        """Wald tests of ``X beta = rhs`` or of the coefficients ``btt`` (``multilevel.anova(fit, X=...)``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat, mods="~ year")
        >>> print(ml.anova(fit, btt=2))
        Test of Moderators (coefficient 2):
        QM(df = 1) = 0.3169, p-val = 0.5735
        """
        ddf = float(fit.k - fit.p) if fit.test == "t" else None
        return wald_test(fit.beta.to_numpy(), fit.vb.to_numpy(), list(fit.names), fit._eff.design.intercept, ddf,
                         X=X, btt=btt, rhs=rhs)

    @classmethod
    def _anova(cls, fits: tuple, **options: Any) -> Any:
        """Likelihood-ratio test of two nested fits, used by :func:`multilevel.anova`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> reduced = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat, method="ML")
        >>> full = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat, method="ML", mods="~ year")
        >>> print(ml.anova(full, reduced))
                df     AIC     BIC    AICc  logLik    LRT   pval       QE
        Full     4 24.4363 32.5377 25.2206 -8.2181               550.2597
        Reduced  3 22.7899 28.8659 23.2514 -8.3949 0.3536 0.5521 578.8640
        """
        return anova_fits(fits, **options)
