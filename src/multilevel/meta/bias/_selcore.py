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
error estimate exceeds the tolerance). The first rule is evaluated for all studies at once;
only the studies whose error estimate does not pass go through the adaptive routine (SciPy's
binding of the same QUADPACK code), so that the likelihood equals metafor's to rounding.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

from ._qagi import qagi_many

__all__ = ["SelectionSpec", "selection_spec", "pvalues", "weights", "loglik", "loglik_many", "INT_TOL", "dnorm", "SELECTION_TYPES"]

SELECTION_TYPES = ("beta", "halfnorm", "negexp", "logistic", "power", "negexppow", "stepfun")
INT_TOL = np.finfo(float).eps ** 0.25  # integrate(rel.tol = abs.tol = .Machine$double.eps^0.25)
_EPS = np.finfo(float).eps
_SQRT_2PI_INV = 0.398942280401432677939946059934
_LN_SQRT_2PI = 0.918938533204672741780329736406

# QUADPACK's 15-point Kronrod nodes and weights, and the weights of the embedded 7-point Gauss rule
_XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                 0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                 0.586087235467691130294144838258730, 0.405845151377397166906606412076961,
                 0.207784955007898467600689403773245, 0.0])
_WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                 0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                 0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
_WG = np.array([0.0, 0.129484966168869693270611432679082, 0.0, 0.279705391489276667901467771423780,
                0.0, 0.381830050505118944950369775488975, 0.0, 0.417959183673469387755102040816327])


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
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z) if alternative == "greater" else special.ndtr(z)


def dnorm(x: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Normal density as R's ``dnorm`` (exact splitting of ``x^2`` beyond 5 standard deviations)."""
    z = np.abs((x - mean) / sd)
    out = _SQRT_2PI_INV * np.exp(-0.5 * z * z) / sd
    far = z >= 5
    if far.any():
        zf = z[far]
        hi = np.ldexp(np.round(np.ldexp(zf, 16)), -16)
        lo = zf - hi
        sdf = np.broadcast_to(sd, z.shape)[far]
        out[far] = _SQRT_2PI_INV / sdf * (np.exp(-0.5 * hi * hi) * np.exp((-0.5 * lo - hi) * lo))
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
            w = np.exp(-delta[0] * prec * p**2) / np.exp(-delta[0] * prec * s**2)
        elif kind == "negexp":
            w = np.exp(-delta[0] * prec * p) / np.exp(-delta[0] * prec * s)
        elif kind == "logistic":
            e, es = np.exp(-delta[0] * prec * p), np.exp(-delta[0] * prec * s)
            w = (2 * e / (1 + e)) / (2 * es / (1 + es))
        elif kind == "power":
            w = (1 - p) ** (prec * delta[0]) / (1 - s) ** (prec * delta[0])
        else:  # negexppow
            w = np.exp(-delta[0] * prec * p ** (1 / delta[1])) / np.exp(-delta[0] * prec * s ** (1 / delta[1]))
        return np.where(p <= s, 1.0, w)


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


def _integrand(data: SelectionData, yvals: np.ndarray, i: np.ndarray | int, yhat, tau2: float, delta) -> np.ndarray:
    v = data.v[i]
    p = _clamp(pvalues(yvals, v, data.alternative), data.pval_min)
    return weights(data.kind, p, delta, data.prec[i], data.steps) * dnorm(yvals, yhat, np.sqrt(v + tau2))


def _gk15_infinite(fn_pos_neg, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """QUADPACK ``qk15i`` on (0, 1] for ``k`` integrands over the real line at once.

    ``fn_pos_neg(x)`` takes the (k, 15) nodes ``x`` and returns ``f(x) + f(-x)``.
    Returns (result, abserr, resasc).
    """
    absc = 0.5 * _XGK
    t = np.concatenate([0.5 - absc[:7], [0.5], 0.5 + absc[:7][::-1]])  # 15 nodes in (0, 1)
    x = (1.0 - t) / t
    fv = fn_pos_neg(np.broadcast_to(x, (k, 15))) / t / t
    w_k = np.concatenate([_WGK[:7], [_WGK[7]], _WGK[:7][::-1]])
    w_g = np.concatenate([_WG[:7], [_WG[7]], _WG[:7][::-1]])
    resk = fv @ w_k
    resg = fv @ w_g
    resabs = np.abs(fv) @ w_k
    reskh = resk * 0.5
    resasc = np.abs(fv - reskh[:, None]) @ w_k
    hlgth = 0.5
    result, resasc, resabs = resk * hlgth, resasc * hlgth, resabs * hlgth
    abserr = np.abs((resk - resg) * hlgth)
    with np.errstate(all="ignore"):
        scaled = resasc * np.minimum(1.0, (200 * abserr / resasc) ** 1.5)
    abserr = np.where((resasc != 0) & (abserr != 0), scaled, abserr)
    abserr = np.where(resabs > np.finfo(float).tiny / (50 * _EPS), np.maximum(50 * _EPS * resabs, abserr), abserr)
    return result, abserr, resasc


def selection_integrals(data: SelectionData, yhat: np.ndarray, tau2: float, delta: np.ndarray) -> np.ndarray:
    """:math:`A_i` for every study, as R's ``integrate(-Inf, Inf)`` returns it."""
    def fold(owners: np.ndarray, y: np.ndarray) -> np.ndarray:
        idx, yh = owners[:, None], yhat[owners][:, None]
        return _integrand(data, y, idx, yh, tau2, delta) + _integrand(data, -y, idx, yh, tau2, delta)

    values, codes = qagi_many(fold, data.y.shape[0], epsabs=INT_TOL, epsrel=INT_TOL)
    bad = np.flatnonzero((codes != 0) | ~np.isfinite(values))
    if bad.size:
        raise FloatingPointError(f"could not integrate over the density of study {bad[0] + 1}")
    return values


def _scalar_weight(kind: str, delta: np.ndarray, prec: float, s: float):
    """The selection function of one study as a plain-float closure (QUADPACK calls it pointwise)."""
    d0 = float(delta[0])
    if kind == "beta":
        d1 = float(delta[1])
        return lambda p: p ** (d0 - 1) * (1 - p) ** (d1 - 1)
    rate = d0 * prec
    if kind == "halfnorm":
        ref = math.exp(-rate * s * s)
        return lambda p: 1.0 if p <= s else math.exp(-rate * p * p) / ref
    if kind == "negexp":
        ref = math.exp(-rate * s)
        return lambda p: 1.0 if p <= s else math.exp(-rate * p) / ref
    if kind == "logistic":
        es = math.exp(-rate * s)
        ref = 2 * es / (1 + es)

        def logistic(p: float) -> float:
            if p <= s:
                return 1.0
            e = math.exp(-rate * p)
            return (2 * e / (1 + e)) / ref
        return logistic
    if kind == "power":
        ref = (1 - s) ** rate
        return lambda p: 1.0 if p <= s else (1 - p) ** rate / ref
    inv = 1 / float(delta[1])
    ref = math.exp(-rate * s**inv)
    return lambda p: 1.0 if p <= s else math.exp(-rate * p**inv) / ref


def _scalar_integrand(data: SelectionData, i: int, yhat: float, tau2: float, delta: np.ndarray):
    sd_v, sd = math.sqrt(data.v[i]), math.sqrt(data.v[i] + tau2)
    w = _scalar_weight(data.kind, delta, float(data.prec[i]), float(data.steps[0]))
    lo, hi, alt = data.pval_min, 1 - data.pval_min, data.alternative
    root2 = math.sqrt(2.0)

    def f(y: float) -> float:
        z = y / sd_v
        if alt == "greater":
            p = 0.5 * math.erfc(z / root2)
        elif alt == "less":
            p = 0.5 * math.erfc(-z / root2)
        else:
            p = math.erfc(abs(z) / root2)
        p = min(max(p, lo), hi)
        x = abs((y - yhat) / sd)
        if x < 5:
            dens = _SQRT_2PI_INV * math.exp(-0.5 * x * x) / sd
        else:
            x1 = math.ldexp(round(math.ldexp(x, 16)), -16)
            x2 = x - x1
            dens = _SQRT_2PI_INV / sd * (math.exp(-0.5 * x1 * x1) * math.exp((-0.5 * x2 - x1) * x2))
        return w(p) * dens
    return f


def _adaptive(data: SelectionData, i: int, yhat: float, tau2: float, delta: np.ndarray) -> float:
    fn = _scalar_integrand(data, i, yhat, tau2, delta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = integrate.quad(fn, -np.inf, np.inf, epsabs=INT_TOL, epsrel=INT_TOL, limit=100, full_output=1)
        except (OverflowError, ZeroDivisionError, ValueError):
            out = (math.nan, math.nan, {}, "error")
    if len(out) > 3 or not math.isfinite(out[0]):  # QUADPACK's ier > 0: R's integrate stops with an error
        raise FloatingPointError(f"could not integrate over the density of study {i + 1}")
    return float(out[0])


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


def loglik(data: SelectionData, beta: np.ndarray, tau2: float, delta: np.ndarray) -> float:
    """Log-likelihood of the selection model at (beta, tau2, delta)."""
    yhat = data.X @ beta
    if data.kind == "stepfun":
        A = stepfun_integrals(data, yhat, tau2, delta)
    else:
        A = selection_integrals(data, yhat, tau2, delta)
    w = weights(data.kind, data.pvals, delta, data.prec, data.steps)
    with np.errstate(all="ignore"):
        return float(np.sum(np.log(w) + log_dnorm(data.y, yhat, np.sqrt(data.v + tau2)) - np.log(A)))


def loglik_many(data: SelectionData, betas: np.ndarray, tau2s: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Log-likelihoods at ``m`` parameter sets (rows of ``betas``, ``tau2s``, ``deltas``), the
    integrals of all sets and studies computed together (each as :func:`loglik` computes it)."""
    m, k = betas.shape[0], data.y.shape[0]
    yhat = betas @ data.X.T
    if data.kind == "stepfun":
        A = np.vstack([stepfun_integrals(data, yhat[j], tau2s[j], deltas[j]) for j in range(m)])
    else:
        dcols = deltas.T[:, :, None]  # (deltas, m, 1): delta[0] broadcasts over the rows of one set

        def fold(owners: np.ndarray, y: np.ndarray) -> np.ndarray:
            s, i = owners // k, owners % k
            v, yh, t2 = data.v[i][:, None], yhat[s, i][:, None], tau2s[s][:, None]
            d, prec = dcols[:, s], data.prec[i][:, None]
            out = 0.0
            for sign in (1.0, -1.0):
                p = _clamp(pvalues(sign * y, v, data.alternative), data.pval_min)
                out = out + weights(data.kind, p, d, prec, data.steps) * dnorm(sign * y, yh, np.sqrt(v + t2))
            return out

        values, codes = qagi_many(fold, m * k, epsabs=INT_TOL, epsrel=INT_TOL)
        bad = np.flatnonzero((codes != 0) | ~np.isfinite(values))
        if bad.size:
            raise FloatingPointError(f"could not integrate over the density of study {bad[0] % k + 1}")
        A = values.reshape(m, k)
    if data.kind == "stepfun":
        group = np.minimum(np.searchsorted(data.steps, data.pvals, side="left"), data.steps.size - 1)
        w = deltas[:, group] / data.prec[None, :]
    else:
        w = weights(data.kind, data.pvals[None, :], deltas.T[:, :, None], data.prec[None, :], data.steps)
    with np.errstate(all="ignore"):
        terms = np.log(w) + log_dnorm(data.y[None, :], yhat, np.sqrt(data.v[None, :] + tau2s[:, None])) - np.log(A)
    return terms.sum(axis=1)


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
