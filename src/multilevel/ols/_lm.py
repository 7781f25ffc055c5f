"""``lm``: ordinary least squares with R's names, summary and prediction."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy

from .._data import as_dataframe, rows_used
from .._exceptions import ModelSpecificationError, RankDeficiencyWarning
from .._display import TextViews
from .._protocol import FitProtocol, confint_frame, fitstats_series, parse_level, wald_tidy
from ..formula import model_frame
from ..formula._contrasts import check_contrasts
from ._fit import OLSArrays, ols_fit
from ._summary import LinearModelSummary

__all__ = ["LinearModel", "lm", "FStatistic"]


@dataclass(frozen=True)
class FStatistic:
    """Overall F test of a linear model against the intercept-only model.

    Examples
    --------
    >>> import multilevel as ml
    >>> f = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).fstatistic
    >>> round(f.value, 3), f.numdf, f.dendf
    (71.464, 1, 178)
    """

    value: float
    numdf: int
    dendf: int

    @property
    def pvalue(self) -> float:
        if self.dendf == 0 or not np.isfinite(self.value):
            return float("nan")
        return float(scipy.stats.f.sf(self.value, self.numdf, self.dendf))


@dataclass(frozen=True, eq=False)
class LinearModel(FitProtocol, TextViews):
    """A fitted linear model (returned by :func:`lm`).

    Attributes
    ----------
    formula : str
        The formula as given.
    names : tuple of str
        Coefficient names as R prints them, aliased columns included.
    fit : OLSArrays
        The array-level fit (internal).
    y : ndarray
        Response.
    has_intercept : bool
    row_index : pandas.Index
        Labels of the rows used.
    data_name : str
        Name shown in the printed call.
    design : object
        What :meth:`predict` needs to rebuild the model matrix (internal).
    contrasts : tuple of (str, str)
        The ``contrasts`` argument as (factor, R contrast name) pairs, shown in the printed call.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
    >>> fit.coef.round(3)
    (Intercept)    251.405
    Days            10.467
    Name: Estimate, dtype: float64
    """

    formula: str
    names: tuple[str, ...]
    fit: OLSArrays
    y: np.ndarray
    has_intercept: bool
    row_index: pd.Index
    data_name: str = "data"
    design: Any = None
    contrasts: tuple[tuple[str, str], ...] = ()
    _data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def model_data(self) -> pd.DataFrame | None:
        """A copy of the rows of the data the model used (None if they could not be kept)."""
        return None if self._data is None else self._data.copy()

    @property
    def dropped_rows(self) -> tuple[str, ...]:
        """Labels of the rows dropped for missing values (R's ``na.omit``; 1-based positions, or the
        data's index labels), as every fit records them."""
        return tuple(self.design.frame.dropped_rows)

    @property
    def response(self) -> str:
        """The response as written in the formula (``"test_score"``, ``"log(y)"``)."""
        return self.design.frame.response

    # ------------------------------------------------------------------ coefficients
    def _series(self, values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(values, index=list(self.names), name=name)

    @property
    def coef(self) -> pd.Series:
        """Estimated coefficients (NaN where a column is aliased, as R's NA)."""
        return self._series(self.fit.coef, "Estimate")

    @property
    def params(self) -> pd.Series:
        """The coefficients (the protocol's name of :attr:`coef`)."""
        return self._series(self.fit.coef, None)

    @property
    def se(self) -> pd.Series:
        return self._series(self.fit.se, "Std. Error")

    @property
    def tvalue(self) -> pd.Series:
        return self._series(self.fit.tvalue, "t value")

    @property
    def pvalue(self) -> pd.Series:
        return self._series(self.fit.pvalue, "Pr(>|t|)")

    @property
    def aliased(self) -> pd.Series:
        return self._series(self.fit.aliased, "aliased")

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the estimates; NaN rows and columns for aliased coefficients (as R).

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).vcov().round(3)
                     (Intercept)   Days
        (Intercept)       43.694 -6.899
        Days              -6.899  1.533
        """
        keep = np.flatnonzero(~self.fit.aliased)
        full = np.full((len(self.names), len(self.names)), np.nan)
        full[np.ix_(keep, keep)] = self.fit.vcov
        return pd.DataFrame(full, index=list(self.names), columns=list(self.names))

    # ------------------------------------------------------------------ fit statistics
    @property
    def nobs(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_params(self) -> int:
        """Parameters counted by R's ``logLik``: the coefficients that are not aliased, and sigma."""
        return self.fit.rank + 1

    @property
    def loglik(self) -> float:
        """Maximum-likelihood log-likelihood (R's ``logLik`` of an ``lm``)."""
        n, rss = self.nobs, float(self.fit.residuals @ self.fit.residuals)
        return -0.5 * n * (np.log(2 * np.pi) + 1.0 - np.log(n) + np.log(rss))

    def fitstats(self) -> pd.Series:
        """logLik, deviance (the residual sum of squares, as R's ``deviance``), AIC, BIC, AICc.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).fitstats().round(2).tolist()
        [-950.15, 405251.62, 1906.29, 1915.87, 1906.43]
        """
        rss = float(self.fit.residuals @ self.fit.residuals)
        return fitstats_series(self.loglik, rss, self.num_params, self.nobs)

    @property
    def sigma(self) -> float:
        """Residual standard error."""
        return self.fit.sigma

    @property
    def df_resid(self) -> int:
        return self.fit.df_resid

    @property
    def residuals(self) -> pd.Series:
        return pd.Series(self.fit.residuals, index=self.row_index, name="residuals")

    @property
    def fitted(self) -> pd.Series:
        return pd.Series(self.fit.fitted, index=self.row_index, name="fitted")

    def _mss_rss(self) -> tuple[float, float]:
        f = self.fit.fitted
        mss = float(np.sum((f - f.mean()) ** 2)) if self.has_intercept else float(f @ f)
        return mss, float(self.fit.residuals @ self.fit.residuals)

    @property
    def r_squared(self) -> float:
        """Multiple R-squared (about the mean if the model has an intercept, about 0 if not)."""
        mss, rss = self._mss_rss()
        return mss / (mss + rss) if mss + rss > 0 else float("nan")

    @property
    def adj_r_squared(self) -> float:
        df_int = int(self.has_intercept)
        if self.df_resid == 0:
            return float("nan")
        return 1.0 - (1.0 - self.r_squared) * (self.nobs - df_int) / self.df_resid

    @property
    def fstatistic(self) -> FStatistic | None:
        """F statistic against the intercept-only model; None when there is nothing to test."""
        numdf = self.fit.rank - int(self.has_intercept)
        if numdf <= 0:
            return None
        mss, _ = self._mss_rss()
        value = mss / numdf / self.sigma**2 if self.df_resid > 0 else float("nan")
        return FStatistic(value, numdf, self.df_resid)

    # ------------------------------------------------------------------ inference and prediction
    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """t-based confidence intervals for the coefficients (R's ``confint.lm``).

        ``level`` is a proportion (0.95) or a percentage (95), see
        :func:`~multilevel._protocol.parse_level`. Returns the protocol's table (columns
        ``kind, estimate, lower, upper``; ``lower`` and ``upper`` are R's "2.5 %" and "97.5 %").

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).confint().round(3).reset_index()
                  term   kind  estimate    lower    upper
        0  (Intercept)  fixed   251.405  238.361  264.449
        1         Days  fixed    10.467    8.024   12.911
        """
        level = parse_level(level)
        q = scipy.stats.t.ppf(0.5 + level / 2, self.df_resid) if self.df_resid > 0 else np.nan
        est, se = self.fit.coef, self.fit.se
        return confint_frame(self.names, ["fixed"] * len(self.names), est, est - q * se, est + q * se,
                             level=level, method="t")

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: estimate, standard error, t statistic, p-value and the
        t-based interval (columns :data:`~multilevel._protocol.TIDY_COLUMNS`).

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).tidy()[["term", "statistic"]].round(3)
                  term  statistic
        0  (Intercept)     38.033
        1         Days      8.454
        """
        df = self.df_resid if self.df_resid > 0 else np.nan
        return wald_tidy(self.names, self.fit.coef, self.fit.se, level=parse_level(level), df=df)

    def predict(self, newdata: Any = None) -> pd.Series:
        """Predictions for ``newdata`` (fitted values when omitted).

        Aliased coefficients are left out, as R's ``predict.lm`` does.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).predict({"Days": [0, 5]}).round(3)
        0    251.405
        1    303.742
        Name: fit, dtype: float64
        """
        if newdata is None:
            return self.fitted
        df = as_dataframe(newdata, what="newdata")
        X = self.design.rebuild(df)
        keep = ~self.fit.aliased
        return pd.Series(X[:, keep] @ self.fit.coef[keep], index=df.index, name="fit")

    def summary(self):
        """R's ``summary(lm(...))``: coefficient table with t tests, R-squared and the F test.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).summary().fstatistic.numdf
        1
        """
        return LinearModelSummary.from_model(self)

    def __str__(self) -> str:
        """The printed summary (R's ``print(summary(fit))``); the notebook views show it too."""
        return str(self.summary())

    def __repr__(self) -> str:
        coefs = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.names, self.fit.coef))
        return f"<LinearModel {self.formula}: {coefs}>"


@dataclass(frozen=True, eq=False)
class _FixedDesign:
    """Rebuilds the model matrix for new data; aliased columns come back as zeros."""

    frame: Any
    positions: np.ndarray
    num_columns: int

    def rebuild(self, data: pd.DataFrame) -> np.ndarray:
        return self.expand(self.frame.fixed_design(data))

    def expand(self, X: np.ndarray) -> np.ndarray:
        full = np.zeros((X.shape[0], self.num_columns))
        full[:, self.positions] = X
        return full


def _full_design(frame: Any) -> tuple[_FixedDesign, tuple[str, ...]]:
    """Put back the columns the frame dropped for rank deficiency (lm reports them as aliased)."""
    p = len(frame.fixed_names) + len(frame.dropped_fixed)
    positions = np.arange(p) if frame.fixed_keep is None else np.asarray(frame.fixed_keep, dtype=int)
    names = [""] * p
    for j, name in zip(positions, frame.fixed_names):
        names[j] = name
    rest = iter(frame.dropped_fixed)
    names = [n if j in set(positions.tolist()) else next(rest) for j, n in enumerate(names)]
    return _FixedDesign(frame, positions, p), tuple(names)


def lm(formula: str, data: Any, *, data_name: str = "data", contrasts: dict | None = None) -> LinearModel:
    """Fit a linear model by ordinary least squares (R's ``lm``).

    .. math::

        y_i = x_i^\\top \\beta + \\varepsilon_i, \\qquad \\varepsilon_i \\sim N(0, \\sigma^2)

    Parameters
    ----------
    formula : str
        Wilkinson formula, e.g. ``"test_score ~ study_time + school"``; factors get
        treatment contrasts with R's names (``schoolOakwood``).
    data : DataFrame or mapping
        Table with the columns named in the formula. Rows with missing values are dropped.
    data_name : str
        Name of the data shown in the printed call (R shows the expression it was given).
    contrasts : dict, optional
        Coding of factors, as R's ``contrasts`` argument: ``{"tension": "contr.sum"}``
        with ``"contr.treatment"`` (the default coding), ``"contr.sum"``,
        ``"contr.helmert"``, ``"contr.poly"`` or ``"contr.SAS"``; coefficients are
        named as R names them (``tension1``, ``tension.L``, ``tensionL``).

    Returns
    -------
    LinearModel

    Examples
    --------
    >>> import multilevel as ml
    >>> students = ml.datasets.load("students")
    >>> fit = ml.lm("test_score ~ study_time + school", students)
    >>> fit.coef.round(3).to_dict()
    {'(Intercept)': 30.717, 'study_time': 1.969, 'schoolOakwood': -8.989, 'schoolSt Mary’s': -1.08}
    >>> round(fit.r_squared, 4)
    0.8182
    >>> ml.lm("test_score ~ study_time + school", students, contrasts={"school": "contr.sum"}).names
    ('(Intercept)', 'study_time', 'school1', 'school2')
    """
    df = as_dataframe(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        frame = model_frame(formula, df, contrasts=contrasts)
    if frame.blocks:
        raise ModelSpecificationError(
            "lm() fits fixed effects only; use lmer() for a formula with (... | group) terms")
    design, names = _full_design(frame)
    fit = ols_fit(design.expand(frame.X), frame.y)
    return LinearModel(formula=frame.formula, names=names, fit=fit, y=frame.y,
                       has_intercept="(Intercept)" in names, row_index=frame.row_index,
                       data_name=data_name, design=design, contrasts=check_contrasts(contrasts),
                       _data=rows_used(df, frame.row_index))
