"""Marker bases of the fit classes, so that the diagnostics tell rma from rma_mv fits without
importing the fit modules (which import the diagnostics as methods).

:class:`RmaKind` is a base of :class:`~multilevel.RmaFit` and :class:`RmaMvKind` of
:class:`~multilevel.RmaMvFit` (through the method mixins of ``_methods``).
"""

from __future__ import annotations

from typing import Any

from ..._exceptions import ArgumentError

__all__ = ["RmaKind", "RmaMvKind", "check_rma"]


class RmaKind:
    """Base of the rma fits."""

    __slots__ = ()


class RmaMvKind:
    """Base of the rma_mv fits."""

    __slots__ = ()


def check_rma(fit: Any, function: str) -> None:
    """An :class:`~multilevel.ArgumentError` unless ``fit`` is an rma fit."""

    if not isinstance(fit, RmaKind):
        raise ArgumentError(f"{function} applies to fits from ml.rma, not to a {type(fit).__name__}")
