r"""Cluster-robust inference for ``rma_mv`` fits (metafor's ``robust()``).

CR1 (metafor's default): with ``B = (X'WX)^{-1}``, ``W = M^{-1}`` and residuals
``e = y - X\hat\beta``,

.. math:: V_{CR1} = \frac{n}{n - p} B \Big(\sum_c X_c' W_c e_c e_c' W_c X_c\Big) B,

with t tests and intervals on ``n - p`` df (``n`` clusters).

CR2 (``clubsandwich=True``) follows Pustejovsky & Tipton (2018) with the
fitted marginal variance ``M`` as the working model: ``A_c = U_c' G_c^{-1/2} U_c``
with ``U_c`` the upper Cholesky factor of ``M_c`` and
``G_c = U_c (M_c - X_c B X_c') U_c'``; residuals are replaced by ``A_c e_c``. The
df of each coefficient are Satterthwaite's, ``tr(Q)^2 / sum(Q^2)`` with
``Q = P' M P`` and ``P`` the cluster-wise linear maps from ``y`` to the
contributions. The omnibus test then uses a naive F on ``n - p`` df (the HTZ
test of clubSandwich is not implemented).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._exceptions import DataError, ModelSpecificationError
from ._common import fcf, heterogeneity_lines, model_results_lines, moderators_lines
from ._mv_predict import dense_marginal

__all__ = ["RobustRmaMv", "robust", "cr2_adjustments"]


def _cluster_codes(fit: Any, cluster: Any) -> tuple[np.ndarray, int]:
    eff = fit._eff
    if isinstance(cluster, str):
        if eff.frame is None or cluster not in eff.frame.columns:
            raise DataError(f"cluster column {cluster!r} not found in the data of the fit")
        values = eff.frame[cluster].to_numpy()
    else:
        values = np.asarray(cluster)
        n_all = eff.k + eff.num_dropped
        if values.shape[0] == n_all and n_all != eff.k:
            values = values[eff.rows]
        if values.shape[0] != eff.k:
            raise DataError(f"cluster has {values.shape[0]} values but the model has {eff.k} estimates")
    if pd.isna(pd.Series(values)).any():
        raise DataError("the cluster variable has missing values")
    _, codes = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return codes.reshape(-1), int(codes.max()) + 1


def cr2_adjustments(M: np.ndarray, X: np.ndarray, B: np.ndarray, codes: np.ndarray, n: int) -> list[np.ndarray]:
    """CR2 adjustment matrices ``A_c`` of each cluster (working model ``M``, weights ``M^{-1}``)."""
    out = []
    for c in range(n):
        r = np.flatnonzero(codes == c)
        Mc = M[np.ix_(r, r)]
        U = np.linalg.cholesky(Mc).T
        G = U @ (Mc - X[r] @ B @ X[r].T) @ U.T
        w, Q = np.linalg.eigh((G + G.T) / 2)
        inv_sqrt = np.where(w > 1e-12 * max(w.max(), 1e-300), 1.0 / np.sqrt(np.maximum(w, 1e-300)), 0.0)
        out.append(U.T @ (Q * inv_sqrt) @ Q.T @ U)
    return out


def robust(fit: Any, cluster: Any, *, clubsandwich: bool = False, adjust: bool = True) -> "RobustRmaMv":
    """Cluster-robust variance of the fixed effects with t tests (see the module notes)."""
    codes, n = _cluster_codes(fit, cluster)
    p = fit.p
    if n - p <= 0:
        raise ModelSpecificationError(f"the number of clusters ({n}) must exceed the number of coefficients ({p})")
    M = dense_marginal(fit)
    W = np.linalg.inv(M)
    X = fit._eff.design.X
    B = fit.vb.to_numpy()
    beta = fit.beta.to_numpy()
    e = fit._eff.yi - X @ beta
    bread = B @ X.T @ W
    if clubsandwich:
        A = cr2_adjustments(M, X, B, codes, n)
        vb, df = _cr2(bread, A, e, codes, n, M, X, B, W)
        est = "CR2"
    else:
        vb = np.zeros((p, p))
        for c in range(n):
            r = np.flatnonzero(codes == c)
            u = bread[:, r] @ e[r]
            vb += np.outer(u, u)
        if adjust:
            vb *= n / (n - p)
        df = np.full(p, float(n - p))
        est = "CR1" if adjust else "CR0"
    return RobustRmaMv.build(fit, vb, df, n, np.bincount(codes), est)


def _cr2(bread: np.ndarray, A: list[np.ndarray], e: np.ndarray, codes: np.ndarray, n: int, M: np.ndarray,
         X: np.ndarray, B: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, k = bread.shape
    IH = np.eye(k) - X @ B @ X.T @ W
    vb = np.zeros((p, p))
    maps = np.zeros((n, p, k))
    for c in range(n):
        r = np.flatnonzero(codes == c)
        Pc = bread[:, r] @ A[c]
        u = Pc @ e[r]
        vb += np.outer(u, u)
        maps[c] = Pc @ IH[r]
    df = np.empty(p)
    for j in range(p):
        Pj = maps[:, j, :]
        Q = Pj @ M @ Pj.T
        df[j] = np.trace(Q) ** 2 / np.sum(Q * Q)
    return vb, df


@dataclass(frozen=True, eq=False)
class RobustRmaMv:
    """Cluster-robust inference for an ``rma_mv`` fit (printed as metafor's robust model)."""

    fit: Any
    se: pd.Series
    tval: pd.Series
    df: pd.Series
    pval: pd.Series
    ci_lb: pd.Series
    ci_ub: pd.Series
    vb: pd.DataFrame
    QM: float
    QMdf: tuple[int, float]
    QMp: float
    num_clusters: int
    cluster_sizes: np.ndarray
    estimator: str

    @classmethod
    def build(cls, fit: Any, vb: np.ndarray, df: np.ndarray, n: int, sizes: np.ndarray, est: str) -> "RobustRmaMv":
        idx = fit.beta.index
        beta = fit.beta.to_numpy()
        se = np.sqrt(np.diag(vb))
        t = beta / se
        crit = stats.t.ppf(1 - (1 - fit.level / 100) / 2, df)
        btt = fit._btt
        m = btt.size
        QM = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt])) / m
        df2 = float(n - fit.p)
        return cls(fit, pd.Series(se, idx), pd.Series(t, idx), pd.Series(df, idx),
                   pd.Series(2 * stats.t.sf(np.abs(t), df), idx), pd.Series(beta - crit * se, idx),
                   pd.Series(beta + crit * se, idx), pd.DataFrame(vb, idx, idx), QM, (m, df2),
                   float(stats.f.sf(QM, m, df2)), n, sizes, est)

    @property
    def beta(self) -> pd.Series:
        return self.fit.beta

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "tval": self.tval, "df": self.df,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    def __str__(self) -> str:
        from ._mv_print import fit_lines
        fit = self.fit
        lines = fit_lines(fit)
        cut = lines.index("Test for Heterogeneity:" if fit.int_only else "Test for Residual Heterogeneity:")
        out = lines[:cut]
        out += heterogeneity_lines(fit.QE, fit.QEp, fit.k - fit.p, int_only=fit.int_only) + [""]
        out += self._cluster_lines() + [""]
        if fit.p > 1:
            mod = moderators_lines(self.QM, self.QMp, fit._btt + 1, self.QMdf[0], self.QMdf[1])
            out += [mod[0] + "\u00b9", mod[1], ""]
        table = model_results_lines(list(fit.beta.index), self.beta, self.se, self.tval, self.pval,
                                    self.ci_lb, self.ci_ub, df=self.df, int_only=fit.int_only)
        out += _footnote_marks(table)
        out += ["", f"1) results based on cluster-robust inference (var-cov estimator: {self.estimator},",
                "   approx " + ("t-test and confidence interval" if fit.int_only else
                               "t/F-tests and confidence intervals") +
                (", df: residual method)" if self.estimator != "CR2" else ", df: Satterthwaite approx)")]
        return "\n".join(line.rstrip() for line in out)

    def _cluster_lines(self) -> list[str]:
        t = self.cluster_sizes
        if np.all(t == t[0]):
            per = str(int(t[0]))
        else:
            med = float(np.median(t))
            med_s = str(int(med)) if med.is_integer() else f"{round(med, 2):g}"
            per = f"{t.min()}-{t.max()} (mean: {fcf(t.mean(), 2)[0]}, median: {med_s})"
        return [f"Number of estimates:   {self.fit.k}", f"Number of clusters:    {self.num_clusters}",
                f"Estimates per cluster: {per}"]

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(float_format=lambda v: f"{v:.4f}")


def _footnote_marks(table: list[str]) -> list[str]:
    """Add metafor's footnote mark to the se ... ci.ub headers of the model-results table."""
    out = list(table)
    head_i = 2
    head = out[head_i]
    names = ["se", "tval", "df", "pval", "ci.lb", "ci.ub"]
    marked = head
    for name in names:
        marked = _mark(marked, name)
    out[head_i] = marked
    return out


def _mark(line: str, name: str) -> str:
    import re
    return re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w.])", name + "\u00b9", line, count=1)
