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
contributions. The omnibus test of one coefficient is the squared
Satterthwaite t test (as clubSandwich's HTZ test reduces to); for several
coefficients a naive F on ``n - p`` df is used (clubSandwich's HTZ test for
several constraints is not implemented).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy

from ..._exceptions import ModelSpecificationError
from ..._rformat import signif_stars
from ..shared._format import (_matrix_lines, _r_round_str, fcf, fmt_pval, moderators_lines, print_vector_lines,
                      signif_legend_lines)
from ._clusters import cluster_values
from ._fit import evaluate_at
from ._predict import dense_marginal
from ._print import fit_lines
from ..._display import FrameMapping, TextReport

__all__ = ["RobustRmaMv", "robust", "cr2_adjustments", "satterthwaite_df"]

FOOTSYM = "\u00b9"  # metafor's first footnote symbol


def _cluster_codes(fit: Any, cluster: Any) -> tuple[np.ndarray, int]:
    values = cluster_values(fit, cluster)
    _, codes = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return codes.reshape(-1), int(codes.max()) + 1


def weighted_design(fit: Any) -> np.ndarray:
    """Rows of ``M^{-1} X`` from the block-diagonal ``M`` (no ``k x k`` matrix is formed)."""
    ev = evaluate_at(fit._batch, fit._layout, fit._comps.values, reml=fit.method == "REML")
    MinvX = ev.Minv @ fit._batch.X
    idx = fit._batch.idx
    mask = idx >= 0
    out = np.empty((fit.k, fit.p))
    out[idx[mask]] = MinvX[mask]
    return out


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
    X = fit._eff.design.X
    B = fit.vb.to_numpy()
    e = fit._eff.yi - X @ fit.beta.to_numpy()
    if clubsandwich:
        M = dense_marginal(fit)
        W = np.linalg.inv(M)
        A = cr2_adjustments(M, X, B, codes, n)
        vb, df, maps = _cr2(B @ X.T @ W, A, e, codes, n, M, X, B, W)
        est = "CR2"
    else:
        # X'W has columns (W X)_i: computed cluster block by cluster block of M
        contrib = (weighted_design(fit) * e[:, None]) @ B
        u = np.zeros((n, p))
        np.add.at(u, codes, contrib)
        vb = u.T @ u
        if adjust:
            vb *= n / (n - p)
        df = np.full(p, float(n - p))
        est = "CR1" if adjust else "CR0"
        maps = M = None
    out = RobustRmaMv.build(fit, vb, df, n, np.bincount(codes), est)
    return out if maps is None else dataclasses.replace(out, cr2_maps=maps, working=M)


def _cr2(bread: np.ndarray, A: list[np.ndarray], e: np.ndarray, codes: np.ndarray, n: int, M: np.ndarray,
         X: np.ndarray, B: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    return vb, satterthwaite_df(maps, M, np.eye(p)), maps


def satterthwaite_df(maps: np.ndarray, M: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Satterthwaite df of the CR2 variance of each contrast ``C[i] @ beta``: ``tr(Q)^2 / sum(Q^2)``
    with ``Q = P M P'`` and ``P = sum_j C[i, j] P_j`` (``maps[:, j, :]``, clusters by estimates)."""
    out = np.empty(C.shape[0])
    for i, c in enumerate(C):
        P = np.tensordot(maps, c, axes=([1], [0]))
        Q = P @ M @ P.T
        out[i] = np.trace(Q) ** 2 / np.sum(Q * Q)
    return out


@dataclass(frozen=True, eq=False, repr=False)
class RobustRmaMv(TextReport, FrameMapping):
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
    cr2_maps: np.ndarray | None = field(default=None, repr=False)  # CR2: cluster maps and working model
    working: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(cls, fit: Any, vb: np.ndarray, df: np.ndarray, n: int, sizes: np.ndarray, est: str,
              btt: np.ndarray | None = None) -> "RobustRmaMv":
        idx = fit.beta.index
        beta = fit.beta.to_numpy()
        se = np.sqrt(np.diag(vb))
        t = beta / se
        crit = scipy.stats.t.ppf(1 - (1 - fit.level / 100) / 2, df)
        btt = fit._btt if btt is None else np.asarray(btt)
        m = btt.size
        QM = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt])) / m
        df2 = float(n - fit.p)
        if est == "CR2" and m == 1:
            df2 = float(df[btt[0]])  # HTZ for one coefficient: the Satterthwaite t test squared
        return cls(fit, pd.Series(se, idx), pd.Series(t, idx), pd.Series(df, idx),
                   pd.Series(2 * scipy.stats.t.sf(np.abs(t), df), idx), pd.Series(beta - crit * se, idx),
                   pd.Series(beta + crit * se, idx), pd.DataFrame(vb, idx, idx), QM, (m, df2),
                   float(scipy.stats.f.sf(QM, m, df2)), n, sizes, est)

    @property
    def beta(self) -> pd.Series:
        return self.fit.beta

    def contrast_df(self, C: np.ndarray) -> np.ndarray:
        """t df of the linear combinations ``C @ beta`` (one per row of ``C``), as metafor's
        ``predict`` of a robust model: ``n - p`` for CR1 and CR0, Satterthwaite's for CR2."""
        C = np.atleast_2d(np.asarray(C, dtype=float))
        if self.cr2_maps is None:
            return np.full(C.shape[0], float(self.num_clusters - self.fit.p))
        return satterthwaite_df(self.cr2_maps, self.working, C)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "tval": self.tval, "df": self.df,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    def __str__(self) -> str:
        fit = self.fit
        lines = fit_lines(fit)
        cut = lines.index("Test for Heterogeneity:" if fit.int_only else "Test for Residual Heterogeneity:")
        out = lines[: cut + 3] + self._cluster_lines() + [""]
        if fit.p > 1:
            mod = moderators_lines(self.QM, self.QMp, fit._btt + 1, self.QMdf[0], self.QMdf[1])
            out += [mod[0] + FOOTSYM, mod[1], ""]
        out += ["Model Results:", ""] + self._table_lines() + signif_legend_lines()
        approx = "t-test and confidence interval" if fit.int_only else "t/F-tests and confidence intervals"
        how = "Satterthwaite approx" if self.estimator == "CR2" else "residual method"
        out += ["", f"1) results based on cluster-robust inference (var-cov estimator: {self.estimator},",
                f"   approx {approx}, df: {how})"]
        return "\n".join(line.rstrip() for line in out)

    def _table_lines(self) -> list[str]:
        """metafor's model-results table with the footnote mark on the robust columns."""
        mark = lambda cells: [c + " " for c in cells]  # noqa: E731
        cols = {"estimate": fcf(self.beta, 4), "se" + FOOTSYM: mark(fcf(self.se, 4)),
                "tval" + FOOTSYM: mark(fcf(self.tval, 4)),
                "df" + FOOTSYM: mark([_r_round_str(v) for v in self.df]),
                "pval" + FOOTSYM: mark(fmt_pval(self.pval, 4)),
                "ci.lb" + FOOTSYM: mark(fcf(self.ci_lb, 4)), "ci.ub" + FOOTSYM: mark(fcf(self.ci_ub, 4)),
                "": [s or " " for s in signif_stars(self.pval)]}
        if self.fit.int_only:
            return print_vector_lines(list(cols), [c[0] for c in cols.values()])
        return _matrix_lines(cols, list(self.beta.index))

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
