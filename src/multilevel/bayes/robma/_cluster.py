r"""The cluster (three-level) level of the RoBMA component models (NumPy and SciPy only).

RoBMA 3 (``study_ids``) models estimates from the same cluster as jointly normal: with the
study and cluster effects integrated out, the estimates :math:`y_c` of cluster c follow

.. math::

    y_c \sim N(m_c,\; D_c + a\, 11'), \qquad D_c = \operatorname{diag}(s_i^2 + c^2\tau^2(1-\rho)),
    \quad a = c^2\tau^2\rho,

where :math:`m_c` is the mean of the component model (:math:`c\mu`, plus the PET or PEESE
shift), :math:`\tau` the total heterogeneity and :math:`\rho` the share of it between clusters
(the covariance of two estimates of a cluster is :math:`\rho\tau^2`), with the prior
:math:`\rho \sim Beta(1, 1)` in every model with heterogeneity. Models without heterogeneity
have independent estimates and no :math:`\rho`, as in RoBMA. The compound-symmetric covariance
is handled in closed form per cluster (matrix determinant lemma and Sherman-Morrison), and so
is a normal prior on mu (integrated out as without clusters).

Selection models use RoBMA's multivariate weighted normal: the density of :math:`y_c` is the
normal density times the product of the weights :math:`\omega(y_i)` of the estimates' p-value
intervals, divided by :math:`E[\prod_{i \in c} \omega(Y_i)]` under that normal. RoBMA sums
this expectation over all :math:`J^{n_c}` boxes of the cut-offs with multivariate normal
probabilities; given the cluster effect :math:`z` the estimates are independent, so here it is
the one-dimensional integral

.. math::

    E\Big[\prod_i \omega(Y_i)\Big] = \int \phi(z) \prod_{i \in c} A_i(m_i + \sqrt a\, z,\, D_{ii})\, dz,

with :math:`A_i(m, v)` the univariate normalizer of the weighted normal of estimate i, computed
by the trapezoid rule on :math:`[-8, 8]` with a step of at most half the smallest
:math:`\sqrt{D_{ii}/a}` (the width of the sharpest factor) and at most 1/2: the rule converges
exponentially for these smooth integrands (about 1e-8 in the log normalizer at that step).
"""

from __future__ import annotations

import math

import numpy as np

from ..._data import offending_rows
from ..._exceptions import DataError, ModelSpecificationError
from .._grid import _to_constrained
from .._priors import Prior, prior
from ._posterior import ModelPosterior, log_density
from ._spec import measure_scale

__all__ = ["Clusters", "ClusterAlgebra", "ClusteredPosterior", "check_cluster_ids", "cluster_fields", "model_posterior"]

_Z_MAX = 8.0
_CHUNK = 2**21  # elements of the (points, estimates, nodes) arrays evaluated at once


def check_cluster_ids(cluster, data) -> None:
    """Refuse missing cluster ids (NaN or None), naming the rows: RoBMA needs every estimate
    in a cluster (give an estimate of its own an id of its own)."""
    if cluster is None:
        return
    if isinstance(cluster, str):
        if data is None or not hasattr(data, "__getitem__"):
            return
        try:
            values = data[cluster]
        except (KeyError, IndexError, TypeError, ValueError):
            return  # an unknown column: the data checks name it
        labels = [str(i) for i in getattr(values, "index", [])] or None
        name = f"cluster (column {cluster!r})"
    else:
        values, labels, name = cluster, None, "cluster"
    import pandas as pd  # pandas' notion of missing covers NaN, None and NaT alike

    missing = pd.isna(pd.Series(np.asarray(values, dtype=object))).to_numpy()
    if missing.any():
        if labels is not None and isinstance(getattr(values, "index", None), pd.RangeIndex):
            labels = None
        raise DataError(f"{name} has missing ids (NaN or None); every estimate needs a cluster (an "
                        f"estimate alone in its cluster needs an id of its own); "
                        f"{offending_rows(missing, labels)}")


def cluster_fields(bd, p_rho) -> tuple:
    """(cluster codes, cluster labels, prior of rho) for :class:`RobmaData`; all None without
    clusters, where a prior of rho is refused."""
    if bd.cluster is None:
        if p_rho is not None:
            raise ModelSpecificationError("prior_heterogeneity_allocation needs a cluster")
        return None, None, None
    return bd.cluster, tuple(bd.cluster_labels), rho_prior(p_rho)


def rho_prior(p: Prior | None, name: str = "prior_heterogeneity_allocation") -> Prior:
    """The prior of rho: Beta(1, 1) by default (RoBMA's ``priors_hierarchical``); any prior on
    a subset of [0, 1], a point (rho fixed) included."""
    if p is None:
        return prior("beta", 1.0, 1.0)
    if not isinstance(p, Prior) or p.lower < 0 or p.upper > 1:
        raise ModelSpecificationError(f"{name} must be a prior on [0, 1] (see ml.prior), got {p!r}")
    return p


class Clusters:
    """Cluster membership of the estimates: sums over the estimates of each cluster."""

    def __init__(self, codes: np.ndarray):
        codes = np.asarray(codes, dtype=int)
        self.order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes)
        self.sizes = sizes[sizes > 0]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.num = len(self.sizes)

    def sum(self, x: np.ndarray) -> np.ndarray:
        """(G, k) -> (G, number of clusters)."""
        return np.add.reduceat(x[..., self.order], self.starts, axis=-1)


class ClusterAlgebra:
    """The per-cluster algebra shared by the clustered posteriors (with and without
    moderators): rho as the last free parameter (logit scale), the compound-symmetric sums and
    the selection normalizers. Needs ``clusters``, ``p_rho``, ``sel``, ``se``, ``c`` and the
    base class's ``constrain``."""

    def _init_clusters(self, clusters: Clusters, p_rho: Prior) -> None:
        self.clusters, self.p_rho = clusters, p_rho
        self.rho_free = not p_rho.is_point
        if self.rho_free:
            self._rho_logpdf = log_density(p_rho)
            if "rho" not in self.sites:  # the model's free parameters list rho last
                self.sites = (*self.sites, "rho")

    def constrain(self, U):
        U = np.atleast_2d(np.asarray(U, dtype=float))
        if not self.rho_free:
            vals, logp = super().constrain(U)
            vals["rho"] = np.full(U.shape[0], self.p_rho.params[0])
            return vals, logp
        vals, logp = super().constrain(U[:, :-1])
        vals["rho"], lj = _to_constrained(U[:, -1], max(self.p_rho.lower, 0.0), min(self.p_rho.upper, 1.0))
        return vals, logp + lj + self._rho_logpdf(vals["rho"])

    def _cluster_loglik(self, vals: dict, rows: slice, mean, d, a, logdet, quad) -> np.ndarray:
        """The rows' log-likelihood from the normal's log-determinant and quadratic form, with a
        weight function's log weights of the observed intervals and its per-cluster normalizers."""
        out = -0.5 * (self.y.size * math.log(2 * math.pi) + logdet + quad)
        if self.sel is not None:
            omega = vals["omega"][rows]
            with np.errstate(divide="ignore"):
                out = out + np.log(omega) @ self.sel.counts - self._log_normalizers(mean, d, a, omega)
        return out

    def _variances(self, vals: dict, rows: slice):
        """Within-cluster variances d (G, k) and between-cluster variance a (G, 1), data scale."""
        t2 = (self.c * vals["tau"][rows, None]) ** 2
        rho = vals["rho"][rows, None]
        return self.se[None, :] ** 2 + t2 * (1 - rho), t2 * rho

    def _sums(self, r, d, a):
        """Per point: (r'V^-1 r, log|V|, 1'V^-1 1, 1'V^-1 r) for V = blockdiag(D_c + a 11')."""
        w = 1 / d
        cl = self.clusters
        s1, sr = cl.sum(w), cl.sum(w * r)
        f = 1 / (1 + a * s1)
        quad = np.sum(w * r * r, axis=1) - np.sum(a * f * sr**2, axis=1)
        logdet = np.sum(np.log(d), axis=1) - np.sum(np.log(f), axis=1)
        return quad, logdet, np.sum(s1 * f, axis=1), np.sum(sr * f, axis=1)

    def _log_normalizers(self, mean, d, a, omega) -> np.ndarray:
        """sum over clusters of log E[prod_i omega(Y_i)], (G,), by the trapezoid rule in z with
        the step 0.5 min(1, w) rounded down to 0.5 2^(-l/2), w = min_i sqrt(d_i / a)."""
        width = np.sqrt(np.min(d, axis=1) / np.maximum(a[:, 0], 1e-300))
        level = np.clip(np.ceil(-2 * np.log2(np.minimum(width, 1.0))), 0, 16).astype(int)
        out = np.empty(mean.shape[0])
        for lv in np.unique(level):
            rows = level == lv
            out[rows] = self._trapezoid(mean[rows], d[rows], a[rows], omega[rows], 0.5 * 2.0 ** (-lv / 2))
        return out

    def _trapezoid(self, mean, d, a, omega, h: float) -> np.ndarray:
        from scipy.special import ndtr  # SciPy on first use

        z = np.arange(-_Z_MAX, _Z_MAX + h / 2, h)
        logw = -0.5 * z**2
        logw -= np.logaddexp.reduce(logw)
        sd = np.sqrt(d)[:, :, None]
        u = mean[:, :, None] + np.sqrt(a)[:, :, None] * z  # (G, k, nodes): means given the cluster effect
        A = np.broadcast_to(omega[:, -1, None, None], u.shape).copy()
        for j in range(self.sel.crit.shape[1]):
            c = self.sel.crit[None, :, j, None]
            beyond = ndtr((u - c) / sd)
            if self.sel.two_sided:
                beyond += ndtr((-c - u) / sd)
            A += (omega[:, j] - omega[:, j + 1])[:, None, None] * beyond
        S = np.add.reduceat(np.log(A)[:, self.clusters.order], self.clusters.starts, axis=1) + logw
        top = S.max(axis=2)
        return np.sum(top + np.log(np.sum(np.exp(S - top[:, :, None]), axis=2)), axis=1)


class ClusteredPosterior(ClusterAlgebra, ModelPosterior):
    """:class:`ModelPosterior` of a model with heterogeneity and clusters: rho (prior
    ``model.rho``) is the last free parameter (logit scale), or fixed by a point prior; the
    likelihood is the per-cluster multivariate (weighted) normal of the module docstring."""

    def __init__(self, model, y, se, scale, rule, direction, clusters: Clusters, p_rho: Prior):
        super().__init__(model, y, se, scale, rule, direction)
        self._init_clusters(clusters, p_rho)

    def _parts(self, vals: dict, rows: slice):
        """Mean (G, k) at the parameters, within-cluster variances d (G, k), between-cluster
        variance a (G, 1) on the data's scale."""
        c, se = self.c, self.se
        mean = self.direction * c * vals["mu"][rows, None] + np.zeros(se.size)
        if "PET" in vals:
            mean = mean + vals["PET"][rows, None] * se[None, :]
        if "PEESE" in vals:
            mean = mean + (vals["PEESE"][rows, None] / c) * se[None, :] ** 2
        return (mean, *self._variances(vals, rows))

    def loglik(self, vals: dict) -> np.ndarray:
        n = len(vals["tau"])
        step = max(16, _CHUNK // (self.y.size * 33))
        out = np.empty(n)
        for i in range(0, n, step):
            rows = slice(i, min(n, i + step))
            mean, d, a = self._parts(vals, rows)
            quad, logdet, s11, s1r = self._sums(self.y[None, :] - mean, d, a)
            if self.collapsed:  # mu ~ N(m0, s0^2) integrated out: one more rank-one term
                b = (self.c * self.model.mu.params[1]) ** 2
                quad, logdet = quad - b * s1r**2 / (1 + b * s11), logdet + np.log1p(b * s11)
            out[rows] = self._cluster_loglik(vals, rows, mean, d, a, logdet, quad)
        return out

    def draw_mu(self, vals: dict, rng) -> np.ndarray:
        """Draws of a collapsed mu from its normal conditional given tau, rho and the bias."""
        m0, s0 = self.model.mu.params
        x = self.direction * self.c
        vals = dict(vals, mu=np.zeros(len(vals["tau"])))
        mean, d, a = self._parts(vals, slice(None))
        _, _, s11, s1r = self._sums(self.y[None, :] - mean, d, a)
        prec = 1 / s0**2 + x**2 * s11
        centre = (m0 / s0**2 + x * s1r) / prec
        return centre + rng.standard_normal(centre.size) / np.sqrt(prec)


def model_posterior(model, rd) -> ModelPosterior:
    """The log posterior of component ``model`` for the data ``rd``: with clusters and a prior
    of rho (the models with heterogeneity) the clustered one, otherwise the estimates are
    independent."""
    args = (model, rd.y, rd.se, measure_scale(rd.measure), rd.selection_rule, rd.direction)
    if rd.cluster is None or model.rho is None:
        return ModelPosterior(*args)
    return ClusteredPosterior(*args, Clusters(rd.cluster), model.rho)
