r"""Permutation-based confidence intervals of the coefficients of an rma fit (metafor's
``permutest(..., permci = TRUE)``).

The lower bound of coefficient :math:`j` is the value :math:`b` at which the one-sided permutation
p-value of :math:`H_0: \beta_j = b` against :math:`\beta_j > b` equals :math:`\alpha/2`; the
hypothesis is tested by refitting the model to :math:`y - b x_j` and permuting that data set (signs
flipped, or moderator rows permuted). The p-value is a step function of :math:`b`, so the bound is
a step point found to the root-finding tolerance; as metafor, the search is Brent's method
(R's ``uniroot``, tolerance :math:`\epsilon^{1/4}`) on :math:`p(b) - \alpha/2` (negative values
multiplied by 10), over :math:`[\mathrm{ci.lb} - (\hat\beta_j - \mathrm{ci.lb}), \hat\beta_j]`
(and symmetrically for the upper bound), so that an exact test gives metafor's bounds. Random
permutations are drawn afresh from the same seed at every value of :math:`b`, which makes
:math:`p(b)` one step function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..shared._roots import r_uniroot
from ._refit import Spec, refit

__all__ = ["zeroin", "permutation_ci"]

ROOT_TOL = np.finfo(float).eps ** 0.25
MAX_ITER = 100


def zeroin(f: Callable[[float], float], lo: float, hi: float, flo: float, fhi: float,
           tol: float = ROOT_TOL, maxiter: int = MAX_ITER) -> float | None:
    """The library's root finder (:func:`~multilevel.meta.shared._roots.r_uniroot`, R's ``uniroot``)
    on a bracket whose end values are known; None when ``f`` has the same sign at both ends or an
    end value is not finite (where R's ``uniroot`` stops), the last iterate at the iteration limit."""
    if not (np.isfinite(flo) and np.isfinite(fhi)) or flo * fhi > 0:
        return None
    return r_uniroot(f, lo, hi, tol=tol, maxiter=maxiter, f_lower=flo, f_upper=fhi, last_at_limit=True)


PermZ = Callable[[Spec], np.ndarray]


def _one_sided_pval(spec: Spec, j: int, value: float, perm_z: PermZ, greater: bool, comptol: float) -> float:
    """Permutation p-value of beta_j = value against beta_j > value (``greater``) or < value."""
    shifted = replace(spec, yi=spec.yi - value * spec.X[:, j])
    obs = refit(shifted)
    if obs is None:
        raise FloatingPointError("the model cannot be fitted to the shifted effect sizes")
    z = perm_z(shifted)[:, j]
    z = z[~np.isnan(z)]
    if greater:
        return float(np.mean(z >= obs.zval[j] - comptol))
    return float(np.mean(z <= obs.zval[j] + comptol))


def permutation_ci(spec: Spec, beta: np.ndarray, ci_lb: np.ndarray, ci_ub: np.ndarray, coefs: list[int],
                   perm_z: PermZ, comptol: float) -> tuple[np.ndarray, np.ndarray]:
    """Permutation-based bounds of the coefficients ``coefs`` (NaN elsewhere or where the search fails).

    ``perm_z(spec)`` gives the test statistics of the permuted data sets of ``spec`` (one row each).
    """
    half_alpha = (100 - spec.level) / 100 / 2  # as R's (100 - level)/100: exactly 0.025 at 95
    lower, upper = np.full(beta.shape, np.nan), np.full(beta.shape, np.nan)
    for j in coefs:
        for greater, out in ((True, lower), (False, upper)):
            def diff(value: float, j: int = j, greater: bool = greater) -> float:
                d = _one_sided_pval(spec, j, value, perm_z, greater, comptol) - half_alpha
                return 10 * d if d < 0 else d

            if greater:
                lo, hi = ci_lb[j] - (beta[j] - ci_lb[j]), beta[j]
            else:
                lo, hi = beta[j], ci_ub[j] + (ci_ub[j] - beta[j])
            try:
                root = zeroin(diff, lo, hi, diff(lo), diff(hi))
            except FloatingPointError:
                root = None
            out[j] = np.nan if root is None else root
    return lower, upper
