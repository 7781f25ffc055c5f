r"""Cluster-robust inference for :func:`~multilevel.rma` fits (metafor's ``robust.rma.uni``).

With the weights of the fit ``W = diag(1 / (v_i + \hat\tau^2))`` (or the
user's weights ``A``, then ``B = (X'AX)^{-1}``), the bread is ``B X' W`` with
``B`` the fit's covariance matrix of the coefficients (for Knapp-Hartung fits
the rescaled one, as metafor uses it), and

.. math:: V_{CR1} = \frac{n}{n - p}\, B X' W \Big(\bigoplus_c e_c e_c'\Big) W X B

over the ``n`` clusters (``adjust=False``: CR0, without the factor). Tests
and intervals use the t distribution with ``n - p`` df; the omnibus test of
the coefficients ``btt`` is an F test on ``(m, n - p)`` df.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..._data import offending_rows
from ..._exceptions import DataError, ModelSpecificationError
from ..multivariate._robust import FOOTSYM, RobustRmaMv
from ..shared._format import moderators_lines, signif_legend_lines
from ._print import RmaSummary

__all__ = ["RobustRma", "robust_rma"]


def _clusters(fit: Any, cluster: Any, data: Any) -> tuple[np.ndarray, int]:
    if isinstance(cluster, str):
        if data is None:
            raise DataError(f"cluster={cluster!r} names a column, so data must be given")
        if cluster not in data.columns:
            raise DataError(f"cluster column {cluster!r} not found in the data")
        values = data[cluster].to_numpy()
    else:
        values = np.asarray(cluster)
    if values.ndim != 1 or values.shape[0] != fit.k:
        dropped = f" (after dropping {fit.num_dropped} incomplete rows)" if fit.num_dropped else ""
        raise DataError(f"cluster has {values.shape[0] if values.ndim else 1} values but the model has "
                        f"{fit.k} estimates{dropped}; give one value per estimate used")
    missing = pd.isna(pd.Series(values)).to_numpy()
    if missing.any():
        raise DataError(f"the cluster variable has missing values; {offending_rows(missing, list(fit.slab))}")
    _, codes = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return codes.reshape(-1), int(codes.max()) + 1


def robust_rma(fit: Any, cluster: Any, *, adjust: bool = True, data: Any = None) -> "RobustRma":
    """CR1 (CR0 without ``adjust``) cluster-robust inference for an ``rma`` fit (see the module notes)."""
    codes, n = _clusters(fit, cluster, data)
    p = fit.p
    if n - p <= 0:
        raise ModelSpecificationError(f"the number of clusters ({n}) must exceed the number of coefficients ({p})")
    X = fit.design.X
    if fit.weights is None:
        B = fit.vb.to_numpy()
        w = 1.0 / (fit.vi + fit.tau2)
    else:
        w = np.asarray(fit.weights, dtype=float)
        B = np.linalg.inv(X.T @ (X * w[:, None]))
    e = fit.yi - X @ fit.beta.to_numpy()
    u = np.zeros((n, p))
    np.add.at(u, codes, (X * (w * e)[:, None]) @ B)
    vb = u.T @ u
    if adjust:
        vb *= n / (n - p)
    est = "CR1" if adjust else "CR0"
    df = np.full(p, float(n - p))
    return RobustRma.build(fit, vb, df, n, np.bincount(codes), est, np.asarray(fit.btt))


class RobustRma(RobustRmaMv):
    """Cluster-robust inference for an ``rma`` fit, printed as metafor's robust ``rma.uni`` model."""

    def __str__(self) -> str:
        fit = self.fit
        lines = RmaSummary(fit, showfit=False).lines()
        head = "Test for Heterogeneity:" if fit.int_only else "Test for Residual Heterogeneity:"
        cut = lines.index(head)
        out = lines[1: cut + 3] + self._cluster_lines() + [""]
        if fit.p > 1:
            mod = moderators_lines(self.QM, self.QMp, np.asarray(fit.btt) + 1, self.QMdf[0], self.QMdf[1])
            out += [mod[0] + FOOTSYM, mod[1], ""]
        out += ["Model Results:", ""] + self._table_lines() + signif_legend_lines()
        approx = "t-test and confidence interval" if fit.int_only else "t/F-tests and confidence intervals"
        out += ["", f"1) results based on cluster-robust inference (var-cov estimator: {self.estimator},",
                f"   approx {approx}, df: residual method)"]
        return "\n".join(line.rstrip() for line in out)
