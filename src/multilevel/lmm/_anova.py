"""Likelihood-ratio comparison of nested linear mixed models (lme4's ``anova(m1, m2, ...)``).

REML fits are refitted by maximum likelihood first (``refit=True``, lme4's
default), since REML criteria of models with different fixed effects are not
comparable. Models are ordered by their number of parameters; each row is
tested against the row above it:

.. math::

    \\chi^2 = D_{k-1} - D_k, \\qquad \\mathrm{df} = p_k - p_{k-1}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy

from .._display import FrameMapping, TextReport
from .._exceptions import ModelSpecificationError
from .._rformat import format_coefmat
from ._deparse import deparse

__all__ = ["AnovaTable", "lmer_anova"]

_COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


@dataclass(frozen=True, eq=False, repr=False)
class AnovaTable(TextReport, FrameMapping):
    """The comparison table; ``to_frame()`` has lme4's columns (``Chisq``, ``Df``, ``Pr(>Chisq)`` ...).

    Examples
    --------
    >>> import multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> m1 = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> m2 = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> ml.anova(m1, m2).to_frame()[["npar", "deviance", "Chisq", "Df"]].round(3)
        npar  deviance   Chisq   Df
    m1   4.0  1794.079     NaN  NaN
    m2   6.0  1751.939  42.139  2.0
    """

    names: tuple[str, ...]
    formulas: tuple[str, ...]
    data_name: str | None
    values: np.ndarray = field()  # field(): dict.values of the FrameMapping base is no default
    refitted: bool

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame, one row per model (columns as R's ``anova``).

        Examples
        --------
        >>> import multilevel as ml
        >>> sleep = ml.datasets.load("sleepstudy")
        >>> m1 = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
        >>> m2 = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
        >>> ml.anova(m1, m2).to_frame()[["npar", "AIC", "Chisq"]].round(3)
            npar       AIC   Chisq
        m1   4.0  1802.079     NaN
        m2   6.0  1763.939  42.139
        """
        return pd.DataFrame(self.values, index=list(self.names), columns=_COLUMNS)

    def __getitem__(self, column: str) -> pd.Series:
        return self.to_frame()[column]

    @property
    def columns(self) -> pd.Index:
        return pd.Index(_COLUMNS)

    def heading(self) -> list[str]:
        """The lines above the table: the data and each model's formula.

        Examples
        --------
        >>> import multilevel as ml
        >>> sleep = ml.datasets.load("sleepstudy")
        >>> m1 = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
        >>> m2 = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
        >>> ml.anova(m1, m2).heading()
        ['Models:', 'm1: Reaction ~ Days + (1 | Subject)', 'm2: Reaction ~ Days + (Days | Subject)']
        """
        lines = [f"Data: {self.data_name}"] if self.data_name else []
        return lines + ["Models:"] + [f"{n}: {f}" for n, f in zip(self.names, self.formulas)]

    def __str__(self) -> str:
        table = format_coefmat(self.values, list(self.names), _COLUMNS, digits=5, cs_ind=(), tst_ind=[5],
                               zap_ind=range(5), na_print="")
        return "\n".join(self.heading() + [table])


def lmer_anova(fits: Sequence, *, refit: bool = True, names: Sequence[str] | None = None) -> AnovaTable:
    """Compare fits of one response on the same rows (see :func:`multilevel.anova`)."""
    fits = list(fits)
    nobs = {f.nobs for f in fits}
    if len(nobs) > 1:
        raise ModelSpecificationError(f"models were not all fitted to the same size of dataset ({sorted(nobs)})")
    responses = {f.frame.response for f in fits}
    if len(responses) > 1:
        raise ModelSpecificationError(f"models have different responses ({', '.join(sorted(responses))})")
    labels = list(names) if names is not None else [f"m{i + 1}" for i in range(len(fits))]
    if len(labels) != len(fits):
        raise ModelSpecificationError(f"names must have one label per model ({len(fits)})")
    refitted = refit and any(f.REML for f in fits)
    if refitted:
        fits = [f.refit(REML=False) if f.REML else f for f in fits]
    order = sorted(range(len(fits)), key=lambda i: fits[i].num_params)
    rows = []
    for pos, i in enumerate(order):
        f = fits[i]
        dev = -2.0 * f.loglik
        row = [f.num_params, f.aic, f.bic, f.loglik, dev, np.nan, np.nan, np.nan]
        if pos:
            prev = rows[-1]
            chisq, df = prev[4] - dev, f.num_params - prev[0]
            p = scipy.stats.chi2.sf(chisq, df) if df > 0 else np.nan
            row[5:] = [chisq, df, p]
        rows.append(row)
    data_names = {f.data_name for f in fits}
    data_name = data_names.pop() if len(data_names) == 1 else None
    return AnovaTable(tuple(labels[i] for i in order), tuple(_deparse(fits[i]) for i in order), data_name,
                      np.array(rows, dtype=float), refitted)


def _deparse(fit) -> str:
    return deparse(fit.formula)
