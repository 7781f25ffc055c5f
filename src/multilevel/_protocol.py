"""The result vocabulary shared by every fit type, and the one parser of confidence levels.

Every fit (``lm``, ``lmer``, ``glmer``, ``rma``, ``rma_mv``, ``brma``, ...) answers the
same verbs with the same types:

============================  ===========================================================
verb                          type
============================  ===========================================================
``params``                    Series of the regression coefficients (index: names as R
                              names them, ``(Intercept)``, ``x``, ``schoolOakwood``)
``vcov()``                    DataFrame, coefficients x coefficients
``loglik``                    float (restricted for REML fits, as R's ``logLik``)
``aic``, ``bic``              float
``nobs``                      int
``df_resid``                  int or float, where defined
``confint(level=0.95)``       DataFrame indexed by term with columns :data:`CONFINT_COLUMNS`
                              (``kind`` is ``"fixed"`` for coefficients and ``"random"``
                              for parameters of the random-effects, heterogeneity or
                              residual distribution)
``predict(newdata)``          pandas object indexed like ``newdata``
``summary()``                 a report printed in the R reference's layout
``tidy()`` / ``to_frame()``   DataFrame with columns :data:`TIDY_COLUMNS` (one row per
                              parameter; Bayesian fits give posterior mean, sd and
                              quantiles with ``statistic`` and ``p_value`` missing)
``fitstats()``                Series ``logLik, deviance, AIC, BIC, AICc`` (NaN where a
                              criterion is not defined, as for Bayesian fits)
============================  ===========================================================

The names of the coefficients are R's model-matrix names (``(Intercept)``, ``x``,
``allocrandom``) in every fit type; printed reports keep the names of their R reference
(metafor prints ``intrcpt``), see :func:`r_coef_names`. Fields named as in R (``fixef``,
``beta``, ``vb``, ``I2``) stay available beside the verbs.

:func:`parse_level` is the one place where a confidence level is read: every
``confint``, ``predict``, ``summary`` and plot that takes a ``level`` calls it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from ._exceptions import ArgumentError

__all__ = ["parse_level", "level_percent", "CONFINT_COLUMNS", "TIDY_COLUMNS", "KINDS", "FITSTATS_INDEX",
           "confint_frame", "tidy_frame", "wald_tidy", "stack_frames", "r_coef_names", "fitstats_series", "FitProtocol"]

CONFINT_COLUMNS = ("kind", "estimate", "lower", "upper")
TIDY_COLUMNS = ("term", "kind", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high")
KINDS = ("fixed", "random", "selection")  # selection: weight-function parameters of selection models
FITSTATS_INDEX = ("logLik", "deviance", "AIC", "BIC", "AICc")
METAFOR_INTERCEPT = "intrcpt"


def parse_level(level, *, name: str = "level") -> float:
    """A confidence level as a proportion in (0, 1).

    Proportions (``0 < level < 1``) and percentages (``1 < level < 100``) are accepted, as
    metafor accepts them; anything else (1, 0, 100, negative, NaN, not a number) raises
    :class:`~multilevel.ArgumentError`.

    Examples
    --------
    >>> parse_level(0.9), parse_level(90), parse_level(99.5)
    (0.9, 0.9, 0.995)
    >>> parse_level(1)
    Traceback (most recent call last):
    ...
    multilevel._exceptions.ArgumentError: level must be a proportion (0 < level < 1, e.g. 0.95) or a percentage (1 < level < 100, e.g. 95), not 1
    """
    if isinstance(level, bool) or not isinstance(level, (numbers.Real, np.floating, np.integer)):
        raise ArgumentError(f"{name} must be a number such as 0.95 or 95, not {level!r}")
    value = float(level)
    if math.isfinite(value) and 0 < value < 1:
        return value
    if math.isfinite(value) and 1 < value < 100:
        return value / 100.0
    raise ArgumentError(f"{name} must be a proportion (0 < {name} < 1, e.g. 0.95) or a percentage "
                        f"(1 < {name} < 100, e.g. 95), not {level!r}")


def level_percent(level, *, name: str = "level") -> float:
    """:func:`parse_level` in percent (``95.0`` for 0.95 or 95), for metafor-style code.

    Examples
    --------
    >>> level_percent(0.95), level_percent(90)
    (95.0, 90.0)
    """
    return round(parse_level(level, name=name) * 100.0, 12)


def confint_frame(terms, kinds, estimates, lower, upper, *, level: float, method: str) -> pd.DataFrame:
    """A ``confint()`` table: index ``term``, columns :data:`CONFINT_COLUMNS`;
    ``attrs`` carry ``level`` (a proportion) and ``method``."""
    out = pd.DataFrame({"kind": list(kinds), "estimate": np.asarray(estimates, dtype=float),
                        "lower": np.asarray(lower, dtype=float), "upper": np.asarray(upper, dtype=float)},
                       index=pd.Index(list(terms), name="term"))
    out.attrs.update(level=float(level), method=str(method))
    return out


def tidy_frame(terms, kinds, estimate, std_error=None, statistic=None, p_value=None, conf_low=None,
               conf_high=None, *, level: float, **extra) -> pd.DataFrame:
    """A ``tidy()`` table with columns :data:`TIDY_COLUMNS` (missing columns are NaN), then ``extra``."""
    n = len(terms)

    def col(values):
        return np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)

    data = {"term": list(terms), "kind": list(kinds), "estimate": col(estimate), "std_error": col(std_error),
            "statistic": col(statistic), "p_value": col(p_value), "conf_low": col(conf_low),
            "conf_high": col(conf_high)}
    data.update(extra)
    out = pd.DataFrame(data)
    out.attrs.update(level=float(level))
    return out


def wald_tidy(terms, estimate, std_error, *, level: float, df=None, kinds=None) -> pd.DataFrame:
    """A :func:`tidy_frame` of Wald tests: ``statistic = estimate / std_error``, two-sided
    p-values and intervals from the t distribution on ``df`` degrees of freedom (one number or
    one per term), or from the normal distribution when ``df`` is None."""
    from scipy import stats

    est, se = np.asarray(estimate, dtype=float), np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    if df is None:
        p, q = 2.0 * stats.norm.sf(np.abs(stat)), stats.norm.ppf(0.5 + level / 2)
    else:
        df = np.broadcast_to(np.asarray(df, dtype=float), est.shape)
        with np.errstate(invalid="ignore"):
            p, q = 2.0 * stats.t.sf(np.abs(stat), df), stats.t.ppf(0.5 + level / 2, df)
    kinds = ["fixed"] * len(est) if kinds is None else kinds
    return tidy_frame(list(terms), kinds, est, se, stat, p, est - q * se, est + q * se, level=level)


def stack_frames(frames, *, level: float) -> pd.DataFrame:
    """Rows of several :func:`tidy_frame` tables, one after the other (index 0, 1, ...)."""
    frames = list(frames)
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    data = {c: np.concatenate([f[c].to_numpy() if c in f else np.full(len(f), np.nan) for f in frames])
            for c in columns}
    out = pd.DataFrame(data)
    out.attrs.update(level=float(level))
    return out


def r_coef_names(names, *, intercept: bool = True) -> list[str]:
    """Coefficient names as R's ``model.matrix`` gives them: metafor's ``intrcpt`` (the first
    column of a design with an intercept) becomes ``(Intercept)``; other names are kept.

    Examples
    --------
    >>> r_coef_names(["intrcpt", "ablat"])
    ['(Intercept)', 'ablat']
    """
    names = [str(n) for n in names]
    if intercept and names and names[0] == METAFOR_INTERCEPT:
        names[0] = "(Intercept)"
    return names


def fitstats_series(loglik: float, deviance: float, num_params: int, nobs: float, *,
                    name: str = "ML") -> pd.Series:
    r"""``fitstats()``: logLik, deviance, AIC, BIC and AICc (metafor's small-sample AIC,
    :math:`-2\ell + 2 k m / (m - k - 1)` with :math:`m = \max(n, k + 2)`)."""
    ll, k, n = float(loglik), float(num_params), float(nobs)
    m = max(n, k + 2)
    values = [ll, float(deviance), -2 * ll + 2 * k, -2 * ll + math.log(n) * k if n > 0 else math.nan,
              -2 * ll + 2 * k * m / (m - k - 1)]
    return pd.Series(values, index=list(FITSTATS_INDEX), name=name, dtype=float)


class FitProtocol:
    """Mixin of the verbs that every fit derives the same way from the others.

    A fit supplies ``params``, ``vcov()``, ``loglik``, ``num_params`` (the ``df`` of R's
    ``logLik``), ``nobs``, ``confint()`` and ``tidy()``; the mixin adds ``aic``, ``bic``,
    ``fitstats()`` and ``to_frame()`` (the tidy table). Classes that know these numbers
    otherwise (metafor's fit statistics) override them.
    """

    __slots__ = ()

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 loglik + 2 num_params``."""
        return -2.0 * self.loglik + 2.0 * self.num_params

    @property
    def bic(self) -> float:
        """Schwarz's criterion, ``-2 loglik + log(nobs) num_params``."""
        return -2.0 * self.loglik + math.log(self.nobs) * self.num_params

    def fitstats(self) -> pd.Series:
        """logLik, deviance, AIC, BIC and AICc as a Series (see :func:`fitstats_series`)."""
        return fitstats_series(self.loglik, -2.0 * self.loglik, self.num_params, self.nobs,
                               name="REML" if getattr(self, "REML", False) else "ML")

    def to_frame(self) -> pd.DataFrame:
        """The tidy table of the fit (:meth:`tidy` at its default level)."""
        return self.tidy()
