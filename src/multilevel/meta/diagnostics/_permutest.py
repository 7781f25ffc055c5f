"""Permutation tests of the coefficients of an :func:`~multilevel.rma` fit (metafor's ``permutest``)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError, ConvergenceWarning
from ..._rformat import render_table, signif_stars, SIGNIF_LEGEND
from ..shared._format import DEFAULT_DIGITS, fcf, fmt_pval, format_btt
from ._kinds import check_rma
from ._batch import batch_refit
from ._permci import permutation_ci
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
    permci: bool = False

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
        if self.permci:
            cols.update({"ci.lb\u00b9": [v + " " for v in fcf(f["ci_lb"], d)],
                         "ci.ub\u00b9": [v + " " for v in fcf(f["ci_ub"], d)]})
        else:
            cols.update({"ci.lb": fcf(f["ci_lb"], d), "ci.ub": fcf(f["ci_ub"], d)})
        cols[""] = signif_stars(f["pval"].to_numpy())
        lines += ["Model Results:", ""]
        if self.int_only:
            lines += render_table({k: v for k, v in cols.items()}, None, sep="  ").splitlines()
        else:
            lines += render_table(cols, metafor_names(f.index), sep="  ").splitlines()
        lines += ["", "---", SIGNIF_LEGEND, "", self._legend(),
                  ""]
        return "\n".join(lines)

    def _legend(self) -> str:
        return _legend_text(self.int_only, self.permci)


def _legend_text(int_only: bool, permci: bool) -> str:
    return f"1) p-value{'' if int_only else 's'}{' and CI bounds' if permci else ''} based on permutation testing"


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


def permutest(fit: Any, *, iter: int = 1000, exact: bool = False, seed: int | None = None,
              permci: bool | Sequence[str | int] = False) -> PermutationTest:
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
    permci : bool or sequence of str or int
        Replace the Wald limits by permutation-based ones (of all coefficients, or of those named or
        at the given positions): the values :math:`b` at which the one-sided permutation p-value of
        :math:`\beta_j = b`, computed by refitting the model to :math:`y - b x_j`, equals
        :math:`\alpha/2`, found by Brent's method as metafor does. Random permutations are redrawn
        from the same seed at every :math:`b`.

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
    >>> ci = ml.permutest(ml.rma("yi", "vi", data=dat.head(6)), permci=True).to_frame()
    >>> ci[["ci_lb", "ci_ub"]].round(4)
              ci_lb   ci_ub
    intrcpt -1.5853 -0.2176
    """
    check_rma(fit, "permutest")
    if not isinstance(iter, (int, np.integer)) or iter < 2:
        raise ArgumentError(f"iter must be an integer of at least 2, not {iter!r}")
    coefs = _permci_coefs(fit, permci)
    spec = spec_of(fit)
    n_exact = _num_exact(fit, spec.X)
    exact = bool(exact or n_exact <= iter)
    iterations = int(n_exact) if exact else int(iter)
    if seed is None:  # one seed for every refit of the permci search
        seed = int(np.random.default_rng().integers(2**63 - 1))

    def perm_z(s: Spec, with_qm: bool = False):
        zs, QMs = [], []
        for res in _fits(s, fit, exact, iterations, np.random.default_rng(seed)):
            zs.append(np.full(fit.p, np.nan) if res is None else res.zval)
            QMs.append(np.nan if res is None else res.QM)
        return (np.array(zs), np.array(QMs)) if with_qm else np.array(zs)

    zperm, QMperm = perm_z(spec, with_qm=True)
    out = _result(fit, zperm, QMperm, exact, iterations)
    if not coefs:
        return out
    half_alpha = (100 - float(fit.level)) / 100 / 2
    if 1 / iterations > half_alpha:
        warnings.warn(f"cannot obtain {100 * (1 - 2 * half_alpha):g}% permutation-based confidence limits: "
                      f"the number of permutations ({iterations}) is too low", ConvergenceWarning, stacklevel=2)
        return out
    c = fit.coefficients
    lb, ub = permutation_ci(spec, np.asarray(c[0]), np.asarray(c[4]), np.asarray(c[5]), coefs, perm_z, _COMPTOL)
    frame = out.frame.assign(ci_lb=lb, ci_ub=ub)
    return dataclasses.replace(out, frame=frame, permci=True)


def _permci_coefs(fit: Any, permci: Any) -> list[int]:
    """Positions of the coefficients whose limits are searched (``permci`` as names or positions)."""
    if permci is None or permci is False:
        return []
    if permci is True:
        return list(range(fit.p))
    names = list(fit.design.names)
    items = [permci] if isinstance(permci, (str, int, np.integer)) else list(permci)
    out = []
    for item in items:
        if isinstance(item, str) and item in names:
            out.append(names.index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < fit.p:
            out.append(int(item))
        else:
            raise ArgumentError(f"permci: {item!r} is not a coefficient of the model; use True, names "
                                f"({', '.join(names)}) or positions 0 to {fit.p - 1}")
    return sorted(set(out))


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
