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
============================  ===========================================================

:func:`parse_level` is the one place where a confidence level is read: every
``confint``, ``predict``, ``summary`` and plot that takes a ``level`` calls it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from ._exceptions import ArgumentError

__all__ = ["parse_level", "level_percent", "CONFINT_COLUMNS", "TIDY_COLUMNS", "KINDS", "confint_frame",
           "tidy_frame"]

CONFINT_COLUMNS = ("kind", "estimate", "lower", "upper")
TIDY_COLUMNS = ("term", "kind", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high")
KINDS = ("fixed", "random")


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
