r"""Numerical core of the publication-bias tools (arrays in, numbers out).

* Kendall's rank correlation with the p-value R's ``cor.test(method = "kendall",
  exact = TRUE)`` reports: the exact permutation distribution of the statistic
  when there are no ties, the normal approximation with the ties-corrected
  variance otherwise.
* One step of the trim-and-fill estimators of the number of missing studies
  (Duval & Tweedie, 2000): ``L0``, ``R0`` and ``Q0`` from the signed ranks of the
  centred effects.
* The fail-safe numbers of Rosenthal (1979), Orwin (1983) and Rosenberg (2005).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..shared._roots import r_uniroot

__all__ = ["kendall_tau", "kendall_test", "inversions_cdf", "trimfill_step", "rank_first",
           "fsn_rosenthal", "fsn_fisher", "fsn_orwin", "fsn_rosenberg", "round_fsn"]


# ---------------------------------------------------------------------------------------- Kendall
def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (R's ``cor(x, y, method = "kendall")``)."""
    from scipy import stats  # imported on first use: scipy.stats is slow to import

    return float(stats.kendalltau(x, y, variant="b").statistic)


def inversions_cdf(q: int, n: int) -> float:
    r"""``P(T <= q)`` for the number ``T`` of inversions of a random permutation of ``n`` items.

    ``T`` is the sum of independent uniforms on ``{0, ..., i - 1}``, ``i = 1, ..., n``; its
    distribution is built by convolving them, keeping only the values ``0..q`` (the
    lower tail is all that is needed), as probabilities so that no count overflows.

    Examples
    --------
    >>> inversions_cdf(0, 3), inversions_cdf(1, 3)  # 1/6 and 3/6
    (0.16666666666666666, 0.5)
    """
    total = n * (n - 1) // 2
    if q < 0:
        return 0.0
    if q >= total:
        return 1.0
    dist = np.zeros(q + 1)
    dist[0] = 1.0
    for i in range(2, n + 1):
        csum = np.cumsum(dist)
        window = csum.copy()
        window[i:] -= csum[:-i]
        dist = window / i
    return float(min(1.0, dist.sum()))


def kendall_test(x: np.ndarray, y: np.ndarray, *, exact: bool = True) -> tuple[float, float, bool]:
    r"""Kendall's tau-b of ``x`` and ``y``, its two-sided p-value, and whether it is exact.

    Without ties and with ``exact``, the statistic :math:`T` (the number of
    concordant pairs, :math:`T = (\tau + 1) n (n - 1) / 4`) is referred to its exact
    permutation distribution; the smaller tail is computed directly (by the symmetry
    of the distribution) and doubled. With ties, the normal approximation to
    :math:`S = \tau_b \sqrt{(n_0 - n_1)(n_0 - n_2)}` uses the ties-corrected variance
    (Kendall, 1970), as R's ``cor.test``.

    Examples
    --------
    >>> tau, p, exact = kendall_test(np.array([1., 2, 3, 4, 5]), np.array([2., 1, 4, 3, 5]))
    >>> round(tau, 4), round(p, 4), exact
    (0.6, 0.2333, True)
    """
    n = x.shape[0]
    tau = kendall_tau(x, y)
    if not np.isfinite(tau):
        return float("nan"), float("nan"), False
    ties = min(np.unique(x).size, np.unique(y).size) < n
    if exact and not ties:
        total = n * (n - 1) // 2
        q = int(round((tau + 1) * n * (n - 1) / 4))
        lower = min(q, total - q)  # P(T <= lower) equals P(T >= total - lower)
        return tau, min(1.0, 2 * inversions_cdf(lower, n)), True
    return tau, _kendall_normal_pvalue(x, y, tau), False


def _tie_sizes(v: np.ndarray) -> np.ndarray:
    counts = np.unique(v, return_counts=True)[1]
    return counts[counts > 1].astype(float)


def _kendall_normal_pvalue(x: np.ndarray, y: np.ndarray, tau: float) -> float:
    n = x.shape[0]
    tx, ty = _tie_sizes(x), _tie_sizes(y)
    t0 = n * (n - 1) / 2
    t1, t2 = np.sum(tx * (tx - 1)) / 2, np.sum(ty * (ty - 1)) / 2
    s = tau * math.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt, vu = np.sum(tx * (tx - 1) * (2 * tx + 5)), np.sum(ty * (ty - 1) * (2 * ty + 5))
    v1 = np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1))
    v2 = np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = s / math.sqrt(var_s)
    return float(2 * special.ndtr(-abs(z)))


# ---------------------------------------------------------------------------------------- trim and fill
def rank_first(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties broken by position (R's ``rank(ties.method = "first")``)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.shape[0])
    ranks[order] = np.arange(1, values.shape[0] + 1)
    return ranks


def _var_sr(k: int, k0: float) -> float:
    return (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2
            - 18 * k * k0 + 6 * k**2 * k0) / 24


def _sqrt_or_nan(x: float) -> float:
    return math.sqrt(x) if x >= 0 else float("nan")


def trimfill_step(centred: np.ndarray, estimator: str) -> tuple[int, float]:
    r"""Estimated number of missing studies and its standard error from the centred effects.

    ``centred`` are the effects (sorted so that the suspected missing studies would lie on
    the left) minus the current pooled estimate. With the signed ranks
    :math:`r_i^* = \operatorname{sign}(y_i - \hat\theta)\,\operatorname{rank}|y_i - \hat\theta|`,
    :math:`S_r = \sum_{r_i^* > 0} r_i^*` and :math:`\gamma^*` the length of the rightmost run of
    positive ranks (Duval & Tweedie, 2000):

    .. math::

        L_0 = \frac{4 S_r - k(k+1)}{2k - 1}, \quad
        R_0 = \gamma^* - 1, \quad
        Q_0 = k - \tfrac12 - \sqrt{2k^2 - 4 S_r + \tfrac14}.

    The estimate is rounded to the nearest integer (ties to even) and truncated at 0; the
    standard error is computed at the unrounded value and is NaN where its variance is
    negative.
    """
    k = centred.shape[0]
    signed = np.sign(centred) * rank_first(np.abs(centred))
    if estimator == "R0":
        neg = -signed[signed < 0]
        k0 = (k - (neg.max() if neg.size else -math.inf)) - 1
        se = math.sqrt(2 * max(0.0, k0) + 2)
    else:
        sr = float(signed[signed > 0].sum())
        if estimator == "L0":
            k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
            se = 4 * _sqrt_or_nan(_var_sr(k, k0)) / (2 * k - 1)
        else:  # Q0
            k0 = k - 0.5 - _sqrt_or_nan(2 * k**2 - 4 * sr + 0.25)
            se = 2 * _sqrt_or_nan(_var_sr(k, k0)) / _sqrt_or_nan((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1))
    if not math.isfinite(k0):
        return (0 if math.isnan(k0) else int(k)), float("nan")
    return max(0, int(round(k0))), (se if math.isnan(se) else max(0.0, se))


# ---------------------------------------------------------------------------------------- fail-safe N
def round_fsn(value: float) -> float:
    """metafor's rounding of a fail-safe number: up, unless within sqrt(eps) of an integer."""
    if math.isinf(value):
        return value
    if abs(value - round(value)) >= math.sqrt(np.finfo(float).eps):
        return float(math.ceil(value))
    return float(round(value))


def fsn_rosenthal(yi: np.ndarray, vi: np.ndarray, alpha: float) -> tuple[float, float]:
    r"""Rosenthal's fail-safe N with Stouffer's method: ``(N, p)``.

    :math:`z = |\sum z_i| / \sqrt{k}` with :math:`z_i = y_i / \sqrt{v_i}`, one-sided
    :math:`p = 1 - \Phi(z)`, and :math:`N = \max(0, k (z / z_{1-\alpha})^2 - k)`, the number of
    studies averaging :math:`z = 0` that would make the combined test just non-significant.
    """
    k = yi.shape[0]
    z = abs(float(np.sum(yi / np.sqrt(vi)))) / math.sqrt(k)
    pval = float(special.ndtr(-z))
    crit = float(-special.ndtri(alpha))
    return max(0.0, k * (z / crit) ** 2 - k), pval


def _fisher_excess(n_added: float, log_p: float, k: int, alpha: float) -> float:
    """Fisher's combined p-value with ``floor(n_added)`` studies at p = 0.5 (df from the
    unrounded count, as metafor), minus ``alpha``."""
    x2 = -2 * (log_p + math.floor(n_added) * math.log(0.5))
    return float(special.chdtrc(2 * (k + n_added), x2)) - alpha


def fsn_fisher(yi: np.ndarray, vi: np.ndarray, alpha: float) -> tuple[float, float]:
    r"""Rosenthal's fail-safe N with Fisher's method: ``(N, p)``.

    :math:`X^2 = -2 \sum \log p_i` with one-sided :math:`p_i = 1 - \Phi(|z_i|)`; ``N`` is
    the root of ``p(N) = alpha`` where N studies with :math:`p_i = 1/2` are added, found as
    R's ``uniroot(extendInt = "upX")`` on ``[0, 1000]``.
    """
    k = yi.shape[0]
    log_p = float(np.sum(special.log_ndtr(-np.abs(yi / np.sqrt(vi)))))
    pval = _fisher_excess(0.0, log_p, k, 0.0)
    if pval >= alpha:
        return 0.0, pval
    fn = lambda n: _fisher_excess(n, log_p, k, alpha)  # noqa: E731
    lower, upper = 0.0, 1000.0
    f_lower, f_upper = fn(lower), fn(upper)
    delta = 0.01 * max(1e-4, abs(upper))
    while f_upper < 0:  # extend the interval upwards, doubling the step (uniroot's "upX")
        upper += delta
        f_upper = fn(upper)
        delta *= 2
    return r_uniroot(fn, lower, upper, f_lower=f_lower, f_upper=f_upper), pval


def fsn_orwin(yi: np.ndarray, vi: np.ndarray | None, target: float | None) -> tuple[float, float, float]:
    r"""Orwin's fail-safe N: ``(N, mean effect, target)``.

    :math:`N = \max(0, k (\bar y - \theta_t) / \theta_t)`, the number of studies with effect 0
    that would bring the (inverse-variance weighted when ``vi`` is given) mean
    :math:`\bar y` down to the target :math:`\theta_t` (default :math:`\bar y / 2`; its sign is
    made that of :math:`\bar y`).
    """
    k = yi.shape[0]
    mean = float(np.mean(yi)) if vi is None else float(np.sum(yi / vi) / np.sum(1 / vi))
    if target is None:
        target = mean / 2
    if target == 0:
        return math.inf, mean, target
    if np.sign(target) != np.sign(mean):
        target = -target
    return max(0.0, k * (mean - target) / target), mean, target


def fsn_rosenberg(yi: np.ndarray, vi: np.ndarray, alpha: float) -> tuple[float, float, float]:
    r"""Rosenberg's fail-safe N: ``(N, mean effect, p)``.

    With the fixed-effects weights :math:`w_i = 1/v_i`, ``N`` studies of effect 0 and
    average weight :math:`\bar w` make the two-sided test of the weighted mean just
    non-significant: :math:`N = \max(0, k w_p / \sum w_i)`,
    :math:`w_p = (\sum w_i y_i / z_{1-\alpha/2})^2 - \sum w_i`.
    """
    k = yi.shape[0]
    w = 1 / vi
    sw = float(w.sum())
    mean = float(np.sum(w * yi) / sw)
    zval = mean / math.sqrt(1 / sw)
    w_p = (float(np.sum(w * yi)) / float(-special.ndtri(alpha / 2))) ** 2 - sw
    return max(0.0, k * w_p / sw), mean, float(2 * special.ndtr(-abs(zval)))
