"""Frequentist meta-analysis as metafor.

Subpackages: ``effects`` (``escalc``), ``univariate`` (``rma``), ``multivariate``
(``rma_mv``), ``mh`` (``rma_mh``, ``rma_peto``), ``glmm_2x2`` (``rma_glmm``), ``bias`` (``regtest``, ``ranktest``, ``trimfill``,
``fsn``, ``selmodel``, ``hc``), ``plots`` (``forest``, ``funnel``), ``diagnostics`` (``influence``,
``leave1out``, ``cumul``, ``gosh``, ``permutest`` ...) and ``shared`` (input handling and metafor's
printed layout, used by all of them).
"""

from .bias import (FsnResult, HcResult, RanktestResult, RegtestResult, RmaTrimfillFit, SelmodelFit,
                   WeightedRegression, fsn, hc, ranktest, regtest, selmodel, trimfill)
from .diagnostics import (ClusterResiduals, CumulativeResults, GoshResult, InfluenceDiagnostics, LeaveOneOut,
                          PermutationTest, StandardizedResiduals, VifResult, baujat, cooks_distance, cumul, dfbetas,
                          gosh, hatvalues, influence, labbe, leave1out, permutest, qqnorm, radial, rstandard, rstudent, vif)
from .effects import escalc
from .glmm_2x2 import RmaGlmmFit, rma_glmm
from .mh import RmaMhFit, RmaPetoFit, rma_mh, rma_peto
from .multivariate import RmaMvFit, RobustRmaMvFit, rma_mv
from .plots import forest, funnel
from .univariate import RmaFit, RobustRmaFit, rma

__all__: list[str] = ["escalc", "rma", "RmaFit", "forest", "funnel", "rma_mv", "RmaMvFit", "regtest",
                       "RegtestResult", "WeightedRegression", "ranktest", "RanktestResult", "trimfill",
                       "RmaTrimfillFit", "fsn", "FsnResult", "rma_mh", "RmaMhFit", "rma_peto",
                       "RmaPetoFit", "selmodel", "SelmodelFit", "hc", "HcResult", "influence", "InfluenceDiagnostics", "leave1out",
                       "LeaveOneOut", "cumul", "CumulativeResults", "rstandard", "rstudent", "StandardizedResiduals",
                       "ClusterResiduals", "hatvalues", "cooks_distance", "dfbetas", "baujat", "radial", "qqnorm",
                       "gosh", "GoshResult", "vif", "VifResult", "permutest", "PermutationTest", "labbe", "rma_glmm", "RmaGlmmFit",
                       "RobustRmaFit", "RobustRmaMvFit"]
