"""Multilevel and multivariate meta-analysis (metafor's ``rma.mv``)."""

from typing import TYPE_CHECKING

from ..._lazy import attach

__all__ = ["rma_mv", "RmaMvFit", "RobustRmaMvFit"]
__getattr__, __dir__, _ = attach(__name__, {
    "._result": ("RmaMvFit",),
    "._robust_fit": ("RobustRmaMvFit",),
    "._rma_mv": ("rma_mv",),
})

if TYPE_CHECKING:  # static analysers and documentation tools see the eager imports
    from ._result import RmaMvFit
    from ._robust_fit import RobustRmaMvFit
    from ._rma_mv import rma_mv
