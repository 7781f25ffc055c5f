"""Meta-analysis of 2x2 tables by logistic mixed models (metafor's ``rma.glmm``)."""

from ._fit import rma_glmm
from ._result import RmaGlmmFit, RmaGlmmSummary

__all__ = ["rma_glmm", "RmaGlmmFit", "RmaGlmmSummary"]
