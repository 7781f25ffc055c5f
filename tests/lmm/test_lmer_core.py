"""The PLS core against brute-force dense linear algebra (n x n marginal covariance).

Covers the code paths the lme4 fixtures do not reach: a first term with k = 3
(generic batched blocks), vector-valued later terms (non-scalar rest), several
later terms, the sparse Schur-update map, and ``with_response``.
"""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.lmm import _pls
from multilevel.lmm._fit import fit_problem, moment_start
from multilevel.lmm._pls import PLSProblem, TermStructure


def _dense_reference(X, y, terms, theta):
    n, p = X.shape
    Zs, Ls = [], []
    off = 0
    for t in terms:
        Z = t.expanded().toarray()
        r, c = _pls.theta_template_indices(t.k)
        T = np.zeros((t.k, t.k))
        T[r, c] = theta[off:off + t.num_theta]
        off += t.num_theta
        Zs.append(Z)
        Ls.append(np.kron(np.eye(t.num_levels), T))
    Z = np.hstack(Zs)
    q = Z.shape[1]
    Lam = np.zeros((q, q))
    o = 0
    for L in Ls:
        Lam[o:o + L.shape[0], o:o + L.shape[0]] = L
        o += L.shape[0]
    ZL = Z @ Lam
    V0 = ZL @ ZL.T + np.eye(n)
    Vi = np.linalg.inv(V0)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    res = y - X @ beta
    pwrss = res @ Vi @ res
    logdet = np.linalg.slogdet(np.eye(q) + ZL.T @ ZL)[1]
    ldrx = np.linalg.slogdet(XtViX)[1]
    dev_ml = logdet + n * (1 + np.log(2 * np.pi * pwrss / n))
    dev_reml = logdet + ldrx + (n - p) * (1 + np.log(2 * np.pi * pwrss / (n - p)))
    b = Lam @ Lam.T @ Z.T @ Vi @ res
    H = ZL.T @ ZL + np.eye(q)
    condvar = Lam @ np.linalg.inv(H) @ Lam.T
    return dict(dev_ml=dev_ml, dev_reml=dev_reml, beta=beta, b=b, pwrss=pwrss, XtViX=XtViX, condvar=condvar)


def _make(structure, seed=0, n=150):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    terms = []
    for nl, k in structure:
        codes = rng.integers(0, nl, n)
        codes[:nl] = np.arange(nl)  # every level observed
        Z = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(k - 1)])
        terms.append(TermStructure(codes, Z, nl))
    y = X @ [1.0, 0.5, -0.3] + sum(rng.normal(size=t.num_levels)[t.codes] for t in terms) + rng.normal(size=n)
    theta = np.concatenate([rng.uniform(0.3, 1.2, t.num_theta) for t in terms])
    return X, y, terms, theta


STRUCTURES = {
    "k3": [(12, 3)],
    "k2_then_scalar": [(15, 2), (5, 1)],
    "scalar_then_vector": [(20, 1), (6, 2), (4, 1)],
    "two_vectors": [(10, 2), (4, 3)],
}


@pytest.fixture(params=["dense", "sparse"])
def path(request, monkeypatch):
    if request.param == "sparse":
        monkeypatch.setattr(_pls, "_DENSE_P_MAX", 0)
    return request.param


@pytest.mark.parametrize("name", STRUCTURES)
def test_deviance_and_solution_match_dense_algebra(name, path):
    X, y, terms, theta = _make(STRUCTURES[name])
    prob = PLSProblem(X, y, terms)
    assert prob.dense == (path == "dense")
    ref = _dense_reference(X, y, terms, theta)
    np.testing.assert_allclose(prob.deviance(theta, False), ref["dev_ml"], rtol=1e-10)
    np.testing.assert_allclose(prob.deviance(theta, True), ref["dev_reml"], rtol=1e-10)
    sol = prob.solve(theta)
    np.testing.assert_allclose(sol.beta, ref["beta"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.concatenate([b.ravel() for b in sol.b]), ref["b"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sol.pwrss, ref["pwrss"], rtol=1e-10)
    np.testing.assert_allclose(sol.RX.T @ sol.RX, ref["XtViX"], rtol=1e-8)
    np.testing.assert_allclose(sol.deviance_ml, ref["dev_ml"], rtol=1e-10)
    cv = prob.condvar(theta)
    off = 0
    for t, block in zip(terms, cv):
        for j in range(t.num_levels):
            sl = slice(off + j * t.k, off + (j + 1) * t.k)
            np.testing.assert_allclose(block[j], ref["condvar"][sl, sl], rtol=1e-7, atol=1e-12)
        off += t.q


@pytest.mark.parametrize("name", STRUCTURES)
def test_with_response_equals_a_fresh_problem(name, path):
    X, y, terms, theta = _make(STRUCTURES[name])
    y2 = y + np.random.default_rng(5).normal(size=y.size)
    a = PLSProblem(X, y, terms).with_response(y2)
    b = PLSProblem(X, y2, terms)
    assert a.deviance(theta, True) == pytest.approx(b.deviance(theta, True), rel=1e-12)
    np.testing.assert_allclose(a.solve(theta).beta, b.solve(theta).beta, rtol=1e-10)


def test_fit_reaches_the_dense_optimum():
    X, y, terms, _ = _make([(15, 2), (5, 1)], seed=3)
    est = fit_problem(PLSProblem(X, y, terms), reml=True)
    dense = lambda th: _dense_reference(X, y, terms, th)["dev_reml"]  # noqa: E731
    assert est.deviance == pytest.approx(dense(est.theta), rel=1e-10)
    rng = np.random.default_rng(0)
    for _ in range(5):  # no nearby point is better
        trial = np.maximum(est.theta + rng.normal(scale=1e-3, size=est.theta.size), 0.0)
        assert dense(trial) >= est.deviance - 1e-8


def test_moment_start_only_for_intercept_terms():
    X, y, terms, _ = _make([(15, 1), (5, 1)])
    start = moment_start(PLSProblem(X, y, terms))
    assert start.shape == (2,) and np.all(start > 0)
    X, y, terms, _ = _make([(15, 2)])
    np.testing.assert_array_equal(moment_start(PLSProblem(X, y, terms)), [1.0, 0.0, 1.0])


def test_blas_threads_are_restored(monkeypatch):
    from threadpoolctl import threadpool_info

    from multilevel.lmm import _blas

    monkeypatch.setattr(_blas.os, "getloadavg", lambda: (100.0, 0.0, 0.0))
    assert _blas.default_threads() == 1
    monkeypatch.setattr(_blas.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert _blas.default_threads() is None

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    assert before, "NumPy/SciPy's BLAS must be visible to threadpoolctl"
    with _blas.blas_threads(1):
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


@pytest.mark.parametrize("name", STRUCTURES)
def test_pieces_give_the_deviances(name):
    X, y, terms, theta = _make(STRUCTURES[name])
    prob = PLSProblem(X, y, terms)
    logdet, ldrx, pwrss = prob.pieces(theta)
    sol = prob.solve(theta)
    assert (logdet, ldrx, pwrss) == pytest.approx((sol.logdet_L, sol.logdet_RX, sol.pwrss), rel=1e-12)
    n, p = X.shape
    assert prob.deviance(theta, False) == pytest.approx(logdet + n * (1 + np.log(2 * np.pi * pwrss / n)), rel=1e-12)


@pytest.mark.parametrize("theta", [[0.8, 0.6, 1.1], [0.8, 0.0, 1.1], [0.0, 0.6, 0.0], [0.0, 0.0, 0.0]])
def test_scalar_terms_on_the_boundary(theta, path):
    """Scalar terms: levels grouped by count, rest factored unscaled when lambda > 0 (else scaled)."""
    X, y, terms, _ = _make([(20, 1), (6, 1), (4, 1)], seed=2)
    theta = np.asarray(theta)
    prob = PLSProblem(X, y, terms)
    ref = _dense_reference(X, y, terms, theta)
    np.testing.assert_allclose(prob.deviance(theta, False), ref["dev_ml"], rtol=1e-10)
    np.testing.assert_allclose(prob.deviance(theta, True), ref["dev_reml"], rtol=1e-10)
    sol = prob.solve(theta)
    np.testing.assert_allclose(sol.beta, ref["beta"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.concatenate([b.ravel() for b in sol.b]), ref["b"], rtol=1e-7, atol=1e-10)


def test_problem_pickles_without_its_workspace():
    import pickle

    X, y, terms, theta = _make([(20, 1), (6, 1)])
    prob = PLSProblem(X, y, terms)
    before = prob.deviance(theta, True)
    again = pickle.loads(pickle.dumps(prob))
    assert again.deviance(theta, True) == before


def test_gil_free_cholesky_matches_lapack():
    from multilevel.lmm._lapack import dpotrf_upper

    rng = np.random.default_rng(1)
    A = rng.normal(size=(70, 70))
    A = A @ A.T + 70 * np.eye(70)
    U, info = dpotrf_upper(np.asfortranarray(A))
    assert info == 0
    np.testing.assert_allclose(np.triu(U), np.linalg.cholesky(A).T, rtol=1e-12)
    bad = np.asfortranarray(-A)
    assert dpotrf_upper(bad)[1] == 1


def test_parallel_derivative_check_equals_serial():
    from multilevel.lmm._fit import _parallel_map
    from multilevel.lmm._optimize import finite_derivatives

    def fn(x):
        return float(np.sum(np.cosh(x)) + x[0] * x[1] ** 3)

    x = np.array([0.3, 5e-5, 1.2])  # the second one-sided step shortened at its bound
    lower = np.array([0.0, 0.0, -np.inf])
    g1, H1 = finite_derivatives(fn, x, fn(x), lower)
    g2, H2 = finite_derivatives(fn, x, fn(x), lower, map_fn=_parallel_map)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(H1, H2)
    np.testing.assert_allclose(H1[2, 2], np.cosh(1.2), rtol=1e-6)


def test_blocked_two_thread_cholesky_matches_lapack():
    from concurrent.futures import ThreadPoolExecutor

    from multilevel.lmm._lapack import dpotrf_upper

    rng = np.random.default_rng(2)
    A = rng.normal(size=(150, 150))
    A = A @ A.T + 150 * np.eye(150)
    with ThreadPoolExecutor(1) as helper:
        U, info = dpotrf_upper(np.asfortranarray(A), helper, block=32)
        assert info == 0
        np.testing.assert_allclose(np.triu(U), np.linalg.cholesky(A).T, rtol=1e-10, atol=1e-12)
        bad = A.copy()
        bad[100, 100] = -1.0  # leading minors up to 100 are positive definite
        assert dpotrf_upper(np.asfortranarray(bad), helper, block=32)[1] == 101


def test_two_thread_evaluations_equal_one_thread(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from multilevel.lmm import _fit

    from multilevel.lmm import _pls

    X, y, terms, theta = _make([(60, 1), (400, 1)], n=2000)
    prob = PLSProblem(X, y, terms)
    assert not prob.dense and prob.r > 2 * 192
    monkeypatch.setattr(_pls, "HELPER_MIN_R", 100)  # split this small problem's evaluations too
    ref, sol = prob.deviance(theta, True), prob.solve(theta)
    with ThreadPoolExecutor(1) as helper, prob.helper_thread(helper):
        assert prob.deviance(theta, True) == pytest.approx(ref, rel=1e-12)
        np.testing.assert_allclose(prob.solve(theta).beta, sol.beta, rtol=1e-10)
    serial = fit_problem(prob, True, threads=1)
    monkeypatch.setattr(_fit, "PARALLEL_MIN_R", 100)
    assert _fit._two_threads(prob, "auto") and not _fit._two_threads(prob, 1)
    parallel = fit_problem(prob, True)
    assert parallel.deviance == pytest.approx(serial.deviance, rel=1e-10)
    np.testing.assert_allclose(parallel.theta, serial.theta, rtol=1e-4)
    np.testing.assert_allclose(parallel.optinfo.hessian, serial.optinfo.hessian, rtol=1e-3)


def test_small_problems_do_the_helpers_share_themselves(monkeypatch):
    """Below HELPER_MIN_R the helper thread is not used (the hand-offs cost more than they save),
    and the evaluation is the same to the last bit: the same pieces, one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    from multilevel.lmm import _pls

    class Refusing:
        def submit(self, *args, **kwargs):
            raise AssertionError("the helper thread was used")

    X, y, terms, theta = _make([(60, 1), (400, 1)], n=2000)
    prob = PLSProblem(X, y, terms)
    assert not prob.dense and 2 * 192 < prob.r < _pls.HELPER_MIN_R
    with prob.helper_thread(Refusing()):
        inline = prob.deviance(theta, True), prob.solve(theta).beta
    monkeypatch.setattr(_pls, "HELPER_MIN_R", 100)
    with ThreadPoolExecutor(1) as helper, prob.helper_thread(helper):
        threaded = prob.deviance(theta, True), prob.solve(theta).beta
    assert inline[0] == threaded[0]
    np.testing.assert_array_equal(inline[1], threaded[1])


def test_grouped_maps_built_in_threads_equal_serial():
    from concurrent.futures import ThreadPoolExecutor

    from multilevel.lmm import _schur

    X, y, terms, _ = _make([(60, 1), (100, 1)], n=1000)
    prob = PLSProblem(X, y, terms)
    bounds = _schur.block_bounds(prob.q_rest, prob.r - 1, pieces=4)
    args = (prob.A1r_noy, prob._k1_groups, prob._k1_values.size, prob.r, bounds)
    serial = _schur.grouped_maps(*args)
    with ThreadPoolExecutor(2) as pool:
        threaded = _schur.grouped_maps(*args, map_fn=pool.map)
    assert len(serial) == len(bounds) == len(threaded)
    for a, b in zip(serial, threaded):
        assert (a != b).nnz == 0


def test_helper_thread_is_per_process(monkeypatch):
    from multilevel.lmm import _fit

    first = _fit._helper()
    assert _fit._helper() is first and first.submit(lambda: 3).result() == 3
    monkeypatch.setattr(_fit.os, "getpid", lambda: -1)  # as in a forked child
    child = _fit._helper()
    assert child is not first and child.submit(lambda: 4).result() == 4


def test_a_fit_loads_only_what_it_needs():
    """A first ``lmer`` fit in a new process imports neither scipy.optimize (about 0.3 s; profile
    intervals load it) nor the GLMM package (only weights, offsets and offset() terms need its
    evaluator). Run in a subprocess: other tests have imported both here."""
    import subprocess
    import sys

    code = ("import sys\nimport multilevel as ml\n"
            "fit = ml.lmer('diameter ~ 1 + (1 | plate) + (1 | sample)', ml.datasets.load('Penicillin'))\n"
            "assert fit.optinfo.converged\n"
            "print(sorted(m for m in ('scipy.optimize', 'scipy.stats', 'multilevel.glmm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
