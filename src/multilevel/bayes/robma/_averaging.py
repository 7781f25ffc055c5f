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

__all__ = ["posterior_probabilities", "inclusion", "weighted_quantile", "weighted_moments",
           "exact_transform", "linear_scale"]


def posterior_probabilities(log_ml: np.ndarray, prior_prob: np.ndarray) -> np.ndarray:
    """p(M | y) proportional to p(y | M) p(M)."""
    from scipy.special import logsumexp  # SciPy on first use: ``import multilevel.bayes`` stays light

    lw = np.asarray(log_ml) + np.log(np.asarray(prior_prob))
    return np.exp(lw - logsumexp(lw))


def inclusion(included: np.ndarray, prior_prob: np.ndarray, post_prob: np.ndarray):
    """(prior probability, posterior probability, inclusion BF) of the models ``included``:
    the change from prior to posterior odds of the component."""
    p0, p1 = float(prior_prob[included].sum()), float(post_prob[included].sum())
    if p0 in (0.0, 1.0):
        return p0, p1, math.nan
    with np.errstate(divide="ignore"):
        if p1 >= 1.0:
            return p0, p1, math.inf
        return p0, p1, (p1 / (1 - p1)) / (p0 / (1 - p0))


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
