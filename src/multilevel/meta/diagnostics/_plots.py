"""Diagnostic plots of meta-analytic fits (matplotlib), laid out as metafor's.

Every function returns the ``Figure`` it drew on; those with a single panel take ``ax=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ..._exceptions import ArgumentError, ModelSpecificationError
from ..._plots_common import new_axes
from ..._protocol import level_percent
from ._case import hat_matrix
from ._influence import rstandard_rma, rstudent_rma
from ._kinds import check_rma
from ._points import baujat_points, qq_envelope, qq_points, radial_points

__all__ = ["baujat", "radial", "qqnorm"]


def baujat(fit: Any, *, ax: Any = None, symbol: str = "ids") -> Any:
    """Baujat plot (metafor's ``baujat``): contribution to heterogeneity against influence on the result.

    Parameters
    ----------
    fit : RmaFit
    ax : matplotlib Axes, optional
    symbol : {"ids", "slab"}
        Mark each study by its position (1..k) or by its label.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fig = ml.baujat(ml.rma("yi", "vi", data=dat))
    >>> fig.axes[0].get_ylabel()
    'Influence on Overall Result'
    """
    check_rma(fit, "baujat")
    if symbol not in ("ids", "slab"):
        raise ArgumentError(f"symbol must be 'ids' or 'slab', not {symbol!r}")
    xx, yy = baujat_points(fit)
    fig, ax = new_axes(ax)
    marks = [str(i + 1) for i in range(fit.k)] if symbol == "ids" else [str(s) for s in fit.slab]
    for x, y, m in zip(xx, yy, marks):
        if np.isfinite(x) and np.isfinite(y):
            ax.text(x, y, m, ha="center", va="center", fontsize=8)
    _pad_limits(ax, xx, yy)
    ax.grid(color="lightgray")
    if fit.fixed_model:
        ax.set_xlabel(f"Contribution to {'Overall' if fit.int_only else 'Residual'} Heterogeneity")
    else:
        ax.set_xlabel("Squared Pearson Residual")
    ax.set_ylabel("Influence on Overall Result" if fit.int_only else "Influence on Fitted Value")
    return fig


def _pad_limits(ax: Any, xx: np.ndarray, yy: np.ndarray) -> None:
    for values, setter in ((xx, ax.set_xlim), (yy, ax.set_ylim)):
        finite = values[np.isfinite(values)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = 0.04 * (hi - lo if hi > lo else 1.0)
            setter(lo - pad, hi + pad)


def radial(fit: Any, *, ax: Any = None, level: float | None = None) -> Any:
    r"""Radial (Galbraith) plot of an intercept-only fit (metafor's ``radial``).

    Each study is drawn at :math:`(1/\sqrt{v_i + \hat\tau^2},\ y_i/\sqrt{v_i + \hat\tau^2})`; the line
    through the origin has slope :math:`\hat\mu`, with the band :math:`\pm z_{1-\alpha/2}` around it;
    the arc on the right reads the effect sizes and marks the confidence interval of :math:`\hat\mu`.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fig = ml.radial(ml.rma("yi", "vi", data=dat))
    >>> len(fig.axes[0].collections[-1].get_offsets())
    13
    """
    check_rma(fit, "radial")
    if not fit.int_only:
        raise ModelSpecificationError("radial plots are drawn for models without moderators")
    lev = fit.level if level is None else level_percent(level)
    zcrit = float(-special.ndtri((1 - lev / 100) / 2))
    xi, zi = radial_points(fit)
    beta = float(fit.coefficients[0][0])
    lb, ub = float(fit.coefficients[4][0]), float(fit.coefficients[5][0])
    yi = np.asarray(fit.yi, dtype=float)
    xmax = 1.3 * float(xi.max())
    ci_x, ya_x = 1.12 * xmax, 1.14 * xmax
    zlim = (min(-5, 1.1 * zi.min(), 1.1 * lb * ci_x, 1.1 * yi.min() * ya_x, -1.1 * zcrit + xmax * beta),
            max(5, 1.1 * zi.max(), 1.1 * ub * ci_x, 1.1 * yi.max() * ya_x, 1.1 * zcrit + xmax * beta))
    asp = (zlim[1] - zlim[0]) / xmax
    fig, ax = new_axes(ax)
    ax.fill([0, xmax, xmax, 0], [zcrit, zcrit + xmax * beta, -zcrit + xmax * beta, -zcrit], color="lightgray",
            linewidth=0)
    ax.plot([0, xmax], [0, xmax * beta], color="black", linewidth=1)
    for s in (-zcrit, zcrit):
        ax.plot([0, xmax], [s, s + xmax * beta], color="black", linestyle=":", linewidth=1)
    _arc(ax, np.linspace(yi.min(), yi.max(), 100), ya_x, asp, zlim)
    _arc(ax, np.linspace(lb, ub, 25), ci_x, asp, zlim)
    ticks = np.linspace(yi.min(), yi.max(), 7)
    for t in ticks:
        _arc(ax, np.array([t, t]), np.array([ya_x, ya_x + 0.015 * xmax]), asp, zlim)
    for t in (lb, beta, ub):
        _arc(ax, np.array([t, t]), np.array([ci_x - 0.007 * xmax, ci_x + 0.007 * xmax]), asp, zlim)
    for t in ticks:
        r = (ya_x + 0.02 * xmax) / np.sqrt(1 + (t / asp) ** 2)
        if zlim[0] < r * t < zlim[1]:
            ax.text(r, r * t, f"{t:.2f}", fontsize=7, va="center", ha="left")
    ax.scatter(xi, zi, s=16, color="black", zorder=3)
    ax.set_xlim(0, 1.35 * xmax)
    ax.set_ylim(*zlim)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.set_yticks([-2, 0, 2])
    ax.set_xlabel("x_i = 1/sqrt(v_i)" if fit.fixed_model else "x_i = 1/sqrt(v_i + tau^2)")
    ax.set_ylabel("z_i = y_i/sqrt(v_i)" if fit.fixed_model else "z_i = y_i/sqrt(v_i + tau^2)")
    return fig


def _arc(ax: Any, slopes: np.ndarray, radius: Any, asp: float, zlim: tuple[float, float]) -> None:
    """Points at distance ``radius`` from the origin along lines of the given slopes (metafor's arcs)."""
    x = radius / np.sqrt(1 + (slopes / asp) ** 2)
    z = x * slopes
    keep = (z > zlim[0]) & (z < zlim[1])
    ax.plot(x[keep], z[keep], color="black", linewidth=1)


def qqnorm(fit: Any, *, type: str = "rstandard", envelope: bool = True, level: float | None = None,
           bonferroni: bool = False, reps: int = 1000, smooth: bool = True, bass: float = 0.0, seed: int | None = 1,
           ax: Any = None) -> Any:
    r"""Normal quantile-quantile plot of the standardized residuals (metafor's ``qqnorm``).

    Parameters
    ----------
    fit : RmaFit
    type : {"rstandard", "rstudent"}
        Internally standardized or externally studentized residuals.
    envelope : bool
        Draw metafor's pseudo confidence envelope: ``reps`` vectors :math:`(I - H) z`,
        :math:`z \sim N(0, I)`, each sorted; at each order statistic the :math:`\alpha/2` and
        :math:`1 - \alpha/2` quantiles over the vectors.
    level : float, optional
        Level of the envelope, a proportion or a percentage (default: the fit's).
    bonferroni : bool
        Use the quantiles :math:`\alpha/(2k)` and :math:`1 - \alpha/(2k)`.
    reps, seed : int
        Simulated vectors and the seed of their draws (fixed by default, so that the plot
        is reproducible; None draws afresh).
    smooth, bass
        Smooth the envelope with Friedman's super smoother (R's ``supsmu``) and its bass
        control (0 to 10; larger values give smoother lines), as metafor does.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fig = ml.qqnorm(ml.rma("yi", "vi", data=dat), seed=1)
    >>> fig.axes[0].get_xlabel()
    'Theoretical Quantiles'
    """
    check_rma(fit, "qqnorm")
    if type not in ("rstandard", "rstudent"):
        raise ArgumentError(f"type must be 'rstandard' or 'rstudent', not {type!r}")
    if not isinstance(reps, (int, np.integer)) or reps < 2:
        raise ArgumentError(f"reps must be an integer of at least 2, not {reps!r}")
    if not 0 <= float(bass) <= 10:
        raise ArgumentError(f"bass must be between 0 and 10, not {bass!r}")
    res = rstandard_rma(fit) if type == "rstandard" else rstudent_rma(fit)
    z = res.frame["z"].to_numpy()
    z = z[np.isfinite(z)]
    qx, qy = qq_points(z)
    fig, ax = new_axes(ax)
    ax.axline((0, 0), slope=1, color="black", linewidth=1)
    lev = fit.level if level is None else level_percent(level)
    if envelope:
        H = hat_matrix(fit.design.X, fit.vi, fit.tau2, fit.weights)
        draws = np.random.default_rng(seed).standard_normal((fit.k, reps))
        for x, y in qq_envelope(H, draws, lev, bonferroni=bonferroni, smooth=smooth, bass=bass):
            ax.plot(x, y, color="black", linestyle=":", gid="envelope")
    ax.scatter(qx, qy, s=16, color="black", zorder=3)
    ax.set_xlabel("Theoretical Quantiles")
    ax.set_ylabel("Sample Quantiles")
    return fig
