"""lmer on a Dask DataFrame with large crossed factors: the in-memory formulation chooser and the
matrix-free formulation set up from cross-products."""

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import ArgumentError, ModelSpecificationError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from multilevel.lmm._dask import dask_statistics  # noqa: E402
from multilevel.lmm._dask_problem import CrossProductMatrixFree, DaskLinearMixedModel  # noqa: E402
from multilevel.lmm._formulation import cost_estimates  # noqa: E402
from multilevel.lmm._lmer import terms_from_frame  # noqa: E402

CROSSED = "y ~ x + (1 | user) + (1 | item)"


def ratings(n, num_users, num_items, seed):
    """Ratings-like rows: every user and item once, the rest Zipf-like, y = 3 + 0.4 x + u + v + e."""
    rng = np.random.default_rng(seed)

    def codes(num, exponent):
        p = (np.arange(num) + 10.0) ** -exponent
        return rng.permutation(np.concatenate([np.arange(num), rng.choice(num, n - num, p=p / p.sum())]))

    user, item = codes(num_users, 0.8), codes(num_items, 1.0)
    x = rng.normal(size=n)
    y = 3 + 0.4 * x + 0.5 * rng.normal(size=num_users)[user] + 0.8 * rng.normal(size=num_items)[item] \
        + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "user": user, "item": item})


@pytest.fixture(scope="module")
def client():
    """A local cluster of three single-threaded worker processes."""
    cluster = distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def small():
    return ratings(6000, 600, 300, seed=3)


@pytest.fixture(scope="module")
def large():
    """10,500 items: beyond the 10,000 later-term coefficients of the dense Schur complement."""
    return ratings(24_000, 12_000, 10_500, seed=7)


def test_cost_estimate_from_crossproducts_equals_the_in_memory_one():
    """The chooser sees the same costs: pairs per first-term level and distinct pairs read from the
    sparsity of Z_1'Z_r equal those counted from the rows."""
    from multilevel.lmm._dask_problem import pair_costs

    df = ratings(20_000, 3000, 2500, seed=5)
    terms = terms_from_frame(ml.model_frame(CROSSED, df))
    _, _, stats = dask_statistics(CROSSED, dd.from_pandas(df, npartitions=4))
    q_rest = terms[1].q
    pattern = stats["A1r"][:, :q_rest].tocsr()
    dense, free = pair_costs(np.diff(pattern.indptr), pattern.nnz, q_rest + 3, 2)
    np.testing.assert_allclose((dense, free), cost_estimates(terms, 2), rtol=1e-15)


@pytest.mark.parametrize("reml", [True, False])
def test_forced_matrix_free_is_the_in_memory_problem(small, reml):
    """formulation='matrix-free' from cross-products evaluates the in-memory matrix-free criterion (same
    probes, same products summed in another order) and reaches the same optimum, which both evaluate
    exactly (the dense problem set up from the cross-products)."""
    mem = ml.lmer(CROSSED, small, REML=reml, formulation="matrix-free")
    fit = ml.lmer(CROSSED, dd.from_pandas(small, npartitions=5), REML=reml, formulation="matrix-free")
    assert isinstance(fit._problem, CrossProductMatrixFree) and fit._problem.formulation == "matrix-free"
    for scale in (1.0, 0.5, 1.7):
        theta = mem.theta * scale
        np.testing.assert_allclose(fit._problem.deviance(theta, reml), mem._problem.deviance(theta, reml),
                                   rtol=1e-12)
        a, b = fit._problem.solve(theta), mem._problem.solve(theta)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
        np.testing.assert_allclose(a.u, b.u, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.theta, mem.theta, rtol=1e-7)
    np.testing.assert_allclose(fit.loglik, mem.loglik, rtol=1e-10)
    np.testing.assert_allclose(fit.fixef, mem.fixef, rtol=1e-7)
    np.testing.assert_allclose(fit.ranef["item"], mem.ranef["item"], rtol=1e-5, atol=1e-7)
    assert fit._estimate.accuracy.exact and mem._estimate.accuracy.exact  # the optimum evaluated exactly
    dense = ml.lmer(CROSSED, small, REML=reml, formulation="dense")
    np.testing.assert_allclose(fit.loglik, dense.loglik, rtol=1e-8)


def test_dense_path_unchanged(small):
    """Below the crossover the chooser keeps the dense Schur complement, as in memory (1e-8)."""
    mem = ml.lmer(CROSSED, small)
    fit = ml.lmer(CROSSED, dd.from_pandas(small, npartitions=3))
    assert fit._problem.formulation == mem._problem.formulation == "dense"
    np.testing.assert_allclose(fit.theta, mem.theta, rtol=1e-8)
    np.testing.assert_allclose(fit.loglik, mem.loglik, rtol=1e-8)
    np.testing.assert_allclose(fit.fixef, mem.fixef, rtol=1e-8)


def test_beyond_the_dense_wall_on_a_cluster(client, large):
    """10,500 items (the dense path stops at 10,000): the Dask fit on three worker processes chooses the
    matrix-free formulation, as in memory, and agrees with the in-memory fit well within the reported
    standard error of the log-determinant."""
    mem = ml.lmer(CROSSED, large)
    with client.as_current():
        fit = ml.lmer(CROSSED, dd.from_pandas(large, npartitions=6))
    assert isinstance(fit, DaskLinearMixedModel)
    assert fit._problem.formulation == mem._problem.formulation == "matrix-free"
    se = fit._problem.accuracy.standard_error
    assert 0 < se < 0.5
    np.testing.assert_allclose(fit.loglik, mem.loglik, rtol=0, atol=1e-3 * se)
    np.testing.assert_allclose(fit.theta, mem.theta, rtol=1e-6)
    np.testing.assert_allclose(fit.fixef, mem.fixef, rtol=1e-6)
    np.testing.assert_allclose(fit.sigma, mem.sigma, rtol=1e-6)
    assert fit.ngroups == mem.ngroups == {"user": 12_000, "item": 10_500}
    with pytest.raises(ModelSpecificationError, match="supports up to 10000"):
        ml.lmer(CROSSED, dd.from_pandas(large, npartitions=2), formulation="dense")


def test_errors_as_in_memory(small):
    ddf = dd.from_pandas(small, npartitions=2)
    with pytest.raises(ArgumentError, match="formulation must be one of"):
        ml.lmer(CROSSED, ddf, formulation="supernodal")
    with pytest.raises(ArgumentError, match="formulation='sparse' is not available for Dask"):
        ml.lmer(CROSSED, ddf, formulation="sparse")
    with pytest.raises(ArgumentError, match="needs scalar random-effects terms"):
        ml.lmer("y ~ x + (x | user) + (1 | item)", ddf, formulation="matrix-free")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(CROSSED, ddf, formulation="matrix-free")
    with pytest.raises(ml.RowsUnavailableError):
        fit.refit(np.zeros(fit.nobs))
