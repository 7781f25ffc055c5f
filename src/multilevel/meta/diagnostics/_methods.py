"""The diagnostics as methods of the fit classes (thin wrappers over the public functions).

:class:`RmaDiagnostics` is a base of :class:`~multilevel.RmaFit` and :class:`RmaMvDiagnostics`
of :class:`~multilevel.RmaMvFit`. This module imports nothing at load time, so that the fit
modules can import it without a cycle.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RmaDiagnostics", "RmaMvDiagnostics"]


class RmaMvDiagnostics:
    """Diagnostics shared by rma and rma_mv fits."""

    __slots__ = ()

    def rstandard(self, **options: Any) -> Any:
        """Standardized residuals; see :func:`multilevel.rstandard`."""
        from ._api import rstandard

        return rstandard(self, **options)

    def hatvalues(self) -> Any:
        """Leverages; see :func:`multilevel.hatvalues`."""
        from ._api import hatvalues

        return hatvalues(self)

    def cooks_distance(self, **options: Any) -> Any:
        """Cook's distances; see :func:`multilevel.cooks_distance`."""
        from ._api import cooks_distance

        return cooks_distance(self, **options)

    def dfbetas(self, **options: Any) -> Any:
        """DFBETAS; see :func:`multilevel.dfbetas`."""
        from ._api import dfbetas

        return dfbetas(self, **options)


class RmaDiagnostics(RmaMvDiagnostics):
    """Diagnostics of rma fits (metafor's methods for ``rma.uni`` objects)."""

    __slots__ = ()

    def influence(self) -> Any:
        """Case-deletion influence diagnostics; see :func:`multilevel.influence`."""
        from ._api import influence

        return influence(self)

    def rstudent(self) -> Any:
        """Externally studentized residuals; see :func:`multilevel.rstudent`."""
        from ._api import rstudent

        return rstudent(self)

    def leave1out(self, **options: Any) -> Any:
        """Leave-one-out analysis; see :func:`multilevel.leave1out`."""
        from ._sequential import leave1out

        return leave1out(self, **options)

    def cumul(self, **options: Any) -> Any:
        """Cumulative meta-analysis; see :func:`multilevel.cumul`."""
        from ._sequential import cumul

        return cumul(self, **options)

    def baujat(self, **options: Any) -> Any:
        """Baujat plot; see :func:`multilevel.baujat`."""
        from ._plots import baujat

        return baujat(self, **options)

    def radial(self, **options: Any) -> Any:
        """Radial (Galbraith) plot; see :func:`multilevel.radial`."""
        from ._plots import radial

        return radial(self, **options)

    def qqnorm(self, **options: Any) -> Any:
        """Normal QQ plot of the standardized residuals; see :func:`multilevel.qqnorm`."""
        from ._plots import qqnorm

        return qqnorm(self, **options)

    def gosh(self, **options: Any) -> Any:
        """GOSH analysis; see :func:`multilevel.gosh`."""
        from ._gosh import gosh

        return gosh(self, **options)

    def vif(self, **options: Any) -> Any:
        """Variance inflation factors; see :func:`multilevel.vif`."""
        from ._vif import vif

        return vif(self, **options)

    def permutest(self, **options: Any) -> Any:
        """Permutation test; see :func:`multilevel.permutest`."""
        from ._permutest import permutest

        return permutest(self, **options)

    def labbe(self, **options: Any) -> Any:
        """L'Abbe plot; see :func:`multilevel.labbe`."""
        from ._labbe import labbe

        return labbe(self, **options)
