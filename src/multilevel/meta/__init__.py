"""meta subpackage: frequentist meta-analysis as metafor (effect sizes, ``rma``, ``rma_mv``)."""

from ._escalc import escalc
from ._forest import forest
from ._funnel import funnel
from ._rma import RmaFit, rma
from ._rma_mv import rma_mv
from ._mv_result import RmaMvFit

__all__: list[str] = ["escalc", "rma", "RmaFit", "forest", "funnel", "rma_mv", "RmaMvFit"]
