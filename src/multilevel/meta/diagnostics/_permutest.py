"""Permutation tests of the coefficients of an :func:`~multilevel.rma` fit (metafor's ``permutest``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError
from ..._rformat import render_table, signif_stars, SIGNIF_LEGEND
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval, format_btt
from ._kinds import check_rma
from ._batch import batch_refit
from ._refit import Spec, spec_of
from ._tables import metafor_names

__all__ = ["permutest", "PermutationTest"]

_COMPTOL = np.finfo(float).eps ** 0.5


@dataclass(frozen=True, eq=False, repr=False)
class PermutationTest(TextReport, FrameMapping):
    """Permutation p-values of the coefficients and of the omnibus test (metafor's ``permutest``).

    Attributes
    ----------
    QM, QMp : float
        Omnibus test statistic of the moderators and its permutation p-value.
    iterations : int
        Permutations used (all of them when ``exact``).
    exact : bool
        Whether every distinct permutation was evaluated.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat, mods="~ ablat")
    >>> res = ml.permutest(fit, iter=100, seed=1)
    >>> res.to_frame()[["estimate", "zval"]].round(4)
             estimate    zval
    intrcpt    0.2515  1.0095
    ablat     -0.0291 -4.0444
    """

    frame: pd.DataFrame = field(repr=False)
    QM: float = 0.0
    QMp: float = 1.0
    QMdf: tuple = (1, None)
    btt: tuple = ()
    iterations: int = 0
    exact: bool = True
    int_only: bool = True
    test: str = "z"
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """``estimate, se, zval`` (``tval``), ``pval`` (permutation based), ``ci_lb, ci_ub``.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.rma("yi", "vi", data=dat, mods="~ ablat")
        >>> ml.permutest(fit, iter=100, seed=1).to_frame().shape
        (2, 6)
        """
        return self.frame.copy()

    def __str__(self) -> str:
        f, d = self.frame, self.digits
        lines = [""]
        if not self.int_only:
            m = len(self.btt)
            head = f"Test of Moderators (coefficient{'' if m == 1 else 's'} {format_btt([b + 1 for b in self.btt])}):\u00b9"
            if self.test == "knha":
                stat = f"F(df1 = {self.QMdf[0]}, df2 = {round(self.QMdf[1], 2):g}) = {fcf(self.QM, d)[0]}"
            else:
                stat = f"QM(df = {self.QMdf[0]}) = {fcf(self.QM, d)[0]}"
            lines += [head, f"{stat}, p-val {fmt_pval([self.QMp], d, showeq=True, sep=' ')[0]}", ""]
        stat_col = "tval" if self.test == "knha" else "zval"
        cols = {"estimate": fcf(f["estimate"], d), "se": fcf(f["se"], d), stat_col: fcf(f[stat_col], d)}
        if self.test == "knha":
            cols["df"] = [f"{v:g}" for v in f["df"]]
        cols["pval\u00b9"] = [v + " " for v in fmt_pval(f["pval"], d)]
        cols.update({"ci.lb": fcf(f["ci_lb"], d), "ci.ub": fcf(f["ci_ub"], d)})
        cols[""] = signif_stars(f["pval"].to_numpy())
        lines += ["Model Results:", ""]
        if self.int_only:
            lines += render_table({k: v for k, v in cols.items()}, None, sep="  ").splitlines()
        else:
            lines += render_table(cols, metafor_names(f.index), sep="  ").splitlines()
        lines += ["", "---", SIGNIF_LEGEND, "", f"1) p-value{'' if self.int_only else 's'} based on permutation testing",
                  ""]
        return "\n".join(lines)


def _unique_permutations(codes: list[int]):
    """Every distinct ordering of a multiset of codes (lexicographic)."""
    counts: dict[int, int] = {}
    for c in codes:
        counts[c] = counts.get(c, 0) + 1
    keys = sorted(counts)
    n = len(codes)
    out: list[int] = []

    def rec():
        if len(out) == n:
            yield list(out)
            return
        for key in keys:
            if counts[key]:
                counts[key] -= 1
                out.append(key)
                yield from rec()
                out.pop()
                counts[key] += 1
    yield from rec()


def _row_codes(X: np.ndarray) -> np.ndarray:
    _, codes = np.unique(X, axis=0, return_inverse=True)
    return codes.reshape(-1)


def _num_exact(fit: Any, X: np.ndarray) -> float:
    if fit.int_only:
        return 2.0**fit.k
    counts = np.bincount(_row_codes(X))
    total = factorial(fit.k)
    for c in counts:
        total //= factorial(int(c))
    return float(total)


def _fits(spec: Spec, fit: Any, exact: bool, iterations: int, rng: np.random.Generator):
    """(beta, zval, QM) of each permuted data set; the observed data first when sampling."""
    X, y = spec.X, spec.yi
    if fit.int_only:
        if exact:
            signs = 1.0 - 2.0 * ((np.arange(2**fit.k)[:, None] >> np.arange(fit.k)) & 1)
        else:
            signs = np.vstack([np.ones(fit.k), rng.choice([-1.0, 1.0], size=(iterations - 1, fit.k))])
        yield from batch_refit(spec, np.ones(signs.shape, dtype=bool), Y=signs * y)
        return
    codes = _row_codes(X)
    rows = [np.flatnonzero(codes == c)[0] for c in range(codes.max() + 1)]
    if exact:
        orders = np.array([[rows[c] for c in perm] for perm in _unique_permutations(list(codes))])
    else:
        orders = np.vstack([np.arange(fit.k)] + [rng.permutation(fit.k) for _ in range(iterations - 1)])
    yield from batch_refit(spec, np.ones(orders.shape, dtype=bool), Xs=X[orders])


def permutest(fit: Any, *, iter: int = 1000, exact: bool = False, seed: int | None = None) -> PermutationTest:
    r"""Permutation test of the coefficients of an :func:`~multilevel.rma` fit (metafor's ``permutest``).

    For a model without moderators the signs of the effect sizes are flipped (all :math:`2^k`
    patterns when exact); for a meta-regression the rows of the moderators are permuted (all
    distinct permutations when exact). The p-value of a coefficient is the proportion of data
    sets with :math:`|z^*| \ge |z|`; that of the omnibus test the proportion with :math:`Q_M^* \ge Q_M`
    (each with metafor's tolerance :math:`\sqrt{\epsilon}`).

    Parameters
    ----------
    fit : RmaFit
    iter : int
        Random permutations when the test is not exact (the observed data count as one).
    exact : bool
        Force the exact test; it is also used when it needs at most ``iter`` permutations.
    seed : int, optional
        Seed of the random permutations.

    Returns
    -------
    PermutationTest

    References
    ----------
    Follmann, D. A., & Proschan, M. A. (1999). Valid inference in random effects meta-analysis.
    Biometrics, 55(3), 732-737.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> res = ml.permutest(ml.rma("yi", "vi", data=dat.head(6)))
    >>> res.exact, res.iterations, round(float(res.to_frame()["pval"].iloc[0]), 4)
    (True, 64, 0.0312)
    """
    check_rma(fit, "permutest")
    if not isinstance(iter, (int, np.integer)) or iter < 2:
        raise ArgumentError(f"iter must be an integer of at least 2, not {iter!r}")
    spec = spec_of(fit)
    n_exact = _num_exact(fit, spec.X)
    exact = bool(exact or n_exact <= iter)
    iterations = int(n_exact) if exact else int(iter)
    rng = np.random.default_rng(seed)
    zs, QMs = [], []
    for res in _fits(spec, fit, exact, iterations, rng):
        zs.append(np.full(fit.p, np.nan) if res is None else res.zval)
        QMs.append(np.nan if res is None else res.QM)
    return _result(fit, np.array(zs), np.array(QMs), exact, iterations)


def _result(fit: Any, zperm: np.ndarray, QMperm: np.ndarray, exact: bool, iterations: int) -> PermutationTest:
    z = np.asarray(fit.coefficients[2])
    ok = ~np.isnan(zperm)
    pval = np.array([np.mean(np.abs(zperm[ok[:, j], j]) >= np.abs(z[j]) - _COMPTOL) for j in range(fit.p)])
    QMp = float(np.mean(QMperm[~np.isnan(QMperm)] >= fit.QM - _COMPTOL))
    stat = "tval" if fit.test == "knha" else "zval"
    c = fit.coefficients
    cols = {"estimate": c[0], "se": c[1], stat: c[2]}
    if fit.test == "knha":
        cols["df"] = np.full(fit.p, float(fit.ddf))
    cols.update({"pval": np.minimum(pval, 1.0), "ci_lb": c[4], "ci_ub": c[5]})
    frame = pd.DataFrame(cols, index=pd.Index(list(fit.design.names)))
    return PermutationTest(frame, float(fit.QM), QMp, tuple(fit.QMdf), tuple(fit.btt), iterations, exact,
                           bool(fit.int_only), fit.test)
