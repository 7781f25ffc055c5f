"""Univariate random- and fixed-effects meta-analysis and meta-regression (metafor's ``rma``)."""

from typing import TYPE_CHECKING

from ..._lazy import attach

__all__ = ["rma", "RmaFit", "RobustRmaFit"]
__getattr__, __dir__, _ = attach(__name__, {
    "._rma": ("RmaFit", "rma"),
    "._robust": ("RobustRmaFit",),
})

if TYPE_CHECKING:  # static analysers and documentation tools see the eager imports
    from ._rma import RmaFit, rma
    from ._robust import RobustRmaFit
