"""Frequentist meta-analysis as metafor.

Subpackages: ``effects`` (``escalc``), ``univariate`` (``rma``), ``multivariate``
(``rma_mv``), ``mh`` (``rma_mh``, ``rma_peto``), ``bias`` (``regtest``, ``ranktest``, ``trimfill``,
``fsn``, ``selmodel``, ``hc``), ``plots``
(``forest``, ``funnel``) and ``shared`` (input handling and metafor's printed layout, used
by all of them).
"""

from .bias import (FsnResult, HcResult, RanktestResult, RegtestResult, RmaTrimfillFit, SelmodelFit,
                   WeightedRegression, fsn, hc, ranktest, regtest, selmodel, trimfill)
from .effects import escalc
from .mh import RmaMhFit, RmaPetoFit, rma_mh, rma_peto
from .multivariate import RmaMvFit, rma_mv
from .plots import forest, funnel
from .univariate import RmaFit, rma

__all__: list[str] = ["escalc", "rma", "RmaFit", "forest", "funnel", "rma_mv", "RmaMvFit", "regtest",
                       "RegtestResult", "WeightedRegression", "ranktest", "RanktestResult", "trimfill",
                       "RmaTrimfillFit", "fsn", "FsnResult", "rma_mh", "RmaMhFit", "rma_peto",
                       "RmaPetoFit", "selmodel", "SelmodelFit", "hc", "HcResult"]
