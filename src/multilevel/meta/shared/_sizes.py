"""The sizes that :func:`~multilevel.rma` and :func:`~multilevel.rma_mv` fits report alike."""

from __future__ import annotations

__all__ = ["EstimateCounts"]


class EstimateCounts:
    """Mixin: ``nobs``, ``df_resid`` and ``num_params`` of a fit with ``k`` estimates, ``p``
    coefficients and metafor's parameter count ``parms``."""

    __slots__ = ()

    @property
    def nobs(self) -> int:
        """Number of estimates ``k``."""
        return int(self.k)

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom ``k - p``."""
        return int(self.k - self.p)

    @property
    def num_params(self) -> int:
        """Parameters counted by the fit statistics (metafor's ``parms``)."""
        return int(self.parms)
