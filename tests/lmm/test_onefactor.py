"""One grouping factor with a random slope (lmm._onefactor): the fast paths give the general path's numbers."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.formula._build import model_frame
from multilevel.lmm import _pls
from multilevel.lmm._lmer import problem_from_frame

THETAS = np.array([[1.0, 0.0, 1.0], [0.3, -0.2, 0.7], [2.5, 0.4, 0.05], [0.0, 0.0, 0.0], [1e-3, 0.5, 0.3]])


def _slopes(groups: int, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), 8)
    x = rng.normal(size=g.size)
    b0, b1 = rng.normal(size=groups), rng.normal(scale=0.5, size=groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "z": rng.normal(size=g.size), "g": pd.Categorical(g)})


@pytest.fixture(scope="module")
def large():
    """7,600 levels: past the dense map's size, so the per-level blocks of ``_onefactor``."""
    return problem_from_frame(model_frame("y ~ x + z + (x | g)", _slopes(7_600)))


def test_large_single_factor_uses_the_level_blocks(large):
    assert large._level_blocks and not large.dense


@pytest.mark.parametrize("reml", [True, False])
def test_level_blocks_give_the_dense_map_deviance(large, reml, monkeypatch):
    """The same problem with the dense precomputed map (sizes allowed up): same criterion."""
    monkeypatch.setattr(_pls, "_DENSE_P_MAX", 10 ** 9)
    monkeypatch.setattr(_pls, "_DENSE_SETUP_MAX", 10 ** 9)
    dense = _pls.PLSProblem(large.X, large.y, large.terms)
    assert dense.dense and not dense._level_blocks
    for theta in THETAS:
        np.testing.assert_allclose(large.deviance(theta, reml), dense.deviance(theta, reml), rtol=1e-11)


def test_level_blocks_solution_and_new_response(large, monkeypatch):
    monkeypatch.setattr(_pls, "_DENSE_P_MAX", 10 ** 9)
    monkeypatch.setattr(_pls, "_DENSE_SETUP_MAX", 10 ** 9)
    dense = _pls.PLSProblem(large.X, large.y, large.terms)
    theta = THETAS[1]
    ours, ref = large.solve(theta), dense.solve(theta)
    np.testing.assert_allclose(ours.beta, ref.beta, rtol=1e-10)
    np.testing.assert_allclose(ours.b[0], ref.b[0], rtol=1e-8, atol=1e-12)
    y2 = large.y[::-1].copy()
    np.testing.assert_allclose(large.with_response(y2).deviance(theta, True),
                               dense.with_response(y2).deviance(theta, True), rtol=1e-11)
    assert large.deviance(theta, True) == pytest.approx(dense.deviance(theta, True), rel=1e-11)  # unchanged


@pytest.mark.parametrize("reml", [True, False])
def test_small_objective_is_the_deviance(reml):
    problem = problem_from_frame(model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy")))
    fn = problem.objective(reml)
    assert hasattr(fn, "many")
    values = [fn(theta) for theta in THETAS]
    np.testing.assert_allclose(values, [problem.deviance(theta, reml) for theta in THETAS], rtol=1e-13)
    np.testing.assert_allclose(fn.many(THETAS), values, rtol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_level_objective_is_the_deviance(large, reml):
    """The objective of :func:`level_slope_objective` (one product per evaluation) against the
    per-level blocks of :meth:`PLSProblem.deviance`, one point at a time and several at once."""
    fn = large.objective(reml)
    values = [fn(theta) for theta in THETAS]
    np.testing.assert_allclose(values, [large.deviance(theta, reml) for theta in THETAS], rtol=1e-12)
    np.testing.assert_allclose(fn.many(THETAS), values, rtol=1e-12)


def test_level_objective_follows_a_new_response(large):
    y2 = large.y[::-1].copy()
    other = large.with_response(y2)
    theta = THETAS[1]
    assert other.objective(True)(theta) == pytest.approx(other.deviance(theta, True), rel=1e-12)
    assert large.objective(True)(theta) == pytest.approx(large.deviance(theta, True), rel=1e-12)


@pytest.mark.parametrize("theta", THETAS[:3])
def test_closed_form_solution_is_the_general_one(large, theta, monkeypatch):
    ours = large.solve(theta)
    monkeypatch.setattr(_pls.PLSProblem, "_one_slope", lambda self: False)
    ref = large.solve(theta)
    for name in ("beta", "u", "RX", "fitted", "logdet_L", "logdet_RX", "pwrss", "deviance_ml", "deviance_reml"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ours.b[0], ref.b[0], rtol=1e-9, atol=1e-12)


def test_many_falls_back_point_by_point_when_a_point_is_not_positive_definite():
    problem = problem_from_frame(model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy")))
    fn = problem.objective(True)
    bad = np.array([[1.0, 0.0, 1.0], [np.nan, 0.0, 1.0]])
    out = fn.many(bad)
    assert out[0] == pytest.approx(fn(bad[0]), rel=1e-12) and not np.isfinite(out[1])


@pytest.mark.parametrize("data, formula", [("slopes", "y ~ x + z + (x | g)"),
                                           ("sleepstudy", "Reaction ~ Days + (Days | Subject)")])
@pytest.mark.parametrize("reml", [True, False])
def test_fit_matches_the_general_path(data, formula, reml, monkeypatch):
    """Whole fits: the one-slope objective and solution against the general per-level path."""
    df = _slopes(7_600) if data == "slopes" else ml.datasets.load("sleepstudy")
    fast = ml.lmer(formula, df, REML=reml)
    monkeypatch.setattr(_pls.PLSProblem, "_one_slope", lambda self: False)
    general = ml.lmer(formula, df, REML=reml)
    assert fast.loglik == pytest.approx(general.loglik, rel=1e-10)
    np.testing.assert_allclose(fast.fixef, general.fixef, rtol=1e-6)
    np.testing.assert_allclose(fast.theta, general.theta, rtol=1e-5, atol=1e-7)
