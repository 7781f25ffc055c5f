"""Coordinates of the diagnostic plots (arrays in, arrays out), as metafor computes them.

The plot functions in :mod:`._plots` draw these; the tests compare them with the values that
metafor's ``baujat``, ``radial`` and ``qqnorm`` return.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ._case import leave_one_out_fits
from ._refit import spec_of
from ._supsmu import supsmu

__all__ = ["baujat_points", "radial_points", "ppoints", "qq_points", "qq_envelope"]


def baujat_points(fit: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Baujat et al.'s (2002) coordinates: squared Pearson residuals and influence on the fit.

    :math:`x_i = (y_i - x_i^\top\hat\beta)^2 / (v_i + \hat\tau^2)`, :math:`y_i = (x_i^\top\hat\beta_{(i)}
    - x_i^\top\hat\beta)^2 / x_i^\top V_{(i)} x_i` with the model refitted without study :math:`i`.
    """
    spec = spec_of(fit)
    X, beta = spec.X, np.asarray(fit.coefficients[0])
    k = fit.k
    yy = np.full(k, np.nan)
    for i, res in enumerate(leave_one_out_fits(spec)):
        if res is not None:
            xi = X[i]
            yy[i] = (xi @ res.beta - xi @ beta) ** 2 / (xi @ res.vb @ xi)
    xx = (spec.yi - X @ beta) ** 2 / (fit.tau2 + spec.vi)
    return xx, yy


def radial_points(fit: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Galbraith's coordinates :math:`x_i = 1/\sqrt{v_i + \hat\tau^2}`, :math:`z_i = y_i x_i`."""
    xi = 1.0 / np.sqrt(fit.vi + fit.tau2)
    return xi, fit.yi * xi


def ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: ``(i - a) / (n + 1 - 2a)`` with ``a = 3/8`` for ``n <= 10``, else 1/2."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq_points(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's ``qqnorm(z)``: theoretical quantiles matched to the ranks of ``z`` (ties by position)."""
    z = np.asarray(z, dtype=float)
    q = special.ndtri(ppoints(z.shape[0]))
    ranks = np.empty(z.shape[0], dtype=int)
    ranks[np.argsort(z, kind="stable")] = np.arange(z.shape[0])
    return q[ranks], z


def qq_envelope(H: np.ndarray, draws: np.ndarray, level: float, *, bonferroni: bool = False, smooth: bool = True,
                bass: float = 0.0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    r"""metafor's pseudo confidence envelope of a normal QQ plot: the lower and upper lines ``(x, y)``.

    Each column of ``draws`` (:math:`k \times` reps standard normals) gives residuals
    :math:`(I - H) z`, which are sorted; the envelope at the :math:`i`-th order statistic is the
    :math:`\alpha/2` and :math:`1 - \alpha/2` quantiles over the columns (:math:`\alpha/(2k)` with
    ``bonferroni``), placed at the normal quantiles and, with ``smooth``, passed through the super
    smoother (:func:`supsmu`, with ``bass``). ``level`` is in percent.
    """
    k = H.shape[0]
    alpha = 1 - level / 100
    tail = alpha / 2 / (k if bonferroni else 1)
    ei = np.sort((np.eye(k) - H) @ draws, axis=0)
    lines = []
    for prob in (tail, 1 - tail):
        qx, qy = qq_points(np.quantile(ei, prob, axis=1))
        lines.append(supsmu(qx, qy, bass=bass) if smooth else (qx, qy))
    return lines[0], lines[1]
