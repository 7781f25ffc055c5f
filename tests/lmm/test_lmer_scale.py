"""Large crossed random effects: the dense and matrix-free formulations against each other and lme4.

Data: ``tests/fixtures/lmm/ratings_crossed.csv`` (``benchmarks/_ratings.py``, seed 11: 12,000 rows,
1,200 users, 400 items with Zipf-like activity and popularity); lme4's fits from
``tools/fixtures/lmer_crossed_scale.R`` (lme4 1.1-31).

The matrix-free log-determinant is a stochastic estimate with a reported standard error; everything
else (the solves for ``[X, y]``, hence ``log |R_X|^2``, the penalized RSS and the estimates at a given
theta) is exact to the conjugate-gradient tolerance and compared to 1e-8. A fit's final evaluation is
exact where the dense Schur complement is affordable (``test_lmer_matfree_exact.py``).
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.lmm._formulation import DENSE_ALWAYS, choose_formulation, cost_estimates, make_problem
from multilevel.lmm._matfree import MatrixFreeProblem, slq_logdet
from multilevel.lmm._slq import slq_samples
from multilevel.lmm._pls import PLSProblem, TermStructure

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "lmm"
FORMULA = "y ~ x + (1 | user) + (1 | item)"


@pytest.fixture(scope="module")
def ratings():
    return pd.read_csv(FIXTURES / "ratings_crossed.csv")


def _reference(reml: bool) -> dict:
    return json.loads((FIXTURES / f"lmer_ratings_crossed_{'reml' if reml else 'ml'}.json").read_text())


def _arrays(df):
    n = len(df)
    X = np.column_stack([np.ones(n), df["x"].to_numpy()])
    codes = [pd.factorize(df[c], sort=True)[0] for c in ("user", "item")]
    terms = [TermStructure(c.astype(np.intp), np.ones((n, 1)), int(c.max()) + 1) for c in codes]
    return X, df["y"].to_numpy(), terms


@pytest.fixture(scope="module")
def problems(ratings):
    X, y, terms = _arrays(ratings)
    return PLSProblem(X, y, terms), MatrixFreeProblem(X, y, terms)


@pytest.fixture(scope="module")
def fits(ratings):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither formulation warns on this well-posed problem
        for form in ("dense", "matrix-free"):
            for reml in (True, False):
                out[form, reml] = ml.lmer(FORMULA, ratings, REML=reml, formulation=form)
    return out


THETAS = [(0.5, 0.8), (0.1, 2.0), (1.5, 0.2), (0.0, 0.7)]


@pytest.mark.parametrize("theta", THETAS)
def test_matrix_free_pieces_match_dense(problems, theta):
    dense, free = problems
    ld, rx, pw = dense.pieces(np.array(theta))
    ld_f, rx_f, pw_f = free.pieces(np.array(theta))
    acc = free.accuracy
    assert rx_f == pytest.approx(rx, rel=1e-10)
    assert pw_f == pytest.approx(pw, rel=1e-10)
    assert acc.cg_residual <= free.fit_cg_tol
    assert acc.quadrature_change < 1e-4 * acc.standard_error  # 5 Lanczos steps: quadrature error negligible
    assert acc.standard_error < 0.01  # deflation and the control variate (plain Hutchinson: about 0.25)
    assert abs(ld_f - ld) < 5 * acc.standard_error + 1e-9


@pytest.mark.parametrize("theta", [(0.5, 0.8), (1.5, 0.2)])
def test_matrix_free_solution_matches_dense_at_same_theta(problems, theta):
    dense, free = problems
    a, b = dense.solve(np.array(theta)), free.solve(np.array(theta))
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-8)
    for bd, bf in zip(a.b, b.b):
        np.testing.assert_allclose(bf, bd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.fitted, a.fitted, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(b.RX, a.RX, rtol=1e-9)
    assert b.sigma_reml == pytest.approx(a.sigma_reml, rel=1e-10)
    assert abs(b.deviance_reml - a.deviance_reml) < 5 * free.accuracy.standard_error


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
def test_dense_fit_matches_lme4(fits, reml):
    ref, fit = _reference(reml), fits["dense", reml]
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-6)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-6)
    assert float(fit.loglik) == pytest.approx(ref["loglik"], abs=1e-5)


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
def test_matrix_free_fit_matches_lme4(fits, reml):
    """The optimum from the stochastic criterion, evaluated exactly (the dense Schur complement is
    affordable here; see test_lmer_matfree_exact.py for the comparison with the dense fit)."""
    ref, fit = _reference(reml), fits["matrix-free", reml]
    assert fit._problem.accuracy.exact and "exact at the optimum" in fit.optinfo.notes[-1]
    assert float(fit.loglik) == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-6)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-6)


def test_slq_is_exact_for_a_diagonal_operator():
    d = np.linspace(0.5, 3.0, 50)
    probes = np.random.default_rng(0).choice([-1.0, 1.0], size=(50, 4))
    est, se, change = slq_logdet(lambda V: d[:, None] * V, probes, 20)
    assert est == pytest.approx(np.log(d).sum(), rel=1e-12)  # Rademacher probes: z'Dz = tr D
    assert se < 1e-10 and change < 1e-10


def _crossed(n, nu, ni, seed=3):
    rng = np.random.default_rng(seed)
    user = np.concatenate([np.arange(nu), rng.integers(0, nu, n - nu)])
    item = np.concatenate([np.arange(ni), rng.integers(0, ni, n - ni)])
    y = rng.standard_normal(nu)[user] * 0.5 + rng.standard_normal(ni)[item] + rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": rng.standard_normal(n), "user": user, "item": item})


def test_auto_chooses_from_the_structure(ratings):
    _, _, terms = _arrays(ratings)
    assert sum(t.q for t in terms[1:]) <= DENSE_ALWAYS
    assert choose_formulation(terms, 2) == "dense"
    rng = np.random.default_rng(3)
    users = np.concatenate([np.arange(3_000), rng.integers(0, 3_000, 27_000)])
    items = np.concatenate([np.arange(10_500), rng.integers(0, 10_500, 19_500)])
    big = [TermStructure(users, np.ones((30_000, 1)), 3_000), TermStructure(items, np.ones((30_000, 1)), 10_500)]
    assert choose_formulation(big, 2) == "matrix-free"  # beyond the dense limit, randomly crossed: not sparse
    local = [TermStructure(np.arange(30_000) % 3_000, np.ones((30_000, 1)), 3_000),
             TermStructure(np.arange(30_000) % 10_500, np.ones((30_000, 1)), 10_500)]
    assert choose_formulation(local, 2) == "sparse"  # each item shares users with 6 others only
    mid = [TermStructure(users, np.ones((30_000, 1)), 3_000),
           TermStructure(items % 5_000, np.ones((30_000, 1)), 5_000)]
    dense_ops, free_ops = cost_estimates(mid, 2)
    assert choose_formulation(mid, 2) == ("dense" if dense_ops <= 20 * free_ops else "matrix-free")
    slopes = [TermStructure(users, np.ones((30_000, 2)), 3_000), big[1]]
    assert choose_formulation(slopes, 2) is None
    assert isinstance(make_problem(np.ones((30_000, 1)), np.zeros(30_000), big), MatrixFreeProblem)


def test_beyond_the_dense_limit_fits_matrix_free():
    df = _crossed(50_000, 12_000, 10_500)  # the first term is the one with more levels
    fit = ml.lmer(FORMULA, df)
    assert fit._problem.formulation == "matrix-free"
    assert any("stochastic Lanczos" in n for n in fit.optinfo.notes)
    assert 0.5 < fit.theta[1] < 2.0 and 0.9 < fit.sigma < 1.1


def test_formulation_argument_errors(ratings):
    with pytest.raises(ml.ArgumentError, match="formulation must be one of"):
        ml.lmer(FORMULA, ratings, formulation="supernodal")
    sleep = ml.datasets.load("sleepstudy")
    with pytest.raises(ml.ArgumentError, match="needs scalar random-effects terms"):
        ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, formulation="matrix-free")


def test_conditional_variances_need_the_dense_formulation(fits):
    with pytest.raises(ml.ModelSpecificationError, match="formulation='dense'"):
        fits["matrix-free", True].ranef_condvar


def test_probe_blocks_are_one_fixed_sequence(problems):
    _, free = problems
    size = free.PROBE_BLOCK
    whole = free._probe_columns(0, size + 8)
    np.testing.assert_array_equal(whole, np.hstack([free._probe_columns(0, size), free._probe_columns(size, size + 8)]))
    np.testing.assert_array_equal(free.probes, whole[:, :free.num_probes])  # the optimization's probes come first
    assert set(np.unique(whole)) == {-1.0, 1.0}


def test_slq_blocks_combine_as_one_set(problems):
    _, free = problems
    _, _, _, _, matvec, diag = free._operators(np.array([0.5, 0.8]))
    dis = 1.0 / np.sqrt(diag)

    def scaled(V):
        return dis[:, None] * matvec(dis[:, None] * V)

    V = free._deflation(scaled, diag)
    Z = free._probe_columns(0, 40)
    one = slq_samples(scaled, Z, 5, trace=float(free.q_rest), deflate=V)
    first = slq_samples(scaled, Z[:, :16], 5, trace=float(free.q_rest), deflate=V)
    both = first.combine(slq_samples(scaled, Z[:, 16:], 5, trace=float(free.q_rest), deflate=V, vav=first.vav))
    np.testing.assert_allclose(both.full, one.full, rtol=1e-12, atol=1e-12)
    assert both.estimate()[0] == pytest.approx(one.estimate()[0], rel=1e-13)


def test_final_evaluation_uses_more_probes_until_the_target(ratings):
    X, y, terms = _arrays(ratings)
    theta = np.array([0.5, 0.8])
    exact = PLSProblem(X, y, terms).solve(theta).deviance_reml
    loose = MatrixFreeProblem(X, y, terms, probes=4, max_probes=64, target_se=1.0)
    loose.solve(theta)
    assert loose.accuracy.probes == loose.PROBE_BLOCK  # the first block already meets a loose target
    tight = MatrixFreeProblem(X, y, terms, probes=4, max_probes=96, target_se=1e-6)
    sol = tight.solve(theta)
    assert tight.accuracy.probes == 96 and tight.accuracy.standard_error > 1e-6  # stopped at max_probes
    assert abs(sol.deviance_reml - exact) < 5 * tight.accuracy.standard_error
    tight.pieces(theta)
    assert tight.accuracy.probes == 4  # the optimization's criterion uses its own probes


def test_products_split_over_two_threads_give_the_same_numbers(problems):
    from concurrent.futures import ThreadPoolExecutor

    _, free = problems
    theta = np.array([0.7, 1.1])
    alone = free.pieces(theta)
    with ThreadPoolExecutor(1) as helper, free.helper_thread(helper):
        split = free.pieces(theta)
    assert split == alone


def test_matrix_free_tunes_only_the_default_optimizer(problems):
    from multilevel.lmm._optimize import NloptBobyqa

    _, free = problems
    tuned = free.tuned_optimizer(NloptBobyqa())
    assert (tuned.xtol_abs, tuned.ftol_abs, tuned.initial_step) == (1e-5, 1e-5, 0.05)
    own = NloptBobyqa(xtol_abs=1e-9)
    assert free.tuned_optimizer(own) is own
    assert PLSProblem.__dict__.get("tuned_optimizer") is None  # the dense path keeps lme4's settings
