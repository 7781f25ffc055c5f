r"""Numerical core of the selection models (arrays in, numbers out).

A selection model (Vevea & Hedges, 1995; Citkowicz & Vevea, 2017; Preston et al., 2004) says
that study :math:`i`, with true-effect distribution :math:`N(x_i^\top\beta, v_i + \tau^2)`, is
published with a probability proportional to a function :math:`w(p_i; \delta)` of its one-sided
(or two-sided) p-value. The density of an observed effect is then

.. math::

    f(y_i) = \frac{w(p_i; \delta)\, \phi(y_i; x_i^\top\beta, v_i + \tau^2)}{A_i}, \qquad
    A_i = \int_{-\infty}^{\infty} w(p(y); \delta)\, \phi(y; x_i^\top\beta, v_i + \tau^2)\, dy.

For the step function :math:`A_i` is a sum of normal probabilities; for the continuous
selection functions it is an integral over the real line, computed as R's ``integrate``
computes it (QUADPACK's ``qagi``: the 15-point Gauss-Kronrod rule on the map
:math:`y = (1 - t)/t` of (0, 1], adaptive bisection with extrapolation when the first rule's
error estimate exceeds the tolerance), so that the likelihood equals metafor's to rounding.
The integrals of all studies, and of all parameter sets a gradient or Hessian needs, run
together on arrays (:mod:`._qagi`, :mod:`._selquad`); the integrand is evaluated at the
nodes of every open integral in one call, each of its factors once per distinct argument
(:mod:`._selint`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._qagi import qagi_many
from ._selint import Integrand

__all__ = ["SelectionSpec", "selection_spec", "pvalues", "weights", "fitted", "r_sum", "loglik", "loglik_many",
           "loglik_trial", "INT_TOL", "dnorm", "SELECTION_TYPES"]

SELECTION_TYPES = ("beta", "halfnorm", "negexp", "logistic", "power", "negexppow", "stepfun")
INT_TOL = np.finfo(float).eps ** 0.25  # integrate(rel.tol = abs.tol = .Machine$double.eps^0.25)
_EPS = np.finfo(float).eps
_SQRT_2PI_INV = 0.398942280401432677939946059934
_LN_SQRT_2PI = 0.918938533204672741780329736406
_DNORM_ZERO = math.sqrt(-2 * math.log(2) * (-1021 + 1 - 53))  # R's dnorm is 0 beyond (DBL_MIN_EXP, DBL_MANT_DIG)

@dataclass(frozen=True)
class SelectionSpec:
    """Parameters of one selection function: number of deltas, bounds, start, H0 and p-value floor."""

    type: str
    deltas: int
    lower: np.ndarray        # parameter space (delta.lb)
    upper: np.ndarray        # (delta.ub)
    lower_excl: np.ndarray
    init: np.ndarray
    dmin: np.ndarray         # optimisation bounds (delta.min, delta.max)
    dmax: np.ndarray
    h0: np.ndarray           # value under no selection (for the Wald tests)
    pval_min: float


def selection_spec(kind: str, num_steps: int) -> SelectionSpec:
    """metafor 3.8-1's settings for selection function ``kind`` (``num_steps`` cut points with 1)."""
    if kind == "beta":
        return SelectionSpec(kind, 2, np.zeros(2), np.full(2, np.inf), np.ones(2, bool), np.ones(2),
                             np.full(2, 1e-5), np.full(2, 100.0), np.ones(2), 1e-5)
    if kind in ("halfnorm", "negexp", "logistic", "power"):
        return SelectionSpec(kind, 1, np.zeros(1), np.full(1, np.inf), np.zeros(1, bool), np.ones(1),
                             np.zeros(1), np.full(1, 100.0), np.zeros(1), 1e-5 if kind == "power" else 0.0)
    if kind == "negexppow":
        return SelectionSpec(kind, 2, np.zeros(2), np.full(2, np.inf), np.zeros(2, bool), np.ones(2),
                             np.zeros(2), np.full(2, 100.0), np.zeros(2), 0.0)
    n = num_steps
    return SelectionSpec(kind, n, np.zeros(n), np.full(n, np.inf), np.zeros(n, bool), np.ones(n),
                         np.zeros(n), np.full(n, 100.0), np.ones(n), 0.0)


def pvalues(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    """p-values of ``y / sqrt(v)``: one-sided (``"greater"``, ``"less"``) or two-sided."""
    if alternative == "greater":
        return special.ndtr(y / -np.sqrt(v))  # = ndtr(-(y / sqrt(v))) exactly
    z = y / np.sqrt(v)
    return special.ndtr(z) if alternative == "less" else 2 * special.ndtr(-np.abs(z))


def dnorm(x: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Normal density as R's ``dnorm``: ``x^2`` split exactly beyond 5 standard deviations, 0
    beyond the underflow bound. The exponentials are taken only where they are needed (an
    underflowing ``exp`` is several times slower than a normal one)."""
    z = np.abs((x - mean) / sd)
    out = _SQRT_2PI_INV * np.exp(-0.5 * np.square(np.minimum(z, 5.0))) / sd
    z_flat, out_flat = z.reshape(-1), out.reshape(-1)  # (views: both are new arrays)
    far = np.flatnonzero(z_flat >= 5)
    if far.size:
        out_flat[far] = 0.0
        zf = z_flat[far]
        inside = zf <= _DNORM_ZERO
        idx, zf = far[inside], zf[inside]
        hi = np.round(zf * 65536.0) * (1 / 65536.0)  # ldexp(nearbyint(ldexp(z, 16)), -16)
        lo = zf - hi
        if z.ndim == 2 and np.shape(sd) == (z.shape[0], 1):
            sd_far = sd[:, 0][idx // z.shape[1]]
        else:
            sd_far = np.broadcast_to(sd, z.shape)[np.unravel_index(idx, z.shape)]
        with np.errstate(under="ignore"):
            out_flat[idx] = _SQRT_2PI_INV / sd_far * (np.exp(-0.5 * hi * hi) * np.exp((-0.5 * lo - hi) * lo))
    return out


def log_dnorm(x: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    z = (x - mean) / sd
    return -(_LN_SQRT_2PI + 0.5 * z * z + np.log(sd))


def weights(kind: str, p: np.ndarray, delta: np.ndarray, prec: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Selection function ``w(p; delta)`` (relative likelihood of selection) at p-values ``p``.

    ``prec`` (broadcast against ``p``) scales the rate of the one-parameter functions and
    divides the step heights; ``steps[0]`` is the p-value below which the continuous functions
    equal 1 (0 unless ``steps`` was given).
    """
    with np.errstate(all="ignore"):
        if kind == "beta":
            return p ** (delta[0] - 1) * (1 - p) ** (delta[1] - 1)
        if kind == "stepfun":
            group = np.searchsorted(steps, p, side="left")
            return delta[np.minimum(group, steps.size - 1)] / prec
        s = steps[0]
        if kind == "halfnorm":
            w = np.exp(-delta[0] * prec * p**2)
            ref = np.exp(-delta[0] * prec * s**2)
        elif kind == "negexp":
            w = np.exp(-delta[0] * prec * p)
            ref = np.exp(-delta[0] * prec * s)
        elif kind == "logistic":
            e, es = np.exp(-delta[0] * prec * p), np.exp(-delta[0] * prec * s)
            w, ref = 2 * e / (1 + e), 2 * es / (1 + es)
        elif kind == "power":
            w, ref = (1 - p) ** (prec * delta[0]), (1 - s) ** (prec * delta[0])
        else:  # negexppow
            w = np.exp(-delta[0] * prec * p ** (1 / delta[1]))
            ref = np.exp(-delta[0] * prec * s ** (1 / delta[1]))
        if s == 0:  # ref = 1 and w(0) = 1: the step below would change nothing
            return w
        return np.where(p <= s, 1.0, w / ref)


def _clamp(p: np.ndarray, pval_min: float) -> np.ndarray:
    return np.minimum(np.maximum(p, pval_min), 1 - pval_min)


@dataclass(frozen=True)
class SelectionData:
    """Everything the likelihood needs besides the parameters."""

    kind: str
    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    prec: np.ndarray
    steps: np.ndarray
    alternative: str
    pval_min: float
    pvals: np.ndarray    # clamped to [pval_min, 1 - pval_min]


def _clamped_pvalues(data: SelectionData):
    """p-values (clamped to ``[pval_min, 1 - pval_min]``) at (n, 30) nodes of studies ``i``."""
    def pvals(nodes: np.ndarray, i: np.ndarray) -> np.ndarray:
        p = pvalues(nodes, data.v[i][:, None], data.alternative)
        return _clamp(p, data.pval_min) if data.pval_min > 0 else p
    return pvals


def _integrals(data: SelectionData, yhat: np.ndarray, tau2s: np.ndarray, deltas: np.ndarray, strict: bool = True
               ) -> np.ndarray:
    """:math:`A_i` of every study (columns) at ``m`` parameter sets (rows of ``yhat``, ``tau2s``,
    ``deltas``), each as R's ``integrate(-Inf, Inf)`` returns it, all computed together. An
    integral that fails raises FloatingPointError, or with ``strict=False`` is NaN."""
    m, k = yhat.shape
    fold = Integrand(data, yhat, tau2s, deltas, pvalues=_clamped_pvalues(data), weights=weights, dnorm=dnorm)
    values, codes = qagi_many(fold, m * k, epsabs=INT_TOL, epsrel=INT_TOL)
    bad = np.flatnonzero((codes != 0) | ~np.isfinite(values))
    if bad.size and strict:
        raise FloatingPointError(_integration_failure(bad[0] % k))
    values[bad] = np.nan
    return values.reshape(m, k)


def _integration_failure(study: int) -> str:
    return f"could not integrate over the density of study {study + 1}"


def selection_integrals(data: SelectionData, yhat: np.ndarray, tau2: float, delta: np.ndarray) -> np.ndarray:
    """:math:`A_i` for every study, as R's ``integrate(-Inf, Inf)`` returns it."""
    return _integrals(data, yhat[None, :], np.array([tau2]), np.asarray(delta)[None, :])[0]


def _step_cuts(data: SelectionData, sd_v: np.ndarray) -> np.ndarray:
    """Effect sizes at the step p-values, (k, N-1): where each study's p-value crosses a step."""
    s = data.steps[:-1][None, :]
    if data.alternative == "two.sided":
        s = s / 2
    return -special.ndtri(s) * sd_v[:, None]  # qnorm(s, 0, sd, lower.tail = FALSE)


def stepfun_integrals(data: SelectionData, yhat: np.ndarray, tau2: float, delta: np.ndarray) -> np.ndarray:
    r""":math:`A_i` of the step function: :math:`\sum_j \delta_j / \text{prec}_i\, P(p_i \in (s_{j-1}, s_j])`."""
    sei = np.sqrt(data.v + tau2)[:, None]
    cut = _step_cuts(data, np.sqrt(data.v))  # y above cut[:, j] <=> p-value below the step (one tail)
    yh = yhat[:, None]
    above = special.ndtr(-(cut - yh) / sei)     # P(y > c_j)
    below_neg = special.ndtr((-cut - yh) / sei)  # P(y < -c_j)
    if data.alternative == "greater":
        inner, last = above, special.ndtr((cut[:, -1:] - yh) / sei)[:, 0]
    elif data.alternative == "less":
        inner, last = below_neg, special.ndtr(-(-cut[:, -1:] - yh) / sei)[:, 0]
    else:
        inner = above + below_neg
        last = special.ndtr((cut[:, -1] - yhat) / sei[:, 0]) - below_neg[:, -1]
    scale = delta[1:] / data.prec[:, None]
    total = inner[:, 0]
    if inner.shape[1] > 1:
        total = total + np.sum(scale[:, :-1] * np.diff(inner, axis=1), axis=1)
    return total + scale[:, -1] * last


def fitted(X: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Fitted values ``X beta``: (k,) for one parameter set, (m, k) for the rows of ``betas``.

    Summed column by column, rounding after each product and sum, as the reference BLAS's
    ``dgemv`` behind R's ``X %*% beta`` does. A parameter set's fitted values are then the
    same bits whether it is computed alone or in a batch; a BLAS product (``X @ beta``,
    ``betas @ X.T``) picks its kernel, and with it the rounding, by the shapes.
    """
    rows = np.atleast_2d(betas)
    out = rows[:, :1] * X[None, :, 0]
    for j in range(1, X.shape[1]):
        out = out + rows[:, j:j + 1] * X[None, :, j]
    return out[0] if np.ndim(betas) == 1 else out


def r_sum(terms: np.ndarray) -> np.ndarray:
    """Sums along the last axis as R's ``sum`` takes them: in order, in long double (80-bit on
    x86-64), rounded once at the end. NumPy's pairwise sum differs in the last bit, which the
    optimiser's finite-difference gradients and the Hessian's small steps turn into visible
    differences."""
    return np.cumsum(terms.astype(np.longdouble), axis=-1)[..., -1].astype(float)


def loglik(data: SelectionData, beta: np.ndarray, tau2: float, delta: np.ndarray) -> float:
    """Log-likelihood of the selection model at (beta, tau2, delta)."""
    yhat = fitted(data.X, beta)
    if data.kind == "stepfun":
        A = stepfun_integrals(data, yhat, tau2, delta)
    else:
        A = selection_integrals(data, yhat, tau2, delta)
    w = weights(data.kind, data.pvals, delta, data.prec, data.steps)
    with np.errstate(all="ignore"):
        return float(r_sum(np.log(w) + log_dnorm(data.y, yhat, np.sqrt(data.v + tau2)) - np.log(A)))


def loglik_many(data: SelectionData, betas: np.ndarray, tau2s: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Log-likelihoods at ``m`` parameter sets (rows of ``betas``, ``tau2s``, ``deltas``), the
    integrals of all sets and studies computed together (each as :func:`loglik` computes it)."""
    return _loglik_rows(data, betas, tau2s, deltas, strict=True)[0]


def loglik_trial(data: SelectionData, betas: np.ndarray, tau2s: np.ndarray, deltas: np.ndarray,
                 yhat: np.ndarray | None = None) -> list[float | FloatingPointError]:
    """:func:`loglik_many`, where a set whose integrals fail gives the error :func:`loglik`
    would raise for it instead of raising (for points that may turn out not to be needed).
    ``yhat`` (rows: sets) replaces ``fitted(data.X, betas)`` for sets of fits with other designs."""
    values, A = _loglik_rows(data, betas, tau2s, deltas, strict=False, yhat=yhat)
    bad = np.isnan(A)
    return [FloatingPointError(_integration_failure(int(np.argmax(row)))) if row.any() else float(value)
            for value, row in zip(values, bad)]


def _loglik_rows(data: SelectionData, betas: np.ndarray, tau2s: np.ndarray, deltas: np.ndarray, strict: bool,
                 yhat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    m = betas.shape[0]
    if yhat is None:
        yhat = fitted(data.X, betas)
    if data.kind == "stepfun":
        A = np.vstack([stepfun_integrals(data, yhat[j], tau2s[j], deltas[j]) for j in range(m)])
    else:
        A = _integrals(data, yhat, tau2s, deltas, strict)
    if data.kind == "stepfun":
        group = np.minimum(np.searchsorted(data.steps, data.pvals, side="left"), data.steps.size - 1)
        w = deltas[:, group] / data.prec[None, :]
    else:
        w = weights(data.kind, data.pvals[None, :], deltas.T[:, :, None], data.prec[None, :], data.steps)
    with np.errstate(all="ignore"):
        terms = np.log(w) + log_dnorm(data.y[None, :], yhat, np.sqrt(data.v[None, :] + tau2s[:, None])) - np.log(A)
    return r_sum(terms), A


def map_delta(x: np.ndarray, dmin: np.ndarray, dmax: np.ndarray) -> np.ndarray:
    """metafor's map of the real line onto (delta.min, delta.max): a scaled logistic."""
    with np.errstate(over="ignore"):
        return dmin + (dmax - dmin) / (1 + np.exp(-x))


def unmap_delta(d: np.ndarray, dmin: np.ndarray, dmax: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log((d - dmin) / (dmax - d))


def clip_tau2(tau2: float) -> float:
    """Values below ``10 eps`` count as 0, as in metafor's likelihood."""
    return 0.0 if tau2 < _EPS * 10 else tau2


def stepfun_mass_check(steps: np.ndarray, pvals: np.ndarray) -> np.ndarray:
    """Number of observed p-values in each interval ``(steps[j-1], steps[j]]``."""
    group = np.searchsorted(steps, pvals, side="left")
    return np.bincount(np.minimum(group, steps.size - 1), minlength=steps.size)


def pos_int(n: float) -> bool:
    return math.isfinite(n) and n > 0
