r"""RoBMA meta-regression: the component models with moderators and their log posteriors (NumPy).

A model of RoBMA.reg's ensemble is a model of the RoBMA ensemble (effect, heterogeneity, bias)
together with the presence or absence of each moderator: the ensemble has
:math:`36 \times 2^m` models for m moderators (RoBMA-PSMA). The mean of estimate i is

.. math::

    m_i = c\,(\mu + x_i'\beta) + b(s_i),

with the coefficients of an absent moderator fixed at 0 and :math:`b(s)` the PET / PEESE shift.
Without a weight function the likelihood is Gaussian and linear in :math:`\theta = (\mu, \beta)`
(normal priors :math:`\theta \sim N(m_0, S)`), so :math:`\theta` is integrated out in closed form:

.. math::

    y \mid \tau, b \sim N(b + A m_0,\; D + A S A'), \quad A = c\,[1, X], \quad
    D = \mathrm{diag}(s_i^2 + c^2\tau^2),

evaluated with the determinant lemma and Woodbury's identity
(:math:`P = S^{-1} + A'D^{-1}A`), and :math:`\theta` is drawn from its normal conditional
:math:`N(P^{-1}(S^{-1}m_0 + A'D^{-1}(y - b)), P^{-1})`; what remains (tau, PET or PEESE) is
integrated by quadrature. With a weight function every coefficient is a free parameter of the
importance sampler of :mod:`._integrate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._grid import _to_constrained
from .._priors import Prior
from ._likelihood import loglik, omega_from_eta, selection_data
from ._posterior import log_density
from ._spec import ComponentModel

__all__ = ["RegressionModel", "RegressionPosterior", "regression_ensemble"]

_CHUNK = 2**20  # elements of the (points, estimates, coefficients) arrays evaluated at once


@dataclass(frozen=True)
class RegressionModel(ComponentModel):
    """A component model with moderators: ``terms`` (all moderators of the ensemble), which are
    ``included`` in this model, the number of coefficients of each (``widths``) and the prior of
    each coefficient of an included moderator (``term_priors``)."""

    terms: tuple[str, ...] = ()
    included: tuple[bool, ...] = ()
    widths: tuple[int, ...] = ()
    term_priors: tuple[Prior, ...] = ()

    @property
    def free(self) -> tuple[str, ...]:
        base = list(super().free)
        betas = [f"{t}[{j}]" for t, inc, w in zip(self.terms, self.included, self.widths) if inc
                 for j in range(w)]
        head = base[:1] if base[:1] == ["mu"] else []
        return tuple(head + betas + base[len(head):])

    def columns(self) -> np.ndarray:
        """Design columns of the included moderators."""
        out, col = [], 0
        for inc, w in zip(self.included, self.widths):
            if inc:
                out.extend(range(col, col + w))
            col += w
        return np.asarray(out, dtype=int)

    def column_priors(self) -> tuple[np.ndarray, np.ndarray]:
        """Prior means and SDs of the included columns."""
        means, sds = [], []
        for inc, w, p in zip(self.included, self.widths, self.term_priors):
            if inc:
                means += [p.params[0]] * w
                sds += [p.params[1]] * w
        return np.asarray(means, float), np.asarray(sds, float)

    def moderators_label(self) -> str:
        on = [t for t, inc in zip(self.terms, self.included) if inc]
        return ", ".join(on) if on else "None"


def regression_ensemble(base: tuple[ComponentModel, ...], terms: tuple[str, ...], widths: tuple[int, ...],
                        term_priors: tuple[Prior, ...]) -> tuple[RegressionModel, ...]:
    """The ensemble crossed with each moderator's absence / presence (prior weights 1 each), in
    RoBMA.reg's order: the base models vary fastest, then the first moderator (absent first),
    then the second, ..."""
    m = len(terms)
    out = []
    for code in range(2**m):
        included = tuple(bool(code >> j & 1) for j in range(m))
        for b in base:
            out.append(RegressionModel(b.mu, b.tau, b.bias, b.effect, b.heterogeneity, b.prior_prob / 2**m,
                                       terms, included, widths, term_priors, rho=b.rho,
                                       hierarchical=b.hierarchical))
    return tuple(out)


class RegressionPosterior:
    """log p(theta, y) of a :class:`RegressionModel` at rows of ``U`` (G, dim), vectorized, with the
    interface of :class:`._posterior.ModelPosterior` (``dim``, ``collapsed``, ``constrain``,
    ``__call__``, ``start``) and :meth:`draw_coefficients` for the integrated coefficients."""

    def __init__(self, model: RegressionModel, y, se, X, scale: float, rule: str = "normal",
                 direction: float = 1.0):
        self.model, self.y, self.se, self.c, self.direction = model, direction * y, se, scale, direction
        self.X = X[:, model.columns()]
        b_mean, b_sd = model.column_priors()
        wf = model.bias.weightfunction if model.bias is not None and model.bias.kind == "weightfunction" else None
        mu_normal = (model.effect and model.mu.family == "normal" and math.isinf(model.mu.lower)
                     and math.isinf(model.mu.upper))
        self.collapse_mu = mu_normal and wf is None
        self.collapse_beta = wf is None and self.X.shape[1] > 0
        blocks, m0, v0 = [], [], []
        if self.collapse_mu:
            blocks.append(np.ones((y.size, 1)))
            m0.append(model.mu.params[0])
            v0.append(model.mu.params[1] ** 2)
        if self.collapse_beta:
            blocks.append(self.X)
            m0 += list(b_mean)
            v0 += list(b_sd**2)
        self.A = direction * scale * (np.column_stack(blocks) if blocks else np.zeros((y.size, 0)))
        self.m0, self.v0 = np.asarray(m0, float), np.asarray(v0, float)
        self.collapsed = self.A.shape[1] > 0
        self._AA = (self.A[:, :, None] * self.A[:, None, :]).reshape(y.size, -1)  # rows: a_i a_i'
        self.b_mean, self.b_sd = b_mean, b_sd
        self.free_mu = not model.mu.is_point and not self.collapse_mu
        self.free_beta = self.X.shape[1] if not self.collapse_beta else 0
        self.sites = tuple(s for s in model.free if not (
            (s == "mu" and not self.free_mu) or ("[" in s and not self.free_beta)))
        self._logpdf = {n: log_density(p) for n, p in (("mu", model.mu), ("tau", model.tau)) if not p.is_point}
        if model.bias is not None and model.bias.kind != "weightfunction":
            self._logpdf[model.bias.kind] = log_density(model.bias.coefficient)
        self.sel = selection_data(wf, self.y, se, rule)
        if wf is not None:
            from scipy.special import gammaln  # SciPy on first use

            self.alpha = np.asarray(wf.alpha)
            self.log_dirichlet_const = float(gammaln(self.alpha.sum()) - gammaln(self.alpha).sum())

    @property
    def dim(self) -> int:
        return len(self.sites)

    # ----------------------------------------------------------------- parameters
    def constrain(self, U) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({name: values}, log prior + log Jacobian): ``mu``, ``tau``, ``PET`` / ``PEESE`` (G,),
        ``beta`` (G, p) for free coefficients, ``omega`` (G, J) for weight functions."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        n, m = U.shape[0], self.model
        vals, logp, col = {}, np.zeros(n), 0
        if self.free_mu:
            vals["mu"], lj = _to_constrained(U[:, col], m.mu.lower, m.mu.upper)
            logp = logp + lj + self._logpdf["mu"](vals["mu"])
            col += 1
        else:
            vals["mu"] = np.full(n, m.mu.params[0])  # a point, or the prior mean of a collapsed mu
        if self.free_beta:
            B = U[:, col:col + self.free_beta]
            vals["beta"] = B
            z = (B - self.b_mean) / self.b_sd
            logp = logp - 0.5 * np.sum(z * z, axis=1) - np.sum(np.log(self.b_sd)) - \
                self.free_beta * 0.5 * math.log(2 * math.pi)
            col += self.free_beta
        if m.tau.is_point:
            vals["tau"] = np.full(n, m.tau.params[0])
        else:
            vals["tau"], lj = _to_constrained(U[:, col], m.tau.lower, m.tau.upper)
            logp = logp + lj + self._logpdf["tau"](vals["tau"])
            col += 1
        b = m.bias
        if b is not None and b.kind != "weightfunction":
            p = b.coefficient
            vals[b.kind], lj = _to_constrained(U[:, col], p.lower, p.upper)
            logp = logp + lj + self._logpdf[b.kind](vals[b.kind])
        elif b is not None:
            Z = np.column_stack([U[:, col:], np.zeros(n)])
            top = Z.max(axis=1, keepdims=True)
            log_eta = Z - top - np.log(np.sum(np.exp(Z - top), axis=1, keepdims=True))
            vals["omega"] = omega_from_eta(np.exp(log_eta))
            logp = logp + self.log_dirichlet_const + log_eta @ self.alpha
        return vals, logp

    def _mean_sd(self, vals: dict, rows: slice):
        """Mean (g, k) without the collapsed coefficients, and SD (g or 1, k)."""
        c, se, g = self.c, self.se, rows.stop - rows.start
        lin = np.zeros((g, 1)) if self.collapse_mu else vals["mu"][rows, None]
        if self.free_beta:
            lin = lin + vals["beta"][rows] @ self.X.T
        mean = self.direction * c * lin
        if "PET" in vals:
            mean = mean + vals["PET"][rows, None] * se[None, :]
        if "PEESE" in vals:
            mean = mean + (vals["PEESE"][rows, None] / c) * se[None, :] ** 2
        tau = vals["tau"][rows, None]
        sd = np.sqrt(se[None, :] ** 2 + (c * tau) ** 2)
        return mean, sd

    def _precision(self, var):
        """W = 1 / var (g, k), P = S^-1 + A' W A (g, q, q)."""
        W = 1.0 / var
        q = self.m0.size
        P = (W @ self._AA).reshape(-1, q, q)
        P[:, np.arange(q), np.arange(q)] += 1.0 / self.v0
        return W, P

    def _collapsed_loglik(self, mean, var):
        """log N(y; mean + A m0, diag(var) + A S A') per row (determinant lemma, Woodbury)."""
        r = self.y[None, :] - mean - self.A @ self.m0
        W, P = self._precision(var)
        b = (r * W) @ self.A
        L = np.linalg.cholesky(P)
        z = np.linalg.solve(L, b[:, :, None])[:, :, 0]
        quad = np.sum(r * r * W, axis=1) - np.sum(z * z, axis=1)
        logdet = (np.sum(np.log(var), axis=1) + np.sum(np.log(self.v0))
                  + 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1))
        return -0.5 * (self.y.size * math.log(2 * math.pi) + logdet + quad)

    def loglik(self, vals: dict) -> np.ndarray:
        n = len(vals["tau"])
        step = max(64, _CHUNK // (self.y.size * max(1, self.m0.size) ** 2))
        out = np.empty(n)
        for i in range(0, n, step):
            rows = slice(i, min(n, i + step))
            mean, sd = self._mean_sd(vals, rows)
            shape = (rows.stop - rows.start, self.y.size)
            mean, sd = np.broadcast_to(mean, shape), np.broadcast_to(sd, shape)
            if self.collapsed:
                out[rows] = self._collapsed_loglik(mean, sd**2)
            else:
                omega = vals["omega"][rows] if "omega" in vals else None
                out[rows] = loglik(self.y, mean, sd, self.sel, omega)
        return out

    def __call__(self, U) -> np.ndarray:
        vals, logp = self.constrain(U)
        out = logp + self.loglik(vals)
        return np.where(np.isfinite(out), out, -np.inf)

    def start(self) -> np.ndarray:
        """Mode search start: mu and coefficients 0, tau 0.1, PET / PEESE 0.5, equal eta."""
        out = []
        for s in self.sites:
            out.append(math.log(0.1) if s == "tau" else math.log(0.5) if s in ("PET", "PEESE") else 0.0)
        return np.array(out)

    # ----------------------------------------------------------------- draws
    def draw_coefficients(self, vals: dict, rng) -> dict[str, np.ndarray]:
        """Draws of the collapsed coefficients from their normal conditional given the other
        parameters: ``mu`` (n,) and / or ``beta`` (n, p)."""
        n = len(vals["tau"])
        mean, sd = self._mean_sd(vals, slice(0, n))
        shape = (n, self.y.size)
        mean, var = np.broadcast_to(mean, shape), np.broadcast_to(sd, shape) ** 2
        W, P = self._precision(var)
        rhs = ((self.y[None, :] - mean) * W) @ self.A + self.m0 / self.v0
        L = np.linalg.cholesky(P)
        centre = np.linalg.solve(P, rhs[:, :, None])[:, :, 0]
        z = rng.standard_normal(centre.shape)
        theta = centre + np.linalg.solve(np.transpose(L, (0, 2, 1)), z[:, :, None])[:, :, 0]
        out, col = {}, 0
        if self.collapse_mu:
            out["mu"] = theta[:, 0]
            col = 1
        if self.collapse_beta:
            out["beta"] = theta[:, col:]
        return out
