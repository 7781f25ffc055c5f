"""Leave-one-out and cumulative meta-analysis of intercept-only :func:`~multilevel.rma` fits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..._data import check_columns
from ..._exceptions import ArgumentError, DataError, ModelSpecificationError
from ._kinds import check_rma
from ._batch import batch_refit
from ._case import leave_one_out_fits
from ._refit import Refit, spec_of
from ._tables import CumulativeResults, LeaveOneOut

__all__ = ["leave1out", "cumul"]

_FIELDS = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2")


def _intercept_only(fit: Any, function: str) -> None:
    check_rma(fit, function)
    if not fit.int_only:
        raise ModelSpecificationError(f"{function} applies to models without moderators; the fit has "
                                      f"moderators {', '.join(fit.design.names[1:])}")


def _row(res: Refit | None) -> list[float]:
    if res is None:
        return [np.nan] * len(_FIELDS)
    return [float(res.beta[0]), float(res.se[0]), float(res.zval[0]), float(res.pval[0]), float(res.ci_lb[0]),
            float(res.ci_ub[0]), res.QE, res.QEp, res.tau2, res.I2, res.H2]


def _frame(rows: list[list[float]], index: list[str], fit: Any, transf: Callable | None,
           pval_label: str) -> tuple[pd.DataFrame, list[str | None]]:
    frame = pd.DataFrame(np.array(rows, dtype=float).reshape(-1, len(_FIELDS)), columns=list(_FIELDS),
                         index=pd.Index(index))
    labels = ["estimate", "se", "tval" if fit.test == "knha" else "zval", pval_label, "ci.lb", "ci.ub", "Q", "Qp",
              "tau2", "I2", "H2"]
    if fit.test == "knha":
        frame = frame.rename(columns={"zval": "tval"})
    if transf is not None:
        for col in ("estimate", "ci_lb", "ci_ub"):
            frame[col] = np.asarray([transf(v) for v in frame[col]], dtype=float)
        frame["se"] = np.nan
        lo, hi = frame["ci_lb"].to_numpy(), frame["ci_ub"].to_numpy()
        frame["ci_lb"], frame["ci_ub"] = np.fmin(lo, hi), np.fmax(lo, hi)
    if fit.fixed_model:
        frame = frame.drop(columns="tau2")
        labels.remove("tau2")
    if transf is not None:
        labels[1] = None
    return frame, labels


def leave1out(fit: Any, *, transf: Callable[[float], float] | None = None) -> LeaveOneOut:
    r"""Leave-one-out analysis: the model refitted without each study in turn (metafor's ``leave1out``).

    Parameters
    ----------
    fit : RmaFit
        An intercept-only :func:`~multilevel.rma` fit.
    transf : callable, optional
        Applied to the estimates and confidence limits (e.g. ``np.exp``); the standard errors
        are then not shown.

    Returns
    -------
    LeaveOneOut
        One row per omitted study: the pooled estimate :math:`\hat\mu_{(i)}` with its test
        and interval, :math:`Q_{(i)}`, :math:`\hat\tau^2_{(i)}`, :math:`I^2_{(i)}`, :math:`H^2_{(i)}`.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> ml.leave1out(ml.rma("yi", "vi", data=dat)).to_frame()["estimate"].round(4).head(3)
    1   -0.7071
    2   -0.6540
    3   -0.6856
    Name: estimate, dtype: float64
    """
    _intercept_only(fit, "leave1out")
    _check_transf(transf)
    if fit.k == 1:
        raise ModelSpecificationError("leave1out: the fit has a single study (k = 1)")
    rows = [_row(res) for res in leave_one_out_fits(spec_of(fit))]
    frame, labels = _frame(rows, list(fit.slab), fit, transf, "pval")
    return LeaveOneOut(frame, tuple(labels))


def _order(order: Any, data: Any, k: int, fit: Any) -> np.ndarray:
    """The values by which the studies are added: a column of ``data`` or one value per study."""
    if order is None:
        return np.arange(k)
    if isinstance(order, str):
        if data is None:
            raise DataError(f"order is given as the column name {order!r} but no data were given")
        frame = pd.DataFrame(data)
        check_columns(frame, [order], context="order argument")
        values = frame[order].to_numpy()
    else:
        values = np.asarray(order)
    if values.ndim != 1 or values.shape[0] != k + fit.num_dropped:
        raise DataError(f"order has {values.shape[0] if values.ndim else 1} values but the fit has k = {k} "
                        f"studies; give one value per study")
    if fit.num_dropped:
        raise DataError("order cannot be matched to a fit that dropped rows with missing values; "
                        "give the order of the studies used in the fit")
    return values


def cumul(fit: Any, *, order: Any = None, data: Any = None, decreasing: bool = False,
          transf: Callable[[float], float] | None = None) -> CumulativeResults:
    r"""Cumulative meta-analysis: the model refitted to the first 1, 2, ..., k studies (metafor's ``cumul``).

    Parameters
    ----------
    fit : RmaFit
        An intercept-only :func:`~multilevel.rma` fit.
    order : str or array_like, optional
        Values by which the studies are added (a column of ``data`` or one value per study),
        smallest first; ties keep the data order. Default: the order of the data.
    data : DataFrame, optional
        Table holding the ``order`` column.
    decreasing : bool
        Add the studies from the largest ``order`` value down.
    transf : callable, optional
        Applied to the estimates and confidence limits (e.g. ``np.exp``).

    Returns
    -------
    CumulativeResults
        Row ``j`` holds the model fitted to the first ``j`` studies, labelled by the study added.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> res = ml.cumul(ml.rma("yi", "vi", data=dat), order="year", data=dat)
    >>> res.to_frame()["estimate"].round(4).tail(2)
    4   -0.7948
    8   -0.7145
    Name: estimate, dtype: float64
    """
    _intercept_only(fit, "cumul")
    _check_transf(transf)
    values = _order(order, data, fit.k, fit)
    idx = pd.Series(values).sort_values(ascending=not decreasing, kind="stable").index.to_numpy() \
        if order is not None else np.arange(fit.k)
    spec = spec_of(fit).subset(idx)
    rows = [_row(res) for res in batch_refit(spec, np.tri(fit.k, dtype=bool))]
    slab = [fit.slab[i] for i in idx]
    frame, labels = _frame(rows, slab, fit, transf, "pvals")
    return CumulativeResults(frame, tuple(labels), level=float(fit.level), transformed=transf is not None)


def _check_transf(transf: Any) -> None:
    if transf is not None and not callable(transf):
        raise ArgumentError(f"transf must be a function, not {type(transf).__name__}")
