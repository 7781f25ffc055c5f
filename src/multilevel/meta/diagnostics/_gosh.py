"""GOSH: the model fitted to (all or sampled) subsets of the studies (Olkin, Dahabreh & Trikalinos, 2012)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError, ModelSpecificationError
from ..._rformat import render_table
from ..shared._format import DEFAULT_DIGITS, fcf
from ._kinds import check_rma
from ._batch import batch_refit
from ._refit import spec_of

__all__ = ["gosh", "GoshResult"]

_EXACT_LIMIT = 10**6


@dataclass(frozen=True, eq=False, repr=False)
class GoshResult(TextReport, FrameMapping):
    """Fits of the model to subsets of the studies (metafor's ``gosh``).

    Attributes
    ----------
    incl : numpy.ndarray of bool, shape (n, k)
        Which studies each subset includes (rows sorted by subset size).
    exact : bool
        True when all subsets were fitted, False when they were sampled.
    k : int
        Studies in the fit.
    method : str
        tau^2 estimator of the fit.

    Notes
    -----
    :meth:`to_frame` has one row per subset: ``k, QE, I2, H2, tau2`` and the coefficients
    (``estimate`` for a model without moderators); NaN where the fit failed.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.rma("yi", "vi", data=dat)
    >>> res = ml.gosh(fit, subsets=200, seed=1)
    >>> res.to_frame().shape
    (200, 6)
    """

    frame: pd.DataFrame = field(repr=False)
    incl: np.ndarray = field(repr=False)
    exact: bool = True
    k: int = 0
    method: str = "REML"
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """Results of every subset fit.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> res = ml.gosh(ml.rma("yi", "vi", data=dat), subsets=200, seed=1)
        >>> list(res.to_frame().columns)[:4]
        ['k', 'QE', 'I2', 'H2']
        """
        return self.frame.copy()

    @property
    def fit(self) -> np.ndarray:
        """Which subset fits succeeded (no missing value)."""
        return self.frame.notna().all(axis=1).to_numpy()

    def __str__(self) -> str:
        ok = self.fit
        rows, labels = [], []
        for j, col in enumerate(self.frame.columns):
            vals = self.frame[col].to_numpy(dtype=float)
            vals = vals[~np.isnan(vals)]
            stats = [vals.mean(), vals.min(), *np.quantile(vals, [0.25, 0.5, 0.75]), vals.max()]
            rows.append(fcf(stats, self.digits))
            labels.append("Q" if (col == "QE" and self.frame.shape[1] == 6) else str(col))
        if self.frame.shape[1] > 6:
            rows.insert(5, [""] * 6)
            labels.insert(5, "")
        if self.method in ("EE", "FE", "CE"):
            del rows[4], labels[4]
        columns = {name: [r[i] for r in rows] for i, name in enumerate(("mean", "min", "q1", "median", "q3", "max"))}
        return "\n".join(["", f"Model fits attempted: {ok.shape[0]}", f"Model fits succeeded: {int(ok.sum())}", "",
                          *render_table(columns, labels).splitlines(), ""])

    def plot(self, **options: Any) -> Any:
        """GOSH plot: I^2 against the estimate(s) with their distributions; see :func:`gosh_plot`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> res = ml.gosh(ml.rma("yi", "vi", data=dat), subsets=200, seed=1)
        >>> type(res.plot()).__name__
        'Figure'
        """
        return gosh_plot(self, **options)


def _all_subsets(k: int, p: int) -> np.ndarray:
    """Every subset of at least ``p`` studies, in metafor's order (``expand.grid``, then by size)."""
    codes = np.arange(2**k)
    incl = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
    incl = incl[incl.sum(axis=1) >= p]
    return incl[np.argsort(incl.sum(axis=1), kind="stable")]


def _sampled_subsets(k: int, p: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random subsets: sizes drawn from Binomial(k, 1/2) restricted to ``p..k``, members at random."""
    from scipy import stats

    sizes = np.arange(p, k + 1)
    prob = stats.binom.pmf(sizes, k, 0.5)
    m = rng.choice(sizes, size=n, p=prob / prob.sum())
    incl = np.zeros((n, k), dtype=bool)
    for i, size in enumerate(m):
        incl[i, rng.choice(k, size=size, replace=False)] = True
    return incl[np.argsort(incl.sum(axis=1), kind="stable")]


def gosh(fit: Any, *, subsets: int | None = None, seed: int | None = None) -> GoshResult:
    r"""GOSH (graphical display of study heterogeneity): the model fitted to subsets of the studies.

    Parameters
    ----------
    fit : RmaFit
    subsets : int, optional
        Number of subsets. When all :math:`\sum_{j \ge p} \binom{k}{j}` subsets are at most
        ``subsets`` (default: one million) all are fitted; otherwise ``subsets`` random ones, each
        of a size drawn from Binomial(k, 1/2) (restricted to at least p studies).
    seed : int, optional
        Seed of the random subsets.

    Returns
    -------
    GoshResult
        ``k, QE, I2, H2, tau2`` and the coefficients of every subset fit; ``.plot()`` draws them.

    References
    ----------
    Olkin, I., Dahabreh, I. J., & Trikalinos, T. A. (2012). GOSH - a graphical display of study
    heterogeneity. Research Synthesis Methods, 3(3), 214-223.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> res = ml.gosh(ml.rma("yi", "vi", data=dat.head(6)))
    >>> res.to_frame().shape, res.exact
    ((63, 6), True)
    """
    check_rma(fit, "gosh")
    if fit.k == 1:
        raise ModelSpecificationError("gosh: the fit has a single study (k = 1)")
    if subsets is not None and (not isinstance(subsets, (int, np.integer)) or subsets < 2):
        raise ArgumentError(f"subsets must be an integer of at least 2, not {subsets!r}")
    k, p = fit.k, fit.p
    total = sum(_comb(k, j) for j in range(p, k + 1))
    limit = _EXACT_LIMIT if subsets is None else int(subsets)
    exact = total <= limit
    incl = _all_subsets(k, p) if exact else _sampled_subsets(k, p, limit, np.random.default_rng(seed))
    spec = spec_of(fit)
    out = np.full((incl.shape[0], 5 + p), np.nan)
    out[:, 0] = incl.sum(axis=1)
    for r, res in enumerate(batch_refit(spec, incl)):
        if res is not None:
            out[r, 1:] = [res.QE, res.I2, res.H2, res.tau2, *res.beta]
    if fit.method == "DL" and fit.int_only and spec.weights is None:
        _q_based_heterogeneity(out)
    names = ["estimate"] if fit.int_only else list(fit.design.names)
    frame = pd.DataFrame(out, columns=["k", "QE", "I2", "H2", "tau2", *names], index=pd.RangeIndex(1, len(out) + 1))
    return GoshResult(frame, incl, exact, k, fit.method)


def _q_based_heterogeneity(out: np.ndarray) -> None:
    """I^2 and H^2 of intercept-only DL subset fits from Q, as metafor's gosh computes them.

    With the DL estimate, :math:`I^2 = 100 (Q - (k - 1)) / Q` equals the tau^2-based value
    whenever tau^2 > 0; but metafor's gosh keeps :math:`H^2 = Q / (k - 1)` also when
    :math:`Q < k - 1` (below 1, where an rma fit reports 1). Columns ``k, QE, I2, H2`` of ``out``.
    """
    k, q = out[:, 0], out[:, 1]
    several = k > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out[several, 2] = np.maximum(0.0, 100 * (q[several] - (k[several] - 1)) / q[several])
        out[several, 3] = q[several] / (k[several] - 1)


def _comb(n: int, r: int) -> int:
    from math import comb

    return comb(n, r)


def gosh_plot(res: GoshResult, *, alpha: float | None = None) -> Any:
    """GOSH plot: I^2 (y) against each coefficient (x), with the histograms of both, as metafor's default."""
    from matplotlib.figure import Figure

    frame = res.frame[res.fit]
    coefs = list(frame.columns[5:])
    n = len(coefs)
    fig = Figure(figsize=(3.2 * n + 1.6, 4.8), layout="constrained")
    grid = fig.add_gridspec(2, n + 1, height_ratios=(1, 3), width_ratios=(*([3] * n), 1))
    a = alpha if alpha is not None else min(1.0, max(0.05, 200 / max(len(frame), 1)))
    i2 = frame["I2"].to_numpy()
    for j, col in enumerate(coefs):
        top, main = fig.add_subplot(grid[0, j]), fig.add_subplot(grid[1, j])
        x = frame[col].to_numpy()
        top.hist(x, bins=30, color="lightgray", edgecolor="black", linewidth=0.5)
        top.set_xticks([])
        main.scatter(x, i2, s=4, color="black", alpha=a, edgecolors="none", gid="subsets")
        main.set_xlabel("Estimate" if col == "estimate" else col)
        main.set_ylabel("I^2" if j == 0 else "")
    side = fig.add_subplot(grid[1, n])
    side.hist(i2, bins=30, orientation="horizontal", color="lightgray", edgecolor="black", linewidth=0.5)
    side.set_yticks([])
    return fig
