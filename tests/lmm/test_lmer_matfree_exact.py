"""The exact final evaluation of a matrix-free fit: where the dense Schur complement is affordable, the
fit's optimum (found with the stochastic log-determinant) is evaluated by the dense formulation, so that
logLik, the criteria, the fixed effects and their covariance, sigma and the random effects are the dense
path's at that theta; beyond the limit the stochastic logLik keeps its reported standard error.

Against a dense fit of the same data: logLik to 1e-8 (relative; absolute differences up to about 4e-8,
from the two optima's theta), the fixed effects and theta to 1e-6 (theta after the Newton step on the
exact criterion, see CASES); at the same theta the final solution is the dense one to rounding; against lme4 (``lmer_ratings_crossed_*``,
``tools/fixtures/lmer_crossed_scale.R``) with the dense path's tolerances.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.lmm import _fit
from multilevel.lmm._fit import estimate_at, exact_final_affordable
from multilevel.lmm._formulation import EXACT_FINAL_RATIO, EXACT_FINAL_REST, pair_costs
from multilevel.lmm._matfree import MatrixFreeProblem
from multilevel.lmm._pls import PLSProblem

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "lmm"
CROSSED = "y ~ x + (1 | user) + (1 | item)"
THREE = "y ~ x + (1 | user) + (1 | item) + (1 | day)"


def zipf_ratings(n, num_users, num_items, seed, num_days=0):
    """Ratings-like rows: every level once, the rest Zipf-like; y = 3 + 0.4 x + u + v (+ d) + e."""
    rng = np.random.default_rng(seed)

    def codes(num, exponent):
        p = (np.arange(num) + 10.0) ** -exponent
        return rng.permutation(np.concatenate([np.arange(num), rng.choice(num, n - num, p=p / p.sum())]))

    user, item = codes(num_users, 0.8), codes(num_items, 1.0)
    x = rng.normal(size=n)
    y = 3 + 0.4 * x + 0.5 * rng.normal(size=num_users)[user] + 0.8 * rng.normal(size=num_items)[item] \
        + rng.normal(size=n)
    out = pd.DataFrame({"y": y, "x": x, "user": user, "item": item})
    if num_days:
        day = rng.integers(0, num_days, n)
        out["day"] = day
        out["y"] += 0.3 * rng.normal(size=num_days)[day]
    return out


def _fit_both(formula, df, reml, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        free = ml.lmer(formula, df, REML=reml, formulation="matrix-free", **kwargs)
        dense = ml.lmer(formula, df, REML=reml, formulation="dense", **kwargs)
    return free, dense


# name: (formula, data, REML, tolerance of theta). The stochastic criterion's optimum lies up to 1e-5
# from the exact one on these small problems (the fixed probes' bias: a tight minimization of the
# matrix-free criterion lands within 2e-7 of the fit's theta); the fit's Newton step on the exact
# criterion (_fit.exact_newton, affordable here) brings theta to within 5e-7 of the dense optimum.
CASES = {
    "fixture-reml": (CROSSED, "fixture", True, 1e-6),
    "fixture-ml": (CROSSED, "fixture", False, 1e-6),
    "zipf-ml": (CROSSED, (6000, 600, 300, 3, 0), False, 1e-6),
    "three-terms-reml": (THREE, (5000, 500, 200, 5, 40), True, 1e-6),
    "three-terms-ml": (THREE, (5000, 500, 200, 5, 40), False, 1e-6),
}


@pytest.fixture(scope="module")
def fixture_data():
    return pd.read_csv(FIXTURES / "ratings_crossed.csv")


@pytest.fixture(scope="module")
def pairs(fixture_data):
    out = {}
    for name, (formula, data, reml, _) in CASES.items():
        df = fixture_data if data == "fixture" else zipf_ratings(*data[:4], num_days=data[4])
        out[name] = _fit_both(formula, df, reml)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_exact_final_matches_the_dense_fit(pairs, case):
    free, dense = pairs[case]
    assert free._problem.formulation == "matrix-free" and dense._problem.formulation == "dense"
    assert any(n.startswith("Newton step on the exact criterion") for n in free.optinfo.notes)
    assert free._estimate.accuracy.exact and free._estimate.accuracy.standard_error == 0.0
    # the two optimizers stop at thetas 1e-7 to 1e-6 apart, which costs up to about 4e-8 in logLik (1e-8
    # relative is the acceptance); at the same theta both evaluations agree to rounding (next test)
    assert float(free.loglik) == pytest.approx(float(dense.loglik), rel=1e-8, abs=0)
    assert float(free.loglik) == pytest.approx(float(dense.loglik), abs=1e-7)
    assert free.deviance == pytest.approx(dense.deviance, rel=1e-8, abs=0)
    theta_rtol = CASES[case][3]
    np.testing.assert_allclose(free.theta, dense.theta, rtol=theta_rtol)
    np.testing.assert_allclose(free.fixef, dense.fixef, rtol=1e-6)
    # through theta: the covariance of the fixed effects, sigma and the random effects
    np.testing.assert_allclose(free.vcov(), dense.vcov(), rtol=2 * theta_rtol)
    assert free.sigma == pytest.approx(dense.sigma, rel=theta_rtol / 5)
    for group in dense.ngroups:
        np.testing.assert_allclose(free.ranef[group], dense.ranef[group], rtol=10 * theta_rtol, atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_exact_final_is_the_dense_solution_at_the_same_theta(pairs, case):
    """All of the final solution comes from the dense solve at the fit's theta (not only logLik)."""
    free, _ = pairs[case]
    exact = PLSProblem(free._problem.X, free._problem.y, free._problem.terms).solve(free.theta)
    sol = free._estimate.solution
    for name in ("deviance_reml", "deviance_ml", "logdet_L", "logdet_RX", "pwrss", "sigma_ml", "sigma_reml"):
        assert getattr(sol, name) == pytest.approx(getattr(exact, name), rel=1e-12), name
    np.testing.assert_allclose(sol.beta, exact.beta, rtol=1e-12)
    np.testing.assert_allclose(sol.RX, exact.RX, rtol=1e-12)
    np.testing.assert_allclose(sol.u, exact.u, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
def test_exact_final_matches_lme4(pairs, reml):
    ref = json.loads((FIXTURES / f"lmer_ratings_crossed_{'reml' if reml else 'ml'}.json").read_text())
    fit, _ = pairs["fixture-reml" if reml else "fixture-ml"]
    assert float(fit.loglik) == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-4)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-6)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-6)


def test_exact_final_is_reported(pairs):
    fit, _ = pairs["fixture-reml"]
    note = fit.optinfo.notes[-1]
    assert note.startswith("log-determinant of the later terms exact at the optimum")
    assert fit._problem.accuracy.exact
    line = "logLik exact (matrix-free fit; final evaluation by the dense Schur complement)"
    summary, printed = str(fit.summary()).splitlines(), str(fit).splitlines()
    assert summary[summary.index("REML criterion at convergence: 36384.9") + 1] == line
    assert printed[printed.index("REML criterion at convergence: 36384.92") + 1] == line
    _, dense = pairs["fixture-reml"]
    assert dense._estimate.accuracy is None and "logLik" not in str(dense.summary())  # lme4's layout


@pytest.mark.parametrize("limit", ["EXACT_FINAL_REST", "EXACT_FINAL_RATIO"])
def test_beyond_the_limit_the_stochastic_loglik_keeps_its_standard_error(fixture_data, monkeypatch, limit):
    monkeypatch.setattr(_fit, limit, 0)
    fit = ml.lmer(CROSSED, fixture_data, formulation="matrix-free")
    acc = fit._estimate.accuracy
    assert acc is fit._problem.accuracy and not acc.exact
    assert 0 < acc.standard_error < 5e-3 and acc.probes >= MatrixFreeProblem.PROBE_BLOCK
    assert acc.loglik_standard_error == 0.5 * acc.standard_error
    assert "stochastic Lanczos quadrature" in fit.optinfo.notes[-1]
    assert f"standard error {acc.loglik_standard_error:.2g}" in str(fit.summary())
    dense = ml.lmer(CROSSED, fixture_data, formulation="dense")
    assert 0 < abs(float(fit.loglik) - float(dense.loglik)) < max(1e-3, 5 * acc.loglik_standard_error)


def test_affordable_by_the_measured_rule(fixture_data):
    free = ml.lmer(CROSSED, fixture_data, formulation="matrix-free")._problem
    pairs, nnz = free.pair_pattern()
    assert nnz == free.A1r.nnz and pairs.sum() == nnz  # one scalar later term: d_j = distinct items of user j
    dense, own = pair_costs(pairs, nnz, free.r, free.p, free.num_probes, free.num_steps)
    assert exact_final_affordable(free) == (free.q_rest <= EXACT_FINAL_REST and dense <= EXACT_FINAL_RATIO * own)
    assert exact_final_affordable(free)
    assert not exact_final_affordable(PLSProblem(free.X, free.y, free.terms))  # the dense path is exact anyway


def test_beyond_the_dense_wall_stays_stochastic():
    df = zipf_ratings(24_000, 12_000, 10_500, seed=7)  # 10,500 items: beyond EXACT_FINAL_REST
    assert EXACT_FINAL_REST < 10_500
    fit = ml.lmer(CROSSED, df)
    assert fit._problem.formulation == "matrix-free" and not exact_final_affordable(fit._problem)
    assert not fit._estimate.accuracy.exact and fit._estimate.accuracy.standard_error > 0


def test_estimate_at_a_given_theta_is_exact(fixture_data):
    free, dense = (ml.lmer(CROSSED, fixture_data, formulation=f) for f in ("matrix-free", "dense"))
    theta = np.array([0.45, 0.75])
    a, b = estimate_at(free._problem, theta), estimate_at(dense._problem, theta)
    assert a.accuracy.exact and b.accuracy is None
    assert a.deviance == pytest.approx(b.deviance, rel=1e-12)
    np.testing.assert_allclose(a.solution.beta, b.solution.beta, rtol=1e-12)


def test_weighted_matrix_free_fit_is_exact(fixture_data):
    df = fixture_data.assign(w=1.0 + (fixture_data["x"] > 0))
    free, dense = _fit_both(CROSSED, df, True, weights="w")
    assert free._estimate.accuracy.exact
    assert float(free.loglik) == pytest.approx(float(dense.loglik), rel=1e-8, abs=0)
    np.testing.assert_allclose(free.fixef, dense.fixef, rtol=1e-6)
    assert free.sigma == pytest.approx(dense.sigma, rel=1e-6)


def test_accuracy_lines_print_exactly():
    from multilevel.lmm._matfree import LogdetAccuracy
    from multilevel.lmm._summary import FitCriteria

    stochastic = LogdetAccuracy(1020.5, 0.000996, 1.9e-7, 288, 5, 5.0e-11, 9)
    assert stochastic.summary_line() == ("logLik approximate (matrix-free fit; stochastic log-determinant): "
                                         "standard error 0.0005")
    exact = LogdetAccuracy.exact_value(1020.25)
    assert (exact.standard_error, exact.probes, exact.loglik_standard_error) == (0.0, 0, 0.0)
    criteria = FitCriteria(False, np.nan, 36383.1, 36420.06, -18186.55, 36373.1, 11995, digits=4,
                           accuracy=exact.summary_line())
    assert str(criteria).splitlines() == [
        "      AIC       BIC    logLik  deviance  df.resid ",
        " 36383.10  36420.06 -18186.55  36373.10     11995 ",
        "logLik exact (matrix-free fit; final evaluation by the dense Schur complement)"]
    assert str(FitCriteria(True, 36384.92, 0, 0, 0, 0, 0)) == "REML criterion at convergence: 36384.9"
