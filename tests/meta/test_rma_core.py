"""The array core of rma: traces of the residual projection without k-by-k matrices, large k."""

import time

import numpy as np
import pytest

from multilevel.meta.univariate._core import TAU2_METHODS, _Projection, estimate_tau2, residual_projection


@pytest.mark.parametrize("p", [1, 3])
def test_projection_traces_equal_dense_formulas(p):
    rng = np.random.default_rng(p)
    k = 11
    X = np.column_stack([np.ones(k), rng.normal(size=(k, p - 1))])
    v = rng.uniform(0.05, 1.0, k)
    w = 1.0 / (v + 0.25)
    y = rng.normal(size=k)
    P, _ = residual_projection(X, w)
    PV = P * v[None, :]
    pr = _Projection(X, w, y)
    np.testing.assert_allclose(pr.quad(), y @ P @ y, rtol=1e-12)
    np.testing.assert_allclose(pr.Py, P @ y, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(pr.trace(), np.trace(P), rtol=1e-12)
    np.testing.assert_allclose(pr.trace_sq(), np.sum(P * P), rtol=1e-12)
    np.testing.assert_allclose(pr.trace_pv(v), np.trace(PV), rtol=1e-12)
    np.testing.assert_allclose(pr.trace_pvpv(v), np.sum(PV * PV.T), rtol=1e-12)
    np.testing.assert_allclose(pr.trace_ppv(v), np.sum(PV * P), rtol=1e-12)


@pytest.mark.parametrize("method", [m for m in TAU2_METHODS if m not in ("EE", "FE", "CE")])
def test_large_meta_analysis_is_fast(method):
    rng = np.random.default_rng(7)
    k = 20000
    v = rng.uniform(0.01, 0.2, k)
    y = 0.3 + rng.normal(scale=np.sqrt(v + 0.05))
    X = np.column_stack([np.ones(k), rng.normal(size=k)])
    t0 = time.perf_counter()
    est = estimate_tau2(y, v, X, method)
    assert time.perf_counter() - t0 < 5.0
    assert 0.02 < est.tau2 < 0.1 and est.se > 0
