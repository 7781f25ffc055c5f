"""Equal-effects methods for 2x2 tables and rates: Mantel-Haenszel (``rma_mh``) and Peto (``rma_peto``)."""

from ._fit import rma_mh, rma_peto
from ._result import RmaMhFit, RmaPetoFit

__all__ = ["rma_mh", "rma_peto", "RmaMhFit", "RmaPetoFit"]
