"""Influence diagnostics of :func:`~multilevel.rma` fits (metafor's ``influence.rma.uni`` and friends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError, ModelSpecificationError
from ..shared._format import DEFAULT_DIGITS
from ._case import (CaseDeletion, case_deletion, flag_influential, hat_diagonal, hat_matrix, standardized,
                    weights_percent)
from ._kinds import check_rma
from ._plot_tables import plot_influence
from ._refit import spec_of
from ._tables import (StandardizedResiduals, list_rma_lines, metafor_names, named_blocks, numeric_frame,
                      r_column_names)

__all__ = ["InfluenceDiagnostics", "influence_rma", "rstandard_rma", "rstudent_rma", "hatvalues_rma",
           "cooks_distance_rma", "dfbetas_rma", "weights_rma", "case_deletion_of", "check_rma"]

_COLUMNS = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight")
_LABELS = ("rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat", "weight")


def _check_fit(fit: Any, function: str) -> None:
    check_rma(fit, function)
    if fit.k == 1:
        raise ModelSpecificationError(f"{function}: the fit has a single study (k = 1); nothing to delete")


def case_deletion_of(fit: Any) -> CaseDeletion:
    """The case-deletion arrays of an rma fit (computed once per call)."""
    return case_deletion(spec_of(fit), np.asarray(fit.coefficients[0]), np.asarray(fit.vcov_array), fit.tau2)


@dataclass(frozen=True, eq=False, repr=False)
class InfluenceDiagnostics(TextReport, FrameMapping):
    """Case-deletion diagnostics of an rma fit (metafor's ``influence``), one row per study.

    Attributes
    ----------
    names : tuple of str
        Coefficient names (the columns of :attr:`dfbetas`).
    is_infl : numpy.ndarray of bool
        metafor's flag: ``|dffits| > 3 sqrt(p/(k-p))``, ``pchisq(cook.d, p) > 0.5``,
        ``hat > 3 p/k`` or any ``|dfbetas| > 1``.
    k, p : int
        Studies and coefficients of the fit.
    tau2, QE : float
        tau^2 and the heterogeneity statistic of the full fit (reference lines of the plot).

    Notes
    -----
    :meth:`to_frame` has the columns ``rstudent, dffits, cook_d, cov_r, tau2_del, QE_del, hat,
    weight, inf``; :attr:`dfbetas` the DFBETAS. ``str()`` prints as metafor, with ``*`` marking
    influential studies.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> inf = ml.influence(ml.rma("yi", "vi", data=dat))
    >>> inf.to_frame()[["rstudent", "cook_d"]].round(4).head(2)
       rstudent  cook_d
    1   -0.2181  0.0017
    2   -1.2918  0.1132
    """

    frame: pd.DataFrame = field(repr=False)
    dfbetas_frame: pd.DataFrame = field(repr=False)
    is_infl: np.ndarray = field(repr=False)
    names: tuple[str, ...] = ()
    k: int = 0
    p: int = 0
    tau2: float = 0.0
    QE: float = 0.0
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """The diagnostics (``rstudent`` ... ``weight``) and the ``inf`` flag, indexed by study.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> inf = ml.influence(ml.rma("yi", "vi", data=dat))
        >>> inf.to_frame()["hat"].round(4).head(2)
        1    0.0506
        2    0.0636
        Name: hat, dtype: float64
        """
        out = self.frame.copy()
        out["inf"] = self.is_infl.copy()
        return out

    @property
    def dfbetas(self) -> pd.DataFrame:
        """DFBETAS, one column per coefficient."""
        return self.dfbetas_frame.copy()

    def _flags(self) -> pd.Series:
        return pd.Series(np.where(self.is_infl, "*", ""), index=self.frame.index, dtype=object)

    def __str__(self) -> str:
        if self.p == 1:
            frame = self.frame.copy()
            frame["dfbs"] = self.dfbetas_frame.iloc[:, 0].to_numpy()
            frame["inf"] = self._flags()
            return "\n".join(list_rma_lines(frame, [*_LABELS, "dfbs", "inf"], digits=self.digits))
        frame = self.frame.copy()
        frame["inf"] = self._flags()
        first = list_rma_lines(frame, [*_LABELS, "inf"], digits=self.digits, trailing_blank=False)
        second = list_rma_lines(self.dfbetas_frame, r_column_names(metafor_names(self.names)), digits=self.digits,
                                trailing_blank=False)
        return named_blocks([("inf", first), ("dfbs", second)])

    def plot(self, **options: Any) -> Any:
        """metafor's ``plot(influence(fit))`` panels; see :func:`multilevel.meta.diagnostics.plot_influence`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fig = ml.influence(ml.rma("yi", "vi", data=dat)).plot()
        >>> len(fig.axes)
        8
        """
        return plot_influence(self, **options)


def influence_rma(fit: Any) -> InfluenceDiagnostics:
    """Influence diagnostics of an rma fit (see :func:`multilevel.influence`)."""
    _check_fit(fit, "influence")
    cd = case_deletion_of(fit)
    slab = list(fit.slab)
    frame = numeric_frame({c: getattr(cd, c) for c in _COLUMNS}, slab)
    names = tuple(fit.design.names)
    dfbs = pd.DataFrame(cd.dfbetas, index=pd.Index(slab), columns=list(names))
    flags = flag_influential(cd, fit.k, fit.p)
    return InfluenceDiagnostics(frame, dfbs, flags, names, fit.k, fit.p, float(fit.tau2), float(fit.QE))


def rstandard_rma(fit: Any, type: str = "marginal") -> StandardizedResiduals:
    """Internally standardized residuals of an rma fit (see :func:`multilevel.rstandard`)."""
    check_rma(fit, "rstandard")
    if type not in ("marginal", "conditional"):
        raise ArgumentError(f"type must be 'marginal' or 'conditional', not {type!r}")
    if type == "conditional" and fit.weights is not None:
        raise ModelSpecificationError("conditional residuals are not available for fits with user weights")
    ei, sei, z = standardized(fit.yi, fit.vi, fit.design.X, np.asarray(fit.coefficients[0]), fit.tau2, fit.weights,
                              conditional=type == "conditional")
    frame = numeric_frame({"resid": ei, "se": sei, "z": z}, list(fit.slab))
    return StandardizedResiduals(frame, ("resid", "se", "z"))


def rstudent_rma(fit: Any) -> StandardizedResiduals:
    """Externally studentized (deleted) residuals of an rma fit (see :func:`multilevel.rstudent`)."""
    _check_fit(fit, "rstudent")
    cd = case_deletion_of(fit)
    frame = numeric_frame({"resid": cd.resid, "se": cd.se_resid, "z": cd.rstudent}, list(fit.slab))
    return StandardizedResiduals(frame, ("resid", "se", "z"))


def hatvalues_rma(fit: Any, type: str = "diagonal") -> pd.Series | pd.DataFrame:
    """Leverages (diagonal of the hat matrix) of an rma fit, indexed by study, or the whole matrix."""
    check_rma(fit, "hatvalues")
    labels = pd.Index(list(fit.slab))
    if type == "matrix":
        return pd.DataFrame(hat_matrix(fit.design.X, fit.vi, fit.tau2, fit.weights), index=labels, columns=labels)
    h = hat_diagonal(fit.design.X, fit.vi, fit.tau2, fit.weights)
    return pd.Series(h, index=labels, name="hat")


def weights_rma(fit: Any) -> pd.Series:
    """Weights (in percent) of the studies in an rma fit, indexed by study."""
    return pd.Series(weights_percent(fit.vi, fit.tau2, fit.weights), index=pd.Index(list(fit.slab)), name="weight")


def cooks_distance_rma(fit: Any) -> pd.Series:
    """Cook's distances of an rma fit, indexed by study."""
    _check_fit(fit, "cooks_distance")
    return pd.Series(case_deletion_of(fit).cook_d, index=pd.Index(list(fit.slab)), name="cook_d")


def dfbetas_rma(fit: Any) -> pd.DataFrame:
    """DFBETAS of an rma fit, one column per coefficient."""
    _check_fit(fit, "dfbetas")
    return pd.DataFrame(case_deletion_of(fit).dfbetas, index=pd.Index(list(fit.slab)),
                        columns=list(fit.design.names))
