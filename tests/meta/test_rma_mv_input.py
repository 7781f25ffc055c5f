"""rma_mv: input handling and clear errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def konst():
    return ml.datasets.load("konstantopoulos2011")


@pytest.fixture(scope="module")
def konst_fit(konst):
    return ml.rma_mv("yi", "vi", random="~ school | district", data=konst)


def test_variance_vector_and_diagonal_matrix_agree(konst, konst_fit):
    fit = ml.rma_mv(konst["yi"].to_numpy(), np.diag(konst["vi"].to_numpy()), random="~ school | district",
                    data=konst)
    np.testing.assert_allclose(fit.tau2, konst_fit.tau2, rtol=1e-8)
    np.testing.assert_allclose(fit.rho, konst_fit.rho, rtol=1e-8)
    np.testing.assert_allclose(fit.beta, konst_fit.beta, rtol=1e-8)
    assert fit.loglik == pytest.approx(konst_fit.loglik, rel=1e-10)


def test_nan_rows_are_dropped_with_the_count(konst):
    dat = konst.copy()
    dat.loc[[0, 5], "yi"] = np.nan
    dat["district"] = dat["district"].astype(float)
    dat.loc[9, "district"] = np.nan
    with pytest.warns(ml.MissingDataWarning, match="3 rows"):
        fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat)
    assert fit.k == 53
    ref = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=konst.drop(index=[0, 5, 9]))
    np.testing.assert_allclose(fit.sigma2, ref.sigma2, rtol=1e-8)


@pytest.mark.parametrize("bad", [0.0, -0.1])
def test_non_positive_variances_raise(konst, bad):
    dat = konst.copy()
    dat.loc[3, "vi"] = bad
    with pytest.raises(ml.DataError, match="positive"):
        ml.rma_mv("yi", "vi", random="~ 1 | district", data=dat)


def test_mismatched_lengths_raise(konst):
    with pytest.raises(ml.DataError, match="length"):
        ml.rma_mv(konst["yi"].to_numpy()[:-1], konst["vi"].to_numpy(), random="~ 1 | district", data=konst)


def test_v_matrix_must_be_square_symmetric_and_positive_definite(konst):
    y, v = konst["yi"].to_numpy(), konst["vi"].to_numpy()
    with pytest.raises(ml.DataError, match="square"):
        ml.rma_mv(y, np.ones((56, 3)), random="~ 1 | district", data=konst)
    V = np.diag(v)
    V[0, 1] = 0.05
    with pytest.raises(ml.DataError, match="symmetric"):
        ml.rma_mv(y, V, random="~ 1 | district", data=konst)
    V[1, 0] = 0.05
    V[0, 1] = V[1, 0] = 1.0  # |corr| > 1
    with pytest.raises(ml.DataError, match="positive definite"):
        ml.rma_mv(y, V, random="~ 1 | district", data=konst)


def test_unknown_columns_are_named(konst):
    with pytest.raises(ml.UnknownColumnError, match="distrct"):
        ml.rma_mv("yi", "vi", random="~ 1 | distrct", data=konst)
    with pytest.raises(ml.UnknownColumnError, match="vii"):
        ml.rma_mv("yi", "vii", random="~ 1 | district", data=konst)


@pytest.mark.parametrize("random", ["1 | district", "~ 1 + district", "~ 1 | district | school",
                                    "~ a * b | district", "~ school | district/study"])
def test_bad_random_formulas(konst, random):
    with pytest.raises(ml.FormulaError):
        ml.rma_mv("yi", "vi", random=random, data=konst)


def test_bad_options(konst):
    with pytest.raises(ml.ModelSpecificationError, match="struct"):
        ml.rma_mv("yi", "vi", random="~ school | district", struct="AR1", data=konst)
    with pytest.raises(ml.ModelSpecificationError, match="method"):
        ml.rma_mv("yi", "vi", random="~ 1 | district", method="DL", data=konst)
    with pytest.raises(ml.DataError, match="data"):
        ml.rma_mv(konst["yi"], konst["vi"], random="~ 1 | district")


def test_clusters_with_one_estimate_fix_rho_with_a_warning(konst):
    with pytest.warns(ml.MultilevelWarning, match="single estimate"):
        fit = ml.rma_mv("yi", "vi", random="~ district | study", data=konst)
    assert fit.rho[0] == 0.0 and fit.fixed[-1]


def test_single_level_factor_fixes_sigma2_with_a_warning(konst):
    dat = konst.assign(all_=1)
    with pytest.warns(ml.MultilevelWarning, match="single level"):
        fit = ml.rma_mv("yi", "vi", random=["~ 1 | all_", "~ 1 | study"], data=dat)
    assert fit.sigma2[0] == 0.0 and fit.fixed[0]


def test_fixed_components_are_respected(konst):
    fit = ml.rma_mv("yi", "vi", random="~ school | district", data=konst, rho=0.5)
    assert fit.rho[0] == 0.5 and fit.fixed.tolist() == [False, True]
    assert fit.parms == 2
    with pytest.raises(ml.ModelSpecificationError, match="rho"):
        ml.rma_mv("yi", "vi", random="~ school | district", data=konst, rho=[0.1, 0.2])


def test_robust_needs_more_clusters_than_coefficients(konst_fit, konst):
    with pytest.raises(ml.ModelSpecificationError, match="clusters"):
        konst_fit.robust(np.ones(56))
    with pytest.raises(ml.DataError, match="cluster"):
        konst_fit.robust("no_such_column")


def test_profile_of_unknown_or_fixed_component(konst_fit):
    with pytest.raises(ml.ModelSpecificationError, match="unknown component"):
        konst_fit.profile("sigma2")


def test_model_without_random_effects(konst):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = ml.rma_mv("yi", "vi", data=konst)
    w = 1 / konst["vi"].to_numpy()
    assert fit.beta["intrcpt"] == pytest.approx(np.sum(w * konst["yi"]) / np.sum(w), rel=1e-12)
    assert "Variance Components: none" in str(fit)
    with pytest.raises(ml.ModelSpecificationError):
        fit.confint()


def test_t_tests_use_k_minus_p_df(konst):
    fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=konst, test="t", mods="~ year")
    tidy = fit.tidy().set_index("term")
    assert tidy.loc["year", "statistic"] == fit.zval.iloc[1] and tidy.loc["year", "p_value"] == fit.pval.iloc[1]
    from scipy import stats
    assert fit.pval.iloc[1] == pytest.approx(2 * stats.t.sf(abs(fit.zval.iloc[1]), 54), rel=1e-10)
    assert "F(df1 = 1, df2 = 54)" in str(fit)


def test_profile_plot_returns_axes(konst_fit):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    prof = konst_fit.profile("tau2", steps=4)
    ax = prof.plot().axes[0]
    assert ax.get_xlabel() == "$\\tau^2$"
    assert len(ax.lines) == 3
    plt.close("all")


def test_known_correlation_matrix_checks(konst):
    with pytest.raises(ml.ModelSpecificationError, match="not a '~ 1 | f' term"):
        ml.rma_mv("yi", "vi", random="~ 1 | district", data=konst, R={"school": np.eye(11)})
    with pytest.raises(ml.DataError, match="11 x 11"):
        ml.rma_mv("yi", "vi", random="~ 1 | district", data=konst, R={"district": np.eye(3)})
    # an identity R is the model without R
    plain = ml.rma_mv("yi", "vi", random="~ 1 | district", data=konst)
    with_r = ml.rma_mv("yi", "vi", random="~ 1 | district", data=konst, R={"district": 2 * np.eye(11)})
    np.testing.assert_allclose(with_r.sigma2, plain.sigma2, rtol=1e-8)


def test_v_as_a_list_of_blocks():
    dat = ml.datasets.load("berkey1998")
    blocks = [g[["v1i", "v2i"]].to_numpy() for _, g in dat.groupby("trial", sort=True)]
    from scipy.linalg import block_diag
    a = ml.rma_mv("yi", blocks, random="~ outcome | trial", struct="UN", data=dat, mods="~ outcome - 1")
    b = ml.rma_mv("yi", block_diag(*blocks), random="~ outcome | trial", struct="UN", data=dat,
                  mods="~ outcome - 1")
    np.testing.assert_allclose(a.tau2, b.tau2, rtol=1e-12)


def test_profile_default_range_is_metafors(konst_fit):
    est_t2, est_rho = konst_fit.tau2[0], konst_fit.rho[0]
    prof = konst_fit.profile("tau2", steps=3)
    np.testing.assert_allclose(prof.values, [est_t2 / 4, (est_t2 / 4 + 4 * est_t2) / 2, 4 * est_t2])
    prof = konst_fit.profile("rho", steps=2)
    np.testing.assert_allclose(prof.values, [est_rho - 0.5, min(0.99999, est_rho + 0.5)])
    assert np.all(prof.loglik < konst_fit.loglik)


def test_at_most_two_inner_outer_terms_and_struct_per_term(konst):
    with pytest.raises(ml.FormulaError, match="at most two"):
        ml.rma_mv("yi", "vi", random=["~ school | district", "~ school | year", "~ district | year"], data=konst)
    with pytest.raises(ml.ModelSpecificationError, match="struct"):
        ml.rma_mv("yi", "vi", random=["~ school | district", "~ school | year"], struct=["CS", "AR1"], data=konst)
    fit = ml.rma_mv("yi", "vi", random=["~ school | district", "~ school | year"], struct=["CS", "ID"],
                    data=konst)
    assert fit._h.struct == "ID" and fit.phi.size == 0 and fit.gamma2.size == 1
    assert "gamma^2" in str(fit)
