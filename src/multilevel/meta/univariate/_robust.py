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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..._data import offending_rows
from ..._display import TextReport
from ..._exceptions import DataError, ModelSpecificationError
from ..._protocol import FitProtocol, confint_frame, level_percent, wald_tidy
from ..multivariate._robust import FOOTSYM, RobustRmaMv
from ..shared._format import moderators_lines, signif_legend_lines
from ._infer import predict
from ._print import RmaSummary

__all__ = ["RobustRma", "RobustRmaFit", "robust_rma"]


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


def robust_rma(fit: Any, cluster: Any, *, adjust: bool = True, data: Any = None) -> "RobustRmaFit":
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
    return RobustRmaFit(fit, RobustRma.build(fit, vb, df, n, np.bincount(codes), est, np.asarray(fit.btt)))


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


@dataclass(frozen=True, eq=False, repr=False)
class RobustRmaFit(FitProtocol, TextReport):
    """An ``rma`` fit with cluster-robust inference (metafor's ``robust.rma`` object), frozen.

    The coefficients are those of the underlying fit; their covariance matrix, tests and
    intervals are the cluster-robust ones (t distribution on the df of the estimator). The
    protocol's verbs answer as for every fit: :attr:`params`, :meth:`vcov`, :meth:`confint`,
    :meth:`tidy` (= :meth:`to_frame`), :meth:`predict`, :meth:`summary` (metafor's printed
    layout; its ``to_frame()`` is metafor's model-results table), ``nobs``, and the
    likelihood criteria of the underlying fit (``loglik``, ``aic``, ``bic``, ``fitstats()``).

    Attributes
    ----------
    fit : RmaFit
        The fit the robust inference is computed for.
    report : RobustRma
        The printed report (robust ``se``, ``tval``, ``df``, ``pval``, ``ci_lb``, ``ci_ub``,
        ``vb`` with metafor's names, the omnibus test ``QM``, ``QMp``, ``QMdf`` and the
        clusters); its fields are also read through this object (``robust.se``).

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> rob = ml.rma("yi", "vi", data=dat, mods="~ ablat").robust("alloc", data=dat)
    >>> rob.tidy()[["term", "estimate", "std_error", "df"]].round(4)
              term  estimate  std_error   df
    0  (Intercept)    0.2515     0.1284  1.0
    1        ablat   -0.0291     0.0059  1.0
    """

    fit: Any
    report: RobustRma = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("fit", "report"):
            raise AttributeError(name)
        for source in (self.report, self.fit):
            if hasattr(type(source), name) or name in getattr(source, "__dataclass_fields__", {}):
                return getattr(source, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __str__(self) -> str:
        return str(self.report)

    # ------------------------------------------------------------------ the protocol verbs
    @property
    def params(self) -> pd.Series:
        """The coefficients with R's names (those of the underlying fit)."""
        return self.fit.params

    def vcov(self) -> pd.DataFrame:
        """Cluster-robust covariance matrix of :attr:`params` (R's names; ``vb`` has metafor's).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> rob = ml.rma("yi", "vi", data=dat, mods="~ ablat").robust("alloc", data=dat)
        >>> rob.vcov().round(6)
                     (Intercept)     ablat
        (Intercept)     0.016482 -0.000547
        ablat          -0.000547  0.000035
        """
        names = self.fit.coef_names
        return pd.DataFrame(self.report.vb.to_numpy(), index=names, columns=names)

    @property
    def df_coef(self) -> np.ndarray:
        """Degrees of freedom of the t test of each coefficient."""
        return self.report.df.to_numpy(dtype=float)

    @property
    def nobs(self) -> int:
        """Number of estimates of the underlying fit."""
        return self.fit.nobs

    @property
    def num_params(self) -> int:
        return self.fit.num_params

    @property
    def loglik(self) -> float:
        """Log-likelihood of the underlying fit (robust inference does not change it)."""
        return self.fit.loglik

    @property
    def aic(self) -> float:
        return self.fit.aic

    @property
    def bic(self) -> float:
        return self.fit.bic

    def fitstats(self) -> pd.Series:
        """The fit statistics of the underlying fit.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> rob = ml.rma("yi", "vi", data=dat, mods="~ ablat").robust("alloc", data=dat)
        >>> rob.fitstats().round(4)["AIC"] == rob.fit.fitstats().round(4)["AIC"]
        np.True_
        """
        return self.fit.fitstats()

    def _level(self, level: Any) -> float:
        return self.fit.level if level is None else level_percent(level)

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per coefficient: robust standard errors, t tests on the robust df and
        intervals at ``level`` (default: that of the fit); the column ``df`` holds the df.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> rob = ml.rma("yi", "vi", data=dat, mods="~ ablat").robust("alloc", data=dat)
        >>> rob.tidy(level=0.9)[["term", "std_error", "conf_low", "conf_high"]].round(4)
                  term  std_error  conf_low  conf_high
        0  (Intercept)     0.1284   -0.5591     1.0620
        1        ablat     0.0059   -0.0666     0.0084
        """
        pct = self._level(level)
        out = wald_tidy(self.fit.coef_names, self.params.to_numpy(), self.report.se.to_numpy(), level=pct / 100,
                        df=self.df_coef)
        out["df"] = self.df_coef
        return out

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Cluster-robust confidence intervals of the coefficients (t on the robust df).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> ml.rma("yi", "vi", data=dat).robust("alloc", data=dat).confint().round(4)
                      kind  estimate   lower   upper
        term
        (Intercept)  fixed   -0.7145 -1.5226  0.0936
        """
        pct = self._level(level)
        t = self.tidy(pct)
        return confint_frame(t["term"], t["kind"], t["estimate"], t["conf_low"], t["conf_high"], level=pct / 100,
                             method="cluster-robust")

    def predict(self, newmods: Any = None, *, transf: Callable[[np.ndarray], np.ndarray] | None = None,
                level: float | None = None) -> pd.DataFrame:
        """Predicted effects as :meth:`RmaFit.predict`, with the robust covariance matrix and
        t quantiles on the robust df (metafor's ``predict`` of a ``robust.rma`` object).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> rob = ml.rma("yi", "vi", data=dat, mods="~ ablat").robust("alloc", data=dat)
        >>> rob.predict([10, 30, 50]).round(4)
             pred      se   ci_lb   ci_ub   pi_lb   pi_ub
        0 -0.0396  0.0952 -1.2492  1.1701 -3.7531  3.6740
        1 -0.6216  0.1239 -2.1962  0.9530 -4.4695  3.2264
        2 -1.2036  0.2232 -4.0398  1.6326 -5.7171  3.3099
        """
        return predict(self.fit, newmods, transf=transf, level=self._level(level),
                       vb=self.report.vb.to_numpy(), df=float(np.min(self.df_coef)))

    def summary(self) -> RobustRma:
        """metafor's printed robust model (``to_frame()``: the model-results table).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> rob = ml.rma("yi", "vi", data=dat, mods="~ ablat").robust("alloc", data=dat)
        >>> rob.summary().to_frame()[["estimate", "se", "df"]].round(4)
                 estimate      se   df
        intrcpt    0.2515  0.1284  1.0
        ablat     -0.0291  0.0059  1.0
        """
        return self.report
