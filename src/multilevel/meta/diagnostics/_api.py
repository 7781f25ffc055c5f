"""Public diagnostic functions: one entry point per metafor generic, dispatching on the fit type."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..._exceptions import ArgumentError
from . import _influence as uni, _mv as mv
from ._kinds import RmaMvKind

__all__ = ["influence", "rstandard", "rstudent", "hatvalues", "cooks_distance", "dfbetas"]


def _is_mv(fit: Any) -> bool:
    return isinstance(fit, RmaMvKind)


def _no_cluster(fit: Any, cluster: Any, function: str) -> None:
    if cluster is not None and not _is_mv(fit):
        raise ArgumentError(f"{function}: cluster= applies to rma_mv fits; an rma fit has independent estimates")


def influence(fit: Any) -> uni.InfluenceDiagnostics:
    r"""Case-deletion influence diagnostics of an :func:`~multilevel.rma` fit (metafor's ``influence``).

    Each study is deleted in turn and the model refitted (Viechtbauer & Cheung, 2010).

    Parameters
    ----------
    fit : RmaFit

    Returns
    -------
    InfluenceDiagnostics
        Externally studentized residuals, DFFITS, Cook's distances
        :math:`D_i = (\hat\beta - \hat\beta_{(i)})^\top V^{-1}(\hat\beta - \hat\beta_{(i)})`, covariance
        ratios, leave-one-out :math:`\hat\tau^2_{(i)}` and :math:`Q_{(i)}`, leverages, weights (%),
        DFBETAS and metafor's flag of influential studies; ``print`` shows metafor's table and
        ``.plot()`` its panels.

    References
    ----------
    Viechtbauer, W., & Cheung, M. W.-L. (2010). Outlier and influence diagnostics for
    meta-analysis. Research Synthesis Methods, 1(2), 112-125.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> inf = ml.influence(ml.rma("yi", "vi", data=dat))
    >>> inf.to_frame()[["cook_d", "hat", "inf"]].round(4).head(3)
       cook_d     hat    inf
    1  0.0017  0.0506  False
    2  0.1132  0.0636  False
    3  0.0260  0.0444  False
    """
    return uni.influence_rma(fit)


def rstandard(fit: Any, *, type: str = "marginal", cluster: Any = None) -> Any:
    r"""Internally standardized residuals (metafor's ``rstandard``).

    Parameters
    ----------
    fit : RmaFit or RmaMvFit
    type : {"marginal", "conditional"}
        For rma fits: residuals :math:`y_i - x_i^\top\hat\beta` (marginal) or
        :math:`y_i - \hat\theta_i` from the BLUPs (conditional).
    cluster : str or array_like, optional
        For rma_mv fits: a column of the fit's data (or one value per estimate); each
        cluster's residuals are also tested jointly,
        :math:`X^2_j = e_j^\top \mathrm{Var}(e_j)^{-1} e_j`.

    Returns
    -------
    StandardizedResiduals or ClusterResiduals
        ``resid, se, z`` per estimate; with ``cluster`` the cluster statistics ``X2, k``.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ml.rstandard(ml.rma("yi", "vi", data=dat)).to_frame().round(4).head(2)
        resid      se       z
    1 -0.1748  0.7788 -0.2244
    2 -0.8709  0.6896 -1.2629
    """
    if _is_mv(fit):
        mv.check_mv_cluster(cluster)
        return mv.rstandard_mv(fit, cluster)
    _no_cluster(fit, cluster, "rstandard")
    return uni.rstandard_rma(fit, type)


def rstudent(fit: Any) -> uni.StandardizedResiduals:
    r"""Externally studentized (deleted) residuals of an :func:`~multilevel.rma` fit (metafor's ``rstudent``).

    :math:`(y_i - x_i^\top\hat\beta_{(i)}) / \sqrt{s^2_{w(i)}(v_i + \hat\tau^2_{(i)}) + x_i^\top V_{(i)} x_i}`,
    with the model refitted without study :math:`i`.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ml.rstudent(ml.rma("yi", "vi", data=dat)).to_frame()["z"].round(4).head(2)
    1   -0.2181
    2   -1.2918
    Name: z, dtype: float64
    """
    return uni.rstudent_rma(fit)


def hatvalues(fit: Any, *, type: str = "diagonal") -> pd.Series | pd.DataFrame:
    r"""Leverages: the diagonal of :math:`H = X (X^\top W X)^{-1} X^\top W` (metafor's ``hatvalues``).

    :math:`W` is :math:`\mathrm{diag}(1/(v_i + \hat\tau^2))` for rma fits (or the user weights)
    and :math:`M^{-1}` for rma_mv fits.

    Parameters
    ----------
    fit : RmaFit or RmaMvFit
    type : {"diagonal", "matrix"}
        The leverages :math:`h_{ii}` (set to 1 within :math:`10\epsilon` of 1, as R's
        ``lm.influence``) or the whole hat matrix :math:`H`.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        Indexed (and, for the matrix, with columns) by the estimates' labels.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ml.hatvalues(ml.rma("yi", "vi", data=dat)).round(4).head(2)
    1    0.0506
    2    0.0636
    Name: hat, dtype: float64
    >>> ml.hatvalues(ml.rma("yi", "vi", data=dat), type="matrix").shape
    (13, 13)
    """
    if type not in ("diagonal", "matrix"):
        raise ArgumentError(f"hatvalues: type must be 'diagonal' or 'matrix', not {type!r}")
    return mv.hatvalues_mv(fit, type) if _is_mv(fit) else uni.hatvalues_rma(fit, type)


def cooks_distance(fit: Any, *, cluster: Any = None) -> pd.Series:
    r"""Cook's distances (metafor's ``cooks.distance``), per study or, for rma_mv fits, per cluster.

    :math:`D_j = (\hat\beta - \hat\beta_{(j)})^\top V^{-1} (\hat\beta - \hat\beta_{(j)})`, with the
    model refitted without estimate (or cluster) :math:`j`; clusters are sorted by their values.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=ml.datasets.load("konstantopoulos2011"))
    >>> ml.cooks_distance(fit, cluster="district").round(4).head(3)
    11    0.0694
    12    0.0162
    18    0.0420
    Name: cook_d, dtype: float64
    """
    if _is_mv(fit):
        mv.check_mv_cluster(cluster)
        return mv.cooks_distance_mv(fit, cluster)
    _no_cluster(fit, cluster, "cooks_distance")
    return uni.cooks_distance_rma(fit)


def dfbetas(fit: Any, *, cluster: Any = None) -> pd.DataFrame:
    r"""DFBETAS: the change in each coefficient when a study (or cluster) is deleted, in standard errors.

    As metafor's ``dfbetas``: for rma fits the denominator is the full-data covariance at the
    deleted :math:`\hat\tau^2_{(i)}` (times :math:`s^2_{w(i)}` under Knapp-Hartung); for rma_mv fits
    at the deleted variance components.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ml.dfbetas(ml.rma("yi", "vi", data=dat, mods="~ ablat")).round(4).head(2)
       intrcpt   ablat
    1   0.0065  0.0224
    2   0.1409 -0.1933
    """
    if _is_mv(fit):
        mv.check_mv_cluster(cluster)
        return mv.dfbetas_mv(fit, cluster)
    _no_cluster(fit, cluster, "dfbetas")
    return uni.dfbetas_rma(fit)
