"""Variance inflation factors of the coefficients of a meta-regression (metafor's ``vif``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._exceptions import ModelSpecificationError
from ..._rformat import render_table
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval
from ..univariate._print import RmaSummary
from ._kinds import check_rma
from ._tables import metafor_names

__all__ = ["vif", "VifResult", "generalized_vif"]


def generalized_vif(vb: np.ndarray, idx: np.ndarray) -> float:
    r"""Fox & Monette's (G)VIF of the coefficients ``idx`` from their covariance ``vb``:
    :math:`\det R_{11} \det R_{22} / \det R` on the correlation matrix :math:`R` of ``vb``."""
    d = np.sqrt(np.diag(vb))
    R = vb / np.outer(d, d)
    rest = np.setdiff1d(np.arange(R.shape[0]), idx)
    det_rest = np.linalg.det(R[np.ix_(rest, rest)]) if rest.size else 1.0
    return float(np.linalg.det(R[np.ix_(idx, idx)]) * det_rest / np.linalg.det(R))


@dataclass(frozen=True, eq=False, repr=False)
class VifResult(TextReport, FrameMapping):
    """VIFs (and their square roots, SIFs) of the moderators; prints as metafor's ``vif``.

    With ``table=True`` the frame is the coefficient table of the fit with the ``vif`` and
    ``sif`` columns added (NaN for the intercept), printed as ``vif(fit, table = TRUE)``.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat, mods="~ ablat + year")
    >>> ml.vif(fit).to_frame().round(4)
              vif     sif
    ablat  1.5391  1.2406
    year   1.5391  1.2406
    """

    frame: pd.DataFrame = field(repr=False)
    table: bool = False
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """``vif`` and ``sif`` per coefficient (with the coefficient table when ``table``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.rma("yi", "vi", data=dat, mods="~ ablat + year")
        >>> list(ml.vif(fit).to_frame().index)
        ['ablat', 'year']
        """
        return self.frame.copy()

    def _table_lines(self) -> list[str]:
        f, d = self.frame, self.digits
        cols = {}
        for name in f.columns:
            label = name.replace("_", ".")
            if name == "df":
                cols[label] = [f"{round(v, 2):g}" for v in f[name]]
            elif name == "pval":
                cols[label] = fmt_pval(f[name], d)
            else:
                cols[label] = fcf(f[name].to_numpy(dtype=float), d)
        return ["", *render_table(cols, metafor_names(f.index)).splitlines(), ""]

    def __str__(self) -> str:
        if self.table:
            return "\n".join(self._table_lines())
        names = [str(n) for n in self.frame.index]
        values = fcf(self.frame["vif"].to_numpy(), self.digits)
        widths = [max(len(n), len(v)) for n, v in zip(names, values)]
        head = "  ".join(n.rjust(w) for n, w in zip(names, widths))
        body = "  ".join(v.rjust(w) for v, w in zip(values, widths))
        return "\n".join(["", head, body, ""])


def vif(fit: Any, *, table: bool = False) -> VifResult:
    r"""Variance inflation factors of the moderators of an :func:`~multilevel.rma` fit (metafor's ``vif``).

    For coefficient :math:`j`, :math:`\mathrm{VIF}_j = \det R_{jj} \det R_{-j,-j} / \det R` with
    :math:`R` the correlation matrix of the coefficients' covariance without the intercept
    (Fox & Monette, 1992); :math:`\mathrm{SIF}_j = \sqrt{\mathrm{VIF}_j}`. With ``table=True`` they are
    added to the coefficient table of the fit.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> print(ml.vif(ml.rma("yi", "vi", data=dat, mods="~ ablat + year", method="DL", test="knha")))
    <BLANKLINE>
     ablat    year
    1.5190  1.5190
    <BLANKLINE>
    """
    check_rma(fit, "vif")
    if fit.int_only:
        raise ModelSpecificationError("vif applies to models with moderators")
    vb = np.asarray(fit.vcov_array)
    names = list(fit.design.names)
    start = 1 if fit.design.intercept else 0
    sub = vb[start:, start:]
    vifs = np.array([generalized_vif(sub, np.array([j])) for j in range(sub.shape[0])])
    frame = pd.DataFrame({"vif": vifs, "sif": np.sqrt(vifs)}, index=pd.Index(names[start:]))
    if table:
        pad = np.full(start, np.nan)
        frame = RmaSummary(fit, showfit=False).to_frame().assign(vif=np.concatenate([pad, vifs]), sif=np.concatenate([pad, np.sqrt(vifs)]))
    return VifResult(frame, table)
