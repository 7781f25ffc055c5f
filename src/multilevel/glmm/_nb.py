"""Negative binomial GLMMs (lme4's ``glmer.nb``): the family, MASS's ``theta.ml``, R's ``optimize``
for the alternating estimation of the dispersion ``theta``.

lme4's procedure, followed step by step:

1. fit the Poisson GLMM;
2. estimate ``theta`` from its fitted means by maximum likelihood (MASS's ``theta.ml``,
   Newton-Raphson with at most 20 iterations and tolerance ``2 tol``);
3. fit the negative binomial GLMM with that ``theta``;
4. minimize ``-2 logLik`` over ``log theta`` in ``log theta0 -+ 3`` with R's ``optimize``
   (Brent's method, tolerance ``tol = 5e-5``); the result is the fit at the minimizing ``theta``.
   lme4 refits each evaluation from the previous one's estimates; here every evaluation is a
   fresh fit (see :func:`multilevel.glmm._glmer_nb._refit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._family import LINKS, Family
from ._results import GeneralizedLinearMixedModel

__all__ = ["negative_binomial", "theta_ml", "brent_fmin", "NegativeBinomialMixedModel", "nb_family_name"]


def nb_family_name(theta: float) -> str:
    """R's family name ``Negative Binomial(<theta rounded to 4 decimals>)``."""
    value = round(float(theta), 4)
    text = f"{value:.7g}"
    return f"Negative Binomial({text})"


def negative_binomial(theta: float) -> Family:
    """MASS's ``negative.binomial(theta)`` family with the log link (variance ``mu + mu^2 / theta``)."""
    th = float(theta)

    def variance(mu):
        return mu + np.square(mu) / th

    def dev_resid(y, mu, wt):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2.0 * wt * (y * np.log(np.maximum(1.0, y) / mu) - (y + th) * np.log((y + th) / (mu + th)))

    def aic(y, n, mu, wt, dev):
        term = ((y + th) * np.log(mu + th) - special.xlogy(y, mu) + special.gammaln(y + 1.0) - th * math.log(th)
                + special.gammaln(th) - special.gammaln(th + y))
        return 2.0 * float(np.sum(term * wt))

    return Family(nb_family_name(th), LINKS["log"], variance, dev_resid, aic, False, ("log",))


def theta_ml(y, mu, weights, *, limit: int = 10, eps: float = 1.220703e-4) -> float:
    """MASS's ``theta.ml``: maximum-likelihood ``theta`` of negative binomial counts with means ``mu``."""
    y, mu, w = (np.asarray(a, dtype=float) for a in (y, mu, weights))
    n = float(np.sum(w))

    def score(th):
        return float(np.sum(w * (special.digamma(th + y) - special.digamma(th) + math.log(th) + 1.0
                                 - np.log(th + mu) - (y + th) / (mu + th))))

    def info(th):
        return float(np.sum(w * (-special.polygamma(1, th + y) + special.polygamma(1, th) - 1.0 / th
                                 + 2.0 / (mu + th) - (y + th) / np.square(mu + th))))

    t0 = n / float(np.sum(w * np.square(y / mu - 1.0)))
    it, delta = 0, 1.0
    while True:
        it += 1
        if not (it < limit and abs(delta) > eps):
            break
        t0 = abs(t0)
        delta = score(t0) / info(t0)
        t0 = t0 + delta
    return max(t0, 0.0)


def brent_fmin(f, lower: float, upper: float, tol: float) -> float:
    """R's ``optimize`` (Brent's ``fmin``): the minimizer of ``f`` on ``[lower, upper]``."""
    c = (3.0 - math.sqrt(5.0)) * 0.5
    eps = math.sqrt(np.finfo(float).eps)
    a, b = lower, upper
    v = w = x = a + c * (b - a)
    d = e = 0.0
    fx = fv = fw = f(x)
    tol3 = tol / 3.0
    while True:
        xm = (a + b) * 0.5
        tol1 = eps * abs(x) + tol3
        t2 = tol1 * 2.0
        if abs(x - xm) <= t2 - (b - a) * 0.5:
            return x
        p = q = r = 0.0
        if abs(e) > tol1:  # parabola through x, v, w
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = (q - r) * 2.0
            p, q = (-p, q) if q > 0.0 else (p, -q)
            r, e = e, d
        if abs(p) >= abs(q * 0.5 * r) or p <= q * (a - x) or p >= q * (b - x):
            e = (b - x) if x < xm else (a - x)
            d = c * e
        else:
            d = p / q
            u = x + d
            if u - a < t2 or b - u < t2:
                d = tol1 if x < xm else -tol1
        u = x + d if abs(d) >= tol1 else (x + tol1 if d > 0.0 else x - tol1)
        fu = f(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, w, x, fv, fw, fx = w, x, u, fw, fx, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu


@dataclass(frozen=True, eq=False, repr=False)
class NegativeBinomialMixedModel(GeneralizedLinearMixedModel):
    """A negative binomial GLMM fitted by :func:`multilevel.glmer_nb` (lme4's ``glmer.nb``).

    Everything of :class:`GeneralizedLinearMixedModel`, with the dispersion
    ``nb_theta`` (lme4's ``getME(m, "glmer.nb.theta")``; variance ``mu + mu^2 / theta``)
    counted among the parameters of ``logLik``, as lme4 counts it, and
    ``nb_evaluations`` (fits evaluated by the search over theta).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.glmer_nb("incidence ~ period + offset(log(size)) + (1 | herd)", ml.datasets.load("cbpp"))
    >>> round(fit.nb_theta, 2), fit.num_params
    (2.28, 6)
    """

    nb_theta: float = math.nan
    nb_evaluations: int = 0

    @property
    def num_params(self) -> int:
        return super().num_params + 1

    def __repr__(self) -> str:
        return (f"<NegativeBinomialMixedModel {self.family}: {self.formula}; nobs={self.nobs}, "
                f"theta={self.nb_theta:.4f}, logLik={self.loglik:.4f}>")
