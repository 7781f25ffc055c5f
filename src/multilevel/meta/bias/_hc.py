"""The Henmi-Copas confidence interval for :func:`~multilevel.rma` fits, as metafor's ``hc``."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, special

from ..._display import FrameMapping, TextReport
from ..._exceptions import ArgumentError, ModelSpecificationError
from ..shared._format import DEFAULT_DIGITS, fcf
from ..shared._roots import r_uniroot
from ..univariate._rma import RmaFit
from ._selcore import INT_TOL

__all__ = ["hc", "HcResult"]


@dataclass(frozen=True, eq=False, repr=False)
class HcResult(TextReport, FrameMapping):
    """Result of :func:`hc`: the fixed-effects estimate with the Henmi-Copas interval, beside the
    original fit's estimate and interval (frozen).

    Attributes
    ----------
    beta, se, ci_lb, ci_ub, tau2 : float
        Henmi-Copas: the inverse-variance weighted mean, its standard error under the
        random-effects model, the interval and the DerSimonian-Laird tau^2.
    beta_rma, se_rma, ci_lb_rma, ci_ub_rma, tau2_rma : float
        The same quantities from the original fit.
    method_rma : str
        The tau^2 estimator of the original fit.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
    >>> res = ml.hc(fit)
    >>> round(res.tau2, 4) if hasattr(res, "tau2") else res.to_frame().round(4)
    0.017
    """

    beta: float
    se: float
    ci_lb: float
    ci_ub: float
    tau2: float
    beta_rma: float
    se_rma: float
    ci_lb_rma: float
    ci_ub_rma: float
    tau2_rma: float
    method_rma: str
    digits: int = DEFAULT_DIGITS

    def to_frame(self) -> pd.DataFrame:
        """Rows ``rma`` and ``hc``: method, tau2, estimate, se, ci_lb, ci_ub.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998"))
        >>> ml.hc(fit).to_frame().round(4)
            method    tau2  estimate      se   ci_lb   ci_ub
        rma   REML  0.0224    0.2189  0.0494  0.1221  0.3157
        hc      DL  0.0170    0.1858  0.0493  0.0830  0.2885
        """
        return pd.DataFrame({"method": [self.method_rma, "DL"], "tau2": [self.tau2_rma, self.tau2],
                             "estimate": [self.beta_rma, self.beta], "se": [self.se_rma, self.se],
                             "ci_lb": [self.ci_lb_rma, self.ci_lb], "ci_ub": [self.ci_ub_rma, self.ci_ub]},
                            index=["rma", "hc"])

    def __str__(self) -> str:
        d = self.digits
        cols = {"method": [self.method_rma, "DL"], "tau2": fcf([self.tau2_rma, self.tau2], d),
                "estimate": fcf([self.beta_rma, self.beta], d), "se": fcf([self.se_rma, self.se], d),
                "ci.lb": fcf([self.ci_lb_rma, self.ci_lb], d), "ci.ub": fcf([self.ci_ub_rma, self.ci_ub], d)}
        widths = {k: max(len(k), *(len(v) for v in vals)) for k, vals in cols.items()}
        head = "    " + " ".join(k.rjust(widths[k]) for k in cols)
        rows = [name.ljust(3) + " " + " ".join(cols[k][i].rjust(widths[k]) for k in cols)
                for i, name in enumerate(("rma", "hc"))]
        return "\n".join(["", head, *rows, ""])


def _moments(w: np.ndarray) -> tuple[float, float, float, float]:
    W1 = float(w.sum())
    return W1, float(np.sum(w**2)) / W1, float(np.sum(w**3)) / W1, float(np.sum(w**4)) / W1


def _root_function(k: int, tau2: float, W: tuple[float, float, float, float], level: float):
    """The equation in ``t`` whose root gives the percentage point of Henmi & Copas's statistic."""
    W1, W2, W3, W4 = W
    VR = 1 + tau2 * W2
    SDR = math.sqrt(VR)

    def eq(r: float) -> float:
        return (k - 1) + tau2 * (W1 - W2) + tau2**2 * (r**2 / VR**2 - 1 / VR) * (W3 - W2**2)

    def vq(r: float) -> float:
        a = r**2 / VR**2 - 1 / VR
        return (2 * (k - 1) + 4 * tau2 * (W1 - W2) + 2 * tau2**2 * (W1 * W2 - 2 * W3 + W2**2)
                + 4 * tau2**2 * a * (W3 - W2**2) + 4 * tau2**3 * a * (W4 - 2 * W2 * W3 + W2**3)
                + 2 * tau2**4 * (1 / VR**2 - 2 * r**2 / VR**3) * (W3 - W2**2) ** 2)

    def finv(f: float) -> float:
        return (W1 / W2 - 1) * (f**2 - 1) + (k - 1)

    def integrand(r: float, x: float) -> float:
        e, v = eq(SDR * r), vq(SDR * r)
        q = finv(r / x) if x > 0 else math.inf
        return float(special.gammainc(e**2 / v, max(q, 0.0) / (v / e))) * math.exp(-0.5 * r * r) \
            / math.sqrt(2 * math.pi)

    def fn(x: float) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            val = integrate.quad(integrand, x, np.inf, args=(x,), epsabs=INT_TOL, epsrel=INT_TOL, limit=100)[0]
        return val - level / 2

    return fn, SDR


def hc(fit: RmaFit) -> HcResult:
    r"""Henmi & Copas's confidence interval for the pooled effect (metafor's ``hc``).

    The pooled effect is the fixed-effects (inverse-variance weighted) mean, which gives
    the small studies less weight than a random-effects model and so is less sensitive to
    publication bias; its standard error and confidence interval account for heterogeneity
    (DerSimonian-Laird tau^2) through an approximation to the distribution of
    :math:`(\hat\beta - \beta) / \widehat{SE}` given Cochran's Q.

    Parameters
    ----------
    fit : RmaFit
        A fit from :func:`~multilevel.rma` without moderators.

    Returns
    -------
    HcResult

    Notes
    -----
    With :math:`w_i = 1/v_i`, :math:`W_r = \sum w_i^r / \sum w_i`, the DerSimonian-Laird
    :math:`\hat\tau^2`, :math:`\hat\beta = \sum w_i y_i / \sum w_i` and
    :math:`SE^2 = (\hat\tau^2 W_2 + 1) / \sum w_i`, the interval is
    :math:`\hat\beta \pm u_0 SE` where :math:`u_0 = \sqrt{1 + \hat\tau^2 W_2}\, t_0` and
    :math:`t_0` solves :math:`\int_{t_0}^\infty P(Q \le q(r/t_0))\, \phi(r)\, dr = \alpha/2`
    with Q approximated by a gamma distribution with the conditional mean and variance of
    Henmi & Copas (2010). As in metafor the root is found by R's ``uniroot`` on [0, 2] at its
    default tolerance and the integral by R's ``integrate``.

    References
    ----------
    Henmi, M., & Copas, J. B. (2010). Confidence intervals for random effects meta-analysis and
    robustness to publication bias. Statistics in Medicine, 29(29), 2969-2983.

    Examples
    --------
    >>> import multilevel as ml
    >>> res = ml.hc(ml.rma("yi", "vi", data=ml.datasets.load("hackshaw1998")))
    >>> round(res.beta, 4), round(res.ci_lb, 4), round(res.ci_ub, 4)
    (0.1858, 0.083, 0.2885)
    """
    if not isinstance(fit, RmaFit):
        raise ArgumentError(f"hc needs a fit from ml.rma, not a {type(fit).__name__}")
    if not fit.int_only:
        raise ModelSpecificationError("hc applies to models without moderators; refit without mods")
    if fit.k < 2:
        raise ModelSpecificationError(f"hc needs at least 2 studies (k = {fit.k})")
    bad = np.flatnonzero(~(fit.vi > 0))
    if bad.size:
        raise ModelSpecificationError("hc needs positive sampling variances; not so in "
                                      + ", ".join(f"{fit.slab[i]} (vi = {fit.vi[i]:g})" for i in bad[:5]))
    y, v, k = fit.yi, fit.vi, fit.k
    w = 1 / v
    W = _moments(w)
    beta = float(np.sum(w * y) / W[0])
    Q = float(np.sum(w * (y - beta) ** 2))
    tau2 = max(0.0, (Q - (k - 1)) / (W[0] - W[1]))
    se = math.sqrt((tau2 * W[1] + 1) / W[0])
    fn, SDR = _root_function(k, tau2, W, 1 - fit.level / 100)
    try:
        t0 = r_uniroot(fn, 0.0, 2.0)
    except ValueError as exc:
        raise ModelSpecificationError(f"the Henmi-Copas percentage point could not be found: {exc}") from None
    u0 = SDR * t0
    lo, hi = sorted((beta - u0 * se, beta + u0 * se))
    return HcResult(beta, se, lo, hi, tau2, float(fit.beta.iloc[0]), float(fit.se.iloc[0]),
                    float(fit.ci_lb.iloc[0]), float(fit.ci_ub.iloc[0]), float(fit.tau2), fit.method)
