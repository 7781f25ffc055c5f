"""Posterior model probabilities, inclusion Bayes factors and weighted (mixed) posteriors.

Arrays in, arrays out. A component model's posterior is a weighted sample (points and
normalized weights); the model-averaged posterior of a quantity is the union of the models'
samples with weights multiplied by the posterior model probabilities (models without the
parameter contribute its null value), which is what mixing draws in proportion to the
posterior probabilities (RoBMA's way) does without the resampling noise.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["posterior_probabilities", "inclusion", "inclusion_bf", "weighted_quantile", "weighted_moments",
           "exact_transform", "linear_scale"]


def posterior_probabilities(log_ml: np.ndarray, prior_prob: np.ndarray) -> np.ndarray:
    """p(M | y) proportional to p(y | M) p(M)."""
    from scipy.special import logsumexp  # SciPy on first use: ``import multilevel.bayes`` stays light

    lw = np.asarray(log_ml) + np.log(np.asarray(prior_prob))
    return np.exp(lw - logsumexp(lw))


def inclusion(included: np.ndarray, prior_prob: np.ndarray, post_prob: np.ndarray, log_ml: np.ndarray):
    """(prior probability, posterior probability, inclusion BF) of the models ``included``
    (the BF by :func:`inclusion_bf`)."""
    included = np.asarray(included, dtype=bool)
    p0, p1 = float(prior_prob[included].sum()), float(post_prob[included].sum())
    return p0, p1, inclusion_bf(included, prior_prob, log_ml)


def inclusion_bf(included: np.ndarray, prior_prob: np.ndarray, log_ml: np.ndarray) -> float:
    r"""The inclusion Bayes factor of the models ``included`` against the others, from the log
    marginal likelihoods as BayesTools computes it (``inclusion_BF`` with ``margliks``, which
    RoBMA's tables and ``interpret`` report): with :math:`\ell` the log marginal likelihoods
    shifted by their maximum,

    .. math::

        BF = \frac{\sum_{m \in A} e^{\ell_m} p_m / \sum_{m \notin A} e^{\ell_m} p_m}
                  {\sum_{m \in A} p_m / \sum_{m \notin A} p_m},

    infinite when the sum over the other models underflows to 0 (and 0 when the sum over
    ``included`` does); infinite when every model is included, 0 when none is. Not from the
    posterior probabilities: their sum rounds to 1 long before the odds are infinite."""
    included = np.asarray(included, dtype=bool)
    if included.all():
        return math.inf
    if not included.any():
        return 0.0
    ml = np.asarray(log_ml, dtype=float)
    ml = ml - ml.max()
    prior_prob = np.asarray(prior_prob, dtype=float)
    alt, null = (float(np.sum(np.exp(ml[m]) * prior_prob[m])) for m in (included, ~included))
    odds = float(prior_prob[included].sum()) / float(prior_prob[~included].sum())
    if null == 0.0:
        return math.inf if alt > 0 else math.nan
    return alt / null / odds


def weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and SD (weights summing to 1)."""
    m = float(w @ x)
    return m, float(math.sqrt(max(float(w @ (x - m) ** 2), 0.0)))


def weighted_quantile(x: np.ndarray, w: np.ndarray, probs) -> np.ndarray:
    """Quantiles of a weighted sample: the smallest x whose cumulative weight reaches p (the
    inverse of the weighted empirical distribution function)."""
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    cw /= cw[-1]
    idx = np.searchsorted(cw, np.asarray(probs, dtype=float) - 1e-12, side="left")
    return xs[np.minimum(idx, len(xs) - 1)]


def exact_transform(x: np.ndarray, to: str) -> np.ndarray:
    """Cohen's d to another measure, exactly: r = d / sqrt(d^2 + 4), z = atanh(r),
    log(OR) = d pi / sqrt(3)."""
    if to == "d":
        return x
    if to == "logOR":
        return x * math.pi / math.sqrt(3)
    r = x / np.sqrt(x**2 + 4)
    return r if to == "r" else np.arctanh(r)


def linear_scale(to: str) -> float:
    """RoBMA's linear factor from Cohen's d to ``to`` (for tau; PEESE takes its inverse)."""
    return {"d": 1.0, "r": 0.5, "z": 0.5, "logOR": math.pi / math.sqrt(3)}[to]
