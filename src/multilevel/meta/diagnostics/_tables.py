"""Result tables of the diagnostics, printed as metafor prints its ``list.rma`` objects.

metafor turns the vectors of a diagnostic into a data frame with the study labels as row
names, formats every number with ``digits`` decimals and prints it with a blank line before
and after (:func:`list_rma_lines`). Each table type keeps its numbers as a DataFrame with
Python column names (``ci_lb``, ``cook_d``) and prints them under metafor's (``ci.lb``,
``cook.d``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._rformat import render_table
from ..shared._format import DEFAULT_DIGITS, fcf
from ._plot_tables import cumul_forest

__all__ = ["list_rma_lines", "named_blocks", "metafor_names", "LeaveOneOut", "CumulativeResults", "StandardizedResiduals", "ClusterResiduals",
           "r_column_names"]


def metafor_names(names) -> list[str]:
    """Coefficient names as metafor prints them (its intercept is ``intrcpt``)."""
    return ["intrcpt" if str(n) == "(Intercept)" else str(n) for n in names]


def r_column_names(names) -> list[str]:
    """R's ``make.names``: syntactically valid column names (``I(year - 1900)`` -> ``I.year...1900.``)."""
    out = []
    for name in names:
        s = "".join(c if (c.isalnum() or c in "._") else "." for c in str(name))
        if not s or not (s[0].isalpha() or (s[0] == "." and not (len(s) > 1 and s[1].isdigit()))):
            s = "X" + s
        out.append(s)
    return out


def _wrap(columns: dict[str, list[str]], rows: list[str], width: int) -> list[str]:
    """R's matrix print: as many columns per block as fit in fewer than ``width`` characters."""
    label_w = max([len(r) for r in rows] + [0])
    names = list(columns)
    widths = [max([len(c) for c in columns[n]] + [len(n)]) + 1 for n in names]
    lines: list[str] = []
    start = 0
    while start < len(names):
        end, used = start + 1, label_w + widths[start]
        while end < len(names) and used + widths[end] < width:
            used += widths[end]
            end += 1
        block = {n: columns[n] for n in names[start:end]}
        lines += render_table(block, rows).splitlines()
        start = end
    return lines


def list_rma_lines(frame: pd.DataFrame, labels: list[str], *, digits: int = DEFAULT_DIGITS,
                   trailing_blank: bool = True, width: int = 80) -> list[str]:
    """Lines of ``print.list.rma``: numbers with ``digits`` decimals, row names left-justified,
    columns wrapped at ``width`` characters as R's ``print``."""
    columns = {}
    for label, column in zip(labels, frame.columns):
        if label is None:  # kept in the table, not printed (metafor's se after a transformation)
            continue
        values = frame[column]
        if values.dtype == object:
            columns[label] = [str(v) for v in values]
        elif values.isna().all():
            columns[label] = ["NA"] * len(values)
        else:
            columns[label] = fcf(values.to_numpy(dtype=float), digits)
    lines = ["", *_wrap(columns, [str(r) for r in frame.index], width)]
    return lines + [""] if trailing_blank else lines


def named_blocks(blocks: list[tuple[str, list[str]]]) -> str:
    """R's print of a named list of tables: ``$name``, the table's lines, a blank line."""
    out: list[str] = []
    for name, lines in blocks:
        out += [f"${name}", *lines, ""]
    return "\n".join(out)


@dataclass(frozen=True, eq=False, repr=False)
class _ListTable(TextReport, FrameMapping):
    """A table with metafor's ``list.rma`` print (internal base)."""

    frame: pd.DataFrame = field(repr=False)
    labels: tuple[str, ...] = field(repr=False)
    digits: int = DEFAULT_DIGITS

    def _table(self) -> pd.DataFrame:
        return self.frame.copy()

    def __str__(self) -> str:
        return "\n".join(list_rma_lines(self.frame, list(self.labels), digits=self.digits))


class LeaveOneOut(_ListTable):
    """Leave-one-out estimates (metafor's ``leave1out``): one row per omitted study.

    Columns: ``estimate, se, zval`` (``tval`` under Knapp-Hartung), ``pval, ci_lb, ci_ub,
    Q, Qp, tau2`` (not for equal-effects models), ``I2, H2``; ``se`` is NaN after a
    transformation (and not printed).

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat)
    >>> res = ml.leave1out(fit)
    >>> res.to_frame()[["estimate", "tau2"]].round(4).head(3)
       estimate    tau2
    1   -0.7071  0.3362
    2   -0.6540  0.2926
    3   -0.6856  0.3207
    """

    def to_frame(self) -> pd.DataFrame:
        """The leave-one-out estimates as a DataFrame indexed by the omitted study.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.leave1out(ml.rma("yi", "vi", data=dat)).to_frame().shape
        (13, 11)
        """
        return self._table()


@dataclass(frozen=True, eq=False, repr=False)
class CumulativeResults(_ListTable):
    """Cumulative meta-analysis (metafor's ``cumul``): row ``j`` pools the first ``j`` studies.

    Columns as :class:`LeaveOneOut` (``pval`` prints as metafor's ``pvals``); the row labels are
    those of the study added at that step. ``level`` is the confidence level in percent and
    ``transformed`` whether ``transf`` was applied; :meth:`forest` draws the results.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat)
    >>> res = ml.cumul(fit)
    >>> res.to_frame()[["estimate", "ci_lb", "ci_ub"]].round(4).head(3)
       estimate   ci_lb   ci_ub
    1   -0.8893 -2.0077  0.2290
    2   -1.3250 -2.0090 -0.6410
    3   -1.3302 -1.9317 -0.7288
    """

    level: float = 95.0
    transformed: bool = False

    def to_frame(self) -> pd.DataFrame:
        """The cumulative estimates as a DataFrame indexed by the study added at each step.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.cumul(ml.rma("yi", "vi", data=dat)).to_frame()["estimate"].round(4).tail(2)
        12   -0.7775
        13   -0.7145
        Name: estimate, dtype: float64
        """
        return self._table()

    def forest(self, **options):
        """Forest plot of the cumulative estimates (metafor's ``forest.cumul.rma``); see
        :func:`multilevel.meta.diagnostics.cumul_forest`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fig = ml.cumul(ml.rma("yi", "vi", data=dat)).forest()
        >>> type(fig).__name__
        'Figure'
        """
        return cumul_forest(self, **options)


class StandardizedResiduals(_ListTable):
    """Standardized residuals (metafor's ``rstandard`` / ``rstudent``): ``resid, se, z``.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> res = ml.rstandard(ml.rma("yi", "vi", data=dat))
    >>> res.to_frame().round(4).head(2)
        resid      se       z
    1 -0.1748  0.7788 -0.2244
    2 -0.8709  0.6896 -1.2629
    """

    def to_frame(self) -> pd.DataFrame:
        """Residuals, their standard errors and the standardized residuals.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> list(ml.rstandard(ml.rma("yi", "vi", data=dat)).to_frame().columns)
        ['resid', 'se', 'z']
        """
        return self._table()


@dataclass(frozen=True, eq=False, repr=False)
class ClusterResiduals(TextReport, FrameMapping):
    """Standardized residuals of an :func:`~multilevel.rma_mv` fit with cluster-level tests.

    ``obs`` holds the residuals of the estimates (``resid, se, z`` and the ``cluster``);
    :meth:`to_frame` the cluster statistics: ``X2`` (the residuals of a cluster, standardized
    by their joint covariance) and ``k`` (estimates in the cluster), as metafor's
    ``rstandard(fit, cluster=)``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=ml.datasets.load("konstantopoulos2011"))
    >>> res = ml.rstandard(fit, cluster="district")
    >>> res.to_frame().round(4).head(3)
            X2  k
    11  1.9333  4
    12  3.9386  4
    18  0.6867  3
    """

    obs: StandardizedResiduals
    clusters: pd.DataFrame = field(repr=False)
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """Cluster statistics ``X2`` and ``k``, indexed by the cluster.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=ml.datasets.load("konstantopoulos2011"))
        >>> ml.rstandard(fit, cluster="district").to_frame()["k"].head(3).tolist()
        [4, 4, 3]
        """
        return self.clusters.copy()

    def __str__(self) -> str:
        first = list_rma_lines(self.obs.frame, list(self.obs.labels), digits=self.digits, trailing_blank=False)
        frame = self.clusters.astype({"k": object})
        second = list_rma_lines(frame, ["X2", "k"], digits=self.digits, trailing_blank=False)
        return named_blocks([("obs", first), ("cluster", second)])


def numeric_frame(columns: dict[str, np.ndarray], index) -> pd.DataFrame:
    """A DataFrame of float columns indexed by the study labels."""
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in columns.items()}, index=pd.Index(index))
