"""The integrated likelihood against dense multivariate-normal densities and 1-D quadrature."""

import numpy as np
import pytest
from scipy import integrate, stats

import multilevel as ml
from multilevel.bayes._quadrature import loglik_numpy


@pytest.fixture(scope="module")
def k2011():
    d = ml.datasets.load("konstantopoulos2011")
    codes = np.unique(d.district, return_inverse=True)[1].astype(np.int32)
    return d.yi.to_numpy(), d.vi.to_numpy(), codes


def _dense(y, v, codes, mu, tau, rho):
    total = 0.0
    for c in np.unique(codes):
        sel = codes == c
        n = sel.sum()
        cov = np.diag(v[sel] + tau**2 * (1 - rho)) + tau**2 * rho * np.ones((n, n))
        total += stats.multivariate_normal(np.full(n, mu), cov).logpdf(y[sel])
    return total


def _ll(y, v, onehot, mu, tau, rho):
    k = len(y)
    return loglik_numpy(y, v, onehot, np.full((1, k), mu), np.full((1, k), tau), np.array([rho]))[0]


PARAMS = [(0.18, 0.32, 0.63), (-0.5, 0.05, 0.01), (1.0, 1.5, 0.99), (0.0, 0.2, 0.0)]


@pytest.mark.parametrize("mu,tau,rho", PARAMS)
def test_numpy_closed_form_is_the_dense_density(k2011, mu, tau, rho):
    y, v, codes = k2011
    onehot = np.eye(codes.max() + 1)[codes]
    ours = _ll(y, v, onehot, mu, tau, rho)
    assert ours == pytest.approx(_dense(y, v, codes, mu, tau, rho), rel=1e-12)


@pytest.mark.parametrize("mu,tau,rho", PARAMS)
def test_jax_pointwise_is_the_dense_density(k2011, mu, tau, rho):
    import jax.numpy as jnp

    from multilevel.bayes._model import pointwise_loglik, variance_parts

    y, v, codes = k2011
    tw2, tb = variance_parts(jnp.asarray(tau), jnp.asarray(rho), jnp.zeros(0), jnp.zeros((len(y), 0)))
    ours = float(jnp.sum(pointwise_loglik(jnp.asarray(y - mu), jnp.asarray(v), tw2, tb, jnp.asarray(codes), 11)))
    assert ours == pytest.approx(_dense(y, v, codes, mu, tau, rho), rel=1e-12)


@pytest.mark.parametrize("tau,rho", [(0.32, 0.63), (0.1, 0.2), (0.8, 0.95)])
def test_collapsed_mu_matches_integration(k2011, tau, rho):
    """mu ~ N(0.1, 0.7) integrated out analytically == integrated numerically."""
    import jax.numpy as jnp

    from multilevel.bayes._model import collapsed_loglik, variance_parts

    y, v, codes = k2011
    m0, s0 = 0.1, 0.7
    tw2, tb = variance_parts(jnp.asarray(tau), jnp.asarray(rho), jnp.zeros(0), jnp.zeros((len(y), 0)))
    ours = float(collapsed_loglik(jnp.asarray(y - m0), jnp.ones((len(y), 1)), jnp.asarray([s0]),
                                  jnp.asarray(v), tw2, tb, jnp.asarray(codes), 11))
    onehot = np.eye(11)[codes]
    ref_max = _ll(y, v, onehot, 0.18, tau, rho)
    f = lambda mu: np.exp(_ll(y, v, onehot, mu, tau, rho) - ref_max) * stats.norm(m0, s0).pdf(mu)  # noqa: E731
    val = integrate.quad(f, -3, 3, points=[0.18], epsabs=0, epsrel=1e-12, limit=200)[0]
    assert ours == pytest.approx(np.log(val) + ref_max, rel=1e-10)
