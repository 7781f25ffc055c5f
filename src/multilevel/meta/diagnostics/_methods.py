"""The diagnostics as methods of the fit classes (thin wrappers over the public functions).

:class:`RmaDiagnostics` is a base of :class:`~multilevel.RmaFit` and :class:`RmaMvDiagnostics`
of :class:`~multilevel.RmaMvFit`. The diagnostics tell the fits apart by the marker bases of
``_kinds`` and so import no fit module.
"""

from __future__ import annotations

from typing import Any

from ._api import cooks_distance, dfbetas, hatvalues, influence, rstandard, rstudent
from ._gosh import gosh
from ._labbe import labbe
from ._permutest import permutest
from ._plots import baujat, qqnorm, radial
from ._sequential import cumul, leave1out
from ._vif import vif
from ._kinds import RmaKind, RmaMvKind

__all__ = ["RmaDiagnostics", "RmaMvDiagnostics"]


class _SharedDiagnostics:
    """Diagnostics shared by rma and rma_mv fits."""

    __slots__ = ()

    def rstandard(self, **options: Any) -> Any:
        """Standardized residuals; see :func:`multilevel.rstandard`."""
        return rstandard(self, **options)

    def hatvalues(self, **options: Any) -> Any:
        """Leverages or the hat matrix; see :func:`multilevel.hatvalues`."""
        return hatvalues(self, **options)

    def cooks_distance(self, **options: Any) -> Any:
        """Cook's distances; see :func:`multilevel.cooks_distance`."""
        return cooks_distance(self, **options)

    def dfbetas(self, **options: Any) -> Any:
        """DFBETAS; see :func:`multilevel.dfbetas`."""
        return dfbetas(self, **options)


class RmaMvDiagnostics(_SharedDiagnostics, RmaMvKind):
    """Diagnostics of rma_mv fits."""

    __slots__ = ()


class RmaDiagnostics(_SharedDiagnostics, RmaKind):
    """Diagnostics of rma fits (metafor's methods for ``rma.uni`` objects)."""

    __slots__ = ()

    def influence(self) -> Any:
        """Case-deletion influence diagnostics; see :func:`multilevel.influence`."""
        return influence(self)

    def rstudent(self) -> Any:
        """Externally studentized residuals; see :func:`multilevel.rstudent`."""
        return rstudent(self)

    def leave1out(self, **options: Any) -> Any:
        """Leave-one-out analysis; see :func:`multilevel.leave1out`."""
        return leave1out(self, **options)

    def cumul(self, **options: Any) -> Any:
        """Cumulative meta-analysis; see :func:`multilevel.cumul`."""
        return cumul(self, **options)

    def baujat(self, **options: Any) -> Any:
        """Baujat plot; see :func:`multilevel.baujat`."""
        return baujat(self, **options)

    def radial(self, **options: Any) -> Any:
        """Radial (Galbraith) plot; see :func:`multilevel.radial`."""
        return radial(self, **options)

    def qqnorm(self, **options: Any) -> Any:
        """Normal QQ plot of the standardized residuals; see :func:`multilevel.qqnorm`."""
        return qqnorm(self, **options)

    def gosh(self, **options: Any) -> Any:
        """GOSH analysis; see :func:`multilevel.gosh`."""
        return gosh(self, **options)

    def vif(self, **options: Any) -> Any:
        """Variance inflation factors; see :func:`multilevel.vif`."""
        return vif(self, **options)

    def permutest(self, **options: Any) -> Any:
        """Permutation test; see :func:`multilevel.permutest`."""
        return permutest(self, **options)

    def labbe(self, **options: Any) -> Any:
        """L'Abbe plot; see :func:`multilevel.labbe`."""
        return labbe(self, **options)
