r"""RoBMA meta-regression with a cluster level: moderators and ``cluster`` together (NumPy).

A component model with moderators and heterogeneity gets the cluster level of
:mod:`._cluster`: the estimates :math:`y_c` of cluster c follow

.. math::

    y_c \sim N(m_c,\; V_c), \qquad m_i = c\,(\mu + x_i'\beta) + b(s_i), \qquad
    V_c = \operatorname{diag}(s_i^2 + c^2\tau^2(1-\rho)) + c^2\tau^2\rho\, 11',

(weighted by the product of the estimates' weights and normalized per cluster in the selection
models, as in :mod:`._cluster`). Without a weight function the likelihood is Gaussian and linear
in :math:`\theta = (\mu, \beta)` with normal priors :math:`\theta \sim N(m_0, S)`, so
:math:`\theta` is integrated out as in :mod:`._regression`, now with the block-diagonal
:math:`V`:

.. math::

    y \mid \tau, \rho, b \sim N(b + A m_0,\; V + A S A'), \qquad
    P = S^{-1} + A'V^{-1}A,

by the determinant lemma and Woodbury's identity, where :math:`V^{-1}` is applied cluster by
cluster with Sherman-Morrison (:math:`V_c^{-1} u = D_c^{-1}u - a f_c D_c^{-1}1\, 1'D_c^{-1}u`,
:math:`f_c = 1 / (1 + a 1'D_c^{-1}1)`), so the cost is linear in the number of estimates.
:math:`\theta` is then drawn from its normal conditional
:math:`N(m_0 + P^{-1}A'V^{-1}(y - b - A m_0), P^{-1})`. With a weight function every
coefficient is a free parameter of the importance sampler, as without clusters.
"""

from __future__ import annotations

import numpy as np

from ._cluster import ClusterAlgebra, Clusters
from ._regression import RegressionPosterior
from ._spec import measure_scale

__all__ = ["ClusteredRegressionPosterior", "regression_posterior"]

_CHUNK = 2**20  # elements of the (points, estimates, coefficients) arrays evaluated at once


class ClusteredRegressionPosterior(ClusterAlgebra, RegressionPosterior):
    """:class:`RegressionPosterior` of a model with heterogeneity and clusters: rho is the last
    free parameter (logit scale), the likelihood the per-cluster multivariate (weighted) normal."""

    def __init__(self, model, y, se, X, scale, rule, direction, clusters: Clusters, p_rho):
        super().__init__(model, y, se, X, scale, rule, direction)
        self._init_clusters(clusters, p_rho)

    def _parts(self, vals: dict, rows: slice):
        """Mean (g, k) without the collapsed coefficients, d (g, k) and a (g, 1)."""
        mean, _ = self._mean_sd(vals, rows)
        d, a = self._variances(vals, rows)
        return np.broadcast_to(mean, d.shape), d, a

    def _gaussian(self, mean, d, a):
        """(r, quad, logdet) of r = y - mean - A m0 under V (rows of ``mean``), and for the
        collapsed coefficients b = A'V^-1 r and P = S^-1 + A'V^-1 A (None without them)."""
        r = self.y[None, :] - mean - self.A @ self.m0
        quad, logdet, _, _ = self._sums(r, d, a)
        if not self.collapsed:
            return r, quad, logdet, None, None
        W, P = self._precision(d)  # the diagonal part: A'D^-1 A + S^-1
        cl = self.clusters
        WA = cl.sum(np.transpose(W[:, :, None] * self.A[None, :, :], (0, 2, 1)))  # (g, q, C)
        af = a / (1 + a * cl.sum(W))  # (g, C)
        P = P - np.einsum("gc,gqc,grc->gqr", af, WA, WA)
        b = (r * W) @ self.A - np.einsum("gc,gc,gqc->gq", af, cl.sum(W * r), WA)
        return r, quad, logdet, b, P

    def loglik(self, vals: dict) -> np.ndarray:
        n = len(vals["tau"])
        q = max(1, self.m0.size)
        step = max(16, _CHUNK // (self.y.size * (q * q + 33)))
        out = np.empty(n)
        for i in range(0, n, step):
            rows = slice(i, min(n, i + step))
            mean, d, a = self._parts(vals, rows)
            _, quad, logdet, b, P = self._gaussian(mean, d, a)
            if P is not None:
                L = np.linalg.cholesky(P)
                z = np.linalg.solve(L, b[:, :, None])[:, :, 0]
                quad = quad - np.sum(z * z, axis=1)
                logdet = logdet + np.sum(np.log(self.v0)) + 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
            out[rows] = self._cluster_loglik(vals, rows, mean, d, a, logdet, quad)
        return out

    def draw_coefficients(self, vals: dict, rng) -> dict[str, np.ndarray]:
        """Draws of the collapsed coefficients from their normal conditional given tau, rho and
        the bias: ``mu`` (n,) and / or ``beta`` (n, p)."""
        n = len(vals["tau"])
        _, _, _, b, P = self._gaussian(*self._parts(vals, slice(0, n)))
        L = np.linalg.cholesky(P)
        centre = self.m0 + np.linalg.solve(P, b[:, :, None])[:, :, 0]
        z = rng.standard_normal(centre.shape)
        theta = centre + np.linalg.solve(np.transpose(L, (0, 2, 1)), z[:, :, None])[:, :, 0]
        out = {"mu": theta[:, 0]} if self.collapse_mu else {}
        if self.collapse_beta:
            out["beta"] = theta[:, int(self.collapse_mu):]
        return out


def regression_posterior(model, rd, X: np.ndarray) -> RegressionPosterior:
    """The log posterior of the regression component ``model`` for the data ``rd``: with
    clusters and a prior of rho (the models with heterogeneity) the clustered one, otherwise the
    estimates are independent."""
    args = (model, rd.y, rd.se, X, measure_scale(rd.measure), rd.selection_rule, rd.direction)
    if rd.cluster is None or model.rho is None:
        return RegressionPosterior(*args)
    return ClusteredRegressionPosterior(*args, Clusters(rd.cluster), model.rho)
