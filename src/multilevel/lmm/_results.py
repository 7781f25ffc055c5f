"""The fitted linear mixed model (frozen result of :func:`multilevel.lmer`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._display import TextViews
from .._protocol import FitProtocol, parse_level, stack_frames, tidy_frame, wald_tidy
from ..formula._frame import ModelFrame
from ._fit import LmerEstimate, OptimizerSummary, fit_problem
from ._pls import PLSProblem
from ._summary import (COR_MAX, FitCriteria, FixedEffectsTable, FixefCorrelation, LmerPrint, LmerSummary,
                       ScaledResiduals, model_title)
from .._exceptions import DataError
from ._anova import lmer_anova
from ._icc import model_icc, model_r2
from ._plots import ranef_intervals
from ._predict import predict, simulate
from ._profile import fit_confint, parameter_names
from ._satterthwaite import coef_table, lmertest_summary
from ._varcorr import VarCorr
from ._weights import WeightsOffset
from ._sdcor import sdcor_from_theta

__all__ = ["LinearMixedModel"]


@dataclass(frozen=True, eq=False, repr=False)
class LinearMixedModel(FitProtocol, TextViews):
    """A linear mixed model fitted by REML or maximum likelihood, as lme4's ``lmerMod``.

    Create it with :func:`multilevel.lmer`. All attributes are computed from the
    stored estimate; the object never changes.

    Attributes
    ----------
    formula : str
        The model formula as written.
    REML : bool
        True for a REML fit, False for maximum likelihood.
    frame : ModelFrame
        Response, designs and grouping factors (kept for ``predict`` and refits).
    theta : ndarray
        Relative covariance parameters (lme4's ``getME(m, "theta")``).
    sigma : float
        Residual standard deviation.
    deviance : float
        REML criterion at convergence for REML fits, ``-2 logLik`` for ML fits.
    is_singular : bool
        A variance component or correlation is on the boundary (lme4's ``isSingular``).
    optinfo : OptimizerSummary
        Optimizer name, number of evaluations, convergence code and check messages.
    data_name : str or None
        Name printed on the summary's ``Data:`` line.
    model_data : pandas.DataFrame or None
        A copy of the rows of the data the model used (for the plots).

    Notes
    -----
    Extension contract: methods added by other modules go in the marked
    section at the end of the class body; they read the public attributes and
    ``_estimate`` (an :class:`~multilevel.lmm._fit.LmerEstimate`: theta, the PLS
    solution, optimizer info) and ``_problem`` (the precomputed
    :class:`~multilevel.lmm._pls.PLSProblem`, whose ``solve(theta)``,
    ``deviance(theta, reml)`` and ``with_response(y)`` are cheap).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fit.fixef.round(4).to_dict()
    {'(Intercept)': 251.4051, 'Days': 10.4673}
    >>> fit.varcorr.round(3)
            grp         var1  var2     vcov   sdcor
    0   Subject  (Intercept)   NaN  612.100  24.741
    1   Subject         Days   NaN   35.072   5.922
    2   Subject  (Intercept)  Days    9.604   0.066
    3  Residual          NaN   NaN  654.940  25.592
    >>> round(fit.loglik, 2), round(fit.aic, 2), fit.nobs, fit.ngroups
    (-871.81, 1755.63, 180, {'Subject': 18})
    """

    formula: str
    REML: bool
    frame: ModelFrame
    data_name: str | None
    _estimate: LmerEstimate = field(repr=False)
    _problem: PLSProblem = field(repr=False)
    _weights: WeightsOffset | None = field(default=None, repr=False)
    _data: pd.DataFrame | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ estimates
    @property
    def model_data(self) -> pd.DataFrame | None:
        """A copy of the rows of the data the model used (None if they could not be kept)."""
        return None if self._data is None else self._data.copy()

    @property
    def dropped_rows(self) -> tuple[str, ...]:
        """Labels of the rows dropped for missing values (R's ``na.omit``; 1-based positions, or the
        data's index labels), as every fit records them."""
        return tuple(self.frame.dropped_rows)

    @property
    def theta(self) -> np.ndarray:
        return self._estimate.theta.copy()

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of theta (``Subject.(Intercept)``, ``Subject.Days.(Intercept)`` ...)."""
        return self.frame.theta_names

    @property
    def sigma(self) -> float:
        return self._estimate.sigma

    @property
    def deviance(self) -> float:
        return self._estimate.deviance - self._log_det_weights

    @property
    def _log_det_weights(self) -> float:
        return 0.0 if self._weights is None else self._weights.log_det

    @property
    def prior_weights(self) -> pd.Series | None:
        """The prior weights (None for an unweighted fit)."""
        if self._weights is None or self._weights.weights is None:
            return None
        return pd.Series(self._weights.weights, index=self.frame.row_index, name="weights")

    @property
    def offset(self) -> pd.Series | None:
        """The offset of the linear predictor (``offset()`` terms and the ``offset`` argument), or None."""
        if self._weights is None or self._weights.offset is None:
            return None
        return pd.Series(self._weights.offset, index=self.frame.row_index, name="offset")

    @property
    def is_singular(self) -> bool:
        return self._estimate.is_singular

    @property
    def optinfo(self) -> OptimizerSummary:
        return self._estimate.optinfo

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, named as lme4 names them."""
        return pd.Series(self._estimate.solution.beta, index=list(self.frame.fixed_names), name="fixef")

    @property
    def params(self) -> pd.Series:
        """The fixed-effects estimates (the protocol's name of :attr:`fixef`)."""
        return self.fixef.rename(None)

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates, ``sigma^2 (R_X' R_X)^{-1}``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.vcov().round(3)
                     (Intercept)   Days
        (Intercept)       46.575 -1.451
        Days              -1.451  2.389
        """
        RX = self._estimate.solution.RX
        Rinv = np.linalg.solve(RX, np.eye(RX.shape[0])) if RX.size else RX
        names = list(self.frame.fixed_names)
        return pd.DataFrame(self.sigma ** 2 * (Rinv @ Rinv.T), index=names, columns=names)

    @property
    def nobs(self) -> int:
        return int(self.frame.nobs)

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4's ``ngrps``), terms of one factor counted once."""
        return self.frame.ngroups

    @property
    def num_params(self) -> int:
        """Parameters counted by logLik's ``df``: fixed effects, theta and sigma."""
        return len(self.frame.fixed_names) + self.theta.size + 1

    @property
    def loglik(self) -> float:
        """Log-likelihood (the REML log-likelihood for REML fits, as lme4's ``logLik``)."""
        return -0.5 * self.deviance

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.num_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.num_params

    @property
    def df_resid(self) -> int:
        return self.nobs - self.num_params

    # ------------------------------------------------------------------ fitted values
    @property
    def fitted(self) -> pd.Series:
        """Fitted values ``offset + X beta + Z b`` (on the response's scale also for weighted fits)."""
        values = self._estimate.solution.fitted
        if self._weights is not None:
            sw, off = self._weights.sqrt_weights, self._weights.offset
            if sw is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = np.where(sw > 0, values / np.where(sw > 0, sw, 1.0), self._unweighted_fit())
            if off is not None:
                values = values + off
        return pd.Series(values, index=self.frame.row_index, name="fitted")

    def _unweighted_fit(self) -> np.ndarray:
        """``X beta + Z b`` from the original design (rows whose weight is 0)."""
        sol = self._estimate.solution
        out = self.frame.X @ sol.beta
        for blk, b in zip(self.frame.blocks, sol.b):
            out = out + np.einsum("nk,nk->n", blk.Z, b[blk.codes])
        return out

    @property
    def residuals(self) -> pd.Series:
        """Raw residuals ``y - fitted``."""
        fitted = self._estimate.solution.fitted if self._weights is None else self.fitted.to_numpy()
        return pd.Series(self.frame.y - fitted, index=self.frame.row_index, name="residuals")

    @property
    def pearson_residuals(self) -> pd.Series:
        """``sqrt(w) (y - fitted)`` (the raw residuals for an unweighted fit), lme4's ``type = "pearson"``."""
        r = self.residuals
        if self._weights is not None and self._weights.weights is not None:
            r = r * self._weights.sqrt_weights
        return r.rename("pearson")

    @property
    def scaled_residuals(self) -> pd.Series:
        """Pearson residuals divided by sigma (lme4's ``residuals(m, type = "pearson", scaled = TRUE)``,
        printed in the summary)."""
        return (self.pearson_residuals / self.sigma).rename("scaled_residuals")

    # ------------------------------------------------------------------ random effects
    def _group_blocks(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, blk in enumerate(self.frame.blocks):
            groups.setdefault(blk.group, []).append(i)
        return groups

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects: grouping factor -> DataFrame (levels x terms).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.ranef["Subject"].head(3).round(3)
                 (Intercept)    Days
        Subject
        308            2.259   9.199
        309          -40.399  -8.620
        310          -38.960  -5.449
        """
        b = self._estimate.solution.b
        out = {}
        for g, idx in self._group_blocks().items():
            blk = self.frame.blocks[idx[0]]
            cols = [c for i in idx for c in self.frame.blocks[i].column_names]
            out[g] = pd.DataFrame(np.hstack([b[i] for i in idx]), index=pd.Index(blk.levels, name=g),
                                  columns=cols)
        return out

    @property
    def ranef_condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance of the random effects per level: grouping factor -> (levels, k, k).

        lme4's ``attr(ranef(m, condVar = TRUE)[[g]], "postVar")`` (terms of one factor
        split by ``||`` are combined block-diagonally).
        """
        cv = self._problem.condvar(self.theta)
        s2 = self.sigma ** 2
        out = {}
        for g, idx in self._group_blocks().items():
            ks = [cv[i].shape[1] for i in idx]
            arr = np.zeros((cv[idx[0]].shape[0], sum(ks), sum(ks)))
            off = 0
            for i, k in zip(idx, ks):
                arr[:, off:off + k, off:off + k] = s2 * cv[i]
                off += k
            out[g] = arr
        return out

    def ranef_frame(self) -> pd.DataFrame:
        """Long table as lme4's ``as.data.frame(ranef(m, condVar = TRUE))``: grpvar, term, grp, condval, condsd.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.ranef_frame().round(3).head(2)
            grpvar         term  grp  condval  condsd
        0  Subject  (Intercept)  308    2.259  12.071
        1  Subject  (Intercept)  309  -40.399  12.071
        """
        parts = []
        cvs = self.ranef_condvar
        for g, df in self.ranef.items():
            for j, term in enumerate(df.columns):
                parts.append(pd.DataFrame({"grpvar": g, "term": term, "grp": df.index.astype(str),
                                           "condval": df[term].to_numpy(),
                                           "condsd": np.sqrt(cvs[g][:, j, j])}))
        return pd.concat(parts, ignore_index=True)

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-level coefficients, fixed plus random (lme4's ``coef``).

        Columns as lme4 orders them: the random-effects terms that are not fixed effects
        (over all grouping factors, 0 where a factor has no such term) come first, then the
        fixed effects in their order.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.coef["Subject"].head(2).round(2)
                 (Intercept)   Days
        Subject
        308           253.66  19.67
        309           211.01   1.85
        """
        fe = self.fixef
        ranef = self.ranef
        missing = list(dict.fromkeys(c for re in ranef.values() for c in re.columns if c not in fe.index))
        cols = missing + list(fe.index)
        out = {}
        for g, re in ranef.items():
            df = pd.DataFrame(index=re.index)
            for c in cols:
                df[c] = (re[c].to_numpy() if c in re.columns else 0.0) + (fe[c] if c in fe.index else 0.0)
            out[g] = df
        return out

    @property
    def varcorr_table(self) -> VarCorr:
        """The variance components as a printable block (lme4's ``VarCorr``)."""
        templates = self._problem.templates(self.theta)
        return VarCorr.from_theta([b.group for b in self.frame.blocks],
                                  [b.column_names for b in self.frame.blocks], templates, self.sigma)

    @property
    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        return self.varcorr_table.to_frame()

    # ------------------------------------------------------------------ output
    def summary(self) -> LmerSummary:
        """lme4's ``summary(m)``; ``print()`` it for lme4's layout.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.datasets.load("Dyestuff"), data_name="Dyestuff")
        >>> print(fit.summary())
        Linear mixed model fit by REML ['lmerMod']
        Formula: Yield ~ 1 + (1 | Batch)
           Data: Dyestuff
        <BLANKLINE>
        REML criterion at convergence: 319.7
        <BLANKLINE>
        Scaled residuals:
            Min      1Q  Median      3Q     Max
        -1.4117 -0.7634  0.1418  0.7792  1.8296
        <BLANKLINE>
        Random effects:
         Groups   Name        Variance Std.Dev.
         Batch    (Intercept) 1764     42.00
         Residual             2451     49.51
        Number of obs: 30, groups:  Batch, 6
        <BLANKLINE>
        Fixed effects:
                    Estimate Std. Error t value
        (Intercept)  1527.50      19.38    78.8
        """
        V = self.vcov().to_numpy()
        se = np.sqrt(np.diag(V))
        names = tuple(self.frame.fixed_names)
        corr = None
        if 1 < len(names) <= COR_MAX:
            corr = FixefCorrelation(names, V / np.outer(se, se))
        sol, ldw = self._estimate.solution, self._log_det_weights
        criteria = FitCriteria(self.REML, sol.deviance_reml - ldw, self.aic, self.bic, self.loglik,
                               sol.deviance_ml - ldw, self.df_resid, accuracy=self._accuracy_line())
        info = self.optinfo
        wo = self._weights
        return LmerSummary(self.REML, self.formula, self.data_name, criteria,
                           ScaledResiduals.from_residuals(self.scaled_residuals.to_numpy()), self.varcorr_table,
                           self.nobs, self.ngroups, FixedEffectsTable(names, self.fixef.to_numpy(), se), corr,
                           info.optimizer, info.code, info.messages,
                           weights_name=None if wo is None else wo.weights_name,
                           offset_name=None if wo is None else wo.offset_name)

    def _accuracy_line(self) -> str | None:
        """How exact the criteria are, for a stochastic formulation (None: exact, as lme4's)."""
        acc = getattr(self._estimate, "accuracy", None)
        return None if acc is None else acc.summary_line()

    def __repr__(self) -> str:
        kind = "REML" if self.REML else "ML"
        return (f"<LinearMixedModel {kind}: {self.formula}; nobs={self.nobs}, "
                f"deviance={self.deviance:.4f}, sigma={self.sigma:.5g}>")

    def __str__(self) -> str:
        """lme4's ``print(m)`` (``str(fit.summary())`` is ``print(summary(m))``)."""
        sol, ldw = self._estimate.solution, self._log_det_weights
        criteria = FitCriteria(self.REML, sol.deviance_reml - ldw, self.aic, self.bic, self.loglik,
                               sol.deviance_ml - ldw, self.df_resid, digits=4, accuracy=self._accuracy_line())
        info = self.optinfo
        return str(LmerPrint(model_title(self.REML), self.formula, self.data_name, criteria, self.varcorr_table, self.nobs,
                             self.ngroups, tuple(self.frame.fixed_names), self.fixef.to_numpy(), info.optimizer,
                             info.code, info.messages))

    # ------------------------------------------------------------------ refits
    def refit(self, newresp=None, *, REML: bool | None = None) -> "LinearMixedModel":
        """Fit the same model to a new response and/or with REML switched, reusing the structure.

        Parameters
        ----------
        newresp : array_like, optional
            New response vector (length ``nobs``), as lme4's ``refit(m, newresp)``.
        REML : bool, optional
            Fit criterion of the refit (default: as this fit).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Yield ~ 1 + (1 | Batch)", ml.datasets.load("Dyestuff"))
        >>> round(fit.refit(REML=False).deviance, 3)
        327.327
        """
        reml = self.REML if REML is None else bool(REML)
        problem = self._problem
        if newresp is not None:
            y = np.asarray(newresp, dtype=float).ravel()
            if y.shape != (self.nobs,):
                raise DataError(f"newresp must have {self.nobs} values (got {y.size})")
            frame_y = y
            if self._weights is not None:
                y = y - (0.0 if self._weights.offset is None else self._weights.offset)
                y = y if self._weights.weights is None else y * self._weights.sqrt_weights
            problem = problem.with_response(y)
        est = fit_problem(problem, reml, start=self.theta)
        frame = self.frame if newresp is None else _with_y(self.frame, frame_y)
        return LinearMixedModel(self.formula, reml, frame, self.data_name, est, problem, self._weights, self._data)

    # ======================================================================
    # Extensions (inference, prediction, plots) are added below this line.
    # ======================================================================

    # --- workflow inference (issue 3): thin delegates to _satterthwaite, _profile, _predict, _icc, _anova
    def coef_table(self, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """Fixed effects with t tests: Estimate, Std. Error, df, t value, Pr(>|t|) (lmerTest's numbers).

        ``ddf="Satterthwaite"`` (default) or ``"Kenward-Roger"`` denominator degrees of freedom.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.coef_table()["df"].round(2).tolist()
        [17.0, 17.0]
        """
        return coef_table(self, ddf)

    def lmertest_summary(self, ddf: str = "Satterthwaite"):
        """The summary with df and p-values for the fixed effects, as lmerTest's ``summary(m, ddf = ...)``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> print(str(fit.lmertest_summary()).split("Fixed effects:")[1].splitlines()[2])
        (Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***
        """
        return lmertest_summary(self, ddf)

    def confint(self, method: str = "profile", level: float = 0.95, *, nsim: int = 500, seed=None,
                parallel: bool = True, progress: bool = True) -> pd.DataFrame:
        """Confidence intervals for .sig01..., .sigma (``kind`` "random": standard deviations and
        correlations, lme4's order) and the fixed effects (``kind`` "fixed"); columns
        ``kind, estimate, lower, upper``.

        ``method="profile"`` (likelihood profile, lme4's default), ``"Wald"`` (fixed effects only)
        or ``"boot"`` (parametric bootstrap with ``nsim`` replicates, ``seed``, on 2 processes).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.confint("Wald").loc["Days", ["lower", "upper"]].round(3).tolist()
        [8.891, 12.044]
        """
        return fit_confint(self, method, level, nsim=nsim, seed=seed, parallel=parallel, progress=progress)

    def _varpar(self) -> tuple[list[str], np.ndarray]:
        """lme4's names (.sig01, ..., .sigma) and values (standard deviations, correlations, sigma)."""
        ks = [b.num_columns for b in self.frame.blocks]
        names = parameter_names(ks, [])
        return names, np.append(sdcor_from_theta(self.theta, ks, self.sigma), self.sigma)

    def tidy(self, level: float = 0.95, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """One row per parameter (columns :data:`~multilevel._protocol.TIDY_COLUMNS`): the fixed
        effects with lmerTest's t tests (``ddf`` degrees of freedom) and t intervals, then the
        variance parameters (.sig01, ..., .sigma: estimates only; see :meth:`confint`).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.tidy().round(3)[["term", "kind", "estimate", "statistic"]]
                  term    kind  estimate  statistic
        0  (Intercept)   fixed   251.405     25.794
        1         Days   fixed    10.467     13.015
        2       .sig01  random    37.124        NaN
        3       .sigma  random    30.991        NaN
        """
        level = parse_level(level)
        table = self.coef_table(ddf)
        fixed = wald_tidy(table.index, table["Estimate"], table["Std. Error"], level=level, df=table["df"])
        names, values = self._varpar()
        return stack_frames([fixed, tidy_frame(names, ["random"] * len(names), values, level=level)],
                            level=level)

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False) -> pd.Series:
        """Predictions with the random effects of ``re_form`` (None: all, ``"~0"``: none).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.predict({"Days": [0.0], "Subject": ["999"]}, allow_new_levels=True).round(3).tolist()
        [251.405]
        """
        return predict(self, newdata, re_form, allow_new_levels)

    def simulate(self, nsim: int = 1, seed=None) -> pd.DataFrame:
        """Responses simulated from the fitted model, one column per simulation.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.simulate(2, seed=1).shape
        (180, 2)
        """
        return simulate(self, nsim, seed)

    def icc(self):
        """Intraclass correlation, adjusted and unadjusted (performance's ``icc``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ 1 + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> round(fit.icc().adjusted, 3)
        0.395
        """
        return model_icc(self)

    def r2(self):
        """Nakagawa's marginal and conditional R-squared (performance's ``r2_nakagawa``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> round(fit.r2().marginal, 3)
        0.279
        """
        return model_r2(self)

    def ranef_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Conditional modes with conditional SDs and normal intervals (``ranef(condVar = TRUE)``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> list(fit.ranef_intervals().columns)
        ['grpvar', 'term', 'grp', 'condval', 'condsd', 'lower', 'upper']
        """
        return ranef_intervals(self, level)

    @classmethod
    def _anova(cls, fits, refit: bool = True, names=None):
        return lmer_anova(fits, refit=refit, names=names)


def _with_y(frame: ModelFrame, y: np.ndarray) -> ModelFrame:
    import dataclasses

    return dataclasses.replace(frame, y=y)
