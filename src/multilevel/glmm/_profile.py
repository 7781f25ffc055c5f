"""Profile-likelihood confidence intervals of a GLMM (lme4's ``confint(m, method = "profile")``),
arrays only.

The parameters are lme4's: the standard deviations and correlations of the
random effects (``.sig01`` ...), then the fixed effects. For parameter ``j``
fixed at ``v``, the Laplace (or quadrature) deviance of the fit is minimized
over all other parameters, giving the signed square-root profile

.. math::

    \\zeta_j(v) = \\operatorname{sign}(v - \\hat\\phi_j)\\,\\sqrt{D_j(v) - D(\\hat\\phi)},

and the interval's ends are where ``zeta_j = -+ z_{(1+level)/2}``. lme4 tabulates
zeta on a grid and inverts an interpolating spline; here the crossings are
found by root finding on zeta itself, so the two agree to lme4's interpolation
error (about 1e-4 of the parameter's scale). A standard deviation whose lower
end lies below zero gets the lower limit 0.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from ..lmm._sdcor import sdcor_from_theta, theta_from_sdcor
from ._fit import GlmmControl, _bobyqa, _deviance_function
from ..lmm._pls import theta_template_indices

__all__ = ["GlmmProfile", "profile_intervals"]


class GlmmProfile:
    """The deviance of ``(sdcor, beta)`` and the profile of each parameter (internal)."""

    def __init__(self, problem, nAGQ: int, eta0, theta_hat, beta_hat, deviance_hat: float, se_beta):
        self.problem, self.ks = problem, [t.k for t in problem.terms]
        _, self._dev = _deviance_function(problem, nAGQ, eta0, GlmmControl())
        self.m = sum(k * (k + 1) // 2 for k in self.ks)
        self.phi = np.concatenate([sdcor_from_theta(theta_hat, self.ks, 1.0), beta_hat])
        self.dev_hat = float(deviance_hat)
        self.lower, self.upper = self._bounds()
        self.scale = np.concatenate([np.maximum(0.5 * np.abs(self.phi[:self.m]), 0.05), se_beta])

    def _bounds(self):
        lo, hi = [], []
        for k in self.ks:
            rows, cols = theta_template_indices(k)
            lo.extend(np.where(rows == cols, 0.0, -1.0))
            hi.extend(np.where(rows == cols, np.inf, 1.0))
        p = self.phi.size - self.m
        return np.array(lo + [-np.inf] * p), np.array(hi + [np.inf] * p)

    def deviance(self, phi) -> float:
        theta = theta_from_sdcor(phi[:self.m], self.ks, 1.0)
        if theta is None:
            return np.inf
        return float(self._dev(np.concatenate([theta, phi[self.m:]])))

    def profiled(self, j: int, value: float, start) -> tuple[float, np.ndarray]:
        """Minimum of the deviance with parameter ``j`` at ``value`` (others from ``start``)."""

        others = np.delete(np.arange(self.phi.size), j)

        def fn(x):
            phi = np.insert(np.asarray(x, dtype=float), j, value)
            return self.deviance(phi)

        x0 = np.clip(start[others], self.lower[others] + 1e-10, self.upper[others] - 1e-10)
        step = np.minimum(0.2 * self.scale[others], 0.1)
        lower = self.lower[others]
        x, f, _ = _bobyqa(fn, x0, lower, step, xtol_abs=1e-9, ftol_abs=1e-11, maxeval=10_000)
        return f, np.insert(x, j, value)

    def zeta(self, j: int, value: float, start) -> tuple[float, np.ndarray]:
        f, phi = self.profiled(j, value, start)
        return float(np.sign(value - self.phi[j]) * np.sqrt(max(f - self.dev_hat, 0.0))), phi

    def crossing(self, j: int, direction: int, z: float) -> float:
        """Where zeta_j reaches ``direction * z`` (the bound when it does not before the bound)."""
        start, prev_v, prev_z = self.phi.copy(), self.phi[j], 0.0
        step = self.scale[j]
        for _ in range(60):
            v = prev_v + direction * step
            if v <= self.lower[j] or v >= self.upper[j]:
                v = self.lower[j] if direction < 0 else self.upper[j]
                zv, _ = self.zeta(j, v, start)
                if abs(zv) < z:
                    return float(v)
            else:
                zv, start = self.zeta(j, v, start)
            if abs(zv) >= z:
                return self._root(j, direction * z, prev_v, v, start)
            prev_v, prev_z = v, zv
            step *= 1.5
        return float("nan")

    def _root(self, j: int, target: float, a: float, b: float, start) -> float:
        box = {"start": start}

        def g(v):
            zv, box["start"] = self.zeta(j, v, box["start"])
            return zv - target

        return float(optimize.brentq(g, a, b, xtol=1e-7 * max(1.0, abs(b)), rtol=1e-10))


def profile_intervals(prof: GlmmProfile, level: float) -> np.ndarray:
    """``(num_params, 2)`` profile intervals at ``level``."""
    z = float(special.ndtri(0.5 + level / 2.0))
    return np.array([[prof.crossing(j, -1, z), prof.crossing(j, 1, z)] for j in range(prof.phi.size)])
