"""The log posterior of one component model on an unconstrained scale (NumPy only).

Free parameters are mapped to the real line as NUTS maps them: mu by the identity, tau, PET and
PEESE by the log (priors bounded below at 0; other bounds by the transforms of
:func:`multilevel.bayes._grid._to_constrained`), and the Dirichlet variables eta (J of them,
J - 1 free) by the additive log-ratio ``eta = softmax(u_1, ..., u_{J-1}, 0)``, whose Jacobian
makes the Dirichlet density proportional to ``prod_j eta_j^alpha_j`` in u. The parameters
are on the Cohen's d scale and are rescaled to the data's scale in the likelihood (mu and tau
times c, PEESE divided by c, PET unchanged).
"""

from __future__ import annotations

import math

import numpy as np

from .._grid import _to_constrained
from ._likelihood import loglik, omega_from_eta, selection_data
from ._spec import ComponentModel

__all__ = ["ModelPosterior"]

_CHUNK = 2**21  # elements of the (points, estimates) arrays evaluated at once


def log_density(p):
    """A fast log density of the prior ``p`` (normal, Cauchy, inverse gamma in closed form with
    the truncation constant computed once; other families through SciPy)."""
    log_mass = p._log_mass
    if p.family == "normal":
        m, s = p.params
        const = -math.log(s) - 0.5 * math.log(2 * math.pi) - log_mass
        return lambda x: const - 0.5 * ((x - m) / s) ** 2
    if p.family == "cauchy":
        m, s = p.params
        const = -math.log(math.pi * s) - log_mass
        return lambda x: const - np.log1p(((x - m) / s) ** 2)
    if p.family == "invgamma":
        a, b = p.params
        const = a * math.log(b) - math.lgamma(a) - log_mass
        return lambda x: const - (a + 1) * np.log(x) - b / x
    return p.logpdf


class ModelPosterior:
    """log p(theta, y) (prior times likelihood, with the log Jacobian) of ``model`` at rows of
    ``U`` (G, dim), vectorized; :meth:`constrain` gives the parameters at those rows."""

    def __init__(self, model: ComponentModel, y: np.ndarray, se: np.ndarray, scale: float,
                 rule: str = "normal", direction: float = 1.0):
        self.model, self.y, self.se, self.c, self.direction = model, direction * y, se, scale, direction
        # mu enters a Gaussian likelihood linearly without selection: integrated out in closed form
        self.collapsed = (model.effect and model.mu.family == "normal" and math.isinf(model.mu.lower)
                          and math.isinf(model.mu.upper)
                          and (model.bias is None or model.bias.kind != "weightfunction"))
        self.sites = tuple(s for s in model.free if not (self.collapsed and s == "mu"))
        self._logpdf = {n: log_density(p) for n, p in (("mu", model.mu), ("tau", model.tau)) if not p.is_point}
        if model.bias is not None and model.bias.kind != "weightfunction":
            self._logpdf[model.bias.kind] = log_density(model.bias.coefficient)
        wf = model.bias.weightfunction if model.bias is not None else None
        self.sel = selection_data(wf, self.y, se, rule)
        if wf is not None:
            from scipy.special import gammaln  # SciPy on first use

            a = np.asarray(wf.alpha)
            self.alpha = a
            self.log_dirichlet_const = float(gammaln(a.sum()) - gammaln(a).sum())

    @property
    def dim(self) -> int:
        return len(self.sites)

    def constrain(self, U: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({name: values (G,)} with ``omega`` (G, J) for weight functions, log prior + log Jacobian)."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        n, m = U.shape[0], self.model
        vals, logp, col = {}, np.zeros(n), 0
        for name, p in (("mu", m.mu), ("tau", m.tau)):
            if p.is_point or (name == "mu" and self.collapsed):
                vals[name] = np.full(n, p.params[0])  # collapsed mu: its prior mean, integrated below
                continue
            vals[name], lj = _to_constrained(U[:, col], p.lower, p.upper)
            logp = logp + lj + self._logpdf[name](vals[name])
            col += 1
        b = m.bias
        if b is not None and b.kind != "weightfunction":
            p = b.coefficient
            vals[b.kind], lj = _to_constrained(U[:, col], p.lower, p.upper)
            logp = logp + lj + self._logpdf[b.kind](vals[b.kind])
        elif b is not None:
            Z = np.column_stack([U[:, col:], np.zeros(n)])
            log_eta = Z - np.logaddexp.reduce(Z, axis=1, keepdims=True)
            vals["omega"] = omega_from_eta(np.exp(log_eta))
            logp = logp + self.log_dirichlet_const + log_eta @ self.alpha
        return vals, logp

    def _mean_sd(self, vals: dict, rows: slice):
        c, se = self.c, self.se
        mean = self.direction * c * vals["mu"][rows, None]
        if "PET" in vals:
            mean = mean + vals["PET"][rows, None] * se[None, :]
        if "PEESE" in vals:
            mean = mean + (vals["PEESE"][rows, None] / c) * se[None, :] ** 2
        tau = vals["tau"][rows, None]
        if np.all(tau == tau[0]):  # a point prior: one row, broadcast by the likelihood
            tau = tau[:1]
        sd = np.sqrt(se[None, :] ** 2 + (c * tau) ** 2)
        return mean, sd

    def loglik(self, vals: dict) -> np.ndarray:
        """Log-likelihood (G,) at the constrained parameters ``vals`` (collapsed: integrated over mu)."""
        n = len(vals["mu"])
        step = max(64, _CHUNK // self.y.size)
        out = np.empty(n)
        for i in range(0, n, step):
            rows = slice(i, min(n, i + step))
            mean, sd = self._mean_sd(vals, rows)
            if self.collapsed:
                shape = (rows.stop - rows.start, self.y.size)
                out[rows] = self._collapsed_loglik(np.broadcast_to(mean, shape), np.broadcast_to(sd, shape) ** 2)
                continue
            omega = vals["omega"][rows] if "omega" in vals else None
            out[rows] = loglik(self.y, mean, sd, self.sel, omega)
        return out

    def _collapsed_loglik(self, mean, var):
        """log N(y; mean, diag(var) + a 11') with a = (c s0)^2, s0 the prior SD of mu and ``mean``
        at mu's prior mean (matrix determinant lemma and Sherman-Morrison)."""
        a = (self.c * self.model.mu.params[1]) ** 2
        r = self.y[None, :] - mean
        s_inv, s_r = np.sum(1 / var, axis=1), np.sum(r / var, axis=1)
        quad = np.sum(r * r / var, axis=1) - a * s_r**2 / (1 + a * s_inv)
        logdet = np.sum(np.log(var), axis=1) + np.log1p(a * s_inv)
        return -0.5 * (self.y.size * math.log(2 * math.pi) + logdet + quad)

    def draw_mu(self, vals: dict, rng) -> np.ndarray:
        """Draws of a collapsed mu from its normal conditional posterior given the other parameters."""
        m0, s0 = self.model.mu.params
        x = self.direction * self.c
        n = len(vals["tau"])
        vals = dict(vals, mu=np.zeros(n))
        mean, sd = np.broadcast_arrays(*self._mean_sd(vals, slice(None)), np.zeros((n, self.y.size)))[:2]
        prec = 1 / s0**2 + x**2 * np.sum(1 / sd**2, axis=1)
        centre = (m0 / s0**2 + x * np.sum((self.y[None, :] - mean) / sd**2, axis=1)) / prec
        return centre + rng.standard_normal(centre.size) / np.sqrt(prec)

    def __call__(self, U) -> np.ndarray:
        vals, logp = self.constrain(U)
        out = logp + self.loglik(vals)
        return np.where(np.isfinite(out), out, -np.inf)

    def start(self) -> np.ndarray:
        """A starting point for the mode search: mu 0, tau 0.1, coefficients 0.5, equal eta."""
        out = []
        for s in self.sites:
            if s in ("tau",):
                out.append(math.log(0.1))
            elif s in ("PET", "PEESE"):
                out.append(math.log(0.5))
            else:
                out.append(0.0)
        return np.array(out)
