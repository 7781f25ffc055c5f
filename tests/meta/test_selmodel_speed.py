"""The shortcuts that make the continuous selection models fast change no number.

Each shortcut must give the same bits as the plain computation it replaces (the fixtures in
test_selmodel.py check the end results against metafor; these tests pin every step in between):

* the integrand computes each factor once per distinct (interval, study, parameter) in a batch;
* the normal density handles its far tail on flat indices;
* the BFGS line search evaluates several step lengths (and the gradient points of its first
  step) at once, and the fit and the tau^2 = 0 fit run side by side with shared batches;
* parameter sets met twice are looked up.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.meta.bias import _selcore, _selfit
from multilevel.meta.bias._qagi import _OFFSETS
from multilevel.meta.bias._roptim import _LineSearch, gradient_points, r_bfgs
from multilevel.meta.bias._selint import Integrand

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "meta_selmodel.json").read_text())


def _data(kind):
    dat = pd.DataFrame(FIXTURE["data"]["hackshaw1998"])
    y, v = dat["yi"].to_numpy(), dat["vi"].to_numpy()
    spec = _selcore.selection_spec(kind, 0)
    p = _selcore.pvalues(y, v, "greater")
    clamped = np.minimum(np.maximum(p, spec.pval_min), 1 - spec.pval_min)
    return _selcore.SelectionData(kind, y, v, np.ones((y.size, 1)), np.ones(y.size), np.array([0.0]), "greater",
                                  spec.pval_min, clamped), spec


def _plain(data, yhat, tau2s, deltas, owners, y):
    """The integrand without sharing: every row computes its p-values, weights and density."""
    k = data.y.size
    s, i = owners // k, owners % k
    v = data.v[i][:, None]
    both = np.concatenate([y, -y], axis=1)
    p = _selcore.pvalues(both, v, data.alternative)
    if data.pval_min > 0:
        p = np.minimum(np.maximum(p, data.pval_min), 1 - data.pval_min)
    w = _selcore.weights(data.kind, p, deltas.T[:, s][:, :, None], data.prec[i][:, None], data.steps)
    f = w * _selcore.dnorm(both, yhat[s, i][:, None], np.sqrt(v + tau2s[s][:, None]))
    return f[:, :15] + f[:, 15:]


def _intervals(rng, n):
    """Bisection intervals of (0, 1] down to depth 8 (and (0, 1) itself)."""
    depth = rng.integers(0, 9, n)
    j = np.floor(rng.uniform(size=n) * 2.0 ** depth)
    return j / 2.0 ** depth, (j + 1) / 2.0 ** depth


@pytest.mark.parametrize("kind", ["beta", "halfnorm", "negexppow"])
@pytest.mark.parametrize("m", [1, 2, 8])
def test_integrand_sharing_factors_gives_the_plain_integrand_bit_for_bit(kind, m):
    data, spec = _data(kind)
    k = data.y.size
    rng = np.random.default_rng(3)
    # a gradient stencil around a point (m = 8: sets share deltas, means and tau^2) or unrelated sets
    centre = np.array([0.2, 0.05, *(0.5 + rng.uniform(size=spec.deltas))])
    sets = gradient_points(centre, 1e-3)[:m] if m == 8 else centre + rng.normal(scale=0.1, size=(m, centre.size))
    m = sets.shape[0]  # (the stencil has 2 x (2 + deltas) points)
    betas, tau2s, deltas = sets[:, :1], sets[:, 1], sets[:, 2:]
    yhat = betas @ data.X.T
    owners = rng.integers(0, m * k, 400)
    a, b = _intervals(rng, owners.size)
    for lo, hi in [(a, b), (np.full(3, 0.1), np.full(3, 0.3))]:  # (0.1, 0.3): not a bisection interval
        own = owners[: lo.size]
        t = 0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * _OFFSETS[None, :]
        y = (1.0 - t) / t
        fold = Integrand(data, yhat, tau2s, deltas, pvalues=_selcore._clamped_pvalues(data),
                         weights=_selcore.weights, dnorm=_selcore.dnorm)
        with np.errstate(all="ignore"):
            got = fold.at_intervals(own, lo, hi, y)
            want = _plain(data, yhat, tau2s, deltas, own, y)
        assert np.array_equal(got, want)


def test_dnorm_on_rows_equals_dnorm_element_by_element():
    rng = np.random.default_rng(5)
    x = rng.standard_cauchy((50, 30)) * 3
    mean, sd = rng.normal(size=(50, 1)), rng.uniform(0.05, 0.5, (50, 1))
    got = _selcore.dnorm(x, mean, sd)
    want = np.array([[_selcore.dnorm(np.array([x[r, c]]), mean[r], sd[r])[0] for c in range(30)] for r in range(50)])
    assert np.array_equal(got, want)
    assert (got == 0).any() and ((np.abs((x - mean) / sd) >= 5) & (got > 0)).any()  # both tails exercised


class _Counted:
    """A function with a memo, its batched forms, and the points it was asked for."""

    def __init__(self, fn, fail=lambda x: False):
        self.fn, self.fail, self.memo, self.asked = fn, fail, {}, 0

    def value(self, x):
        if self.fail(x):
            raise FloatingPointError("no value here")
        return self.memo.setdefault(x.tobytes(), self.fn(x))

    def __call__(self, x):
        self.asked += 1
        return self.value(x)

    def many(self, xs):
        return np.array([self.value(x) for x in xs])

    def trial(self, xs):
        out = []
        for x in xs:
            try:
                out.append(self.value(x))
            except FloatingPointError as exc:
                out.append(exc)
        return out


@pytest.mark.parametrize("start", [[-1.2, 1.0], [2.0, -1.5], [0.3, 0.3]])
def test_batched_line_search_takes_the_sequential_path(start):
    def rosen(x):
        return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2 + 0.1 * np.sin(3 * x[0])
    plain = r_bfgs(rosen, np.array(start))
    f = _Counted(rosen)
    batched = r_bfgs(f, np.array(start), fn_many=f.many, fn_trial=f.trial)
    assert np.array_equal(plain.par, batched.par) and plain.value == batched.value
    assert (plain.fn_count, plain.gr_count, plain.converged) == (batched.fn_count, batched.gr_count, batched.converged)


def _drive(search, answer_trial):
    """Run a line search generator; answer its batched requests with ``answer_trial``."""
    answer = None
    while True:
        try:
            kind, points = search.send(answer)
        except StopIteration as stop:
            return stop.value
        answer = answer_trial(points) if kind == "trial" else float(np.sum(points ** 2))


def test_line_search_raises_only_where_the_sequential_search_would():
    X, t = np.array([1.0, 1.0]), np.array([-1.0, -1.0])   # f = |x|^2; step 1 reaches the minimum
    fail_second = lambda xs: [float(np.sum(xs[0] ** 2)), FloatingPointError("fails at step 0.2")]  # noqa: E731
    b, f, step, _, used = _drive(_LineSearch(True, X, t, 2.0, -4.0, 2, 2.0).run(), fail_second)
    assert step == 1.0 and used == 1 and f == 0.0 and b.tolist() == [0.0, 0.0]
    t = np.array([-5.0, -5.0])  # step 1 overshoots (f = 32 > 2): the search reaches the failing point
    fail_second = lambda xs: [float(np.sum(xs[0] ** 2)), FloatingPointError("fails at step 0.2")]  # noqa: E731
    with pytest.raises(FloatingPointError, match="step 0.2"):
        _drive(_LineSearch(True, X, t, 2.0, -20.0, 2, 2.0).run(), fail_second)


def _fits(kind):
    data, spec = _data(kind)
    fit = ml.rma("yi", "vi", data=pd.DataFrame(FIXTURE["data"]["hackshaw1998"]), method="ML")
    start = _selfit._start(spec, fit.coefficients[0].copy(), fit.tau2, np.full(spec.deltas, np.nan))
    make = lambda tau2: _selfit._Objective(data, spec, 1, tau2, np.full(spec.deltas, np.nan))  # noqa: E731
    return make, start


@pytest.mark.parametrize("kind", ["beta", "power"])
def test_fits_side_by_side_equal_the_fits_one_after_the_other(kind):
    make, start = _fits(kind)
    par, res0 = _selfit._optimise(make(None), start, make(0.0))
    one, zero = make(None), make(0.0)
    alone = r_bfgs(one, start, fn_many=one.many)
    alone0 = r_bfgs(zero, start, fn_many=zero.many)
    assert np.array_equal(par, alone.par)
    assert np.array_equal(res0.par, alone0.par) and res0.value == alone0.value
    assert (res0.fn_count, res0.gr_count) == (alone0.fn_count, alone0.gr_count)


def test_parameter_sets_met_again_are_looked_up_with_the_same_value():
    make, start = _fits("beta")
    objective = make(0.0)   # tau^2 fixed: the gradient's tau^2 steps are the point itself
    calls = []
    original = _selcore.loglik_many

    def counted(data, betas, *rest):
        calls.append(betas.shape[0])
        return original(data, betas, *rest)

    _selfit.loglik_many = counted
    try:
        values = objective.many(gradient_points(start, 1e-3))
    finally:
        _selfit.loglik_many = original
    assert calls == [7]  # 8 points, the two tau^2 steps the same set
    assert values[1] == values[5] == objective(start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = make(0.0).many(gradient_points(start, 1e-3))
    assert np.array_equal(values, fresh)


@pytest.mark.parametrize("size", [50, 10**8])  # a scratch table; sorting for a sparse key space
def test_distinct_keys_by_table_or_by_sorting(size):
    from multilevel.meta.bias._selint import _Distinct

    distinct, rng = _Distinct(), np.random.default_rng(0)
    for _ in range(3):  # the table is reused without clearing
        key = rng.choice(rng.integers(0, size, 30), 200)
        first, at = distinct(key, size)
        assert np.array_equal(key[first][at], key)
        assert first.size == np.unique(key).size
