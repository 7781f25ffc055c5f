"""rma_mv numerical core: derivatives, block structure, optimizer fallback."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import block_diag

import multilevel as ml
from multilevel.meta.multivariate import _fit as F
from multilevel.meta.multivariate._core import evaluate, make_batch
from multilevel.meta.multivariate._scales import CholeskyScale, ElementScale


@pytest.fixture(scope="module")
def berkey():
    dat = ml.datasets.load("berkey1998")
    V = block_diag(*[g[["v1i", "v2i"]].to_numpy() for _, g in dat.groupby("trial", sort=True)])
    return dat, V


def _ll(fit, theta, reml):
    lay = fit._layout
    s2, t2, rho = lay.split(F.to_natural(theta, lay.is_rho()))
    ev = evaluate(fit._batch, s2, t2, rho, reml=reml)
    return ev.ll_reml if reml else ev.ll_ml


@pytest.mark.parametrize("struct", ["UN", "HCS", "CS", "DIAG"])
@pytest.mark.parametrize("reml", [True, False])
def test_score_and_observed_information_match_finite_differences(berkey, struct, reml):
    dat, V = berkey
    fit = ml.rma_mv("yi", V, random="~ outcome | trial", struct=struct, data=dat, mods="~ outcome - 1")
    lay = fit._layout
    theta = F.to_theta(fit._comps.values, lay.is_rho()) + np.array([0.3, -0.2, 0.4])[: lay.size]
    s2, t2, rho = lay.split(F.to_natural(theta, lay.is_rho()))
    ev = evaluate(fit._batch, s2, t2, rho, reml=reml, derivs=True)
    h, n = 1e-5, lay.size
    eye = np.eye(n) * h
    grad = np.array([(_ll(fit, theta + eye[i], reml) - _ll(fit, theta - eye[i], reml)) / (2 * h) for i in range(n)])
    hess = np.array([[(_ll(fit, theta + eye[i] + eye[j], reml) - _ll(fit, theta + eye[i] - eye[j], reml)
                       - _ll(fit, theta - eye[i] + eye[j], reml) + _ll(fit, theta - eye[i] - eye[j], reml))
                      / (4 * h * h) for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(ev.grad, grad, atol=1e-7)
    assert ev.newton
    np.testing.assert_allclose(ev.info, -hess, atol=1e-3)


def test_blocks_and_one_dense_block_give_the_same_likelihood():
    dat = ml.datasets.load("konstantopoulos2011")
    fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat)
    assert fit._batch.idx.shape == (11, 11)  # one block per district
    y, v, X = fit._eff.yi, fit._eff.vi, fit._eff.design.X
    one = np.zeros(len(y), dtype=int)  # a grouping linking every row: a single dense block
    dense = make_batch(y, X, v, [one] + [t.codes for t in fit._sigmas], None)
    assert dense.idx.shape == (1, 56)
    s2 = fit.sigma2
    a = evaluate(fit._batch, s2, np.zeros(0), np.zeros(0), reml=True)
    b = evaluate(dense, np.r_[0.0, s2], np.zeros(0), np.zeros(0), reml=True)
    assert a.ll_reml == pytest.approx(b.ll_reml, rel=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)


def test_lbfgs_fallback_reaches_the_optimum():
    dat = ml.datasets.load("konstantopoulos2011")
    fit = ml.rma_mv("yi", "vi", random="~ school | district", data=dat)
    free = np.ones(2, dtype=bool)
    nat = np.array([0.5, 0.1])
    stalled = F.FitState(nat, F._eval(fit._batch, fit._layout, nat, True, free, True), 1, False)
    out = F._lbfgs(ElementScale(fit._batch, fit._layout, nat, free, True), stalled)
    assert out.converged
    np.testing.assert_allclose(out.nat, fit._comps.values, rtol=1e-5)
    assert out.ll(True) == pytest.approx(fit.loglik, abs=1e-10)


def test_cholesky_scale_derivatives_match_finite_differences():
    from multilevel.meta.multivariate._structures import build_terms, parse_random
    dat = ml.datasets.load("assink2016")
    sigmas, (g,) = build_terms(parse_random(["~ 1 | esid", "~ deltype | study"]), dat, "UN")
    batch = make_batch(dat["yi"].to_numpy(), np.ones((len(dat), 1)), dat["vi"].to_numpy(),
                       [t.codes for t in sigmas],
                       (g.inner_codes, g.outer_codes, g.tau_map, g.rho_map, g.num_tau2, g.num_rho))
    layout = F.Layout(1, 3, 3)
    free = np.ones(layout.size, dtype=bool)
    start = np.r_[0.2, 0.1, 0.3, 0.25, 0.2, 0.1, 0.3]
    scale = CholeskyScale(batch, layout, start, free, True)
    assert CholeskyScale.applies(batch, layout, free)
    theta = scale.theta0()
    ev = scale.evaluate(theta)
    ll = lambda th: scale.evaluate(th, derivs=False).ll_reml  # noqa: E731
    h, n = 1e-5, theta.size
    eye = np.eye(n) * h
    grad = np.array([(ll(theta + eye[i]) - ll(theta - eye[i])) / (2 * h) for i in range(n)])
    np.testing.assert_allclose(ev.grad, grad, atol=1e-6)
    hess = np.array([[(ll(theta + eye[i] + eye[j]) - ll(theta + eye[i] - eye[j]) - ll(theta - eye[i] + eye[j])
                       + ll(theta - eye[i] - eye[j])) / (4 * h * h) for j in range(n)] for i in range(n)])
    if ev.newton:
        np.testing.assert_allclose(ev.info, -hess, atol=2e-3)
    np.testing.assert_allclose(scale.natural(theta), start, rtol=1e-10)


@pytest.mark.parametrize("dataset, random, mods, kind", [
    ("konstantopoulos2011", "~ school | district", None, "cs"),
    ("konstantopoulos2011", "~ 1 | district/school", None, "sigma"),
    ("konstantopoulos2011", "~ 1 | district", "~ year", "sigma"),
    ("assink2016", "~ 1 | study/esid", "~ deltype", "sigma"),
])
@pytest.mark.parametrize("reml", [True, False])
def test_rank_one_blocks_agree_with_the_general_likelihood(dataset, random, mods, kind, reml):
    from multilevel.meta.multivariate._rank1 import evaluate_rank1
    dat = ml.datasets.load(dataset)
    fit = ml.rma_mv("yi", "vi", random=random, data=dat, mods=mods)
    plan, lay = fit._batch.rank1, fit._layout
    assert plan is not None and plan.kind == kind
    free = np.ones(lay.size, dtype=bool)
    for nat in (fit._comps.values, fit._comps.values * np.linspace(1.3, 0.7, lay.size)):
        s2, t2, rho = lay.split(nat)
        for observed in (True, False):
            a = evaluate(fit._batch, s2, t2, rho, reml=reml, free=free, derivs=True, observed=observed)
            b = evaluate_rank1(plan, nat, free, reml=reml, derivs=True, observed=observed)
            assert b.ll_reml == pytest.approx(a.ll_reml, rel=1e-10)
            assert b.ll_ml == pytest.approx(a.ll_ml, rel=1e-10)
            np.testing.assert_allclose(b.beta, a.beta, rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(b.grad, a.grad, rtol=1e-8, atol=1e-10)
            np.testing.assert_allclose(b.info, a.info, rtol=1e-8, atol=1e-10)
            assert a.newton == b.newton


@pytest.mark.parametrize("random, struct", [("~ school | district", "HCS"), (["~ 1 | district", "~ 1 | year"], "CS"),
                                            ("~ district | year", "CS")])
def test_rank_one_plan_only_where_it_applies(random, struct):
    dat = ml.datasets.load("konstantopoulos2011")
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ml.rma_mv("yi", "vi", random=random, struct=struct, data=dat)
    assert fit._batch.rank1 is None
