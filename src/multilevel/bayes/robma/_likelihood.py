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
(two-sided), or from t tests for Cohen's d, correlations and Fisher's z
(:class:`SelectionData`), as RoBMA's JAGS
distributions ``dwnorm_1s`` and ``dwnorm_2s`` take them; an estimate exactly at a cut-off
counts as significant. The
normalizer is written as :math:`\omega_J + \sum_{j<J} (\omega_j - \omega_{j+1})
\Pr(Y \text{ beyond } c_j)`, a sum of non-negative terms.
"""

from __future__ import annotations

import math

import numpy as np

from ._spec import WeightFunction

__all__ = ["SelectionData", "selection_data", "cutoff_rule", "t_rule_sample_size", "omega_from_eta", "loglik", "log_normalizer"]

_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class SelectionData:
    """The data-dependent part of a weight function: cut-offs (k, J-1) on the estimate scale
    (decreasing in j) and the interval of each observed estimate.

    ``rule="normal"``: p-values of the z statistic ``y / se``. The t rules recover a sample size
    n from the estimate and its standard error and take the p-values from a t test on n - 2
    degrees of freedom, as RoBMA does for data entered as Cohen's d, correlations or Fisher's z
    (:func:`cutoff_rule`):

    * ``"t"`` (Cohen's d of two groups of equal size): ``n = (d^2 + 8) / (2 se^2)``, cut-offs
      ``2 t_{n-2}^{-1}(1 - c) / sqrt(n)``;
    * ``"t_z"`` (Fisher's z): ``n = 3 + 1 / se^2``, cut-offs ``t_{n-2}^{-1}(1 - c) se``;
    * ``"t_r"`` (correlations fitted as Fisher's z, ``y = atanh(r)``, ``se = 1 / sqrt(n - 3)`` with
      RoBMA's sample size of r, see :mod:`._measures`): ``n = 3 + 1 / se^2``, cut-offs
      ``atanh(t / sqrt(n - 2 + t^2))`` on the r scale of the t test of a correlation, with
      ``t = t_{n-2}^{-1}(1 - c)``.
    """

    def __init__(self, wf: WeightFunction, y: np.ndarray, se: np.ndarray, rule: str = "normal"):
        from scipy import special  # SciPy on first use: ``import multilevel.bayes`` stays light

        steps = np.asarray(wf.steps)
        self.two_sided = wf.side == "two.sided"
        tail = steps / 2 if self.two_sided else steps
        if rule == "normal":
            self.crit = se[:, None] * special.ndtri(1 - tail)[None, :]
        else:
            n = t_rule_sample_size(rule, y, se)
            t = special.stdtrit(n[:, None] - 2, 1 - tail[None, :])
            if rule == "t":
                self.crit = 2 * t / np.sqrt(n)[:, None]
            elif rule == "t_z":
                self.crit = t * se[:, None]
            else:
                self.crit = np.arctanh(t / np.sqrt(n[:, None] - 2 + t**2))
        stat = np.abs(y) if self.two_sided else y
        self.interval = np.sum(stat[:, None] < self.crit, axis=1)  # at a cut-off: significant (p <= step)
        self.counts = np.bincount(self.interval, minlength=len(steps) + 1).astype(float)


_T_RULES = {"SMD": "t", "ZCOR": "t_z", "COR": "t_r"}


def cutoff_rule(cutoffs: str, measure: str) -> str:
    """The rule of :class:`SelectionData` for ``cutoffs`` (``"normal"`` or ``"t"``) and a measure
    (RoBMA's: t tests for Cohen's d, correlations and Fisher's z; the normal for log odds ratios,
    whose t test has infinite degrees of freedom, and for other measures)."""
    return "normal" if cutoffs == "normal" else _T_RULES[measure]


def t_rule_sample_size(rule: str, y: np.ndarray, se: np.ndarray) -> np.ndarray:
    """The sample size n that the t rule ``rule`` recovers from estimates and standard errors
    (on the fitting scale; see :class:`SelectionData`)."""
    if rule == "t":
        return (y**2 + 8) / (2 * se**2)
    return 3 + 1 / se**2  # "t_z" and "t_r": Fisher's z with se = 1 / sqrt(n - 3)


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
