r"""Likelihoods of the RoBMA component models (arrays in, arrays out; NumPy and SciPy only).

Estimate :math:`y_i` with standard error :math:`s_i` has, given the parameters (on the
scale of the data), the mean :math:`m_i = \mu + \mathrm{PET}\, s_i` (PET models),
:math:`m_i = \mu + \mathrm{PEESE}\, s_i^2` (PEESE models) or :math:`m_i = \mu`, and the
standard deviation :math:`\sigma_i = \sqrt{s_i^2 + \tau^2}` (the study's true effect
integrated out). Under a step weight function with cut-offs :math:`c_1 < \dots < c_{J-1}` on
the p-value scale and weights :math:`1 = \omega_1 \ge \dots \ge \omega_J` of the intervals
(smallest p-values first), the density of an observed estimate is the weighted normal

.. math::

    f(y_i) = \frac{\omega_{j(y_i)}\, \phi((y_i - m_i)/\sigma_i) / \sigma_i}
                  {\sum_j \omega_j \Pr(Y \in I_j)}, \qquad Y \sim N(m_i, \sigma_i^2),

where :math:`j(y)` is the interval of the p-value of :math:`y / s_i` and :math:`I_j` the set
of estimates whose p-value falls in interval j: one-sided p-values
:math:`1 - \Phi(y / s_i)` (in the expected direction of the effect) or two-sided
:math:`2(1 - \Phi(|y| / s_i))`. The cut-offs on the estimate scale are
:math:`s_i \Phi^{-1}(1 - c_j)` (one-sided) and :math:`\pm s_i \Phi^{-1}(1 - c_j / 2)`
(two-sided), or from t tests for Cohen's d (:class:`SelectionData`), as RoBMA's JAGS
distributions ``dwnorm_1s`` and ``dwnorm_2s`` take them; an estimate exactly at a cut-off
counts as significant. The
normalizer is written as :math:`\omega_J + \sum_{j<J} (\omega_j - \omega_{j+1})
\Pr(Y \text{ beyond } c_j)`, a sum of non-negative terms.
"""

from __future__ import annotations

import math

import numpy as np

from ._spec import WeightFunction

__all__ = ["SelectionData", "selection_data", "omega_from_eta", "loglik", "log_normalizer"]

_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class SelectionData:
    """The data-dependent part of a weight function: cut-offs (k, J-1) on the estimate scale
    (decreasing in j) and the interval of each observed estimate.

    ``rule="normal"``: p-values of the z statistic ``y / se``. ``rule="t"`` (standardized mean
    differences of two groups of equal size): the sample size is recovered from the estimate and
    its standard error, ``n = (d^2 + 8) / (2 se^2)``, and the cut-offs are
    ``2 t_{n-2}^{-1}(1 - c) / sqrt(n)``.
    """

    def __init__(self, wf: WeightFunction, y: np.ndarray, se: np.ndarray, rule: str = "normal"):
        from scipy import special  # SciPy on first use: ``import multilevel.bayes`` stays light

        steps = np.asarray(wf.steps)
        self.two_sided = wf.side == "two.sided"
        tail = steps / 2 if self.two_sided else steps
        if rule == "t":
            n = (y**2 + 8) / (2 * se**2)
            self.crit = 2 * special.stdtrit(n[:, None] - 2, 1 - tail[None, :]) / np.sqrt(n)[:, None]
        else:
            self.crit = se[:, None] * special.ndtri(1 - tail)[None, :]
        stat = np.abs(y) if self.two_sided else y
        self.interval = np.sum(stat[:, None] < self.crit, axis=1)  # at a cut-off: significant (p <= step)
        self.counts = np.bincount(self.interval, minlength=len(steps) + 1).astype(float)


def selection_data(wf: WeightFunction | None, y, se, rule: str = "normal") -> SelectionData | None:
    return None if wf is None else SelectionData(wf, y, se, rule)


def omega_from_eta(eta: np.ndarray) -> np.ndarray:
    """Weights (n, J) of the intervals from Dirichlet variables ``eta`` (n, J): reversed
    cumulative sums, the first (smallest p-values) equal to 1."""
    omega = np.cumsum(eta[:, ::-1], axis=1)[:, ::-1]
    omega[:, 0] = 1.0
    return omega


def log_normalizer(sel: SelectionData, mean: np.ndarray, sd: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """log sum_j omega_j P(Y in I_j), (G, k), for Y ~ N(mean, sd^2)."""
    from scipy import special

    out = np.broadcast_to(omega[:, -1:], mean.shape).copy()
    for j in range(sel.crit.shape[1]):
        c = sel.crit[None, :, j]
        beyond = special.ndtr((mean - c) / sd)
        if sel.two_sided:
            beyond = beyond + special.ndtr((-c - mean) / sd)
        out += (omega[:, j:j + 1] - omega[:, j + 1:j + 2]) * beyond
    return np.log(out)


def loglik(y: np.ndarray, mean: np.ndarray, sd: np.ndarray, sel: SelectionData | None = None,
           omega: np.ndarray | None = None) -> np.ndarray:
    """Log-likelihood (G,) at G parameter points: ``mean`` and ``sd`` (G, k) or broadcastable
    (rows of 1 for parameters that do not vary), ``omega`` (G, J) the interval weights of the
    weight function ``sel`` (None: no selection)."""
    z = (y[None, :] - mean) / sd
    out = -0.5 * np.sum(z * z, axis=1) - np.sum(np.log(sd), axis=1) - y.size * _LN_SQRT_2PI
    if sel is not None:
        shape = (omega.shape[0], y.size)
        mean, sd = np.broadcast_to(mean, shape), np.broadcast_to(sd, shape)
        with np.errstate(divide="ignore"):
            out = out + np.log(omega) @ sel.counts - np.sum(log_normalizer(sel, mean, sd, omega), axis=1)
    return out
