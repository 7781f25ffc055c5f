"""The tetrachoric correlation of a 2x2 table and its large-sample variance (measure ``RTET``).

The table is read as two dichotomized standard normal variables with correlation ``rho``
and thresholds ``h`` (rows) and ``k`` (columns). The model has as many parameters as the
table has free cells, so the maximum-likelihood thresholds are the normal quantiles of the
margins and ``rho`` solves ``Phi2(k, h; rho) = ai / n`` (Pearson 1900; Kirk 1973).
The variance is the ``rho`` element of the inverse Fisher information of the multinomial
likelihood in ``(rho, h, k)``, which at this saturated fit equals the observed information.

References
----------
Pearson, K. (1900). Mathematical contributions to the theory of evolution VII. *Philosophical
Transactions of the Royal Society A*, 195, 1-47.

Kirk, D. B. (1973). On the numerical approximation of the bivariate normal (tetrachoric)
correlation coefficient. *Psychometrika*, 38, 259-268.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["tetrachoric", "bivariate_normal_cdf"]

#: largest absolute correlation considered (metafor bounds the estimate the same way).
MAX_COR = 0.9999


def _phi(x: float) -> float:
    """The standard normal density."""
    return float(np.exp(-x * x / 2) / np.sqrt(2 * np.pi))


def _density(x: float, y: float, rho: float) -> float:
    """The standard bivariate normal density with correlation ``rho`` at ``(x, y)``."""
    s = 1.0 - rho * rho
    return float(np.exp(-(x * x - 2 * rho * x * y + y * y) / (2 * s)) / (2 * np.pi * np.sqrt(s)))


def bivariate_normal_cdf(x: float, y: float, rho: float) -> float:
    """``P(X <= x, Y <= y)`` for standard normals with correlation ``rho`` (|rho| < 1).

    Uses ``d Phi2 / d rho = phi2`` (Plackett 1954): the integral of the density over the
    correlation from 0 to ``rho`` added to ``Phi(x) Phi(y)``.

    Examples
    --------
    >>> round(bivariate_normal_cdf(0.0, 0.0, 0.5), 12)  # 1/4 + arcsin(0.5) / (2 pi)
    0.333333333333
    """
    from scipy.integrate import quad

    base = float(ndtr(x) * ndtr(y))
    if rho == 0:
        return base
    extra, _ = quad(lambda r: _density(x, y, r), 0.0, rho, epsabs=1e-14, epsrel=1e-12, limit=200)
    return base + extra


def _information(n: float, rho: float, h: float, k: float) -> np.ndarray:
    """Fisher information of ``(rho, h, k)`` for a table of ``n`` observations."""
    s = np.sqrt(1 - rho * rho)
    pa = bivariate_normal_cdf(k, h, rho)
    ph, pk = ndtr(h), ndtr(k)
    fh, fk = _phi(h), _phi(k)
    da = np.array([_density(k, h, rho), fh * ndtr((k - rho * h) / s), fk * ndtr((h - rho * k) / s)])
    dh, dk = np.array([0.0, fh, 0.0]), np.array([0.0, 0.0, fk])
    probs = [pa, ph - pa, pk - pa, 1 - ph - pk + pa]
    grads = [da, dh - da, dk - da, da - dh - dk]
    return n * sum(np.outer(g, g) / p for g, p in zip(grads, probs))


def tetrachoric(ai: float, bi: float, ci: float, di: float) -> tuple[float, float]:
    """Tetrachoric correlation and its sampling variance for the table ``[[ai, bi], [ci, di]]``.

    A table with an empty margin gives ``(nan, nan)``; one whose off-diagonal (diagonal)
    cells are both empty gives ``(1, 0)`` (``(-1, 0)``). A table with a single empty cell
    has its maximum on the bound: ``(1, nan)`` or ``(-1, nan)``, the likelihood being flat
    there (metafor reports a variance from a numerical Hessian of the flat likelihood).

    Examples
    --------
    >>> r, v = tetrachoric(40, 10, 10, 40)
    >>> round(r, 4)
    0.809
    """
    n = ai + bi + ci + di
    if min(ai + bi, ci + di, ai + ci, bi + di) == 0:
        return np.nan, np.nan
    if bi == 0 and ci == 0:
        return 1.0, 0.0
    if ai == 0 and di == 0:
        return -1.0, 0.0
    from scipy.optimize import brentq

    h, k = ndtri((ai + bi) / n), ndtri((ai + ci) / n)
    if bi == 0 or ci == 0:
        return 1.0, np.nan
    if ai == 0 or di == 0:
        return -1.0, np.nan
    rho = brentq(lambda r: bivariate_normal_cdf(k, h, r) - ai / n, -MAX_COR, MAX_COR, xtol=1e-14, rtol=1e-14)
    try:
        cov = np.linalg.inv(_information(n, rho, h, k))
    except np.linalg.LinAlgError:
        return rho, np.nan
    return rho, float(cov[0, 0])
