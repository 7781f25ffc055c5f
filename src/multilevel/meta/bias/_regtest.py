"""Egger's regression test for funnel-plot asymmetry and its variants (metafor's ``regtest``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError, ModelSpecificationError
from ..._protocol import level_percent
from ..._rformat import format_num
from ...ols import FStatistic
from ...ols._summary import LinearModelSummary
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval
from ..shared._input import EffectData, ModeratorsDesign
from ..univariate._print import RmaSummary
from ..univariate._rma import RmaFit, _fit
from ._input import check_choice, effects_from

__all__ = ["regtest", "RegtestResult", "WeightedRegression"]

_PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
_LABELS = {"sei": "standard error", "vi": "sampling variance", "ni": "sample size",
           "ninv": "inverse of the sample size", "sqrtni": "square root sample size",
           "sqrtninv": "inverse of the square root sample size"}
_LIMITS = {"sei": "Limit Estimate (as sei -> 0):   ", "vi": "Limit Estimate (as vi -> 0):    ",
           "ninv": "Limit Estimate (as ni -> inf):  ", "sqrtninv": "Limit Estimate (as ni -> inf):  "}


@dataclass(frozen=True, eq=False, repr=False)
class WeightedRegression(TextReport, FrameMapping):
    """Weighted least squares with multiplicative dispersion (R's ``lm(yi ~ X - 1, weights = 1/vi)``).

    Attributes
    ----------
    names : tuple of str
        Coefficient names (R's ``Xintrcpt``, ``Xsei``, ...).
    beta, se, tval, pval : numpy.ndarray
        Coefficients, standard errors (scaled by the residual standard error), t statistics
        and two-sided p-values on ``df_resid`` degrees of freedom.
    residuals : numpy.ndarray
        Weighted residuals, the residuals times the square roots of the weights.
    sigma : float
        Residual standard error (the square root of the dispersion).
    df_resid : int
        Residual degrees of freedom, ``k - p``.
    r_squared, adj_r_squared : float
        R's (uncentred, as for a model without intercept term) multiple and adjusted R^2.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> test = ml.regtest(ml.rma("yi", "vi", data=dat), model="lm")
    >>> type(test.fit).__name__
    'WeightedRegression'
    """

    names: tuple[str, ...]
    beta: np.ndarray = field(repr=False)
    se: np.ndarray = field(repr=False)
    tval: np.ndarray = field(repr=False)
    pval: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    sigma: float
    df_resid: int
    r_squared: float
    adj_r_squared: float

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table: estimate, se, tval, pval.

        Examples
        --------
        >>> import multilevel as ml
        >>> res = ml.regtest(ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998")), model="lm")
        >>> res.fit.to_frame().round(4)
                  estimate      se    tval    pval
        Xintrcpt    0.0050  0.0859  0.0586  0.9536
        Xsei        0.9019  0.3786  2.3824  0.0228
        """
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "tval": self.tval, "pval": self.pval},
                            index=list(self.names))

    def __str__(self) -> str:
        """The printed :meth:`summary` (R's ``print(summary(fit))``)."""
        return str(self.summary())

    def summary(self) -> Any:
        """R's ``summary.lm`` of the regression: weighted residuals, coefficients, R^2 and F-test.

        Examples
        --------
        >>> import multilevel as ml
        >>> res = ml.regtest(ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998")), model="lm")
        >>> print(str(res.fit.summary()).splitlines()[-1])
        F-statistic: 13.46 on 2 and 35 DF,  p-value: 4.625e-05
        """
        table = pd.DataFrame({"Estimate": self.beta, "Std. Error": self.se, "t value": self.tval,
                              "Pr(>|t|)": self.pval}, index=list(self.names))
        p, r2 = self.beta.shape[0], self.r_squared
        value = r2 / (1 - r2) * self.df_resid / p if self.df_resid > 0 else float("nan")  # (mss / p) / sigma^2
        fstat = FStatistic(value, p, self.df_resid)
        return _WeightedLmSummary(("lm(formula = yi ~ X - 1, weights = 1/vi)",), self.residuals, self.df_resid,
                                  table, 0, self.sigma, self.r_squared, self.adj_r_squared, fstat)


class _WeightedLmSummary(LinearModelSummary):
    """R's print of ``summary(lm(..., weights = ))``: as ``summary.lm``, with weighted residuals."""

    def lines(self) -> list[str]:
        return ["", "Call:", *self.call, "", "Weighted Residuals:", *self._residual_lines(), *self._coef_lines(),
                "", *self._fit_lines(), ""]


def _wls(y: np.ndarray, v: np.ndarray, X: np.ndarray, names: tuple[str, ...]) -> WeightedRegression:
    k, p = X.shape
    sw = np.sqrt(1.0 / v)
    q, r = np.linalg.qr(X * sw[:, None])
    beta = np.linalg.solve(r, q.T @ (y * sw))
    resid = (y - X @ beta) * sw
    df = k - p
    rss = float(resid @ resid)
    sigma2 = rss / df if df > 0 else float("nan")
    rinv = np.linalg.inv(r)
    se = np.sqrt(sigma2 * np.sum(rinv * rinv, axis=1))
    tval = beta / se
    pval = 2 * special.stdtr(df, -np.abs(tval)) if df > 0 else np.full(p, np.nan)
    fitted = (X @ beta) * sw
    mss = float(fitted @ fitted)  # the formula has no intercept term: R^2 is not centred
    r2 = mss / (mss + rss)
    adj = 1 - (1 - r2) * k / df if df > 0 else float("nan")
    return WeightedRegression(names, beta, se, tval, pval, resid, float(np.sqrt(sigma2)), df, r2, adj)


@dataclass(frozen=True, eq=False, repr=False)
class RegtestResult(TextReport, FrameMapping):
    """Result of :func:`regtest` (frozen); fields use metafor's names.

    Attributes
    ----------
    model : str
        ``"rma"`` (meta-regression) or ``"lm"`` (weighted regression with multiplicative dispersion).
    predictor : str
        The predictor added to the model (``"sei"``, ``"vi"``, ``"ni"``, ``"ninv"``, ``"sqrtni"``, ``"sqrtninv"``).
    zval, pval : float
        Test statistic of the predictor's coefficient (z, or t with ``ddf`` degrees of freedom) and its
        two-sided p-value.
    ddf : float or None
        Degrees of freedom of the t-test (None for a z-test); ``dfs`` is the same number.
    method : str
        tau^2 estimator of the meta-regression (``"lm"`` for the weighted regression).
    est, ci_lb, ci_ub : float or None
        Limit estimate: the intercept, the expected effect of a study with infinite precision (for
        the predictors ``sei``, ``vi``, ``ninv`` and ``sqrtninv`` in a model without other moderators)
        and its confidence limits; None otherwise.
    fit : RmaFit or WeightedRegression
        The fitted regression.
    ret_fit : bool
        Whether the printed report shows the fitted regression.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> test = ml.regtest(ml.rma("yi", "vi", data=dat))
    >>> round(test.zval, 4), round(test.pval, 4)
    (-0.8033, 0.4218)
    """

    model: str
    predictor: str
    zval: float
    pval: float
    ddf: float | None
    method: str
    est: float | None
    ci_lb: float | None
    ci_ub: float | None
    fit: Any = field(repr=False)
    ret_fit: bool = False
    digits: int = DEFAULT_DIGITS

    @property
    def dfs(self) -> float | None:
        """Degrees of freedom of the test (metafor's ``dfs``, the same as ``ddf``)."""
        return self.ddf

    def to_frame(self) -> pd.DataFrame:
        """One row: model, predictor, statistic, ddf, pval, est, ci_lb, ci_ub.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.regtest(ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))).to_frame().round(4)
          model predictor  statistic  ddf    pval     est   ci_lb   ci_ub
        0   rma       sei     2.1055  NaN  0.0352  0.0216 -0.1774  0.2207
        """
        nan = float("nan")
        return pd.DataFrame({"model": [self.model], "predictor": [self.predictor], "statistic": [self.zval],
                             "ddf": [nan if self.ddf is None else float(self.ddf)], "pval": [self.pval],
                             "est": [nan if self.est is None else self.est],
                             "ci_lb": [nan if self.ci_lb is None else self.ci_lb],
                             "ci_ub": [nan if self.ci_ub is None else self.ci_ub]})

    def _fit_lines(self) -> list[str]:
        if isinstance(self.fit, RmaFit):
            return RmaSummary(self.fit, showfit=False, digits=self.digits).lines()
        return self.fit.summary().lines()

    def lines(self) -> list[str]:
        """The printed lines (metafor's ``print.regtest``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.regtest(ml.rma("yi", "vi", data=dat)).lines()[1:5]
        ['Regression Test for Funnel Plot Asymmetry', '', 'Model:     mixed-effects meta-regression model', 'Predictor: standard error']
        """
        d = self.digits
        if self.model == "lm":
            head = "Model:     weighted regression with multiplicative dispersion"
        else:
            kind = "fixed-effects" if self.method in ("FE", "EE", "CE") else "mixed-effects"
            head = f"Model:     {kind} meta-regression model"
        out = ["", "Regression Test for Funnel Plot Asymmetry", "", head, f"Predictor: {_LABELS[self.predictor]}"]
        out += self._fit_lines() if self.ret_fit else [""]
        p = fmt_pval(self.pval, d, showeq=True, sep=" ")[0]
        if self.ddf is None:
            out.append(f"Test for Funnel Plot Asymmetry: z = {fcf(self.zval, d)[0]}, p {p}")
        else:
            df = format_num([round(float(self.ddf), 2)], 15)[0].strip()
            out.append(f"Test for Funnel Plot Asymmetry: t = {fcf(self.zval, d)[0]}, df = {df}, p {p}")
        if self.est is not None:
            est, lb, ub = fcf([self.est, self.ci_lb, self.ci_ub], d)
            out.append(f"{_LIMITS[self.predictor]}b = {est} (CI: {lb}, {ub})")
        return out + [""]

    def __str__(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines())


def _predictor_column(predictor: str, vi: np.ndarray, ni: np.ndarray | None) -> tuple[str, np.ndarray]:
    if predictor == "sei":
        return "sei", np.sqrt(vi)
    if predictor == "vi":
        return "vi", vi
    if ni is None:
        raise ArgumentError(f"predictor={predictor!r} needs the sample sizes: give ni (a column of data or "
                            "an array with one sample size per estimate)")
    if np.any(ni <= 0):
        raise ArgumentError(f"ni must be positive for predictor={predictor!r}; offending values: "
                            f"{', '.join(f'{v:g}' for v in ni[ni <= 0][:10])}")
    columns = {"ni": ("ni", ni), "ninv": ("ninv", 1 / ni), "sqrtni": ("ni", np.sqrt(ni)),
               "sqrtninv": ("ni", 1 / np.sqrt(ni))}
    return columns[predictor]


def _design(X: np.ndarray, names: tuple[str, ...]) -> ModeratorsDesign:
    """The design with any column of ones moved to the front as the intercept (as metafor's rma)."""
    is_int = np.all(np.abs(X - 1) < 1e-8, axis=0)
    if not is_int.any():
        return ModeratorsDesign(X, names, None, False, None)
    others = np.flatnonzero(~is_int)
    return ModeratorsDesign(np.column_stack([np.ones(X.shape[0]), X[:, others]]),
                            ("intrcpt", *(names[j] for j in others)), None, True, None)


def regtest(x: Any, model: str = "rma", predictor: str = "sei", ret_fit: bool = False, *, vi: Any = None,
            sei: Any = None, ni: Any = None, data: Any = None) -> RegtestResult:
    r"""Regression test for funnel-plot asymmetry (Egger's test and its variants; metafor's ``regtest``).

    Parameters
    ----------
    x : RmaFit, str or array_like
        A fit from :func:`~multilevel.rma` (its moderators, tau^2 estimator, test, level and
        weights are kept), or effect sizes (a column of ``data`` or an array) given with
        ``vi`` or ``sei`` (then a random-effects model with REML is used).
    model : {"rma", "lm"}
        ``"rma"``: add the predictor to the meta-regression model; ``"lm"``: weighted least
        squares with weights :math:`1/v_i` and a multiplicative dispersion parameter
        (Egger et al.'s original test), a t-test on ``k - p - 1`` degrees of freedom.
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        The predictor: standard errors, sampling variances, sample sizes, their inverses,
        square roots, or inverse square roots.
    ret_fit : bool
        Show the fitted regression in the printed report.
    vi, sei : str or array_like, optional
        Sampling variances or standard errors when ``x`` holds effect sizes.
    ni : str or array_like, optional
        Sample sizes (one per estimate used in the fit), needed by the ``ni`` predictors.
    data : DataFrame, optional
        Table holding the named columns.

    Returns
    -------
    RegtestResult

    Notes
    -----
    The test is the Wald test of :math:`\beta_{p+1}` in

    .. math::

        y_i = x_i^\top \beta + \beta_{p+1}\, a_i + u_i + \varepsilon_i,

    where :math:`a_i` is the predictor (e.g. :math:`\sqrt{v_i}`), fitted as the original model
    (Sterne & Egger, 2005). For the predictors that vanish for an infinitely precise study
    (``sei``, ``vi``, ``ninv``, ``sqrtninv``) in a model without other moderators, the
    intercept is the limit estimate of the effect.

    References
    ----------
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis
    detected by a simple, graphical test. BMJ, 315(7109), 629-634.

    Sterne, J. A. C., & Egger, M. (2005). Regression methods to detect publication and other
    bias in meta-analysis. In H. R. Rothstein, A. J. Sutton, & M. Borenstein (Eds.),
    Publication bias in meta-analysis (pp. 99-110). Wiley.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> print(ml.regtest(ml.rma("yi", "vi", data=dat)))
    <BLANKLINE>
    Regression Test for Funnel Plot Asymmetry
    <BLANKLINE>
    Model:     mixed-effects meta-regression model
    Predictor: standard error
    <BLANKLINE>
    Test for Funnel Plot Asymmetry: z = -0.8033, p = 0.4218
    Limit Estimate (as sei -> 0):   b = -0.5104 (CI: -1.1182, 0.0974)
    <BLANKLINE>
    >>> res = ml.regtest(ml.rma("yi", "vi", data=dat), model="lm")
    >>> round(res.zval, 4), res.ddf
    (-1.4013, 11)
    """
    model = check_choice(model, "model", ("rma", "lm"))
    predictor = check_choice(predictor, "predictor", _PREDICTORS)
    eff = effects_from(x, vi, sei, ni, data, function="regtest")
    fit = eff.fit
    k = eff.yi.shape[0]
    X0 = np.ones((k, 1)) if fit is None else fit.design.X
    names0 = ("intrcpt",) if fit is None else tuple(fit.design.names)
    p = X0.shape[1]
    name, column = _predictor_column(predictor, eff.vi, eff.ni)
    X = np.column_stack([X0, column])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelSpecificationError(f"the model matrix is not of full rank after adding the predictor "
                                      f"{predictor!r}; the test cannot be done")
    limit = predictor in _LIMITS and p == 1 and bool(np.all(np.abs(X0[:, 0] - 1) < 1e-8))
    if model == "rma":
        return _rma_test(eff, fit, X, (*names0, name), p, predictor, limit, bool(ret_fit))
    return _lm_test(eff, X, (*names0, name), p, predictor, limit, bool(ret_fit), fit)


def _rma_test(eff, fit, X, names, p, predictor, limit, ret_fit) -> RegtestResult:
    method = "REML" if fit is None else fit.method
    test = "z" if fit is None else fit.test
    level = 95.0 if fit is None else level_percent(fit.level)
    weights = None if fit is None else fit.weights
    k = eff.yi.shape[0]
    slab = tuple(str(i + 1) for i in range(k)) if fit is None else fit.slab
    data = EffectData(eff.yi, eff.vi, _design(X, names), np.arange(k), None, 0, slab, weights)
    res = _fit(data, method, test, level)
    c = res.coefficients
    est, lb, ub = (float(c[0, 0]), float(c[4, 0]), float(c[5, 0])) if limit else (None, None, None)
    return RegtestResult("rma", predictor, float(c[2, p]), float(c[3, p]), res.ddf, res.method, est, lb, ub,
                         res, ret_fit)


def _lm_test(eff, X, names, p, predictor, limit, ret_fit, fit) -> RegtestResult:
    res = _wls(eff.yi, eff.vi, X, tuple(f"X{n}" for n in names))
    level = 95.0 if fit is None else level_percent(fit.level)
    est = lb = ub = None
    if limit:
        crit = float(-special.stdtrit(res.df_resid, (1 - level / 100) / 2))
        est = float(res.beta[0])
        lb, ub = est - crit * float(res.se[0]), est + crit * float(res.se[0])
    return RegtestResult("lm", predictor, float(res.tval[p]), float(res.pval[p]), res.df_resid, "lm", est, lb, ub,
                         res, ret_fit)
