"""Multilevel and multivariate meta-analysis (metafor's ``rma.mv``)."""

from ._result import RmaMvFit
from ._rma_mv import rma_mv

__all__ = ["rma_mv", "RmaMvFit"]
