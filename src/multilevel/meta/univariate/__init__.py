"""Univariate random- and fixed-effects meta-analysis and meta-regression (metafor's ``rma``)."""

from ._rma import RmaFit, rma

__all__ = ["rma", "RmaFit"]
