"""The fitted generalized linear mixed model (frozen result of :func:`multilevel.glmer`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._exceptions import ArgumentError
from .._display import TextViews
from .._protocol import FitProtocol, confint_frame, parse_level, stack_frames, tidy_frame, wald_tidy
from ..formula._frame import ModelFrame
from ..lmm._sdcor import sdcor_from_theta
from ._family import Family
from ._fit import GlmmEstimate
from ._pirls import GlmmProblem
from ._predict import predict
from ._response import GlmmResponse
from ._summary import GlmerSummary, GlmmVarCorr
from ._inference import glmm_confint, glmm_simulate
from ._performance import glmm_icc, glmm_r2
from ..lmm._anova import lmer_anova

__all__ = ["GeneralizedLinearMixedModel", "RESIDUAL_TYPES"]

RESIDUAL_TYPES = ("deviance", "pearson", "response", "working")


@dataclass(frozen=True, eq=False, repr=False)
class GeneralizedLinearMixedModel(FitProtocol, TextViews):
    """A generalized linear mixed model fitted by maximum likelihood, as lme4's ``glmerMod``.

    Create it with :func:`multilevel.glmer`. Everything is computed from the
    stored estimate; the object never changes.

    Attributes
    ----------
    formula : str
        The model formula as written.
    family : Family
        Distribution and link.
    frame : ModelFrame
        Fixed-effects design and grouping factors of the right-hand side (internal
        response column).
    response : GlmmResponse
        Response (proportions for binomial), weights, trials, offset.
    row_labels : pandas.Index
        Index labels of the rows used.
    data_name, weights_name, offset_name : str or None
        Printed on the summary's ``Data:``, ``Weights:`` and ``Offset:`` lines.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.glmer("incidence / size ~ period + (1 | herd)", ml.datasets.load("cbpp"), "binomial",
    ...                weights="size")
    >>> fit.varcorr.round(4)
        grp         var1  var2    vcov   sdcor
    0  herd  (Intercept)  None  0.4122  0.6421
    >>> round(fit.aic, 2), fit.nobs, fit.df_resid
    (194.05, 56, 51)
    """

    formula: str
    family: Family
    frame: ModelFrame
    response: GlmmResponse
    row_labels: pd.Index
    data_name: str | None
    weights_name: str | None
    offset_name: str | None
    _estimate: GlmmEstimate = field(repr=False)
    _problem: GlmmProblem = field(repr=False)

    # ------------------------------------------------------------------ estimates
    @property
    def nAGQ(self) -> int:
        return self._estimate.nAGQ

    @property
    def theta(self) -> np.ndarray:
        return self._estimate.theta.copy()

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of theta (``herd.(Intercept)``, ``class.hours.(Intercept)`` ...)."""
        return self.frame.theta_names

    @property
    def dropped_rows(self) -> tuple[str, ...]:
        """Labels of the rows dropped for missing values (R's ``na.omit``; 1-based positions, or the
        data's index labels), as every fit records them."""
        return tuple(self.frame.dropped_rows)

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, named as lme4 names them."""
        return pd.Series(self._estimate.beta, index=list(self.frame.fixed_names), name="fixef")

    @property
    def params(self) -> pd.Series:
        """The fixed-effects estimates (the protocol's name of :attr:`fixef`)."""
        return self.fixef.rename(None)

    @property
    def is_singular(self) -> bool:
        return self._estimate.is_singular

    @property
    def messages(self) -> tuple[str, ...]:
        """Convergence and singular-fit messages (as lme4's ``optinfo$conv$lme4$messages``)."""
        return self._estimate.messages

    @property
    def sigma(self) -> float:
        """Residual scale: 1 for binomial and Poisson, else ``sqrt((sum of Pearson residuals^2 + |u|^2) / n)``."""
        if not self.family.has_scale:
            return 1.0
        state = self._estimate.state
        wrss = float(np.sum(self.response.weights * np.square(self.response.y - state.mu)
                            / self.family.variance(state.mu)))
        return math.sqrt((wrss + float(state.u @ state.u)) / self.nobs)

    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects: twice the inverse finite-difference Hessian of the deviance
        (lme4's default), or ``sigma^2 (R_X' R_X)^{-1}`` when the Hessian is unavailable.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("incidence / size ~ period + (1 | herd)", ml.datasets.load("cbpp"), "binomial",
        ...                weights="size")
        >>> fit.vcov().round(4).iloc[:2, :2]
                     (Intercept)  period2
        (Intercept)       0.0535  -0.0254
        period2          -0.0254   0.0919
        """
        V = self._estimate.vcov
        if not self._estimate.vcov_from_hessian:
            V = self.sigma ** 2 * V
        names = list(self.frame.fixed_names)
        return pd.DataFrame(V, index=names, columns=names)

    @property
    def nobs(self) -> int:
        return int(self.frame.nobs)

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4's ``ngrps``), terms of one factor counted once."""
        return self.frame.ngroups

    @property
    def num_params(self) -> int:
        """Parameters counted by logLik's ``df``: fixed effects, theta and (Gamma, inverse Gaussian) the scale."""
        return len(self.frame.fixed_names) + self.theta.size + int(self.family.has_scale)

    @property
    def loglik(self) -> float:
        """Log-likelihood (Laplace or quadrature approximation): minus half the minimized deviance."""
        return -0.5 * self._estimate.deviance

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.num_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.num_params

    @property
    def deviance(self) -> float:
        """Sum of the squared deviance residuals (lme4's ``deviance()`` of a GLMM; ``-2 loglik`` is
        the ``deviance`` column of the summary)."""
        return float(np.sum(self._estimate.state.dev_resid))

    @property
    def df_resid(self) -> int:
        return self.nobs - self.num_params

    # ------------------------------------------------------------------ fitted values and residuals
    def _series(self, values, name) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=self.row_labels, name=name)

    @property
    def fitted(self) -> pd.Series:
        """Fitted means ``mu`` (proportions for binomial)."""
        return self._series(self._estimate.state.mu, "fitted")

    def residuals(self, type: str = "deviance") -> pd.Series:
        """Residuals of ``type`` ``"deviance"`` (default), ``"pearson"``, ``"response"`` or ``"working"``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
        ...                family="binomial")
        >>> fit.residuals().round(4).head(3).tolist()
        [-1.4377, 0.9885, 2.3567]
        """
        state, y = self._estimate.state, self.response.y
        mu = state.mu
        if type == "response":
            r = y - mu
        elif type == "pearson":
            r = (y - mu) * np.sqrt(self.response.weights) / np.sqrt(self.family.variance(mu))
        elif type == "deviance":
            r = np.sign(y - mu) * np.sqrt(np.maximum(state.dev_resid, 0.0))
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(state.eta)
        else:
            raise ArgumentError(f"unknown residual type {type!r}; use one of {', '.join(RESIDUAL_TYPES)}")
        return self._series(r, type)

    # ------------------------------------------------------------------ random effects
    def _group_blocks(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, blk in enumerate(self.frame.blocks):
            groups.setdefault(blk.group, []).append(i)
        return groups

    def _b(self) -> list[np.ndarray]:
        return self._problem.b(self.theta, self._estimate.state.u)

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects: grouping factor -> DataFrame (levels x terms)."""
        b = self._b()
        out = {}
        for g, idx in self._group_blocks().items():
            blk = self.frame.blocks[idx[0]]
            cols = [c for i in idx for c in self.frame.blocks[i].column_names]
            out[g] = pd.DataFrame(np.hstack([b[i] for i in idx]), index=pd.Index(blk.levels, name=g), columns=cols)
        return out

    @property
    def ranef_condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance of the random effects per level (lme4's ``postVar``): group -> (levels, k, k)."""
        lam = self._problem.lambda_matrix(self.theta).toarray()
        cov = self.sigma ** 2 * lam @ self._estimate.state.factor.inverse() @ lam.T
        out, pos = {}, 0
        blocks = []
        for t in self._problem.terms:
            idx = np.arange(pos, pos + t.q).reshape(t.num_levels, t.k)
            blocks.append(cov[idx[:, :, None], idx[:, None, :]])
            pos += t.q
        for g, ids in self._group_blocks().items():
            ks = [blocks[i].shape[1] for i in ids]
            arr = np.zeros((blocks[ids[0]].shape[0], sum(ks), sum(ks)))
            off = 0
            for i, k in zip(ids, ks):
                arr[:, off:off + k, off:off + k] = blocks[i]
                off += k
            out[g] = arr
        return out

    def ranef_frame(self) -> pd.DataFrame:
        """Long table as lme4's ``as.data.frame(ranef(m, condVar = TRUE))``: grpvar, term, grp, condval, condsd.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), "binomial")
        >>> fit.ranef_frame().round(3).head(2)
          grpvar         term grp  condval  condsd
        0   herd  (Intercept)   1    0.590   0.348
        1   herd  (Intercept)   2   -0.299   0.365
        """
        parts = []
        cvs = self.ranef_condvar
        for g, df in self.ranef.items():
            for j, term in enumerate(df.columns):
                parts.append(pd.DataFrame({"grpvar": g, "term": term, "grp": df.index.astype(str),
                                           "condval": df[term].to_numpy(), "condsd": np.sqrt(cvs[g][:, j, j])}))
        return pd.concat(parts, ignore_index=True)

    def ranef_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Conditional modes with conditional SDs and normal intervals (drawn by :func:`multilevel.plot_ranef`).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), "binomial")
        >>> list(fit.ranef_intervals(0.9).columns)
        ['grpvar', 'term', 'grp', 'condval', 'condsd', 'lower', 'upper']
        """
        from ..lmm._plots import ranef_intervals

        return ranef_intervals(self, level)

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-level coefficients, fixed plus random (lme4's ``coef``)."""
        fe = self.fixef
        out = {}
        for g, re in self.ranef.items():
            cols = list(re.columns) + [c for c in fe.index if c not in re.columns]
            df = pd.DataFrame(index=re.index)
            for c in cols:
                df[c] = (re[c].to_numpy() if c in re.columns else 0.0) + (fe[c] if c in fe.index else 0.0)
            out[g] = df
        return out

    @property
    def varcorr_table(self) -> GlmmVarCorr:
        return GlmmVarCorr.from_theta([b.group for b in self.frame.blocks], [b.column_names for b in self.frame.blocks],
                                      self._problem.templates(self.theta), self.sigma,
                                      use_scale=self.family.has_scale)

    @property
    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        return self.varcorr_table.to_frame()

    # ------------------------------------------------------------------ prediction
    def predict(self, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False) -> pd.Series:
        """Predictions on the ``"link"`` or ``"response"`` scale, with the random effects of ``re_form``
        (None: all; ``"~0"`` or ``"NA"``: none), as lme4's ``predict``.

        Examples
        --------
        >>> import pandas as pd
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
        ...                family="binomial")
        >>> fit.predict(type="response").round(4).head(3).tolist()
        [0.3082, 0.1418, 0.126]
        >>> new = pd.DataFrame({"period": ["1", "4"], "herd": ["1", "1"]})
        >>> fit.predict(new, type="response").round(4).tolist()
        [0.3082, 0.0841]
        """
        return predict(self, newdata, type, re_form, allow_new_levels)

    # ------------------------------------------------------------------ output
    def confint(self, method: str = "Wald", level: float = 0.95, *, nsim: int = 500, seed=None) -> pd.DataFrame:
        """Confidence intervals of lme4's parameters: ``.sig01`` ... (standard deviations and
        correlations of the random effects; ``.sigma`` for families with a scale) and the fixed effects.

        ``method="Wald"`` (default): ``estimate -+ z SE`` for the fixed effects, the variance
        parameters missing (lme4's ``confint(m, method = "Wald")``). ``"profile"``: likelihood
        profile intervals (lme4's ``confint(m)``; families without a scale). ``"boot"``: parametric
        bootstrap percentile intervals from ``nsim`` simulated responses with ``seed``.
        ``level`` is a proportion or a percentage (0.95 or 95).

        Returns a table indexed by term with columns ``kind`` (``"random"`` or ``"fixed"``),
        ``estimate``, ``lower`` and ``upper``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), family="binomial")
        >>> fit.confint(level=0.9).round(3).loc["period2", ["lower", "upper"]].tolist()
        [-1.491, -0.493]
        >>> fit.confint("profile").round(3).loc[".sig01", ["lower", "upper"]].tolist()
        [0.346, 1.1]
        """

        return glmm_confint(self, method, parse_level(level), nsim=nsim, seed=seed)

    def simulate(self, nsim: int = 1, seed=None) -> pd.DataFrame:
        """Responses simulated from the fitted model (new random effects each time), one column per
        simulation, on the scale of the fit's response (proportions for binomial), as lme4's ``simulate``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), family="binomial")
        >>> fit.simulate(3, seed=1).shape
        (56, 3)
        """

        return glmm_simulate(self, nsim, seed)

    def icc(self):
        """Intraclass correlation on the latent scale, adjusted and unadjusted (performance's ``icc``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), family="binomial")
        >>> round(fit.icc().adjusted, 3)
        0.111
        """

        return glmm_icc(self)

    def r2(self):
        """Nakagawa's marginal and conditional R-squared on the latent scale (performance's ``r2``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), family="binomial")
        >>> round(fit.r2().marginal, 3)
        0.085
        """

        return glmm_r2(self)

    @classmethod
    def _anova(cls, fits, names=None):
        return lmer_anova(fits, refit=False, names=names)

    def _varpar(self) -> tuple[list[str], np.ndarray]:
        """lme4's names (.sig01, ..., and .sigma with a scale) and values (sds, correlations, sigma)."""
        ks = [b.num_columns for b in self.frame.blocks]
        values = sdcor_from_theta(self.theta, ks, self.sigma)
        names = [f".sig{i + 1:02d}" for i in range(values.size)]
        if self.family.has_scale:
            return names + [".sigma"], np.append(values, self.sigma)
        return names, values

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per parameter (columns :data:`~multilevel._protocol.TIDY_COLUMNS`): the fixed
        effects with Wald z tests and intervals (as the summary), then .sig01, ... (estimates).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                ml.datasets.load("cbpp"), family="binomial")
        >>> fit.tidy().round(3)[["term", "kind", "estimate", "p_value"]]
                  term    kind  estimate  p_value
        0  (Intercept)   fixed    -1.398    0.000
        1      period2   fixed    -0.992    0.002
        2      period3   fixed    -1.128    0.001
        3      period4   fixed    -1.580    0.001
        4       .sig01  random     0.642      NaN
        """
        level = parse_level(level)
        se = np.sqrt(np.diag(self.vcov().to_numpy()))
        names, values = self._varpar()
        fixed = wald_tidy(self.fixef.index, self.fixef.to_numpy(), se, level=level)
        if not names:
            return fixed
        return stack_frames([fixed, tidy_frame(names, ["random"] * len(names), values, level=level)], level=level)

    def summary(self) -> GlmerSummary:
        """lme4's ``summary(m)``; ``print()`` it for lme4's layout.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
        ...                family="binomial")
        >>> print(str(fit.summary()).splitlines()[2])
         Family: binomial  ( logit )
        """
        return GlmerSummary.from_fit(self)

    def __repr__(self) -> str:
        return (f"<GeneralizedLinearMixedModel {self.family}: {self.formula}; nobs={self.nobs}, "
                f"logLik={self.loglik:.4f}>")

    def __str__(self) -> str:
        return str(self.summary())

