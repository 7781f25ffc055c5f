"""The PIRLS core against plain dense linear algebra and the families' own functions.

* the blocked weighted system (``_blocked``): log-determinant, ``R_X``, joint and
  random-effects solves and the inverse equal those of the dense matrices, for
  every kind of term structure it handles;
* the fused logit / log kernels equal the generic kernel (R's formulas) and work
  row by row on several points;
* PIRLS at many points at once equals PIRLS one point at a time, and the blocked
  engine equals the general one (``_zops``).
"""

from __future__ import annotations

import numpy as np
import pytest

import multilevel as ml
from multilevel.glmm._batch import pirls_many
from multilevel.glmm._blocked import BlockedOps
from multilevel.glmm._family import Kernel, make_family, make_kernel, sum_log
from multilevel.glmm._glmer import glmer_model
from multilevel.glmm._pirls import GlmmProblem
from multilevel.lmm._pls import TermStructure

STRUCTURES = {  # name: [(levels, k) per term], p
    "scalar": ([(30, 1)], 2),
    "slope": ([(25, 2)], 2),
    "three_columns": ([(12, 3)], 1),
    "crossed": ([(20, 1), (9, 1)], 3),
    "slope_and_scalar": ([(15, 2), (7, 1)], 2),
    "scalar_and_slope": ([(10, 1), (6, 2)], 2),
    "three_crossed": ([(11, 1), (7, 1), (5, 1)], 2),
    "no_fixed_effects": ([(8, 2), (5, 1)], 0),
}


def _problem(structure, n=300, seed=0):
    rng = np.random.default_rng(seed)
    specs, p = STRUCTURES[structure]
    x = rng.standard_normal(n)
    terms = []
    for levels, k in specs:
        codes = np.concatenate([np.arange(levels), rng.integers(levels, size=n - levels)])
        Z = np.column_stack([np.ones(n), x, x * x][:k])  # shares columns with X (the map stores them once)
        terms.append(TermStructure(codes.astype(np.intp), Z, levels))
    X = np.column_stack([np.ones(n), x, rng.standard_normal(n)][:p]) if p else np.zeros((n, 0))
    thetas = []
    for levels, k in specs:
        T = np.tril(rng.uniform(0.3, 1.2, (k, k)))
        thetas.append(T[np.triu_indices(k)[1], np.triu_indices(k)[0]])
    return terms, X, np.concatenate(thetas), rng


def _dense(terms, X, theta):
    """Dense Z and Lambda of the same problem."""
    Z = np.hstack([t.expanded().toarray() for t in terms])
    blocks, pos = [], 0
    for t in terms:
        T = np.zeros((t.k, t.k))
        r, c = np.tril_indices(t.k)
        order = np.lexsort((r, c))  # column-wise, lme4's order
        T[r[order], c[order]] = theta[pos:pos + t.num_theta]
        pos += t.num_theta
        blocks.append(np.kron(np.eye(t.num_levels), T))
    q = Z.shape[1]
    Lam = np.zeros((q, q))
    pos = 0
    for B in blocks:
        Lam[pos:pos + B.shape[0], pos:pos + B.shape[0]] = B
        pos += B.shape[0]
    return Z, Lam


@pytest.mark.parametrize("structure", list(STRUCTURES))
def test_blocked_system_equals_dense_algebra(structure):
    terms, X, theta, rng = _problem(structure)
    n, p = X.shape
    ops = BlockedOps(terms, X)
    problem = GlmmProblem(X, np.zeros(n), np.ones(n), np.ones(n), np.zeros(n), tuple(terms),
                          make_family("poisson"))
    templates = problem.templates(theta)
    w = rng.uniform(0.1, 2.0, n)
    v = rng.standard_normal(n)
    fac = ops.factor(templates, w)
    c = ops.rhs(templates, v)

    Z, Lam = _dense(terms, X, theta)
    A = Z @ Lam
    q = A.shape[1]
    M = A.T @ (w[:, None] * A) + np.eye(q)
    full = np.block([[M, A.T @ (w[:, None] * X)], [X.T @ (w[:, None] * A), X.T @ (w[:, None] * X)]])
    rhs = np.concatenate([A.T @ v, X.T @ v])
    np.testing.assert_allclose(c, rhs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fac.ldL2, np.linalg.slogdet(M)[1], rtol=1e-12)
    schur = full[q:, q:] - full[q:, :q] @ np.linalg.solve(M, full[:q, q:])
    np.testing.assert_allclose(fac.RX.T @ fac.RX, schur, rtol=1e-10, atol=1e-10)
    assert np.allclose(fac.RX, np.triu(fac.RX))
    u, beta = fac.solve_joint(c)
    np.testing.assert_allclose(np.concatenate([u, beta]), np.linalg.solve(full, rhs), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fac.solve_u(c), np.linalg.solve(M, rhs[:q]), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fac.inverse(), np.linalg.inv(M), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ops.lin(templates, u), A @ u, rtol=1e-12, atol=1e-12)


def _responses(rng, n=257):
    """(family, y, prior weights times trials, trials) as glmer builds them."""
    trials = rng.integers(1, 9, n).astype(float)
    return {
        "binary": ("binomial", (rng.random(n) < 0.4).astype(float), np.ones(n), np.ones(n)),
        "binary_weighted": ("binomial", (rng.random(n) < 0.6).astype(float), rng.uniform(0.5, 3, n), np.ones(n)),
        "proportions": ("binomial", rng.integers(0, 9, n) % (trials + 1) / trials, trials, trials),
        "counts": ("poisson", rng.poisson(3.0, n).astype(float), np.ones(n), np.ones(n)),
        "counts_weighted": ("poisson", rng.poisson(1.0, n).astype(float), rng.uniform(0.5, 2, n), np.ones(n)),
    }


@pytest.mark.parametrize("case", ["binary", "binary_weighted", "proportions", "counts", "counts_weighted"])
def test_fused_kernels_equal_the_family_functions(case):
    rng = np.random.default_rng(3)
    name, y, wt, trials = _responses(rng)[case]
    family = make_family(name)
    fused, plain = make_kernel(family, y, wt, trials), Kernel(family, y, wt, trials)
    assert type(fused) is not Kernel
    eta = rng.normal(0.0, 2.0, (3, y.size))
    eta[0, :3] = [-40.0, 40.0, 0.0]  # beyond the bounds of mu
    lin = rng.standard_normal(y.size)
    for row in eta:
        mu = fused.mu(row)
        np.testing.assert_allclose(mu, plain.mu(row), rtol=1e-14)
        for a, b in zip(fused.working(row, mu, lin), plain.working(row, mu, lin)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-300)
        dev, aux = fused.deviance(mu, row)
        np.testing.assert_allclose(dev, np.sum(family.dev_resid(y, mu, wt)), rtol=1e-12)
        np.testing.assert_allclose(fused.aic(mu, dev, aux), family.aic(y, trials, mu, wt, dev), rtol=1e-12)
        np.testing.assert_allclose(fused.dev_resid(mu), family.dev_resid(y, mu, wt), rtol=1e-14)
    # several points at once: one result per row
    mus = fused.mu(eta)
    np.testing.assert_allclose(fused.deviance(mus, eta)[0], [fused.deviance(m, e)[0] for m, e in zip(mus, eta)],
                               rtol=1e-12)


def test_sum_log_equals_the_sum_of_logarithms():
    rng = np.random.default_rng(5)
    for n in [0, 1, 15, 16, 17, 100, 1001]:
        p = np.maximum(rng.random(n), np.finfo(float).eps)
        p[:2] = np.finfo(float).eps  # products of 16 such entries stay far from underflow
        np.testing.assert_allclose(sum_log(p), np.log(p).sum(), rtol=1e-13)
        P = np.vstack([p, p[::-1]])
        np.testing.assert_allclose(sum_log(P), np.log(P).sum(axis=1), rtol=1e-13)


@pytest.fixture(scope="module")
def cbpp_model():
    return glmer_model("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                       "binomial")


def test_many_points_at_once_equal_one_at_a_time(cbpp_model):
    problem = cbpp_model.problem
    eta0 = problem.initial_eta(cbpp_model.response.mustart)
    rng = np.random.default_rng(11)
    thetas = rng.uniform(0.2, 1.5, (7, 1))
    betas = np.array([-1.4, -1.0, -1.1, -1.6]) + rng.normal(0.0, 0.3, (7, 4))
    many = pirls_many(problem, thetas, eta0, betas)
    for t, b, state in zip(thetas, betas, many):
        single = problem.pirls(t, eta0, b)
        assert state.iterations == single.iterations
        np.testing.assert_allclose(state.value, single.value, rtol=1e-13)
        np.testing.assert_allclose(state.u, single.u, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(state.ldL2, single.ldL2, rtol=1e-13)


@pytest.mark.parametrize("structure", ["slope", "crossed", "scalar_and_slope"])
def test_blocked_and_general_engines_agree(structure):
    terms, X, theta, rng = _problem(structure, n=400, seed=2)
    n = X.shape[0]
    eta_true = X @ rng.normal(0.0, 0.5, X.shape[1]) + rng.normal(0.0, 0.7, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta_true))).astype(float)
    problem = GlmmProblem(X, y, np.ones(n), np.ones(n), np.zeros(n), tuple(terms), make_family("binomial"))
    general = GlmmProblem(X, y, np.ones(n), np.ones(n), np.zeros(n), tuple(terms), make_family("binomial"))
    object.__setattr__(general, "_blocked", None)
    eta0 = problem.initial_eta((y + 0.5) / 2.0)
    for beta in (None, np.full(X.shape[1], 0.1)):
        a, b = problem.pirls(theta, eta0, beta), general.pirls(theta, eta0, beta)
        assert a.iterations == b.iterations
        np.testing.assert_allclose(a.value, b.value, rtol=1e-10)
        np.testing.assert_allclose(a.u, b.u, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(a.RX, b.RX, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.dev_resid, b.dev_resid, rtol=1e-9, atol=1e-13)


def test_glmer_model_does_not_build_the_linear_mixed_model_problem(monkeypatch):
    """Regression: glmer built lmer's PLS problem (its Schur maps) only to read the terms;
    for 100,000 rows and 1,000 groups that took longer than the whole fit."""
    from multilevel.lmm import _pls

    def fail(*args, **kwargs):
        raise AssertionError("PLSProblem built")

    monkeypatch.setattr(_pls.PLSProblem, "__init__", fail)
    model = glmer_model("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                        "binomial")
    assert model.problem.q == 15
