"""lmer on a Dask DataFrame or Parquet files: the same fit as in memory, from cross-products."""

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import (ArgumentError, DataError, MissingDataWarning, ModelSpecificationError, RowsUnavailableError,
                        UnknownColumnError)

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from multilevel.lmm._dask_problem import DaskLinearMixedModel  # noqa: E402

TOL = 1e-8
# Standard errors depend on where the optimizer stops; the cross-products summed by partitions round
# differently from the in-memory ones, so the two optima differ at the optimizer's tolerance (theta by
# ~3e-9). At the same theta the two problems agree to 1e-11 (test_same_problem_at_fixed_theta).
SE_TOL = 5e-8


@pytest.fixture(scope="module")
def client():
    """One two-process local cluster for the module (processes: the partition work is pickled)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def crossed():
    """Two crossed factors (g1 with a random slope of x), a three-level factor, missing values."""
    rng = np.random.default_rng(20261205)
    n = 3000
    g1, g2 = rng.integers(0, 40, n), rng.integers(0, 25, n)
    x = rng.normal(size=n)
    f = rng.choice(["lo", "mid", "hi"], n)
    b1, s1, b2 = rng.normal(size=40) * 0.8, rng.normal(size=40) * 0.3, rng.normal(size=25) * 0.5
    y = 1 + 0.5 * x + (f == "hi") * 0.3 + b1[g1] + s1[g1] * x + b2[g2] + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "x": x, "f": f, "g1": [f"s{i}" for i in g1], "g2": g2})
    df.loc[[5, 17, 300], "x"] = np.nan
    df.loc[[40], "y"] = np.nan
    return df


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        return ml.lmer(formula, data, **kw)


def _se(fit):
    vcov = fit.vcov() if callable(fit.vcov) else fit.vcov
    return np.sqrt(np.diag(np.asarray(vcov)))


def assert_same_fit(fit, mem):
    assert isinstance(fit, DaskLinearMixedModel)
    assert fit.nobs == mem.nobs and fit.ngroups == mem.ngroups
    assert fit.frame.n_dropped_na == mem.frame.n_dropped_na
    assert list(fit.fixef.index) == list(mem.fixef.index)
    np.testing.assert_allclose(fit.fixef, mem.fixef, rtol=TOL)
    np.testing.assert_allclose(fit.theta, mem.theta, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(fit.sigma, mem.sigma, rtol=TOL)
    np.testing.assert_allclose(fit.deviance, mem.deviance, rtol=TOL)
    np.testing.assert_allclose(fit.loglik, mem.loglik, rtol=TOL)
    np.testing.assert_allclose(_se(fit), _se(mem), rtol=SE_TOL)
    for name, table in mem.ranef.items():
        pd.testing.assert_frame_equal(fit.ranef[name], table, rtol=1e-6, atol=1e-8)
    for name, cv in mem.ranef_condvar.items():
        np.testing.assert_allclose(fit.ranef_condvar[name], cv, rtol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_sleepstudy_threaded_scheduler(reml):
    sleep = ml.datasets.load("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    mem = ml.lmer(f, sleep, REML=reml)
    fit = ml.lmer(f, dd.from_pandas(sleep, npartitions=4), REML=reml)
    assert_same_fit(fit, mem)
    new = sleep.iloc[[0, 11, 179]]
    pd.testing.assert_series_equal(fit.predict(new), mem.predict(new), rtol=1e-8)


def test_distributed_cluster(client, crossed):
    """Sleepstudy and the crossed data with a random slope, partitions worked on by two processes."""
    sleep = ml.datasets.load("sleepstudy")
    f, g = "Reaction ~ Days + (Days | Subject)", "y ~ x + f + (x | g1) + (1 | g2)"
    with client.as_current():
        fit_sleep = ml.lmer(f, dd.from_pandas(sleep, npartitions=5))
        fit_crossed = _fit(g, dd.from_pandas(crossed, npartitions=6))
    assert_same_fit(fit_sleep, ml.lmer(f, sleep))
    assert_same_fit(fit_crossed, _fit(g, crossed))


@pytest.mark.parametrize("formula", ["y ~ x + f + (x | g1) + (1 | g2)", "y ~ x + (1 | g1/g2)"])
def test_crossed_threaded_ml(crossed, formula):
    assert_same_fit(_fit(formula, dd.from_pandas(crossed, npartitions=6), REML=False),
                    _fit(formula, crossed, REML=False))


@pytest.mark.parametrize("formula", ["y ~ x + f + (x | g1) + (1 | g2)", "y ~ x + (1 | g1/g2)",
                                     "y ~ x + (1 | g2) + (x | g1)"])
def test_same_problem_at_fixed_theta(crossed, formula):
    """The problem set up from cross-products is the in-memory one: criterion, beta, R_X and the
    conditional modes at the same theta agree to rounding."""
    mem = _fit(formula, crossed)
    fit = _fit(formula, dd.from_pandas(crossed, npartitions=5))
    for scale in (1.0, 0.5, 1.7):
        theta = mem.theta * scale
        for reml in (True, False):
            np.testing.assert_allclose(fit._problem.deviance(theta, reml), mem._problem.deviance(theta, reml),
                                       rtol=1e-12)
        a, b = fit._problem.solve(theta), mem._problem.solve(theta)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-11)
        np.testing.assert_allclose(np.abs(a.RX), np.abs(b.RX), rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(a.u, b.u, rtol=1e-9, atol=1e-11)


def _warned(formula, data, **kw):
    """The fit and the messages of its MissingDataWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.lmer(formula, data, **kw)
    return fit, [str(w.message) for w in caught if issubclass(w.category, MissingDataWarning)]


@pytest.fixture(scope="module")
def holes(crossed):
    """Missing values in every partition of three, and rows where log(z) is undefined."""
    df = crossed.assign(z=np.exp(crossed["x"].fillna(0.0)))
    df.loc[[1500, 2999], "y"] = np.nan
    df.loc[[1200, 2100], "f"] = None
    df.loc[[7, 2500], "z"] = -1.0
    return df


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g1) + (1 | g2)", "y ~ log(z) + f + (1 | g1) + (1 | g2)"])
def test_missing_rows_warning_and_dropped_rows_as_in_memory(holes, formula):
    """One missing-value rule: the in-memory wording, counts summed over partitions and the same
    dropped_rows (R's 1-based numbers: the index is pandas' default one, split by from_pandas)."""
    mem, mem_messages = _warned(formula, holes)
    fit, messages = _warned(formula, dd.from_pandas(holes, npartitions=3))
    assert messages == mem_messages and len(messages) >= 1
    assert fit.dropped_rows == mem.dropped_rows and len(fit.dropped_rows) == fit.frame.n_dropped_na
    assert fit.nobs == mem.nobs == len(holes) - len(mem.dropped_rows)
    assert_same_fit(fit, mem)


def test_missing_rows_named_by_index_labels(holes):
    """A unique index known to Dask (known divisions) names the rows by its labels, as in memory."""
    formula = "y ~ log(z) + f + (1 | g1) + (1 | g2)"
    shifted = holes.set_axis(holes.index * 10 + 100_000)
    mem, mem_messages = _warned(formula, shifted)
    fit, messages = _warned(formula, dd.from_pandas(shifted, npartitions=4))
    assert messages == mem_messages
    assert fit.dropped_rows == mem.dropped_rows
    assert fit.dropped_rows == ("100400", "112000", "115000", "121000", "129990", "100070", "125000")
    assert messages[1] == ("2 rows where a transformation is undefined (NaN) dropped (2993 of 2995 rows used): "
                           "rows 100070, 125000")


def test_missing_rows_named_by_position_without_divisions(tmp_path, holes):
    """Parquet files (each partition indexed from 0, divisions unknown) and an unsorted index: rows are
    named by their 1-based position in partition order, as in memory after reset_index(drop=True)."""
    formula = "y ~ log(z) + f + (1 | g1) + (1 | g2)"
    mem, mem_messages = _warned(formula, holes)
    dd.from_pandas(holes, npartitions=3).to_parquet(tmp_path / "holes", write_index=False)
    fit, messages = _warned(formula, str(tmp_path / "holes"))
    assert messages == mem_messages and fit.dropped_rows == mem.dropped_rows
    unsorted = holes.set_axis(np.arange(len(holes))[::-1] + 5)
    fit, messages = _warned(formula, dd.from_pandas(unsorted, npartitions=3, sort=False))
    assert messages == mem_messages and fit.dropped_rows == mem.dropped_rows


def test_every_row_missing():
    df = pd.DataFrame({"y": [np.nan] * 6, "x": np.arange(6.0), "g": list("aabbcc")})
    with pytest.raises(DataError, match=r"every row has a missing value in the columns used \(y, x, g\)"):
        ml.lmer("y ~ x + (1 | g)", dd.from_pandas(df, npartitions=2))


def test_parquet_path_and_glob(tmp_path, crossed):
    formula = "y ~ x + f + (x | g1) + (1 | g2)"
    dd.from_pandas(crossed, npartitions=4).to_parquet(tmp_path / "data", write_index=False)
    mem = _fit(formula, crossed)
    assert_same_fit(_fit(formula, str(tmp_path / "data")), mem)
    assert_same_fit(_fit(formula, str(tmp_path / "data" / "*.parquet")), mem)
    assert_same_fit(_fit(formula, tmp_path / "data"), mem)


def test_partition_missing_a_level():
    """A partition without some levels (here each partition holds a few subjects only) gives the same columns."""
    sleep = ml.datasets.load("sleepstudy").sort_values("Subject").reset_index(drop=True)
    sleep["grp"] = np.where(sleep["Subject"].astype(str) < "330", "early", "late")
    f = "Reaction ~ Days + grp + (Days | Subject)"
    assert_same_fit(ml.lmer(f, dd.from_pandas(sleep, npartitions=6, sort=False)), ml.lmer(f, sleep))


def test_empty_partition():
    sleep = ml.datasets.load("sleepstudy").sort_values("Subject").reset_index(drop=True)
    ddf = dd.from_pandas(sleep, npartitions=6, sort=False)
    keep = ddf["Subject"].astype(str) > "330"
    assert ddf[keep].map_partitions(len).compute().min() == 0
    f = "Reaction ~ Days + (Days | Subject)"
    assert_same_fit(ml.lmer(f, ddf[keep]), ml.lmer(f, sleep[sleep["Subject"].astype(str) > "330"]))


def test_row_methods_raise_and_summary_works(crossed):
    fit = _fit("y ~ x + (1 | g1) + (1 | g2)", dd.from_pandas(crossed, npartitions=2))
    for what in ("fitted", "residuals", "scaled_residuals"):
        with pytest.raises(RowsUnavailableError, match=what):
            getattr(fit, what)
    for call in (fit.simulate, fit.predict, fit.r2, fit.icc, lambda: fit.refit(np.zeros(fit.nobs)), fit.confint,
                 lambda: fit.confint(method="boot"), lambda: fit.coef_table(ddf="Kenward-Roger"),
                 lambda: fit.lmertest_summary(ddf="KR")):
        with pytest.raises(RowsUnavailableError, match="needs the rows"):
            call()
    text = str(fit.summary())
    assert "Scaled residuals: not available" in text and "Number of obs: 2996" in text
    mem = _fit("y ~ x + (1 | g1) + (1 | g2)", crossed)
    pd.testing.assert_frame_equal(fit.coef_table(), mem.coef_table(), rtol=1e-6)
    pd.testing.assert_frame_equal(fit.confint(method="Wald"), mem.confint(method="Wald"), rtol=1e-8)
    ml_fit = fit.refit(REML=False)
    assert isinstance(ml_fit, DaskLinearMixedModel) and not ml_fit.REML
    np.testing.assert_allclose(ml_fit.deviance, _fit("y ~ x + (1 | g1) + (1 | g2)", crossed, REML=False).deviance,
                               rtol=TOL)


def test_errors(tmp_path, crossed):
    ddf = dd.from_pandas(crossed, npartitions=2)
    with pytest.raises(UnknownColumnError, match="'z'"):
        ml.lmer("y ~ z + (1 | g1)", ddf)
    with pytest.raises(ModelSpecificationError, match="no random effects"):
        ml.lmer("y ~ x", ddf)
    with pytest.raises(DataError, match="Parquet"):
        ml.lmer("y ~ x + (1 | g1)", str(tmp_path / "nothing-here"))
    with pytest.raises(ArgumentError, match="Dask DataFrame"):
        ml.lmer("y ~ x + (1 | g1)", ddf["y"])
    with pytest.raises(ArgumentError, match="not a factor"):
        ml.lmer("y ~ x + (1 | g1)", ddf, contrasts={"x": "contr.sum"})
    one = crossed.assign(g1="a")
    with pytest.raises(ModelSpecificationError, match="g1 has 1 level"):
        _fit("y ~ x + (1 | g1)", dd.from_pandas(one, npartitions=2))


def test_rank_deficient_design_drops_the_same_column():
    sleep = ml.datasets.load("sleepstudy").assign(D2=lambda d: d["Days"] * 2.0)
    f = "Reaction ~ Days + D2 + (1 | Subject)"
    with pytest.warns(ml.RankDeficiencyWarning, match=r"dropping 1 column / coefficient \(D2\)"):
        fit = ml.lmer(f, dd.from_pandas(sleep, npartitions=3))
    with pytest.warns(ml.RankDeficiencyWarning):
        mem = ml.lmer(f, sleep)
    assert fit.frame.dropped_fixed == mem.frame.dropped_fixed == ("D2",)
    assert_same_fit(fit, mem)
    pd.testing.assert_series_equal(fit.predict(sleep.head(4)), mem.predict(sleep.head(4)), rtol=1e-8)
