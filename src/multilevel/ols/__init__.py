"""Ordinary least squares baselines: :func:`lm` (R's ``lm``) and :func:`lm_list` (lme4's ``lmList``)."""

from ._lm import FStatistic, LinearModel, lm
from ._lmlist import LmList, lm_list
from ._plots import plot_lm, plot_lm_list, plot_residuals
from ._summary import LinearModelSummary

__all__ = ["lm", "lm_list", "LinearModel", "LmList", "LinearModelSummary", "FStatistic",
           "plot_lm", "plot_lm_list", "plot_residuals"]
